//! Every lock and atomic of the reactor comes from here, so that loom (`--cfg loom`) and lock
//! profiling switch in one place, and lock poisoning is handled once.
//!
//! [`ProfiledMutex`] is this project's MUTEX_PROFILING: acquisitions and contended acquisitions
//! are always counted (relaxed atomics; a `try_lock` that fails is a contended acquisition), and
//! with the `lock-profiling` feature the time spent waiting for and holding the lock is measured.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU64, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU64, Ordering},
    Condvar, Mutex, MutexGuard,
};

use std::ops::{Deref, DerefMut};

/// Locks a std mutex (the small ones outside the model: nesting links, the signal pipe pool),
/// ignoring poisoning, as everywhere in the reactor.
pub(crate) fn lock_std<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
use std::time::Duration;

/// Counters of one profiled lock (or the sum of several).
///
/// `acquisitions` and `contended` are always counted. The four time fields are measured only when
/// the crate is built with the `lock-profiling` feature; without it they stay 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockStats {
    /// Times the lock was taken.
    pub acquisitions: u64,
    /// Times the lock was already held by another thread when asked for.
    pub contended: u64,
    /// Total nanoseconds spent waiting for the lock (`lock-profiling` only).
    pub wait_ns_total: u64,
    /// Longest single wait, in nanoseconds (`lock-profiling` only).
    pub wait_ns_max: u64,
    /// Total nanoseconds the lock was held (`lock-profiling` only).
    pub hold_ns_total: u64,
    /// Longest single hold, in nanoseconds (`lock-profiling` only).
    pub hold_ns_max: u64,
}

impl LockStats {
    /// The fraction of acquisitions that were contended, in `[0, 1]`.
    pub fn contended_fraction(&self) -> f64 {
        if self.acquisitions == 0 {
            0.0
        } else {
            self.contended as f64 / self.acquisitions as f64
        }
    }
}

#[derive(Default)]
struct Counters {
    acquisitions: AtomicU64,
    contended: AtomicU64,
    #[cfg(feature = "lock-profiling")]
    wait_ns_total: AtomicU64,
    #[cfg(feature = "lock-profiling")]
    wait_ns_max: AtomicU64,
    #[cfg(feature = "lock-profiling")]
    hold_ns_total: AtomicU64,
    #[cfg(feature = "lock-profiling")]
    hold_ns_max: AtomicU64,
}

/// A mutex that counts its acquisitions and contention. Poisoning is ignored: the reactor's state
/// is kept consistent at every unlock point, and no user code runs under the lock.
pub(crate) struct ProfiledMutex<T> {
    inner: Mutex<T>,
    counters: Counters,
}

/// The guard of a [`ProfiledMutex`].
pub(crate) struct ProfiledGuard<'a, T> {
    guard: Option<MutexGuard<'a, T>>,
    lock: &'a ProfiledMutex<T>,
    #[cfg(feature = "lock-profiling")]
    since: std::time::Instant,
}

impl<T> ProfiledMutex<T> {
    pub(crate) fn new(value: T) -> Self {
        ProfiledMutex { inner: Mutex::new(value), counters: Counters::default() }
    }

