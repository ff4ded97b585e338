//! One `kevent()` call: argument checks, copying the C records in and out, errno.

use std::cell::RefCell;
use std::io;
use std::os::raw::c_int;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kq_reactor::{Filter, Flags, Kevent};

use crate::abi::CKevent;
use crate::table;

/// At most this many events (or the number of changes, if larger) are collected per call,
/// whatever `nevents` says, so that a huge `nevents` costs no huge buffer.
const MAX_BATCH: usize = 4096;

/// Reused buffers: the changes, the changes' own C `fflags` (an error entry echoes them), and
/// the events.
type Bufs = (Vec<Kevent>, Vec<u32>, Vec<Kevent>);

thread_local! {
    static BUFS: RefCell<Bufs> = const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// `kevent()`, with errors as errnos.
///
/// # Safety
/// `changelist` must be valid for reading `nchanges` records and `eventlist` for writing
/// `nevents` records (they may overlap); `timeout` must be null or point to a `timespec`. Null
/// pointers with a positive count are refused with `EFAULT`.
pub unsafe fn kevent(
    kq: c_int,
    changelist: *const CKevent,
    nchanges: c_int,
    eventlist: *mut CKevent,
    nevents: c_int,
    timeout: *const libc::timespec,
) -> Result<c_int, i32> {
    let (Ok(nchanges), Ok(nevents)) = (usize::try_from(nchanges), usize::try_from(nevents)) else {
        return Err(libc::EINVAL);
    };
    if (nchanges > 0 && changelist.is_null()) || (nevents > 0 && eventlist.is_null()) {
        return Err(libc::EFAULT);
    }
    let timeout = if timeout.is_null() {
        None
    } else {
        // SAFETY: the caller passes a readable timespec; it may be unaligned.
        let ts = unsafe { timeout.read_unaligned() };
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(libc::EINVAL);
        }
        Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    };
    let entry = table::lookup(kq)?;
    let run = |changes: &mut Vec<Kevent>, c_fflags: &mut Vec<u32>, events: &mut Vec<Kevent>| {
        changes.clear();
        c_fflags.clear();
        // SAFETY: the caller passes `nchanges` readable records (possibly unaligned). They are
        // all copied before any event is written, so the two lists may overlap.
        for c in (0..nchanges).map(|i| unsafe { changelist.add(i).read_unaligned() }) {
            changes.push(c.to_kevent());
            c_fflags.push(c.fflags);
        }
        // A kqueue descriptor named by a READ/WRITE change means the kqueue itself: the reactor
        // knows it by its own descriptor (READ nests it; WRITE is refused with EINVAL there).
        for change in
            changes.iter_mut().filter(|c| matches!(c.filter, Filter::Read | Filter::Write))
        {
            if let Some(inner) = table::reactor_fd(change.ident) {
                let inner = inner as usize;
                lock(&entry.nested).insert(inner, change.ident);
                entry.nests.store(true, Ordering::Release);
                change.ident = inner;
            }
        }
        let room = nevents.min(MAX_BATCH.max(nchanges));
        if events.len() < room {
            events.resize(room, Kevent::default());
        }
        let n = entry.kq.kevent(changes, &mut events[..room], timeout).map_err(|e| errno_of(&e))?;
        let mut next_change = 0;
        for (i, ev) in events[..n].iter().enumerate() {
            let mut out = CKevent::from_kevent(ev);
            if matches!(ev.filter, Filter::Read | Filter::Write)
                && entry.nests.load(Ordering::Acquire)
            {
                // Only while the C descriptor still names that kqueue: once it is closed, the
                // reactor's number may name a pipe or socket of this kqueue's own knotes.
                let mut nested = lock(&entry.nested);
                if let Some(&c_fd) = nested.get(&ev.ident) {
                    if table::reactor_fd(c_fd).and_then(|r| usize::try_from(r).ok())
                        == Some(ev.ident)
                    {
                        out.ident = c_fd;
                    } else {
                        nested.remove(&ev.ident);
                    }
                }
            }
            if ev.flags.contains(Flags::ERROR) {
                // An error entry echoes its change: give back the change's own fflags.
                // (From the copy: the caller's record may be overwritten by now when the lists
                // overlap.)
                if let Some(j) = (next_change..nchanges).find(|&j| same_change(&changes[j], ev)) {
                    out.fflags = c_fflags[j];
                    next_change = j + 1;
                }
            }
            // SAFETY: `i < n <= room <= nevents`: the caller's list has room for this record.
            unsafe { eventlist.add(i).write_unaligned(out) };
        }
        Ok(n as c_int)
    };
    BUFS.with(|bufs| match bufs.try_borrow_mut() {
        Ok(mut bufs) => {
            let (changes, c_fflags, events) = &mut *bufs;
            run(changes, c_fflags, events)
        }
        // Re-entered (from a signal handler): fresh buffers.
        Err(_) => run(&mut Vec::new(), &mut Vec::new(), &mut Vec::new()),
    })
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Is the error entry `ev` the echo of `change`?
fn same_change(change: &Kevent, ev: &Kevent) -> bool {
    change.ident == ev.ident
        && change.filter == ev.filter
        && change.udata == ev.udata
        && change.fflags == ev.fflags
}

/// The errno of a reactor error. Errors that carry a message (inotify limits) keep their errno in
/// it; anything else without one is mapped from its kind.
fn errno_of(e: &io::Error) -> i32 {
    if let Some(errno) = e.raw_os_error() {
        return errno;
    }
    let msg = e.to_string();
    if let Some(rest) = msg.split("(errno ").nth(1) {
        if let Some(errno) = rest.split(')').next().and_then(|n| n.parse().ok()) {
            return errno;
        }
    }
    match e.kind() {
        io::ErrorKind::Unsupported => libc::EOPNOTSUPP,
        io::ErrorKind::NotFound => libc::ENOENT,
        io::ErrorKind::InvalidInput => libc::EINVAL,
        io::ErrorKind::OutOfMemory => libc::ENOMEM,
        _ => libc::EIO,
    }
}
