//! The protocol by which many threads share one [`Kqueue`](crate::Kqueue), and the state they
//! share.
//!
//! # The wait protocol
//!
//! One profiled lock guards the core (knote table, ready queue, timers) and two words of
//! protocol state: `polling` (a thread is blocked in the backend) and `waiters` (threads blocked
//! on the condition variable). A thread that finds nothing to collect becomes the poller if there
//! is none, otherwise it waits on the condition variable. Whoever leaves the core with events
//! still queued wakes the others: the poller through the backend's waker, the waiters through the
//! condition variable. The poller, when it returns, hands its role over by notifying the waiters.
//! No waker or user code runs under the lock.

use std::io;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::kevent::{Filter, Flags, Kevent};
use crate::sync::{lock_std as lock, Condvar, ProfiledGuard, ProfiledMutex};
#[cfg_attr(windows, allow(unused_imports))]
use crate::sys::Backend as _;
#[cfg(all(unix, not(loom)))]
use crate::sys::FdBackend as _;
use crate::sys::{BackendEvent, Core, FollowUp, OsBackend, OsSources, OS_TOKEN};

pub(crate) type WeakShared = Weak<Shared>;

/// A kqueue this one watches (nesting): under which ident, and whether the OS reports its
/// readiness to this kqueue's poller (see `nest.rs`).
pub(crate) struct Link {
    pub child: WeakShared,
    pub ident: usize,
    #[cfg_attr(any(loom, not(unix)), allow(dead_code))]
    pub os_nested: bool,
}

pub(crate) struct Shared {
    pub(crate) state: ProfiledMutex<State>,
    pub(crate) cond: Condvar,
    pub(crate) backend: OsBackend,
    /// Nesting links: kqueues watching this one, and kqueues this one watches (with the ident
    /// under which it watches them). Only touched when nesting, never under another kqueue's
    /// state lock in the child-to-parent direction.
    parents: std::sync::Mutex<Vec<WeakShared>>,
    children: std::sync::Mutex<Vec<Link>>,
    me: WeakShared,
    /// The fork generation this kqueue was created in (another one: inherited across fork).
    #[cfg(all(unix, not(loom)))]
    generation: u64,
}

pub(crate) struct State {
    pub(crate) core: Core,
    /// inotify, pidfds and the signal pipe (Linux), kernel notes (native).
    pub(crate) os: OsSources,
    /// A thread is blocked in `backend.wait` (only one may be).
    polling: bool,
    /// When the poller's wait ends by itself (`None`: never).
    poll_until: Option<Instant>,
    /// The poller has been woken and has not come back yet (one backend wake is enough).
    woken: bool,
    /// Threads blocked on the condition variable.
    waiters: usize,
}

impl Shared {
    /// A new kqueue's shared state, with its backend.
    pub(crate) fn new() -> io::Result<Arc<Shared>> {
        let backend = OsBackend::new()?;
        let shared = Arc::new_cyclic(|me| Shared {
            state: ProfiledMutex::new(State {
                core: Core::default(),
                os: OsSources::default(),
                polling: false,
                poll_until: None,
                woken: false,
                waiters: 0,
            }),
            cond: Condvar::new(),
            backend,
            parents: Default::default(),
            children: Default::default(),
            me: me.clone(),
            #[cfg(all(unix, not(loom)))]
            generation: crate::fork::generation(),
        });
        Ok(shared)
    }
}

