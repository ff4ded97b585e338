//! The cooperative budget and what sits on it, as a careless user meets them (found by trying
//! kq as such a user would, 2026-12-02): a future that polls many pending resources at once,
//! a `timeout` around a future that always finds work ready, `JoinSet::join_all` with a failed
//! task, and task ids across `spawn` and `spawn_blocking`.
//!
//! Every test body runs under a watchdog ([`bounded`]): before the fixes, the first two hung
//! at 100 % CPU.

mod util;
use util::*;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use kq_runtime::task::{self, JoinSet};
use kq_runtime::time::{sleep, timeout};

/// A `JoinSet` with more pending tasks than the budget's 128 units, then one that finishes:
/// `join_next` returns it. Pending polls used to spend budget, so the first 128 pending handles
/// spent it all on every poll and the finished one was never looked at.
#[test]
fn join_next_finds_the_finished_task_behind_many_pending_ones() {
    bounded(60, || {
        for (name, rt) in flavors() {
            for pending in [127, 128, 200, 1000] {
                let got = rt.block_on(async {
                    let mut set = JoinSet::new();
                    for _ in 0..pending {
                        set.spawn(sleep(Duration::from_secs(3600)));
                    }
                    let start = Instant::now();
                    set.spawn(async {});
                    let r = timeout(Duration::from_secs(10), set.join_next()).await;
                    set.abort_all();
                    (r, start.elapsed())
                });
                let (r, took) = got;
                assert!(
                    matches!(r, Ok(Some(Ok(())))),
                    "{name}, {pending} pending: join_next gave {r:?} after {took:?}"
                );
            }
        }
    });
}

/// A `timeout` around a future that keeps finding its resources ready (here a zero sleep in a
/// loop, which spends the whole budget every poll) still fires: its timer is polled outside the
/// budget once the inner future spent it, as tokio's `Timeout` does.
#[test]
fn timeout_fires_around_a_future_that_is_always_ready() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let (r, took) = rt.block_on(async {
                let start = Instant::now();
                let r = timeout(Duration::from_millis(50), async {
                    loop {
                        sleep(Duration::ZERO).await;
                    }
                })
                .await;
                (r, start.elapsed())
            });
            assert!(r.is_err(), "{name}: the timeout did not elapse");
            assert!(took >= Duration::from_millis(50), "{name}: elapsed early, after {took:?}");
            assert!(took < Duration::from_secs(5), "{name}: elapsed only after {took:?}");
            // The same from a spawned task.
            let r = rt.block_on(async {
                task::spawn(timeout(Duration::from_millis(20), async {
                    loop {
                        sleep(Duration::ZERO).await;
                    }
                }))
                .await
            });
            assert!(matches!(r, Ok(Err(_))), "{name}: in a task: {r:?}");
        }
    });
}

/// The budget still makes a busy task yield: another task gets to run while one loops on
/// ready sleeps, on a current-thread runtime (one worker, nothing else to run it on).
#[test]
fn a_task_that_always_finds_work_ready_still_yields_to_others() {
    bounded(60, || {
        let rt = current();
        let ran = rt.block_on(async {
            let busy = task::spawn(async {
                loop {
                    sleep(Duration::ZERO).await;
                }
            });
            let other = task::spawn(async { 7 });
            let r = timeout(Duration::from_secs(10), other).await;
            busy.abort();
            r
        });
        assert!(matches!(ran, Ok(Ok(7))), "the other task never ran: {ran:?}");
    });
}

/// `join_all` resumes the panic of a task that panicked, as tokio's does, instead of
/// returning the other outputs as if nothing had happened; with every task fine it returns
/// them all.
#[test]
fn join_all_resumes_a_task_panic() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let all = rt.block_on(async {
                let mut set = JoinSet::new();
                for i in 0..5u32 {
                    set.spawn(async move { i });
                }
                set.join_all().await
            });
            let mut all = all;
            all.sort_unstable();
            assert_eq!(all, [0, 1, 2, 3, 4], "{name}");
            let caught = catch_unwind(AssertUnwindSafe(|| {
                rt.block_on(async {
                    let mut set = JoinSet::new();
                    set.spawn(async { 1 });
                    set.spawn(async { panic!("task three") });
                    set.spawn(async { 3 });
                    set.join_all().await
                })
            }));
            let payload = caught.expect_err("join_all returned despite a panicked task");
            assert!(payload_text(&*payload).contains("task three"), "{name}: wrong panic");
        }
    });
}

/// Task ids are unique across `spawn` and `spawn_blocking` (and across runtimes), as tokio's
/// are: the blocking pool used to count from 1 on its own.
#[test]
fn task_ids_are_unique_across_spawn_and_spawn_blocking() {
    bounded(60, || {
        let mut ids = HashSet::new();
        for (name, rt) in flavors() {
            rt.block_on(async {
                let mut handles = Vec::new();
                for _ in 0..50 {
                    let a = task::spawn(async {});
                    let b = task::spawn_blocking(|| {});
                    assert!(ids.insert(a.id()), "{name}: task id {} repeated", a.id());
                    assert!(ids.insert(b.id()), "{name}: blocking id {} repeated", b.id());
                    handles.push((a, b));
                }
                for (a, b) in handles {
                    a.await.unwrap();
                    b.await.unwrap();
                }
            });
        }
    });
}
