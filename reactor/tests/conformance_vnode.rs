//! Conformance checklist items 31 and 32 (KQUEUE.md section 7): the VNODE filter on real files
//! and directories (inotify on Linux), its notes, their accumulation between deliveries, the
//! overflow rule (`note::RESCAN`), and the errors for things that are not files.
//!
//! inotify queues its events synchronously inside the syscall that caused them, but the reactor
//! only reads them when `kevent` is called, so every check collects with a deadline
//! ([`notes_until`]) rather than trusting one zero-timeout poll.
// Unix-only: the VNODE filter (on Windows it is EOPNOTSUPP).
#![cfg(unix)]
mod util;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

/// Every VNODE note a knote can ask for.
const ALL: u32 = note::DELETE
    | note::WRITE
    | note::EXTEND
    | note::ATTRIB
    | note::LINK
    | note::RENAME
    | note::REVOKE;

/// How long an expected event may take to show up before the test calls it lost.
const LIMIT: Duration = Duration::from_secs(5);

/// The change that adds an edge-triggered VNODE knote on `fd` asking for `interest`.
fn vnode(fd: &impl AsRawFd, interest: u32, udata: u64) -> Kevent {
    add(ident(fd), Filter::Vnode, Flags::CLEAR).with_fflags(interest).with_udata(udata)
}

/// Events collected for one knote (by udata): every event seen and their ORed fflags.
#[derive(Debug, Default)]
struct Seen {
    events: Vec<Kevent>,
    notes: u32,
}

/// Collects until the knote with `udata` has reported every bit of `want` (ORed over its
/// events), or `limit` passes. Events of other knotes are ignored.
fn notes_until(kq: &Kqueue, udata: u64, want: u32, limit: Duration) -> io::Result<Seen> {
    Ok(all_notes_until(kq, &[(udata, want)], limit)?.remove(&udata).unwrap_or_default())
}

/// Collects until every knote `(udata, want)` of `wants` has reported all of its `want` bits,
/// or `limit` passes; returns what each udata (of any knote) reported.
fn all_notes_until(
    kq: &Kqueue,
    wants: &[(u64, u32)],
    limit: Duration,
) -> io::Result<HashMap<u64, Seen>> {
    let deadline = Instant::now() + limit;
    let mut seen: HashMap<u64, Seen> = HashMap::new();
    let satisfied = |seen: &HashMap<u64, Seen>| {
        wants.iter().all(|&(u, w)| seen.get(&u).is_some_and(|s| s.notes & w == w))
    };
    while !satisfied(&seen) {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let slice = (deadline - now).min(Duration::from_millis(200));
        for ev in collect(kq, Some(slice))? {
            let s = seen.entry(ev.udata).or_default();
            s.notes |= ev.fflags;
            s.events.push(ev);
        }
    }
    Ok(seen)
}

/// Like [`notes_until`], but panics unless every bit of `want` arrived; checks the shape of
/// each event (ident, filter, CLEAR kept, data 0, no EOF/ERROR).
fn expect_notes(kq: &Kqueue, fd: &impl AsRawFd, udata: u64, want: u32) -> io::Result<Seen> {
    let seen = notes_until(kq, udata, want, LIMIT)?;
    assert_eq!(
        seen.notes & want,
        want,
        "expected notes {want:#x} for udata {udata}, got {:#x} in {:?}",
        seen.notes,
        seen.events
    );
    for ev in &seen.events {
        assert_eq!((ev.ident, ev.filter), (ident(fd), Filter::Vnode), "{ev:?}");
        assert!(ev.flags.contains(Flags::CLEAR), "stored CLEAR is returned: {ev:?}");
        assert!(!ev.flags.intersects(Flags::ERROR | Flags::EOF), "{ev:?}");
        assert_eq!(ev.data, 0, "VNODE data is 0: {ev:?}");
        assert_ne!(ev.fflags, 0, "an event carries at least one note: {ev:?}");
    }
    Ok(seen)
}

