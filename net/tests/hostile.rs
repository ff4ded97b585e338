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
