//! `net_compare`: the network rows 9-12 of BENCHMARKS.md alone (they are also part of
//! `compare`): kq next to tokio, with a raw mio floor. The workloads live in the library
//! (`kq_benches::net`).
//!
//! `cargo run -p kq-benches --release --bin net_compare [-- --rounds N --secs S --only LIST]`

use kq_benches::net::{self, Imp, NetOpts, ALL};
use kq_benches::progress::Progress;
use kq_benches::results::Row;

const USAGE: &str = "usage: net_compare [--rounds N] [--secs S] [--udp-secs S] [--http-secs S] \
                     [--only tcp_echo,connect_churn,udp_echo,http_hello] \
                     [--imps kq-ct,kq-mt1,tokio-ct,tokio-mt1,mio] [--conns 1,50,500]";

fn parse_opts(args: &[String]) -> Result<(NetOpts, Option<Vec<String>>), String> {
    let mut o = NetOpts::default();
    let mut only = None;
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
                let mut v = Vec::new();
                for n in val()?.split(',') {
                    let imp = ALL.iter().find(|i| i.short() == n);
                    v.push(*imp.ok_or(format!("--imps: unknown {n:?}"))?);
                }
                o.imps = Some(v);
            }
            "--conns" => {
                let v: Result<Vec<usize>, _> = val()?.split(',').map(str::parse).collect();
                o.conns = v.map_err(|e| format!("--conns: {e}"))?;
            }
            "--only" => only = Some(val()?.split(',').map(str::to_string).collect()),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    o.rounds = o.rounds.max(1);
    Ok((o, only))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(r) = net::client_main(&args) {
        if let Err(e) = r {
            eprintln!("net_compare {}: {e}", args[0]);
            std::process::exit(1);
        }
        return;
    }
    let (o, only) = match parse_opts(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let wants = |b: &str| match &only {
        None => true,
        Some(o) => o.iter().any(|x| x == b),
    };
    let n = |all: &[Imp]| o.imps(all).len() as f64 * o.rounds as f64;
    let mut planned = 0.0;
    if wants("tcp_echo") {
        planned += n(&ALL) * o.conns.len() as f64 * net::run_weight(&o, "tcp_echo");
    }
    for b in ["connect_churn", "udp_echo", "http_hello"] {
        if wants(b) {
            planned += n(&ALL) * net::run_weight(&o, b);
        }
    }
    let mut p = Progress::new("net_compare", planned);
    println!(
        "# kq vs tokio, network ({}; {})\n",
        kq_benches::report::today(),
        kq_benches::report::machine()
    );
    let mut rows: Vec<Row> = Vec::new();
    if wants("tcp_echo") {
        rows.extend(net::tcp_echo(&o, &mut p));
    }
    if wants("connect_churn") {
        rows.extend(net::connect_churn(&o, &mut p));
    }
    if wants("udp_echo") {
        rows.extend(net::udp_echo(&o, &mut p));
    }
    if wants("http_hello") {
        rows.extend(net::http_hello(&o, &mut p));
    }
    println!(
        "Medians over {} interleaved rounds (min-max); ratios are medians of per-round time \
         ratios (below 1: kq faster). [ct] = current_thread, [mt1] = multi_thread with 1 worker; \
         the mio floor is one thread.\n",
        o.rounds
    );
    println!("{}", Row::header());
    for r in &rows {
        println!("{}", r.markdown());
    }
}
