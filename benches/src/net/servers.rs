//! Servers of `net_compare`: echo (TCP, UDP) and HTTP on kq, tokio and raw mio, and the
//! in-process connect/accept/close churn.

use super::*;

pub(crate) fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

// --- tcp echo ---------------------------------------------------------------------------------

pub(crate) async fn kq_echo(mut s: kq_net::TcpStream) {
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

pub(crate) async fn tokio_echo(mut s: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

pub(crate) fn kq_echo_server(multi: bool, stop: Arc<AtomicBool>, started: Started) {
    let rt = kq_rt(multi);
    let main = rt.spawn(async move {
        let listener = kq_net::TcpListener::bind(local()).await.expect("bind");
        started.send(listener.local_addr().expect("addr")).expect("started");
        loop {
            let Ok((s, _)) = listener.accept().await else { continue };
            if stop.load(Ordering::Acquire) {
                return;
            }
            let _ = s.set_nodelay(true);
            kq_runtime::spawn(kq_echo(s));
        }
    });
    let _ = rt.block_on(main);
}

pub(crate) fn tokio_echo_server(multi: bool, stop: Arc<AtomicBool>, started: Started) {
    let rt = tokio_rt(multi);
    let main = rt.spawn(async move {
        let listener = tokio::net::TcpListener::bind(local()).await.expect("bind");
        started.send(listener.local_addr().expect("addr")).expect("started");
        loop {
            let Ok((s, _)) = listener.accept().await else { continue };
            if stop.load(Ordering::Acquire) {
                return;
            }
            let _ = s.set_nodelay(true);
            tokio::spawn(tokio_echo(s));
        }
    });
    let _ = rt.block_on(main);
}

/// The floor: one thread, edge-triggered mio, echo straight from the read buffer. Registered
/// for READABLE only (WRITABLE is added just while a reply is stuck), and a read shorter than the
/// buffer counts as draining the socket, as tokio does, so no read ends in `EAGAIN`.
pub(crate) fn mio_echo_server(stop: Arc<AtomicBool>, started: Started) {
    const LISTENER: Token = Token(usize::MAX);
    struct Conn {
        stream: mio::net::TcpStream,
        pending: Vec<u8>,
    }
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(1024);
    let mut listener = mio::net::TcpListener::bind(local()).expect("bind");
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE).expect("register");
    started.send(listener.local_addr().expect("addr")).expect("started");
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            if stop.load(Ordering::Acquire) {
                                return;
                            }
                            let _ = stream.set_nodelay(true);
                            let i = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry()
                                .register(&mut stream, Token(i), Interest::READABLE)
                                .expect("register");
                            conns[i] = Some(Conn { stream, pending: Vec::new() });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
                continue;
            }
            let i = ev.token().0;
            let Some(c) = conns[i].as_mut() else { continue };
            let was_pending = !c.pending.is_empty();
            let mut close = false;
            // Flush a stuck reply first (we were woken for WRITABLE).
            while !c.pending.is_empty() {
                match c.stream.write(&c.pending) {
                    Ok(w) => {
                        c.pending.drain(..w);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        close = true;
                        break;
                    }
                }
            }
            // Read until drained (a short read, or WouldBlock), echoing each chunk at once.
            let readable = ev.is_readable() || ev.is_read_closed();
            while !close && readable {
                match c.stream.read(&mut buf) {
                    Ok(0) => close = true,
                    Ok(n) => {
                        if c.pending.is_empty() {
                            match c.stream.write(&buf[..n]) {
                                Ok(w) => c.pending.extend_from_slice(&buf[w..n]),
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                    c.pending.extend_from_slice(&buf[..n]);
                                }
                                Err(_) => close = true,
                            }
                        } else {
                            c.pending.extend_from_slice(&buf[..n]);
                        }
                        if n < buf.len() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => close = true,
                }
                if close {
                    break;
                }
            }
            if close {
                conns[i] = None;
                free.push(i);
                continue;
            }
            let is_pending = !c.pending.is_empty();
            if is_pending != was_pending {
                let interest = if is_pending {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                let _ = poll.registry().reregister(&mut c.stream, Token(i), interest);
            }
        }
    }
}

/// Starts the echo server of `imp` on its own thread (127.0.0.1, an ephemeral port).
pub(crate) fn start_echo(imp: Imp) -> io::Result<Server> {
    Server::start(imp, false, move |stop, started| match imp {
        Imp::KqCt => kq_echo_server(false, stop, started),
        Imp::KqMt1 => kq_echo_server(true, stop, started),
        Imp::TokioCt => tokio_echo_server(false, stop, started),
        Imp::TokioMt1 => tokio_echo_server(true, stop, started),
        Imp::Mio => mio_echo_server(stop, started),
    })
}

