//! Integration tests of kq-runtime's timers on both schedulers: `sleep` never completes before
//! its deadline, `sleep_until`, `Sleep::reset` and `is_elapsed`, `timeout`/`timeout_at`,
//! `interval` and each `MissedTickBehavior` (tokio's semantics), many concurrent sleeps, and
//! hand-polled timers through tokio-test's mock task.
//!
//! Only lower bounds of elapsed time are asserted (upper bounds only very loosely), and every
//! test body runs under a watchdog so that a hang fails instead of stalling the suite.

mod util;
use util::*;

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use kq_runtime::spawn;
use kq_runtime::task;
use kq_runtime::time::error::Elapsed;
use kq_runtime::time::{
    interval, interval_at, sleep, sleep_until, timeout, timeout_at, Instant, Interval,
    MissedTickBehavior,
};
use tokio_test::{assert_pending, assert_ready, assert_ready_eq};

/// Very loose upper bound for things that should take milliseconds.
const LOOSE: Duration = Duration::from_secs(10);

/// Polls the next tick once, with the current task's waker.
async fn poll_tick_once(iv: &mut Interval) -> Poll<Instant> {
    poll_fn(|cx| Poll::Ready(iv.poll_tick(cx))).await
}

/// Waits until `cond` holds, yielding; fails after 10 s.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let r = timeout(LOOSE, async {
        while !cond() {
            task::yield_now().await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting until {what}");
}

// ---------------------------------------------------------------------------------------------
// sleep / sleep_until / reset
// ---------------------------------------------------------------------------------------------

#[test]
fn sleep_never_completes_early() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                for ms in [1u64, 5, 20, 60, 120] {
                    let d = Duration::from_millis(ms);
                    let t0 = Instant::now();
                    sleep(d).await;
                    let took = t0.elapsed();
                    assert!(took >= d, "{name}: sleep({d:?}) returned after {took:?}");
                    assert!(took < LOOSE, "{name}: sleep({d:?}) took {took:?}");
                }
                // Inside a spawned task too.
                let took = spawn(async {
                    let t0 = Instant::now();
                    sleep(Duration::from_millis(30)).await;
                    t0.elapsed()
                })
                .await
                .unwrap();
                assert!(took >= Duration::from_millis(30), "{name}: {took:?}");
                // A zero sleep completes.
                sleep(Duration::ZERO).await;
            });
        }
    });
}

#[test]
fn sleep_until_deadline() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let deadline = Instant::now() + Duration::from_millis(40);
                let s = sleep_until(deadline);
                assert_eq!(s.deadline(), deadline);
                s.await;
                assert!(Instant::now() >= deadline, "{name}: sleep_until returned early");

                // A deadline in the past completes on the first poll.
                let past = Instant::now() - Duration::from_millis(5);
                let mut t = tokio_test::task::spawn(sleep_until(past));
                assert_ready!(t.poll(), "{name}");
            });
        }
    });
}

#[test]
fn sleep_reset_earlier_and_later() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                // Armed for an hour, then moved 30 ms ahead.
                let mut s = pin!(sleep(Duration::from_secs(3600)));
                assert!(poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx).is_pending())).await);
                let t0 = Instant::now();
                let new = t0 + Duration::from_millis(30);
                s.as_mut().reset(new);
                assert_eq!(s.deadline(), new, "{name}");
                assert!(timeout(LOOSE, s.as_mut()).await.is_ok(), "{name}: reset earlier: hang");
                assert!(Instant::now() >= new, "{name}: completed before the new deadline");

                // Armed for 10 ms, then moved to 100 ms: the old timer must not complete it.
                let mut s = pin!(sleep(Duration::from_millis(10)));
                assert!(poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx).is_pending())).await);
                let later = Instant::now() + Duration::from_millis(100);
                s.as_mut().reset(later);
                s.as_mut().await;
                assert!(Instant::now() >= later, "{name}: completed at the old deadline");

                // Reset after completion: it sleeps again.
                let again = Instant::now() + Duration::from_millis(20);
                s.as_mut().reset(again);
                s.as_mut().await;
                assert!(Instant::now() >= again, "{name}: reset after completion did not sleep");
            });
        }
    });
}

