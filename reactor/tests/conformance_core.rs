//! Conformance checklist items 1-23 of KQUEUE.md section 7: the core semantics (identity of
//! knotes, change application, errors and receipts, level/edge/oneshot/dispatch delivery,
//! enable/disable/delete), checked with real pipes, sockets, threads, USER and TIMER knotes.
mod util;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

/// How long a thread may take to come back before the test calls it hung.
const HANG: Duration = Duration::from_secs(10);

/// Applies `changes` with an event buffer of `cap` slots and a zero timeout.
fn call(kq: &Kqueue, changes: &[Kevent], cap: usize) -> io::Result<Vec<Kevent>> {
    let mut events = vec![Kevent::default(); cap];
    let n = kq.kevent(changes, &mut events, Some(Duration::ZERO))?;
    assert!(n <= cap, "kevent returned {n} entries for {cap} slots");
    events.truncate(n);
    Ok(events)
}

/// Applies one change with room for its echo and returns the echoed entry, which must exist.
fn echo(kq: &Kqueue, change: Kevent) -> io::Result<Kevent> {
    let out = call(kq, &[change], 4)?;
    assert_eq!(out.len(), 1, "expected exactly one ERROR entry for {change:?}, got {out:?}");
    assert_eq!(out[0].flags, Flags::ERROR, "not an ERROR entry: {:?}", out[0]);
    Ok(out[0])
}

/// Asserts that applying `change` is echoed as an error entry with `errno`.
fn assert_errno(kq: &Kqueue, change: Kevent, errno: i32) -> io::Result<()> {
    let e = echo(kq, change)?;
    assert_eq!(e.data, i64::from(errno), "errno of {change:?}: got {e:?}");
    Ok(())
}

/// A NOTE_TRIGGER change for USER `id`.
fn trigger(id: usize) -> Kevent {
    Kevent::new(id, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)
}

/// A change on an existing knote with only `flags`.
fn change(id: usize, filter: Filter, flags: Flags) -> Kevent {
    Kevent::new(id, filter, flags)
}

/// A pipe read end moved to a high descriptor number (at least 512 when the fd limit allows),
/// so that once closed, the number is not handed to another test's pipe in the meantime
/// (new descriptors take the lowest free number).
fn high_fd() -> io::Result<OwnedFd> {
    let (r, _w) = pipe()?;
    for min in [512, 256, 64] {
        // SAFETY: F_DUPFD_CLOEXEC duplicates an fd we own into a fresh one that we then own.
        let fd = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
        if fd >= 0 {
            // SAFETY: fcntl returned a new descriptor nobody else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    Err(io::Error::last_os_error())
}

/// Runs `f` on a thread and waits at most [`HANG`] for it: a hang fails the test instead of
/// blocking the test binary forever.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(HANG) {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not return within {HANG:?}"),
    }
}

// 1. A new kqueue polled with zero timeout returns 0 events.
#[test]
fn new_kqueue_polls_empty() -> io::Result<()> {
    let kq = Kqueue::new()?;
    assert!(kq.is_empty());
    let mut events = [Kevent::default(); 8];
    let n = kq.kevent(&[], &mut events, Some(Duration::ZERO))?;
    assert_eq!(n, 0);
    assert!(poll(&kq)?.is_empty());
    Ok(())
}

// 2. Second EV_ADD of the same (ident, filter) modifies, never duplicates.
#[test]
fn second_add_modifies_not_duplicates() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    let fd = ident(&r);
    register(&kq, &[add(fd, Filter::Read, Flags::empty()).with_udata(1)])?;
    register(&kq, &[add(fd, Filter::Read, Flags::empty()).with_udata(2)])?;
    assert_eq!(kq.len(), 1, "re-adding created a second knote");
    write_fd(&w, b"abc")?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "one knote, one event: {ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter, ev[0].udata, ev[0].data), (fd, Filter::Read, 2, 3));

    // The same for a USER knote, added twice in one changelist. (The second add carries no
    // EV_CLEAR: on an existing USER knote a modify with EV_CLEAR resets the trigger.)
    register(
        &kq,
        &[
            add(5, Filter::User, Flags::CLEAR).with_udata(10),
            add(5, Filter::User, Flags::empty()).with_udata(11).with_fflags(note::TRIGGER),
        ],
    )?;
    assert_eq!(kq.len(), 2);
    let ev: Vec<Kevent> = poll(&kq)?.into_iter().filter(|e| e.filter == Filter::User).collect();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].udata), (5, 11));
    Ok(())
}

