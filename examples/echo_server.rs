//! A TCP echo server on kq: `cargo run --release --example echo_server [ADDR]`.
//!
//! Prints its address, echoes every connection, and stops cleanly on Ctrl-C
//! ([`kq::signal::ctrl_c`], a SIGNAL knote; on Windows, where there is no SIGNAL filter, Ctrl-C
//! simply ends the process).

use std::io;

use futures_util::future::{select, Either};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use kq::net::{TcpListener, TcpStream};

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
    // SIGINT is watched from here on (before the address is printed), and awaited below.
    #[cfg(unix)]
    let mut ctrl_c = kq::signal::ctrl_c();
    // Windows: kq::signal is Unix-only, so Ctrl-C is not watched; the console's default handler
    // ends the process (no summary line).
    #[cfg(windows)]
    let mut ctrl_c = std::future::pending::<io::Result<()>>();
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let listener = TcpListener::bind(&addr).await?;
    println!("echo server listening on {}", listener.local_addr()?);
    println!("try: nc {} (Ctrl-C here to stop)", listener.local_addr()?);
    let mut connections = 0u64;
    loop {
        let accept = Box::pin(listener.accept());
        match select(accept, &mut ctrl_c).await {
            Either::Left((accepted, _)) => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors (EMFILE), say: the connection waits in the
                        // backlog and accept fails at once until one is freed. Retrying at once
                        // would spin a core and flood stderr; pause, as hyper and tokio advise.
                        eprintln!("accept failed: {e} (retrying in 100 ms)");
                        kq::time::sleep(std::time::Duration::from_millis(100)).await;
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
            Either::Right((stopped, _)) => {
                stopped?;
                println!("\nCtrl-C: stopping after {connections} connections");
                return Ok(());
            }
        }
    }
}
