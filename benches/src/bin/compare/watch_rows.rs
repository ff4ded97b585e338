//! Row 14 of `compare`: kq's file watcher next to notify (its inotify backend, events awaited on
//! a tokio runtime), interleaved. The workloads live in `kq_benches::watch_workloads` (shared
//! with the `watch_compare` runner):
//! - the latency from a 1-byte append to its event, p50 and p99 of each round's appends;
//! - the time and resident memory to start watching a tree (100,000 files in 1,000
//!   directories), each in a fresh child process (this binary re-run with [`CHILD_ARG`]) so that
//!   memory freed by one watcher is not reused by the other.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kq_benches::progress::Progress;
use kq_benches::results::Row;
use kq_benches::watch_workloads::{self as ww, APPENDS, TREE_DIRS, TREE_FILES};

use super::Mode;

/// The argument of the tree child: `CHILD_ARG kq|notify ROOT`.
pub const CHILD_ARG: &str = "--watch-tree-child";

/// Appends per side and round, and the tree's directories and files per directory under `m`.
fn sizes(m: &Mode) -> (usize, usize, usize) {
    let appends = (APPENDS / 4 / m.divisor).max(5);
    if m.divisor > 1 {
        (appends, (TREE_DIRS / m.divisor).max(2), (TREE_FILES / m.divisor).max(2))
    } else {
        (appends, TREE_DIRS, TREE_FILES)
    }
}

/// Rounds of the tree figures (each a fresh process per side): at most 3.
fn tree_rounds(m: &Mode) -> usize {
    m.rounds.min(3)
}

/// The a-priori seconds of row 14.
pub fn weight(m: &Mode) -> f64 {
    let (appends, dirs, files) = sizes(m);
    m.rounds as f64 * (2.0 * appends as f64 * 1e-4 + 0.05)
        + tree_rounds(m) as f64 * 2.0 * (dirs * files) as f64 * 6e-6
        + (dirs * files) as f64 * 2e-5
}

/// The tree child: watches `root` with one watcher, prints `seconds rss_bytes`.
pub fn child(args: &[String]) -> Result<(), String> {
    let (which, root) = match args {
        [_, which, root, ..] => (which.as_str(), Path::new(root)),
        _ => return Err(format!("usage: {CHILD_ARG} kq|notify ROOT")),
    };
    let (took, grew) = if which == "kq" {
        let rt = kq_runtime::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let (took, grew, w) = ww::kq::watch_tree(&rt, root);
        drop(w);
        (took, grew)
    } else {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let (took, grew, w) = ww::nt::watch_tree(&rt, root);
        drop(w);
        (took, grew)
    };
    println!("{} {}", took.as_secs_f64(), grew);
    Ok(())
}

/// Runs the tree child for `which`: (seconds, MiB).
fn run_child(which: &str, root: &Path) -> Result<(f64, f64), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out =
        Command::new(exe).args([CHILD_ARG, which]).arg(root).output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    match (it.next().and_then(|s| s.parse().ok()), it.next().and_then(|s| s.parse::<f64>().ok())) {
        (Some(secs), Some(bytes)) => Ok((secs, bytes / (1024.0 * 1024.0))),
        _ => Err(format!(
            "tree child failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v.get(((v.len().max(1) - 1) as f64 * p).round() as usize)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}

/// Runs row 14.
pub fn run(m: &Mode, p: &mut Progress) -> Vec<Row> {
    let (appends, dirs, files) = sizes(m);
    let mut p50 = Row::new("14", "append 1 byte -> event, p50", "us", false).with_rival("notify");
    let mut p99 = Row::new("14", "append 1 byte -> event, p99", "us", false).with_rival("notify");
    let mut time =
        Row::new("14", format!("start watching {} files in {dirs} dirs", dirs * files), "s", false)
            .with_rival("notify");
    let mut mem = Row::new("14", "same: resident memory growth", "MiB", false).with_rival("notify");
    let latency = (|| -> std::io::Result<()> {
        let dir = ww::scratch_dir("latency")?;
        let file = dir.join("appended");
        std::fs::write(&file, b"")?;
        let kq_rt = kq_runtime::runtime::Builder::new_current_thread().enable_all().build()?;
        let tk_rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        ww::kq::latency(&kq_rt, &dir, &file, 5);
        ww::nt::latency(&tk_rt, &dir, &file, 5);
        for r in 0..m.rounds {
            let mut k = ww::kq::latency(&kq_rt, &dir, &file, appends);
            let mut n = ww::nt::latency(&tk_rt, &dir, &file, appends);
            let (k50, n50) = (percentile(&mut k, 0.5), percentile(&mut n, 0.5));
            let (k99, n99) = (percentile(&mut k, 0.99), percentile(&mut n, 0.99));
            p50.set_kq(r, Some(k50));
            p50.set_rival(r, Some(n50));
            p99.set_kq(r, Some(k99));
            p99.set_rival(r, Some(n99));
            p.step(
                2.0 * appends as f64 * 1e-4 + 0.05,
                &format!(
                    "row 14 append -> event round {}/{}: p50 kq {k50:.0} us, notify {n50:.0} us; p99 kq {k99:.0} us, notify {n99:.0} us",
                    r + 1,
                    m.rounds
                ),
            );
        }
        std::fs::remove_dir_all(&dir)
    })();
    p50.note = match latency {
        Ok(()) => format!("{appends} appends per side and round"),
        Err(e) => format!("failed: {e}"),
    };
    let tree = (|| -> std::io::Result<()> {
        let root = ww::scratch_dir("tree")?;
        ww::make_tree(&root, dirs, files)?;
        for r in 0..tree_rounds(m) {
            for (side, which) in [(0, "kq"), (1, "notify")] {
                let res = run_child(which, &root);
                let what = match &res {
                    Ok((secs, mib)) => format!("{secs:.2} s, {mib:.1} MiB"),
                    Err(e) => format!("failed: {e}"),
                };
                let (t, mb) = res.map_or((None, None), |(t, mb)| (Some(t), Some(mb)));
                if side == 0 {
                    time.set_kq(r, t);
                    mem.set_kq(r, mb);
                } else {
                    time.set_rival(r, t);
                    mem.set_rival(r, mb);
                }
                p.step(
                    (dirs * files) as f64 * 6e-6,
                    &format!(
                        "row 14 watch a {}-file tree round {}/{} {which}: {what}",
                        dirs * files,
                        r + 1,
                        tree_rounds(m)
                    ),
                );
            }
        }
        std::fs::remove_dir_all(&root)
    })();
    time.note = match tree {
        Ok(()) => format!("a fresh process per side and round, {} rounds", tree_rounds(m)),
        Err(e) => format!("failed: {e}"),
    };
    vec![p50, p99, time, mem]
}
