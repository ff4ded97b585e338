//! Conformance checklist items 24-29 (KQUEUE.md section 7): READ and WRITE on real sockets and
//! pipes, NOTE_LOWAT, closed and reused descriptors. Item 30 (nesting) is in `conformance_nest.rs`.
//!
//! Every test here holds one process-wide lock, so that no other test of this binary creates or
//! closes descriptors meanwhile: fd numbers are then allocated deterministically, which the
//! fd-reuse tests (item 29) rely on.
// Unix-only: pipes and Unix sockets (the Windows socket cases are in windows_sockets.rs).
#![cfg(unix)]
mod util;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the tests of this binary (see the module docs).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Collects until an event satisfying `pred` arrives, for at most `limit`. Used where the event
/// depends on the network stack (TCP on loopback), never as a substitute for synchronisation.
fn wait_for(kq: &Kqueue, limit: Duration, mut pred: impl FnMut(&Kevent) -> bool) -> Option<Kevent> {
    let deadline = Instant::now() + limit;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        let slice = (deadline - now).min(Duration::from_millis(100));
        let events = collect(kq, Some(slice)).expect("kevent");
        if let Some(ev) = events.into_iter().find(|e| pred(e)) {
            return Some(ev);
        }
    }
}

/// Reads everything a non-blocking fd has.
fn drain(fd: &impl AsRawFd) -> usize {
    let mut total = 0;
    loop {
        match read_fd(fd, 65536) {
            Ok(buf) if buf.is_empty() => return total,
            Ok(buf) => total += buf.len(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Writes into a non-blocking fd until it is full; returns the bytes written.
fn fill(fd: &impl AsRawFd) -> usize {
    let chunk = [0x5au8; 4096];
    let mut total = 0;
    loop {
        match write_fd(fd, &chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("write: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 24. Socket READ: data = bytes pending; EOF: EV_EOF with data still counting buffered bytes.

#[test]
fn item24_tcp_read_data_is_bytes_pending_and_eof_keeps_count() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let (mut server, _) = listener.accept()?;
    server.set_nonblocking(true)?;
    register(&kq, &[add(ident(&server), Filter::Read, Flags::empty()).with_udata(24)])?;
    assert!(poll(&kq)?.is_empty(), "no data yet: no READ event");

    client.write_all(b"hello")?;
    let ev = wait_for(&kq, Duration::from_secs(5), |e| e.udata == 24)
        .expect("READ fires when data arrives");
    assert_eq!(ev.ident, ident(&server));
    assert_eq!(ev.filter, Filter::Read);
    assert_eq!(ev.data, 5, "data = bytes pending");
    assert!(!ev.flags.contains(Flags::EOF), "no EOF while the peer is open: {ev:?}");

    let ev = poll_one(&kq, "level READ fires again");
    assert_eq!(ev.data, 5);
    let mut buf = [0u8; 2];
    assert_eq!(server.read(&mut buf)?, 2);
    let ev = poll_one(&kq, "after reading 2 of 5 bytes");
    assert_eq!(ev.data, 3, "data follows the socket buffer");

    client.shutdown(Shutdown::Write)?;
    let ev = wait_for(&kq, Duration::from_secs(5), |e| e.flags.contains(Flags::EOF))
        .expect("EV_EOF after the peer shut down its write side");
    assert_eq!(ev.udata, 24);
    assert_eq!(ev.data, 3, "EOF: data still counts the buffered bytes");

    let mut rest = [0u8; 16];
    assert_eq!(server.read(&mut rest)?, 3);
    let ev = poll_one(&kq, "EOF with an empty buffer still fires (FreeBSD filt_soread)");
    assert!(ev.flags.contains(Flags::EOF), "{ev:?}");
    assert_eq!(ev.data, 0);
    Ok(())
}

#[test]
fn item24_unix_stream_read_data_and_eof_on_peer_close() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (mut a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    register(&kq, &[add(ident(&a), Filter::Read, Flags::empty()).with_udata(241)])?;
    assert!(poll(&kq)?.is_empty());

    (&b).write_all(b"abcdefg")?;
    let ev = poll_one(&kq, "data written on a Unix socket pair");
    assert_eq!((ev.ident, ev.filter, ev.udata), (ident(&a), Filter::Read, 241));
    assert_eq!(ev.data, 7, "data = bytes pending");
    assert!(!ev.flags.contains(Flags::EOF));

    (&b).write_all(b"hi")?;
    assert_eq!(poll_one(&kq, "more data").data, 9);

    drop(b);
    let ev = poll_one(&kq, "peer closed");
    assert!(ev.flags.contains(Flags::EOF), "EV_EOF once the peer closed: {ev:?}");
    assert_eq!(ev.data, 9, "EOF: data still counts the buffered bytes");

    let mut buf = [0u8; 4];
    assert_eq!(a.read(&mut buf)?, 4);
    let ev = poll_one(&kq, "partially drained after EOF");
    assert!(ev.flags.contains(Flags::EOF));
    assert_eq!(ev.data, 5);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 25. Listening socket READ: data = pending connections (at least 1 when any is pending).

#[test]
fn item25_tcp_listener_read_data_is_pending_connections() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    register(&kq, &[add(ident(&listener), Filter::Read, Flags::empty()).with_udata(25)])?;
    assert!(poll(&kq)?.is_empty(), "no connection pending: no event");

    let mut clients = vec![TcpStream::connect(addr)?];
    let ev = wait_for(&kq, Duration::from_secs(5), |e| e.udata == 25)
        .expect("READ fires on a listening socket with a pending connection");
    assert_eq!((ev.ident, ev.filter), (ident(&listener), Filter::Read));
    assert!(ev.data >= 1, "at least 1 pending connection: {ev:?}");

    clients.push(TcpStream::connect(addr)?);
    clients.push(TcpStream::connect(addr)?);
    // On Linux the accept queue length is exact; wait for the stack to queue all three.
    let mut last = ev;
    let deadline = Instant::now() + Duration::from_secs(5);
    while last.data != 3 && Instant::now() < deadline {
        if let Some(ev) = wait_for(&kq, Duration::from_millis(200), |e| e.udata == 25) {
            last = ev;
        }
    }
    assert_eq!(last.data, 3, "three connections pending: data = 3 ({last:?})");

    let (_s1, _) = listener.accept()?;
    assert_eq!(poll_one(&kq, "one accepted").data, 2, "accepting one leaves 2 pending");
    let (_s2, _) = listener.accept()?;
    let (_s3, _) = listener.accept()?;
    assert!(poll(&kq)?.is_empty(), "all accepted: the level event is gone");
    Ok(())
}

#[test]
fn item25_unix_listener_read_fires_with_pending_connection() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sock");
    let listener = UnixListener::bind(&path)?;
    listener.set_nonblocking(true)?;
    register(&kq, &[add(ident(&listener), Filter::Read, Flags::empty()).with_udata(251)])?;
    assert!(poll(&kq)?.is_empty());
    let _c1 = UnixStream::connect(&path)?;
    let _c2 = UnixStream::connect(&path)?;
    let ev = poll_one(&kq, "Unix listener with two pending connections");
    assert_eq!((ev.ident, ev.filter, ev.udata), (ident(&listener), Filter::Read, 251));
    assert!(ev.data >= 1, "data counts pending connections (>= 1 where not exact): {ev:?}");
    let (_a1, _) = listener.accept()?;
    let (_a2, _) = listener.accept()?;
    assert!(poll(&kq)?.is_empty(), "all accepted: no event");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 26. NOTE_LOWAT = N: no event below N bytes, an event at N or more.

fn lowat_case(rd: &impl AsRawFd, wr: OwnedFd, what: &str) -> io::Result<()> {
    let kq = Kqueue::new()?;
    let lowat = |n: i64, udata: u64| {
        add(ident(rd), Filter::Read, Flags::empty())
            .with_fflags(note::LOWAT)
            .with_data(n)
            .with_udata(udata)
    };
    register(&kq, &[lowat(10, 26)])?;
    assert!(poll(&kq)?.is_empty(), "{what}: nothing to read");
    write_fd(&wr, &[1; 5])?;
    assert!(poll(&kq)?.is_empty(), "{what}: 5 bytes < NOTE_LOWAT 10: no event");
    write_fd(&wr, &[2; 4])?;
    assert!(poll(&kq)?.is_empty(), "{what}: 9 bytes < NOTE_LOWAT 10: no event");
    write_fd(&wr, &[3; 1])?;
    let ev = poll_one(&kq, &format!("{what}: 10 bytes reach NOTE_LOWAT 10"));
    assert_eq!((ev.ident, ev.filter, ev.udata), (ident(rd), Filter::Read, 26));
    assert_eq!(ev.data, 10);
    write_fd(&wr, &[4; 5])?;
    assert_eq!(poll_one(&kq, &format!("{what}: above the mark")).data, 15);

    assert_eq!(read_fd(rd, 11)?.len(), 11);
    assert!(poll(&kq)?.is_empty(), "{what}: 4 bytes left < 10: the level event is gone");

    // A modify replaces the mark and re-evaluates the filter.
    register(&kq, &[lowat(3, 27)])?;
    let ev = poll_one(&kq, &format!("{what}: mark lowered to 3 with 4 bytes pending"));
    assert_eq!((ev.data, ev.udata), (4, 27));
    register(&kq, &[lowat(10, 28)])?;
    assert!(poll(&kq)?.is_empty(), "{what}: mark raised to 10 again: no event");

    // EOF fires whatever the mark (FreeBSD filt_soread / filt_piperead).
    drop(wr);
    let ev = poll_one(&kq, &format!("{what}: writer gone below the mark"));
    assert!(ev.flags.contains(Flags::EOF), "{what}: {ev:?}");
    assert_eq!((ev.data, ev.udata), (4, 28));
    Ok(())
}

#[test]
fn item26_note_lowat_unix_socket() -> io::Result<()> {
    let _serial = serial();
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    lowat_case(&a, OwnedFd::from(b), "unix socket")
}

#[test]
fn item26_note_lowat_pipe() -> io::Result<()> {
    let _serial = serial();
    let (r, w) = pipe()?;
    lowat_case(&r, w, "pipe")
}

// ---------------------------------------------------------------------------------------------
// 27. Pipe READ: data = bytes; EV_EOF after the last writer closes.

#[test]
fn item27_pipe_read_data_and_eof_after_last_writer() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    let w2 = w.try_clone()?;
    register(&kq, &[add(ident(&r), Filter::Read, Flags::empty()).with_udata(27)])?;
    assert!(poll(&kq)?.is_empty(), "empty pipe: no event");

    write_fd(&w, b"1234567")?;
    let ev = poll_one(&kq, "pipe with 7 bytes");
    assert_eq!((ev.ident, ev.filter, ev.udata, ev.data), (ident(&r), Filter::Read, 27, 7));
    assert!(!ev.flags.contains(Flags::EOF));
    write_fd(&w2, b"89")?;
    assert_eq!(poll_one(&kq, "9 bytes").data, 9);

    drop(w);
    let ev = poll_one(&kq, "one of two writers closed");
    assert!(!ev.flags.contains(Flags::EOF), "a writer is still open: no EOF yet: {ev:?}");
    assert_eq!(ev.data, 9);

    drop(w2);
    let ev = poll_one(&kq, "last writer closed");
    assert!(ev.flags.contains(Flags::EOF), "EV_EOF after the last writer closed: {ev:?}");
    assert_eq!(ev.data, 9, "EOF: data still counts the buffered bytes");

    assert_eq!(drain(&r), 9);
    let ev = poll_one(&kq, "drained after EOF");
    assert!(ev.flags.contains(Flags::EOF));
    assert_eq!(ev.data, 0);
    Ok(())
}

#[test]
fn item27_pipe_read_eof_without_data_wakes_blocked_waiter() -> io::Result<()> {
    let _serial = serial();
    let kq = Arc::new(Kqueue::new()?);
    let (r, w) = pipe()?;
    register(&kq, &[add(ident(&r), Filter::Read, Flags::empty()).with_udata(272)])?;
    let (tid_tx, tid_rx) = mpsc::channel();
    let waiter = {
        let kq = Arc::clone(&kq);
        thread::spawn(move || {
            tid_tx.send(gettid()).unwrap();
            collect(&kq, Some(Duration::from_secs(20)))
        })
    };
    wait_until_blocked(tid_rx.recv().unwrap(), Duration::from_secs(5));
    drop(w);
    let events = waiter.join().unwrap()?;
    assert_eq!(events.len(), 1, "the hang-up wakes the waiter: {events:?}");
    assert!(events[0].flags.contains(Flags::EOF));
    assert_eq!((events[0].udata, events[0].data), (272, 0));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 28. WRITE: data = free space; EV_EOF when the reader closes; a listening socket never fires.

#[test]
fn item28_pipe_write_data_is_free_space_and_eof_when_reader_closes() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    register(&kq, &[add(ident(&w), Filter::Write, Flags::empty()).with_udata(28)])?;
    let ev = poll_one(&kq, "an empty pipe is writable");
    assert_eq!((ev.ident, ev.filter, ev.udata), (ident(&w), Filter::Write, 28));
    assert!(ev.data > 0, "data = free space > 0: {ev:?}");
    assert!(!ev.flags.contains(Flags::EOF));
    let space = ev.data;

    write_fd(&w, &[0u8; 100])?;
    let ev = poll_one(&kq, "100 bytes queued");
    assert_eq!(ev.data, space - 100, "free space shrinks by what was written");

    let written = fill(&w);
    assert!(written > 0);
    assert!(poll(&kq)?.is_empty(), "a full pipe is not writable: no WRITE event");

    assert_eq!(drain(&r), written + 100);
    let ev = poll_one(&kq, "drained pipe is writable again");
    assert_eq!(ev.data, space, "all the space is free again");

    fill(&w);
    assert!(poll(&kq)?.is_empty());
    drop(r);
    let ev = poll_one(&kq, "reader closed (pipe full)");
    assert!(ev.flags.contains(Flags::EOF), "EV_EOF once the reader is gone: {ev:?}");
    assert_eq!(ev.udata, 28);
    Ok(())
}

#[test]
fn item28_socket_write_data_is_free_space_and_eof_when_peer_closes() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    client.set_nonblocking(true)?;
    let (_server, _) = listener.accept()?;
    register(
        &kq,
        &[
            add(ident(&a), Filter::Write, Flags::empty()).with_udata(281),
            add(ident(&client), Filter::Write, Flags::empty()).with_udata(282),
        ],
    )?;
    let mut events = poll(&kq)?;
    events.sort_by_key(|e| e.udata);
    assert_eq!(events.len(), 2, "both sockets writable: {events:?}");
    for ev in &events {
        assert_eq!(ev.filter, Filter::Write);
        assert!(ev.data > 0, "data = free send space > 0: {ev:?}");
        assert!(!ev.flags.contains(Flags::EOF), "{ev:?}");
    }
    assert_eq!(events[0].ident, ident(&a));
    assert_eq!(events[1].ident, ident(&client));

    drop(b);
    let events = poll(&kq)?;
    let ev = events.iter().find(|e| e.udata == 281).expect("Unix socket WRITE still reported");
    assert!(ev.flags.contains(Flags::EOF), "EV_EOF once the peer closed: {ev:?}");
    let ev = events.iter().find(|e| e.udata == 282).expect("TCP socket WRITE still reported");
    assert!(!ev.flags.contains(Flags::EOF), "the TCP peer is open: {ev:?}");
    Ok(())
}

#[test]
fn item28_listening_socket_write_never_fires() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    register(
        &kq,
        &[
            add(ident(&listener), Filter::Write, Flags::empty()).with_udata(1),
            add(ident(&listener), Filter::Read, Flags::empty()).with_udata(2),
        ],
    )?;
    assert!(poll(&kq)?.is_empty(), "idle listener: nothing");
    let _client = TcpStream::connect(listener.local_addr()?)?;
    let ev = wait_for(&kq, Duration::from_secs(5), |_| true).expect("READ for the connection");
    assert_eq!((ev.filter, ev.udata), (Filter::Read, 2), "only READ fires: {ev:?}");
    let events = poll(&kq)?;
    assert!(events.iter().all(|e| e.filter == Filter::Read), "no WRITE on a listener: {events:?}");
    let (_conn, _) = listener.accept()?;
    // Time is the subject here: nothing may fire within the wait.
    let events = collect(&kq, Some(Duration::from_millis(200)))?;
    assert!(events.is_empty(), "a listening socket never fires WRITE: {events:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 29. Closing a watched fd removes its knotes; a reused fd number never gets a stale event.

/// A new pipe whose read end has the number `num` (free since its file was closed). Since the
/// tests of this binary are serialised, the lowest free number is given to the next pipe; if it
/// is taken anyway, a few more pipes are tried before giving up (`None`: the caller skips).
fn pipe_numbered(num: RawFd) -> io::Result<Option<(OwnedFd, OwnedFd)>> {
    let mut held = Vec::new();
    for _ in 0..64 {
        let (r, w) = pipe()?;
        if r.as_raw_fd() == num {
            return Ok(Some((r, w)));
        }
        held.push((r, w));
    }
    Ok(None)
}

const OLD: u64 = 0xdead_0001;
const NEW: u64 = 0xbeef_0002;

#[test]
fn item29_closed_fd_with_queued_event_is_not_delivered() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (r1, w1) = pipe()?;
    let num = r1.as_raw_fd();
    register(&kq, &[add(num as usize, Filter::Read, Flags::empty()).with_udata(OLD)])?;
    write_fd(&w1, b"old data")?;
    assert_eq!(poll_one(&kq, "registered pipe").udata, OLD);
    drop(r1); // the level event is queued again at this point
    drop(w1);
    let events = poll(&kq)?;
    assert!(events.is_empty(), "nothing may be delivered for a closed fd: {events:?}");

    let Some((r2, w2)) = pipe_numbered(num)? else {
        eprintln!("skipped the reuse half: fd number {num} was not handed out again");
        return Ok(());
    };
    assert_eq!(r2.as_raw_fd(), num);
    write_fd(&w2, b"new")?;
    let events = poll(&kq)?;
    assert!(events.is_empty(), "the closed fd's knote is gone: {events:?}");
    Ok(())
}

#[test]
fn item29_reused_fd_number_never_gets_stale_event() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (r1, w1) = pipe()?;
    let num = r1.as_raw_fd();
    register(&kq, &[add(num as usize, Filter::Read, Flags::empty()).with_udata(OLD)])?;
    write_fd(&w1, b"old data")?;
    assert_eq!(poll_one(&kq, "registered pipe").udata, OLD);
    // Close while the level event is queued, and do not call kevent until the number is reused.
    drop(r1);
    drop(w1);
    let Some((r2, w2)) = pipe_numbered(num)? else {
        eprintln!("skipped: fd number {num} was not handed out again");
        return Ok(());
    };
    assert_eq!(r2.as_raw_fd(), num, "the new pipe reuses the closed number");
    write_fd(&w2, b"fresh")?;
    let events = poll(&kq)?;
    assert!(
        events.iter().all(|e| e.udata != OLD),
        "a stale event of the closed file reached the reused fd number {num}: {events:?}"
    );
    assert!(events.is_empty(), "the new fd is not registered: {events:?}");
    // The old knote went away with the close: deleting (num, READ) finds nothing.
    assert_eq!(
        change_errno(&kq, Kevent::new(num as usize, Filter::Read, Flags::DELETE)),
        libc::ENOENT
    );
    Ok(())
}

#[test]
fn item29_reregistering_reused_fd_number_delivers_only_new_events() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (r1, w1) = pipe()?;
    let num = r1.as_raw_fd();
    register(&kq, &[add(num as usize, Filter::Read, Flags::empty()).with_udata(OLD)])?;
    write_fd(&w1, b"old data")?;
    assert_eq!(poll_one(&kq, "registered pipe").udata, OLD);
    drop(r1);
    drop(w1);
    let Some((r2, w2)) = pipe_numbered(num)? else {
        eprintln!("skipped: fd number {num} was not handed out again");
        return Ok(());
    };
    assert_eq!(r2.as_raw_fd(), num);
    register(&kq, &[add(num as usize, Filter::Read, Flags::empty()).with_udata(NEW)])?;
    assert!(poll(&kq)?.is_empty(), "the new pipe is empty: nothing, and nothing stale");

    write_fd(&w2, b"new")?;
    for round in 0..3 {
        let ev = poll_one(&kq, "re-registered fd with data");
        assert_eq!((ev.ident, ev.filter, ev.udata), (num as usize, Filter::Read, NEW));
        assert_eq!(ev.data, 3, "round {round}: data of the new pipe");
    }
    drop(w2);
    let ev = poll_one(&kq, "writer of the new pipe closed");
    assert!(ev.flags.contains(Flags::EOF));
    assert_eq!(ev.udata, NEW);
    register(&kq, &[Kevent::new(num as usize, Filter::Read, Flags::DELETE)])?;
    assert!(poll(&kq)?.is_empty(), "deleted");
    Ok(())
}

// `Kqueue::delete_fd_knotes`: what closing an fd does to its knotes on FreeBSD (knote_fdclose),
// without the fstat each EV_DELETE pays.

#[test]
fn delete_fd_knotes_removes_the_named_knotes_and_their_queued_events() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    let fd = ident(&a);
    // Level knotes: delivered, and queued again while their conditions hold.
    register(
        &kq,
        &[
            add(fd, Filter::Read, Flags::ADD).with_udata(1),
            add(fd, Filter::Write, Flags::ADD).with_udata(2),
            add(ident(&b), Filter::Write, Flags::ADD).with_udata(3),
        ],
    )?;
    (&b).write_all(b"queued")?;
    let events = poll(&kq)?;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(kq.delete_fd_knotes(fd, &[Filter::Read, Filter::Write])?, 2);
    assert_eq!(kq.len(), 1, "b's knote is not a's");
    let events = poll(&kq)?;
    assert_eq!(events.len(), 1, "only b's WRITE, nothing queued for a: {events:?}");
    assert_eq!(events[0].udata, 3);
    assert_eq!(kq.delete_fd_knotes(fd, &[Filter::Read, Filter::Write])?, 0, "already gone");
    assert_eq!(change_errno(&kq, Kevent::new(fd, Filter::Read, Flags::DELETE)), libc::ENOENT);
    (&b).write_all(b"more")?;
    assert!(poll(&kq)?.iter().all(|e| e.ident != fd), "nothing for a after more data");
    Ok(())
}

#[test]
fn delete_fd_knotes_of_an_already_closed_fd_still_removes_them() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    let num = ident(&r);
    register(&kq, &[add(num, Filter::Read, Flags::ADD)])?;
    drop(r);
    // EV_DELETE asks the fd first: EBADF, and the knote waits to be found stale.
    assert_eq!(change_errno(&kq, Kevent::new(num, Filter::Read, Flags::DELETE)), libc::EBADF);
    assert_eq!(kq.delete_fd_knotes(num, &[Filter::Read])?, 1);
    assert_eq!(kq.len(), 0);
    drop(w);
    Ok(())
}

#[test]
fn delete_fd_knotes_leaves_a_dup_and_refuses_non_fd_filters() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    let dup = r.try_clone()?;
    register(&kq, &[add(ident(&r), Filter::Read, Flags::ADD).with_udata(OLD)])?;
    assert_eq!(kq.delete_fd_knotes(ident(&dup), &[Filter::Read])?, 0, "the dup has no knote");
    for bad in [Filter::Timer, Filter::User, Filter::Signal, Filter::Proc] {
        let err =
            kq.delete_fd_knotes(ident(&r), &[Filter::Read, bad]).expect_err("not an fd filter");
        assert_eq!(kq_reactor::errno_of(&err), Some(libc::EINVAL), "{bad:?}: {err:?}");
        assert_eq!(kq.len(), 1, "{bad:?}: nothing is deleted when one filter is refused");
    }
    write_fd(&w, b"x")?;
    assert_eq!(poll_one(&kq, "the knote on r still works").udata, OLD);
    Ok(())
}