/// Creates `path` with `len` bytes and returns it opened for reading and writing.
fn file_with(path: &Path, len: usize) -> io::Result<File> {
    let mut f = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
    f.write_all(&vec![b'a'; len])?;
    Ok(f)
}

// ---------------------------------------------------------------------------------------------
// 31. One test per note.

#[test]
fn item31_delete_on_unlink() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("victim");
    let file = file_with(&path, 10)?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&file, ALL, 31)])?;
    assert!(poll(&kq)?.is_empty(), "registration alone reports nothing");

    fs::remove_file(&path)?;
    let seen = expect_notes(&kq, &file, 31, note::DELETE)?;
    assert_eq!(seen.notes & (note::RENAME | note::WRITE), 0, "unlink is no rename/write: {seen:?}");
    assert_quiet(&kq, "after the unlink was reported")?;
    Ok(())
}

#[test]
fn item31_write_on_write_in_place() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = file_with(&dir.path().join("w"), 100)?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&file, ALL, 311)])?;
    assert!(poll(&kq)?.is_empty());

    file.write_all_at(b"0123456789", 0)?;
    let seen = expect_notes(&kq, &file, 311, note::WRITE)?;
    assert_eq!(seen.notes & note::EXTEND, 0, "overwriting in place does not extend: {seen:?}");
    assert_eq!(
        seen.notes & (note::DELETE | note::RENAME | note::LINK),
        0,
        "only a write happened: {seen:?}"
    );
    Ok(())
}

#[test]
fn item31_extend_on_growth() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = file_with(&dir.path().join("grow"), 16)?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&file, ALL, 312)])?;

    file.write_all_at(b"more bytes", 16)?;
    let seen = expect_notes(&kq, &file, 312, note::WRITE | note::EXTEND)?;
    assert_eq!(seen.notes & (note::DELETE | note::RENAME | note::LINK), 0, "{seen:?}");
    assert_quiet(&kq, "EV_CLEAR: the growth was reported once")?;

    // A second growth after delivery is a new edge.
    file.write_all_at(b"x", 100)?;
    expect_notes(&kq, &file, 312, note::WRITE | note::EXTEND)?;
    Ok(())
}

#[test]
fn item31_attrib_on_chmod() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("mode");
    let file = file_with(&path, 1)?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&file, ALL, 313)])?;

    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    let seen = expect_notes(&kq, &file, 313, note::ATTRIB)?;
    assert_eq!(seen.notes, note::ATTRIB, "chmod changes attributes only: {seen:?}");

    // fchmod through the watched fd itself works the same.
    file.set_permissions(fs::Permissions::from_mode(0o640))?;
    let seen = expect_notes(&kq, &file, 313, note::ATTRIB)?;
    assert_eq!(seen.notes, note::ATTRIB, "{seen:?}");
    Ok(())
}

#[test]
fn item31_link_on_hard_link_and_its_removal() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("orig");
    let file = file_with(&path, 1)?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&file, ALL, 314)])?;

    let second = dir.path().join("second-name");
    fs::hard_link(&path, &second)?;
    let seen = expect_notes(&kq, &file, 314, note::LINK)?;
    assert_eq!(seen.notes & (note::DELETE | note::RENAME), 0, "link(2) is no delete: {seen:?}");

    // Removing one of two names changes the link count again, but the file lives on.
    fs::remove_file(&second)?;
    let seen = expect_notes(&kq, &file, 314, note::LINK)?;
    assert_eq!(seen.notes & note::DELETE, 0, "one name is left: no DELETE: {seen:?}");
    Ok(())
}

#[test]
fn item31_rename_on_rename() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("before");
    let file = file_with(&path, 1)?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&file, ALL, 315)])?;

    fs::rename(&path, dir.path().join("after"))?;
    let seen = expect_notes(&kq, &file, 315, note::RENAME)?;
    assert_eq!(seen.notes & (note::DELETE | note::WRITE), 0, "a rename only: {seen:?}");
    assert_quiet(&kq, "the rename was reported once")?;
    Ok(())
}

