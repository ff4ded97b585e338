//! A program with its own SIGCHLD handler (as another library would install) alongside kq's
//! children: kq installs none, leaves it alone, and both keep working. Its own binary, since the
//! handler is process-wide.
// Unix-only: kq-process (child processes, signals) does not exist on Windows.
#![cfg(unix)]

mod util;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kq_process::process::Command;

static SIGCHLD_SEEN: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigchld(_: libc::c_int) {
    SIGCHLD_SEEN.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn own_sigchld_handler_alongside() -> io::Result<()> {
    // SAFETY: a zeroed sigaction with a plain handler and an empty mask is valid.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = on_sigchld as *const () as usize;
    sa.sa_flags = libc::SA_RESTART;
    // SAFETY: installing a handler that only touches an atomic.
    assert_eq!(unsafe { libc::sigaction(libc::SIGCHLD, &sa, std::ptr::null_mut()) }, 0);

    util::run(120, async {
        // The other library's child, waited for with std on a thread of its own.
        let mut theirs = std::process::Command::new("sh").args(["-c", "exit 9"]).spawn()?;
        let their_wait = std::thread::spawn(move || theirs.wait());
        for i in 0..20 {
            let st = Command::new("sh").args(["-c", &format!("exit {i}")]).status().await?;
            assert_eq!(st.code(), Some(i));
        }
        assert_eq!(their_wait.join().unwrap()?.code(), Some(9), "their status is theirs");
        Ok(())
    })?;
    // Their handler still runs (the signal may be handled a moment after the exit).
    let deadline = Instant::now() + Duration::from_secs(30);
    while SIGCHLD_SEEN.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the program's SIGCHLD handler never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
    // And it is still the installed one.
    // SAFETY: reading the current action only.
    let mut now: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut now) }, 0);
    assert_eq!(now.sa_sigaction, on_sigchld as *const () as usize);
    Ok(())
}