/// `is_elapsed` after moving a fired timer's deadline into the future must be false (tokio:
/// "Returns true if Sleep has elapsed", i.e. its current deadline has been reached).
#[test]
fn sleep_is_elapsed_after_reset_to_the_future() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let mut s = tokio_test::task::spawn(sleep(Duration::from_millis(50)));
                assert!(!s.is_elapsed(), "{name}");
                assert_pending!(s.poll(), "{name}");
                // Wait until the armed timer has fired (the mock task is woken by it).
                wait_until("the 50 ms timer fired", || s.is_woken()).await;
                assert!(s.is_elapsed(), "{name}");
                let later = Instant::now() + Duration::from_secs(3600);
                s.enter(|_, sl| sl.reset(later));
                assert!(
                    !s.is_elapsed(),
                    "{name}: is_elapsed() is true for a deadline an hour away (stale timer \
                     readiness from before reset)"
                );
                assert_pending!(s.poll(), "{name}: completed an hour early");
            });
        }
    });
}

// ---------------------------------------------------------------------------------------------
// timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn timeout_ok_and_elapsed() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                assert_eq!(timeout(Duration::from_millis(1), async { 5 }).await, Ok(5));
                assert_eq!(
                    timeout(LOOSE, async {
                        sleep(Duration::from_millis(20)).await;
                        6
                    })
                    .await,
                    Ok(6),
                    "{name}"
                );

                let d = Duration::from_millis(50);
                let t0 = Instant::now();
                let r = timeout(d, sleep(Duration::from_secs(3600))).await;
                let took = t0.elapsed();
                let e: Elapsed = r.expect_err("a slow future must time out");
                assert!(took >= d, "{name}: timed out after {took:?}, before {d:?}");
                assert!(took < LOOSE, "{name}: {took:?}");
                assert_eq!(e.to_string(), "deadline has elapsed");
                let io: std::io::Error = e.into();
                assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);

                // A never-ready future.
                let r = timeout(Duration::from_millis(10), std::future::pending::<()>()).await;
                assert!(r.is_err(), "{name}");

                let at = Instant::now() + Duration::from_millis(30);
                let r = timeout_at(at, std::future::pending::<()>()).await;
                assert!(r.is_err(), "{name}");
                assert!(Instant::now() >= at, "{name}: timeout_at fired early");
            });
        }
    });
}

/// The docs promise that a future ready at once never touches a timer: so it works even when
/// polled outside any runtime.
#[test]
fn timeout_of_a_ready_future_needs_no_runtime() {
    bounded(60, || {
        let mut t = tokio_test::task::spawn(timeout(Duration::from_secs(1), async { 9 }));
        assert_ready_eq!(t.poll(), Ok(9));
    });
}

// ---------------------------------------------------------------------------------------------
// interval
// ---------------------------------------------------------------------------------------------

#[test]
fn interval_first_tick_immediate_then_period() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let p = Duration::from_millis(40);
                let before = Instant::now();
                let mut iv = interval(p);
                assert_eq!(iv.period(), p);
                assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Burst, "default");
                let t0 = match poll_tick_once(&mut iv).await {
                    Poll::Ready(t) => t,
                    Poll::Pending => panic!("{name}: the first tick must complete at once"),
                };
                assert!(t0 >= before && t0 <= Instant::now(), "{name}");
                for k in 1..=3u32 {
                    let t = iv.tick().await;
                    assert_eq!(t, t0 + p * k, "{name}: tick {k} scheduled time");
                    assert!(Instant::now() >= t, "{name}: tick {k} came early");
                }
                assert!(t0.elapsed() >= p * 3, "{name}");
            });
        }
    });
}

#[test]
fn interval_at_future_start_and_reset() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let p = Duration::from_millis(30);
                let start = Instant::now() + Duration::from_millis(200);
                let mut iv = interval_at(start, p);
                assert_pending!(poll_tick_once(&mut iv).await, "{name}: tick before start");
                assert_eq!(iv.tick().await, start, "{name}");
                assert!(Instant::now() >= start, "{name}");
                assert_eq!(iv.tick().await, start + p, "{name}");

                let r0 = Instant::now();
                iv.reset();
                let t = iv.tick().await;
                assert!(t >= r0 + p, "{name}: after reset the next tick is a period away");
                assert!(Instant::now() >= t, "{name}");
            });
        }
    });
}

