//! Network workloads of BENCHMARKS.md rows 9-12 (and the server side of scaling row 18): kq next
//! to tokio, with a raw mio floor. Used by the `compare` runner (and its `net_compare` part).
//!
//! - **tcp_echo** (row 9): 100-byte ping-pong over 1 / 50 / 500 connections. The servers run in
//!   this process (kq current_thread, kq multi_thread with 1 worker, the same two on tokio, and a
//!   single-thread raw mio server, the floor); the load comes from the runner's own binary
//!   re-invoked as a separate process (`BIN client-tcp ADDR CONNS WARMUP_MS SECS [IDLE]`, see
//!   [`client_main`]): one plain thread driving every connection through mio, so the client costs
//!   the same for every server. It prints one `RESULT key=value ...` line with req/s and p50/p99
//!   round-trip time.
//! - **connect_churn** (row 10): connect/accept/close, 8 at a time, client and server on the same
//!   runtime (in-process); conn/s. The floor is one mio thread doing both sides.
//! - **udp_echo** (row 11): one client socket (`BIN client-udp ...`, another process)
//!   ping-ponging 100-byte datagrams with one server socket; packets/s and p99.
//! - **http_hello** (row 12): hyper 1.x hello world on kq (as in `examples/http_hello.rs`) and on
//!   tokio, loaded by `wrk -t1 -c50 --latency` when `wrk` is installed; no mio floor.
//!
//! Every measurement is interleaved (each round runs every server once, the order rotating from
//! round to round); ratios are medians of the ratios measured within one round. Servers bind
//! 127.0.0.1:0; everything stops by itself.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream, UdpSocket as StdUdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use mio::{Events, Interest, Poll, Token};

use crate::progress::Progress;
use crate::results::Row;

mod client;
mod servers;

pub use client::wrk_installed;
use client::*;
use servers::*;

/// Payload size of the echo benchmarks.
const MSG: usize = 100;
/// Connection counts of tcp_echo.
pub const ECHO_CONNS: [usize; 3] = [1, 50, 500];
/// connect_churn: connections in total and at a time.
pub const CHURN_TOTAL: usize = 10_000;
/// connect_churn: connections at a time.
pub const CHURN_CONC: usize = 8;
/// Concurrent connections of wrk in http_hello.
pub const HTTP_CONNS: usize = 50;

/// A server implementation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Imp {
    /// kq, current-thread runtime.
    KqCt,
    /// kq, multi-thread runtime with 1 worker.
    KqMt1,
    /// tokio, current-thread runtime.
    TokioCt,
    /// tokio, multi-thread runtime with 1 worker.
    TokioMt1,
    /// One thread of raw mio (the floor).
    Mio,
}

impl Imp {
    /// Its name in progress lines.
    pub fn name(self) -> &'static str {
        match self {
            Imp::KqCt => "kq current_thread",
            Imp::KqMt1 => "kq multi_thread(1)",
            Imp::TokioCt => "tokio current_thread",
            Imp::TokioMt1 => "tokio multi_thread(1)",
            Imp::Mio => "mio (floor)",
        }
    }

    /// Its name for `--imps`.
    pub fn short(self) -> &'static str {
        match self {
            Imp::KqCt => "kq-ct",
            Imp::KqMt1 => "kq-mt1",
            Imp::TokioCt => "tokio-ct",
            Imp::TokioMt1 => "tokio-mt1",
            Imp::Mio => "mio",
        }
    }

    /// The server thread's name (for `perf report --comm`, `top -H`).
    pub(crate) fn thread_name(self) -> &'static str {
        match self {
            Imp::KqCt => "srv-kq-ct",
            Imp::KqMt1 => "srv-kq-mt1",
            Imp::TokioCt => "srv-tokio-ct",
            Imp::TokioMt1 => "srv-tokio-mt1",
            Imp::Mio => "srv-mio",
        }
    }
}

/// Every implementation, floor included.
pub const ALL: [Imp; 5] = [Imp::KqCt, Imp::TokioCt, Imp::KqMt1, Imp::TokioMt1, Imp::Mio];
/// Every implementation but the floor.
pub const NO_FLOOR: [Imp; 4] = [Imp::KqCt, Imp::TokioCt, Imp::KqMt1, Imp::TokioMt1];

/// `imps` in the order of round `round`: rotated, so no implementation always goes first.
pub(crate) fn rotated(imps: &[Imp], round: usize) -> Vec<Imp> {
    let mut v = imps.to_vec();
    if !v.is_empty() {
        let k = round % v.len();
        v.rotate_left(k);
    }
    v
}

