//! Conformance checklist items 14-23 of KQUEUE.md section 7: delivery (level, edge, oneshot,
//! dispatch, enable/disable/delete, stored flags), checked with real pipes, sockets, USER and
//! TIMER knotes; and item 41 (issue 8): every call sees every source (no starvation by
//! always-ready knotes), and one poll returns everything pending up to the room given.
// Unix-only: pipes and Unix sockets (the Windows socket cases are in windows_sockets.rs).
#![cfg(unix)]
mod util;

use std::io;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

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

// 41. (issue 8, item 1) Every call collects what the OS reports at its time, whatever is queued and
// whatever the timeout. Always-ready level knotes (an idle connected socket's WRITE, a triggered
// level USER knote) keep the ready queue non-empty, so no call ever blocks: a call that scanned
// the queue without asking the OS would never see the pipe below (FreeBSD activates knotes at
// the source, so every call sees every source).
#[test]
fn always_ready_level_knotes_do_not_starve_other_sources() -> io::Result<()> {
    for timeout in [Some(Duration::from_secs(5)), None, Some(Duration::ZERO)] {
        let kq = Kqueue::new()?;
        let (sock, _peer) = UnixStream::pair()?;
        let (r, w) = pipe()?;
        register(
            &kq,
            &[
                add(ident(&sock), Filter::Write, Flags::empty()).with_udata(1),
                add(9, Filter::User, Flags::empty()).with_fflags(note::TRIGGER).with_udata(2),
                add(ident(&r), Filter::Read, Flags::empty()).with_udata(3),
            ],
        )?;
        let udatas = |evs: &[Kevent]| evs.iter().map(|e| e.udata).collect::<Vec<_>>();
        for round in 0..3 {
            let evs = collect(&kq, timeout)?;
            assert_eq!(udatas(&evs), [1, 2], "{timeout:?} round {round}: only the level knotes");
            write_fd(&w, b"abc")?;
            let evs = collect(&kq, timeout)?;
            let pipe_ev = evs.iter().find(|e| e.udata == 3);
            let pipe_ev = pipe_ev.unwrap_or_else(|| {
                panic!("{timeout:?} round {round}: the pipe's data starved: {evs:?}")
            });
            assert_eq!(pipe_ev.data, 3);
            assert_eq!(read_fd(&r, 16)?.len(), 3);
        }
        drop(w);
        let evs = collect(&kq, timeout)?;
        let eof = evs.iter().find(|e| e.udata == 3);
        assert!(
            eof.is_some_and(|e| e.flags.contains(Flags::EOF)),
            "{timeout:?}: the writer's close starved: {evs:?}"
        );
    }
    Ok(())
}

// 41. with a socket as the starved source and a triggered level USER knote as the only
// always-ready one, collected by a loop that never lets the queue empty.
#[test]
fn triggered_user_knote_does_not_starve_socket_data() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let (a, b) = UnixStream::pair()?;
    register(
        &kq,
        &[
            add(1, Filter::User, Flags::empty()).with_fflags(note::TRIGGER).with_udata(1),
            add(ident(&b), Filter::Read, Flags::empty()).with_udata(2),
        ],
    )?;
    for i in 1..=20u8 {
        write_fd(&a, &[i])?;
        let evs = collect(&kq, Some(Duration::from_secs(5)))?;
        assert!(
            evs.iter().any(|e| e.udata == 2 && e.data == 1),
            "message {i}: the socket's byte was not collected by the next call: {evs:?}"
        );
        assert_eq!(read_fd(&b, 4)?, [i]);
    }
    Ok(())
}

/// Raises the soft fd limit to at least `want` (up to the hard limit); false if it cannot.
fn raise_fd_limit(want: libc::rlim_t) -> bool {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_max < want {
        return false;
    }
    if lim.rlim_cur < want {
        lim.rlim_cur = want;
        // SAFETY: `lim` is a valid rlimit within the hard limit.
        return unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0;
    }
    true
}

// 41. (issue 8, item 2) A poll returns everything that was pending before it, up to the room given:
// 2,000 readable pipes and room for 4,096 give 2,000 events in one call, whether the call polls
// (zero timeout) or may block (the blocking wait reads at most one batch; the rest is harvested
// without blocking); and room for 1,500 gives 1,500, then the other 500.
#[test]
fn one_call_returns_every_pending_event_up_to_its_room() -> io::Result<()> {
    const PIPES: usize = 2000;
    assert!(raise_fd_limit(3 * PIPES as libc::rlim_t + 512), "needs an fd limit of about 6,500");
    let kq = Kqueue::new()?;
    let pipes: Vec<_> = (0..PIPES).map(|_| pipe()).collect::<io::Result<_>>()?;
    let changes: Vec<Kevent> = pipes
        .iter()
        .enumerate()
        .map(|(i, (r, _))| add(ident(r), Filter::Read, Flags::CLEAR).with_udata(i as u64))
        .collect();
    register(&kq, &changes)?;
    let mut events = vec![Kevent::default(); 4096];
    for (timeout, room) in [
        (Some(Duration::ZERO), 4096),
        (Some(Duration::from_secs(5)), 4096),
        (None, 4096),
        (Some(Duration::ZERO), 1500),
    ] {
        for (_, w) in &pipes {
            write_fd(w, b"x")?;
        }
        let n = kq.kevent(&[], &mut events[..room], timeout)?;
        assert_eq!(n, PIPES.min(room), "one call, {timeout:?}, room {room}");
        let mut seen = vec![false; PIPES];
        for ev in &events[..n] {
            assert!(!std::mem::replace(&mut seen[ev.udata as usize], true), "twice: {ev:?}");
        }
        if n < PIPES {
            let rest = kq.kevent(&[], &mut events, Some(Duration::ZERO))?;
            assert_eq!(rest, PIPES - n, "the rest comes with the next call");
        }
        for (r, _) in &pipes {
            read_fd(r, 8)?;
        }
    }
    Ok(())
}
