//! EVFILT_TIMER: unit conversion, validation, and a binary heap of deadlines.
//!
//! Arming, re-arming and firing cost O(log n) for n armed timers. Entries are removed lazily: each
//! heap entry carries the generation of the arming that made it, and an entry whose knote has since
//! been re-armed or deleted is skipped when it reaches the top. The heap is compacted when stale
//! entries outnumber live ones, so churn cannot grow it without bound.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::kevent::{note, Flags};

/// A validated timer request.
pub(crate) struct TimerSpec {
    /// When it first fires (`None`: so far away it never does).
    pub deadline: Option<Instant>,
    /// The period of a periodic timer.
    pub period: Option<Duration>,
}

fn unit_duration(fflags: u32, amount: u64) -> Result<Duration, i32> {
    Ok(match fflags & note::TIMER_UNITS {
        0 | note::MSECONDS => Duration::from_millis(amount),
        note::SECONDS => Duration::from_secs(amount),
        note::USECONDS => Duration::from_micros(amount),
        note::NSECONDS => Duration::from_nanos(amount),
        _ => return Err(libc::EINVAL),
    })
}

/// Validates a TIMER registration (`EINVAL` for negative data or unknown fflags bits) and computes
/// its first deadline. A relative period of 0 becomes 1 unit, as on FreeBSD.
pub(crate) fn spec(fflags: u32, data: i64, flags: Flags, now: Instant) -> Result<TimerSpec, i32> {
    if data < 0 || fflags & !(note::TIMER_UNITS | note::ABSTIME) != 0 {
        return Err(libc::EINVAL);
    }
    if fflags & note::ABSTIME != 0 {
        let at = unit_duration(fflags, data as u64)?;
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let wait = at.saturating_sub(since_epoch);
        return Ok(TimerSpec { deadline: now.checked_add(wait), period: None });
    }
    let oneshot = flags.contains(Flags::ONESHOT);
    let amount = if data == 0 && !oneshot { 1 } else { data as u64 };
    let interval = unit_duration(fflags, amount)?;
    let period = (!oneshot).then_some(interval);
    Ok(TimerSpec { deadline: now.checked_add(interval), period })
}

/// Expirations of a timer due at `deadline` with `period`, seen at `now >= deadline`, and the
/// next deadline.
pub(crate) fn expirations(
    deadline: Instant,
    period: Option<Duration>,
    now: Instant,
) -> (i64, Option<Instant>) {
    let Some(period) = period else { return (1, None) };
    let late = now.saturating_duration_since(deadline).as_nanos();
    let missed = late / period.as_nanos().max(1);
    let count = missed.saturating_add(1);
    let advance = period.as_nanos().saturating_mul(count);
    let next =
        u64::try_from(advance).ok().and_then(|ns| deadline.checked_add(Duration::from_nanos(ns)));
    (i64::try_from(count).unwrap_or(i64::MAX), next)
}

/// Pending deadlines: `(deadline, generation, knote key)`.
#[derive(Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    /// Number of timers currently armed (heap entries that are not stale).
    live: usize,
}

impl TimerHeap {
    pub fn arm(&mut self, deadline: Instant, gen: u64, key: usize) {
        self.heap.push(Reverse((deadline, gen, key)));
        self.live += 1;
    }

    /// Records that an armed entry became stale (its timer was re-armed or deleted).
    pub fn disarm(&mut self) {
        self.live = self.live.saturating_sub(1);
    }

    /// The earliest deadline, stale entries included (a stale one only wakes a waiter early).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((d, _, _))| *d)
    }

    /// Pops the next entry due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, u64, usize)> {
        match self.heap.peek() {
            Some(Reverse((d, _, _))) if *d <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Drops stale entries when they outnumber live ones; `is_live(gen, key)` tells which are.
    pub fn compact(&mut self, is_live: impl Fn(u64, usize) -> bool) {
        if self.heap.len() > 2 * self.live + 1024 {
            self.heap.retain(|Reverse((_, gen, key))| is_live(*gen, *key));
            self.live = self.heap.len();
        }
    }

    pub fn fired(&mut self) {
        self.live = self.live.saturating_sub(1);
    }
}
