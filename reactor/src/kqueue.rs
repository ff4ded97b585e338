//! [`Kqueue`]: the public face, and the protocol by which many threads share one kqueue.
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
#[cfg(not(loom))]
use crate::sys::FdBackend as _;
use crate::sys::{Backend as _, BackendEvent, OsBackend, OsSources, OS_TOKEN};
use crate::sys::{Core, Kind, Knote, OsSourceState};
use crate::LockStats;

pub(crate) type WeakShared = Weak<Shared>;

/// A kqueue this one watches (nesting): under which ident, and whether the OS reports its
/// readiness to this kqueue's poller (see `nest.rs`).
pub(crate) struct Link {
    pub child: WeakShared,
    pub ident: usize,
    #[cfg_attr(any(loom, not(unix)), allow(dead_code))]
    pub os_nested: bool,
}

/// A kqueue: a set of knotes and the events they deliver. See the [crate docs](crate) for the
/// semantics.
///
/// `Kqueue` is `Send + Sync`: any number of threads may call [`kevent`](Kqueue::kevent) at once.
/// On Unix it is also a file descriptor (`AsRawFd`/`AsFd`), readable while events are pending,
/// so it can be registered for READ in another `Kqueue`.
pub struct Kqueue {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    state: ProfiledMutex<State>,
    cond: Condvar,
    backend: OsBackend,
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

struct State {
    core: Core,
    /// inotify, pidfds and the signal pipe (Linux), kernel notes (native).
    os: OsSources,
    /// A thread is blocked in `backend.wait` (only one may be).
    polling: bool,
    /// When the poller's wait ends by itself (`None`: never).
    poll_until: Option<Instant>,
    /// The poller has been woken and has not come back yet (one backend wake is enough).
    woken: bool,
    /// Threads blocked on the condition variable.
    waiters: usize,
}

impl Kqueue {
    /// Creates a kqueue.
    ///
    /// # Errors
    /// The OS error if the backend's poller or waker cannot be created (e.g. out of fds).
    pub fn new() -> io::Result<Kqueue> {
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
        #[cfg(all(unix, not(loom)))]
        crate::nest::register(shared.backend.raw_fd(), &shared);
        Ok(Kqueue { shared })
    }

    /// Applies `changes` in order, then collects up to `events.len()` events, waiting at most
    /// `timeout` (`None`: until an event arrives; `Some(Duration::ZERO)`: poll).
    ///
    /// Returns the number of entries written to `events`. A change that fails, or carries
    /// [`Flags::RECEIPT`], is echoed into `events` with `flags = ERROR` and `data` = the errno
    /// (0 for a successful receipt); when any such entry is written the call returns without
    /// collecting. With an empty `events` the call returns right after the changes.
    ///
    /// # Errors
    /// The errno of a failed change when there is no room in `events` to report it (later changes
    /// are then not applied), or an error of the OS wait.
    pub fn kevent(
        &self,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        self.shared.kevent(changes, events, timeout)
    }

    /// The counters of the lock around the knote table and the ready queue.
    pub fn lock_stats(&self) -> LockStats {
        self.shared.state.stats()
    }

    /// The counters of the backend's poll lock (taken by the one thread that polls the OS).
    pub fn poll_lock_stats(&self) -> LockStats {
        self.shared.backend.lock_stats()
    }

    /// Number of registered knotes.
    pub fn len(&self) -> usize {
        self.shared.state.lock().core.len()
    }

    /// True when no knote is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for Kqueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kqueue").finish_non_exhaustive()
    }
}

impl Drop for Kqueue {
    fn drop(&mut self) {
        #[cfg(all(unix, not(loom)))]
        crate::nest::unregister(self.shared.backend.raw_fd());
    }
}

#[cfg(all(unix, not(loom)))]
impl std::os::fd::AsRawFd for Kqueue {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.shared.backend.raw_fd()
    }
}

#[cfg(all(unix, not(loom)))]
impl std::os::fd::AsFd for Kqueue {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the backend owns this fd and keeps it open for as long as `self` lives.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.shared.backend.raw_fd()) }
    }
}

