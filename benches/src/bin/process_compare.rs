//! Row 13 of BENCHMARKS.md (`process_spawn_wait`): spawn and wait for `true`, 500 times with 16
//! at a time and 1,000 at once, kq (`kq::process`) next to `tokio::process`, interleaved
//! A B A B in one run for 5 rounds, on multi-thread runtimes with 1 and 2 workers.
//!
//! `cargo run -p kq-benches --release --bin process_compare` (about a minute). Prints a markdown
//! table `| bench | workers | kq | tokio | kq/tokio |`: per-child times (the run's time divided
//! by its children), medians of the rounds, and the ratio of the medians with the min-max of the
//! per-round ratios. The workloads live in `src/process_workloads.rs` (to be folded into the
//! `compare` runner).

use std::time::Duration;

use kq_benches::process_workloads::{kq, raise_nofile, tk, BURST, POOL_TOTAL, POOL_WIDTH};

const ROUNDS: usize = 5;
const WORKERS: [usize; 2] = [1, 2];

struct Bench {
    name: &'static str,
    children: usize,
    kq: fn(&kq_runtime::Runtime) -> Duration,
    tokio: fn(&tokio::runtime::Runtime) -> Duration,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let nofile = raise_nofile();
    let benches = [
        Bench {
            name: "spawn+wait `true` x500, 16 at a time",
            children: POOL_TOTAL,
            kq: |rt| kq::pool(rt, POOL_TOTAL, POOL_WIDTH),
            tokio: |rt| tk::pool(rt, POOL_TOTAL, POOL_WIDTH),
        },
        Bench {
            name: "spawn+wait `true` x1000 at once",
            children: BURST,
            kq: |rt| kq::burst(rt, BURST),
            tokio: |rt| tk::burst(rt, BURST),
        },
    ];
    println!(
        "process_compare, {} on {} (RLIMIT_NOFILE {nofile}); {ROUNDS} rounds, kq and tokio \
         interleaved",
        kq_benches::report::today(),
        kq_benches::report::machine()
    );
    println!();
    println!("| bench | workers | kq | tokio | kq/tokio (min-max) |");
    println!("|---|---|---|---|---|");
    for workers in WORKERS {
        let kq_rt = kq_runtime::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
            .expect("kq runtime");
        let tk_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("tokio runtime");
        for b in &benches {
            // One warm-up run each (page cache, fd tables, the reaper thread).
            (b.kq)(&kq_rt);
            (b.tokio)(&tk_rt);
            let (mut k, mut t, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                let kd = (b.kq)(&kq_rt).as_secs_f64() * 1e6 / b.children as f64;
                let td = (b.tokio)(&tk_rt).as_secs_f64() * 1e6 / b.children as f64;
                k.push(kd);
                t.push(td);
                ratios.push(kd / td);
            }
            let (km, tm) = (median(&mut k), median(&mut t));
            ratios.sort_by(f64::total_cmp);
            println!(
                "| {} | {workers} | {km:.0} us/child | {tm:.0} us/child | {:.2} ({:.2}-{:.2}) |",
                b.name,
                km / tm,
                ratios[0],
                ratios[ratios.len() - 1]
            );
        }
    }
}
