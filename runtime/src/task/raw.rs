//! A task: one allocation holding the future (then its output), a state word, and the scheduler
//! it belongs to.
//!
//! # State protocol
//!
//! - `NOTIFIED`: the task is in a run queue, or must be put back in one when its current poll
//!   ends. Only the transition that sets it (from idle) schedules the task, so a task is queued at
//!   most once.
//! - `RUNNING`: a thread is polling it; only that thread touches the stage.
//! - `COMPLETE`: the output (or the panic, or the cancellation) is stored; from then on only the
//!   `JoinHandle` touches the stage.
//! - `CANCELLED`: abort (or runtime shutdown) was requested; the next run drops the future
//!   instead of polling it, and a poll that was running then drops it as it ends (`Pending`).
//! - `JOIN_INTEREST`: the `JoinHandle` is alive. Whichever of completion and handle drop comes
//!   second drops the output.

use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use super::JoinError;
use crate::sync::lock;
use crate::unwind::{drop_quietly, quietly};

use super::state::{EndRun, State, CANCELLED, COMPLETE, JOIN_INTEREST};

/// Where a task goes when it is woken.
pub(crate) trait Schedule: Send + Sync + 'static {
    /// Puts a notified task in a run queue. `yielded`: the task woke itself while running.
    fn schedule(&self, task: TaskRef, yielded: bool);
    /// The task completed: forget it (it was registered at spawn with `owned_key`).
    fn forget_completed(&self, owned_key: usize, id: u64);
}

/// A type-erased task, as run queues hold it.
pub(crate) trait Runnable: Send + Sync + 'static {
    /// Polls the task once (it must be NOTIFIED).
    fn run(self: Arc<Self>);
    /// Cancels the task at runtime shutdown: drops its future on this thread.
    fn shutdown(self: Arc<Self>);
    /// Records the task's key in the scheduler's list of live tasks.
    fn set_owned_key(&self, key: usize);
}

pub(crate) type TaskRef = Arc<dyn Runnable>;

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

pub(crate) struct Task<F: Future> {
    state: State,
    id: u64,
    owned_key: AtomicUsize,
    scheduler: Arc<dyn Schedule>,
    stage: UnsafeCell<Stage<F>>,
    join_waker: Mutex<Option<Waker>>,
}

// SAFETY: the stage is only touched by the thread that owns it under the state protocol above
// (the RUNNING thread, or the JoinHandle after COMPLETE), so sharing the task is sound when the
// future and its output can move between threads.
unsafe impl<F: Future + Send> Sync for Task<F> where F::Output: Send {}
// SAFETY: as above.
unsafe impl<F: Future + Send> Send for Task<F> where F::Output: Send {}

impl<F> Task<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// A new task, NOTIFIED and with JOIN_INTEREST: the caller must schedule it.
    pub(crate) fn new(future: F, id: u64, scheduler: Arc<dyn Schedule>) -> Arc<Task<F>> {
        Arc::new(Task {
            state: State::new(),
            id,
            owned_key: AtomicUsize::new(usize::MAX),
            scheduler,
            stage: UnsafeCell::new(Stage::Running(future)),
            join_waker: Mutex::new(None),
        })
    }

    /// Sets NOTIFIED; schedules the task if it was idle. Returns without effect once complete.
    fn notify(self: &Arc<Self>, yielded: bool) {
        if self.state.notify() {
            self.scheduler.schedule(self.clone(), yielded);
        }
    }

    /// Drops the future (catching a panic in its destructor) and stores `result`, then completes.
    fn finish(self: &Arc<Self>, result: Result<F::Output, JoinError>) {
        // SAFETY: we are the RUNNING thread (or shutdown, with no worker left), so we own the stage.
        let stage = unsafe { &mut *self.stage.get() };
        let dropped = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
        *stage = match (result, dropped) {
            (Err(e), Ok(())) => Stage::Finished(Err(e)),
            (Err(e), Err(panic)) => {
                std::mem::forget(panic); // its destructor is user code too
                Stage::Finished(Err(e))
            }
            (Ok(out), Err(panic)) => {
                // The output is discarded for the future's panic; its destructor is user code
                // too, and a panic there must not unwind into the worker (which would die with
                // the task never completed: its JoinHandle would wait forever).
                drop_quietly(out);
                Stage::Finished(Err(JoinError::panic(self.id, panic)))
            }
            (Ok(v), Ok(())) => Stage::Finished(Ok(v)),
        };
        self.complete();
    }

    fn complete(self: &Arc<Self>) {
        let prev = self.state.complete();
        if prev & JOIN_INTEREST != 0 {
            let waker = lock(&self.join_waker).take();
            if let Some(w) = waker {
                // The JoinHandle's waker is user code (any executor's): its panic must not
                // unwind into the worker, nor skip the forget_completed below.
                quietly(|| w.wake());
            }
        } else {
            // SAFETY: COMPLETE is set and no JoinHandle exists: nobody else touches the stage.
            let out = std::mem::replace(unsafe { &mut *self.stage.get() }, Stage::Consumed);
            drop_quietly(out);
        }
        self.scheduler.forget_completed(self.owned_key.load(Acquire), self.id);
    }

    fn cancelled(&self) -> JoinError {
        JoinError::cancelled(self.id)
    }
}

