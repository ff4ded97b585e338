//! The idle protocol: how workers with nothing to do wait, and how new work wakes one of them.
//!
//! The first idle worker drives the reactor (blocks in `kevent`); the others sleep on a
//! condition variable. A worker about to park increments `count` (an RMW), checks for work, then
//! takes the lock and checks again. Whoever makes work available pushes it first, then (if `count` is
//! nonzero) takes the same lock and either hands a permit to a sleeping worker or triggers the
//! driver's EVFILT_USER knote. The lock orders the two: either the parking worker sees the work,
//! or the notifier sees the worker (asleep, or holding the driver, whose trigger is sticky).
//!
//! Modelled with loom in `loom_tests` (`RUSTFLAGS="--cfg loom"`).

use crate::sync::{AtomicUsize, Condvar, Mutex, MutexGuard, Ordering::AcqRel};
#[cfg(loom)]
use loom::thread::{current as current_thread, ThreadId};
use std::sync::atomic::Ordering::Relaxed;
#[cfg(not(loom))]
use std::thread::{current as current_thread, ThreadId};

/// What the idle protocol needs from the reactor.
pub(crate) trait Park {
    /// Blocks until an event arrives or [`unpark`](Park::unpark) is called (sticky: an unpark
    /// before the block makes it return at once). `timeout: Some(ZERO)` only polls.
    fn drive(&self, timeout: Option<std::time::Duration>);
    /// Makes the current or next `drive` return.
    fn unpark(&self);
}

/// Checks for work before a worker counts itself idle (see [`Idle::park`]).
#[cfg(not(loom))]
const SPINS: u32 = 32;
/// Pause instructions between two checks (128 in all: a few microseconds where a pause takes
/// ~140 cycles, as on recent Intel cores).
#[cfg(not(loom))]
const SPIN_PAUSES: u32 = 4;

#[derive(Default)]
struct State {
    /// Workers asleep on the condition variable.
    sleeping: usize,
    /// Wake-ups handed to sleeping workers and not yet taken (never more than `sleeping`).
    permits: usize,
    /// A worker is blocked in the driver.
    driver_held: bool,
    /// The thread holding the driver: work it schedules itself (timers it fires, tasks it
    /// wakes) needs no wake-up of the driver, since that thread looks for work as soon as its
    /// `drive` returns.
    driver_thread: Option<ThreadId>,
    /// The driver has been unparked and has not returned yet: further notifications would only
    /// repeat the same wake-up (one eventfd write each), so they are skipped.
    driver_notified: bool,
    shutdown: bool,
}

/// The driver role, released when dropped: also if `drive` unwinds (the driver catches panics
/// of user code, but the flag must never stay set, or no worker would ever drive again).
struct DriverHeld<'a> {
    idle: &'a Idle,
    /// After a blocking drive: a worker may be asleep because the driver was taken, so it is
    /// handed a permit to come and take the driver.
    hand_over: bool,
}

impl Drop for DriverHeld<'_> {
    fn drop(&mut self) {
        let mut st = self.idle.lock();
        st.driver_held = false;
        self.idle.driver_busy.store(false, Relaxed);
        st.driver_thread = None;
        st.driver_notified = false;
        if self.hand_over && st.sleeping > st.permits {
            st.permits += 1;
            drop(st);
            self.idle.cond.notify_one();
        }
    }
}

#[derive(Default)]
pub(crate) struct Idle {
    state: Mutex<State>,
    cond: Condvar,
    /// Workers between deciding to park and returning from `park`.
    count: AtomicUsize,
    /// A hint (no ordering relied upon) that a worker holds the driver: mirrors
    /// `State::driver_held`, read without the lock to decide whether to spin.
    driver_busy: std::sync::atomic::AtomicBool,
}

impl Idle {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes one idle worker, if any: a sleeping one, or the one in the driver.
    pub(crate) fn notify_one(&self, park: &impl Park) {
        // A read-modify-write, not a load: it reads the latest `count` in its modification
        // order, and a parker's later increment synchronises with it, so the parker sees the work
        // pushed before this call. (A plain SeqCst load would rely on a store-load fence pattern
        // that loom cannot check.)
        if self.count.fetch_add(0, AcqRel) == 0 {
            return;
        }
        let mut st = self.lock();
        if st.sleeping > st.permits {
            st.permits += 1;
            drop(st);
            self.cond.notify_one();
        } else if st.driver_held
            && !st.driver_notified
            && st.driver_thread != Some(current_thread().id())
        {
            st.driver_notified = true;
            drop(st);
            park.unpark();
        }
    }

