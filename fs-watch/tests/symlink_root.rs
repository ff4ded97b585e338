//! A watched root that is a symlink to a file: the file it leads to is watched, and its changes
//! are reported under the link's path (as notify does: inotify_add_watch follows symlinks).
//! What happens when the file, or the link, goes or changes (see the crate docs, "Roots").
// Unix-only: kq-fs-watch's Watcher does not exist on Windows.
#![cfg(unix)]
mod util;

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kq_fs_watch::{Builder, EventKind, FileType, RecursiveMode, Watcher};
use util::*;

/// `<tmp>/real/target.txt` and the link `<tmp>/links/link -> ../real/target.txt` (relative,
/// in another directory: a change of the target does not touch the link's directory).
struct Setup {
    _t: tempfile::TempDir,
    root: PathBuf,
    target: PathBuf,
    link: PathBuf,
}

fn setup() -> io::Result<Setup> {
    let (t, root) = watched_tempdir()?;
    fs::create_dir(root.join("real"))?;
    fs::create_dir(root.join("links"))?;
    let target = root.join("real/target.txt");
    fs::write(&target, b"v1")?;
    let link = root.join("links/link");
    symlink("../real/target.txt", &link)?;
    Ok(Setup { _t: t, root, target, link })
}

/// The option sets a root is watched with: a symlink root is followed whatever they say.
fn builders() -> Vec<(&'static str, Builder)> {
    vec![
        ("default", Watcher::builder()),
        ("follow_symlinks", Watcher::builder().follow_symlinks(true)),
        ("per_file_knotes", Watcher::builder().per_file_knotes(true)),
        ("follow + per_file", Watcher::builder().follow_symlinks(true).per_file_knotes(true)),
    ]
}

/// No event names `path`.
fn never_names(seen: &Seen, path: &Path, what: &str) {
    assert!(seen.about(path).is_empty(), "{what}: an event names {}: {seen:#?}", path.display());
}

/// Collects for `ms` (nothing is expected: whatever comes is returned for assertions).
async fn quiet(w: &mut Watcher, ms: u64) -> Seen {
    until_for(w, Duration::from_millis(ms), |s| s.ended).await
}

#[test]
fn writes_to_the_target_are_reported_under_the_link_path() -> io::Result<()> {
    for (name, builder) in builders() {
        let s = setup()?;
        bounded(move || {
            block_on(async move {
                let mut w = builder.build()?;
                w.watch(&s.link, RecursiveMode::NonRecursive)?;
                assert_eq!(w.watched_paths(), vec![s.link.clone()], "{name}");
                OpenOptions::new().append(true).open(&s.target)?.write_all(b" appended")?;
                let seen = expect(&mut w, DATA, &s.link).await;
                assert_eq!(seen.events.last().unwrap().file_type, Some(FileType::File), "{name}");
                never_names(&seen, &s.target, name);
                assert!(seen.errors.is_empty(), "{name}: {seen:#?}");
                Ok::<(), io::Error>(())
            })
        })?;
    }
    Ok(())
}

#[test]
fn truncate_and_chmod_of_the_target_are_reported_under_the_link_path() -> io::Result<()> {
    for (name, builder) in builders() {
        let s = setup()?;
        bounded(move || {
            block_on(async move {
                let mut w = builder.build()?;
                w.watch(&s.link, RecursiveMode::Recursive)?;
                OpenOptions::new().write(true).open(&s.target)?.set_len(0)?;
                let seen = expect(&mut w, DATA, &s.link).await;
                never_names(&seen, &s.target, name);
                fs::set_permissions(&s.target, fs::Permissions::from_mode(0o600))?;
                let seen = expect(&mut w, META, &s.link).await;
                never_names(&seen, &s.target, name);
                // An atomic save of the target (a new file renamed over it): still followed.
                let tmp = s.root.join("real/target.txt.tmp");
                fs::write(&tmp, b"saved atomically")?;
                fs::rename(&tmp, &s.target)?;
                expect(&mut w, DATA, &s.link).await;
                fs::write(&s.target, b"and written after the save")?;
                let seen = expect(&mut w, DATA, &s.link).await;
                never_names(&seen, &s.target, name);
                assert!(!seen.has(&EventKind::Remove, &s.link), "{name}: {seen:#?}");
                Ok::<(), io::Error>(())
            })
        })?;
    }
    Ok(())
}

