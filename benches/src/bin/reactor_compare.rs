//! `reactor_compare`: the reactor's micro benchmarks (BENCHMARKS.md rows 7 and 15) as kq vs the
//! raw mio floor, interleaved A B A B over 7 rounds, and the lock-contention curve (rows 8 and
//! 17): 1, 2, 4 and 8 threads on one shared `Kqueue`.
//!
//! `cargo run -p kq-benches --release --bin reactor_compare [--features lock-profiling]`; about
//! 25-30 s on 2 cores. Prints markdown tables of medians with min-max. Ratios are the median of
//! the per-round ratios (each round runs kq then mio back to back), which cancels most of the
//! drift a shared machine adds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use kq_benches::reactor::{
    contention, kq_ping_pong, mio_ping_pong, Contention, KqChurn, KqUserRoundtrip, MioChurn,
    MioUserRoundtrip, TimerArm,
};

/// Rounds of the kq vs mio comparison.
const ROUNDS: usize = 7;
/// Rounds of the contention curve.
const CURVE_ROUNDS: usize = 3;
/// Thread counts of the contention curve.
const CURVE_THREADS: [usize; 4] = [1, 2, 4, 8];
/// Wall time aimed at by one timed run of one side of one round.
const TARGET: Duration = Duration::from_millis(200);
/// Wall time aimed at by one single-thread run of the contention curve.
const CURVE_TARGET: Duration = Duration::from_millis(250);

/// No timed run may take longer than this: a run that does is stuck (a lost wake-up leaves both
/// ping-pong threads blocked for ever), and the runner reports it and exits with status 2.
const STALL: Duration = Duration::from_secs(30);

/// Timed runs finished so far, and the bench of the current one (for the watchdog).
static PROGRESS: AtomicU64 = AtomicU64::new(0);
static CURRENT: Mutex<&str> = Mutex::new("start-up");

/// Records that a timed run of `name` finished.
fn progress(name: &'static str) {
    *CURRENT.lock().unwrap_or_else(PoisonError::into_inner) = name;
    PROGRESS.fetch_add(1, Ordering::Relaxed);
}

/// Exits with status 2 when no timed run finishes within [`STALL`].
fn watchdog() {
    std::thread::spawn(|| {
        let mut last = u64::MAX;
        loop {
            std::thread::sleep(STALL);
            let now = PROGRESS.load(Ordering::Relaxed);
            if now == last {
                let name = *CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
                eprintln!("reactor_compare: no run finished in {STALL:?} (after {name}): stuck");
                std::process::exit(2);
            }
            last = now;
        }
    });
}

/// A timed workload: `iters` operations in, elapsed time out.
type Run<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// The iteration count for which `run` takes about `target`.
fn calibrate(run: &mut dyn FnMut(u64) -> Duration, target: Duration) -> u64 {
    let mut iters = 64u64;
    loop {
        let t = run(iters);
        progress("calibration");
        if t >= Duration::from_millis(20) || iters >= 1 << 32 {
            let per_op = t.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per_op) as u64).max(1);
        }
        iters *= 4;
    }
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min_max(xs: &[f64]) -> (f64, f64) {
    xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

fn ns(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn range(xs: &[f64], f: fn(f64) -> String) -> String {
    let (lo, hi) = min_max(xs);
    format!("{}-{}", f(lo), f(hi))
}

fn ratio(x: f64) -> String {
    format!("{x:.2}")
}

/// One table row: ns/op per round for kq and (if any) mio.
struct Row {
    name: &'static str,
    kq: Vec<f64>,
    mio: Vec<f64>,
}

/// Runs `kq` and `mio` (if given) interleaved for [`ROUNDS`] rounds; `per_iter` operations make
/// one iteration (ns/op is per operation).
fn compare(name: &'static str, per_iter: u64, mut kq: Run<'_>, mio: Option<Run<'_>>) -> Row {
    let mut mio = mio;
    let kq_iters = calibrate(&mut kq, TARGET);
    let mio_iters = mio.as_mut().map(|m| calibrate(m, TARGET));
    let mut row = Row { name, kq: Vec::new(), mio: Vec::new() };
    for _ in 0..ROUNDS {
        let t = kq(kq_iters);
        progress(name);
        row.kq.push(t.as_nanos() as f64 / (kq_iters * per_iter) as f64);
        if let (Some(m), Some(iters)) = (mio.as_mut(), mio_iters) {
            let t = m(iters);
            progress(name);
            row.mio.push(t.as_nanos() as f64 / (iters * per_iter) as f64);
        }
    }
    eprintln!("  {name}: done");
    row
}

fn print_rows(rows: &[Row]) {
    println!(
        "| bench | kq ns/op | mio ns/op | kq/mio | kq min-max | mio min-max | kq/mio min-max |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        if r.mio.is_empty() {
            println!(
                "| {} | {} | - | - | {} | - | - |",
                r.name,
                ns(median(&r.kq)),
                range(&r.kq, ns)
            );
            continue;
        }
        let ratios: Vec<f64> = r.kq.iter().zip(&r.mio).map(|(k, m)| k / m).collect();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            ns(median(&r.kq)),
            ns(median(&r.mio)),
            ratio(median(&ratios)),
            range(&r.kq, ns),
            range(&r.mio, ns),
            range(&ratios, ratio),
        );
    }
}

