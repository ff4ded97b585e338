//! What a careless or hostile caller does to the reactor (issue 8): absurd idents, every errno of
//! KQUEUE.md section 2's table (with and without room to echo it), and descriptors of every kind
//! closed and their numbers reused by another kind while registered. Nothing panics, every error
//! carries the contract's errno, and no event about a closed file reaches its successor.
// Unix-only: pipes and Unix sockets (the Windows socket cases are in windows_sockets.rs).
#![cfg(unix)]
mod util;

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

/// The errno a change gets: echoed with room (ident, filter and udata intact), and as the call's
/// own error without room. Both must agree.
fn errno_both_ways(kq: &Kqueue, change: Kevent) -> io::Result<i32> {
    let echoed = echo_errno(kq, change)? as i32;
    let failed = change_errno(kq, change);
    assert_eq!(echoed, failed, "{change:?}: echoed {echoed}, failed call {failed}");
    if echoed != 0 {
        let mut out = [Kevent::default(); 1];
        let n = kq.kevent(&[change], &mut out, Some(Duration::ZERO))?;
        let err = out[..n][0].error().expect("an error entry");
        assert_eq!(err.raw_os_error(), Some(echoed), "{change:?}: Kevent::error");
        if echoed == libc::EOPNOTSUPP {
            assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{change:?}");
        }
    }
    Ok(echoed)
}

fn own(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(not(any(target_vendor = "apple", target_os = "openbsd")))] // No eventfd on macOS or OpenBSD.
fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd creates a fresh descriptor.
    own(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
}

/// A pid that does not exist: one past the system's largest.
fn missing_pid() -> usize {
    let max = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap_or_default();
    max.trim().parse::<usize>().unwrap_or(4_194_304) + 1
}

