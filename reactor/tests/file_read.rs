//! READ on a regular file (KQUEUE.md section 3): `data` is the size minus the offset, and the
//! knote fires when the file grows after it found nothing to read, as FreeBSD's `filt_vfsread`
//! does at each write (`tail -f`). On Linux, where epoll cannot watch regular files, an inotify
//! watch stands behind the knote; these tests hold it to the same contract as the kernel's.
// Unix-only: regular files read through raw descriptors.
#![cfg(unix)]
mod util;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

/// The file to read (at its end, opened for reading only) and an appender on the same path.
fn file_at_end(dir: &Path, content: &[u8]) -> io::Result<(File, File)> {
    let path = dir.join("log");
    std::fs::write(&path, content)?;
    let mut reader = File::open(&path)?;
    reader.seek(SeekFrom::End(0))?;
    let writer = OpenOptions::new().append(true).open(&path)?;
    Ok((reader, writer))
}

fn read_events(kq: &Kqueue) -> io::Result<Vec<Kevent>> {
    Ok(poll(kq)?.into_iter().filter(|e| e.filter == Filter::Read).collect())
}

#[test]
fn a_file_at_its_end_fires_when_it_grows_and_data_is_what_was_appended() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut reader, mut writer) = file_at_end(dir.path(), b"old\n")?;
    let kq = Kqueue::new()?;
    register(&kq, &[add(ident(&reader), Filter::Read, Flags::empty()).with_udata(3)])?;
    assert!(poll(&kq)?.is_empty(), "at the end of the file: nothing to read");

    writer.write_all(b"hello\n")?;
    let ev = poll_one(&kq, "the file grew by 6 bytes");
    assert_eq!((ev.ident, ev.filter, ev.udata, ev.data), (ident(&reader), Filter::Read, 3, 6));
    // Level: it holds while the bytes are unread.
    assert_eq!(poll_one(&kq, "still unread").data, 6);

    let mut buf = Vec::new();
    reader.read_to_end(&mut buf)?;
    assert_eq!(buf, b"hello\n");
    assert!(poll(&kq)?.is_empty(), "read to the end: the level event is gone");

    writer.write_all(b"again")?;
    assert_eq!(poll_one(&kq, "grew a second time").data, 5);
    Ok(())
}

#[test]
fn clear_fires_once_per_write_and_not_without_one() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_reader, mut writer) = file_at_end(dir.path(), b"")?;
    let kq = Kqueue::new()?;
    register(&kq, &[add(ident(&_reader), Filter::Read, Flags::CLEAR)])?;
    assert!(poll(&kq)?.is_empty());
    writer.write_all(b"abc")?;
    assert_eq!(poll_one(&kq, "first write").data, 3);
    assert!(poll(&kq)?.is_empty(), "EV_CLEAR: delivered once, nothing new since");
    writer.write_all(b"de")?;
    assert_eq!(poll_one(&kq, "second write").data, 5, "data is still size minus offset");
    assert!(poll(&kq)?.is_empty());
    Ok(())
}

#[test]
fn a_write_by_another_process_fires_it() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (reader, _writer) = file_at_end(dir.path(), b"start\n")?;
    let kq = Kqueue::new()?;
    register(&kq, &[add(ident(&reader), Filter::Read, Flags::CLEAR)])?;
    assert!(poll(&kq)?.is_empty());
    let path = dir.path().join("log");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("printf 'from a child\\n' >> '{}'", path.display()))
        .status()?;
    assert!(status.success());
    assert_eq!(poll_one(&kq, "a child appended 13 bytes").data, 13);
    Ok(())
}

#[test]
fn a_thread_blocked_in_kevent_is_woken_by_the_growth() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (reader, mut writer) = file_at_end(dir.path(), b"")?;
    let kq = std::sync::Arc::new(Kqueue::new()?);
    register(&kq, &[add(ident(&reader), Filter::Read, Flags::CLEAR).with_udata(9)])?;
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let kq = kq.clone();
        thread::spawn(move || {
            let _ = tx.send(gettid());
            let start = Instant::now();
            let events = collect(&kq, Some(HANG));
            (events, start.elapsed())
        })
    };
    let tid = rx.recv().expect("waiter started");
    if cfg!(target_os = "linux") {
        assert!(wait_until_blocked(tid, Duration::from_secs(5)), "the waiter never blocked");
    } else {
        thread::sleep(Duration::from_millis(100));
    }
    writer.write_all(b"wake up")?;
    let (events, took) = waiter.join().expect("waiter panicked");
    let events = events?;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].udata, events[0].data), (9, 7));
    assert!(took < HANG, "woken by the write, not by the timeout ({took:?})");
    Ok(())
}