// 3. Same fd with READ and WRITE: two independent knotes.
#[test]
fn read_and_write_on_one_fd_are_independent() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    let fd = ident(&a);
    register(
        &kq,
        &[
            add(fd, Filter::Read, Flags::empty()).with_udata(1),
            add(fd, Filter::Write, Flags::empty()).with_udata(2),
        ],
    )?;
    assert_eq!(kq.len(), 2);
    // Nothing to read yet, room to write.
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].filter, ev[0].udata), (Filter::Write, 2));
    assert!(ev[0].data > 0, "WRITE data = free space: {:?}", ev[0]);

    write_fd(&b, b"hello")?;
    let mut ev = poll(&kq)?;
    ev.sort_by_key(|e| e.udata);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter, ev[0].udata, ev[0].data), (fd, Filter::Read, 1, 5));
    assert_eq!((ev[1].ident, ev[1].filter, ev[1].udata), (fd, Filter::Write, 2));

    // Deleting READ leaves WRITE alone.
    register(&kq, &[change(fd, Filter::Read, Flags::DELETE)])?;
    assert_eq!(kq.len(), 1);
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].filter, Filter::Write);
    // And READ is really gone.
    assert_errno(&kq, change(fd, Filter::Read, Flags::DELETE), libc::ENOENT)?;
    assert_eq!(poll(&kq)?.len(), 1);
    Ok(())
}

// 4. Same (ident, filter) in two kqueues: both fire; draining one leaves the other.
#[test]
fn same_knote_in_two_kqueues_is_independent() -> io::Result<()> {
    let kq1 = Kqueue::new()?;
    let kq2 = Kqueue::new()?;
    let (r, w) = pipe()?;
    let fd = ident(&r);
    register(&kq1, &[add(fd, Filter::Read, Flags::CLEAR).with_udata(1)])?;
    register(&kq2, &[add(fd, Filter::Read, Flags::CLEAR).with_udata(2)])?;
    write_fd(&w, b"xy")?;

    let ev1 = poll(&kq1)?;
    assert_eq!(ev1.len(), 1, "{ev1:?}");
    assert_eq!((ev1[0].ident, ev1[0].udata, ev1[0].data), (fd, 1, 2));
    assert!(poll(&kq1)?.is_empty(), "kq1 consumed its edge");
    let ev2 = poll(&kq2)?;
    assert_eq!(ev2.len(), 1, "kq2 must still have its own event: {ev2:?}");
    assert_eq!((ev2[0].ident, ev2[0].udata, ev2[0].data), (fd, 2, 2));
    assert!(poll(&kq2)?.is_empty());

    // USER knotes with the same ident: triggering one does not touch the other.
    register(&kq1, &[add(7, Filter::User, Flags::CLEAR).with_udata(71)])?;
    register(&kq2, &[add(7, Filter::User, Flags::CLEAR).with_udata(72)])?;
    register(&kq1, &[trigger(7).with_udata(71)])?;
    let ev1 = poll(&kq1)?;
    assert_eq!(ev1.len(), 1, "{ev1:?}");
    assert_eq!(ev1[0].udata, 71);
    assert!(poll(&kq2)?.is_empty(), "kq2's USER 7 was never triggered");
    Ok(())
}

// 5. Changes apply in order before any event is collected.
#[test]
fn changes_apply_in_order_before_collecting() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    let fd = ident(&r);
    write_fd(&w, b"data")?;
    let changes = [
        // READ is added (and would fire), then deleted in the same call: no event.
        add(fd, Filter::Read, Flags::empty()).with_udata(1),
        change(fd, Filter::Read, Flags::DELETE),
        // USER 3 is added, triggered, then modified: the event shows the last udata.
        add(3, Filter::User, Flags::CLEAR).with_udata(30),
        trigger(3).with_udata(31),
        add(3, Filter::User, Flags::empty()).with_udata(32),
        // USER 4 is triggered, then cleared by a modify with EV_CLEAR: no event.
        add(4, Filter::User, Flags::empty()).with_fflags(note::TRIGGER).with_udata(40),
        change(4, Filter::User, Flags::CLEAR).with_udata(41),
    ];
    let ev = call(&kq, &changes, 16)?;
    assert_eq!(ev.len(), 1, "only USER 3 may fire: {ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter, ev[0].udata), (3, Filter::User, 32));
    assert_eq!(kq.len(), 2, "READ was deleted, USER 3 and 4 remain");
    assert!(poll(&kq)?.is_empty());
    Ok(())
}

