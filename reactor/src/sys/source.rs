//! Asking an fd directly whether a READ or WRITE condition holds (FreeBSD's `f_event` for sockets,
//! pipes and files): a zero-timeout `poll(2)` plus the ioctl that gives `data`. This is what makes
//! level semantics exact on an edge-triggered poller.

use std::mem::MaybeUninit;

use crate::core::FdType;
use crate::kevent::{note, Filter};

/// The result of evaluating an fd.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Probe {
    pub ready: bool,
    pub data: i64,
    pub eof: bool,
    pub fflags: u32,
}

pub(crate) fn fstat(fd: usize) -> Result<libc::stat, i32> {
    let fd = libc::c_int::try_from(fd).map_err(|_| libc::EBADF)?;
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a valid out-pointer for one `stat`; fstat only writes through it.
    let rc = unsafe { libc::fstat(fd, st.as_mut_ptr()) };
    if rc == 0 {
        // SAFETY: fstat returned 0, so it initialised `st`.
        Ok(unsafe { st.assume_init() })
    } else {
        Err(errno())
    }
}

/// Zero-timeout readability of an fd (a pidfd that exited; a backend with OS events not yet
/// harvested).
pub(crate) fn readable(fd: libc::c_int) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    rc > 0 && pfd.revents & libc::POLLIN != 0
}

pub(crate) use crate::errno::last as errno;

/// `(st_dev, st_ino)` of a stat.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
pub(crate) fn identity_of(st: &libc::stat) -> (u64, u64) {
    (st.st_dev as u64, st.st_ino as u64)
}

fn getsockopt_int(fd: libc::c_int, level: libc::c_int, name: libc::c_int) -> Option<libc::c_int> {
    let mut val: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `val` and `len` are valid for writes and `len` holds the size of `val`.
    let rc = unsafe {
        libc::getsockopt(fd, level, name, (&mut val as *mut libc::c_int).cast(), &mut len)
    };
    (rc == 0).then_some(val)
}

fn ioctl_int(fd: libc::c_int, req: libc::c_ulong) -> Option<libc::c_int> {
    let mut val: libc::c_int = 0;
    // SAFETY: the requests used here (FIONREAD, SIOCOUTQ, FIONSPACE) write one int through the pointer.
    let rc = unsafe { libc::ioctl(fd, req as _, &mut val as *mut libc::c_int) };
    (rc == 0).then_some(val)
}

/// Classifies an open fd from its stat.
///
/// `wants_data`: false for a knote that only takes the backend's edges (`NOTE_NODATA` with an
/// edge mode), which never computes `data`: a socket is then not asked whether it listens (a
/// `getsockopt` saved per registration); should the knote later want `data`, [`probe`] finds out.
pub(crate) fn classify(fd: usize, st: &libc::stat, wants_data: bool) -> FdType {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => FdType::File,
        libc::S_IFSOCK => {
            if wants_data && is_listener(fd as libc::c_int) {
                FdType::Listener
            } else {
                FdType::Socket
            }
        }
        _ => FdType::Other,
    }
}

fn is_listener(fd: libc::c_int) -> bool {
    getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Some(1)
}

/// Pending connections of a listening socket. Linux reports the accept-queue length in
/// `tcpi_unacked`; elsewhere (and for Unix-domain listeners) at least 1 is reported when any is.
fn pending_connections(fd: libc::c_int) -> i64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut info = MaybeUninit::<libc::tcp_info>::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: `info` is valid for `len` bytes of writes.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if rc == 0 {
            // SAFETY: zero-initialised, and the kernel filled at most `len` bytes of it.
            let info = unsafe { info.assume_init() };
            return i64::from(info.tcpi_unacked).max(1);
        }
    }
    let _ = fd;
    1
}

