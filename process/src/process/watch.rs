//! [`watch`]: a stream of what happens to any process, child or not.

use std::collections::VecDeque;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::process::ExitStatus;
use std::task::{Context, Poll};

use kq_reactor::{note, Filter, Flags, Kevent};

use super::PROC_NOTES;
use crate::hub::Subscription;

/// What [`watch`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcEvent {
    /// The process exited (the last event). The status when it can be known: for a child of
    /// this process whose status was still there when the exit was seen, and on the BSDs and
    /// macOS; `None` on Linux for a process that is not our child (Linux gives no one else its
    /// status) or a child reaped before the exit was seen.
    Exit(Option<ExitStatus>),
    /// The process forked. The pid is the watched process's own: without NOTE_TRACK (not
    /// offered, see KQUEUE.md) kqueue does not say which child was created. Not on Linux.
    Fork(u32),
    /// The process called exec. Not on Linux.
    Exec,
}

/// A stream of [`ProcEvent`]s of one process, ending after [`ProcEvent::Exit`].
#[derive(Debug)]
pub struct Watch {
    pid: u32,
    sub: Option<Subscription>,
    /// The registration's error, yielded first.
    error: Option<io::Error>,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    is_child: bool,
    also: ProcEvents,
    pending: VecDeque<ProcEvent>,
    done: bool,
    /// Linux: a pidfd of our own on the process watched, to tell its exit from that of an earlier
    /// process with the same pid (see [`Watch::stale_exit`]).
    #[cfg(target_os = "linux")]
    pidfd: Option<std::os::fd::OwnedFd>,
    /// The knote was registered afresh once after a stale exit.
    resubscribed: bool,
}

/// The events a [`watch_with`] stream asks for besides the exit (which is always reported).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcEvents {
    /// Report [`ProcEvent::Fork`] (BSDs and macOS; `Unsupported` on Linux).
    pub fork: bool,
    /// Report [`ProcEvent::Exec`] (BSDs and macOS; `Unsupported` on Linux).
    pub exec: bool,
}

impl ProcEvents {
    /// Everything this platform can report: fork and exec on the BSDs and macOS, neither on
    /// Linux.
    pub const PLATFORM: ProcEvents =
        ProcEvents { fork: !cfg!(target_os = "linux"), exec: !cfg!(target_os = "linux") };
}

/// Watches process `pid` (child or not) for everything the platform reports
/// ([`ProcEvents::PLATFORM`]): the knote is registered now, in the current runtime.
///
/// On Linux only the exit is reported (a pidfd); FORK and EXEC exist on the BSDs and macOS.
///
/// # Errors (as the stream's first item, which then ends)
/// `ESRCH` (`NotFound`-like: no such process), outside a kq runtime, `Unsupported` where the
/// platform has no PROC filter.
///
/// # Examples
///
/// ```
/// # kq_runtime::Runtime::new()?.block_on(async {
/// use futures_util::StreamExt;
/// use kq_process::process::{watch, ProcEvent};
///
/// let mut child = std::process::Command::new("true").spawn()?;
/// let mut events = watch(child.id());
/// assert!(matches!(events.next().await, Some(Ok(ProcEvent::Exit(_)))));
/// assert!(events.next().await.is_none());
/// child.wait()?;
/// # Ok::<(), std::io::Error>(())
/// # })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn watch(pid: u32) -> Watch {
    watch_with(pid, ProcEvents::PLATFORM)
}

