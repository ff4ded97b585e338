//! Integration tests of kq-runtime: `spawn_blocking`, shutdown (with pending tasks, with a
//! timeout, thread callbacks) and metrics, on both schedulers.
//!
//! Every test body runs under a watchdog (`bounded`) so that a hang fails the test with a
//! message instead of stalling the whole suite.

mod util;
use util::*;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use kq_runtime::runtime::{Builder, Handle};
use kq_runtime::spawn;
use kq_runtime::task::{self};
use kq_runtime::time::{sleep, timeout};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// spawn_blocking
// ---------------------------------------------------------------------------------------------

/// Blocking functions spawned together run together, also when a blocking thread is idle: one
/// waits for what the other sends. An idle thread used to absorb every spawn of a burst (its
/// wake-up had not yet been counted), so the second function queued behind the first, which
/// waited for it: a deadlock (tokio runs them concurrently). Found by trying kq as a careless
/// user would (2026-12-02).
#[test]
fn blocking_functions_spawned_together_run_together_with_an_idle_thread() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let got = rt.block_on(async {
                task::spawn_blocking(|| ()).await.unwrap(); // a thread, idle afterwards
                sleep(Duration::from_millis(50)).await;
                for _ in 0..20 {
                    let (tx, rx) = mpsc::channel::<u32>();
                    let waiter =
                        task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)));
                    let sender = task::spawn_blocking(move || tx.send(7).unwrap());
                    let got = waiter.await.unwrap();
                    sender.await.unwrap();
                    if got != Ok(7) {
                        return got;
                    }
                    sleep(Duration::from_millis(5)).await; // threads idle again
                }
                Ok(7)
            });
            assert_eq!(got, Ok(7), "{name}: the second function never ran beside the first");
        }
    });
}

#[test]
fn spawn_blocking_runs_elsewhere_and_returns() {
    bounded(60, || {
        for (name, rt) in flavors() {
            rt.block_on(async {
                let me = thread::current().id();
                let (id, v) =
                    task::spawn_blocking(|| (thread::current().id(), 6 * 7)).await.unwrap();
                assert_eq!(v, 42, "{name}");
                assert_ne!(id, me, "{name}: spawn_blocking ran on the block_on thread");

                // From a task, and many at once.
                let hs: Vec<_> = (0..32u64)
                    .map(|i| spawn(async move { task::spawn_blocking(move || i * i).await }))
                    .collect();
                let mut sum = 0;
                for h in hs {
                    sum += h.await.unwrap().unwrap();
                }
                assert_eq!(sum, (0..32u64).map(|i| i * i).sum::<u64>(), "{name}");

                // A panic in the blocking function.
                let err =
                    task::spawn_blocking(|| -> u8 { panic!("blocking-boom") }).await.unwrap_err();
                assert!(err.is_panic(), "{name}");
                assert_eq!(payload_text(&*err.into_panic()), "blocking-boom", "{name}");
            });
            // Runtime::spawn_blocking from outside.
            let h = rt.spawn_blocking(|| "outside");
            assert_eq!(rt.block_on(h).unwrap(), "outside", "{name}");
        }
    });
}

#[test]
fn handle_block_on_from_spawn_blocking_multi_thread() {
    bounded(60, || {
        let rt = multi();
        let v = rt.block_on(async {
            let h = Handle::current();
            task::spawn_blocking(move || h.block_on(async { spawn(async { 8 }).await.unwrap() }))
                .await
                .unwrap()
        });
        assert_eq!(v, 8);
    });
}

/// `Handle::block_on` from another thread while the current-thread runtime is inside
/// `Runtime::block_on`: tokio polls the future on the calling thread (only I/O and timers need
/// the driving thread), so a future that needs neither completes.
#[test]
fn handle_block_on_from_spawn_blocking_current_thread() {
    bounded(10, || {
        let rt = current();
        let v = rt.block_on(async {
            let h = Handle::current();
            let r = timeout(
                Duration::from_secs(3),
                task::spawn_blocking(move || h.block_on(async { 8 })),
            )
            .await;
            r.expect("Handle::block_on on a blocking thread did not complete in 3 s").unwrap()
        });
        assert_eq!(v, 8);
    });
}

// ---------------------------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------------------------

#[test]
fn spawn_after_shutdown_is_cancelled() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let h = rt.handle().clone();
            drop(rt);
            let ran = Arc::new(AtomicBool::new(false));
            let r2 = ran.clone();
            let jh = h.spawn(async move { r2.store(true, SeqCst) });
            assert!(jh.is_finished(), "{name}: a task spawned after shutdown must be finished");
            let err = bounded_join(jh);
            assert!(err.is_cancelled(), "{name}: {err:?}");
            assert!(!ran.load(SeqCst), "{name}");

            let jh = h.spawn_blocking(|| 1);
            assert!(jh.is_finished(), "{name}: spawn_blocking after shutdown");
            assert!(bounded_join(jh).is_cancelled(), "{name}");
        }
    });
}

