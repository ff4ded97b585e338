//! Conformance checklist item 30 (KQUEUE.md section 7): a kqueue in a kqueue. READ fires with
//! data = pending events; watching itself is EINVAL; cycles are refused without deadlock; events
//! deep down wake a thread blocked at the top. Issue 8, item 5: no depth limit (Linux refuses
//! chains of epolls deeper than a few; kq follows such links itself), and a refused registration
//! leaves no trace.
// Unix-only: pipes and Unix sockets (the Windows socket cases are in windows_sockets.rs).
#![cfg(unix)]
mod util;

use std::io;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

/// The change that triggers USER event `id` (a modify: it sets udata too).
fn trigger(id: usize, udata: u64) -> Kevent {
    Kevent::new(id, Filter::User, Flags::empty()).with_fflags(note::TRIGGER).with_udata(udata)
}

// ---------------------------------------------------------------------------------------------
// 30. A kqueue in a kqueue: READ fires with data = pending events; watching itself: EINVAL;
//     cycles refused.

#[test]
fn item30_nested_kqueue_read_data_is_pending_count() -> io::Result<()> {
    let outer = Kqueue::new()?;
    let inner = Kqueue::new()?;
    register(
        &inner,
        &[
            add(1, Filter::User, Flags::CLEAR).with_udata(11),
            add(2, Filter::User, Flags::CLEAR).with_udata(12),
        ],
    )?;
    let inner_id = ident(&inner);
    register(&outer, &[add(inner_id, Filter::Read, Flags::empty()).with_udata(30)])?;
    assert!(poll(&outer)?.is_empty(), "inner has nothing pending");

    register(&inner, &[trigger(1, 11)])?;
    let ev = poll_one(&outer, "one USER event pending inside");
    assert_eq!((ev.ident, ev.filter, ev.udata), (inner_id, Filter::Read, 30));
    assert_eq!(ev.data, 1, "data = pending events of the inner kqueue");

    register(&inner, &[trigger(2, 12)])?;
    assert_eq!(poll_one(&outer, "two pending").data, 2, "2 triggered user knotes -> data 2");

    let mut got: Vec<u64> = poll(&inner)?.iter().map(|e| e.udata).collect();
    got.sort_unstable();
    assert_eq!(got, [11, 12]);
    assert!(poll(&outer)?.is_empty(), "inner drained: the nested level event is gone");

    // Registering the nesting while events are already pending fires at once.
    let outer2 = Kqueue::new()?;
    register(&inner, &[trigger(1, 11), trigger(2, 12)])?;
    register(&outer2, &[add(inner_id, Filter::Read, Flags::empty()).with_udata(31)])?;
    let ev = poll_one(&outer2, "nesting registered after the triggers");
    assert_eq!((ev.udata, ev.data), (31, 2));
    Ok(())
}

#[test]
fn item30_kqueue_watching_itself_is_einval() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let me = ident(&kq);
    let mut out = [Kevent::default(); 2];
    let n = kq.kevent(&[add(me, Filter::Read, Flags::empty()).with_udata(77)], &mut out, None)?;
    assert_eq!(n, 1);
    assert!(out[0].flags.contains(Flags::ERROR), "{:?}", out[0]);
    assert_eq!(out[0].data, i64::from(libc::EINVAL), "a kqueue watching itself: EINVAL");
    assert_eq!((out[0].ident, out[0].filter, out[0].udata), (me, Filter::Read, 77));
    assert_eq!(change_errno(&kq, add(me, Filter::Read, Flags::empty())), libc::EINVAL);

    // WRITE on a kqueue is EINVAL too (KQUEUE.md section 2).
    let other = Kqueue::new()?;
    assert_eq!(change_errno(&kq, add(ident(&other), Filter::Write, Flags::empty())), libc::EINVAL);
    assert!(poll(&kq)?.is_empty(), "the refused changes left nothing behind");
    Ok(())
}

