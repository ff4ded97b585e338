//! The few system calls the watcher makes itself: directory fds, `fstatat` snapshots of
//! entries, reading a directory through its fd, the path of an fd, and the fd limit.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::event::FileType;

/// What a snapshot keeps of one file: enough to tell a new file from a moved one and a write
/// from a chmod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub kind: FileType,
    pub size: i64,
    /// Times in nanoseconds since the epoch (one i64 each: the snapshot of 100,000 files is
    /// the watcher's main memory cost).
    pub mtime: i64,
    pub ctime: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Birth time where the system gives it (Linux statx), else 0: tells a file moved from a new
    /// file that got a freed inode number again.
    pub btime: i64,
}

impl Stat {
    // The field types differ between platforms: the casts are no-ops only on some.
    #[allow(clippy::unnecessary_cast)]
    fn from(st: &libc::stat) -> Stat {
        Stat {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            kind: FileType::from_mode(st.st_mode as u32),
            size: st.st_size as i64,
            mtime: ns(st.st_mtime as i64, nsec(st).0),
            ctime: ns(st.st_ctime as i64, nsec(st).1),
            mode: st.st_mode as u32,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            btime: 0,
        }
    }

    /// (device, inode): the identity renames are paired by.
    pub fn id(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// Can `self` (seen at a name now) be the same file as `old` (seen elsewhere before)? Same
    /// (device, inode), same type, and the same birth time when both are known: a file freed
    /// and a new one given its inode number in between is not a rename.
    pub fn same_file(&self, old: &Stat) -> bool {
        self.id() == old.id()
            && self.kind == old.kind
            && (self.btime == 0 || old.btime == 0 || self.btime == old.btime)
    }

    #[cfg(target_os = "linux")]
    fn from_statx(st: &libc::statx) -> Stat {
        let dev = libc::makedev(st.stx_dev_major, st.stx_dev_minor);
        let ts = |t: &libc::statx_timestamp| ns(t.tv_sec, i64::from(t.tv_nsec));
        let btime = if st.stx_mask & libc::STATX_BTIME != 0 { ts(&st.stx_btime) } else { 0 };
        Stat {
            dev,
            ino: st.stx_ino,
            kind: FileType::from_mode(u32::from(st.stx_mode)),
            size: st.stx_size as i64,
            mtime: ts(&st.stx_mtime),
            ctime: ts(&st.stx_ctime),
            mode: u32::from(st.stx_mode),
            uid: st.stx_uid,
            gid: st.stx_gid,
            btime,
        }
    }
}

/// Seconds and nanoseconds as one count of nanoseconds (saturating: far past 2262 is clamped).
fn ns(sec: i64, nsec: i64) -> i64 {
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// The nanoseconds of (mtime, ctime): the field names differ on NetBSD.
#[allow(clippy::unnecessary_cast)]
fn nsec(st: &libc::stat) -> (i64, i64) {
    #[cfg(target_os = "netbsd")]
    return (st.st_mtimensec as i64, st.st_ctimensec as i64);
    #[cfg(not(target_os = "netbsd"))]
    return (st.st_mtime_nsec as i64, st.st_ctime_nsec as i64);
}

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `fstatat(dir, name)` (`statx` on Linux, for the birth time), following a final symlink only
/// with `follow`.
pub(crate) fn stat_at(dir: RawFd, name: &OsStr, follow: bool) -> io::Result<Stat> {
    stat_at_c(dir, &cstr(name)?, follow)
}

/// [`stat_at`] of a name already NUL-terminated (as `readdir` gives it).
pub(crate) fn stat_at_c(dir: RawFd, name: &CStr, follow: bool) -> io::Result<Stat> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a zeroed `statx` is a valid out-value.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
        let mask = libc::STATX_BASIC_STATS | libc::STATX_BTIME;
        // SAFETY: `name` is a valid C string and `stx` is valid for writes.
        match check(unsafe { libc::statx(dir, name.as_ptr(), flags, mask, &mut stx) }) {
            Ok(_) => return Ok(Stat::from_statx(&stx)),
            // Old kernels and some sandboxes: fall back to fstatat.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {}
            Err(e) => return Err(e),
        }
    }
    // SAFETY: a zeroed `stat` is a valid out-value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // SAFETY: `name` is a valid C string and `st` is valid for writes.
    check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, flags) })?;
    Ok(Stat::from(&st))
}