#[test]
fn every_errno_of_the_contract_table() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let other = Kqueue::new()?;
    let (r, _w) = pipe()?;
    let (sock, _peer) = UnixStream::pair()?;
    let closed = {
        let (c, _) = pipe()?;
        // Far above anything this binary opens, so that nobody reuses it meanwhile.
        // SAFETY: plain fcntl duplicating an fd we own; the duplicate is closed right below.
        let fd = own(unsafe { libc::fcntl(c.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 900) })?;
        ident(&fd)
    };
    register(&kq, &[add(ident(&other), Filter::Read, Flags::empty())])?;
    #[allow(unused_mut)] // Pushed to on some platforms only.
    let mut rows: Vec<(&str, Kevent, i32)> = vec![
        (
            "EV_ENABLE|EV_DISABLE",
            add(1, Filter::User, Flags::ENABLE | Flags::DISABLE),
            libc::EINVAL,
        ),
        ("unknown filter 0", add(1, Filter::Unknown(0), Flags::empty()), libc::EINVAL),
        ("unknown filter -100", add(1, Filter::Unknown(-100), Flags::empty()), libc::EINVAL),
        ("unknown filter MIN", add(1, Filter::Unknown(i16::MIN), Flags::empty()), libc::EINVAL),
        ("READ on a closed fd", add(closed, Filter::Read, Flags::empty()), libc::EBADF),
        ("WRITE on a closed fd", add(closed, Filter::Write, Flags::empty()), libc::EBADF),
        ("VNODE on a closed fd", add(closed, Filter::Vnode, Flags::CLEAR), libc::EBADF),
        ("EV_DELETE on a closed fd", Kevent::new(closed, Filter::Read, Flags::DELETE), libc::EBADF),
        ("READ on fd usize::MAX", add(usize::MAX, Filter::Read, Flags::empty()), libc::EBADF),
        ("READ on fd 2^31", add(1 << 31, Filter::Read, Flags::empty()), libc::EBADF),
        ("WRITE on fd -1", add(-1i64 as usize, Filter::Write, Flags::empty()), libc::EBADF),
        ("VNODE on fd 2^40", add(1 << 40, Filter::Vnode, Flags::CLEAR), libc::EBADF),
        ("EV_DELETE of a missing knote", Kevent::new(5, Filter::User, Flags::DELETE), libc::ENOENT),
        (
            "EV_ENABLE of a missing knote",
            Kevent::new(5, Filter::Timer, Flags::ENABLE),
            libc::ENOENT,
        ),
        (
            "EV_DISABLE of a missing knote",
            Kevent::new(5, Filter::User, Flags::DISABLE),
            libc::ENOENT,
        ),
        ("modify of a missing knote", Kevent::new(5, Filter::User, Flags::empty()), libc::ENOENT),
        (
            "READ on a pipe never added",
            Kevent::new(ident(&r), Filter::Read, Flags::DELETE),
            libc::ENOENT,
        ),
        ("a kqueue watching itself", add(ident(&kq), Filter::Read, Flags::empty()), libc::EINVAL),
        ("a nesting cycle", add(ident(&kq), Filter::Read, Flags::empty()), libc::EINVAL),
        ("WRITE on a kqueue", add(ident(&other), Filter::Write, Flags::empty()), libc::EINVAL),
        ("VNODE on a pipe", add(ident(&r), Filter::Vnode, Flags::CLEAR), libc::EINVAL),
        ("VNODE on a socket", add(ident(&sock), Filter::Vnode, Flags::CLEAR), libc::EINVAL),
        ("VNODE on a kqueue", add(ident(&other), Filter::Vnode, Flags::CLEAR), libc::EINVAL),
        (
            "PROC on a missing pid",
            add(missing_pid(), Filter::Proc, Flags::empty()).with_fflags(note::EXIT),
            libc::ESRCH,
        ),
        (
            "PROC on pid usize::MAX",
            add(usize::MAX, Filter::Proc, Flags::empty()).with_fflags(note::EXIT),
            libc::ESRCH,
        ),
        ("TIMER data -1", add(1, Filter::Timer, Flags::empty()).with_data(-1), libc::EINVAL),
        ("TIMER data MIN", add(1, Filter::Timer, Flags::ONESHOT).with_data(i64::MIN), libc::EINVAL),
        (
            "TIMER two units",
            add(1, Filter::Timer, Flags::empty())
                .with_fflags(note::SECONDS | note::NSECONDS)
                .with_data(1),
            libc::EINVAL,
        ),
        (
            "TIMER unknown bit",
            add(1, Filter::Timer, Flags::empty()).with_fflags(1 << 20).with_data(1),
            libc::EINVAL,
        ),
        ("SIGNAL 0", add(0, Filter::Signal, Flags::empty()), libc::EINVAL),
        (
            "SIGNAL SIGKILL",
            add(libc::SIGKILL as usize, Filter::Signal, Flags::empty()),
            libc::EINVAL,
        ),
        (
            "SIGNAL SIGSTOP",
            add(libc::SIGSTOP as usize, Filter::Signal, Flags::empty()),
            libc::EINVAL,
        ),
        (
            "SIGNAL past the last",
            add(PAST_LAST_SIGNAL, Filter::Signal, Flags::empty()),
            libc::EINVAL,
        ),
        ("SIGNAL usize::MAX", add(usize::MAX, Filter::Signal, Flags::empty()), libc::EINVAL),
    ];
    #[cfg(not(any(target_vendor = "apple", target_os = "openbsd")))] // No eventfd there.
    let efd = eventfd()?;
    #[cfg(not(any(target_vendor = "apple", target_os = "openbsd")))] // No eventfd there.
    rows.push(("VNODE on an eventfd", add(ident(&efd), Filter::Vnode, Flags::CLEAR), libc::EINVAL));
    // The kernel's PROC filter has NOTE_FORK and NOTE_EXEC; Linux's pidfd cannot report them.
    #[cfg(target_os = "linux")] // Linux's gap only.
    rows.extend([
        (
            "PROC NOTE_FORK (Linux)",
            add(std::process::id() as usize, Filter::Proc, Flags::empty()).with_fflags(note::FORK),
            libc::EOPNOTSUPP,
        ),
        (
            "PROC NOTE_EXEC (Linux)",
            add(std::process::id() as usize, Filter::Proc, Flags::empty()).with_fflags(note::EXEC),
            libc::EOPNOTSUPP,
        ),
    ]);
    // The cycle row needs `other` to watch `kq` first... no: `kq` watches `other`, so `other`
    // watching `kq` is the cycle. Apply that row to `other`.
    let before = kq.len();
    for (what, change, errno) in rows {
        let target = if what == "a nesting cycle" { &other } else { &kq };
        assert_eq!(errno_both_ways(target, change)?, errno, "{what}");
    }
    assert_eq!(kq.len(), before, "no refused change left a knote");
    assert!(other.is_empty());
    // User and timer idents are the caller's: any number is fine.
    for id in [0, usize::MAX, 1 << 63] {
        let c = [
            add(id, Filter::User, Flags::CLEAR).with_fflags(note::TRIGGER),
            add(id, Filter::Timer, Flags::ONESHOT),
        ];
        register(&kq, &c)?;
    }
    Ok(())
}

