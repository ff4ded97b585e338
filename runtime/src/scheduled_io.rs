//! The readiness cell of one resource ([`ScheduledIo`]): what the driver's events and the
//! timer queue set, and what tasks poll. Its address is the udata of the resource's knotes.
//! Readiness is cached in an atomic with a tick, so the hot read/write path takes no lock: a
//! resource only registers its waker when it would block, and
//! [`ScheduledIo::clear_readiness`] only clears readiness the caller actually saw (the tick must
//! match), so a wake-up that races with a `WouldBlock` is never lost (loom-checked in
//! `loom_readiness.rs`).

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use kq_reactor::{Filter, Flags, Kevent};

use crate::sync;
use crate::unwind::quietly;

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

/// The readiness bits an event reports.
fn readiness_of(ev: &Kevent) -> usize {
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
    bits
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
    /// The waker of the last `poll_*_ready` call for reading (one task at a time, as tokio's
    /// `poll_read_ready`: the poll methods serve `AsyncRead`-style owners).
    reader: Option<Waker>,
    /// The same for writing.
    writer: Option<Waker>,
    /// The waiters of [`Readiness`](crate::io) futures: any number of tasks may await one
    /// resource through its `&self` async methods (two tasks in `recv_from` on one shared
    /// socket, each gets a wake-up). A future keeps its entry until it is dropped; a wake-up
    /// takes the waker and leaves the entry, so a key is never reused under a live future.
    shared: slab::Slab<(Direction, Option<Waker>)>,
    /// Events kept for a stream of kevents.
    events: Option<VecDeque<Kevent>>,
}

impl Waiters {
    /// Takes the wakers of the shared waiters whose direction `bits` concern (no allocation
    /// when there are none).
    fn take_shared(&mut self, bits: usize) -> Vec<Waker> {
        if self.shared.is_empty() {
            return Vec::new();
        }
        self.shared
            .iter_mut()
            .filter(|(_, (dir, _))| bits & dir.mask() != 0)
            .filter_map(|(_, (_, waker))| waker.take())
            .collect()
    }
}

/// Readiness and wakers of one resource.
pub(crate) struct ScheduledIo {
    /// Readiness bits and their tick (from the sync facade: loom-checked, `loom_tests.rs`).
    readiness: sync::AtomicUsize,
    waiters: sync::Mutex<Waiters>,
    /// Where the driver tracks it: `slot * SHARDS + shard`.
    pub(crate) key: AtomicUsize,
}