/// Watches process `pid` for its exit and the events in `also`.
///
/// # Errors (as the stream's first item, which then ends)
/// As [`watch`]; `Unsupported` for fork or exec on Linux (a pidfd only tells the exit).
pub fn watch_with(pid: u32, also: ProcEvents) -> Watch {
    if cfg!(target_os = "linux") && (also.fork || also.exec) {
        let e = io::Error::new(
            io::ErrorKind::Unsupported,
            "PROC NOTE_FORK and NOTE_EXEC are not available on Linux (a pidfd only reports the exit)",
        );
        return Watch {
            pid,
            sub: None,
            error: Some(e),
            is_child: false,
            also,
            pending: VecDeque::new(),
            done: false,
            #[cfg(target_os = "linux")]
            pidfd: None,
            resubscribed: false,
        };
    }
    #[cfg(target_os = "linux")]
    let is_child = crate::sys::is_child(pid);
    #[cfg(not(target_os = "linux"))]
    let is_child = false;
    // Opened before the knote: the process it names is the one the knote watches, or one that
    // exited before (then it is readable, and any exit seen is its own).
    #[cfg(target_os = "linux")]
    let pidfd = crate::sys::pidfd_open(pid);
    let (sub, error) = match Subscription::new(exit_change(pid)) {
        Ok(sub) => (Some(sub), None),
        Err(e) => (None, Some(e)),
    };
    Watch {
        pid,
        sub,
        error,
        is_child,
        also,
        pending: VecDeque::new(),
        done: false,
        #[cfg(target_os = "linux")]
        pidfd,
        resubscribed: false,
    }
}

fn exit_change(pid: u32) -> Kevent {
    Kevent::new(pid as usize, Filter::Proc, Flags::ADD).with_fflags(PROC_NOTES)
}

impl Watch {
    /// The watched pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn exit_status(&self, ev: &Kevent) -> Option<ExitStatus> {
        #[cfg(target_os = "linux")]
        {
            if !self.is_child {
                return None;
            }
            if ev.data != 0 {
                return Some(ExitStatus::from_raw(ev.data as i32));
            }
            // 0 is a clean exit, or a status the reactor could not read (reaped first).
            crate::sys::peek_status(self.pid)
        }
        #[cfg(not(target_os = "linux"))]
        Some(ExitStatus::from_raw(ev.data as i32))
    }

    /// An exit reported while the watched process still runs: the knote is shared per pid in a
    /// runtime (see `hub`), and one registered by an earlier watch of a process that had this pid
    /// (exited, reaped, its pid reused at once) reports that process's exit. Linux only: no
    /// pidfd of our own elsewhere.
    fn stale_exit(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(pidfd) = &self.pidfd {
            return !crate::sys::pidfd_exited(pidfd);
        }
        false
    }

    /// Polls for the next event.
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<ProcEvent>>> {
        if let Some(e) = self.error.take() {
            self.done = true;
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            if let Some(ev) = self.pending.pop_front() {
                if matches!(ev, ProcEvent::Exit(_)) {
                    self.done = true;
                    self.sub = None;
                }
                return Poll::Ready(Some(Ok(ev)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            let Some(sub) = &self.sub else { return Poll::Ready(None) };
            match std::task::ready!(sub.poll_next(cx)) {
                Some(ev) => {
                    if self.also.fork && ev.fflags & note::FORK != 0 {
                        self.pending.push_back(ProcEvent::Fork(self.pid));
                    }
                    if self.also.exec && ev.fflags & note::EXEC != 0 {
                        self.pending.push_back(ProcEvent::Exec);
                    }
                    let exit = ev.fflags & note::EXIT != 0 || ev.flags.contains(Flags::EOF);
                    if exit && !self.resubscribed && self.stale_exit() {
                        // That knote has ended (and left the registry): register afresh, once.
                        self.resubscribed = true;
                        self.sub = None;
                        match Subscription::new(exit_change(self.pid)) {
                            Ok(sub) => self.sub = Some(sub),
                            Err(e) => {
                                self.done = true;
                                return Poll::Ready(Some(Err(e)));
                            }
                        }
                        continue;
                    }
                    if exit {
                        self.pending.push_back(ProcEvent::Exit(self.exit_status(&ev)));
                    }
                }
                None => {
                    self.done = true;
                    self.sub = None;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl futures_core::Stream for Watch {
    type Item = io::Result<ProcEvent>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_event(cx)
    }
}
