//! kq-runtime: the kq executor, shaped like tokio's so code moves between the two.
//!
//! - [`Runtime`] / [`runtime::Builder`]: a multi-thread work-stealing scheduler (per-worker
//!   local queues, a LIFO slot, a global injector, a cooperative budget) or a current-thread one.
//!   One idle worker waits inside [`kq_reactor::Kqueue::kevent`] (the driver); the others sleep
//!   on a condition variable; an EVFILT_USER trigger wakes the driver when work arrives.
//! - [`spawn`], [`task`]: `JoinHandle` (await, `abort`, `is_finished`), `JoinError` with the
//!   panic, `JoinSet`, `spawn_blocking`, `yield_now`.
//! - [`time`]: `sleep`, `interval`, `timeout`, each timer an EVFILT_TIMER knote.
//! - [`io`]: [`io::Registration`] of an fd and [`io::EventSource`] streams of kevents, the
//!   building blocks of kq-net, kq-process and kq-fs-watch.
//!
//! # Misuse and user panics
//!
//! - After a runtime is dropped or shut down, its resources do not wait for a driver that is
//!   gone: I/O readiness fails with an error, timers panic with a clear message, event streams
//!   end, spawns are cancelled, new registrations fail, as tokio's do; a waiter outside the
//!   runtime (another thread's `block_on`, a blocking thread, a foreign executor) is woken to see
//!   it.
//! - `block_on` inside a runtime panics with a clear message instead of deadlocking.
//! - Guards of `Runtime::enter` dropped out of order are made good (tokio panics): once every
//!   guard is gone, no runtime is left current.
//! - Destructors of tasks cancelled at shutdown run inside the runtime's context: a `spawn`
//!   there returns a cancelled task, as in tokio.
//! - Durations too large for an `Instant` saturate to about 30 years ahead.
//! - Panics in user code the runtime runs (task polls, wakers woken or dropped by the driver, the
//!   JoinHandle's waker, destructors of futures, outputs and panic payloads, thread callbacks and
//!   name functions, `spawn_blocking` closures) are caught where tokio catches them; the runtime
//!   keeps serving its other tasks.
//! - The runtime's own knotes use idents in [`io::RESERVED_IDENTS`], which user knotes cannot
//!   take.
//!
//! # Example
//!
//! ```
//! let rt = kq_runtime::Runtime::new()?;
//! let answer = rt.block_on(async {
//!     let h = kq_runtime::spawn(async { 6 * 7 });
//!     kq_runtime::time::sleep(std::time::Duration::from_millis(1)).await;
//!     h.await.unwrap()
//! });
//! assert_eq!(answer, 42);
//! # Ok::<(), std::io::Error>(())
//! ```

mod blocking;
mod coop;
mod driver;
pub mod io;
mod metrics;
mod rt;
mod scheduled_io;
mod scheduler;
mod sync;
pub mod task;
pub mod time;
mod unwind;

/// The runtime: [`Runtime`], [`Builder`](runtime::Builder), [`Handle`](runtime::Handle),
/// [`RuntimeMetrics`](runtime::RuntimeMetrics).
pub mod runtime {
    pub use crate::metrics::RuntimeMetrics;
    pub use crate::rt::{Builder, Handle, Runtime, TryCurrentError};
}

pub use runtime::Runtime;
pub use task::spawn;

#[cfg(all(test, loom))]
mod loom_readiness;
#[cfg(all(test, loom))]
mod loom_tests;
