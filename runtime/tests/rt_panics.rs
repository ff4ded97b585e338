//! Panics in every kind of user code the runtime runs: wakers woken (and dropped) by the driver,
//! a JoinHandle's waker, futures and outputs whose `Drop` panics, panic payloads whose `Drop`
//! panics, thread callbacks and thread-name functions, `spawn_blocking` closures, and the main
//! future of `block_on`. Each is caught where tokio catches it, and the runtime keeps serving:
//! every test ends by running tasks, timers and blocking work on the same runtime, and dropping
//! it. Every body runs under a watchdog (the old failures were hangs).

mod util;
use util::*;

use std::future::{poll_fn, Future};
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::time::Duration;

#[cfg(unix)] // The pipe check only.
use kq_runtime::io::{Interest, Registration};
use kq_runtime::runtime::Builder;
use kq_runtime::spawn;
use kq_runtime::task;
use kq_runtime::time::{sleep, timeout};
use kq_runtime::Runtime;

/// The runtime still runs tasks, timers, I/O readiness and blocking work.
fn assert_serving(rt: &Runtime, name: &str) {
    let v = rt.block_on(async {
        let a = spawn(async {
            sleep(Duration::from_millis(2)).await;
            20
        });
        let b = task::spawn_blocking(|| 22);
        #[cfg(unix)] // A pipe (Windows I/O readiness is tested in windows_rt.rs).
        {
            let (rd, wr) = pipe();
            let reg = Registration::new(rd.0 as usize, Interest::READABLE).unwrap();
            // SAFETY: writing one byte from a valid buffer to a pipe we own.
            assert_eq!(unsafe { libc::write(wr.0, b"z".as_ptr().cast(), 1) }, 1);
            timeout(Duration::from_secs(10), reg.readable())
                .await
                .expect("a readable pipe was never reported")
                .unwrap();
        }
        a.await.unwrap() + b.await.unwrap()
    });
    assert_eq!(v, 42, "{name}");
}

/// Flavors with a single worker for the multi-thread one: that worker is the only driver, so a
/// panic that escaped the driver (or left its flag set) would stop all I/O and timers.
fn single_worker_flavors() -> Vec<(&'static str, Runtime)> {
    vec![
        ("current_thread", current()),
        ("multi_thread(1)", Builder::new_multi_thread().worker_threads(1).build().unwrap()),
    ]
}

struct PanicOnWake(AtomicUsize);

impl Wake for PanicOnWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
        panic!("user waker panics on wake");
    }
}

/// A waker whose clones panic when dropped (the original is never dropped: see `ManuallyDrop`).
fn bomb_on_drop_waker() -> ManuallyDrop<Waker> {
    fn clone(p: *const ()) -> RawWaker {
        RawWaker::new(p, &VTABLE)
    }
    fn noop(_: *const ()) {}
    fn boom(_: *const ()) {
        panic!("user waker panics on drop");
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, boom, noop, boom);
    // SAFETY: the vtable's functions ignore the data pointer; cloning returns the same vtable.
    ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) })
}

#[test]
fn a_waker_panicking_in_the_driver_does_not_stop_the_runtime() {
    bounded(60, || {
        for (name, rt) in single_worker_flavors() {
            let counter = Arc::new(PanicOnWake(AtomicUsize::new(0)));
            rt.block_on(async {
                for _ in 0..3 {
                    // A timer whose only waker panics when the driver fires it.
                    let mut nap = Box::pin(sleep(Duration::from_millis(1)));
                    let waker = Waker::from(counter.clone());
                    let pending = nap.as_mut().poll(&mut Context::from_waker(&waker));
                    assert!(pending.is_pending());
                    timeout(Duration::from_secs(10), async {
                        while counter.0.load(SeqCst) == 0 {
                            sleep(Duration::from_millis(1)).await;
                        }
                    })
                    .await
                    .expect("the driver stopped after a waker panicked");
                    counter.0.store(0, SeqCst);
                }
            });
            assert_serving(&rt, name);
        }
    });
}

