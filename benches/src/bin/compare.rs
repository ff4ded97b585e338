//! The `compare` runner of BENCHMARKS.md, rows 1-6: kq next to tokio, same workloads, same
//! worker counts (1 and 2, multi-thread runtimes), interleaved A B A B for 7 rounds.
//!
//! `cargo run -p kq-benches --release --bin compare [FILTER...]` (about a minute and a half;
//! with filters, only the benches whose name contains one of them). Prints a
//! markdown table `| bench | workers | kq | tokio | kq/tokio | floor |` with medians and
//! min-max of the rounds (kq/tokio is the ratio of the medians, min-max over the per-round
//! ratios, each round pairing one kq and one tokio run), then the lateness p50/p99 of the timer
//! macro figure, and writes an SVG bar chart of the ratios to `target/compare.svg`.
//!
//! Each round of a bench repeats its workload until about 300 ms have been spent (at least 3
//! times) and reports the mean per unit of work. The workloads live in
//! `src/runtime_workloads.rs`, shared with the criterion bench `benches/runtime.rs`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kq_benches::runtime_workloads::{kq, tk};

const ROUNDS: usize = 7;
const WORKERS: [usize; 2] = [1, 2];
/// Time spent on a bench per round and runtime.
const ROUND_TARGET: Duration = Duration::from_millis(300);
const MIN_REPS: u32 = 3;

/// One row of the table.
struct Bench {
    name: &'static str,
    unit: &'static str,
    /// Units of work per run: the time of one run divided by this, scaled by `scale`, is the
    /// figure (`scale` 1 for ns, 1e-3 for us, 1e-6 for ms).
    per_run: usize,
    scale: f64,
    kq: fn(&kq_runtime::Runtime) -> Duration,
    tokio: fn(&tokio::runtime::Runtime) -> Duration,
}

fn benches() -> Vec<Bench> {
    use kq_benches::runtime_workloads::*;
    vec![
        Bench {
            name: "spawn_local",
            unit: "ns/task",
            per_run: SPAWNS,
            scale: 1.0,
            kq: |rt| kq::spawn_local(rt, SPAWNS),
            tokio: |rt| tk::spawn_local(rt, SPAWNS),
        },
        Bench {
            name: "spawn_remote",
            unit: "ns/task",
            per_run: SPAWNS,
            scale: 1.0,
            kq: |rt| kq::spawn_remote(rt, SPAWNS),
            tokio: |rt| tk::spawn_remote(rt, SPAWNS),
        },
        Bench {
            name: "spawn_remote_2threads",
            unit: "ns/task",
            per_run: SPAWNS,
            scale: 1.0,
            kq: |rt| kq::spawn_remote_2threads(rt, SPAWNS),
            tokio: |rt| tk::spawn_remote_2threads(rt, SPAWNS),
        },
        Bench {
            name: "chained_spawn",
            unit: "ns/hop",
            per_run: CHAIN_DEPTH,
            scale: 1.0,
            kq: |rt| kq::chained_spawn(rt, CHAIN_DEPTH),
            tokio: |rt| tk::chained_spawn(rt, CHAIN_DEPTH),
        },
        Bench {
            name: "yield_many",
            unit: "ns/yield",
            per_run: YIELD_TASKS * YIELDS_PER_TASK,
            scale: 1.0,
            kq: |rt| kq::yield_many(rt, YIELD_TASKS, YIELDS_PER_TASK),
            tokio: |rt| tk::yield_many(rt, YIELD_TASKS, YIELDS_PER_TASK),
        },
        Bench {
            name: "ping_pong",
            unit: "us/iter",
            per_run: 1,
            scale: 1e-3,
            kq: |rt| kq::ping_pong(rt, PING_PONG_PAIRS),
            tokio: |rt| tk::ping_pong(rt, PING_PONG_PAIRS),
        },
        Bench {
            name: "sleep_poll_drop",
            unit: "ns/op",
            per_run: TIMER_OPS,
            scale: 1.0,
            kq: |rt| kq::sleep_poll_drop(rt, TIMER_OPS),
            tokio: |rt| tk::sleep_poll_drop(rt, TIMER_OPS),
        },
        Bench {
            name: "timeout_ready",
            unit: "ns/op",
            per_run: TIMER_OPS,
            scale: 1.0,
            kq: |rt| kq::timeout_ready(rt, TIMER_OPS),
            tokio: |rt| tk::timeout_ready(rt, TIMER_OPS),
        },
    ]
}

/// Runs `f` until `ROUND_TARGET` is spent (at least `MIN_REPS` times); the mean per unit.
fn round(f: &mut dyn FnMut() -> Duration, per_run: usize, scale: f64) -> f64 {
    let (mut spent, mut reps) = (Duration::ZERO, 0u32);
    let start = Instant::now();
    while reps < MIN_REPS || start.elapsed() < ROUND_TARGET {
        spent += f();
        reps += 1;
    }
    spent.as_nanos() as f64 / f64::from(reps) / per_run as f64 * scale
}

