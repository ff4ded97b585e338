//! `compare`: every macro row of BENCHMARKS.md (1-14, with 5b and 6b of issue 13) in one
//! command, kq interleaved with its rival (tokio; raw mio for the reactor rows), and a report.
//!
//! ```text
//! cargo run -p kq-benches --release --bin compare [-- --quick] [-- --smoke] [-- --only 1,5b,9]
//! ```
//!
//! - default: 7 interleaved rounds per bench (about 8-10 minutes on 2 cores);
//! - `--quick`: 3 rounds and shorter runs (about 2-3 minutes);
//! - `--smoke`: tiny sizes and 1 round (seconds; for CI, so that the runner cannot rot; nothing
//!   about speed is asserted);
//! - `--only ROW[,ROW]`: the rows to run (`5` selects 5 and 5b).
//!
//! A progress line per bench and round goes to stderr; the report goes to stdout and to
//! `target/compare/report.md`, the chart of the ratios to `target/compare/ratios.svg`. Row 8
//! (the lock question) gives wait and hold times when built with `--features lock-profiling`.

mod process_rows;
mod reactor_rows;
mod runtime_rows;
mod watch_rows;

use std::time::Duration;

use kq_benches::net::{self, NetOpts, ALL, NO_FLOOR};
use kq_benches::progress::{fmt_secs, watchdog, Progress};
use kq_benches::report;
use kq_benches::results::Row;
use kq_benches::svg::{ratio_chart, Bar};

/// How long and how big a run is.
pub struct Mode {
    /// `full`, `quick` or `smoke`.
    pub name: &'static str,
    /// Interleaved rounds of every bench.
    pub rounds: usize,
    /// Time one side of a runtime bench spends per round.
    pub round_target: Duration,
    /// Runs of a runtime workload per round, at least.
    pub min_reps: u32,
    /// The runtime workloads' sizes are divided by this.
    pub divisor: usize,
    /// Time one side of a reactor bench spends per round.
    pub reactor_target: Duration,
    /// Time of one single-thread run of row 8.
    pub lock_target: Duration,
    /// The network rows.
    pub net: NetOpts,
    /// `--only`.
    pub only: Option<Vec<String>>,
}

impl Mode {
    fn full() -> Mode {
        Mode {
            name: "full",
            rounds: 7,
            round_target: Duration::from_millis(300),
            min_reps: 3,
            divisor: 1,
            reactor_target: Duration::from_millis(200),
            lock_target: Duration::from_millis(250),
            net: NetOpts {
                rounds: 7,
                secs: 1.0,
                udp_secs: 1.0,
                http_secs: 3,
                ..NetOpts::default()
            },
            only: None,
        }
    }

    fn quick() -> Mode {
        Mode {
            name: "quick",
            rounds: 3,
            round_target: Duration::from_millis(100),
            min_reps: 2,
            reactor_target: Duration::from_millis(80),
            lock_target: Duration::from_millis(100),
            net: NetOpts {
                rounds: 3,
                secs: 0.5,
                udp_secs: 0.5,
                http_secs: 2,
                warmup: Duration::from_millis(200),
                churn_total: 3_000,
                ..NetOpts::default()
            },
            ..Mode::full()
        }
    }

    fn smoke() -> Mode {
        Mode {
            name: "smoke",
            rounds: 1,
            round_target: Duration::ZERO,
            min_reps: 1,
            divisor: 50,
            reactor_target: Duration::from_millis(5),
            lock_target: Duration::from_millis(5),
            net: NetOpts {
                rounds: 1,
                secs: 0.2,
                udp_secs: 0.2,
                http_secs: 1,
                warmup: Duration::from_millis(100),
                conns: vec![1, 50],
                churn_total: 200,
                imps: None,
            },
            only: None,
        }
    }

    /// Whether row `id` runs: listed in `--only` (or no `--only`); `5` selects `5` and `5b`.
    pub fn wants(&self, id: &str) -> bool {
        let base = id.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        match &self.only {
            None => true,
            Some(o) => o.iter().any(|x| x == id || x == base),
        }
    }
}

const USAGE: &str =
    "usage: compare [--quick] [--smoke] [--only ROW[,ROW...]]   (rows 1-14, 5b, 6b)";

