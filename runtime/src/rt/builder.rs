//! [`Builder`]: configures and builds a [`Runtime`](super::Runtime).

use super::*;

pub(super) type Callback = Arc<dyn Fn() + Send + Sync>;

/// Configures and builds a [`Runtime`] (tokio's `runtime::Builder`).
pub struct Builder {
    pub(super) flavor: Flavor,
    pub(super) worker_threads: Option<usize>,
    pub(super) thread_name: Arc<dyn Fn() -> String + Send + Sync>,
    pub(super) on_start: Option<Callback>,
    pub(super) on_stop: Option<Callback>,
    pub(super) max_blocking_threads: usize,
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
        let shared = Arc::new_cyclic(|me| {
            let blocking = BlockingPool::new(
                self.max_blocking_threads,
                self.thread_name.clone(),
                self.on_start.clone(),
                self.on_stop.clone(),
                Box::new(WeakHandle(me.clone())),
            );
            Shared::new(self.flavor, driver, stealers, blocking)
        });
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
