//! The I/O and timer driver: the runtime's [`Kqueue`], and what its events wake.
//!
//! Every resource (an fd registration, a timer, a stream of kevents) owns an `Arc<ScheduledIo>`
//! whose address is the udata of its knotes. Readiness is cached in an atomic with a tick, so the
//! hot read/write path takes no lock: a resource only registers its waker when it would block,
//! and [`ScheduledIo::clear_readiness`] only clears readiness the caller actually saw (the tick
//! must match), so a wake-up that races with a `WouldBlock` is never lost.
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

use std::collections::VecDeque;
use std::io;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};

use crate::sync::{self, lock};
use crate::unwind::{drop_quietly, quietly};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue, LockStats};

use crate::time::queue::TimerQueue;

/// Ready for reading (or: the timer fired, the source has events).
pub(crate) const READABLE: usize = 1;
/// Ready for writing.
pub(crate) const WRITABLE: usize = 2;
/// The read side hung up.
pub(crate) const READ_CLOSED: usize = 4;
/// The write side hung up.
pub(crate) const WRITE_CLOSED: usize = 8;
/// The socket has an error pending.
pub(crate) const ERROR: usize = 16;
/// The runtime has shut down: nothing will ever be collected for this resource again.
pub(crate) const SHUTDOWN: usize = 32;
const READINESS: usize = 0xffff;
const TICK_SHIFT: u32 = 16;

/// Idents the runtime keeps for its own knotes (any filter): the upper half of the ident space.
/// [`EventSource::new`](crate::io::EventSource::new) refuses them with `InvalidInput`. No fd,
/// pid or signal number is that large, so the reservation takes nothing from a real source.
pub const RESERVED_IDENTS: RangeInclusive<usize> = (1 << (usize::BITS - 1))..=usize::MAX;

/// The driver's wake-up USER knote.
const WAKE_IDENT: usize = usize::MAX;

/// Shards of the live-resource table (spreads the lock of concurrent registrations).
const SHARDS: usize = 16;

/// A direction of interest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR | SHUTDOWN,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR | SHUTDOWN,
        }
    }
}

/// The error of I/O on a runtime that has shut down (tokio's is `Other` too).
pub(crate) fn shutdown_error() -> io::Error {
    io::Error::other(
        "the kq runtime of this resource has shut down: its I/O driver no longer runs (the \
         runtime was dropped or shut down)",
    )
}

/// Readiness seen by a poll, to be handed back to `clear_readiness`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyEvent {
    pub(crate) tick: usize,
    pub(crate) ready: usize,
}

impl ReadyEvent {
    /// Readable (or closed for reading, or in error).
    pub fn is_readable(&self) -> bool {
        self.ready & (READABLE | READ_CLOSED | ERROR) != 0
    }
    /// Writable (or closed for writing, or in error).
    pub fn is_writable(&self) -> bool {
        self.ready & (WRITABLE | WRITE_CLOSED | ERROR) != 0
    }
    /// The peer hung up the read side.
    pub fn is_read_closed(&self) -> bool {
        self.ready & READ_CLOSED != 0
    }
    /// The write side is closed.
    pub fn is_write_closed(&self) -> bool {
        self.ready & WRITE_CLOSED != 0
    }
    /// An error is pending on the source.
    pub fn is_error(&self) -> bool {
        self.ready & ERROR != 0
    }

    /// The runtime has shut down (operations then fail with an error).
    pub(crate) fn is_shutdown(&self) -> bool {
        self.ready & SHUTDOWN != 0
    }
}

#[derive(Default)]
struct Waiters {
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// Events kept for a stream of kevents.
    events: Option<VecDeque<Kevent>>,
}

/// Readiness and wakers of one resource.
pub(crate) struct ScheduledIo {
    /// Readiness bits and their tick (from the sync facade: loom-checked, `loom_tests.rs`).
    readiness: sync::AtomicUsize,
    waiters: sync::Mutex<Waiters>,
    /// Where the driver tracks it: `slot * SHARDS + shard`.
    key: AtomicUsize,
}

/// `ScheduledIo::key` of a resource the driver does not track.
const UNTRACKED: usize = usize::MAX;

impl Default for ScheduledIo {
    fn default() -> ScheduledIo {
        ScheduledIo {
            readiness: sync::AtomicUsize::new(0),
            waiters: sync::Mutex::new(Waiters::default()),
            key: AtomicUsize::new(UNTRACKED),
        }
    }
}

impl ScheduledIo {
    /// A resource that keeps the kevents it receives (a stream of kevents).
    pub(crate) fn for_stream() -> ScheduledIo {
        let io = ScheduledIo::default();
        sync::lock_facade(&io.waiters).events = Some(VecDeque::new());
        io
    }

    pub(crate) fn udata(self: &Arc<Self>) -> u64 {
        Arc::as_ptr(self) as usize as u64
    }

    /// Records an event and wakes whoever waits for it.
    fn dispatch(&self, ev: &Kevent) {
        let mut bits = match ev.filter {
            Filter::Write => WRITABLE,
            _ => READABLE,
        };
        if ev.flags.contains(Flags::EOF) {
            bits |= if ev.filter == Filter::Write { WRITE_CLOSED } else { READ_CLOSED };
            if ev.fflags != 0 && matches!(ev.filter, Filter::Read | Filter::Write) {
                bits |= ERROR;
            }
        }
        let _ = self.readiness.fetch_update(AcqRel, Acquire, |cur| {
            let tick = (cur >> TICK_SHIFT).wrapping_add(1) << TICK_SHIFT;
            Some(tick | (cur & READINESS) | bits)
        });
        let (reader, writer) = {
            let mut w = sync::lock_facade(&self.waiters);
            if let Some(q) = &mut w.events {
                queue_event(q, ev);
            }
            let r = if bits & Direction::Read.mask() != 0 { w.reader.take() } else { None };
            let wr = if bits & Direction::Write.mask() != 0 { w.writer.take() } else { None };
            (r, wr)
        };
        wake_quietly(reader);
        wake_quietly(writer);
    }

