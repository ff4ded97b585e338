//! The blocking pool: threads for `spawn_blocking`, started on demand up to a maximum and kept
//! for a while when idle.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use crate::sync::lock;
use crate::task::raw::{Schedule, Task, TaskRef};
use crate::task::JoinHandle;
use crate::unwind::quietly;

thread_local! {
    /// The pool this thread belongs to, if it is a blocking thread (its `Inner`'s address).
    static POOL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// What a blocking thread enters before it runs functions: the runtime's context, so that
/// `spawn`, timers and I/O work inside `spawn_blocking`. The runtime gives it to the pool at
/// creation; it holds the runtime weakly (the pool belongs to the runtime).
pub(crate) trait RuntimeContext: Send + Sync + 'static {
    /// Enters the context, `None` once the runtime is gone; dropping the guard leaves it.
    fn enter(&self) -> Option<Box<dyn Any>>;
}

#[derive(Default)]
struct State {
    queue: VecDeque<TaskRef>,
    idle: usize,
    threads: usize,
    /// Threads that left their loop (no longer counted in `threads`) and are finishing.
    exiting: usize,
    shutdown: bool,
    handles: Vec<thread::JoinHandle<()>>,
}

pub(crate) struct Inner {
    state: Mutex<State>,
    cond: Condvar,
    /// Signalled when a thread exits (for shutdown with a timeout).
    exited: Condvar,
    max_threads: usize,
    thread_name: Arc<dyn Fn() -> String + Send + Sync>,
    on_start: Option<Arc<dyn Fn() + Send + Sync>>,
    on_stop: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The runtime's context, entered by blocking threads.
    context: Box<dyn RuntimeContext>,
    me: Weak<Inner>,
}

/// The pool of one runtime.
#[derive(Clone)]
pub(crate) struct BlockingPool {
    inner: Arc<Inner>,
}

/// A blocking function as a future that runs it in one poll.
struct BlockingTask<F>(Option<F>);

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        match self.0.take() {
            Some(f) => Poll::Ready(f()),
            // Polled after completion: cannot happen (the task completes on the first poll).
            None => Poll::Pending,
        }
    }
}

impl BlockingPool {
    pub(crate) fn new(
        max_threads: usize,
        thread_name: Arc<dyn Fn() -> String + Send + Sync>,
        on_start: Option<Arc<dyn Fn() + Send + Sync>>,
        on_stop: Option<Arc<dyn Fn() + Send + Sync>>,
        context: Box<dyn RuntimeContext>,
    ) -> Self {
        BlockingPool {
            inner: Arc::new_cyclic(|me| Inner {
                state: Mutex::new(State::default()),
                cond: Condvar::new(),
                exited: Condvar::new(),
                max_threads: max_threads.max(1),
                thread_name,
                on_start,
                on_stop,
                context,
                me: me.clone(),
            }),
        }
    }

    pub(crate) fn spawn<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let id = crate::task::next_task_id();
        let task = Task::new(BlockingTask(Some(f)), id, self.inner.clone());
        let handle = JoinHandle::new(task.clone());
        self.inner.schedule(task, false);
        handle
    }

    /// Stops the pool: queued functions are cancelled; running ones are waited for, at most
    /// until `deadline`.
    pub(crate) fn shutdown(&self, deadline: Option<Instant>) {
        let (queued, handles) = {
            let mut st = lock(&self.inner.state);
            st.shutdown = true;
            (std::mem::take(&mut st.queue), std::mem::take(&mut st.handles))
        };
        self.inner.cond.notify_all();
        for t in queued {
            t.shutdown();
        }
        let me = thread::current().id();
        // Shut down from one of its own threads (the runtime dropped in `spawn_blocking`): that
        // thread cannot wait for itself.
        let own = usize::from(POOL.with(|p| p.get()) == Arc::as_ptr(&self.inner) as usize);
        let mut st = lock(&self.inner.state);
        while st.threads + st.exiting > own {
            match deadline {
                None => st = self.inner.exited.wait(st).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return; // the remaining threads finish on their own
                    }
                    st = self
                        .inner
                        .exited
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        drop(st);
        for h in handles {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }
}

impl Schedule for Inner {
    fn schedule(&self, task: TaskRef, _yielded: bool) {
        let mut st = lock(&self.state);
        if st.shutdown {
            drop(st);
            task.shutdown();
            return;
        }
        st.queue.push_back(task);
        // An idle thread takes the task only if there are as many idle threads as queued tasks:
        // `idle` drops when a woken thread gets the lock back, so a burst of spawns used to see
        // the same idle thread each time, notify it again and start nothing, and its functions
        // ran one after another (two that wait for each other deadlocked; tokio runs them
        // concurrently up to `max_blocking_threads`).
        if st.idle > 0 {
            self.cond.notify_one();
            if st.idle >= st.queue.len() {
                return;
            }
        }
        if st.threads < self.max_threads {
            st.threads += 1;
            let Some(inner) = self.me.upgrade() else { return };
            let name = crate::unwind::thread_name(&self.thread_name);
            st.handles.retain(|h| !h.is_finished());
            match thread::Builder::new().name(name).spawn(move || inner.run()) {
                Ok(h) => st.handles.push(h),
                Err(_) => st.threads -= 1, // still queued: a running thread will take it
            }
        }
    }

    fn forget_completed(&self, _owned_key: usize, _id: u64) {}
}

impl Inner {
    fn run(self: Arc<Self>) {
        POOL.with(|p| p.set(Arc::as_ptr(&self) as usize));
        // The callbacks are user code: a panic must not lose the thread's count (shutdown waits
        // for it).
        if let Some(f) = &self.on_start {
            quietly(|| f());
        }
        self.run_tasks();
        if let Some(f) = &self.on_stop {
            quietly(|| f());
        }
        POOL.with(|p| p.set(0));
        // Counted as gone only after on_stop ran, so shutdown waits for the callback too.
        lock(&self.state).exiting -= 1;
        self.exited.notify_all();
    }

    fn run_tasks(&self) {
        let _enter = self.context.enter();
        let mut st = lock(&self.state);
        loop {
            if let Some(task) = st.queue.pop_front() {
                drop(st);
                task.run();
                st = lock(&self.state);
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let (guard, timeout) =
                self.cond.wait_timeout(st, KEEP_ALIVE).unwrap_or_else(|p| p.into_inner());
            st = guard;
            st.idle -= 1;
            if timeout.timed_out() && st.queue.is_empty() {
                break;
            }
        }
        st.threads -= 1;
        st.exiting += 1;
    }
}
