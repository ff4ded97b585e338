//! Rows 7 and 8 of `compare`: the reactor next to the raw mio floor, and the lock question
//! (1, 2, 4 and 8 threads on one `Kqueue`). The workloads live in `kq_benches::reactor`.

use std::time::Duration;

use kq_benches::progress::Progress;
use kq_benches::reactor::{
    contention, kq_ping_pong, mio_ping_pong, Contention, KqChurn, KqUserRoundtrip, MioChurn,
    MioUserRoundtrip,
};
use kq_benches::results::{fmt_num, summary, Row};

use super::Mode;

/// Thread counts of row 8.
pub const THREADS: [usize; 4] = [1, 2, 4, 8];

/// A timed workload: `iters` operations in, elapsed time out.
type Run<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// The iteration count for which `run` takes about `target` (at least 16).
fn calibrate(run: &mut dyn FnMut(u64) -> Duration, target: Duration) -> u64 {
    let mut iters = 16u64;
    loop {
        let t = run(iters);
        if t >= target / 10 || iters >= 1 << 30 {
            let per_op = t.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per_op.max(1e-12)) as u64).max(16);
        }
        iters *= 4;
    }
}

/// Seconds of one row-7 round (kq and mio).
pub fn round_weight(m: &Mode) -> f64 {
    2.0 * m.reactor_target.as_secs_f64() + 0.02
}

/// Row 7: USER trigger -> collect in one thread and across two, and registration churn; kq vs
/// raw mio, interleaved.
pub fn row7(m: &Mode, p: &mut Progress) -> Vec<Row> {
    let mut kq1 = KqUserRoundtrip::new().expect("kq set-up");
    let mut mio1 = MioUserRoundtrip::new().expect("mio set-up");
    let mut kq_churn = KqChurn::new().expect("kq set-up");
    let mut mio_churn = MioChurn::new().expect("mio set-up");
    let benches: Vec<(&str, Run<'_>, Run<'_>)> = vec![
        ("USER trigger -> collect, 1 thread", Box::new(|n| kq1.run(n)), Box::new(|n| mio1.run(n))),
        ("USER ping-pong, 2 threads (round trip)", Box::new(kq_ping_pong), Box::new(mio_ping_pong)),
        (
            "registration churn (EV_ADD + EV_DELETE of a pipe)",
            Box::new(|n| kq_churn.run(n)),
            Box::new(|n| mio_churn.run(n)),
        ),
    ];
    let mut rows = Vec::new();
    for (name, mut kq, mut mio) in benches {
        let kq_iters = calibrate(&mut kq, m.reactor_target);
        let mio_iters = calibrate(&mut mio, m.reactor_target);
        let mut row = Row::new("7", name, "ns/op", false).with_rival("mio");
        for r in 0..m.rounds {
            let k = kq(kq_iters).as_nanos() as f64 / kq_iters as f64;
            let o = mio(mio_iters).as_nanos() as f64 / mio_iters as f64;
            row.set_kq(r, Some(k));
            row.set_rival(r, Some(o));
            p.step(
                round_weight(m),
                &format!("row 7 {name} round {}/{}: kq {k:.0} ns, mio {o:.0} ns", r + 1, m.rounds),
            );
        }
        rows.push(row);
    }
    rows
}

/// Row 8's measurements: the runs per thread count, and the operations per thread.
pub struct LockCurve {
    /// Operations per thread of every run.
    pub ops: u64,
    /// Runs per entry of [`THREADS`].
    pub runs: Vec<Vec<Contention>>,
}

/// Seconds of one row-8 round (every thread count once).
pub fn lock_round_weight(m: &Mode) -> f64 {
    // The work is the same per thread: n threads take about n times as long on 2 cores.
    THREADS.iter().sum::<usize>() as f64 * m.lock_target.as_secs_f64() / 2.0
}

