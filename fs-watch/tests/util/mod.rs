//! Helpers of the fs-watch tests: a runtime per test, collecting events until a condition holds
//! (with a generous deadline, so that a lost event fails the test instead of hanging it).
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kq_fs_watch::{Event, EventKind, FileType, ModifyKind, Watcher};

/// How long an expected event may take before the test calls it lost.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Runs `f` on a thread of its own, so that a hang (a watcher spinning) fails the test after
/// 60 s instead of stalling the suite.
pub fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(r) => r,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("the watcher hangs"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the test thread panicked (above)")
        }
    }
}

/// Runs `f` on a current-thread kq runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    kq_runtime::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// Runs `f` on a multi-thread kq runtime with 2 workers.
pub fn block_on_mt<F: Future + Send + 'static>(f: F) -> F::Output
where
    F::Output: Send,
{
    let rt = kq_runtime::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move { kq_runtime::spawn(f).await.unwrap() })
}

/// What a test saw: events and error items, in order.
#[derive(Debug, Default)]
pub struct Seen {
    pub events: Vec<Event>,
    pub errors: Vec<io::Error>,
    pub ended: bool,
}

impl Seen {
    /// Does an event of `kind` name `path` (as its first path)?
    pub fn has(&self, kind: &EventKind, path: &Path) -> bool {
        self.events
            .iter()
            .any(|e| &e.kind == kind && e.paths.first().map(PathBuf::as_path) == Some(path))
    }

    /// The events about `path` (any of their paths), as (kind, type) pairs.
    pub fn about(&self, path: &Path) -> Vec<EventKind> {
        self.events
            .iter()
            .filter(|e| e.paths.iter().any(|p| p == path))
            .map(|e| e.kind.clone())
            .collect()
    }

    /// How many events of `kind` name `path` first.
    pub fn count(&self, kind: &EventKind, path: &Path) -> usize {
        self.events
            .iter()
            .filter(|e| &e.kind == kind && e.paths.first().map(PathBuf::as_path) == Some(path))
            .count()
    }
}

/// Collects until `done(&seen)` holds, the stream ends, or LIMIT passes.
pub async fn until(w: &mut Watcher, mut done: impl FnMut(&Seen) -> bool) -> Seen {
    until_for(w, LIMIT, &mut done).await
}

/// As [`until`], with its own limit.
pub async fn until_for(
    w: &mut Watcher,
    limit: Duration,
    mut done: impl FnMut(&Seen) -> bool,
) -> Seen {
    let deadline = Instant::now() + limit;
    let mut seen = Seen::default();
    while !done(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match kq_runtime::time::timeout(left, w.next()).await {
            Ok(Some(Ok(ev))) => seen.events.push(ev),
            Ok(Some(Err(e))) => seen.errors.push(e),
            Ok(None) => {
                seen.ended = true;
                break;
            }
            Err(_) => break,
        }
    }
    seen
}

/// Collects until an event of `kind` for `path` arrives (asserting that it does).
pub async fn expect(w: &mut Watcher, kind: EventKind, path: &Path) -> Seen {
    // Only the newest event needs a look (a full scan each time would be quadratic).
    let hit = |e: &Event| e.kind == kind && e.paths.first().map(PathBuf::as_path) == Some(path);
    let seen = until(w, |s| s.events.last().is_some_and(hit)).await;
    assert!(
        seen.events.last().is_some_and(hit),
        "expected {kind:?} {}: saw {:#?}",
        path.display(),
        seen
    );
    seen
}

/// Creates a file in `dir` and waits for its Create: every change made in `dir` before it has
/// been reported by then (the diff that finds it sees them too).
pub async fn sync(w: &mut Watcher, dir: &Path, tag: &str) -> Seen {
    let marker = dir.join(format!(".sync-{tag}"));
    std::fs::write(&marker, b"").unwrap();
    let mut seen = expect(w, EventKind::Create, &marker).await;
    // The rest of the marker's batch (a diff reports a directory's names in order, and the
    // marker's may come first).
    use futures_util::FutureExt;
    while let Some(Some(item)) = w.next().now_or_never() {
        match item {
            Ok(ev) => seen.events.push(ev),
            Err(e) => seen.errors.push(e),
        }
    }
    seen
}

pub const DATA: EventKind = EventKind::Modify(ModifyKind::Data);
pub const META: EventKind = EventKind::Modify(ModifyKind::Metadata);

pub fn rename(from: &Path, to: &Path) -> EventKind {
    EventKind::Rename { from: from.to_path_buf(), to: to.to_path_buf() }
}

/// A watcher on a fresh temporary directory (its path canonical, so events match).
pub fn watched_tempdir() -> io::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().canonicalize()?;
    Ok((dir, path))
}

/// The checks built on these helpers read Linux's `/proc`. Where it is missing (the BSDs,
/// macOS: the suites compile there), they would find nothing and pass without checking: they
/// fail instead, naming what to port.
pub fn require_linux_proc(what: &str) {
    assert!(
        std::path::Path::new("/proc/self/stat").exists(),
        "{what} reads Linux's /proc, which this system does not have: port the check first"
    );
}

/// Count of open descriptors of this process.
pub fn open_fds() -> usize {
    require_linux_proc("open_fds");
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

pub fn is_type(ev: &Event, t: FileType) -> bool {
    ev.file_type == Some(t)
}

/// Count of this process's descriptors open on `path` or below it (other tests of the binary
/// run in parallel, so a plain count would see their descriptors too).
pub fn fds_under(path: &Path) -> usize {
    require_linux_proc("fds_under");
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return 0 };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.starts_with(path))
        .count()
}

/// A watcher's view of a tree, built from its events: Create adds a path, Remove takes it (and
/// anything below) away, Rename moves it and everything below.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Model(pub std::collections::BTreeSet<PathBuf>);

impl Model {
    /// Everything below `root` on disk now (not `root` itself).
    pub fn of_disk(root: &Path) -> Model {
        let mut set = std::collections::BTreeSet::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(p.clone());
                }
                set.insert(p);
            }
        }
        Model(set)
    }

    pub fn apply(&mut self, ev: &Event) {
        match &ev.kind {
            EventKind::Create => {
                self.0.insert(ev.paths[0].clone());
            }
            EventKind::Remove => {
                let p = &ev.paths[0];
                self.0.retain(|q| !q.starts_with(p));
            }
            EventKind::Rename { from, to } => {
                let moved: Vec<PathBuf> =
                    self.0.iter().filter(|q| q.starts_with(from)).cloned().collect();
                for q in moved {
                    self.0.remove(&q);
                    self.0.insert(to.join(q.strip_prefix(from).unwrap()));
                }
                self.0.insert(to.clone());
            }
            EventKind::Modify(_) | EventKind::Rescan => {}
        }
    }

    /// What differs from `other`, for a readable assertion message.
    pub fn diff<'a>(&'a self, other: &'a Model) -> (Vec<&'a PathBuf>, Vec<&'a PathBuf>) {
        (
            self.0.difference(&other.0).take(10).collect(),
            other.0.difference(&self.0).take(10).collect(),
        )
    }
}

/// A temporary directory on tmpfs (`/dev/shm`) when there is one: creating 100,000 files there
/// takes a second, where a busy ext4 `/tmp` can take minutes. Falls back to the default.
pub fn fast_tempdir() -> io::Result<(tempfile::TempDir, PathBuf)> {
    let dir = match tempfile::Builder::new().prefix("kq-fs-watch").tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(_) => tempfile::tempdir()?,
    };
    let path = dir.path().canonicalize()?;
    Ok((dir, path))
}
