//! kq-net UDP and Unix-domain sockets on loopback and in a temporary directory: UDP ping-pong
//! (send_to/recv_from and connected send/recv), peek_from, try_recv_from, SO_BROADCAST;
//! UnixStream pairs and listeners (echo, half-close, owned halves, bind/connect errors);
//! UnixDatagram pairs and bound sockets.
//!
//! Every test is bounded: an in-runtime `timeout`, and a watchdog thread that aborts the binary
//! if the runtime is wedged so badly that even the timer does not fire.
// Unix-only (Unix-domain sockets): the Windows UDP tests are in windows_net.rs.
#![cfg(unix)]

mod util;
use util::*;

use std::io::{self, ErrorKind};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use kq_net::{UdpSocket, UnixDatagram, UnixListener, UnixStream};
use kq_runtime::time::timeout;

const LOCALHOST: &str = "127.0.0.1:0";

fn is_would_block<T>(r: &io::Result<T>) -> bool {
    matches!(r, Err(e) if e.kind() == ErrorKind::WouldBlock)
}

// ---------------------------------------------------------------------------------------------
// UDP.

const ROUND_TRIPS: usize = 1000;

/// The `i`th ping: its index and a length that varies (1..=1200 bytes).
fn ping(i: usize) -> Vec<u8> {
    let len = 8 + (i * 37) % 1193;
    let mut p = pattern(i as u64, len);
    p[..8].copy_from_slice(&(i as u64).to_be_bytes());
    p
}

#[test]
fn udp_ping_pong_send_to_recv_from() {
    run(multi_thread(), Duration::from_secs(60), "udp send_to/recv_from", async {
        let a = UdpSocket::bind(LOCALHOST).await?;
        let b = UdpSocket::bind(LOCALHOST).await?;
        let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);
        assert!(a_addr.ip().is_loopback() && a_addr.port() != 0);
        let ponger = kq_runtime::spawn(async move {
            let mut buf = vec![0u8; 2048];
            for i in 0..ROUND_TRIPS {
                let (n, from) = b.recv_from(&mut buf).await?;
                assert_eq!(from, a_addr, "ping {i} came from a");
                assert_eq!(&buf[..n], &ping(i)[..], "ping {i} arrived whole and in order");
                let sent = b.send_to(&buf[..n], from).await?;
                assert_eq!(sent, n);
            }
            Ok::<_, io::Error>(b)
        });
        let mut buf = vec![0u8; 2048];
        for i in 0..ROUND_TRIPS {
            let p = ping(i);
            assert_eq!(a.send_to(&p, b_addr).await?, p.len());
            let (n, from) = within(5, "pong", a.recv_from(&mut buf)).await?;
            assert_eq!(from, b_addr, "pong {i} came from b");
            assert_eq!(&buf[..n], &p[..], "pong {i} echoes ping {i}");
        }
        let b = within(5, "ponger", ponger).await.expect("ponger panicked")?;
        assert!(is_would_block(&b.try_recv_from(&mut buf)), "nothing left for b");
        assert!(is_would_block(&a.try_recv_from(&mut buf)), "nothing left for a");
        Ok(())
    });
}

#[test]
fn udp_ping_pong_connected_send_recv() {
    run(current_thread(), Duration::from_secs(60), "udp connected", async {
        let a = UdpSocket::bind(LOCALHOST).await?;
        let b = UdpSocket::bind(LOCALHOST).await?;
        let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);
        a.connect(b_addr).await?;
        b.connect(a_addr).await?;
        assert_eq!(a.peer_addr()?, b_addr);
        assert_eq!(b.peer_addr()?, a_addr);
        let ponger = kq_runtime::spawn(async move {
            let mut buf = vec![0u8; 2048];
            for _ in 0..ROUND_TRIPS {
                let n = b.recv(&mut buf).await?;
                b.send(&buf[..n]).await?;
            }
            Ok::<_, io::Error>(())
        });
        let mut buf = vec![0u8; 2048];
        for i in 0..ROUND_TRIPS {
            let p = ping(i);
            assert_eq!(a.send(&p).await?, p.len());
            let n = within(5, "connected pong", a.recv(&mut buf)).await?;
            assert_eq!(&buf[..n], &p[..], "pong {i}");
        }
        within(5, "ponger", ponger).await.expect("ponger panicked")?;

        // A connected socket only hears from its peer.
        let stranger = UdpSocket::bind(LOCALHOST).await?;
        stranger.send_to(b"not for you", a_addr).await?;
        a.send(b"marker").await?; // b is gone: nothing answers, but the send succeeds or
                                  // reports the ICMP error later; neither may reach `a`'s recv.
        let got = timeout(Duration::from_millis(200), a.recv(&mut buf)).await;
        match got {
            Err(_) => {}
            Ok(Err(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e:?}"),
            Ok(Ok(n)) => panic!("a connected socket received {:?} from a stranger", &buf[..n]),
        }
        Ok(())
    });
}

