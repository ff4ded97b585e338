//! kq-net misused: `AsyncFd` on descriptors epoll cannot watch, sockets used after their
//! runtime is gone, and running out of fds on connect (then recovering).
//!
//! Each test runs in a child process (see `util::isolated`), bounded there by an in-runtime
//! timeout and a watchdog, and killed by the parent if it outlives its limit.
// Unix-only (fds, RLIMIT_NOFILE, Unix sockets): the Windows tests are in windows_net.rs.
#![cfg(unix)]

mod util;
use util::*;

use std::io::{self, Write};
#[cfg(any(target_os = "linux", target_os = "android"))] // For the epoll test below.
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
#[cfg(any(target_os = "linux", target_os = "android"))] // For the epoll test below.
use kq_net::AsyncFd;
use kq_net::{TcpListener, TcpStream, UdpSocket, UnixStream};

const LOCALHOST: &str = "127.0.0.1:0";
const SHUT: &str = "shut down";

// ---------------------------------------------------------------------------------------------
// AsyncFd on what epoll cannot watch (issue 9, item 3)

#[cfg(any(target_os = "linux", target_os = "android"))] // epoll refuses files (EPERM).
#[test]
fn async_fd_refuses_what_epoll_cannot_watch_with_eperm() {
    isolated(
        "async_fd_refuses_what_epoll_cannot_watch_with_eperm",
        Duration::from_secs(20),
        || {
            run(current_thread(), Duration::from_secs(10), "AsyncFd EPERM", async {
                let dir = tempfile::tempdir()?;
                let file_path = dir.path().join("f");
                std::fs::write(&file_path, b"data")?;
                let unwatchable = [
                    ("/dev/null", std::fs::File::open("/dev/null")?),
                    ("a directory", std::fs::File::open(dir.path())?),
                    ("a regular file", std::fs::File::open(&file_path)?),
                ];
                for (what, file) in unwatchable {
                    let err = AsyncFd::new(file).expect_err(what);
                    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{what}: {err}");
                    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{what}");
                }
                // Watchable fds that are not sockets still register: a pipe and an eventfd.
                let (rd, mut wr) = std::io::pipe()?;
                let rd = AsyncFd::new(rd)?;
                wr.write_all(b"p")?;
                within(10, "a pipe through AsyncFd", rd.readable()).await?;
                // SAFETY: eventfd has no memory arguments; the fd is owned by `OwnedFd` below.
                let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
                assert!(efd >= 0, "eventfd: {}", io::Error::last_os_error());
                // SAFETY: `efd` is a fresh fd owned by nothing else.
                let efd = AsyncFd::new(unsafe { OwnedFd::from_raw_fd(efd) })?;
                within(10, "an eventfd is writable", efd.writable()).await?;
                // A closed fd is EBADF, from the registration.
                let closed = std::fs::File::open("/dev/null")?;
                let raw = closed.as_raw_fd();
                drop(closed);
                // SAFETY: a number of a closed fd, wrapped without being used as an fd by us.
                let err = AsyncFd::new(Raw(raw)).expect_err("a closed fd");
                assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
                Ok(())
            })
        },
    );
}

/// A bare fd number (for a closed one).
#[cfg(any(target_os = "linux", target_os = "android"))] // For the epoll test above.
#[derive(Debug)]
struct Raw(std::os::fd::RawFd);

#[cfg(any(target_os = "linux", target_os = "android"))] // For the epoll test above.
impl AsRawFd for Raw {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Sockets after their runtime is gone (item 1)

#[test]
fn sockets_after_runtime_drop_are_errors_never_hangs() {
    isolated("sockets_after_runtime_drop_are_errors_never_hangs", Duration::from_secs(60), || {
        sockets_after_runtime_drop().unwrap_or_else(|e| panic!("{e} ({e:?})"))
    });
}

/// Polls `fut` once, reporting whether it was pending, then returns it.
async fn poll_once<F: std::future::Future + Unpin>(mut fut: F) -> (bool, F) {
    let pending = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::pin::Pin::new(&mut fut).poll(cx).is_pending())
    })
    .await;
    (pending, fut)
}

