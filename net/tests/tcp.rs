//! kq-net TCP on loopback: 1000 concurrent echo connections, half-close both ways, in-use
//! addresses (refused and reset connects: `tcp_connect.rs`), peer resets, running out of fds on accept, owned halves on different tasks,
//! `peek`, `try_read`/`try_write` after `readable`/`writable`, `TcpSocket` options, dropping
//! a socket while no event is pending, and accepted connections registered at their first wait.
//!
//! Each test runs in a child process (this binary re-run on that one test, see [`isolated`]), so
//! that a wedged runtime or a lowered RLIMIT_NOFILE fails that test alone. Every test is
//! bounded: an in-runtime `timeout`, a watchdog thread in the child that aborts it if even the
//! timer does not fire, and the parent kills a child that outlives its limit.
// Unix-only (fds, RLIMIT_NOFILE): the Windows TCP tests are in windows_net.rs.
#![cfg(unix)]

mod util;
use util::*;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::{AsyncReadExt, AsyncWriteExt};
use kq_net::{TcpListener, TcpSocket, TcpStream};
use kq_runtime::time::timeout;

const LOCALHOST: &str = "127.0.0.1:0";

/// Echoes until end-of-file, then returns the byte count (and drops the stream).
async fn echo(mut stream: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

/// A connected (client, server) pair.
async fn connected_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind(LOCALHOST).await?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, peer) = listener.accept().await?;
    assert_eq!(peer, client.local_addr()?, "accept's peer address is the client's address");
    assert_eq!(server.peer_addr()?, client.local_addr()?);
    assert_eq!(client.peer_addr()?, server.local_addr()?);
    Ok((client, server))
}

/// Raises the soft RLIMIT_NOFILE to the hard limit when it is below 4096, and checks that `need`
/// descriptors fit.
fn raise_nofile(need: libc::rlim_t) {
    let lim = getrlimit_nofile();
    if lim.rlim_cur < 4096 {
        let cur = if lim.rlim_max == libc::RLIM_INFINITY { 65536 } else { lim.rlim_max };
        setrlimit_nofile(libc::rlimit { rlim_cur: cur, rlim_max: lim.rlim_max })
            .expect("raising the soft RLIMIT_NOFILE to the hard limit");
    }
    let now = getrlimit_nofile().rlim_cur;
    assert!(now >= need, "RLIMIT_NOFILE is {now} (hard {}), the test needs {need}", lim.rlim_max);
}

// ---------------------------------------------------------------------------------------------
// Many connections.

const CONNS: usize = 1000;
const PER_CONN: usize = 64 * 1024;

/// One client: writes its pattern while reading the echo (split halves, joined), then checks
/// the echo's length and checksum.
async fn echo_client(addr: SocketAddr, id: u64) -> io::Result<()> {
    let ctx = |e: io::Error| io::Error::new(e.kind(), format!("client {id}: {e}"));
    let mut stream = TcpStream::connect(addr).await.map_err(ctx)?;
    let data = pattern(id, PER_CONN);
    // Fully qualified: `stream.split()` would pick futures' `AsyncReadExt::split(self)` (a
    // by-value trait method wins over the inherent `split(&mut self)` in method resolution).
    let (mut rd, mut wr) = TcpStream::split(&mut stream);
    let write = async {
        wr.write_all(&data).await?;
        wr.close().await // shutdown(Write): the server's echo ends
    };
    let read = async {
        let mut got = Vec::with_capacity(PER_CONN);
        rd.read_to_end(&mut got).await?;
        Ok::<_, io::Error>(got)
    };
    let (w, r) = futures_util::future::join(write, read).await;
    w.map_err(ctx)?;
    let got = r.map_err(ctx)?;
    assert_eq!(got.len(), PER_CONN, "client {id}: echoed byte count");
    assert_eq!(checksum(&got), checksum(&data), "client {id}: echo checksum");
    Ok(())
}

#[test]
fn thousand_concurrent_connections_echo_64k_each() {
    isolated("thousand_concurrent_connections_echo_64k_each", Duration::from_secs(120), thousand)
}

