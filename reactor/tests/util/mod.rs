//! Shared helpers of the reactor's integration tests.
#![allow(dead_code)]

use std::io;
#[cfg(unix)] // Descriptors: the Unix-only helpers below.
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};

/// A pipe: (read end, write end), both non-blocking and close-on-exec.
#[cfg(unix)] // Pipes are Unix descriptors.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // pipe2 sets both flags atomically (no window in which a concurrent test's fork+exec inherits
    // the fds); Apple has no pipe2, so there pipe and fcntl set them.
    #[cfg(not(target_vendor = "apple"))] // Apple lacks pipe2.
    // SAFETY: `fds` is valid for two ints.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    #[cfg(target_vendor = "apple")] // Apple lacks pipe2.
    // SAFETY: `fds` is valid for two ints.
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe returned two fresh fds that we now own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    #[cfg(target_vendor = "apple")] // Apple lacks pipe2.
    for fd in [&r, &w] {
        // SAFETY: fcntl on a descriptor we own, with flag arguments only.
        let ok = unsafe {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) == 0
                && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) == 0
        };
        if !ok {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((r, w))
}

/// Writes `buf` to a raw fd.
#[cfg(unix)] // Unix descriptors.
pub fn write_fd(fd: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Reads up to `n` bytes from a raw fd.
#[cfg(unix)] // Unix descriptors.
pub fn read_fd(fd: &impl AsRawFd, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    // SAFETY: `buf` is valid for `n` bytes of writes.
    let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), n) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(r as usize);
    Ok(buf)
}

/// Applies changes, failing on any error entry.
pub fn register(kq: &Kqueue, changes: &[Kevent]) -> io::Result<()> {
    kq.kevent(changes, &mut [], None).map(|_| ())
}

/// Collects with a zero timeout.
pub fn poll(kq: &Kqueue) -> io::Result<Vec<Kevent>> {
    collect(kq, Some(Duration::ZERO))
}

/// Polls and asserts that exactly one event came back, returning it.
pub fn poll_one(kq: &Kqueue, what: &str) -> Kevent {
    let events = poll(kq).expect("kevent");
    assert_eq!(events.len(), 1, "{what}: expected exactly one event, got {events:?}");
    events[0]
}

/// Collects up to 64 events with `timeout`.
pub fn collect(kq: &Kqueue, timeout: Option<Duration>) -> io::Result<Vec<Kevent>> {
    let mut events = [Kevent::default(); 64];
    let n = kq.kevent(&[], &mut events, timeout)?;
    Ok(events[..n].to_vec())
}

/// The change that adds `(ident, filter)` with extra `flags`.
pub fn add(ident: usize, filter: Filter, flags: Flags) -> Kevent {
    Kevent::new(ident, filter, Flags::ADD | flags)
}

/// The raw fd of something, as a kevent ident.
#[cfg(unix)] // Unix descriptors.
pub fn ident(fd: &impl AsRawFd) -> usize {
    fd.as_raw_fd() as usize
}

/// The kernel thread id of the calling thread (for [`wait_until_blocked`]; 0 off Linux).
pub fn gettid() -> i32 {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions.
    return unsafe { libc::gettid() };
    #[cfg(not(target_os = "linux"))]
    0
}

/// The checks built on these helpers read Linux's `/proc`. Where it is missing (the BSDs,
/// macOS: the suites compile there), they would find nothing and pass without checking: they
/// fail instead, naming what to port.
pub fn require_linux_proc(what: &str) {
    assert!(
        std::path::Path::new("/proc/self/stat").exists(),
        "{what} reads Linux's /proc, which this system does not have: port the check first"
    );
}

/// Waits (up to `limit`) until thread `tid` of this process is asleep in the kernel (state `S`
/// in `/proc/self/task/<tid>/stat`), e.g. blocked in `kevent`. Returns false if it never was.
/// This observes the thread's state; it does not sleep for a guessed time. Off Linux there is
/// no such file: it returns false at once.
pub fn wait_until_blocked(tid: i32, limit: Duration) -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    let path = format!("/proc/self/task/{tid}/stat");
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Ok(stat) = std::fs::read_to_string(&path) {
            // The state is the first field after the parenthesised command name.
            let state =
                stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            if state == Some('S') {
                return true;
            }
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
    }
}

/// Applies one change with no room for an echo and returns its errno (0 on success): a failed
/// change then fails the call with that errno. Nothing is collected.
pub fn change_errno(kq: &Kqueue, change: Kevent) -> i32 {
    match kq.kevent(&[change], &mut [], None) {
        Ok(_) => 0,
        Err(e) => e.raw_os_error().expect("a change fails with an errno"),
    }
}

/// Applies one change with room for its echo and returns the echoed errno (0 on success),
/// checking that ident, filter and udata come back intact.
pub fn echo_errno(kq: &Kqueue, change: Kevent) -> io::Result<i64> {
    let mut out = [Kevent::default(); 4];
    let n = kq.kevent(&[change.with_udata(99)], &mut out, Some(Duration::ZERO))?;
    assert_eq!(n, 1, "one ERROR entry expected for {change:?}, got {:?}", &out[..n]);
    assert_eq!(out[0].flags, Flags::ERROR, "{:?}", out[0]);
    assert_eq!((out[0].ident, out[0].filter, out[0].udata), (change.ident, change.filter, 99));
    Ok(out[0].data)
}