    /// A timer of the runtime's timer queue expired: records it and wakes the waiter.
    pub(crate) fn fire(&self) {
        let _ = self.readiness.fetch_update(AcqRel, Acquire, |cur| {
            let tick = (cur >> TICK_SHIFT).wrapping_add(1) << TICK_SHIFT;
            Some(tick | (cur & READINESS) | READABLE)
        });
        let reader = sync::lock_facade(&self.waiters).reader.take();
        wake_quietly(reader);
    }

    /// Marks the resource as belonging to a runtime that has shut down, and wakes its waiters.
    pub(crate) fn shutdown(&self) {
        self.readiness.fetch_or(SHUTDOWN, AcqRel);
        let (reader, writer) = {
            let mut w = sync::lock_facade(&self.waiters);
            (w.reader.take(), w.writer.take())
        };
        wake_quietly(reader);
        wake_quietly(writer);
    }

    /// Ready in `dir`, or registers the waker and returns Pending.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<ReadyEvent> {
        std::task::ready!(crate::coop::poll_proceed(cx));
        let cur = self.readiness.load(Acquire);
        if cur & dir.mask() != 0 {
            return Poll::Ready(ReadyEvent { tick: cur >> TICK_SHIFT, ready: cur & dir.mask() });
        }
        let mut w = sync::lock_facade(&self.waiters);
        let slot = match dir {
            Direction::Read => &mut w.reader,
            Direction::Write => &mut w.writer,
        };
        match slot {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        let cur = self.readiness.load(Acquire);
        if cur & dir.mask() != 0 {
            return Poll::Ready(ReadyEvent { tick: cur >> TICK_SHIFT, ready: cur & dir.mask() });
        }
        Poll::Pending
    }

    /// Readiness in `dir` now, without registering a waker.
    pub(crate) fn ready_now(&self, dir: Direction) -> Option<ReadyEvent> {
        let cur = self.readiness.load(Acquire);
        (cur & dir.mask() != 0)
            .then(|| ReadyEvent { tick: cur >> TICK_SHIFT, ready: cur & dir.mask() })
    }

    /// Forgets readiness seen in `ev`, unless newer readiness arrived since (tick changed).
    /// Hang-up and error are never cleared.
    pub(crate) fn clear_readiness(&self, ev: ReadyEvent) {
        let clear = ev.ready & (READABLE | WRITABLE);
        let _ = self.readiness.fetch_update(AcqRel, Acquire, |cur| {
            ((cur >> TICK_SHIFT) == ev.tick).then_some(cur & !clear)
        });
    }

    /// The next kevent of a stream, or registers the waker; `None` once the stream is drained
    /// and the runtime has shut down.
    pub(crate) fn poll_event(&self, cx: &mut Context<'_>) -> Poll<Option<Kevent>> {
        let mut w = sync::lock_facade(&self.waiters);
        if let Some(ev) = w.events.as_mut().and_then(VecDeque::pop_front) {
            return Poll::Ready(Some(ev));
        }
        if self.is_set(SHUTDOWN) {
            return Poll::Ready(None);
        }
        w.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Readiness bits now (for tests and timers).
    pub(crate) fn is_set(&self, bits: usize) -> bool {
        self.readiness.load(Acquire) & bits != 0
    }
}

/// Events an [`EventSource`](crate::io::EventSource) keeps unread before merging new ones into
/// the last (so a stream nobody reads, e.g. a fast periodic timer, holds bounded memory).
const MAX_QUEUED: usize = 1024;

/// Queues `ev` for a stream. Past [`MAX_QUEUED`] events it is merged into the last one as
/// kqueue merges undelivered activations of a knote: flags and fflags OR'ed, `data` added for
/// the counting filters (TIMER expirations, SIGNAL deliveries), the newest otherwise. A final
/// event (ONESHOT, EOF) is never merged over.
fn queue_event(q: &mut VecDeque<Kevent>, ev: &Kevent) {
    if q.len() >= MAX_QUEUED {
        if let Some(back) = q.back_mut() {
            if !back.flags.intersects(Flags::ONESHOT | Flags::EOF) {
                back.flags |= ev.flags;
                back.fflags |= ev.fflags;
                back.data = match ev.filter {
                    Filter::Timer | Filter::Signal => back.data.saturating_add(ev.data),
                    _ => ev.data,
                };
                return;
            }
        }
    }
    q.push_back(*ev);
}

/// Wakes `waker`, if any, surviving a panic in it (user code, woken by the runtime).
fn wake_quietly(waker: Option<Waker>) {
    if let Some(w) = waker {
        quietly(|| w.wake());
    }
}

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
            buf: Mutex::new(vec![Kevent::default(); 256]),
        })
    }

    /// Fails once the driver is shut down (for resources being created).
    pub(crate) fn check_open(&self) -> io::Result<()> {
        if self.is_shutdown.load(Acquire) {
            return Err(shutdown_error());
        }
        Ok(())
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
        for ev in &buf[..n] {
            if ev.udata == 0 {
                continue;
            }
            // SAFETY: a nonzero udata is the address of a ScheduledIo kept alive by its resource
            // or by the release list, which is only emptied above, before this collection.
            let io = unsafe { &*(ev.udata as usize as *const ScheduledIo) };
            io.dispatch(ev);
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

impl crate::scheduler::idle::Park for Driver {
    fn drive(&self, timeout: Option<Duration>) {
        Driver::drive(self, timeout);
    }

    fn unpark(&self) {
        Driver::unpark(self);
    }
}
