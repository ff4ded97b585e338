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
    // The fault signals too (as tokio): a counting handler would make a fault loop forever.
    let faults = [libc::SIGILL, libc::SIGFPE, libc::SIGSEGV];
    for bad in [0, -1, libc::SIGKILL, libc::SIGSTOP, 65, 1000].into_iter().chain(faults) {
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

/// A stream made while another on the same signal holds an unread delivery sees only what comes
/// after it, as its docs (and tokio) say: the unread count used to be copied to it too.
#[test]
fn a_stream_made_later_sees_only_later_deliveries() -> io::Result<()> {
    util::run(60, async {
        let mut first = signal(libc::SIGURG)?;
        send_from_another_thread(libc::SIGURG);
        kq_runtime::time::sleep(std::time::Duration::from_millis(200)).await; // collected, unread
        let mut later = signal(libc::SIGURG)?;
        let r =
            kq_runtime::time::timeout(std::time::Duration::from_millis(300), later.recv()).await;
        assert!(r.is_err(), "the later stream got an earlier delivery: {r:?}");
        assert_eq!(first.recv().await, Some(1), "the earlier stream keeps its delivery");
        send_from_another_thread(libc::SIGURG);
        assert_eq!(later.recv().await, Some(1));
        Ok(())
    })
}

/// Another library installs its handler over kq's and chains to it (tokio's signal-hook does);
/// then kq registers the signal again. Both keep counting, once per delivery. kq used to put
/// its handler back over the other, chained to it, and each delivery ran the two in a loop
/// until the stack overflowed (the process died of SIGSEGV). Found by trying kq as a careless
/// user would (2026-12-02).
#[test]
fn a_handler_chained_over_kqs_and_a_new_stream_both_count() -> io::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    static PREV: AtomicUsize = AtomicUsize::new(0);
    static MINE: AtomicUsize = AtomicUsize::new(0);
    extern "C" fn chaining(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        MINE.fetch_add(1, SeqCst);
        let prev = PREV.load(SeqCst);
        if prev != libc::SIG_DFL && prev != libc::SIG_IGN {
            // SAFETY: `prev` is kq's SA_SIGINFO handler, saved when this one replaced it.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(prev) };
            f(sig, info, ctx);
        }
    }
    util::run(60, async {
        let first = signal(libc::SIGVTALRM)?; // kq's handler
                                              // SAFETY: zeroed sigactions are valid values; sigaction installs `chaining` and saves
                                              // the previous action (kq's) for it to call.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            let mut old: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = chaining as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigfillset(&mut new.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGVTALRM, &new, &mut old), 0);
            PREV.store(old.sa_sigaction, SeqCst);
        }
        drop(first);
        let mut again = signal(libc::SIGVTALRM)?; // must not put kq's back over `chaining`
        send_from_another_thread(libc::SIGVTALRM);
        assert_eq!(again.recv().await, Some(1), "kq counts the delivery once");
        assert_eq!(MINE.load(SeqCst), 1, "the other handler ran once");
        Ok(())
    })
}
