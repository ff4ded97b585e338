//! [`Interval`], [`interval`], [`interval_at`] and [`MissedTickBehavior`].

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{far_future, saturating_add, sleep_until, Sleep};

/// What an [`Interval`] does when ticks were missed (the task was late).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks as fast as possible, then keep the original schedule.
    #[default]
    Burst,
    /// Start a new schedule `period` after the late tick.
    Delay,
    /// Skip the missed ticks; the next tick is the next multiple of `period` on the schedule.
    Skip,
}

/// Ticks every `period`, the first tick completing at once. A period too large for an
/// `Instant` (e.g. `Duration::MAX`) puts the next tick "forever" away (about 30 years), as
/// tokio's.
///
/// # Panics
/// If `period` is zero (as tokio's).
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
/// If `period` is zero (as tokio's).
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "kq::time::interval: period must be non-zero");
    Interval { sleep: sleep_until(start), period, missed: MissedTickBehavior::Burst }
}

/// A periodic timer. Created by [`interval`] and [`interval_at`].
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Completes at the next tick, returning its scheduled time.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        std::task::ready!(Pin::new(&mut self.sleep).poll(cx));
        let scheduled = self.sleep.deadline();
        let now = Instant::now();
        // As tokio: a tick at most 5 ms late is on time and keeps the schedule; the missed-tick
        // behaviour decides only for later ones.
        let next = if now <= saturating_add(scheduled, Duration::from_millis(5)) {
            saturating_add(scheduled, self.period)
        } else {
            self.next_after_missed(scheduled, now)
        };
        Pin::new(&mut self.sleep).reset(next);
        Poll::Ready(scheduled)
    }

    fn next_after_missed(&self, scheduled: Instant, now: Instant) -> Instant {
        match self.missed {
            MissedTickBehavior::Burst => saturating_add(scheduled, self.period),
            MissedTickBehavior::Delay => saturating_add(now, self.period),
            MissedTickBehavior::Skip => {
                let behind = now.saturating_duration_since(scheduled).as_nanos();
                let periods = behind / self.period.as_nanos() + 1;
                let ns = u64::try_from(self.period.as_nanos().saturating_mul(periods))
                    .unwrap_or(u64::MAX);
                scheduled.checked_add(Duration::from_nanos(ns)).unwrap_or_else(far_future)
            }
        }
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        Pin::new(&mut self.sleep).reset(saturating_add(Instant::now(), self.period));
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The behaviour on missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets the behaviour on missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

use std::future::Future as _;
