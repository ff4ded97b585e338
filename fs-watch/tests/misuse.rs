//! What a careless or hostile user does: bad paths, double watches, files as roots, dropping the
//! watcher mid-stream, odd bytes in names, deep trees, symlink loops, filters and debounce.
// Unix-only: kq-fs-watch's Watcher does not exist on Windows.
#![cfg(unix)]
mod util;

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use kq_fs_watch::{EventKind, FileType, PathFilter, RecursiveMode, Watcher};
use util::*;

#[test]
fn a_missing_path_is_not_found_naming_it() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    block_on(async move {
        let mut w = Watcher::new()?;
        let missing = root.join("no/such/dir");
        let err = w.watch(&missing, RecursiveMode::Recursive).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains(&*missing.to_string_lossy()), "{err}");
        assert!(w.watch("", RecursiveMode::Recursive).is_err());
        assert!(w.watched_paths().is_empty());
        Ok(())
    })
}

#[test]
fn watching_twice_and_unwatching_what_is_not_watched() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let counts = w.watch_counts();
        w.watch(&root, RecursiveMode::Recursive)?;
        assert_eq!(w.watch_counts(), counts, "a second watch adds nothing");
        assert_eq!(w.watched_paths(), vec![root.clone()]);
        let f = root.join("once");
        fs::write(&f, b"")?;
        let seen = expect(&mut w, EventKind::Create, &f).await;
        let seen2 = sync(&mut w, &root, "twice").await;
        assert_eq!(seen.count(&EventKind::Create, &f) + seen2.count(&EventKind::Create, &f), 1);

        let err = w.unwatch(root.join("elsewhere")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("elsewhere"), "{err}");
        w.unwatch(&root)?;
        assert!(w.watched_paths().is_empty());
        assert_eq!(w.watch_counts(), (0, 0), "every knote and fd released");
        assert_eq!(w.unwatch(&root).unwrap_err().kind(), io::ErrorKind::NotFound);
        // Nothing more comes, and the stream does not end: another watch may follow.
        fs::write(root.join("after"), b"")?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let g = root.join("again");
        fs::write(&g, b"")?;
        let seen = expect(&mut w, EventKind::Create, &g).await;
        assert!(seen.about(&root.join("after")).is_empty(), "{seen:#?}");
        Ok(())
    })
}

#[test]
fn a_file_can_be_watched_through_saves_until_it_goes() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    let f = root.join("settings.json");
    fs::write(&f, b"{}")?;
    fs::write(root.join("sibling"), b"")?;
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&f, RecursiveMode::Recursive)?;
        fs::write(root.join("sibling"), b"noise")?;
        fs::write(&f, b"{\"a\":1}")?;
        let seen = expect(&mut w, DATA, &f).await;
        assert!(seen.about(&root.join("sibling")).is_empty(), "{seen:#?}");
        // An atomic save over it: still watched.
        let tmp = root.join("settings.json.tmp");
        fs::write(&tmp, b"{\"a\":2}")?;
        fs::rename(&tmp, &f)?;
        expect(&mut w, DATA, &f).await;
        fs::write(&f, b"{\"a\":3, \"b\":4}")?;
        expect(&mut w, DATA, &f).await;
        fs::remove_file(&f)?;
        let seen = until(&mut w, |s| s.ended).await;
        assert!(seen.has(&EventKind::Remove, &f) && seen.ended, "{seen:#?}");
        Ok(())
    })
}

#[test]
fn dropping_the_watcher_mid_stream_releases_everything() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    for i in 0..20 {
        fs::create_dir_all(root.join(format!("d{i}/e")))?;
    }
    block_on(async move {
        let before = fds_under(&root);
        assert_eq!(before, 0);
        for round in 0..5 {
            let mut w = Watcher::new()?;
            w.watch(&root, RecursiveMode::Recursive)?;
            assert_eq!(w.watch_counts().0, 41, "41 directories watched");
            assert_eq!(fds_under(&root), 41, "41 directories open");
            for i in 0..50 {
                fs::write(root.join(format!("d{}/f{round}-{i}", i % 20)), b"x")?;
            }
            // Take a few events, leave the rest queued, drop.
            let first = w.next().await;
            assert!(matches!(first, Some(Ok(_))), "{first:?}");
            drop(w);
            assert_eq!(fds_under(&root), 0, "round {round}: fds released");
        }
        // The runtime still works and a new watcher sees changes.
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let f = root.join("d3/e/after-drop");
        fs::write(&f, b"")?;
        expect(&mut w, EventKind::Create, &f).await;
        Ok(())
    })
}

