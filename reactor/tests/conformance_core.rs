//! Conformance checklist items 1-13 of KQUEUE.md section 7: the core semantics (identity of
//! knotes, change application, errors and receipts, waking), checked with real pipes, sockets,
//! threads, USER and TIMER knotes. Items 14-23 (delivery) are in `conformance_delivery.rs`.
// Unix-only: pipes and Unix sockets (the Windows socket cases are in windows_sockets.rs).
#![cfg(unix)]
mod util;

use std::io;
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

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
    let (_serial, fd) = high_fd()?;
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

// Issue 8, item 8: a successful change with EV_RECEIPT and no room left to echo it ends the
// call there, as a failed one does (FreeBSD's kevent returns at that point): the change itself is
// applied, later ones are not, and nothing is collected.
#[test]
fn receipt_without_room_stops_the_changelist() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let changes = [
        add(1, Filter::User, Flags::RECEIPT).with_fflags(note::TRIGGER).with_udata(1),
        add(2, Filter::User, Flags::RECEIPT).with_udata(2),
        add(3, Filter::User, Flags::empty()).with_udata(3),
    ];
    // No room at all: the first change is applied, the call returns 0, the rest is not applied.
    assert_eq!(kq.kevent(&changes, &mut [], None)?, 0);
    assert_eq!(kq.len(), 1, "only the first change was applied");
    // Room for one entry: its receipt is written, the second change is applied and, with no room
    // for its receipt, ends the call; the third is not applied.
    let kq = Kqueue::new()?;
    let mut out = [Kevent::default(); 1];
    assert_eq!(kq.kevent(&changes, &mut out, Some(Duration::ZERO))?, 1);
    assert_eq!((out[0].ident, out[0].flags, out[0].data), (1, Flags::ERROR, 0));
    assert_eq!(kq.len(), 2);
    assert_errno(&kq, change(3, Filter::User, Flags::DELETE), libc::ENOENT)?;
    Ok(())
}

// Issue 8, item 8: EV_ADD|EV_DELETE on a knote that does not exist takes FreeBSD's create path
// (kqueue_register looks at EV_DELETE only for an existing knote): the knote is created,
// evaluated, and stays. On an existing knote the same flags delete it.
#[test]
fn add_with_delete_creates_a_missing_knote_and_deletes_an_existing_one() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    write_fd(&w, b"ready")?;
    let both = Flags::ADD | Flags::DELETE;
    let changes = [
        Kevent::new(ident(&r), Filter::Read, both).with_udata(1),
        Kevent::new(7, Filter::User, both).with_fflags(note::TRIGGER).with_udata(2),
    ];
    let ev = call(&kq, &changes.map(|c| Kevent { flags: c.flags | Flags::RECEIPT, ..c }), 4)?;
    assert_eq!(ev.iter().map(|e| e.data).collect::<Vec<_>>(), [0, 0], "two successes: {ev:?}");
    assert_eq!(kq.len(), 2, "both knotes were created");
    let mut evs = poll(&kq)?;
    evs.sort_by_key(|e| e.udata);
    assert_eq!(evs.iter().map(|e| (e.udata, e.data)).collect::<Vec<_>>(), [(1, 5), (2, 0)]);
    assert!(evs.iter().all(|e| !e.flags.intersects(Flags::ADD | Flags::DELETE)), "{evs:?}");
    // Existing now: EV_ADD|EV_DELETE deletes them.
    register(&kq, &changes)?;
    assert!(kq.is_empty());
    assert!(poll(&kq)?.is_empty());
    // A closed fd is still EBADF.
    let (_serial, closed) = high_fd()?;
    let n = ident(&closed);
    drop(closed);
    assert_errno(&kq, Kevent::new(n, Filter::Read, both), libc::EBADF)?;
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
