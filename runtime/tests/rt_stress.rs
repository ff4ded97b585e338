//! Stress tests of kq-runtime on a multi-thread runtime with two workers: 100,000 tasks woken
//! across threads (ping-pong pairs through oneshot channels, plus wake-ups from std threads),
//! each completing exactly once; the I/O path (a pipe read byte by byte through a
//! `Registration`); and `EventSource` streams of USER and TIMER knotes.
//!
//! Every test body runs under a watchdog, so that a lost wake-up fails the test instead of
//! hanging the suite.

mod util;
use util::*;

#[cfg(unix)] // The pipe tests only.
use std::future::poll_fn;
#[cfg(unix)] // The pipe tests only.
use std::io;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent};
use kq_runtime::io::EventSource;
#[cfg(unix)] // The pipe tests only.
use kq_runtime::io::{Interest, Registration};
use kq_runtime::runtime::Builder;
use kq_runtime::spawn;
use kq_runtime::time::timeout;

// ---------------------------------------------------------------------------------------------
// 100,000 tasks with cross-thread wake-ups
// ---------------------------------------------------------------------------------------------

const PAIRS: usize = 50_000;
/// Extra tasks woken by plain std threads.
const FOREIGN: usize = 10_000;
const FOREIGN_THREADS: usize = 4;

#[test]
fn hundred_thousand_tasks_ping_pong_exactly_once() {
    bounded(90, || {
        let rt = multi();
        let counters: Arc<Vec<AtomicU32>> =
            Arc::new((0..2 * PAIRS + FOREIGN).map(|_| AtomicU32::new(0)).collect());
        let t0 = Instant::now();
        let c = counters.clone();
        let out = rt.block_on(async move {
            let mut handles = Vec::with_capacity(2 * PAIRS + FOREIGN);

            // Tasks woken from std threads: each waits for a value the threads send.
            let mut senders: Vec<Vec<(usize, oneshot::Sender<usize>)>> =
                (0..FOREIGN_THREADS).map(|_| Vec::new()).collect();
            for j in 0..FOREIGN {
                let (tx, rx) = oneshot::channel();
                senders[j % FOREIGN_THREADS].push((j, tx));
                let c = c.clone();
                let idx = 2 * PAIRS + j;
                handles.push(spawn(async move {
                    let v = rx.await.expect("the std thread dropped its sender");
                    assert_eq!(v, j);
                    c[idx].fetch_add(1, SeqCst);
                }));
            }

            // Ping-pong pairs: A sends to B, B answers A.
            for i in 0..PAIRS {
                let (ping_tx, ping_rx) = oneshot::channel::<usize>();
                let (pong_tx, pong_rx) = oneshot::channel::<usize>();
                let (ca, cb) = (c.clone(), c.clone());
                let b = spawn(async move {
                    let v = ping_rx.await.expect("ping lost");
                    cb[2 * i + 1].fetch_add(1, SeqCst);
                    pong_tx.send(v + 1);
                });
                let a = spawn(async move {
                    kq_runtime::task::yield_now().await;
                    ping_tx.send(i);
                    let v = pong_rx.await.expect("pong lost");
                    assert_eq!(v, i + 1);
                    ca[2 * i].fetch_add(1, SeqCst);
                });
                // Alternate the order in which the halves are spawned.
                if i % 2 == 0 {
                    handles.push(a);
                    handles.push(b);
                } else {
                    handles.push(b);
                    handles.push(a);
                }
            }

            // The std threads wake their tasks, interleaved with the ping-pong traffic.
            let threads: Vec<_> = senders
                .into_iter()
                .map(|list| {
                    thread::spawn(move || {
                        for (j, tx) in list {
                            tx.send(j);
                        }
                    })
                })
                .collect();

            let joined = timeout(Duration::from_secs(60), async {
                let mut ok = 0usize;
                for h in handles {
                    h.await.expect("a stress task failed");
                    ok += 1;
                }
                ok
            })
            .await;
            for t in threads {
                t.join().unwrap();
            }
            joined
        });
        let took = t0.elapsed();
        let ok = out.unwrap_or_else(|_| panic!("the tasks did not all complete within 60 s"));
        assert_eq!(ok, 2 * PAIRS + FOREIGN);
        let bad: Vec<_> = counters
            .iter()
            .enumerate()
            .filter(|(_, c)| c.load(SeqCst) != 1)
            .map(|(i, c)| (i, c.load(SeqCst)))
            .take(10)
            .collect();
        assert!(bad.is_empty(), "counters not exactly 1 (index, count): {bad:?}");
        let m = rt.metrics();
        assert_eq!(m.spawned_tasks, (2 * PAIRS + FOREIGN) as u64);
        eprintln!(
            "{} tasks in {took:?}; polls per worker {:?}, steals {:?}, parks {:?}",
            2 * PAIRS + FOREIGN,
            m.polls,
            m.steals,
            m.parks
        );
    });
}

