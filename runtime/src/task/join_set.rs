//! [`JoinSet`]: a set of tasks whose outputs are collected as they finish.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{JoinError, JoinHandle};

/// A collection of spawned tasks, awaited in completion order. Dropping the set aborts them.
pub struct JoinSet<T> {
    tasks: Vec<JoinHandle<T>>,
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet { tasks: Vec::new() }
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
        self.tasks.push(handle);
        abort
    }

    /// Spawns a blocking function into the set.
    pub fn spawn_blocking<F>(&mut self, f: F) -> super::AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let handle = super::spawn_blocking(f);
        let abort = handle.abort_handle();
        self.tasks.push(handle);
        abort
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
        for i in 0..self.tasks.len() {
            if let Poll::Ready(out) = Pin::new(&mut self.tasks[i]).poll(cx) {
                self.tasks.swap_remove(i);
                return Poll::Ready(Some(out));
            }
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
        for t in &self.tasks {
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
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl<T> std::fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.tasks.len()).finish()
    }
}
