//! hyper 1.x serving HTTP on kq: `cargo run --release --example http_hello [ADDR]`, then
//! `curl http://127.0.0.1:8080/`.
//!
//! kq's `TcpStream` implements tokio's io traits (feature `tokio-io`), so hyper-util's `TokioIo`
//! adapts it for hyper, and each connection is a kq task.

use std::convert::Infallible;
use std::io;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use kq::net::TcpListener;

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, world!\n"))))
}

#[kq::main]
async fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let listener = TcpListener::bind(&addr).await?;
    println!("http_hello listening on http://{}/", listener.local_addr()?);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (EMFILE), say: not a reason to stop serving, nor to retry
                // at once (that spins a core until a descriptor is freed).
                eprintln!("accept failed: {e} (retrying in 100 ms)");
                kq::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        stream.set_nodelay(true)?;
        kq::spawn(async move {
            let conn =
                http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(hello));
            if let Err(e) = conn.await {
                eprintln!("connection error: {e}");
            }
        });
    }
}