// 6. EV_DELETE of a missing knote: ENOENT. EV_ENABLE/EV_DISABLE of a missing knote: ENOENT.
#[test]
fn missing_knote_delete_enable_disable_enoent() -> io::Result<()> {
    let kq = Kqueue::new()?;
    for flags in [Flags::DELETE, Flags::ENABLE, Flags::DISABLE, Flags::empty(), Flags::CLEAR] {
        assert_errno(&kq, change(1, Filter::User, flags), libc::ENOENT)?;
        assert_errno(&kq, change(1, Filter::Timer, flags), libc::ENOENT)?;
    }
    assert_errno(&kq, trigger(1), libc::ENOENT)?;
    // An open fd without a knote: ENOENT too (not EBADF).
    let (r, _w) = pipe()?;
    for flags in [Flags::DELETE, Flags::ENABLE, Flags::DISABLE] {
        assert_errno(&kq, change(ident(&r), Filter::Read, flags), libc::ENOENT)?;
        assert_errno(&kq, change(ident(&r), Filter::Write, flags), libc::ENOENT)?;
    }
    // A knote that existed and was deleted is missing as well.
    register(&kq, &[add(2, Filter::User, Flags::empty())])?;
    register(&kq, &[change(2, Filter::User, Flags::DELETE)])?;
    assert_errno(&kq, change(2, Filter::User, Flags::DELETE), libc::ENOENT)?;
    assert_errno(&kq, change(2, Filter::User, Flags::ENABLE), libc::ENOENT)?;
    assert!(kq.is_empty());
    Ok(())
}

// 7. Unknown filter: EINVAL. EV_ENABLE|EV_DISABLE together: EINVAL.
#[test]
fn unknown_filter_and_enable_with_disable_einval() -> io::Result<()> {
    let kq = Kqueue::new()?;
    assert_errno(&kq, add(1, Filter::Unknown(-100), Flags::empty()), libc::EINVAL)?;
    assert_errno(&kq, change(1, Filter::Unknown(-100), Flags::DELETE), libc::EINVAL)?;
    assert!(kq.is_empty());

    let both = Flags::ENABLE | Flags::DISABLE;
    // On a new knote: refused, nothing created.
    assert_errno(&kq, add(2, Filter::User, both), libc::EINVAL)?;
    assert!(kq.is_empty(), "a refused change must not create a knote");
    // On an existing knote: refused, the knote is left as it was (enabled, and udata kept).
    register(&kq, &[add(3, Filter::User, Flags::CLEAR).with_udata(33)])?;
    assert_errno(&kq, change(3, Filter::User, both).with_udata(99), libc::EINVAL)?;
    register(&kq, &[trigger(3).with_udata(34)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].udata, 34);
    Ok(())
}

// 8. fd filter on a closed fd: EBADF, also for EV_DELETE.
#[test]
fn closed_fd_is_ebadf_even_for_delete() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let fd = high_fd()?;
    let n = ident(&fd);
    register(&kq, &[add(n, Filter::Read, Flags::empty()).with_udata(8)])?;
    drop(fd);
    assert_errno(&kq, change(n, Filter::Read, Flags::DELETE), libc::EBADF)?;
    assert_errno(&kq, add(n, Filter::Read, Flags::empty()), libc::EBADF)?;
    assert_errno(&kq, add(n, Filter::Write, Flags::empty()), libc::EBADF)?;
    assert_errno(&kq, change(n, Filter::Write, Flags::DELETE), libc::EBADF)?;
    assert_errno(&kq, change(n, Filter::Read, Flags::ENABLE), libc::EBADF)?;
    // The closed fd's knote never produces an event.
    assert!(poll(&kq)?.is_empty());
    Ok(())
}

// 9. Failed change with room: an EV_ERROR entry with data = errno, ident/filter/udata intact.
#[test]
fn failed_change_with_room_echoes_error_entry() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(&kq, &[add(1, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)])?;
    let changes = [
        change(42, Filter::User, Flags::DELETE).with_udata(0xdead_beef).with_data(5),
        add(43, Filter::Unknown(-77), Flags::empty()).with_udata(7),
        // A later good change is still applied.
        add(44, Filter::User, Flags::CLEAR).with_udata(44),
    ];
    let ev = call(&kq, &changes, 8)?;
    assert_eq!(ev.len(), 2, "two error entries and no collected event: {ev:?}");
    assert_eq!(ev[0].ident, 42);
    assert_eq!(ev[0].filter, Filter::User);
    assert_eq!(ev[0].flags, Flags::ERROR);
    assert_eq!(ev[0].data, i64::from(libc::ENOENT));
    assert_eq!(ev[0].udata, 0xdead_beef);
    assert!(ev[0].is_error());
    assert_eq!(ev[0].error().and_then(|e| e.raw_os_error()), Some(libc::ENOENT));
    assert_eq!(ev[1].ident, 43);
    assert_eq!(ev[1].filter, Filter::Unknown(-77));
    assert_eq!(ev[1].flags, Flags::ERROR);
    assert_eq!(ev[1].data, i64::from(libc::EINVAL));
    assert_eq!(ev[1].udata, 7);
    assert_eq!(kq.len(), 2, "USER 44 was added after the errors");
    // The pending USER 1 event was not collected by the erroring call; it is there now.
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].ident, 1);
    Ok(())
}

