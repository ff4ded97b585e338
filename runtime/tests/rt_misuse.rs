//! Misuse of the runtime, as a careless or hostile user would try it: timers, I/O and spawns
//! after shutdown; huge and zero durations wherever a duration is accepted; user knotes on the
//! runtime's own idents (and level-triggered ones); dropping runtimes from inside their own
//! tasks and blocking threads.
//!
//! Every test body runs under a watchdog (`bounded`): the defects these tests pin down were
//! hangs, which then fail the test instead of stalling the suite.

mod util;
use util::*;

use std::future::{poll_fn, Future};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::mpsc;
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent};
use kq_runtime::io::{EventSource, RESERVED_IDENTS};
#[cfg(unix)] // The pipe tests only.
use kq_runtime::io::{Interest, Registration};
use kq_runtime::runtime::{Builder, Handle};
use kq_runtime::spawn;
use kq_runtime::task;
use kq_runtime::time::{
    interval, interval_at, sleep, sleep_until, timeout, timeout_at, MissedTickBehavior,
};

const SHUT: &str = "shut down";

/// Runs `body` on another thread inside `handle.block_on`, after it has polled once (so a timer
/// or a waker is armed), and returns that thread, to be joined after the runtime is dropped.
fn pending_elsewhere<T: Send + 'static>(
    handle: Handle,
    body: impl Future<Output = T> + Send + 'static,
) -> thread::JoinHandle<thread::Result<T>> {
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        catch_unwind(AssertUnwindSafe(|| {
            handle.block_on(async move {
                let mut body = pin!(body);
                let mut first = Some(tx);
                poll_fn(|cx| {
                    let r = body.as_mut().poll(cx);
                    if let Some(tx) = first.take() {
                        let _ = tx.send(());
                    }
                    r
                })
                .await
            })
        }))
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("the other thread never polled its future");
    t
}

fn join_within<T: Send + 'static>(t: thread::JoinHandle<T>, what: &str) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(t.join());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(r) => r.expect("the joined thread panicked outside catch_unwind"),
        Err(_) => panic!("{what}: still waiting 20 s after the runtime was dropped: it hangs"),
    }
}

// ---------------------------------------------------------------------------------------------
// Use after shutdown (issue 9, item 1)
// ---------------------------------------------------------------------------------------------

#[test]
fn sleep_after_shutdown_panics_clearly_instead_of_hanging() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let h = rt.handle().clone();
            drop(rt);
            let r = catch_unwind(AssertUnwindSafe(|| h.block_on(sleep(Duration::from_millis(10)))));
            let text = payload_text(&*r.expect_err("a sleep on a dropped runtime must panic"));
            assert!(text.contains(SHUT), "{name}: {text:?}");
            // Nothing to wait for: still fine.
            h.block_on(sleep(Duration::ZERO));
            assert_eq!(h.block_on(async { 5 }), 5, "{name}");
            // A timeout whose future is ready never needs the timer.
            assert_eq!(h.block_on(timeout(Duration::from_secs(1), async { 6 })), Ok(6), "{name}");
        }
    });
}

#[test]
fn sleep_pending_while_the_runtime_drops_is_woken_with_a_panic() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let t = pending_elsewhere(rt.handle().clone(), sleep(Duration::from_secs(3600)));
            drop(rt);
            let r = join_within(t, name);
            let text = payload_text(&*r.expect_err("the pending sleep must panic"));
            assert!(text.contains(SHUT), "{name}: {text:?}");
        }
    });
}

