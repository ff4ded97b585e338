//! Bursts and overflow: 10,000 files created in bursts, each reported exactly once; a reader
//! stalled through a burst larger than the kernel's queue gets a Rescan and then a view that
//! matches the disk.
// Unix-only: kq-fs-watch's Watcher does not exist on Windows.
#![cfg(unix)]
mod util;

use std::fs;
use std::io;
use std::path::Path;

use kq_fs_watch::{EventKind, RecursiveMode, Watcher};
use util::*;

#[test]
fn ten_thousand_files_in_bursts_each_reported_once() -> io::Result<()> {
    let (_t, root) = fast_tempdir()?;
    for d in 0..10 {
        fs::create_dir(root.join(format!("d{d}")))?;
    }
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let mut model = Model::of_disk(&root);
        let mut all = Vec::new();
        for burst in 0..10 {
            // 1,000 files over the 10 directories, as fast as the loop goes.
            let paths: Vec<_> =
                (0..1000).map(|i| root.join(format!("d{}/b{burst}-f{i}", i % 10))).collect();
            for p in &paths {
                fs::write(p, b"")?;
            }
            let mut left: std::collections::HashSet<_> = paths.iter().cloned().collect();
            let seen = until(&mut w, |s| {
                for e in &s.events[s.events.len().saturating_sub(1)..] {
                    if e.kind == EventKind::Create {
                        left.remove(&e.paths[0]);
                    }
                }
                left.is_empty()
            })
            .await;
            assert!(seen.errors.is_empty(), "{:?}", seen.errors);
            assert!(
                left.is_empty(),
                "burst {burst}: {} never reported, e.g. {:?}",
                left.len(),
                left.iter().next()
            );
            all.extend(seen.events);
        }
        for d in 0..10 {
            all.extend(sync(&mut w, &root.join(format!("d{d}")), "end").await.events);
        }
        let mut counts = std::collections::HashMap::new();
        for e in &all {
            assert!(!matches!(e.kind, EventKind::Remove | EventKind::Rescan), "{e:?}");
            if e.kind == EventKind::Create {
                *counts.entry(e.paths[0].clone()).or_insert(0) += 1;
            }
            model.apply(e);
        }
        assert_eq!(counts.len(), 10_000 + 10, "10,000 files and 10 sync markers");
        assert!(counts.values().all(|&n| n == 1), "a file reported twice");
        assert_eq!(model, Model::of_disk(&root));
        Ok(())
    })
}

#[test]
fn overflow_gives_rescan_then_a_view_that_matches_the_disk() -> io::Result<()> {
    let (_t, root) = fast_tempdir()?;
    fs::create_dir_all(root.join("keep/sub"))?;
    for i in 0..200 {
        fs::write(root.join(format!("keep/old{i}")), b"old")?;
    }
    // Current-thread runtime: while this task runs the burst, nobody reads the inotify queue.
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let mut model = Model::of_disk(&root);
        let queue: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(16_384);
        let n = queue + 4_000;
        fs::create_dir(root.join("burst"))?;
        let burst = root.join("burst");
        // Wait until the new directory is watched, so the burst lands in a watched directory.
        let seen = expect(&mut w, EventKind::Create, &burst).await;
        seen.events.iter().for_each(|e| model.apply(e));
        let t0 = std::time::Instant::now();
        for i in 0..n {
            fs::write(burst.join(format!("f{i}")), b"")?;
        }
        eprintln!("burst of {n} files written in {:?}", t0.elapsed());
        // And changes elsewhere during the stall: renames, deletes, a new subtree.
        for i in 0..100 {
            fs::rename(root.join(format!("keep/old{i}")), root.join(format!("keep/sub/moved{i}")))?;
        }
        for i in 100..150 {
            fs::remove_file(root.join(format!("keep/old{i}")))?;
        }
        fs::create_dir_all(root.join("keep/new/deeper"))?;
        fs::write(root.join("keep/new/deeper/x"), b"")?;

        let seen = until(&mut w, |s| s.events.iter().any(|e| e.kind == EventKind::Rescan)).await;
        assert!(
            seen.events.iter().any(|e| e.kind == EventKind::Rescan),
            "no Rescan after {n} events"
        );
        eprintln!("rescan after {:?}", t0.elapsed());
        let mut events = seen.events;
        // Then wait for the view to settle: a marker in every directory touched.
        for d in ["burst", "keep", "keep/sub", "keep/new/deeper"] {
            events.extend(sync(&mut w, &root.join(d), "after").await.events);
        }
        eprintln!("settled after {:?}, {} events", t0.elapsed(), events.len());
        for e in &events {
            model.apply(e);
        }
        let disk = Model::of_disk(&root);
        assert!(
            model == disk,
            "view differs from disk (only in view, only on disk): {:?}",
            model.diff(&disk)
        );
        // And it keeps working.
        let f = root.join("keep/sub/after-rescan");
        fs::write(&f, b"")?;
        expect(&mut w, EventKind::Create, &f).await;
        Ok(())
    })
}

#[test]
fn a_hundred_thousand_files_in_a_thousand_directories() -> io::Result<()> {
    let (_t, root) = fast_tempdir()?;
    let start = std::time::Instant::now();
    make_tree(&root, 1000, 100)?;
    let made = start.elapsed();
    block_on(async move {
        let t0 = std::time::Instant::now();
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let setup = t0.elapsed();
        let fds = fds_under(&root);
        let (dirs, knotes) = w.watch_counts();
        eprintln!(
            "100,000 files in 1,000 directories: tree made in {made:?}, watch set up in {setup:?}, \
             {fds} descriptors, {dirs} directories, {knotes} knotes"
        );
        assert_eq!(dirs, 1001, "root + 1,000 directories");
        // One per directory, and the root's parent's (outside the root): not one per file.
        assert!(fds <= 1001, "{fds} descriptors");
        // Anything in the tree is seen: a write, a new file, a rename across.
        let a = root.join("d0517/f0042");
        let b = root.join("d0999/moved");
        fs::write(&a, b"changed")?;
        expect(&mut w, DATA, &a).await;
        fs::rename(&a, &b)?;
        expect(&mut w, rename(&a, &b), &a).await;
        Ok(())
    })
}

fn make_tree(root: &Path, dirs: usize, files: usize) -> io::Result<()> {
    for d in 0..dirs {
        let dir = root.join(format!("d{d:04}"));
        fs::create_dir(&dir)?;
        for f in 0..files {
            fs::File::create(dir.join(format!("f{f:04}")))?;
        }
    }
    Ok(())
}
