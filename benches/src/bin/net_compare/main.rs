//! Network benchmarks of BENCHMARKS.md rows 9-12: kq next to tokio, with a raw mio floor.
//!
//! `cargo run -p kq-benches --release --bin net_compare [-- --rounds N --secs S --only LIST]`
//!
//! - **tcp_echo** (row 9): 100-byte ping-pong over 1 / 50 / 500 connections. The servers run in
//!   this process (kq current_thread, kq multi_thread with 1 worker, the same two on tokio, and a
//!   single-thread raw mio server, the floor); the load comes from this same binary re-invoked
//!   as a separate process (`net_compare client-tcp ADDR CONNS WARMUP_MS SECS`): one plain
//!   thread driving every connection through mio, so the client costs the same for every server.
//!   It prints one `RESULT key=value ...` line with req/s and p50/p99 round-trip time.
//! - **connect_churn** (row 10): 10k connect/accept/close, 8 at a time, client and server on the
//!   same runtime (in-process); conn/s. The floor is one mio thread doing both sides.
//! - **udp_echo** (row 11): one client socket (`net_compare client-udp ...`, another process)
//!   ping-ponging 100-byte datagrams with one server socket; packets/s and p99.
//! - **http_hello** (row 12): hyper 1.x hello world on kq (as in `examples/http_hello.rs`) and on
//!   tokio, loaded by `wrk -t1 -c50 -d5s --latency` when `wrk` is installed; no mio floor.
//!
//! Every measurement is interleaved (each round runs every server once, the order rotating from
//! round to round), the table quotes medians with min-max, and ratios are medians of the ratios
//! measured within one round. Servers bind 127.0.0.1:0; everything stops by itself.

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

mod client;
mod servers;

use client::*;
use servers::*;
/// Payload size of the echo benchmarks.
const MSG: usize = 100;
/// Connection counts of tcp_echo.
const ECHO_CONNS: [usize; 3] = [1, 50, 500];
/// connect_churn: connections in total and at a time.
const CHURN_TOTAL: usize = 10_000;
const CHURN_CONC: usize = 8;
/// Untimed warm-up of each client run.
const WARMUP: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------------------------
// Implementations under test
// ---------------------------------------------------------------------------------------------

/// A server implementation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Imp {
    KqCt,
    KqMt1,
    TokioCt,
    TokioMt1,
    Mio,
}

impl Imp {
    fn name(self) -> &'static str {
        match self {
            Imp::KqCt => "kq current_thread",
            Imp::KqMt1 => "kq multi_thread(1)",
            Imp::TokioCt => "tokio current_thread",
            Imp::TokioMt1 => "tokio multi_thread(1)",
            Imp::Mio => "mio (floor)",
        }
    }

    /// Its name for `--imps`.
    fn short(self) -> &'static str {
        match self {
            Imp::KqCt => "kq-ct",
            Imp::KqMt1 => "kq-mt1",
            Imp::TokioCt => "tokio-ct",
            Imp::TokioMt1 => "tokio-mt1",
            Imp::Mio => "mio",
        }
    }

    /// The server thread's name (for `perf report --comm`, `top -H`).
    fn thread_name(self) -> &'static str {
        match self {
            Imp::KqCt => "srv-kq-ct",
            Imp::KqMt1 => "srv-kq-mt1",
            Imp::TokioCt => "srv-tokio-ct",
            Imp::TokioMt1 => "srv-tokio-mt1",
            Imp::Mio => "srv-mio",
        }
    }
}

const ALL: [Imp; 5] = [Imp::KqCt, Imp::TokioCt, Imp::KqMt1, Imp::TokioMt1, Imp::Mio];
const NO_FLOOR: [Imp; 4] = [Imp::KqCt, Imp::TokioCt, Imp::KqMt1, Imp::TokioMt1];

/// `imps` in the order of round `round`: rotated, so no implementation always goes first.
fn rotated(imps: &[Imp], round: usize) -> Vec<Imp> {
    let mut v = imps.to_vec();
    if !v.is_empty() {
        let k = round % v.len();
        v.rotate_left(k);
    }
    v
}

fn kq_rt(multi: bool) -> kq_runtime::Runtime {
    let mut b = if multi {
        let mut b = kq_runtime::runtime::Builder::new_multi_thread();
        b.worker_threads(1);
        b
    } else {
        kq_runtime::runtime::Builder::new_current_thread()
    };
    b.build().expect("kq runtime")
}