#[test]
fn item31_several_changes_between_calls_arrive_as_one_event() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("many");
    let file = file_with(&path, 4)?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&file, ALL, 316)])?;

    // All of these happen before the next call: inotify has queued them all by then.
    file.write_all_at(b"grow", 4)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    fs::hard_link(&path, dir.path().join("alias"))?;
    fs::rename(&path, dir.path().join("renamed"))?;

    let want = note::WRITE | note::EXTEND | note::ATTRIB | note::LINK | note::RENAME;
    let deadline = Instant::now() + LIMIT;
    let batch = loop {
        let events = collect(&kq, Some(Duration::from_millis(200)))?;
        if !events.is_empty() || Instant::now() >= deadline {
            break events;
        }
    };
    assert_eq!(batch.len(), 1, "one knote, one event: {batch:?}");
    let ev = batch[0];
    assert_eq!((ev.ident, ev.filter, ev.udata), (ident(&file), Filter::Vnode, 316));
    assert_eq!(ev.fflags & want, want, "all notes ORed into one event: {:#x}", ev.fflags);
    assert_eq!(ev.fflags & note::DELETE, 0, "the file still has links: {ev:?}");
    assert_quiet(&kq, "EV_CLEAR: nothing more after the merged event")?;
    Ok(())
}

/// The same in another order: the attribute change comes first, the growth second. Each note
/// must survive whatever else is read in the same batch.
#[test]
fn item31_several_changes_in_another_order_are_all_reported() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("order");
    let file = file_with(&path, 4)?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&file, ALL, 319)])?;

    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    file.write_all_at(b"grow", 4)?;
    fs::hard_link(&path, dir.path().join("alias"))?;

    let want = note::WRITE | note::EXTEND | note::ATTRIB | note::LINK;
    let seen = notes_until(&kq, 319, want, LIMIT)?;
    assert_eq!(seen.notes & want, want, "every note of the batch: {:#x} {seen:?}", seen.notes);
    assert_eq!(seen.events.len(), 1, "one event for changes made between two calls: {seen:?}");
    Ok(())
}

#[test]
fn vnode_fflags_in_select_the_notes_reported() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("picky");
    let file = file_with(&path, 1)?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&file, note::ATTRIB, 317)])?;

    file.write_all_at(b"longer", 0)?;
    assert_quiet(&kq, "a write is not asked for")?;

    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    file.write_all_at(b"longer still", 0)?;
    let seen = expect_notes(&kq, &file, 317, note::ATTRIB)?;
    assert_eq!(seen.notes, note::ATTRIB, "only the asked-for note: {seen:?}");
    Ok(())
}

#[test]
fn vnode_delete_of_the_knote_stops_reports() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = file_with(&dir.path().join("d"), 1)?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&file, ALL, 318)])?;
    file.write_all_at(b"abc", 0)?;
    // The write is queued in inotify (and maybe already read): the delete discards it.
    register(&kq, &[Kevent::new(ident(&file), Filter::Vnode, Flags::DELETE)])?;
    file.write_all_at(b"abcdef", 0)?;
    assert_quiet(&kq, "deleted VNODE knote")?;
    assert_eq!(
        change_errno(&kq, Kevent::new(ident(&file), Filter::Vnode, Flags::DELETE)),
        libc::ENOENT
    );
    Ok(())
}