#[test]
fn udp_peek_from_does_not_consume() {
    run(current_thread(), Duration::from_secs(10), "udp peek_from", async {
        let a = UdpSocket::bind(LOCALHOST).await?;
        let b = UdpSocket::bind(LOCALHOST).await?;
        let mut buf = [0u8; 64];
        assert!(is_would_block(&b.try_recv_from(&mut buf)), "nothing sent yet");
        a.send_to(b"first", b.local_addr()?).await?;
        a.send_to(b"second", b.local_addr()?).await?;
        for _ in 0..2 {
            let (n, from) = within(5, "peek_from", b.peek_from(&mut buf)).await?;
            assert_eq!((&buf[..n], from), (&b"first"[..], a.local_addr()?));
        }
        // A short buffer peeks a prefix; the datagram stays whole for recv_from.
        let mut small = [0u8; 3];
        let (n, _) = b.peek_from(&mut small).await?;
        assert_eq!(&small[..n], b"fir");
        let (n, from) = b.recv_from(&mut buf).await?;
        assert_eq!((&buf[..n], from), (&b"first"[..], a.local_addr()?));
        let (n, _) = b.peek_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"second");
        let (n, _) = b.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"second");
        assert!(is_would_block(&b.try_recv_from(&mut buf)), "both datagrams consumed");
        Ok(())
    });
}

