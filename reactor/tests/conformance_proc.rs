//! Conformance checklist items 33 and 34 (KQUEUE.md section 7): the PROC filter with real child
//! processes (pidfd on Linux): NOTE_EXIT with the wait status, EV_EOF and the knote going away,
//! the child still reapable by its owner, zombies firing at once, ESRCH, and what Linux cannot do
//! (NOTE_FORK/NOTE_EXEC: EOPNOTSUPP). Plus a stress test in the spirit of FreeBSD's
//! `make -j buildworld`: a thousand short children, at most 64 alive at a time.
//!
//! Every test holds one process-wide lock: the stress test checks that no child of this process
//! is left a zombie, which another test's child (alive or deliberately unreaped) would upset.
// Unix-only: the PROC filter (on Windows it is EOPNOTSUPP).
#![cfg(unix)]
mod util;

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the tests of this binary (see the module docs).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long a child may take to exit and be reported before the test calls it lost.
const LIMIT: Duration = Duration::from_secs(10);

/// The change that adds PROC NOTE_EXIT for `pid`.
fn exit_watch(pid: u32, udata: u64) -> Kevent {
    add(pid as usize, Filter::Proc, Flags::empty()).with_fflags(note::EXIT).with_udata(udata)
}

/// `sh -c script`, with stdin closed.
fn sh(script: &str) -> io::Result<Child> {
    Command::new("sh").arg("-c").arg(script).stdin(Stdio::null()).spawn()
}

/// Collects until an event for `pid` arrives, or `limit` passes.
fn wait_proc(kq: &Kqueue, pid: u32, limit: Duration) -> io::Result<Option<Kevent>> {
    let deadline = Instant::now() + limit;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let slice = (deadline - now).min(Duration::from_millis(200));
        let events = collect(kq, Some(slice))?;
        if let Some(ev) = events.iter().find(|e| e.ident == pid as usize) {
            assert_eq!(events.len(), 1, "one watched process, one event: {events:?}");
            return Ok(Some(*ev));
        }
        assert!(events.is_empty(), "events of unknown processes: {events:?}");
    }
}

/// The state letter and parent pid of process `pid` from `/proc/<pid>/stat`.
fn proc_state(pid: u32) -> Option<(char, i32)> {
    require_linux_proc("proc_state");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Waits (up to `limit`) until `pid` is a zombie; false if it never became one.
fn wait_zombie(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if matches!(proc_state(pid), Some(('Z', _))) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
    }
}

/// The pids of this process's children that are zombies (state Z, parent = us).
fn zombie_children() -> Vec<u32> {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    require_linux_proc("zombie_children");
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| proc_state(pid) == Some(('Z', me)))
        .collect()
}

/// Asserts the shape of a NOTE_EXIT event for `pid` and returns its wait status.
fn assert_exit_event(ev: &Kevent, pid: u32, udata: u64) -> i64 {
    assert_eq!((ev.ident, ev.filter, ev.udata), (pid as usize, Filter::Proc, udata), "{ev:?}");
    assert_ne!(ev.fflags & note::EXIT, 0, "fflags carry NOTE_EXIT: {ev:?}");
    assert!(ev.flags.contains(Flags::EOF), "EV_EOF on exit: {ev:?}");
    assert!(ev.flags.contains(Flags::ONESHOT), "EV_ONESHOT on exit (KQUEUE.md section 4): {ev:?}");
    assert!(!ev.flags.contains(Flags::ERROR), "{ev:?}");
    ev.data
}

// ---------------------------------------------------------------------------------------------
// 33. NOTE_EXIT: data = wait status; EV_EOF set; the knote is then gone.

#[test]
fn item33_exit_status_eof_and_the_knote_is_gone() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    // The child waits for its stdin to close, so that it is certainly alive at registration.
    let mut child =
        Command::new("sh").arg("-c").arg("read _ignored; exit 3").stdin(Stdio::piped()).spawn()?;
    let pid = child.id();
    register(&kq, &[exit_watch(pid, 33)])?;
    assert!(poll(&kq)?.is_empty(), "the child is still running: no event yet");

    drop(child.stdin.take());
    let ev = wait_proc(&kq, pid, LIMIT)?.expect("NOTE_EXIT fires when the child exits");
    let status = assert_exit_event(&ev, pid, 33);
    assert_eq!(status, 3 << 8, "data = wait status of exit(3)");
    assert!(libc::WIFEXITED(status as i32) && libc::WEXITSTATUS(status as i32) == 3);

    assert!(poll(&kq)?.is_empty(), "delivered once");
    let delete = Kevent::new(pid as usize, Filter::Proc, Flags::DELETE);
    assert_eq!(echo_errno(&kq, delete)?, i64::from(libc::ENOENT), "the knote is gone");
    assert!(kq.is_empty());

    // The status was read without reaping: the owner still reaps its child.
    let st = child.wait()?;
    assert_eq!(st.code(), Some(3), "waitpid still works after the event: {st:?}");
    Ok(())
}

