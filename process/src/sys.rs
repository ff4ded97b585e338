//! The OS calls of kq-process, in one file: a handle on one process (a pidfd on Linux, the pid
//! elsewhere) that reaps that process only and signals it, and the helpers of pipes and signals.
//!
//! Reaping is always for one process: `waitid(P_PIDFD)` on Linux, `waitpid(pid)` elsewhere, never
//! `waitpid(-1)`, so the status of a child that kq did not spawn is never taken. On Linux the
//! pidfd also makes signals safe: `pidfd_send_signal` cannot reach a process that merely reuses
//! the pid.

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

#[cfg(target_os = "linux")]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

/// One process that we may reap and signal.
#[derive(Debug)]
pub(crate) struct ProcHandle {
    pid: libc::pid_t,
    /// `None` on kernels without pidfd (before 5.3): the pid is used instead.
    #[cfg(target_os = "linux")]
    pidfd: Option<OwnedFd>,
    /// The child was reaped by someone else before we could hold it (Linux).
    #[cfg(target_os = "linux")]
    stolen: bool,
}

impl ProcHandle {
    /// A handle on `pid`, which must be an unreaped child of ours (so that the pid cannot have
    /// been reused yet).
    pub(crate) fn open(pid: u32) -> ProcHandle {
        let pid = pid as libc::pid_t;
        #[cfg(target_os = "linux")]
        {
            let Some(fd) = pidfd_open(pid as u32) else {
                return ProcHandle { pid, pidfd: None, stolen: false };
            };
            // Between the fork and pidfd_open, someone else's waitpid(-1) could have reaped the
            // child and the pid been reused: then the pidfd is not our child's (ECHILD), and
            // this handle must neither reap nor signal anything.
            let all = libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED | libc::WNOWAIT;
            let ours = waitid(libc::P_PIDFD, fd.as_raw_fd() as libc::id_t, all).is_ok();
            ProcHandle { pid, pidfd: Some(fd), stolen: !ours }
        }
        #[cfg(not(target_os = "linux"))]
        ProcHandle { pid }
    }

    /// The pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Reaps the process if it has exited: `Some(status)`; `None` while it runs. `ECHILD` when
    /// its status was taken by someone else (another `waitpid`, a SIGCHLD handler).
    pub(crate) fn try_reap(&self) -> io::Result<Option<ExitStatus>> {
        #[cfg(target_os = "linux")]
        if self.stolen {
            return Err(io::Error::from_raw_os_error(libc::ECHILD));
        }
        #[cfg(target_os = "linux")]
        if let Some(pidfd) = &self.pidfd {
            return waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, libc::WEXITED);
        }
        let mut status = 0;
        loop {
            // SAFETY: `status` is valid for writes; this waits for our one pid only.
            let rc = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            match rc {
                0 => return Ok(None),
                rc if rc == self.pid => return Ok(Some(ExitStatus::from_raw(status))),
                _ => {
                    let e = last_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Sends `sig` to the process. A process that is gone (ESRCH) is not an error.
    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        if self.stolen {
            return Ok(()); // not ours any more: nothing to signal
        }
        #[cfg(target_os = "linux")]
        if let Some(pidfd) = &self.pidfd {
            // SAFETY: pidfd_send_signal with a null siginfo sends `sig` as kill(2) would.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    sig,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            return check_signal(rc as i32);
        }
        // SAFETY: kill(2) on our own unreaped child (the pid cannot have been reused).
        check_signal(unsafe { libc::kill(self.pid, sig) })
    }
}

fn check_signal(rc: i32) -> io::Result<()> {
    if rc == 0 {
        return Ok(());
    }
    let e = last_error();
    if e.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(e)
    }
}

/// `waitid` for one id, non-blocking, with `extra` flags (`WEXITED` to reap, `| WNOWAIT` to peek).
#[cfg(target_os = "linux")]
fn waitid(idtype: libc::idtype_t, id: libc::id_t, extra: i32) -> io::Result<Option<ExitStatus>> {
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-value for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid for writes.
        let rc = unsafe { libc::waitid(idtype, id, &mut info, extra | libc::WNOHANG) };
        if rc != 0 {
            let e = last_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // SAFETY: waitid filled `info` (or left it zeroed when nothing had exited).
        let (pid, code, st) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        let status = match code {
            libc::CLD_EXITED => (st & 0xff) << 8,
            libc::CLD_KILLED => st & 0x7f,
            libc::CLD_DUMPED => (st & 0x7f) | 0x80,
            _ => return Ok(None),
        };
        return Ok(Some(ExitStatus::from_raw(status)));
    }
}

/// A close-on-exec pidfd on `pid`; `None` when there is no such process (or no pidfd support,
/// or no descriptor left).
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok().filter(|&p| p > 0)?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the syscall returned a fresh fd that we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    // SAFETY: plain fcntl on our own fd (pidfds are not close-on-exec by default).
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    Some(fd)
}

/// Has the process behind `pidfd` exited? (A pidfd is readable once its process has.)
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_exited(pidfd: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: `pfd` is one valid pollfd; a zero timeout never blocks.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    // An error (EINTR, ENOMEM) says nothing: take the process for exited, as the knote says.
    n != 0
}

/// Is `pid` a child of this process (running, or exited and not reaped)?
#[cfg(target_os = "linux")]
pub(crate) fn is_child(pid: u32) -> bool {
    let wnowait = libc::WEXITED | libc::WNOWAIT | libc::WSTOPPED | libc::WCONTINUED;
    waitid(libc::P_PID, pid as libc::id_t, wnowait).is_ok()
}

/// The status of an exited, unreaped child, without reaping it.
#[cfg(target_os = "linux")]
pub(crate) fn peek_status(pid: u32) -> Option<ExitStatus> {
    waitid(libc::P_PID, pid as libc::id_t, libc::WEXITED | libc::WNOWAIT).ok().flatten()
}

/// Puts `fd` in non-blocking mode (`on`) or back in blocking mode.
pub(crate) fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl(F_GETFL) on an fd we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    let new = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
    // SAFETY: fcntl(F_SETFL) on an fd we own.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, new) } < 0 {
        return Err(last_error());
    }
    Ok(())
}

/// Native kqueue records a signal without changing its disposition, so a signal whose default
/// action ends the process would end it before the knote saw it: such a disposition becomes
/// `SIG_IGN` (kqueue still counts ignored signals). Linux's reactor installs its counting handler
/// itself.
#[cfg(not(target_os = "linux"))]
pub(crate) fn prepare_signal(signo: i32) -> io::Result<()> {
    if matches!(signo, libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH | libc::SIGCONT) {
        return Ok(()); // ignored by default already; SIG_IGN on SIGCHLD would change reaping
    }
    // SAFETY: a zeroed sigaction is a valid out-value; a null new action only reads.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::sigaction(signo, std::ptr::null(), &mut old) } != 0 {
        return Err(last_error());
    }
    if old.sa_sigaction == libc::SIG_DFL {
        // SAFETY: setting a disposition to SIG_IGN has no memory-safety requirement.
        unsafe { libc::signal(signo, libc::SIG_IGN) };
    }
    Ok(())
}

/// Linux: the reactor's handler takes care of the disposition.
#[cfg(target_os = "linux")]
pub(crate) fn prepare_signal(_signo: i32) -> io::Result<()> {
    Ok(())
}
