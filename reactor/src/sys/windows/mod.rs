//! READ and WRITE on Windows sockets (ident = the `SOCKET` handle), through mio's Windows backend.
//!
//! # How a socket is evaluated
//!
//! A zero-timeout `WSAPoll` for the direction, `ioctlsocket(FIONREAD)` for `data`, and
//! `getsockopt(SO_ERROR)` for a pending error (not for [`note::NODATA`] knotes: reading it clears
//! it, as on Linux). A stream socket that is readable with nothing to read is at end-of-file when a
//! one-byte `MSG_PEEK` returns 0, whether or not `WSAPoll` also said `POLLHUP`; and a READ knote
//! is at end-of-file, with bytes still to read, once the AFD poll has reported the read side
//! closed (`WSAPoll` does not say `POLLHUP` for a peer's FIN under wine).
//!
//! # Edges on a level-triggered poller
//!
//! The AFD poll under mio reports conditions (levels), and mio stops watching a condition once it
//! has reported it. The reactor re-arms a direction whenever an evaluation finds it *not* ready:
//! level knotes are evaluated at each collection, so they re-arm as soon as the application has
//! drained the socket; [`Flags::ONESHOT`] and [`Flags::DISPATCH`] knotes are evaluated when
//! re-added or enabled; `NOTE_NODATA` knotes when re-added (kq-runtime re-adds its knotes after a
//! `WouldBlock`). A [`Flags::CLEAR`] knote without `NOTE_NODATA` cannot be exact here: the
//! reactor does not see the application's reads, so it cannot tell new data from data left unread.
//! It stays on the ready queue after delivery, re-evaluated at each collection: it is reported
//! again at each `kevent` call while its condition holds (a repeated event rather than a lost
//! one), and re-armed once the condition is gone.
//!
//! # What Windows cannot give
//!
//! - READ on a listening socket: `data` is 1 when connections are pending (the backlog length
//!   is not available).
//! - WRITE: `data` is 1 when writable (the free send-buffer space is not available).
//! - `NOTE_LOWAT` is `EOPNOTSUPP` at registration (and ignored if set by a later change): a
//!   socket readable below the mark would be re-armed and reported by the AFD poll at once, over
//!   and over, and left unarmed it would never report the data that reaches the mark.
//! - Identity: a knote remembers its socket's handle and type. A socket closed while it has knotes
//!   is detected at the next evaluation (`WSAENOTSOCK`) and its knotes dropped, but a handle
//!   reused at once by a new socket of the same type is not told apart: delete the knotes before
//!   closing (the kq crates do).
//! - Only sockets: any other handle is `EBADF`. VNODE, PROC and SIGNAL are `EOPNOTSUPP`.
//!
//! [`note::NODATA`]: crate::note::NODATA
//! [`Flags::ONESHOT`]: crate::Flags::ONESHOT
//! [`Flags::DISPATCH`]: crate::Flags::DISPATCH
//! [`Flags::CLEAR`]: crate::Flags::CLEAR

mod backend;
mod contract;

pub(crate) use backend::Backend;
use backend::{DIR_READ, DIR_WRITE};

use windows_sys::Win32::Networking::WinSock as ws;

use crate::core::FdType;
use crate::kevent::{note, Filter, Flags, Kevent};
use crate::sys::{Kind, Knote};

fn getsockopt_int(sock: usize, level: i32, name: i32) -> Result<i32, i32> {
    let mut val: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as i32;
    // SAFETY: `val` and `len` are valid for writes and `len` holds the size of `val`; an invalid
    // handle makes the call fail with WSAENOTSOCK.
    let rc = unsafe {
        ws::getsockopt(sock as ws::SOCKET, level, name, (&mut val as *mut i32).cast(), &mut len)
    };
    if rc == 0 {
        Ok(val)
    } else {
        // SAFETY: no arguments; reads this thread's last Winsock error.
        Err(unsafe { ws::WSAGetLastError() })
    }
}

/// The identity of socket `sock`: its type and handle. `EBADF` for anything but an open socket.
pub(crate) fn identity(sock: usize) -> Result<(u64, u64), i32> {
    let ty = getsockopt_int(sock, ws::SOL_SOCKET, ws::SO_TYPE).map_err(|_| libc::EBADF)?;
    Ok((ty as u64, sock as u64))
}

/// Sets up a READ/WRITE knote on socket `kev.ident`.
pub(crate) fn attach(
    backend: &Backend,
    kev: &Kevent,
    identity: (u64, u64),
    first: bool,
) -> Result<Kind, i32> {
    if kev.fflags & note::LOWAT != 0 {
        return Err(crate::errno::EOPNOTSUPP);
    }
    let ty = match getsockopt_int(kev.ident, ws::SOL_SOCKET, ws::SO_ACCEPTCONN) {
        Ok(1) => FdType::Listener,
        Ok(_) => FdType::Socket,
        Err(_) => return Err(libc::EBADF),
    };
    if first {
        backend.watch_fd(kev.ident).map_err(|_| libc::EBADF)?;
    }
    Ok(Kind::Fd { ty, identity })
}