fn thousand() {
    raise_nofile(2 * CONNS as libc::rlim_t + 256);
    let started = Instant::now();
    run(multi_thread(), Duration::from_secs(120), "1000 connections", async {
        let listener = TcpListener::bind(LOCALHOST).await?;
        let addr = listener.local_addr()?;
        let server = kq_runtime::spawn(async move {
            let mut echoers = Vec::with_capacity(CONNS);
            for _ in 0..CONNS {
                let (stream, _) = listener.accept().await?;
                echoers.push(kq_runtime::spawn(echo(stream)));
            }
            let mut total = 0;
            for h in echoers {
                total += h.await.expect("echo task panicked")?;
            }
            Ok::<u64, io::Error>(total)
        });
        let clients: Vec<_> =
            (0..CONNS as u64).map(|id| kq_runtime::spawn(echo_client(addr, id))).collect();
        for h in clients {
            h.await.expect("client task panicked")?;
        }
        let echoed = server.await.expect("server task panicked")?;
        assert_eq!(echoed, (CONNS * PER_CONN) as u64, "bytes echoed by the server");
        Ok(())
    });
    eprintln!("{CONNS} connections x {PER_CONN} bytes echoed in {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Half-close.

#[test]
fn client_half_close_server_reads_eof_and_still_writes() {
    isolated(
        "client_half_close_server_reads_eof_and_still_writes",
        Duration::from_secs(20),
        || {
            run(multi_thread(), Duration::from_secs(20), "client half-close", async {
                let (mut client, mut server) = connected_pair().await?;
                client.write_all(b"request").await?;
                client.shutdown(Shutdown::Write)?;
                let server_side = kq_runtime::spawn(async move {
                    let mut got = Vec::new();
                    within(10, "server reading to EOF", server.read_to_end(&mut got)).await?;
                    assert_eq!(got, b"request", "server got the request, then EOF");
                    // Reading again after EOF is still EOF.
                    let mut buf = [0u8; 8];
                    assert_eq!(server.read(&mut buf).await?, 0, "EOF is sticky");
                    server.write_all(b"response after your FIN").await?;
                    server.shutdown(Shutdown::Write)?;
                    Ok::<_, io::Error>(())
                });
                let mut reply = Vec::new();
                within(10, "client reading the reply", client.read_to_end(&mut reply)).await?;
                assert_eq!(reply, b"response after your FIN");
                server_side.await.expect("server task panicked")?;
                // The client's write side is shut: writing fails (EPIPE), and does not hang.
                let err = client.write_all(b"late").await.expect_err("write after shutdown(Write)");
                assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err:?}");
                Ok(())
            })
        },
    );
}

#[test]
fn server_half_close_client_reads_eof_and_still_writes() {
    isolated(
        "server_half_close_client_reads_eof_and_still_writes",
        Duration::from_secs(20),
        || {
            run(current_thread(), Duration::from_secs(20), "server half-close", async {
                let (mut client, mut server) = connected_pair().await?;
                server.write_all(b"banner").await?;
                server.shutdown(Shutdown::Write)?;
                let mut got = Vec::new();
                within(10, "client reading to EOF", client.read_to_end(&mut got)).await?;
                assert_eq!(got, b"banner");
                client.write_all(b"still talking").await?;
                client.shutdown(Shutdown::Write)?;
                let mut rest = Vec::new();
                within(10, "server reading the client's bytes", server.read_to_end(&mut rest))
                    .await?;
                assert_eq!(rest, b"still talking");
                Ok(())
            })
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Connect and bind errors.

#[test]
fn bind_to_an_address_in_use_is_addr_in_use() {
    isolated("bind_to_an_address_in_use_is_addr_in_use", Duration::from_secs(10), || {
        run(current_thread(), Duration::from_secs(10), "addr in use", async {
            let first = TcpListener::bind(LOCALHOST).await?;
            let addr = first.local_addr()?;
            let err = TcpListener::bind(addr).await.expect_err("second listener on one address");
            assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
            let socket = TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            let err = socket.bind(addr).expect_err("TcpSocket::bind over a listener");
            assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
            // The first listener is unharmed.
            let client = TcpStream::connect(addr).await?;
            let (_, peer) = first.accept().await?;
            assert_eq!(peer, client.local_addr()?);
            Ok(())
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Peer reset.

/// A client whose close sends RST (SO_LINGER 0), connected to `listener`.
async fn resetting_client(listener: &TcpListener) -> io::Result<(TcpStream, TcpStream)> {
    let socket = TcpSocket::new_v4()?;
    socket.set_linger(Some(Duration::ZERO))?;
    let client = socket.connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    Ok((client, server))
}

#[test]
fn peer_reset_while_a_read_is_pending_is_an_error() {
    isolated("peer_reset_while_a_read_is_pending_is_an_error", Duration::from_secs(20), || {
        run(multi_thread(), Duration::from_secs(20), "reset during read", async {
            let listener = TcpListener::bind(LOCALHOST).await?;
            let (mut client, mut server) = resetting_client(&listener).await?;
            let reader = kq_runtime::spawn(async move {
                let mut buf = [0u8; 1024];
                let mut got = 0;
                loop {
                    match server.read(&mut buf).await {
                        Ok(0) => return Ok(got),
                        Ok(n) => got += n,
                        Err(e) => return Err(e),
                    }
                }
            });
            client.write_all(b"some bytes, then a reset").await?;
            drop(client); // SO_LINGER 0: RST
            let res = within(10, "reader woken by the peer's RST", reader)
                .await
                .expect("reader task panicked");
            match res {
                Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e:?}"),
                Ok(got) => panic!(
                    "read after the peer's RST returned end-of-file ({got} bytes before it), \
                 expected a ConnectionReset error"
                ),
            }
            Ok(())
        })
    });
}

#[test]
fn peer_reset_then_read_is_an_error() {
    isolated("peer_reset_then_read_is_an_error", Duration::from_secs(20), || {
        run(current_thread(), Duration::from_secs(20), "reset then read", async {
            let listener = TcpListener::bind(LOCALHOST).await?;
            let (client, mut server) = resetting_client(&listener).await?;
            drop(client);
            // Wait for the RST to arrive (it makes the socket readable), then read.
            within(10, "readable after RST", server.readable()).await?;
            let mut buf = [0u8; 64];
            match within(10, "read after RST", server.read(&mut buf)).await {
                Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e:?}"),
                Ok(n) => panic!(
                    "read after the peer's RST returned Ok({n}), expected a ConnectionReset error"
                ),
            }
            Ok(())
        })
    });
}

#[test]
fn peer_reset_then_write_is_an_error() {
    isolated("peer_reset_then_write_is_an_error", Duration::from_secs(20), || {
        run(multi_thread(), Duration::from_secs(20), "reset then write", async {
            let listener = TcpListener::bind(LOCALHOST).await?;
            let (client, mut server) = resetting_client(&listener).await?;
            drop(client);
            within(10, "readable after RST", server.readable()).await?;
            let chunk = vec![0x5a; 64 * 1024];
            let err = within(10, "writing into a reset connection", async {
                loop {
                    if let Err(e) = server.write(&chunk).await {
                        return e;
                    }
                }
            })
            .await;
            assert!(
                matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                "write after the peer's RST: {err:?}"
            );
            Ok(())
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Out of fds on accept.

fn accept_out_of_fds_body() -> io::Result<()> {
    let rt = current_thread();
    rt.block_on(async {
        let listener = TcpListener::bind(LOCALHOST).await?;
        let addr = listener.local_addr()?;
        // Two connections waiting in the backlog (std, blocking: loopback connects at once).
        let mut c1 = std::net::TcpStream::connect(addr)?;
        let c2 = std::net::TcpStream::connect(addr)?;
        let spare = std::fs::File::open("/dev/null")?;
        let (fillers, old) = exhaust_fds(&spare)?;

        for attempt in 0..2 {
            let res = within(10, "accept with no fd left", listener.accept()).await;
            let err = res.err().unwrap_or_else(|| panic!("attempt {attempt}: accept succeeded"));
            assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "attempt {attempt}: {err:?}");
        }

        for fd in fillers {
            // SAFETY: each filler is an fd dup'ed by exhaust_fds and closed only here.
            unsafe { libc::close(fd) };
        }
        setrlimit_nofile(old)?;

        // The connections that waited are accepted now, without any new connection arriving.
        let (mut s1, p1) = within(10, "accept after fds came back (1)", listener.accept()).await?;
        let (s2, p2) = within(10, "accept after fds came back (2)", listener.accept()).await?;
        assert_eq!(p1, c1.local_addr()?);
        assert_eq!(p2, c2.local_addr()?);
        drop(s2);
        c1.write_all(b"alive")?;
        let mut buf = [0u8; 5];
        within(10, "reading from the recovered connection", s1.read_exact(&mut buf)).await?;
        assert_eq!(&buf, b"alive");
        s1.write_all(b"ok").await?;
        let mut two = [0u8; 2];
        c1.read_exact(&mut two)?;
        assert_eq!(&two, b"ok");
        // And a brand-new connection.
        let c3 = TcpStream::connect(addr).await?;
        let (_, p3) = within(10, "accept of a new connection", listener.accept()).await?;
        assert_eq!(p3, c3.local_addr()?);
        Ok(())
    })
}

#[test]
fn accept_out_of_fds_reports_emfile_and_recovers() {
    isolated("accept_out_of_fds_reports_emfile_and_recovers", Duration::from_secs(60), || {
        accept_out_of_fds_body().unwrap_or_else(|e| panic!("{e} ({e:?})"))
    });
}

// ---------------------------------------------------------------------------------------------
// Halves, peek, try_*.

#[test]
fn owned_halves_on_different_tasks() {
    isolated("owned_halves_on_different_tasks", Duration::from_secs(30), owned_halves);
}

fn owned_halves() {
    const LEN: usize = 1 << 20;
    run(multi_thread(), Duration::from_secs(30), "into_split", async {
        let (client, server) = connected_pair().await?;
        let echoer = kq_runtime::spawn(echo(server));
        let (mut rd, mut wr) = client.into_split();
        assert_eq!(rd.as_ref().local_addr()?, wr.as_ref().local_addr()?);
        let data = pattern(42, LEN);
        let want = checksum(&data);
        let writer = kq_runtime::spawn(async move {
            for chunk in data.chunks(7_777) {
                wr.write_all(chunk).await?;
            }
            drop(wr); // shuts the write side down: the echo ends
            Ok::<_, io::Error>(())
        });
        let reader = kq_runtime::spawn(async move {
            let mut got = Vec::with_capacity(LEN);
            rd.read_to_end(&mut got).await?;
            Ok::<_, io::Error>(got)
        });
        within(20, "writer half", writer).await.expect("writer panicked")?;
        let got = within(20, "reader half", reader).await.expect("reader panicked")?;
        assert_eq!(got.len(), LEN);
        assert_eq!(checksum(&got), want);
        assert_eq!(echoer.await.expect("echo panicked")?, LEN as u64);
        Ok(())
    });
}

#[test]
fn peek_does_not_consume() {
    isolated("peek_does_not_consume", Duration::from_secs(10), || {
        run(current_thread(), Duration::from_secs(10), "peek", async {
            let (mut client, mut server) = connected_pair().await?;
            client.write_all(b"hello, peek").await?;
            let mut buf = [0u8; 64];
            let n = within(5, "peek", server.peek(&mut buf)).await?;
            assert!(n > 0 && buf[..n] == b"hello, peek"[..n], "peek saw {:?}", &buf[..n]);
            let n2 = server.peek(&mut buf).await?;
            assert!(n2 >= n, "a second peek sees at least as much ({n2} < {n})");
            let mut all = [0u8; 11];
            server.read_exact(&mut all).await?;
            assert_eq!(&all, b"hello, peek", "read returns the peeked bytes");
            assert!(
                matches!(server.try_read(&mut buf), Err(ref e) if e.kind() == ErrorKind::WouldBlock),
                "nothing left after reading what was peeked"
            );
            // peek sees end-of-file as 0.
            client.shutdown(Shutdown::Write)?;
            assert_eq!(within(5, "peek at EOF", server.peek(&mut buf)).await?, 0);
            Ok(())
        })
    });
}

/// Reads `want` bytes with `readable` + `try_read`.
async fn try_read_exact(stream: &TcpStream, want: usize) -> io::Result<Vec<u8>> {
    let mut got = Vec::with_capacity(want);
    let mut buf = vec![0u8; 64 * 1024];
    while got.len() < want {
        stream.readable().await?;
        match stream.try_read(&mut buf[..(want - got.len()).min(64 * 1024)]) {
            Ok(0) => panic!("EOF after {} of {want} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[test]
fn try_read_and_try_write_after_readiness() {
    isolated("try_read_and_try_write_after_readiness", Duration::from_secs(30), || {
        run(multi_thread(), Duration::from_secs(30), "try_read/try_write", async {
            let (client, server) = connected_pair().await?;
            let mut buf = [0u8; 64];
            let e = server.try_read(&mut buf).expect_err("no data yet");
            assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e:?}");

            within(5, "writable", client.writable()).await?;
            let n = loop {
                match client.try_write(b"ping") {
                    Ok(n) => break n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => client.writable().await?,
                    Err(e) => return Err(e),
                }
            };
            assert_eq!(n, 4);
            let got = within(5, "try_read of ping", try_read_exact(&server, 4)).await?;
            assert_eq!(got, b"ping");
            let e = server.try_read(&mut buf).expect_err("drained");
            assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e:?}");

            // Fill the pipe with try_write until WouldBlock, then let a reader drain it: writable
            // must fire again (an edge after the buffer empties) and try_write make progress.
            let chunk = pattern(9, 64 * 1024);
            let mut written = 0usize;
            for _ in 0..100_000 {
                match client.try_write(&chunk) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            assert!(written > 0, "some bytes fit before WouldBlock");
            let e = client.try_write(&chunk).expect_err("still full");
            assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e:?}");
            let server = std::sync::Arc::new(server);
            let drain = {
                let server = server.clone();
                kq_runtime::spawn(async move { try_read_exact(&server, written + 1000).await })
            };
            let extra = loop {
                within(10, "writable after the reader drains", client.writable()).await?;
                match client.try_write(&chunk[..1000]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            };
            assert_eq!(extra, 1000);
            let drained = within(10, "reader draining", drain).await.expect("drain panicked")?;
            assert_eq!(drained.len(), written + 1000);
            let expect: Vec<u8> = chunk
                .iter()
                .copied()
                .cycle()
                .take(written)
                .chain(chunk[..1000].iter().copied())
                .collect();
            assert_eq!(checksum(&drained), checksum(&expect), "bytes arrived in order");
            Ok(())
        })
    });
}

// ---------------------------------------------------------------------------------------------
// TcpSocket.

/// Runs `f` on socket2's view of a kq socket (to read its options).
fn with_sockref<R>(sock: &impl AsRawFd, f: impl FnOnce(socket2::SockRef<'_>) -> R) -> R {
    // SAFETY: the fd belongs to `sock`, which stays open for the whole borrow.
    let borrowed = unsafe { BorrowedFd::borrow_raw(sock.as_raw_fd()) };
    f(socket2::SockRef::from(&borrowed))
}

#[test]
fn tcp_socket_options_then_listen_and_connect() {
    isolated("tcp_socket_options_then_listen_and_connect", Duration::from_secs(20), || {
        run(multi_thread(), Duration::from_secs(20), "TcpSocket options", async {
            let ls = TcpSocket::new_v4()?;
            ls.set_reuseaddr(true)?;
            ls.set_recv_buffer_size(128 * 1024)?;
            assert!(ls.recv_buffer_size()? >= 128 * 1024, "SO_RCVBUF {}", ls.recv_buffer_size()?);
            ls.bind("127.0.0.1:0".parse().expect("addr"))?;
            let addr = ls.local_addr()?;
            assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
            assert!(with_sockref(&ls, |s| s.reuse_address())?, "SO_REUSEADDR");
            let listener = ls.listen(64)?;
            assert_eq!(listener.local_addr()?, addr);

            let cs = TcpSocket::new_v4()?;
            cs.set_keepalive(true)?;
            cs.set_nodelay(true)?;
            cs.set_linger(Some(Duration::from_secs(2)))?;
            cs.set_send_buffer_size(32 * 1024)?;
            cs.set_recv_buffer_size(32 * 1024)?;
            assert!(cs.send_buffer_size()? >= 32 * 1024, "SO_SNDBUF {}", cs.send_buffer_size()?);
            assert!(cs.recv_buffer_size()? >= 32 * 1024, "SO_RCVBUF {}", cs.recv_buffer_size()?);
            let mut client = within(5, "TcpSocket::connect", cs.connect(addr)).await?;
            let (server, peer) = within(5, "accept", listener.accept()).await?;
            assert_eq!(peer, client.local_addr()?);
            assert_eq!(client.peer_addr()?, addr);

            // The options survive connect.
            assert!(client.nodelay()?, "TCP_NODELAY");
            assert!(with_sockref(&client, |s| s.keepalive())?, "SO_KEEPALIVE");
            let linger = with_sockref(&client, |s| s.linger())?;
            assert_eq!(linger, Some(Duration::from_secs(2)), "SO_LINGER");
            assert!(with_sockref(&client, |s| s.send_buffer_size())? >= 32 * 1024, "SO_SNDBUF");
            client.set_nodelay(false)?;
            assert!(!client.nodelay()?);
            client.set_ttl(17)?;
            assert_eq!(client.ttl()?, 17);

            let echoer = kq_runtime::spawn(echo(server));
            client.write_all(b"configured").await?;
            client.shutdown(Shutdown::Write)?;
            let mut back = Vec::new();
            within(5, "echo", client.read_to_end(&mut back)).await?;
            assert_eq!(back, b"configured");
            assert_eq!(echoer.await.expect("echo panicked")?, 10);
            Ok(())
        })
    });
}

#[test]
fn tcp_socket_reuseaddr_rebinds_over_time_wait() {
    isolated("tcp_socket_reuseaddr_rebinds_over_time_wait", Duration::from_secs(20), || {
        run(multi_thread(), Duration::from_secs(20), "reuseaddr", async {
            let ls = TcpSocket::new_v4()?;
            ls.set_reuseaddr(true)?;
            ls.bind("127.0.0.1:0".parse().expect("addr"))?;
            let addr = ls.local_addr()?;
            let listener = ls.listen(8)?;
            let mut client = TcpStream::connect(addr).await?;
            let (server, _) = listener.accept().await?;
            // The server closes first: its side (on `addr`) ends in FIN_WAIT/TIME_WAIT.
            drop(server);
            let mut rest = Vec::new();
            within(5, "client sees the server's FIN", client.read_to_end(&mut rest)).await?;
            drop(client);
            drop(listener);

            let plain = TcpSocket::new_v4()?;
            plain.set_reuseaddr(false)?;
            match plain.bind(addr) {
                Err(err) => assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}"),
                // The kernel keeps no TIME_WAIT socket when its table is full (connection
                // benchmarks fill it for a minute): then nothing holds the port.
                Ok(()) => assert!(
                    time_wait_table_full(),
                    "bind without SO_REUSEADDR over TIME_WAIT succeeded, and the kernel's \
                     TIME_WAIT table is not full"
                ),
            }
            drop(plain);

            let reuse = TcpSocket::new_v4()?;
            reuse.set_reuseaddr(true)?;
            reuse.bind(addr)?;
            let listener = reuse.listen(8)?;
            let client = TcpStream::connect(addr).await?;
            let (_, peer) = within(5, "accept on the rebound port", listener.accept()).await?;
            assert_eq!(peer, client.local_addr()?);
            Ok(())
        })
    });
}

/// Is the kernel's TIME_WAIT table full (`tw` of /proc/net/sockstat at
/// `net.ipv4.tcp_max_tw_buckets`)? Then closing connections leave no TIME_WAIT socket behind.
fn time_wait_table_full() -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let max: u64 = read("/proc/sys/net/ipv4/tcp_max_tw_buckets").trim().parse().unwrap_or(u64::MAX);
    let stat = read("/proc/net/sockstat");
    let tw = stat
        .lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| l.split_whitespace().skip_while(|w| *w != "tw").nth(1))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    tw + 16 >= max
}

// ---------------------------------------------------------------------------------------------
// Dropping a socket.

/// Dropping a socket deletes its knotes; that must not wait for events (nor take events meant
/// for the runtime): `Registration::drop` in kq-runtime.
///
/// Current-thread runtime, so the test thread is the only one reading the kqueue. A task yields
/// a few hundred times, so the scheduler's periodic zero-timeout polls collect every pending
/// event (the registrations' first edges, wake-up triggers). With nothing pending, `victim` is
/// dropped. The only event that can arrive afterwards is a byte a helper thread sends to
/// `watched`'s peer after 2 s, unless told at once that the drop returned.
#[test]
fn dropping_a_stream_with_no_event_pending_returns_at_once() {
    isolated(
        "dropping_a_stream_with_no_event_pending_returns_at_once",
        Duration::from_secs(30),
        || {
            run(current_thread(), Duration::from_secs(30), "drop", async {
                let (victim, _victim_peer) = connected_pair().await?;
                let std_listener = std::net::TcpListener::bind(LOCALHOST)?;
                let mut watched = TcpStream::connect(std_listener.local_addr()?).await?;
                let (mut poke, _) = std_listener.accept()?;
                let settle = kq_runtime::spawn(async {
                    for _ in 0..500 {
                        kq_runtime::task::yield_now().await;
                    }
                });
                settle.await.expect("settle task");

                let (dropped_tx, dropped_rx) = mpsc::channel::<()>();
                let poker = std::thread::spawn(move || {
                    let waited = Instant::now();
                    let told = dropped_rx.recv_timeout(Duration::from_secs(2)).is_ok();
                    poke.write_all(b"!").expect("poke");
                    (told, waited.elapsed(), poke)
                });
                let t = Instant::now();
                drop(victim);
                let drop_took = t.elapsed();
                let _ = dropped_tx.send(());
                let woke = timeout(Duration::from_secs(3), watched.readable()).await.is_ok();
                let mut byte = [0u8; 1];
                let read = if woke { watched.read(&mut byte).await.ok() } else { None };
                let (told, poked_after, _poke) = poker.join().expect("poker thread");
                assert!(
                    drop_took < Duration::from_secs(1),
                    "dropping a TcpStream took {drop_took:?} (the helper sent its byte after \
                     {poked_after:?}, {}): Registration::drop waited for an event; the byte's \
                     readiness then {} (expected: the drop returns at once)",
                    if told { "told by the test" } else { "on its own" },
                    if woke { "still woke the reader" } else { "was lost" }
                );
                assert!(woke && read == Some(1), "the byte sent to `watched` was not delivered");
                Ok(())
            })
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Accepted connections are registered when they first wait.

/// An accepted connection is registered with the reactor only when it first has to wait (a
/// connection closed at once costs no knote). Whatever the client does around that moment, the
/// server's reads see it: data sent before the first read, data sent after the server waited,
/// end-of-file; and thousands of connections accepted and dropped at once leave the listener
/// and the runtime working.
#[test]
fn accepted_streams_register_when_they_first_wait() {
    isolated("accepted_streams_register_when_they_first_wait", Duration::from_secs(60), || {
        run(multi_thread(), Duration::from_secs(60), "deferred accept", async {
            let listener = TcpListener::bind(LOCALHOST).await?;
            let addr = listener.local_addr()?;
            // Accepted and dropped at once, 2,000 times.
            let churn = std::thread::spawn(move || {
                for _ in 0..2_000 {
                    let mut c = std::net::TcpStream::connect(addr).expect("connect");
                    let mut b = [0u8; 1];
                    assert_eq!(c.read(&mut b).expect("eof"), 0, "the server closed at once");
                }
            });
            for _ in 0..2_000 {
                let (s, _) = within(5, "accept", listener.accept()).await?;
                drop(s);
            }
            churn.join().expect("churn client");

            // Data already there at the first read; then data after the server waited; then EOF.
            let mut client = std::net::TcpStream::connect(addr)?;
            client.write_all(b"early")?;
            let (mut server, _) = within(5, "accept", listener.accept()).await?;
            let mut buf = [0u8; 16];
            let n = within(5, "read early", server.read(&mut buf)).await?;
            assert_eq!(&buf[..n], b"early");
            let late = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                client.write_all(b"late").expect("write late");
                client.shutdown(Shutdown::Write).expect("shutdown");
                client
            });
            let n = within(5, "read late (after a wait)", server.read(&mut buf)).await?;
            assert_eq!(&buf[..n], b"late");
            let n = within(5, "read EOF", server.read(&mut buf)).await?;
            assert_eq!(n, 0, "end of file");
            server.write_all(b"bye").await?;
            let mut client = late.join().expect("late writer");
            let mut bye = [0u8; 3];
            client.read_exact(&mut bye)?;
            assert_eq!(&bye, b"bye");
            Ok(())
        })
    });
}
