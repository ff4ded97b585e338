//! The changes a user makes to files, one by one, each reported as the right event.
// Unix-only: kq-fs-watch's Watcher does not exist on Windows.
#![cfg(unix)]
mod util;

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;

use kq_fs_watch::{EventKind, FileType, RecursiveMode, Watcher};
use util::*;

#[test]
fn create_write_append_truncate_chmod_delete() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let f = root.join("f");
        fs::write(&f, b"")?;
        let seen = expect(&mut w, EventKind::Create, &f).await;
        assert_eq!(seen.events.last().unwrap().file_type, Some(FileType::File));

        fs::write(&f, b"hello")?;
        expect(&mut w, DATA, &f).await;

        OpenOptions::new().append(true).open(&f)?.write_all(b" world")?;
        expect(&mut w, DATA, &f).await;

        OpenOptions::new().write(true).open(&f)?.set_len(2)?;
        expect(&mut w, DATA, &f).await;

        fs::set_permissions(&f, fs::Permissions::from_mode(0o600))?;
        expect(&mut w, META, &f).await;

        fs::remove_file(&f)?;
        let seen = expect(&mut w, EventKind::Remove, &f).await;
        assert!(seen.errors.is_empty(), "{:?}", seen.errors);
        // Nothing else about f, and the Remove exactly once.
        let seen = sync(&mut w, &root, "end").await;
        assert!(seen.about(&f).is_empty(), "{seen:#?}");
        Ok(())
    })
}

#[test]
fn rename_within_and_across_directories() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    fs::create_dir(root.join("a"))?;
    fs::create_dir(root.join("b"))?;
    fs::write(root.join("a/x"), b"x")?;
    fs::create_dir_all(root.join("a/d/e"))?;
    fs::write(root.join("a/d/e/inner"), b"i")?;
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let (x, y, z) = (root.join("a/x"), root.join("a/y"), root.join("b/z"));
        fs::rename(&x, &y)?;
        let seen = expect(&mut w, rename(&x, &y), &x).await;
        assert_eq!(seen.events.len(), 1, "one Rename, no halves: {seen:#?}");
        assert_eq!(seen.events[0].paths, vec![x.clone(), y.clone()]);

        fs::rename(&y, &z)?;
        let seen = expect(&mut w, rename(&y, &z), &y).await;
        assert!(
            !seen.has(&EventKind::Remove, &y) && !seen.has(&EventKind::Create, &z),
            "{seen:#?}"
        );

        // A directory moved across keeps being watched under its new name.
        let (d, d2) = (root.join("a/d"), root.join("b/d2"));
        fs::rename(&d, &d2)?;
        let seen = expect(&mut w, rename(&d, &d2), &d).await;
        assert_eq!(seen.events.last().unwrap().file_type, Some(FileType::Dir));
        let inner = d2.join("e/inner");
        fs::write(&inner, b"changed")?;
        expect(&mut w, DATA, &inner).await;
        let n = d2.join("e/new");
        fs::write(&n, b"")?;
        expect(&mut w, EventKind::Create, &n).await;
        Ok(())
    })
}

#[test]
fn atomic_save_and_vim_style_save_say_the_file_changed() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    let f = root.join("config.toml");
    fs::write(&f, b"v1")?;
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        // Atomic save: write a temporary file, rename it over the target.
        let tmp = root.join(".config.toml.tmp");
        fs::write(&tmp, b"v2 longer")?;
        fs::rename(&tmp, &f)?;
        let seen = until(&mut w, |s| s.has(&DATA, &f) || s.has(&rename(&tmp, &f), &tmp)).await;
        assert!(seen.has(&DATA, &f) || seen.has(&rename(&tmp, &f), &tmp), "{seen:#?}");
        assert!(
            !seen.has(&EventKind::Remove, &f),
            "the target is never reported removed: {seen:#?}"
        );
        let seen = sync(&mut w, &root, "atomic").await;
        assert!(!seen.has(&EventKind::Remove, &f), "{seen:#?}");

        // vim: rename the file to a backup, write a new one, delete the backup.
        let backup = root.join("config.toml~");
        fs::rename(&f, &backup)?;
        fs::write(&f, b"v3")?;
        fs::remove_file(&backup)?;
        let mut all = until(&mut w, |s| s.has(&DATA, &f) || s.has(&EventKind::Create, &f)).await;
        all.events.extend(sync(&mut w, &root, "vim").await.events);
        // The last word on f is that it exists (Create or Modify), and the backup is gone.
        let about_f = all.about(&f);
        let last = about_f.last().expect("events for f");
        assert!(matches!(last, EventKind::Create | EventKind::Modify(_)), "{all:#?}");
        let about_backup = all.about(&backup);
        if !about_backup.is_empty() {
            assert_eq!(about_backup.last(), Some(&EventKind::Remove), "{all:#?}");
        }
        Ok(())
    })
}

#[test]
fn nested_new_directories_are_reported_whole_every_time() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        for round in 0..20 {
            let a = root.join(format!("a{round}"));
            let c = a.join("b/c");
            fs::create_dir_all(&c)?;
            fs::write(c.join("f"), b"x")?;
            let want = [a.clone(), a.join("b"), c.clone(), c.join("f")];
            let seen = until(&mut w, |s| want.iter().all(|p| s.has(&EventKind::Create, p))).await;
            for p in &want {
                assert_eq!(
                    seen.count(&EventKind::Create, p),
                    1,
                    "round {round}, {}: {seen:#?}",
                    p.display()
                );
            }
            // Parents before children.
            let pos =
                |p: &std::path::Path| seen.events.iter().position(|e| e.paths[0] == p).unwrap();
            assert!(pos(&want[0]) < pos(&want[1]) && pos(&want[1]) < pos(&want[2]));
            // The new directory is watched: a change in it is seen.
            fs::write(c.join("f"), b"more")?;
            expect(&mut w, DATA, &c.join("f")).await;
        }
        Ok(())
    })
}

