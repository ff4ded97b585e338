//! SIGNAL on Linux: a process-wide handler per signal number that counts deliveries and writes a
//! byte to one pipe per kqueue watching signals, without asking anyone to block signals.
//!
//! The handler is installed the first time a signal is watched and stays installed (as tokio's
//! does). It chains to the handler that was there before; a disposition of `SIG_IGN` or
//! `SIG_DFL` is replaced by counting (a watched signal no longer kills the process by default —
//! documented on [`Filter::Signal`](crate::Filter::Signal)). `SIGCHLD` left at `SIG_IGN` is not
//! touched, since ignoring it changes how children are reaped: such a knote never fires, as on
//! FreeBSD.
//!
//! Deliveries are counted in process-wide counters; each knote remembers the count it last saw,
//! so several kqueues watching one signal all see it. The pipes are pooled and never closed: the
//! handler may hold a write end at any moment, so closing one could send a byte to a reused fd.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::sync::lock_std;

/// Signal numbers are `1..NSIG`.
pub(crate) const NSIG: usize = 65;
/// At most this many kqueues can watch signals at once.
const SLOTS: usize = 64;

static COUNTS: [AtomicU64; NSIG] = [const { AtomicU64::new(0) }; NSIG];
static WRITE_FDS: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];
static PREV_ACTION: [AtomicUsize; NSIG] = [const { AtomicUsize::new(0) }; NSIG];
static PREV_SIGINFO: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];
static INSTALLED: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];

/// The pooled pipes: (read end, write end, in use).
static POOL: Mutex<Vec<(RawFd, RawFd, bool)>> = Mutex::new(Vec::new());

/// Deliveries of `sig` so far in this process.
pub(crate) fn count(sig: usize) -> u64 {
    COUNTS.get(sig).map_or(0, |c| c.load(Ordering::Acquire))
}

/// `EINVAL` for 0, numbers out of range, SIGKILL and SIGSTOP.
pub(crate) fn validate(ident: usize) -> Result<i32, i32> {
    match i32::try_from(ident) {
        Ok(sig)
            if (1..NSIG as i32).contains(&sig) && sig != libc::SIGKILL && sig != libc::SIGSTOP =>
        {
            Ok(sig)
        }
        _ => Err(libc::EINVAL),
    }
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
    for slot in &WRITE_FDS {
        let fd = slot.load(Ordering::Acquire);
        if fd >= 0 {
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

/// Installs the counting handler for `sig` (once per process).
pub(crate) fn install(sig: i32) -> Result<(), i32> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _serial = lock_std(&INSTALL);
    let idx = sig as usize;
    if INSTALLED[idx].load(Ordering::Acquire) {
        return Ok(());
    }
    // SAFETY: a zeroed sigaction is a valid out-value; sigaction with a null new action only
    // reads the current one.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } != 0 {
        return Err(super::errno());
    }
    if sig == libc::SIGCHLD && old.sa_sigaction == libc::SIG_IGN {
        return Ok(()); // leave auto-reaping alone; the knote never fires (FreeBSD does the same)
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
pub(crate) struct Slot {
    index: usize,
    pub read_fd: RawFd,
}

impl Slot {
    /// Takes a pipe from the pool (creating it if needed) and starts receiving bytes on it.
    pub(crate) fn claim() -> Result<Slot, i32> {
        let mut pool = lock_std(&POOL);
        let index = match pool.iter().position(|(_, _, used)| !used) {
            Some(i) => i,
            None if pool.len() < SLOTS => {
                let mut fds = [0; 2];
                // SAFETY: `fds` is valid for two ints.
                if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0
                {
                    return Err(super::errno());
                }
                pool.push((fds[0], fds[1], false));
                pool.len() - 1
            }
            None => return Err(libc::EBUSY),
        };
        let (read_fd, write_fd, used) = &mut pool[index];
        *used = true;
        drain(*read_fd);
        WRITE_FDS[index].store(*write_fd, Ordering::Release);
        Ok(Slot { index, read_fd: *read_fd })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        WRITE_FDS[self.index].store(-1, Ordering::Release);
        let mut pool = lock_std(&POOL);
        pool[self.index].2 = false;
    }
}

/// Empties a non-blocking pipe.
pub(crate) fn drain(fd: RawFd) {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for its length; the fd is non-blocking, so this ends at EAGAIN.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}
