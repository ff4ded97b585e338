//! A watched root that is a symlink to a directory, retargeted while watched (the deploy pattern:
//! `current -> releases/7` swapped to `releases/8` with `ln -sfn`, a new link renamed over the
//! old one): the root keeps the link's path, watches the new directory from then on, and reports
//! the difference between the two as events under the link's path (see the crate docs,
//! "Roots").
// Unix-only: kq-fs-watch's Watcher does not exist on Windows.
#![cfg(unix)]
mod util;

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kq_fs_watch::{Builder, Event, EventKind, RecursiveMode, Watcher};
use util::*;

/// `<tmp>/releases/{1,2,3}` and `<tmp>/current -> releases/1` (relative, as deploy tools make
/// it).
///
/// - 1: `a` ("one"), `only1`, `shared` (hard-linked into 2: the same file), `d/x`,
///   `d/gone/deep`, `kind` (a file), `link1 -> a`
/// - 2: `a` ("two, longer"), `only2`, `shared`, `d/x`, `d/y`, `new/deep/f`, `kind/` (a
///   directory holding `k`)
/// - 3: `a` ("three"), `three/t`
struct Setup {
    _t: tempfile::TempDir,
    root: PathBuf,
    current: PathBuf,
}

impl Setup {
    fn release(&self, n: u32) -> PathBuf {
        self.root.join(format!("releases/{n}"))
    }

    /// `ln -sfn releases/<n> current`: a new link renamed over the old one.
    fn swap_to(&self, n: u32) -> io::Result<()> {
        let tmp = self.root.join(".current.tmp");
        symlink(format!("releases/{n}"), &tmp)?;
        fs::rename(&tmp, &self.current)
    }
}

fn setup() -> io::Result<Setup> {
    let (t, root) = watched_tempdir()?;
    let r1 = root.join("releases/1");
    let r2 = root.join("releases/2");
    let r3 = root.join("releases/3");
    fs::create_dir_all(r1.join("d/gone"))?;
    fs::write(r1.join("a"), b"one")?;
    fs::write(r1.join("only1"), b"1")?;
    fs::write(r1.join("shared"), b"same file in 1 and 2")?;
    fs::write(r1.join("d/x"), b"x1")?;
    fs::write(r1.join("d/gone/deep"), b"deep")?;
    fs::write(r1.join("kind"), b"a file in 1")?;
    symlink("a", r1.join("link1"))?;
    fs::create_dir_all(r2.join("d"))?;
    fs::create_dir_all(r2.join("new/deep"))?;
    fs::create_dir_all(r2.join("kind"))?;
    fs::write(r2.join("a"), b"two, longer")?;
    fs::write(r2.join("only2"), b"2")?;
    fs::hard_link(r1.join("shared"), r2.join("shared"))?;
    fs::write(r2.join("d/x"), b"x2")?;
    fs::write(r2.join("d/y"), b"y2")?;
    fs::write(r2.join("new/deep/f"), b"f")?;
    fs::write(r2.join("kind/k"), b"k")?;
    fs::create_dir_all(r3.join("three"))?;
    fs::write(r3.join("a"), b"three")?;
    fs::write(r3.join("three/t"), b"t")?;
    let current = root.join("current");
    symlink("releases/1", &current)?;
    Ok(Setup { _t: t, root, current })
}

/// The option sets a root is watched with: a symlink root is followed whatever they say.
fn builders() -> Vec<(&'static str, Builder)> {
    vec![
        ("default", Watcher::builder()),
        ("follow_symlinks", Watcher::builder().follow_symlinks(true)),
        ("per_file_knotes", Watcher::builder().per_file_knotes(true)),
    ]
}

/// Collects for `ms` (nothing is expected: whatever comes is returned for assertions).
async fn quiet(w: &mut Watcher, ms: u64) -> Seen {
    until_for(w, Duration::from_millis(ms), |s| s.ended).await
}

/// The entries of `dir` itself (not below), as paths under `dir`.
fn top_level(dir: &Path) -> Model {
    let set = fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).collect());
    Model(set.unwrap_or_default())
}

/// Everything below `dir`, following symlinks to directories (as `follow_symlinks` does).
fn of_disk_following(dir: &Path) -> Model {
    let mut set = std::collections::BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            }
            set.insert(e.path());
        }
    }
    Model(set)
}

