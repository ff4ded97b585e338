//! Which knote streams to poll: each [`kq_runtime::io::EventSource`] of the watcher is polled
//! with a waker of its own that records its slot number, so a wake-up costs a poll of the
//! sources that fired, not of the thousands that did not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Wake, Waker};

#[derive(Default)]
struct Inner {
    ids: Vec<usize>,
    task: Option<Waker>,
}

/// The slots woken since the last [`take`](ReadySet::take), and the task to wake.
#[derive(Default)]
pub(crate) struct ReadySet {
    inner: Mutex<Inner>,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ReadySet {
    /// The waker for slot `id`, queued at once so that its source gets its first poll.
    pub(crate) fn waker(self: &Arc<Self>, id: usize) -> Arc<SlotWaker> {
        let w = Arc::new(SlotWaker { id, queued: AtomicBool::new(false), set: self.clone() });
        w.wake_by_ref();
        w
    }

    /// Takes the woken ids, and remembers `task` as the waker to call for the next ones.
    pub(crate) fn take(&self, task: &Waker) -> Vec<usize> {
        let mut inner = lock(&self.inner);
        if !inner.task.as_ref().is_some_and(|t| t.will_wake(task)) {
            inner.task = Some(task.clone());
        }
        std::mem::take(&mut inner.ids)
    }

    /// Queues `id` again (a source that still has events).
    pub(crate) fn requeue(&self, w: &SlotWaker) {
        w.wake_by_ref_inner();
    }
}

/// The waker of one slot.
pub(crate) struct SlotWaker {
    id: usize,
    queued: AtomicBool,
    set: Arc<ReadySet>,
}

impl SlotWaker {
    /// Marks the slot as being polled: a wake-up from now on queues it again.
    pub(crate) fn unqueue(&self) {
        self.queued.store(false, Ordering::SeqCst);
    }

    fn wake_by_ref_inner(&self) {
        if self.queued.swap(true, Ordering::SeqCst) {
            return;
        }
        let task = {
            let mut inner = lock(&self.set.inner);
            inner.ids.push(self.id);
            inner.task.clone()
        };
        if let Some(t) = task {
            t.wake();
        }
    }
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref_inner();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_by_ref_inner();
    }
}
