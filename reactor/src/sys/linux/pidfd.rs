//! PROC on Linux: a pidfd per watched process (no SIGCHLD handler, no pid-reuse race). The pidfd
//! becomes readable when the process exits; the status is read with
//! `waitid(P_PIDFD, .., WEXITED | WNOWAIT | WNOHANG)`, which leaves the child to be reaped by its
//! owner. For a process that is not our child the status cannot be read: NOTE_EXIT fires with
//! `data = 0`. Only NOTE_EXIT exists here: registering NOTE_FORK or NOTE_EXEC is `EOPNOTSUPP`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::kevent::note;

/// Opens a pidfd for `ident`, or `ESRCH`.
pub(crate) fn open(ident: usize, sfflags: u32) -> Result<OwnedFd, i32> {
    if sfflags & (note::FORK | note::EXEC) != 0 {
        return Err(crate::errno::EOPNOTSUPP);
    }
    let pid = libc::pid_t::try_from(ident).map_err(|_| libc::ESRCH)?;
    if pid <= 0 {
        return Err(libc::ESRCH);
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(match super::errno() {
            libc::ENOSYS => crate::errno::EOPNOTSUPP,
            e => e,
        });
    }
    // SAFETY: the syscall returned a fresh fd that we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    // SAFETY: plain fcntl on our own fd.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(fd)
}

/// Has the process behind `pidfd` exited?
pub(crate) fn exited(pidfd: &OwnedFd) -> bool {
    super::readable(pidfd.as_raw_fd())
}

/// The wait status of an exited child (as `waitpid` gives it), without reaping it; 0 when the
/// process is not our child or was already reaped.
pub(crate) fn status(pidfd: &OwnedFd) -> i64 {
    crate::sys::wait_status::peek(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t).unwrap_or(0)
}