#[test]
fn a_waker_panicking_on_drop_in_the_driver_is_survived() {
    bounded(60, || {
        for (name, rt) in single_worker_flavors() {
            rt.block_on(async {
                for _ in 0..3 {
                    let bomb = bomb_on_drop_waker();
                    let mut nap = Box::pin(sleep(Duration::from_secs(3600)));
                    assert!(nap.as_mut().poll(&mut Context::from_waker(&bomb)).is_pending());
                    // Dropped: the runtime releases the timer, and with it the bomb's clone, on
                    // the driver's next collection.
                    drop(nap);
                    sleep(Duration::from_millis(2)).await;
                }
            });
            assert_serving(&rt, name);
        }
    });
}

#[test]
fn a_join_handle_waker_panicking_on_completion_is_survived() {
    bounded(60, || {
        for (name, rt) in single_worker_flavors() {
            let counter = Arc::new(PanicOnWake(AtomicUsize::new(0)));
            rt.block_on(async {
                let mut jh = spawn(async {
                    sleep(Duration::from_millis(2)).await;
                    1
                });
                let waker = Waker::from(counter.clone());
                assert!(Pin::new(&mut jh).poll(&mut Context::from_waker(&waker)).is_pending());
                wait_until("the task completed", || jh.is_finished()).await;
                assert_eq!(jh.await.unwrap(), 1, "{name}");
            });
            assert_eq!(counter.0.load(SeqCst), 1, "{name}: the JoinHandle's waker was not woken");
            assert_serving(&rt, name);
        }
    });
}

struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

#[test]
fn panicking_destructors_of_futures_outputs_and_payloads() {
    bounded(60, || {
        for (name, rt) in single_worker_flavors() {
            rt.block_on(async {
                // An output dropped by the runtime (detached task).
                drop(spawn(async { PanicOnDrop("output dropped detached") }));
                // An output dropped with its JoinHandle.
                let jh = spawn(async { PanicOnDrop("output dropped with the handle") });
                wait_until("the task completed", || jh.is_finished()).await;
                drop(jh);
                // A future that panics when dropped after completing: a JoinError.
                let err = spawn(async {
                    let _bomb = PanicOnDrop("future dropped");
                    sleep(Duration::from_millis(1)).await;
                })
                .await;
                assert!(err.is_err_and(|e| e.is_panic()), "{name}");
                // A future aborted while pending, whose destructor panics.
                let jh = spawn(async {
                    let _bomb = PanicOnDrop("future dropped on abort");
                    sleep(Duration::from_secs(3600)).await;
                });
                task::yield_now().await;
                jh.abort();
                assert!(jh.await.unwrap_err().is_cancelled(), "{name}");
                // A panic payload whose own destructor panics, dropped detached and joined.
                drop(spawn(async { panic_any(PanicOnDrop("payload dropped detached")) }));
                let err = spawn(async { panic_any(PanicOnDrop("payload")) }).await.unwrap_err();
                assert!(err.is_panic(), "{name}");
                std::mem::forget(err); // dropping it here would panic in the test itself
                                       // A task still pending at shutdown whose destructor panics.
                spawn(async {
                    let _bomb = PanicOnDrop("future dropped at shutdown");
                    sleep(Duration::from_secs(3600)).await;
                });
                task::yield_now().await;
            });
            assert_serving(&rt, name);
            drop(rt); // cancels the pending bomb: must neither panic nor hang
        }
    });
}