pub(crate) fn kq_rt(multi: bool) -> kq_runtime::Runtime {
    let mut b = if multi {
        let mut b = kq_runtime::runtime::Builder::new_multi_thread();
        b.worker_threads(1);
        b
    } else {
        kq_runtime::runtime::Builder::new_current_thread()
    };
    b.build().expect("kq runtime")
}

pub(crate) fn tokio_rt(multi: bool) -> tokio::runtime::Runtime {
    let mut b = if multi {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(1);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all().build().expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// Servers (in this process, on their own thread)
// ---------------------------------------------------------------------------------------------

/// A server running on its own thread until [`Server::stop`].
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    udp: bool,
    thread: Option<thread::JoinHandle<()>>,
}

pub(crate) type Started = mpsc::Sender<SocketAddr>;

impl Server {
    /// Runs `body(stop, started)` on a new thread; `body` sends its address on `started`, then
    /// serves until it sees `stop` set (checked after each accept / datagram).
    pub(crate) fn start(
        imp: Imp,
        udp: bool,
        body: impl FnOnce(Arc<AtomicBool>, Started) + Send + 'static,
    ) -> io::Result<Server> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let flag = stop.clone();
        let thread =
            thread::Builder::new().name(imp.thread_name().into()).spawn(move || body(flag, tx))?;
        let addr = rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| io::Error::other("server did not start"))?;
        Ok(Server { addr, stop, udp, thread: Some(thread) })
    }

    /// Sets the stop flag, pokes the server (a connection or a datagram) so it sees it, joins.
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        for _ in 0..3 {
            if self.udp {
                if let Ok(s) = StdUdpSocket::bind("127.0.0.1:0") {
                    let _ = s.send_to(b"stop", self.addr);
                }
            } else {
                let _ = StdTcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            }
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sizes and durations of the network rows.
#[derive(Clone, Debug)]
pub struct NetOpts {
    /// Interleaved rounds.
    pub rounds: usize,
    /// Seconds of load per tcp_echo run.
    pub secs: f64,
    /// Seconds of load per udp_echo run.
    pub udp_secs: f64,
    /// Seconds of wrk per http_hello run.
    pub http_secs: u32,
    /// Untimed warm-up of each client run.
    pub warmup: Duration,
    /// Connection counts of tcp_echo.
    pub conns: Vec<usize>,
    /// Connections of one connect_churn run.
    pub churn_total: usize,
    /// The implementations to run (`None`: all).
    pub imps: Option<Vec<Imp>>,
}

impl Default for NetOpts {
    fn default() -> NetOpts {
        NetOpts {
            rounds: 3,
            secs: 2.0,
            udp_secs: 1.0,
            http_secs: 5,
            warmup: Duration::from_millis(300),
            conns: ECHO_CONNS.to_vec(),
            churn_total: CHURN_TOTAL,
            imps: None,
        }
    }
}

impl NetOpts {
    /// `all` filtered by `imps`, in the given order.
    pub fn imps(&self, all: &[Imp]) -> Vec<Imp> {
        all.iter()
            .copied()
            .filter(|i| match &self.imps {
                None => true,
                Some(v) => v.contains(i),
            })
            .collect()
    }
}

/// A row per runtime flavour (current_thread, multi_thread(1)) of one metric, from the values
/// per implementation and round.
fn flavour_rows(
    id: &str,
    bench: &str,
    unit: &str,
    higher_is_better: bool,
    values: &HashMap<Imp, Vec<Option<f64>>>,
) -> Vec<Row> {
    let get = |imp: Imp| values.get(&imp).cloned().unwrap_or_default();
    let mut rows = Vec::new();
    for (kq, tokio, flavour) in
        [(Imp::KqCt, Imp::TokioCt, "ct"), (Imp::KqMt1, Imp::TokioMt1, "mt1")]
    {
        if get(kq).is_empty() && get(tokio).is_empty() {
            continue;
        }
        let mut r = Row::new(id, format!("{bench} [{flavour}]"), unit, higher_is_better);
        r.kq = get(kq);
        r.rival_values = get(tokio);
        r.floor = get(Imp::Mio);
        rows.push(r);
    }
    rows
}

fn record(m: &mut HashMap<Imp, Vec<Option<f64>>>, imp: Imp, round: usize, v: Option<f64>) {
    let e = m.entry(imp).or_default();
    if e.len() <= round {
        e.resize(round + 1, None);
    }
    e[round] = v;
}

/// The weight (a-priori seconds) of one run of `bench` under `o`, for [`Progress`].
pub fn run_weight(o: &NetOpts, bench: &str) -> f64 {
    let w = o.warmup.as_secs_f64();
    match bench {
        "tcp_echo" => o.secs + w + 0.3,
        "udp_echo" => o.udp_secs + w / 2.0 + 0.3,
        "http_hello" => f64::from(o.http_secs) + 0.3,
        _ => o.churn_total as f64 / 15_000.0 + 0.1,
    }
}

/// Runs `f` on every implementation of `imps` for every round, rotating the order.
fn rounds(
    o: &NetOpts,
    imps: &[Imp],
    bench: &str,
    p: &mut Progress,
    mut f: impl FnMut(Imp) -> Result<HashMap<String, f64>, String>,
    mut describe: impl FnMut(&HashMap<String, f64>) -> String,
    mut keep: impl FnMut(Imp, usize, Option<&HashMap<String, f64>>),
) {
    let weight = run_weight(o, bench.split(' ').next().unwrap_or(bench));
    for round in 0..o.rounds {
        for imp in rotated(imps, round) {
            let r = f(imp);
            let what = match &r {
                Ok(m) => describe(m),
                Err(e) => format!("failed: {e}"),
            };
            p.step(
                weight,
                &format!("{bench} round {}/{} {:<22} {what}", round + 1, o.rounds, imp.name()),
            );
            keep(imp, round, r.as_ref().ok());
        }
    }
}

/// Row 9: tcp_echo at each connection count of `o`: req/s and p99 RTT rows.
pub fn tcp_echo(o: &NetOpts, p: &mut Progress) -> Vec<Row> {
    let mut rows = Vec::new();
    for &conns in &o.conns {
        let (mut rate, mut p99) = (HashMap::new(), HashMap::new());
        rounds(
            o,
            &o.imps(&ALL),
            &format!("tcp_echo c={conns}"),
            p,
            |imp| echo_load(imp, conns, 0, o),
            |m| {
                format!(
                    "{:>9.0} req/s  p99 {:>7.1} us  errors {}",
                    m["rate"], m["p99_us"], m["errors"]
                )
            },
            |imp, round, m| {
                record(&mut rate, imp, round, m.map(|m| m["rate"]));
                record(&mut p99, imp, round, m.map(|m| m["p99_us"]));
            },
        );
        rows.extend(flavour_rows("9", &format!("tcp_echo c={conns}"), "req/s", true, &rate));
        rows.extend(flavour_rows("9", &format!("tcp_echo p99 RTT c={conns}"), "us", false, &p99));
    }
    rows
}

/// One echo run: a server of `imp` loaded by a client process with `conns` active and `idle`
/// idle connections; the client's `RESULT` fields.
pub fn echo_load(
    imp: Imp,
    conns: usize,
    idle: usize,
    o: &NetOpts,
) -> Result<HashMap<String, f64>, String> {
    let server = start_echo(imp).map_err(|e| e.to_string())?;
    let args = [
        "client-tcp".to_string(),
        server.addr.to_string(),
        conns.to_string(),
        o.warmup.as_millis().to_string(),
        o.secs.to_string(),
        idle.to_string(),
    ];
    let r = run_client(&args);
    server.stop();
    r
}

/// Row 10: connect_churn, conn/s.
pub fn connect_churn(o: &NetOpts, p: &mut Progress) -> Vec<Row> {
    let mut rate = HashMap::new();
    rounds(
        o,
        &o.imps(&ALL),
        "connect_churn",
        p,
        |imp| {
            let (ok, err, d) = run_churn(imp, o.churn_total, CHURN_CONC);
            let mut m = HashMap::new();
            m.insert("rate".to_string(), ok as f64 / d.as_secs_f64());
            m.insert("errors".to_string(), err as f64);
            if ok == 0 {
                return Err(format!("no connection completed ({err} errors)"));
            }
            Ok(m)
        },
        |m| format!("{:>9.0} conn/s  errors {}", m["rate"], m["errors"]),
        |imp, round, m| record(&mut rate, imp, round, m.map(|m| m["rate"])),
    );
    flavour_rows(
        "10",
        &format!("connect_churn {}x{CHURN_CONC}", o.churn_total),
        "conn/s",
        true,
        &rate,
    )
}

/// Row 11: udp_echo, packets/s and p99 RTT.
pub fn udp_echo(o: &NetOpts, p: &mut Progress) -> Vec<Row> {
    let (mut rate, mut p99) = (HashMap::new(), HashMap::new());
    rounds(
        o,
        &o.imps(&ALL),
        "udp_echo",
        p,
        |imp| {
            let server = start_udp(imp).map_err(|e| e.to_string())?;
            let args = [
                "client-udp".to_string(),
                server.addr.to_string(),
                (o.warmup.as_millis() / 2).to_string(),
                o.udp_secs.to_string(),
            ];
            let r = run_client(&args);
            server.stop();
            r
        },
        |m| format!("{:>9.0} pkt/s  p99 {:>7.1} us  lost {}", m["rate"], m["p99_us"], m["errors"]),
        |imp, round, m| {
            record(&mut rate, imp, round, m.map(|m| m["rate"]));
            record(&mut p99, imp, round, m.map(|m| m["p99_us"]));
        },
    );
    let mut rows = flavour_rows("11", "udp_echo", "pkt/s", true, &rate);
    rows.extend(flavour_rows("11", "udp_echo p99 RTT", "us", false, &p99));
    rows
}

/// Row 12: http_hello under wrk, req/s and p99; one row saying why when wrk is missing.
pub fn http_hello(o: &NetOpts, p: &mut Progress) -> Vec<Row> {
    if !wrk_installed() {
        p.say("http_hello: wrk not installed, skipped (Debian: apt-get install wrk)");
        return vec![Row::unavailable(
            "12",
            "http_hello",
            "tokio",
            "skipped: wrk not installed (Debian: apt-get install wrk)",
        )];
    }
    let (mut rate, mut p99) = (HashMap::new(), HashMap::new());
    rounds(
        o,
        &o.imps(&NO_FLOOR),
        "http_hello",
        p,
        |imp| {
            let server = start_http(imp).map_err(|e| e.to_string())?;
            let r = run_wrk(server.addr, HTTP_CONNS, o.http_secs);
            server.stop();
            let w = r?;
            let mut m = HashMap::new();
            m.insert("rate".to_string(), w.rps);
            m.insert("p99_us".to_string(), w.p99_us);
            Ok(m)
        },
        |m| format!("{:>9.0} req/s  p99 {:>7.1} us", m["rate"], m["p99_us"]),
        |imp, round, m| {
            record(&mut rate, imp, round, m.map(|m| m["rate"]));
            record(&mut p99, imp, round, m.map(|m| m["p99_us"]));
        },
    );
    let mut rows =
        flavour_rows("12", &format!("http_hello wrk -c{HTTP_CONNS}"), "req/s", true, &rate);
    rows.extend(flavour_rows("12", "http_hello p99", "us", false, &p99));
    rows
}

fn parse_addr(s: Option<&String>) -> Result<SocketAddr, String> {
    s.ok_or("missing ADDR")?.parse().map_err(|e| format!("bad ADDR: {e}"))
}

fn parse_num<T: std::str::FromStr>(s: Option<&String>, what: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.ok_or(format!("missing {what}"))?.parse().map_err(|e| format!("bad {what}: {e}"))
}

/// The client subcommands, run in a child process: when `args` (without the program name)
/// start with `client-`, runs that client and returns `Some(result)`; otherwise `None`.
///
/// - `client-tcp ADDR CONNS WARMUP_MS SECS [IDLE]`: `IDLE` idle connections opened first and
///   held, then `CONNS` connections ping-ponging 100 bytes;
/// - `client-udp ADDR WARMUP_MS SECS`.
///
/// Each prints one `RESULT count=.. secs=.. rate=.. p50_us=.. p99_us=.. errors=..` line.
pub fn client_main(args: &[String]) -> Option<Result<(), String>> {
    let io = |e: io::Error| e.to_string();
    let run = || match args[0].as_str() {
        "client-tcp" => {
            let addr = parse_addr(args.get(1))?;
            let conns: usize = parse_num(args.get(2), "CONNS")?;
            let warm: u64 = parse_num(args.get(3), "WARMUP_MS")?;
            let secs: f64 = parse_num(args.get(4), "SECS")?;
            let idle: usize = match args.get(5) {
                Some(_) => parse_num(args.get(5), "IDLE")?,
                None => 0,
            };
            tcp_client(addr, conns, idle, Duration::from_millis(warm), secs).map_err(io)
        }
        "client-udp" => {
            let addr = parse_addr(args.get(1))?;
            let warm: u64 = parse_num(args.get(2), "WARMUP_MS")?;
            let secs: f64 = parse_num(args.get(3), "SECS")?;
            udp_client(addr, Duration::from_millis(warm), secs).map_err(io)
        }
        other => Err(format!("unknown subcommand {other:?}")),
    };
    args.first().is_some_and(|a| a.starts_with("client-")).then(run)
}