/// A task cancelled at shutdown whose destructor spawns (a guard that hands cleanup to a new
/// task, say): as in tokio, the destructor runs inside the runtime's context, and the spawn
/// returns a handle to a task cancelled at once. It used to panic ("there is no kq runtime on
/// this thread"), cutting the rest of the destructor short.
#[test]
fn a_destructor_spawning_at_shutdown_gets_a_cancelled_task() {
    struct SpawnOnDrop(Arc<AtomicUsize>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let (spawned, ran) = (self.0.clone(), self.0.clone());
            let jh = spawn(async move { ran.fetch_add(100, SeqCst) });
            let r2 = self.0.clone();
            let bh = task::spawn_blocking(move || r2.fetch_add(100, SeqCst));
            // Reached only if neither spawn panicked.
            spawned.fetch_add(1, SeqCst);
            drop((jh, bh));
        }
    }
    bounded(60, || {
        for (name, rt) in flavors() {
            let count = Arc::new(AtomicUsize::new(0));
            for _ in 0..3 {
                let guard = SpawnOnDrop(count.clone());
                rt.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                });
            }
            rt.block_on(task::yield_now());
            drop(rt);
            // The spawned tasks never run; the blocking functions might, racing the shutdown.
            let n = count.load(SeqCst);
            assert_eq!(n % 100, 3, "{name}: a spawn in a destructor at shutdown panicked ({n})");
            assert_eq!(Handle::try_current().ok().map(|_| ()), None, "{name}: context leaked");
        }
    });
}

/// `shutdown_background` (no wait for the workers) while the workers are busy: a worker that
/// had just taken a task from its queue polled (or cancelled) it while the shutdown thread was
/// cancelling the same task: its future was dropped twice (heap corruption: "malloc_consolidate():
/// unaligned fastbin chunk detected"). And a task being polled while shutdown cancelled the
/// others was never cancelled (its future leaked). Every future must be dropped exactly once.
#[test]
fn shutdown_background_with_busy_workers_drops_every_future_exactly_once() {
    struct Counted(Arc<AtomicUsize>, #[allow(dead_code)] Box<[u8; 64]>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    bounded(120, || {
        const TASKS: usize = 64;
        for round in 0..100 {
            let rt = Builder::new_multi_thread().worker_threads(8).build().unwrap();
            let drops = Arc::new(AtomicUsize::new(0));
            for _ in 0..TASKS {
                let c = Counted(drops.clone(), Box::new([7; 64]));
                rt.spawn(async move {
                    let _c = c;
                    loop {
                        task::yield_now().await;
                    }
                });
            }
            thread::sleep(Duration::from_micros(200));
            rt.shutdown_background();
            // A task being polled at shutdown is cancelled by its worker when the poll ends.
            let deadline = Instant::now() + Duration::from_secs(10);
            while drops.load(SeqCst) < TASKS && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            thread::sleep(Duration::from_millis(1));
            let n = drops.load(SeqCst);
            assert_eq!(n, TASKS, "round {round}: futures dropped {n} times for {TASKS} tasks");
        }
    });
}

/// Names of this process's threads (Linux).
#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(s) = std::fs::read_to_string(e.path().join("comm")) {
            out.push(s.trim().to_string());
        }
    }
    out
}

#[test]
fn drop_runtime_cancels_pending_tasks_and_joins_workers() {
    bounded(60, || {
        for flavor in ["current_thread", "multi_thread"] {
            let thread_name = format!("kqt-drop-{}", &flavor[..1]);
            let starts = Arc::new(AtomicUsize::new(0));
            let stops = Arc::new(AtomicUsize::new(0));
            let (s1, s2) = (starts.clone(), stops.clone());
            let mut b = if flavor == "current_thread" {
                Builder::new_current_thread()
            } else {
                let mut b = Builder::new_multi_thread();
                b.worker_threads(2);
                b
            };
            let rt = b
                .thread_name(thread_name.clone())
                .on_thread_start(move || {
                    s1.fetch_add(1, SeqCst);
                })
                .on_thread_stop(move || {
                    s2.fetch_add(1, SeqCst);
                })
                .build()
                .unwrap();

            let flags: Vec<_> = (0..8).map(|_| Arc::new(AtomicBool::new(false))).collect();
            rt.block_on(async {
                let mut started = Vec::new();
                for f in &flags {
                    let guard = DropFlag(f.clone());
                    let (tx, rx) = oneshot::channel();
                    started.push(rx);
                    spawn(async move {
                        let _guard = guard;
                        tx.send(());
                        sleep(Duration::from_secs(3600)).await;
                    });
                }
                for rx in started {
                    assert_eq!(rx.await, Some(()), "{flavor}");
                }
            });
            // A task spawned after block_on returned, never polled.
            let never = Arc::new(AtomicBool::new(false));
            let guard = DropFlag(never.clone());
            let jh = rt.spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
            });
            assert_eq!(stops.load(SeqCst), 0, "{flavor}");

            let t0 = Instant::now();
            drop(rt);
            let took = t0.elapsed();
            assert!(took < Duration::from_secs(10), "{flavor}: dropping the runtime took {took:?}");
            for (i, f) in flags.iter().enumerate() {
                assert!(f.load(SeqCst), "{flavor}: task {i}'s future not dropped at shutdown");
            }
            assert!(never.load(SeqCst), "{flavor}: the unpolled task's future not dropped");
            assert!(jh.is_finished(), "{flavor}");
            let err = bounded_join(jh);
            assert!(err.is_cancelled(), "{flavor}: {err:?}");
            let workers = if flavor == "multi_thread" { 2 } else { 0 };
            assert_eq!(starts.load(SeqCst), workers, "{flavor}: on_thread_start per worker");
            assert_eq!(
                starts.load(SeqCst),
                stops.load(SeqCst),
                "{flavor}: on_thread_start / on_thread_stop mismatch: a thread was left"
            );
            #[cfg(target_os = "linux")]
            {
                // A joined thread has finished its code, but the kernel clears its tid (waking
                // the joiner) before it leaves /proc/self/task: give the kernel a moment to reap.
                let deadline = Instant::now() + Duration::from_secs(5);
                let left = loop {
                    let left: Vec<_> =
                        thread_names().into_iter().filter(|n| *n == thread_name).collect();
                    if left.is_empty() || Instant::now() > deadline {
                        break left;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                };
                assert!(left.is_empty(), "{flavor}: runtime threads still alive: {left:?}");
            }
        }
    });
}