    /// Takes the lock, counting contention when another thread holds it.
    pub(crate) fn lock(&self) -> ProfiledGuard<'_, T> {
        let guard = match self.inner.try_lock() {
            Ok(g) => g,
            #[cfg(not(loom))]
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(_) => {
                self.counters.contended.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "lock-profiling")]
                let start = std::time::Instant::now();
                let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                #[cfg(feature = "lock-profiling")]
                self.record_wait(start.elapsed());
                g
            }
        };
        self.counters.acquisitions.fetch_add(1, Ordering::Relaxed);
        ProfiledGuard {
            guard: Some(guard),
            lock: self,
            #[cfg(feature = "lock-profiling")]
            since: std::time::Instant::now(),
        }
    }

    /// Takes the lock if no other thread holds it (an acquisition; a failure counts as contended).
    #[cfg_attr(not(windows), allow(dead_code))]
    pub(crate) fn try_lock(&self) -> Option<ProfiledGuard<'_, T>> {
        let guard = match self.inner.try_lock() {
            Ok(g) => g,
            #[cfg(not(loom))]
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(_) => {
                self.counters.contended.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        self.counters.acquisitions.fetch_add(1, Ordering::Relaxed);
        Some(ProfiledGuard {
            guard: Some(guard),
            lock: self,
            #[cfg(feature = "lock-profiling")]
            since: std::time::Instant::now(),
        })
    }

    /// Waits on `cond`, releasing the lock meanwhile (the re-acquisition counts as one).
    pub(crate) fn wait_timeout<'a>(
        &'a self,
        cond: &Condvar,
        mut guard: ProfiledGuard<'a, T>,
        timeout: Option<Duration>,
    ) -> ProfiledGuard<'a, T> {
        #[cfg(feature = "lock-profiling")]
        self.record_hold(guard.since.elapsed());
        let inner = guard.guard.take().expect("guard present until drop");
        let inner = match timeout {
            #[cfg(not(loom))]
            Some(t) => {
                cond.wait_timeout(inner, t).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0)
            }
            // loom has no notion of time: a timed wait is an untimed one that may wake spuriously.
            #[cfg(loom)]
            Some(_) => cond.wait(inner).unwrap_or_else(|p| p.into_inner()),
            None => cond.wait(inner).unwrap_or_else(|p| p.into_inner()),
        };
        self.counters.acquisitions.fetch_add(1, Ordering::Relaxed);
        ProfiledGuard {
            guard: Some(inner),
            lock: self,
            #[cfg(feature = "lock-profiling")]
            since: std::time::Instant::now(),
        }
    }

    pub(crate) fn stats(&self) -> LockStats {
        let c = &self.counters;
        #[allow(unused_mut)]
        let mut stats = LockStats {
            acquisitions: c.acquisitions.load(Ordering::Relaxed),
            contended: c.contended.load(Ordering::Relaxed),
            ..LockStats::default()
        };
        #[cfg(feature = "lock-profiling")]
        {
            stats.wait_ns_total = c.wait_ns_total.load(Ordering::Relaxed);
            stats.wait_ns_max = c.wait_ns_max.load(Ordering::Relaxed);
            stats.hold_ns_total = c.hold_ns_total.load(Ordering::Relaxed);
            stats.hold_ns_max = c.hold_ns_max.load(Ordering::Relaxed);
        }
        stats
    }

    #[cfg(feature = "lock-profiling")]
    fn record_wait(&self, d: Duration) {
        let ns = d.as_nanos().min(u64::MAX as u128) as u64;
        self.counters.wait_ns_total.fetch_add(ns, Ordering::Relaxed);
        self.counters.wait_ns_max.fetch_max(ns, Ordering::Relaxed);
    }

    #[cfg(feature = "lock-profiling")]
    fn record_hold(&self, d: Duration) {
        let ns = d.as_nanos().min(u64::MAX as u128) as u64;
        self.counters.hold_ns_total.fetch_add(ns, Ordering::Relaxed);
        self.counters.hold_ns_max.fetch_max(ns, Ordering::Relaxed);
    }
}

impl<T> Deref for ProfiledGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard present until drop")
    }
}

impl<T> DerefMut for ProfiledGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard present until drop")
    }
}

impl<T> Drop for ProfiledGuard<'_, T> {
    fn drop(&mut self) {
        // The hold ends when the inner guard unlocks: read the clock before that, so that a
        // preemption after the unlock is not counted as holding (holds then never overlap).
        #[cfg(feature = "lock-profiling")]
        let held = self.since.elapsed();
        if let Some(inner) = self.guard.take() {
            drop(inner);
            #[cfg(feature = "lock-profiling")]
            self.lock.record_hold(held);
        }
        let _ = self.lock;
    }
}
