//! `scaling`: how cost grows with the work, rows 15-18 of BENCHMARKS.md. Each curve is a CSV
//! and an SVG line plot (log x) under `target/scaling/`, with a summary in
//! `target/scaling/report.md` (also printed).
//!
//! ```text
//! cargo run -p kq-benches --release --bin scaling [-- --quick] [-- --smoke] [-- --only 15,18]
//! ```
//!
//! - 15 idle registrations: N = 10 ... 100k idle descriptors registered, one pipe ping-ponging;
//!   ns per collected event for `Kqueue`, raw epoll (mio) and `poll(2)` over all N. The soft
//!   `RLIMIT_NOFILE` is raised to the hard limit; an N beyond it is not run (the report says so).
//! - 16 armed timers: N = 1k ... 1M pending timers, one 1 ms timer firing; CPU ns per firing for
//!   kq's `sleep`, tokio's `sleep` and the reactor's TIMER knotes.
//! - 17 threads on one `Kqueue`: 1, 2, 4, 8 threads; ops/s and contended acquisitions.
//! - 18 idle connections: 10 ... 10k idle TCP connections plus 50 echoing (client in its own
//!   process); req/s for kq, tokio (multi-thread, 1 worker) and the raw mio floor.
//!
//! Full: about 4-8 minutes on 2 cores; `--quick` about 2-3 minutes; `--smoke` seconds (tiny
//! sizes, for CI; nothing about speed is asserted).

use std::fmt::Write as _;
use std::time::Duration;

use kq_benches::net::{self, Imp, NetOpts};
use kq_benches::progress::{fmt_secs, watchdog, Progress};
use kq_benches::reactor::contention;
use kq_benches::report;
use kq_benches::results::{fmt_num, summary};
use kq_benches::scaling::*;
use kq_benches::svg::{line_plot, Series};

struct Mode {
    name: &'static str,
    rounds: usize,
    idle_ns: Vec<usize>,
    idle_target: Duration,
    timer_ns: Vec<usize>,
    firings: u32,
    threads: Vec<usize>,
    lock_target: Duration,
    conn_ns: Vec<usize>,
    net: NetOpts,
    only: Option<Vec<String>>,
}

impl Mode {
    fn full() -> Mode {
        Mode {
            name: "full",
            rounds: 3,
            idle_ns: vec![10, 100, 1_000, 10_000, 100_000],
            idle_target: Duration::from_millis(150),
            timer_ns: vec![1_000, 10_000, 100_000, 1_000_000],
            firings: 300,
            threads: vec![1, 2, 4, 8],
            lock_target: Duration::from_millis(200),
            conn_ns: vec![10, 100, 1_000, 10_000],
            net: NetOpts { rounds: 3, secs: 1.0, ..NetOpts::default() },
            only: None,
        }
    }

    fn quick() -> Mode {
        Mode {
            name: "quick",
            rounds: 1,
            idle_target: Duration::from_millis(60),
            timer_ns: vec![1_000, 10_000, 100_000],
            firings: 100,
            lock_target: Duration::from_millis(80),
            net: NetOpts {
                rounds: 1,
                secs: 0.5,
                warmup: Duration::from_millis(200),
                ..NetOpts::default()
            },
            ..Mode::full()
        }
    }

    fn smoke() -> Mode {
        Mode {
            name: "smoke",
            rounds: 1,
            idle_ns: vec![10, 100, 1_000],
            idle_target: Duration::from_millis(5),
            timer_ns: vec![1_000, 10_000],
            firings: 5,
            threads: vec![1, 2],
            lock_target: Duration::from_millis(5),
            conn_ns: vec![10, 100],
            net: NetOpts {
                rounds: 1,
                secs: 0.2,
                warmup: Duration::from_millis(50),
                ..NetOpts::default()
            },
            only: None,
        }
    }

    fn wants(&self, row: &str) -> bool {
        match &self.only {
            None => true,
            Some(o) => o.iter().any(|x| x == row),
        }
    }
}