#[cfg(unix)] // Pipes (the Windows I/O tests are in windows_rt.rs).
#[test]
fn io_after_shutdown_is_an_error_never_a_hang() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let (rd, wr) = pipe();
            let (rd2, _wr2) = pipe();
            let h = rt.handle().clone();
            let (reg, reg2) = rt.block_on(async {
                let reg = Registration::new(rd.0 as usize, Interest::READABLE).unwrap();
                let reg2 = Registration::new(rd2.0 as usize, Interest::READABLE).unwrap();
                (reg, reg2)
            });
            let src = rt.block_on(async {
                EventSource::new(Kevent::new(1 << 40, Filter::User, Flags::empty())).unwrap()
            });
            // A read pending on another thread when the runtime goes.
            let pending = pending_elsewhere(h.clone(), async move { reg.readable().await.err() });
            drop(rt);
            let err = join_within(pending, name).expect("no panic").expect("readable must fail");
            assert!(err.to_string().contains(SHUT), "{name}: {err}");

            // Afterwards: waiting fails at once, new registrations fail, streams end.
            let err = h.block_on(reg2.readable()).expect_err("readable after shutdown");
            assert!(err.to_string().contains(SHUT), "{name}: {err}");
            let err = h
                .block_on(async { Registration::new(rd2.0 as usize, Interest::READABLE) })
                .expect_err("a registration on a dropped runtime");
            assert!(err.to_string().contains(SHUT), "{name}: {err}");
            let mut src = src;
            assert_eq!(h.block_on(src.next_event()), None, "{name}: the stream must end");
            let change = Kevent::new(1 << 41, Filter::User, Flags::empty());
            let err = h.block_on(async { EventSource::new(change) }).expect_err("EventSource");
            assert!(err.to_string().contains(SHUT), "{name}: {err}");
            // Data that arrives later changes nothing: still an error, no hang.
            // SAFETY: writing one byte from a valid buffer to a pipe we own.
            assert_eq!(unsafe { libc::write(wr.0, b"x".as_ptr().cast(), 1) }, 1);
            let err = h.block_on(reg2.readable()).expect_err("readable after shutdown");
            assert_eq!(err.kind(), io::ErrorKind::Other, "{name}");
        }
    });
}

/// Wakes a std thread (a minimal foreign executor).
struct Unpark(thread::Thread, std::sync::atomic::AtomicBool);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.1.store(true, std::sync::atomic::Ordering::SeqCst);
        self.0.unpark();
    }
}

/// A timer first armed inside a task (where the runtime does not track it: shutdown cancels
/// tasks), then handed to a plain thread that polls it with its own waker (a foreign executor):
/// dropping the runtime must wake that thread, and its next poll panics clearly.
#[test]
#[allow(clippy::async_yields_async)] // the task hands its armed timer out, on purpose
fn a_timer_moved_from_a_task_to_a_foreign_executor_is_woken_at_shutdown() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let nap = rt.block_on(async {
                spawn(async {
                    let mut nap = Box::pin(sleep(Duration::from_secs(3600)));
                    pending_once(nap.as_mut(), "the task's sleep").await;
                    nap
                })
                .await
                .unwrap()
            });
            let (tx, rx) = mpsc::channel();
            let t = thread::spawn(move || {
                let mut nap = nap;
                let me = std::sync::Arc::new(Unpark(thread::current(), Default::default()));
                let waker = std::task::Waker::from(me.clone());
                let mut cx = std::task::Context::from_waker(&waker);
                assert!(nap.as_mut().poll(&mut cx).is_pending());
                tx.send(()).unwrap();
                while !me.1.load(std::sync::atomic::Ordering::SeqCst) {
                    thread::park();
                }
                catch_unwind(AssertUnwindSafe(|| nap.as_mut().poll(&mut cx)))
            });
            rx.recv_timeout(Duration::from_secs(20)).expect("the foreign poll never happened");
            drop(rt);
            let r = join_within(t, name);
            let text = payload_text(&*r.expect_err("the timer of a dropped runtime must panic"));
            assert!(text.contains(SHUT), "{name}: {text:?}");
        }
    });
}

/// A blocking thread waiting in `Handle::block_on` for a timer of its own runtime: dropping the
/// runtime waits for its blocking threads, so that timer must be woken (to a panic, caught as
/// the blocking task's `JoinError`) or the drop would never return.
#[test]
fn dropping_a_runtime_whose_blocking_thread_sleeps_in_block_on() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let h = rt.handle().clone();
            let (tx, rx) = mpsc::channel();
            let jh = rt.spawn_blocking(move || {
                h.block_on(async move {
                    let mut nap = pin!(sleep(Duration::from_secs(3600)));
                    pending_once(nap.as_mut(), "the blocking thread's sleep").await;
                    tx.send(()).unwrap();
                    nap.await
                })
            });
            rx.recv_timeout(Duration::from_secs(20)).expect("the blocking task never started");
            drop(rt);
            let err = rt_join(jh).expect_err("the sleep cannot complete");
            assert!(err.is_panic(), "{name}: {err:?}");
            assert!(payload_text(&*err.into_panic()).contains(SHUT), "{name}");
        }
    });
}

