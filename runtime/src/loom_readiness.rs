//! loom model of the I/O readiness cell (`scheduled_io::ScheduledIo`): readiness is cached in an
//! atomic with a tick, a task clears only the readiness it saw, and the driver sets readiness
//! and then takes the waker. The property: an activation that arrives while a task is between
//! "ready" and "would block" is never lost: the task either sees it on its next poll or is woken.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p kq-runtime --lib --release loom`.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

use crate::scheduled_io::{Direction, ScheduledIo};

/// A waker that records that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: StdArc<Self>) {
        self.0.store(true, SeqCst);
    }
}

/// Polls `io` for reading once with `waker`.
fn poll_read(io: &ScheduledIo, waker: &Waker) -> Poll<crate::scheduled_io::ReadyEvent> {
    let mut cx = Context::from_waker(waker);
    let mut fut = pin!(std::future::poll_fn(|cx| io.poll_ready(cx, Direction::Read)));
    fut.as_mut().poll(&mut cx)
}

/// The task saw stale readiness, found the source empty (WouldBlock) and clears what it saw,
/// while new data arrives and the driver reports it.
#[test]
fn loom_readiness_activation_during_would_block_is_never_lost() {
    loom::model(|| {
        let io = Arc::new(ScheduledIo::default());
        let data = Arc::new(AtomicBool::new(false)); // the socket's receive buffer
        io.fire(); // stale readiness from an earlier activation (tick 1)
        let driver = {
            let (io, data) = (io.clone(), data.clone());
            thread::spawn(move || {
                data.store(true, SeqCst); // data arrives,
                io.fire(); // and the OS reports it (tick 2)
            })
        };
        let flag = StdArc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let Poll::Ready(seen) = poll_read(&io, &waker) else {
            panic!("readiness set before the task polled must be seen");
        };
        let read = data.swap(false, SeqCst);
        let again = if read {
            Poll::Pending // the read got the data: nothing can be lost
        } else {
            // WouldBlock: forget the readiness this poll saw, and poll again.
            io.clear_readiness(seen);
            poll_read(&io, &waker).map(|_| ())
        };
        driver.join().unwrap();
        assert!(
            read || again.is_ready() || flag.0.load(SeqCst),
            "the activation was lost: not read, no readiness on the next poll and no wake-up"
        );
    });
}

/// A task parked with its waker is woken by an activation, and a poll after the wake-up sees
/// the readiness (the driver sets readiness before it takes the waker).
#[test]
fn loom_readiness_wake_implies_ready_on_next_poll() {
    loom::model(|| {
        let io = Arc::new(ScheduledIo::default());
        let flag = StdArc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let driver = {
            let io = io.clone();
            thread::spawn(move || io.fire())
        };
        let first = poll_read(&io, &waker);
        driver.join().unwrap();
        if first.is_pending() {
            assert!(flag.0.load(SeqCst), "a parked task was not woken by the activation");
            assert!(poll_read(&io, &waker).is_ready(), "woken, but the readiness is not there");
        }
    });
}

/// Two tasks wait as shared waiters (the `&self` async methods: two `recv_from` on one
/// socket) while the driver reports readiness: each either sees it on its poll or is woken,
/// and a woken one sees it on its next poll. (With one waker slot, the second waiter's
/// registration replaced the first's, which then slept.)
#[test]
fn loom_readiness_every_shared_waiter_is_woken() {
    loom::model(|| {
        let io = Arc::new(ScheduledIo::default());
        let driver = {
            let io = io.clone();
            thread::spawn(move || io.fire())
        };
        let waiter = |io: Arc<ScheduledIo>| {
            let flag = StdArc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let mut cx = Context::from_waker(&waker);
            let mut key = None;
            let first = io.poll_ready_shared(&mut cx, Direction::Read, &mut key);
            (first.is_ready(), flag, key)
        };
        let other = {
            let io = io.clone();
            thread::spawn(move || waiter(io))
        };
        let (ready, flag, key) = waiter(io.clone());
        driver.join().unwrap();
        let (other_ready, other_flag, other_key) = other.join().unwrap();
        for (n, ready, flag) in [(1, ready, &flag), (2, other_ready, &other_flag)] {
            if !ready {
                assert!(flag.0.load(SeqCst), "waiter {n} was neither ready nor woken");
                let waker = Waker::from(flag.clone());
                let mut cx = Context::from_waker(&waker);
                let mut k = None;
                let again = io.poll_ready_shared(&mut cx, Direction::Read, &mut k);
                assert!(again.is_ready(), "waiter {n} was woken, but the readiness is not there");
            }
        }
        for k in [key, other_key].into_iter().flatten() {
            io.remove_waiter(k);
        }
    });
}
