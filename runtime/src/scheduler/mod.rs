//! The scheduler shared by all workers: the global injector, the idle protocol (one idle worker
//! drives the reactor, the others sleep on a condition variable), the list of live tasks, and
//! metrics.
//!
//! The idle protocol itself is in `idle.rs`.

pub(crate) mod idle;
pub(crate) mod worker;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::Mutex;

use crossbeam::deque::{Injector, Stealer};

use crate::driver::Driver;
use crate::sync::lock;
use crate::task::raw::{Schedule, TaskRef};

pub(crate) use worker::WorkerCore;

/// Which scheduler a runtime runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
}

/// Per-worker counters, each worker's on a cache line of its own (128 bytes: two lines on
/// x86, whose adjacent-line prefetcher pairs them). Unpadded, two workers counting their
/// polls wrote to one line: it bounced between cores on every task poll, and `yield_many` at
/// 2 workers spent most of its run loop on that one increment (perf annotate).
#[derive(Default)]
#[repr(align(128))]
pub struct WorkerMetrics {
    pub polls: AtomicU64,
    pub steals: AtomicU64,
    pub parks: AtomicU64,
}

const SHARDS: usize = 16;

/// The tasks alive on this runtime, so that shutdown can cancel them.
struct OwnedTasks {
    shards: Vec<Mutex<slab::Slab<TaskRef>>>,
}

pub(crate) struct Shared {
    pub(crate) flavor: Flavor,
    pub(crate) driver: Driver,
    pub(crate) injector: Injector<TaskRef>,
    pub(crate) stealers: Vec<Stealer<TaskRef>>,
    idle: idle::Idle,
    owned: OwnedTasks,
    pub(crate) shutdown: AtomicBool,
    pub(crate) spawned: AtomicU64,
    pub(crate) worker_metrics: Vec<WorkerMetrics>,
    pub(crate) blocking: crate::blocking::BlockingPool,
    /// The single worker core of a current-thread runtime, taken by `block_on`.
    pub(crate) current_core: Mutex<Option<WorkerCore>>,
    /// Threads in `block_on` waiting for `current_core` to be released.
    core_waiters: Mutex<Vec<std::task::Waker>>,
}

thread_local! {
    /// The worker running on this thread, if any (its shared state and core).
    static WORKER: RefCell<Option<(*const Shared, *const RefCell<WorkerCore>)>> =
        const { RefCell::new(None) };
}

