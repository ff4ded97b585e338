//! [`Sleep`], [`sleep`] and [`sleep_until`]: an entry of the runtime's timer queue (see
//! `queue.rs`) per sleeping future, queued on first poll and removed on drop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::queue::{Inserted, TimerKey};
use crate::runtime::Handle;
use crate::scheduled_io::{Direction, ScheduledIo, READABLE, SHUTDOWN};
use crate::unwind::drop_quietly;

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

/// How far ahead deadlines computed from huge durations saturate.
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
    key: TimerKey,
    deadline: Instant,
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
        let fired = |t: &Armed| t.deadline == self.deadline && t.io.is_set(READABLE);
        Instant::now() >= self.deadline || self.timer.as_ref().is_some_and(fired)
    }

    /// Moves the deadline. A sleep already polled is re-queued at once, with the waker of its
    /// last poll, as tokio's: a future that resets its sleep and returns Pending without
    /// polling it again is woken at the new deadline, not the old one.
    pub fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        if self.deadline == deadline {
            return;
        }
        self.deadline = deadline;
        let Some(waker) = self.timer.as_ref().and_then(|t| t.io.take_reader()) else {
            return; // not polled yet (or woken already): the next poll arms it
        };
        // Queued in the runtime the sleep was armed in, so no runtime context is needed here.
        if self.arm().is_ok() {
            if let Some(t) = &self.timer {
                let _ =
                    t.io.poll_ready_unbudgeted(&mut Context::from_waker(&waker), Direction::Read);
            }
        }
    }

    /// Queues the timer in the runtime's timer queue (replacing an earlier one).
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
        let io = Arc::new(ScheduledIo::default());
        let key = match driver.timers.insert(self.deadline, io.clone()) {
            Inserted::Queued(key, wake_driver) => {
                if wake_driver {
                    driver.unpark();
                }
                key
            }
            Inserted::ShutDown => panic!("{SHUT_DOWN}"),
        };
        self.timer = Some(Armed { handle, io, key, deadline: self.deadline });
        Ok(())
    }
}

/// Takes a timer out of the queue (unless it has fired, and left it already). The waker it
/// holds is user code: a panic in its destructor is swallowed, as when the driver drops it.
fn disarm(t: Armed) {
    if !t.io.is_set(READABLE) {
        t.handle.shared.driver.timers.remove(t.key);
    }
    drop_quietly(t.io);
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let coop = std::task::ready!(crate::coop::poll_proceed(cx));
        if Instant::now() >= self.deadline {
            if let Some(t) = self.timer.take() {
                disarm(t);
            }
            coop.made_progress();
            return Poll::Ready(());
        }
        if self.timer.as_ref().is_none_or(|t| t.deadline != self.deadline) {
            if let Err(e) = self.arm() {
                panic!("kq::time::Sleep polled outside a kq runtime: {e}");
            }
        }
        let Some(t) = &self.timer else { return Poll::Pending };
        // No tracking for shutdown: shutting the driver down wakes every queued timer.
        match t.io.poll_ready_unbudgeted(cx, Direction::Read) {
            Poll::Ready(ev) if ev.ready & READABLE == 0 && ev.ready & SHUTDOWN != 0 => {
                panic!("{SHUT_DOWN}")
            }
            Poll::Ready(_) => {
                coop.made_progress();
                Poll::Ready(())
            }
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
