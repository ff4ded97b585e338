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
mod scheduler;
mod sync;
pub mod task;
pub mod time;
mod unwind;

/// The runtime: [`Runtime`], [`Builder`](runtime::Builder), [`Handle`](runtime::Handle),
/// [`RuntimeMetrics`](runtime::RuntimeMetrics).
pub mod runtime {
    pub use crate::metrics::RuntimeMetrics;
    pub(crate) use crate::rt::enter_context;
    pub use crate::rt::{Builder, Handle, Runtime, TryCurrentError};
}

pub use runtime::Runtime;
pub use task::spawn;

#[cfg(all(test, loom))]
mod loom_tests;