/// Median, min and max.
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let med = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    (med, s[0], s[n - 1])
}

fn fmt_num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// One result row.
struct Row {
    bench: String,
    workers: usize,
    unit: &'static str,
    kq: Vec<f64>,
    tokio: Vec<f64>,
}

impl Row {
    fn ratios(&self) -> Vec<f64> {
        self.kq.iter().zip(&self.tokio).map(|(k, t)| k / t).collect()
    }

    /// (median ratio, min, max): ratio of the medians, range of the per-round ratios.
    fn ratio(&self) -> (f64, f64, f64) {
        let (_, lo, hi) = stats(&self.ratios());
        (stats(&self.kq).0 / stats(&self.tokio).0, lo, hi)
    }

    fn cell(v: &[f64], unit: &str) -> String {
        let (med, lo, hi) = stats(v);
        format!("{} {unit} ({}-{})", fmt_num(med), fmt_num(lo), fmt_num(hi))
    }

    fn markdown(&self) -> String {
        let (r, lo, hi) = self.ratio();
        format!(
            "| {} | {} | {} | {} | {:.2} ({:.2}-{:.2}) | - |",
            self.bench,
            self.workers,
            Row::cell(&self.kq, self.unit),
            Row::cell(&self.tokio, self.unit),
            r,
            lo,
            hi
        )
    }
}

/// Lateness samples of the timer macro figure, per runtime.
#[derive(Default)]
struct Lateness {
    kq: Vec<Duration>,
    tokio: Vec<Duration>,
    kq_p99: Vec<f64>,
    tokio_p99: Vec<f64>,
}

fn run_macro_timers(workers: usize, rows: &mut Vec<Row>) -> Lateness {
    use kq_benches::runtime_workloads::{quantile_ms, MACRO_TIMERS};
    let kq_rt = kq::build(workers);
    let tk_rt = tk::build(workers);
    // Warm-up, untimed.
    kq::timers_macro(&kq_rt, MACRO_TIMERS);
    tk::timers_macro(&tk_rt, MACRO_TIMERS);
    let mut row = Row {
        bench: format!("timers_macro ({}k sleeps 1-50 ms)", MACRO_TIMERS / 1000),
        workers,
        unit: "ms/iter",
        kq: Vec::new(),
        tokio: Vec::new(),
    };
    let mut late = Lateness::default();
    for _ in 0..ROUNDS {
        let (t, l) = kq::timers_macro(&kq_rt, MACRO_TIMERS);
        row.kq.push(t.as_secs_f64() * 1e3);
        late.kq_p99.push(quantile_ms(&l, 0.99));
        late.kq.extend(l);
        let (t, l) = tk::timers_macro(&tk_rt, MACRO_TIMERS);
        row.tokio.push(t.as_secs_f64() * 1e3);
        late.tokio_p99.push(quantile_ms(&l, 0.99));
        late.tokio.extend(l);
    }
    rows.push(row);
    late.kq.sort_unstable();
    late.tokio.sort_unstable();
    late
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A horizontal bar chart of the kq/tokio ratios on a log axis, each bar drawn from the 1.0 line
/// (with the min-max of the rounds as whiskers).
fn svg(rows: &[Row], subtitle: &str) -> String {
    const LABEL_W: f64 = 300.0;
    const PLOT_W: f64 = 460.0;
    const BAR_H: f64 = 18.0;
    const GAP: f64 = 8.0;
    const TOP: f64 = 60.0;
    // A log2 axis over whole powers of two, at least 1/4 .. 4, bars drawn from the 1.0 line.
    let lo_exp = rows.iter().map(|r| r.ratio().1).fold(0.25_f64, f64::min).log2().floor();
    let hi_exp = rows.iter().map(|r| r.ratio().2).fold(4.0_f64, f64::max).log2().ceil();
    let x = |v: f64| LABEL_W + (v.log2() - lo_exp) / (hi_exp - lo_exp) * PLOT_W;
    let height = TOP + rows.len() as f64 * (BAR_H + GAP) + 40.0;
    let width = LABEL_W + PLOT_W + 90.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">kq / tokio time ratio (log scale; left of 1x: kq faster; median of {ROUNDS} interleaved rounds, whiskers min-max)</text>"#
    );
    let _ = writeln!(s, r##"<text x="10" y="42" fill="#555">{}</text>"##, escape(subtitle));
    let bottom = TOP + rows.len() as f64 * (BAR_H + GAP);
    // Grid: every power of two.
    let mut e = lo_exp;
    while e <= hi_exp {
        let g = e.exp2();
        let gx = x(g);
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{bottom}" stroke="#ddd"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{g}x</text>"##,
            bottom + 16.0
        );
        e += 1.0;
    }
    for (i, r) in rows.iter().enumerate() {
        let (ratio, lo, hi) = r.ratio();
        let y = TOP + i as f64 * (BAR_H + GAP) + GAP / 2.0;
        let color = if ratio <= 1.0 {
            "#3a9a4a"
        } else if ratio <= 1.5 {
            "#e0a030"
        } else {
            "#d04040"
        };
        let label = escape(&format!("{} ({}w)", r.bench, r.workers));
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"#,
            LABEL_W - 8.0,
            y + BAR_H * 0.75
        );
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{BAR_H}" fill="{color}"/>"#,
            x(ratio.min(1.0)),
            (x(ratio) - x(1.0)).abs()
        );
        let wy = y + BAR_H / 2.0;
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{wy:.1}" x2="{:.1}" y2="{wy:.1}" stroke="#222"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#222"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#222"/>"##,
            x(lo),
            x(hi),
            x(lo),
            wy - 4.0,
            x(lo),
            wy + 4.0,
            x(hi),
            wy - 4.0,
            x(hi),
            wy + 4.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{ratio:.2}</text>"#,
            x(hi.max(ratio)) + 6.0,
            y + BAR_H * 0.75
        );
    }
    let one = x(1.0);
    let _ = writeln!(
        s,
        r##"<line x1="{one:.1}" y1="{:.1}" x2="{one:.1}" y2="{bottom}" stroke="#000" stroke-dasharray="4 3"/>"##,
        TOP - 6.0
    );
    s.push_str("</svg>\n");
    s
}