#[test]
fn item30_nesting_cycles_are_refused_without_deadlock() -> io::Result<()> {
    let (tx, rx) = mpsc::channel();
    // The checks run on a helper thread, so that a deadlock fails the test instead of hanging it.
    thread::spawn(move || {
        let run = || -> io::Result<Vec<Kevent>> {
            let a = Kqueue::new()?;
            let b = Kqueue::new()?;
            let c = Kqueue::new()?;
            assert_eq!(change_errno(&a, add(ident(&b), Filter::Read, Flags::empty())), 0);
            assert_eq!(
                change_errno(&b, add(ident(&a), Filter::Read, Flags::empty())),
                libc::EINVAL,
                "B watching A while A watches B is a cycle"
            );
            assert_eq!(change_errno(&b, add(ident(&c), Filter::Read, Flags::empty())), 0);
            assert_eq!(
                change_errno(&c, add(ident(&a), Filter::Read, Flags::empty())),
                libc::EINVAL,
                "A -> B -> C -> A is a cycle"
            );
            // The chain still works: an event in C shows through B to A.
            register(&c, &[add(5, Filter::User, Flags::CLEAR).with_fflags(note::TRIGGER)])?;
            let events = poll(&a)?;
            assert_eq!(poll(&c)?.len(), 1, "C's own event is still there");
            Ok(events)
        };
        let _ = tx.send(run());
    });
    let events = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("cycle handling deadlocked (or the helper thread panicked)")?;
    assert_eq!(events.len(), 1, "A sees B, which sees C's event: {events:?}");
    assert_eq!(events[0].filter, Filter::Read);
    assert_eq!(events[0].data, 1, "B has one pending event (its knote on C)");
    Ok(())
}

/// Runs `outer.kevent(None)` on a thread, waits until it is blocked, calls `fire`, and returns
/// what the thread collected. If it is not woken within 20 s, it is released with a USER event
/// of its own and the test fails.
fn blocked_outer_woken_by(outer: &Arc<Kqueue>, fire: impl FnOnce()) -> Vec<Kevent> {
    let (tid_tx, tid_rx) = mpsc::channel();
    let (ev_tx, ev_rx) = mpsc::channel();
    let waiter = {
        let outer = Arc::clone(outer);
        thread::spawn(move || {
            tid_tx.send(gettid()).unwrap();
            let mut events = [Kevent::default(); 8];
            let n = outer.kevent(&[], &mut events, None).expect("kevent");
            ev_tx.send(events[..n].to_vec()).unwrap();
        })
    };
    let blocked = wait_until_blocked(tid_rx.recv().unwrap(), Duration::from_secs(5));
    fire();
    match ev_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(events) => {
            waiter.join().unwrap();
            assert!(blocked || !cfg!(target_os = "linux"), "the waiter never blocked (setup)");
            events
        }
        Err(_) => {
            register(outer, &[add(999, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)])
                .unwrap();
            waiter.join().unwrap();
            panic!(
                "the event in the inner kqueue did not wake the thread blocked in the outer one"
            );
        }
    }
}

#[test]
fn item30_pipe_event_in_inner_wakes_thread_blocked_in_outer() -> io::Result<()> {
    let outer = Arc::new(Kqueue::new()?);
    let inner = Kqueue::new()?;
    let (r, w) = pipe()?;
    register(&inner, &[add(ident(&r), Filter::Read, Flags::empty()).with_udata(7)])?;
    register(&outer, &[add(ident(&inner), Filter::Read, Flags::empty()).with_udata(30)])?;
    assert!(poll(&outer)?.is_empty());

    let events = blocked_outer_woken_by(&outer, || {
        write_fd(&w, b"x").unwrap();
    });
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].ident, events[0].filter), (ident(&inner), Filter::Read));
    assert_eq!(events[0].udata, 30);
    assert!(events[0].data >= 1, "the inner kqueue has an event pending: {:?}", events[0]);

    let ev = poll_one(&inner, "the pipe event itself");
    assert_eq!((ev.ident, ev.udata, ev.data), (ident(&r), 7, 1));
    Ok(())
}

