//! [`Child`]: a running child process, its exit from a PROC NOTE_EXIT knote.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::process::{ExitStatus, Output};
use std::task::{Context, Poll};

use futures_io::AsyncRead;
use kq_reactor::{Filter, Flags, Kevent};
use kq_runtime::runtime::Handle;

use super::pipe::{ChildStderr, ChildStdin, ChildStdout};
use super::{reaper, PROC_NOTES};
use crate::hub::Subscription;
use crate::sys::ProcHandle;

/// A child process spawned by [`Command::spawn`](super::Command::spawn).
///
/// Its exit is a PROC NOTE_EXIT knote (a pidfd on Linux) in the runtime that waits: no SIGCHLD
/// handler is involved, and only this child is ever reaped (never `waitpid(-1)`). A `Child`
/// dropped before its exit was collected is reaped in the background as soon as it exits (and
/// killed first with [`kill_on_drop`](super::Command::kill_on_drop)), even after the runtime is
/// gone: no zombie is left.
#[derive(Debug)]
pub struct Child {
    pid: u32,
    /// `None` once the status is collected (the pidfd is then closed).
    proc: Option<ProcHandle>,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
    /// The PROC knote, registered by the first wait in the runtime that waits.
    exit: Option<Subscription>,
    /// The write end of the child's stdin, when it was [`Stdio::piped`](std::process::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The read end of the child's stdout, when piped.
    pub stdout: Option<ChildStdout>,
    /// The read end of the child's stderr, when piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    pub(crate) fn from_std(
        mut child: std::process::Child,
        kill_on_drop: bool,
    ) -> io::Result<Child> {
        let pid = child.id();
        let proc = ProcHandle::open(pid);
        let stdin = child.stdin.take().map(ChildStdin::from_std).transpose();
        let stdout = child.stdout.take().map(ChildStdout::from_std).transpose();
        let stderr = child.stderr.take().map(ChildStderr::from_std).transpose();
        match (stdin, stdout, stderr) {
            (Ok(stdin), Ok(stdout), Ok(stderr)) => Ok(Child {
                pid,
                proc: Some(proc),
                status: None,
                kill_on_drop,
                exit: None,
                stdin,
                stdout,
                stderr,
            }),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                // The pipes could not be registered (no runtime, no fds): nobody can use this
                // child, so it does not outlive the error.
                let _ = proc.signal(libc::SIGKILL);
                reaper::adopt(proc);
                Err(e)
            }
        }
    }

    /// The pid, until the exit status has been collected (`None` after, as the pid may then be
    /// reused).
    pub fn id(&self) -> Option<u32> {
        self.status.is_none().then_some(self.pid)
    }

    fn reaped(&mut self, status: ExitStatus) -> ExitStatus {
        self.status = Some(status);
        self.proc = None;
        self.exit = None;
        status
    }

    /// The exit status if the child has exited (it is then reaped), `None` while it runs.
    ///
    /// # Errors
    /// `ECHILD` when its status was taken by someone else (a `waitpid` or SIGCHLD handler of
    /// another library).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        match self.proc.as_ref().map(ProcHandle::try_reap) {
            Some(Ok(Some(status))) => Ok(Some(self.reaped(status))),
            Some(other) => other,
            None => Err(io::Error::from_raw_os_error(libc::ECHILD)),
        }
    }

    /// Polls for the exit status (see [`wait`](Self::wait)).
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        let mut resubscribed = false;
        loop {
            if let Some(status) = self.try_wait()? {
                return Poll::Ready(Ok(status));
            }
            let runtime = match Handle::try_current() {
                Ok(h) => h.id(),
                Err(e) => return Poll::Ready(Err(io::Error::other(e.to_string()))),
            };
            if self.exit.as_ref().map(Subscription::runtime) != Some(runtime) {
                self.exit = None;
                let change = Kevent::new(self.pid as usize, Filter::Proc, Flags::ADD)
                    .with_fflags(PROC_NOTES);
                match Subscription::new(change) {
                    Ok(sub) => self.exit = Some(sub),
                    // ESRCH: gone, so exited in between (reaped next turn) or taken elsewhere.
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                        return match self.try_wait()? {
                            Some(status) => Poll::Ready(Ok(status)),
                            None => Poll::Ready(Err(e)),
                        };
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
                // A child that exited before the knote existed fires at once (KQUEUE.md 34).
            }
            let Some(exit) = &self.exit else { continue };
            match exit.poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(_)) => {} // exit (or a FORK/EXEC note): look again
                Poll::Ready(None) => {
                    // The knote is gone without an exit we could reap.
                    if let Some(status) = self.try_wait()? {
                        return Poll::Ready(Ok(status));
                    }
                    self.exit = None;
                    if !resubscribed {
                        // A shared knote left by a watch of an earlier process with this pid
                        // (reused since): register afresh, once.
                        resubscribed = true;
                        continue;
                    }
                    return Poll::Ready(Err(io::Error::other(format!(
                        "child {}: the runtime's reactor stopped watching it",
                        self.pid
                    ))));
                }
            }
        }
    }

    /// Waits for the child to exit and returns its status. The status is kept: later calls
    /// return it again. Cancel safe: dropping the future loses nothing.
    ///
    /// [`stdin`](Self::stdin), if still there, is closed first, as std's and tokio's `wait` do:
    /// a child reading its stdin to the end (`cat`) would otherwise never exit while the parent
    /// waits for it. ([`poll_wait`](Self::poll_wait) and [`try_wait`](Self::try_wait) leave it.)
    ///
    /// # Errors
    /// `ECHILD` when the status was taken by someone else (never a hang); outside a kq runtime.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    /// Sends SIGKILL, unless the child has already exited (then nothing is sent and this is
    /// `Ok`). On Linux the signal goes through the pidfd: it can never reach another process
    /// that reuses the pid.
    ///
    /// # Errors
    /// The OS's error for the signal (`EPERM` for a child that changed its user).
    pub fn start_kill(&mut self) -> io::Result<()> {
        match self.try_wait() {
            Ok(Some(_)) => Ok(()),
            Ok(None) => self.proc.as_ref().map_or(Ok(()), |p| p.signal(libc::SIGKILL)),
            // Reaped by someone else: no process of ours to signal.
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends SIGKILL (see [`start_kill`](Self::start_kill)) and waits for the exit.
    ///
    /// # Errors
    /// As [`start_kill`](Self::start_kill) and [`wait`](Self::wait).
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await.map(drop)
    }

    /// Closes stdin, then collects stdout and stderr (drained concurrently, so neither can fill
    /// up and block the child) and the exit status.
    ///
    /// # Errors
    /// As [`wait`](Self::wait), and the first error reading a pipe.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let mut stdout = self.stdout.take();
        let mut stderr = self.stderr.take();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut status = None;
        poll_fn(|cx| {
            let out_done = drain(&mut stdout, &mut out, cx)?;
            let err_done = drain(&mut stderr, &mut err, cx)?;
            if status.is_none() {
                if let Poll::Ready(s) = self.poll_wait(cx) {
                    status = Some(s?);
                }
            }
            match status {
                Some(status) if out_done && err_done => Poll::Ready(Ok(Output {
                    status,
                    stdout: std::mem::take(&mut out),
                    stderr: std::mem::take(&mut err),
                })),
                _ => Poll::Pending,
            }
        })
        .await
    }
}

/// Reads `pipe` into `buf` until it would block (false) or ends (true; the pipe is dropped).
fn drain<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut Vec<u8>,
    cx: &mut Context<'_>,
) -> io::Result<bool> {
    const CHUNK: usize = 64 * 1024;
    let Some(r) = pipe.as_mut() else { return Ok(true) };
    loop {
        let len = buf.len();
        buf.resize(len + CHUNK, 0);
        let polled = Pin::new(&mut *r).poll_read(cx, &mut buf[len..]);
        let n = match polled {
            Poll::Ready(Ok(0)) => {
                buf.truncate(len);
                *pipe = None;
                return Ok(true);
            }
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => 0,
            Poll::Ready(Err(e)) => {
                buf.truncate(len);
                return Err(e);
            }
            Poll::Pending => {
                buf.truncate(len);
                return Ok(false);
            }
        };
        buf.truncate(len + n);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        if let Some(proc) = self.proc.take() {
            if self.kill_on_drop {
                let _ = proc.signal(libc::SIGKILL);
            }
            reaper::adopt(proc);
        }
    }
}