impl<F> Runnable for Task<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn run(self: Arc<Self>) {
        let Some(prev) = self.state.start_run() else { return };
        if prev & CANCELLED != 0 {
            let err = self.cancelled();
            return self.finish(Err(err));
        }
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let polled = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: we are the RUNNING thread; the future is never moved out of the
            // allocation while it is in the Running stage (pinned in the Arc).
            crate::coop::budget(|| match unsafe { &mut *self.stage.get() } {
                // SAFETY: see above; the future stays in place until the stage is replaced.
                Stage::Running(fut) => unsafe { Pin::new_unchecked(fut) }.poll(&mut cx),
                _ => Poll::Pending,
            })
        }));
        match polled {
            Ok(Poll::Ready(out)) => self.finish(Ok(out)),
            Err(panic) => {
                let err = JoinError::panic(self.id, panic);
                self.finish(Err(err))
            }
            Ok(Poll::Pending) => match self.state.end_run_pending() {
                EndRun::Idle => {}
                // Woken while running (by itself: a yield, or by another thread).
                EndRun::Notified => self.scheduler.schedule(self.clone(), true),
                // Aborted, or its runtime shut down (which could not take it while it ran):
                // cancelled here, by the thread that still owns it.
                EndRun::Cancelled => {
                    let err = self.cancelled();
                    self.finish(Err(err))
                }
            },
        }
    }

    fn shutdown(self: Arc<Self>) {
        if self.state.start_shutdown() {
            let err = self.cancelled();
            self.finish(Err(err));
        }
    }

    fn set_owned_key(&self, key: usize) {
        self.owned_key.store(key, Release);
    }
}

impl<F> Wake for Task<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn wake(self: Arc<Self>) {
        self.notify(false);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.notify(false);
    }
}

/// What a `JoinHandle` needs from its task.
pub(crate) trait JoinRaw<T>: Send + Sync {
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>>;
    fn drop_join(&self);
    fn abort(self: Arc<Self>);
    fn is_finished(&self) -> bool;
    fn id(&self) -> u64;
}

impl<F> JoinRaw<F::Output> for Task<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<F::Output, JoinError>> {
        if !self.state.is_complete() {
            *lock(&self.join_waker) = Some(cx.waker().clone());
            if !self.state.is_complete() {
                return Poll::Pending;
            }
        }
        // SAFETY: COMPLETE is set and we hold JOIN_INTEREST: the stage is ours.
        match std::mem::replace(unsafe { &mut *self.stage.get() }, Stage::Consumed) {
            Stage::Finished(result) => Poll::Ready(result),
            // Polled again after returning Ready: report cancellation rather than panic.
            _ => Poll::Ready(Err(JoinError::cancelled(self.id))),
        }
    }

    fn drop_join(&self) {
        let prev = self.state.drop_join();
        if prev & COMPLETE != 0 {
            // SAFETY: COMPLETE was set while we held JOIN_INTEREST: the stage is ours.
            let out = std::mem::replace(unsafe { &mut *self.stage.get() }, Stage::Consumed);
            drop_quietly(out);
        }
    }

    fn abort(self: Arc<Self>) {
        let prev = self.state.abort();
        if prev & COMPLETE == 0 {
            self.notify(false);
        }
    }

    fn is_finished(&self) -> bool {
        self.state.is_complete()
    }

    fn id(&self) -> u64 {
        self.id
    }
}

/// A panic payload, kept for `JoinError::into_panic`.
pub(crate) type Panic = Box<dyn Any + Send + 'static>;