/// `model` with `events` applied.
fn applied(model: &Model, events: &[Event]) -> Model {
    let mut m = Model(model.0.clone());
    for ev in events {
        m.apply(ev);
    }
    m
}

/// Collects until the events bring `model` to `want` (asserting that they do, that nothing more
/// comes for a while, and that the root neither went nor errored); returns the events.
async fn converge(w: &mut Watcher, model: &mut Model, want: &Model, what: &str) -> Vec<Event> {
    let seen = until(w, |s| applied(model, &s.events) == *want || s.ended).await;
    let more = quiet(w, 200).await;
    let events: Vec<Event> = seen.events.iter().chain(&more.events).cloned().collect();
    *model = applied(model, &events);
    assert!(
        *model == *want,
        "{what}: the events do not bring the view to the disk (missing, extra): {:#?}\n{events:#?}",
        want.diff(model)
    );
    assert!(!seen.ended && !more.ended, "{what}: the stream ended: {events:#?}");
    assert!(seen.errors.is_empty() && more.errors.is_empty(), "{what}: {seen:#?} {more:#?}");
    events
}

/// Every event names a path under `current` (or `current` itself).
fn all_under(events: &[Event], current: &Path, what: &str) {
    for e in events {
        assert!(
            e.paths.iter().all(|p| p.starts_with(current)),
            "{what}: an event outside the link's path: {e:?}"
        );
    }
}

/// [`sync`] for a directory seen through a link: the marker is made in `real` and its Create
/// expected under `shown`.
async fn sync_through(w: &mut Watcher, real: &Path, shown: &Path, tag: &str) -> Seen {
    let name = format!(".sync-{tag}");
    fs::write(real.join(&name), b"").unwrap();
    let seen = expect(w, EventKind::Create, &shown.join(&name)).await;
    let more = quiet(w, 100).await;
    Seen { events: [seen.events, more.events].concat(), errors: more.errors, ended: more.ended }
}

fn count(events: &[Event], kind: &EventKind, path: &Path) -> usize {
    events.iter().filter(|e| &e.kind == kind && e.paths[0] == path).count()
}

#[test]
fn a_swapped_link_reports_the_difference_and_follows_the_new_directory() -> io::Result<()> {
    for (name, builder) in builders() {
        let s = setup()?;
        bounded(move || {
            block_on(async move {
                let mut w = builder.build()?;
                w.watch(&s.current, RecursiveMode::Recursive)?;
                let mut model = Model::of_disk(&s.current);
                s.swap_to(2)?;
                let want = Model::of_disk(&s.current);
                let events = converge(&mut w, &mut model, &want, name).await;
                all_under(&events, &s.current, name);
                let c = &s.current;
                // What a reader of `current/...` sees changed: `a` holds other content, `kind`
                // is a directory now; `shared` is the same file (hard-linked): nothing.
                assert_eq!(count(&events, &DATA, &c.join("a")), 1, "{name}: {events:#?}");
                assert_eq!(count(&events, &DATA, &c.join("d/x")), 1, "{name}: {events:#?}");
                assert_eq!(count(&events, &EventKind::Create, &c.join("new/deep/f")), 1);
                assert_eq!(count(&events, &EventKind::Remove, &c.join("d/gone/deep")), 1);
                assert_eq!(count(&events, &EventKind::Create, &c.join("kind/k")), 1);
                assert!(events.iter().all(|e| e.paths[0] != c.join("shared")), "{events:#?}");
                assert!(events.iter().all(|e| e.paths[0] != *c), "{name}: {events:#?}");
                assert_eq!(w.watched_paths(), vec![s.current.clone()]);
                // The new directory is watched, under the link's path, below too.
                fs::write(s.release(2).join("a"), b"two, written")?;
                expect(&mut w, DATA, &c.join("a")).await;
                let f = s.release(2).join("new/deep/g");
                fs::write(&f, b"")?;
                expect(&mut w, EventKind::Create, &c.join("new/deep/g")).await;
                // The old one is not.
                fs::write(s.release(1).join("a"), b"one, written after the swap")?;
                fs::write(s.release(1).join("d/late"), b"")?;
                let seen = sync_through(&mut w, &s.release(2), c, "old").await;
                assert_eq!(seen.events.len(), 1, "{name}: only the marker: {seen:#?}");
                Ok::<(), io::Error>(())
            })
        })?;
    }
    Ok(())
}

