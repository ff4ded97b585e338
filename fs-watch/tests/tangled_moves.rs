//! Moves that tangle directories in one look: a directory renamed over one whose contents
//! were just removed, a directory moved below a subdirectory that left it first, a directory
//! moved into its own former subtree after that left the watched tree. Each applies the events
//! to a view of the tree (as `lib.rs` describes) and checks it against the disk.
// Unix-only: kq-fs-watch's Watcher does not exist on Windows.
#![cfg(unix)]
mod util;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kq_fs_watch::{EventKind, RecursiveMode, Watcher};
use util::*;

/// Applies `seen` to `view`, failing on an event that contradicts it (a Remove, Modify or
/// Rename of a path it lacks, a Create of one it has).
fn apply(view: &mut Model, seen: &Seen) {
    for ev in &seen.events {
        let first = &ev.paths[0];
        match ev.kind {
            EventKind::Create => assert!(!view.0.contains(first), "{ev} of present: {seen:#?}"),
            EventKind::Rescan => {}
            _ => assert!(view.0.contains(first), "{ev} of absent: {seen:#?}"),
        }
        view.apply(ev);
    }
}

fn at(seen: &Seen, kind: &EventKind, path: &Path) -> Option<usize> {
    seen.events.iter().position(|e| &e.kind == kind && e.paths[0] == path)
}

/// `rm Y/f; mv Z Y` with Z holding an `f` too: the Remove of the old Y/f comes before the
/// Rename (after it, it named Z's f, which is on disk). It used to be held for the next batch
/// after the renamed-over Y was dropped, then reported late: the view lost Y/f.
#[test]
fn a_remove_inside_a_directory_renamed_over_comes_before_the_rename() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    for d in ["Y", "Z"] {
        fs::create_dir(root.join(d))?;
        fs::write(root.join(d).join("f"), d)?;
    }
    bounded(move || {
        block_on(async move {
            let mut view = Model::of_disk(&root);
            let mut w = Watcher::new()?;
            w.watch(&root, RecursiveMode::Recursive)?;
            // On this current-thread runtime the watcher looks when polled: one batch.
            fs::remove_file(root.join("Y/f"))?;
            fs::rename(root.join("Z"), root.join("Y"))?;
            let seen = sync(&mut w, &root, "after").await;
            let (f, y, z) = (root.join("Y/f"), root.join("Y"), root.join("Z"));
            let removed = at(&seen, &EventKind::Remove, &f).expect("Remove Y/f");
            let renamed = at(&seen, &rename(&z, &y), &z).expect("Rename Z -> Y");
            assert!(removed < renamed, "{seen:#?}");
            apply(&mut view, &seen);
            // A later batch brings nothing stale.
            let seen = sync(&mut w, &root, "later").await;
            apply(&mut view, &seen);
            assert_eq!(view, Model::of_disk(&root), "{:?}", view.diff(&Model::of_disk(&root)));
            assert!(view.0.contains(&f));
            Ok(())
        })
    })
}

/// `rm M/Y/f; mv Z M/Y; mv M M2`: the Remove of the file comes under M's new name, before the
/// Rename onto Y (it used to come last, as `M/Y/f`, a path the view no longer had).
#[test]
fn a_remove_inside_a_directory_renamed_over_follows_its_parents_rename() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    fs::create_dir_all(root.join("M/Y"))?;
    fs::write(root.join("M/Y/f"), b"x")?;
    fs::create_dir(root.join("Z"))?;
    bounded(move || {
        block_on(async move {
            let mut view = Model::of_disk(&root);
            let mut w = Watcher::new()?;
            w.watch(&root, RecursiveMode::Recursive)?;
            fs::remove_file(root.join("M/Y/f"))?;
            fs::rename(root.join("Z"), root.join("M/Y"))?;
            fs::rename(root.join("M"), root.join("M2"))?;
            let seen = sync(&mut w, &root, "after").await;
            apply(&mut view, &seen);
            let seen2 = sync(&mut w, &root, "later").await;
            apply(&mut view, &seen2);
            let removed = at(&seen, &EventKind::Remove, &root.join("M2/Y/f"));
            let renamed = at(&seen, &rename(&root.join("Z"), &root.join("M2/Y")), &root.join("Z"));
            assert!(removed.is_some() && removed < renamed, "{seen:#?}");
            assert_eq!(view, Model::of_disk(&root), "{:?}", view.diff(&Model::of_disk(&root)));
            Ok(())
        })
    })
}

/// `mv X/A A; mv X A/B/X2` in one look: X is below A once A has left it, a Rename (A's first),
/// and X2 stays watched. It used to be taken for a directory moved into its own subtree and
/// reported removed, although it is on disk.
#[test]
fn a_directory_moved_below_a_subdirectory_that_left_it_first_is_a_rename() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    fs::create_dir_all(root.join("X/A/B"))?;
    fs::write(root.join("X/f"), b"x")?;
    bounded(move || {
        block_on(async move {
            let mut view = Model::of_disk(&root);
            let mut w = Watcher::new()?;
            w.watch(&root, RecursiveMode::Recursive)?;
            fs::rename(root.join("X/A"), root.join("A"))?;
            fs::rename(root.join("X"), root.join("A/B/X2"))?;
            let seen = sync(&mut w, &root, "after").await;
            let (x, x2) = (root.join("X"), root.join("A/B/X2"));
            let a = at(&seen, &rename(&root.join("X/A"), &root.join("A")), &root.join("X/A"));
            let b = at(&seen, &rename(&x, &x2), &x);
            assert!(a.is_some() && a < b, "{seen:#?}");
            assert!(seen.errors.is_empty(), "{seen:#?}");
            apply(&mut view, &seen);
            let g = x2.join("g");
            fs::write(&g, b"")?;
            let seen = expect(&mut w, EventKind::Create, &g).await;
            apply(&mut view, &seen);
            assert_eq!(view, Model::of_disk(&root), "{:?}", view.diff(&Model::of_disk(&root)));
            Ok(())
        })
    })
}

