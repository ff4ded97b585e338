//! Helpers shared by kq-net's integration tests.
#![allow(dead_code)] // each test file uses a subset

use std::future::Future;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use std::time::Instant;

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

pub fn getrlimit_nofile() -> libc::rlimit {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit through a valid, exclusive pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    lim
}

pub fn setrlimit_nofile(lim: libc::rlimit) -> io::Result<()> {
    // SAFETY: setrlimit reads one rlimit through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs test `name` in a child process: this test binary, filtered to that test, with an env var
/// telling it to run `body`. A wedged runtime, a changed process-wide limit (RLIMIT_NOFILE) or a
/// crash then fails that one test, with its output, instead of the whole binary. The child is
/// killed if it has not finished `limit` + 40 s after it started.
pub fn isolated(name: &str, limit: Duration, body: impl FnOnce()) {
    const VAR: &str = "KQ_NET_TCP_CHILD_TEST";
    if std::env::var(VAR).as_deref() == Ok(name) {
        body();
        return;
    }
    let started = Instant::now();
    let child = Command::new(std::env::current_exe().expect("current_exe"))
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(VAR, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the child test process");
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(limit + Duration::from_secs(40)) {
        Ok(out) => out.expect("waiting for the child"),
        Err(_) => {
            // SAFETY: kill(2) on the pid of the child spawned above, not yet reaped (the waiting
            // thread has not returned).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let out = rx.recv().expect("the waiting thread").expect("waiting for the child");
            panic!(
                "{name}: the child process did not finish in {:?} (killed)\n--- stdout\n{}\n--- stderr\n{}",
                started.elapsed(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a child process: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

/// Lowers the soft RLIMIT_NOFILE to just above the highest open fd and fills every free slot
/// below it, so no new fd can be made. Returns the fillers and the old limit.
pub fn exhaust_fds(spare: &std::fs::File) -> io::Result<(Vec<RawFd>, libc::rlimit)> {
    let old = getrlimit_nofile();
    let top = old.rlim_cur.min(1 << 20) as RawFd;
    let highest = (0..top)
        .rev()
        // SAFETY: F_GETFD on any number only reads the descriptor flags (EBADF when closed).
        .find(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1)
        .expect("some fd is open");
    setrlimit_nofile(libc::rlimit {
        rlim_cur: highest as libc::rlim_t + 1,
        rlim_max: old.rlim_max,
    })?;
    let mut fillers = Vec::new();
    loop {
        // SAFETY: dup of an fd we own; the new fd is recorded and closed by the caller.
        let fd = unsafe { libc::dup(spare.as_raw_fd()) };
        if fd == -1 {
            let e = io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "dup: {e}");
            return Ok((fillers, old));
        }
        fillers.push(fd);
    }
}
