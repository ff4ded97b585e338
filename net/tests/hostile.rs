//! kq-net used the way careless users and hostile peers use it, where kq differed from tokio
//! doing the same: each test here failed before its fix.
//!
//! Every test is bounded: an in-runtime `timeout`, and a watchdog thread that aborts the binary
//! if the runtime is wedged so badly that even the timer does not fire.
// Linux and Android only: abstract Unix socket names exist there alone.
#![cfg(any(target_os = "linux", target_os = "android"))]

mod util;
use util::*;

use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Abstract Unix socket names (Linux): tokio's `UnixListener::bind("\0name")` binds `name` in
// the abstract namespace; kq's went to std's `bind`, which refuses a NUL byte, while kq's own
// `UnixStream::connect("\0name")` connected to an abstract name (through socket2): a kq client
// could reach an abstract listener, a kq server could not be one.

#[test]
fn unix_listener_binds_an_abstract_name_as_tokio_does() {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;

    use futures_util::{AsyncReadExt, AsyncWriteExt};
    use kq_net::{UnixListener, UnixStream};

    run(current_thread(), Duration::from_secs(20), "abstract unix name", async {
        let name = format!("kq-net-test-abstract-{}", std::process::id());
        let path = format!("\0{name}");
        let listener = UnixListener::bind(&path)?;
        assert_eq!(listener.local_addr()?.as_abstract_name(), Some(name.as_bytes()));
        // No file was made for it.
        assert!(!std::path::Path::new(&name).exists());
        // The name is taken while the listener lives.
        let err = UnixListener::bind(&path).expect_err("a second bind of the same name");
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err:?}");

        // kq's connect reaches it, and so does std's (the same address, not a near miss).
        let mut client =
            within(10, "connect to an abstract name", UnixStream::connect(&path)).await?;
        let (mut server, _) = within(10, "accept on an abstract name", listener.accept()).await?;
        client.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        within(10, "reading over an abstract name", server.read_exact(&mut buf)).await?;
        assert_eq!(&buf, b"ping");
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        let _std_client = std::os::unix::net::UnixStream::connect_addr(&addr)?;
        within(10, "accept of std's client", listener.accept()).await?;

        // Gone with the listener.
        drop(listener);
        let err = UnixStream::connect(&path).await.expect_err("connect after the listener");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err:?}");
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// SIGPIPE: a vectored write to a peer gone. std's `write` sends with MSG_NOSIGNAL, its
// `write_vectored` is a plain writev, which raises SIGPIPE: a program that restored the signal's
// default action (CLI tools do, for `| head`) died with status 141 on a Unix or TCP stream's
// `write_vectored` (tokio's too). Checked in a child process (this test binary re-run with an
// env var), since the signal's default action is process-wide.

const SIGPIPE_CHILD: &str = "KQ_NET_SIGPIPE_CHILD";

/// The child's part: SIGPIPE at its default action, then vectored writes to closed peers, which
/// must fail with BrokenPipe (or ConnectionReset) instead of ending the process.
fn sigpipe_child() {
    use futures_util::AsyncWriteExt;
    use std::io::IoSlice;
    // SAFETY: signal(2) with SIG_DFL, in a process of our own running this test only.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    run(current_thread(), Duration::from_secs(20), "sigpipe child", async {
        let bufs = [IoSlice::new(b"one "), IoSlice::new(b"two")];
        let (mut a, b) = kq_net::UnixStream::pair()?;
        drop(b);
        let err = a.write_vectored(&bufs).await.expect_err("a write to a peer gone");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err:?}");
        let err = a.try_write_vectored(&bufs).expect_err("again, without waiting");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err:?}");

        let listener = kq_net::TcpListener::bind("127.0.0.1:0").await?;
        let mut c = kq_net::TcpStream::connect(listener.local_addr()?).await?;
        drop(listener.accept().await?);
        // The first write may be taken (and answered with a reset); the ones after it fail.
        let mut failed = 0;
        for _ in 0..20 {
            if c.write_vectored(&bufs).await.is_err() {
                failed += 1;
            }
            kq_runtime::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(failed > 0, "writes to a closed TCP peer never failed");
        Ok(())
    });
    println!("sigpipe child: survived");
}

#[test]
fn vectored_writes_to_a_peer_gone_never_raise_sigpipe() {
    if std::env::var_os(SIGPIPE_CHILD).is_some() {
        return sigpipe_child();
    }
    let out = std::process::Command::new(std::env::current_exe().expect("current_exe"))
        .args(["--exact", "vectored_writes_to_a_peer_gone_never_raise_sigpipe", "--nocapture"])
        .env(SIGPIPE_CHILD, "1")
        .output()
        .expect("re-run this test as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), None, "the child was killed: {stdout}\n{stderr}");
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("sigpipe child: survived"), "{stdout}\n{stderr}");
}

/// More buffers than a `sendmsg` takes (`UIO_MAXIOV`, 1024): a partial write of the first ones,
/// as std's `writev` does, not `EMSGSIZE`.
#[test]
fn a_vectored_write_of_2000_buffers_writes_the_first_ones() {
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    use std::io::IoSlice;
    run(current_thread(), Duration::from_secs(20), "2000 buffers", async {
        let (mut a, mut b) = kq_net::UnixStream::pair()?;
        let data: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
        let bufs: Vec<IoSlice<'_>> = data.chunks(1).map(IoSlice::new).collect();
        let n = a.write_vectored(&bufs).await?;
        assert!((1..=1024).contains(&n), "wrote {n} of 2000 one-byte buffers");
        let mut got = vec![0u8; n];
        b.read_exact(&mut got).await?;
        assert_eq!(got, data[..n]);
        Ok(())
    });
}