fn parse(args: &[String]) -> Result<Mode, String> {
    let usage = "usage: scaling [--quick] [--smoke] [--only 15,16,17,18]";
    let (mut quick, mut smoke, mut only) = (false, false, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--smoke" => smoke = true,
            "--only" => {
                let v = it.next().ok_or("--only needs a list of rows")?;
                only = Some(v.split(',').map(|s| s.trim().to_string()).collect());
            }
            "-h" | "--help" => return Err(usage.into()),
            other => return Err(format!("unknown argument {other:?}\n{usage}")),
        }
    }
    let mut m = if smoke {
        Mode::smoke()
    } else if quick {
        Mode::quick()
    } else {
        Mode::full()
    };
    m.only = only;
    Ok(m)
}

/// One curve: its x values and, per series, the values of every round at each x.
struct Curve {
    row: &'static str,
    file: &'static str,
    title: &'static str,
    x_label: &'static str,
    y_label: &'static str,
    xs: Vec<usize>,
    names: Vec<&'static str>,
    /// `values[series][x index]` = the rounds' values.
    values: Vec<Vec<Vec<f64>>>,
    /// Labels drawn at the points of the first series.
    labels: Vec<String>,
    notes: Vec<String>,
    /// A log y axis (when one series grows by orders of magnitude).
    log_y: bool,
}

impl Curve {
    fn new(
        row: &'static str,
        file: &'static str,
        title: &'static str,
        x_label: &'static str,
        y_label: &'static str,
        names: Vec<&'static str>,
    ) -> Curve {
        let values = vec![Vec::new(); names.len()];
        Curve {
            row,
            file,
            title,
            x_label,
            y_label,
            xs: Vec::new(),
            names,
            values,
            labels: Vec::new(),
            notes: Vec::new(),
            log_y: false,
        }
    }

    fn add_x(&mut self, x: usize) {
        self.xs.push(x);
        for v in &mut self.values {
            v.push(Vec::new());
        }
    }

    fn push(&mut self, series: usize, v: f64) {
        if let Some(last) = self.values[series].last_mut() {
            last.push(v);
        }
    }

    fn median(&self, s: usize, i: usize) -> Option<f64> {
        summary(&self.values[s][i]).map(|x| x.0)
    }

    fn csv(&self) -> String {
        let mut out = String::from(self.x_label.split(' ').next().unwrap_or("x"));
        for n in &self.names {
            let n = n.replace([' ', '(', ')', '\''], "_");
            let _ = write!(out, ",{n}_median,{n}_min,{n}_max");
        }
        out.push('\n');
        for (i, x) in self.xs.iter().enumerate() {
            let _ = write!(out, "{x}");
            for s in 0..self.names.len() {
                match summary(&self.values[s][i]) {
                    Some((m, lo, hi)) => {
                        let _ = write!(out, ",{m:.1},{lo:.1},{hi:.1}");
                    }
                    None => out.push_str(",,,"),
                }
            }
            out.push('\n');
        }
        out
    }

    fn svg(&self, subtitle: &str) -> String {
        let series: Vec<Series> = self
            .names
            .iter()
            .enumerate()
            .map(|(s, name)| Series {
                name: name.to_string(),
                points: (0..self.xs.len())
                    .filter_map(|i| Some((self.xs[i] as f64, self.median(s, i)?)))
                    .collect(),
                labels: if s == 0 { self.labels.clone() } else { Vec::new() },
            })
            .collect();
        line_plot(
            &format!("Row {}: {}", self.row, self.title),
            subtitle,
            self.x_label,
            self.y_label,
            self.log_y,
            &series,
        )
    }