/// Wake-ups racing with polls: every round, a std thread and a task hand a value back and forth
/// 2,000 times through oneshots (each hand-off is a cross-thread wake into the runtime).
#[test]
fn wakeups_from_std_threads_race_with_polls() {
    bounded(60, || {
        let rt = multi();
        const ROUNDS: usize = 2_000;
        let (to_thread_tx, to_thread_rx) = mpsc::channel::<(usize, oneshot::Sender<usize>)>();
        let echo = thread::spawn(move || {
            let mut n = 0;
            while let Ok((v, tx)) = to_thread_rx.recv() {
                tx.send(v * 2);
                n += 1;
            }
            n
        });
        let sum = rt.block_on(async move {
            spawn(async move {
                let mut sum = 0usize;
                for i in 0..ROUNDS {
                    let (tx, rx) = oneshot::channel();
                    to_thread_tx.send((i, tx)).unwrap();
                    sum += rx.await.expect("the echo thread dropped the sender");
                }
                sum
            })
            .await
            .unwrap()
        });
        assert_eq!(sum, (0..ROUNDS).map(|i| i * 2).sum::<usize>());
        assert_eq!(echo.join().unwrap(), ROUNDS);
    });
}

// ---------------------------------------------------------------------------------------------
// I/O: a pipe read through a Registration
// ---------------------------------------------------------------------------------------------

#[cfg(unix)] // The pipe tests only.
const BYTES: usize = 10_000;

#[cfg(unix)] // A pipe (the Windows I/O tests are in windows_rt.rs).
#[test]
fn pipe_read_ten_thousand_single_bytes() {
    bounded(40, || {
        let rt = multi();
        let (rd, wr) = pipe();
        let rd_fd = rd.0;
        let result = rt.block_on(async move {
            let reg = Registration::new(rd_fd as usize, Interest::READABLE)
                .expect("registering the pipe's read end");
            assert_eq!(reg.fd(), rd_fd as usize);
            let writer = thread::spawn(move || {
                for i in 0..BYTES {
                    let b = [(i % 251) as u8];
                    // SAFETY: writing one byte from a valid buffer to an fd we own.
                    let n = unsafe { libc::write(wr.0, b.as_ptr().cast(), 1) };
                    assert_eq!(n, 1, "write: {}", io::Error::last_os_error());
                }
                drop(wr); // EOF for the reader
            });
            let read = spawn(async move {
                let mut got = Vec::with_capacity(BYTES);
                let mut buf = [0u8; 64];
                let mut waits = 0usize;
                'outer: loop {
                    let ev = poll_fn(|cx| reg.poll_read_ready(cx)).await?;
                    waits += 1;
                    loop {
                        match read_fd(rd_fd, &mut buf) {
                            Ok(0) => break 'outer,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                reg.clear_readiness(ev);
                                break;
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                let t = Instant::now();
                drop(reg); // deregister before the fd is closed
                Ok::<_, io::Error>((got, waits, t.elapsed()))
            });
            let r = timeout(Duration::from_secs(30), read).await;
            writer.join().unwrap();
            r
        });
        drop(rd);
        let (got, waits, drop_took) = result
            .expect("reading 10,000 bytes from the pipe hung (30 s)")
            .expect("the reader task failed")
            .expect("read error");
        assert_eq!(got.len(), BYTES);
        assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "bytes out of order");
        assert!(waits >= 1);
        assert!(
            drop_took < Duration::from_secs(5),
            "dropping the Registration blocked for {drop_took:?} (until an unrelated event came)"
        );
    });
}

/// `Registration::poll_io` with `WouldBlock` handling done by the runtime.
#[cfg(unix)] // A pipe (the Windows I/O tests are in windows_rt.rs).
#[test]
fn pipe_poll_io_round_trip() {
    bounded(8, || {
        let rt = multi();
        let (rd, wr) = pipe();
        let rd_fd = rd.0;
        let got = rt.block_on(async move {
            let reg = Registration::new(rd_fd as usize, Interest::READABLE).unwrap();
            let reader = spawn(async move {
                let mut buf = [0u8; 16];
                let n =
                    poll_fn(|cx| reg.poll_io(cx, Interest::READABLE, || read_fd(rd_fd, &mut buf)))
                        .await
                        .unwrap();
                let t = Instant::now();
                drop(reg);
                (buf[..n].to_vec(), t.elapsed())
            });
            kq_runtime::task::yield_now().await;
            // SAFETY: writing from a valid buffer to an fd we own.
            let n = unsafe { libc::write(wr.0, b"hello".as_ptr().cast(), 5) };
            assert_eq!(n, 5);
            timeout(Duration::from_secs(5), reader).await
        });
        drop(rd);
        let (bytes, drop_took) = got.expect("poll_io hung").unwrap();
        assert_eq!(bytes, b"hello");
        assert!(drop_took < Duration::from_secs(2), "dropping the Registration took {drop_took:?}");
    });
}

/// Dropping a `Registration` deletes its knotes; it must not wait for (and swallow) events of
/// the runtime's kqueue. On a current-thread runtime nothing else produces events, so a drop that
/// waits never returns.
#[cfg(unix)] // A pipe (the Windows I/O tests are in windows_rt.rs).
#[test]
fn dropping_a_registration_does_not_block() {
    bounded(5, || {
        let rt = Builder::new_current_thread().build().unwrap();
        let (rd, _wr) = pipe();
        rt.block_on(async {
            let reg = Registration::new(rd.0 as usize, Interest::READABLE).unwrap();
            drop(reg);
        });
    });
}

/// As above, for an `EventSource`.
#[test]
fn dropping_an_event_source_does_not_block() {
    bounded(5, || {
        let rt = Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let src =
                EventSource::new(Kevent::new(USER_IDENT + 7, Filter::User, Flags::CLEAR)).unwrap();
            drop(src);
        });
    });
}

