//! [`Handle`]: a cheap clone of the runtime's shared state, to spawn onto it, enter it or block
//! on it from any thread.

use super::*;

/// A handle to a runtime: spawn onto it, enter it, block on it. Cheap to clone.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

/// Returned by [`Handle::try_current`] outside a runtime.
#[derive(Debug)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "there is no kq runtime on this thread (call from inside Runtime::block_on or a task)",
        )
    }
}

impl std::error::Error for TryCurrentError {}

impl Handle {
    /// The runtime this thread is in.
    ///
    /// # Panics
    /// Outside a runtime (use [`try_current`](Self::try_current) to get an error instead).
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        }
    }

    /// The runtime this thread is in, or an error outside one.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        CONTEXT.with(|c| c.borrow().clone()).ok_or(TryCurrentError(()))
    }

    /// Spawns a task onto this runtime.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.shared;
        let id = shared.next_task_id();
        let task = Task::new(future, id, shared.clone() as Arc<dyn Schedule>);
        let handle = JoinHandle::new(task.clone());
        let task: TaskRef = task;
        if shared.bind(id, &task) {
            shared.schedule(task, false);
        } else {
            task.shutdown(); // the runtime is shutting down: the task is cancelled
        }
        handle
    }

    /// Runs a blocking function on this runtime's blocking pool.
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared.blocking.spawn(f)
    }

    /// Runs `future` to completion on this thread, inside this runtime.
    ///
    /// # Panics
    /// When called from a thread already running a runtime (a task, or another `block_on`):
    /// that would deadlock, so it is refused with a clear message, like tokio does.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _running = RunningGuard::enter();
        let _enter = enter_context(self.clone());
        match self.shared.flavor {
            Flavor::MultiThread => block_on_parked(future),
            Flavor::CurrentThread => block_on_current(&self.shared, future),
        }
    }

    /// Makes this runtime the current one until the guard is dropped. Guards dropped out of
    /// order are made good (tokio's panic): the runtime entered last stays current while its
    /// guard lives, and none is current once every guard is gone. The guard stays on its thread.
    pub fn enter(&self) -> impl Drop + '_ {
        enter_context(self.clone())
    }

    /// A snapshot of the runtime's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::collect(&self.shared)
    }

    /// Identifies the runtime: equal for every handle of one runtime, different between runtimes
    /// alive at the same time (a value may be reused once a runtime and all its handles are gone).
    /// For tables keyed per runtime, e.g. kq-process's one PROC or SIGNAL knote per ident.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as *const () as usize
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("flavor", &self.shared.flavor).finish()
    }
}

/// A handle that does not keep the runtime alive: what the blocking pool enters.
pub(crate) struct WeakHandle(pub(crate) std::sync::Weak<Shared>);

impl crate::blocking::RuntimeContext for WeakHandle {
    fn enter(&self) -> Option<Box<dyn std::any::Any>> {
        let shared = self.0.upgrade()?;
        Some(Box::new(enter_context(Handle { shared })))
    }
}
