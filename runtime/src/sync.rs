//! The synchronisation types of the idle protocol, the task state word and the I/O readiness
//! cell, swapped for loom's under `--cfg loom`.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};

/// Locks a std mutex, ignoring poisoning: every state they guard stays consistent at each unlock
/// point, and no user code runs under them. (The one place poisoning is handled.)
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Locks a mutex of the facade (loom's under `--cfg loom`), ignoring poisoning as [`lock`] does.
pub(crate) fn lock_facade<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