/// `stat` (or `lstat`) of a path.
pub(crate) fn stat_path(path: &Path, follow: bool) -> io::Result<Stat> {
    stat_at(libc::AT_FDCWD, path.as_os_str(), follow)
}

/// The link count of the file open at `fd` (0: it was deleted).
pub(crate) fn nlink(fd: RawFd) -> io::Result<u64> {
    // SAFETY: a zeroed `stat` is a valid out-value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is valid for writes; a bad fd gives EBADF.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    #[allow(clippy::unnecessary_cast)]
    Ok(st.st_nlink as u64)
}

/// `fstat` of an fd.
pub(crate) fn fstat(fd: RawFd) -> io::Result<Stat> {
    // SAFETY: a zeroed `stat` is a valid out-value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is valid for writes; a bad fd gives EBADF.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(Stat::from(&st))
}

/// Opens the directory `name` of `dir` (or a path, with `dir` = `AT_FDCWD`) for watching. Without
/// `follow`, a symlink is refused (ELOOP / ENOTDIR).
pub(crate) fn open_dir_at(dir: RawFd, name: &OsStr, follow: bool) -> io::Result<OwnedFd> {
    let name = cstr(name)?;
    let mut flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    // SAFETY: a valid C string; the result is a new fd or -1.
    let fd = check(unsafe { libc::openat(dir, name.as_ptr(), flags) })?;
    // SAFETY: a fresh fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether the directory `id` is the one open at `fd` or above it on disk (following `..` up to
/// the filesystem root, at most `steps` levels). A failure to look answers yes.
pub(crate) fn is_above(fd: RawFd, id: (u64, u64), steps: usize) -> bool {
    let Ok(mut last) = fstat(fd).map(|s| s.id()) else { return true };
    let mut cur: Option<OwnedFd> = None;
    for _ in 0..steps {
        if last == id {
            return true;
        }
        let at = cur.as_ref().map_or(fd, AsRawFd::as_raw_fd);
        let Ok(up) = open_dir_at(at, OsStr::new(".."), false) else { return true };
        let Ok(st) = fstat(up.as_raw_fd()) else { return true };
        if st.id() == last {
            // The filesystem root is its own parent.
            return false;
        }
        last = st.id();
        cur = Some(up);
    }
    last == id
}

/// Opens a file of `dir` for a per-file VNODE knote (native kqueue), without following symlinks
/// and without blocking on FIFOs.
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub(crate) fn open_file_at(dir: RawFd, name: &OsStr) -> io::Result<OwnedFd> {
    let name = cstr(name)?;
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    let access = libc::O_EVTONLY;
    #[cfg(not(any(target_os = "macos", target_os = "ios")))]
    let access = libc::O_RDONLY;
    let flags = access | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK;
    // SAFETY: a valid C string; the result is a new fd or -1.
    let fd = check(unsafe { libc::openat(dir, name.as_ptr(), flags) })?;
    // SAFETY: a fresh fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Calls `f` with each name in the directory open at `fd` (without `.` and `..`), from the
/// beginning, allocating nothing per name. A directory that was removed reads as empty.
/// `buf` is the buffer to read into (kept by the caller, reused).
#[cfg(target_os = "linux")]
pub(crate) fn read_dir(
    fd: &OwnedFd,
    buf: &mut Vec<u64>,
    mut f: impl FnMut(&CStr),
) -> io::Result<()> {
    // getdents64 on the fd itself (ours, used by one thread at a time): no duplicate, no DIR.
    let raw = fd.as_raw_fd();
    // SAFETY: plain lseek of an fd we own.
    if unsafe { libc::lseek(raw, 0, libc::SEEK_SET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // u64s: aligned as the kernel's `linux_dirent64` records.
    if buf.len() < 4096 {
        buf.resize(4096, 0);
    }
    let len = buf.len() * 8;
    loop {
        // SAFETY: `buf` is valid for `len` bytes of writes.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, raw, buf.as_mut_ptr(), len) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENOENT) => Ok(()),
                _ => Err(err),
            };
        }
        if n == 0 {
            return Ok(());
        }
        let n = n as usize;
        let bytes = buf.as_ptr().cast::<u8>();
        let mut off = 0;
        // Record layout: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name (NUL-terminated).
        while off + 19 < n {
            // SAFETY: within the `n` bytes the kernel wrote; the record's name is NUL-terminated
            // inside its `d_reclen` bytes.
            let (reclen, name) = unsafe {
                let rec = bytes.add(off);
                let reclen = std::ptr::read_unaligned(rec.add(16).cast::<u16>()) as usize;
                (reclen, CStr::from_ptr(rec.add(19).cast()))
            };
            if reclen == 0 {
                break;
            }
            let b = name.to_bytes();
            if b != b"." && b != b".." {
                f(name);
            }
            off += reclen;
        }
    }
}

/// Calls `f` with each name in the directory open at `fd` (without `.` and `..`), from the
/// beginning. A directory that was removed reads as empty.
#[cfg(not(target_os = "linux"))]
pub(crate) fn read_dir(
    fd: &OwnedFd,
    _buf: &mut Vec<u64>,
    mut f: impl FnMut(&CStr),
) -> io::Result<()> {
    // fdopendir takes the fd it is given: hand it a duplicate, and start from the beginning.
    // SAFETY: plain dup of an fd we own.
    let dup = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `dup` is ours; on success the DIR owns it, on failure we close it.
    let dirp = unsafe { libc::fdopendir(dup) };
    if dirp.is_null() {
        let err = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so `dup` is still ours to close.
        unsafe { libc::close(dup) };
        return Err(err);
    }
    // SAFETY: a valid DIR; the duplicate shares the offset, which a previous read moved.
    unsafe { libc::rewinddir(dirp) };
    let result = loop {
        set_errno(0);
        // SAFETY: a valid DIR, used by this thread only.
        let ent = unsafe { libc::readdir(dirp) };
        if ent.is_null() {
            let errno = io::Error::last_os_error();
            break match errno.raw_os_error() {
                Some(0) | Some(libc::ENOENT) => Ok(()),
                _ => Err(errno),
            };
        }
        // SAFETY: readdir returned a valid dirent whose d_name is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
        let b = name.to_bytes();
        if b != b"." && b != b".." {
            f(name);
        }
    };
    // SAFETY: a valid DIR, closed once (this also closes `dup`).
    unsafe { libc::closedir(dirp) };
    result
}

#[cfg(not(target_os = "linux"))]
fn set_errno(v: i32) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: the thread's errno location is always valid.
    unsafe {
        *libc::__errno_location() = v
    };
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    // SAFETY: the thread's errno location is always valid.
    unsafe {
        *libc::__error() = v
    };
    #[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
    // SAFETY: the thread's errno location is always valid.
    unsafe {
        *libc::__errno() = v
    };
}

/// Where the file open at `fd` now is, when the system can tell (Linux: `/proc/self/fd`).
pub(crate) fn fd_path(fd: RawFd) -> Option<PathBuf> {
    if cfg!(target_os = "linux") {
        let p = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
        let bytes = p.as_os_str().as_bytes();
        if bytes.ends_with(b" (deleted)") || !bytes.starts_with(b"/") {
            return None;
        }
        return Some(p);
    }
    None
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (native kqueue, where every watched file
/// needs its own descriptor). Returns the soft limit now in force.
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub(crate) fn raise_nofile() -> u64 {
    // SAFETY: a zeroed rlimit is a valid out-value.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `rl` is valid for writes.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return 0;
    }
    if rl.rlim_cur < rl.rlim_max {
        let mut want = rl;
        want.rlim_cur = rl.rlim_max;
        // macOS refuses more than OPEN_MAX (10,240, <sys/syslimits.h>) for an unlimited hard
        // limit.
        #[cfg(any(target_os = "macos", target_os = "ios"))]
        if want.rlim_cur > 10_240 {
            want.rlim_cur = 10_240;
        }
        // SAFETY: a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            return want.rlim_cur as u64;
        }
    }
    rl.rlim_cur as u64
}
