//! hyper 1.x serving HTTP/1.1 on kq (the service of `examples/http_hello.rs`, on a kq runtime in
//! its own thread), driven by hyper's client on a tokio runtime: 100 sequential requests on one
//! keep-alive connection, and 50 concurrent connections.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kq::net::TcpListener;

/// The example's service.
async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, world!\n"))))
}

#[derive(Default)]
struct Counters {
    connections: AtomicUsize,
    requests: AtomicUsize,
    connection_errors: AtomicUsize,
}

/// The example's accept loop, counting connections, requests and connection errors.
async fn serve(listener: TcpListener, counters: Arc<Counters>) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        counters.connections.fetch_add(1, Ordering::SeqCst);
        let counters = counters.clone();
        kq::spawn(async move {
            let seen = counters.clone();
            let service = service_fn(move |req| {
                seen.requests.fetch_add(1, Ordering::SeqCst);
                hello(req)
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                eprintln!("connection error: {e}");
                counters.connection_errors.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
}

/// The server: a kq multi-thread runtime on its own thread, stopped through `stop`.
struct Server {
    addr: SocketAddr,
    counters: Arc<Counters>,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

fn start_server() -> Server {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    let thread = std::thread::spawn(move || {
        let rt = kq::runtime::Builder::new_multi_thread().worker_threads(2).build()?;
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            addr_tx.send(listener.local_addr()?).expect("test waits for the address");
            let accept = std::pin::pin!(serve(listener, c));
            match select(accept, stopped).await {
                Either::Left((res, _)) => res,
                Either::Right(_) => Ok(()),
            }
        })
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).expect("server address");
    Server { addr, counters, stop, thread }
}

impl Server {
    /// Stops the accept loop and the runtime; checks that the server saw no error.
    fn finish(self) {
        let _ = self.stop.send(());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = self.thread;
        std::thread::spawn(move || {
            let _ = tx.send(thread.join());
        });
        let res = rx.recv_timeout(Duration::from_secs(10)).expect("kq server thread stops");
        res.expect("kq server thread panicked").expect("kq server");
        assert_eq!(self.counters.connection_errors.load(Ordering::SeqCst), 0, "server errors");
    }
}

/// A client connection (hyper's http1 client over tokio's TcpStream).
async fn connect(addr: SocketAddr) -> (SendRequest<Empty<Bytes>>, tokio::task::JoinHandle<()>) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    let driver = tokio::spawn(async move { conn.await.expect("client connection") });
    (sender, driver)
}

/// GET / on `sender`; the status and body.
async fn get(sender: &mut SendRequest<Empty<Bytes>>, addr: SocketAddr) -> (StatusCode, Bytes) {
    sender.ready().await.expect("connection ready for a request");
    let req = Request::builder()
        .uri("/")
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .expect("request");
    let res = sender.send_request(req).await.expect("response");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, body)
}

/// Runs the client side on a tokio runtime, bounded.
fn client<F: std::future::Future<Output = ()>>(fut: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), fut).await.expect("client side timed out")
    });
}

#[test]
fn hundred_sequential_requests_on_one_keep_alive_connection() {
    let server = start_server();
    let addr = server.addr;
    client(async move {
        let (mut sender, driver) = connect(addr).await;
        for i in 0..100 {
            let (status, body) = get(&mut sender, addr).await;
            assert_eq!(status, StatusCode::OK, "request {i}");
            assert_eq!(&body[..], b"Hello, world!\n", "request {i}");
        }
        drop(sender);
        driver.await.expect("client connection task");
    });
    assert_eq!(server.counters.connections.load(Ordering::SeqCst), 1, "one keep-alive connection");
    assert_eq!(server.counters.requests.load(Ordering::SeqCst), 100);
    server.finish();
}

#[test]
fn fifty_concurrent_connections() {
    const CONNS: usize = 50;
    const PER_CONN: usize = 4;
    let server = start_server();
    let addr = server.addr;
    client(async move {
        let mut tasks = Vec::new();
        for c in 0..CONNS {
            tasks.push(tokio::spawn(async move {
                let (mut sender, driver) = connect(addr).await;
                for i in 0..PER_CONN {
                    let (status, body) = get(&mut sender, addr).await;
                    assert_eq!(status, StatusCode::OK, "connection {c}, request {i}");
                    assert_eq!(&body[..], b"Hello, world!\n", "connection {c}, request {i}");
                }
                drop(sender);
                driver.await.expect("client connection task");
            }));
        }
        for t in tasks {
            t.await.expect("client task panicked");
        }
    });
    assert_eq!(server.counters.connections.load(Ordering::SeqCst), CONNS);
    assert_eq!(server.counters.requests.load(Ordering::SeqCst), CONNS * PER_CONN);
    server.finish();
}