#[test]
fn panicking_thread_callbacks_and_names_cost_no_thread() {
    bounded(60, || {
        for flavor in ["current_thread", "multi_thread(1)"] {
            let mut b = if flavor == "current_thread" {
                Builder::new_current_thread()
            } else {
                let mut b = Builder::new_multi_thread();
                b.worker_threads(1);
                b
            };
            let rt = b
                .on_thread_start(|| panic!("on_thread_start panics"))
                .on_thread_stop(|| panic!("on_thread_stop panics"))
                .thread_name_fn(|| panic!("thread_name_fn panics"))
                .build()
                .expect("build with panicking callbacks");
            assert_serving(&rt, flavor);
            // Many blocking threads, each running the panicking callbacks.
            rt.block_on(async {
                let hs: Vec<_> = (0..8)
                    .map(|i| {
                        task::spawn_blocking(move || {
                            std::thread::sleep(Duration::from_millis(5));
                            i
                        })
                    })
                    .collect();
                let mut sum = 0;
                for h in hs {
                    sum += h.await.unwrap();
                }
                assert_eq!(sum, 28, "{flavor}");
            });
            drop(rt); // waits for the blocking threads, whose on_thread_stop panics
        }
    });
}

#[test]
fn panicking_blocking_closures_lose_no_thread() {
    bounded(60, || {
        let rt = Builder::new_current_thread().max_blocking_threads(2).build().unwrap();
        rt.block_on(async {
            for round in 0..20 {
                let err = task::spawn_blocking(move || -> u32 { panic!("blocking {round}") })
                    .await
                    .unwrap_err();
                assert!(err.is_panic());
            }
        });
        assert_serving(&rt, "max_blocking_threads(2)");
    });
}

#[test]
fn a_panicking_block_on_future_leaves_the_runtime_usable() {
    bounded(60, || {
        for (name, rt) in flavors() {
            for _ in 0..2 {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    rt.block_on(async {
                        spawn(async { sleep(Duration::from_millis(1)).await });
                        sleep(Duration::from_millis(1)).await;
                        panic!("main future panics");
                    })
                }));
                assert_eq!(payload_text(&*r.unwrap_err()), "main future panics", "{name}");
            }
            assert_serving(&rt, name);
        }
    });
}

#[test]
fn a_panicking_waker_inside_a_task_poll_fails_only_that_task() {
    bounded(60, || {
        for (name, rt) in single_worker_flavors() {
            rt.block_on(async {
                // The task wakes a panicking waker itself, inside its own poll.
                let err = spawn(async {
                    let w = Waker::from(Arc::new(PanicOnWake(AtomicUsize::new(0))));
                    poll_fn(|_cx| {
                        w.wake_by_ref();
                        Poll::<()>::Ready(())
                    })
                    .await;
                })
                .await
                .unwrap_err();
                assert!(err.is_panic(), "{name}");
                let mut fut = pin!(sleep(Duration::from_millis(1)));
                timeout(Duration::from_secs(10), fut.as_mut()).await.expect("timers stopped");
            });
            assert_serving(&rt, name);
        }
    });
}

/// Completes at once with `out`; its own destructor (after completing) panics.
struct ReadyThenPanicOnDrop<T> {
    out: Option<T>,
    _bomb: PanicOnDrop,
}

impl<T: Unpin> Future for ReadyThenPanicOnDrop<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
        Poll::Ready(self.out.take().expect("polled after completion"))
    }
}

#[test]
fn a_future_and_its_output_both_panicking_on_drop_fail_only_that_task() {
    bounded(60, || {
        for (name, rt) in single_worker_flavors() {
            let r = catch_unwind(AssertUnwindSafe(|| {
                rt.block_on(async {
                    // The future's destructor panics after it returned its output: the output
                    // is discarded (its destructor panics too) and the task fails with a panic.
                    let fut = ReadyThenPanicOnDrop {
                        out: Some(PanicOnDrop("output discarded")),
                        _bomb: PanicOnDrop("future dropped after completing"),
                    };
                    let err = timeout(Duration::from_secs(10), spawn(fut))
                        .await
                        .expect("the task never completed (its worker died?)");
                    match err {
                        Ok(out) => {
                            std::mem::forget(out);
                            panic!("{name}: the task succeeded though its future panicked");
                        }
                        Err(e) => {
                            assert!(e.is_panic(), "{name}");
                            std::mem::forget(e);
                        }
                    }
                })
            }));
            assert!(r.is_ok(), "{name}: a destructor's panic escaped the runtime");
            assert_serving(&rt, name);
        }
    });
}