/// Row 8: every thread count once per round, the same operations per thread.
pub fn row8(m: &Mode, p: &mut Progress) -> LockCurve {
    let ops = calibrate(&mut |n| contention(1, n).elapsed, m.lock_target);
    let mut runs: Vec<Vec<Contention>> = vec![Vec::new(); THREADS.len()];
    for r in 0..m.rounds {
        for (i, &threads) in THREADS.iter().enumerate() {
            let c = contention(threads, ops);
            p.step(
                lock_round_weight(m) * threads as f64 / THREADS.iter().sum::<usize>() as f64,
                &format!(
                    "row 8 lock_contention round {}/{} {threads} threads: {} ops/s, {:.1}% contended",
                    r + 1,
                    m.rounds,
                    fmt_num(c.ops_per_sec()),
                    100.0 * c.lock.contended_fraction()
                ),
            );
            runs[i].push(c);
        }
    }
    LockCurve { ops, runs }
}

impl LockCurve {
    /// The median run (by ops/s) of thread-count entry `i`.
    pub fn median(&self, i: usize) -> Contention {
        let mut rs = self.runs[i].clone();
        rs.sort_by(|a, b| a.ops_per_sec().total_cmp(&b.ops_per_sec()));
        rs[rs.len() / 2]
    }

    /// The markdown table of row 8.
    pub fn markdown(&self) -> String {
        let profiled = cfg!(feature = "lock-profiling");
        let mut s = format!(
            "Row 8: N threads on one `Kqueue`, {} operations each (register, trigger + collect, \
             delete: three `kevent` calls); the median run of {} by ops/s. lock-profiling: {}.\n\n",
            self.ops,
            self.runs.first().map_or(0, Vec::len),
            if profiled {
                "on"
            } else {
                "off (wait and hold times need `--features lock-profiling`)"
            }
        );
        s.push_str(
            "| threads | ops/s (min-max) | cores busy | lock acquisitions/op | contended % | \
             wait ns per acquisition | wait ns per contended acquisition | hold ns per acquisition \
             | lock held, % of wall time | poll lock contended % |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for (i, threads) in THREADS.iter().enumerate() {
            let m = self.median(i);
            let rates: Vec<f64> = self.runs[i].iter().map(Contention::ops_per_sec).collect();
            let (_, lo, hi) = summary(&rates).unwrap_or_default();
            let (wait, wait_c, hold, held) = if profiled {
                let acq = m.lock.acquisitions.max(1) as f64;
                (
                    format!("{:.1}", m.lock.wait_ns_total as f64 / acq),
                    format!("{:.0}", m.lock.wait_ns_total as f64 / m.lock.contended.max(1) as f64),
                    format!("{:.1}", m.lock.hold_ns_total as f64 / acq),
                    format!(
                        "{:.0}%",
                        100.0 * m.lock.hold_ns_total as f64 / m.elapsed.as_nanos().max(1) as f64
                    ),
                )
            } else {
                ("-".into(), "-".into(), "-".into(), "-".into())
            };
            s.push_str(&format!(
                "| {threads} | {} ({}-{}) | {:.2} | {:.2} | {:.1}% | {wait} | {wait_c} | {hold} | {held} | {:.1}% |\n",
                fmt_num(m.ops_per_sec()),
                fmt_num(lo),
                fmt_num(hi),
                m.cpu.as_secs_f64() / m.elapsed.as_secs_f64(),
                m.lock.acquisitions as f64 / m.ops as f64,
                100.0 * m.lock.contended_fraction(),
                100.0 * m.poll_lock.contended_fraction(),
            ));
        }
        s
    }

    /// One summary line for the main table.
    pub fn summary_row(&self) -> Row {
        let first = self.median(0);
        let last = self.median(THREADS.len() - 1);
        let worst = (0..THREADS.len())
            .map(|i| self.median(i).lock.contended_fraction())
            .fold(0.0, f64::max);
        Row::unavailable(
            "8",
            "lock_contention (1-8 threads on one Kqueue)",
            "-",
            &format!(
                "no rival: {} ops/s at 1 thread, {} at 8; up to {:.1}% of acquisitions contended \
                 (table below)",
                fmt_num(first.ops_per_sec()),
                fmt_num(last.ops_per_sec()),
                100.0 * worst
            ),
        )
    }
}