/// The kinds of descriptor a READ knote can watch, each made ready by its own means.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Pipe,
    Socket,
    #[cfg(not(any(target_vendor = "apple", target_os = "openbsd")))] // No eventfd there.
    EventFd,
    File,
    Kqueue,
}

/// One descriptor of a kind, and what makes it readable.
struct Thing {
    fd: OwnedFd,
    /// Keeps the peer (pipe writer, socket peer) or the kqueue alive.
    _keep: Option<Box<dyn std::any::Any>>,
    ready: Box<dyn Fn()>,
}

fn thing(kind: Kind, dir: &std::path::Path, n: usize) -> io::Result<Thing> {
    Ok(match kind {
        Kind::Pipe => {
            let (r, w) = pipe()?;
            let w = std::rc::Rc::new(w);
            let w2 = w.clone();
            Thing {
                fd: r,
                _keep: None,
                ready: Box::new(move || {
                    write_fd(&*w2, b"p").unwrap();
                }),
            }
        }
        Kind::Socket => {
            let (a, b) = UnixStream::pair()?;
            let b = std::rc::Rc::new(b);
            Thing {
                fd: a.into(),
                _keep: None,
                ready: Box::new(move || {
                    write_fd(&*b, b"s").unwrap();
                }),
            }
        }
        #[cfg(not(any(target_vendor = "apple", target_os = "openbsd")))] // No eventfd there.
        Kind::EventFd => {
            let e = eventfd()?;
            // SAFETY: dup of our own eventfd.
            let dup = std::rc::Rc::new(own(unsafe {
                libc::fcntl(e.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0)
            })?);
            Thing {
                fd: e,
                _keep: None,
                ready: Box::new(move || {
                    write_fd(&*dup, &1u64.to_ne_bytes()).unwrap();
                }),
            }
        }
        Kind::File => {
            let path = dir.join(format!("f{n}"));
            std::fs::write(&path, b"")?;
            let f = File::open(&path)?;
            Thing {
                fd: f.into(),
                _keep: None,
                ready: Box::new(move || {
                    std::fs::write(&path, b"grown").unwrap();
                }),
            }
        }
        Kind::Kqueue => {
            // Made readable by an OS event inside it (a dup of a kqueue's fd is a plain fd to
            // another kqueue, readable while the OS has events for it).
            let kq = Kqueue::new()?;
            let (r, w) = pipe()?;
            register(&kq, &[add(ident(&r), Filter::Read, Flags::empty())])?;
            // SAFETY: dup of the kqueue's own fd, owned by the Thing from now on.
            let fd = own(unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
            Thing {
                fd,
                _keep: Some(Box::new((kq, r))),
                ready: Box::new(move || {
                    write_fd(&w, b"k").unwrap();
                }),
            }
        }
    })
}

// A READ knote on a descriptor of each kind; the descriptor is closed (its number taken by a
// descriptor of another kind) without EV_DELETE. Whatever happens to the old file and the new
// one afterwards, the old knote reports nothing; a new registration on the number reports the
// new file only. (Two Linux anonymous inodes — an eventfd and a kqueue — share one identity:
// that pair is the documented gap and is left out.)
#[test]
fn closed_and_reused_descriptors_of_every_kind() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    #[allow(unused_mut)] // Inserted into where eventfd exists.
    let mut kinds = vec![Kind::Pipe, Kind::Socket, Kind::File, Kind::Kqueue];
    #[cfg(not(any(target_vendor = "apple", target_os = "openbsd")))] // No eventfd there.
    kinds.insert(2, Kind::EventFd);
    let anon = |k: Kind| match k {
        #[cfg(not(any(target_vendor = "apple", target_os = "openbsd")))] // No eventfd there.
        Kind::EventFd => true,
        Kind::Kqueue => true,
        _ => false,
    };
    let mut n = 0;
    for &old_kind in &kinds {
        for &new_kind in &kinds {
            if anon(old_kind) && anon(new_kind) {
                continue;
            }
            n += 1;
            let what = format!("{old_kind:?} replaced by {new_kind:?}");
            let kq = Kqueue::new()?;
            let old = thing(old_kind, dir.path(), 2 * n)?;
            let new = thing(new_kind, dir.path(), 2 * n + 1)?;
            // The number under test: a duplicate of the old descriptor at a number of its own.
            let num = 1000 + n as i32;
            // A number reserved for this test (nothing else opens that high).
            dup_onto(&old.fd, num);
            register(&kq, &[add(num as usize, Filter::Read, Flags::empty()).with_udata(1)])?;
            // Closed and reused in one step; then both files become readable.
            // This closes what `num` named.
            dup_onto(&new.fd, num);
            (old.ready)();
            (new.ready)();
            let evs = poll(&kq)?;
            assert!(evs.is_empty(), "{what}: the old knote reported {evs:?}");
            // A new registration on the number sees the new file (and only it).
            let mut out = [Kevent::default(); 4];
            let c = add(num as usize, Filter::Read, Flags::empty()).with_udata(2);
            let got = kq.kevent(&[c], &mut out, Some(Duration::from_secs(5)))?;
            let evs = &out[..got];
            assert_eq!(evs.iter().map(|e| e.udata).collect::<Vec<_>>(), [2], "{what}: {evs:?}");
            assert_eq!(kq.len(), 1, "{what}: the old knote is gone");
            register(&kq, &[Kevent::new(num as usize, Filter::Read, Flags::DELETE)])?;
            // SAFETY: closes our duplicate.
            unsafe { libc::close(num) };
        }
    }
    Ok(())
}

