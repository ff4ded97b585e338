//! Lock poisoning handled once: a panic elsewhere never makes our tables unusable (every
//! critical section of this crate leaves its data consistent before anything can panic).

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
