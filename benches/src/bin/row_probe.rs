//! `row_probe`: one runtime, one row of issue 13's runtime rows, N rounds, for profiling.
//!
//! `compare` interleaves kq and tokio in one process, which is what ratios need; a profiler
//! (`perf stat`, `perf record`, `strace -c`) needs one runtime alone. Each round builds a fresh
//! runtime, as a new user's program would.
//!
//! ```text
//! cargo run -p kq-benches --release --bin row_probe -- kq|tokio 5b|6b|6b-spawn WORKERS ROUNDS
//! perf stat -e 'syscalls:sys_enter_futex,context-switches' \
//!     target/release/row_probe kq 6b 2 20
//! ```
//!
//! Rows: `5b` ping-pong spawned from `block_on` (1,000 pairs), `6b` many short timers (20,000
//! sleeps of 1-20 ms from `block_on`), `6b-spawn` the time row 6b takes to spawn them.

use std::process::ExitCode;
use std::time::Duration;

use kq_benches::runtime_workloads::{kq, tk, PING_PONG_PAIRS, SHORT_TIMERS};

const USAGE: &str = "usage: row_probe kq|tokio 5b|6b|6b-spawn WORKERS ROUNDS";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [imp, row, workers, rounds] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let (Ok(workers), Ok(rounds)) = (workers.parse::<usize>(), rounds.parse::<usize>()) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if workers == 0 || rounds == 0 {
        eprintln!("{USAGE} (WORKERS and ROUNDS at least 1)");
        return ExitCode::from(2);
    }
    let run: fn(usize) -> Duration = match (imp.as_str(), row.as_str()) {
        ("kq", "5b") => |w| kq::ping_pong_block_on(&kq::build(w), PING_PONG_PAIRS),
        ("kq", "6b") => |w| kq::many_short_timers(&kq::build(w), SHORT_TIMERS),
        ("kq", "6b-spawn") => |w| kq::many_short_timers_spawn_phase(&kq::build(w), SHORT_TIMERS),
        ("tokio", "5b") => |w| tk::ping_pong_block_on(&tk::build(w), PING_PONG_PAIRS),
        ("tokio", "6b") => |w| tk::many_short_timers(&tk::build(w), SHORT_TIMERS),
        ("tokio", "6b-spawn") => |w| tk::many_short_timers_spawn_phase(&tk::build(w), SHORT_TIMERS),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut times: Vec<Duration> = (0..rounds).map(|_| run(workers)).collect();
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{imp} {row} [{workers}w]: median {:.0} us (min {:.0}, max {:.0}) over {rounds} rounds",
        us(times[rounds / 2]),
        us(times[0]),
        us(times[rounds - 1])
    );
    ExitCode::SUCCESS
}