// 10. Failed change without room: the call fails with that errno; later changes not applied.
#[test]
fn failed_change_without_room_fails_call_and_stops() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let err = kq
        .kevent(
            &[change(1, Filter::User, Flags::DELETE), add(2, Filter::User, Flags::empty())],
            &mut [],
            None,
        )
        .expect_err("no room for ENOENT: the call must fail");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err:?}");
    assert!(kq.is_empty(), "the change after the failure must not be applied");
    assert_errno(&kq, change(2, Filter::User, Flags::DELETE), libc::ENOENT)?;

    // Room for one error: the first is echoed, the second fails the call.
    let mut events = [Kevent::default(); 1];
    let err = kq
        .kevent(
            &[
                change(3, Filter::User, Flags::ENABLE),
                add(4, Filter::Unknown(-50), Flags::empty()),
                add(5, Filter::User, Flags::empty()),
            ],
            &mut events,
            Some(Duration::ZERO),
        )
        .expect_err("second error without room: the call must fail");
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err:?}");
    assert_eq!(events[0].ident, 3, "the first error was still echoed: {:?}", events[0]);
    assert_eq!(events[0].flags, Flags::ERROR);
    assert_eq!(events[0].data, i64::from(libc::ENOENT));
    assert!(kq.is_empty(), "USER 5 came after the failure and must not exist");
    Ok(())
}

// 11. EV_RECEIPT success: an EV_ERROR entry with data 0; the call returns without collecting.
#[test]
fn receipt_echoes_zero_and_skips_collection() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(
        &kq,
        &[add(1, Filter::User, Flags::empty()).with_fflags(note::TRIGGER).with_udata(1)],
    )?;
    let ev = call(
        &kq,
        &[
            add(2, Filter::User, Flags::RECEIPT).with_udata(22).with_fflags(note::TRIGGER),
            add(3, Filter::User, Flags::empty()).with_udata(33),
            add(4, Filter::User, Flags::RECEIPT).with_udata(44),
        ],
        8,
    )?;
    assert_eq!(ev.len(), 2, "two receipts, no collected events: {ev:?}");
    for (e, (id, udata)) in ev.iter().zip([(2, 22), (4, 44)]) {
        assert_eq!(
            (e.ident, e.filter, e.flags, e.data, e.udata),
            (id, Filter::User, Flags::ERROR, 0, udata)
        );
        assert!(e.error().is_none());
    }
    assert_eq!(kq.len(), 4);
    // The pending events are still there (USER 1 and the just-triggered USER 2).
    let mut ev = poll(&kq)?;
    ev.sort_by_key(|e| e.ident);
    assert_eq!(ev.iter().map(|e| e.ident).collect::<Vec<_>>(), [1, 2], "{ev:?}");
    Ok(())
}

// 12. nevents = 0 returns immediately even with no timeout.
#[test]
fn zero_nevents_returns_immediately_without_timeout() -> io::Result<()> {
    let kq = Arc::new(Kqueue::new()?);
    let (r, w) = pipe()?;
    write_fd(&w, b"pending")?;
    register(&kq, &[add(ident(&r), Filter::Read, Flags::empty())])?;
    // Nothing pending at all, no changes: must still return.
    let k = kq.clone();
    let n = bounded("kevent(&[], &mut [], None) on an idle kqueue", move || {
        let idle = Kqueue::new()?;
        let a = idle.kevent(&[], &mut [], None)?;
        let b = k.kevent(&[], &mut [], None)?;
        io::Result::Ok((a, b))
    })?;
    assert_eq!(n, (0, 0));
    // With a change and a pending level event.
    let k = kq.clone();
    let n = bounded("kevent(changes, &mut [], None)", move || {
        k.kevent(&[add(9, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)], &mut [], None)
    })?;
    assert_eq!(n, 0);
    // The pending events were not consumed.
    assert_eq!(poll(&kq)?.len(), 2);
    drop(r);
    Ok(())
}

