//! Sockets shared between tasks, and runtimes dropped with sockets that waited, as careless
//! users do them (found by trying kq as such a user would, 2026-12-02; tokio handles each):
//! several tasks awaiting one socket's `&self` methods at once, a `timeout` around a read loop
//! that always finds data, a Unix-domain connect to a full backlog, and the fds a dropped
//! runtime leaves behind.
// Unix-only (Unix sockets, /proc fds, `isolated`): the Windows tests are in windows_net.rs.
#![cfg(unix)]

mod util;
use util::*;

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::AsyncReadExt;
use kq_net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use kq_runtime::task;
use kq_runtime::time::timeout;

const LOCALHOST: &str = "127.0.0.1:0";

/// Two tasks in `recv_from` on one `Arc<UdpSocket>`, two datagrams: each task gets one. The
/// socket used to keep a single waker per direction, so the second waiter replaced the first,
/// which then slept with a datagram in the buffer.
#[test]
fn two_tasks_receiving_on_one_udp_socket_each_get_a_datagram() {
    for (flavor, rt) in [("current_thread", current_thread()), ("multi_thread", multi_thread())] {
        run(rt, Duration::from_secs(20), flavor, async {
            let rx = Arc::new(UdpSocket::bind(LOCALHOST).await?);
            let addr = rx.local_addr()?;
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let rx = rx.clone();
                    task::spawn(async move {
                        let mut buf = [0u8; 16];
                        let (n, _) = rx.recv_from(&mut buf).await?;
                        Ok::<_, io::Error>(buf[..n].to_vec())
                    })
                })
                .collect();
            // Both are waiting before anything is sent.
            kq_runtime::time::sleep(Duration::from_millis(50)).await;
            let tx = UdpSocket::bind(LOCALHOST).await?;
            tx.send_to(b"one", addr).await?;
            tx.send_to(b"two", addr).await?;
            let mut got = Vec::new();
            for r in receivers {
                got.push(within(10, "a receiver sharing the socket", r).await.unwrap()?);
            }
            got.sort();
            assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
            Ok(())
        });
    }
}

/// Two tasks in `accept` on one `Arc<TcpListener>`, two connections: each task gets one.
#[test]
fn two_tasks_accepting_on_one_listener_each_get_a_connection() {
    for (flavor, rt) in [("current_thread", current_thread()), ("multi_thread", multi_thread())] {
        run(rt, Duration::from_secs(20), flavor, async {
            let listener = Arc::new(TcpListener::bind(LOCALHOST).await?);
            let addr = listener.local_addr()?;
            let accepters: Vec<_> = (0..2)
                .map(|_| {
                    let l = listener.clone();
                    task::spawn(async move { l.accept().await.map(|(_, peer)| peer) })
                })
                .collect();
            kq_runtime::time::sleep(Duration::from_millis(50)).await;
            let a = TcpStream::connect(addr).await?;
            let b = TcpStream::connect(addr).await?;
            let mut peers = Vec::new();
            for h in accepters {
                peers.push(within(10, "an accepter sharing the listener", h).await.unwrap()?);
            }
            peers.sort();
            let mut want = vec![a.local_addr()?, b.local_addr()?];
            want.sort();
            assert_eq!(peers, want);
            Ok(())
        });
    }
}

/// Three tasks in `readable()` on one stream: one byte arrives, all three are told. A task
/// whose wait was cancelled (a timeout) leaves no waiter behind that could take a wake-up.
#[test]
fn every_task_waiting_for_readiness_on_one_stream_is_woken() {
    run(multi_thread(), Duration::from_secs(20), "readable x3", async {
        let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
        let a = Arc::new(UnixStream::from_std(a)?);
        // A wait cancelled before anything arrives.
        assert!(timeout(Duration::from_millis(20), a.readable()).await.is_err());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let a = a.clone();
                task::spawn(async move { a.readable().await })
            })
            .collect();
        kq_runtime::time::sleep(Duration::from_millis(50)).await;
        b.write_all(b"x")?;
        for w in waiters {
            within(10, "a task waiting for readiness", w).await.unwrap()?;
        }
        Ok(())
    });
}

/// A `timeout` around a read loop whose peer never stops writing: every read finds data, so
/// the loop spends the whole budget every poll; the timeout still fires on time.
#[test]
fn timeout_fires_around_a_read_loop_that_always_finds_data() {
    for (flavor, rt) in [("current_thread", current_thread()), ("multi_thread", multi_thread())] {
        let (a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let writer = std::thread::spawn(move || {
            let mut b = b;
            let chunk = [7u8; 4096];
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) && b.write_all(&chunk).is_ok() {}
        });
        run(rt, Duration::from_secs(20), flavor, async move {
            let mut s = UnixStream::from_std(a)?;
            let start = Instant::now();
            let r = timeout(Duration::from_millis(100), async {
                let mut byte = [0u8; 1];
                loop {
                    if s.read(&mut byte).await? == 0 {
                        return Ok::<_, io::Error>(());
                    }
                }
            })
            .await;
            let took = start.elapsed();
            assert!(r.is_err(), "{flavor}: the read loop ended: {r:?}");
            assert!(took < Duration::from_secs(5), "{flavor}: fired only after {took:?}");
            Ok(())
        });
        writer.join().expect("writer");
    }
}