/// A subdirectory A leaves the tree, a new directory N is made below it, then A's former
/// parent X is moved into N, all in one look. The watcher still had A below X (A's Remove was
/// held) and found X inside the new N: it reported a "symlink loop" error (no symlink was
/// involved). Now X's entry in N waits for the next batch, when both are known to have left.
/// Found by the random-ops fuzzer (seed 8, round 13).
#[test]
fn a_directory_moved_into_a_new_directory_below_its_former_subtree_is_no_loop() -> io::Result<()> {
    let (_t, base) = watched_tempdir()?;
    let (root, out) = (base.join("root"), base.join("out"));
    fs::create_dir_all(root.join("X/A/B"))?;
    fs::write(root.join("X/A/B/f"), b"x")?;
    fs::create_dir(&out)?;
    bounded(move || {
        block_on(async move {
            let mut view = Model::of_disk(&root);
            let mut w = Watcher::new()?;
            w.watch(&root, RecursiveMode::Recursive)?;
            fs::rename(root.join("X/A"), out.join("A"))?;
            fs::create_dir(out.join("A/B/N"))?;
            fs::rename(root.join("X"), out.join("A/B/N/X2"))?;
            let mut seen = sync(&mut w, &root, "after").await;
            // The held Removes come out with the next batch or PAIR_WINDOW.
            let more = until_for(&mut w, Duration::from_millis(500), |_| false).await;
            seen.events.extend(more.events);
            seen.errors.extend(more.errors);
            assert!(seen.errors.is_empty(), "no error item: {seen:#?}");
            assert!(seen.has(&EventKind::Remove, &root.join("X")), "{seen:#?}");
            apply(&mut view, &seen);
            assert_eq!(view, Model::of_disk(&root), "{:?}", view.diff(&Model::of_disk(&root)));
            // The watcher goes on, with only the root watched.
            let later: PathBuf = root.join("later");
            fs::write(&later, b"")?;
            expect(&mut w, EventKind::Create, &later).await;
            assert_eq!(w.watch_counts().0, 1, "only the root is watched");
            Ok(())
        })
    })
}

/// In one look, between two roots: a directory N arrives in C/Z (moved there from a new
/// C/D), C leaves root b for a new directory F of root a, then C's former parent P is moved
/// into C. P's move lands in what the view still has as its own subtree, so P is reported
/// removed (and F's contents created); C's Remove comes with it, nested. The diffs had already
/// taken C out of P's snapshot, so the Creates of this batch below C (N) were not seen as
/// coalesced away: dropping C reported `Remove b/P/C/Z/N`, a path never reported created.
/// Found by the random-ops fuzzer (seed 38, round 1).
#[test]
fn a_new_entry_below_a_directory_whose_former_parent_moved_into_it_is_not_removed() -> io::Result<()>
{
    let (_t, base) = watched_tempdir()?;
    let (a, b) = (base.join("a"), base.join("b"));
    fs::create_dir(&a)?;
    fs::create_dir_all(b.join("P/C/Z"))?;
    fs::write(b.join("P/C/Z/z"), b"x")?;
    fs::write(b.join("P/f"), b"x")?;
    bounded(move || {
        block_on(async move {
            let mut view = Model::of_disk(&base);
            let mut w = Watcher::new()?;
            w.watch(&a, RecursiveMode::Recursive)?;
            w.watch(&b, RecursiveMode::Recursive)?;
            // On this current-thread runtime the watcher looks when polled: one batch.
            fs::create_dir_all(b.join("P/C/D/X/Y"))?;
            fs::rename(b.join("P/C/D/X"), b.join("P/C/Z/N"))?;
            fs::create_dir(a.join("F"))?;
            fs::rename(b.join("P/C"), a.join("F/C2"))?;
            fs::rename(b.join("P"), a.join("F/C2/P2"))?;
            let mut seen = sync(&mut w, &a, "after").await;
            // Held Removes come out with the next batch or PAIR_WINDOW.
            let more = sync(&mut w, &b, "later").await;
            seen.events.extend(more.events);
            seen.errors.extend(more.errors);
            let more = until_for(&mut w, Duration::from_millis(500), |_| false).await;
            seen.events.extend(more.events);
            seen.errors.extend(more.errors);
            assert!(seen.errors.is_empty(), "no error item: {seen:#?}");
            apply(&mut view, &seen);
            let disk = Model::of_disk(&base);
            assert_eq!(view, disk, "{:?}", view.diff(&disk));
            // The watcher goes on, in the moved directories too.
            let later = a.join("F/C2/Z/N/later");
            fs::write(&later, b"")?;
            expect(&mut w, EventKind::Create, &later).await;
            Ok(())
        })
    })
}