// 13. A trigger from another thread wakes a thread blocked in the wait.
#[test]
fn trigger_from_another_thread_wakes_blocked_waiter() -> io::Result<()> {
    let kq = Arc::new(Kqueue::new()?);
    register(&kq, &[add(1, Filter::User, Flags::CLEAR).with_udata(0xabc)])?;
    let before = kq.poll_lock_stats().acquisitions;
    let (tx, rx) = mpsc::channel();
    let k = kq.clone();
    thread::spawn(move || {
        let _ = tx.send(collect(&k, None));
    });
    // Best effort only (not needed for correctness): give the waiter the chance to be blocked in
    // the OS wait, which takes the poll lock twice (a harvest, then the blocking wait).
    let spin = Instant::now();
    while kq.poll_lock_stats().acquisitions < before + 2 && spin.elapsed() < Duration::from_secs(2)
    {
        thread::yield_now();
    }
    assert!(rx.try_recv().is_err(), "the waiter returned before anything was triggered");
    register(&kq, &[trigger(1).with_udata(0xabc)])?;
    let ev = rx
        .recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("the blocked waiter was not woken within {HANG:?}"))?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter, ev[0].udata), (1, Filter::User, 0xabc));
    Ok(())
}

// 14. Level READ fires on every call until drained, at most once per call.
#[test]
fn level_read_fires_every_call_until_drained() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    let fd = ident(&r);
    register(&kq, &[add(fd, Filter::Read, Flags::empty()).with_udata(14)])?;
    assert!(poll(&kq)?.is_empty());
    write_fd(&w, &[0u8; 10])?;
    for round in 0..3 {
        let ev = poll(&kq)?;
        assert_eq!(ev.len(), 1, "round {round}: exactly one event per call: {ev:?}");
        assert_eq!(
            (ev[0].ident, ev[0].filter, ev[0].data, ev[0].udata),
            (fd, Filter::Read, 10, 14)
        );
        assert_eq!(ev[0].flags, Flags::empty());
    }
    assert_eq!(read_fd(&r, 4)?.len(), 4);
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].data, 6, "data follows what is left");
    assert_eq!(read_fd(&r, 100)?.len(), 6);
    assert!(poll(&kq)?.is_empty(), "drained: no more events");
    assert!(poll(&kq)?.is_empty());
    Ok(())
}

// 15. A level knote whose condition vanished before collection is not returned.
#[test]
fn level_knote_whose_condition_vanished_is_not_returned() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    write_fd(&w, b"gone soon")?;
    // Adding evaluates the filter: the knote is queued now.
    register(&kq, &[add(ident(&r), Filter::Read, Flags::empty())])?;
    assert_eq!(read_fd(&r, 100)?.len(), 9);
    assert!(poll(&kq)?.is_empty(), "the condition no longer holds at collection");

    // The same after it was delivered once (requeued as level) and then drained.
    write_fd(&w, b"again")?;
    assert_eq!(poll(&kq)?.len(), 1);
    assert_eq!(read_fd(&r, 100)?.len(), 5);
    assert!(poll(&kq)?.is_empty());

    // A USER knote cleared before collection.
    register(&kq, &[add(1, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)])?;
    register(&kq, &[change(1, Filter::User, Flags::CLEAR)])?;
    assert!(poll(&kq)?.is_empty());
    Ok(())
}

// 16. EV_CLEAR READ: one event; partial drain gives none; new data gives a new one.
#[test]
fn clear_read_partial_drain_gives_no_event() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    let fd = ident(&r);
    register(&kq, &[add(fd, Filter::Read, Flags::CLEAR).with_udata(16)])?;
    write_fd(&w, &[1u8; 10])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].data, ev[0].udata), (fd, 10, 16));
    assert!(ev[0].flags.contains(Flags::CLEAR), "{:?}", ev[0]);
    assert!(poll(&kq)?.is_empty(), "edge: no second event for the same data");

    assert_eq!(read_fd(&r, 4)?.len(), 4);
    assert!(poll(&kq)?.is_empty(), "partial drain must not produce an event");
    assert!(poll(&kq)?.is_empty());

    write_fd(&w, &[2u8; 3])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "new data, new edge: {ev:?}");
    assert_eq!(ev[0].data, 9, "data counts everything readable");
    assert!(poll(&kq)?.is_empty());
    Ok(())
}