#[test]
fn oneshot_fires_at_the_growth_then_is_gone() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (reader, mut writer) = file_at_end(dir.path(), b"x")?;
    let kq = Kqueue::new()?;
    register(&kq, &[add(ident(&reader), Filter::Read, Flags::ONESHOT)])?;
    assert!(poll(&kq)?.is_empty());
    writer.write_all(b"1234")?;
    let ev = poll_one(&kq, "oneshot");
    assert_eq!(ev.data, 4, "a ONESHOT knote is delivered as evaluated at the write: {ev:?}");
    writer.write_all(b"5")?;
    assert!(poll(&kq)?.is_empty(), "the ONESHOT knote is gone");
    let del = Kevent::new(ident(&reader), Filter::Read, Flags::DELETE);
    assert_errno(&kq, del, libc::ENOENT)
}

#[test]
fn lowat_waits_for_enough_to_be_appended() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (reader, mut writer) = file_at_end(dir.path(), b"")?;
    let kq = Kqueue::new()?;
    let lowat = add(ident(&reader), Filter::Read, Flags::empty()).with_fflags(note::LOWAT);
    register(&kq, &[lowat.with_data(10)])?;
    writer.write_all(b"12345")?;
    assert!(poll(&kq)?.is_empty(), "5 bytes < NOTE_LOWAT 10");
    writer.write_all(b"6789")?;
    assert!(poll(&kq)?.is_empty(), "9 bytes < NOTE_LOWAT 10");
    writer.write_all(b"0")?;
    assert_eq!(poll_one(&kq, "10 bytes reach the mark").data, 10);
    Ok(())
}

// Linux only: FreeBSD's filt_vfsread reports `size - offset` even when negative (an offset past
// the end after a truncation), and fires for it; kq's emulation reports 0 and does not.
#[cfg(target_os = "linux")]
#[test]
fn a_truncation_is_looked_at_but_fires_only_with_something_to_read() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (reader, mut writer) = file_at_end(dir.path(), b"0123456789")?;
    let kq = Kqueue::new()?;
    register(&kq, &[add(ident(&reader), Filter::Read, Flags::CLEAR)])?;
    writer.set_len(0)?;
    assert!(poll(&kq)?.is_empty(), "truncated below the offset: nothing to read");
    // The offset (10) is now past the end: the file must pass it to have something to read.
    writer.write_all(b"abcdefgh")?;
    assert!(poll(&kq)?.is_empty(), "8 bytes, still below the reader's offset of 10");
    writer.write_all(b"ijkl")?;
    assert_eq!(poll_one(&kq, "past the offset").data, 2);
    Ok(())
}

#[test]
fn a_disabled_knote_reports_the_growth_when_enabled() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (reader, mut writer) = file_at_end(dir.path(), b"")?;
    let kq = Kqueue::new()?;
    register(&kq, &[add(ident(&reader), Filter::Read, Flags::CLEAR | Flags::DISABLE)])?;
    writer.write_all(b"while disabled")?;
    assert!(poll(&kq)?.is_empty(), "disabled: nothing delivered");
    register(&kq, &[change(ident(&reader), Filter::Read, Flags::ENABLE)])?;
    assert_eq!(poll_one(&kq, "enabled").data, 14);
    Ok(())
}

#[test]
fn a_deleted_knote_hears_nothing_and_a_new_one_works() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (reader, mut writer) = file_at_end(dir.path(), b"")?;
    let kq = Kqueue::new()?;
    let fd = ident(&reader);
    for round in 0..3 {
        register(&kq, &[add(fd, Filter::Read, Flags::CLEAR)])?;
        writer.write_all(b"ab")?;
        assert_eq!(poll_one(&kq, "registered").data, 2 + 4 * round);
        register(&kq, &[Kevent::new(fd, Filter::Read, Flags::DELETE)])?;
        writer.write_all(b"cd")?;
        assert!(read_events(&kq)?.is_empty(), "round {round}: deleted, yet an event came");
    }
    Ok(())
}

#[test]
fn vnode_and_read_on_one_file_each_keep_working_when_the_other_goes() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (reader, mut writer) = file_at_end(dir.path(), b"")?;
    let kq = Kqueue::new()?;
    let fd = ident(&reader);
    let vnode = add(fd, Filter::Vnode, Flags::CLEAR).with_fflags(note::WRITE | note::EXTEND);
    register(&kq, &[vnode, add(fd, Filter::Read, Flags::CLEAR)])?;
    writer.write_all(b"1")?;
    let mut got: Vec<Filter> = poll(&kq)?.iter().map(|e| e.filter).collect();
    got.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(got, [Filter::Read, Filter::Vnode]);

    register(&kq, &[Kevent::new(fd, Filter::Read, Flags::DELETE)])?;
    writer.write_all(b"2")?;
    let ev = poll_one(&kq, "VNODE after the READ knote went");
    assert_eq!((ev.filter, ev.fflags), (Filter::Vnode, note::WRITE | note::EXTEND));

    register(&kq, &[add(fd, Filter::Read, Flags::CLEAR)])?;
    assert_eq!(poll_one(&kq, "re-added READ: 2 unread bytes").data, 2);
    register(&kq, &[Kevent::new(fd, Filter::Vnode, Flags::DELETE)])?;
    writer.write_all(b"3")?;
    let ev = poll_one(&kq, "READ after the VNODE knote went");
    assert_eq!((ev.filter, ev.data), (Filter::Read, 3));
    Ok(())
}

