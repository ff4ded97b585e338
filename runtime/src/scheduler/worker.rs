//! A worker: its local queue, LIFO slot and run loop (also used by `block_on` on a
//! current-thread runtime, with the main future polled between tasks).

use std::cell::RefCell;
use std::sync::atomic::Ordering::*;
use std::sync::Arc;

use crossbeam::deque::{Steal, Worker};

use super::Shared;
use crate::task::raw::TaskRef;

/// How often (in ticks) the injector is checked before the local queue, and the reactor polled.
const GLOBAL_INTERVAL: u32 = 61;
/// How many times in a row the LIFO slot may be used before it must wait for the queue.
const MAX_LIFO_POLLS: u32 = 3;

/// A worker's own state (used only by the thread running it).
pub(crate) struct WorkerCore {
    pub(crate) index: usize,
    queue: Worker<TaskRef>,
    lifo: Option<TaskRef>,
    lifo_polls: u32,
    tick: u32,
    rng: u32,
}

impl WorkerCore {
    pub(crate) fn new(index: usize, queue: Worker<TaskRef>) -> WorkerCore {
        WorkerCore {
            index,
            queue,
            lifo: None,
            lifo_polls: 0,
            tick: 0,
            rng: 0x9e37_79b9 ^ (index as u32).wrapping_mul(0x85eb_ca6b),
        }
    }

    /// Schedules a task woken on this worker. Returns whether other workers should be told
    /// (a task landed in the stealable queue).
    pub(crate) fn push_local(&mut self, task: TaskRef, yielded: bool) -> bool {
        if yielded {
            self.queue.push(task);
            return true;
        }
        match self.lifo.replace(task) {
            Some(prev) => {
                self.queue.push(prev);
                true
            }
            None => false,
        }
    }

    fn has_local_work(&self) -> bool {
        self.lifo.is_some() || !self.queue.is_empty()
    }

    fn next_rand(&mut self) -> u32 {
        // xorshift32
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    /// The next task to run: now and then the injector first (fairness), then the LIFO slot,
    /// the local queue, the injector, and stealing from the other workers.
    fn next_task(&mut self, shared: &Shared) -> Option<TaskRef> {
        self.tick = self.tick.wrapping_add(1);
        if self.tick.is_multiple_of(GLOBAL_INTERVAL) {
            if let Some(t) = self.steal_injector(shared) {
                return Some(t);
            }
        }
        if self.lifo_polls < MAX_LIFO_POLLS {
            if let Some(t) = self.lifo.take() {
                self.lifo_polls += 1;
                return Some(t);
            }
        } else if let Some(t) = self.lifo.take() {
            // The LIFO slot has been used enough in a row: let the queue go first.
            self.queue.push(t);
        }
        self.lifo_polls = 0;
        if let Some(t) = self.queue.pop() {
            return Some(t);
        }
        if let Some(t) = self.steal_injector(shared) {
            return Some(t);
        }
        self.steal_others(shared)
    }

    fn steal_injector(&mut self, shared: &Shared) -> Option<TaskRef> {
        loop {
            match shared.injector.steal_batch_and_pop(&self.queue) {
                Steal::Success(t) => return Some(t),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    fn steal_others(&mut self, shared: &Shared) -> Option<TaskRef> {
        let n = shared.stealers.len();
        if n <= 1 {
            return None;
        }
        let start = self.next_rand() as usize % n;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            loop {
                match shared.stealers[victim].steal_batch_and_pop(&self.queue) {
                    Steal::Success(t) => {
                        shared.worker_metrics[self.index].steals.fetch_add(1, Relaxed);
                        return Some(t);
                    }
                    Steal::Empty => break,
                    Steal::Retry => continue,
                }
            }
        }
        None
    }
}

/// What a worker loop should do besides running tasks.
pub(crate) trait MainFuture {
    /// Was the main future woken since it was last polled?
    fn notified(&self) -> bool;
    /// Polls it; true when it completed.
    fn poll_main(&mut self) -> bool;
}

/// A worker thread of a multi-thread runtime has no main future.
pub(crate) struct NoMain;

impl MainFuture for NoMain {
    fn notified(&self) -> bool {
        false
    }
    fn poll_main(&mut self) -> bool {
        false
    }
}

/// Runs tasks until shutdown, or until `main` completes.
pub(crate) fn run(shared: &Arc<Shared>, core: &RefCell<WorkerCore>, main: &mut dyn MainFuture) {
    shared.enter_worker(core, || run_loop(shared, core, main));
}

fn run_loop(shared: &Arc<Shared>, core: &RefCell<WorkerCore>, main: &mut dyn MainFuture) {
    let index = core.borrow().index;
    let metrics = &shared.worker_metrics[index];
    loop {
        if main.notified() && main.poll_main() {
            return;
        }
        if shared.shutdown.load(Acquire) {
            return;
        }
        let (task, tick) = {
            let mut c = core.borrow_mut();
            let t = c.next_task(shared);
            (t, c.tick)
        };
        if tick.is_multiple_of(GLOBAL_INTERVAL) {
            shared.maintenance();
        }
        if let Some(task) = task {
            metrics.polls.fetch_add(1, Relaxed);
            task.run();
            continue;
        }
        let has_work =
            || main.notified() || core.borrow().has_local_work() || shared.has_global_work();
        shared.park(index, &has_work);
    }
}
