//! Pipes as a careless user handles them: chaining children, writing to a child that is gone,
//! piped stdio with no runtime, tokio's io traits.
// Unix-only: kq-process (child processes, signals) does not exist on Windows.
#![cfg(unix)]

mod util;

use std::io;

use futures_util::AsyncWriteExt;
use kq_process::process::{Command, Stdio};

#[test]
fn one_childs_stdout_into_anothers_stdin() -> io::Result<()> {
    util::run(60, async {
        let mut a = Command::new("printf").arg("b\\na\\nc\\n").stdout(Stdio::piped()).spawn()?;
        let piped = a.stdout.take().unwrap().into_stdio()?;
        let out = Command::new("sort").stdin(piped).output().await?;
        assert_eq!(out.stdout, b"a\nb\nc\n");
        assert!(a.wait().await?.success());
        Ok(())
    })
}

/// tokio's pattern: `Stdio::from(stdout.into_owned_fd()?)` as the next child's stdin. The fd
/// comes back blocking, as tokio's does: left non-blocking, `cat` reading it before the writer
/// wrote failed with EAGAIN. Found by trying kq as a careless user would (2026-12-02).
#[test]
fn an_owned_fd_taken_from_a_pipe_is_blocking_for_the_next_child() -> io::Result<()> {
    use std::os::fd::AsRawFd;
    util::run(60, async {
        let mut a =
            Command::new("sh").args(["-c", "sleep 0.3; echo hi"]).stdout(Stdio::piped()).spawn()?;
        let fd = a.stdout.take().unwrap().into_owned_fd()?;
        // SAFETY: fcntl(F_GETFL) on an fd we own.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        assert!(flags >= 0 && flags & libc::O_NONBLOCK == 0, "left non-blocking: {flags:#x}");
        let out = Command::new("cat").stdin(Stdio::from(fd)).output().await?;
        assert!(out.status.success(), "cat: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, b"hi\n");
        assert!(a.wait().await?.success());
        Ok(())
    })
}

#[test]
fn writing_to_a_child_that_exited_is_broken_pipe() -> io::Result<()> {
    util::run(60, async {
        let mut child = Command::new("true").stdin(Stdio::piped()).spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        assert!(child.wait().await?.success());
        let e = stdin.write_all(&[0u8; 256 * 1024]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
        // Closed stdin: writes fail cleanly.
        stdin.close().await?;
        let e = stdin.write(b"x").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotConnected);
        Ok(())
    })
}

#[test]
fn piped_stdio_outside_a_runtime_fails_and_leaves_no_child() {
    let before: Vec<u32> = util::children_of_us();
    let e = Command::new("sleep").arg("100").stdout(Stdio::piped()).spawn().unwrap_err();
    assert!(e.to_string().contains("runtime"), "{e}");
    // The child that was started for nothing is killed and reaped.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let extra: Vec<u32> =
            util::children_of_us().into_iter().filter(|p| !before.contains(p)).collect();
        let sleeps: Vec<u32> = extra
            .into_iter()
            .filter(|&p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c == "sleep\n")
            })
            .collect();
        if sleeps.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "left behind: {sleeps:?}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Without pipes no runtime is needed to spawn; waiting needs one.
    let child = Command::new("true").spawn().expect("spawn without pipes");
    drop(child); // reaped in the background
}

#[cfg(feature = "tokio-io")]
#[test]
fn tokio_io_traits() -> io::Result<()> {
    use tokio::io::{AsyncReadExt as TokioRead, AsyncWriteExt as TokioWrite};
    util::run(60, async {
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        TokioWrite::write_all(&mut stdin, b"through tokio's traits").await?;
        TokioWrite::shutdown(&mut stdin).await?;
        let mut s = String::new();
        TokioRead::read_to_string(&mut child.stdout.take().unwrap(), &mut s).await?;
        assert_eq!(s, "through tokio's traits");
        assert!(child.wait().await?.success());
        Ok(())
    })
}