/// The result of a finished task of a dropped runtime (polled by hand: nothing drives it).
fn rt_join<T>(mut jh: task::JoinHandle<T>) -> Result<T, task::JoinError> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(&mut jh).poll(&mut cx) {
        Poll::Ready(r) => r,
        Poll::Pending => panic!("a task of a dropped runtime is still pending"),
    }
}

#[test]
fn spawn_inside_block_on_after_shutdown_is_cancelled() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let h = rt.handle().clone();
            drop(rt);
            let r = h.block_on(async {
                let a = spawn(async { 1 }).await;
                let b = task::spawn_blocking(|| 2).await;
                (a, b)
            });
            assert!(r.0.unwrap_err().is_cancelled(), "{name}");
            assert!(r.1.unwrap_err().is_cancelled(), "{name}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Huge and zero durations (item 2)
// ---------------------------------------------------------------------------------------------

const HUGE: [Duration; 4] = [
    Duration::MAX,
    Duration::from_secs(u64::MAX),
    Duration::from_secs(1 << 40),
    Duration::from_secs(86400 * 365 * 200),
];

/// Polls `fut` once: it must be pending (and must not panic).
async fn pending_once<F: Future>(fut: F, what: &str) {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        assert!(fut.as_mut().poll(cx).is_pending(), "{what} completed at once");
        Poll::Ready(())
    })
    .await;
}

#[test]
fn interval_with_a_huge_period_ticks_once_then_waits() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                for d in HUGE {
                    let mut iv = interval(d);
                    let t0 = Instant::now();
                    let first = within(iv.tick()).await;
                    assert!(first <= Instant::now() && first + Duration::from_secs(5) > t0);
                    pending_once(iv.tick(), &format!("{name}: second tick of {d:?}")).await;
                    iv.reset();
                    pending_once(iv.tick(), &format!("{name}: tick after reset")).await;

                    // Late ticks take the missed-tick paths, each adding the period.
                    let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
                    for b in [
                        MissedTickBehavior::Burst,
                        MissedTickBehavior::Delay,
                        MissedTickBehavior::Skip,
                    ] {
                        let mut iv = interval_at(past, d);
                        iv.set_missed_tick_behavior(b);
                        assert_eq!(within(iv.tick()).await, past, "{name} {b:?}");
                        pending_once(iv.tick(), &format!("{name}: {b:?} second tick")).await;
                    }
                }
            });
        }
    });
}

#[test]
fn huge_and_zero_durations_in_sleep_and_timeout() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                // Zero: done at once, whatever the entry point.
                within(sleep(Duration::ZERO)).await;
                within(sleep_until(Instant::now())).await;
                within(sleep_until(Instant::now() - Duration::from_millis(1))).await;
                assert_eq!(within(timeout(Duration::ZERO, async { 1 })).await, Ok(1));
                let elapsed = within(timeout(Duration::ZERO, std::future::pending::<()>())).await;
                assert!(elapsed.is_err(), "{name}");
                let now = Instant::now();
                assert_eq!(within(timeout_at(now, async { 2 })).await, Ok(2));

                for d in HUGE {
                    let s = sleep(d);
                    assert!(s.deadline() > Instant::now() + Duration::from_secs(86400 * 365));
                    assert!(!s.is_elapsed(), "{name}: {d:?}");
                    pending_once(s, &format!("{name}: sleep({d:?})")).await;
                    let short = timeout(Duration::from_millis(5), sleep(d)).await;
                    assert!(short.is_err(), "{name}: sleep({d:?}) completed");
                    assert_eq!(within(timeout(d, async { 3 })).await, Ok(3));
                    let slept = timeout(d, sleep(Duration::from_millis(2)));
                    assert_eq!(within(slept).await, Ok(()), "{name}");
                    // An instant as far as std allows, in both entry points.
                    if let Some(far) = Instant::now().checked_add(d) {
                        pending_once(sleep_until(far), &format!("{name}: sleep_until")).await;
                        assert_eq!(within(timeout_at(far, async { 4 })).await, Ok(4));
                    }
                    // Reset from a huge deadline to a near one: it fires.
                    let mut s = pin!(sleep(d));
                    pending_once(s.as_mut(), "huge sleep before reset").await;
                    s.as_mut().reset(Instant::now() + Duration::from_millis(2));
                    within(s).await;
                }
                // Still serving after all that.
                assert_eq!(spawn(async { 7 }).await.unwrap(), 7, "{name}");
            });
        }
    });
}

