//! [`RuntimeMetrics`]: a snapshot of a runtime's counters.

use std::sync::atomic::Ordering::Relaxed;

use kq_reactor::LockStats;

use crate::scheduler::Shared;

/// Counters of a runtime, read at one moment.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// Worker threads (1 for a current-thread runtime).
    pub workers: usize,
    /// Tasks spawned so far.
    pub spawned_tasks: u64,
    /// Tasks alive now.
    pub alive_tasks: usize,
    /// Task polls, per worker.
    pub polls: Vec<u64>,
    /// Successful steals from other workers, per worker.
    pub steals: Vec<u64>,
    /// Times each worker parked.
    pub parks: Vec<u64>,
    /// Tasks waiting in the global injector.
    pub injector_depth: usize,
    /// Events the reactor delivered to the runtime.
    pub reactor_events: u64,
    /// The reactor's lock (the one lock around its ready queue).
    pub reactor_lock: LockStats,
}

impl RuntimeMetrics {
    pub(crate) fn collect(shared: &Shared) -> RuntimeMetrics {
        let per = |f: fn(&crate::scheduler::WorkerMetrics) -> u64| -> Vec<u64> {
            shared.worker_metrics.iter().map(f).collect()
        };
        RuntimeMetrics {
            workers: shared.worker_metrics.len(),
            spawned_tasks: shared.spawned.load(Relaxed),
            alive_tasks: shared.alive_tasks(),
            polls: per(|m| m.polls.load(Relaxed)),
            steals: per(|m| m.steals.load(Relaxed)),
            parks: per(|m| m.parks.load(Relaxed)),
            injector_depth: shared.injector.len(),
            reactor_events: shared.driver.events.load(Relaxed),
            reactor_lock: shared.driver.lock_stats(),
        }
    }

    /// Number of workers.
    pub fn num_workers(&self) -> usize {
        self.workers
    }

    /// Number of tasks alive.
    pub fn num_alive_tasks(&self) -> usize {
        self.alive_tasks
    }

    /// Total task polls.
    pub fn total_polls(&self) -> u64 {
        self.polls.iter().sum()
    }

    /// Total steals.
    pub fn total_steals(&self) -> u64 {
        self.steals.iter().sum()
    }
}