// 16, harder: a pipe filled to the brim. On Linux, reading from a full pipe wakes the writers'
// wait queue, which an epoll watch of the read end also listens on: that wake-up must not count
// as a new edge for an EV_CLEAR READ knote.
#[test]
fn clear_read_partial_drain_of_full_pipe_gives_no_event() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    let fd = ident(&r);
    register(&kq, &[add(fd, Filter::Read, Flags::CLEAR).with_udata(16)])?;
    let mut total = 0usize;
    loop {
        match write_fd(&w, &[7u8; 4096]) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    assert!(total > 0);
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].data, total as i64);
    assert!(poll(&kq)?.is_empty());

    assert_eq!(read_fd(&r, 4096)?.len(), 4096);
    assert!(poll(&kq)?.is_empty(), "partial drain of a full pipe must not produce an event");
    assert_eq!(read_fd(&r, 4096)?.len(), 4096);
    assert!(poll(&kq)?.is_empty(), "a second partial drain must not either");

    write_fd(&w, b"+")?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "new data, new edge: {ev:?}");
    assert_eq!(ev[0].data, total as i64 - 8192 + 1);
    Ok(())
}

// 17. EV_ONESHOT: one event, then the knote is gone (EV_DELETE gives ENOENT).
#[test]
fn oneshot_fires_once_then_knote_is_gone() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    let fd = ident(&r);
    register(&kq, &[add(fd, Filter::Read, Flags::ONESHOT).with_udata(17)])?;
    write_fd(&w, b"12345")?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].data, ev[0].udata), (fd, 5, 17));
    assert!(ev[0].flags.contains(Flags::ONESHOT), "{:?}", ev[0]);
    assert!(poll(&kq)?.is_empty(), "oneshot: the data is still there but the knote is gone");
    assert!(kq.is_empty());
    assert_errno(&kq, change(fd, Filter::Read, Flags::DELETE), libc::ENOENT)?;

    // USER ONESHOT too.
    register(&kq, &[add(1, Filter::User, Flags::ONESHOT).with_udata(1)])?;
    register(&kq, &[trigger(1).with_udata(1)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(ev[0].flags.contains(Flags::ONESHOT));
    assert!(poll(&kq)?.is_empty());
    assert_errno(&kq, change(1, Filter::User, Flags::DELETE), libc::ENOENT)?;
    assert_errno(&kq, trigger(1), libc::ENOENT)?;
    Ok(())
}

// 18. EV_DISPATCH: one event, then silent; EV_ENABLE re-arms; the flag persists.
#[test]
fn dispatch_fires_once_enable_rearms_flag_persists() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    let fd = ident(&r);
    register(&kq, &[add(fd, Filter::Read, Flags::DISPATCH).with_udata(18)])?;
    write_fd(&w, b"abc")?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].data, ev[0].udata), (3, 18));
    assert!(ev[0].flags.contains(Flags::DISPATCH), "{:?}", ev[0]);
    assert!(poll(&kq)?.is_empty(), "dispatched: disabled while the data is still there");
    write_fd(&w, b"de")?;
    assert!(poll(&kq)?.is_empty(), "disabled: new data is not delivered");
    assert_eq!(kq.len(), 1, "dispatch keeps the knote");

    register(&kq, &[change(fd, Filter::Read, Flags::ENABLE).with_udata(18)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "EV_ENABLE re-arms: {ev:?}");
    assert_eq!(ev[0].data, 5);
    assert!(ev[0].flags.contains(Flags::DISPATCH), "the flag persists: {:?}", ev[0]);
    assert!(poll(&kq)?.is_empty(), "and it is dispatched again");

    // Re-adding without EV_DISPATCH does not drop it either.
    register(&kq, &[add(fd, Filter::Read, Flags::ENABLE).with_udata(18)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(ev[0].flags.contains(Flags::DISPATCH));
    assert!(poll(&kq)?.is_empty());
    Ok(())
}

// 19. EV_DISABLE hides an already-queued event; EV_ENABLE delivers an edge that came while disabled.
#[test]
fn disable_hides_queued_event_enable_delivers_missed_edge() -> io::Result<()> {
    let kq = Kqueue::new()?;
    // USER: triggered (queued), then disabled: hidden; enabled: delivered.
    register(&kq, &[add(1, Filter::User, Flags::CLEAR).with_udata(1)])?;
    register(&kq, &[trigger(1).with_udata(1)])?;
    register(&kq, &[change(1, Filter::User, Flags::DISABLE).with_udata(1)])?;
    assert!(poll(&kq)?.is_empty(), "a disabled knote's queued event is hidden");
    assert!(poll(&kq)?.is_empty());
    register(&kq, &[change(1, Filter::User, Flags::ENABLE).with_udata(1)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].ident, 1);
    assert!(poll(&kq)?.is_empty());

    // USER: the trigger comes while disabled.
    register(&kq, &[change(1, Filter::User, Flags::DISABLE).with_udata(1)])?;
    register(&kq, &[trigger(1).with_udata(1)])?;
    assert!(poll(&kq)?.is_empty());
    register(&kq, &[change(1, Filter::User, Flags::ENABLE).with_udata(1)])?;
    assert_eq!(poll(&kq)?.len(), 1, "the edge that came while disabled is delivered");

    // Pipe READ with EV_CLEAR: data arrives while disabled.
    let (r, w) = pipe()?;
    let fd = ident(&r);
    register(&kq, &[add(fd, Filter::Read, Flags::CLEAR).with_udata(2)])?;
    register(&kq, &[change(fd, Filter::Read, Flags::DISABLE).with_udata(2)])?;
    write_fd(&w, b"while disabled")?;
    assert!(poll(&kq)?.is_empty(), "disabled: nothing delivered");
    assert!(poll(&kq)?.is_empty());
    register(&kq, &[change(fd, Filter::Read, Flags::ENABLE).with_udata(2)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "the edge seen while disabled is delivered on enable: {ev:?}");
    assert_eq!((ev[0].ident, ev[0].data, ev[0].udata), (fd, 14, 2));
    assert!(poll(&kq)?.is_empty());

    // Pipe READ (level), queued at add, then disabled before collection.
    let (r2, w2) = pipe()?;
    write_fd(&w2, b"q")?;
    register(&kq, &[add(ident(&r2), Filter::Read, Flags::empty()).with_udata(3)])?;
    register(&kq, &[change(ident(&r2), Filter::Read, Flags::DISABLE).with_udata(3)])?;
    assert!(poll(&kq)?.is_empty());
    register(&kq, &[change(ident(&r2), Filter::Read, Flags::ENABLE).with_udata(3)])?;
    assert_eq!(poll(&kq)?.len(), 1);
    Ok(())
}

// 20. EV_DELETE discards a queued event.
#[test]
fn delete_discards_queued_event() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(&kq, &[add(1, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)])?;
    register(&kq, &[change(1, Filter::User, Flags::DELETE)])?;
    assert!(poll(&kq)?.is_empty(), "the queued USER event was deleted with its knote");

    let (r, w) = pipe()?;
    write_fd(&w, b"x")?;
    register(&kq, &[add(ident(&r), Filter::Read, Flags::CLEAR)])?;
    register(&kq, &[change(ident(&r), Filter::Read, Flags::DELETE)])?;
    assert!(poll(&kq)?.is_empty(), "the queued READ event was deleted with its knote");

    // Delete and re-add between collections: only the new knote's event, once.
    register(&kq, &[add(2, Filter::User, Flags::CLEAR).with_fflags(note::TRIGGER).with_udata(1)])?;
    register(&kq, &[change(2, Filter::User, Flags::DELETE)])?;
    register(&kq, &[add(2, Filter::User, Flags::CLEAR).with_fflags(note::TRIGGER).with_udata(2)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].udata, 2);
    Ok(())
}

// 21. EV_ADD|EV_DISABLE does not fire until enabled.
#[test]
fn add_disabled_does_not_fire_until_enabled() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    let fd = ident(&r);
    write_fd(&w, b"ready")?;
    register(&kq, &[add(fd, Filter::Read, Flags::DISABLE).with_udata(21)])?;
    register(
        &kq,
        &[add(1, Filter::User, Flags::DISABLE).with_fflags(note::TRIGGER).with_udata(1)],
    )?;
    assert!(poll(&kq)?.is_empty(), "added disabled: nothing fires");
    assert!(poll(&kq)?.is_empty());
    register(&kq, &[change(fd, Filter::Read, Flags::ENABLE).with_udata(21)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter, ev[0].data), (fd, Filter::Read, 5));
    register(&kq, &[change(fd, Filter::Read, Flags::DELETE)])?;
    register(&kq, &[change(1, Filter::User, Flags::ENABLE).with_udata(1)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter), (1, Filter::User));
    Ok(())
}

// 22. Re-adding does not change stored ONESHOT/CLEAR/DISPATCH; any modify overwrites udata.
#[test]
fn readd_keeps_stored_flags_and_overwrites_udata() -> io::Result<()> {
    let kq = Kqueue::new()?;
    // USER created with CLEAR; re-added with ONESHOT: still CLEAR, not ONESHOT.
    register(&kq, &[add(1, Filter::User, Flags::CLEAR).with_udata(1)])?;
    register(&kq, &[add(1, Filter::User, Flags::ONESHOT).with_udata(2)])?;
    register(&kq, &[trigger(1).with_udata(3)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].flags, Flags::CLEAR, "stored flags fixed at creation: {:?}", ev[0]);
    assert_eq!(ev[0].udata, 3, "a trigger (a modify without EV_ADD) overwrites udata");
    assert_eq!(kq.len(), 1, "not oneshot: still registered");
    assert!(poll(&kq)?.is_empty(), "still CLEAR");

    // EV_ENABLE and EV_DISABLE overwrite udata too.
    register(&kq, &[change(1, Filter::User, Flags::DISABLE).with_udata(4)])?;
    register(&kq, &[change(1, Filter::User, Flags::ENABLE).with_udata(5)])?;
    register(&kq, &[trigger(1).with_udata(5)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].udata, 5);
    register(&kq, &[change(1, Filter::User, Flags::ENABLE).with_udata(6)])?;
    register(
        &kq,
        &[change(1, Filter::User, Flags::empty())
            .with_fflags(note::TRIGGER | note::FFNOP)
            .with_udata(7)],
    )?;
    assert_eq!(poll(&kq)?[0].udata, 7);

    // Pipe READ created level; re-added with ONESHOT|CLEAR|DISPATCH: still level, never deleted.
    let (r, w) = pipe()?;
    let fd = ident(&r);
    register(&kq, &[add(fd, Filter::Read, Flags::empty()).with_udata(10)])?;
    register(
        &kq,
        &[add(fd, Filter::Read, Flags::ONESHOT | Flags::CLEAR | Flags::DISPATCH).with_udata(11)],
    )?;
    write_fd(&w, b"zz")?;
    for _ in 0..3 {
        let ev = poll(&kq)?;
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].flags, Flags::empty(), "{:?}", ev[0]);
        assert_eq!(ev[0].udata, 11);
    }
    assert_eq!(kq.len(), 2);

    // A knote created DISPATCH keeps DISPATCH when re-added without it.
    register(&kq, &[add(2, Filter::User, Flags::DISPATCH | Flags::CLEAR).with_udata(20)])?;
    register(
        &kq,
        &[add(2, Filter::User, Flags::empty()).with_udata(21).with_fflags(note::TRIGGER)],
    )?;
    let ev: Vec<Kevent> = poll(&kq)?.into_iter().filter(|e| e.filter == Filter::User).collect();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].flags, ev[0].udata), (Flags::DISPATCH | Flags::CLEAR, 21));
    register(&kq, &[trigger(2).with_udata(21)])?;
    assert!(
        poll(&kq)?.iter().all(|e| e.filter != Filter::User),
        "dispatched: disabled until EV_ENABLE"
    );
    Ok(())
}

