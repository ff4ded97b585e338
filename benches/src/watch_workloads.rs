//! File-watcher workloads of BENCHMARKS.md row 14 (`file_watch_latency`), written once for kq
//! (`kq-fs-watch`) and once for `notify` (its inotify backend, events forwarded into a tokio
//! channel and awaited on a tokio runtime), so that the runner (`src/bin/watch_compare.rs`, to be
//! folded into `compare`) and any criterion bench measure the same code.
//!
//! - [`kq::latency`] / [`nt::latency`]: append 1 byte to a watched file, time until the watcher
//!   reports it, `n` times.
//! - [`kq::watch_tree`] / [`nt::watch_tree`]: the time to start watching a tree recursively and
//!   the resident memory that grew meanwhile (run each in a fresh process for honest memory).
//! - [`make_tree`]: the tree (`dirs` directories of `files` empty files).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Appends in one latency run.
pub const APPENDS: usize = 200;
/// Directories of the big tree.
pub const TREE_DIRS: usize = 1_000;
/// Files per directory of the big tree.
pub const TREE_FILES: usize = 100;

/// Makes `dirs` directories of `files` empty files under `root`.
///
/// # Errors
/// The file system's.
pub fn make_tree(root: &Path, dirs: usize, files: usize) -> io::Result<()> {
    for d in 0..dirs {
        let dir = root.join(format!("d{d:04}"));
        fs::create_dir(&dir)?;
        for f in 0..files {
            fs::File::create(dir.join(format!("f{f:04}")))?;
        }
    }
    Ok(())
}

/// A scratch directory on tmpfs when there is one (a busy disk would measure the disk).
///
/// # Errors
/// When no directory can be made.
pub fn scratch_dir(tag: &str) -> io::Result<PathBuf> {
    for base in ["/dev/shm", "/tmp"] {
        let dir = Path::new(base).join(format!("kq-watch-bench-{tag}-{}", std::process::id()));
        if fs::create_dir_all(&dir).is_ok() {
            return Ok(dir);
        }
    }
    Err(io::Error::other("no scratch directory"))
}

/// Resident set size of this process, in bytes (Linux `/proc/self/statm`; 0 elsewhere).
pub fn rss() -> u64 {
    let statm = fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * page
}

fn append(path: &Path) -> io::Result<()> {
    OpenOptions::new().append(true).open(path)?.write_all(b"x")
}

/// kq's watcher.
pub mod kq {
    use super::*;
    use futures_util::StreamExt;
    use kq_fs_watch::{EventKind, ModifyKind, RecursiveMode, Watcher};

    /// `n` latencies from a 1-byte append to `file` (in watched `dir`) to its Modify(Data).
    ///
    /// # Panics
    /// On a watcher or file-system error (a benchmark has nothing to report then).
    pub fn latency(rt: &kq_runtime::Runtime, dir: &Path, file: &Path, n: usize) -> Vec<Duration> {
        rt.block_on(async {
            let mut w = Watcher::new().expect("watcher");
            w.watch(dir, RecursiveMode::Recursive).expect("watch");
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let t0 = Instant::now();
                append(file).expect("append");
                loop {
                    let ev = w.next().await.expect("stream ended").expect("watch error");
                    if ev.kind == EventKind::Modify(ModifyKind::Data) && ev.paths[0] == file {
                        break;
                    }
                }
                out.push(t0.elapsed());
            }
            out
        })
    }

    /// Time to watch `root` recursively, and RSS growth; the watcher is returned alive.
    ///
    /// # Panics
    /// On a watch error.
    pub fn watch_tree(rt: &kq_runtime::Runtime, root: &Path) -> (Duration, u64, Watcher) {
        let _guard = rt.enter();
        let before = rss();
        let t0 = Instant::now();
        let mut w = Watcher::new().expect("watcher");
        w.watch(root, RecursiveMode::Recursive).expect("watch");
        let took = t0.elapsed();
        (took, rss().saturating_sub(before), w)
    }
}

/// notify's watcher (inotify on Linux), its events forwarded to a tokio task.
pub mod nt {
    use super::*;
    use notify::event::{DataChange, ModifyKind};
    use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

    fn watcher(
        tx: tokio::sync::mpsc::UnboundedSender<notify::Result<notify::Event>>,
    ) -> RecommendedWatcher {
        notify::recommended_watcher(move |ev| {
            let _ = tx.send(ev);
        })
        .expect("notify watcher")
    }

    /// As [`kq::latency`](super::kq::latency): a Modify(Data) event of `file` (notify's inotify
    /// backend reports `Modify(Data(Any))` for IN_MODIFY).
    ///
    /// # Panics
    /// On a watcher or file-system error.
    pub fn latency(
        rt: &tokio::runtime::Runtime,
        dir: &Path,
        file: &Path,
        n: usize,
    ) -> Vec<Duration> {
        rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let mut w = watcher(tx);
            w.watch(dir, RecursiveMode::Recursive).expect("watch");
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let t0 = Instant::now();
                append(file).expect("append");
                loop {
                    let ev = rx.recv().await.expect("channel closed").expect("watch error");
                    let data = matches!(
                        ev.kind,
                        EventKind::Modify(ModifyKind::Data(_)) | EventKind::Modify(ModifyKind::Any)
                    );
                    if data && ev.paths.iter().any(|p| p == file) {
                        break;
                    }
                    let _ = DataChange::Any;
                }
                out.push(t0.elapsed());
            }
            out
        })
    }

    /// As [`kq::watch_tree`](super::kq::watch_tree).
    ///
    /// # Panics
    /// On a watch error.
    pub fn watch_tree(
        rt: &tokio::runtime::Runtime,
        root: &Path,
    ) -> (Duration, u64, RecommendedWatcher) {
        let _guard = rt.enter();
        let before = rss();
        let t0 = Instant::now();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let mut w = watcher(tx);
        w.watch(root, RecursiveMode::Recursive).expect("watch");
        let took = t0.elapsed();
        (took, rss().saturating_sub(before), w)
    }
}
