//! kq's directory extension [`note::CHILDREN`]: a directory VNODE knote that asks for it also
//! fires when an entry's content or attributes change (Linux: the inotify directory watch's
//! events that carry a name); one without it does not; on a plain file it never fires.
#![cfg(target_os = "linux")]
mod util;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

const LIMIT: Duration = Duration::from_secs(5);

/// Collects until `udata` reported all of `want`, or LIMIT passes; returns every event seen.
fn until(kq: &Kqueue, udata: u64, want: u32) -> io::Result<Vec<Kevent>> {
    let deadline = Instant::now() + LIMIT;
    let mut seen = Vec::new();
    let mut got = 0;
    while got & want != want && Instant::now() < deadline {
        for ev in collect(kq, Some(Duration::from_millis(200)))? {
            if ev.udata == udata {
                got |= ev.fflags;
            }
            seen.push(ev);
        }
    }
    assert_eq!(got & want, want, "udata {udata}: wanted {want:#x}, events {seen:?}");
    Ok(seen)
}

#[test]
fn entry_writes_and_chmods_fire_only_knotes_that_ask() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let with = File::open(dir.path())?;
    let without = File::open(dir.path())?;
    let kq = Kqueue::new()?;
    let interest = note::WRITE | note::ATTRIB | note::LINK;
    register(
        &kq,
        &[
            add(ident(&with), Filter::Vnode, Flags::CLEAR)
                .with_fflags(interest | note::CHILDREN)
                .with_udata(1),
            add(ident(&without), Filter::Vnode, Flags::CLEAR).with_fflags(interest).with_udata(2),
        ],
    )?;
    let path = dir.path().join("f");
    let mut f = File::create(&path)?;
    // Creation is the directory's own WRITE, for both knotes.
    // Both knotes hear the same inotify event, so they are collected together.
    let seen = until(&kq, 1, note::WRITE)?;
    assert!(seen.iter().any(|ev| ev.udata == 2 && ev.fflags & note::WRITE != 0), "{seen:?}");
    assert!(seen.iter().all(|ev| ev.fflags & note::CHILDREN == 0), "{seen:?}");

    f.write_all(b"x")?;
    let seen = until(&kq, 1, note::CHILDREN)?;
    // The other knote would have been collected with it: it got nothing.
    assert!(seen.iter().all(|ev| ev.udata == 1), "{seen:?}");
    for ev in &seen {
        assert_eq!(ev.fflags, note::CHILDREN, "an entry's write is not the directory's: {ev:?}");
    }

    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    let seen = until(&kq, 1, note::CHILDREN)?;
    assert!(seen.iter().all(|ev| ev.udata == 1), "{seen:?}");
    assert_quiet(&kq, "after the chmod")?;

    // The directory's own attribute change is ATTRIB, not CHILDREN.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    let seen = until(&kq, 1, note::ATTRIB)?;
    assert!(seen.iter().all(|ev| ev.fflags & note::CHILDREN == 0), "{seen:?}");
    Ok(())
}

#[test]
fn on_a_plain_file_it_is_accepted_and_never_fires() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("f");
    let mut f = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
    let kq = Kqueue::new()?;
    register(
        &kq,
        &[add(ident(&f), Filter::Vnode, Flags::CLEAR)
            .with_fflags(note::WRITE | note::CHILDREN)
            .with_udata(7)],
    )?;
    f.write_all(b"abc")?;
    let seen = until(&kq, 7, note::WRITE)?;
    assert!(seen.iter().all(|ev| ev.fflags & note::CHILDREN == 0), "{seen:?}");
    Ok(())
}