    /// Waits until there may be work: `has_work` is checked before and under the lock.
    pub(crate) fn park(&self, park: &impl Park, has_work: &dyn Fn() -> bool) {
        // When another worker holds the driver (this one would sleep on the condition
        // variable), spin briefly first, not yet counted as idle: work arriving within a few
        // microseconds (the other half of a ping-pong, a task woken by a worker just ahead) is
        // found without the lock, a condition-variable sleep and the notifier's wake-up. A
        // worker that would take the driver does not spin: I/O readiness reaches the runtime
        // only through the driver, so spinning there would delay it. Nothing can be lost: the
        // protocol below still runs when the spin finds nothing.
        #[cfg(not(loom))]
        let spins = if self.driver_busy.load(Relaxed) { SPINS } else { 0 };
        #[cfg(not(loom))]
        for _ in 0..spins {
            if has_work() {
                return;
            }
            for _ in 0..SPIN_PAUSES {
                std::hint::spin_loop();
            }
        }
        /// Leaves the idle count, also when unwinding.
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, AcqRel);
            }
        }
        self.count.fetch_add(1, AcqRel);
        let _leave = Leave(&self.count);
        self.park_inner(park, has_work);
    }

    fn park_inner(&self, park: &impl Park, has_work: &dyn Fn() -> bool) {
        if has_work() {
            return;
        }
        let mut st = self.lock();
        if st.shutdown || has_work() {
            return;
        }
        if !st.driver_held {
            st.driver_held = true;
            self.driver_busy.store(true, Relaxed);
            st.driver_thread = Some(current_thread().id());
            drop(st);
            let _held = DriverHeld { idle: self, hand_over: true };
            park.drive(None);
            return;
        }
        st.sleeping += 1;
        while st.permits == 0 && !st.shutdown {
            st = self.cond.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.permits > 0 {
            st.permits -= 1;
        }
        st.sleeping -= 1;
    }

    /// Polls the reactor without blocking, unless a worker holds the driver.
    pub(crate) fn poll_driver(&self, park: &impl Park) {
        {
            let mut st = self.lock();
            if st.driver_held {
                return;
            }
            st.driver_held = true;
            self.driver_busy.store(true, Relaxed);
            st.driver_thread = Some(current_thread().id());
        }
        let _held = DriverHeld { idle: self, hand_over: false };
        park.drive(Some(std::time::Duration::ZERO));
    }

    /// Wakes every worker for good.
    pub(crate) fn shutdown(&self, park: &impl Park) {
        self.lock().shutdown = true;
        self.cond.notify_all();
        park.unpark();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Idle, Park};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    /// A driver whose first `drive` panics (as a user waker could, were it not caught).
    #[derive(Default)]
    struct PanicsOnce(AtomicUsize);

    impl Park for PanicsOnce {
        fn drive(&self, _timeout: Option<Duration>) {
            if self.0.fetch_add(1, SeqCst) == 0 {
                panic!("drive panics");
            }
        }
        fn unpark(&self) {}
    }

    /// The "driver held" flag is released when `drive` unwinds: the next idle worker drives
    /// again instead of sleeping forever on the condition variable.
    #[test]
    fn a_panic_in_drive_releases_the_driver_role() {
        let idle = Arc::new(Idle::default());
        let park = Arc::new(PanicsOnce::default());
        let (tx, rx) = mpsc::channel();
        let (i, p) = (idle.clone(), park.clone());
        std::thread::spawn(move || {
            let first = catch_unwind(AssertUnwindSafe(|| i.park(&*p, &|| false)));
            assert!(first.is_err(), "the first drive panics");
            i.park(&*p, &|| false); // drives (returns at once), or sleeps forever if still held
            i.poll_driver(&*p);
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(20)).expect("the driver role was never released");
        assert_eq!(park.0.load(SeqCst), 3, "drive calls: the panicking one, park, poll_driver");
        assert_eq!(idle.count.load(SeqCst), 0, "the idle count was left raised");
    }
}
