//! Tasks: [`spawn`], [`spawn_blocking`], [`JoinHandle`], [`JoinError`], [`JoinSet`] and
//! [`yield_now`].

mod join_set;
pub(crate) mod raw;
pub(crate) mod state;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use join_set::JoinSet;
use raw::{JoinRaw, Panic};

/// A new task id, unique in the process (as tokio's): tasks and blocking tasks of every
/// runtime draw from one counter, so two live tasks never share an id.
pub(crate) fn next_task_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Relaxed)
}

/// Spawns a task on the current runtime (see [`Handle::spawn`](crate::runtime::Handle::spawn)).
///
/// # Panics
/// When called outside a runtime, like `tokio::spawn`.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    crate::runtime::Handle::current().spawn(future)
}

/// Runs a blocking function on the current runtime's blocking pool.
///
/// # Panics
/// When called outside a runtime.
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    crate::runtime::Handle::current().spawn_blocking(f)
}

/// Yields to the scheduler: the task goes to the back of the run queue.
pub async fn yield_now() {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false).await
}

/// Why a task did not return a value: it panicked, or it was cancelled.
pub struct JoinError {
    id: u64,
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(Panic),
}

impl JoinError {
    pub(crate) fn cancelled(id: u64) -> JoinError {
        JoinError { id, repr: Repr::Cancelled }
    }

    pub(crate) fn panic(id: u64, payload: Panic) -> JoinError {
        JoinError { id, repr: Repr::Panic(payload) }
    }

    /// The task was cancelled (aborted, or its runtime shut down).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload, to resume the panic with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicked (use [`try_into_panic`](Self::try_into_panic)).
    pub fn into_panic(self) -> Panic {
        match self.try_into_panic() {
            Ok(p) => p,
            Err(e) => panic!("JoinError::into_panic on a cancelled task ({e})"),
        }
    }

    /// The panic payload, or the error itself if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Panic, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p),
            Repr::Cancelled => Err(self),
        }
    }

    /// The id of the task.
    pub fn id(&self) -> u64 {
        self.id
    }
}

fn panic_message(p: &Panic) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(|s| s.as_str()))
        .unwrap_or("...")
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "task {} was cancelled", self.id),
            Repr::Panic(p) => {
                write!(f, "task {} panicked with message {:?}", self.id, panic_message(p))
            }
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({})", self.id),
            Repr::Panic(p) => {
                write!(f, "JoinError::Panic({}, {:?}, ...)", self.id, panic_message(p))
            }
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
}

/// An owned permission to await a task's output (and to abort it).
///
/// Dropping a `JoinHandle` detaches the task; it keeps running.
pub struct JoinHandle<T> {
    raw: Arc<dyn JoinRaw<T>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(raw: Arc<dyn JoinRaw<T>>) -> JoinHandle<T> {
        JoinHandle { raw }
    }

    /// Requests cancellation: the task's future is dropped the next time it would run, and
    /// awaiting the handle gives a cancelled [`JoinError`] (unless it had already finished).
    pub fn abort(&self) {
        self.raw.clone().abort();
    }

    /// True once the task has finished (completed, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.raw.is_finished()
    }

    /// The id of the task.
    pub fn id(&self) -> u64 {
        self.raw.id()
    }

    /// A handle that can abort the task without owning the output.
    pub fn abort_handle(&self) -> AbortHandle
    where
        T: 'static,
    {
        let raw = self.raw.clone();
        AbortHandle { abort: Arc::new(move || raw.clone().abort()) }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = std::task::ready!(crate::coop::poll_proceed(cx));
        let joined = self.raw.poll_join(cx);
        if joined.is_ready() {
            coop.made_progress();
        }
        joined
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.raw.drop_join();
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id()).finish()
    }
}

/// Aborts a task without owning its output.
#[derive(Clone)]
pub struct AbortHandle {
    abort: Arc<dyn Fn() + Send + Sync>,
}

impl AbortHandle {
    /// Requests cancellation (see [`JoinHandle::abort`]).
    pub fn abort(&self) {
        (self.abort)()
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AbortHandle")
    }
}