    /// The markdown table and how far each series is from flat (largest x over smallest x).
    fn markdown(&self) -> String {
        let mut s = format!("## Row {}: {}\n\n| {} |", self.row, self.title, self.x_label);
        for n in &self.names {
            let _ = write!(s, " {n} ({}) |", self.y_label);
        }
        if !self.labels.is_empty() {
            s.push_str(" note |");
        }
        s.push_str("\n|---:|");
        s.push_str(&"---:|".repeat(self.names.len() + usize::from(!self.labels.is_empty())));
        s.push('\n');
        for (i, x) in self.xs.iter().enumerate() {
            let _ = write!(s, "| {x} |");
            for sr in 0..self.names.len() {
                let cell = summary(&self.values[sr][i]).map_or("-".into(), |(m, lo, hi)| {
                    if self.values[sr][i].len() > 1 {
                        format!("{} ({}-{})", fmt_num(m), fmt_num(lo), fmt_num(hi))
                    } else {
                        fmt_num(m)
                    }
                });
                let _ = write!(s, " {cell} |");
            }
            if let Some(l) = self.labels.get(i) {
                let _ = write!(s, " {l} |");
            }
            s.push('\n');
        }
        if self.xs.len() >= 2 {
            s.push_str("\nLargest over smallest x (1.00 = flat): ");
            let last = self.xs.len() - 1;
            let parts: Vec<String> = (0..self.names.len())
                .filter_map(|sr| {
                    let (a, b) = (self.median(sr, 0)?, self.median(sr, last)?);
                    Some(format!("{} {:.2}", self.names[sr], b / a))
                })
                .collect();
            s.push_str(&parts.join(", "));
            s.push('\n');
        }
        for n in &self.notes {
            let _ = writeln!(s, "\n{n}");
        }
        s
    }
}

/// The iteration count for which `run` takes about `target` (at least 8).
fn calibrate(run: &mut dyn FnMut(u64) -> Duration, target: Duration) -> u64 {
    let mut iters = 8u64;
    loop {
        let t = run(iters);
        if t >= target / 8 || iters >= 1 << 26 {
            let per = t.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per.max(1e-12)) as u64).max(8);
        }
        iters *= 4;
    }
}

fn row15(m: &Mode, p: &mut Progress, limit: u64) -> Curve {
    let mut c = Curve::new(
        "15",
        "idle_registrations",
        "idle registrations, one pipe ping-ponging",
        "N idle fds",
        "ns per event",
        vec!["kq Kqueue", "epoll (mio)", "poll(2)"],
    );
    c.log_y = true;
    type IdleRun = fn(&[std::os::fd::OwnedFd], u64) -> std::io::Result<Duration>;
    let runs: [IdleRun; 3] = [kq_idle, mio_idle, poll_idle];
    for &n in &m.idle_ns {
        // The pipe, the backends' own descriptors, the runtime: a margin of 64.
        let need = (n + open_fds() + 64) as u64;
        if need > limit {
            let note = format!(
                "N = {n} not run: it needs about {need} descriptors and RLIMIT_NOFILE's hard limit is {limit} (raise it to measure further)."
            );
            p.say(&note);
            c.notes.push(note);
            break;
        }
        let idle = match idle_fds(n) {
            Ok(v) => v,
            Err(e) => {
                c.notes.push(format!("N = {n} not run: opening {n} eventfds failed: {e}"));
                break;
            }
        };
        c.add_x(n);
        let iters: Vec<u64> = runs
            .iter()
            .map(|r| calibrate(&mut |k| r(&idle, k).expect("idle run"), m.idle_target))
            .collect();
        for round in 0..m.rounds {
            for k in 0..3 {
                let s = (k + round) % 3;
                let ns =
                    runs[s](&idle, iters[s]).expect("idle run").as_nanos() as f64 / iters[s] as f64;
                c.push(s, ns);
                p.step(
                    m.idle_target.as_secs_f64() * 1.3,
                    &format!(
                        "row 15 N={n} round {}/{} {}: {ns:.0} ns/event",
                        round + 1,
                        m.rounds,
                        c.names[s]
                    ),
                );
            }
        }
    }
    c
}

