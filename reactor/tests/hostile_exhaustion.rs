//! Out of descriptors, and back (issue 8): with the process's fd limit reached, everything that
//! needs a new descriptor fails with `EMFILE` — a new kqueue, a SIGNAL knote (its pipe), a VNODE
//! knote (inotify), a PROC knote (pidfd) — without a panic and without leaving a knote behind;
//! what is registered keeps working; once descriptors are freed, all of it works again. In a test
//! binary of its own: the limit is process-wide.
// Linux-only: it checks the emulation's fd-backed filters (signal pipe, inotify, pidfd) and
// /proc/self/fd; native SIGNAL, VNODE and PROC knotes take no descriptor.
#![cfg(target_os = "linux")]
mod util;

use std::fs::File;
use std::io;
use std::time::Duration;

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

fn rlimit() -> libc::rlimit {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid out-pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

fn set_soft_limit(cur: u64) {
    let lim = libc::rlimit { rlim_cur: cur, rlim_max: rlimit().rlim_max };
    // SAFETY: a valid rlimit within the hard limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

#[test]
fn out_of_descriptors_then_recovery() -> io::Result<()> {
    let saved = rlimit().rlim_cur;
    let dir = tempfile::tempdir()?;
    let file = File::create(dir.path().join("watched"))?;
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    register(
        &kq,
        &[
            add(ident(&r), Filter::Read, Flags::empty()).with_udata(1),
            add(2, Filter::User, Flags::CLEAR).with_udata(2),
        ],
    )?;
    let sig = libc::SIGRTMIN() + 1;
    let me = std::process::id() as usize;
    let signal = add(sig as usize, Filter::Signal, Flags::empty()).with_udata(3);
    let vnode =
        add(ident(&file), Filter::Vnode, Flags::CLEAR).with_fflags(note::WRITE).with_udata(4);
    let proc_ = add(me, Filter::Proc, Flags::empty()).with_fflags(note::EXIT).with_udata(5);

    let open_now = std::fs::read_dir("/proc/self/fd")?.count() as u64;
    set_soft_limit(open_now + 32);
    let mut hold = Vec::new();
    let exhausted = loop {
        match pipe() {
            Ok(p) => hold.push(p),
            Err(e) => break e,
        }
        assert!(hold.len() < 100, "the limit did not bite");
    };
    assert_eq!(exhausted.raw_os_error(), Some(libc::EMFILE));
    // A pipe takes two descriptors: one may still be free (how many the process had open decides
    // it, e.g. a jobserver's pipe under `make` or CI). Take single descriptors until none is left.
    let mut singles = Vec::new();
    let single_exhausted = loop {
        match File::open("/dev/null") {
            Ok(f) => singles.push(f),
            Err(e) => break e,
        }
        assert!(singles.len() < 100, "the limit did not bite");
    };
    assert_eq!(single_exhausted.raw_os_error(), Some(libc::EMFILE));

    let outcome = (|| -> io::Result<()> {
        let err = Kqueue::new().expect_err("a kqueue needs descriptors");
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        for (what, change) in [("SIGNAL", signal), ("VNODE", vnode), ("PROC", proc_)] {
            assert_eq!(echo_errno(&kq, change)?, i64::from(libc::EMFILE), "{what}");
        }
        assert_eq!(kq.len(), 2, "the refused changes left no knote");
        // What is registered keeps working.
        write_fd(&w, b"x")?;
        let trigger = Kevent::new(2, Filter::User, Flags::empty()).with_fflags(note::TRIGGER);
        let mut out = [Kevent::default(); 8];
        let n = kq.kevent(&[trigger.with_udata(2)], &mut out, Some(Duration::from_secs(5)))?;
        let mut got: Vec<u64> = out[..n].iter().map(|e| e.udata).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2], "events while out of descriptors");

        // Recovery.
        singles.clear();
        hold.truncate(hold.len().saturating_sub(8));
        let fresh = Kqueue::new()?;
        register(&fresh, &[add(9, Filter::Timer, Flags::ONESHOT).with_data(1)])?;
        for change in [signal, vnode, proc_] {
            let receipt = Kevent { flags: change.flags | Flags::RECEIPT, ..change };
            assert_eq!(echo_errno(&kq, receipt)?, 0, "{change:?} after recovery");
        }
        assert_eq!(read_fd(&r, 8)?, b"x");
        assert_eq!(kq.len(), 5);
        // SAFETY: raise a signal that a knote now watches (counted, not fatal).
        assert_eq!(unsafe { libc::raise(sig) }, 0);
        std::fs::write(dir.path().join("watched"), b"grown")?;
        let mut seen: Vec<Filter> = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let both = |s: &[Filter]| s.contains(&Filter::Signal) && s.contains(&Filter::Vnode);
        while !both(&seen) && std::time::Instant::now() < deadline {
            let n = kq.kevent(&[], &mut out, Some(Duration::from_millis(200)))?;
            seen.extend(out[..n].iter().map(|e| e.filter));
        }
        assert!(both(&seen), "signal and vnode after recovery: {seen:?}");
        Ok(())
    })();
    drop(hold);
    drop(singles);
    set_soft_limit(saved);
    outcome
}