// --- udp echo ---------------------------------------------------------------------------------

pub(crate) fn kq_udp_server(multi: bool, stop: Arc<AtomicBool>, started: Started) {
    let rt = kq_rt(multi);
    let main = rt.spawn(async move {
        let sock = kq_net::UdpSocket::bind(local()).await.expect("bind");
        started.send(sock.local_addr().expect("addr")).expect("started");
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else { continue };
            if stop.load(Ordering::Acquire) {
                return;
            }
            let _ = sock.send_to(&buf[..n], from).await;
        }
    });
    let _ = rt.block_on(main);
}

pub(crate) fn tokio_udp_server(multi: bool, stop: Arc<AtomicBool>, started: Started) {
    let rt = tokio_rt(multi);
    let main = rt.spawn(async move {
        let sock = tokio::net::UdpSocket::bind(local()).await.expect("bind");
        started.send(sock.local_addr().expect("addr")).expect("started");
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else { continue };
            if stop.load(Ordering::Acquire) {
                return;
            }
            let _ = sock.send_to(&buf[..n], from).await;
        }
    });
    let _ = rt.block_on(main);
}

pub(crate) fn mio_udp_server(stop: Arc<AtomicBool>, started: Started) {
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(64);
    let mut sock = mio::net::UdpSocket::bind(local()).expect("bind");
    poll.registry().register(&mut sock, Token(0), Interest::READABLE).expect("register");
    started.send(sock.local_addr().expect("addr")).expect("started");
    let mut buf = vec![0u8; 2048];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        loop {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    let _ = sock.send_to(&buf[..n], from);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {}
            }
        }
    }
}

pub(crate) fn start_udp(imp: Imp) -> io::Result<Server> {
    Server::start(imp, true, move |stop, started| match imp {
        Imp::KqCt => kq_udp_server(false, stop, started),
        Imp::KqMt1 => kq_udp_server(true, stop, started),
        Imp::TokioCt => tokio_udp_server(false, stop, started),
        Imp::TokioMt1 => tokio_udp_server(true, stop, started),
        Imp::Mio => mio_udp_server(stop, started),
    })
}

// --- http hello -------------------------------------------------------------------------------

pub(crate) async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, world!\n"))))
}

pub(crate) fn kq_http_server(multi: bool, stop: Arc<AtomicBool>, started: Started) {
    let rt = kq_rt(multi);
    let main = rt.spawn(async move {
        let listener = kq_net::TcpListener::bind(local()).await.expect("bind");
        started.send(listener.local_addr().expect("addr")).expect("started");
        loop {
            let Ok((s, _)) = listener.accept().await else { continue };
            if stop.load(Ordering::Acquire) {
                return;
            }
            let _ = s.set_nodelay(true);
            kq_runtime::spawn(async move {
                let conn =
                    http1::Builder::new().serve_connection(TokioIo::new(s), service_fn(hello));
                let _ = conn.await;
            });
        }
    });
    let _ = rt.block_on(main);
}

pub(crate) fn tokio_http_server(multi: bool, stop: Arc<AtomicBool>, started: Started) {
    let rt = tokio_rt(multi);
    let main = rt.spawn(async move {
        let listener = tokio::net::TcpListener::bind(local()).await.expect("bind");
        started.send(listener.local_addr().expect("addr")).expect("started");
        loop {
            let Ok((s, _)) = listener.accept().await else { continue };
            if stop.load(Ordering::Acquire) {
                return;
            }
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let conn =
                    http1::Builder::new().serve_connection(TokioIo::new(s), service_fn(hello));
                let _ = conn.await;
            });
        }
    });
    let _ = rt.block_on(main);
}

pub(crate) fn start_http(imp: Imp) -> io::Result<Server> {
    Server::start(imp, false, move |stop, started| match imp {
        Imp::KqCt => kq_http_server(false, stop, started),
        Imp::KqMt1 => kq_http_server(true, stop, started),
        Imp::TokioCt => tokio_http_server(false, stop, started),
        Imp::TokioMt1 => tokio_http_server(true, stop, started),
        Imp::Mio => {
            drop(started);
            let _ = stop;
        }
    })
}

// ---------------------------------------------------------------------------------------------
// connect_churn (in-process: client and server on the runtime under test)
// ---------------------------------------------------------------------------------------------