#[test]
fn vnode_two_fds_of_one_file_and_two_kqueues() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("shared");
    let a = file_with(&path, 1)?;
    let b = File::open(&path)?;
    let kq = Kqueue::new()?;
    let other = Kqueue::new()?;
    register(&kq, &[vnode(&a, ALL, 1), vnode(&b, ALL, 2)])?;
    register(&other, &[vnode(&a, ALL, 3)])?;

    a.write_all_at(b"x", 0)?;
    // The same inode through two fds (the reactor may share one inotify watch).
    let seen = all_notes_until(&kq, &[(1, note::WRITE), (2, note::WRITE)], LIMIT)?;
    for u in [1, 2] {
        let notes = seen.get(&u).map_or(0, |s| s.notes);
        assert_ne!(notes & note::WRITE, 0, "knote {u} sees the write: {seen:?}");
    }
    expect_notes(&other, &a, 3, note::WRITE)?;

    // Deleting one of the knotes on the inode must not silence the other.
    register(&kq, &[Kevent::new(ident(&a), Filter::Vnode, Flags::DELETE)])?;
    a.write_all_at(b"y", 0)?;
    let seen = notes_until(&kq, 2, note::WRITE, LIMIT)?;
    assert_ne!(seen.notes & note::WRITE, 0, "knote on fd b survives the delete: {seen:?}");
    assert!(seen.events.iter().all(|e| e.ident == ident(&b)), "{seen:?}");
    expect_notes(&other, &a, 3, note::WRITE)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 31. Directories.

#[test]
fn item31_directory_write_when_a_file_is_created_removed_or_renamed() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let dirfd = File::open(dir.path())?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&dirfd, ALL, 320)])?;
    assert!(poll(&kq)?.is_empty());

    let path = dir.path().join("new-file");
    drop(File::create(&path)?);
    let seen = expect_notes(&kq, &dirfd, 320, note::WRITE)?;
    assert_eq!(
        seen.notes & (note::LINK | note::DELETE | note::RENAME),
        0,
        "a new file is not a new subdirectory: {seen:?}"
    );

    fs::rename(&path, dir.path().join("moved-file"))?;
    let seen = expect_notes(&kq, &dirfd, 320, note::WRITE)?;
    assert_eq!(seen.notes & (note::DELETE | note::RENAME), 0, "an entry moved: {seen:?}");

    fs::remove_file(dir.path().join("moved-file"))?;
    let seen = expect_notes(&kq, &dirfd, 320, note::WRITE)?;
    assert_eq!(seen.notes & (note::DELETE | note::RENAME), 0, "an entry went: {seen:?}");
    Ok(())
}

#[test]
fn item31_directory_link_when_a_subdirectory_is_created_or_removed() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let dirfd = File::open(dir.path())?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&dirfd, ALL, 321)])?;

    fs::create_dir(dir.path().join("sub"))?;
    let seen = expect_notes(&kq, &dirfd, 321, note::WRITE | note::LINK)?;
    assert_eq!(seen.notes & (note::DELETE | note::RENAME), 0, "{seen:?}");

    fs::remove_dir(dir.path().join("sub"))?;
    let seen = expect_notes(&kq, &dirfd, 321, note::WRITE | note::LINK)?;
    assert_eq!(seen.notes & (note::DELETE | note::RENAME), 0, "{seen:?}");
    Ok(())
}

/// FreeBSD reports changes of a file to the file's own knotes only: writing into a file, or
/// changing its mode, does not write its directory (the directory's entries are unchanged).
#[test]
fn vnode_directory_is_not_notified_of_changes_inside_its_files() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("inner");
    let file = file_with(&path, 1)?;
    let dirfd = File::open(dir.path())?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&dirfd, ALL, 322), vnode(&file, ALL, 323)])?;

    file.write_all_at(b"inner data", 0)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    // The file's own knote sees both, which also proves the changes were queued by now.
    let mut seen = all_notes_until(&kq, &[(323, note::WRITE | note::ATTRIB)], LIMIT)?;
    let file_notes = seen.get(&323).map_or(0, |s| s.notes);
    assert_eq!(file_notes & (note::WRITE | note::ATTRIB), note::WRITE | note::ATTRIB, "{seen:?}");
    // Anything about the directory would have been read together with the file's notes.
    for ev in collect(&kq, Some(Duration::from_millis(100)))? {
        seen.entry(ev.udata).or_default().events.push(ev);
    }
    let on_dir = seen.remove(&322).unwrap_or_default();
    assert!(
        on_dir.events.is_empty(),
        "the directory's entries did not change: no event on it expected, got {on_dir:?}"
    );
    Ok(())
}

