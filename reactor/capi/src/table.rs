//! The process's kqueues, keyed by the descriptors handed to C, and how a plain `close(fd)` frees
//! one.
//!
//! # The descriptor
//!
//! `kqueue()` returns the write end of a pipe (close-on-exec) and keeps the read end. The pipe is
//! the kqueue's identity: its `(st_dev, st_ino)` is unique among live pipes, and it stays alive
//! (and unique) as long as kq holds the read end, i.e. until the kqueue is released.
//!
//! - **Validation.** Every `kevent()` takes `fstat` of the descriptor it is given and accepts it
//!   only if the identity is that of a live kqueue and the descriptor is a write end. A number
//!   closed and reused by any other file (or by a newer kqueue) is thus never confused with the
//!   old kqueue: it gets `EBADF` (or the newer kqueue). A `dup` of a kqueue descriptor is the
//!   same kqueue, as on FreeBSD; it is found by identity and remembered as an alias.
//! - **Release.** When the last copy of the write end is closed, the kept read end reports a
//!   hang-up. A reaper thread ([`crate::reaper`]) waits for these hang-ups in its own epoll set
//!   and releases the kqueue at once: the reactor and its knotes are dropped when the last
//!   `kevent()` still running on it returns. A `kqueue()` that is handed a number still in the
//!   table also checks the old kqueue's hang-up itself and releases it before registering the new
//!   one, so a number is never handed out again while the table still maps it to the old kqueue.
//! - **fork.** As on FreeBSD, a kqueue is not inherited: in the child, the descriptors of every
//!   kqueue are closed and the table is emptied (the parent's reactors are left untouched in the
//!   child's memory, never used and never dropped: their locks may be held by threads that do
//!   not exist in the child). See [`crate::reaper`] for the `pthread_atfork` handlers.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kq_reactor::Kqueue;

/// `(st_dev, st_ino)` of a pipe.
pub type Identity = (u64, u64);

/// One kqueue handed to C.
pub struct Entry {
    /// The reactor.
    pub kq: Kqueue,
    /// The identity of its pipe.
    pub identity: Identity,
    /// The read end kq keeps; it hangs up when every copy of the write end is closed.
    pub keep: OwnedFd,
    /// The token of `keep` in the reaper's epoll set.
    pub serial: u64,
    /// The process that created it (a forked child never uses it).
    pub pid: u32,
    /// Nesting: the reactor descriptor of each kqueue this one watches for READ, and the
    /// descriptor the C program named it by (events are reported under the latter).
    pub nested: Mutex<HashMap<usize, usize>>,
    /// `nested` is not empty (checked before taking its lock for each READ/WRITE event).
    pub nests: AtomicBool,
}

/// The table of live kqueues.
#[derive(Default)]
pub struct Table {
    /// Descriptor numbers known to name a kqueue: the one `kqueue()` returned, and dups seen.
    /// A number here may be stale; it is only trusted after an identity check.
    pub by_fd: HashMap<RawFd, Arc<Entry>>,
    /// Live kqueues by pipe identity.
    pub by_identity: HashMap<Identity, Arc<Entry>>,
    /// Reaper tokens to identities.
    pub by_serial: HashMap<u64, Identity>,
    /// The next reaper token.
    pub next_serial: u64,
    /// The reaper's epoll set and the process it belongs to.
    pub reaper: Option<(OwnedFd, u32)>,
}

static TABLE: RwLock<Option<Table>> = RwLock::new(None);

/// The table for reading (lock poisoning is ignored: the table is consistent between calls).
pub fn read() -> RwLockReadGuard<'static, Option<Table>> {
    TABLE.read().unwrap_or_else(|e| e.into_inner())
}

/// The table for writing.
pub fn write() -> RwLockWriteGuard<'static, Option<Table>> {
    TABLE.write().unwrap_or_else(|e| e.into_inner())
}

/// The errno of the last failed libc call.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// `fstat` of `fd`: its identity, and whether it is the write end of a pipe.
fn inspect(fd: RawFd) -> Result<(Identity, bool), i32> {
    // SAFETY: all-zero is a valid `stat`, and fstat only writes into it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer; an invalid fd only makes fstat fail.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(libc::EBADF);
    }
    let is_pipe = st.st_mode & libc::S_IFMT == libc::S_IFIFO;
    Ok(((st.st_dev as u64, st.st_ino as u64), is_pipe))
}

/// True when `fd` is open for writing only (the write end of a pipe, not kq's read end).
fn is_write_end(fd: RawFd) -> bool {
    // SAFETY: F_GETFL takes no argument and only reads the descriptor's flags.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    fl >= 0 && fl & libc::O_ACCMODE == libc::O_WRONLY
}

/// This process's id.
pub fn pid() -> u32 {
    std::process::id()
}

