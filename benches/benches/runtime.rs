//! Runtime micro benchmarks (BENCHMARKS.md rows 1-6): kq and tokio in one criterion group per
//! row, each with 1 and 2 workers (multi-thread runtimes), so that one report plots both.
//!
//! `cargo bench -p kq-benches --bench runtime` (about three minutes). Groups, throughput per
//! element:
//! - `spawn_local`: 10k spawns from inside a task, atomic countdown (per task).
//! - `spawn_remote`, `spawn_remote_2threads`: 10k spawns from outside (one thread, or two), all
//!   handles awaited (per task).
//! - `chained_spawn`: a 1000-deep chain of tasks each spawning the next (per hop).
//! - `yield_many`: 200 tasks x 1000 `yield_now` (per yield).
//! - `ping_pong`: 1000 pairs of tasks exchanging two oneshots, the same hand-written channel on
//!   both runtimes (per pair).
//! - `sleep_poll_drop`: a 1 s sleep created, polled once (armed) and dropped (per op).
//! - `timeout_ready`: `timeout(1 s, ready future)` (per op).
//! - `timers_macro`: 10k tasks sleeping 1-50 ms (per timer); the lateness p50/p99 of each
//!   runtime is printed before the group runs.
//!
//! The workloads live in `src/runtime_workloads.rs`, shared with the `compare` runner.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};

use kq_benches::runtime_workloads::{kq, tk};

const WORKERS: [usize; 2] = [1, 2];

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
    elements: usize,
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(elements as u64));
    g
}

/// Benchmarks `$f(&rt, args...)` (one timed iteration) on both runtimes at 1 and 2 workers.
macro_rules! both {
    ($c:expr, $group:literal, $elements:expr, $f:ident $(, $arg:expr)*) => {{
        let mut g = configure($c, $group, $elements);
        for workers in WORKERS {
            let rt = kq::build(workers);
            g.bench_with_input(BenchmarkId::new(kq::NAME, workers), &workers, |b, _| {
                b.iter_custom(|iters| (0..iters).map(|_| kq::$f(&rt, $($arg),*)).sum())
            });
            drop(rt);
            let rt = tk::build(workers);
            g.bench_with_input(BenchmarkId::new(tk::NAME, workers), &workers, |b, _| {
                b.iter_custom(|iters| (0..iters).map(|_| tk::$f(&rt, $($arg),*)).sum())
            });
        }
        g.finish();
    }};
}

fn spawn(c: &mut Criterion) {
    use kq_benches::runtime_workloads::SPAWNS;
    both!(c, "spawn_local", SPAWNS, spawn_local, SPAWNS);
    both!(c, "spawn_remote", SPAWNS, spawn_remote, SPAWNS);
    both!(c, "spawn_remote_2threads", SPAWNS, spawn_remote_2threads, SPAWNS);
    both!(
        c,
        "chained_spawn",
        kq_benches::runtime_workloads::CHAIN_DEPTH,
        chained_spawn,
        kq_benches::runtime_workloads::CHAIN_DEPTH
    );
}

fn scheduling(c: &mut Criterion) {
    use kq_benches::runtime_workloads::{PING_PONG_PAIRS, YIELDS_PER_TASK, YIELD_TASKS};
    both!(c, "yield_many", YIELD_TASKS * YIELDS_PER_TASK, yield_many, YIELD_TASKS, YIELDS_PER_TASK);
    both!(c, "ping_pong", PING_PONG_PAIRS, ping_pong, PING_PONG_PAIRS);
}

/// Prints the lateness p50/p99 of one macro run per runtime and worker count.
fn print_lateness() {
    use kq_benches::runtime_workloads::{quantile_ms, MACRO_TIMERS};
    for workers in WORKERS {
        let rt = kq::build(workers);
        let (_, kq_late) = kq::timers_macro(&rt, MACRO_TIMERS);
        drop(rt);
        let rt = tk::build(workers);
        let (_, tk_late) = tk::timers_macro(&rt, MACRO_TIMERS);
        drop(rt);
        println!(
            "timers_macro lateness, {workers} worker(s): kq p50 {:.3} ms p99 {:.3} ms | \
             tokio p50 {:.3} ms p99 {:.3} ms",
            quantile_ms(&kq_late, 0.5),
            quantile_ms(&kq_late, 0.99),
            quantile_ms(&tk_late, 0.5),
            quantile_ms(&tk_late, 0.99),
        );
    }
}

fn timers(c: &mut Criterion) {
    use kq_benches::runtime_workloads::{MACRO_TIMERS, TIMER_OPS};
    both!(c, "sleep_poll_drop", TIMER_OPS, sleep_poll_drop, TIMER_OPS);
    both!(c, "timeout_ready", TIMER_OPS, timeout_ready, TIMER_OPS);
    print_lateness();
    let mut g = configure(c, "timers_macro", MACRO_TIMERS);
    for workers in WORKERS {
        let rt = kq::build(workers);
        g.bench_with_input(BenchmarkId::new(kq::NAME, workers), &workers, |b, _| {
            b.iter_custom(|iters| (0..iters).map(|_| kq::timers_macro(&rt, MACRO_TIMERS).0).sum())
        });
        drop(rt);
        let rt = tk::build(workers);
        g.bench_with_input(BenchmarkId::new(tk::NAME, workers), &workers, |b, _| {
            b.iter_custom(|iters| (0..iters).map(|_| tk::timers_macro(&rt, MACRO_TIMERS).0).sum())
        });
    }
    g.finish();
}

mod harness {
    #![allow(missing_docs)]
    use super::*;
    criterion_group!(benches, spawn, scheduling, timers);
}

criterion_main!(harness::benches);
