//! Conformance checklist items 38-40 (KQUEUE.md section 7) and the lock profiling counters:
//! many threads sharing one kqueue.
//!
//! Timeouts here are bounds (a thread gives up instead of hanging), never synchronisation:
//! threads are coordinated with channels, joins and observed kernel state.
// Unix-only: pipes and Unix sockets (the Windows socket cases are in windows_sockets.rs).
#![cfg(unix)]
mod util;

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue, LockStats};
use util::*;

/// udata layout: ident (16 bits) | registration generation (24 bits) | epoch (24 bits).
fn enc(ident: usize, gen: u64, epoch: u64) -> u64 {
    assert!(ident < 1 << 16 && gen < 1 << 24 && epoch < 1 << 24);
    ((ident as u64) << 48) | (gen << 24) | epoch
}

fn dec(udata: u64) -> (usize, u64, u64) {
    ((udata >> 48) as usize, (udata >> 24) & 0xff_ffff, udata & 0xff_ffff)
}

/// The change that triggers USER event `id`, setting its udata (a trigger is a modify).
fn trigger(id: usize, udata: u64) -> Kevent {
    Kevent::new(id, Filter::User, Flags::empty()).with_fflags(note::TRIGGER).with_udata(udata)
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn describe(name: &str, s: &LockStats) -> String {
    format!(
        "{name}: acquisitions {}, contended {} ({:.3}%), wait {} ns total / {} ns max, hold {} ns \
         total / {} ns max",
        s.acquisitions,
        s.contended,
        100.0 * s.contended_fraction(),
        s.wait_ns_total,
        s.wait_ns_max,
        s.hold_ns_total,
        s.hold_ns_max
    )
}

// ---------------------------------------------------------------------------------------------
// 38. A oneshot event goes to exactly one of several threads waiting on the same kqueue.

#[test]
fn item38_oneshot_goes_to_exactly_one_of_four_waiters() -> io::Result<()> {
    const ONESHOT: u64 = 0x0e;
    const STOP: u64 = 0x57;
    for round in 0..10 {
        let kq = Arc::new(Kqueue::new()?);
        register(&kq, &[add(1, Filter::User, Flags::ONESHOT).with_udata(ONESHOT)])?;
        let (tid_tx, tid_rx) = mpsc::channel();
        let (won_tx, won_rx) = mpsc::channel();
        let waiters: Vec<_> = (0..4)
            .map(|t| {
                let (kq, tid_tx, won_tx) = (Arc::clone(&kq), tid_tx.clone(), won_tx.clone());
                thread::spawn(move || -> io::Result<(Vec<Kevent>, bool)> {
                    tid_tx.send(gettid()).unwrap();
                    let mut seen = Vec::new();
                    let mut events = [Kevent::default(); 4];
                    loop {
                        // Bounded: a waiter that is never woken gives up and the test fails.
                        let n = kq.kevent(&[], &mut events, Some(Duration::from_secs(10)))?;
                        if n == 0 {
                            return Ok((seen, false));
                        }
                        if events[..n].iter().any(|e| e.udata == ONESHOT) {
                            won_tx.send(t).unwrap();
                        }
                        seen.extend_from_slice(&events[..n]);
                        if events[..n].iter().any(|e| e.udata == STOP) {
                            return Ok((seen, true));
                        }
                    }
                })
            })
            .collect();
        for _ in 0..4 {
            wait_until_blocked(tid_rx.recv().unwrap(), Duration::from_secs(5));
        }
        register(&kq, &[trigger(1, ONESHOT)])?;
        let winner = won_rx.recv_timeout(Duration::from_secs(10));
        // Release every waiter with a level USER event, which stays triggered.
        register(
            &kq,
            &[add(2, Filter::User, Flags::empty()).with_fflags(note::TRIGGER).with_udata(STOP)],
        )?;
        let results: Vec<(Vec<Kevent>, bool)> =
            waiters.into_iter().map(|h| h.join().unwrap()).collect::<io::Result<_>>()?;
        let winner = winner.expect("the oneshot event reached one of the waiters");

        let deliveries: Vec<usize> = results
            .iter()
            .enumerate()
            .flat_map(|(t, (seen, _))| seen.iter().filter(|e| e.udata == ONESHOT).map(move |_| t))
            .collect();
        assert_eq!(deliveries, [winner], "round {round}: exactly one delivery of the oneshot");
        for (t, (seen, stopped)) in results.iter().enumerate() {
            assert!(stopped, "round {round}: waiter {t} got the later event, not a timeout");
            for ev in seen {
                assert!(matches!(ev.udata, ONESHOT | STOP), "round {round}: unexpected {ev:?}");
                if ev.udata == ONESHOT {
                    assert_eq!((ev.ident, ev.filter), (1, Filter::User));
                    assert!(ev.flags.contains(Flags::ONESHOT), "{ev:?}");
                }
            }
        }
        assert_eq!(
            change_errno(&kq, Kevent::new(1, Filter::User, Flags::DELETE)),
            libc::ENOENT,
            "round {round}: the oneshot knote is gone after its delivery"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 39. Concurrent EV_DELETE and delivery never return a deleted knote's udata.

/// An event as a collector saw it, with the delete sequence number read before the call began.
#[derive(Clone, Copy)]
struct Seen {
    ev: Kevent,
    seq_before: u64,
}

/// A deleted generation `(ident, filter, gen)` with the stamp taken after its delete returned.
type Deleted = ((usize, Filter, u64), u64);

#[test]
fn item39_concurrent_delete_and_delivery_never_return_deleted_udata() -> io::Result<()> {
    const GENS: u64 = 3000;
    let limit = Duration::from_secs(6);
    let kq = Arc::new(Kqueue::new()?);
    // A delete is stamped with `seq.fetch_add` after it returned; a collector reads `seq` before
    // each call. An event of a generation whose stamp is below that reading is a violation.
    let seq = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    // Pipes with data that is never read: READ knotes on them are always ready.
    let pipes: Vec<(OwnedFd, OwnedFd)> = (0..2).map(|_| pipe()).collect::<io::Result<_>>()?;
    for (_, w) in &pipes {
        write_fd(w, b"always readable")?;
    }
    let pipe_idents: Vec<usize> = pipes.iter().map(|(r, _)| ident(r)).collect();

    // (filter, flags, idents) per deleter thread.
    let plans: Vec<(Filter, Flags, Vec<usize>)> = vec![
        (Filter::User, Flags::empty(), (100..104).collect()),
        (Filter::User, Flags::CLEAR, (200..204).collect()),
        (Filter::Read, Flags::empty(), pipe_idents),
        (Filter::Timer, Flags::empty(), vec![300, 301]),
    ];
    let start = Instant::now();
    let deleters: Vec<_> = plans
        .into_iter()
        .enumerate()
        .map(|(d, (filter, flags, idents))| {
            let (kq, seq) = (Arc::clone(&kq), Arc::clone(&seq));
            thread::spawn(move || -> io::Result<(Vec<Deleted>, Vec<Seen>)> {
                let mut deleted = Vec::new();
                let mut seen = Vec::new();
                let mut events = [Kevent::default(); 8];
                for gen in 1..=GENS {
                    if start.elapsed() > limit {
                        break;
                    }
                    for &id in &idents {
                        let mut change = add(id, filter, flags).with_udata(enc(id, gen, 0));
                        match filter {
                            Filter::User => change = change.with_fflags(note::TRIGGER),
                            // A 1 µs periodic timer: it fires while being deleted.
                            Filter::Timer => {
                                change = change.with_fflags(note::USECONDS).with_data(1)
                            }
                            _ => {}
                        }
                        register(&kq, &[change])?;
                        if (gen + d as u64) & 3 == 0 {
                            // A modify in between: a fresh udata within the generation.
                            let modify = Kevent {
                                flags: Flags::ADD | flags,
                                udata: enc(id, gen, 1),
                                ..change
                            };
                            register(&kq, &[modify])?;
                        }
                    }
                    for &id in &idents {
                        register(&kq, &[Kevent::new(id, filter, Flags::DELETE)])?;
                        let stamp = seq.fetch_add(1, Ordering::SeqCst);
                        deleted.push(((id, filter, gen), stamp));
                    }
                    if gen & 7 == 0 {
                        // The deleter collects too: its own deletes are then certainly before.
                        let seq_before = seq.load(Ordering::SeqCst);
                        let n = kq.kevent(&[], &mut events, Some(Duration::ZERO))?;
                        seen.extend(events[..n].iter().map(|&ev| Seen { ev, seq_before }));
                    }
                }
                Ok((deleted, seen))
            })
        })
        .collect();
    let collectors: Vec<_> = (0..2)
        .map(|_| {
            let (kq, seq, stop) = (Arc::clone(&kq), Arc::clone(&seq), Arc::clone(&stop));
            thread::spawn(move || -> io::Result<Vec<Seen>> {
                let mut seen = Vec::new();
                let mut events = [Kevent::default(); 16];
                while !stop.load(Ordering::SeqCst) {
                    let seq_before = seq.load(Ordering::SeqCst);
                    let n = kq.kevent(&[], &mut events, Some(Duration::from_millis(5)))?;
                    seen.extend(events[..n].iter().map(|&ev| Seen { ev, seq_before }));
                }
                Ok(seen)
            })
        })
        .collect();

    let mut deleted = HashMap::new();
    let mut seen = Vec::new();
    for h in deleters {
        let (d, s) = h.join().unwrap()?;
        deleted.extend(d);
        seen.extend(s);
    }
    stop.store(true, Ordering::SeqCst);
    for h in collectors {
        seen.extend(h.join().unwrap()?);
    }
    // Everything was deleted: nothing may be left.
    let seq_before = seq.load(Ordering::SeqCst);
    let rest = poll(&kq)?;
    seen.extend(rest.iter().map(|&ev| Seen { ev, seq_before }));
    assert!(rest.is_empty(), "all knotes were deleted, yet events remain: {rest:?}");
    assert_eq!(kq.len(), 0, "all knotes were deleted");

    let mut violations = Vec::new();
    for s in &seen {
        assert!(!s.ev.is_error(), "unexpected error entry {:?}", s.ev);
        let (id, gen, _) = dec(s.ev.udata);
        assert_eq!(id, s.ev.ident, "udata belongs to another knote: {:?}", s.ev);
        let stamp = deleted.get(&(id, s.ev.filter, gen)).copied();
        assert!(stamp.is_some(), "event of a generation never registered: {:?}", s.ev);
        if stamp.is_some_and(|d| d < s.seq_before) {
            violations.push(s.ev);
        }
    }
    println!(
        "item39: {} generations deleted, {} events seen, {}",
        deleted.len(),
        seen.len(),
        describe("kq lock", &kq.lock_stats())
    );
    assert!(!seen.is_empty(), "no event was ever delivered: the test did not exercise anything");
    assert!(
        violations.is_empty(),
        "{} events returned by calls that began after their knote's EV_DELETE returned, e.g. {:?}",
        violations.len(),
        &violations[..violations.len().min(5)]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 40. Many threads doing register/modify/delete/trigger/collect: no corruption, no lost event,
//     no duplicate, nothing after delete.

/// The ledger of one registration generation of one knote, kept by its owning producer.
#[derive(Clone, Copy, Debug, Default)]
struct GenLedger {
    /// Epoch of the first and the last trigger in this generation.
    first_trigger: Option<u64>,
    last_trigger: Option<u64>,
    /// The last epoch (udata) set in this generation, by a trigger or a modify.
    max_epoch: u64,
    /// The delete stamp, when the generation was deleted.
    deleted: Option<u64>,
}

#[derive(Default)]
struct KnoteState {
    registered: bool,
    gen: u64,
    epoch: u64,
}

const PRODUCERS: usize = 4;
const COLLECTORS: usize = 2;
const KNOTES_PER_PRODUCER: usize = 12;
const OPS_PER_PRODUCER: usize = 40_000;
/// Knotes `0..PERMANENT` of each producer are never deleted (their triggers must all be seen).
const PERMANENT: usize = 4;

type Ledger = HashMap<(usize, u64), GenLedger>;

fn producer(
    p: usize,
    kq: &Kqueue,
    seq: &AtomicU64,
    start: Instant,
    limit: Duration,
) -> io::Result<(Ledger, Vec<Seen>, usize)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (p as u64 + 1).wrapping_mul(0xff51_afd7_ed55_8ccd));
    let mut knotes: Vec<KnoteState> =
        (0..KNOTES_PER_PRODUCER).map(|_| KnoteState::default()).collect();
    let mut ledger = Ledger::new();
    let mut seen = Vec::new();
    let mut events = [Kevent::default(); 8];
    let mut ops = 0;
    while ops < OPS_PER_PRODUCER && (ops % 256 != 0 || start.elapsed() < limit) {
        ops += 1;
        let r = rng.next();
        let i = (r % KNOTES_PER_PRODUCER as u64) as usize;
        let id = 1000 * (p + 1) + i;
        let k = &mut knotes[i];
        if !k.registered {
            // Register a new generation, sometimes triggered from the start.
            k.gen += 1;
            k.registered = true;
            let triggered = (r >> 32) & 1 == 1;
            k.epoch = u64::from(triggered);
            let fflags = if triggered { note::TRIGGER } else { 0 };
            let change = add(id, Filter::User, Flags::CLEAR)
                .with_fflags(fflags)
                .with_udata(enc(id, k.gen, k.epoch));
            register(kq, &[change])?;
            let t = triggered.then_some(k.epoch);
            ledger.insert(
                (id, k.gen),
                GenLedger {
                    first_trigger: t,
                    last_trigger: t,
                    max_epoch: k.epoch,
                    ..Default::default()
                },
            );
            continue;
        }
        let entry = ledger.get_mut(&(id, k.gen)).expect("ledger of a live generation");
        match (r >> 32) % 20 {
            0..=9 => {
                k.epoch += 1;
                register(kq, &[trigger(id, enc(id, k.gen, k.epoch))])?;
                entry.first_trigger.get_or_insert(k.epoch);
                entry.last_trigger = Some(k.epoch);
                entry.max_epoch = k.epoch;
            }
            10..=12 => {
                // Modify without a trigger (and without EV_CLEAR, which would reset the trigger).
                k.epoch += 1;
                let change =
                    Kevent::new(id, Filter::User, Flags::ADD).with_udata(enc(id, k.gen, k.epoch));
                register(kq, &[change])?;
                entry.max_epoch = k.epoch;
            }
            13..=15 if i >= PERMANENT => {
                register(kq, &[Kevent::new(id, Filter::User, Flags::DELETE)])?;
                entry.deleted = Some(seq.fetch_add(1, Ordering::SeqCst));
                k.registered = false;
            }
            _ => {
                let seq_before = seq.load(Ordering::SeqCst);
                let n = kq.kevent(&[], &mut events, Some(Duration::ZERO))?;
                seen.extend(events[..n].iter().map(|&ev| Seen { ev, seq_before }));
            }
        }
    }
    Ok((ledger, seen, ops))
}

#[test]
fn item40_stress_register_modify_delete_trigger_collect() -> io::Result<()> {
    let limit = Duration::from_secs(20);
    let kq = Arc::new(Kqueue::new()?);
    let seq = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(PRODUCERS + COLLECTORS));
    let start = Instant::now();

    let collectors: Vec<_> = (0..COLLECTORS)
        .map(|_| {
            let (kq, seq, stop, barrier) =
                (Arc::clone(&kq), Arc::clone(&seq), Arc::clone(&stop), Arc::clone(&barrier));
            thread::spawn(move || -> io::Result<Vec<Seen>> {
                barrier.wait();
                let mut seen = Vec::new();
                let mut events = [Kevent::default(); 16];
                while !stop.load(Ordering::SeqCst) {
                    let seq_before = seq.load(Ordering::SeqCst);
                    let n = kq.kevent(&[], &mut events, Some(Duration::from_millis(10)))?;
                    seen.extend(events[..n].iter().map(|&ev| Seen { ev, seq_before }));
                }
                Ok(seen)
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (kq, seq, barrier) = (Arc::clone(&kq), Arc::clone(&seq), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                producer(p, &kq, &seq, start, limit)
            })
        })
        .collect();

    let mut ledger = Ledger::new();
    let mut seen = Vec::new();
    let mut ops = 0;
    for h in producers {
        let (l, s, n) = h.join().unwrap()?;
        ledger.extend(l);
        seen.extend(s);
        ops += n;
    }
    stop.store(true, Ordering::SeqCst);
    for h in collectors {
        seen.extend(h.join().unwrap()?);
    }
    // Final round, with no collector running: trigger every live knote once more. The drain
    // must then return exactly one event per live knote, carrying that last trigger's udata.
    let mut final_triggers = 0;
    for (&(id, gen), g) in ledger.iter_mut() {
        if g.deleted.is_none() {
            let epoch = g.max_epoch + 1;
            register(&kq, &[trigger(id, enc(id, gen, epoch))])?;
            g.first_trigger.get_or_insert(epoch);
            g.last_trigger = Some(epoch);
            g.max_epoch = epoch;
            final_triggers += 1;
        }
    }
    // Drain: every EV_CLEAR event still pending comes out once, then nothing.
    let mut drained = 0;
    for _ in 0..10_000 {
        let seq_before = seq.load(Ordering::SeqCst);
        let got = poll(&kq)?;
        if got.is_empty() {
            break;
        }
        drained += got.len();
        seen.extend(got.iter().map(|&ev| Seen { ev, seq_before }));
    }
    assert!(poll(&kq)?.is_empty(), "the queue does not drain");
    assert_eq!(drained, final_triggers, "one event per live knote after the final triggers");
    let elapsed = start.elapsed();

    // Checks.
    let mut udatas = HashSet::new();
    let mut duplicates = Vec::new();
    let mut after_delete = Vec::new();
    let mut best: HashMap<(usize, u64), u64> = HashMap::new();
    for s in &seen {
        let ev = s.ev;
        assert!(!ev.is_error(), "unexpected error entry {ev:?}");
        assert_eq!(ev.filter, Filter::User, "{ev:?}");
        assert!(ev.flags.contains(Flags::CLEAR), "stored EV_CLEAR is returned: {ev:?}");
        let (id, gen, epoch) = dec(ev.udata);
        assert_eq!(id, ev.ident, "udata of another knote: corrupted event {ev:?}");
        let g = ledger.get(&(id, gen)).unwrap_or_else(|| panic!("unknown generation: {ev:?}"));
        let first = g
            .first_trigger
            .unwrap_or_else(|| panic!("event of a never-triggered generation: {ev:?} {g:?}"));
        assert!(
            first <= epoch && epoch <= g.max_epoch,
            "udata epoch {epoch} outside the triggered range {first}..={} of {ev:?}",
            g.max_epoch
        );
        if !udatas.insert(ev.udata) {
            duplicates.push(ev);
        }
        if g.deleted.is_some_and(|d| d < s.seq_before) {
            after_delete.push((ev, *g));
        }
        let b = best.entry((id, gen)).or_insert(epoch);
        *b = (*b).max(epoch);
    }
    let mut lost = Vec::new();
    let mut live_triggered = 0;
    for (&(id, gen), g) in &ledger {
        if let (None, Some(t)) = (g.deleted, g.last_trigger) {
            live_triggered += 1;
            if !matches!(best.get(&(id, gen)), Some(&b) if b >= t) {
                lost.push((id, gen, t, best.get(&(id, gen)).copied()));
            }
        }
    }

    let stats = kq.lock_stats();
    println!(
        "item40: {ops} producer ops, {} events seen ({drained} drained at the end), {} \
         generations, {live_triggered} live triggered at the end, {:.2?}",
        seen.len(),
        ledger.len(),
        elapsed
    );
    println!("item40 {}", describe("kq lock", &stats));
    println!("item40 {}", describe("poll lock", &kq.poll_lock_stats()));
    assert!(stats.contended <= stats.acquisitions, "{stats:?}");
    assert!(ops >= 10_000, "the stress ran only {ops} operations");
    assert!(
        duplicates.is_empty(),
        "{} duplicate deliveries, e.g. {:?}",
        duplicates.len(),
        &duplicates[..duplicates.len().min(5)]
    );
    assert!(
        after_delete.is_empty(),
        "{} events returned after their knote's EV_DELETE returned, e.g. {:?}",
        after_delete.len(),
        &after_delete[..after_delete.len().min(5)]
    );
    assert!(
        lost.is_empty(),
        "{} lost triggers (ident, gen, last trigger epoch, best seen), e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Lock profiling.

#[test]
fn lock_stats_uncontended_single_thread() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(&kq, &[add(1, Filter::User, Flags::CLEAR)])?;
    let before = kq.lock_stats();
    let mut events = [Kevent::default(); 4];
    for i in 0..1000u64 {
        let n = kq.kevent(&[trigger(1, i)], &mut events, Some(Duration::ZERO))?;
        assert_eq!(n, 1);
        assert_eq!(events[0].udata, i);
    }
    let stats = kq.lock_stats();
    println!("{}", describe("single thread", &stats));
    assert_eq!(stats.contended, 0, "one thread never contends: {stats:?}");
    assert!(stats.acquisitions - before.acquisitions >= 1000, "{before:?} -> {stats:?}");
    Ok(())
}

#[test]
fn lock_stats_contended_under_forced_contention() -> io::Result<()> {
    const THREADS: usize = 6;
    let kq = Arc::new(Kqueue::new()?);
    let changes: Vec<Kevent> = (0..THREADS).map(|t| add(t, Filter::User, Flags::CLEAR)).collect();
    register(&kq, &changes)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let barrier = Arc::new(Barrier::new(THREADS));
    let hammers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (kq, barrier) = (Arc::clone(&kq), Arc::clone(&barrier));
            thread::spawn(move || -> io::Result<u64> {
                barrier.wait();
                let mut events = [Kevent::default(); 8];
                let mut calls = 0;
                while kq.lock_stats().contended == 0 && Instant::now() < deadline {
                    for _ in 0..64 {
                        kq.kevent(&[trigger(t, calls)], &mut events, Some(Duration::ZERO))?;
                        calls += 1;
                    }
                }
                Ok(calls)
            })
        })
        .collect();
    let mut calls = 0;
    for h in hammers {
        calls += h.join().unwrap()?;
    }
    let stats = kq.lock_stats();
    println!("{} after {calls} calls", describe("forced contention", &stats));
    assert!(
        stats.contended > 0,
        "{THREADS} threads hammering one kqueue never contended: {stats:?}"
    );
    assert!(stats.contended <= stats.acquisitions, "{stats:?}");
    assert!(stats.acquisitions >= calls, "every call takes the lock: {stats:?}, {calls} calls");
    if cfg!(feature = "lock-profiling") {
        // Contended acquisitions waited, and every acquisition held the lock for some time.
        assert!(stats.wait_ns_total > 0 && stats.wait_ns_max > 0, "{stats:?}");
        assert!(stats.wait_ns_max <= stats.wait_ns_total, "{stats:?}");
        assert!(stats.hold_ns_total > 0 && stats.hold_ns_max <= stats.hold_ns_total, "{stats:?}");
    } else {
        assert_eq!((stats.wait_ns_total, stats.hold_ns_total), (0, 0), "{stats:?}");
    }
    Ok(())
}
