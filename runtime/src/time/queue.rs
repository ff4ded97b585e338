//! The driver's timer queue: every armed [`Sleep`](super::Sleep) of a runtime, ordered by
//! deadline, in the runtime itself rather than one reactor TIMER knote per sleep.
//!
//! The driver fires the expired timers before and after each collection, and passes the time
//! to the earliest deadline as its `kevent` timeout (the reactor's call waits until that
//! deadline, as precisely as one TIMER knote would). Arming a timer takes one short lock here
//! (an ordered map: O(log n) insertion and removal) instead of a kevent call under the
//! reactor's lock, and a timer dropped before it fires is removed the same way. Only a timer
//! earlier than the one the blocked driver waits for costs a wake-up (the driver's USER
//! trigger); the driver then recomputes its timeout.
//!
//! Wakers are called by the driver after the lock is released. Shutdown marks every queued
//! timer and wakes its waiter (whatever thread it is on), so a timer needs no tracking of its
//! own for shutdown.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::scheduled_io::ScheduledIo;
use crate::sync::lock;
use crate::unwind::drop_quietly;

/// Where a timer sits in the queue: its deadline (ns since the queue's base) and a sequence
/// number that makes equal deadlines distinct.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    at: u64,
    seq: u64,
}

/// Armed timers and what the driver is waiting for.
#[derive(Default)]
struct Inner {
    timers: BTreeMap<TimerKey, Arc<ScheduledIo>>,
    seq: u64,
    /// The driver is blocked until this time (ns since base; `u64::MAX`: no deadline). `None`
    /// while it is not blocked, or has already been woken.
    parked_until: Option<u64>,
    shutdown: bool,
}

/// The timers of one driver.
pub(crate) struct TimerQueue {
    base: Instant,
    inner: Mutex<Inner>,
}

/// What [`TimerQueue::insert`] decided.
pub(crate) enum Inserted {
    /// Queued; `true` when the blocked driver must be woken to wait for an earlier deadline.
    Queued(TimerKey, bool),
    /// The driver has shut down.
    ShutDown,
}

impl TimerQueue {
    pub(crate) fn new() -> TimerQueue {
        TimerQueue { base: Instant::now(), inner: Mutex::default() }
    }

    fn ns(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Queues `io` to be fired (READABLE) at `deadline`.
    pub(crate) fn insert(&self, deadline: Instant, io: Arc<ScheduledIo>) -> Inserted {
        let at = self.ns(deadline);
        let mut inner = lock(&self.inner);
        if inner.shutdown {
            return Inserted::ShutDown;
        }
        inner.seq += 1;
        let key = TimerKey { at, seq: inner.seq };
        inner.timers.insert(key, io);
        let wake = inner.parked_until.is_some_and(|until| at < until);
        if wake {
            // One wake-up is enough: the driver recomputes its timeout when it returns.
            inner.parked_until = None;
        }
        Inserted::Queued(key, wake)
    }

    /// Removes a timer that has not fired (a no-op for one that has).
    pub(crate) fn remove(&self, key: TimerKey) {
        let removed = lock(&self.inner).timers.remove(&key);
        drop_quietly(removed);
    }

    /// Takes the timers due at `now` out of the queue.
    fn take_expired(&self, inner: &mut Inner, now: Instant, fired: &mut Vec<Arc<ScheduledIo>>) {
        let now = self.ns(now);
        while let Some(entry) = inner.timers.first_entry() {
            if entry.key().at > now {
                break;
            }
            fired.push(entry.remove());
        }
    }

    /// Before the driver waits: fires the expired timers and returns how long the driver may
    /// block (`timeout`, shortened to the earliest deadline; zero when timers fired, so that
    /// their tasks run at once). The driver counts as blocked from here until
    /// [`after_wait`](Self::after_wait).
    pub(crate) fn before_wait(&self, timeout: Option<Duration>) -> Option<Duration> {
        let now = Instant::now();
        let mut fired = Vec::new();
        let wait = {
            let mut inner = lock(&self.inner);
            self.take_expired(&mut inner, now, &mut fired);
            if !fired.is_empty() {
                Some(Duration::ZERO)
            } else {
                let next = inner.timers.first_key_value().map(|(k, _)| k.at);
                let mut until = next.unwrap_or(u64::MAX);
                let mut wait = next.map(|at| Duration::from_nanos(at - self.ns(now)));
                if let Some(t) = timeout {
                    if wait.is_none_or(|w| t < w) {
                        wait = Some(t);
                        until = self.ns(now + t.min(Duration::from_secs(86400 * 365)));
                    }
                }
                inner.parked_until = (wait != Some(Duration::ZERO)).then_some(until);
                wait
            }
        };
        fire(fired);
        wait
    }

    /// After the driver's wait: fires the timers that expired meanwhile. Returns how many.
    pub(crate) fn after_wait(&self) -> usize {
        let mut fired = Vec::new();
        {
            let mut inner = lock(&self.inner);
            inner.parked_until = None;
            self.take_expired(&mut inner, Instant::now(), &mut fired);
        }
        let n = fired.len();
        fire(fired);
        n
    }

    /// No timer can be queued any more; the queued ones are marked shut down and their waiters
    /// woken.
    pub(crate) fn shutdown(&self) {
        let timers = {
            let mut inner = lock(&self.inner);
            inner.shutdown = true;
            std::mem::take(&mut inner.timers)
        };
        for (_, io) in timers {
            io.shutdown();
            drop_quietly(io);
        }
    }

    /// Number of armed timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.inner).timers.len()
    }
}

