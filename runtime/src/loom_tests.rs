//! loom model of the idle protocol (`scheduler/idle.rs`): no lost wake-up between a worker going
//! to sleep (in the driver or on the condition variable) and work being scheduled.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p kq-runtime --lib --release loom`.

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use crate::scheduler::idle::{Idle, Park};

/// The driver's sticky wake-up (an EVFILT_USER trigger), as a flag and a condition variable.
#[derive(Default)]
struct ModelPark {
    triggered: Mutex<bool>,
    cond: Condvar,
}

impl Park for ModelPark {
    fn drive(&self, timeout: Option<std::time::Duration>) {
        let mut t = self.triggered.lock().unwrap();
        if timeout.is_none() {
            while !*t {
                t = self.cond.wait(t).unwrap();
            }
        }
        *t = false;
    }

    fn unpark(&self) {
        *self.triggered.lock().unwrap() = true;
        self.cond.notify_one();
    }
}

fn run_model(workers: usize, units: usize) {
    let idle = Arc::new(Idle::default());
    let park = Arc::new(ModelPark::default());
    let queued = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (idle, park, queued, done) =
                (idle.clone(), park.clone(), queued.clone(), done.clone());
            thread::spawn(move || loop {
                if done.load(SeqCst) == units {
                    return;
                }
                let q = queued.load(SeqCst);
                if q > 0 && queued.compare_exchange(q, q - 1, SeqCst, SeqCst).is_ok() {
                    if done.fetch_add(1, SeqCst) + 1 == units {
                        idle.shutdown(&*park);
                    }
                    continue;
                }
                let has_work = || queued.load(SeqCst) > 0 || done.load(SeqCst) == units;
                idle.park(&*park, &has_work);
            })
        })
        .collect();
    for _ in 0..units {
        queued.fetch_add(1, SeqCst);
        idle.notify_one(&*park);
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(done.load(SeqCst), units);
}

/// One worker (it always takes the driver) and one unit of work from another thread.
#[test]
fn loom_driver_worker_is_woken() {
    loom::model(|| run_model(1, 1));
}

/// Two workers (one drives, one sleeps on the condition variable), two units.
#[test]
fn loom_two_workers_no_lost_wakeup() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| run_model(2, 2));
}

/// The task state word (`task/state.rs`): a wake-up racing with a poll is never lost, and the
/// task is never queued twice nor polled by two threads at once. A worker takes the task from a
/// queue (a counter) and polls it, returning `Pending`, as long as it finds it queued; another
/// thread wakes it once.
#[test]
fn loom_task_wake_racing_a_poll_is_never_lost() {
    use crate::task::state::{State, NOTIFIED};
    use loom::sync::atomic::AtomicBool;
    loom::model(|| {
        let state = Arc::new(State::new());
        let queued = Arc::new(AtomicUsize::new(1)); // a new task is NOTIFIED and scheduled
        let running = Arc::new(AtomicBool::new(false));
        let enqueue = |queued: &AtomicUsize| {
            let before = queued.fetch_add(1, SeqCst);
            assert_eq!(before, 0, "the task was queued twice");
        };
        let worker = {
            let (state, queued, running) = (state.clone(), queued.clone(), running.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    if queued.compare_exchange(1, 0, SeqCst, SeqCst).is_err() {
                        return;
                    }
                    assert!(state.start_run().is_some(), "a queued task is not complete");
                    assert!(!running.swap(true, SeqCst), "polled by two threads at once");
                    running.store(false, SeqCst);
                    if state.end_run_pending() == crate::task::state::EndRun::Notified {
                        enqueue(&queued);
                    }
                }
            })
        };
        if state.notify() {
            enqueue(&queued);
        }
        worker.join().unwrap();
        // Quiescent: NOTIFIED is set exactly when the task is in the queue (none lost).
        let notified = state.bits() & NOTIFIED != 0;
        assert_eq!(notified, queued.load(SeqCst) == 1, "NOTIFIED and the queue disagree");
    });
}

/// Completion racing the drop of the `JoinHandle`: exactly one of them drops the output.
#[test]
fn loom_task_output_dropped_exactly_once() {
    use crate::task::state::{State, COMPLETE, JOIN_INTEREST};
    loom::model(|| {
        let state = Arc::new(State::new());
        assert!(state.start_run().is_some());
        let completer = {
            let state = state.clone();
            thread::spawn(move || state.complete() & JOIN_INTEREST == 0)
        };
        let handle_drops = state.drop_join() & COMPLETE != 0;
        let completer_drops = completer.join().unwrap();
        assert!(handle_drops ^ completer_drops, "the output must be dropped exactly once");
    });
}

/// Runtime shutdown cancelling a task racing a worker that popped it from its queue: exactly one
/// of them owns it (drops its future), and it is always cancelled.
#[test]
fn loom_task_shutdown_racing_a_worker_cancels_it_exactly_once() {
    use crate::task::state::{EndRun, State, CANCELLED};
    loom::model(|| {
        let state = Arc::new(State::new()); // NOTIFIED: in the worker's queue
        let dropped = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (state, dropped) = (state.clone(), dropped.clone());
            thread::spawn(move || {
                let Some(prev) = state.start_run() else { return };
                if prev & CANCELLED != 0 {
                    dropped.fetch_add(1, SeqCst);
                    state.complete();
                    return;
                }
                // Polled: Pending, never woken.
                if state.end_run_pending() == EndRun::Cancelled {
                    dropped.fetch_add(1, SeqCst);
                    state.complete();
                }
            })
        };
        if state.start_shutdown() {
            dropped.fetch_add(1, SeqCst);
            state.complete();
        }
        worker.join().unwrap();
        assert_eq!(dropped.load(SeqCst), 1, "the future must be dropped exactly once");
        assert!(state.is_complete(), "the task was never cancelled");
    });
}