#[test]
fn a_chain_of_links_is_followed_to_the_file() -> io::Result<()> {
    let s = setup()?;
    // outer -> links/link -> real/target.txt (absolute, then relative).
    let outer = s.root.join("outer");
    symlink(&s.link, &outer)?;
    bounded(move || {
        block_on_mt(async move {
            let mut w = Watcher::new()?;
            w.watch(&outer, RecursiveMode::Recursive)?;
            fs::write(&s.target, b"through two links")?;
            let seen = expect(&mut w, DATA, &outer).await;
            never_names(&seen, &s.target, "chain");
            never_names(&seen, &s.link, "chain");
            Ok(())
        })
    })
}

#[test]
fn target_deleted_gives_the_root_s_remove_and_the_stream_ends() -> io::Result<()> {
    // The link in another directory than its target, and in the same one (then the link's
    // directory hears the deletion too): one Remove either way.
    for same_dir in [false, true] {
        let s = setup()?;
        let link = if same_dir {
            let l = s.root.join("real/link");
            symlink("target.txt", &l)?;
            l
        } else {
            s.link.clone()
        };
        bounded(move || {
            block_on(async move {
                let mut w = Watcher::new()?;
                w.watch(&link, RecursiveMode::Recursive)?;
                fs::remove_file(&s.target)?;
                let seen = until(&mut w, |s| s.ended).await;
                assert!(seen.ended, "same_dir {same_dir}: the stream did not end: {seen:#?}");
                assert_eq!(seen.count(&EventKind::Remove, &link), 1, "{seen:#?}");
                assert_eq!(seen.events.len(), 1, "same_dir {same_dir}: {seen:#?}");
                never_names(&seen, &s.target, "target deleted");
                assert!(w.watched_paths().is_empty());
                // The dangling link, written through again: the stream stays ended.
                fs::write(&s.target, b"recreated")?;
                assert!(quiet(&mut w, 300).await.ended);
                Ok::<(), io::Error>(())
            })
        })?;
    }
    Ok(())
}

#[test]
fn target_deleted_ends_that_root_only() -> io::Result<()> {
    let s = setup()?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::new()?;
            w.watch(&s.link, RecursiveMode::Recursive)?;
            let other = s.root.join("links");
            w.watch(&other, RecursiveMode::Recursive)?;
            fs::remove_file(&s.target)?;
            let seen = expect(&mut w, EventKind::Remove, &s.link).await;
            assert!(!seen.ended);
            assert_eq!(w.watched_paths(), vec![other.clone()]);
            // The other root still reports; the target recreated is not watched any more.
            fs::write(&s.target, b"again")?;
            let seen = sync(&mut w, &other, "after").await;
            assert!(seen.about(&s.link).is_empty(), "{seen:#?}");
            Ok(())
        })
    })
}

#[test]
fn a_dangling_link_is_not_found_naming_it() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    let link = root.join("dangling");
    symlink("nowhere", &link)?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::builder().follow_symlinks(true).build()?;
            let e = w.watch(&link, RecursiveMode::Recursive).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
            assert!(e.to_string().contains(&*link.to_string_lossy()), "{e}");
            // As a missing path does.
            let missing = root.join("missing");
            let m = w.watch(&missing, RecursiveMode::Recursive).unwrap_err();
            assert_eq!(m.kind(), e.kind());
            assert!(w.watched_paths().is_empty());
            Ok(())
        })
    })
}

#[test]
fn a_symlink_loop_is_a_loop_error_not_a_hang() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    let (a, b) = (root.join("a"), root.join("b"));
    symlink(&b, &a)?;
    symlink(&a, &b)?;
    let self_loop = root.join("self");
    symlink("self", &self_loop)?;
    bounded(move || {
        block_on(async move {
            for follow in [false, true] {
                let mut w = Watcher::builder().follow_symlinks(follow).build()?;
                for link in [&a, &self_loop] {
                    let e = w.watch(link, RecursiveMode::Recursive).unwrap_err();
                    let eloop = io::Error::from_raw_os_error(libc::ELOOP);
                    assert_eq!(e.kind(), eloop.kind(), "{e}");
                    let msg = e.to_string();
                    assert!(msg.contains(&*link.to_string_lossy()), "{msg}");
                    assert!(msg.contains(&eloop.to_string()), "{msg}");
                }
                assert!(w.watched_paths().is_empty());
            }
            Ok(())
        })
    })
}

#[test]
fn link_deleted_while_watched_is_the_root_s_remove() -> io::Result<()> {
    let s = setup()?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::new()?;
            w.watch(&s.link, RecursiveMode::Recursive)?;
            fs::remove_file(&s.link)?;
            let seen = until(&mut w, |s| s.ended).await;
            assert!(seen.ended, "{seen:#?}");
            assert_eq!(seen.count(&EventKind::Remove, &s.link), 1, "{seen:#?}");
            assert_eq!(seen.events.len(), 1, "{seen:#?}");
            assert!(seen.errors.is_empty(), "{seen:#?}");
            // The target, still there, is no longer watched.
            assert!(s.target.exists());
            fs::write(&s.target, b"unwatched")?;
            assert!(quiet(&mut w, 300).await.ended);
            Ok(())
        })
    })
}