// 23. Returned flags carry the stored ONESHOT/CLEAR/DISPATCH/RECEIPT bits.
#[test]
fn returned_flags_carry_stored_bits() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let cases = [
        (1, Flags::empty()),
        (2, Flags::CLEAR),
        (3, Flags::ONESHOT),
        (4, Flags::DISPATCH),
        (5, Flags::RECEIPT | Flags::CLEAR),
        (6, Flags::ONESHOT | Flags::CLEAR | Flags::DISPATCH | Flags::RECEIPT),
    ];
    for (id, flags) in cases {
        let out = call(&kq, &[add(id, Filter::User, flags).with_udata(id as u64)], 4)?;
        if flags.contains(Flags::RECEIPT) {
            assert_eq!(out.len(), 1, "{out:?}");
            assert_eq!((out[0].flags, out[0].data), (Flags::ERROR, 0));
        } else {
            assert!(out.is_empty(), "{out:?}");
        }
        register(&kq, &[trigger(id).with_udata(id as u64)])?;
        let ev = poll(&kq)?;
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].ident, id);
        assert_eq!(ev[0].flags, flags, "event flags = stored bits, no ADD: {:?}", ev[0]);
        if !flags.contains(Flags::ONESHOT) {
            register(&kq, &[change(id, Filter::User, Flags::DELETE)])?;
        }
    }

    // A TIMER is EV_CLEAR implicitly, on top of what it was created with.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(io::Error::other)?
        .as_secs() as i64;
    register(
        &kq,
        &[add(9, Filter::Timer, Flags::ONESHOT)
            .with_fflags(note::ABSTIME | note::SECONDS)
            .with_data(now - 10)
            .with_udata(9)],
    )?;
    let ev = collect(&kq, Some(HANG))?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter), (9, Filter::Timer));
    assert_eq!(ev[0].flags, Flags::ONESHOT | Flags::CLEAR, "{:?}", ev[0]);

    // A READ knote with DISPATCH.
    let (r, w) = pipe()?;
    let out = call(&kq, &[add(ident(&r), Filter::Read, Flags::DISPATCH | Flags::RECEIPT)], 4)?;
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].flags, out[0].data), (Flags::ERROR, 0));
    write_fd(&w, b"1")?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].flags, Flags::DISPATCH | Flags::RECEIPT);
    Ok(())
}
