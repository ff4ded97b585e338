//! VNODE, PROC and SIGNAL on the native backend: the kernel's own knotes, registered with
//! EV_CLEAR and udata = `OS_TOKEN`; their fflags and data are translated and accumulated into ours.
//!
//! PROC: macOS needs NOTE_EXITSTATUS for the status and refuses an exited pid with ESRCH, so a
//! registration is followed by one `waitid(WNOHANG | WNOWAIT)`: a child that exited before (or
//! while) it was registered fires at once. Dispositions are untouched: a watched signal whose
//! default action ends the process still ends it, as on FreeBSD.

use super::NativeBackend;
use crate::kevent::{note, Filter, Kevent};
use crate::sys::BackendEvent;
use crate::sys::{Core, Kind, Knote};

/// Per-knote state of an OS source.
pub(crate) enum OsSourceState {
    /// A kernel knote.
    Kernel,
    /// A child that had already exited at registration, with its wait status.
    Exited { status: i64, kernel: bool },
}

/// The OS sources of one kqueue: the kernel keeps them.
#[derive(Default)]
pub(crate) struct OsSources;

const VNODE_NOTES: [(u32, u32); 7] = [
    (note::DELETE, libc::NOTE_DELETE),
    (note::WRITE, libc::NOTE_WRITE),
    (note::EXTEND, libc::NOTE_EXTEND),
    (note::ATTRIB, libc::NOTE_ATTRIB),
    (note::LINK, libc::NOTE_LINK),
    (note::RENAME, libc::NOTE_RENAME),
    (note::REVOKE, libc::NOTE_REVOKE),
];
const PROC_NOTES: [(u32, u32); 3] =
    [(note::EXIT, libc::NOTE_EXIT), (note::FORK, libc::NOTE_FORK), (note::EXEC, libc::NOTE_EXEC)];

fn to_native(ours: u32, table: &[(u32, u32)]) -> u32 {
    table.iter().filter(|(o, _)| ours & o != 0).fold(0, |acc, (_, n)| acc | n)
}

fn from_native(native: u32, table: &[(u32, u32)]) -> u32 {
    table.iter().filter(|(_, n)| native & n != 0).fold(0, |acc, (o, _)| acc | o)
}

fn native_filter(filter: Filter) -> i64 {
    match filter {
        Filter::Vnode => libc::EVFILT_VNODE as i64,
        Filter::Proc => libc::EVFILT_PROC as i64,
        _ => libc::EVFILT_SIGNAL as i64,
    }
}

/// The kq filter of a native filter number, for the OS knotes.
pub(crate) fn filter_of(native: i64) -> Filter {
    if native == libc::EVFILT_VNODE as i64 {
        Filter::Vnode
    } else if native == libc::EVFILT_PROC as i64 {
        Filter::Proc
    } else {
        Filter::Signal
    }
}

/// The wait status of an exited child without reaping it, if `pid` is one.
fn zombie_status(pid: libc::pid_t) -> Option<i64> {
    crate::sys::wait_status::peek(libc::P_PID, pid as libc::id_t)
}

fn proc_fflags(ours: u32) -> u32 {
    let native = to_native(ours, &PROC_NOTES);
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    let native = if ours & note::EXIT != 0 { native | libc::NOTE_EXITSTATUS } else { native };
    native
}

impl OsSources {
    pub(crate) fn attach(
        &mut self,
        backend: &NativeBackend,
        kev: &Kevent,
    ) -> Result<OsSourceState, i32> {
        let fflags = match kev.filter {
            // kq's directory extension has no native counterpart.
            Filter::Vnode if kev.fflags & note::CHILDREN != 0 => return Err(libc::EOPNOTSUPP),
            Filter::Vnode => to_native(kev.fflags, &VNODE_NOTES),
            Filter::Proc => proc_fflags(kev.fflags),
            Filter::Signal => {
                crate::sys::signo::validate(kev.ident)?;
                0
            }
            _ => return Err(libc::EINVAL),
        };
        let filter = native_filter(kev.filter);
        let result = backend.kernel_add(kev.ident, filter, fflags);
        if kev.filter != Filter::Proc {
            return result.map(|()| OsSourceState::Kernel);
        }
        let pid = libc::pid_t::try_from(kev.ident).map_err(|_| libc::ESRCH)?;
        match (result, zombie_status(pid)) {
            (Ok(()), Some(status)) => Ok(OsSourceState::Exited { status, kernel: true }),
            (Ok(()), None) => Ok(OsSourceState::Kernel),
            (Err(libc::ESRCH), Some(status)) => Ok(OsSourceState::Exited { status, kernel: false }),
            (Err(e), _) => Err(e),
        }
    }

    pub(crate) fn detach(&mut self, backend: &NativeBackend, kn: &Knote) {
        match &kn.kind {
            Kind::Os(OsSourceState::Kernel)
            | Kind::Os(OsSourceState::Exited { kernel: true, .. }) => {
                backend.kernel_delete(kn.ident, native_filter(kn.filter));
            }
            _ => {}
        }
    }

    pub(crate) fn evaluate(&mut self, kn: &mut Knote) -> bool {
        if let Kind::Os(OsSourceState::Exited { status, .. }) = kn.kind {
            if kn.fflags & note::EXIT == 0 {
                kn.fire_exit(status);
            }
        }
        kn.fflags != 0 || kn.data != 0
    }

    pub(crate) fn handle(&mut self, ev: &BackendEvent, core: &mut Core) {
        core.os_update(ev.ident, ev.filter, |kn| match kn.filter {
            Filter::Vnode => kn.fflags |= from_native(ev.fflags, &VNODE_NOTES) & kn.sfflags,
            Filter::Proc => {
                let notes = from_native(ev.fflags, &PROC_NOTES) & kn.sfflags;
                if notes & note::EXIT != 0 {
                    kn.fire_exit(ev.data);
                }
                kn.fflags |= notes;
            }
            _ => kn.data = kn.data.saturating_add(ev.data),
        });
    }
}
