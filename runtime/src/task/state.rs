//! A task's state word and its transitions (the protocol is described in `raw.rs`). Its atomic
//! comes from the runtime's sync facade, so that loom checks these transitions
//! (`loom_tests.rs`): a task is queued at most once, never run by two threads at once, and a
//! wake-up during a poll is never lost.

use crate::sync::{AtomicUsize, Ordering::AcqRel, Ordering::Acquire};

/// In a run queue, or to be put back in one when the current poll ends.
pub(crate) const NOTIFIED: usize = 1;
/// A thread is polling it.
pub(crate) const RUNNING: usize = 2;
/// The output (or the panic, or the cancellation) is stored.
pub(crate) const COMPLETE: usize = 4;
/// Abort was requested.
pub(crate) const CANCELLED: usize = 8;
/// The `JoinHandle` is alive.
pub(crate) const JOIN_INTEREST: usize = 16;

/// How a poll that returned `Pending` ends ([`State::end_run_pending`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EndRun {
    /// Not woken during the poll: the task waits for a wake-up.
    Idle,
    /// Woken during the poll: the caller schedules it again.
    Notified,
    /// Cancelled during the poll (aborted, or its runtime shut down): the caller still owns the
    /// task and cancels it.
    Cancelled,
}

/// The state word.
pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task: NOTIFIED (the caller schedules it) and with JOIN_INTEREST.
    pub(crate) fn new() -> State {
        State(AtomicUsize::new(NOTIFIED | JOIN_INTEREST))
    }

    /// Sets NOTIFIED. True when the caller must schedule the task: it was neither notified,
    /// running nor complete.
    pub(crate) fn notify(&self) -> bool {
        let mut cur = self.0.load(Acquire);
        loop {
            if cur & (COMPLETE | NOTIFIED) != 0 {
                return false;
            }
            match self.0.compare_exchange_weak(cur, cur | NOTIFIED, AcqRel, Acquire) {
                Ok(_) => return cur & RUNNING == 0,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Starts a poll: clears NOTIFIED, sets RUNNING. `None` once complete, or while another
    /// thread owns the task (runtime shutdown took it out of a queue a worker was still
    /// reading: that worker must not touch the stage shutdown is dropping); else the previous
    /// state (CANCELLED in it: drop the future instead of polling it).
    pub(crate) fn start_run(&self) -> Option<usize> {
        self.0
            .fetch_update(AcqRel, Acquire, |s| {
                (s & (COMPLETE | RUNNING) == 0).then_some((s & !NOTIFIED) | RUNNING)
            })
            .ok()
    }

    /// Ends a poll that returned `Pending`: `Cancelled` (still RUNNING: the caller cancels the
    /// task now) when cancellation was requested during the poll; else RUNNING is cleared and
    /// `Notified` says that the task was woken meanwhile (the caller schedules it again).
    pub(crate) fn end_run_pending(&self) -> EndRun {
        match self.0.fetch_update(AcqRel, Acquire, |s| (s & CANCELLED == 0).then_some(s & !RUNNING))
        {
            Err(_) => EndRun::Cancelled,
            Ok(prev) if prev & NOTIFIED != 0 => EndRun::Notified,
            Ok(_) => EndRun::Idle,
        }
    }

    /// Sets COMPLETE (and clears RUNNING); returns the previous state.
    pub(crate) fn complete(&self) -> usize {
        let prev = self.0.fetch_update(AcqRel, Acquire, |s| Some((s | COMPLETE) & !RUNNING));
        prev.unwrap_or_else(|s| s)
    }

    /// Cancels the task at shutdown. True when it was idle: it is taken (RUNNING and CANCELLED
    /// set) and the caller drops its future. False when complete, or running: CANCELLED is set,
    /// and the thread polling it cancels it when its poll ends (`end_run_pending`).
    pub(crate) fn start_shutdown(&self) -> bool {
        let prev = self.0.fetch_update(AcqRel, Acquire, |s| {
            (s & COMPLETE == 0).then_some(if s & RUNNING == 0 {
                s | RUNNING | CANCELLED
            } else {
                s | CANCELLED
            })
        });
        prev.is_ok_and(|s| s & RUNNING == 0)
    }

    /// The `JoinHandle` is dropped; returns the previous state.
    pub(crate) fn drop_join(&self) -> usize {
        self.0.fetch_and(!JOIN_INTEREST, AcqRel)
    }

    /// Requests cancellation; returns the previous state.
    pub(crate) fn abort(&self) -> usize {
        self.0.fetch_or(CANCELLED, AcqRel)
    }

    /// The bits (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn bits(&self) -> usize {
        self.0.load(Acquire)
    }

    /// COMPLETE is set.
    pub(crate) fn is_complete(&self) -> bool {
        self.0.load(Acquire) & COMPLETE != 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Shutdown took a queued task (to drop its future) just before a worker that had popped
    /// it from its queue started it: the worker must not start it (both dropped the future: a
    /// double free with `shutdown_background` and busy workers).
    #[test]
    fn a_task_taken_by_shutdown_is_not_started_by_a_worker() {
        let s = State::new();
        assert!(s.start_shutdown(), "an idle task is taken by shutdown");
        assert_eq!(s.start_run(), None, "a worker started a task owned by shutdown");
    }

    /// Shutdown reached a task while a worker polled it: the worker cancels it when the poll
    /// ends (it used to stay alive, never cancelled, its JoinHandle pending forever).
    #[test]
    fn a_task_running_at_shutdown_is_cancelled_by_its_worker() {
        let s = State::new();
        assert!(s.start_run().is_some());
        assert!(!s.start_shutdown(), "a running task cannot be taken by shutdown");
        assert_eq!(s.end_run_pending(), EndRun::Cancelled);
        assert!(s.complete() & RUNNING != 0, "the worker still owned the task");
    }

    /// An abort during a poll cancels the task when the poll ends; a wake-up during a poll
    /// schedules it again; neither: it waits.
    #[test]
    fn the_ends_of_a_pending_poll() {
        let s = State::new();
        s.start_run();
        assert_eq!(s.end_run_pending(), EndRun::Idle);
        assert!(s.notify(), "an idle task is scheduled when notified");
        s.start_run();
        assert!(!s.notify(), "a running task is rescheduled by its worker");
        assert_eq!(s.end_run_pending(), EndRun::Notified);
        s.start_run();
        s.abort();
        assert_eq!(s.end_run_pending(), EndRun::Cancelled);
    }
}