#[test]
fn link_made_dangling_or_a_directory_is_the_root_s_remove() -> io::Result<()> {
    for to_dir in [false, true] {
        let s = setup()?;
        bounded(move || {
            block_on(async move {
                let mut w = Watcher::new()?;
                w.watch(&s.link, RecursiveMode::Recursive)?;
                // `ln -sfn` to what is no longer a file: a new link renamed over the old one.
                let tmp = s.root.join("links/.link.tmp");
                symlink(if to_dir { "../real" } else { "../real/nowhere" }, &tmp)?;
                fs::rename(&tmp, &s.link)?;
                let seen = until(&mut w, |s| s.ended).await;
                assert!(seen.ended, "to_dir {to_dir}: {seen:#?}");
                assert_eq!(seen.count(&EventKind::Remove, &s.link), 1, "{seen:#?}");
                assert_eq!(seen.events.len(), 1, "to_dir {to_dir}: {seen:#?}");
                Ok::<(), io::Error>(())
            })
        })?;
    }
    Ok(())
}

#[test]
fn link_retargeted_follows_the_new_file() -> io::Result<()> {
    let s = setup()?;
    let other = s.root.join("real/other.txt");
    fs::write(&other, b"other, longer content")?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::new()?;
            w.watch(&s.link, RecursiveMode::Recursive)?;
            // `ln -sfn ../real/other.txt link`.
            let tmp = s.root.join("links/.link.tmp");
            symlink("../real/other.txt", &tmp)?;
            fs::rename(&tmp, &s.link)?;
            // The path now holds other content: a Modify, as an atomic save of a file root.
            let seen = expect(&mut w, DATA, &s.link).await;
            assert_eq!(seen.events.len(), 1, "{seen:#?}");
            assert!(seen.errors.is_empty(), "{seen:#?}");
            // The old target is no longer watched, the new one is.
            fs::write(&s.target, b"old target written")?;
            let seen = quiet(&mut w, 300).await;
            assert!(seen.events.is_empty() && !seen.ended, "{seen:#?}");
            OpenOptions::new().append(true).open(&other)?.write_all(b"!")?;
            let seen = expect(&mut w, DATA, &s.link).await;
            assert_eq!(seen.events.len(), 1, "{seen:#?}");
            never_names(&seen, &other, "retargeted");
            // Retargeted again, then the old target deleted in the same breath (a
            // Kubernetes ConfigMap update swaps a link, then deletes the old files): a Modify,
            // not the end of the root.
            let third = s.root.join("real/third.txt");
            fs::write(&third, b"third")?;
            symlink("../real/third.txt", &tmp)?;
            fs::rename(&tmp, &s.link)?;
            fs::remove_file(&other)?;
            let seen = expect(&mut w, DATA, &s.link).await;
            let seen2 = quiet(&mut w, 300).await;
            assert!(!seen2.ended && seen2.events.is_empty(), "{seen:#?} {seen2:#?}");
            assert!(!seen.has(&EventKind::Remove, &s.link), "{seen:#?}");
            fs::set_permissions(&third, fs::Permissions::from_mode(0o600))?;
            expect(&mut w, META, &s.link).await;
            Ok(())
        })
    })
}

#[test]
fn the_link_and_its_target_watched_together_are_two_roots() -> io::Result<()> {
    let s = setup()?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::builder().follow_symlinks(true).build()?;
            w.watch(&s.link, RecursiveMode::Recursive)?;
            w.watch(&s.target, RecursiveMode::Recursive)?;
            fs::write(&s.target, b"both see it")?;
            let seen = until(&mut w, |x| x.has(&DATA, &s.link) && x.has(&DATA, &s.target)).await;
            assert_eq!(seen.count(&DATA, &s.link), 1, "{seen:#?}");
            assert_eq!(seen.count(&DATA, &s.target), 1, "{seen:#?}");
            w.unwatch(&s.link)?;
            assert_eq!(w.watched_paths(), vec![s.target.clone()]);
            fs::write(&s.target, b"only the target's root now")?;
            let seen = expect(&mut w, DATA, &s.target).await;
            never_names(&seen, &s.link, "after unwatch");
            Ok(())
        })
    })
}

