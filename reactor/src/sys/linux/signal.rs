//! SIGNAL on Linux: a process-wide handler per signal number that counts deliveries and writes a
//! byte to one pipe per kqueue watching signals, without asking anyone to block signals.
//!
//! The handler is installed the first time a signal is watched and stays installed (as tokio's
//! does); a later registration puts it back if the program reset the disposition to `SIG_IGN` or
//! `SIG_DFL` since, but leaves a handler installed over it in place (handlers of other libraries
//! chain to the one they replaced; one that does not chain stops kq's counting). It chains to the
//! handler that was there before; a disposition of `SIG_IGN` or `SIG_DFL` is replaced by counting
//! (a watched signal no longer kills the process by default — documented on
//! [`Filter::Signal`](crate::Filter::Signal)). `SIGCHLD` left at `SIG_IGN` is not touched, since
//! ignoring it changes how children are reaped: such a knote never fires, as on FreeBSD.
//!
//! Deliveries are counted in process-wide counters; each knote remembers the count it last saw,
//! so several kqueues watching one signal all see it. Each kqueue watching signals holds one pipe
//! from a pool that grows as needed (no fixed number of kqueues): a list of nodes that are never
//! freed, which the handler walks without locks. Pipes are never closed, since the handler may
//! hold a write end at any moment and closing one could send a byte to a reused fd; a free pipe is
//! reused by the next kqueue. After `fork` the child's handler skips the nodes of the parent
//! (their pipes are shared with it) and the child's kqueues make their own.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use std::collections::HashMap;

use super::{os_errno, Core, Kind, MioBackend, OsSourceState, SIGNAL_TOKEN};
use crate::kevent::{Filter, Kevent};
use crate::sync::lock_std;

/// Signal numbers are `1..NSIG`.
pub(crate) const NSIG: usize = 65;

static COUNTS: [AtomicU64; NSIG] = [const { AtomicU64::new(0) }; NSIG];
static PREV_ACTION: [AtomicUsize; NSIG] = [const { AtomicUsize::new(0) }; NSIG];
static PREV_SIGINFO: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];
/// kq's handler was installed for this signal once (see `install`).
static INSTALLED: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];

/// One pooled pipe. Nodes are leaked on purpose: the handler may be reading one at any moment.
struct Node {
    /// The write end while a kqueue uses the pipe, -1 while it is free.
    active: AtomicI32,
    write_fd: RawFd,
    read_fd: RawFd,
    /// The fork generation the pipe was made in (an older one: the parent's pipe).
    generation: u64,
    /// Taken by a kqueue (changed under `CLAIM`).
    used: AtomicBool,
    /// The next node; set once, before the node is published.
    next: AtomicPtr<Node>,
}

/// The pool: the most recently created node first.
static HEAD: AtomicPtr<Node> = AtomicPtr::new(std::ptr::null_mut());
/// Serialises claims and releases.
static CLAIM: Mutex<()> = Mutex::new(());

/// Every node of the pool.
fn nodes() -> impl Iterator<Item = &'static Node> {
    let mut p = HEAD.load(Ordering::Acquire);
    std::iter::from_fn(move || {
        // SAFETY: published nodes are leaked, never freed, and fully initialised before being
        // published with Release (loaded here with Acquire).
        let node = unsafe { p.as_ref() }?;
        p = node.next.load(Ordering::Acquire);
        Some(node)
    })
}