fn main() {
    let started = Instant::now();
    let subtitle = format!(
        "{}, {}, kq-runtime vs tokio 1 (multi-thread runtimes)",
        kq_benches::report::today(),
        kq_benches::report::machine()
    );
    eprintln!("compare: {subtitle}");
    // Optional filters: only the benches whose name contains one of the arguments.
    let filters: Vec<String> = std::env::args().skip(1).collect();
    let selected = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    let mut rows = Vec::new();
    for bench in benches().into_iter().filter(|b| selected(b.name)) {
        for workers in WORKERS {
            let kq_rt = kq::build(workers);
            let tk_rt = tk::build(workers);
            // Warm-up, untimed.
            (bench.kq)(&kq_rt);
            (bench.tokio)(&tk_rt);
            let mut row = Row {
                bench: bench.name.to_owned(),
                workers,
                unit: bench.unit,
                kq: Vec::new(),
                tokio: Vec::new(),
            };
            for _ in 0..ROUNDS {
                row.kq.push(round(&mut || (bench.kq)(&kq_rt), bench.per_run, bench.scale));
                row.tokio.push(round(&mut || (bench.tokio)(&tk_rt), bench.per_run, bench.scale));
            }
            eprintln!("{}", row.markdown());
            rows.push(row);
        }
    }
    let mut lateness = Vec::new();
    for workers in WORKERS.into_iter().filter(|_| selected("timers_macro")) {
        let late = run_macro_timers(workers, &mut rows);
        if let Some(row) = rows.last() {
            eprintln!("{}", row.markdown());
        }
        lateness.push((workers, late));
    }

    println!("kq vs tokio, {subtitle}\n");
    println!("| bench | workers | kq | tokio | kq/tokio | floor |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!("{}", r.markdown());
    }
    println!(
        "\nmedian (min-max) of {ROUNDS} rounds, interleaved kq, tokio, kq, tokio, ...; \
         kq/tokio = ratio of the medians (min-max of the per-round ratios); lower is better for kq\n"
    );
    if !lateness.is_empty() {
        println!(
            "Timer lateness (wake-up minus deadline, {}k sleeps of 1-50 ms, all rounds pooled):\n",
            kq_benches::runtime_workloads::MACRO_TIMERS / 1000
        );
        println!("| runtime | workers | p50 | p99 | max | p99 per round (min-max) |");
        println!("|---|---|---|---|---|---|");
        for (workers, late) in &lateness {
            for (name, all, p99s) in
                [(kq::NAME, &late.kq, &late.kq_p99), (tk::NAME, &late.tokio, &late.tokio_p99)]
            {
                let (_, lo, hi) = stats(p99s);
                println!(
                    "| {name} | {workers} | {:.3} ms | {:.3} ms | {:.3} ms | {lo:.3}-{hi:.3} ms |",
                    kq_benches::runtime_workloads::quantile_ms(all, 0.5),
                    kq_benches::runtime_workloads::quantile_ms(all, 0.99),
                    kq_benches::runtime_workloads::quantile_ms(all, 1.0),
                );
            }
        }
    }

    let dir = target_dir();
    let path = dir.join("compare.svg");
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, svg(&rows, &subtitle)))
    {
        Ok(()) => println!("\nchart: {}", path.canonicalize().unwrap_or(path).display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
    eprintln!("compare: done in {:.0} s", started.elapsed().as_secs_f64());
}
