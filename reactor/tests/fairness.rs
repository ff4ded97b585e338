//! Fairness stress (KQUEUE.md checklist item 41, issue 8): always-ready level knotes and a stream
//! of pipe and socket events share one kqueue for about 3 s while several threads collect, with
//! zero, finite and infinite timeouts. No event is lost, and none is later than one call: every
//! call that *starts* after a write must return that source's (level) event, as long as the data
//! is still there when the call returns.
// Unix-only: pipes and Unix sockets (the Windows socket cases are in windows_sockets.rs).
#![cfg(unix)]
mod util;

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

/// A source's state: idle (nothing written), draining (the producer is reading it), or written
/// when `calls_begun` was `w` (stored as `w + 1`).
const IDLE: u64 = 0;
const DRAINING: u64 = u64::MAX;

struct Source {
    /// The end the producer writes to and the end the kqueue watches (and the producer drains).
    write: OwnedFd,
    read: OwnedFd,
    state: AtomicU64,
    /// A collector saw its event since the last write.
    seen: AtomicBool,
}

#[test]
fn always_ready_knotes_and_a_stream_of_events_with_several_collectors() -> io::Result<()> {
    const PIPES: usize = 8;
    const SOCKETS: usize = 8;
    const COLLECTORS: usize = 3;
    const RUN: Duration = Duration::from_secs(3);
    let kq = Arc::new(Kqueue::new()?);

    // Always ready: WRITE on idle connected sockets, and triggered level USER knotes.
    let (idle_a, _idle_b) = UnixStream::pair()?;
    let (idle_c, _idle_d) = UnixStream::pair()?;
    register(
        &kq,
        &[
            add(ident(&idle_a), Filter::Write, Flags::empty()).with_udata(u64::MAX),
            add(ident(&idle_c), Filter::Write, Flags::empty()).with_udata(u64::MAX),
            add(1, Filter::User, Flags::empty()).with_fflags(note::TRIGGER).with_udata(u64::MAX),
            add(2, Filter::User, Flags::empty()).with_fflags(note::TRIGGER).with_udata(u64::MAX),
        ],
    )?;

    let mut sources = Vec::new();
    for _ in 0..PIPES {
        let (read, write) = pipe()?;
        sources.push(Source {
            write,
            read,
            state: AtomicU64::new(IDLE),
            seen: AtomicBool::new(false),
        });
    }
    for _ in 0..SOCKETS {
        let (a, b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        let (write, read) = (OwnedFd::from(a), OwnedFd::from(b));
        sources.push(Source {
            write,
            read,
            state: AtomicU64::new(IDLE),
            seen: AtomicBool::new(false),
        });
    }
    let changes: Vec<Kevent> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| add(ident(&s.read), Filter::Read, Flags::empty()).with_udata(i as u64))
        .collect();
    register(&kq, &changes)?;
    let sources = Arc::new(sources);

    let calls_begun = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let misses = Arc::new(AtomicU64::new(0));
    let collectors: Vec<_> = (0..COLLECTORS)
        .map(|c| {
            let (kq, sources, calls_begun, stop, misses) =
                (kq.clone(), sources.clone(), calls_begun.clone(), stop.clone(), misses.clone());
            thread::spawn(move || -> io::Result<(u64, String)> {
                let timeouts = [None, Some(Duration::ZERO), Some(Duration::from_secs(1))];
                let mut events = [Kevent::default(); 64];
                let mut calls = 0u64;
                let mut first_miss = String::new();
                while !stop.load(SeqCst) {
                    let ticket = calls_begun.fetch_add(1, SeqCst);
                    let n = kq.kevent(&[], &mut events, timeouts[(calls as usize + c) % 3])?;
                    calls += 1;
                    let got = &events[..n];
                    assert!(got.iter().filter(|e| e.udata == u64::MAX).count() == 4, "{got:?}");
                    for (i, s) in sources.iter().enumerate() {
                        let delivered = got.iter().any(|e| e.udata == i as u64);
                        if delivered {
                            s.seen.store(true, SeqCst);
                        }
                        // Still written (not draining) after the call returned: the data was
                        // there throughout the call. A call that began after the write must
                        // have returned it.
                        let state = s.state.load(SeqCst);
                        let due = state != IDLE && state != DRAINING && ticket >= state - 1;
                        if due && !delivered && misses.fetch_add(1, SeqCst) == 0 {
                            first_miss = format!("source {i}, call {ticket}: {got:?}");
                        }
                    }
                }
                Ok((calls, first_miss))
            })
        })
        .collect();

    // The producer: one byte into each idle source; a source whose event was seen is drained
    // and becomes idle again.
    let start = Instant::now();
    let mut written = vec![0u64; sources.len()];
    while start.elapsed() < RUN {
        for (i, s) in sources.iter().enumerate() {
            match s.state.load(SeqCst) {
                IDLE => {
                    write_fd(&s.write, b"x")?;
                    s.state.store(calls_begun.load(SeqCst) + 1, SeqCst);
                    written[i] += 1;
                }
                _ if s.seen.swap(false, SeqCst) => {
                    s.state.store(DRAINING, SeqCst);
                    assert_eq!(read_fd(&s.read, 16)?.len(), 1);
                    s.state.store(IDLE, SeqCst);
                }
                _ => {}
            }
        }
        thread::yield_now();
    }
    // The last writes must be seen too (no event lost).
    let deadline = Instant::now() + Duration::from_secs(20);
    for (i, s) in sources.iter().enumerate() {
        while s.state.load(SeqCst) != IDLE && !s.seen.load(SeqCst) {
            assert!(Instant::now() < deadline, "source {i}: its last event was never delivered");
            thread::yield_now();
        }
    }
    stop.store(true, SeqCst);
    let mut total_calls = 0;
    for c in collectors {
        let (calls, first_miss) = c.join().expect("collector panicked")?;
        let misses = misses.load(SeqCst);
        assert_eq!(misses, 0, "calls that missed an event written before they began: {first_miss}");
        total_calls += calls;
    }
    assert!(written.iter().all(|&w| w >= 1), "every source was written: {written:?}");
    assert!(total_calls > 0);
    Ok(())
}