/// Bytes that can be written without blocking, where the platform says.
fn write_space(fd: libc::c_int, ty: FdType) -> Option<i64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        if ty == FdType::Socket {
            let sndbuf = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF)?;
            let queued = ioctl_int(fd, libc::TIOCOUTQ as libc::c_ulong)?;
            return Some(i64::from(sndbuf.saturating_sub(queued)).max(0));
        }
        // SAFETY: F_GETPIPE_SZ takes no argument and fails harmlessly on a non-pipe.
        let size = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
        if size > 0 {
            let queued = ioctl_int(fd, libc::FIONREAD as libc::c_ulong).unwrap_or(0);
            return Some(i64::from(size.saturating_sub(queued)).max(0));
        }
        None
    }
    #[cfg(any(target_os = "freebsd", target_os = "netbsd"))]
    {
        let _ = ty;
        ioctl_int(fd, libc::FIONSPACE as libc::c_ulong).map(i64::from)
    }
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        if ty != FdType::Socket {
            return None;
        }
        let sndbuf = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF)?;
        let queued = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_NWRITE)?;
        Some(i64::from(sndbuf.saturating_sub(queued)).max(0))
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "macos",
        target_os = "ios"
    )))]
    {
        let _ = (fd, ty);
        None
    }
}

fn file_remaining(fd: libc::c_int) -> i64 {
    let Ok(st) = fstat(fd as usize) else { return 0 };
    // SAFETY: lseek with offset 0 and SEEK_CUR only reads the file offset.
    let pos = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
    if pos < 0 {
        return 0;
    }
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let size = st.st_size as i64;
    (size - pos as i64).max(0)
}

/// Evaluates READ or WRITE on `fd`. `Err(())` when the fd is no longer open (`POLLNVAL`).
pub(crate) fn probe(
    fd: usize,
    filter: Filter,
    ty: FdType,
    sfflags: u32,
    sdata: i64,
) -> Result<Probe, ()> {
    let raw = libc::c_int::try_from(fd).map_err(|_| ())?;
    let lowat = if sfflags & note::LOWAT != 0 { sdata.max(1) } else { 1 };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let rdhup = libc::POLLRDHUP;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let rdhup = 0;
    let events = match filter {
        Filter::Write => libc::POLLOUT,
        _ => libc::POLLIN | rdhup,
    };
    let mut pfd = libc::pollfd { fd: raw, events, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    if rc < 0 {
        return Ok(Probe::default());
    }
    let re = pfd.revents;
    if re & libc::POLLNVAL != 0 {
        return Err(());
    }
    let err = re & libc::POLLERR != 0;
    let mut p = Probe::default();
    // The socket error goes in fflags, as on FreeBSD. Linux can only read it by clearing it
    // (SO_ERROR), so the application's next read no longer sees it: a NODATA knote, which asks
    // for readiness only, leaves it alone.
    if err && sfflags & note::NODATA == 0 && matches!(ty, FdType::Socket | FdType::Listener) {
        p.fflags = getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_ERROR).unwrap_or(0) as u32;
    }
    match filter {
        Filter::Write => {
            if ty == FdType::File {
                return Ok(Probe { ready: true, ..p });
            }
            p.eof = re & libc::POLLHUP != 0 || err;
            let writable = re & libc::POLLOUT != 0;
            p.data = if writable { write_space(raw, ty).unwrap_or(1) } else { 0 };
            p.ready = p.eof || (writable && p.data >= lowat);
        }
        _ => match ty {
            FdType::File => {
                p.data = file_remaining(raw);
                p.ready = p.data >= lowat;
            }
            FdType::Listener => {
                p.data = if re & libc::POLLIN != 0 { pending_connections(raw) } else { 0 };
                p.ready = p.data > 0 || err;
            }
            _ => {
                p.eof = re & (libc::POLLHUP | rdhup) != 0 || err;
                let readable = re & libc::POLLIN != 0;
                let avail = if readable {
                    ioctl_int(raw, libc::FIONREAD as libc::c_ulong)
                } else {
                    Some(0)
                };
                // A socket classified without asking whether it listens (see `classify`): a
                // listener has no FIONREAD, and its `data` is the accept backlog.
                if avail.is_none() && ty == FdType::Socket && is_listener(raw) {
                    p.data = if readable { pending_connections(raw) } else { 0 };
                    p.ready = p.data > 0 || err;
                    return Ok(p);
                }
                p.data = avail.map_or(0, i64::from);
                // An fd without FIONREAD (an eventfd, a tty) is ready whenever poll says so.
                p.ready = p.eof || (readable && (avail.is_none() || p.data >= lowat));
            }
        },
    }
    Ok(p)
}