#[test]
fn item31_watch_follows_the_fd_after_a_rename() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("wanderer");
    let file = file_with(&path, 1)?;
    let kq = Kqueue::new()?;
    register(&kq, &[vnode(&file, ALL, 324)])?;

    fs::create_dir(dir.path().join("elsewhere"))?;
    let new_path = dir.path().join("elsewhere").join("wanderer-renamed");
    fs::rename(&path, &new_path)?;
    expect_notes(&kq, &file, 324, note::RENAME)?;

    file.write_all_at(b"still watched", 1)?;
    let seen = expect_notes(&kq, &file, 324, note::WRITE | note::EXTEND)?;
    assert_eq!(seen.notes & note::RENAME, 0, "the rename was delivered already: {seen:?}");

    // And through the new name, by another fd.
    fs::set_permissions(&new_path, fs::Permissions::from_mode(0o600))?;
    expect_notes(&kq, &file, 324, note::ATTRIB)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 32. Not a file or directory; not an open fd.

#[test]
fn item32_vnode_on_a_pipe_is_einval() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    assert_eq!(echo_errno(&kq, vnode(&r, ALL, 0))?, i64::from(libc::EINVAL));
    assert_eq!(echo_errno(&kq, vnode(&w, note::WRITE, 0))?, i64::from(libc::EINVAL));
    assert_eq!(change_errno(&kq, vnode(&r, ALL, 0)), libc::EINVAL, "without room the call fails");
    assert!(kq.is_empty(), "no knote was created");
    Ok(())
}

#[test]
fn item32_vnode_on_a_socket_is_einval() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (a, _b) = UnixStream::pair()?;
    assert_eq!(echo_errno(&kq, vnode(&a, ALL, 0))?, i64::from(libc::EINVAL));
    let d = UnixDatagram::unbound()?;
    assert_eq!(echo_errno(&kq, vnode(&d, ALL, 0))?, i64::from(libc::EINVAL));
    assert!(kq.is_empty(), "no knote was created");
    Ok(())
}

#[test]
fn item8_vnode_on_a_closed_fd_is_ebadf() -> io::Result<()> {
    // A number far above anything the other tests of this binary open (fds are allocated
    // lowest-first), so that no concurrent test can reuse it between close and register.
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is valid for writes.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let high = (lim.rlim_cur.min(65536) as i32 - 8).max(64);
    let dir = tempfile::tempdir()?;
    let file = file_with(&dir.path().join("c"), 1)?;
    // SAFETY: plain fcntl on an fd we own; the duplicate is closed right below.
    let fd = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_DUPFD_CLOEXEC, high) };
    assert!(fd >= high, "F_DUPFD: {}", io::Error::last_os_error());
    // SAFETY: `fd` is our duplicate; nothing else uses it.
    assert_eq!(unsafe { libc::close(fd) }, 0);

    let kq = Kqueue::new()?;
    let closed = fd as usize;
    let change = add(closed, Filter::Vnode, Flags::CLEAR).with_fflags(ALL);
    assert_eq!(echo_errno(&kq, change)?, i64::from(libc::EBADF));
    let delete = Kevent::new(closed, Filter::Vnode, Flags::DELETE);
    assert_eq!(echo_errno(&kq, delete)?, i64::from(libc::EBADF), "EV_DELETE too");
    Ok(())
}

