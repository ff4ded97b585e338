//! The native backend (FreeBSD, macOS, NetBSD, OpenBSD, DragonFly): the kernel's kqueue through
//! `libc`. Fds are registered for EVFILT_READ and EVFILT_WRITE with EV_CLEAR, their fd number as
//! udata; an EVFILT_USER knote (ident 0) is the waker.
//!
//! Struct layouts differ between these systems (NetBSD has `u32` filter and flags, macOS an
//! `intptr_t` data, FreeBSD >= 12 an `ext` array), so records are built from a zeroed
//! `libc::kevent` with casts, never with hard-coded numbers.
// Those casts are no-ops on some of these systems and conversions on others (clippy, run per
// target by `tools/cross-check --clippy`, would otherwise ask to remove them where they are no-ops).
#![allow(clippy::unnecessary_cast)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{Backend, BackendEvent, FdBackend, Harvest, HARVEST_BATCH, OS_TOKEN};

mod proc;
mod signal;
pub(crate) mod sources;
mod vnode;
use crate::sync::ProfiledMutex;

const WAKER_IDENT: usize = 0;

/// A backend: see the contract, [`Backend`](crate::sys::Backend).
pub(crate) struct NativeBackend {
    kq: OwnedFd,
    events: ProfiledMutex<Vec<libc::kevent>>,
}

// SAFETY: the only non-Send/Sync part is the `udata` raw pointer inside the buffered
// `libc::kevent`s, which is never dereferenced (it carries an fd number).
unsafe impl Send for NativeBackend {}
// SAFETY: as above; the buffer is only reached through the mutex.
unsafe impl Sync for NativeBackend {}

fn record(ident: usize, filter: i64, flags: u32, fflags: u32, udata: usize) -> libc::kevent {
    // SAFETY: `libc::kevent` is plain old data; all-zero is a valid value of it.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = ident as _;
    ev.filter = filter as _;
    ev.flags = flags as _;
    ev.fflags = fflags as _;
    ev.udata = udata as _;
    ev
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as _,
    }
}

impl Backend for NativeBackend {
    fn new() -> io::Result<NativeBackend> {
        // SAFETY: kqueue() takes no arguments and returns a new fd or -1.
        let fd = unsafe { libc::kqueue() };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let kq = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: plain fcntl on a descriptor we own.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let backend =
            NativeBackend { kq, events: ProfiledMutex::new(Vec::with_capacity(super::WAIT_BATCH)) };
        let flags = (libc::EV_ADD | libc::EV_CLEAR) as u32;
        backend.change(&[record(WAKER_IDENT, libc::EVFILT_USER as i64, flags, 0, 0)])?;
        Ok(backend)
    }

    fn wait(&self, out: &mut Vec<BackendEvent>, timeout: Option<Duration>) -> io::Result<usize> {
        let mut buf = self.events.lock();
        let cap = buf.capacity();
        // SAFETY: `buf` has room for `cap` records.
        let n = unsafe { self.collect(buf.as_mut_ptr(), cap, timeout)? };
        // SAFETY: the kernel initialised the first `n` records.
        unsafe { buf.set_len(n) };
        decode(&buf, out);
        buf.clear();
        Ok(n)
    }

