//! Runtime workloads of BENCHMARKS.md rows 1-6, written once and instantiated for kq
//! (`kq_runtime`) and for tokio by the [`workloads!`] macro, so that both runtimes run the very
//! same code (down to the oneshot channel, hand-written in [`oneshot`]).
//!
//! Shared by the criterion bench (`benches/runtime.rs`) and the interleaved runner
//! (`src/bin/compare.rs`).
//!
//! Every workload runs one iteration and returns the time it took (set-up such as building the
//! runtime is outside the timed span), which is what criterion's `iter_custom` and the
//! interleaved runner both want. All runtimes are multi-thread ones with 1 or 2 workers.

use std::time::Duration;

/// Number of spawns of rows 1 and 2.
pub const SPAWNS: usize = 10_000;
/// Depth of row 3.
pub const CHAIN_DEPTH: usize = 1_000;
/// Tasks of row 4.
pub const YIELD_TASKS: usize = 200;
/// Yields per task of row 4.
pub const YIELDS_PER_TASK: usize = 1_000;
/// Pairs of row 5.
pub const PING_PONG_PAIRS: usize = 1_000;
/// Timers of row 6's macro figure.
pub const MACRO_TIMERS: usize = 10_000;
/// Timer operations per iteration of row 6's micro figures.
pub const TIMER_OPS: usize = 1_000;
/// Tasks of row 6b (many short timers, issue 13).
pub const SHORT_TIMERS: usize = 20_000;

/// The sleep duration of task `i` of row 6b: spread over 1..=20 ms.
pub fn short_sleep(i: usize) -> Duration {
    Duration::from_millis(1 + (i.wrapping_mul(7919) % 20) as u64)
}

/// The sleep duration of timer `i` of the macro figure: spread over 1..=50 ms.
pub fn macro_sleep(i: usize) -> Duration {
    // A fixed permutation-like spread (7919 is prime), the same for both runtimes.
    Duration::from_millis(1 + (i.wrapping_mul(7919) % 50) as u64)
}

/// The `q` quantile (0..=1) of sorted durations, as milliseconds.
pub fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

pub mod oneshot {
    //! A minimal oneshot channel (a mutex-protected slot and an `AtomicWaker`), so that the
    //! ping-pong row does not favour either runtime's own channel.

    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use futures_util::task::AtomicWaker;

    enum Slot<T> {
        Empty,
        Full(T),
        Closed,
    }

    struct Inner<T> {
        slot: Mutex<Slot<T>>,
        waker: AtomicWaker,
    }

    /// The sending half.
    pub struct Sender<T>(Arc<Inner<T>>);

    /// The receiving half: a future of the value, or `Err(())` if the sender was dropped.
    pub struct Receiver<T>(Arc<Inner<T>>);

    /// A new channel.
    pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
        let inner = Arc::new(Inner { slot: Mutex::new(Slot::Empty), waker: AtomicWaker::new() });
        (Sender(inner.clone()), Receiver(inner))
    }

    impl<T> Sender<T> {
        /// Sends the value (waking the receiver when `self` is dropped, right after).
        pub fn send(self, value: T) {
            *self.0.slot.lock().unwrap_or_else(|p| p.into_inner()) = Slot::Full(value);
        }
    }

    impl<T> Drop for Sender<T> {
        fn drop(&mut self) {
            {
                let mut slot = self.0.slot.lock().unwrap_or_else(|p| p.into_inner());
                if matches!(*slot, Slot::Empty) {
                    *slot = Slot::Closed;
                }
            }
            self.0.waker.wake();
        }
    }

    impl<T> Receiver<T> {
        fn take(&self) -> Poll<Result<T, ()>> {
            let mut slot = self.0.slot.lock().unwrap_or_else(|p| p.into_inner());
            match std::mem::replace(&mut *slot, Slot::Closed) {
                Slot::Full(v) => Poll::Ready(Ok(v)),
                Slot::Closed => Poll::Ready(Err(())),
                Slot::Empty => {
                    *slot = Slot::Empty;
                    Poll::Pending
                }
            }
        }
    }

    impl<T> Future for Receiver<T> {
        type Output = Result<T, ()>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, ()>> {
            if let Poll::Ready(r) = self.take() {
                return Poll::Ready(r);
            }
            self.0.waker.register(cx.waker());
            self.take()
        }
    }
}

