//! Child processes: exit codes, signals, waiting, killing, errors, pipes. Real processes only;
//! every test bounded in time.
// Unix-only: kq-process (child processes, signals) does not exist on Windows.
#![cfg(unix)]

mod util;

use std::future::Future;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::task::Poll;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use kq_process::process::{Command, Stdio};
use util::{assert_gone, is_our_zombie};

#[test]
fn exit_codes() -> io::Result<()> {
    run(60, async {
        assert!(Command::new("true").status().await?.success());
        assert_eq!(Command::new("false").status().await?.code(), Some(1));
        for code in [0, 3, 42, 255] {
            let st = Command::new("sh").args(["-c", &format!("exit {code}")]).status().await?;
            assert_eq!(st.code(), Some(code));
            assert_eq!(st.signal(), None);
        }
        Ok(())
    })
}

#[test]
fn death_by_signal() -> io::Result<()> {
    run(60, async {
        let st = Command::new("sh").args(["-c", "kill -TERM $$"]).status().await?;
        assert_eq!(st.code(), None);
        assert_eq!(st.signal(), Some(libc::SIGTERM));
        let st = Command::new("sh").args(["-c", "kill -KILL $$"]).status().await?;
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        Ok(())
    })
}

#[test]
fn wait_twice_returns_the_same_status() -> io::Result<()> {
    run(60, async {
        let mut child = Command::new("sh").args(["-c", "exit 7"]).spawn()?;
        let pid = child.id().expect("pid before wait");
        let a = child.wait().await?;
        let b = child.wait().await?;
        assert_eq!(a, b);
        assert_eq!(a.code(), Some(7));
        assert_eq!(child.try_wait()?, Some(a));
        assert_eq!(child.id(), None, "no pid once the status is collected");
        assert!(!is_our_zombie(pid));
        Ok(())
    })
}

#[test]
fn wait_cancelled_then_resumed() -> io::Result<()> {
    run(60, async {
        // Runs for half a second (`wait` closes a piped stdin, so `cat` would end at once).
        let mut child = Command::new("sh").args(["-c", "sleep 0.5"]).spawn()?;
        for _ in 0..3 {
            // One poll of wait, then the future is dropped (cancelled).
            let mut fut = Box::pin(child.wait());
            let polled = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
            assert!(polled.is_pending(), "cat exited early: {polled:?}");
        }
        assert_eq!(child.try_wait()?, None);
        let st = child.wait().await?;
        assert!(st.success(), "{st}");
        Ok(())
    })
}

#[test]
fn kill_and_kill_after_exit() -> io::Result<()> {
    run(60, async {
        let mut child = Command::new("sleep").arg("100").spawn()?;
        let pid = child.id().unwrap();
        child.kill().await?;
        let st = child.wait().await?;
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        assert!(!is_our_zombie(pid));
        // After the exit: Ok, nothing sent.
        child.kill().await?;
        child.start_kill()?;
        assert_eq!(child.wait().await?, st);

        // start_kill on a child that exited but was not waited for yet: Ok, and the status is
        // the original one (not a SIGKILL).
        let mut child = Command::new("true").spawn()?;
        let pid = child.id().unwrap();
        kq_process::process::watch(pid).next_exit().await;
        child.start_kill()?;
        assert!(child.wait().await?.success());
        Ok(())
    })
}

trait NextExit {
    async fn next_exit(self);
}

impl NextExit for kq_process::process::Watch {
    async fn next_exit(mut self) {
        use futures_util::StreamExt;
        while let Some(ev) = self.next().await {
            ev.expect("watch");
        }
    }
}

#[test]
fn kill_on_drop_leaves_nothing_behind() -> io::Result<()> {
    let pid = run(60, async {
        let child = Command::new("sleep").arg("100").kill_on_drop(true).spawn()?;
        let pid = child.id().unwrap();
        drop(child);
        Ok::<_, io::Error>(pid)
    })?;
    assert_gone(pid, 30, "kill_on_drop child");
    Ok(())
}

// `run` wants io::Result<()>: this variant returns a value.
fn run<T: Send + 'static>(
    secs: u64,
    f: impl std::future::Future<Output = io::Result<T>> + Send + 'static,
) -> io::Result<T> {
    let mut out = None;
    let slot = std::sync::Arc::new(std::sync::Mutex::new(None));
    let s2 = slot.clone();
    util::run(secs, async move {
        let v = f.await?;
        *s2.lock().unwrap() = Some(v);
        Ok(())
    })?;
    std::mem::swap(&mut out, &mut *slot.lock().unwrap());
    Ok(out.expect("value"))
}

#[test]
fn dropped_child_is_reaped_in_the_background() -> io::Result<()> {
    let pid = run(60, async {
        // Exits when its stdin (dropped with the Child) closes.
        let child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
        Ok(child.id().unwrap())
    })?;
    assert_gone(pid, 30, "dropped child (no zombie)");
    Ok(())
}

