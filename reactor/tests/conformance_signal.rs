//! Conformance checklist item 35 (KQUEUE.md section 7): the SIGNAL filter. `data` counts the
//! deliveries since the last retrieval, EV_CLEAR is implicit, signal numbers stay separate,
//! ignored signals are counted, the program's own handlers keep running, several kqueues all see
//! a signal, invalid numbers are EINVAL; plus a signal storm from four threads.
//!
//! Signals are process-wide and the tests of this binary run in parallel threads of one process:
//! each test uses signal numbers of its own (see [`rt`]), always registers its knote before
//! raising (a watched signal is counted instead of taking its default action; an unwatched
//! real-time signal would kill the test process), and never touches SIGINT or SIGTERM.
// Unix-only: the SIGNAL filter (on Windows it is EOPNOTSUPP).
#![cfg(unix)]
// RT_SIGNALS (below): without real-time signals, the helpers of those tests are unused.
#![cfg_attr(
    not(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd")),
    allow(unused_imports, dead_code)
)]
mod util;

use std::io;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kq_reactor::{Filter, Flags, Kevent, Kqueue};
use util::*;

/// How long a raised signal may take to be reported before the test calls it lost.
const LIMIT: Duration = Duration::from_secs(5);

/// Real-time signal `SIGRTMIN + k`. Each test owns distinct `k`s:
/// 0 counts, 1-2 separate numbers, 3 SIG_IGN, 4-5 previous handlers, 6 two kqueues,
/// 7-10 the storm, 11 many kqueues, 12 delete and re-add, 18 kqueues coming and going, 13 disable and enable, 14-17 nested handlers.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // See RT_SIGNALS.
fn rt(k: i32) -> i32 {
    let (min, max) = rt_range();
    let sig = min + k;
    assert!(sig <= max, "not enough real-time signals for k = {k}");
    sig
}

// RT_SIGNALS: the tests that use `rt` exist where real-time signals do (Linux, FreeBSD, NetBSD);
// macOS and OpenBSD have none, so there only the tests with standard signals are compiled.

/// The real-time signals: (SIGRTMIN, SIGRTMAX).
#[cfg(target_os = "linux")] // The C library decides the range at run time.
fn rt_range() -> (i32, i32) {
    (libc::SIGRTMIN(), libc::SIGRTMAX())
}

/// The real-time signals: (SIGRTMIN, SIGRTMAX) of FreeBSD's <sys/signal.h> (not in the libc crate).
#[cfg(target_os = "freebsd")] // FreeBSD's fixed range.
fn rt_range() -> (i32, i32) {
    (65, 126)
}

/// The real-time signals: (SIGRTMIN, SIGRTMAX) of NetBSD's <sys/signal.h> (not in the libc crate).
#[cfg(target_os = "netbsd")] // NetBSD's fixed range.
fn rt_range() -> (i32, i32) {
    (33, 63)
}

/// The change that adds a SIGNAL knote for `sig`.
fn watch(sig: i32, udata: u64) -> Kevent {
    add(sig as usize, Filter::Signal, Flags::empty()).with_udata(udata)
}

/// Sends `sig` to the calling thread, which runs the handler before this returns.
fn raise(sig: i32) {
    // SAFETY: raise(3) with a signal that the test has registered (so it is handled).
    assert_eq!(unsafe { libc::raise(sig) }, 0, "raise({sig})");
}

/// Collects until an event for signal `sig` arrives (or `limit` passes) and returns it; events
/// for other signals fail the test.
fn wait_signal(kq: &Kqueue, sig: i32, limit: Duration) -> io::Result<Option<Kevent>> {
    let deadline = Instant::now() + limit;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let slice = (deadline - now).min(Duration::from_millis(200));
        let events = collect(kq, Some(slice))?;
        assert!(events.len() <= 1, "one knote, at most one event per call: {events:?}");
        if let Some(ev) = events.first() {
            assert_eq!((ev.ident, ev.filter), (sig as usize, Filter::Signal), "{ev:?}");
            assert!(ev.flags.contains(Flags::CLEAR), "EV_CLEAR is implicit: {ev:?}");
            assert!(!ev.flags.intersects(Flags::ERROR | Flags::EOF), "{ev:?}");
            assert!(ev.data >= 1, "an event counts at least one delivery: {ev:?}");
            return Ok(Some(*ev));
        }
    }
}

