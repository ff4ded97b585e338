//! [`Sleep`], [`sleep`] and [`sleep_until`]: one EVFILT_TIMER knote (ONESHOT, nanoseconds) per
//! sleeping future, armed on first poll and deleted on drop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent};

use crate::driver::{Direction, ScheduledIo, READABLE, SHUTDOWN};
use crate::runtime::Handle;

/// Waits until `duration` has elapsed. A duration too large for an `Instant` waits "forever"
/// (about 30 years), as tokio's.
///
/// # Panics
/// When polled outside a runtime, or on a runtime that has shut down (as tokio's).
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(saturating_add(Instant::now(), duration))
}

/// Waits until `deadline`.
///
/// # Panics
/// When polled outside a runtime, or on a runtime that has shut down (as tokio's).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, timer: None }
}

/// How far ahead deadlines computed from huge durations saturate, and timer knotes reach.
const MAX_AHEAD: Duration = Duration::from_secs(86400 * 365 * 30);

/// About 30 years from now: where deadlines computed from huge durations saturate.
pub(crate) fn far_future() -> Instant {
    Instant::now() + MAX_AHEAD
}

/// `t + d`, or [`far_future`] when that overflows an `Instant`.
pub(crate) fn saturating_add(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or_else(far_future)
}

const SHUT_DOWN: &str = "kq::time: the runtime of this timer has shut down (it was dropped or \
                         shut down): the timer can never fire";

struct Armed {
    handle: Handle,
    io: Arc<ScheduledIo>,
    ident: usize,
    deadline: Instant,
    /// The knote fires at `deadline`, or earlier when that is too far away (then it is armed
    /// again when it fires).
    capped: bool,
}

/// A future that completes at a deadline. Created by [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    deadline: Instant,
    timer: Option<Armed>,
}

impl Sleep {
    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        let fired = |t: &Armed| t.deadline == self.deadline && !t.capped && t.io.is_set(READABLE);
        Instant::now() >= self.deadline || self.timer.as_ref().is_some_and(fired)
    }

    /// Moves the deadline (the timer is re-armed on the next poll).
    pub fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.deadline = deadline;
    }

    fn arm(&mut self) -> std::io::Result<()> {
        let handle = match self.timer.take() {
            Some(old) => {
                let h = old.handle.clone();
                disarm(old);
                h
            }
            None => Handle::try_current().map_err(std::io::Error::other)?,
        };
        let driver = &handle.shared.driver;
        if driver.check_open().is_err() {
            panic!("{SHUT_DOWN}");
        }
        let io = Arc::new(ScheduledIo::default());
        let ident = driver.next_ident();
        // At most ~30 years ahead (a deadline beyond that re-arms when the timer fires), so the
        // reactor never computes a deadline near the end of `Instant`'s range.
        let ahead = self.deadline.saturating_duration_since(Instant::now());
        let ns = ahead.min(MAX_AHEAD).as_nanos();
        let ns = i64::try_from(ns).unwrap_or(i64::MAX);
        let change = Kevent::new(ident, Filter::Timer, Flags::ADD | Flags::ONESHOT)
            .with_fflags(note::NSECONDS)
            .with_data(ns)
            .with_udata(io.udata());
        if let Err(e) = driver.kq.kevent(&[change], &mut [], None) {
            driver.release(io);
            return Err(e);
        }
        let armed = Armed { handle, io, ident, deadline: self.deadline, capped: ahead > MAX_AHEAD };
        self.timer = Some(armed);
        Ok(())
    }
}

fn disarm(t: Armed) {
    let driver = &t.handle.shared.driver;
    if !t.io.is_set(READABLE) {
        let _ =
            driver.kq.kevent(&[Kevent::new(t.ident, Filter::Timer, Flags::DELETE)], &mut [], None);
    }
    driver.release(t.io);
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        std::task::ready!(crate::coop::poll_proceed(cx));
        if Instant::now() >= self.deadline {
            if let Some(t) = self.timer.take() {
                disarm(t);
            }
            return Poll::Ready(());
        }
        let stale = |t: &Armed| t.deadline != self.deadline || (t.capped && t.io.is_set(READABLE));
        if self.timer.as_ref().is_none_or(stale) {
            if let Err(e) = self.arm() {
                panic!("kq::time::Sleep polled outside a kq runtime, or the timer failed: {e}");
            }
        }
        let Some(t) = &self.timer else { return Poll::Pending };
        match t.io.poll_ready(cx, Direction::Read) {
            Poll::Ready(ev) if ev.ready & READABLE == 0 && ev.ready & SHUTDOWN != 0 => {
                panic!("{SHUT_DOWN}")
            }
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending if t.handle.shared.watch(&t.io).is_err() => panic!("{SHUT_DOWN}"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(t) = self.timer.take() {
            disarm(t);
        }
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).finish()
    }
}
