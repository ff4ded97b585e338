//! kq-process as careless and hostile users handle it: `wait` on a child that reads its stdin,
//! pids reused at once. Its own binary:
//! it sets the kernel's next pid (`ns_last_pid`, root only), which other tests spawning
//! processes at the same time would take.
// Unix-only: kq-process (child processes, signals) does not exist on Windows.
#![cfg(unix)]

mod util;

use std::io;
use std::time::{Duration, Instant};

use futures_util::AsyncWriteExt;
use futures_util::StreamExt;
use kq_process::process::{watch, Command, ProcEvent, Stdio};

const NS_LAST_PID: &str = "/proc/sys/kernel/ns_last_pid";

/// Makes `pid` the next pid the kernel hands out (unless another process takes it first).
fn next_pid_is(pid: u32) -> io::Result<()> {
    std::fs::write(NS_LAST_PID, format!("{}", pid - 1))
}

/// A watch of a process whose pid belonged, a moment before, to a process that an older watch
/// (never polled) was on: the two share one knote per pid, and the new watch used to report the
/// old process's exit at once while the new one ran on. Found by trying kq as a careless user
/// would (2026-12-02).
#[test]
fn a_watch_of_a_reused_pid_reports_the_new_process_exit() -> io::Result<()> {
    if std::fs::OpenOptions::new().write(true).open(NS_LAST_PID).is_err() {
        eprintln!("skipped: {NS_LAST_PID} is not writable (needs root), so no pid can be reused");
        return Ok(());
    }
    util::run_current(60, async {
        for _attempt in 0..50 {
            let mut old = std::process::Command::new("true").spawn()?;
            let pid = old.id();
            let stale = watch(pid); // kept, never polled
            old.wait()?; // reaped: the pid is free
            kq_runtime::time::sleep(Duration::from_millis(20)).await;
            next_pid_is(pid)?;
            let mut new =
                std::process::Command::new("sh").args(["-c", "sleep 0.3; exit 5"]).spawn()?;
            if new.id() != pid {
                new.kill()?; // someone else took the pid: try again
                new.wait()?;
                continue;
            }
            let started = Instant::now();
            let mut events = watch(pid);
            let ev = events.next().await.expect("an item")?;
            let waited = started.elapsed();
            assert!(
                waited >= Duration::from_millis(200),
                "the watch of {pid} reported {ev:?} after {waited:?}, while the process runs for 300 ms"
            );
            match ev {
                ProcEvent::Exit(Some(status)) => assert_eq!(status.code(), Some(5)),
                other => panic!("expected the exit of the new process, got {other:?}"),
            }
            assert!(events.next().await.is_none());
            new.wait()?;
            drop(stale);
            return Ok(());
        }
        panic!("the pid was never reused in 50 attempts");
    })
}

/// std's and tokio's `wait` close the child's stdin first; a tokio program ported to kq that
/// writes to `cat` and then waits for it used to wait forever (cat waits for the end of its
/// input). Found by trying kq as a careless user would (2026-12-02).
#[test]
fn wait_closes_stdin_so_a_child_reading_it_can_exit() -> io::Result<()> {
    util::run(10, async {
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
        child.stdin.as_mut().expect("piped").write_all(b"some input\n").await?;
        let status = child.wait().await?;
        assert!(status.success(), "{status}");
        assert!(child.stdin.is_none(), "wait closed stdin");
        Ok(())
    })
}
