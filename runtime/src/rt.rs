//! [`Runtime`], [`Handle`] and [`Builder`]: creating a runtime, entering it, `block_on`,
//! shutdown.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use crate::blocking::BlockingPool;
use crate::driver::Driver;
use crate::metrics::RuntimeMetrics;
use crate::scheduler::worker::{self, MainFuture, NoMain};
use crate::scheduler::{Flavor, Shared, WorkerCore};
use crate::sync::lock;
use crate::task::raw::{Schedule, Task, TaskRef};
use crate::task::JoinHandle;
use crate::unwind::{drop_quietly, or_else, quietly};

thread_local! {
    static CONTEXT: RefCell<Option<Handle>> = const { RefCell::new(None) };
    /// This thread is running a runtime (a worker, or inside `block_on`).
    static RUNNING: Cell<bool> = const { Cell::new(false) };
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

struct RunningGuard(bool);

impl RunningGuard {
    fn enter() -> RunningGuard {
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

    /// Makes this runtime the current one until the guard is dropped.
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

/// Wakes a thread blocked in `block_on`.
#[derive(Default)]
struct ThreadParker {
    notified: Mutex<bool>,
    cond: Condvar,
}

impl Wake for ThreadParker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        *lock(&self.notified) = true;
        self.cond.notify_one();
    }
}

impl ThreadParker {
    fn park(&self) {
        let mut n = lock(&self.notified);
        while !*n {
            n = self.cond.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n = false;
    }
}

fn block_on_parked<F: Future>(future: F) -> F::Output {
    let parker = Arc::new(ThreadParker::default());
    let waker = Waker::from(parker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(v) = crate::coop::budget(|| future.as_mut().poll(&mut cx)) {
            return v;
        }
        parker.park();
    }
}

/// The main future's waker on a current-thread runtime.
struct MainWaker {
    notified: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.notified.store(true, Release);
        self.shared.notify_one();
    }
}

struct Main<'a, F: Future> {
    future: std::pin::Pin<&'a mut F>,
    waker: Arc<MainWaker>,
    out: Option<F::Output>,
}

impl<F: Future> MainFuture for Main<'_, F> {
    fn notified(&self) -> bool {
        self.waker.notified.load(Acquire)
    }
    fn poll_main(&mut self) -> bool {
        self.waker.notified.store(false, Release);
        let waker = Waker::from(self.waker.clone());
        let mut cx = Context::from_waker(&waker);
        if let Poll::Ready(v) = crate::coop::budget(|| self.future.as_mut().poll(&mut cx)) {
            self.out = Some(v);
            return true;
        }
        false
    }
}

/// `block_on` on a current-thread runtime: the thread that gets the scheduler core runs the
/// tasks and polls its future between them; a thread that finds the core taken (another
/// `block_on` is running) polls its own future on its own thread, and takes the core over when it
/// is released.
fn block_on_current<F: Future>(shared: &Arc<Shared>, future: F) -> F::Output {
    let mut future = pin!(future);
    let parker = Arc::new(ThreadParker::default());
    let thread_waker = Waker::from(parker.clone());
    loop {
        // Registered before looking, so a release between the look and the park wakes us.
        shared.add_core_waiter(&thread_waker);
        let core = lock(&shared.current_core).take();
        if let Some(core) = core {
            // Gives the core back even if the future (or a waker) panics.
            let held = HeldCore { shared, core: Some(RefCell::new(core)) };
            let waker =
                Arc::new(MainWaker { notified: AtomicBool::new(true), shared: shared.clone() });
            let mut main = Main { future: future.as_mut(), waker, out: None };
            held.run(&mut main);
            drop(held);
            if let Some(v) = main.out {
                return v;
            }
            // The runtime shut down under us: finish the future on this thread.
        }
        let mut cx = Context::from_waker(&thread_waker);
        if let Poll::Ready(v) = crate::coop::budget(|| future.as_mut().poll(&mut cx)) {
            return v;
        }
        parker.park();
    }
}

/// The current-thread core while a `block_on` runs it; dropping it (also when unwinding) puts
/// the core back for the next `block_on`, or drops it once the runtime has shut down.
struct HeldCore<'a> {
    shared: &'a Arc<Shared>,
    core: Option<RefCell<WorkerCore>>,
}

impl HeldCore<'_> {
    fn run(&self, main: &mut dyn MainFuture) {
        if let Some(core) = &self.core {
            worker::run(self.shared, core, main);
        }
    }
}

impl Drop for HeldCore<'_> {
    fn drop(&mut self) {
        if let Some(core) = self.core.take().map(RefCell::into_inner) {
            let mut slot = lock(&self.shared.current_core);
            // Checked under the lock that `Runtime::shutdown` takes after setting the flag: a
            // core given back after that would never be dropped (its tasks keep the runtime).
            if self.shared.shutdown.load(Acquire) {
                drop(slot);
                drop_quietly(core);
            } else {
                *slot = Some(core);
            }
        }
        self.shared.wake_core_waiters();
    }
}