#[test]
#[should_panic]
fn interval_zero_period_panics() {
    let _ = interval(Duration::ZERO);
}

const P: Duration = Duration::from_millis(100);

/// Starts an interval with `behavior`, takes its first tick, then blocks the thread for 3.5
/// periods. Returns (start, the instant the thread resumed).
async fn late_interval(behavior: MissedTickBehavior) -> (Interval, Instant, Instant) {
    let start = Instant::now();
    let mut iv = interval_at(start, P);
    iv.set_missed_tick_behavior(behavior);
    assert_eq!(iv.missed_tick_behavior(), behavior);
    assert_eq!(iv.tick().await, start);
    thread::sleep(P * 7 / 2);
    let resumed = Instant::now();
    (iv, start, resumed)
}

#[test]
fn missed_tick_burst() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                spawn(async move {
                    let (mut iv, start, _) = late_interval(MissedTickBehavior::Burst).await;
                    // The three missed ticks fire at once, with their original schedule.
                    for k in 1..=3u32 {
                        match poll_tick_once(&mut iv).await {
                            Poll::Ready(t) => assert_eq!(t, start + P * k, "{name}: burst {k}"),
                            Poll::Pending => panic!("{name}: missed tick {k} not immediate"),
                        }
                    }
                    // Then the schedule goes on unchanged.
                    for k in 4..=5u32 {
                        let t = iv.tick().await;
                        assert_eq!(t, start + P * k, "{name}: tick {k}");
                        assert!(Instant::now() >= t, "{name}: tick {k} early");
                    }
                })
                .await
                .unwrap();
            });
        }
    });
}

#[test]
fn missed_tick_delay() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                spawn(async move {
                    let (mut iv, start, resumed) = late_interval(MissedTickBehavior::Delay).await;
                    // The late tick fires at once (scheduled at its original time)...
                    let t1 = match poll_tick_once(&mut iv).await {
                        Poll::Ready(t) => t,
                        Poll::Pending => panic!("{name}: the late tick must fire at once"),
                    };
                    let after1 = Instant::now();
                    // (Its exact value is `start + P` in tokio; that the on-time first tick does
                    // not shift the schedule is checked by `missed_tick_delay_on_time_keeps_schedule`.)
                    assert!(t1 >= start + P && t1 <= resumed, "{name}: the late tick's time");
                    // ...and the next one is a full period after the late one was taken.
                    let t2 = iv.tick().await;
                    assert!(t2 >= resumed + P, "{name}: delay: {:?} < resumed + P", t2 - resumed);
                    assert!(t2 <= after1 + P, "{name}: delay: next tick later than now + period");
                    assert!(Instant::now() >= t2, "{name}");
                    let t3 = iv.tick().await;
                    assert!(t3 >= t2 + P, "{name}: ticks closer than a period");
                    assert!(Instant::now() >= t3, "{name}");
                })
                .await
                .unwrap();
            });
        }
    });
}

/// Tokio applies the missed-tick behaviour only to a tick that is actually late (more than 5 ms
/// behind); an on-time tick schedules the next one at `scheduled + period`, whatever the
/// behaviour. So a `Delay` interval that is never late keeps its schedule exactly, as `Burst`
/// does, instead of drifting by the polling latency at every tick.
#[test]
fn missed_tick_delay_on_time_keeps_schedule() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let p = Duration::from_millis(30);
                let start = Instant::now();
                let mut iv = interval_at(start, p);
                iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
                // (tick, seen on time): a tick seen at most 5 ms after its schedule was on time
                // when the interval looked too, and must keep the schedule. (On a loaded machine
                // some ticks are really late: Delay then rightly moves the schedule.)
                let mut got = Vec::new();
                for _ in 0..4 {
                    let t = iv.tick().await;
                    got.push((t, Instant::now() <= t + Duration::from_millis(5)));
                }
                assert_eq!(got[0].0, start, "{name}");
                for w in got.windows(2) {
                    if w[0].1 {
                        let gap = w[1].0 - w[0].0;
                        assert_eq!(gap, p, "{name}: an on-time Delay tick drifted: {got:?}");
                    }
                }
            });
        }
    });
}