// EV_DELETE of an fd's last READ/WRITE knote asks the backend's watch, which belongs to the file
// it was made for, instead of an fstat: the answers must be those of the identity check.

#[test]
fn delete_of_the_last_knote_tells_same_closed_and_reused_files_apart() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    // Same file: deleted; a second delete finds nothing.
    let (r, w) = pipe()?;
    let num = ident(&r);
    register(&kq, &[add(num, Filter::Read, Flags::ADD)])?;
    register(&kq, &[Kevent::new(num, Filter::Read, Flags::DELETE)])?;
    assert_eq!(kq.len(), 0);
    assert_eq!(change_errno(&kq, Kevent::new(num, Filter::Read, Flags::DELETE)), libc::ENOENT);
    write_fd(&w, b"x")?;
    assert!(poll(&kq)?.is_empty(), "deleted, nothing delivered");
    // Closed: EBADF.
    register(&kq, &[add(num, Filter::Read, Flags::ADD)])?;
    drop(r);
    assert_eq!(change_errno(&kq, Kevent::new(num, Filter::Read, Flags::DELETE)), libc::EBADF);
    drop(w);
    // Reused by another pipe before any collection: ENOENT (the old knote is gone), and the
    // new file can be registered and reports its own data.
    let Some((r2, w2)) = pipe_numbered(num as RawFd)? else {
        eprintln!("skipped the reuse half: fd number {num} was not handed out again");
        return Ok(());
    };
    assert_eq!(change_errno(&kq, Kevent::new(num, Filter::Read, Flags::DELETE)), libc::ENOENT);
    assert_eq!(kq.len(), 0, "the closed file's knote was purged");
    register(&kq, &[add(num, Filter::Read, Flags::ADD).with_udata(NEW)])?;
    write_fd(&w2, b"new")?;
    let ev = poll_one(&kq, "the reused number's own knote");
    assert_eq!((ev.udata, ev.data), (NEW, 3));
    register(&kq, &[Kevent::new(num, Filter::Read, Flags::DELETE)])?;
    write_fd(&w2, b"more")?;
    assert!(poll(&kq)?.is_empty(), "deleted");
    drop(r2);
    Ok(())
}