/// Awaits a JoinHandle of a runtime that is gone (it must be complete already) with a tiny
/// hand-rolled poll, expecting an error.
fn bounded_join<T: std::fmt::Debug>(
    mut jh: kq_runtime::task::JoinHandle<T>,
) -> kq_runtime::task::JoinError {
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    match Pin::new(&mut jh).poll(&mut cx) {
        Poll::Ready(Err(e)) => e,
        Poll::Ready(Ok(v)) => panic!("a task cancelled at shutdown returned {v:?}"),
        Poll::Pending => panic!("the JoinHandle of a task cancelled at shutdown is pending"),
    }
}

#[test]
fn shutdown_timeout_does_not_wait_for_blocking_work() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let (tx, rx) = mpsc::channel();
            let _h = rt.spawn_blocking(move || {
                tx.send(()).unwrap();
                thread::sleep(Duration::from_secs(5));
            });
            rx.recv_timeout(Duration::from_secs(10)).expect("the blocking task did not start");
            let t0 = Instant::now();
            rt.shutdown_timeout(Duration::from_millis(100));
            let took = t0.elapsed();
            assert!(
                took < Duration::from_secs(4),
                "{name}: shutdown_timeout(100 ms) took {took:?} with a 5 s blocking task"
            );
        }
    });
}

/// The builder documents that `on_thread_start`/`on_thread_stop` run "on each worker and
/// blocking thread".
#[test]
fn thread_callbacks_run_on_blocking_threads() {
    bounded(60, || {
        let starts = Arc::new(AtomicUsize::new(0));
        let stops = Arc::new(AtomicUsize::new(0));
        let (s1, s2) = (starts.clone(), stops.clone());
        let rt = Builder::new_current_thread()
            .on_thread_start(move || {
                s1.fetch_add(1, SeqCst);
            })
            .on_thread_stop(move || {
                s2.fetch_add(1, SeqCst);
            })
            .build()
            .unwrap();
        let n = rt.block_on(async { task::spawn_blocking(|| 1).await.unwrap() });
        assert_eq!(n, 1);
        assert_eq!(
            starts.load(SeqCst),
            1,
            "on_thread_start did not run on the blocking thread (current-thread runtime: the only \
             thread it starts is the blocking one)"
        );
        drop(rt);
        assert_eq!(stops.load(SeqCst), 1, "on_thread_stop did not run on the blocking thread");
    });
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

#[test]
fn runtime_metrics() {
    bounded(60, || {
        let rt = multi();
        let m0 = rt.metrics();
        assert_eq!(m0.workers, 2);
        assert_eq!(m0.num_workers(), 2);
        assert_eq!(m0.spawned_tasks, 0);
        assert_eq!(m0.polls.len(), 2);
        rt.block_on(async {
            let hs: Vec<_> = (0..25).map(|i| spawn(async move { i })).collect();
            for h in hs {
                h.await.unwrap();
            }
            sleep(Duration::from_millis(5)).await;
        });
        let m = rt.metrics();
        assert_eq!(m.spawned_tasks, 25);
        assert_eq!(m.workers, 2);
        assert!(m.total_polls() >= 25, "polls: {:?}", m.polls);
        assert!(m.reactor_lock.acquisitions > 0, "{:?}", m.reactor_lock);
        // The driver adds its events to the counter after waking their tasks: wait for it.
        rt.block_on(wait_until("reactor_events > 0", || rt.metrics().reactor_events > 0));
        assert_eq!(rt.handle().metrics().spawned_tasks, 25);
        // Completed tasks are eventually forgotten.
        rt.block_on(wait_until("no task alive", || rt.metrics().num_alive_tasks() == 0));

        let ct = current();
        ct.block_on(async {
            spawn(async {}).await.unwrap();
        });
        let m = ct.metrics();
        assert_eq!(m.workers, 1);
        assert_eq!(m.spawned_tasks, 1);
        assert!(m.reactor_lock.acquisitions > 0);
    });
}