#[test]
fn a_closed_and_reused_number_hears_nothing_of_the_old_file() -> io::Result<()> {
    let (_serial, high) = high_fd()?;
    let num = high.as_raw_fd();
    let dir = tempfile::tempdir()?;
    let (reader, mut old_writer) = file_at_end(dir.path(), b"")?;
    dup_onto(&reader, num);
    drop(reader);
    let kq = Kqueue::new()?;
    register(&kq, &[add(num as usize, Filter::Read, Flags::CLEAR).with_udata(1)])?;
    // Another file takes the number (closing the watched one); the old file keeps being written.
    let other = dir.path().join("other");
    std::fs::write(&other, b"")?;
    dup_onto(&File::open(&other)?, num);
    old_writer.write_all(b"to the closed file")?;
    assert!(read_events(&kq)?.is_empty(), "an event about the closed file reached the new one");
    register(&kq, &[add(num as usize, Filter::Read, Flags::CLEAR).with_udata(2)])?;
    OpenOptions::new().append(true).open(&other)?.write_all(b"new")?;
    let ev = poll_one(&kq, "the new file grew");
    assert_eq!((ev.udata, ev.data), (2, 3));
    old_writer.write_all(b"more to the closed file")?;
    assert!(read_events(&kq)?.is_empty(), "the old file's watch outlived its knote");
    drop(high); // `num` is closed by `high`'s drop; the guard keeps the number ours until then
    Ok(())
}

#[test]
fn a_kqueue_watching_this_one_sees_the_growth() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (reader, mut writer) = file_at_end(dir.path(), b"")?;
    let inner = Kqueue::new()?;
    register(&inner, &[add(ident(&reader), Filter::Read, Flags::CLEAR)])?;
    let outer = Kqueue::new()?;
    register(&outer, &[add(inner.as_raw_fd() as usize, Filter::Read, Flags::empty())])?;
    assert!(poll(&outer)?.is_empty());
    writer.write_all(b"nested")?;
    let ev = collect(&outer, Some(Duration::from_secs(5)))?;
    assert_eq!(ev.len(), 1, "the outer kqueue did not see the inner one's event: {ev:?}");
    assert_eq!(poll_one(&inner, "inner").data, 6);
    Ok(())
}

/// Many files, each grown once: each READ knote fires exactly once, with its own size.
#[test]
fn many_files_each_fire_once_with_their_own_data() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let kq = Kqueue::new()?;
    let mut files = Vec::new();
    for i in 0..200 {
        let path = dir.path().join(format!("f{i}"));
        std::fs::write(&path, b"")?;
        let reader = File::open(&path)?;
        register(&kq, &[add(ident(&reader), Filter::Read, Flags::CLEAR).with_udata(i)])?;
        files.push((reader, OpenOptions::new().append(true).open(&path)?));
    }
    for (i, (_, writer)) in files.iter_mut().enumerate() {
        writer.write_all(&vec![b'x'; i + 1])?;
    }
    let mut seen = vec![0u32; files.len()];
    let mut buf = [Kevent::default(); 64];
    loop {
        let n = kq.kevent(&[], &mut buf, Some(Duration::ZERO))?;
        if n == 0 {
            break;
        }
        for ev in &buf[..n] {
            assert_eq!(ev.data, ev.udata as i64 + 1, "{ev:?}");
            seen[ev.udata as usize] += 1;
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "each file fires exactly once: {seen:?}");
    Ok(())
}

/// Regular files of the pseudo file systems, and an anonymous one: they register as on FreeBSD
/// (where READ on any regular file is accepted), and a memfd's growth fires its knote when
/// written through a descriptor opened by path.
#[test]
fn unusual_regular_files_register_and_a_memfd_fires() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let status = File::open("/proc/self/status");
    if let Ok(status) = &status {
        register(&kq, &[add(ident(status), Filter::Read, Flags::CLEAR)])?;
        register(&kq, &[Kevent::new(ident(status), Filter::Read, Flags::DELETE)])?;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a NUL-terminated name and flags; a new fd or -1.
        let fd = unsafe { libc::memfd_create(c"kq-file-read".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(fd >= 0, "memfd_create: {}", io::Error::last_os_error());
        // SAFETY: a fresh fd that we now own.
        let mut memfd = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let reader = File::open(format!("/proc/self/fd/{fd}"))?;
        register(&kq, &[add(ident(&reader), Filter::Read, Flags::CLEAR).with_udata(5)])?;
        assert!(poll(&kq)?.is_empty());
        // Writes through the memfd's own descriptor are not seen: the kernel makes no inotify
        // events for the files of internal mounts (documented). Through a descriptor opened by
        // path they are.
        memfd.write_all(b"anon")?;
        let _ = poll(&kq)?;
        OpenOptions::new().append(true).open(format!("/proc/self/fd/{fd}"))?.write_all(b"more")?;
        let ev = poll_one(&kq, "the memfd grew through a descriptor opened by path");
        assert_eq!((ev.udata, ev.data), (5, 8));
    }
    Ok(())
}