#[test]
fn item30_user_trigger_in_inner_wakes_thread_blocked_in_outer() -> io::Result<()> {
    let outer = Arc::new(Kqueue::new()?);
    let inner = Kqueue::new()?;
    register(&inner, &[add(3, Filter::User, Flags::CLEAR).with_udata(3)])?;
    register(&outer, &[add(ident(&inner), Filter::Read, Flags::empty()).with_udata(30)])?;
    let events = blocked_outer_woken_by(&outer, || register(&inner, &[trigger(3, 3)]).unwrap());
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].ident, events[0].udata, events[0].data), (ident(&inner), 30, 1));
    assert_eq!(poll_one(&inner, "the user event itself").udata, 3);
    Ok(())
}

/// A chain of `len` kqueues: `kqs[i]` watches `kqs[i + 1]` (READ, udata `i + 1`).
fn chain(len: usize) -> io::Result<Vec<Arc<Kqueue>>> {
    let kqs: Vec<Arc<Kqueue>> =
        (0..len).map(|_| Kqueue::new().map(Arc::new)).collect::<io::Result<_>>()?;
    for i in 0..len - 1 {
        let watch = add(ident(&*kqs[i + 1]), Filter::Read, Flags::empty()).with_udata(i as u64 + 1);
        assert_eq!(change_errno(&kqs[i], watch), 0, "kqueue {i} watching kqueue {}", i + 1);
    }
    Ok(kqs)
}

/// Level knotes stay queued until their kqueue looks again (FreeBSD's kq_count counts them):
/// looked at from the bottom up, every level is quiet once the bottom has nothing.
fn quiet_from_the_bottom(kqs: &[Arc<Kqueue>], what: &str) -> io::Result<()> {
    for (i, kq) in kqs.iter().enumerate().rev() {
        assert!(poll(kq)?.is_empty(), "{what}: nothing at level {i}");
    }
    Ok(())
}

/// Walks a chain from the top: each kqueue reports the one below it, the bottom one `bottom`.
fn walk_down(kqs: &[Arc<Kqueue>], bottom: u64, what: &str) {
    for (i, kq) in kqs.iter().enumerate().take(kqs.len() - 1).skip(1) {
        let ev = poll_one(kq, &format!("{what}: level {i}"));
        assert_eq!((ev.filter, ev.udata), (Filter::Read, i as u64 + 1), "{what}: level {i}");
        assert!(ev.data >= 1, "{what}: level {i}: {ev:?}");
    }
    let ev = poll_one(kqs.last().expect("a chain"), &format!("{what}: the bottom"));
    assert_eq!(ev.udata, bottom, "{what}: the bottom's own event");
}

// Issue 8, item 5: Linux refuses chains of epoll instances deeper than a few (ELOOP); FreeBSD has
// no such limit and neither has kq. A chain of 12 kqueues is accepted, and a pipe event, a USER
// trigger and a timer at the bottom each wake a thread blocked at the top.
#[test]
fn item30_chains_of_any_depth_wake_a_thread_blocked_at_the_top() -> io::Result<()> {
    const LEN: usize = 12;
    let kqs = chain(LEN)?;
    let bottom = &kqs[LEN - 1];
    let (r, w) = pipe()?;
    register(
        bottom,
        &[
            add(ident(&r), Filter::Read, Flags::empty()).with_udata(100),
            add(5, Filter::User, Flags::CLEAR).with_udata(101),
        ],
    )?;
    assert!(poll(&kqs[0])?.is_empty(), "nothing pending anywhere");

    let events = blocked_outer_woken_by(&kqs[0], || {
        write_fd(&w, b"deep").unwrap();
    });
    assert_eq!(events.iter().map(|e| e.udata).collect::<Vec<_>>(), [1], "{events:?}");
    walk_down(&kqs, 100, "pipe");
    assert_eq!(read_fd(&r, 8)?, b"deep");
    quiet_from_the_bottom(&kqs, "pipe drained")?;

    let events = blocked_outer_woken_by(&kqs[0], || register(bottom, &[trigger(5, 101)]).unwrap());
    assert_eq!(events.iter().map(|e| e.udata).collect::<Vec<_>>(), [1], "{events:?}");
    walk_down(&kqs, 101, "user");
    quiet_from_the_bottom(&kqs, "user event collected")?;

    // A timer at the bottom: the top's wait ends at its deadline.
    register(bottom, &[add(6, Filter::Timer, Flags::ONESHOT).with_data(20).with_udata(102)])?;
    let mut events = [Kevent::default(); 4];
    let n = kqs[0].kevent(&[], &mut events, Some(Duration::from_secs(20)))?;
    assert_eq!(events[..n].iter().map(|e| e.udata).collect::<Vec<_>>(), [1], "the timer");
    walk_down(&kqs, 102, "timer");
    Ok(())
}

