//! The I/O and timer driver: the runtime's [`Kqueue`], and what its events wake.
//!
//! Every resource (an fd registration, a timer, a stream of kevents) owns an `Arc<ScheduledIo>`
//! (`scheduled_io.rs`: readiness with a tick, and the wakers) whose address is the udata of its
//! knotes.
//!
//! Knotes are deleted before their `ScheduledIo` could be freed, but an event collected just
//! before the delete may still be in the driver's hands: a dropped resource therefore parks its
//! `Arc` on a release list, emptied by the driver before its next collection.
//!
//! A resource that a waiter outside the runtime's own workers waits on (a `block_on` on another
//! thread, a blocking thread, a foreign executor, another runtime's task) is also tracked (a
//! sharded slab), so that shutting the runtime down can wake that waiter: the `SHUTDOWN` bit then
//! makes I/O fail and timers panic with a clear message, as tokio's do, instead of waiting
//! forever for a driver that is gone. The runtime's own tasks need no tracking (shutdown cancels
//! them), which keeps the registry off their hot path. Nothing can be tracked, and no resource
//! created, once the driver is shut down.
//!
//! The driver owns the runtime's timer queue (`time::queue`): it fires the expired timers around
//! each collection and waits in the reactor at most until the earliest deadline, so timers cost
//! no knote and no kevent call each. It also makes every kevent call of the runtime
//! ([`register`](Driver::register), [`deregister`](Driver::deregister), `unpark`, `drive`).
//!
//! The runtime's own knotes (the wake-up USER knote) use idents in [`RESERVED_IDENTS`], which
//! `EventSource` refuses: a user's knote can never replace or delete one of them.

use std::collections::HashSet;
use std::io;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex};

use crate::sync::lock;
use crate::unwind::drop_quietly;
use std::time::Duration;

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue, LockStats};

use crate::scheduled_io::{shutdown_error, ScheduledIo, UNTRACKED};
use crate::time::queue::TimerQueue;

/// Idents the runtime keeps for its own knotes (any filter): the upper half of the ident space.
/// [`EventSource::new`](crate::io::EventSource::new) refuses them with `InvalidInput`. No fd,
/// pid or signal number is that large, so the reservation takes nothing from a real source.
pub const RESERVED_IDENTS: RangeInclusive<usize> = (1 << (usize::BITS - 1))..=usize::MAX;

/// The driver's wake-up USER knote.
const WAKE_IDENT: usize = usize::MAX;

/// Events one `drive` collects at most, as tokio's I/O driver (1024): a runtime serving more
/// busy resources than this needs a second collection per round (the rest wait in the
/// reactor's ready queue meanwhile). Raised from 256; tcp_echo at 500 connections did not move
/// measurably (1.12x tokio's time at one thread either way).
const EVENTS_PER_DRIVE: usize = 1024;

/// Shards of the live-resource table (spreads the lock of concurrent registrations).
const SHARDS: usize = 16;

/// The runtime's reactor.
pub(crate) struct Driver {
    kq: Kqueue,
    /// The runtime's timers (see `time::queue`).
    pub(crate) timers: TimerQueue,
    release: Mutex<Vec<Arc<ScheduledIo>>>,
    /// Live resources, so that shutdown can wake their waiters.
    live: Vec<Mutex<slab::Slab<Arc<ScheduledIo>>>>,
    /// Set (under every `live` shard in turn) by [`shutdown`](Self::shutdown).
    is_shutdown: AtomicBool,
    /// Events dispatched so far.
    pub(crate) events: AtomicU64,
    buf: Mutex<Vec<Kevent>>,
    /// The fds registered through [`Registration`](crate::io::Registration), sharded by fd.
    fds: Vec<Mutex<HashSet<usize>>>,
}