#[test]
fn shutdown_timeout_accepts_huge_and_zero() {
    bounded(60, || {
        for d in [Duration::MAX, Duration::from_secs(u64::MAX), Duration::ZERO, Duration::new(0, 1)]
        {
            for (name, rt) in flavors() {
                let jh = rt.spawn_blocking(|| 1);
                assert_eq!(rt.block_on(jh).unwrap(), 1);
                rt.spawn(sleep(Duration::MAX));
                rt.shutdown_timeout(d); // must neither panic nor hang
                let _ = name;
            }
        }
    });
}

/// A bounded await: 10 s (for things that should be immediate).
async fn within<F: Future>(fut: F) -> F::Output {
    timeout(Duration::from_secs(10), fut).await.expect("no progress in 10 s")
}

// ---------------------------------------------------------------------------------------------
// User knotes and the runtime's own (item 4)
// ---------------------------------------------------------------------------------------------

#[test]
fn user_knotes_never_reach_the_runtimes_wake_up_or_timers() {
    bounded(60, || {
        // One worker: it waits in the driver, so only the wake-up knote can tell it about work.
        let rt = Builder::new_multi_thread().worker_threads(1).build().unwrap();
        let h = rt.handle().clone();
        rt.block_on(async {
            // A sleep armed first (with per-runtime numbering from 0 or 1, its ident is small).
            let mut nap = pin!(sleep(Duration::from_millis(30)));
            pending_once(nap.as_mut(), "the nap").await;
            for ident in 0..64 {
                let user = Kevent::new(ident, Filter::User, Flags::empty());
                drop(EventSource::new(user).expect("a USER knote with a small ident"));
                let timer = Kevent::new(ident, Filter::Timer, Flags::empty())
                    .with_fflags(note::SECONDS)
                    .with_data(3600);
                drop(EventSource::new(timer).expect("a TIMER knote with a small ident"));
            }
            timeout(Duration::from_secs(10), nap)
                .await
                .expect("the sleep never fired: a user TIMER knote replaced or deleted it");
        });
        // A spawn from a foreign thread must wake the worker waiting in the driver.
        for round in 0..3 {
            let (tx, rx) = mpsc::channel();
            let h2 = h.clone();
            thread::spawn(move || {
                h2.spawn(async move { tx.send(()).unwrap() });
            });
            rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| {
                panic!("round {round}: a task spawned from another thread never ran")
            });
        }
    });
}

