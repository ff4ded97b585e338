//! Helpers shared by the process and signal tests: a bounded runtime, /proc inspection, limits.

#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

/// Runs `f` on a fresh multi-thread runtime, failing (not hanging) after `secs` seconds.
pub fn run<F: Future<Output = io::Result<()>> + Send + 'static>(secs: u64, f: F) -> io::Result<()> {
    let rt = kq_runtime::runtime::Builder::new_multi_thread().worker_threads(2).build()?;
    rt.block_on(async move {
        match kq_runtime::time::timeout(Duration::from_secs(secs), f).await {
            Ok(r) => r,
            Err(_) => panic!("test did not finish within {secs} s"),
        }
    })
}

/// Like [`run`] on a current-thread runtime.
pub fn run_current<F: Future<Output = io::Result<()>>>(secs: u64, f: F) -> io::Result<()> {
    let rt = kq_runtime::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async move {
        match kq_runtime::time::timeout(Duration::from_secs(secs), f).await {
            Ok(r) => r,
            Err(_) => panic!("test did not finish within {secs} s"),
        }
    })
}

/// The checks built on these helpers read Linux's `/proc`. Where it is missing (the BSDs,
/// macOS: the suites compile there), they would find nothing and pass without checking: they
/// fail instead, naming what to port.
pub fn require_linux_proc(what: &str) {
    assert!(
        std::path::Path::new("/proc/self/stat").exists(),
        "{what} reads Linux's /proc, which this system does not have: port the check first"
    );
}

/// State and parent of `pid` from /proc/PID/stat, `None` once the process is gone.
pub fn proc_state(pid: u32) -> Option<(char, u32, u32)> {
    require_linux_proc("proc_state");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid pgrp ..."; comm may contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// Is `pid` an unreaped child (zombie) of this process?
pub fn is_our_zombie(pid: u32) -> bool {
    matches!(proc_state(pid), Some(('Z', ppid, _)) if ppid == std::process::id())
}

/// Waits (polling /proc, bounded by `secs`) until `pid` is no longer a process of ours: gone,
/// or reaped. Panics naming `what` otherwise.
pub fn assert_gone(pid: u32, secs: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match proc_state(pid) {
            None => return,
            Some((_, ppid, _)) if ppid != std::process::id() => return, // pid reused elsewhere
            Some(state) if Instant::now() > deadline => {
                panic!("{what}: pid {pid} still there after {secs} s: {state:?}")
            }
            Some(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// The processes in process group `pgrp`.
pub fn group_members(pgrp: u32) -> Vec<u32> {
    require_linux_proc("group_members");
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some((_, _, g)) = proc_state(pid) {
            if g == pgrp {
                out.push(pid);
            }
        }
    }
    out
}

/// Raises the soft RLIMIT_NOFILE to the hard limit and checks that `need` fds are allowed.
pub fn raise_nofile(need: libc::rlim_t) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is valid for writes.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    assert!(lim.rlim_cur >= need, "RLIMIT_NOFILE is {} (need {need})", lim.rlim_cur);
}

/// The pids whose parent is this process.
pub fn children_of_us() -> Vec<u32> {
    require_linux_proc("children_of_us");
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if matches!(proc_state(pid), Some((_, ppid, _)) if ppid == me) {
            out.push(pid);
        }
    }
    out
}
