//! The thread-locals of the runtime context: the current handle (entered by `spawn`, `sleep`,
//! ...) and whether this thread is already running a runtime.

use std::marker::PhantomData;

use super::*;

thread_local! {
    pub(super) static CONTEXT: RefCell<Option<Handle>> = const { RefCell::new(None) };
    /// This thread is running a runtime (a worker, or inside `block_on`).
    pub(super) static RUNNING: Cell<bool> = const { Cell::new(false) };
    /// How many [`EnterGuard`]s are alive on this thread.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The restores of guards dropped out of order (before a guard entered after them), by
    /// depth: each is applied when the guards above it are gone.
    static ORPHANS: RefCell<Vec<(usize, Option<Handle>)>> = const { RefCell::new(Vec::new()) };
}

/// Restores the previous current handle when dropped. Guards dropped out of order (an outer one
/// before an inner one) are made good rather than refused: the outer one's restore waits until
/// the inner ones are gone, so that the runtime entered last stays current while its guard
/// lives, and no runtime is left current once every guard is gone. (tokio panics there; a
/// guard leaving a dropped runtime current for good kept its driver and descriptors alive.)
pub(crate) struct EnterGuard {
    prev: Option<Handle>,
    /// [`DEPTH`] with this guard alive.
    depth: usize,
    /// The context is this thread's: the guard must be dropped where it was created.
    _not_send: PhantomData<*const ()>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        if DEPTH.with(Cell::get) != self.depth {
            // Guards entered after this one are alive: restore when they are gone.
            ORPHANS.with(|o| o.borrow_mut().push((self.depth, prev)));
            return;
        }
        let mut restore = prev;
        let mut depth = self.depth - 1;
        // Handles replaced here are dropped after every borrow: a runtime's last handle runs
        // its destructor, which may enter and leave contexts itself.
        let mut superseded = Vec::new();
        // Guards below this one dropped out of order: their restores are due now.
        ORPHANS.with(|o| {
            let mut o = o.borrow_mut();
            while let Some(i) = o.iter().position(|(d, _)| *d == depth) {
                superseded.push(std::mem::replace(&mut restore, o.swap_remove(i).1));
                depth -= 1;
            }
        });
        DEPTH.with(|d| d.set(depth));
        superseded.push(CONTEXT.with(|c| std::mem::replace(&mut *c.borrow_mut(), restore)));
        drop(superseded);
    }
}

/// Makes `handle` the current one on this thread (for `spawn`, `sleep`, ...).
pub(crate) fn enter_context(handle: Handle) -> EnterGuard {
    let depth = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let prev = CONTEXT.with(|c| c.borrow_mut().replace(handle));
    EnterGuard { prev, depth, _not_send: PhantomData }
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