#[test]
fn names_that_are_not_utf8_are_reported_byte_exact() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let odd = OsStr::from_bytes(b"caf\xe9 \n\t*?[ \xff\xfe");
        let dir = root.join(OsStr::from_bytes(b"d\x80ir"));
        fs::create_dir(&dir)?;
        let f = dir.join(odd);
        fs::write(&f, b"")?;
        expect(&mut w, EventKind::Create, &f).await;
        let g = root.join(OsStr::from_bytes(b"-leading dash \x01"));
        fs::rename(&f, &g)?;
        expect(&mut w, rename(&f, &g), &f).await;
        Ok(())
    })
}

#[test]
fn deep_trees_are_watched_to_the_bottom() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    // 300 levels: past PATH_MAX (4096 bytes) in total length, as the names are 20 bytes.
    let mut deep = root.clone();
    for i in 0..300 {
        deep.push(format!("level-{i:05}-xxxxxxxx"));
    }
    // create_dir_all cannot make paths past PATH_MAX: go down with relative paths from a fd.
    mkdir_deep(&root, 300)?;
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        assert_eq!(w.watch_counts().0, 301);
        touch_deep(&root, 300, "bottom")?;
        let f = deep.join("bottom");
        expect(&mut w, EventKind::Create, &f).await;
        Ok(())
    })
}

fn mkdir_deep(root: &std::path::Path, levels: usize) -> io::Result<()> {
    let mut dir = fs::File::open(root)?;
    for i in 0..levels {
        let name = std::ffi::CString::new(format!("level-{i:05}-xxxxxxxx")).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: valid C string, fd we own.
        if unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above; the result is a new fd we own.
        let fd = unsafe {
            libc::openat(dir.as_raw_fd(), name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        use std::os::fd::FromRawFd;
        // SAFETY: fresh fd.
        dir = unsafe { fs::File::from_raw_fd(fd) };
    }
    Ok(())
}

fn touch_deep(root: &std::path::Path, levels: usize, name: &str) -> io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut dir = fs::File::open(root)?;
    for i in 0..levels {
        let n = std::ffi::CString::new(format!("level-{i:05}-xxxxxxxx")).unwrap();
        // SAFETY: valid C string; new fd or -1.
        let fd = unsafe {
            libc::openat(dir.as_raw_fd(), n.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh fd.
        dir = unsafe { fs::File::from_raw_fd(fd) };
    }
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid C string; new fd or -1.
    let fd =
        unsafe { libc::openat(dir.as_raw_fd(), n.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o644) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd, closed here.
    unsafe { libc::close(fd) };
    Ok(())
}

#[test]
fn symlink_loops_are_detected_when_following() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    fs::create_dir_all(root.join("a/b"))?;
    std::os::unix::fs::symlink(root.join("a"), root.join("a/b/up"))?;
    fs::create_dir(root.join("target"))?;
    fs::write(root.join("target/t"), b"")?;
    std::os::unix::fs::symlink(root.join("target"), root.join("link"))?;
    block_on(async move {
        let mut w = Watcher::builder().follow_symlinks(true).build()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let seen = until_for(&mut w, Duration::from_secs(5), |s| !s.errors.is_empty()).await;
        let msg = seen.errors.first().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("symlink loop") && msg.contains("up"), "{seen:#?}");
        // The followed link is watched under its own path.
        let via = root.join("link/new");
        fs::write(root.join("target/new"), b"")?;
        let seen = until(&mut w, |s| s.has(&EventKind::Create, &via)).await;
        assert!(seen.has(&EventKind::Create, &via), "{seen:#?}");

        // Without following, the links are plain entries.
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        assert_eq!(w.watch_counts().0, 4, "root, a, a/b, target");
        let l2 = root.join("l2");
        std::os::unix::fs::symlink("nowhere", &l2)?;
        let seen = expect(&mut w, EventKind::Create, &l2).await;
        assert_eq!(seen.events.last().unwrap().file_type, Some(FileType::Symlink));
        Ok(())
    })
}

#[test]
fn glob_and_predicate_filters() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    fs::create_dir(root.join("src"))?;
    block_on(async move {
        let mut w = Watcher::builder().filter(PathFilter::glob("*.rs")?).build()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let mut p = Watcher::builder()
            .filter(|p: &std::path::Path| p.extension().is_some_and(|e| e == "md"))
            .build()?;
        p.watch(&root, RecursiveMode::Recursive)?;
        fs::write(root.join("src/skip.txt"), b"")?;
        fs::write(root.join("README.md"), b"")?;
        let rs = root.join("src/sub/deep.rs");
        fs::create_dir(root.join("src/sub"))?;
        fs::write(&rs, b"")?;
        let seen = expect(&mut w, EventKind::Create, &rs).await;
        let paths: Vec<&PathBuf> = seen.events.iter().flat_map(|e| &e.paths).collect();
        assert!(paths.iter().all(|p| p.extension().is_some_and(|e| e == "rs")), "{seen:#?}");
        let seen = expect(&mut p, EventKind::Create, &root.join("README.md")).await;
        assert_eq!(seen.events.len(), 1, "{seen:#?}");
        assert_eq!(PathFilter::glob("[oops").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        Ok(())
    })
}

#[test]
fn debounce_coalesces_a_burst_of_writes() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    let f = root.join("busy.log");
    fs::write(&f, b"")?;
    block_on(async move {
        let mut w = Watcher::builder().debounce(Duration::from_millis(300)).build()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        use std::io::Write;
        let mut file = fs::OpenOptions::new().append(true).open(&f)?;
        for _ in 0..100 {
            file.write_all(b"line\n")?;
        }
        let seen = expect(&mut w, DATA, &f).await;
        let seen2 = sync(&mut w, &root, "debounce").await;
        let n = seen.count(&DATA, &f) + seen2.count(&DATA, &f);
        // The writes take far less than 300 ms; even on a loaded machine, far fewer than 100.
        assert!(n < 10, "{n} Modify events for 100 writes: {seen:#?}");
        Ok(())
    })
}

#[test]
fn outside_a_runtime_watch_says_so() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    let mut w = Watcher::new()?;
    let err = w.watch(&root, RecursiveMode::Recursive).unwrap_err();
    assert!(err.to_string().contains("runtime"), "{err}");
    // Built outside, used inside: fine.
    block_on(async move {
        w.watch(&root, RecursiveMode::Recursive)?;
        let f = root.join("x");
        fs::write(&f, b"")?;
        expect(&mut w, EventKind::Create, &f).await;
        Ok(())
    })
}

