//! VNODE, PROC and SIGNAL on the native backend: the kernel's own knotes, registered with
//! EV_CLEAR and udata = `OS_TOKEN`; their fflags and data are translated and accumulated into
//! ours. One file per filter (`vnode.rs`, `proc.rs`, `signal.rs`) owns its validation and
//! decoding; this one dispatches.

use super::{proc, signal, vnode, NativeBackend};
use crate::kevent::{Filter, Kevent};
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
pub(crate) struct OsSources {}

pub(super) fn to_native(ours: u32, table: &[(u32, u32)]) -> u32 {
    table.iter().filter(|(o, _)| ours & o != 0).fold(0, |acc, (_, n)| acc | n)
}

pub(super) fn from_native(native: u32, table: &[(u32, u32)]) -> u32 {
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

impl OsSources {
    pub(crate) fn attach(
        &mut self,
        backend: &NativeBackend,
        kev: &Kevent,
    ) -> Result<OsSourceState, i32> {
        let fflags = match kev.filter {
            Filter::Vnode => vnode::fflags(kev)?,
            Filter::Proc => proc::fflags(kev),
            Filter::Signal => signal::fflags(kev)?,
            _ => return Err(libc::EINVAL),
        };
        let result = backend.kernel_add(kev.ident, native_filter(kev.filter), fflags);
        match kev.filter {
            Filter::Proc => proc::attached(kev, result),
            _ => result.map(|()| OsSourceState::Kernel),
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
        proc::check_exited(kn);
        kn.fflags != 0 || kn.data != 0
    }

    /// The kernel reported a knote of an OS source (nothing to follow up here).
    pub(crate) fn handle(
        &mut self,
        ev: &BackendEvent,
        core: &mut Core,
        _follow: &mut Vec<crate::sys::FollowUp>,
    ) {
        core.os_update(ev.ident, ev.filter, |kn| match kn.filter {
            Filter::Vnode => vnode::decode(kn, ev),
            Filter::Proc => proc::decode(kn, ev),
            _ => signal::decode(kn, ev),
        });
    }
}