/// A Unix-domain connect to a listener whose backlog is full does not block the runtime's
/// thread: Linux refuses it with `WouldBlock` at once, as tokio's connect returns it. It used
/// to be a blocking `connect(2)` on the runtime thread, which held it until the listener
/// accepted (here: never; the test's own timeout could not fire).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn unix_connect_to_a_full_backlog_does_not_block_the_runtime() {
    use socket2::{Domain, SockAddr, Socket, Type};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("full.sock");
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
    listener.bind(&SockAddr::unix(&path).expect("addr")).expect("bind");
    listener.listen(0).expect("listen");
    // Fill the backlog with connections nobody accepts.
    let mut fillers = Vec::new();
    loop {
        let s = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
        s.set_nonblocking(true).expect("nonblocking");
        let full = s.connect(&SockAddr::unix(&path).expect("addr")).is_err();
        fillers.push(s);
        if full || fillers.len() > 64 {
            break;
        }
    }
    run(current_thread(), Duration::from_secs(10), "unix connect, full backlog", async {
        let start = Instant::now();
        let r = timeout(Duration::from_secs(2), UnixStream::connect(&path)).await;
        let err = r.expect("the connect blocked the runtime").expect_err("connected");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
        assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
        Ok(())
    });
    drop(listener);
}

/// Dropping runtimes whose sockets waited (a read timed out, or a task still waits) closes
/// every fd they opened: the wakers kept with a dropped socket owned their runtime, which then
/// never dropped (3 fds a runtime: two epoll fds and an eventfd). Counted in a child process,
/// where no other test opens fds meanwhile.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn dropped_runtimes_whose_sockets_waited_leave_no_fds() {
    isolated("dropped_runtimes_whose_sockets_waited_leave_no_fds", Duration::from_secs(30), || {
        let fds = || std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count();
        let before = fds();
        for round in 0..20 {
            let (a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
            let rt = if round % 2 == 0 { current_thread() } else { multi_thread() };
            rt.block_on(async {
                let mut s = UnixStream::from_std(a).expect("from_std");
                let mut buf = [0u8; 8];
                let r = timeout(Duration::from_millis(1), s.read(&mut buf)).await;
                assert!(r.is_err(), "nothing was written");
                // And a task left waiting when the runtime goes.
                let (c, _d) = std::os::unix::net::UnixStream::pair().expect("socketpair");
                task::spawn(async move {
                    let mut c = UnixStream::from_std(c).expect("from_std");
                    let _ = c.read(&mut [0u8; 1]).await;
                });
                kq_runtime::time::sleep(Duration::from_millis(5)).await;
            });
            drop(rt);
            drop(b);
        }
        let after = fds();
        assert!(after <= before, "fds before: {before}, after 20 runtimes: {after}");
    });
}

/// A connected UDP socket whose peer port is closed: the first receive reports the ICMP
/// error, and the next ones wait quietly. The error used to be taken as end-of-file, which
/// never clears: every receive then found WouldBlock and tried again, at 100 % CPU for the
/// socket's whole life. The waiting thread's CPU time is measured while a receive waits.
#[cfg(any(target_os = "linux", target_os = "android"))] // RUSAGE_THREAD; ICMP on loopback
#[test]
fn udp_receive_after_an_icmp_error_waits_without_spinning() {
    fn thread_cpu() -> Duration {
        // SAFETY: an all-zero rusage is valid for getrusage to overwrite.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes one rusage through a valid, exclusive pointer.
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
    run(current_thread(), Duration::from_secs(20), "udp after ICMP", async {
        let closed = std::net::UdpSocket::bind(LOCALHOST)?.local_addr()?; // now nobody's
        let sock = UdpSocket::bind(LOCALHOST).await?;
        sock.connect(closed).await?;
        sock.send(b"ping").await?;
        let err = within(10, "the ICMP error", sock.recv(&mut [0u8; 8])).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        let (cpu, start) = (thread_cpu(), Instant::now());
        let r = timeout(Duration::from_millis(500), sock.recv(&mut [0u8; 8])).await;
        let (spent, waited) = (thread_cpu() - cpu, start.elapsed());
        assert!(r.is_err(), "received something: {r:?}");
        assert!(spent < waited / 4, "{spent:?} of CPU while waiting {waited:?}: it spins");
        Ok(())
    });
}
