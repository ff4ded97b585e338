//! Integration tests of kq-runtime's tasks on both schedulers (current-thread, and multi-thread
//! with two workers): spawning and joining, abort (before start, while pending, after finish),
//! panics, `yield_now`, spawning from foreign threads, `Handle::try_current`, nested `block_on`
//! and `JoinSet` (`spawn_blocking`, shutdown and metrics are in `rt_shutdown.rs`).
//!
//! Every test body runs under a watchdog ([`bounded`]) so that a hang fails the test with a
//! message instead of stalling the whole suite.

mod util;
use util::*;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kq_runtime::runtime::{Builder, Handle};
use kq_runtime::spawn;
use kq_runtime::task::{self, JoinSet};
use kq_runtime::time::{sleep, timeout};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Spawn and join
// ---------------------------------------------------------------------------------------------

#[test]
fn spawn_and_join_values() {
    bounded(60, || {
        for (name, rt) in flavors() {
            // From inside block_on.
            let sum = rt.block_on(async {
                let hs: Vec<_> = (0..200u64).map(|i| spawn(async move { i * 2 })).collect();
                let mut sum = 0;
                for h in hs {
                    sum += h.await.unwrap();
                }
                sum
            });
            assert_eq!(sum, (0..200u64).map(|i| i * 2).sum::<u64>(), "{name}");

            // From outside block_on, through Runtime::spawn, then awaited in block_on.
            let h = rt.spawn(async { String::from("outside") });
            assert_eq!(rt.block_on(h).unwrap(), "outside", "{name}");

            // Nested spawn: a task spawning a task.
            let v = rt.block_on(async {
                spawn(async { spawn(async { 41 }).await.unwrap() + 1 }).await.unwrap()
            });
            assert_eq!(v, 42, "{name}");
        }
    });
}

#[test]
fn dropping_join_handle_detaches_the_task() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let got = rt.block_on(async {
                let (tx, rx) = oneshot::channel();
                let h = spawn(async move {
                    task::yield_now().await;
                    tx.send(7u32);
                });
                drop(h);
                timeout(Duration::from_secs(10), rx).await
            });
            assert_eq!(got, Ok(Some(7)), "{name}: a detached task must keep running");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Abort
// ---------------------------------------------------------------------------------------------

#[test]
fn abort_before_the_task_starts() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let (res, ran, dropped) = rt.block_on(async {
                // Spawned from inside a task, the new task lands in this worker's LIFO slot and
                // cannot start before the current poll ends: the abort comes first for sure.
                spawn(async {
                    let ran = Arc::new(AtomicBool::new(false));
                    let dropped = Arc::new(AtomicBool::new(false));
                    let (r2, guard) = (ran.clone(), DropFlag(dropped.clone()));
                    let h = spawn(async move {
                        let _guard = guard;
                        r2.store(true, SeqCst);
                        5
                    });
                    h.abort();
                    let res = h.await;
                    (res, ran.load(SeqCst), dropped.load(SeqCst))
                })
                .await
                .unwrap()
            });
            let err = res.expect_err("an aborted, never-started task must not produce a value");
            assert!(err.is_cancelled(), "{name}: {err:?}");
            assert!(!err.is_panic(), "{name}");
            assert!(!ran, "{name}: the aborted task was polled");
            assert!(dropped, "{name}: the aborted task's future was not dropped");
        }
    });
}

#[test]
fn abort_while_pending() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let dropped = Arc::new(AtomicBool::new(false));
                let guard = DropFlag(dropped.clone());
                let (started_tx, started_rx) = oneshot::channel();
                let h = spawn(async move {
                    let _guard = guard;
                    started_tx.send(());
                    sleep(Duration::from_secs(3600)).await;
                    "slept an hour"
                });
                assert_eq!(started_rx.await, Some(()), "{name}");
                assert!(!h.is_finished(), "{name}: a sleeping task is not finished");
                let t0 = Instant::now();
                h.abort();
                let err = h.await.unwrap_err();
                assert!(err.is_cancelled(), "{name}: {err:?}");
                assert!(dropped.load(SeqCst), "{name}: the future must be dropped on abort");
                assert!(t0.elapsed() < Duration::from_secs(10), "{name}");
            });
        }
    });
}

#[test]
fn abort_after_finish_still_gives_the_value() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let h = spawn(async { 99u8 });
                wait_until("the task finished", || h.is_finished()).await;
                assert!(h.is_finished(), "{name}");
                h.abort();
                h.abort_handle().abort();
                assert_eq!(h.await.unwrap(), 99, "{name}: abort after completion is a no-op");
            });
        }
    });
}

#[test]
fn abort_handle_cancels() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let h = spawn(sleep(Duration::from_secs(3600)));
                let ah = h.abort_handle();
                task::yield_now().await;
                ah.abort();
                let err = h.await.unwrap_err();
                assert!(err.is_cancelled(), "{name}");
            });
        }
    });
}