#[test]
fn udp_try_send_to_and_readable() {
    run(multi_thread(), Duration::from_secs(10), "udp try_*", async {
        let a = UdpSocket::bind(LOCALHOST).await?;
        let b = UdpSocket::bind(LOCALHOST).await?;
        let b_addr = b.local_addr()?;
        within(5, "writable", a.writable()).await?;
        let n = loop {
            match a.try_send_to(b"try", b_addr) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => a.writable().await?,
                Err(e) => return Err(e),
            }
        };
        assert_eq!(n, 3);
        let mut buf = [0u8; 16];
        let (n, from) = loop {
            within(5, "readable", b.readable()).await?;
            match b.try_recv_from(&mut buf) {
                Ok(r) => break r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        assert_eq!((&buf[..n], from), (&b"try"[..], a.local_addr()?));
        Ok(())
    });
}

#[test]
fn udp_broadcast_flag_and_ttl() {
    run(current_thread(), Duration::from_secs(10), "udp options", async {
        let s = UdpSocket::bind(LOCALHOST).await?;
        assert!(!s.broadcast()?, "SO_BROADCAST is off by default");
        s.set_broadcast(true)?;
        assert!(s.broadcast()?);
        s.set_broadcast(false)?;
        assert!(!s.broadcast()?);
        s.set_ttl(3)?;
        assert_eq!(s.take_error()?.map(|e| e.kind()), None);
        Ok(())
    });
}

#[test]
fn udp_bind_in_use_and_unresolvable() {
    run(current_thread(), Duration::from_secs(10), "udp bind errors", async {
        let s = UdpSocket::bind(LOCALHOST).await?;
        let err = UdpSocket::bind(s.local_addr()?).await.expect_err("second bind");
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
        let none: &[SocketAddr] = &[];
        let err = UdpSocket::bind(none).await.expect_err("no address");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Unix streams.

async fn unix_echo(mut s: UnixStream) -> io::Result<u64> {
    let mut buf = vec![0u8; 8 * 1024];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        s.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

/// Writes `data` while reading the echo (borrowed halves, joined); returns the echo.
async fn write_and_read_back(s: &mut UnixStream, data: &[u8]) -> io::Result<Vec<u8>> {
    // Fully qualified: `s.split()` would pick futures' `AsyncReadExt::split(self)`.
    let (mut rd, mut wr) = UnixStream::split(s);
    let write = async {
        wr.write_all(data).await?;
        wr.close().await
    };
    let read = async {
        let mut got = Vec::with_capacity(data.len());
        rd.read_to_end(&mut got).await?;
        Ok::<_, io::Error>(got)
    };
    let (w, r) = futures_util::future::join(write, read).await;
    w?;
    r
}

#[test]
fn unix_stream_pair_echo_1mib() {
    run(multi_thread(), Duration::from_secs(30), "unix pair echo", async {
        let (mut a, b) = UnixStream::pair()?;
        assert!(a.peer_addr()?.is_unnamed() && a.local_addr()?.is_unnamed());
        let echoer = kq_runtime::spawn(unix_echo(b));
        let data = pattern(3, 1 << 20);
        let got = within(20, "unix echo", write_and_read_back(&mut a, &data)).await?;
        assert_eq!(got.len(), data.len());
        assert_eq!(checksum(&got), checksum(&data));
        assert_eq!(echoer.await.expect("echo panicked")?, data.len() as u64);
        Ok(())
    });
}

#[test]
fn unix_listener_bind_accept_connect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("echo.sock");
    run(multi_thread(), Duration::from_secs(30), "unix listener", async {
        let listener = UnixListener::bind(&path)?;
        assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
        let err = UnixListener::bind(&path).expect_err("bind over an existing socket file");
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");

        let server = kq_runtime::spawn(async move {
            let mut echoers = Vec::new();
            for _ in 0..20 {
                let (s, peer) = listener.accept().await?;
                assert!(peer.is_unnamed(), "a connecting socket that did not bind is unnamed");
                echoers.push(kq_runtime::spawn(unix_echo(s)));
            }
            let mut total = 0;
            for h in echoers {
                total += h.await.expect("echo panicked")?;
            }
            Ok::<_, io::Error>((listener, total))
        });
        let mut clients = Vec::new();
        for id in 0..20u64 {
            let path = path.clone();
            clients.push(kq_runtime::spawn(async move {
                let mut s = UnixStream::connect(&path).await?;
                assert_eq!(s.peer_addr()?.as_pathname(), Some(path.as_path()));
                let data = pattern(id, 100_000);
                let got = write_and_read_back(&mut s, &data).await?;
                assert_eq!(checksum(&got), checksum(&data), "client {id}");
                Ok::<_, io::Error>(())
            }));
        }
        for c in clients {
            within(20, "unix client", c).await.expect("client panicked")?;
        }
        let (listener, total) = within(20, "unix server", server).await.expect("server")?;
        assert_eq!(total, 20 * 100_000);

        // Nothing listens once the listener is gone: the file stays, connecting is refused.
        drop(listener);
        let err = UnixStream::connect(&path).await.expect_err("connect to a closed listener");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
        let missing = path.with_file_name("missing.sock");
        let err = UnixStream::connect(&missing).await.expect_err("connect to no file");
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
        Ok(())
    });
}

#[test]
fn unix_stream_half_close_both_ways() {
    run(current_thread(), Duration::from_secs(10), "unix half-close", async {
        let (mut a, mut b) = UnixStream::pair()?;
        a.write_all(b"question").await?;
        a.shutdown(Shutdown::Write)?;
        let mut got = Vec::new();
        within(5, "b reads to EOF", b.read_to_end(&mut got)).await?;
        assert_eq!(got, b"question");
        b.write_all(b"answer after EOF").await?;
        b.shutdown(Shutdown::Write)?;
        let mut back = Vec::new();
        within(5, "a reads the answer", a.read_to_end(&mut back)).await?;
        assert_eq!(back, b"answer after EOF");
        let err = a.write_all(b"late").await.expect_err("write after shutdown(Write)");
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err:?}");
        Ok(())
    });
}

#[test]
fn unix_owned_halves_on_different_tasks() {
    run(multi_thread(), Duration::from_secs(30), "unix into_split", async {
        let (a, b) = UnixStream::pair()?;
        let echoer = kq_runtime::spawn(unix_echo(b));
        let (mut rd, mut wr) = a.into_split();
        let data = pattern(11, 512 * 1024);
        let want = checksum(&data);
        let writer = kq_runtime::spawn(async move {
            for chunk in data.chunks(5_000) {
                wr.write_all(chunk).await?;
            }
            Ok::<_, io::Error>(()) // dropping `wr` shuts the write side down
        });
        let reader = kq_runtime::spawn(async move {
            let mut got = Vec::new();
            rd.read_to_end(&mut got).await?;
            Ok::<_, io::Error>(got)
        });
        within(20, "writer", writer).await.expect("writer panicked")?;
        let got = within(20, "reader", reader).await.expect("reader panicked")?;
        assert_eq!(checksum(&got), want);
        assert_eq!(echoer.await.expect("echo panicked")?, 512 * 1024);
        Ok(())
    });
}

#[test]
fn unix_stream_try_read_try_write() {
    run(current_thread(), Duration::from_secs(10), "unix try_*", async {
        let (a, b) = UnixStream::pair()?;
        let mut buf = [0u8; 16];
        assert!(is_would_block(&b.try_read(&mut buf)), "nothing written yet");
        within(5, "writable", a.writable()).await?;
        assert_eq!(a.try_write(b"abc")?, 3);
        let n = loop {
            within(5, "readable", b.readable()).await?;
            match b.try_read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        assert_eq!(&buf[..n], b"abc");
        drop(a);
        within(5, "readable at EOF", b.readable()).await?;
        assert_eq!(b.try_read(&mut buf)?, 0, "EOF after the peer closed");
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Unix datagrams.

#[test]
fn unix_datagram_pair() {
    run(multi_thread(), Duration::from_secs(20), "unix datagram pair", async {
        let (a, b) = UnixDatagram::pair()?;
        let ponger = kq_runtime::spawn(async move {
            let mut buf = vec![0u8; 4096];
            for _ in 0..ROUND_TRIPS {
                let n = b.recv(&mut buf).await?;
                b.send(&buf[..n]).await?;
            }
            Ok::<_, io::Error>(())
        });
        let mut buf = vec![0u8; 4096];
        for i in 0..ROUND_TRIPS {
            let p = ping(i);
            assert_eq!(a.send(&p).await?, p.len());
            let n = within(5, "unix datagram pong", a.recv(&mut buf)).await?;
            assert_eq!(&buf[..n], &p[..], "datagram {i}");
        }
        within(5, "ponger", ponger).await.expect("ponger panicked")?;
        Ok(())
    });
}

#[test]
fn unix_datagram_bound_send_to_recv_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pa, pb) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    run(current_thread(), Duration::from_secs(20), "unix datagram bound", async {
        let a = UnixDatagram::bind(&pa)?;
        let b = UnixDatagram::bind(&pb)?;
        assert_eq!(a.local_addr()?.as_pathname(), Some(pa.as_path()));
        let err = UnixDatagram::bind(&pa).expect_err("bind over an existing socket file");
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");

        let mut buf = [0u8; 256];
        for i in 0..100u32 {
            let msg = format!("datagram {i}");
            assert_eq!(a.send_to(msg.as_bytes(), &pb).await?, msg.len());
            let (n, from) = within(5, "recv_from", b.recv_from(&mut buf)).await?;
            assert_eq!(&buf[..n], msg.as_bytes());
            assert_eq!(from.as_pathname(), Some(pa.as_path()), "sender's path");
            b.send_to(&buf[..n], &pa).await?;
            let (n, from) = within(5, "reply", a.recv_from(&mut buf)).await?;
            assert_eq!(&buf[..n], msg.as_bytes());
            assert_eq!(from.as_pathname(), Some(pb.as_path()));
        }

        // An unbound sender is unnamed; connect sets the default peer.
        let c = UnixDatagram::unbound()?;
        c.send_to(b"anon", &pb).await?;
        let (n, from) = within(5, "recv from unbound", b.recv_from(&mut buf)).await?;
        assert_eq!(&buf[..n], b"anon");
        assert!(from.is_unnamed());
        c.connect(&pb)?;
        c.send(b"connected").await?;
        let (n, _) = within(5, "recv connected", b.recv_from(&mut buf)).await?;
        assert_eq!(&buf[..n], b"connected");

        // No one at the path.
        let err = a
            .send_to(b"void", dir.path().join("nobody.sock"))
            .await
            .expect_err("send_to a path with no socket");
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
        Ok(())
    });
}