/// Like [`wait_signal`], but the event must come.
fn expect_signal(kq: &Kqueue, sig: i32) -> io::Result<Kevent> {
    Ok(wait_signal(kq, sig, LIMIT)?.unwrap_or_else(|| panic!("signal {sig} was not reported")))
}

// ---------------------------------------------------------------------------------------------
// 35. data = count since the last retrieval.

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn item35_realtime_signal_count_is_exact_and_resets() -> io::Result<()> {
    let sig = rt(0);
    let kq = Kqueue::new()?;
    register(&kq, &[watch(sig, 35)])?;
    assert_quiet(&kq, "registration alone")?;

    for _ in 0..3 {
        raise(sig);
    }
    let ev = expect_signal(&kq, sig)?;
    assert_eq!(ev.udata, 35);
    assert_eq!(ev.data, 3, "three queued real-time signals, three deliveries");
    assert_quiet(&kq, "EV_CLEAR: nothing until raised again")?;

    raise(sig);
    let ev = expect_signal(&kq, sig)?;
    assert_eq!(ev.data, 1, "counted since the last retrieval only");
    assert_quiet(&kq, "after the second retrieval")?;
    Ok(())
}

#[test]
fn item35_standard_signal_count_is_between_one_and_the_number_sent() -> io::Result<()> {
    let sig = libc::SIGUSR1;
    let kq = Kqueue::new()?;
    register(&kq, &[watch(sig, 351)])?;
    for _ in 0..3 {
        raise(sig);
    }
    let ev = expect_signal(&kq, sig)?;
    assert!((1..=3).contains(&ev.data), "standard signals may merge: data {}", ev.data);
    assert_quiet(&kq, "nothing until raised again")?;
    raise(sig);
    assert_eq!(expect_signal(&kq, sig)?.data, 1);
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn item35_two_signal_numbers_stay_separate() -> io::Result<()> {
    let (a, b) = (rt(1), rt(2));
    let kq = Kqueue::new()?;
    register(&kq, &[watch(a, 1), watch(b, 2)])?;
    for _ in 0..2 {
        raise(a);
    }
    for _ in 0..5 {
        raise(b);
    }

    let deadline = Instant::now() + LIMIT;
    let (mut da, mut db) = (None, None);
    while (da.is_none() || db.is_none()) && Instant::now() < deadline {
        for ev in collect(&kq, Some(Duration::from_millis(200)))? {
            let slot = match ev.udata {
                1 => &mut da,
                2 => &mut db,
                _ => panic!("unexpected event {ev:?}"),
            };
            assert!(slot.is_none(), "a second event for one signal: {ev:?}");
            *slot = Some(ev);
        }
    }
    let (ea, eb) = (da.expect("signal a reported"), db.expect("signal b reported"));
    assert_eq!((ea.ident, ea.data), (a as usize, 2), "{ea:?}");
    assert_eq!((eb.ident, eb.data), (b as usize, 5), "{eb:?}");
    assert_quiet(&kq, "both drained")?;

    raise(b);
    let ev = expect_signal(&kq, b)?;
    assert_eq!(ev.data, 1, "only b was raised");
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn item35_an_ignored_signal_is_still_counted() -> io::Result<()> {
    let sig = rt(3);
    // SAFETY: setting SIG_IGN for a signal this test owns.
    assert_ne!(unsafe { libc::signal(sig, libc::SIG_IGN) }, libc::SIG_ERR);
    let kq = Kqueue::new()?;
    register(&kq, &[watch(sig, 352)])?;
    raise(sig);
    raise(sig);
    let ev = expect_signal(&kq, sig)?;
    assert_eq!(ev.data, 2, "SIG_IGN: still counted, each real-time delivery");
    Ok(())
}

#[test]
fn item35_a_signal_ignored_by_default_is_counted() -> io::Result<()> {
    // SIGWINCH's default action is to ignore it.
    let sig = libc::SIGWINCH;
    let kq = Kqueue::new()?;
    register(&kq, &[watch(sig, 353)])?;
    raise(sig);
    let ev = expect_signal(&kq, sig)?;
    assert_eq!(ev.data, 1);
    Ok(())
}

static PLAIN_HANDLER_RUNS: AtomicUsize = AtomicUsize::new(0);
static SIGINFO_HANDLER_RUNS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn plain_handler(_sig: libc::c_int) {
    PLAIN_HANDLER_RUNS.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn siginfo_handler(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel (or the reactor's chaining handler) passes the siginfo it got.
    if !info.is_null() && unsafe { (*info).si_signo } == sig {
        SIGINFO_HANDLER_RUNS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Installs `handler` for `sig` with sigaction (`siginfo`: as an SA_SIGINFO handler).
fn install(sig: i32, handler: usize, siginfo: bool) {
    // SAFETY: a zeroed sigaction is valid; we set the handler, flags and an empty mask.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = handler;
    sa.sa_flags = libc::SA_RESTART | if siginfo { libc::SA_SIGINFO } else { 0 };
    // SAFETY: `sa.sa_mask` is a valid sigset_t; `sa` is fully initialised for sigaction, and the
    // handler is an async-signal-safe extern "C" fn of the matching signature.
    unsafe {
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0, "sigaction({sig})");
    }
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn item35_the_programs_own_handler_still_runs() -> io::Result<()> {
    let sig = rt(4);
    install(sig, plain_handler as *const () as usize, false);
    raise(sig);
    assert_eq!(PLAIN_HANDLER_RUNS.load(Ordering::SeqCst), 1, "our handler works on its own");

    let kq = Kqueue::new()?;
    register(&kq, &[watch(sig, 354)])?;
    raise(sig);
    raise(sig);
    let ev = expect_signal(&kq, sig)?;
    assert_eq!(ev.data, 2, "the knote counts");
    assert_eq!(PLAIN_HANDLER_RUNS.load(Ordering::SeqCst), 3, "and the previous handler ran too");
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn item35_a_previous_siginfo_handler_still_runs() -> io::Result<()> {
    let sig = rt(5);
    install(sig, siginfo_handler as *const () as usize, true);
    let kq = Kqueue::new()?;
    register(&kq, &[watch(sig, 355)])?;
    raise(sig);
    let ev = expect_signal(&kq, sig)?;
    assert_eq!(ev.data, 1);
    assert_eq!(
        SIGINFO_HANDLER_RUNS.load(Ordering::SeqCst),
        1,
        "the SA_SIGINFO handler ran with its siginfo"
    );
    Ok(())
}

/// Depth of the nested-handler test: as many different signals as the storm has senders.
const NEST: usize = 4;
/// The signals of the nested-handler test; `CHAIN[k]`'s own handler raises `CHAIN[k + 1]`.
static CHAIN: [AtomicI32; NEST] = [const { AtomicI32::new(0) }; NEST];
static CHAIN_HANDLER_RUNS: AtomicUsize = AtomicUsize::new(0);

/// A program's handler that raises the next signal of [`CHAIN`] (raise(3) is
/// async-signal-safe), so that the handlers nest.
extern "C" fn chain_handler(sig: libc::c_int) {
    CHAIN_HANDLER_RUNS.fetch_add(1, Ordering::SeqCst);
    let pos = CHAIN.iter().position(|s| s.load(Ordering::SeqCst) == sig);
    if let Some(next) = pos.and_then(|k| CHAIN.get(k + 1)) {
        // SAFETY: raise(3) of a signal the test has registered (handled, not fatal).
        unsafe { libc::raise(next.load(Ordering::SeqCst)) };
    }
}

/// Watched signals delivered while the handlers of other watched signals run: the handlers
/// nest, as they do when several threads send different signals at once (see the storm).
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn item35_watched_signals_arriving_inside_each_others_handlers() -> io::Result<()> {
    isolated("item35_watched_signals_arriving_inside_each_others_handlers", || {
        let sigs: Vec<i32> = (0..NEST as i32).map(|k| rt(14 + k)).collect();
        for (slot, &sig) in CHAIN.iter().zip(&sigs) {
            slot.store(sig, Ordering::SeqCst);
        }
        for &sig in &sigs[..NEST - 1] {
            install(sig, chain_handler as *const () as usize, false);
        }
        let kq = Kqueue::new()?;
        let changes: Vec<Kevent> =
            sigs.iter().enumerate().map(|(k, &s)| watch(s, k as u64)).collect();
        register(&kq, &changes)?;
        raise(sigs[0]);
        assert_eq!(CHAIN_HANDLER_RUNS.load(Ordering::SeqCst), NEST - 1, "our handlers ran");

        let deadline = Instant::now() + LIMIT;
        let mut counts = [0i64; NEST];
        while counts.contains(&0) && Instant::now() < deadline {
            for ev in collect(&kq, Some(Duration::from_millis(200)))? {
                counts[ev.udata as usize] += ev.data;
            }
        }
        assert_eq!(counts, [1; NEST], "every signal counted once");
        Ok(())
    })
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn item35_two_kqueues_watching_one_signal_both_see_it() -> io::Result<()> {
    let sig = rt(6);
    let kq1 = Kqueue::new()?;
    let kq2 = Kqueue::new()?;
    register(&kq1, &[watch(sig, 1)])?;
    register(&kq2, &[watch(sig, 2)])?;
    raise(sig);
    raise(sig);
    let e1 = expect_signal(&kq1, sig)?;
    let e2 = expect_signal(&kq2, sig)?;
    assert_eq!((e1.udata, e1.data), (1, 2));
    assert_eq!((e2.udata, e2.data), (2, 2), "draining one kqueue leaves the other's count");

    // One kqueue stops watching; the other goes on.
    register(&kq1, &[Kevent::new(sig as usize, Filter::Signal, Flags::DELETE)])?;
    raise(sig);
    assert_eq!(expect_signal(&kq2, sig)?.data, 1);
    assert_quiet(&kq1, "the deleted knote")?;
    Ok(())
}

// Issue 8, item 6: no fixed number of kqueues may watch signals (there used to be a pool of 64
// pipes, and the 65th kqueue got EBUSY). 150 kqueues watch one signal and all count it; then they
// go, and 150 new ones (reusing the freed pipes) do the same.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn item35_any_number_of_kqueues_can_watch_signals() -> io::Result<()> {
    const KQUEUES: usize = 150;
    let sig = rt(11);
    for round in 0..2 {
        let kqs: Vec<Kqueue> = (0..KQUEUES).map(|_| Kqueue::new()).collect::<io::Result<_>>()?;
        for (i, kq) in kqs.iter().enumerate() {
            let errno = echo_errno(
                kq,
                Kevent { flags: Flags::ADD | Flags::RECEIPT, ..watch(sig, i as u64) },
            )?;
            assert_eq!(errno, 0, "round {round}: kqueue {i} could not watch a signal");
        }
        raise(sig);
        raise(sig);
        for (i, kq) in kqs.iter().enumerate() {
            assert_eq!(expect_signal(kq, sig)?.data, 2, "round {round}: kqueue {i}");
        }
    }
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn item35_delete_and_readd_does_not_report_old_deliveries() -> io::Result<()> {
    let sig = rt(12);
    let kq = Kqueue::new()?;
    register(&kq, &[watch(sig, 356)])?;
    raise(sig);
    raise(sig);
    register(&kq, &[Kevent::new(sig as usize, Filter::Signal, Flags::DELETE)])?;
    assert_quiet(&kq, "EV_DELETE discards the pending count")?;
    assert_eq!(
        change_errno(&kq, Kevent::new(sig as usize, Filter::Signal, Flags::DELETE)),
        libc::ENOENT
    );
    // The reactor's handler stays installed, so this is counted, not fatal.
    raise(sig);
    register(&kq, &[watch(sig, 357)])?;
    assert_quiet(&kq, "deliveries before the registration are not reported")?;
    raise(sig);
    let ev = expect_signal(&kq, sig)?;
    assert_eq!((ev.udata, ev.data), (357, 1));
    Ok(())
}

/// A program that sets a watched signal to `SIG_IGN` after kq installed its handler, between
/// two registrations, does not silence kq for good: the next registration puts the counting
/// handler back. In a child process: SIGUSR1 is shared with another test of this binary.
#[test]
fn item35_a_disposition_changed_after_a_delete_is_taken_back_on_readd() -> io::Result<()> {
    isolated("item35_a_disposition_changed_after_a_delete_is_taken_back_on_readd", || {
        let sig = libc::SIGUSR1;
        let kq = Kqueue::new()?;
        register(&kq, &[watch(sig, 359)])?;
        register(&kq, &[Kevent::new(sig as usize, Filter::Signal, Flags::DELETE)])?;
        install(sig, libc::SIG_IGN, false);
        register(&kq, &[watch(sig, 360)])?;
        // SAFETY: kill(2) of our own process with a signal whose handler is kq's (or ignored).
        assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0, "kill(SIGUSR1)");
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            events.extend(collect(&kq, Some(Duration::from_millis(200)))?);
        }
        assert_eq!(events.len(), 1, "one event after SIG_IGN and a re-add: {events:?}");
        assert_eq!((events[0].udata, events[0].data), (360, 1), "{events:?}");
        Ok(())
    })
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn item35_disabled_knote_counts_and_enable_delivers() -> io::Result<()> {
    let sig = rt(13);
    let kq = Kqueue::new()?;
    register(&kq, &[watch(sig, 358)])?;
    register(&kq, &[Kevent::new(sig as usize, Filter::Signal, Flags::DISABLE)])?;
    raise(sig);
    raise(sig);
    assert_quiet(&kq, "disabled")?;
    register(&kq, &[Kevent::new(sig as usize, Filter::Signal, Flags::ENABLE).with_udata(358)])?;
    let ev = expect_signal(&kq, sig)?;
    assert_eq!(ev.data, 2, "the deliveries while disabled are reported on enable");
    Ok(())
}

#[test]
fn item35_invalid_signal_numbers_are_einval() -> io::Result<()> {
    let kq = Kqueue::new()?;
    for ident in
        [0, PAST_LAST_SIGNAL, 1000, usize::MAX, libc::SIGKILL as usize, libc::SIGSTOP as usize]
    {
        let change = add(ident, Filter::Signal, Flags::empty());
        assert_eq!(echo_errno(&kq, change)?, i64::from(libc::EINVAL), "signal {ident}");
        assert_eq!(change_errno(&kq, change), libc::EINVAL, "signal {ident}, no room");
    }
    assert!(kq.is_empty(), "nothing was registered");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Storm: four threads sending bursts, one collector.

/// Runs the body of test `name` in a child process (this test binary, filtered to that test),
/// so that a crash of the signal machinery (a SIGSEGV in a handler) fails this one test with
/// its status instead of killing every test of the binary. In the child, runs `body`.
fn isolated(name: &str, body: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    const VAR: &str = "KQ_REACTOR_ISOLATED_SIGNAL_TEST";
    if std::env::var(VAR).as_deref() == Ok(name) {
        return body();
    }
    let out = Command::new(std::env::current_exe()?)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(VAR, name)
        .stdin(Stdio::null())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a child process: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn signal_storm_from_four_threads() -> io::Result<()> {
    isolated("signal_storm_from_four_threads", storm)
}

/// The storm itself (in a child process, see [`isolated`]).
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
fn storm() -> io::Result<()> {
    const THREADS: usize = 4;
    const BURSTS: usize = 25;
    const PER_BURST: usize = 40;
    let sigs: Vec<i32> = (0..THREADS as i32).map(|i| rt(7 + i)).collect();
    let kq = Arc::new(Kqueue::new()?);
    let changes: Vec<Kevent> = sigs.iter().enumerate().map(|(i, &s)| watch(s, i as u64)).collect();
    register(&kq, &changes)?;

    // Signals sent (incremented before each kill, so a delivery is always already counted).
    let sent: Arc<[AtomicU64; THREADS]> = Arc::new(Default::default());
    // Deliveries reported by the collector, per thread's signal.
    let seen = Arc::new((Mutex::new([0u64; THREADS]), Condvar::new()));
    let done = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(60);

    let collector = {
        let (kq, sent, seen, done, sigs) = (
            Arc::clone(&kq),
            Arc::clone(&sent),
            Arc::clone(&seen),
            Arc::clone(&done),
            sigs.clone(),
        );
        thread::spawn(move || -> io::Result<()> {
            loop {
                let finished = done.load(Ordering::SeqCst);
                let events = collect(&kq, Some(Duration::from_millis(50)))?;
                let (lock, cond) = &*seen;
                let mut counts = lock.lock().unwrap_or_else(|p| p.into_inner());
                for ev in &events {
                    let i = ev.udata as usize;
                    assert!(i < THREADS, "{ev:?}");
                    assert_eq!((ev.ident, ev.filter), (sigs[i] as usize, Filter::Signal), "{ev:?}");
                    assert!(ev.data >= 1, "{ev:?}");
                    counts[i] += ev.data as u64;
                    let sent_i = sent[i].load(Ordering::SeqCst);
                    assert!(
                        counts[i] <= sent_i,
                        "thread {i}: {} counted, {sent_i} sent",
                        counts[i]
                    );
                }
                cond.notify_all();
                let all_in = (0..THREADS).all(|i| counts[i] == sent[i].load(Ordering::SeqCst));
                if (finished && all_in) || Instant::now() >= deadline {
                    return Ok(());
                }
            }
        })
    };

    let senders: Vec<_> = (0..THREADS)
        .map(|i| {
            let (sent, seen, sig) = (Arc::clone(&sent), Arc::clone(&seen), sigs[i]);
            thread::spawn(move || {
                // SAFETY: getpid has no preconditions.
                let me = unsafe { libc::getpid() };
                for burst in 0..BURSTS {
                    let (lock, cond) = &*seen;
                    let before = lock.lock().unwrap_or_else(|p| p.into_inner())[i];
                    for _ in 0..PER_BURST {
                        sent[i].fetch_add(1, Ordering::SeqCst);
                        // SAFETY: kill(2) of our own process with a watched signal.
                        if unsafe { libc::kill(me, sig) } != 0 {
                            // Not queued (e.g. the real-time queue is full): not sent.
                            sent[i].fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    // Barrier: the collector must see this burst before the next one starts.
                    let mut counts = lock.lock().unwrap_or_else(|p| p.into_inner());
                    while counts[i] <= before {
                        let now = Instant::now();
                        assert!(now < deadline, "thread {i}: burst {burst} never reported");
                        counts = cond
                            .wait_timeout(counts, (deadline - now).min(Duration::from_millis(100)))
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().expect("sender panicked");
    }
    done.store(true, Ordering::SeqCst);
    collector.join().expect("collector panicked")?;

    let counts = *seen.0.lock().unwrap_or_else(|p| p.into_inner());
    for i in 0..THREADS {
        let sent_i = sent[i].load(Ordering::SeqCst);
        assert!(sent_i >= BURSTS as u64, "thread {i} sent at least one signal per burst");
        assert_eq!(counts[i], sent_i, "thread {i}: every queued real-time signal counted once");
    }
    assert_quiet(&kq, "all collected")?;
    Ok(())
}

// A signal storm while kqueues watching the signal come and go (their pipes taken from and given
// back to the pool as the handler walks it): a long-lived kqueue counts every delivery, the
// short-lived ones see what comes while they live, and nothing crashes (in a child process).
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
#[test]
fn signal_storm_while_kqueues_come_and_go() -> io::Result<()> {
    isolated("signal_storm_while_kqueues_come_and_go", churn)
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))] // RT_SIGNALS.
fn churn() -> io::Result<()> {
    const RAISES: u64 = 2000;
    let sig = rt(18);
    let steady = Kqueue::new()?;
    register(&steady, &[watch(sig, 1)])?;
    let done = Arc::new(AtomicBool::new(false));
    let lives = Arc::new(AtomicUsize::new(0));
    let churner = {
        let (done, lives) = (done.clone(), lives.clone());
        thread::spawn(move || -> io::Result<()> {
            while !done.load(Ordering::SeqCst) {
                let kqs: Vec<Kqueue> = (0..4).map(|_| Kqueue::new()).collect::<io::Result<_>>()?;
                for kq in &kqs {
                    register(kq, &[watch(sig, 2)])?;
                }
                for kq in &kqs {
                    for ev in poll(kq)? {
                        assert_eq!((ev.ident, ev.filter), (sig as usize, Filter::Signal));
                        assert!(ev.data >= 1);
                    }
                }
                lives.fetch_add(kqs.len(), Ordering::SeqCst);
            }
            Ok(())
        })
    };
    // The churn must be under way before the storm (a loaded machine may start it late).
    let deadline = Instant::now() + Duration::from_secs(20);
    while lives.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the churning thread never ran");
        thread::yield_now();
    }
    for _ in 0..RAISES {
        raise(sig);
        thread::yield_now();
    }
    let mut counted = 0;
    let deadline = Instant::now() + LIMIT;
    while counted < RAISES as i64 && Instant::now() < deadline {
        for ev in collect(&steady, Some(Duration::from_millis(100)))? {
            counted += ev.data;
        }
    }
    done.store(true, Ordering::SeqCst);
    churner.join().expect("the churning thread panicked")?;
    assert_eq!(counted, RAISES as i64, "every real-time delivery counted once");
    Ok(())
}