fn row16(m: &Mode, p: &mut Progress) -> Curve {
    let mut c = Curve::new(
        "16",
        "armed_timers",
        "armed timers, one 1 ms timer firing",
        "N pending timers",
        "CPU ns per firing",
        vec!["kq sleep", "tokio sleep", "reactor TIMER knotes"],
    );
    let mut arm_notes = Vec::new();
    for &n in &m.timer_ns {
        c.add_x(n);
        let mut arms = [Duration::ZERO; 3];
        for round in 0..m.rounds {
            for k in 0..3 {
                let s = (k + round) % 3;
                let f = match s {
                    0 => kq_sleep_firings(n, m.firings),
                    1 => tokio_sleep_firings(n, m.firings),
                    _ => reactor_timer_firings(n, m.firings).expect("reactor timers"),
                };
                arms[s] = f.arm;
                c.push(s, f.cpu_ns());
                p.step(
                    n as f64 * 2e-6 + f64::from(m.firings) * 1.2e-3,
                    &format!(
                        "row 16 N={n} round {}/{} {}: {:.0} CPU ns/firing, {:.0} us wall/firing, armed in {:.0} ms",
                        round + 1,
                        m.rounds,
                        c.names[s],
                        f.cpu_ns(),
                        f.wall.as_secs_f64() * 1e6 / f64::from(f.firings.max(1)),
                        f.arm.as_secs_f64() * 1e3
                    ),
                );
            }
        }
        arm_notes.push(format!(
            "N={n}: {:.0} / {:.0} / {:.0} ms",
            arms[0].as_secs_f64() * 1e3,
            arms[1].as_secs_f64() * 1e3,
            arms[2].as_secs_f64() * 1e3
        ));
    }
    c.notes.push(format!(
        "Time to arm the N pending timers (kq sleep / tokio sleep / reactor knotes; not in the figure): {}.",
        arm_notes.join("; ")
    ));
    c
}

fn row17(m: &Mode, p: &mut Progress) -> Curve {
    let mut c = Curve::new(
        "17",
        "threads_on_one_kqueue",
        "threads on one Kqueue (register, trigger + collect, delete)",
        "threads",
        "k ops/s",
        vec!["kq Kqueue"],
    );
    let ops = calibrate(&mut |k| contention(1, k).elapsed, m.lock_target);
    for &t in &m.threads {
        c.add_x(t);
        let mut contended = Vec::new();
        for round in 0..m.rounds {
            let r = contention(t, ops);
            c.push(0, r.ops_per_sec() / 1e3);
            contended.push(100.0 * r.lock.contended_fraction());
            p.step(
                m.lock_target.as_secs_f64() * t as f64 / 2.0,
                &format!(
                    "row 17 {t} threads round {}/{}: {} ops/s, {:.1}% contended",
                    round + 1,
                    m.rounds,
                    fmt_num(r.ops_per_sec()),
                    100.0 * r.lock.contended_fraction()
                ),
            );
        }
        let med = summary(&contended).map_or(0.0, |x| x.0);
        c.labels.push(format!("{med:.0}% contended"));
    }
    c.notes.push(format!(
        "{ops} operations per thread; labels: contended lock acquisitions (median of the rounds)."
    ));
    c
}