/// Fires timers (outside every lock): wakers and the destructors of the last references are
/// user code, whose panics are caught.
fn fire(fired: Vec<Arc<ScheduledIo>>) {
    for io in fired {
        io.fire();
        drop_quietly(io);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    #[test]
    fn expired_timers_leave_in_deadline_order_and_removed_ones_never_fire() {
        let q = TimerQueue::new();
        let t0 = Instant::now();
        let ios: Vec<_> = (0..100).map(|_| Arc::new(ScheduledIo::default())).collect();
        let mut keys = Vec::new();
        for (i, io) in ios.iter().enumerate() {
            // Deadlines 99, 98, ... 0 ms after t0: the later inserted, the sooner.
            let at = t0 + Duration::from_millis(99 - i as u64);
            match q.insert(at, io.clone()) {
                Inserted::Queued(k, wake) => {
                    assert!(!wake, "nobody waits yet");
                    keys.push(k);
                }
                Inserted::ShutDown => panic!("not shut down"),
            }
        }
        for k in keys.iter().step_by(2) {
            q.remove(*k);
        }
        q.remove(keys[0]); // twice: a no-op
        assert_eq!(q.len(), 50);
        let mut inner = lock(&q.inner);
        let mut fired = Vec::new();
        q.take_expired(&mut inner, t0 + Duration::from_secs(1), &mut fired);
        drop(inner);
        assert_eq!(fired.len(), 50);
        // Latest index first (earliest deadline), only the odd (kept) ones.
        let idx: Vec<_> =
            fired.iter().map(|f| ios.iter().position(|io| Arc::ptr_eq(io, f)).unwrap()).collect();
        let expected: Vec<_> = (0..100).rev().filter(|i| i % 2 == 1).collect();
        assert_eq!(idx, expected);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_sooner_timer_asks_to_wake_the_waiting_driver_once() {
        let q = TimerQueue::new();
        let far = Instant::now() + Duration::from_secs(3600);
        assert!(matches!(q.insert(far, Arc::default()), Inserted::Queued(_, false)));
        let wait = q.before_wait(None).unwrap();
        assert!(wait > Duration::from_secs(3000) && wait <= Duration::from_secs(3600));
        // A later one does not wake it, a sooner one does, and only the first sooner one.
        let later = far + Duration::from_secs(1);
        assert!(matches!(q.insert(later, Arc::default()), Inserted::Queued(_, false)));
        let soon = Instant::now() + Duration::from_secs(1);
        assert!(matches!(q.insert(soon, Arc::default()), Inserted::Queued(_, true)));
        assert!(matches!(q.insert(soon, Arc::default()), Inserted::Queued(_, false)));
        assert_eq!(q.after_wait(), 0);
        // A caller's shorter timeout wins.
        let wait = q.before_wait(Some(Duration::from_millis(5))).unwrap();
        assert_eq!(wait, Duration::from_millis(5));
        q.after_wait();
        // A zero timeout (a poll) is not a wait: nothing asks to wake it.
        assert_eq!(q.before_wait(Some(Duration::ZERO)), Some(Duration::ZERO));
        let sooner = Instant::now() + Duration::from_millis(1);
        assert!(matches!(q.insert(sooner, Arc::default()), Inserted::Queued(_, false)));
        q.after_wait();
    }

    #[test]
    fn shutdown_wakes_queued_timers_and_refuses_new_ones() {
        let q = TimerQueue::new();
        let io = Arc::new(ScheduledIo::default());
        let far = Instant::now() + Duration::from_secs(3600);
        assert!(matches!(q.insert(far, io.clone()), Inserted::Queued(..)));
        let woken = Arc::new(std::sync::atomic::AtomicBool::new(false));
        struct Flag(Arc<std::sync::atomic::AtomicBool>);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let waker = Waker::from(Arc::new(Flag(woken.clone())));
        let mut cx = Context::from_waker(&waker);
        let mut ready = std::pin::pin!(std::future::poll_fn(|cx| {
            io.poll_ready(cx, crate::scheduled_io::Direction::Read)
        }));
        assert!(ready.as_mut().poll(&mut cx).is_pending());
        q.shutdown();
        assert!(woken.load(std::sync::atomic::Ordering::SeqCst));
        assert!(
            io.is_set(crate::scheduled_io::SHUTDOWN) && !io.is_set(crate::scheduled_io::READABLE)
        );
        assert!(matches!(q.insert(far, Arc::default()), Inserted::ShutDown));
        assert!(matches!(ready.as_mut().poll(&mut cx), Poll::Ready(_)));
    }
}