/// Returns (connections completed, errors, elapsed).
pub(crate) fn kq_churn(multi: bool, total: usize, conc: usize) -> (usize, usize, Duration) {
    let rt = kq_rt(multi);
    let main = rt.spawn(async move {
        use futures_util::AsyncReadExt;
        let listener = kq_net::TcpListener::bind(local()).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let acceptor = kq_runtime::spawn(async move {
            loop {
                if let Ok((s, _)) = listener.accept().await {
                    drop(s);
                }
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..conc)
            .map(|k| {
                let n = total / conc + usize::from(k < total % conc);
                kq_runtime::spawn(async move {
                    let (mut ok, mut err) = (0, 0);
                    for _ in 0..n {
                        match kq_net::TcpStream::connect(addr).await {
                            Ok(mut s) => {
                                let mut b = [0u8; 1];
                                match s.read(&mut b).await {
                                    Ok(0) => ok += 1,
                                    _ => err += 1,
                                }
                            }
                            Err(_) => err += 1,
                        }
                    }
                    (ok, err)
                })
            })
            .collect();
        let (mut ok, mut err) = (0, 0);
        for c in clients {
            let (o, e) = c.await.expect("client task");
            ok += o;
            err += e;
        }
        let elapsed = start.elapsed();
        acceptor.abort();
        (ok, err, elapsed)
    });
    rt.block_on(main).expect("churn task")
}

pub(crate) fn tokio_churn(multi: bool, total: usize, conc: usize) -> (usize, usize, Duration) {
    let rt = tokio_rt(multi);
    let main = rt.spawn(async move {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind(local()).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let acceptor = tokio::spawn(async move {
            loop {
                if let Ok((s, _)) = listener.accept().await {
                    drop(s);
                }
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..conc)
            .map(|k| {
                let n = total / conc + usize::from(k < total % conc);
                tokio::spawn(async move {
                    let (mut ok, mut err) = (0, 0);
                    for _ in 0..n {
                        match tokio::net::TcpStream::connect(addr).await {
                            Ok(mut s) => {
                                let mut b = [0u8; 1];
                                match s.read(&mut b).await {
                                    Ok(0) => ok += 1,
                                    _ => err += 1,
                                }
                            }
                            Err(_) => err += 1,
                        }
                    }
                    (ok, err)
                })
            })
            .collect();
        let (mut ok, mut err) = (0, 0);
        for c in clients {
            let (o, e) = c.await.expect("client task");
            ok += o;
            err += e;
        }
        let elapsed = start.elapsed();
        acceptor.abort();
        (ok, err, elapsed)
    });
    rt.block_on(main).expect("churn task")
}

/// The floor: one mio thread accepting (and closing at once) and keeping `conc` non-blocking
/// connects in flight, each done when it reads end-of-file.
pub(crate) fn mio_churn(total: usize, conc: usize) -> (usize, usize, Duration) {
    const LISTENER: Token = Token(usize::MAX);
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(256);
    let mut listener = mio::net::TcpListener::bind(local()).expect("bind");
    let addr = listener.local_addr().expect("addr");
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE).expect("register");
    let start = Instant::now();
    let mut slots: Vec<Option<mio::net::TcpStream>> = (0..conc).map(|_| None).collect();
    let (mut started, mut ok, mut err) = (0usize, 0usize, 0usize);
    let connect = |poll: &Poll, slot: usize| -> Option<mio::net::TcpStream> {
        let mut s = mio::net::TcpStream::connect(addr).ok()?;
        poll.registry().register(&mut s, Token(slot), Interest::READABLE).ok()?;
        Some(s)
    };
    for (i, slot) in slots.iter_mut().enumerate() {
        if started < total {
            started += 1;
            *slot = connect(&poll, i);
            if slot.is_none() {
                err += 1;
            }
        }
    }
    let mut b = [0u8; 1];
    while ok + err < total {
        if poll.poll(&mut events, Some(Duration::from_secs(5))).is_err() {
            continue;
        }
        if events.is_empty() {
            break; // stuck: give up rather than hang
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                while let Ok((s, _)) = listener.accept() {
                    drop(s);
                }
                continue;
            }
            let i = ev.token().0;
            let Some(s) = slots[i].as_mut() else { continue };
            let done = match s.read(&mut b) {
                Ok(0) => {
                    ok += 1;
                    true
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                _ => {
                    err += 1;
                    true
                }
            };
            if done {
                slots[i] = None;
                while started < total {
                    started += 1;
                    slots[i] = connect(&poll, i);
                    if slots[i].is_some() {
                        break;
                    }
                    err += 1;
                }
            }
        }
    }
    (ok, err, start.elapsed())
}

pub(crate) fn run_churn(imp: Imp, total: usize, conc: usize) -> (usize, usize, Duration) {
    match imp {
        Imp::KqCt => kq_churn(false, total, conc),
        Imp::KqMt1 => kq_churn(true, total, conc),
        Imp::TokioCt => tokio_churn(false, total, conc),
        Imp::TokioMt1 => tokio_churn(true, total, conc),
        Imp::Mio => mio_churn(total, conc),
    }
}

// ---------------------------------------------------------------------------------------------
// Clients (separate process)
// ---------------------------------------------------------------------------------------------