#[test]
fn reserved_idents_are_refused_with_invalid_input() {
    bounded(30, || {
        let rt = current();
        rt.block_on(async {
            let start = *RESERVED_IDENTS.start();
            assert_eq!(*RESERVED_IDENTS.end(), usize::MAX);
            for ident in [start, start + 1, usize::MAX - 1, usize::MAX] {
                for filter in [Filter::User, Filter::Timer, Filter::Read, Filter::Proc] {
                    let err = EventSource::new(Kevent::new(ident, filter, Flags::empty()))
                        .expect_err("a reserved ident");
                    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{ident:#x} {filter:?}");
                    assert!(err.to_string().contains("reserved"), "{err}");
                }
            }
            // Just below the range is the user's.
            let below = Kevent::new(start - 1, Filter::User, Flags::empty());
            drop(EventSource::new(below).expect("the ident below the reserved range"));
            // The runtime still works.
            sleep(Duration::from_millis(1)).await;
        });
    });
}

/// A level-triggered USER knote (no EV_CLEAR asked) would be reported by every collection: the
/// stream would fill with copies and the driver would spin. EventSource adds EV_CLEAR.
#[cfg(unix)] // Pipes (the Windows I/O tests are in windows_rt.rs).
#[test]
fn a_level_user_knote_is_delivered_once_per_trigger() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let change =
                    Kevent::new(77, Filter::User, Flags::empty()).with_fflags(note::TRIGGER);
                let mut src = EventSource::new(change).unwrap();
                let ev = within(src.next_event()).await.expect("the stream ended");
                assert_eq!((ev.ident, ev.filter), (77, Filter::User), "{name}");
                let again = timeout(Duration::from_millis(50), src.next_event()).await;
                assert!(again.is_err(), "{name}: the level knote came again: {again:?}");
                // Meanwhile I/O still flows.
                let (rd, wr) = pipe();
                let reg = Registration::new(rd.0 as usize, Interest::READABLE).unwrap();
                // SAFETY: writing one byte from a valid buffer to a pipe we own.
                assert_eq!(unsafe { libc::write(wr.0, b"y".as_ptr().cast(), 1) }, 1);
                within(reg.readable()).await.unwrap();
                let mut b = [0u8; 1];
                assert_eq!(read_fd(rd.0, &mut b).unwrap(), 1);
            });
        }
    });
}

/// A stream nobody reads, fed by a periodic timer firing every 10 us: the runtime keeps at most
/// 1024 events for it, merging the rest (TIMER counts add up), instead of growing without bound.
#[test]
fn an_unread_event_source_holds_bounded_memory() {
    bounded(60, || {
        let rt = multi();
        rt.block_on(async {
            const IDENT: usize = 1 << 42;
            let change =
                Kevent::new(IDENT, Filter::Timer, Flags::empty()).with_fflags(note::USECONDS);
            let events_before = Handle::current().metrics().reactor_events;
            let mut src = EventSource::new(change.with_data(10)).unwrap();
            wait_until("3,000 reactor events", || {
                Handle::current().metrics().reactor_events > events_before + 3000
            })
            .await;
            // A second source on the same knote takes its events over: `src` gets no more.
            let stopper = EventSource::new(change.with_data(3_600_000_000)).unwrap();
            let (mut kept, mut expirations) = (0usize, 0i64);
            loop {
                // One poll's worth (the cooperative budget may end it), then a fresh poll.
                let got = poll_fn(|cx| {
                    let mut got = 0;
                    while let Poll::Ready(ev) = src.poll_next_event(cx) {
                        let ev = ev.expect("the stream ended");
                        got += 1;
                        expirations += ev.data;
                    }
                    Poll::Ready(got)
                })
                .await;
                kept += got;
                if got == 0 || kept > 5000 {
                    break;
                }
                task::yield_now().await;
            }
            assert!(kept <= 1024, "{kept} events kept for an unread stream");
            assert!(expirations > 1024, "{expirations} expirations in {kept} events");
            drop(stopper);
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Dropping runtimes from inside (adversarial)
// ---------------------------------------------------------------------------------------------

#[test]
fn dropping_a_runtime_inside_its_own_task() {
    bounded(60, || {
        let rt = multi();
        let h = rt.handle().clone();
        let (tx, rx) = mpsc::channel();
        h.spawn(async move {
            sleep(Duration::from_millis(1)).await;
            drop(rt);
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(20)).expect("dropping the runtime in its task hung");
        assert!(h.block_on(async { spawn(async {}).await }).unwrap_err().is_cancelled());
    });
}

#[test]
fn dropping_a_current_thread_runtime_inside_its_block_on() {
    bounded(60, || {
        let rt = current();
        let h = rt.handle().clone();
        let v = h.block_on(async move {
            spawn(sleep(Duration::from_secs(3600)));
            task::yield_now().await;
            drop(rt);
            8
        });
        assert_eq!(v, 8);
        assert_eq!(h.block_on(async { 9 }), 9);
        assert!(h.block_on(async { spawn(async {}).await }).unwrap_err().is_cancelled());
    });
}

#[test]
fn dropping_a_runtime_inside_its_own_blocking_thread() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let h = rt.handle().clone();
            let (tx, rx) = mpsc::channel();
            // Another blocking task that is still running when the runtime goes.
            let other = h.spawn_blocking(|| thread::sleep(Duration::from_millis(50)));
            h.spawn_blocking(move || {
                drop(rt);
                tx.send(()).unwrap();
            });
            rx.recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("{name}: dropping the runtime on its blocking thread"));
            drop(other);
        }
    });
}

#[test]
fn dropping_runtimes_and_handles_inside_another_runtimes_tasks() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let inner = multi();
            let inner_handle = inner.handle().clone();
            let v = rt.block_on(async move {
                let a = spawn(async move {
                    let h = Handle::current();
                    drop(h);
                    let jh = inner_handle.spawn(async { 10 });
                    drop(inner_handle);
                    let v = jh.await.unwrap();
                    drop(inner); // joins the other runtime's workers from this task
                    v
                });
                a.await.unwrap()
            });
            assert_eq!(v, 10, "{name}");
        }
    });
}