#[test]
fn child_dropped_inside_an_aborted_task() -> io::Result<()> {
    let pid = run(60, async {
        let (tx, rx) = std::sync::mpsc::channel();
        let task = kq_runtime::spawn(async move {
            let mut child = Command::new("sleep").arg("100").kill_on_drop(true).spawn()?;
            tx.send(child.id().unwrap()).unwrap();
            child.wait().await
        });
        let pid = loop {
            if let Ok(pid) = rx.try_recv() {
                break pid;
            }
            kq_runtime::task::yield_now().await;
        };
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        Ok(pid)
    })?;
    assert_gone(pid, 30, "child of an aborted task");
    Ok(())
}

#[test]
fn runtime_dropped_while_children_run() -> io::Result<()> {
    let rt = kq_runtime::runtime::Builder::new_multi_thread().worker_threads(2).build()?;
    let (tx, rx) = std::sync::mpsc::channel();
    rt.block_on(async {
        for _ in 0..4 {
            let tx = tx.clone();
            kq_runtime::spawn(async move {
                let mut child =
                    Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
                tx.send(child.id().unwrap()).unwrap();
                child.wait().await
            });
        }
    });
    let pids: Vec<u32> = (0..4).map(|_| rx.recv().unwrap()).collect();
    // A child spawned on this runtime and kept across its drop.
    let mut kept = rt.block_on(async { Command::new("sh").args(["-c", "exit 5"]).spawn() })?;
    drop(rt);
    for pid in pids {
        assert_gone(pid, 30, "child of a dropped runtime");
    }
    // Waited for on another runtime.
    util::run(60, async move {
        assert_eq!(kept.wait().await?.code(), Some(5));
        Ok(())
    })
}

#[test]
fn program_not_found_or_not_executable() -> io::Result<()> {
    run(60, async {
        let e = Command::new("/nonexistent/kq-no-such-program").spawn().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("kq-no-such-program"), "{e}");
        assert_eq!(os_errno(&e), Some(libc::ENOENT), "{e}: the errno is lost");
        let e = Command::new("kq-no-such-program-in-path").status().await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);

        let path = std::env::temp_dir().join(format!("kq-not-exec-{}", std::process::id()));
        std::fs::write(&path, "#!/bin/sh\nexit 0\n")?;
        let e = Command::new(&path).spawn().unwrap_err();
        std::fs::remove_file(&path)?;
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().contains("kq-not-exec"), "{e}");
        assert_eq!(os_errno(&e), Some(libc::EACCES), "{e}: the errno is lost");

        // A missing working directory is named, not blamed on the program (which exists).
        let e =
            Command::new("true").current_dir("/nonexistent/kq-no-such-dir").spawn().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert!(e.to_string().contains("kq-no-such-dir"), "{e}");
        assert!(e.to_string().contains("working directory"), "{e}");
        assert_eq!(os_errno(&e), Some(libc::ENOENT), "{e}: the errno is lost");
        Ok(())
    })
}

/// The errno of a spawn error: the OS error itself, or the one it names as its source.
fn os_errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| e.get_ref()?.source()?.downcast_ref::<io::Error>()?.raw_os_error())
}

#[test]
fn status_taken_by_someone_else_is_an_error_not_a_hang() -> io::Result<()> {
    util::run(60, async {
        let mut child = Command::new("true").spawn()?;
        let pid = child.id().unwrap() as libc::pid_t;
        let mut raw = 0;
        // SAFETY: waitpid on our own child, as another library would.
        assert_eq!(unsafe { libc::waitpid(pid, &mut raw, 0) }, pid);
        let e = child.wait().await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECHILD), "{e}");
        assert_eq!(child.try_wait().unwrap_err().raw_os_error(), Some(libc::ECHILD));
        child.start_kill()?; // nothing of ours to signal: Ok
        drop(child);

        Ok(())
    })?;

    // Stolen while a wait is pending. One thread (a current-thread runtime), which blocks in
    // waitpid while the wait task is parked, so the thief surely reaps first.
    util::run_current(60, async {
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
        let pid = child.id().unwrap() as libc::pid_t;
        let stdin = child.stdin.take();
        let waiting = kq_runtime::spawn(async move { child.wait().await });
        kq_runtime::task::yield_now().await; // the wait registers its knote and parks
        drop(stdin);
        let mut raw = 0;
        // SAFETY: as above; blocks until cat exits.
        assert_eq!(unsafe { libc::waitpid(pid, &mut raw, 0) }, pid);
        let e = waiting.await.unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECHILD), "{e}");
        Ok(())
    })
}

#[test]
fn wait_outside_a_runtime_is_an_error() -> io::Result<()> {
    let rt = kq_runtime::Runtime::new()?;
    let mut child =
        rt.block_on(async { Command::new("sleep").arg("100").kill_on_drop(true).spawn() })?;
    // Polled with no kq runtime around: an error, not a panic or a hang.
    let e = futures_util::FutureExt::now_or_never(child.wait()).expect("ready").unwrap_err();
    assert!(e.to_string().contains("runtime"), "{e}");
    Ok(())
}