fn tokio_rt(multi: bool) -> tokio::runtime::Runtime {
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
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    udp: bool,
    thread: Option<thread::JoinHandle<()>>,
}

type Started = mpsc::Sender<SocketAddr>;

impl Server {
    /// Runs `body(stop, started)` on a new thread; `body` sends its address on `started`, then
    /// serves until it sees `stop` set (checked after each accept / datagram).
    fn start(
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
    fn stop(mut self) {
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

/// One measured value per round, per implementation (`None` when that run failed).
#[derive(Default)]
struct Series {
    by_imp: HashMap<Imp, Vec<Option<f64>>>,
}

impl Series {
    fn push(&mut self, imp: Imp, round: usize, v: Option<f64>) {
        let e = self.by_imp.entry(imp).or_default();
        if e.len() <= round {
            e.resize(round + 1, None);
        }
        e[round] = v;
    }

    fn values(&self, imp: Imp) -> Vec<f64> {
        self.by_imp.get(&imp).map(|v| v.iter().flatten().copied().collect()).unwrap_or_default()
    }

    /// Per-round ratios a/b (rounds where both ran).
    fn ratios(&self, a: Imp, b: Imp) -> Vec<f64> {
        let (Some(x), Some(y)) = (self.by_imp.get(&a), self.by_imp.get(&b)) else {
            return Vec::new();
        };
        x.iter()
            .zip(y)
            .filter_map(|(x, y)| match (x, y) {
                (Some(x), Some(y)) if *y > 0.0 => Some(x / y),
                _ => None,
            })
            .collect()
    }
}

/// (median, min, max).
fn summary(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let med = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    Some((med, s[0], s[n - 1]))
}

fn fmt_num(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 10_000.0 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn fmt_cell(v: &[f64]) -> String {
    match summary(v) {
        Some((m, lo, hi)) => format!("{} ({}-{})", fmt_num(m), fmt_num(lo), fmt_num(hi)),
        None => "-".into(),
    }
}

fn fmt_ratio(v: &[f64]) -> String {
    match summary(v) {
        Some((m, lo, hi)) => format!("{m:.2} ({lo:.2}-{hi:.2})"),
        None => "-".into(),
    }
}

/// A table row per runtime flavour (current_thread, multi_thread(1)) of one metric.
fn table_rows(rows: &mut Vec<String>, bench: &str, conns: &str, s: &Series, floor: bool) {
    for (kq, tokio, flavour) in
        [(Imp::KqCt, Imp::TokioCt, "ct"), (Imp::KqMt1, Imp::TokioMt1, "mt1")]
    {
        if s.values(kq).is_empty() && s.values(tokio).is_empty() {
            continue;
        }
        let (fl, fl_ratio) = if floor {
            (fmt_cell(&s.values(Imp::Mio)), fmt_ratio(&s.ratios(kq, Imp::Mio)))
        } else {
            ("-".into(), "-".into())
        };
        rows.push(format!(
            "| {bench} [{flavour}] | {conns} | {} | {} | {} | {fl} | {fl_ratio} |",
            fmt_cell(&s.values(kq)),
            fmt_cell(&s.values(tokio)),
            fmt_ratio(&s.ratios(kq, tokio)),
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------------------------

struct Opts {
    rounds: usize,
    secs: f64,
    udp_secs: f64,
    http_secs: u32,
    only: Option<Vec<String>>,
    imps: Option<Vec<Imp>>,
    conns: Vec<usize>,
}

impl Opts {
    /// `all` filtered by `--imps`, in the given order.
    fn imps(&self, all: &[Imp]) -> Vec<Imp> {
        all.iter()
            .copied()
            .filter(|i| match &self.imps {
                None => true,
                Some(v) => v.contains(i),
            })
            .collect()
    }

    fn wants(&self, bench: &str) -> bool {
        match &self.only {
            None => true,
            Some(o) => o.iter().any(|b| b == bench),
        }
    }
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        rounds: 3,
        secs: 2.0,
        udp_secs: 1.0,
        http_secs: 5,
        only: None,
        imps: None,
        conns: ECHO_CONNS.to_vec(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rounds" => o.rounds = val()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--secs" => o.secs = val()?.parse().map_err(|e| format!("--secs: {e}"))?,
            "--udp-secs" => o.udp_secs = val()?.parse().map_err(|e| format!("--udp-secs: {e}"))?,
            "--http-secs" => {
                o.http_secs = val()?.parse().map_err(|e| format!("--http-secs: {e}"))?;
            }
            "--imps" => {
                let names = val()?;
                let mut v = Vec::new();
                for n in names.split(',') {
                    let imp = ALL.iter().find(|i| i.short() == n);
                    v.push(*imp.ok_or(format!("--imps: unknown {n:?}"))?);
                }
                o.imps = Some(v);
            }
            "--conns" => {
                let list = val()?;
                let v: Result<Vec<usize>, _> = list.split(',').map(str::parse).collect();
                o.conns = v.map_err(|e| format!("--conns: {e}"))?;
            }
            "--only" => o.only = Some(val()?.split(',').map(str::to_string).collect()),
            "-h" | "--help" => {
                return Err("usage: net_compare [--rounds N] [--secs S] [--udp-secs S] \
                            [--http-secs S] [--only tcp_echo,connect_churn,udp_echo,http_hello] \
                            [--imps kq-ct,kq-mt1,tokio-ct,tokio-mt1,mio] [--conns 1,50,500]"
                    .into())
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    o.rounds = o.rounds.max(1);
    Ok(o)
}

fn tcp_echo(o: &Opts, rows: &mut Vec<String>) {
    for &conns in &o.conns {
        let (mut rate, mut p99) = (Series::default(), Series::default());
        for round in 0..o.rounds {
            for imp in rotated(&o.imps(&ALL), round) {
                let r = start_echo(imp).map_err(|e| e.to_string()).and_then(|server| {
                    let args = [
                        "client-tcp".to_string(),
                        server.addr.to_string(),
                        conns.to_string(),
                        WARMUP.as_millis().to_string(),
                        o.secs.to_string(),
                    ];
                    let r = run_client(&args);
                    server.stop();
                    r
                });
                match &r {
                    Ok(m) => eprintln!(
                        "  tcp_echo c={conns:<3} round {round} {:<22} {:>9.0} req/s  p50 {:>7.1} us  p99 {:>7.1} us  errors {}",
                        imp.name(), m["rate"], m["p50_us"], m["p99_us"], m["errors"]
                    ),
                    Err(e) => eprintln!("  tcp_echo c={conns} round {round} {}: {e}", imp.name()),
                }
                let r = r.ok();
                rate.push(imp, round, r.as_ref().map(|m| m["rate"]));
                p99.push(imp, round, r.as_ref().map(|m| m["p99_us"]));
            }
        }
        table_rows(rows, "tcp_echo req/s", &conns.to_string(), &rate, true);
        table_rows(rows, "tcp_echo p99 RTT us", &conns.to_string(), &p99, true);
    }
}

fn connect_churn(o: &Opts, rows: &mut Vec<String>) {
    let mut rate = Series::default();
    for round in 0..o.rounds {
        for imp in rotated(&o.imps(&ALL), round) {
            let (ok, err, d) = run_churn(imp);
            let r = ok as f64 / d.as_secs_f64();
            eprintln!(
                "  connect_churn round {round} {:<22} {:>9.0} conn/s  ({ok} ok, {err} errors, {:.2} s)",
                imp.name(),
                r,
                d.as_secs_f64()
            );
            rate.push(imp, round, (ok > 0).then_some(r));
        }
    }
    table_rows(rows, "connect_churn conn/s", &CHURN_CONC.to_string(), &rate, true);
}

fn udp_echo(o: &Opts, rows: &mut Vec<String>) {
    let (mut rate, mut p99) = (Series::default(), Series::default());
    for round in 0..o.rounds {
        for imp in rotated(&o.imps(&ALL), round) {
            let r = start_udp(imp).map_err(|e| e.to_string()).and_then(|server| {
                let args = [
                    "client-udp".to_string(),
                    server.addr.to_string(),
                    (WARMUP.as_millis() / 2).to_string(),
                    o.udp_secs.to_string(),
                ];
                let r = run_client(&args);
                server.stop();
                r
            });
            match &r {
                Ok(m) => eprintln!(
                    "  udp_echo round {round} {:<22} {:>9.0} pkt/s  p50 {:>7.1} us  p99 {:>7.1} us  lost {}",
                    imp.name(), m["rate"], m["p50_us"], m["p99_us"], m["errors"]
                ),
                Err(e) => eprintln!("  udp_echo round {round} {}: {e}", imp.name()),
            }
            let r = r.ok();
            rate.push(imp, round, r.as_ref().map(|m| m["rate"]));
            p99.push(imp, round, r.as_ref().map(|m| m["p99_us"]));
        }
    }
    table_rows(rows, "udp_echo packets/s", "1", &rate, true);
    table_rows(rows, "udp_echo p99 RTT us", "1", &p99, true);
}

fn http_hello(o: &Opts, rows: &mut Vec<String>) {
    if !wrk_installed() {
        println!("http_hello: wrk not installed, skipped (Debian: apt-get install wrk)");
        rows.push("| http_hello | 50 | wrk not installed, skipped | - | - | - | - |".into());
        return;
    }
    const CONNS: usize = 50;
    let (mut rate, mut p99) = (Series::default(), Series::default());
    for round in 0..o.rounds {
        for imp in rotated(&o.imps(&NO_FLOOR), round) {
            let r = start_http(imp).map_err(|e| e.to_string()).and_then(|server| {
                let r = run_wrk(server.addr, CONNS, o.http_secs);
                server.stop();
                r
            });
            match &r {
                Ok(w) => eprintln!(
                    "  http_hello round {round} {:<22} {:>9.0} req/s  p50 {:>7.1} us  p99 {:>7.1} us  {}",
                    imp.name(), w.rps, w.p50_us, w.p99_us, w.errors
                ),
                Err(e) => eprintln!("  http_hello round {round} {}: {e}", imp.name()),
            }
            let r = r.ok();
            rate.push(imp, round, r.as_ref().map(|w| w.rps));
            p99.push(imp, round, r.as_ref().map(|w| w.p99_us));
        }
    }
    table_rows(rows, "http_hello req/s (wrk)", &CONNS.to_string(), &rate, false);
    table_rows(rows, "http_hello p99 us (wrk)", &CONNS.to_string(), &p99, false);
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

/// The client subcommands (run in a child process).
fn client_main(args: &[String]) -> Result<(), String> {
    let io = |e: io::Error| e.to_string();
    match args[0].as_str() {
        "client-tcp" => {
            let addr = parse_addr(args.get(1))?;
            let conns: usize = parse_num(args.get(2), "CONNS")?;
            let warm: u64 = parse_num(args.get(3), "WARMUP_MS")?;
            let secs: f64 = parse_num(args.get(4), "SECS")?;
            tcp_client(addr, conns, Duration::from_millis(warm), secs).map_err(io)
        }
        "client-udp" => {
            let addr = parse_addr(args.get(1))?;
            let warm: u64 = parse_num(args.get(2), "WARMUP_MS")?;
            let secs: f64 = parse_num(args.get(3), "SECS")?;
            udp_client(addr, Duration::from_millis(warm), secs).map_err(io)
        }
        other => Err(format!("unknown subcommand {other:?}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a.starts_with("client-")) {
        if let Err(e) = client_main(&args) {
            eprintln!("net_compare {}: {e}", args[0]);
            std::process::exit(1);
        }
        return;
    }
    let o = match parse_opts(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "net_compare: {} rounds, {} s per tcp run, {} s per udp run, {} s per wrk run; \
         {cores} cores, loadavg {}",
        o.rounds,
        o.secs,
        o.udp_secs,
        o.http_secs,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let t0 = Instant::now();
    let mut rows = Vec::new();
    if o.wants("tcp_echo") {
        eprintln!("tcp_echo (client in its own process, mio single thread)");
        tcp_echo(&o, &mut rows);
    }
    if o.wants("connect_churn") {
        eprintln!("connect_churn ({CHURN_TOTAL} connections, {CHURN_CONC} at a time, in-process)");
        connect_churn(&o, &mut rows);
    }
    if o.wants("udp_echo") {
        eprintln!("udp_echo (client in its own process)");
        udp_echo(&o, &mut rows);
    }
    if o.wants("http_hello") {
        eprintln!("http_hello (wrk -t1 -c50 -d{}s --latency)", o.http_secs);
        http_hello(&o, &mut rows);
    }
    println!();
    println!(
        "Medians over {} interleaved rounds (min-max); ratios are medians of per-round ratios. \
         [ct] = current_thread, [mt1] = multi_thread with 1 worker; the mio floor is one \
         thread. For req/s a ratio above 1 is better for kq, for RTT below 1.",
        o.rounds
    );
    println!();
    println!("| bench | conns | kq | tokio | kq/tokio | floor (mio) | kq/floor |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!("{r}");
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!();
    println!(
        "total {:.0} s; loadavg at the end {} (a shared machine: other jobs skew single numbers, \
         compare ratios)",
        t0.elapsed().as_secs_f64(),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
}