// Issue 8, item 7: VNODE wants a file system object. A kqueue, an eventfd or a timerfd (Linux
// anonymous inodes) is EINVAL, as on FreeBSD; a memfd (a file) and a device node are accepted.
#[test]
fn item32_vnode_on_a_kqueue_eventfd_or_timerfd_is_einval() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let other = Kqueue::new()?;
    assert_eq!(echo_errno(&kq, vnode(&other, ALL, 0))?, i64::from(libc::EINVAL), "a kqueue");
    assert_eq!(echo_errno(&kq, vnode(&kq, ALL, 0))?, i64::from(libc::EINVAL), "itself");
    assert!(kq.is_empty(), "no knote was created");
    #[cfg(target_os = "linux")] // eventfd, timerfd and memfd as Linux makes them.
    linux_anonymous_inodes_and_memfd(&kq)?;
    let null = File::open("/dev/null")?;
    assert_eq!(
        echo_errno(
            &kq,
            Kevent { flags: Flags::ADD | Flags::CLEAR | Flags::RECEIPT, ..vnode(&null, ALL, 0) }
        )?,
        0,
        "a device"
    );
    Ok(())
}

/// The Linux half of the test above: an eventfd and a timerfd (anonymous inodes) are EINVAL, a
/// memfd (a file) is accepted.
#[cfg(target_os = "linux")] // Linux's descriptor kinds (FreeBSD's memfd is shared memory).
fn linux_anonymous_inodes_and_memfd(kq: &Kqueue) -> io::Result<()> {
    let own = |fd: i32| -> io::Result<std::os::fd::OwnedFd> {
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
    };
    // SAFETY: plain syscalls creating fresh descriptors.
    let efd = own(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) })?;
    assert_eq!(echo_errno(kq, vnode(&efd, ALL, 0))?, i64::from(libc::EINVAL), "an eventfd");
    // SAFETY: as above.
    let tfd = own(unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC) })?;
    assert_eq!(echo_errno(kq, vnode(&tfd, ALL, 0))?, i64::from(libc::EINVAL), "a timerfd");
    assert!(kq.is_empty(), "no knote was created");
    // SAFETY: memfd_create reads the name only.
    let mfd = own(unsafe { libc::memfd_create(c"kq".as_ptr(), libc::MFD_CLOEXEC) })?;
    assert_eq!(
        echo_errno(
            kq,
            Kevent { flags: Flags::ADD | Flags::CLEAR | Flags::RECEIPT, ..vnode(&mfd, ALL, 0) }
        )?,
        0,
        "a memfd"
    );
    Ok(())
}

/// An fd number of its own for test `k` of this file, far above what the other tests open.
fn spare_fd_number(k: i32) -> i32 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is valid for writes.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    (lim.rlim_cur.min(65536) as i32 - 20 - k).max(64)
}

/// Makes fd number `num` name the file of `fd` (closing what it named before).
fn dup_to(fd: &impl AsRawFd, num: i32) {
    dup_onto(fd, num);
}

// Issue 8, item 3: a VNODE knote whose fd was closed without EV_DELETE, its number then reused by
// another file, reports nothing about either file (FreeBSD drops knotes at close); the knote is
// dropped when it is next looked at. For level/edge and oneshot knotes, and for a number that
// was only closed.
#[test]
fn vnode_knote_of_a_closed_and_reused_fd_reports_nothing() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    for (k, flags, reuse) in
        [(0, Flags::CLEAR, true), (1, Flags::ONESHOT, true), (2, Flags::CLEAR, false)]
    {
        let old = file_with(&dir.path().join(format!("old{k}")), 1)?;
        let new = file_with(&dir.path().join(format!("new{k}")), 1)?;
        let num = spare_fd_number(k);
        dup_to(&old, num);
        let kq = Kqueue::new()?;
        let change = add(num as usize, Filter::Vnode, flags).with_fflags(ALL).with_udata(7);
        register(&kq, &[change])?;
        if reuse {
            dup_to(&new, num); // closes `num` and gives the number to another file
        } else {
            // SAFETY: `num` is this test's duplicate.
            assert_eq!(unsafe { libc::close(num) }, 0);
        }
        old.write_all_at(b"old file grows", 1)?;
        fs::set_permissions(dir.path().join(format!("old{k}")), fs::Permissions::from_mode(0o600))?;
        if reuse {
            new.write_all_at(b"new file too", 1)?;
        }
        assert_quiet(&kq, &format!("{flags:?} reuse={reuse}: the closed fd's knote"))?;
        assert!(kq.is_empty(), "{flags:?}: the stale knote is dropped once looked at");
        if reuse {
            // SAFETY: `num` is this test's duplicate.
            assert_eq!(unsafe { libc::close(num) }, 0);
        }
    }
    Ok(())
}