#[test]
fn the_old_release_deleted_right_after_the_swap_is_not_reported() -> io::Result<()> {
    // A deploy swaps the link, then deletes the old release: the link's path never lost its
    // content, so no Remove of what both releases have.
    let s = setup()?;
    bounded(move || {
        block_on_mt(async move {
            let mut w = Watcher::new()?;
            w.watch(&s.current, RecursiveMode::Recursive)?;
            let mut model = Model::of_disk(&s.current);
            s.swap_to(2)?;
            fs::remove_dir_all(s.release(1))?;
            let want = Model::of_disk(&s.current);
            let events = converge(&mut w, &mut model, &want, "swap + rm -r").await;
            all_under(&events, &s.current, "swap + rm -r");
            assert!(!events.iter().any(|e| e.paths[0] == s.current), "{events:#?}");
            fs::write(s.release(2).join("only2"), b"still watched")?;
            expect(&mut w, DATA, &s.current.join("only2")).await;
            Ok(())
        })
    })
}

#[test]
fn three_swaps_in_a_row_end_on_the_last_directory() -> io::Result<()> {
    for mt in [false, true] {
        let s = setup()?;
        let test = async move {
            let mut w = Watcher::new()?;
            w.watch(&s.current, RecursiveMode::Recursive)?;
            let counts = w.watch_counts();
            let mut model = Model::of_disk(&s.current);
            // Between two polls: 1 -> 2 -> 3 -> 2 -> 3.
            for n in [2, 3, 2, 3] {
                s.swap_to(n)?;
            }
            let want = Model::of_disk(&s.current);
            let events = converge(&mut w, &mut model, &want, "three swaps").await;
            all_under(&events, &s.current, "three swaps");
            assert_eq!(count(&events, &DATA, &s.current.join("a")), 1, "{events:#?}");
            // releases/3: the directory and `three` watched; knotes on them, on the link's
            // directory and on releases/ (which holds the directory the link leads to).
            assert_eq!(w.watch_counts(), (2, 4), "was {counts:?} on releases/1");
            fs::write(s.release(3).join("three/t"), b"t, written")?;
            expect(&mut w, DATA, &s.current.join("three/t")).await;
            for old in [1, 2] {
                fs::write(s.release(old).join("a"), b"old, written")?;
            }
            let seen = quiet(&mut w, 300).await;
            assert!(seen.events.is_empty() && !seen.ended, "mt {mt}: {seen:#?}");
            Ok::<(), io::Error>(())
        };
        if mt {
            bounded(move || block_on_mt(test))?;
        } else {
            bounded(move || block_on(test))?;
        }
    }
    Ok(())
}

#[test]
fn link_deleted_dangling_or_led_to_a_file_is_one_remove_of_the_root() -> io::Result<()> {
    for how in ["deleted", "dangling", "file"] {
        let s = setup()?;
        bounded(move || {
            block_on(async move {
                let mut w = Watcher::new()?;
                w.watch(&s.current, RecursiveMode::Recursive)?;
                match how {
                    "deleted" => fs::remove_file(&s.current)?,
                    "dangling" => s.swap_to(99)?,
                    _ => {
                        let tmp = s.root.join(".current.tmp");
                        symlink("releases/1/a", &tmp)?;
                        fs::rename(&tmp, &s.current)?;
                    }
                }
                let seen = until(&mut w, |s| s.ended).await;
                assert!(seen.ended, "{how}: the stream did not end: {seen:#?}");
                assert_eq!(seen.count(&EventKind::Remove, &s.current), 1, "{how}: {seen:#?}");
                assert_eq!(seen.events.len(), 1, "{how}: {seen:#?}");
                assert!(seen.errors.is_empty(), "{how}: {seen:#?}");
                assert!(w.watched_paths().is_empty());
                assert_eq!(w.watch_counts(), (0, 0), "{how}: everything released");
                // Nothing more, whatever happens to the old directory.
                fs::write(s.release(1).join("a"), b"unwatched")?;
                assert!(quiet(&mut w, 200).await.ended);
                Ok::<(), io::Error>(())
            })
        })?;
    }
    Ok(())
}

