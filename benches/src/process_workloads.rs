//! Process workloads of BENCHMARKS.md row 13 (`process_spawn_wait`): spawn and wait for `true`,
//! 500 times with 16 at a time, and 1,000 at once; written once for kq (`kq-process`) and once
//! for `tokio::process`, so that the runner (`src/bin/process_compare.rs`, to be folded into
//! `compare`) and any criterion bench measure the same code.
//!
//! Each function runs one iteration on a runtime built by the caller and returns the time it
//! took (runtime set-up outside the timed span). The children inherit stdio (`true` prints
//! nothing). 1,000 children at once need about 2,000 fds: see [`raise_nofile`].

/// Children of the "16 at a time" figure.
pub const POOL_TOTAL: usize = 500;
/// Children running at once in the "16 at a time" figure.
pub const POOL_WIDTH: usize = 16;
/// Children of the "all at once" figure.
pub const BURST: usize = 1_000;
/// The program spawned.
pub const PROGRAM: &str = "true";

/// Raises the soft RLIMIT_NOFILE to the hard limit (1,000 children at once hold a pidfd or two
/// each); returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: `raised` is a valid rlimit no higher than the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    lim.rlim_cur
}

macro_rules! process_workloads {
    ($rt:ty, $spawn:path, $command:path) => {
        /// `total` children, `width` at a time (each of `width` tasks spawns and waits for
        /// `total / width` children in turn).
        pub fn pool(rt: &$rt, total: usize, width: usize) -> Duration {
            rt.block_on(async {
                let start = std::time::Instant::now();
                let per_task = total / width;
                let tasks: Vec<_> = (0..width)
                    .map(|_| {
                        $spawn(async move {
                            for _ in 0..per_task {
                                let mut child =
                                    <$command>::new(super::PROGRAM).spawn().expect("spawn");
                                let status = child.wait().await.expect("wait");
                                assert!(status.success(), "{status}");
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
                start.elapsed()
            })
        }

        /// `n` children at once: all spawned, then all waited for (one task each).
        pub fn burst(rt: &$rt, n: usize) -> Duration {
            rt.block_on(async {
                let start = std::time::Instant::now();
                let mut tasks = Vec::with_capacity(n);
                for _ in 0..n {
                    let mut child = <$command>::new(super::PROGRAM).spawn().expect("spawn");
                    tasks.push($spawn(async move {
                        let status = child.wait().await.expect("wait");
                        assert!(status.success(), "{status}");
                    }));
                }
                for t in tasks {
                    t.await.expect("task");
                }
                start.elapsed()
            })
        }
    };
}

pub mod kq {
    //! The workloads on kq: `kq_process::process::Command` on a `kq_runtime::Runtime`.
    use std::time::Duration;
    process_workloads!(kq_runtime::Runtime, kq_runtime::spawn, kq_process::process::Command);
}

pub mod tk {
    //! The workloads on tokio: `tokio::process::Command` on a `tokio::runtime::Runtime`.
    use std::time::Duration;
    process_workloads!(tokio::runtime::Runtime, tokio::spawn, tokio::process::Command);
}
