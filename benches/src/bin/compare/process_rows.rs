//! Row 13 of `compare`: spawn and wait for `true`, 500 times with 16 at a time and 1,000 at
//! once, kq (`kq::process`) next to `tokio::process` on multi-thread runtimes with 1 and 2
//! workers, interleaved. The workloads live in `kq_benches::process_workloads` (shared with the
//! `process_compare` runner).

use kq_benches::process_workloads::{kq, raise_nofile, tk, BURST, POOL_TOTAL, POOL_WIDTH};
use kq_benches::progress::Progress;
use kq_benches::results::Row;

use super::runtime_rows::WORKERS;
use super::Mode;

/// The children of each figure under `m` (smoke: a few).
fn sizes(m: &Mode) -> (usize, usize) {
    ((POOL_TOTAL / m.divisor).max(POOL_WIDTH), (BURST / m.divisor).max(POOL_WIDTH))
}

/// The a-priori seconds of one round (both figures, both runtimes) at one worker count.
pub fn round_weight(m: &Mode) -> f64 {
    let (pool, burst) = sizes(m);
    2.0 * (pool + burst) as f64 * 1e-3
}

/// Runs row 13.
pub fn run(m: &Mode, p: &mut Progress) -> Vec<Row> {
    let nofile = raise_nofile();
    let (pool, burst) = sizes(m);
    let mut rows = Vec::new();
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
        let mut pool_row = Row::new(
            "13",
            format!("spawn+wait `true` x{pool}, {POOL_WIDTH} at a time [{workers}w]"),
            "us/child",
            false,
        )
        .with_rival("tokio::process");
        let mut burst_row = Row::new(
            "13",
            format!("spawn+wait `true` x{burst} at once [{workers}w]"),
            "us/child",
            false,
        )
        .with_rival("tokio::process");
        burst_row.note = format!("RLIMIT_NOFILE {nofile}");
        // One warm-up run each (page cache, fd tables, the reaper thread).
        kq::pool(&kq_rt, pool, POOL_WIDTH);
        tk::pool(&tk_rt, pool, POOL_WIDTH);
        for r in 0..m.rounds {
            let per = |d: std::time::Duration, n: usize| d.as_secs_f64() * 1e6 / n as f64;
            let (k1, t1) = (
                per(kq::pool(&kq_rt, pool, POOL_WIDTH), pool),
                per(tk::pool(&tk_rt, pool, POOL_WIDTH), pool),
            );
            let (k2, t2) =
                (per(kq::burst(&kq_rt, burst), burst), per(tk::burst(&tk_rt, burst), burst));
            pool_row.set_kq(r, Some(k1));
            pool_row.set_rival(r, Some(t1));
            burst_row.set_kq(r, Some(k2));
            burst_row.set_rival(r, Some(t2));
            p.step(
                round_weight(m),
                &format!(
                    "row 13 process_spawn_wait [{workers}w] round {}/{}: x{pool} kq {k1:.0} / tokio {t1:.0} us/child, x{burst} at once kq {k2:.0} / tokio {t2:.0} us/child",
                    r + 1,
                    m.rounds
                ),
            );
        }
        rows.push(pool_row);
        rows.push(burst_row);
    }
    rows
}
