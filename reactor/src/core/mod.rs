//! The portable core: the knote table keyed by `(ident, filter)`, the ready queue, timers, user
//! events, and FreeBSD's collection scan. All of kqueue's delivery semantics live here; the
//! backend only reports that an OS source may have changed.
//!
//! The core is a plain single-threaded state machine. `wait.rs` keeps it behind the one
//! profiled lock, so every method here runs with that lock held; nothing here blocks, wakes a
//! waker or calls user code.

pub(crate) mod filter;
pub(crate) mod hash;
mod knote;
pub(crate) mod ready;
mod timer;

use std::collections::VecDeque;
use std::time::Instant;

#[cfg(all(any(unix, windows), not(loom)))]
pub(crate) use knote::FdType;
pub(crate) use knote::{Kind, Knote, Status};

use crate::kevent::{Filter, Flags, Kevent};
use filter::Fds;
use timer::TimerHeap;

/// What the core needs from the platform, for knotes whose source is outside the core.
pub(crate) trait Io<S: 'static> {
    /// The identity `(st_dev, st_ino)` of an open fd, or `EBADF`.
    fn identity(&self, fd: usize) -> Result<(u64, u64), i32>;
    /// Sets up a new READ/WRITE knote on an open fd whose file is `identity`: a plain fd, or
    /// another kqueue (nesting). `first`: no other READ/WRITE knote of this kqueue watches the fd.
    fn attach_fd(
        &mut self,
        kev: &Kevent,
        identity: (u64, u64),
        first: bool,
    ) -> Result<Kind<S>, i32>;
    /// For a knote that trusts edges: makes the backend report the fd's current readiness as an
    /// edge (a fresh watch does; otherwise the watch is re-armed). False when it cannot, and the
    /// knote must be evaluated instead (a regular file, which epoll does not watch).
    fn arm_edges(&mut self, kn: &Knote<S>, first: bool) -> bool;
    /// Undoes `attach_fd` (`last`: no other READ/WRITE knote of this kqueue watches the fd).
    fn detach_fd(&mut self, kn: &Knote<S>, last: bool);
    /// For the EV_DELETE of the last READ/WRITE knote on a watched fd: removes the backend's
    /// watch and says whether `fd` still named the watched file (`Some(Ok)`, and the coming
    /// `detach_fd` has nothing left to unwatch) or is closed (`Some(Err(EBADF))`); `None` when
    /// the backend cannot tell, and the identity decides as for any change.
    fn unwatch_checked(&mut self, _fd: usize) -> Option<Result<(), i32>> {
        None
    }
    /// Whether the kqueue a nested READ knote on `fd` watches is no longer the one `fd` names
    /// (it was closed, and the number now names another kqueue or nothing): every kqueue has
    /// the same identity on the emulated backends, so the identity check cannot tell.
    fn nested_stale(&self, _fd: usize) -> bool {
        false
    }
    /// Sets up a VNODE, PROC or SIGNAL knote (`EOPNOTSUPP` where the platform has no such source).
    fn attach_os(&mut self, kev: &Kevent) -> Result<Kind<S>, i32>;
    /// Undoes `attach_os`.
    fn detach_os(&mut self, kn: &Knote<S>);
    /// Evaluates a READ/WRITE or OS knote against its source, updating `data`, `fflags` and
    /// `eof`; true when the condition holds. `Err` means the source is gone (fd closed).
    fn evaluate(&mut self, kn: &mut Knote<S>) -> Result<bool, ()>;
    /// An edge (CLEAR) knote that the platform cannot deliver exactly once per change: it stays
    /// queued after delivery and is re-evaluated at each collection (Windows sockets).
    fn requeue_after_delivery(&self, _kn: &Knote<S>) -> bool {
        false
    }
}

/// The state behind the lock. `S` is the per-knote state of the platform's VNODE, PROC and
/// SIGNAL sources: the core keeps it and never looks inside.
pub(crate) struct Core<S: 'static> {
    knotes: slab::Slab<Knote<S>>,
    table: hash::IntMap<(usize, Filter), usize>,
    /// Identity (`st_dev`, `st_ino`) of each fd that has READ, WRITE or VNODE knotes.
    fds: Fds,
    /// The ready queue: (slab key, knote generation). Entries of deleted knotes are skipped.
    queue: VecDeque<(usize, u64)>,
    /// Live entries on the queue (FreeBSD's `kq_count`).
    queued: usize,
    timers: TimerHeap,
    next_gen: u64,
    /// Set whenever a knote is enqueued; the caller clears it after waking waiters.
    pub enqueued: bool,
}

