//! The thread-locals of the runtime context: the current handle (entered by `spawn`, `sleep`,
//! ...) and whether this thread is already running a runtime.

use super::*;

thread_local! {
    pub(super) static CONTEXT: RefCell<Option<Handle>> = const { RefCell::new(None) };
    /// This thread is running a runtime (a worker, or inside `block_on`).
    pub(super) static RUNNING: Cell<bool> = const { Cell::new(false) };
}

/// Restores the previous current handle when dropped.
pub(crate) struct EnterGuard {
    prev: Option<Handle>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CONTEXT.with(|c| *c.borrow_mut() = self.prev.take());
    }
}

/// Makes `handle` the current one on this thread (for `spawn`, `sleep`, ...).
pub(crate) fn enter_context(handle: Handle) -> EnterGuard {
    EnterGuard { prev: CONTEXT.with(|c| c.borrow_mut().replace(handle)) }
}

pub(super) struct RunningGuard(bool);

impl RunningGuard {
    pub(super) fn enter() -> RunningGuard {
        if RUNNING.with(|r| r.get()) {
            panic!(
                "Cannot start a runtime from within a runtime: `block_on` was called from a thread \
                 that is already running tasks (a worker, or inside another `block_on`). Use \
                 `.await`, or `spawn_blocking` for blocking work."
            );
        }
        RunningGuard(RUNNING.with(|r| r.replace(true)))
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(self.0));
    }
}