impl Shared {
    pub(crate) fn kevent(
        &self,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        self.check_not_inherited()?;
        let start = Instant::now();
        let deadline = timeout.and_then(|t| start.checked_add(t));
        let mut st = self.state.lock();
        let mut nerr = 0;
        let mut fatal = None;
        let mut stopped = false;
        {
            // One platform context for the whole changelist (its fstat cache and fresh-watch
            // note then serve consecutive changes on one fd).
            let (core, mut io) = st.split(self);
            for change in changes {
                let result = core.apply(change, &mut io, start);
                if result.is_ok() && !change.flags.contains(Flags::RECEIPT) {
                    continue;
                }
                let errno = result.err().unwrap_or(0);
                if let Some(slot) = events.get_mut(nerr) {
                    *slot = Kevent { flags: Flags::ERROR, data: i64::from(errno), ..*change };
                    nerr += 1;
                } else {
                    // No room left to echo it: FreeBSD's kevent returns here, with the errno
                    // of a failure, and later changes are not applied.
                    if errno != 0 {
                        fatal = Some((errno, change.filter));
                    }
                    stopped = true;
                    break;
                }
            }
        }
        if let Some((errno, filter)) = fatal {
            self.leave(st);
            return Err(crate::errno::change_error(errno, filter));
        }
        if nerr > 0 || stopped || events.is_empty() {
            self.leave(st);
            return Ok(nerr);
        }
        let mut tokens = Vec::new();
        let polls_only = deadline.is_some_and(|d| d <= start);
        // The OS was asked just now, and had nothing more to report (a blocking wait that
        // returned less than a full batch): no need to ask again before this scan.
        let mut asked = false;
        // A blocking wait filled its batch: the OS may have more.
        let mut more = false;
        loop {
            // Every call collects what the OS reports at its time, whatever is queued: a call
            // that finds events queued (always-ready level knotes, say) returns without
            // blocking, so it asks the OS without blocking first, or those events would starve
            // every other source. A call with an empty queue gets it from the blocking wait.
            if more || (!asked && (polls_only || st.core.pending() > 0)) {
                if let Err(e) = self.harvest(&mut st, &mut tokens, events.len()) {
                    self.leave(st);
                    return Err(e);
                }
            }
            asked = false;
            more = false;
            self.refresh_children(&mut st);
            let now = Instant::now();
            st.core.fire_timers(now);
            let (core, mut io) = st.split(self);
            let n = core.scan(events, &mut io);
            if n > 0 || deadline.is_some_and(|d| now >= d) {
                self.leave(st);
                return Ok(n);
            }
            let until = earliest(deadline, self.next_deadline(&st));
            let wait = until.map(|u| u.saturating_duration_since(now));
            if st.polling {
                st.waiters += 1;
                st = self.state.wait_timeout(&self.cond, st, wait);
                st.waiters -= 1;
                continue;
            }
            st.polling = true;
            st.poll_until = until;
            drop(st);
            let result = self.wait_os(&mut tokens, wait);
            st = self.state.lock();
            st.polling = false;
            st.woken = false;
            self.activate_tokens(&mut st, &mut tokens);
            if st.waiters > 0 {
                // Hand the poller role over, and share what was found.
                self.cond.notify_all();
            }
            match result {
                Ok(records) => {
                    more = records >= crate::sys::WAIT_BATCH;
                    asked = !more;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.leave(st);
                    return Err(e);
                }
            }
        }
    }