#[test]
fn a_swap_ends_no_other_root() -> io::Result<()> {
    let s = setup()?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::new()?;
            w.watch(&s.current, RecursiveMode::Recursive)?;
            let other = s.release(3);
            w.watch(&other, RecursiveMode::Recursive)?;
            fs::remove_file(&s.current)?;
            let seen = expect(&mut w, EventKind::Remove, &s.current).await;
            assert!(!seen.ended, "{seen:#?}");
            assert_eq!(w.watched_paths(), vec![other.clone()]);
            fs::write(other.join("a"), b"three, written")?;
            expect(&mut w, DATA, &other.join("a")).await;
            Ok(())
        })
    })
}

#[test]
fn a_non_recursive_link_root_follows_the_swap_at_its_top_level() -> io::Result<()> {
    let s = setup()?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::new()?;
            w.watch(&s.current, RecursiveMode::NonRecursive)?;
            assert_eq!(w.watch_counts(), (1, 3), "releases/1, the link's directory, releases/");
            let mut model = top_level(&s.current);
            s.swap_to(2)?;
            let want = top_level(&s.current);
            let events = converge(&mut w, &mut model, &want, "non-recursive").await;
            // Nothing below the top level, and `a` changed.
            assert!(events.iter().all(|e| e.paths[0].parent() == Some(&s.current)), "{events:#?}");
            assert_eq!(count(&events, &DATA, &s.current.join("a")), 1, "{events:#?}");
            assert_eq!(w.watch_counts(), (1, 3));
            fs::write(s.release(2).join("d/x"), b"below: not reported")?;
            fs::write(s.release(1).join("a"), b"old: not reported")?;
            fs::write(s.release(2).join("only2"), b"top level of the new one")?;
            let seen = expect(&mut w, DATA, &s.current.join("only2")).await;
            assert_eq!(seen.events.len(), 1, "{seen:#?}");
            Ok(())
        })
    })
}

#[test]
fn a_real_directory_root_renamed_or_deleted_still_ends() -> io::Result<()> {
    for deleted in [false, true] {
        let s = setup()?;
        bounded(move || {
            block_on(async move {
                let mut w = Watcher::new()?;
                let dir = s.release(3);
                w.watch(&dir, RecursiveMode::Recursive)?;
                let moved = s.root.join("releases/3.old");
                if deleted {
                    fs::remove_dir_all(&dir)?;
                } else {
                    fs::rename(&dir, &moved)?;
                }
                let seen = until(&mut w, |s| s.ended).await;
                assert!(seen.ended, "deleted {deleted}: {seen:#?}");
                let last = seen.events.last().map(|e| e.kind.clone());
                if deleted {
                    assert_eq!(last, Some(EventKind::Remove), "{seen:#?}");
                    assert_eq!(seen.count(&EventKind::Remove, &dir), 1, "{seen:#?}");
                } else {
                    assert_eq!(last, Some(rename(&dir, &moved)), "{seen:#?}");
                    assert_eq!(seen.events.len(), 1, "{seen:#?}");
                }
                assert_eq!(w.watch_counts(), (0, 0));
                Ok::<(), io::Error>(())
            })
        })?;
    }
    Ok(())
}

#[test]
fn a_real_directory_root_replaced_by_a_link_to_elsewhere_is_a_rename() -> io::Result<()> {
    // The root was a directory when watched: it moved away, whatever now has its name.
    let s = setup()?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::new()?;
            let dir = s.root.join("plain");
            fs::create_dir(&dir)?;
            w.watch(&dir, RecursiveMode::Recursive)?;
            let moved = s.root.join("plain.old");
            fs::rename(&dir, &moved)?;
            symlink("releases/2", &dir)?;
            let seen = until(&mut w, |s| s.ended).await;
            assert!(seen.ended, "{seen:#?}");
            assert_eq!(
                seen.events,
                vec![Event {
                    kind: rename(&dir, &moved),
                    paths: vec![dir.clone(), moved.clone()],
                    file_type: Some(kq_fs_watch::FileType::Dir),
                }]
            );
            Ok(())
        })
    })
}

