//! Rows 1-6 (and 5b, 6b of issue 13) of `compare`: kq-runtime next to tokio, the same
//! workloads (`kq_benches::runtime_workloads`), multi-thread runtimes with 1 and 2 workers,
//! interleaved kq, tokio, kq, tokio ... for the mode's rounds.

use std::time::{Duration, Instant};

use kq_benches::progress::Progress;
use kq_benches::results::Row;
use kq_benches::runtime_workloads::*;
use kq_reactor::LockStats;

use super::Mode;

/// Worker counts of every runtime row.
pub const WORKERS: [usize; 2] = [1, 2];

/// A runtime workload: `(runtime, size divisor) -> (time, units of work done)`.
type Work<R> = fn(&R, usize) -> (Duration, usize);

/// One runtime bench, run at every worker count.
pub struct Bench {
    pub id: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    /// The figure is `time / units * scale` (1 for ns, 1e-3 for us, 1e-6 for ms).
    pub scale: f64,
    /// Report the reactor lock's statistics of the kq runs in the note (issue 13's rows).
    pub lock_note: bool,
    kq: Work<kq_runtime::Runtime>,
    tokio: Work<tokio::runtime::Runtime>,
}

/// `n / d`, at least 1.
fn div(n: usize, d: usize) -> usize {
    (n / d).max(1)
}

/// Every runtime bench, in table order.
pub fn benches() -> Vec<Bench> {
    macro_rules! b {
        ($id:literal, $name:literal, $unit:literal, $scale:expr, $lock:expr, |$d:ident| $call:ident($($arg:expr),*) => $units:expr) => {
            Bench {
                id: $id,
                name: $name,
                unit: $unit,
                scale: $scale,
                lock_note: $lock,
                kq: |rt, $d| (kq::$call(rt, $($arg),*), $units),
                tokio: |rt, $d| (tk::$call(rt, $($arg),*), $units),
            }
        };
    }
    vec![
        b!("1", "spawn_local (10k spawns inside)", "ns/task", 1.0, false,
            |d| spawn_local(div(SPAWNS, d)) => div(SPAWNS, d)),
        b!("2", "spawn_remote (10k spawns from outside)", "ns/task", 1.0, false,
            |d| spawn_remote(div(SPAWNS, d)) => div(SPAWNS, d)),
        b!("2", "spawn_remote, 2 outside threads", "ns/task", 1.0, false,
            |d| spawn_remote_2threads(div(SPAWNS, d)) => div(SPAWNS, d) / 2 * 2),
        b!("3", "chained_spawn (1000 deep)", "ns/hop", 1.0, false,
            |d| chained_spawn(div(CHAIN_DEPTH, d)) => div(CHAIN_DEPTH, d)),
        b!("4", "yield_many (200 tasks x 1000)", "ns/yield", 1.0, false,
            |d| yield_many(div(YIELD_TASKS, d), div(YIELDS_PER_TASK, d))
                => div(YIELD_TASKS, d) * div(YIELDS_PER_TASK, d)),
        b!("5", "ping_pong (1000 pairs, spawned in a task)", "us/iter", 1e-3, false,
            |d| ping_pong(div(PING_PONG_PAIRS, d)) => 1),
        b!("5b", "ping_pong spawned from block_on (1000 pairs)", "us/iter", 1e-3, true,
            |d| ping_pong_block_on(div(PING_PONG_PAIRS, d)) => 1),
        b!("6", "sleep create+poll+drop", "ns/op", 1.0, false,
            |d| sleep_poll_drop(div(TIMER_OPS, d)) => div(TIMER_OPS, d)),
        b!("6", "timeout(ready)", "ns/op", 1.0, false,
            |d| timeout_ready(div(TIMER_OPS, d)) => div(TIMER_OPS, d)),
        b!("6b", "many short timers (20k sleeps 1-20 ms from block_on)", "ms/iter", 1e-6, true,
            |d| many_short_timers(div(SHORT_TIMERS, d)) => 1),
    ]
}

/// The reactor lock's counters between two snapshots.
fn delta(after: LockStats, before: LockStats) -> LockStats {
    LockStats {
        acquisitions: after.acquisitions.saturating_sub(before.acquisitions),
        contended: after.contended.saturating_sub(before.contended),
        wait_ns_total: after.wait_ns_total.saturating_sub(before.wait_ns_total),
        wait_ns_max: after.wait_ns_max,
        hold_ns_total: after.hold_ns_total.saturating_sub(before.hold_ns_total),
        hold_ns_max: after.hold_ns_max,
    }
}