#[test]
fn item33_exit_status_of_a_child_killed_by_a_signal() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("read _ignored; kill -9 $$")
        .stdin(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    register(&kq, &[exit_watch(pid, 331)])?;
    drop(child.stdin.take());

    let ev = wait_proc(&kq, pid, LIMIT)?.expect("NOTE_EXIT fires for a killed child");
    let status = assert_exit_event(&ev, pid, 331);
    assert_eq!(status & 0x7f, 9, "termination signal in the low 7 bits: {status:#x}");
    assert!(libc::WIFSIGNALED(status as i32), "{status:#x}");
    assert_eq!(
        change_errno(&kq, Kevent::new(pid as usize, Filter::Proc, Flags::DELETE)),
        libc::ENOENT
    );

    let st = child.wait()?;
    assert_eq!(st.signal(), Some(9), "the owner reaps it with the same status: {st:?}");
    Ok(())
}

#[test]
fn item33_delete_before_exit_means_no_event() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let mut child =
        Command::new("sh").arg("-c").arg("read _ignored; exit 4").stdin(Stdio::piped()).spawn()?;
    let pid = child.id();
    register(&kq, &[exit_watch(pid, 332)])?;
    register(&kq, &[Kevent::new(pid as usize, Filter::Proc, Flags::DELETE)])?;
    drop(child.stdin.take());
    let st = child.wait()?;
    assert_eq!(st.code(), Some(4));
    let events = collect(&kq, Some(Duration::from_millis(100)))?;
    assert!(events.is_empty(), "deleted PROC knote: {events:?}");
    Ok(())
}

/// pidfds this process holds (Linux), to see a knote's go.
fn pidfds() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return 0 };
    dir.flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains("pidfd"))
        })
        .count()
}

/// A PROC knote that asks for no note goes at the exit, without an event, as FreeBSD's
/// `filt_proc` drops it (`EV_DROP`); on Linux its pidfd goes with it, so that watching many
/// short-lived processes this way leaks nothing.
#[test]
fn item33_a_knote_without_notes_goes_silently_at_the_exit() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let before = pidfds();
    let mut children = Vec::new();
    for _ in 0..20 {
        let child = sh("exit 3")?;
        register(&kq, &[add(child.id() as usize, Filter::Proc, Flags::empty())])?;
        children.push(child);
    }
    if cfg!(target_os = "linux") {
        assert_eq!(pidfds(), before + 20, "a pidfd per knote");
    }
    for child in &mut children {
        assert_eq!(child.wait()?.code(), Some(3));
    }
    let deadline = Instant::now() + LIMIT;
    while cfg!(target_os = "linux") && pidfds() > before && Instant::now() < deadline {
        let events = collect(&kq, Some(Duration::from_millis(50)))?;
        assert!(events.is_empty(), "no note was asked for, yet: {events:?}");
    }
    assert!(poll(&kq)?.is_empty());
    if cfg!(target_os = "linux") {
        assert_eq!(pidfds(), before, "the exited processes' pidfds are still open");
    }
    for child in &children {
        let del = Kevent::new(child.id() as usize, Filter::Proc, Flags::DELETE);
        assert_errno(&kq, del, libc::ENOENT)?;
    }
    Ok(())
}

#[test]
fn item33_exit_of_a_process_that_is_not_our_child_fires_with_data_0() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    // A grandchild: `sleep` is the shell's child, not ours.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("sleep 1000 & echo $!; wait")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
    let grandchild: u32 = line.trim().parse().expect("the shell printed a pid");
    register(&kq, &[exit_watch(grandchild, 333)])?;
    assert!(poll(&kq)?.is_empty(), "the grandchild is still running");

    // SAFETY: plain kill(2) of the grandchild we just learnt about.
    assert_eq!(unsafe { libc::kill(grandchild as i32, libc::SIGKILL) }, 0);
    let ev = wait_proc(&kq, grandchild, LIMIT)?.expect("NOTE_EXIT fires for a non-child");
    let status = assert_exit_event(&ev, grandchild, 333);
    assert_eq!(status, 0, "a non-child's status cannot be read: data 0");
    let st = child.wait()?;
    assert!(st.success(), "the shell reaped its own child: {st:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 34. An already-exited child fires at once; a pid that does not exist: ESRCH.

#[test]
fn item34_zombie_child_fires_at_once() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let mut child = sh("exit 7")?;
    let pid = child.id();
    assert!(wait_zombie(pid, LIMIT), "the child became a zombie");

    register(&kq, &[exit_watch(pid, 34)])?;
    let events = poll(&kq)?;
    assert_eq!(events.len(), 1, "an exited child fires at registration: {events:?}");
    let status = assert_exit_event(&events[0], pid, 34);
    assert_eq!(status, 7 << 8);
    assert_eq!(
        change_errno(&kq, Kevent::new(pid as usize, Filter::Proc, Flags::DELETE)),
        libc::ENOENT
    );
    assert!(matches!(proc_state(pid), Some(('Z', _))), "registration did not reap the zombie");
    assert_eq!(child.wait()?.code(), Some(7));
    Ok(())
}