#[test]
fn a_kubernetes_configmap_update_is_a_modify_of_the_watched_link() -> io::Result<()> {
    // cm/app.yaml -> ..data/app.yaml, cm/..data -> ..v1: an update writes ..v2, swaps ..data
    // (a new link renamed over it) and deletes ..v1.
    let (_t, root) = watched_tempdir()?;
    let cm = root.join("cm");
    fs::create_dir_all(cm.join("..v1"))?;
    fs::write(cm.join("..v1/app.yaml"), b"v: 1")?;
    symlink("..v1", cm.join("..data"))?;
    let app = cm.join("app.yaml");
    symlink("..data/app.yaml", &app)?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::new()?;
            w.watch(&app, RecursiveMode::Recursive)?;
            for v in 2..5 {
                let (old, new) = (cm.join(format!("..v{}", v - 1)), cm.join(format!("..v{v}")));
                fs::create_dir(&new)?;
                fs::write(new.join("app.yaml"), format!("v: {v}, longer"))?;
                symlink(format!("..v{v}"), cm.join("..data_tmp"))?;
                fs::rename(cm.join("..data_tmp"), cm.join("..data"))?;
                fs::remove_dir_all(&old)?;
                let seen = expect(&mut w, DATA, &app).await;
                let more = quiet(&mut w, 200).await;
                assert!(!seen.has(&EventKind::Remove, &app), "update {v}: {seen:#?}");
                assert!(more.events.is_empty() && !more.ended, "update {v}: {more:#?}");
                assert!(seen.errors.is_empty() && more.errors.is_empty(), "{seen:#?}");
                never_names(&seen, &new.join("app.yaml"), "configmap");
            }
            // The file of the last update is the one watched.
            OpenOptions::new().append(true).open(cm.join("..v4/app.yaml"))?.write_all(b"\n")?;
            expect(&mut w, DATA, &app).await;
            Ok(())
        })
    })
}

#[test]
fn a_link_swapped_further_along_the_way_is_seen_at_the_old_file_s_next_change() -> io::Result<()> {
    // links/link -> ../hops/cur -> ../real/target.txt: `cur` is in another directory, whose
    // changes the watcher does not hear.
    let s = setup()?;
    fs::create_dir(s.root.join("hops"))?;
    let cur = s.root.join("hops/cur");
    symlink("../real/target.txt", &cur)?;
    fs::remove_file(&s.link)?;
    symlink("../hops/cur", &s.link)?;
    let other = s.root.join("real/other.txt");
    fs::write(&other, b"other")?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::new()?;
            w.watch(&s.link, RecursiveMode::Recursive)?;
            fs::write(&s.target, b"through the hop")?;
            expect(&mut w, DATA, &s.link).await;
            let tmp = s.root.join("hops/.cur.tmp");
            symlink("../real/other.txt", &tmp)?;
            fs::rename(&tmp, &cur)?;
            // The old file deleted: the link still leads to a file, the root goes on.
            fs::remove_file(&s.target)?;
            let seen = expect(&mut w, DATA, &s.link).await;
            let more = quiet(&mut w, 200).await;
            assert!(!seen.has(&EventKind::Remove, &s.link), "{seen:#?}");
            assert!(more.events.is_empty() && !more.ended, "{more:#?}");
            fs::write(&other, b"other, written")?;
            let seen = expect(&mut w, DATA, &s.link).await;
            never_names(&seen, &other, "hop");
            Ok(())
        })
    })
}

#[test]
fn target_moved_into_another_root_is_the_link_root_s_remove() -> io::Result<()> {
    let s = setup()?;
    let elsewhere = s.root.join("elsewhere");
    fs::create_dir(&elsewhere)?;
    bounded(move || {
        block_on(async move {
            let mut w = Watcher::new()?;
            w.watch(&s.link, RecursiveMode::Recursive)?;
            w.watch(&elsewhere, RecursiveMode::Recursive)?;
            let moved = elsewhere.join("moved.txt");
            fs::rename(&s.target, &moved)?;
            let seen = expect(&mut w, EventKind::Remove, &s.link).await;
            let seen2 = sync(&mut w, &elsewhere, "moved").await;
            let all: Vec<_> = seen.events.iter().chain(&seen2.events).collect();
            assert_eq!(seen.count(&EventKind::Remove, &s.link), 1, "{all:#?}");
            assert!(seen2.about(&s.link).is_empty(), "{all:#?}");
            // The other root sees the file arrive (a Rename from its old path, or a Create).
            let arrived = |e: &&kq_fs_watch::Event| e.paths.last() == Some(&moved);
            assert!(all.iter().any(arrived), "{all:#?}");
            assert_eq!(w.watched_paths(), vec![elsewhere.clone()]);
            Ok(())
        })
    })
}