fn row18(m: &Mode, p: &mut Progress) -> Curve {
    let mut c = Curve::new(
        "18",
        "idle_connections",
        "idle TCP connections plus 50 echoing",
        "N idle connections",
        "k req/s",
        vec!["kq multi_thread(1)", "tokio multi_thread(1)", "mio (floor)"],
    );
    let imps = [Imp::KqMt1, Imp::TokioMt1, Imp::Mio];
    for &n in &m.conn_ns {
        c.add_x(n);
        for round in 0..m.net.rounds {
            for k in 0..3 {
                let s = (k + round) % 3;
                let r = net::echo_load(imps[s], 50, n, &m.net);
                let what = match &r {
                    Ok(x) => {
                        c.push(s, x["rate"] / 1e3);
                        format!("{:.0} req/s, errors {}", x["rate"], x["errors"])
                    }
                    Err(e) => format!("failed: {e}"),
                };
                p.step(
                    m.net.secs + m.net.warmup.as_secs_f64() + n as f64 * 2e-3 + 0.3,
                    &format!(
                        "row 18 N={n} round {}/{} {}: {what}",
                        round + 1,
                        m.net.rounds,
                        c.names[s]
                    ),
                );
            }
        }
    }
    c
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(r) = net::client_main(&args) {
        if let Err(e) = r {
            eprintln!("scaling {}: {e}", args[0]);
            std::process::exit(1);
        }
        return;
    }
    let m = match parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    watchdog("scaling", Duration::from_secs(240));
    let limit = raise_nofile().unwrap_or(1024);
    let load_start = report::loadavg();
    let mut plan = 0.0;
    if m.wants("15") {
        plan += m.idle_ns.len() as f64 * 3.0 * m.rounds as f64 * m.idle_target.as_secs_f64() * 1.3;
    }
    if m.wants("16") {
        plan += m
            .timer_ns
            .iter()
            .map(|n| *n as f64 * 2e-6 + f64::from(m.firings) * 1.2e-3)
            .sum::<f64>()
            * 3.0
            * m.rounds as f64;
    }
    if m.wants("17") {
        plan += m.threads.iter().sum::<usize>() as f64 * m.lock_target.as_secs_f64() / 2.0
            * m.rounds as f64;
    }
    if m.wants("18") {
        plan += m
            .conn_ns
            .iter()
            .map(|n| m.net.secs + m.net.warmup.as_secs_f64() + *n as f64 * 2e-3 + 0.3)
            .sum::<f64>()
            * 3.0
            * m.net.rounds as f64;
    }
    let mut p = Progress::new("scaling", plan);
    p.say(&format!("{} mode; RLIMIT_NOFILE {limit}; {}", m.name, report::machine()));
    let mut curves = Vec::new();
    if m.wants("15") {
        curves.push(row15(&m, &mut p, limit));
    }
    if m.wants("16") {
        curves.push(row16(&m, &mut p));
    }
    if m.wants("17") {
        curves.push(row17(&m, &mut p));
    }
    if m.wants("18") {
        curves.push(row18(&m, &mut p));
    }
    let subtitle =
        format!("{}, {}, median of {} round(s)", report::today(), report::machine(), m.rounds);
    let mut text = format!(
        "# kq scaling curves ({})\n\n- machine: {}\n- versions: {}\n- run: `scaling{}`, {}; load average {} at the start, {} at the end\n\n",
        report::today(),
        report::machine(),
        report::versions(),
        match m.name {
            "full" => "",
            "quick" => " --quick",
            _ => " --smoke",
        },
        fmt_secs(p.elapsed()),
        load_start,
        report::loadavg()
    );
    for c in &curves {
        text.push_str(&c.markdown());
        text.push('\n');
    }
    if m.name == "smoke" {
        text.push_str("(smoke run: tiny sizes, one round; the figures mean nothing)\n");
    }
    println!("{text}");
    let dir = report::out_dir("scaling");
    let mut result = std::fs::create_dir_all(&dir);
    for c in &curves {
        let name = format!("row{}_{}", c.row, c.file);
        result = result
            .and_then(|()| std::fs::write(dir.join(format!("{name}.csv")), c.csv()))
            .and_then(|()| std::fs::write(dir.join(format!("{name}.svg")), c.svg(&subtitle)));
    }
    match result.and_then(|()| std::fs::write(dir.join("report.md"), &text)) {
        Ok(()) => eprintln!(
            "scaling: wrote {} (CSV, SVG, report.md) in {}",
            dir.display(),
            fmt_secs(p.elapsed())
        ),
        Err(e) => {
            eprintln!("scaling: cannot write {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
}