#[test]
fn delete_of_one_direction_keeps_the_other_and_a_dup_back_onto_the_number_is_the_same_file(
) -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (a, b) = UnixStream::pair()?;
    let num = ident(&a);
    register(&kq, &[add(num, Filter::Read, Flags::ADD), add(num, Filter::Write, Flags::ADD)])?;
    register(&kq, &[Kevent::new(num, Filter::Read, Flags::DELETE)])?;
    let events = poll(&kq)?;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].filter, Filter::Write, "the WRITE knote still works");
    // The number closed and given back to the same file (a dup of it): the same file, as the
    // identity says; the last knote is deleted.
    let keep = a.try_clone()?;
    drop(a);
    dup_onto(&keep, num as i32);
    register(&kq, &[Kevent::new(num, Filter::Write, Flags::DELETE)])?;
    assert_eq!(kq.len(), 0);
    (&b).write_all(b"x")?;
    assert!(poll(&kq)?.is_empty(), "nothing left to deliver");
    // SAFETY: `num` was made a dup of `keep` above and is owned by nobody else.
    drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(num as RawFd) });
    Ok(())
}

/// Data below a NOTE_LOWAT mark: the knote reports nothing, and a kqueue watching this one
/// reports nothing either, before the watched kqueue is ever collected from (FreeBSD evaluates
/// the filter at the source; here the watcher has the OS's record harvested and evaluated).
#[test]
fn lowat_below_the_mark_is_silent_in_the_kqueue_and_in_its_watcher() -> io::Result<()> {
    let _serial = serial();
    let child = Kqueue::new()?;
    let parent = Kqueue::new()?;
    let (r, w) = pipe()?;
    let lowat = add(ident(&r), Filter::Read, Flags::ADD).with_fflags(note::LOWAT).with_data(10);
    register(&child, &[lowat])?;
    register(&parent, &[add(child.as_raw_fd() as usize, Filter::Read, Flags::ADD)])?;
    write_fd(&w, b"12345")?;
    let events = collect(&parent, Some(Duration::from_millis(50)))?;
    assert!(events.is_empty(), "5 bytes are below the mark of 10: {events:?}");
    assert!(poll(&child)?.is_empty(), "and the watched kqueue has nothing either");
    write_fd(&w, b"67890")?;
    let events = collect(&parent, Some(Duration::from_millis(2000)))?;
    assert_eq!(events.len(), 1, "10 bytes reach the mark: {events:?}");
    assert_eq!(events[0].data, 1, "one event pending below: {events:?}");
    assert_eq!(poll_one(&child, "at the mark").data, 10);
    Ok(())
}