// The documented limit of the identity check: a closed fd whose number is reused by the *same*
// file (a dup of it, another open of it) cannot be told apart from the fd that was closed, so
// its knotes stay and keep reporting about that file (FreeBSD would have dropped them at close).
#[test]
fn vnode_knote_survives_reuse_of_its_number_by_the_same_file() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("same");
    let first = file_with(&path, 1)?;
    let second = OpenOptions::new().write(true).open(&path)?;
    let num = spare_fd_number(3);
    dup_to(&first, num);
    let kq = Kqueue::new()?;
    register(
        &kq,
        &[add(num as usize, Filter::Vnode, Flags::CLEAR).with_fflags(ALL).with_udata(4)],
    )?;
    dup_to(&second, num); // closed, and reused by another open of the same file
    second.write_all_at(b"grown", 1)?;
    let seen = notes_until(&kq, 4, note::WRITE | note::EXTEND, LIMIT)?;
    assert_eq!(seen.notes & (note::WRITE | note::EXTEND), note::WRITE | note::EXTEND);
    // SAFETY: `num` is this test's duplicate.
    assert_eq!(unsafe { libc::close(num) }, 0);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Stress and overflow.

#[test]
fn vnode_stress_1000_files_in_a_watched_directory() -> io::Result<()> {
    const FILES: usize = 1000;
    let dir = tempfile::tempdir()?;
    let dirfd = File::open(dir.path())?;
    let kq = Arc::new(Kqueue::new()?);
    // WRITE|LINK as the brief asks, plus DELETE|RENAME so that their absence means something.
    let interest = note::WRITE | note::LINK | note::DELETE | note::RENAME;
    register(&kq, &[vnode(&dirfd, interest, 7)])?;
    let dir_ident = ident(&dirfd);

    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let (kq, done) = (Arc::clone(&kq), Arc::clone(&done));
        thread::spawn(move || -> io::Result<(usize, u32)> {
            let deadline = Instant::now() + Duration::from_secs(60);
            let (mut count, mut notes) = (0, 0);
            loop {
                // Read `done` first: once it is set, every change is in inotify's queue, and
                // the collect below reads all of it.
                let finished = done.load(Ordering::Acquire);
                let events = collect(&kq, Some(Duration::from_millis(50)))?;
                for ev in &events {
                    assert_eq!((ev.ident, ev.filter, ev.udata), (dir_ident, Filter::Vnode, 7));
                    assert!(ev.flags.contains(Flags::CLEAR), "{ev:?}");
                    count += 1;
                    notes |= ev.fflags;
                }
                if (finished && events.is_empty()) || Instant::now() >= deadline {
                    return Ok((count, notes));
                }
            }
        })
    };

    for i in 0..FILES {
        let a = dir.path().join(format!("a{i}"));
        let b = dir.path().join(format!("b{i}"));
        let mut f = File::create(&a)?;
        f.write_all(b"payload")?;
        drop(f);
        fs::rename(&a, &b)?;
        fs::remove_file(&b)?;
    }
    done.store(true, Ordering::Release);
    let (count, notes) = collector.join().expect("collector panicked")?;
    assert!(count >= 1, "the collector saw the directory's WRITE at least once");
    assert_ne!(notes & note::WRITE, 0, "entries were created, renamed and removed: {notes:#x}");
    assert_eq!(notes & (note::DELETE | note::RENAME), 0, "the directory itself stayed: {notes:#x}");
    assert_eq!(notes & note::LINK, 0, "no subdirectory was made: {notes:#x}");
    let max_queued: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if max_queued > 5 * FILES {
        // At most 5 inotify events per file: the queue could not overflow.
        assert_eq!(notes & note::RESCAN, 0, "no overflow with {max_queued} slots: {notes:#x}");
    }
    assert_quiet(&kq, "everything was collected")?;
    Ok(())
}

