//! The two `block_on` flavours: on a thread parker (multi-thread runtime, or a waiter while
//! another thread holds the current-thread core), and running the current-thread scheduler's
//! core on the calling thread.

use super::*;

/// Wakes a thread blocked in `block_on`: the thread's own parker (a futex on Linux), so a wake-up
/// of a thread that is not parked costs no system call (issue 13: one futex wake per wake-up
/// was the most frequent system call of a `block_on` joining many tasks).
pub(super) struct ThreadParker {
    notified: AtomicBool,
    thread: thread::Thread,
}

impl Default for ThreadParker {
    /// A parker for the current thread.
    fn default() -> ThreadParker {
        ThreadParker { notified: AtomicBool::new(false), thread: thread::current() }
    }
}

impl Wake for ThreadParker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.notified.swap(true, AcqRel) {
            self.thread.unpark();
        }
    }
}

impl ThreadParker {
    /// Blocks until woken (at once if woken since the last call). Spurious unparks of the
    /// thread (user code may use `thread::park` too) are absorbed by the flag.
    fn park(&self) {
        while !self.notified.swap(false, AcqRel) {
            thread::park();
        }
    }
}

pub(super) fn block_on_parked<F: Future>(future: F) -> F::Output {
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
pub(super) struct MainWaker {
    pub(super) notified: AtomicBool,
    pub(super) shared: Arc<Shared>,
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

pub(super) struct Main<'a, F: Future> {
    pub(super) future: std::pin::Pin<&'a mut F>,
    pub(super) waker: Arc<MainWaker>,
    pub(super) out: Option<F::Output>,
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
pub(super) fn block_on_current<F: Future>(shared: &Arc<Shared>, future: F) -> F::Output {
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
pub(super) struct HeldCore<'a> {
    pub(super) shared: &'a Arc<Shared>,
    pub(super) core: Option<RefCell<WorkerCore>>,
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