impl Shared {
    fn kevent(
        &self,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        #[cfg(all(unix, not(loom)))]
        if crate::fork::current() != self.generation {
            // Inherited across fork: not ours (FreeBSD does not inherit kqueues).
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
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
    fn leave(&self, mut st: ProfiledGuard<'_, State>) {
        let enqueued = std::mem::take(&mut st.core.enqueued);
        let pending = st.core.pending() > 0;
        if st.polling {
            let earlier = match (st.core.next_deadline(), st.poll_until) {
                (Some(t), Some(u)) => t < u,
                (Some(_), None) => true,
                _ => false,
            };
            if (pending || earlier) && !st.woken {
                st.woken = true;
                self.backend.wake();
            }
        }
        if pending && st.waiters > 0 {
            self.cond.notify_all();
        }
        drop(st);
        if enqueued {
            self.notify_parents();
        }
    }

    fn activate_tokens(&self, st: &mut State, events: &mut Vec<BackendEvent>) {
        for ev in events.drain(..) {
            if ev.token & OS_TOKEN != 0 {
                st.os.handle(&ev, &mut st.core);
                continue;
            }
            let (core, mut io) = st.split(self);
            for filter in [Filter::Read, Filter::Write, Filter::Vnode] {
                if let Some(key) = core.key_of(ev.token, filter) {
                    core.activate_edge(key, ev.ready, &mut io);
                }
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
    fn child(&self, ident: usize) -> Option<Arc<Shared>> {
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
    /// `kq_count`): queued events, plus one for due timers, plus one if the OS has events not yet
    /// harvested; when that is none, one if a kqueue this one watches (through an enabled knote)
    /// has events pending, at any depth: FreeBSD would have activated that knote at the source.
    fn pending_count(&self) -> i64 {
        let st = self.state.lock();
        let mut n = st.core.pending() as i64;
        if st.core.next_deadline().is_some_and(|d| d <= Instant::now()) {
            n += 1;
        }
        #[cfg(all(unix, not(loom)))]
        if crate::sys::source::readable(self.backend.raw_fd()) {
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
        n
    }

    /// Waits for the OS (the poller's blocking wait). When kqueues below this one are not
    /// OS-nested (see `nest.rs`), their fds are polled along with this kqueue's own, and those
    /// found readable are harvested, which activates the knotes watching them up to here.
    fn wait_os(&self, tokens: &mut Vec<BackendEvent>, wait: Option<Duration>) -> io::Result<usize> {
        #[cfg(all(unix, not(loom)))]
        {
            let below = crate::nest::unnested_below(self);
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
    fn harvest_now(&self) {
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

impl State {
    /// The core, and the platform side it calls back into.
    fn split<'a>(&'a mut self, shared: &'a Shared) -> (&'a mut Core, IoCtx<'a>) {
        let io = IoCtx {
            shared,
            os: &mut self.os,
            #[cfg(all(unix, not(loom)))]
            stat: std::cell::Cell::new(None),
            #[cfg(all(unix, not(loom)))]
            fresh_watch: None,
        };
        (&mut self.core, io)
    }
}

/// The platform side of the core, for one kqueue.
struct IoCtx<'a> {
    shared: &'a Shared,
    os: &'a mut OsSources,
    /// The last fstat taken in this lock hold, reused by the next step on the same fd
    /// (a registration is identity check, classification and evaluation: one fstat).
    #[cfg(all(unix, not(loom)))]
    stat: std::cell::Cell<Option<(usize, libc::stat)>>,
    /// An fd whose watch was created by this context: its first edge, still to come, reports the
    /// current readiness of both directions.
    #[cfg(all(unix, not(loom)))]
    fresh_watch: Option<usize>,
}

#[cfg(all(unix, not(loom)))]
impl IoCtx<'_> {
    fn stat(&self, fd: usize) -> Result<libc::stat, i32> {
        match self.stat.get() {
            Some((cached, st)) if cached == fd => Ok(st),
            _ => {
                let st = crate::sys::source::fstat(fd)?;
                self.stat.set(Some((fd, st)));
                Ok(st)
            }
        }
    }
}

impl crate::core::Io<OsSourceState> for IoCtx<'_> {
    fn identity(&self, fd: usize) -> Result<(u64, u64), i32> {
        #[cfg(all(unix, not(loom)))]
        return self.stat(fd).map(|st| crate::sys::source::identity_of(&st));
        #[cfg(all(windows, not(loom)))]
        return crate::sys::windows::identity(fd);
        #[cfg(not(all(any(unix, windows), not(loom))))]
        {
            let _ = fd;
            Err(crate::errno::EOPNOTSUPP)
        }
    }

    fn attach_fd(&mut self, kev: &Kevent, identity: (u64, u64), first: bool) -> Result<Kind, i32> {
        #[cfg(all(unix, not(loom)))]
        {
            if let Some(child) = crate::nest::lookup(kev.ident) {
                if kev.filter != Filter::Read {
                    return Err(libc::EINVAL);
                }
                crate::nest::link(self.shared, &child, kev.ident)?;
                // Where the OS refuses to nest (Linux: chains of epolls deeper than a few give
                // ELOOP), the link stays and the waiting thread follows it instead: nothing
                // fails, so nothing is left behind.
                if first && self.shared.backend.watch_fd(kev.ident).is_ok() {
                    crate::nest::set_os_nested(self.shared, kev.ident);
                }
                return Ok(Kind::Nested);
            }
            let st = self.stat(kev.ident)?;
            if crate::sys::source::identity_of(&st) != identity {
                return Err(libc::EBADF); // closed and reused since the identity was taken
            }
            let ty = crate::sys::source::classify(kev.ident, &st);
            if first {
                self.shared.backend.watch_fd(kev.ident).map_err(os_errno)?;
                self.fresh_watch = Some(kev.ident);
            }
            Ok(Kind::Fd { ty, identity })
        }
        #[cfg(all(windows, not(loom)))]
        return crate::sys::windows::attach(&self.shared.backend, kev, identity, first);
        #[cfg(not(all(any(unix, windows), not(loom))))]
        {
            let _ = (kev, identity, first);
            Err(crate::errno::EOPNOTSUPP)
        }
    }

    fn arm_edges(&mut self, kn: &Knote, first: bool) -> bool {
        #[cfg(all(unix, not(loom)))]
        {
            match kn.kind {
                Kind::Fd { ty: crate::core::FdType::File, .. } => false,
                Kind::Fd { .. } => {
                    first
                        || self.fresh_watch == Some(kn.ident)
                        || self.shared.backend.rearm_fd(kn.ident).is_ok()
                }
                _ => false,
            }
        }
        #[cfg(all(windows, not(loom)))]
        return crate::sys::windows::arm_edges(&self.shared.backend, kn, first);
        #[cfg(not(all(any(unix, windows), not(loom))))]
        {
            let _ = (kn, first);
            false
        }
    }

    fn detach_fd(&mut self, kn: &Knote, last: bool) {
        #[cfg(all(unix, not(loom)))]
        {
            if let Kind::Nested = kn.kind {
                crate::nest::unlink(self.shared, kn.ident);
            }
            if last {
                self.shared.backend.unwatch_fd(kn.ident);
            }
        }
        #[cfg(all(windows, not(loom)))]
        crate::sys::windows::detach(&self.shared.backend, kn, last);
        #[cfg(not(all(any(unix, windows), not(loom))))]
        let _ = (kn, last);
    }

    #[cfg(all(windows, not(loom)))]
    fn requeue_after_delivery(&self, kn: &Knote) -> bool {
        crate::sys::windows::requeue_after_delivery(kn)
    }

    fn attach_os(&mut self, kev: &Kevent) -> Result<Kind, i32> {
        self.os.attach(&self.shared.backend, kev).map(Kind::Os)
    }

    fn detach_os(&mut self, kn: &Knote) {
        self.os.detach(&self.shared.backend, kn);
    }

    fn evaluate(&mut self, kn: &mut Knote) -> Result<bool, ()> {
        match &kn.kind {
            #[cfg(all(unix, not(loom)))]
            Kind::Fd { ty, identity } => {
                // The fd number may now name another file (closed and reused without a new
                // registration): then the knote's file is gone, and so is the knote.
                let st = self.stat(kn.ident).map_err(|_| ())?;
                if crate::sys::source::identity_of(&st) != *identity {
                    return Err(());
                }
                let p = crate::sys::source::probe(kn.ident, kn.filter, *ty, kn.sfflags, kn.sdata)?;
                kn.data = p.data;
                kn.eof = p.eof;
                kn.fflags = p.fflags;
                Ok(p.ready)
            }
            #[cfg(all(windows, not(loom)))]
            Kind::Fd { .. } => crate::sys::windows::evaluate(&self.shared.backend, kn),
            Kind::Nested => {
                let child = self.shared.child(kn.ident).ok_or(())?;
                kn.data = child.pending_count();
                Ok(kn.data > 0)
            }
            Kind::Os(_) => Ok(self.os.evaluate(kn)),
            _ => Ok(false),
        }
    }
}

#[cfg(all(unix, not(loom)))]
fn os_errno(e: io::Error) -> i32 {
    crate::errno::of(&e)
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
