//! Signal streams (`kq::signal`) over SIGNAL knotes: [`signal`] and [`ctrl_c`].
//!
//! A SIGNAL knote counts deliveries; it coexists with other handlers (they keep being called)
//! and needs no signal blocking. Disposition: on Linux the reactor installs a counting handler
//! that chains to the previous one, and a signal left at its default action no longer ends the
//! process once it is watched (as with tokio); on the BSDs and macOS a default disposition that
//! would end the process becomes `SIG_IGN` (kqueue still records ignored signals). Several
//! streams on one signal each see every delivery made after they were created.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use kq_reactor::{Filter, Flags, Kevent};

use crate::hub::Subscription;

/// A stream of the deliveries of one signal: each item is the number of deliveries since the
/// previous item (signals that arrive close together are counted, not queued).
#[derive(Debug)]
pub struct Signal {
    signo: i32,
    sub: Subscription,
}

/// Starts counting deliveries of `signo` (registered now, in the current runtime).
///
/// # Errors
/// `InvalidInput` (EINVAL) for 0, an out-of-range number, SIGKILL, SIGSTOP, SIGILL, SIGFPE or
/// SIGSEGV (as tokio refuses them); outside a kq
/// runtime; `Unsupported` where the platform has no SIGNAL filter.
///
/// # Examples
///
/// ```
/// # kq_runtime::Runtime::new()?.block_on(async {
/// let mut usr1 = kq_process::signal::signal(libc::SIGUSR1)?;
/// // SAFETY: raise(3) sends SIGUSR1 to this process, whose SIGUSR1 is now counted.
/// unsafe { libc::raise(libc::SIGUSR1) };
/// assert_eq!(usr1.recv().await, Some(1));
/// # Ok::<(), std::io::Error>(())
/// # })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn signal(signo: i32) -> io::Result<Signal> {
    let ident = usize::try_from(signo)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "invalid signal number"))?;
    // The fault signals too, as tokio refuses them: a handler that returns re-runs the faulting
    // instruction (a crash would become a hang).
    if matches!(
        signo,
        0 | libc::SIGKILL | libc::SIGSTOP | libc::SIGILL | libc::SIGFPE | libc::SIGSEGV
    ) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    crate::sys::prepare_signal(signo)?;
    let sub = Subscription::new(Kevent::new(ident, Filter::Signal, Flags::ADD))?;
    Ok(Signal { signo, sub })
}

impl Signal {
    /// The signal number.
    pub fn signo(&self) -> i32 {
        self.signo
    }

    /// Polls for deliveries: `Ready(Some(count))`.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        loop {
            match std::task::ready!(self.sub.poll_next(cx)) {
                Some(ev) if ev.data > 0 => return Poll::Ready(Some(ev.data as u64)),
                Some(_) => {}
                None => return Poll::Ready(None),
            }
        }
    }

    /// Waits for the next deliveries and returns how many arrived. `None` only if the runtime's
    /// reactor stopped watching. Cancel safe.
    pub async fn recv(&mut self) -> Option<u64> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl futures_core::Stream for Signal {
    type Item = u64;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        self.get_mut().poll_recv(cx)
    }
}

/// Completes at the next SIGINT (Ctrl-C), as `tokio::signal::ctrl_c`.
///
/// Unlike tokio's, SIGINT is watched from the call, not from the first poll: call it before the
/// point from which Ctrl-C must be caught, and await it later. Once SIGINT is watched it no longer
/// ends the process.
///
/// # Errors
/// Outside a kq runtime, or the registration's error (delivered when awaited).
pub fn ctrl_c() -> CtrlC {
    CtrlC { sig: Some(signal(libc::SIGINT)) }
}

/// The future of [`ctrl_c`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct CtrlC {
    sig: Option<io::Result<Signal>>,
}

impl Future for CtrlC {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.sig.as_mut() {
            Some(Ok(sig)) => match std::task::ready!(sig.poll_recv(cx)) {
                Some(_) => Poll::Ready(Ok(())),
                None => Poll::Ready(Err(io::Error::other("the runtime stopped watching SIGINT"))),
            },
            Some(Err(_)) => match this.sig.take() {
                Some(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Ready(Err(io::Error::other("ctrl_c polled after completion"))),
            },
            None => Poll::Ready(Err(io::Error::other("ctrl_c polled after completion"))),
        }
    }
}