    /// `EBADF` for a kqueue inherited across fork: not ours (FreeBSD does not inherit kqueues).
    fn check_not_inherited(&self) -> io::Result<()> {
        #[cfg(all(unix, not(loom)))]
        if crate::fork::current() != self.generation {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        Ok(())
    }

    /// See [`Kqueue::delete_fd_knotes`](crate::Kqueue::delete_fd_knotes).
    pub(crate) fn delete_fd_knotes(&self, fd: usize, filters: &[Filter]) -> io::Result<usize> {
        self.check_not_inherited()?;
        if filters.iter().any(|f| !crate::core::filter::FD_FILTERS.contains(f)) {
            return Err(crate::errno::to_io_error(libc::EINVAL));
        }
        let mut st = self.state.lock();
        let (core, mut io) = st.split(self);
        let n = core.delete_fd_knotes(fd, filters, &mut io);
        self.leave(st);
        Ok(n)
    }

    /// Asks the OS, without blocking, for everything it reports now (batch after batch while
    /// they come back full, up to `room` records), and activates the knotes it names.
    fn harvest(
        &self,
        st: &mut ProfiledGuard<'_, State>,
        tokens: &mut Vec<BackendEvent>,
        room: usize,
    ) -> io::Result<()> {
        let mut total = 0;
        loop {
            let got = self.backend.harvest(tokens)?;
            if got.woke && st.polling {
                // The record was the poller's wake-up: wake it again.
                self.backend.wake();
            }
            self.activate_tokens(st, tokens);
            total += got.records;
            if got.records < crate::sys::HARVEST_BATCH || total >= room {
                return Ok(());
            }
        }
    }

    /// Releases the lock, first waking whoever should see what is queued now, and tells the
    /// kqueues watching this one (after the release: locks are only taken parent before child).
    fn leave(&self, st: ProfiledGuard<'_, State>) {
        self.leave_telling(st, true);
    }

    /// [`leave`](Self::leave), telling the kqueues watching this one only if `tell_parents`
    /// (otherwise the next `leave` does: the `enqueued` mark stays).
    fn leave_telling(&self, mut st: ProfiledGuard<'_, State>, tell_parents: bool) {
        let enqueued = tell_parents && std::mem::take(&mut st.core.enqueued);
        let pending = st.core.pending() > 0;
        let mut wake_poller = false;
        if st.polling {
            let earlier = match (st.core.next_deadline(), st.poll_until) {
                (Some(t), Some(u)) => t < u,
                (Some(_), None) => true,
                _ => false,
            };
            if (pending || earlier) && !st.woken {
                st.woken = true;
                wake_poller = true;
            }
        }
        let notify_waiters = pending && st.waiters > 0;
        // Wake after unlocking: the woken thread's first step is to take this lock, and waking
        // it while still holding the lock made it block on the lock right away (an extra
        // context switch per wake-up). `woken`, set above, keeps the wake single; one arriving
        // after the poller already returned only makes its next wait return early.
        drop(st);
        if wake_poller {
            self.backend.wake();
        }
        if notify_waiters {
            self.cond.notify_all();
        }
        if enqueued {
            self.notify_parents();
        }
    }

    fn activate_tokens(&self, st: &mut State, events: &mut Vec<BackendEvent>) {
        let mut follow = Vec::new();
        for ev in events.drain(..) {
            if ev.token & OS_TOKEN != 0 {
                st.os.handle(&ev, &mut st.core, &mut follow);
                let (core, mut io) = st.split(self);
                for f in follow.drain(..) {
                    match f {
                        FollowUp::FileEdge(fd) => {
                            if let Some(key) = core.key_of(fd, Filter::Read) {
                                core.activate_edge(key, crate::sys::READY_READ, &mut io);
                            }
                        }
                        FollowUp::Drop(ident, filter) => {
                            if let Some(key) = core.key_of(ident, filter) {
                                core.drop_knote(key, &mut io);
                            }
                        }
                    }
                }
                continue;
            }
            let (core, mut io) = st.split(self);
            for key in core.fd_keys(ev.token).into_iter().flatten() {
                core.activate_edge(key, ev.ready, &mut io);
            }
        }
    }

    /// The earliest timer deadline of this kqueue and of the kqueues below it (at any depth: a
    /// due timer down there makes this kqueue's nested knote fire).
    fn next_deadline(&self, st: &State) -> Option<Instant> {
        let mut next = st.core.next_deadline();
        let mut stack = self.child_kqueues();
        let mut seen = 0usize;
        while let Some(child) = stack.pop() {
            next = earliest(next, child.state.lock().core.next_deadline());
            seen += 1;
            if seen < 100_000 {
                stack.extend(child.child_kqueues());
            }
        }
        next
    }

    /// The kqueue this one watches under `ident`.
    pub(crate) fn child(&self, ident: usize) -> Option<Arc<Shared>> {
        lock(&self.children).iter().find(|l| l.ident == ident).and_then(|l| l.child.upgrade())
    }

    /// The kqueues this one watches.
    fn child_kqueues(&self) -> Vec<Arc<Shared>> {
        lock(&self.children).iter().filter_map(|l| l.child.upgrade()).collect()
    }

    /// Re-evaluates the knotes watching other kqueues (their events may come from timers or
    /// user triggers that no fd reports).
    fn refresh_children(&self, st: &mut State) {
        let children: Vec<usize> = lock(&self.children).iter().map(|l| l.ident).collect();
        let (core, mut io) = st.split(self);
        for ident in children {
            if let Some(key) = core.key_of(ident, Filter::Read) {
                core.activate(key, &mut io);
            }
        }
    }

    fn notify_parents(&self) {
        let parents: Vec<WeakShared> = lock(&self.parents).clone();
        for parent in parents.iter().filter_map(Weak::upgrade) {
            let idents: Vec<usize> = lock(&parent.children)
                .iter()
                .filter(|l| l.child.ptr_eq(&self.me))
                .map(|l| l.ident)
                .collect();
            let mut st = parent.state.lock();
            let (core, mut io) = st.split(&parent);
            for ident in idents {
                if let Some(key) = core.key_of(ident, Filter::Read) {
                    core.activate(key, &mut io);
                }
            }
            parent.leave(st);
        }
    }

    /// Events pending here, as another kqueue watching this one sees them (FreeBSD's
    /// `kq_count`): queued events, plus one for due timers; when that is none, one if a kqueue
    /// this one watches (through an enabled knote) has events pending, at any depth: FreeBSD
    /// would have activated that knote at the source.
    ///
    /// What the OS has for this kqueue and nobody collected yet is harvested first, so that its
    /// knotes are activated (and those that are evaluated on activation, evaluated) as FreeBSD's
    /// filters run at the source: a change that no knote reports counts nothing. Called by a
    /// kqueue watching this one, under that kqueue's lock (locks go parent before child): the
    /// watchers are not told of what this harvest queues (the caller is one; the others were
    /// woken by the same OS readiness, or are told by the next `leave`), but this kqueue's own
    /// poller and waiters are, as by any `leave`.
    pub(crate) fn pending_count(&self) -> i64 {
        #[cfg_attr(not(all(unix, not(loom))), allow(unused_mut))]
        let mut st = self.state.lock();
        #[cfg_attr(not(all(unix, not(loom))), allow(unused_mut))]
        let mut unharvested = 0;
        #[cfg(all(unix, not(loom)))]
        if crate::sys::source::readable(self.backend.raw_fd()) {
            let mut tokens = Vec::new();
            if self.harvest(&mut st, &mut tokens, usize::MAX).is_err() {
                unharvested = 1; // could not look: count what the OS has as one event
            }
        }
        let mut n = st.core.pending() as i64 + unharvested;
        if st.core.next_deadline().is_some_and(|d| d <= Instant::now()) {
            n += 1;
        }
        if n == 0 {
            let links: Vec<(WeakShared, usize)> =
                lock(&self.children).iter().map(|l| (l.child.clone(), l.ident)).collect();
            let below =
                links.into_iter().filter(|(_, ident)| st.core.is_enabled(*ident, Filter::Read));
            if below.filter_map(|(c, _)| c.upgrade()).any(|c| c.pending_count() > 0) {
                n += 1;
            }
        }
        self.leave_telling(st, false);
        n
    }

    /// Waits for the OS (the poller's blocking wait). When kqueues below this one are not
    /// OS-nested (see `nest.rs`), their fds are polled along with this kqueue's own, and those
    /// found readable are harvested, which activates the knotes watching them up to here.
    fn wait_os(&self, tokens: &mut Vec<BackendEvent>, wait: Option<Duration>) -> io::Result<usize> {
        #[cfg(all(unix, not(loom)))]
        {
            let below = self.unnested_below();
            if !below.is_empty() {
                let fd = |k: &Shared| libc::pollfd {
                    fd: k.backend.raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                let mut fds: Vec<libc::pollfd> =
                    std::iter::once(fd(self)).chain(below.iter().map(|k| fd(k))).collect();
                // Rounded up, so that a wait never ends before its deadline and spins.
                let ms = wait.map_or(-1, |d| {
                    d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int
                });
                // SAFETY: `fds` is a valid array of pollfds of its length.
                if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) } < 0 {
                    return Err(io::Error::last_os_error());
                }
                for (k, p) in below.iter().zip(&fds[1..]) {
                    if p.revents != 0 {
                        k.harvest_now();
                    }
                }
                return self.backend.wait(tokens, Some(Duration::ZERO));
            }
        }
        self.backend.wait(tokens, wait)
    }

    /// Collects what the OS reports for this kqueue now, without blocking, and tells the
    /// kqueues watching it (for a kqueue above this one that polls this one's fd).
    #[cfg(all(unix, not(loom)))]
    pub(crate) fn harvest_now(&self) {
        let mut st = self.state.lock();
        if st.polling {
            // Its own poller is blocked on the same readiness and will report it (taking its
            // records here would take its wake-ups too).
            return self.leave(st);
        }
        let mut tokens = Vec::new();
        let _ = self.harvest(&mut st, &mut tokens, crate::sys::WAIT_BATCH);
        self.refresh_children(&mut st);
        self.leave(st);
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(all(unix, not(loom)))]
impl Shared {
    pub(crate) fn children(&self) -> &std::sync::Mutex<Vec<Link>> {
        &self.children
    }

    pub(crate) fn parents(&self) -> &std::sync::Mutex<Vec<WeakShared>> {
        &self.parents
    }

    pub(crate) fn me_weak(&self) -> WeakShared {
        self.me.clone()
    }
}
