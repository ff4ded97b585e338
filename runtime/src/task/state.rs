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

    /// Starts a poll: clears NOTIFIED, sets RUNNING. `None` once complete; else the previous
    /// state (CANCELLED in it: drop the future instead of polling it).
    pub(crate) fn start_run(&self) -> Option<usize> {
        self.0
            .fetch_update(AcqRel, Acquire, |s| {
                (s & COMPLETE == 0).then_some((s & !NOTIFIED) | RUNNING)
            })
            .ok()
    }

    /// Ends a poll that returned `Pending`. True when the task was notified meanwhile: the
    /// caller schedules it again.
    pub(crate) fn end_run_pending(&self) -> bool {
        self.0.fetch_and(!RUNNING, AcqRel) & NOTIFIED != 0
    }

    /// Sets COMPLETE (and clears RUNNING); returns the previous state.
    pub(crate) fn complete(&self) -> usize {
        let prev = self.0.fetch_update(AcqRel, Acquire, |s| Some((s | COMPLETE) & !RUNNING));
        prev.unwrap_or_else(|s| s)
    }

    /// Takes an idle task for cancellation at shutdown (sets RUNNING and CANCELLED). False when
    /// it is running or complete.
    pub(crate) fn start_shutdown(&self) -> bool {
        self.0
            .fetch_update(AcqRel, Acquire, |s| {
                (s & (COMPLETE | RUNNING) == 0).then_some(s | RUNNING | CANCELLED)
            })
            .is_ok()
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
