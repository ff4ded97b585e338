//! A TCP echo server on kq: `cargo run --release --example echo_server [ADDR]`.
//!
//! Prints its address, echoes every connection, and stops cleanly on Ctrl-C: SIGINT is watched
//! through a SIGNAL knote ([`kq::io::EventSource`]), the kq-native way until kq-process offers
//! `ctrl_c()` (the documented fallback the networking issue asks for).

use std::io;

use futures_util::future::{select, Either};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use kq::net::{TcpListener, TcpStream};
use kq::{Filter, Flags, Kevent};

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

#[kq::main]
async fn main() -> io::Result<()> {
    // SIGINT is ignored as a disposition and watched as a knote: kqueue records an ignored
    // signal, so Ctrl-C reaches us as an event on every platform (on the BSDs the default action
    // would otherwise end the process), and it is watched before the address is printed.
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory-safety requirement.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    let sigint = Kevent::new(libc::SIGINT as usize, Filter::Signal, Flags::ADD);
    let mut sigint = kq::io::EventSource::new(sigint)?;
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let listener = TcpListener::bind(&addr).await?;
    println!("echo server listening on {}", listener.local_addr()?);
    println!("try: nc {} (Ctrl-C here to stop)", listener.local_addr()?);
    let mut connections = 0u64;
    loop {
        let accept = Box::pin(listener.accept());
        let ctrl_c = Box::pin(sigint.next_event());
        match select(accept, ctrl_c).await {
            Either::Left((accepted, _)) => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("accept failed: {e}");
                        continue;
                    }
                };
                connections += 1;
                stream.set_nodelay(true)?;
                kq::spawn(async move {
                    if let Err(e) = echo(stream).await {
                        eprintln!("{peer}: {e}");
                    }
                });
            }
            Either::Right(_) => {
                println!("\nCtrl-C: stopping after {connections} connections");
                return Ok(());
            }
        }
    }
}
