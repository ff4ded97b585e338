//! The Unix-only helpers: RLIMIT_NOFILE, fd exhaustion, and tests isolated in a child process.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