/// Deliveries of `sig` so far in this process.
fn count(sig: usize) -> u64 {
    COUNTS.get(sig).map_or(0, |c| c.load(Ordering::Acquire))
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: __errno_location returns this thread's errno slot; we restore it before returning,
    // so the interrupted code sees the errno it had.
    let saved = unsafe { *libc::__errno_location() };
    let idx = sig as usize;
    if let Some(c) = COUNTS.get(idx) {
        c.fetch_add(1, Ordering::AcqRel);
    }
    let byte = sig as u8;
    let generation = crate::fork::current();
    // Lock-free and allocation-free: atomic loads along a list of leaked nodes.
    for node in nodes() {
        let fd = node.active.load(Ordering::Acquire);
        if fd >= 0 && node.generation == generation {
            // SAFETY: write(2) is async-signal-safe; pooled fds are never closed, so `fd` is
            // still our pipe. A full pipe only drops the byte: the count above is what matters.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        }
    }
    if let Some(prev) = PREV_ACTION.get(idx).map(|p| p.load(Ordering::Acquire)) {
        if prev != libc::SIG_DFL && prev != libc::SIG_IGN {
            if PREV_SIGINFO[idx].load(Ordering::Acquire) {
                // SAFETY: `prev` is the sa_sigaction of the previous SA_SIGINFO handler.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(prev) };
                f(sig, info, ctx);
            } else {
                // SAFETY: `prev` is the sa_handler of the previous plain handler.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(prev) };
                f(sig);
            }
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
}

/// Installs the counting handler for `sig`, unless it is the current one. Called at each
/// registration: a program that reset the disposition since (`SIG_IGN`, `SIG_DFL`) gets it back.
/// A handler another library installed after kq's is left in place: such handlers (tokio's
/// signal-hook among them) chain to the one they replaced, kq's; putting kq's back over it,
/// chained to it, made each delivery run the two in a loop until the stack overflowed.
fn install(sig: i32) -> Result<(), i32> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _serial = lock_std(&INSTALL);
    let idx = sig as usize;
    // SAFETY: a zeroed sigaction is a valid out-value; sigaction with a null new action only
    // reads the current one.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } != 0 {
        return Err(super::errno());
    }
    if old.sa_sigaction == handler as *const () as usize {
        return Ok(());
    }
    if sig == libc::SIGCHLD && old.sa_sigaction == libc::SIG_IGN {
        return Ok(()); // leave auto-reaping alone; the knote never fires (FreeBSD does the same)
    }
    let foreign = old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN;
    if foreign && INSTALLED[idx].load(Ordering::Acquire) {
        return Ok(()); // installed over ours: it chains to ours (see above)
    }
    PREV_ACTION[idx].store(old.sa_sigaction, Ordering::Release);
    PREV_SIGINFO[idx].store(old.sa_flags & libc::SA_SIGINFO != 0, Ordering::Release);
    // SAFETY: zeroed is a valid sigaction; we fill in handler, flags and an empty mask.
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction = handler as *const () as usize;
    // No SA_ONSTACK: a thread's alternate stack (Rust's is small) cannot take nested handler
    // frames. All signals are blocked while the handler runs, so handlers never nest.
    new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: sa_mask is a valid sigset_t to initialise.
    unsafe { libc::sigfillset(&mut new.sa_mask) };
    // SAFETY: `new` is fully initialised; the old action is not needed again.
    if unsafe { libc::sigaction(sig, &new, std::ptr::null_mut()) } != 0 {
        return Err(super::errno());
    }
    INSTALLED[idx].store(true, Ordering::Release);
    Ok(())
}

/// One kqueue's pipe from the pool.
struct Slot {
    node: &'static Node,
    read_fd: RawFd,
}

impl Slot {
    /// Takes a free pipe from the pool, or adds a new one, and starts receiving bytes on it.
    /// Fails only when no pipe can be created (`EMFILE`, `ENFILE`).
    fn claim() -> Result<Slot, i32> {
        let _serial = lock_std(&CLAIM);
        let generation = crate::fork::current();
        let free = nodes().find(|n| n.generation == generation && !n.used.load(Ordering::Acquire));
        let node = match free {
            Some(node) => node,
            None => {
                let mut fds = [0; 2];
                // SAFETY: `fds` is valid for two ints.
                if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0
                {
                    return Err(super::errno());
                }
                let node: &'static Node = Box::leak(Box::new(Node {
                    active: AtomicI32::new(-1),
                    write_fd: fds[1],
                    read_fd: fds[0],
                    generation,
                    used: AtomicBool::new(false),
                    next: AtomicPtr::new(HEAD.load(Ordering::Acquire)),
                }));
                // Only claims change HEAD, and they are serialised: a plain store publishes it.
                HEAD.store(node as *const Node as *mut Node, Ordering::Release);
                node
            }
        };
        node.used.store(true, Ordering::Release);
        drain(node.read_fd);
        node.active.store(node.write_fd, Ordering::Release);
        Ok(Slot { node, read_fd: node.read_fd })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // No lock: two stores, safe in a forked child too (a claim seeing `used` false after
        // them may take the pipe at once, which is what it is for).
        self.node.active.store(-1, Ordering::Release);
        self.node.used.store(false, Ordering::Release);
    }
}

/// Empties a non-blocking pipe.
fn drain(fd: RawFd) {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for its length; the fd is non-blocking, so this ends at EAGAIN.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// The SIGNAL source of one kqueue: its pipe from the pool, and how many knotes watch each
/// signal.
#[derive(Default)]
pub(super) struct SignalSource {
    pipe: Option<Slot>,
    /// signal number -> knotes watching it.
    signals: HashMap<usize, usize>,
}

impl SignalSource {
    pub(super) fn attach(
        &mut self,
        backend: &MioBackend,
        kev: &Kevent,
    ) -> Result<OsSourceState, i32> {
        let sig = crate::sys::signo::validate(kev.ident)?;
        // A synchronous fault signal cannot be counted by a handler: returning from it re-runs
        // the faulting instruction forever (a crash becomes a 100 % CPU hang), and a stack
        // overflow loses Rust's report. Refused, as signal-hook and tokio refuse them.
        if matches!(sig, libc::SIGILL | libc::SIGFPE | libc::SIGSEGV) {
            return Err(libc::EINVAL);
        }
        install(sig)?;
        if self.pipe.is_none() {
            let slot = Slot::claim()?;
            backend.watch_read(slot.read_fd, SIGNAL_TOKEN).map_err(os_errno)?;
            self.pipe = Some(slot);
        }
        *self.signals.entry(kev.ident).or_default() += 1;
        Ok(OsSourceState::Signal { last: count(kev.ident) })
    }

    pub(super) fn detach(&mut self, backend: &MioBackend, sig: usize) {
        if let Some(n) = self.signals.get_mut(&sig) {
            *n -= 1;
            if *n == 0 {
                self.signals.remove(&sig);
            }
        }
        if self.signals.is_empty() {
            if let Some(slot) = self.pipe.take() {
                backend.unwatch_raw(slot.read_fd);
            }
        }
    }

    /// The pipe is readable: each watched signal's knotes get the deliveries since they last
    /// looked.
    pub(super) fn handle(&mut self, core: &mut Core) {
        if let Some(slot) = &self.pipe {
            drain(slot.read_fd);
        }
        for &sig in self.signals.keys() {
            core.os_update(sig, Filter::Signal, |kn| {
                if let Kind::Os(OsSourceState::Signal { last }) = &mut kn.kind {
                    let now = count(sig);
                    kn.data = kn.data.saturating_add(now.saturating_sub(*last) as i64);
                    *last = now;
                }
            });
        }
    }
}
