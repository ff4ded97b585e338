//! The cooperative budget: a task may make this many resource operations (I/O readiness,
//! timers, joins) ready per poll; past that, resources report Pending and the task is re-queued,
//! so one busy task cannot starve the others on its worker. Outside a runtime poll there is no
//! budget (futures polled by another executor are never throttled).

use std::cell::Cell;
use std::task::{Context, Poll};

const BUDGET: u8 = 128;

thread_local! {
    static LEFT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Runs `f` (one poll of a task or of a `block_on` future) with a fresh budget.
pub(crate) fn budget<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u8>);
    impl Drop for Restore {
        fn drop(&mut self) {
            LEFT.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(LEFT.with(|b| b.replace(Some(BUDGET))));
    f()
}

/// Spends one unit; when none is left, wakes the task and returns Pending.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    LEFT.with(|b| match b.get() {
        None => Poll::Ready(()),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(left) => {
            b.set(Some(left - 1));
            Poll::Ready(())
        }
    })
}
