//! Running user code that may panic (wakers, destructors, thread callbacks) at places where the
//! runtime must carry on: the panic is caught and dropped, as tokio does for the same code. The
//! panic hook has already printed it.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, swallowing a panic. The panic's payload is forgotten rather than dropped: its own
/// destructor is user code too, and a second panic there would escape.
pub(crate) fn quietly(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        std::mem::forget(payload);
    }
}

/// Drops `value`, swallowing a panic in its destructor.
pub(crate) fn drop_quietly<T>(value: T) {
    quietly(move || drop(value));
}

/// Runs `f`, or returns `fallback()` if it panics (the payload is forgotten, as in [`quietly`]).
pub(crate) fn or_else<T>(f: impl FnOnce() -> T, fallback: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            std::mem::forget(payload);
            fallback()
        }
    }
}

/// The name the user's function gives a new thread, or "kq-worker" if it panics.
pub(crate) fn thread_name(f: &std::sync::Arc<dyn Fn() -> String + Send + Sync>) -> String {
    or_else(|| f(), || "kq-worker".to_string())
}
