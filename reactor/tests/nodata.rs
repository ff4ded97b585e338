//! `note::NODATA`: READ/WRITE knotes that trust the backend's edges (what kq-runtime uses).
// Unix-only: pipes and Unix sockets (the Windows socket cases are in windows_sockets.rs).
#![cfg(unix)]
mod util;

use std::io;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

fn edge_read(fd: usize, udata: u64) -> Kevent {
    add(fd, Filter::Read, Flags::CLEAR).with_fflags(note::NODATA).with_udata(udata)
}

/// Waits up to 5 s for the events of one collection.
fn wait(kq: &Kqueue) -> io::Result<Vec<Kevent>> {
    collect(kq, Some(Duration::from_secs(5)))
}

#[test]
fn nodata_edge_reports_readiness_without_data() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    register(&kq, &[edge_read(ident(&a), 1)])?;
    assert!(poll(&kq)?.is_empty(), "nothing to read yet");
    write_fd(&b, b"hello")?;
    let ev = wait(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter, ev[0].udata), (ident(&a), Filter::Read, 1));
    assert_eq!(ev[0].data, 0, "NODATA: data is not computed");
    assert!(ev[0].flags.contains(Flags::CLEAR));
    assert!(poll(&kq)?.is_empty(), "an edge is delivered once");
    write_fd(&b, b"more")?;
    assert_eq!(wait(&kq)?.len(), 1, "new data, new edge");
    drop(b);
    let ev = wait(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(ev[0].flags.contains(Flags::EOF), "hang-up reported from the OS edge: {ev:?}");
    Ok(())
}

#[test]
fn nodata_registration_reports_current_readiness() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (a, b) = UnixStream::pair()?;
    write_fd(&b, b"already there")?;
    register(&kq, &[edge_read(ident(&a), 2)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "data present at EV_ADD fires at once: {ev:?}");
    assert_eq!((ev[0].filter, ev[0].udata, ev[0].data), (Filter::Read, 2, 0));
    // A WRITE knote added later on the same fd (the watch exists already: it is re-armed)
    // reports the current writability too.
    let write = add(ident(&a), Filter::Write, Flags::CLEAR).with_fflags(note::NODATA).with_udata(3);
    register(&kq, &[write])?;
    let ev = poll(&kq)?;
    assert!(ev.iter().any(|e| e.filter == Filter::Write && e.udata == 3), "{ev:?}");
    Ok(())
}

#[test]
fn nodata_is_ignored_by_a_level_knote() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (a, b) = UnixStream::pair()?;
    register(&kq, &[add(ident(&a), Filter::Read, Flags::empty()).with_fflags(note::NODATA)])?;
    write_fd(&b, b"abc")?;
    let ev = wait(&kq)?;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].data, 3, "a level knote is evaluated as usual");
    read_fd(&a, 3)?;
    assert!(poll(&kq)?.is_empty(), "and dropped once drained");
    Ok(())
}

/// A listener registered with NODATA is not asked whether it listens (the runtime's path saves
/// that `getsockopt`); modified later into a level knote that wants `data`, it reports the
/// accept backlog, as a listener registered that way from the start does.
#[test]
fn nodata_listener_modified_to_want_data_reports_the_backlog() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let fd = ident(&listener);
    register(&kq, &[edge_read(fd, 1)])?;
    let mut clients: Vec<_> =
        (0..3).map(|_| std::net::TcpStream::connect(addr)).collect::<io::Result<_>>()?;
    let ev = wait(&kq)?;
    assert_eq!((ev.len(), ev[0].data), (1, 0), "NODATA: readiness only: {ev:?}");
    register(&kq, &[add(fd, Filter::Read, Flags::empty()).with_udata(2)])?;
    let ev = wait(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].udata, ev[0].data), (2, 3), "the backlog, not FIONREAD: {ev:?}");
    assert!(!ev[0].flags.contains(Flags::EOF), "a listener is not at EOF: {ev:?}");
    // The knote keeps EV_CLEAR (a modification does not change the delivery mode): one accepted,
    // one more connecting gives a new event with the backlog as it now is.
    listener.accept()?;
    clients.push(std::net::TcpStream::connect(addr)?);
    let ev = wait(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].data, 3, "one accepted, one more connected: {ev:?}");
    Ok(())
}

/// A pending socket error without a hang-up (a connected UDP socket told of an ICMP
/// port-unreachable) fires a NODATA READ knote without EV_EOF, as FreeBSD's filt_soread
/// reports `so_error`: the read returns the error and clears it, and the socket stays usable.
/// Reported as EOF, it made kq-runtime treat the socket as closed for reading for good (every
/// later receive spun on WouldBlock).
#[cfg(any(target_os = "linux", target_os = "android"))] // Linux reports ICMP errors on loopback
#[test]
fn nodata_read_on_a_socket_error_alone_is_not_eof() -> io::Result<()> {
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?; // now nobody's
    let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(closed)?;
    sock.set_nonblocking(true)?;
    let kq = Kqueue::new()?;
    let fd = {
        use std::os::fd::AsRawFd;
        sock.as_raw_fd() as usize
    };
    register(&kq, &[edge_read(fd, 7)])?;
    sock.send(b"ping")?;
    let ev = wait(&kq)?;
    assert_eq!(ev.len(), 1, "the error is reported: {ev:?}");
    assert_eq!((ev[0].filter, ev[0].udata), (Filter::Read, 7));
    assert!(!ev[0].flags.contains(Flags::EOF), "an error alone is not end-of-file: {ev:?}");
    let err = sock.recv(&mut [0u8; 8]).expect_err("the ICMP error");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(sock.recv(&mut [0u8; 8]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert!(poll(&kq)?.is_empty(), "nothing more once the error was read");
    Ok(())
}
