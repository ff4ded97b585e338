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