#[test]
fn is_finished_tracks_completion() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let (tx, rx) = oneshot::channel::<()>();
                let h = spawn(async move {
                    rx.await;
                    1
                });
                task::yield_now().await;
                assert!(!h.is_finished(), "{name}: blocked task reported finished");
                tx.send(());
                wait_until("the task finished", || h.is_finished()).await;
                assert_eq!(h.await.unwrap(), 1, "{name}");
            });
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------------------------

#[test]
fn panicking_task_reports_payload_and_workers_survive() {
    bounded(60, || {
        for (name, _) in flavors() {
            let stops = Arc::new(AtomicUsize::new(0));
            let s2 = stops.clone();
            let mut b = if name == "current_thread" {
                Builder::new_current_thread()
            } else {
                let mut b = Builder::new_multi_thread();
                b.worker_threads(2);
                b
            };
            let rt = b
                .on_thread_stop(move || {
                    s2.fetch_add(1, SeqCst);
                })
                .build()
                .unwrap();
            rt.block_on(async {
                // A &'static str payload.
                let err = spawn(async { panic!("boom-static") }).await.unwrap_err();
                assert!(err.is_panic(), "{name}");
                assert!(!err.is_cancelled(), "{name}");
                let payload = err.into_panic();
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom-static"), "{name}");

                // A String payload.
                let n = std::hint::black_box(7);
                let err = spawn(async move { panic!("boom-{n}") }).await.unwrap_err();
                assert_eq!(err.into_panic().downcast_ref::<String>().unwrap(), "boom-7");

                // Many panics, so that each worker of the multi-thread runtime sees some.
                let hs: Vec<_> = (0..16)
                    .map(|i| {
                        spawn(async move {
                            task::yield_now().await;
                            if i % 2 == 0 {
                                panic!("even");
                            }
                            i
                        })
                    })
                    .collect();
                let mut ok = 0;
                let mut panicked = 0;
                for h in hs {
                    match h.await {
                        Ok(_) => ok += 1,
                        Err(e) if e.is_panic() => panicked += 1,
                        Err(e) => panic!("{name}: unexpected {e:?}"),
                    }
                }
                assert_eq!((ok, panicked), (8, 8), "{name}");

                // The workers still run tasks.
                let hs: Vec<_> = (0..100).map(|i| spawn(async move { i })).collect();
                let mut sum = 0;
                for h in hs {
                    sum += h.await.unwrap();
                }
                assert_eq!(sum, 4950, "{name}");
            });
            assert_eq!(stops.load(SeqCst), 0, "{name}: a worker thread stopped after a panic");
            // The runtime still works from a fresh block_on.
            assert_eq!(rt.block_on(async { spawn(async { 3 }).await.unwrap() }), 3, "{name}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// yield_now
// ---------------------------------------------------------------------------------------------

#[test]
fn yield_now_interleaves_two_tasks_on_current_thread() {
    bounded(60, || {
        let rt = current();
        let log = Arc::new(Mutex::new(Vec::new()));
        rt.block_on(async {
            let mk = |who: char| {
                let log = log.clone();
                spawn(async move {
                    for step in 0..5 {
                        log.lock().unwrap().push((who, step));
                        task::yield_now().await;
                    }
                })
            };
            let (a, b) = (mk('a'), mk('b'));
            a.await.unwrap();
            b.await.unwrap();
        });
        let log = log.lock().unwrap().clone();
        assert_eq!(log.len(), 10, "{log:?}");
        for w in log.windows(2) {
            assert_ne!(w[0].0, w[1].0, "yield_now did not let the other task run: {log:?}");
        }
        for who in ['a', 'b'] {
            let steps: Vec<_> = log.iter().filter(|e| e.0 == who).map(|e| e.1).collect();
            assert_eq!(steps, vec![0, 1, 2, 3, 4], "{log:?}");
        }
    });
}

#[test]
fn yield_now_records_both_tasks_on_multi_thread() {
    bounded(60, || {
        let rt = multi();
        let log = Arc::new(Mutex::new(Vec::new()));
        rt.block_on(async {
            let mk = |who: char| {
                let log = log.clone();
                spawn(async move {
                    for step in 0..50 {
                        log.lock().unwrap().push((who, step));
                        task::yield_now().await;
                    }
                })
            };
            let (a, b) = (mk('a'), mk('b'));
            a.await.unwrap();
            b.await.unwrap();
        });
        let log = log.lock().unwrap().clone();
        for who in ['a', 'b'] {
            let steps: Vec<_> = log.iter().filter(|e| e.0 == who).map(|e| e.1).collect();
            assert_eq!(steps, (0..50).collect::<Vec<_>>());
        }
    });
}

/// More yield-looping spinners than workers: only yielding lets the task that releases them run.
#[test]
fn yield_now_prevents_starvation() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let go = Arc::new(AtomicBool::new(false));
                let spinners: Vec<_> = (0..4)
                    .map(|_| {
                        let go = go.clone();
                        spawn(async move {
                            let mut spins = 0u64;
                            while !go.load(SeqCst) {
                                spins += 1;
                                task::yield_now().await;
                            }
                            spins
                        })
                    })
                    .collect();
                task::yield_now().await;
                let g2 = go.clone();
                let setter = spawn(async move { g2.store(true, SeqCst) });
                let all = timeout(Duration::from_secs(20), async {
                    setter.await.unwrap();
                    for s in spinners {
                        s.await.unwrap();
                    }
                })
                .await;
                assert!(all.is_ok(), "{name}: spinning tasks starved the setter");
            });
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Foreign threads and the current handle
// ---------------------------------------------------------------------------------------------

#[test]
fn spawn_from_a_foreign_thread() {
    bounded(60, || {
        for (name, rt) in flavors() {
            // The JoinHandle is made on a std thread and awaited in block_on.
            let h = rt.handle().clone();
            let (jh, foreign) = thread::spawn(move || {
                assert!(Handle::try_current().is_err());
                (h.spawn(async { thread::current().id() }), thread::current().id())
            })
            .join()
            .unwrap();
            let ran_on = rt.block_on(jh).unwrap();
            assert_ne!(ran_on, foreign, "{name}: the task ran on the spawning std thread");

            // While block_on is parked: a std thread spawns a task, and sends its JoinHandle
            // back through a oneshot; the task itself wakes the main future through another.
            let out = rt.block_on(async {
                let (jh_tx, jh_rx) = oneshot::channel();
                let (val_tx, val_rx) = oneshot::channel();
                let h = Handle::current();
                let me = thread::current().id();
                let t = thread::spawn(move || {
                    let foreign = thread::current().id();
                    let jh = h.spawn(async move {
                        let here = thread::current().id();
                        val_tx.send(here);
                        (here != foreign, 123)
                    });
                    jh_tx.send(jh);
                    foreign
                });
                let jh = jh_rx.await.expect("the foreign thread sent no JoinHandle");
                let ran_on = val_rx.await.expect("the task did not run");
                let (not_foreign, v) = jh.await.unwrap();
                let foreign = t.join().unwrap();
                assert!(not_foreign && ran_on != foreign, "{name}: ran on the foreign thread");
                if name == "current_thread" {
                    assert_eq!(ran_on, me, "{name}: must run on the block_on thread");
                }
                v
            });
            assert_eq!(out, 123, "{name}");
        }
    });
}

#[test]
fn try_current_outside_and_inside() {
    bounded(60, || {
        assert!(Handle::try_current().is_err());
        let e = Handle::try_current().unwrap_err();
        assert!(!e.to_string().is_empty());
        assert!(catch_unwind(Handle::current).is_err(), "Handle::current outside must panic");
        for (name, rt) in flavors() {
            rt.block_on(async {
                assert!(Handle::try_current().is_ok(), "{name}: inside block_on");
                let in_task = spawn(async { Handle::try_current().is_ok() }).await.unwrap();
                assert!(in_task, "{name}: inside a task");
                let in_blocking =
                    task::spawn_blocking(|| Handle::try_current().is_ok()).await.unwrap();
                assert!(in_blocking, "{name}: inside spawn_blocking");
            });
            assert!(Handle::try_current().is_err(), "{name}: the context leaked out of block_on");
            {
                let _g = rt.enter();
                assert!(Handle::try_current().is_ok(), "{name}: inside enter()");
            }
            assert!(Handle::try_current().is_err(), "{name}: the context leaked out of enter()");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Nested block_on
// ---------------------------------------------------------------------------------------------

const NESTED: &str = "Cannot start a runtime from within a runtime";

#[test]
fn block_on_inside_a_task_panics_clearly() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let other = current();
            let other_handle = other.handle().clone();
            rt.block_on(async {
                // The same runtime.
                let h = Handle::current();
                let err = spawn(async move { h.block_on(async { 1 }) }).await.unwrap_err();
                assert!(err.is_panic(), "{name}: {err:?}");
                let text = payload_text(&*err.into_panic());
                assert!(text.contains(NESTED), "{name}: payload was {text:?}");

                // Another runtime.
                let err =
                    spawn(async move { other_handle.block_on(async { 2 }) }).await.unwrap_err();
                assert!(err.is_panic(), "{name}: {err:?}");
                let text = payload_text(&*err.into_panic());
                assert!(text.contains(NESTED), "{name}: payload was {text:?}");

                // The workers still work.
                assert_eq!(spawn(async { 5 }).await.unwrap(), 5, "{name}");
            });

            // block_on nested directly in block_on.
            let r = rt.block_on(async { catch_unwind(AssertUnwindSafe(|| rt.block_on(async {}))) });
            let text = payload_text(&*r.expect_err("nested block_on must panic"));
            assert!(text.contains(NESTED), "{name}: payload was {text:?}");
            // And the runtime is still usable afterwards.
            assert_eq!(rt.block_on(async { spawn(async { 6 }).await.unwrap() }), 6, "{name}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// JoinSet
// ---------------------------------------------------------------------------------------------

#[test]
fn join_set_collects_all() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let mut set = JoinSet::new();
                for i in 0..100u32 {
                    set.spawn(async move {
                        if i % 3 == 0 {
                            task::yield_now().await;
                        }
                        i
                    });
                }
                assert_eq!(set.len(), 100, "{name}");
                let mut got = Vec::new();
                while let Some(r) = set.join_next().await {
                    got.push(r.unwrap());
                }
                got.sort_unstable();
                assert_eq!(got, (0..100).collect::<Vec<_>>(), "{name}");
                assert!(set.is_empty(), "{name}");
                assert!(set.join_next().await.is_none(), "{name}");
            });
        }
    });
}

#[test]
fn join_set_drop_cancels_remaining_tasks() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let finished = Arc::new(AtomicUsize::new(0));
                let mut set = JoinSet::new();
                let mut dropped = Vec::new();
                let mut started = Vec::new();
                for _ in 0..20 {
                    let (drop_tx, drop_rx) = oneshot::channel::<()>();
                    let (start_tx, start_rx) = oneshot::channel::<()>();
                    dropped.push(drop_rx);
                    started.push(start_rx);
                    let finished = finished.clone();
                    set.spawn(async move {
                        let _drop_tx = drop_tx; // dropped with the future: wakes drop_rx
                        start_tx.send(());
                        sleep(Duration::from_secs(3600)).await;
                        finished.fetch_add(1, SeqCst);
                    });
                }
                // Half the tasks are known to have started (and are sleeping); the others may not
                // even have been polled: dropping the set must cancel both kinds.
                for rx in started.into_iter().take(10) {
                    assert_eq!(rx.await, Some(()), "{name}");
                }
                drop(set);
                for (i, rx) in dropped.into_iter().enumerate() {
                    let r = timeout(Duration::from_secs(10), rx).await;
                    assert_eq!(r, Ok(None), "{name}: task {i} of a dropped JoinSet not cancelled");
                }
                assert_eq!(finished.load(SeqCst), 0, "{name}");
            });
        }
    });
}