/// The kq runtime: a scheduler (multi-thread with work stealing, or current-thread), a reactor
/// ([`kq_reactor::Kqueue`]) and a blocking pool.
///
/// Dropping it cancels every task (their futures are dropped, so destructors run) and joins its
/// threads.
pub struct Runtime {
    handle: Handle,
    workers: Vec<thread::JoinHandle<()>>,
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

type Callback = Arc<dyn Fn() + Send + Sync>;

/// The name the user's function gives a new thread, or "kq-worker" if it panics.
pub(crate) fn thread_name(f: &Arc<dyn Fn() -> String + Send + Sync>) -> String {
    or_else(|| f(), || "kq-worker".to_string())
}

/// Configures and builds a [`Runtime`] (tokio's `runtime::Builder`).
pub struct Builder {
    flavor: Flavor,
    worker_threads: Option<usize>,
    thread_name: Arc<dyn Fn() -> String + Send + Sync>,
    on_start: Option<Callback>,
    on_stop: Option<Callback>,
    max_blocking_threads: usize,
}

impl Builder {
    /// A multi-thread runtime: work-stealing workers (one per core unless set).
    pub fn new_multi_thread() -> Builder {
        Builder::with_flavor(Flavor::MultiThread)
    }

    /// A current-thread runtime: everything runs on the thread that calls `block_on`.
    pub fn new_current_thread() -> Builder {
        Builder::with_flavor(Flavor::CurrentThread)
    }

    fn with_flavor(flavor: Flavor) -> Builder {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        Builder {
            flavor,
            worker_threads: None,
            thread_name: Arc::new(|| format!("kq-worker-{}", NEXT.fetch_add(1, Relaxed))),
            on_start: None,
            on_stop: None,
            max_blocking_threads: 512,
        }
    }

    /// Number of worker threads (multi-thread only; at least 1).
    pub fn worker_threads(&mut self, n: usize) -> &mut Builder {
        self.worker_threads = Some(n.max(1));
        self
    }

    /// Name of the runtime's threads.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Builder {
        let name = name.into();
        self.thread_name = Arc::new(move || name.clone());
        self
    }

    /// A function naming each thread (if it panics, the thread is named "kq-worker").
    pub fn thread_name_fn(
        &mut self,
        f: impl Fn() -> String + Send + Sync + 'static,
    ) -> &mut Builder {
        self.thread_name = Arc::new(f);
        self
    }

    /// Runs on each worker and blocking thread as it starts. A panic in it is caught (the panic
    /// hook reports it) and the thread carries on.
    pub fn on_thread_start(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Builder {
        self.on_start = Some(Arc::new(f));
        self
    }

    /// Runs on each worker and blocking thread as it stops. A panic in it is caught.
    pub fn on_thread_stop(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Builder {
        self.on_stop = Some(Arc::new(f));
        self
    }

    /// Maximum number of blocking-pool threads (default 512).
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Builder {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// Accepted for tokio compatibility: I/O and time are always enabled.
    pub fn enable_all(&mut self) -> &mut Builder {
        self
    }

    /// Accepted for tokio compatibility.
    pub fn enable_io(&mut self) -> &mut Builder {
        self
    }

    /// Accepted for tokio compatibility.
    pub fn enable_time(&mut self) -> &mut Builder {
        self
    }

    /// Builds the runtime.
    ///
    /// # Errors
    /// If the reactor or a worker thread cannot be created.
    pub fn build(&mut self) -> io::Result<Runtime> {
        let driver = Driver::new()?;
        let workers = match self.flavor {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread => self
                .worker_threads
                .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get())),
        };
        let queues: Vec<_> = (0..workers).map(|_| crossbeam::deque::Worker::new_fifo()).collect();
        let stealers = queues.iter().map(|q| q.stealer()).collect();
        let blocking = BlockingPool::new(
            self.max_blocking_threads,
            self.thread_name.clone(),
            self.on_start.clone(),
            self.on_stop.clone(),
        );
        let shared = Arc::new(Shared::new(self.flavor, driver, stealers, blocking.clone()));
        blocking.set_handle(Arc::downgrade(&shared));
        let handle = Handle { shared: shared.clone() };
        let mut rt = Runtime { handle: handle.clone(), workers: Vec::new() };
        for (index, queue) in queues.into_iter().enumerate() {
            let core = WorkerCore::new(index, queue);
            if self.flavor == Flavor::CurrentThread {
                *lock(&shared.current_core) = Some(core);
                continue;
            }
            let (handle, on_start, on_stop) =
                (handle.clone(), self.on_start.clone(), self.on_stop.clone());
            let name = thread_name(&self.thread_name);
            let thread = thread::Builder::new().name(name).spawn(move || {
                // The callbacks are user code: a panic there must not cost the runtime a worker.
                if let Some(f) = &on_start {
                    quietly(|| f());
                }
                {
                    let _running = RunningGuard::enter();
                    let _enter = enter_context(handle.clone());
                    let core = RefCell::new(core);
                    worker::run(&handle.shared, &core, &mut NoMain);
                }
                if let Some(f) = &on_stop {
                    quietly(|| f());
                }
            });
            match thread {
                Ok(t) => rt.workers.push(t),
                Err(e) => return Err(e), // `rt` is dropped: the started workers are stopped
            }
        }
        Ok(rt)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("flavor", &self.flavor)
            .field("worker_threads", &self.worker_threads)
            .finish()
    }
}