impl Driver {
    pub(crate) fn new() -> io::Result<Driver> {
        let kq = Kqueue::new()?;
        let wake = Kevent::new(WAKE_IDENT, Filter::User, Flags::ADD | Flags::CLEAR);
        kq.kevent(&[wake], &mut [], None)?;
        Ok(Driver {
            kq,
            timers: TimerQueue::new(),
            release: Mutex::new(Vec::new()),
            live: (0..SHARDS).map(|_| Mutex::new(slab::Slab::new())).collect(),
            is_shutdown: AtomicBool::new(false),
            events: AtomicU64::new(0),
            buf: Mutex::new(vec![Kevent::default(); EVENTS_PER_DRIVE]),
            fds: (0..SHARDS).map(|_| Mutex::new(HashSet::new())).collect(),
        })
    }

    /// Fails once the driver is shut down (for resources being created).
    pub(crate) fn check_open(&self) -> io::Result<()> {
        if self.is_shutdown.load(Acquire) {
            return Err(shutdown_error());
        }
        Ok(())
    }

    /// Claims `fd` for one [`Registration`](crate::io::Registration). A second registration of
    /// an fd would otherwise replace the first one's knotes (same ident and filter: a kqueue
    /// modifies the knote), and the first one's waiters would never be woken again: it fails with
    /// `AlreadyExists` instead, as epoll's `EEXIST` makes tokio's do. (A `dup` of the fd is
    /// another fd, and may be registered.)
    pub(crate) fn claim_fd(&self, fd: usize) -> io::Result<()> {
        if lock(&self.fds[fd % SHARDS]).insert(fd) {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("fd {fd} is already registered with this runtime (EEXIST)"),
        ))
    }

    /// Gives back an fd claimed by [`claim_fd`](Self::claim_fd) (its knotes are deleted).
    pub(crate) fn unclaim_fd(&self, fd: usize) {
        lock(&self.fds[fd % SHARDS]).remove(&fd);
    }

    /// Tracks `io` (if not yet), so that shutdown wakes its waiters; the error once the driver is
    /// shut down. Called when a waiter outside the runtime's workers is about to wait on it.
    pub(crate) fn track(&self, io: &Arc<ScheduledIo>) -> io::Result<()> {
        if io.key.load(Relaxed) != UNTRACKED {
            return Ok(()); // set under the shard lock by this or an earlier call
        }
        let shard = (Arc::as_ptr(io) as usize >> 6) % SHARDS;
        let mut live = lock(&self.live[shard]);
        if self.is_shutdown.load(Acquire) {
            return Err(shutdown_error());
        }
        if io.key.load(Relaxed) == UNTRACKED {
            let slot = live.insert(io.clone());
            io.key.store(slot * SHARDS + shard, Relaxed);
        }
        Ok(())
    }

    /// Stops tracking `io` (its knotes are deleted) and keeps it alive until the driver's next
    /// collection.
    pub(crate) fn release(&self, io: Arc<ScheduledIo>) {
        let key = io.key.swap(UNTRACKED, Relaxed);
        let removed = match key {
            UNTRACKED => None,
            key => lock(&self.live[key % SHARDS]).try_remove(key / SHARDS),
        };
        // After shutdown the table was emptied (and may hold nothing else): `removed` is None.
        debug_assert!(removed.as_ref().is_none_or(|r| Arc::ptr_eq(r, &io)));
        io.forget_waiters();
        lock(&self.release).push(io);
        drop(removed);
    }

    /// The runtime's driver is gone: every tracked resource is marked and its waiters woken,
    /// and no resource can be created any more.
    pub(crate) fn shutdown(&self) {
        self.is_shutdown.store(true, Release);
        self.timers.shutdown();
        for shard in &self.live {
            let ios: Vec<_> = lock(shard).drain().collect();
            for io in ios {
                io.shutdown();
                drop_quietly(io);
            }
        }
    }

    /// Wakes the thread blocked in [`drive`](Self::drive) (an EVFILT_USER trigger).
    pub(crate) fn unpark(&self) {
        let trigger =
            Kevent::new(WAKE_IDENT, Filter::User, Flags::empty()).with_fflags(note::TRIGGER);
        // Failing to trigger means the kqueue is unusable; the waiter's timeout is the fallback.
        let _ = self.kq.kevent(&[trigger], &mut [], None);
    }

    /// Collects events (waiting at most `timeout`) and wakes their resources. Only one thread
    /// drives at a time (the scheduler's driver role). Returns the number of events.
    ///
    /// Wakers and the destructors of released resources (and of their wakers) are user code: a
    /// panic there is caught, so that the other events are still dispatched and the caller's
    /// role (holding the driver) ends normally.
    pub(crate) fn drive(&self, timeout: Option<Duration>) -> usize {
        let released = std::mem::take(&mut *lock(&self.release));
        for io in released {
            drop_quietly(io);
        }
        let wait = self.timers.before_wait(timeout);
        let mut buf = lock(&self.buf);
        let n = match self.kq.kevent(&[], &mut buf, wait) {
            Ok(n) => n,
            Err(_) => {
                self.timers.after_wait();
                return 0;
            }
        };
        // Consecutive events of one resource (its READ and WRITE knotes, activated by one
        // epoll record) are dispatched together.
        for run in buf[..n].chunk_by(|a, b| a.udata == b.udata) {
            let udata = run[0].udata;
            if udata == 0 {
                continue;
            }
            // SAFETY: a nonzero udata is the address of a ScheduledIo kept alive by its resource
            // or by the release list, which is only emptied above, before this collection.
            let io = unsafe { &*(udata as usize as *const ScheduledIo) };
            io.dispatch_run(run);
        }
        drop(buf);
        self.events.fetch_add(n as u64, Relaxed);
        n + self.timers.after_wait()
    }

    /// The reactor's lock statistics.
    pub(crate) fn lock_stats(&self) -> LockStats {
        self.kq.lock_stats()
    }

    /// Deletes knotes (EV_DELETE changes) of a resource being dropped. Changes only: no event
    /// buffer, since a collecting call would wait for, and swallow, other resources' events.
    /// Errors (the fd already closed, the knotes gone) leave nothing to undo.
    pub(crate) fn deregister(&self, changes: &[Kevent]) {
        let _ = self.kq.kevent(changes, &mut [], None);
    }

    /// Deletes the READ/WRITE knotes of a registration being dropped: the registration claimed
    /// the fd (so the knotes on it are its own), and removes them without the `fstat` that
    /// EV_DELETE pays to tell a closed or reused fd (one system call per registration).
    pub(crate) fn delete_fd_knotes(&self, fd: usize, filters: &[Filter]) {
        // Only fd filters are passed, and only a forked child's copy of the kqueue refuses:
        // there is nothing to delete then.
        let _ = self.kq.delete_fd_knotes(fd, filters);
    }

    /// Re-adds knotes (Windows: re-arms `NOTE_NODATA` knotes after a `WouldBlock`). Changes
    /// only, as [`deregister`](Self::deregister); a failure (the socket already closed) leaves
    /// nothing to arm.
    #[cfg(windows)]
    pub(crate) fn rearm(&self, changes: &[Kevent]) {
        let _ = self.kq.kevent(changes, &mut [], None);
    }

    /// Registers knotes, all of them in one call of the reactor when they fit (one lock
    /// acquisition, one platform context for consecutive changes on one fd), reporting the
    /// first failed change as an error.
    pub(crate) fn register(&self, changes: &[Kevent]) -> io::Result<()> {
        let mut out = [Kevent::default(); 4];
        for chunk in changes.chunks(4) {
            let mut with_receipt = [Kevent::default(); 4];
            for (r, c) in with_receipt.iter_mut().zip(chunk) {
                *r = Kevent { flags: c.flags | Flags::RECEIPT, ..*c };
            }
            let n = chunk.len();
            let got = self.kq.kevent(&with_receipt[..n], &mut out[..n], None)?;
            if let Some(err) = out[..got].iter().find_map(Kevent::error) {
                return Err(err);
            }
        }
        Ok(())
    }
}