/// `ScheduledIo::key` of a resource the driver does not track.
pub(crate) const UNTRACKED: usize = usize::MAX;

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

    /// Records events of this resource that came together (the READ and WRITE knotes of one fd,
    /// which one epoll record activates at once: a readable socket is writable too) with one
    /// update of the readiness and one visit to the waiters, and wakes whoever waits for them.
    pub(crate) fn dispatch_run(&self, evs: &[Kevent]) {
        let bits = evs.iter().fold(0, |bits, ev| bits | readiness_of(ev));
        self.set_ready(bits);
        let (reader, writer, shared) = {
            let mut w = sync::lock_facade(&self.waiters);
            if let Some(q) = &mut w.events {
                for ev in evs {
                    queue_event(q, ev);
                }
            }
            let r = if bits & Direction::Read.mask() != 0 { w.reader.take() } else { None };
            let wr = if bits & Direction::Write.mask() != 0 { w.writer.take() } else { None };
            (r, wr, w.take_shared(bits))
        };
        wake_quietly(reader);
        wake_quietly(writer);
        wake_all_quietly(shared);
    }

    /// A deferred registration: ready in the given directions until an operation says
    /// otherwise (tick 0, cleared by the first `WouldBlock`).
    pub(crate) fn assume_ready(&self, read: bool, write: bool) {
        let bits = if read { READABLE } else { 0 } | if write { WRITABLE } else { 0 };
        self.readiness.fetch_or(bits, AcqRel);
    }

    /// Adds `bits` to the readiness and starts a new tick (so that a `clear_readiness` for what
    /// was seen before cannot clear them).
    fn set_ready(&self, bits: usize) {
        let _ = self.readiness.fetch_update(AcqRel, Acquire, |cur| {
            let tick = (cur >> TICK_SHIFT).wrapping_add(1) << TICK_SHIFT;
            Some(tick | (cur & READINESS) | bits)
        });
    }

    /// A timer of the runtime's timer queue expired: records it and wakes the waiter.
    pub(crate) fn fire(&self) {
        self.set_ready(READABLE);
        let (reader, shared) = {
            let mut w = sync::lock_facade(&self.waiters);
            (w.reader.take(), w.take_shared(READABLE))
        };
        wake_quietly(reader);
        wake_all_quietly(shared);
    }

    /// Marks the resource as belonging to a runtime that has shut down, and wakes its waiters.
    pub(crate) fn shutdown(&self) {
        self.readiness.fetch_or(SHUTDOWN, AcqRel);
        let (reader, writer, shared) = {
            let mut w = sync::lock_facade(&self.waiters);
            (w.reader.take(), w.writer.take(), w.take_shared(SHUTDOWN))
        };
        wake_quietly(reader);
        wake_quietly(writer);
        wake_all_quietly(shared);
    }

    /// The resource is being released: its wakers are dropped now, not when the driver next
    /// collects. A waker owns its task, and the task owns the runtime: kept in the driver's
    /// release list, they made a cycle that leaked the whole runtime (its kqueue's fds
    /// included) when it was dropped before another collection.
    pub(crate) fn forget_waiters(&self) {
        let taken = {
            let mut w = sync::lock_facade(&self.waiters);
            (w.reader.take(), w.writer.take(), std::mem::take(&mut w.shared))
        };
        crate::unwind::drop_quietly(taken);
    }

    /// Ready in `dir`, or registers the waker as shared waiter `*key` (inserted on the first
    /// call; the caller removes it with [`remove_waiter`](Self::remove_waiter) when done).
    pub(crate) fn poll_ready_shared(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        key: &mut Option<usize>,
    ) -> Poll<ReadyEvent> {
        budgeted(cx, |cx| {
            self.poll_ready_registering(dir, |w| match key.and_then(|k| w.shared.get_mut(k)) {
                Some((_, Some(old))) if old.will_wake(cx.waker()) => None,
                Some((_, waker)) => waker.replace(cx.waker().clone()),
                None => {
                    *key = Some(w.shared.insert((dir, Some(cx.waker().clone()))));
                    None
                }
            })
        })
    }

    /// Removes shared waiter `key` (its future is dropped or done).
    pub(crate) fn remove_waiter(&self, key: usize) {
        let removed = sync::lock_facade(&self.waiters).shared.try_remove(key);
        crate::unwind::drop_quietly(removed);
    }

    /// Ready in `dir`, or registers the waker and returns Pending.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<ReadyEvent> {
        budgeted(cx, |cx| self.poll_ready_unbudgeted(cx, dir))
    }

    /// [`poll_ready`](Self::poll_ready) without the cooperative budget (for a caller that
    /// spends it itself).
    pub(crate) fn poll_ready_unbudgeted(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<ReadyEvent> {
        self.poll_ready_registering(dir, |w| {
            let slot = match dir {
                Direction::Read => &mut w.reader,
                Direction::Write => &mut w.writer,
            };
            match slot {
                Some(old) if old.will_wake(cx.waker()) => None,
                _ => slot.replace(cx.waker().clone()),
            }
        })
    }

    /// Ready in `dir`, or `register`s a waker (under the waiters' lock; the waker it replaces
    /// is dropped after) and looks again: readiness set before the waker was stored found no
    /// waker to wake.
    fn poll_ready_registering(
        &self,
        dir: Direction,
        register: impl FnOnce(&mut Waiters) -> Option<Waker>,
    ) -> Poll<ReadyEvent> {
        if let Some(ev) = self.ready_now(dir) {
            return Poll::Ready(ev);
        }
        let replaced = register(&mut sync::lock_facade(&self.waiters));
        crate::unwind::drop_quietly(replaced);
        match self.ready_now(dir) {
            Some(ev) => Poll::Ready(ev),
            None => Poll::Pending,
        }
    }

    /// Takes the waker of the last `poll_*_ready` for reading, if any (a timer being moved).
    pub(crate) fn take_reader(&self) -> Option<Waker> {
        sync::lock_facade(&self.waiters).reader.take()
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

/// Runs a readiness poll as one operation of the cooperative budget: spent when it is Ready.
fn budgeted(
    cx: &mut Context<'_>,
    poll: impl FnOnce(&mut Context<'_>) -> Poll<ReadyEvent>,
) -> Poll<ReadyEvent> {
    let coop = std::task::ready!(crate::coop::poll_proceed(cx));
    let ready = poll(cx);
    if ready.is_ready() {
        coop.made_progress();
    }
    ready
}

/// Wakes `waker`, if any, surviving a panic in it (user code, woken by the runtime).
fn wake_quietly(waker: Option<Waker>) {
    if let Some(w) = waker {
        quietly(|| w.wake());
    }
}

/// Wakes each of `wakers`, as [`wake_quietly`].
fn wake_all_quietly(wakers: Vec<Waker>) {
    for w in wakers {
        quietly(|| w.wake());
    }
}