#[cfg(target_os = "linux")] // inotify's queue and its /proc/sys limit: native VNODE has neither.
#[test]
fn vnode_inotify_overflow_reports_rescan_on_every_knote() -> io::Result<()> {
    let max_queued: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")?
        .trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if max_queued > 1 << 18 {
        eprintln!("max_queued_events = {max_queued}: too large to overflow in a test; skipped");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let dirfd = File::open(dir.path())?;
    let other_dir = tempfile::tempdir()?;
    let bystander = file_with(&other_dir.path().join("bystander"), 1)?;
    let kq = Kqueue::new()?;
    register(
        &kq,
        &[
            vnode(&dirfd, note::WRITE | note::ATTRIB, 1),
            vnode(&bystander, note::DELETE | note::RENAME, 2),
        ],
    )?;

    // Two events (IN_CREATE, IN_DELETE) per distinct name, so nothing is coalesced: about twice
    // the queue's capacity, with nobody reading it meanwhile.
    for i in 0..max_queued + 64 {
        let p = dir.path().join(format!("o{i}"));
        drop(File::create(&p)?);
        fs::remove_file(&p)?;
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut d, mut b) = (None::<Kevent>, None::<Kevent>);
    while (d.is_none() || b.is_none()) && Instant::now() < deadline {
        for ev in collect(&kq, Some(Duration::from_millis(200)))? {
            let slot = match ev.udata {
                1 => &mut d,
                2 => &mut b,
                _ => panic!("unexpected event {ev:?}"),
            };
            assert!(slot.is_none(), "EV_CLEAR: one event per knote here, got a second: {ev:?}");
            *slot = Some(ev);
        }
    }
    let d = d.expect("the overflowed directory knote fired");
    assert_eq!((d.ident, d.filter), (ident(&dirfd), Filter::Vnode));
    assert_eq!(
        d.fflags & (note::RESCAN | note::WRITE | note::ATTRIB),
        note::RESCAN | note::WRITE | note::ATTRIB,
        "overflow: every interest bit plus RESCAN: {:#x}",
        d.fflags
    );
    let b = b.expect("every VNODE knote of the kqueue is told to rescan, even an idle one");
    assert_eq!((b.ident, b.filter), (ident(&bystander), Filter::Vnode));
    assert_eq!(
        b.fflags,
        note::RESCAN | note::DELETE | note::RENAME,
        "the idle knote: its interest bits plus RESCAN, nothing else: {:#x}",
        b.fflags
    );

    // The knotes keep working after the overflow, without RESCAN.
    drop(File::create(dir.path().join("after"))?);
    let seen = expect_notes(&kq, &dirfd, 1, note::WRITE)?;
    assert_eq!(seen.notes & note::RESCAN, 0, "the overflow was reported already: {seen:?}");
    Ok(())
}

/// inotify's limits (the watch limit is ENOSPC) are reported with the sysctl to raise. The limit
/// itself is not reached here (the sysctl is left alone): the entry a refused registration
/// produces is built by hand and converted as `kevent` converts it.
#[cfg(target_os = "linux")] // inotify's sysctl, which errno.rs names on Linux only.
#[test]
fn inotify_limit_errors_name_the_sysctl() {
    let entry = Kevent::new(3, Filter::Vnode, Flags::ERROR).with_data(i64::from(libc::ENOSPC));
    let err = entry.error().expect("an ERROR entry with data != 0 is an error");
    assert!(err.to_string().contains("fs.inotify.max_user_watches"), "{err}");
    let entry = Kevent::new(3, Filter::Read, Flags::ERROR).with_data(i64::from(libc::ENOSPC));
    let err = entry.error().expect("error");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "other filters keep the plain errno");
}