/// Defines module `$m` with every workload written against the runtime crate `$krate`.
/// `$build` builds a multi-thread runtime with the given number of workers, `$sleep` is a sleep
/// function taking a `Duration`.
macro_rules! workloads {
    ($m:ident, $krate:ident, $name:literal) => {
        pub mod $m {
            //! The workloads on one runtime (see the module above).

            use std::hint::black_box;
            use std::pin::pin;
            use std::sync::atomic::{AtomicUsize, Ordering::AcqRel};
            use std::sync::mpsc::{sync_channel, SyncSender};
            use std::sync::Arc;
            use std::time::{Duration, Instant};

            use ::$krate::runtime::{Builder, Runtime};
            use ::$krate::spawn;
            use ::$krate::task::yield_now;
            use ::$krate::time::{sleep, timeout};

            use super::oneshot;

            /// The runtime's name in reports.
            pub const NAME: &str = $name;

            /// A multi-thread runtime with `workers` workers.
            pub fn build(workers: usize) -> Runtime {
                Builder::new_multi_thread()
                    .worker_threads(workers)
                    .enable_all()
                    .build()
                    .expect(concat!($name, " runtime"))
            }

            /// Counts tasks down; the last one signals the waiting thread.
            struct Countdown {
                left: AtomicUsize,
                done: SyncSender<()>,
            }

            impl Countdown {
                fn new(n: usize) -> (Arc<Countdown>, std::sync::mpsc::Receiver<()>) {
                    let (done, rx) = sync_channel(1);
                    (Arc::new(Countdown { left: AtomicUsize::new(n), done }), rx)
                }

                fn hit(&self) {
                    if self.left.fetch_sub(1, AcqRel) == 1 {
                        self.done.send(()).expect("countdown receiver");
                    }
                }
            }

            /// Row 1: `n` spawns from inside a task (a worker thread), each task decrementing
            /// an atomic countdown.
            pub fn spawn_local(rt: &Runtime, n: usize) -> Duration {
                let (cd, rx) = Countdown::new(n);
                let start = Instant::now();
                rt.block_on(async move {
                    spawn(async move {
                        for _ in 0..n {
                            let cd = cd.clone();
                            spawn(async move { cd.hit() });
                        }
                    })
                    .await
                    .expect("spawner");
                });
                rx.recv().expect("countdown");
                start.elapsed()
            }

            /// Row 2: `n` spawns from outside the runtime (`Runtime::spawn` on this thread),
            /// then every handle awaited.
            pub fn spawn_remote(rt: &Runtime, n: usize) -> Duration {
                let start = Instant::now();
                let handles: Vec<_> = (0..n).map(|i| rt.spawn(async move { i })).collect();
                rt.block_on(async move {
                    for h in handles {
                        black_box(h.await.expect("task"));
                    }
                });
                start.elapsed()
            }

            /// Row 2, second form: two outside threads spawn `n / 2` tasks each, then every
            /// handle is awaited (thread start-up is inside the timed span, for both runtimes).
            pub fn spawn_remote_2threads(rt: &Runtime, n: usize) -> Duration {
                let start = Instant::now();
                let handle = rt.handle();
                let handles: Vec<_> = std::thread::scope(|s| {
                    let spawners: Vec<_> = (0..2)
                        .map(|_| {
                            s.spawn(move || {
                                (0..n / 2)
                                    .map(|i| handle.spawn(async move { i }))
                                    .collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    spawners.into_iter().flat_map(|t| t.join().expect("spawner thread")).collect()
                });
                rt.block_on(async move {
                    for h in handles {
                        black_box(h.await.expect("task"));
                    }
                });
                start.elapsed()
            }

            fn chain(done: SyncSender<()>, n: usize) {
                if n == 0 {
                    done.send(()).expect("chain receiver");
                } else {
                    spawn(async move { chain(done, n - 1) });
                }
            }

            /// Row 3: a chain of `depth` tasks, each spawning the next.
            pub fn chained_spawn(rt: &Runtime, depth: usize) -> Duration {
                let (done, rx) = sync_channel(1);
                let start = Instant::now();
                rt.block_on(async move {
                    spawn(async move { chain(done, depth) });
                });
                rx.recv().expect("chain");
                start.elapsed()
            }

            /// Row 4: `tasks` tasks (spawned from outside) each yielding `yields` times.
            pub fn yield_many(rt: &Runtime, tasks: usize, yields: usize) -> Duration {
                let (cd, rx) = Countdown::new(tasks);
                let start = Instant::now();
                for _ in 0..tasks {
                    let cd = cd.clone();
                    rt.spawn(async move {
                        for _ in 0..yields {
                            yield_now().await;
                        }
                        cd.hit();
                    });
                }
                rx.recv().expect("countdown");
                start.elapsed()
            }

            /// Row 5: `pairs` pairs of tasks, spawned from inside a task, exchanging a ping and
            /// a pong over [`oneshot`] channels.
            pub fn ping_pong(rt: &Runtime, pairs: usize) -> Duration {
                let (cd, rx) = Countdown::new(pairs);
                let start = Instant::now();
                rt.block_on(async move {
                    spawn(async move {
                        for _ in 0..pairs {
                            let cd = cd.clone();
                            spawn(async move {
                                let (tx1, rx1) = oneshot::channel::<()>();
                                let (tx2, rx2) = oneshot::channel::<()>();
                                spawn(async move {
                                    rx1.await.expect("ping");
                                    tx2.send(());
                                });
                                tx1.send(());
                                rx2.await.expect("pong");
                                cd.hit();
                            });
                        }
                    });
                });
                rx.recv().expect("countdown");
                start.elapsed()
            }

            /// Row 5b: `pairs` pairs of tasks spawned from `block_on` (from outside the
            /// workers) exchanging a ping and a pong, every task joined there through its
            /// handle.
            pub fn ping_pong_block_on(rt: &Runtime, pairs: usize) -> Duration {
                let start = Instant::now();
                rt.block_on(async move {
                    let mut handles = Vec::with_capacity(2 * pairs);
                    for _ in 0..pairs {
                        let (tx1, rx1) = oneshot::channel::<()>();
                        let (tx2, rx2) = oneshot::channel::<()>();
                        handles.push(spawn(async move {
                            rx1.await.expect("ping");
                            tx2.send(());
                        }));
                        handles.push(spawn(async move {
                            tx1.send(());
                            rx2.await.expect("pong");
                        }));
                    }
                    for h in handles {
                        h.await.expect("ping-pong task");
                    }
                });
                start.elapsed()
            }

            /// Row 6b: `n` tasks spawned at once from `block_on`, each sleeping 1-20 ms (see
            /// `short_sleep`), joined there through their handles.
            pub fn many_short_timers(rt: &Runtime, n: usize) -> Duration {
                let start = Instant::now();
                rt.block_on(async move {
                    let handles: Vec<_> =
                        (0..n).map(|i| spawn(sleep(super::short_sleep(i)))).collect();
                    for h in handles {
                        h.await.expect("sleeper");
                    }
                });
                start.elapsed()
            }

            /// Row 6b's first phase alone: the time `block_on` takes to spawn the `n` sleepers
            /// (the row's time is this plus the longest sleep, 20 ms, plus the lateness of the
            /// last wake-ups). The sleepers are joined before returning.
            pub fn many_short_timers_spawn_phase(rt: &Runtime, n: usize) -> Duration {
                rt.block_on(async move {
                    let start = Instant::now();
                    let handles: Vec<_> =
                        (0..n).map(|i| spawn(sleep(super::short_sleep(i)))).collect();
                    let spawned = start.elapsed();
                    for h in handles {
                        h.await.expect("sleeper");
                    }
                    spawned
                })
            }

            /// Row 6a: `ops` times, inside a task: create a 1 s sleep, poll it once (which arms
            /// the timer) and drop it (which disarms it). The task yields every 32 operations
            /// so that the cooperative budget never short-cuts a poll.
            pub fn sleep_poll_drop(rt: &Runtime, ops: usize) -> Duration {
                rt.block_on(async move {
                    spawn(async move {
                        let start = Instant::now();
                        for i in 0..ops {
                            {
                                let s = pin!(sleep(Duration::from_secs(1)));
                                let polled = futures_util::poll!(s);
                                black_box(polled.is_pending());
                            }
                            if i % 32 == 31 {
                                yield_now().await;
                            }
                        }
                        start.elapsed()
                    })
                    .await
                    .expect("timer task")
                })
            }

            /// Row 6b: `ops` times, inside a task: `timeout(1 s, ready future)`.
            pub fn timeout_ready(rt: &Runtime, ops: usize) -> Duration {
                rt.block_on(async move {
                    spawn(async move {
                        let start = Instant::now();
                        for i in 0..ops {
                            let v = timeout(Duration::from_secs(1), async { black_box(i) }).await;
                            black_box(v.expect("not elapsed"));
                        }
                        start.elapsed()
                    })
                    .await
                    .expect("timer task")
                })
            }

            /// Row 6c: `n` tasks (spawned from inside a task) each sleeping 1-50 ms (see
            /// `macro_sleep`). Returns the total time and each timer's lateness (wake-up time
            /// minus deadline), sorted.
            pub fn timers_macro(rt: &Runtime, n: usize) -> (Duration, Vec<Duration>) {
                let start = Instant::now();
                let mut late = rt.block_on(async move {
                    spawn(async move {
                        let handles: Vec<_> = (0..n)
                            .map(|i| {
                                spawn(async move {
                                    let d = super::macro_sleep(i);
                                    let deadline = Instant::now() + d;
                                    sleep(d).await;
                                    Instant::now().saturating_duration_since(deadline)
                                })
                            })
                            .collect();
                        let mut late = Vec::with_capacity(n);
                        for h in handles {
                            late.push(h.await.expect("sleeper"));
                        }
                        late
                    })
                    .await
                    .expect("timer task")
                });
                let total = start.elapsed();
                late.sort_unstable();
                (total, late)
            }
        }
    };
}

workloads!(kq, kq_runtime, "kq");
workloads!(tk, tokio, "tokio");
