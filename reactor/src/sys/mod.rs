//! The backends. One switch, here; the OS list lives in `build.rs` (which sets `kq_native`).
//!
//! # The backend contract
//!
//! A backend turns OS sources into *activations*; it never decides delivery semantics (the core
//! does). Every backend defines `Backend` with the same methods:
//!
//! - `Backend::new() -> io::Result<Backend>`
//! - `watch_fd(&self, fd)`: watch `fd` for readability and writability, edge-triggered, reporting
//!   the fd number itself as the token. Watching an fd twice is not an error.
//! - `unwatch_fd(&self, fd)`: stop watching (errors, e.g. an fd already closed, are ignored).
//! - `wait(&self, tokens, timeout)`: block until an OS source may have changed, the waker fired or
//!   the timeout passed, appending the tokens seen. Only one thread calls `wait` at a time (the
//!   reactor's `polling` flag guarantees it); `Interrupted` may be returned.
//! - `wake(&self)`: make a current or the next `wait` return.
//! - `raw_fd(&self)`: the descriptor that is readable when OS events are pending (unix).
//!
//! Level semantics are obtained by re-evaluating the source itself (`source.rs`: zero-timeout
//! `poll(2)`, `FIONREAD`, ...), so an edge-triggered poller is enough everywhere.

#[cfg(all(unix, not(loom)))]
pub(crate) mod source;

#[cfg(loom)]
mod model;
#[cfg(loom)]
pub(crate) use model::Backend;

#[cfg(all(not(loom), kq_native))]
mod kqueue;
#[cfg(all(not(loom), kq_native))]
pub(crate) use self::kqueue::Backend;

#[cfg(all(not(loom), not(kq_native)))]
mod emulated;
#[cfg(all(not(loom), not(kq_native)))]
pub(crate) use emulated::Backend;