/// `lock_stats()` deltas as a note: per run, contended fraction, wait per acquisition.
fn lock_note(l: LockStats, runs: u64) -> String {
    let mut s = format!(
        "kq reactor lock per run: {:.0} acquisitions, {:.1}% contended",
        l.acquisitions as f64 / runs.max(1) as f64,
        100.0 * l.contended_fraction()
    );
    if cfg!(feature = "lock-profiling") {
        s.push_str(&format!(
            ", wait {:.0} ns/acquisition, hold {:.0} ns/acquisition",
            l.wait_ns_total as f64 / l.acquisitions.max(1) as f64,
            l.hold_ns_total as f64 / l.acquisitions.max(1) as f64
        ));
    }
    s
}

/// Runs `f` until `target` is spent (at least `min_reps` times): the mean per unit, scaled, and
/// the number of runs.
fn round(
    f: &mut dyn FnMut() -> (Duration, usize),
    target: Duration,
    min_reps: u32,
    scale: f64,
) -> (f64, u64) {
    let (mut spent, mut units, mut reps) = (Duration::ZERO, 0usize, 0u32);
    let start = Instant::now();
    while reps < min_reps || start.elapsed() < target {
        let (t, u) = f();
        spent += t;
        units += u;
        reps += 1;
    }
    (spent.as_nanos() as f64 / units.max(1) as f64 * scale, u64::from(reps))
}

/// The a-priori seconds of one round of one bench at one worker count.
pub fn round_weight(m: &Mode) -> f64 {
    2.0 * m.round_target.as_secs_f64() + 0.05
}

/// Runs the selected runtime benches, `p` reporting each round.
pub fn run(m: &Mode, p: &mut Progress) -> Vec<Row> {
    let mut rows = Vec::new();
    for bench in benches().into_iter().filter(|b| m.wants(b.id)) {
        for workers in WORKERS {
            let kq_rt = kq::build(workers);
            let tk_rt = tk::build(workers);
            // Warm-up, untimed.
            (bench.kq)(&kq_rt, m.divisor);
            (bench.tokio)(&tk_rt, m.divisor);
            let mut row =
                Row::new(bench.id, format!("{} [{workers}w]", bench.name), bench.unit, false);
            let before = kq_rt.metrics().reactor_lock;
            let mut kq_runs = 0;
            for r in 0..m.rounds {
                let (k, runs) = round(
                    &mut || (bench.kq)(&kq_rt, m.divisor),
                    m.round_target,
                    m.min_reps,
                    bench.scale,
                );
                kq_runs += runs;
                let (t, _) = round(
                    &mut || (bench.tokio)(&tk_rt, m.divisor),
                    m.round_target,
                    m.min_reps,
                    bench.scale,
                );
                row.set_kq(r, Some(k));
                row.set_rival(r, Some(t));
                p.step(
                    round_weight(m),
                    &format!(
                        "row {} {} [{workers}w] round {}/{}: kq {:.1} {u}, tokio {:.1} {u}",
                        bench.id,
                        bench.name,
                        r + 1,
                        m.rounds,
                        k,
                        t,
                        u = bench.unit
                    ),
                );
            }
            if bench.lock_note {
                row.note = lock_note(delta(kq_rt.metrics().reactor_lock, before), kq_runs);
            }
            rows.push(row);
        }
    }
    if m.wants("6") {
        for workers in WORKERS {
            rows.push(timers_macro(m, workers, p));
        }
    }
    rows
}

/// Row 6c: 10k sleeps of 1-50 ms, the total time per run; the lateness p50/p99 in the note.
fn timers_macro(m: &Mode, workers: usize, p: &mut Progress) -> Row {
    let n = (MACRO_TIMERS / m.divisor).max(1);
    let kq_rt = kq::build(workers);
    let tk_rt = tk::build(workers);
    kq::timers_macro(&kq_rt, n);
    tk::timers_macro(&tk_rt, n);
    let mut row = Row::new("6", format!("{n} sleeps of 1-50 ms [{workers}w]"), "ms/iter", false);
    let (mut kq_late, mut tk_late) = (Vec::new(), Vec::new());
    for r in 0..m.rounds {
        let (t, l) = kq::timers_macro(&kq_rt, n);
        row.set_kq(r, Some(t.as_secs_f64() * 1e3));
        kq_late.extend(l);
        let (t2, l) = tk::timers_macro(&tk_rt, n);
        row.set_rival(r, Some(t2.as_secs_f64() * 1e3));
        tk_late.extend(l);
        p.step(
            0.15,
            &format!(
                "row 6 timers_macro [{workers}w] round {}/{}: kq {:.1} ms, tokio {:.1} ms",
                r + 1,
                m.rounds,
                t.as_secs_f64() * 1e3,
                t2.as_secs_f64() * 1e3
            ),
        );
    }
    kq_late.sort_unstable();
    tk_late.sort_unstable();
    row.note = format!(
        "lateness p50 / p99: kq {:.2} / {:.2} ms, tokio {:.2} / {:.2} ms",
        quantile_ms(&kq_late, 0.5),
        quantile_ms(&kq_late, 0.99),
        quantile_ms(&tk_late, 0.5),
        quantile_ms(&tk_late, 0.99)
    );
    row
}