fn curve() {
    // Size the runs on one thread; every thread then does the same number of operations.
    let ops = calibrate(&mut |n| contention(1, n).elapsed, CURVE_TARGET);
    let mut runs: Vec<Vec<Contention>> = vec![Vec::new(); CURVE_THREADS.len()];
    for _ in 0..CURVE_ROUNDS {
        for (i, &threads) in CURVE_THREADS.iter().enumerate() {
            runs[i].push(contention(threads, ops));
            progress("lock_contention");
        }
    }
    eprintln!("  lock_contention: done");
    println!();
    println!(
        "Lock contention: N threads on one Kqueue, {ops} ops each (register, trigger + collect, \
         delete: 3 kevent calls), median of {CURVE_ROUNDS} rounds by ops/s."
    );
    println!();
    println!(
        "| threads | ops/s | ops/s min-max | cores busy | collected | lock acq/op | contended % | \
         wait ns avg | wait ns max | hold ns avg | poll lock contended % |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let profiled = cfg!(feature = "lock-profiling");
    for (i, &threads) in CURVE_THREADS.iter().enumerate() {
        let mut rs = runs[i].clone();
        rs.sort_by(|a, b| a.ops_per_sec().total_cmp(&b.ops_per_sec()));
        let m = rs[rs.len() / 2];
        let rates: Vec<f64> = rs.iter().map(Contention::ops_per_sec).collect();
        let k = |x: f64| format!("{:.0}k", x / 1000.0);
        let (wait_avg, wait_max, hold_avg) = if profiled {
            (
                ns(m.lock.wait_ns_total as f64 / m.lock.contended.max(1) as f64),
                m.lock.wait_ns_max.to_string(),
                ns(m.lock.hold_ns_total as f64 / m.lock.acquisitions.max(1) as f64),
            )
        } else {
            ("-".into(), "-".into(), "-".into())
        };
        println!(
            "| {threads} | {} | {} | {:.2} | {:.1}% | {:.2} | {:.2}% | {wait_avg} | {wait_max} | {hold_avg} | \
             {:.2}% |",
            k(m.ops_per_sec()),
            range(&rates, k),
            m.cpu.as_secs_f64() / m.elapsed.as_secs_f64(),
            100.0 * m.collected as f64 / m.ops as f64,
            m.lock.acquisitions as f64 / m.ops as f64,
            100.0 * m.lock.contended_fraction(),
            100.0 * m.poll_lock.contended_fraction(),
        );
    }
    if !profiled {
        println!();
        println!("(wait and hold times: run with `--features lock-profiling`)");
    }
}

fn main() {
    let started = std::time::Instant::now();
    watchdog();
    println!(
        "# kq reactor vs raw mio ({}; {})",
        kq_benches::report::today(),
        kq_benches::report::machine()
    );
    println!();
    println!(
        "{ROUNDS} rounds, kq then mio in each; medians of ns/op, kq/mio = median of per-round \
         ratios. lock-profiling: {}.",
        if cfg!(feature = "lock-profiling") { "on" } else { "off" }
    );
    println!();

    let mut kq1 = KqUserRoundtrip::new().expect("kq set-up");
    let mut mio1 = MioUserRoundtrip::new().expect("mio set-up");
    let mut kq_churn = KqChurn::new().expect("kq set-up");
    let mut mio_churn = MioChurn::new().expect("mio set-up");
    let mut timers_0 = TimerArm::new(1000, 0).expect("kq set-up");
    let mut timers_100k = TimerArm::new(1000, 100_000).expect("kq set-up");
    let batch = timers_0.batch() as u64;

    let rows = [
        compare(
            "user_roundtrip_1thread",
            1,
            Box::new(|n| kq1.run(n)),
            Some(Box::new(|n| mio1.run(n))),
        ),
        compare(
            "user_roundtrip_2threads",
            1,
            Box::new(kq_ping_pong),
            Some(Box::new(mio_ping_pong)),
        ),
        compare(
            "registration_churn",
            1,
            Box::new(|n| kq_churn.run(n)),
            Some(Box::new(|n| mio_churn.run(n))),
        ),
        compare("timer_arm, per timer, 0 armed", batch, Box::new(|n| timers_0.run(n)), None),
        compare("timer_arm, per timer, 100k armed", batch, Box::new(|n| timers_100k.run(n)), None),
    ];
    print_rows(&rows);
    curve();
    println!();
    println!("(total run time {:.1} s)", started.elapsed().as_secs_f64());
}