#[test]
fn item34_pid_that_does_not_exist_is_esrch() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    // Larger than any pid_max (at most 2^22 on Linux).
    assert_eq!(echo_errno(&kq, exit_watch(i32::MAX as u32, 0))?, i64::from(libc::ESRCH));
    assert_eq!(change_errno(&kq, exit_watch(i32::MAX as u32, 0)), libc::ESRCH);

    // A reaped child's pid (unless, against all odds, it was reused meanwhile).
    let mut child = sh("exit 0")?;
    let pid = child.id();
    assert!(child.wait()?.success());
    let errno = echo_errno(&kq, exit_watch(pid, 0))?;
    if proc_state(pid).is_none() {
        assert_eq!(errno, i64::from(libc::ESRCH), "reaped pid {pid}");
        assert!(kq.is_empty(), "no knote for a missing pid");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Linux cannot report fork or exec.

#[test]
fn proc_fork_and_exec_are_unsupported_on_linux() -> io::Result<()> {
    let _serial = serial();
    if !cfg!(target_os = "linux") {
        return Ok(());
    }
    let kq = Kqueue::new()?;
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() } as usize;
    for fflags in [note::FORK, note::EXEC, note::EXIT | note::FORK, note::EXIT | note::EXEC] {
        let change = add(me, Filter::Proc, Flags::empty()).with_fflags(fflags);
        assert_eq!(echo_errno(&kq, change)?, i64::from(libc::EOPNOTSUPP), "fflags {fflags:#x}");
        let err = kq.kevent(&[change], &mut [], None).expect_err("no room: the call fails");
        assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
    }
    assert!(kq.is_empty(), "nothing was registered");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Stress: make -j64 with a thousand jobs.

#[test]
fn proc_stress_1000_children_64_at_a_time() -> io::Result<()> {
    const TOTAL: usize = 1000;
    const PARALLEL: usize = 64;
    let _serial = serial();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(60);
    let kq = Kqueue::new()?;
    // pid -> (child, expected status, spawn index); spawn indices reported so far.
    let mut alive: HashMap<u32, (Child, i64, u64)> = HashMap::new();
    let mut reported: HashSet<u64> = HashSet::new();
    let mut spawned = 0;
    let mut events = vec![Kevent::default(); PARALLEL];
    while reported.len() < TOTAL {
        assert!(Instant::now() < deadline, "stuck: {} of {TOTAL} reported", reported.len());
        while alive.len() < PARALLEL && spawned < TOTAL {
            // Alternate statuses, so that each event can be matched with its process.
            let (prog, want) = if spawned % 2 == 0 { ("true", 0) } else { ("false", 1 << 8) };
            let child = Command::new(prog).stdin(Stdio::null()).spawn()?;
            let pid = child.id();
            register(&kq, &[exit_watch(pid, spawned as u64)])?;
            let index = spawned as u64;
            assert!(alive.insert(pid, (child, want, index)).is_none(), "pid {pid} alive twice");
            spawned += 1;
        }
        let n = kq.kevent(&[], &mut events, Some(Duration::from_millis(500)))?;
        for ev in &events[..n] {
            let pid = ev.ident as u32;
            let Some((mut child, want, index)) = alive.remove(&pid) else {
                panic!("event for a pid not alive (duplicate or unknown): {ev:?}");
            };
            assert!(reported.insert(index), "child #{index} (pid {pid}) reported twice");
            let status = assert_exit_event(ev, pid, index);
            assert_eq!(status, want, "wait status of pid {pid}: {ev:?}");
            let st = child.wait()?;
            assert_eq!(i64::from(st.into_raw()), want, "the owner reaps pid {pid}");
        }
    }
    assert_eq!(spawned, TOTAL);
    assert!(alive.is_empty(), "every child reported");
    assert!(kq.is_empty(), "every knote went with its event");
    let late = collect(&kq, Some(Duration::from_millis(100)))?;
    assert!(late.is_empty(), "no duplicate after all were reported: {late:?}");
    let zombies = zombie_children();
    assert!(zombies.is_empty(), "zombie children left: {zombies:?}");
    eprintln!("{TOTAL} children in {:?}", start.elapsed());
    Ok(())
}