#[cfg(unix)] // A pipe (the Windows I/O tests are in windows_rt.rs).
#[test]
fn registration_outside_a_runtime_is_an_error() {
    let (rd, _wr) = pipe();
    let err = Registration::new(rd.0 as usize, Interest::READABLE).unwrap_err();
    assert!(!err.to_string().is_empty());
}

// ---------------------------------------------------------------------------------------------
// EventSource
// ---------------------------------------------------------------------------------------------

/// Idents of the user's (the runtime's own are in `kq_runtime::io::RESERVED_IDENTS`).
const USER_IDENT: usize = 1 << 40;
const TIMER_IDENT: usize = (1 << 40) + 1;

#[test]
fn event_source_user_knote_triggered_at_registration() {
    bounded(8, || {
        let rt = multi();
        rt.block_on(async {
            let change = Kevent::new(USER_IDENT, Filter::User, Flags::CLEAR)
                .with_fflags(note::TRIGGER | note::FFCOPY | 0x2a);
            let mut src = EventSource::new(change).expect("registering a USER knote");
            let ev = timeout(Duration::from_secs(5), src.next_event())
                .await
                .expect("the triggered USER knote delivered nothing")
                .expect("the stream ended");
            assert_eq!(ev.ident, USER_IDENT);
            assert_eq!(ev.filter, Filter::User);
            assert_eq!(ev.fflags & note::FFLAGSMASK, 0x2a, "{ev:?}");
            // EV_CLEAR: no second event without a new trigger.
            let again = timeout(Duration::from_millis(50), src.next_event()).await;
            assert!(again.is_err(), "a CLEAR USER knote fired twice: {again:?}");
        });
    });
}

#[test]
fn event_source_periodic_timer_knote() {
    bounded(10, || {
        let rt = multi();
        rt.block_on(async {
            let change = Kevent::new(TIMER_IDENT, Filter::Timer, Flags::empty())
                .with_fflags(note::MSECONDS)
                .with_data(5);
            let t0 = Instant::now();
            let mut src = EventSource::new(change).expect("registering a TIMER knote");
            let mut expirations = 0i64;
            for _ in 0..5 {
                let ev = timeout(Duration::from_secs(5), src.next_event())
                    .await
                    .expect("the periodic timer stopped firing")
                    .expect("the stream ended");
                assert_eq!((ev.ident, ev.filter), (TIMER_IDENT, Filter::Timer));
                assert!(ev.data >= 1, "{ev:?}");
                expirations += ev.data;
            }
            let took = t0.elapsed();
            let min = Duration::from_millis(5 * expirations as u64);
            assert!(took >= min, "{expirations} expirations of 5 ms in {took:?}");
            drop(src);

            // A ONESHOT timer: one event, then the stream ends.
            let change = Kevent::new(TIMER_IDENT, Filter::Timer, Flags::ONESHOT)
                .with_fflags(note::MSECONDS)
                .with_data(5);
            let mut src = EventSource::new(change).unwrap();
            let first = timeout(Duration::from_secs(5), src.next_event()).await.unwrap();
            assert!(first.is_some());
            assert_eq!(timeout(Duration::from_secs(5), src.next_event()).await, Ok(None));
        });
    });
}

#[test]
fn many_sources_and_tasks_together() {
    bounded(30, || {
        let rt = multi();
        let fired = Arc::new(AtomicUsize::new(0));
        let f2 = fired.clone();
        rt.block_on(async move {
            let hs: Vec<_> = (0..200usize)
                .map(|i| {
                    let f = f2.clone();
                    spawn(async move {
                        let change =
                            Kevent::new(TIMER_IDENT + 1 + i, Filter::Timer, Flags::ONESHOT)
                                .with_fflags(note::MSECONDS)
                                .with_data(1 + (i % 20) as i64);
                        let mut src = EventSource::new(change).unwrap();
                        if src.next_event().await.is_some() {
                            f.fetch_add(1, SeqCst);
                        }
                    })
                })
                .collect();
            let r = timeout(Duration::from_secs(20), async {
                for h in hs {
                    h.await.unwrap();
                }
            })
            .await;
            assert!(r.is_ok(), "200 ONESHOT timer sources did not all fire");
        });
        assert_eq!(fired.load(SeqCst), 200);
    });
}
