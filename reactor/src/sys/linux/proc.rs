//! PROC on Linux (`ProcSource`): a pidfd per watched process (no SIGCHLD handler, no pid-reuse race). The pidfd
//! becomes readable when the process exits; the status is read with
//! `waitid(P_PIDFD, .., WEXITED | WNOWAIT | WNOHANG)`, which leaves the child to be reaped by its
//! owner. For a process that is not our child the status cannot be read: NOTE_EXIT fires with
//! `data = 0`. Only NOTE_EXIT exists here: registering NOTE_FORK or NOTE_EXEC is `EOPNOTSUPP`.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{os_errno, Core, FollowUp, Kind, Knote, MioBackend, OsSourceState, PIDFD_TOKEN};
use crate::kevent::{note, Filter, Kevent};

/// Opens a pidfd for `ident`, or `ESRCH`.
fn open(ident: usize, sfflags: u32) -> Result<OwnedFd, i32> {
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
fn exited(pidfd: &OwnedFd) -> bool {
    super::readable(pidfd.as_raw_fd())
}

/// The wait status of an exited child (as `waitpid` gives it), without reaping it; 0 when the
/// process is not our child or was already reaped.
fn status(pidfd: &OwnedFd) -> i64 {
    crate::sys::wait_status::peek(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t).unwrap_or(0)
}

/// The PROC source of one kqueue: its pidfds, each watched under its own token.
#[derive(Default)]
pub(super) struct ProcSource {
    /// pidfd -> pid.
    pidfds: HashMap<RawFd, usize>,
}

impl ProcSource {
    pub(super) fn attach(
        &mut self,
        backend: &MioBackend,
        kev: &Kevent,
    ) -> Result<OsSourceState, i32> {
        let pidfd = open(kev.ident, kev.fflags)?;
        let raw = pidfd.as_raw_fd();
        backend.watch_read(raw, PIDFD_TOKEN + raw as usize).map_err(os_errno)?;
        self.pidfds.insert(raw, kev.ident);
        Ok(OsSourceState::Proc { pidfd })
    }

    pub(super) fn detach(&mut self, backend: &MioBackend, pidfd: &OwnedFd) {
        backend.unwatch_raw(pidfd.as_raw_fd());
        self.pidfds.remove(&pidfd.as_raw_fd());
    }

    /// The pidfd under `token` is readable: its process exited. A knote that asked for no note
    /// goes, with its pidfd, without an event (FreeBSD's `filt_proc` sets `EV_DROP` then).
    pub(super) fn handle(&mut self, token: usize, core: &mut Core, follow: &mut Vec<FollowUp>) {
        let raw = (token - PIDFD_TOKEN) as RawFd;
        if let Some(&pid) = self.pidfds.get(&raw) {
            let mut unwanted = false;
            core.os_update(pid, Filter::Proc, |kn| {
                check_exit(kn);
                unwanted = kn.sfflags & note::EXIT == 0;
            });
            if unwanted {
                follow.push(FollowUp::Drop(pid, Filter::Proc));
            }
        }
    }
}

/// NOTE_EXIT, with the wait status, once the knote's process has exited (at most once).
pub(super) fn check_exit(kn: &mut Knote) {
    if let Kind::Os(OsSourceState::Proc { pidfd }) = &kn.kind {
        if kn.fflags & note::EXIT == 0 && exited(pidfd) {
            let status = status(pidfd);
            kn.fire_exit(status);
        }
    }
}