#[test]
fn pipes_output_and_wait_with_output() -> io::Result<()> {
    run(60, async {
        let out =
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 2"]).output().await?;
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");

        let mut child = Command::new("tr")
            .arg("a-z")
            .arg("A-Z")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello kq").await?;
        stdin.close().await?;
        let mut s = String::new();
        child.stdout.take().unwrap().read_to_string(&mut s).await?;
        assert_eq!(s, "HELLO KQ");
        assert!(child.wait().await?.success());
        Ok(())
    })
}

#[test]
fn thirty_two_mib_through_cat_without_deadlock() -> io::Result<()> {
    run(120, async {
        const LEN: usize = 32 << 20;
        // A pattern that a lost, repeated or reordered chunk would break.
        let data: Vec<u8> = (0..LEN / 4).flat_map(|i| (i as u32).to_le_bytes()).collect();
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        let expected = data.clone();
        // The writer runs in its own task while this one reads: neither pipe can fill up.
        let writer = kq_runtime::spawn(async move {
            stdin.write_all(&data).await?;
            stdin.close().await
        });
        // (A plain read loop: futures-util's read_to_end zero-fills the whole spare capacity of
        // its Vec on every poll, which costs seconds per MiB in a debug build.)
        let mut got = Vec::with_capacity(LEN);
        let mut stdout = child.stdout.take().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = stdout.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        writer.await.unwrap()?;
        assert!(child.wait().await?.success());
        assert_eq!(got.len(), LEN);
        assert!(got == expected, "data differs");

        // The same through wait_with_output, the writer concurrent with the drain.
        let data = vec![b'x'; 4 << 20];
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        let writer = kq_runtime::spawn(async move { stdin.write_all(&data).await });
        let out = child.wait_with_output().await?;
        writer.await.unwrap()?;
        assert_eq!(out.stdout.len(), 4 << 20);
        Ok(())
    })
}

#[test]
fn grandchild_holding_stdout_open() -> io::Result<()> {
    run(60, async {
        // The shell exits at once; its background subshell keeps stdout open and writes later.
        let script = "echo first; (sleep 1; echo late) &";
        // output() returns at end-of-file (documented): it includes the grandchild's line.
        let out = Command::new("sh").args(["-c", script]).output().await?;
        assert!(out.status.success());
        assert_eq!(out.stdout, b"first\nlate\n");

        // wait() does not wait for the pipe: it returns at the shell's exit, while the
        // grandchild still holds stdout (its line comes after).
        let mut child = Command::new("sh").args(["-c", script]).stdout(Stdio::piped()).spawn()?;
        let mut stdout = child.stdout.take().unwrap();
        assert!(child.wait().await?.success());
        let mut s = String::new();
        stdout.read_to_string(&mut s).await?;
        assert_eq!(s, "first\nlate\n");
        Ok(())
    })
}

#[test]
fn process_group_kill() -> io::Result<()> {
    run(60, async {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 100 & sleep 100 & echo ready; wait"])
            .process_group(0)
            .stdout(Stdio::piped())
            .spawn()?;
        let pid = child.id().unwrap();
        let mut line = [0u8; 6];
        child.stdout.as_mut().unwrap().read_exact(&mut line).await?;
        assert_eq!(&line, b"ready\n");
        let members = util::group_members(pid);
        assert!(members.len() >= 3, "group {pid}: {members:?}");
        // SAFETY: killpg on the group our child leads (it is not reaped yet, so the id is ours).
        assert_eq!(unsafe { libc::killpg(pid as libc::pid_t, libc::SIGKILL) }, 0);
        assert_eq!(child.wait().await?.signal(), Some(libc::SIGKILL));
        for m in members {
            if m != pid {
                // The sleeps are not our children: gone, or a zombie for init to reap.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while matches!(util::proc_state(m), Some((s, _, g)) if s != 'Z' && g == pid) {
                    assert!(std::time::Instant::now() < deadline, "{m} survived the group kill");
                    kq_runtime::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
        }
        Ok(())
    })
}

#[test]
fn from_std_command_and_builder_methods() -> io::Result<()> {
    run(60, async {
        let mut std = std::process::Command::new("sh");
        std.args(["-c", "echo $KQ_A-$KQ_B-${KQ_C:-unset}; pwd"]);
        let mut cmd = Command::from(std);
        cmd.env("KQ_A", "a")
            .envs([("KQ_B", "b"), ("KQ_C", "c")])
            .env_remove("KQ_C")
            .current_dir("/")
            .stdin(Stdio::null());
        let out = cmd.output().await?;
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a-b-unset\n/\n");
        let out = Command::new("/usr/bin/env").env_clear().env("ONLY", "1").output().await?;
        assert_eq!(out.stdout, b"ONLY=1\n");
        // uid/gid (we are root here; same ids keep it valid anywhere).
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert!(Command::new("true").uid(uid).gid(gid).status().await?.success());
        // pre_exec runs in the child; an error there fails the spawn.
        let mut cmd = Command::new("true");
        // SAFETY: the closure only builds an io::Error (no locks held across fork matter here).
        unsafe { cmd.pre_exec(|| Err(io::Error::from_raw_os_error(libc::EPERM))) };
        assert_eq!(cmd.spawn().unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        Ok(())
    })
}
