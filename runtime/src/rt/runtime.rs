//! [`Runtime`]: the scheduler's worker threads, the reactor and the blocking pool; `block_on`,
//! shutdown.

use super::*;

/// The kq runtime: a scheduler (multi-thread with work stealing, or current-thread), a reactor
/// ([`kq_reactor::Kqueue`]) and a blocking pool.
///
/// Dropping it cancels every task (their futures are dropped, so destructors run) and joins its
/// threads.
pub struct Runtime {
    pub(super) handle: Handle,
    pub(super) workers: Vec<thread::JoinHandle<()>>,
}

impl Runtime {
    /// A multi-thread runtime with one worker per core.
    ///
    /// # Errors
    /// If the reactor or a thread cannot be created.
    pub fn new() -> io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    /// Runs `future` to completion on this thread (see [`Handle::block_on`]).
    ///
    /// # Panics
    /// When called from inside a runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns a task.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking function on the blocking pool.
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Makes this runtime the current one until the guard is dropped.
    pub fn enter(&self) -> impl Drop + '_ {
        self.handle.enter()
    }

    /// Shuts down, waiting at most `timeout` for workers and blocking threads to stop (those
    /// still running then are left to finish on their own). A timeout too large for an
    /// `Instant` (e.g. `Duration::MAX`) waits as long as it takes.
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Instant::now().checked_add(timeout));
    }

    /// Shuts down without waiting for blocking threads.
    pub fn shutdown_background(self) {
        self.shutdown_timeout(Duration::ZERO);
    }

    /// A snapshot of the runtime's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }

    fn shutdown(&mut self, deadline: Option<Instant>) {
        let shared = &self.handle.shared;
        if shared.shutdown.load(Acquire) && self.workers.is_empty() {
            return;
        }
        // Inside the runtime's context, as tokio's drop: the destructors of the tasks cancelled
        // here are user code, and may `spawn` (cancelled at once) or create timers. Outside the
        // context, `spawn` there panicked ("no kq runtime"), aborting the rest of the destructor.
        let _enter = enter_context(self.handle.clone());
        shared.begin_shutdown();
        let me = thread::current().id();
        for w in std::mem::take(&mut self.workers) {
            if w.thread().id() == me {
                continue;
            }
            match deadline {
                None => {
                    let _ = w.join();
                }
                Some(d) => {
                    while !w.is_finished() && Instant::now() < d {
                        thread::sleep(Duration::from_millis(1));
                    }
                    if w.is_finished() {
                        let _ = w.join();
                    }
                }
            }
        }
        shared.shutdown_tasks();
        // No task is left to drive I/O and timers: whoever still waits on a resource of this
        // runtime (a `block_on` elsewhere, a blocking thread) is woken to an error.
        shared.driver.shutdown();
        shared.blocking.shutdown(deadline);
        // Tasks dropped by the blocking pool's shutdown may have spawned or woken others.
        shared.shutdown_tasks();
        let core = lock(&shared.current_core).take();
        drop_quietly(core);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("flavor", &self.handle.shared.flavor).finish()
    }
}
