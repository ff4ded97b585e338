//! Row 14 of BENCHMARKS.md (`file_watch_latency`): kq's file watcher next to notify (on tokio),
//! interleaved in one run.
//!
//! `cargo run -p kq-benches --release --bin watch_compare` (about a minute). Two figures:
//! - latency from a 1-byte append to its event, 200 appends each, in 4 interleaved rounds of 50
//!   (kq, notify, kq, ...), p50 and p99;
//! - time and resident memory to start watching 100,000 files in 1,000 directories, each
//!   measured in a fresh child process (this binary re-run) so that memory freed by one watcher
//!   is not reused by the other, 3 interleaved rounds, medians.
//!
//! The tree lives on tmpfs (`/dev/shm`) when there is one. The workloads are in
//! `src/watch_workloads.rs` (to be folded into `compare`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kq_benches::watch_workloads::{self as ww, APPENDS, TREE_DIRS, TREE_FILES};

const LATENCY_ROUNDS: usize = 4;
const TREE_ROUNDS: usize = 3;
const CHILD_ARG: &str = "--tree-child";

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The child role: watch the tree with one watcher, print "seconds rss_bytes".
fn child(which: &str, root: &Path) {
    let (took, grew) = match which {
        "kq" => {
            let rt = kq_runtime::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            let (took, grew, w) = ww::kq::watch_tree(&rt, root);
            drop(w);
            (took, grew)
        }
        _ => {
            let rt =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
            let (took, grew, w) = ww::nt::watch_tree(&rt, root);
            drop(w);
            (took, grew)
        }
    };
    println!("{} {}", took.as_secs_f64(), grew);
}

fn run_child(which: &str, root: &Path) -> (f64, f64) {
    let out = Command::new(std::env::current_exe().expect("exe"))
        .args([CHILD_ARG, which])
        .arg(root)
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let secs: f64 = it.next().and_then(|s| s.parse().ok()).expect("child output");
    let bytes: f64 = it.next().and_then(|s| s.parse().ok()).expect("child output");
    (secs, bytes / (1024.0 * 1024.0))
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(CHILD_ARG) {
        child(&args[2], Path::new(&args[3]));
        return Ok(());
    }
    println!(
        "watch_compare, {} on {}; kq and {} interleaved",
        kq_benches::report::today(),
        kq_benches::report::machine(),
        notify_version()
    );
    println!();

    // Latency.
    let dir = ww::scratch_dir("latency")?;
    let file = dir.join("appended");
    std::fs::write(&file, b"")?;
    let kq_rt = kq_runtime::runtime::Builder::new_current_thread().enable_all().build()?;
    let tk_rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    ww::kq::latency(&kq_rt, &dir, &file, 10);
    ww::nt::latency(&tk_rt, &dir, &file, 10);
    let (mut k, mut n) = (Vec::new(), Vec::new());
    for _ in 0..LATENCY_ROUNDS {
        k.extend(ww::kq::latency(&kq_rt, &dir, &file, APPENDS / LATENCY_ROUNDS));
        n.extend(ww::nt::latency(&tk_rt, &dir, &file, APPENDS / LATENCY_ROUNDS));
    }
    std::fs::remove_dir_all(&dir)?;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (k50, k99) = (percentile(&mut k, 0.5), percentile(&mut k, 0.99));
    let (n50, n99) = (percentile(&mut n, 0.5), percentile(&mut n, 0.99));
    println!("| bench | kq | notify | kq/notify |");
    println!("|---|---|---|---|");
    println!(
        "| 1-byte append -> event, p50 ({APPENDS} appends) | {:.0} us | {:.0} us | {:.2} |",
        us(k50),
        us(n50),
        us(k50) / us(n50)
    );
    println!(
        "| 1-byte append -> event, p99 | {:.0} us | {:.0} us | {:.2} |",
        us(k99),
        us(n99),
        us(k99) / us(n99)
    );

    // The big tree.
    let root = ww::scratch_dir("tree")?;
    ww::make_tree(&root, TREE_DIRS, TREE_FILES)?;
    let (mut kt, mut km, mut nt, mut nm) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..TREE_ROUNDS {
        let (t, m) = run_child("kq", &root);
        kt.push(t);
        km.push(m);
        let (t, m) = run_child("notify", &root);
        nt.push(t);
        nm.push(m);
    }
    std::fs::remove_dir_all(&root)?;
    let (kt, km, nt, nm) = (median(&mut kt), median(&mut km), median(&mut nt), median(&mut nm));
    let files = TREE_DIRS * TREE_FILES;
    println!(
        "| watch {files} files in {TREE_DIRS} dirs: time (median of {TREE_ROUNDS}) | {kt:.2} s | {nt:.2} s | {:.2} |",
        kt / nt
    );
    println!("| same: RSS growth | {km:.1} MiB | {nm:.1} MiB | {:.2} |", km / nm.max(0.01));
    Ok(())
}

fn notify_version() -> &'static str {
    "notify 8 (inotify backend)"
}
