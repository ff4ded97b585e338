//! [`JoinSet`]: a set of tasks whose outputs are collected as they finish.
//!
//! Each task's handle is polled with a waker of its own, which queues the task's key when the
//! task finishes: `join_next` polls only the queued ones (tokio's `JoinSet` keeps the same kind
//! of list). Polling every handle on each call made a join cost time in the size of the set
//! (1.2 ms a join with 50,000 tasks, tokio 10 us).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::AcqRel, Ordering::Release};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use super::{JoinError, JoinHandle};
use crate::sync::lock;

/// A collection of spawned tasks, awaited in completion order. Dropping the set aborts them.
pub struct JoinSet<T> {
    tasks: slab::Slab<(JoinHandle<T>, Arc<EntryWaker>)>,
    notified: Arc<Notified>,
}

/// The keys of the tasks to poll, and the set's own waker.
#[derive(Default)]
struct Notified(Mutex<(VecDeque<usize>, Option<Waker>)>);

/// The waker a task's handle is polled with: queues its key (once until it is polled again)
/// and wakes the set's waker.
struct EntryWaker {
    key: usize,
    set: Arc<Notified>,
    queued: AtomicBool,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, AcqRel) {
            return;
        }
        let waker = {
            let mut n = lock(&self.set.0);
            n.0.push_back(self.key);
            n.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet { tasks: slab::Slab::new(), notified: Arc::default() }
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet::default()
    }

    /// Spawns `future` on the current runtime into the set.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn spawn<F>(&mut self, future: F) -> super::AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        let handle = super::spawn(future);
        let abort = handle.abort_handle();
        self.insert(handle);
        abort
    }

    /// Spawns a blocking function into the set.
    pub fn spawn_blocking<F>(&mut self, f: F) -> super::AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let handle = super::spawn_blocking(f);
        let abort = handle.abort_handle();
        self.insert(handle);
        abort
    }

    /// Adds a handle, queued so that the next `join_next` polls it (and gives it its waker).
    fn insert(&mut self, handle: JoinHandle<T>) {
        let entry = self.tasks.vacant_entry();
        let key = entry.key();
        let set = self.notified.clone();
        entry.insert((handle, Arc::new(EntryWaker { key, set, queued: AtomicBool::new(true) })));
        lock(&self.notified.0).0.push_back(key);
    }

    /// Number of tasks in the set (finished ones not yet collected included).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for the next task to finish; `None` when the set is empty.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for the next finished task.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.tasks.is_empty() {
            return Poll::Ready(None);
        }
        // This call's share of the queue: a handle that re-queues itself as it is polled (the
        // cooperative budget spent) is not polled again in the same call.
        let batch = std::mem::take(&mut lock(&self.notified.0).0);
        let mut batch = batch.into_iter();
        while let Some(key) = batch.next() {
            // A key whose task was collected already (a late wake-up), or taken by a newer one.
            let Some((handle, waker)) = self.tasks.get_mut(key) else { continue };
            waker.queued.store(false, Release);
            let entry_waker = Waker::from(waker.clone());
            if let Poll::Ready(out) = Pin::new(handle).poll(&mut Context::from_waker(&entry_waker))
            {
                self.tasks.remove(key);
                // Keys not polled go back, before those queued since.
                let rest: VecDeque<usize> = batch.collect();
                let mut n = lock(&self.notified.0);
                let newer = std::mem::replace(&mut n.0, rest);
                n.0.extend(newer);
                return Poll::Ready(Some(out));
            }
        }
        let mut n = lock(&self.notified.0);
        if n.0.is_empty() {
            n.1 = Some(cx.waker().clone());
        } else {
            drop(n);
            cx.waker().wake_by_ref(); // re-queued while polled: come back after a yield
        }
        Poll::Pending
    }

    /// Waits for every task and returns their outputs, in the order they finished.
    ///
    /// # Panics
    /// As tokio's: when a task panicked, its panic is resumed here; when one was cancelled
    /// (aborted), this panics with the [`JoinError`]. The tasks still running are aborted (the
    /// set is dropped).
    pub async fn join_all(mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len());
        while let Some(r) = self.join_next().await {
            match r {
                Ok(v) => out.push(v),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("{e}"),
            }
        }
        out
    }

    /// Aborts every task in the set.
    pub fn abort_all(&mut self) {
        for (_, (t, _)) in &self.tasks {
            t.abort();
        }
    }

    /// Aborts every task and waits for them to stop.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        for (_, (t, _)) in &self.tasks {
            t.abort();
        }
    }
}

impl<T> std::fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.tasks.len()).finish()
    }
}