// Issue 8, item 5: a refused or failed nesting registration leaves no trace. A chain of 8 built
// top-down (deeper than Linux nests epolls), torn down, then built in the other direction; and
// after a refused cycle, the registration in the other direction is accepted once the first
// link is gone.
#[test]
fn item30_nesting_registrations_leave_no_trace() -> io::Result<()> {
    const LEN: usize = 8;
    let kqs = chain(LEN)?;
    for i in 0..LEN - 1 {
        register(&kqs[i], &[Kevent::new(ident(&*kqs[i + 1]), Filter::Read, Flags::DELETE)])?;
    }
    for i in 0..LEN - 1 {
        let watch = add(ident(&*kqs[i]), Filter::Read, Flags::empty()).with_udata(i as u64);
        assert_eq!(change_errno(&kqs[i + 1], watch), 0, "reverse link {} -> {i}", i + 1);
    }
    register(&kqs[0], &[add(1, Filter::User, Flags::CLEAR).with_fflags(note::TRIGGER)])?;
    let ev = poll_one(&kqs[LEN - 1], "the reversed chain carries an event up");
    assert_eq!((ev.udata, ev.data), (LEN as u64 - 2, 1));

    let a = Kqueue::new()?;
    let b = Kqueue::new()?;
    assert_eq!(change_errno(&a, add(ident(&b), Filter::Read, Flags::empty())), 0);
    assert_eq!(change_errno(&b, add(ident(&a), Filter::Read, Flags::empty())), libc::EINVAL);
    assert!(b.is_empty(), "the refused registration made no knote");
    register(&a, &[Kevent::new(ident(&b), Filter::Read, Flags::DELETE)])?;
    assert_eq!(change_errno(&b, add(ident(&a), Filter::Read, Flags::empty())), 0);
    Ok(())
}

// Hostile nesting: a watched kqueue dropped (its number then taken by another kqueue) leaves
// the watcher silent; two threads registering the two halves of a cycle at once never both
// succeed (nor both fail) and never deadlock; one kqueue watching 200 others is woken by any of them.
#[test]
fn item30_dropped_child_races_and_wide_trees() -> io::Result<()> {
    let parent = Kqueue::new()?;
    let child = Kqueue::new()?;
    let num = ident(&child);
    register(&child, &[add(1, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)])?;
    register(&parent, &[add(num, Filter::Read, Flags::empty()).with_udata(1)])?;
    assert_eq!(poll_one(&parent, "child pending").udata, 1);
    drop(child);
    let successor = Kqueue::new()?; // very likely takes the same number
    register(&successor, &[add(2, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)])?;
    assert!(poll(&parent)?.is_empty(), "the dropped child's knote must not report its successor");

    for round in 0..100 {
        let a = Arc::new(Kqueue::new()?);
        let b = Arc::new(Kqueue::new()?);
        let (tx, rx) = mpsc::channel();
        for (x, y) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
            let tx = tx.clone();
            thread::spawn(move || {
                let _ = tx.send(change_errno(&x, add(ident(&*y), Filter::Read, Flags::empty())));
            });
        }
        let limit = Duration::from_secs(20);
        let r1 = rx.recv_timeout(limit).expect("a nesting registration deadlocked");
        let r2 = rx.recv_timeout(limit).expect("a nesting registration deadlocked");
        let mut got = [r1, r2];
        got.sort_unstable();
        assert_eq!(got, [0, libc::EINVAL], "round {round}: exactly one half of the cycle");
    }

    const WIDE: usize = 200;
    let top = Arc::new(Kqueue::new()?);
    let mut below = Vec::new();
    for i in 0..WIDE {
        let kq = Kqueue::new()?;
        let (r, w) = pipe()?;
        register(&kq, &[add(ident(&r), Filter::Read, Flags::empty())])?;
        register(&top, &[add(ident(&kq), Filter::Read, Flags::empty()).with_udata(i as u64)])?;
        below.push((kq, r, w));
    }
    for pick in [0, WIDE / 2, WIDE - 1] {
        let events = blocked_outer_woken_by(&top, || {
            write_fd(&below[pick].2, b"x").unwrap();
        });
        assert_eq!(events.iter().map(|e| e.udata).collect::<Vec<_>>(), [pick as u64]);
        read_fd(&below[pick].1, 8)?;
        assert!(poll(&below[pick].0)?.is_empty());
        assert!(poll(&top)?.is_empty(), "drained: nothing above");
    }
    Ok(())
}