#[test]
fn descriptors_follow_the_swaps_without_leaking() -> io::Result<()> {
    require_linux_proc("descriptors_follow_the_swaps_without_leaking");
    let s = setup()?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::new()?;
            w.watch(&s.current, RecursiveMode::Recursive)?;
            // releases/1: itself, d, d/gone; and the knotes on the link's directory and on
            // releases/.
            assert_eq!(w.watch_counts(), (3, 5));
            let fds = fds_under(&s.root);
            assert_eq!(fds, 5, "three directories, the link's and releases/");
            let mut model = Model::of_disk(&s.current);
            s.swap_to(2)?;
            let want = Model::of_disk(&s.current);
            converge(&mut w, &mut model, &want, "swap").await;
            // releases/2: itself, d, new, new/deep, kind.
            assert_eq!(w.watch_counts(), (5, 7));
            assert_eq!(fds_under(&s.root), 7);
            assert_eq!(fds_under(&s.release(1)), 0, "nothing of the old tree is open");
            for i in 0..50 {
                let n = if i % 2 == 0 { 1 } else { 2 };
                s.swap_to(n)?;
                let want = Model::of_disk(&s.current);
                converge(&mut w, &mut model, &want, &format!("swap {i}")).await;
            }
            assert_eq!(w.watch_counts(), (5, 7), "after 50 swaps, on releases/2 again");
            assert_eq!(fds_under(&s.root), 7);
            assert_eq!(fds_under(&s.release(1)), 0);
            w.unwatch(&s.current)?;
            assert_eq!(w.watch_counts(), (0, 0));
            assert_eq!(fds_under(&s.root), 0);
            Ok(())
        })
    })
}

#[test]
fn the_directory_deleted_or_moved_under_the_link_ends_the_root() -> io::Result<()> {
    // The link dangles: as for a link made dangling. Deleted in two looks (its content first,
    // reported, then the directory itself: only its parent hears that), or moved away.
    for how in ["deleted", "moved"] {
        let s = setup()?;
        bounded(move || {
            block_on(async move {
                let mut w = Watcher::new()?;
                w.watch(&s.current, RecursiveMode::Recursive)?;
                let r1 = s.release(1);
                let mut model = Model::of_disk(&s.current);
                if how == "deleted" {
                    for e in fs::read_dir(&r1)? {
                        let p = e?.path();
                        if p.is_dir() && !p.is_symlink() {
                            fs::remove_dir_all(p)?;
                        } else {
                            fs::remove_file(p)?;
                        }
                    }
                    let want = Model::of_disk(&s.current);
                    assert!(want.0.is_empty());
                    converge(&mut w, &mut model, &want, "emptied").await;
                    fs::remove_dir(&r1)?;
                } else {
                    fs::rename(&r1, s.root.join("releases/1.old"))?;
                }
                let seen = until(&mut w, |s| s.ended).await;
                assert!(seen.ended, "{how}: the stream did not end: {seen:#?}");
                assert_eq!(seen.count(&EventKind::Remove, &s.current), 1, "{how}: {seen:#?}");
                assert_eq!(seen.events.len(), 1, "{how}: {seen:#?}");
                assert_eq!(w.watch_counts(), (0, 0), "{how}");
                Ok::<(), io::Error>(())
            })
        })?;
    }
    Ok(())
}

#[test]
fn changes_around_each_swap_keep_the_view_right() -> io::Result<()> {
    // Changes in the release the link leaves, just before the swap, and in the one it comes
    // to, just after: whichever look sees them, the view ends as the disk is.
    let s = setup()?;
    bounded(move || {
        block_on_mt(async move {
            let mut w = Watcher::builder().follow_symlinks(true).build()?;
            w.watch(&s.current, RecursiveMode::Recursive)?;
            let mut model = of_disk_following(&s.current);
            let mut on = 1;
            for i in 0..20 {
                let (from, to) = (s.release(on), s.release(3 - on));
                fs::write(from.join(format!("before{i}")), b"b")?;
                fs::write(from.join("a"), format!("written before swap {i}"))?;
                fs::create_dir_all(from.join(format!("dd{i}/e")))?;
                if i % 3 == 0 {
                    symlink(format!("dd{i}"), from.join(format!("ln{i}")))?;
                }
                s.swap_to(3 - on)?;
                fs::write(to.join(format!("after{i}")), b"a")?;
                let _ = fs::remove_file(to.join(format!("before{}", i.max(1) - 1)));
                on = 3 - on;
                let want = of_disk_following(&s.current);
                converge(&mut w, &mut model, &want, &format!("round {i}")).await;
            }
            Ok(())
        })
    })
}