#[test]
fn deleting_the_root_reports_everything_then_ends() -> io::Result<()> {
    let (t, _) = watched_tempdir()?;
    let root = t.path().canonicalize()?.join("root");
    fs::create_dir_all(root.join("sub/deeper"))?;
    fs::write(root.join("sub/deeper/f"), b"")?;
    fs::write(root.join("g"), b"")?;
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        fs::remove_dir_all(&root)?;
        let seen = until(&mut w, |s| s.ended).await;
        assert!(seen.ended, "the stream ends: {seen:#?}");
        for p in ["sub/deeper/f", "sub/deeper", "sub", "g"] {
            assert_eq!(seen.count(&EventKind::Remove, &root.join(p)), 1, "{p}: {seen:#?}");
        }
        let last = seen.events.last().unwrap();
        assert_eq!((&last.kind, &last.paths[0]), (&EventKind::Remove, &root));
        assert!(w.watched_paths().is_empty());
        Ok(())
    })
}

#[test]
fn moving_the_root_reports_where_it_went_then_ends() -> io::Result<()> {
    let (t, _) = watched_tempdir()?;
    let base = t.path().canonicalize()?;
    let root = base.join("root");
    let moved = base.join("elsewhere");
    fs::create_dir_all(root.join("sub"))?;
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        fs::rename(&root, &moved)?;
        let seen = until(&mut w, |s| s.ended).await;
        assert!(seen.ended, "{seen:#?}");
        assert_eq!(seen.events.len(), 1, "{seen:#?}");
        assert_eq!(seen.events[0].kind, rename(&root, &moved));
        Ok(())
    })
}

#[test]
fn non_recursive_sees_entries_not_below() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    fs::create_dir(root.join("sub"))?;
    block_on(async move {
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::NonRecursive)?;
        fs::write(root.join("sub/hidden"), b"")?;
        let d = root.join("newdir");
        fs::create_dir(&d)?;
        fs::write(d.join("inside"), b"")?;
        let seen = expect(&mut w, EventKind::Create, &d).await;
        let seen2 = sync(&mut w, &root, "nr").await;
        for s in [&seen, &seen2] {
            assert!(s.about(&root.join("sub/hidden")).is_empty(), "{s:#?}");
            assert!(s.about(&d.join("inside")).is_empty(), "{s:#?}");
        }
        assert_eq!(w.watch_counts().0, 1, "one directory watched");
        Ok(())
    })
}

#[test]
fn multi_thread_runtime_pairs_renames_across_directories() -> io::Result<()> {
    let (t, root) = watched_tempdir()?;
    fs::create_dir(root.join("a"))?;
    fs::create_dir(root.join("b"))?;
    block_on_mt(async move {
        let _t = t;
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        for i in 0..50 {
            let from = root.join(format!("a/f{i}"));
            let to = root.join(format!("b/f{i}"));
            fs::write(&from, b"")?;
            expect(&mut w, EventKind::Create, &from).await;
            fs::rename(&from, &to)?;
            let seen = expect(&mut w, rename(&from, &to), &from).await;
            assert!(!seen.has(&EventKind::Remove, &from), "round {i}: {seen:#?}");
        }
        Ok::<(), io::Error>(())
    })
}

/// A directory moved into its own former subdirectory after that left the tree (`mv P/C
/// out/C; mv P out/C/P`, then a directory made in it), all between two looks: both left the
/// tree, and are reported removed, C first. The watcher used to pair "P removed" with "P
/// created in C" (C was still watched through its fd), made P its own ancestor and spun
/// forever at 100 % CPU on the next directory it opened. Found by trying kq as careless users
/// do (2026-12-02).
#[test]
fn a_directory_moved_into_its_own_former_subdirectory_outside_is_removed() -> io::Result<()> {
    let (_t, base) = watched_tempdir()?;
    let (root, out) = (base.join("root"), base.join("out"));
    fs::create_dir_all(root.join("P/C"))?;
    fs::create_dir(&out)?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::new()?;
            w.watch(&root, RecursiveMode::Recursive)?;
            // The watcher has not looked since: on this current-thread runtime it looks when
            // polled, so all of this lands in one batch.
            fs::rename(root.join("P/C"), out.join("C"))?;
            fs::rename(root.join("P"), out.join("C/P"))?;
            fs::create_dir(out.join("C/P/N"))?;
            let seen = sync(&mut w, &root, "after").await;
            let (p, c) = (root.join("P"), root.join("P/C"));
            assert_eq!(seen.count(&EventKind::Remove, &p), 1, "{seen:#?}");
            assert_eq!(seen.count(&EventKind::Remove, &c), 1, "{seen:#?}");
            let at = |path: &std::path::Path| {
                seen.events.iter().position(|e| e.paths.first().map(|x| x.as_path()) == Some(path))
            };
            assert!(at(&c) < at(&p), "C's Remove comes first: {seen:#?}");
            let stray = seen.events.iter().filter(|e| {
                e.paths.iter().any(|x| x.starts_with(&p)) && e.kind != EventKind::Remove
            });
            assert_eq!(stray.count(), 0, "events for paths that left the tree: {seen:#?}");
            assert!(seen.errors.is_empty() && !seen.ended, "{seen:#?}");
            // The watcher goes on.
            fs::write(root.join("later"), b"")?;
            expect(&mut w, EventKind::Create, &root.join("later")).await;
            assert_eq!(w.watch_counts().0, 1, "only the root is watched");
            Ok::<_, io::Error>(())
        })
    })
}