fn sockets_after_runtime_drop() -> io::Result<()> {
    {
        for (name, rt) in [("current_thread", current_thread()), ("multi_thread", multi_thread())] {
            let h = rt.handle().clone();
            let (listener, client, server, mut peer) = rt.block_on(async {
                let listener = TcpListener::bind(LOCALHOST).await.unwrap();
                let addr = listener.local_addr().unwrap();
                let client = TcpStream::connect(addr).await.unwrap();
                let (server, _) = listener.accept().await.unwrap();
                let peer = std::net::TcpStream::connect(addr).unwrap();
                (listener, client, server, peer)
            });
            // A read pending on another thread when the runtime is dropped.
            let (tx, rx) = mpsc::channel();
            let h2 = h.clone();
            let pending = thread::spawn(move || {
                let mut server = server;
                h2.block_on(async move {
                    let mut buf = [0u8; 8];
                    let (pending, read) = poll_once(server.read(&mut buf)).await;
                    assert!(pending, "nothing was written yet");
                    tx.send(()).unwrap();
                    read.await
                })
            });
            rx.recv_timeout(Duration::from_secs(20)).expect("the read never started");
            drop(rt);
            let (done_tx, done_rx) = mpsc::channel();
            thread::spawn(move || done_tx.send(pending.join()));
            let res = done_rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("{name}: a pending read outlived its runtime: hang"))
                .expect("the reading thread panicked");
            let err = res.expect_err("a read pending across shutdown must fail");
            assert!(err.to_string().contains(SHUT), "{name}: {err}");

            // Afterwards, every operation is an error at once (data waiting or not).
            peer.write_all(b"late")?;
            let mut client = client;
            let err = h.block_on(client.read(&mut [0u8; 4])).expect_err("read after shutdown");
            assert!(err.to_string().contains(SHUT), "{name}: {err}");
            let err = h.block_on(listener.accept()).expect_err("accept after shutdown");
            assert!(err.to_string().contains(SHUT), "{name}: {err}");
            let err = h.block_on(TcpListener::bind(LOCALHOST)).expect_err("bind after shutdown");
            assert!(err.to_string().contains(SHUT), "{name}: {err}");
            let addr = listener.local_addr()?;
            let err = h.block_on(TcpStream::connect(addr)).expect_err("connect after shutdown");
            assert!(err.to_string().contains(SHUT), "{name}: {err}");
            let err = h.block_on(UdpSocket::bind(LOCALHOST)).expect_err("udp after shutdown");
            assert!(err.to_string().contains(SHUT), "{name}: {err}");
            let err = h
                .block_on(async { UnixStream::pair().map(drop) })
                .expect_err("unix pair after shutdown");
            assert!(err.to_string().contains(SHUT), "{name}: {err}");
            // A write may still succeed (the socket has room and readiness was cached), or
            // fail with the shutdown error; it must not hang.
            let _ = h.block_on(client.write_all(b"x"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Out of fds on connect, then recovery (adversarial)

fn connect_out_of_fds_body() -> io::Result<()> {
    let rt = multi_thread();
    rt.block_on(async {
        let listener = TcpListener::bind(LOCALHOST).await?;
        let addr = listener.local_addr()?;
        let spare = std::fs::File::open("/dev/null")?;
        let (fillers, old) = exhaust_fds(&spare)?;

        for attempt in 0..3 {
            let res = within(10, "connect with no fd left", TcpStream::connect(addr)).await;
            let err = res.err().unwrap_or_else(|| panic!("attempt {attempt}: connect succeeded"));
            assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "attempt {attempt}: {err:?}");
            let res = within(10, "bind with no fd left", TcpListener::bind(LOCALHOST)).await;
            assert_eq!(res.err().and_then(|e| e.raw_os_error()), Some(libc::EMFILE));
        }
        // The runtime still runs tasks and timers meanwhile.
        let v = within(10, "a task while out of fds", kq_runtime::spawn(async { 3 })).await;
        assert_eq!(v.unwrap(), 3);
        kq_runtime::time::sleep(Duration::from_millis(2)).await;

        for fd in fillers {
            // SAFETY: each filler is an fd dup'ed by exhaust_fds and closed only here.
            unsafe { libc::close(fd) };
        }
        setrlimit_nofile(old)?;

        // Recovered: connect, accept and echo.
        let mut client =
            within(10, "connect after fds came back", TcpStream::connect(addr)).await?;
        let (mut server, _) = within(10, "accept after fds came back", listener.accept()).await?;
        client.write_all(b"back").await?;
        let mut buf = [0u8; 4];
        within(10, "reading after recovery", server.read_exact(&mut buf)).await?;
        assert_eq!(&buf, b"back");
        Ok(())
    })
}

#[test]
fn connect_out_of_fds_reports_emfile_and_recovers() {
    isolated("connect_out_of_fds_reports_emfile_and_recovers", Duration::from_secs(60), || {
        connect_out_of_fds_body().unwrap_or_else(|e| panic!("{e} ({e:?})"))
    });
}

// ---------------------------------------------------------------------------------------------
// Huge durations in socket options (adversarial)

/// SO_LINGER holds an int of seconds: a huge duration saturates instead of being truncated
/// (2^32 s truncated to 0 would turn every close into an abortive reset).
#[test]
fn a_huge_linger_saturates_instead_of_truncating() {
    isolated("a_huge_linger_saturates_instead_of_truncating", Duration::from_secs(20), || {
        run(current_thread(), Duration::from_secs(10), "linger", async {
            for d in [Duration::MAX, Duration::from_secs(1 << 32), Duration::from_secs(u64::MAX)] {
                let socket = kq_net::TcpSocket::new_v4()?;
                socket.set_linger(Some(d))?;
                let got = socket.linger()?.expect("linger is on");
                assert!(got >= Duration::from_secs(1 << 20), "set_linger({d:?}) gave {got:?}");
            }
            let socket = kq_net::TcpSocket::new_v4()?;
            socket.set_linger(Some(Duration::ZERO))?;
            assert_eq!(socket.linger()?, Some(Duration::ZERO));
            socket.set_linger(None)?;
            assert_eq!(socket.linger()?, None);
            Ok(())
        })
    });
}