#[test]
fn missed_tick_skip() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                spawn(async move {
                    let (mut iv, start, resumed) = late_interval(MissedTickBehavior::Skip).await;
                    let t1 = match poll_tick_once(&mut iv).await {
                        Poll::Ready(t) => t,
                        Poll::Pending => panic!("{name}: the late tick must fire at once"),
                    };
                    let after1 = Instant::now();
                    assert_eq!(t1, start + P, "{name}");
                    // The missed ticks are skipped: the next one is the first multiple of the
                    // period (from start) after now.
                    let t2 = iv.tick().await;
                    let offset = (t2 - start).as_nanos();
                    assert_eq!(offset % P.as_nanos(), 0, "{name}: off the schedule: {offset} ns");
                    assert!(t2 > resumed, "{name}: a missed tick was not skipped");
                    assert!(t2 >= start + P * 4, "{name}");
                    assert!(t2 <= after1 + P, "{name}: skipped one tick too many");
                    assert!(Instant::now() >= t2, "{name}");
                    let t3 = iv.tick().await;
                    assert_eq!(t3, t2 + P, "{name}: back on schedule");
                })
                .await
                .unwrap();
            });
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Many timers
// ---------------------------------------------------------------------------------------------

#[test]
fn thousand_concurrent_random_sleeps() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let mut seed = 0x2545_f491_u32;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed
            };
            let durations: Vec<_> =
                (0..1000).map(|_| Duration::from_millis(1 + u64::from(next() % 50))).collect();
            let results = rt.block_on(async {
                let hs: Vec<_> = durations
                    .iter()
                    .map(|&d| {
                        spawn(async move {
                            let t0 = Instant::now();
                            sleep(d).await;
                            (d, t0.elapsed())
                        })
                    })
                    .collect();
                let all = timeout(Duration::from_secs(30), async {
                    let mut out = Vec::new();
                    for h in hs {
                        out.push(h.await.unwrap());
                    }
                    out
                })
                .await;
                all.unwrap_or_else(|_| panic!("{name}: 1000 sleeps did not all complete in 30 s"))
            });
            assert_eq!(results.len(), 1000);
            for (i, (d, took)) in results.iter().enumerate() {
                assert!(took >= d, "{name}: sleep {i} of {d:?} completed after {took:?}");
            }
        }
    });
}

/// The driver waits for the earliest deadline of the runtime's timer queue: a sooner timer armed
/// while it waits (from a task on another worker, from a thread outside the runtime) must wake it
/// to wait less, or the short sleep would last as long as the long one (an hour here).
#[test]
fn sooner_timer_wakes_a_driver_waiting_for_a_later_one() {
    bounded(60, || {
        for workers in [1, 2] {
            let rt = kq_runtime::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .build()
                .unwrap();
            let long = rt.spawn(sleep(Duration::from_secs(3600)));
            // Let a worker settle in the driver, waiting for the hour-long timer.
            thread::sleep(Duration::from_millis(50));
            // Outside the runtime (block_on of a multi-thread runtime parks this thread).
            let t0 = Instant::now();
            rt.block_on(sleep(Duration::from_millis(20)));
            assert!(t0.elapsed() >= Duration::from_millis(20));
            // From a task, while the driver again waits for the hour.
            thread::sleep(Duration::from_millis(50));
            let h = rt.spawn(async { sleep(Duration::from_millis(20)).await });
            rt.block_on(async { timeout(LOOSE, h).await.expect("short sleep stuck").unwrap() });
            assert!(!long.is_finished(), "{workers} workers: the hour-long sleep completed");
            long.abort();
        }
        // A current-thread runtime driven by one block_on while another thread arms a timer.
        let rt = std::sync::Arc::new(current());
        let rt2 = rt.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let driver = thread::spawn(move || {
            rt2.block_on(async {
                let h = spawn(sleep(Duration::from_millis(30)));
                let _ = tx.send(());
                sleep(Duration::from_secs(3600)).await;
                drop(h);
            })
        });
        rx.recv().unwrap();
        thread::sleep(Duration::from_millis(50));
        let t0 = Instant::now();
        rt.block_on(sleep(Duration::from_millis(20)));
        assert!(t0.elapsed() >= Duration::from_millis(20));
        drop(driver); // the hour-long block_on is left running; the process ends with the test
    });
}

