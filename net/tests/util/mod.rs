//! Helpers shared by kq-net's integration tests, on every platform (the Unix-only ones, fd
//! limits and child-process isolation, are in `unix.rs`).
#![allow(dead_code)] // each test file uses a subset

use std::future::Future;
use std::io::{self, Write};
use std::sync::mpsc;
use std::time::Duration;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
#[allow(unused_imports)] // each test file uses a subset
pub use unix::*;

use kq_runtime::runtime::Builder;
use kq_runtime::time::timeout;
use kq_runtime::Runtime;

pub fn multi_thread() -> Runtime {
    Builder::new_multi_thread().worker_threads(2).build().expect("multi-thread runtime")
}

pub fn current_thread() -> Runtime {
    Builder::new_current_thread().build().expect("current-thread runtime")
}

/// Runs `fut` on `rt` (and then drops `rt`) within `limit`: a `timeout` inside the runtime, and a
/// watchdog thread that aborts the process if the runtime is wedged (the timer never fires, or
/// shutting the runtime down hangs).
pub fn run<F: Future<Output = io::Result<()>>>(rt: Runtime, limit: Duration, name: &str, fut: F) {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let label = name.to_string();
    let watchdog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) =
            done_rx.recv_timeout(limit + Duration::from_secs(30))
        {
            // Straight to stderr: the test harness's capture would be lost with the abort.
            let _ = writeln!(
                io::stderr(),
                "{label}: the kq runtime is wedged (the timeout did not fire, or shutdown hangs)"
            );
            std::process::abort();
        }
    });
    let out = rt.block_on(timeout(limit, fut));
    drop(rt);
    drop(done_tx);
    watchdog.join().expect("watchdog");
    match out {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{name}: {e} ({e:?})"),
        Err(_) => panic!("{name}: timed out after {limit:?}"),
    }
}

/// A bounded await inside a test, naming what hung.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no progress in {secs} s"),
    }
}

/// Deterministic pseudo-random bytes (xorshift64*).
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// FNV-1a: position-sensitive, so reordered or repeated chunks change it.
pub fn checksum(data: &[u8]) -> u64 {
    data.iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}