fn parse(args: &[String]) -> Result<Mode, String> {
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
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
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

/// The a-priori seconds of everything `m` selects.
fn plan(m: &Mode) -> f64 {
    let mut w = 0.0;
    let runtime = runtime_rows::benches().iter().filter(|b| m.wants(b.id)).count();
    w += (runtime * runtime_rows::WORKERS.len() * m.rounds) as f64 * runtime_rows::round_weight(m);
    if m.wants("6") {
        w += 2.0 * m.rounds as f64 * 0.15;
    }
    if m.wants("7") {
        w += 3.0 * m.rounds as f64 * reactor_rows::round_weight(m);
    }
    if m.wants("8") {
        w += m.rounds as f64 * reactor_rows::lock_round_weight(m);
    }
    let o = &m.net;
    let runs = |all: &[net::Imp]| (o.imps(all).len() * o.rounds) as f64;
    if m.wants("9") {
        w += runs(&ALL) * o.conns.len() as f64 * net::run_weight(o, "tcp_echo");
    }
    if m.wants("10") {
        w += runs(&ALL) * net::run_weight(o, "connect_churn");
    }
    if m.wants("11") {
        w += runs(&ALL) * net::run_weight(o, "udp_echo");
    }
    if m.wants("13") {
        w += (runtime_rows::WORKERS.len() * m.rounds) as f64 * process_rows::round_weight(m);
    }
    if m.wants("14") {
        w += watch_rows::weight(m);
    }
    if m.wants("12") && net::wrk_installed() {
        w += runs(&NO_FLOOR) * net::run_weight(o, "http_hello");
    }
    w
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(watch_rows::CHILD_ARG) {
        if let Err(e) = watch_rows::child(&args) {
            eprintln!("compare {}: {e}", args[0]);
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("--chart-from") {
        match args.get(1).map(std::fs::read_to_string) {
            Some(Ok(md)) => {
                let rows = rows_from_report(&md);
                let rounds = md
                    .lines()
                    .find_map(|l| {
                        l.split(", ").find_map(|p| p.strip_suffix(" interleaved rounds per bench"))
                    })
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let m = Mode { rounds, ..Mode::full() };
                let path = report::out_dir("compare").join("ratios.svg");
                if let Err(e) = std::fs::write(&path, chart(&m, &rows)) {
                    eprintln!("compare: cannot write {}: {e}", path.display());
                    std::process::exit(1);
                }
                eprintln!("compare: redrew {} from {} rows", path.display(), rows.len());
                return;
            }
            _ => {
                eprintln!("usage: compare --chart-from target/compare/report.md");
                std::process::exit(2);
            }
        }
    }
    if let Some(r) = net::client_main(&args) {
        if let Err(e) = r {
            eprintln!("compare {}: {e}", args[0]);
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
    watchdog("compare", Duration::from_secs(180));
    let load_start = report::loadavg();
    let mut p = Progress::new("compare", plan(&m));
    p.say(&format!("{} mode, {} rounds; {}", m.name, m.rounds, report::machine()));

    let mut rows: Vec<Row> = runtime_rows::run(&m, &mut p);
    if m.wants("7") {
        rows.extend(reactor_rows::row7(&m, &mut p));
    }
    let curve = m.wants("8").then(|| reactor_rows::row8(&m, &mut p));
    if let Some(c) = &curve {
        rows.push(c.summary_row());
    }
    if m.wants("9") {
        rows.extend(net::tcp_echo(&m.net, &mut p));
    }
    if m.wants("10") {
        rows.extend(net::connect_churn(&m.net, &mut p));
    }
    if m.wants("11") {
        rows.extend(net::udp_echo(&m.net, &mut p));
    }
    if m.wants("12") {
        rows.extend(net::http_hello(&m.net, &mut p));
    }
    if m.wants("13") {
        rows.extend(process_rows::run(&m, &mut p));
    }
    if m.wants("14") {
        rows.extend(watch_rows::run(&m, &mut p));
    }

    let text = render(&m, &rows, curve.as_ref(), &load_start, p.elapsed());
    println!("{text}");
    let dir = report::out_dir("compare");
    let chart = chart(&m, &rows);
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("report.md"), &text))
        .and_then(|()| std::fs::write(dir.join("ratios.svg"), chart));
    match written {
        Ok(()) => eprintln!(
            "compare: wrote {} and ratios.svg in {}",
            dir.join("report.md").display(),
            fmt_secs(p.elapsed())
        ),
        Err(e) => {
            eprintln!("compare: cannot write {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
}

/// The report: conditions, the table, row 8's table, the method.
fn render(
    m: &Mode,
    rows: &[Row],
    curve: Option<&reactor_rows::LockCurve>,
    load_start: &str,
    took: Duration,
) -> String {
    let mut s = format!("# kq compared ({})\n\n", report::today());
    s.push_str(&format!(
        "- machine: {}\n- versions: {}\n- run: `compare{}`, {} mode, {} interleaved rounds per \
         bench, {}; load average {} at the start, {} at the end\n\n",
        report::machine(),
        report::versions(),
        match m.name {
            "full" => "",
            "quick" => " --quick",
            _ => " --smoke",
        },
        m.name,
        m.rounds,
        fmt_secs(took),
        load_start,
        report::loadavg()
    ));
    s.push_str(
        "Cells: median (min-max) of the rounds. kq/rival is a **time ratio** (for rates: rival \
         rate / kq rate), the median of the per-round ratios with their min-max: below 1 kq is \
         faster. `[1w]`/`[2w]`: multi-thread runtimes with 1 / 2 workers; `[ct]`: current-thread, \
         `[mt1]`: multi-thread with 1 worker. The floor is a single-thread raw mio server.\n\n",
    );
    s.push_str(Row::header());
    s.push('\n');
    for r in rows {
        s.push_str(&r.markdown());
        s.push('\n');
    }
    if let Some(c) = curve {
        s.push('\n');
        s.push_str(&c.markdown());
    }
    if m.name == "smoke" {
        s.push_str("\n(smoke run: tiny sizes, one round; the figures mean nothing)\n");
    }
    s
}

/// The rows of a report written by [`render`], with the ratio of each as one round (enough to
/// redraw the chart: `--chart-from REPORT`).
fn rows_from_report(md: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for line in md.lines().filter(|l| l.starts_with("| ") && l.contains("**")) {
        let cells: Vec<&str> =
            line.split(" | ").map(|c| c.trim_matches(|c| c == '|' || c == ' ')).collect();
        if cells.len() < 5 {
            continue;
        }
        let nums: Vec<f64> = cells[4]
            .replace("**", "")
            .split([' ', '(', ')', '-'])
            .filter_map(|t| t.parse().ok())
            .collect();
        let [ratio, lo, hi] = nums[..] else { continue };
        let rival = cells[3].split(':').next().unwrap_or("tokio");
        let unit = cells[2].split(' ').nth(1).unwrap_or("");
        let mut r = Row::new(cells[0], cells[1], unit, false).with_rival(rival);
        // Three rounds whose per-round ratios are lo, ratio and hi: the same median and range.
        for (i, v) in [lo, ratio, hi].into_iter().enumerate() {
            r.set_kq(i, Some(v));
            r.set_rival(i, Some(1.0));
        }
        rows.push(r);
    }
    rows
}

/// The bar chart of every row with a time ratio (p99 latency and memory rows stay in the table).
fn chart(m: &Mode, rows: &[Row]) -> String {
    let bars: Vec<Bar> = rows
        .iter()
        .filter(|r| !r.bench.contains("p99") && r.unit != "MiB")
        .filter_map(|r| {
            let (ratio, lo, hi) = r.ratio()?;
            let label = if r.rival == "tokio" {
                format!("{} {}", r.id, r.bench)
            } else {
                format!("{} {} (vs {})", r.id, r.bench, r.rival)
            };
            Some(Bar { label, ratio, lo, hi })
        })
        .collect();
    ratio_chart(
        "kq / tokio time ratio (other rivals named; log scale; below 1x kq is faster)",
        &format!(
            "{}, {}; median of {} interleaved rounds, whiskers min-max",
            report::today(),
            report::machine(),
            m.rounds
        ),
        &bars,
    )
}