/// Asserts that nothing is pending on `kq`, collecting for 100 ms (so that events the OS already
/// queued, from inotify or the signal pipe, are read).
pub fn assert_quiet(kq: &Kqueue, what: &str) -> io::Result<()> {
    let events = collect(kq, Some(Duration::from_millis(100)))?;
    assert!(events.is_empty(), "{what}: expected no event, got {events:?}");
    Ok(())
}

/// A signal number just past the OS's last one (SIGNAL knotes on it are `EINVAL`): 65 on Linux
/// (64 signals); FreeBSD has 128.
#[cfg(not(target_os = "freebsd"))] // 65 is past the last signal of Linux, macOS, Net- and OpenBSD.
pub const PAST_LAST_SIGNAL: usize = 65;
/// A signal number just past the OS's last one (SIGNAL knotes on it are `EINVAL`): FreeBSD's
/// `_SIG_MAXSIG` is 128.
#[cfg(target_os = "freebsd")] // FreeBSD has 128 signals (65 is its SIGRTMIN).
pub const PAST_LAST_SIGNAL: usize = 129;

/// How long a thread may take to come back before the test calls it hung.
pub const HANG: Duration = Duration::from_secs(10);

/// Applies `changes` with an event buffer of `cap` slots and a zero timeout.
pub fn call(kq: &Kqueue, changes: &[Kevent], cap: usize) -> io::Result<Vec<Kevent>> {
    let mut events = vec![Kevent::default(); cap];
    let n = kq.kevent(changes, &mut events, Some(Duration::ZERO))?;
    assert!(n <= cap, "kevent returned {n} entries for {cap} slots");
    events.truncate(n);
    Ok(events)
}

/// Applies one change with room for its echo and returns the echoed entry, which must exist.
pub fn echo(kq: &Kqueue, change: Kevent) -> io::Result<Kevent> {
    let out = call(kq, &[change], 4)?;
    assert_eq!(out.len(), 1, "expected exactly one ERROR entry for {change:?}, got {out:?}");
    assert_eq!(out[0].flags, Flags::ERROR, "not an ERROR entry: {:?}", out[0]);
    Ok(out[0])
}

/// Asserts that applying `change` is echoed as an error entry with `errno`.
pub fn assert_errno(kq: &Kqueue, change: Kevent, errno: i32) -> io::Result<()> {
    let e = echo(kq, change)?;
    assert_eq!(e.data, i64::from(errno), "errno of {change:?}: got {e:?}");
    Ok(())
}

/// A NOTE_TRIGGER change for USER `id`.
pub fn trigger(id: usize) -> Kevent {
    Kevent::new(id, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)
}

/// A change on an existing knote with only `flags`.
pub fn change(id: usize, filter: Filter, flags: Flags) -> Kevent {
    Kevent::new(id, filter, flags)
}

/// A descriptor numbered 512 or more (256, 64 if the limit is low), and the lock that keeps the
/// other tests of this binary from getting that number while the caller uses it: keep the guard
/// as long as the number is used, also after closing the fd (a test that closes it expects the
/// number to stay closed; without the lock a test running in parallel could take it: seen in CI).
#[cfg(unix)] // Unix descriptors.
pub fn high_fd() -> io::Result<(std::sync::MutexGuard<'static, ()>, OwnedFd)> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (r, _w) = pipe()?;
    for min in [512, 256, 64] {
        // SAFETY: F_DUPFD_CLOEXEC duplicates an fd we own into a fresh one that we then own.
        let fd = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
        if fd >= 0 {
            // SAFETY: fcntl returned a new descriptor nobody else owns.
            return Ok((serial, unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    Err(io::Error::last_os_error())
}

/// Runs `f` on a thread and waits at most [`HANG`] for it: a hang fails the test instead of
/// blocking the test binary forever.
pub fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(HANG) {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not return within {HANG:?}"),
    }
}

/// Makes descriptor number `num` name the file of `fd`, close-on-exec (closing what `num` named
/// before).
#[cfg(unix)] // Unix descriptors.
pub fn dup_onto(fd: &impl AsRawFd, num: i32) {
    // dup3 sets close-on-exec atomically; Apple has no dup3, so there dup2 and fcntl do.
    #[cfg(not(target_vendor = "apple"))] // Apple lacks dup3.
    // SAFETY: dup3 onto a number the caller reserved; it closes whatever that number named.
    let got = unsafe { libc::dup3(fd.as_raw_fd(), num, libc::O_CLOEXEC) };
    #[cfg(target_vendor = "apple")] // Apple lacks dup3.
    // SAFETY: dup2 onto a number the caller reserved, then a flag on the new descriptor.
    let got = unsafe {
        let got = libc::dup2(fd.as_raw_fd(), num);
        if got == num && libc::fcntl(num, libc::F_SETFD, libc::FD_CLOEXEC) != 0 {
            -1
        } else {
            got
        }
    };
    assert_eq!(got, num, "dup onto {num}: {}", io::Error::last_os_error());
}