    /// A zero-timeout `kevent` into a buffer of its own, so that it may run while another thread
    /// is blocked in [`wait`](Self::wait).
    fn harvest(&self, out: &mut Vec<BackendEvent>) -> io::Result<Harvest> {
        // SAFETY: `libc::kevent` is plain old data; all-zero is a valid value of it.
        let mut buf: [libc::kevent; HARVEST_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: `buf` has room for HARVEST_BATCH records.
        let n = match unsafe { self.collect(buf.as_mut_ptr(), HARVEST_BATCH, Some(Duration::ZERO)) }
        {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        let woke = buf[..n].iter().any(|ev| ev.filter as i64 == libc::EVFILT_USER as i64);
        decode(&buf[..n], out);
        Ok(Harvest { records: n, woke })
    }

    fn wake(&self) {
        let trigger =
            record(WAKER_IDENT, libc::EVFILT_USER as i64, 0, libc::NOTE_TRIGGER as u32, 0);
        // A failed trigger can only mean the kqueue is gone; there is nobody left to wake.
        let _ = self.change(&[trigger]);
    }

    fn lock_stats(&self) -> crate::LockStats {
        self.events.stats()
    }
}

impl FdBackend for NativeBackend {
    fn watch_fd(&self, fd: usize) -> io::Result<()> {
        let flags = (libc::EV_ADD | libc::EV_CLEAR) as u32;
        self.change(&[
            record(fd, libc::EVFILT_READ as i64, flags, 0, fd),
            record(fd, libc::EVFILT_WRITE as i64, flags, 0, fd),
        ])
    }

    /// Re-adds the kernel knotes of `fd`: the kernel re-evaluates them and reports the current
    /// readiness as a new event.
    fn rearm_fd(&self, fd: usize) -> io::Result<()> {
        self.watch_fd(fd)
    }

    fn unwatch_fd(&self, fd: usize) {
        let _ = self.unwatch_fd_checked(fd);
    }

    /// The kernel drops an fd's knotes when it is closed: EV_DELETE then fails with `EBADF`
    /// for a closed fd and `ENOENT` for a number that now names another file.
    fn unwatch_fd_checked(&self, fd: usize) -> Option<Result<(), i32>> {
        let flags = libc::EV_DELETE as u32;
        let result = self.change(&[
            record(fd, libc::EVFILT_READ as i64, flags, 0, fd),
            record(fd, libc::EVFILT_WRITE as i64, flags, 0, fd),
        ]);
        match result.map_err(|e| e.raw_os_error()) {
            Ok(()) => Some(Ok(())),
            Err(Some(libc::EBADF)) => Some(Err(libc::EBADF)),
            Err(_) => None,
        }
    }

    fn raw_fd(&self) -> RawFd {
        self.kq.as_raw_fd()
    }
}

impl NativeBackend {
    /// Applies changes with EV_RECEIPT, returning the first error.
    fn change(&self, changes: &[libc::kevent]) -> io::Result<()> {
        let mut changes = changes.to_vec();
        for c in &mut changes {
            c.flags = (c.flags as u32 | libc::EV_RECEIPT as u32) as _;
        }
        let mut out = changes.clone();
        let zero = timespec(Duration::ZERO);
        // SAFETY: both buffers hold `changes.len()` valid records.
        let n = unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                changes.as_ptr(),
                changes.len() as _,
                out.as_mut_ptr(),
                out.len() as _,
                &zero,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        for ev in &out[..n as usize] {
            let errno = ev.data as i32;
            // EPIPE: old macOS refuses a pipe whose peer closed; the level evaluation reports it.
            if ev.flags as u32 & libc::EV_ERROR as u32 != 0 && errno != 0 && errno != libc::EPIPE {
                return Err(io::Error::from_raw_os_error(errno));
            }
        }
        Ok(())
    }

    /// Adds a kernel knote for a VNODE, PROC or SIGNAL knote of ours (EV_CLEAR, udata `OS_TOKEN`).
    pub(crate) fn kernel_add(&self, ident: usize, filter: i64, fflags: u32) -> Result<(), i32> {
        let flags = (libc::EV_ADD | libc::EV_CLEAR) as u32;
        self.change(&[record(ident, filter, flags, fflags, OS_TOKEN)])
            .map_err(|e| crate::errno::of(&e))
    }

    /// Deletes a kernel knote added by `kernel_add` (errors ignored: it may be gone already).
    pub(crate) fn kernel_delete(&self, ident: usize, filter: i64) {
        let _ = self.change(&[record(ident, filter, libc::EV_DELETE as u32, 0, OS_TOKEN)]);
    }

    /// One `kevent` call collecting at most `cap` records into `buf`.
    ///
    /// # Safety
    /// `buf` must be valid for `cap` records of writes.
    unsafe fn collect(
        &self,
        buf: *mut libc::kevent,
        cap: usize,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let ts = timeout.map(timespec);
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: the caller vouches for `buf`; `ts_ptr` is null or points to a live timespec.
        let n = unsafe {
            libc::kevent(self.kq.as_raw_fd(), std::ptr::null(), 0, buf, cap as _, ts_ptr)
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// Translates the kernel's records into activations (the waker's record is skipped).
fn decode(records: &[libc::kevent], out: &mut Vec<BackendEvent>) {
    for ev in records {
        let filter = ev.filter as i64;
        if filter == libc::EVFILT_USER as i64 {
            continue;
        }
        let token = ev.udata as usize;
        let eof = ev.flags as u32 & libc::EV_EOF as u32 != 0;
        let ready = if filter == libc::EVFILT_READ as i64 {
            super::READY_READ | if eof { super::READY_RDHUP } else { 0 }
        } else if filter == libc::EVFILT_WRITE as i64 {
            super::READY_WRITE | if eof { super::READY_WRHUP } else { 0 }
        } else {
            0
        };
        out.push(BackendEvent {
            token,
            ident: ev.ident as usize,
            filter: sources::filter_of(filter),
            fflags: ev.fflags as u32,
            data: ev.data as i64,
            ready,
        });
    }
}