/// `Kqueue::delete_fd_knotes` with absurd arguments: numbers no fd has, no filters, the same
/// filter twice, knotes of other filters on the same ident left alone.
#[test]
fn delete_fd_knotes_with_absurd_arguments() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let all = [Filter::Read, Filter::Write, Filter::Vnode];
    for fd in [usize::MAX, usize::MAX / 2, libc::c_int::MAX as usize, 1 << 40] {
        assert_eq!(kq.delete_fd_knotes(fd, &all)?, 0, "fd {fd}");
    }
    let (r, _w) = pipe()?;
    let fd = r.as_raw_fd() as usize;
    register(&kq, &[Kevent::new(fd, Filter::Read, Flags::ADD)])?;
    // A TIMER and a USER knote may use the same number as an ident: not fd knotes.
    register(&kq, &[Kevent::new(fd, Filter::Timer, Flags::ADD).with_data(60_000)])?;
    register(&kq, &[Kevent::new(fd, Filter::User, Flags::ADD)])?;
    assert_eq!(kq.delete_fd_knotes(fd, &[])?, 0);
    assert_eq!(kq.delete_fd_knotes(fd, &[Filter::Read, Filter::Read])?, 1, "deleted once");
    assert_eq!(kq.len(), 2, "the TIMER and USER knotes of the same ident stay");
    let err = kq.delete_fd_knotes(fd, &[Filter::User]).expect_err("USER is not an fd filter");
    assert_eq!(kq_reactor::errno_of(&err), Some(libc::EINVAL));
    assert_eq!(kq.len(), 2);
    Ok(())
}