/// Timers armed and dropped in every order: the ones dropped never fire, the others fire, none
/// early, and equal deadlines all fire.
#[test]
fn many_timers_dropped_and_kept_with_equal_deadlines() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let deadline = Instant::now() + Duration::from_millis(30);
                let mut kept = Vec::new();
                for i in 0..2000 {
                    let mut s = Box::pin(sleep_until(deadline));
                    let polled = poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))).await;
                    assert!(polled.is_pending(), "{name}: sleep {i} ready before its deadline");
                    if i % 2 == 0 {
                        kept.push(s);
                    } // the odd ones are dropped armed
                }
                let all = timeout(LOOSE, async {
                    for s in kept {
                        s.await;
                    }
                })
                .await;
                assert!(all.is_ok(), "{name}: 1000 sleeps with one deadline did not all fire");
                assert!(Instant::now() >= deadline);
            });
        }
    });
}

// ---------------------------------------------------------------------------------------------
// tokio-test
// ---------------------------------------------------------------------------------------------

#[test]
fn hand_polled_sleep_with_tokio_test() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let d = Duration::from_millis(100);
                let t0 = Instant::now();
                let mut t = tokio_test::task::spawn(sleep(d));
                assert_pending!(t.poll(), "{name}");
                assert!(!t.is_woken(), "{name}: woken before the deadline");
                // The runtime's reactor fires the timer and wakes the mock task.
                wait_until("the mock task was woken by the timer", || t.is_woken()).await;
                assert!(t0.elapsed() >= d, "{name}: woken after {:?}", t0.elapsed());
                assert_ready!(t.poll(), "{name}");

                // A timeout, hand-polled.
                let mut to = tokio_test::task::spawn(timeout(
                    Duration::from_millis(20),
                    std::future::pending::<()>(),
                ));
                assert_pending!(to.poll(), "{name}");
                wait_until("the timeout's timer fired", || to.is_woken()).await;
                assert!(matches!(to.poll(), Poll::Ready(Err(Elapsed { .. }))), "{name}");

                // An interval, hand-polled: first tick ready, second pending until woken.
                let mut iv = interval(Duration::from_millis(15));
                let mut m = tokio_test::task::spawn(());
                assert!(m.enter(|cx, _| iv.poll_tick(cx)).is_ready(), "{name}");
                assert!(m.enter(|cx, _| iv.poll_tick(cx)).is_pending(), "{name}");
                wait_until("the interval's timer fired", || m.is_woken()).await;
                assert!(m.enter(|cx, _| iv.poll_tick(cx)).is_ready(), "{name}");

                // Dropping armed sleeps disarms them; the runtime keeps working afterwards.
                for _ in 0..200 {
                    let mut t = tokio_test::task::spawn(sleep(Duration::from_millis(5)));
                    assert_pending!(t.poll(), "{name}");
                }
                let t1 = Instant::now();
                sleep(Duration::from_millis(20)).await;
                assert!(t1.elapsed() >= Duration::from_millis(20), "{name}");
            });
        }
    });
}

/// A hand-written future polls a long sleep, resets it to 50 ms and returns Pending without
/// polling it again: it is woken at the new deadline, as tokio's. The reset used to take effect
/// only at the next poll, so the task slept until the old deadline. Found by trying kq as a
/// careless user would (2026-12-02).
#[test]
fn a_sleep_reset_after_its_poll_wakes_the_task_at_the_new_deadline() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    struct ResetOnce(Pin<Box<kq_runtime::time::Sleep>>, bool);
    impl Future for ResetOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.1 {
                return self.0.as_mut().poll(cx);
            }
            assert!(self.0.as_mut().poll(cx).is_pending());
            self.1 = true;
            self.0.as_mut().reset(Instant::now() + Duration::from_millis(50));
            Poll::Pending // not polled again: the reset alone must move the wake-up
        }
    }
    bounded(60, || {
        for (name, rt) in flavors() {
            let took = rt.block_on(async {
                let start = Instant::now();
                let fut = ResetOnce(Box::pin(sleep(Duration::from_secs(3600))), false);
                let r = timeout(Duration::from_secs(10), fut).await;
                (r.is_ok(), start.elapsed())
            });
            assert!(took.0, "{name}: woken only by the outer timeout");
            assert!(took.1 >= Duration::from_millis(50), "{name}: early, {:?}", took.1);
            assert!(took.1 < Duration::from_secs(5), "{name}: woke after {:?}", took.1);
        }
    });
}