/// The kqueue named by descriptor `fd`, after checking that `fd` still is (a dup of) its
/// descriptor; `EBADF` otherwise.
pub fn lookup(fd: RawFd) -> Result<Arc<Entry>, i32> {
    if fd < 0 {
        return Err(libc::EBADF);
    }
    let (identity, is_pipe) = inspect(fd)?;
    {
        let table = read();
        let Some(table) = table.as_ref() else { return Err(libc::EBADF) };
        if let Some(entry) = table.by_fd.get(&fd) {
            if entry.identity == identity {
                return check_pid(entry.clone());
            }
        }
        if !is_pipe || !table.by_identity.contains_key(&identity) {
            return Err(libc::EBADF);
        }
    }
    // A dup of a kqueue descriptor (or kq's own read end, which is refused).
    if !is_write_end(fd) {
        return Err(libc::EBADF);
    }
    let mut table = write();
    let table = table.as_mut().ok_or(libc::EBADF)?;
    let entry = table.by_identity.get(&identity).cloned().ok_or(libc::EBADF)?;
    table.by_fd.insert(fd, entry.clone());
    check_pid(entry)
}

fn check_pid(entry: Arc<Entry>) -> Result<Arc<Entry>, i32> {
    if entry.pid == pid() {
        Ok(entry)
    } else {
        Err(libc::EBADF)
    }
}

/// If `ident` is the descriptor of a kqueue of this process (the one `kqueue()` returned, or a
/// copy already used in a call), the descriptor of its reactor, which is what the reactor nests.
/// A copy never used in a call is not recognised (it is then just a pipe's write end).
pub fn reactor_fd(ident: usize) -> Option<RawFd> {
    let fd = RawFd::try_from(ident).ok()?;
    let entry = read().as_ref()?.by_fd.get(&fd).cloned()?;
    let (identity, _) = inspect(fd).ok()?;
    (identity == entry.identity && entry.pid == pid()).then(|| entry.kq.as_raw_fd())
}

/// Creates a kqueue and its descriptor.
pub fn create() -> Result<RawFd, i32> {
    let kq = Kqueue::new().map_err(|e| e.raw_os_error().unwrap_or(libc::ENOMEM))?;
    let mut fds = [0; 2];
    // SAFETY: `fds` is valid for two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(errno());
    }
    // SAFETY: pipe2 returned two fresh descriptors; the read end is ours from now on.
    let keep = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: the write end is fresh too; it is handed to C, or closed here on failure.
    let give = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    let (identity, _) = inspect(give.as_raw_fd())?;
    let fd = give.as_raw_fd();
    let mut released = Vec::new();
    {
        let mut guard = write();
        let table = guard.get_or_insert_with(Table::default);
        crate::reaper::ensure(table)?;
        // The number was free, so whatever the table still maps it to was closed: release that
        // kqueue now if nothing else holds its descriptor.
        if let Some(stale) = table.by_fd.remove(&fd) {
            if hung_up(&stale.keep) {
                released.extend(release_locked(table, stale.serial));
            }
        }
        table.next_serial += 1;
        let serial = table.next_serial;
        crate::reaper::watch(table, keep.as_raw_fd(), serial)?;
        let nested = Mutex::default();
        let nests = AtomicBool::new(false);
        let entry = Arc::new(Entry { kq, identity, keep, serial, pid: pid(), nested, nests });
        table.by_fd.insert(fd, entry.clone());
        table.by_identity.insert(identity, entry);
        table.by_serial.insert(serial, identity);
    }
    drop(released); // reactors are dropped outside the lock
    std::mem::forget(give); // now the C program's
    Ok(fd)
}

/// True when every copy of the write end of `keep`'s pipe is closed.
fn hung_up(keep: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd { fd: keep.as_raw_fd(), events: 0, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n == 1 && pfd.revents & libc::POLLHUP != 0
}

/// Removes the kqueue with reaper token `serial` from the table; the caller drops the returned
/// entry after releasing the lock.
pub fn release_locked(table: &mut Table, serial: u64) -> Option<Arc<Entry>> {
    let identity = table.by_serial.remove(&serial)?;
    let entry = table.by_identity.remove(&identity)?;
    table.by_fd.retain(|_, e| !Arc::ptr_eq(e, &entry));
    Some(entry)
}

/// Releases the kqueue with reaper token `serial` (its descriptor was closed).
pub fn release(serial: u64) {
    let entry = {
        let mut guard = write();
        guard.as_mut().and_then(|table| release_locked(table, serial))
    };
    drop(entry);
}

/// In a forked child: closes the descriptors of every kqueue (a kqueue is not inherited) and
/// forgets the table without dropping anything in it.
///
/// Only async-signal-safe calls (`fstat`, `fcntl`, `close`) and no allocation.
pub fn forget_in_child(table: &mut Option<Table>) {
    let Some(t) = table.take() else { return };
    for (&fd, entry) in &t.by_fd {
        if inspect(fd).is_ok_and(|(id, _)| id == entry.identity) && is_write_end(fd) {
            // SAFETY: `fd` is (a dup of) the kqueue's write end in this process: closing it is
            // what FreeBSD's fork does to a kqueue descriptor.
            unsafe { libc::close(fd) };
        }
    }
    for entry in t.by_identity.values() {
        // SAFETY: the read end is kq's own descriptor; it is forgotten below, not closed twice.
        unsafe { libc::close(entry.keep.as_raw_fd()) };
    }
    if let Some((epoll, _)) = &t.reaper {
        // SAFETY: the reaper's epoll descriptor is kq's own; forgotten below.
        unsafe { libc::close(epoll.as_raw_fd()) };
    }
    std::mem::forget(t);
}
