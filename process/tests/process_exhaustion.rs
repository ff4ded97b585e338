//! Out of descriptors: spawning fails with an error (never a panic), leaves no child behind, and
//! works again once descriptors are back. Its own binary: RLIMIT_NOFILE is process-wide.
// Unix-only: kq-process (child processes, signals) does not exist on Windows.
#![cfg(unix)]

mod util;

use std::io;
use std::time::{Duration, Instant};

use kq_process::process::{Command, Stdio};

fn set_soft_nofile(n: libc::rlim_t) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is valid for writes.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = n.min(lim.rlim_max);
    // SAFETY: `lim` is a valid rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

/// The lowest free fd: the soft limit set to it leaves no descriptor to open.
fn lowest_free_fd() -> libc::rlim_t {
    // SAFETY: dup(0)... any fd works; we close it at once.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: closing the fd we just opened.
    unsafe { libc::close(fd) };
    fd as libc::rlim_t
}

fn no_child_of_ours_left(what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = util::children_of_us();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: children left: {left:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn spawn_without_descriptors_fails_cleanly_and_recovers() -> io::Result<()> {
    util::run(120, async {
        // Everything this runtime needs is open already; then no fd is left.
        let warm = Command::new("true").status().await?;
        assert!(warm.success());
        let before = util::children_of_us();
        assert!(before.is_empty(), "{before:?}");

        // Fill the table (below the limit, other threads of the test harness may open fds).
        set_soft_nofile(lowest_free_fd());
        let piped = Command::new("sleep")
            .arg("100")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let plain = Command::new("sh").args(["-c", "exit 3"]).spawn();
        let plain_wait = match plain {
            Ok(mut child) => Some(child.wait().await),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                None
            }
        };
        set_soft_nofile(libc::rlim_t::MAX);

        let e = piped.expect_err("three pipes with no descriptor left");
        assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
        // If it spawned after all, its wait may have lacked a descriptor for the knote (an
        // error), or worked.
        if let Some(Ok(st)) = plain_wait {
            assert_eq!(st.code(), Some(3));
        }
        no_child_of_ours_left("after EMFILE");

        // Recovered.
        let out = Command::new("echo").arg("again").output().await?;
        assert_eq!(out.stdout, b"again\n");
        no_child_of_ours_left("after recovery");
        Ok(())
    })
}