/// The same fd registered twice on one runtime (two `AsyncFd`s over one raw fd, say): the
/// second registration would take over the first one's knotes (a kqueue modifies a knote on a
/// second EV_ADD) and the first one's reader would never be woken. It is refused with
/// `AlreadyExists`, as tokio's is (epoll's EEXIST); the first keeps working, and once it is
/// dropped the fd may be registered again.
#[cfg(unix)] // Pipes (the Windows I/O tests are in windows_rt.rs).
#[test]
fn the_same_fd_registered_twice_is_refused_and_the_first_keeps_working() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let (rd, wr) = pipe();
            rt.block_on(async {
                let first = Registration::new(rd.0 as usize, Interest::READABLE).unwrap();
                let err = Registration::new(rd.0 as usize, Interest::READABLE | Interest::WRITABLE)
                    .expect_err("a second registration of one fd");
                assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{name}: {err}");
                let reader = spawn(async move {
                    first.readable().await.expect("readable");
                    first
                });
                kq_runtime::time::sleep(Duration::from_millis(20)).await;
                // SAFETY: writing one byte from a valid buffer to a pipe we own.
                assert_eq!(unsafe { libc::write(wr.0, b"x".as_ptr().cast(), 1) }, 1);
                let first = timeout(Duration::from_secs(5), reader)
                    .await
                    .unwrap_or_else(|_| panic!("{name}: the first registration was never woken"))
                    .expect("reader task");
                drop(first);
                let again = Registration::new(rd.0 as usize, Interest::READABLE)
                    .unwrap_or_else(|e| panic!("{name}: after the first is gone: {e}"));
                timeout(Duration::from_secs(5), again.readable())
                    .await
                    .unwrap_or_else(|_| panic!("{name}: the new registration sees the byte"))
                    .expect("readable");
            });
        }
    });
}

/// `enter` guards dropped out of order: the first one dropped used to restore "no runtime" and
/// the second one then made the first runtime current again, for good (`Handle::current()` on a
/// runtime the user had left, whose driver the thread-local kept alive: leaked fds). They are
/// made good instead (tokio panics): the runtime entered last stays current while its guard
/// lives, and none is current once every guard is gone, in either order.
#[test]
fn enter_guards_dropped_out_of_order_leave_no_runtime_current() {
    bounded(60, || {
        let (rt1, rt2, rt3) = (current(), multi(), current());
        {
            let _g1 = rt1.enter();
            let _g2 = rt2.enter();
            assert_eq!(Handle::current().id(), rt2.handle().id());
        }
        assert!(Handle::try_current().is_err(), "guards dropped in order left a runtime current");
        let g1 = rt1.enter();
        let g2 = rt2.enter();
        let g3 = rt3.enter();
        drop(g1);
        assert_eq!(Handle::current().id(), rt3.handle().id(), "the innermost guard still lives");
        drop(g3);
        assert_eq!(Handle::current().id(), rt2.handle().id(), "rt2's guard still lives");
        drop(g2);
        assert!(Handle::try_current().is_err(), "out of order: a runtime was left current");
        // The outer guard dropped last, after the inner one, still restores "none".
        let (g1, g2) = (rt1.enter(), rt2.enter());
        drop(g1);
        drop(g2);
        assert!(Handle::try_current().is_err());
    });
}
