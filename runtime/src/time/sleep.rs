//! [`Sleep`], [`sleep`] and [`sleep_until`]: one EVFILT_TIMER knote (ONESHOT, nanoseconds) per
//! sleeping future, armed on first poll and deleted on drop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent};

use crate::driver::{Direction, ScheduledIo, READABLE};
use crate::runtime::Handle;

/// Waits until `duration` has elapsed.
///
/// # Panics
/// When polled outside a runtime.
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    sleep_until(now.checked_add(duration).unwrap_or_else(far_future))
}

/// Waits until `deadline`.
///
/// # Panics
/// When polled outside a runtime.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, timer: None }
}

pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

struct Armed {
    handle: Handle,
    io: Arc<ScheduledIo>,
    ident: usize,
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
        let io = Arc::new(ScheduledIo::default());
        let ident = driver.next_ident();
        let ns = self.deadline.saturating_duration_since(Instant::now()).as_nanos();
        let ns = i64::try_from(ns).unwrap_or(i64::MAX);
        let change = Kevent::new(ident, Filter::Timer, Flags::ADD | Flags::ONESHOT)
            .with_fflags(note::NSECONDS)
            .with_data(ns)
            .with_udata(io.udata());
        driver.kq.kevent(&[change], &mut [], None)?;
        self.timer = Some(Armed { handle, io, ident, deadline: self.deadline });
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
        if self.timer.as_ref().is_none_or(|t| t.deadline != self.deadline) {
            if let Err(e) = self.arm() {
                panic!("kq::time::Sleep polled outside a kq runtime, or the timer failed: {e}");
            }
        }
        let Some(t) = &self.timer else { return Poll::Pending };
        match t.io.poll_ready(cx, Direction::Read) {
            Poll::Ready(_) => Poll::Ready(()),
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
