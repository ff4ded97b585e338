//! `watch(pid)`: a process that is not our child, a child of std's, a kq Child watched at the
//! same time (one shared knote), errors.
// Unix-only: kq-process (child processes, signals) does not exist on Windows.
#![cfg(unix)]

mod util;

use std::io;
use std::os::unix::process::ExitStatusExt;

use futures_util::{AsyncBufReadExt, StreamExt};
use kq_process::process::{watch, watch_with, Command, ProcEvent, ProcEvents, Stdio};

#[test]
fn watch_a_process_that_is_not_our_child() -> io::Result<()> {
    util::run(60, async {
        // The shell starts a background sleep (its child, not ours), prints its pid and exits.
        let mut sh = Command::new("sh")
            .args(["-c", "sleep 100 >/dev/null & echo $!"])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        futures_util::io::BufReader::new(sh.stdout.take().unwrap()).read_line(&mut line).await?;
        assert!(sh.wait().await?.success());
        let pid: u32 = line.trim().parse().expect("pid");
        assert!(util::proc_state(pid).is_some_and(|(_, ppid, _)| ppid != std::process::id()));
        let mut events = watch(pid);
        // SAFETY: kill(2) on the sleep we just learned the pid of (it is alive: watch succeeded
        // or will report the error).
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
        let ev = events.next().await.expect("an event")?;
        // Linux cannot give the status of someone else's child.
        assert_eq!(ev, ProcEvent::Exit(None));
        assert!(events.next().await.is_none(), "the stream ends after the exit");
        Ok(())
    })
}

#[test]
fn watch_a_child_of_std_gets_its_status() -> io::Result<()> {
    util::run(60, async {
        let mut child = std::process::Command::new("sh").args(["-c", "exit 4"]).spawn()?;
        let mut events = watch(child.id());
        match events.next().await.expect("an event")? {
            ProcEvent::Exit(Some(st)) => assert_eq!(st.code(), Some(4)),
            other => panic!("{other:?}"),
        }
        assert_eq!(child.wait()?.code(), Some(4)); // the watch did not reap it
        Ok(())
    })
}

#[test]
fn watch_and_wait_on_one_kq_child_share_the_knote() -> io::Result<()> {
    util::run(60, async {
        // Watch, then wait: both see the exit.
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
        let pid = child.id().unwrap();
        let mut w1 = watch(pid);
        let w2 = watch(pid);
        drop(w2); // dropping one watcher must not delete the shared knote
        let waiter = kq_runtime::spawn(async move {
            drop(child.stdin.take());
            child.wait().await
        });
        assert!(matches!(w1.next().await, Some(Ok(ProcEvent::Exit(_)))));
        assert!(waiter.await.unwrap()?.success());

        // Wait pending, a watch created and dropped meanwhile, then the exit.
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
        let pid = child.id().unwrap();
        let stdin = child.stdin.take();
        let waiter = kq_runtime::spawn(async move { child.wait().await });
        kq_runtime::task::yield_now().await;
        drop(watch(pid));
        drop(stdin);
        let st = waiter.await.unwrap()?;
        assert!(st.success());
        assert_eq!(st.signal(), None);
        Ok(())
    })
}

#[test]
fn watch_errors() -> io::Result<()> {
    util::run(60, async {
        // A pid that does not exist (above the kernel's pid_max).
        let mut events = watch(i32::MAX as u32);
        let e = events.next().await.expect("the error").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ESRCH), "{e}");
        assert!(events.next().await.is_none());
        Ok(())
    })?;
    // Fork and exec: only where the platform has them.
    util::run(60, async {
        // (This suite runs on Linux: it reads /proc.)
        let mut events = watch_with(std::process::id(), ProcEvents { fork: true, exec: false });
        let first = events.next().await.expect("an item");
        assert_eq!(first.unwrap_err().kind(), io::ErrorKind::Unsupported);
        assert!(events.next().await.is_none());
        assert_eq!(ProcEvents::PLATFORM, ProcEvents::default(), "Linux: exit only");
        Ok(())
    })?;
    // Outside a runtime: an error item, not a panic.
    let mut events = watch(std::process::id());
    let e = futures_util::FutureExt::now_or_never(events.next()).flatten().expect("item");
    assert!(e.is_err());
    Ok(())
}