impl<S: 'static> Default for Core<S> {
    fn default() -> Self {
        Core {
            knotes: slab::Slab::new(),
            table: hash::IntMap::default(),
            fds: Fds::default(),
            queue: VecDeque::new(),
            queued: 0,
            timers: TimerHeap::default(),
            next_gen: 0,
            enqueued: false,
        }
    }
}

impl<S: 'static> Core<S> {
    /// Number of events on the ready queue.
    pub fn pending(&self) -> usize {
        self.queued
    }

    /// The earliest timer deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Number of registered knotes.
    pub fn len(&self) -> usize {
        self.knotes.len()
    }

    /// Keys of the knotes on fd `fd` (READ, WRITE and VNODE).
    pub fn fd_knotes(&self, fd: usize) -> impl Iterator<Item = usize> + '_ {
        self.fd_keys(fd).into_iter().flatten()
    }

    /// Keys of the knotes on fd `fd`, one slot per fd filter (no allocation, no borrow kept).
    pub fn fd_keys(&self, fd: usize) -> [Option<usize>; filter::FD_FILTERS.len()] {
        filter::FD_FILTERS.map(|f| self.table.get(&(fd, f)).copied())
    }

    fn has(&self, ident: usize, filter: Filter) -> bool {
        self.table.contains_key(&(ident, filter))
    }

    /// A backend source changed the pending output of `(ident, filter)` through `f`; the knote
    /// becomes active when it has something to report, and is queued unless disabled.
    #[cfg_attr(any(loom, not(any(kq_native, target_os = "linux"))), allow(dead_code))]
    pub fn os_update(&mut self, ident: usize, filter: Filter, f: impl FnOnce(&mut Knote<S>)) {
        let Some(key) = self.key_of(ident, filter) else { return };
        let kn = &mut self.knotes[key];
        f(kn);
        if kn.fflags != 0 || kn.data != 0 {
            kn.status.insert(Status::ACTIVE);
        }
        self.enqueue_if_wanted(key);
    }

    /// True when the knote `(ident, filter)` exists and is not disabled.
    #[cfg_attr(loom, allow(dead_code))]
    pub fn is_enabled(&self, ident: usize, filter: Filter) -> bool {
        self.key_of(ident, filter)
            .is_some_and(|key| !self.knotes[key].status.contains(Status::DISABLED))
    }

    /// The key of the knote `(ident, filter)`.
    pub fn key_of(&self, ident: usize, filter: Filter) -> Option<usize> {
        self.table.get(&(ident, filter)).copied()
    }

    /// Applies one change (kqueue_register). `Err` is the errno to report.
    pub fn apply(&mut self, kev: &Kevent, io: &mut dyn Io<S>, now: Instant) -> Result<(), i32> {
        if kev.flags.contains(Flags::ENABLE | Flags::DISABLE) {
            return Err(libc::EINVAL);
        }
        let ops = filter::ops(kev.filter).ok_or(libc::EINVAL)?;
        if kev.flags.contains(Flags::DELETE) && !kev.flags.contains(Flags::ADD) {
            if let Some(result) = self.delete_by_unwatch(kev, io) {
                return result;
            }
        }
        let identity = if ops.is_fd() {
            let identity = io.identity(kev.ident)?;
            self.purge_reused_fd(kev.ident, identity, io);
            Some(identity)
        } else {
            None
        };
        let key = match self.table.get(&(kev.ident, kev.filter)) {
            Some(&key) => key,
            // EV_ADD|EV_DELETE on a missing knote takes the create path and the knote stays,
            // as in FreeBSD's kqueue_register (the delete only applies to an existing knote).
            None if kev.flags.contains(Flags::ADD) => {
                return self.create(ops, kev, identity, io, now)
            }
            None => return Err(libc::ENOENT),
        };
        if kev.flags.contains(Flags::DELETE) {
            self.drop_knote(key, io);
            return Ok(());
        }
        self.modify(key, kev, now);
        let kn = &mut self.knotes[key];
        if kev.flags.contains(Flags::ENABLE) {
            kn.status.remove(Status::DISABLED);
        } else if kev.flags.contains(Flags::DISABLE) {
            kn.status.insert(Status::DISABLED);
        }
        self.evaluate_and_queue(key, io);
        Ok(())
    }

    /// EV_DELETE of the last READ/WRITE knote on a watched fd: the backend's watch belongs to
    /// the file it was made for, so removing it tells whether the fd still names that file,
    /// without the `fstat` of the identity check (`None`: that check decides).
    fn delete_by_unwatch(&mut self, kev: &Kevent, io: &mut dyn Io<S>) -> Option<Result<(), i32>> {
        let other = match kev.filter {
            Filter::Read => Filter::Write,
            Filter::Write => Filter::Read,
            _ => return None,
        };
        let key = self.key_of(kev.ident, kev.filter)?;
        // Regular files have no watch; nested kqueues keep a link that detaching undoes.
        if !matches!(self.knotes[key].kind, Kind::Fd { ty, .. } if ty != knote::FdType::File) {
            return None;
        }
        if self.has(kev.ident, other) {
            return None;
        }
        match io.unwatch_checked(kev.ident)? {
            Ok(()) => {
                self.drop_knote(key, io);
                Some(Ok(()))
            }
            Err(errno) => Some(Err(errno)),
        }
    }

    /// An fd number whose file changed since its knotes were made was closed and reused: its old
    /// knotes are dropped, so that no event about the closed file reaches the new one.
    fn purge_reused_fd(&mut self, fd: usize, identity: (u64, u64), io: &mut dyn Io<S>) {
        let nested = |core: &Self| {
            core.table
                .get(&(fd, Filter::Read))
                .is_some_and(|&k| matches!(core.knotes[k].kind, Kind::Nested))
        };
        if self.fds.get(&fd).is_some_and(|&known| known != identity)
            || (nested(self) && io.nested_stale(fd))
        {
            let keys: Vec<usize> = self.fd_knotes(fd).collect();
            for key in keys {
                self.drop_knote(key, io);
            }
        }
    }

    fn create(
        &mut self,
        ops: &'static dyn filter::FilterOps<S>,
        kev: &Kevent,
        identity: Option<(u64, u64)>,
        io: &mut dyn Io<S>,
        now: Instant,
    ) -> Result<(), i32> {
        let attached = ops.attach(self, kev, identity, io, now)?;
        self.next_gen += 1;
        let gen = self.next_gen;
        let key = self.knotes.insert(Knote {
            ident: kev.ident,
            filter: kev.filter,
            ops,
            flags: (kev.flags & Flags::STORED) | attached.flags,
            sfflags: attached.sfflags,
            sdata: kev.data,
            udata: kev.udata,
            fflags: 0,
            data: 0,
            eof: false,
            status: Status::empty(),
            gen,
            kind: attached.kind,
        });
        self.table.insert((kev.ident, kev.filter), key);
        ops.inserted(self, key);
        if kev.flags.contains(Flags::DISABLE) {
            self.knotes[key].status.insert(Status::DISABLED);
        } else {
            ops.start(self, key, attached.first, io);
        }
        Ok(())
    }

    /// The modify half of EV_ADD (and of a change without ADD on an existing knote): the filter's
    /// touch, then udata is overwritten.
    fn modify(&mut self, key: usize, kev: &Kevent, now: Instant) {
        let ops = self.knotes[key].ops;
        ops.touch(self, key, kev, now);
        self.knotes[key].udata = kev.udata;
    }

    /// Evaluates the filter (unless disabled) and queues the knote if it became active.
    fn evaluate_and_queue(&mut self, key: usize, io: &mut dyn Io<S>) {
        // A disabled knote is neither evaluated nor queued (EV_ENABLE evaluates it).
        if !self.knotes[key].status.contains(Status::DISABLED) {
            self.evaluate_and_observe(key, io);
        }
    }

    fn enqueue_if_wanted(&mut self, key: usize) {
        let kn = &mut self.knotes[key];
        if kn.wants_queue() {
            kn.status.insert(Status::QUEUED);
            self.queue.push_back((key, kn.gen));
            self.queued += 1;
            self.enqueued = true;
        }
    }

    /// Deletes the knotes `(fd, filter)` of `filters` without asking the platform about `fd`
    /// (what closing an fd does on FreeBSD: `knote_fdclose`). Returns how many existed.
    pub fn delete_fd_knotes(&mut self, fd: usize, filters: &[Filter], io: &mut dyn Io<S>) -> usize {
        let mut n = 0;
        for &filter in filters {
            if let Some(key) = self.key_of(fd, filter) {
                self.drop_knote(key, io);
                n += 1;
            }
        }
        n
    }

    /// Removes a knote, discarding its queued event.
    pub fn drop_knote(&mut self, key: usize, io: &mut dyn Io<S>) {
        let kn = self.knotes.remove(key);
        self.table.remove(&(kn.ident, kn.filter));
        if kn.status.contains(Status::QUEUED) {
            self.queued -= 1;
        }
        if kn.ops.is_fd() && self.fd_knotes(kn.ident).next().is_none() {
            self.fds.remove(&kn.ident);
        }
        kn.ops.detach(self, &kn, io);
    }

    /// The backend saw activity on a source: re-evaluate the knotes it names and queue the active.
    pub fn activate(&mut self, key: usize, io: &mut dyn Io<S>) {
        if self.knotes.contains(key) {
            self.evaluate_and_observe(key, io);
        }
    }

    /// Like `evaluate_and_queue`, but a disabled knote is observed too (its ACTIVE bit is kept
    /// for EV_ENABLE), as FreeBSD's filters keep running while a knote is disabled.
    fn evaluate_and_observe(&mut self, key: usize, io: &mut dyn Io<S>) {
        let kn = &mut self.knotes[key];
        match kn.ops.event(kn, &self.fds, io) {
            Ok(true) => kn.status.insert(Status::ACTIVE),
            Ok(false) => {}
            Err(()) => return self.drop_knote(key, io),
        }
        self.enqueue_if_wanted(key);
    }

    /// The collection scan (kqueue_scan): fills `out` from the ready queue. Each knote queued when
    /// the scan starts is looked at once; level knotes that still hold go back to the tail and are
    /// not looked at again in this call.
    pub fn scan(&mut self, out: &mut [Kevent], io: &mut dyn Io<S>) -> usize {
        let mut n = 0;
        let mut budget = self.queue.len();
        while n < out.len() && budget > 0 {
            budget -= 1;
            let Some((key, gen)) = self.queue.pop_front() else { break };
            let Some(kn) = self.knotes.get_mut(key) else { continue };
            if kn.gen != gen || !kn.status.contains(Status::QUEUED) {
                continue;
            }
            if kn.status.contains(Status::DISABLED) {
                kn.status.remove(Status::QUEUED);
                self.queued -= 1;
                continue;
            }
            if kn.flags.contains(Flags::ONESHOT) {
                if !kn.ops.trusts_edges(kn) && filter::file_gone(kn, &self.fds, io) {
                    kn.status.remove(Status::QUEUED);
                    self.queued -= 1;
                    self.drop_knote(key, io);
                    continue;
                }
                out[n] = kn.to_event();
                n += 1;
                kn.status.remove(Status::QUEUED);
                self.queued -= 1;
                self.drop_knote(key, io);
                continue;
            }
            let ops = kn.ops;
            let holds = if ops.trusts_edges(kn) { Ok(true) } else { ops.event(kn, &self.fds, io) };
            match holds {
                Ok(true) => {}
                Ok(false) => {
                    kn.status.remove(Status::QUEUED | Status::ACTIVE);
                    self.queued -= 1;
                    continue;
                }
                Err(()) => {
                    self.drop_knote(key, io);
                    continue;
                }
            }
            out[n] = kn.to_event();
            ops.deliver(kn, &mut out[n]);
            n += 1;
            if kn.flags.intersects(Flags::CLEAR | Flags::DISPATCH) {
                if kn.flags.contains(Flags::CLEAR) {
                    ops.clear(kn);
                }
                if kn.flags.contains(Flags::DISPATCH) {
                    kn.status.insert(Status::DISABLED);
                }
                if io.requeue_after_delivery(kn) {
                    self.queue.push_back((key, gen));
                    continue;
                }
                kn.status.remove(Status::QUEUED | Status::ACTIVE);
                self.queued -= 1;
            } else {
                self.queue.push_back((key, gen));
            }
        }
        n
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
