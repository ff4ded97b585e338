//! kq-net connects on loopback that do not simply succeed: to a closed port (refused), and to a
//! peer that accepts and resets at once (the connect's readiness check races the reset).
//!
//! Each test runs in a child process (this binary re-run on that one test, see [`isolated`]), and
//! every wait is bounded, as in `tcp.rs`.
// Unix-only (the child-process harness): the Windows TCP tests are in windows_net.rs.
#![cfg(unix)]

mod util;
use util::*;

use std::io::{self, ErrorKind};
use std::time::Duration;

use futures_util::AsyncReadExt;
use kq_net::{TcpSocket, TcpStream};

const LOCALHOST: &str = "127.0.0.1:0";

#[test]
fn connect_to_a_closed_port_is_connection_refused() {
    isolated("connect_to_a_closed_port_is_connection_refused", Duration::from_secs(20), || {
        run(multi_thread(), Duration::from_secs(20), "connection refused", async {
            for i in 0..20 {
                // A port that was just free: bound then closed (nothing listens on it).
                let addr = std::net::TcpListener::bind(LOCALHOST)?.local_addr()?;
                let err = within(5, "connect to a closed port", TcpStream::connect(addr))
                    .await
                    .expect_err("connect to a closed port must fail");
                assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "attempt {i}: {err:?}");
                let socket = TcpSocket::new_v4()?;
                let err = within(5, "TcpSocket::connect to a closed port", socket.connect(addr))
                    .await
                    .expect_err("TcpSocket::connect to a closed port must fail");
                assert_eq!(
                    err.kind(),
                    ErrorKind::ConnectionRefused,
                    "attempt {i}, TcpSocket: {err:?}"
                );
            }
            Ok(())
        })
    });
}

/// A peer that accepts and resets at once (SO_LINGER 0), racing the connect's readiness check
/// (which asks SO_ERROR only when the readiness shows a hang-up or an error): the connect either
/// fails with a reset or succeeds, and then the first read reports the reset or EOF. Never a
/// hang, a panic, or a stream that reads data nobody sent.
#[test]
fn connect_to_a_peer_that_resets_at_once_fails_or_reads_the_reset() {
    let name = "connect_to_a_peer_that_resets_at_once_fails_or_reads_the_reset";
    isolated(name, Duration::from_secs(30), || {
        run(current_thread(), Duration::from_secs(30), "connect then reset", async {
            let listener = std::net::TcpListener::bind(LOCALHOST)?;
            let addr = listener.local_addr()?;
            let resetter = std::thread::spawn(move || -> io::Result<()> {
                for _ in 0..50 {
                    let (s, _) = listener.accept()?;
                    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
                    drop(s); // RST
                }
                Ok(())
            });
            let (mut ok, mut refused) = (0, 0);
            for i in 0..50 {
                match within(5, "connect to a resetting peer", TcpStream::connect(addr)).await {
                    Ok(mut s) => {
                        ok += 1;
                        let mut b = [0u8; 16];
                        match within(5, "read after the reset", s.read(&mut b)).await {
                            Ok(0) => {}
                            Ok(n) => panic!("attempt {i}: read {n} bytes nobody sent"),
                            Err(e) => assert!(
                                matches!(
                                    e.kind(),
                                    ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
                                ),
                                "attempt {i}: {e:?}"
                            ),
                        }
                    }
                    Err(e) => {
                        refused += 1;
                        assert!(
                            matches!(
                                e.kind(),
                                ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
                            ),
                            "attempt {i}: {e:?}"
                        );
                    }
                }
            }
            resetter.join().expect("resetter thread")?;
            eprintln!("connected {ok}, failed {refused}");
            assert_eq!(ok + refused, 50);
            Ok(())
        });
    });
}
