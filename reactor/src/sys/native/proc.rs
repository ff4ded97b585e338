//! PROC on the native backend: the kernel's EVFILT_PROC. macOS needs NOTE_EXITSTATUS for the
//! status and refuses an exited pid with ESRCH, so a registration is followed by one
//! `waitid(WNOHANG | WNOWAIT)`: a child that exited before (or while) it was registered fires at
//! once.

use super::sources::{from_native, to_native, OsSourceState};
use crate::kevent::{note, Kevent};
use crate::sys::{BackendEvent, Kind, Knote};

const PROC_NOTES: [(u32, u32); 3] =
    [(note::EXIT, libc::NOTE_EXIT), (note::FORK, libc::NOTE_FORK), (note::EXEC, libc::NOTE_EXEC)];

/// The wait status of an exited child without reaping it, if `pid` is one.
fn zombie_status(pid: libc::pid_t) -> Option<i64> {
    crate::sys::wait_status::peek(libc::P_PID, pid as libc::id_t)
}

/// The kernel fflags of a PROC registration.
pub(super) fn fflags(kev: &Kevent) -> u32 {
    let ours = kev.fflags;
    let native = to_native(ours, &PROC_NOTES);
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    let native = if ours & note::EXIT != 0 { native | libc::NOTE_EXITSTATUS } else { native };
    native
}

/// The knote's state after the kernel registration returned `result`.
pub(super) fn attached(kev: &Kevent, result: Result<(), i32>) -> Result<OsSourceState, i32> {
    let pid = libc::pid_t::try_from(kev.ident).map_err(|_| libc::ESRCH)?;
    match (result, zombie_status(pid)) {
        (Ok(()), Some(status)) => Ok(OsSourceState::Exited { status, kernel: true }),
        (Ok(()), None) => Ok(OsSourceState::Kernel),
        (Err(libc::ESRCH), Some(status)) => Ok(OsSourceState::Exited { status, kernel: false }),
        (Err(e), _) => Err(e),
    }
}

/// NOTE_EXIT for a child that had already exited at registration (once).
pub(super) fn check_exited(kn: &mut Knote) {
    if let Kind::Os(OsSourceState::Exited { status, .. }) = kn.kind {
        if kn.fflags & note::EXIT == 0 {
            kn.fire_exit(status);
        }
    }
}

/// Adds the kernel's notes (NOTE_EXIT with the wait status) to the knote's pending ones.
pub(super) fn decode(kn: &mut Knote, ev: &BackendEvent) {
    let notes = from_native(ev.fflags, &PROC_NOTES) & kn.sfflags;
    if notes & note::EXIT != 0 {
        kn.fire_exit(ev.data);
    }
    kn.fflags |= notes;
}