// A thread blocked on the bottom of a deep chain and another blocked at the top: a (level) event
// at the bottom wakes both; the bottom's own waiter collects it, and since it stays pending, the
// top sees the chain readable. (An edge event taken at the bottom before the top looks is gone:
// the top then sees nothing, where FreeBSD's intermediate knotes would stay queued until scanned.)
#[test]
fn item30_waiters_at_both_ends_of_a_deep_chain() -> io::Result<()> {
    const LEN: usize = 8;
    let kqs = chain(LEN)?;
    let (r, w) = pipe()?;
    register(&kqs[LEN - 1], &[add(ident(&r), Filter::Read, Flags::empty()).with_udata(100)])?;
    let bottom = {
        let kq = kqs[LEN - 1].clone();
        thread::spawn(move || collect(&kq, Some(Duration::from_secs(20))))
    };
    let events = blocked_outer_woken_by(&kqs[0], || {
        write_fd(&w, b"both").unwrap();
    });
    assert_eq!(events.iter().map(|e| e.udata).collect::<Vec<_>>(), [1], "{events:?}");
    let got = bottom.join().expect("the bottom waiter")?;
    assert_eq!(got.iter().map(|e| (e.udata, e.data)).collect::<Vec<_>>(), [(100, 4)]);
    Ok(())
}

/// A watches B; B is closed and a new kqueue C gets B's fd number; C registered in A works
/// (checklist 30: closing a kqueue removes the knotes on it, so the EV_ADD makes a new one).
/// Every kqueue has the same file identity on the emulated backends, so the stale knote on
/// B used to be found and modified instead: the EV_ADD succeeded, and A never reported C.
/// Found by trying kq as a careless user would (2026-12-02).
#[test]
fn a_new_kqueue_on_a_closed_kqueues_fd_number_is_watched() -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let a = Kqueue::new()?;
    let b = Kqueue::new()?;
    let fd = b.as_raw_fd() as usize;
    register(&a, &[add(fd, Filter::Read, Flags::empty()).with_udata(1)])?;
    drop(b);
    let c = Kqueue::new()?;
    if c.as_raw_fd() as usize != fd {
        return Ok(()); // the number went elsewhere: nothing to check (not seen on Linux)
    }
    register(&a, &[add(fd, Filter::Read, Flags::empty()).with_udata(2)])?;
    assert_eq!(a.len(), 1, "the knote on C is in A");
    let trigger = Kevent::new(1, Filter::User, Flags::ADD).with_fflags(note::TRIGGER);
    c.kevent(&[trigger], &mut [], None)?;
    let ev = collect(&a, Some(Duration::from_secs(5)))?;
    assert_eq!(ev.len(), 1, "A reports C's pending event: {ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter, ev[0].udata, ev[0].data), (fd, Filter::Read, 2, 1));
    Ok(())
}
