//! Signal streams with real signals, sent from other threads. Its own binary: the dispositions
//! it changes are process-wide.
// Unix-only: kq-process (child processes, signals) does not exist on Windows.
#![cfg(unix)]

mod util;

use std::io;

use futures_util::StreamExt;
use kq_process::signal::{ctrl_c, signal};

fn send_from_another_thread(sig: i32) {
    std::thread::spawn(move || {
        // SAFETY: kill(2) to our own process with a signal that is being watched.
        assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
    })
    .join()
    .unwrap();
}

#[test]
fn two_streams_on_one_signal_each_count_every_delivery() -> io::Result<()> {
    util::run(60, async {
        let mut a = signal(libc::SIGUSR1)?;
        let mut b = signal(libc::SIGUSR1)?;
        for _ in 0..5 {
            send_from_another_thread(libc::SIGUSR1);
            assert_eq!(a.recv().await, Some(1));
            assert_eq!(b.next().await, Some(1));
        }
        // Dropping one stream leaves the other working (one shared knote).
        drop(b);
        send_from_another_thread(libc::SIGUSR1);
        assert_eq!(a.recv().await, Some(1));
        // A new stream sees only what comes after it.
        let mut c = signal(libc::SIGUSR1)?;
        send_from_another_thread(libc::SIGUSR1);
        assert_eq!(c.recv().await, Some(1));
        assert_eq!(a.recv().await, Some(1));
        Ok(())
    })
}

#[test]
fn deliveries_between_reads_are_counted() -> io::Result<()> {
    util::run(60, async {
        let mut s = signal(libc::SIGUSR2)?;
        // Three deliveries, each handled before the next is sent (kill to ourselves from this
        // thread is delivered before kill returns), read in one go.
        for _ in 0..3 {
            // SAFETY: as above.
            assert_eq!(unsafe { libc::raise(libc::SIGUSR2) }, 0);
        }
        let mut total = 0;
        while total < 3 {
            total += s.recv().await.expect("count");
        }
        assert_eq!(total, 3);
        // Another signal's stream sees none of them.
        let mut other = signal(libc::SIGWINCH)?;
        send_from_another_thread(libc::SIGWINCH);
        assert_eq!(other.recv().await, Some(1));
        Ok(())
    })
}

#[test]
fn ctrl_c_completes_on_sigint() -> io::Result<()> {
    util::run(60, async {
        let c = ctrl_c(); // watched from here
        send_from_another_thread(libc::SIGINT);
        c.await?;
        // And again, on the current-thread flavor below.
        Ok(())
    })?;
    util::run_current(60, async {
        let c = ctrl_c();
        send_from_another_thread(libc::SIGINT);
        c.await
    })
}

#[test]
fn bad_signal_numbers_and_no_runtime() {
    for bad in [0, -1, libc::SIGKILL, libc::SIGSTOP, 65, 1000] {
        let r = util::run(60, async move { signal(bad).map(drop) });
        let e = r.expect_err(&format!("signal({bad}) accepted"));
        assert!(
            matches!(e.kind(), io::ErrorKind::InvalidInput)
                || e.raw_os_error() == Some(libc::EINVAL),
            "signal({bad}): {e:?}"
        );
    }
    // Outside a runtime: an error, not a panic.
    assert!(signal(libc::SIGUSR1).is_err());
    let r = futures_util::FutureExt::now_or_never(ctrl_c()).expect("ready at once");
    assert!(r.is_err());
}
