//! A process that forks (without exec) after kq-process started its reaper thread: the forked
//! child has no such thread (threads do not survive fork), so its dropped children must still
//! be reaped by a reaper of its own. Its own binary, with as few threads as possible at the fork.
// Unix-only: kq-process (child processes, signals) does not exist on Windows.
#![cfg(unix)]

mod util;

use std::time::{Duration, Instant};

use kq_process::process::Command;

/// In the forked child: drop a running child and wait (bounded) until it is reaped.
fn in_forked_child() -> i32 {
    let Ok(child) = Command::new("sleep").arg("0.05").spawn() else { return 2 };
    let Some(pid) = child.id() else { return 3 };
    drop(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while util::proc_state(pid).is_some_and(|(_, ppid, _)| ppid == std::process::id()) {
        if Instant::now() > deadline {
            return 4; // a zombie (or a process) of ours left
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    0
}

#[test]
fn forked_process_reaps_its_own_dropped_children() {
    // Start the reaper thread here: a dropped child.
    let child = Command::new("true").spawn().expect("spawn");
    let pid = child.id().unwrap();
    drop(child);
    util::assert_gone(pid, 30, "parent's dropped child");

    // SAFETY: fork(2); the child only spawns a process, polls /proc and leaves with _exit.
    let forked = unsafe { libc::fork() };
    assert!(forked >= 0, "fork failed");
    if forked == 0 {
        let code = in_forked_child();
        // SAFETY: _exit(2) ends the forked child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waitpid on the process we just forked.
    assert_eq!(unsafe { libc::waitpid(forked, &mut status, 0) }, forked);
    assert!(libc::WIFEXITED(status), "forked child died: {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "1/2/3: spawn failed, 4: its child was not reaped");
}
