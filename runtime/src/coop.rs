//! The cooperative budget: a task may make this many resource operations (I/O readiness,
//! timers, joins) ready per poll; past that, resources report Pending and the task is re-queued,
//! so one busy task cannot starve the others on its worker. Outside a runtime poll there is no
//! budget (futures polled by another executor are never throttled).
//!
//! Only operations that complete spend budget, as in tokio: a resource that returns Pending
//! leaves it as it was ([`RestoreOnPending`]). Charging Pending polls too made a future that
//! polls many pending resources at once (a `JoinSet` of 128 waiting tasks) spend the whole
//! budget on them every poll, wake itself, and spin forever without looking at the rest.

use std::cell::Cell;
use std::task::{Context, Poll};

const BUDGET: u8 = 128;

thread_local! {
    static LEFT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Restores the budget saved in it when dropped.
struct Restore(Option<u8>);

impl Drop for Restore {
    fn drop(&mut self) {
        LEFT.with(|b| b.set(self.0));
    }
}

/// Runs `f` (one poll of a task or of a `block_on` future) with a fresh budget.
pub(crate) fn budget<R>(f: impl FnOnce() -> R) -> R {
    let _restore = Restore(LEFT.with(|b| b.replace(Some(BUDGET))));
    f()
}

/// Runs `f` without a budget (as outside a runtime), then puts the current one back.
pub(crate) fn with_unconstrained<R>(f: impl FnOnce() -> R) -> R {
    let _restore = Restore(LEFT.with(|b| b.replace(None)));
    f()
}

/// Whether an operation may still complete in this poll (true outside a runtime poll).
pub(crate) fn has_budget_remaining() -> bool {
    LEFT.with(|b| b.get() != Some(0))
}

/// The unit of budget [`poll_proceed`] lets an operation use: spent by
/// [`made_progress`](RestoreOnPending::made_progress), left as it was when the operation returns
/// Pending (dropped unused). Nothing is written until then, so a Pending poll costs one read of
/// the budget.
pub(crate) struct RestoreOnPending(());

impl RestoreOnPending {
    /// The operation completed: the unit is spent.
    pub(crate) fn made_progress(&self) {
        LEFT.with(|b| {
            if let Some(left) = b.get() {
                b.set(Some(left.saturating_sub(1)));
            }
        });
    }
}

/// When no budget is left, wakes the task and returns Pending; otherwise lets the operation
/// run. The caller calls `made_progress` on the unit when its operation completes.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    if LEFT.with(Cell::get) == Some(0) {
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    Poll::Ready(RestoreOnPending(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn only_completed_operations_spend_budget() {
        let mut cx = Context::from_waker(Waker::noop());
        budget(|| {
            for _ in 0..1000 {
                // Pending: the unit is not spent.
                assert!(poll_proceed(&mut cx).is_ready(), "budget spent");
            }
            for _ in 0..BUDGET {
                let Poll::Ready(coop) = poll_proceed(&mut cx) else { panic!("budget spent") };
                coop.made_progress();
            }
            assert!(!has_budget_remaining());
            assert!(poll_proceed(&mut cx).is_pending());
            assert!(with_unconstrained(|| poll_proceed(&mut cx).is_ready()));
            assert!(!has_budget_remaining(), "the budget is back after the unconstrained part");
        });
        assert!(has_budget_remaining(), "no budget outside a runtime poll");
    }
}