/// For a NODATA edge knote: a fresh watch reports the current readiness; otherwise re-arm.
pub(crate) fn arm_edges(backend: &Backend, kn: &Knote, first: bool) -> bool {
    matches!(kn.kind, Kind::Fd { .. }) && (first || backend.rearm_fd(kn.ident).is_ok())
}

pub(crate) fn detach(backend: &Backend, kn: &Knote, last: bool) {
    if last {
        backend.unwatch_fd(kn.ident);
    }
}

/// A CLEAR knote without NODATA stays queued after delivery (see the module docs).
pub(crate) fn requeue_after_delivery(kn: &Knote) -> bool {
    matches!(kn.kind, Kind::Fd { .. })
        && kn.flags.contains(Flags::CLEAR)
        && !kn.flags.intersects(Flags::ONESHOT | Flags::DISPATCH)
        && kn.sfflags & note::NODATA == 0
}

/// f_event for a socket knote; re-arms the direction when its condition does not hold.
pub(crate) fn evaluate(backend: &Backend, kn: &mut Knote) -> Result<bool, ()> {
    let Kind::Fd { ty, identity } = kn.kind else { return Ok(false) };
    if self::identity(kn.ident).map_err(|_| ())? != identity {
        return Err(()); // closed, and the handle reused by a socket of another type
    }
    let mut p = probe(kn.ident, kn.filter, ty, identity.0 as i32, kn.sfflags)?;
    if kn.filter == Filter::Read && ty == FdType::Socket && backend.read_closed(kn.ident) {
        p.eof = true;
        p.ready = true;
    }
    kn.data = p.data;
    kn.eof = p.eof;
    kn.fflags = p.fflags;
    if !p.ready {
        let dir = if kn.filter == Filter::Write { DIR_WRITE } else { DIR_READ };
        // A failure leaves the knote evaluated at the next change: nothing better to do.
        let _ = backend.arm(kn.ident, dir, false);
    }
    Ok(p.ready)
}

#[derive(Default)]
struct Probe {
    ready: bool,
    data: i64,
    eof: bool,
    fflags: u32,
}

/// Evaluates READ or WRITE on `sock`. `Err(())` when it is no longer an open socket.
fn probe(
    sock: usize,
    filter: Filter,
    ty: FdType,
    sock_type: i32,
    sfflags: u32,
) -> Result<Probe, ()> {
    let events = if filter == Filter::Write { ws::POLLWRNORM } else { ws::POLLRDNORM };
    let mut pfd = ws::WSAPOLLFD { fd: sock as ws::SOCKET, events, revents: 0 };
    // SAFETY: one valid WSAPOLLFD, zero timeout.
    let rc = unsafe { ws::WSAPoll(&mut pfd, 1, 0) };
    if rc < 0 {
        // SAFETY: no arguments.
        let err = unsafe { ws::WSAGetLastError() };
        return if err == ws::WSAENOTSOCK { Err(()) } else { Ok(Probe::default()) };
    }
    let re = pfd.revents;
    if re & ws::POLLNVAL != 0 {
        return Err(());
    }
    let err = re & ws::POLLERR != 0;
    let mut p = Probe::default();
    if err && sfflags & note::NODATA == 0 {
        p.fflags = getsockopt_int(sock, ws::SOL_SOCKET, ws::SO_ERROR).unwrap_or(0) as u32;
    }
    let hup = re & ws::POLLHUP != 0;
    if filter == Filter::Write {
        // The free space of the send buffer is not available on Windows: 1 when writable.
        let writable = re & ws::POLLWRNORM != 0;
        p.eof = hup || err;
        p.data = i64::from(writable);
        p.ready = p.eof || writable;
        return Ok(p);
    }
    let readable = re & ws::POLLRDNORM != 0;
    if ty == FdType::Listener {
        // The backlog length is not available on Windows: 1 when connections are pending.
        p.data = i64::from(readable);
        p.ready = readable || err;
        return Ok(p);
    }
    p.data = if readable { fionread(sock).unwrap_or(0) } else { 0 };
    let stream = sock_type == ws::SOCK_STREAM;
    p.eof = hup || err || (readable && p.data == 0 && stream && peek_eof(sock));
    // Readable is ready (NOTE_LOWAT is refused at registration): a condition the AFD poll
    // reports but the knote did not accept would be re-armed, reported again at once, and so on.
    // A datagram socket is readable with `data` 0 when a zero-length datagram waits.
    p.ready = p.eof || (readable && (p.data > 0 || !stream));
    Ok(p)
}

fn fionread(sock: usize) -> Option<i64> {
    let mut n: u32 = 0;
    // SAFETY: FIONREAD writes one u32 through the pointer.
    let rc = unsafe { ws::ioctlsocket(sock as ws::SOCKET, ws::FIONREAD, &mut n) };
    (rc == 0).then_some(i64::from(n))
}

/// A readable stream socket with nothing to read: a one-byte peek returns 0 at end-of-file.
fn peek_eof(sock: usize) -> bool {
    let mut byte = 0u8;
    // SAFETY: one byte of valid buffer; MSG_PEEK leaves the data (there is none) in place.
    let rc = unsafe { ws::recv(sock as ws::SOCKET, &mut byte, 1, ws::MSG_PEEK) };
    rc == 0
}