#[test]
fn join_set_abort_all_and_shutdown() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let mut set = JoinSet::new();
                for _ in 0..10 {
                    set.spawn(sleep(Duration::from_secs(3600)));
                }
                let ah = set.spawn(async {});
                drop(ah);
                set.abort_all();
                let mut cancelled = 0;
                while let Some(r) = set.join_next().await {
                    match r {
                        Err(e) if e.is_cancelled() => cancelled += 1,
                        Err(e) => panic!("{name}: {e:?}"),
                        Ok(()) => {}
                    }
                }
                assert!(cancelled >= 10, "{name}: only {cancelled} cancelled");

                let mut set = JoinSet::new();
                for _ in 0..10 {
                    set.spawn(sleep(Duration::from_secs(3600)));
                }
                let r = timeout(Duration::from_secs(10), set.shutdown()).await;
                assert!(r.is_ok(), "{name}: JoinSet::shutdown hung");
                assert!(set.is_empty(), "{name}");
            });
        }
    });
}

/// A large set joined one task at a time, each released in a scrambled order while the others
/// wait: `join_next` returns exactly the released task each time (it polls only the tasks that
/// were woken, so this also checks that no wake-up is lost or misfiled).
#[test]
fn join_set_returns_each_released_task_once_in_release_order() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                const N: usize = 3000;
                let mut set = JoinSet::new();
                let mut releases = Vec::with_capacity(N);
                for i in 0..N {
                    let (tx, rx) = oneshot::channel::<()>();
                    releases.push(Some(tx));
                    set.spawn(async move {
                        rx.await.expect("released");
                        i
                    });
                }
                let mut order: Vec<usize> = (0..N).map(|i| (i * 7919) % N).collect();
                order.dedup();
                for &i in &order {
                    releases[i].take().expect("released twice").send(());
                    let got = timeout(Duration::from_secs(10), set.join_next()).await;
                    let got = got.expect("join_next hung").expect("set not empty").unwrap();
                    assert_eq!(got, i, "{name}: joined another task than the one released");
                }
                assert_eq!(set.len(), 0, "{name}");
                assert!(set.join_next().await.is_none(), "{name}");
            });
        }
    });
}