impl Shared {
    pub(crate) fn new(
        flavor: Flavor,
        driver: Driver,
        stealers: Vec<Stealer<TaskRef>>,
        blocking: crate::blocking::BlockingPool,
    ) -> Shared {
        let workers = stealers.len();
        Shared {
            flavor,
            driver,
            injector: Injector::new(),
            stealers,
            idle: idle::Idle::default(),
            owned: OwnedTasks {
                shards: (0..SHARDS).map(|_| Mutex::new(slab::Slab::new())).collect(),
            },
            shutdown: AtomicBool::new(false),
            spawned: AtomicU64::new(0),
            worker_metrics: (0..workers).map(|_| WorkerMetrics::default()).collect(),
            blocking,
            current_core: Mutex::new(None),
            core_waiters: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn next_task_id(&self) -> u64 {
        crate::task::next_task_id()
    }

    /// Records a new task as alive. Returns false (and the caller drops the task) at shutdown.
    pub(crate) fn bind(&self, id: u64, task: &TaskRef) -> bool {
        let mut shard = lock(&self.owned.shards[id as usize % SHARDS]);
        if self.shutdown.load(Acquire) {
            return false;
        }
        let key = shard.insert(task.clone());
        task.set_owned_key(key);
        self.spawned.fetch_add(1, Relaxed);
        true
    }

    /// Cancels every live task (after the workers stopped). Their futures are dropped here,
    /// outside any lock.
    pub(crate) fn shutdown_tasks(&self) {
        loop {
            let mut tasks = Vec::new();
            for shard in &self.owned.shards {
                tasks.extend(lock(shard).drain());
            }
            if tasks.is_empty() {
                break;
            }
            for t in tasks {
                t.shutdown();
            }
        }
        loop {
            match self.injector.steal() {
                crossbeam::deque::Steal::Success(task) => drop(task),
                crossbeam::deque::Steal::Retry => continue,
                crossbeam::deque::Steal::Empty => break,
            }
        }
    }

    /// Registers a `block_on` thread to be woken when the current-thread core is released.
    pub(crate) fn add_core_waiter(&self, waker: &std::task::Waker) {
        let mut waiters = lock(&self.core_waiters);
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    /// Wakes the `block_on` threads waiting for the core.
    pub(crate) fn wake_core_waiters(&self) {
        let waiters = std::mem::take(&mut *lock(&self.core_waiters));
        for w in waiters {
            w.wake();
        }
    }

    /// Number of live tasks.
    pub(crate) fn alive_tasks(&self) -> usize {
        self.owned.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Is there work a parking worker could take?
    pub(crate) fn has_global_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Wakes one idle worker, if any is idle: a sleeping one, or the one in the driver.
    pub(crate) fn notify_one(&self) {
        self.idle.notify_one(&self.driver);
    }

    /// Parks a worker until there may be work (or shutdown): the first idle worker drives the
    /// reactor, the others sleep.
    pub(crate) fn park(&self, index: usize, has_work: &dyn Fn() -> bool) {
        if let Some(m) = self.worker_metrics.get(index) {
            m.parks.fetch_add(1, Relaxed);
        }
        let has_work = || self.shutdown.load(Acquire) || has_work();
        self.idle.park(&self.driver, &has_work);
    }

    /// Polls the reactor without blocking, if no worker holds the driver (every few ticks, so
    /// that I/O is not starved while all workers are busy).
    pub(crate) fn maintenance(&self) {
        self.idle.poll_driver(&self.driver);
    }

    /// Stops the workers: they see `shutdown` at their next check or wake-up.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Release);
        self.idle.shutdown(&self.driver);
    }

    /// Is this thread running `self`'s tasks now (a worker, or a current-thread `block_on`
    /// holding the core)? What it waits on needs no tracking for shutdown: shutdown cancels the
    /// tasks, and a `block_on` leaving the core polls its future again outside (then tracked).
    pub(crate) fn on_own_worker(&self) -> bool {
        WORKER.with(|w| matches!(*w.borrow(), Some((shared, _)) if std::ptr::eq(shared, self)))
    }

    /// Before a waiter starts waiting on `io`: outside this runtime's workers, tracks it so that
    /// shutdown wakes the waiter. The error once the runtime's driver is shut down.
    pub(crate) fn watch(
        &self,
        io: &std::sync::Arc<crate::scheduled_io::ScheduledIo>,
    ) -> std::io::Result<()> {
        if self.on_own_worker() {
            return Ok(());
        }
        self.driver.track(io)
    }

    /// Runs `f` with this thread registered as a worker of `self` using `core`.
    pub(crate) fn enter_worker<R>(&self, core: &RefCell<WorkerCore>, f: impl FnOnce() -> R) -> R {
        struct Reset(Option<(*const Shared, *const RefCell<WorkerCore>)>);
        impl Drop for Reset {
            fn drop(&mut self) {
                WORKER.with(|w| *w.borrow_mut() = self.0.take());
            }
        }
        let prev =
            WORKER.with(|w| w.borrow_mut().replace((self as *const Shared, core as *const _)));
        let _reset = Reset(prev);
        f()
    }
}

impl Schedule for Shared {
    fn schedule(&self, task: TaskRef, yielded: bool) {
        if self.shutdown.load(Acquire) {
            return; // the task's future is dropped by shutdown_tasks
        }
        let local = WORKER.with(|w| match *w.borrow() {
            Some((shared, core)) if std::ptr::eq(shared, self) => Some(core),
            _ => None,
        });
        if let Some(core) = local {
            // SAFETY: the pointer was set by `enter_worker` on this thread and stays valid (and
            // only used by this thread) for as long as the worker runs.
            let core = unsafe { &*core };
            // A current-thread runtime takes its tasks in the order they were woken, as tokio's
            // does (no LIFO slot): the slot only pays where another worker could steal the
            // waker's other work, and here it let each task woken last in a batch of I/O events
            // overtake the batch (tcp_echo with 500 connections: 1.12x tokio's time, p99 1.1-1.3x;
            // 1.02-1.06x and 0.94-0.96x without it).
            let current_thread = self.flavor == Flavor::CurrentThread;
            let notify = core.borrow_mut().push_local(task, yielded || current_thread);
            // A current-thread runtime has no other worker to tell: this thread, its only
            // one, looks at its queue before it parks (a lock per wake-up saved).
            if notify && !current_thread {
                self.notify_one();
            }
            return;
        }
        self.injector.push(task);
        self.notify_one();
    }

    fn forget_completed(&self, owned_key: usize, id: u64) {
        let removed = lock(&self.owned.shards[id as usize % SHARDS]).try_remove(owned_key);
        drop(removed);
    }
}

/// An idle worker parks in the runtime's driver (the scheduler knows the driver; the driver
/// knows nothing of the scheduler).
impl idle::Park for Driver {
    fn drive(&self, timeout: Option<std::time::Duration>) {
        Driver::drive(self, timeout);
    }

    fn unpark(&self) {
        Driver::unpark(self);
    }
}