/// A minimal executor of its own: the watcher polled on a plain thread, away from the kq
/// runtime it registered with (which keeps running), through its timers too (debounce).
#[test]
fn polled_from_another_executor() -> io::Result<()> {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    /// Polls `f` until it is ready, or None after LIMIT.
    fn block_on<F: Future>(f: F) -> Option<F::Output> {
        let mut f = std::pin::pin!(f);
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let deadline = std::time::Instant::now() + LIMIT;
        while std::time::Instant::now() < deadline {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return Some(v);
            }
            std::thread::park_timeout(Duration::from_millis(100));
        }
        None
    }

    let (_t, root) = watched_tempdir()?;
    let rt = kq_runtime::Runtime::new()?;
    let mut w = {
        let _g = rt.enter();
        let mut w = Watcher::builder().debounce(Duration::from_millis(30)).build()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        w
    };
    let f = root.join("elsewhere");
    fs::write(&f, b"")?;
    let seen = std::thread::spawn(move || {
        let mut events = Vec::new();
        while let Some(Some(item)) = block_on(w.next()) {
            let ev = item.expect("an event");
            let done = ev.kind == EventKind::Create && ev.paths[0] == f;
            events.push(ev);
            if done {
                break;
            }
        }
        events
    })
    .join()
    .expect("the other executor's thread panicked");
    assert!(seen.iter().any(|e| e.kind == EventKind::Create), "{seen:#?}");
    drop(rt);
    Ok(())
}

/// A glob relative to the root (`src/*.rs`) still applies to the Removes of the batch that
/// ends the root (`rm -r root`): the root is dropped from the tree before they are filtered,
/// and they were matched against `/` instead, so none passed.
#[test]
fn a_relative_glob_keeps_the_last_removes_of_a_deleted_root() -> io::Result<()> {
    let (_t, base) = watched_tempdir()?;
    let root = base.join("proj");
    fs::create_dir_all(root.join("src"))?;
    let rs = root.join("src/main.rs");
    fs::write(&rs, b"")?;
    fs::write(root.join("src/notes.txt"), b"")?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::builder().filter(PathFilter::glob("src/*.rs")?).build()?;
            w.watch(&root, RecursiveMode::Recursive)?;
            fs::remove_dir_all(&root)?;
            let seen = until(&mut w, |s| s.ended).await;
            assert!(seen.ended, "the only root was deleted: the stream ends: {seen:#?}");
            assert!(seen.has(&EventKind::Remove, &rs), "no Remove of src/main.rs: {seen:#?}");
            let txt = root.join("src/notes.txt");
            assert!(seen.about(&txt).is_empty(), "the filter let notes.txt through: {seen:#?}");
            Ok(())
        })
    })
}
