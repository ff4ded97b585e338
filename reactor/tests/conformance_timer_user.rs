//! Conformance checklist items 36 (TIMER) and 37 (USER) of KQUEUE.md section 7, in detail.
//!
//! Timer tests sleep or wait because time is their subject; they only assert lower bounds on
//! elapsed time (a loaded machine may be late, never early) and wait generously for events.
mod util;

use std::io;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

/// The longest a test waits for a timer that should fire.
const PATIENCE: Duration = Duration::from_secs(20);

/// Applies `changes` with room for `changes.len()` echoes and a zero timeout.
fn call(kq: &Kqueue, changes: &[Kevent]) -> io::Result<Vec<Kevent>> {
    let mut events = vec![Kevent::default(); changes.len().max(1)];
    let n = kq.kevent(changes, &mut events, Some(Duration::ZERO))?;
    events.truncate(n);
    Ok(events)
}

/// Asserts that applying `change` is echoed as an error entry with `errno`.
fn assert_errno(kq: &Kqueue, change: Kevent, errno: i32) -> io::Result<()> {
    let out = call(kq, &[change])?;
    assert_eq!(out.len(), 1, "expected an ERROR entry for {change:?}, got {out:?}");
    assert_eq!(out[0].flags, Flags::ERROR, "{:?}", out[0]);
    assert_eq!(out[0].data, i64::from(errno), "errno of {change:?}: {:?}", out[0]);
    assert_eq!(
        (out[0].ident, out[0].filter, out[0].udata),
        (change.ident, change.filter, change.udata)
    );
    Ok(())
}

/// Waits (up to [`PATIENCE`]) for the first non-empty batch of events.
fn wait_events(kq: &Kqueue) -> io::Result<Vec<Kevent>> {
    let end = Instant::now() + PATIENCE;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let ev = collect(kq, Some(left))?;
        if !ev.is_empty() || left.is_zero() {
            return Ok(ev);
        }
    }
}

/// Adds a timer, waits for its first event and returns it with the time it took.
fn time_first_fire(fflags: u32, data: i64, flags: Flags) -> io::Result<(Kevent, Duration)> {
    let kq = Kqueue::new()?;
    let start = Instant::now();
    register(
        &kq,
        &[add(1, Filter::Timer, flags).with_fflags(fflags).with_data(data).with_udata(36)],
    )?;
    let ev = wait_events(&kq)?;
    let took = start.elapsed();
    assert_eq!(ev.len(), 1, "the timer did not fire within {PATIENCE:?}: {ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter, ev[0].udata), (1, Filter::Timer, 36));
    Ok((ev[0], took))
}

/// Seconds since the Unix epoch, now.
fn epoch_secs() -> io::Result<i64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH).map_err(io::Error::other)?.as_secs() as i64)
}

fn trigger(id: usize) -> Kevent {
    Kevent::new(id, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)
}

fn user_change(id: usize, flags: Flags, fflags: u32) -> Kevent {
    Kevent::new(id, Filter::User, flags).with_fflags(fflags)
}

// ---------------------------------------------------------------------------------------------
// 36. TIMER
// ---------------------------------------------------------------------------------------------

#[test]
fn timer_default_unit_is_milliseconds() -> io::Result<()> {
    // 300 as microseconds or nanoseconds would fire at once; as seconds, never within PATIENCE.
    let (ev, took) = time_first_fire(0, 300, Flags::ONESHOT)?;
    assert!(took >= Duration::from_millis(300), "fired after {took:?}, before 300 ms");
    assert_eq!(ev.data, 1);
    Ok(())
}

#[test]
fn timer_mseconds_unit() -> io::Result<()> {
    let (ev, took) = time_first_fire(note::MSECONDS, 300, Flags::ONESHOT)?;
    assert!(took >= Duration::from_millis(300), "fired after {took:?}, before 300 ms");
    assert_eq!(ev.data, 1);
    Ok(())
}

#[test]
fn timer_seconds_unit() -> io::Result<()> {
    let (ev, took) = time_first_fire(note::SECONDS, 1, Flags::ONESHOT)?;
    assert!(took >= Duration::from_secs(1), "fired after {took:?}, before 1 s");
    assert_eq!(ev.data, 1);
    Ok(())
}

#[test]
fn timer_useconds_unit() -> io::Result<()> {
    // 300_000 us = 300 ms; read as ms it would be 300 s and not fire within PATIENCE.
    let (ev, took) = time_first_fire(note::USECONDS, 300_000, Flags::ONESHOT)?;
    assert!(took >= Duration::from_millis(300), "fired after {took:?}, before 300 ms");
    assert_eq!(ev.data, 1);
    Ok(())
}

#[test]
fn timer_nseconds_unit() -> io::Result<()> {
    // 300_000_000 ns = 300 ms.
    let (ev, took) = time_first_fire(note::NSECONDS, 300_000_000, Flags::ONESHOT)?;
    assert!(took >= Duration::from_millis(300), "fired after {took:?}, before 300 ms");
    assert_eq!(ev.data, 1);
    Ok(())
}

#[test]
fn timer_periodic_first_fire_waits_one_period() -> io::Result<()> {
    let (ev, took) = time_first_fire(note::MSECONDS, 200, Flags::empty())?;
    assert!(took >= Duration::from_millis(200), "fired after {took:?}, before 200 ms");
    assert!(ev.data >= 1);
    assert!(ev.flags.contains(Flags::CLEAR), "TIMER is EV_CLEAR implicitly: {ev:?}");
    Ok(())
}

#[test]
fn timer_periodic_data_counts_missed_ticks() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let start = Instant::now();
    register(&kq, &[add(1, Filter::Timer, Flags::empty()).with_data(20).with_udata(1)])?;
    // Time is the subject: let about ten periods go by without collecting.
    std::thread::sleep(Duration::from_millis(200));
    let ev = poll(&kq)?;
    let elapsed = start.elapsed();
    assert_eq!(ev.len(), 1, "one event for all expirations: {ev:?}");
    assert!(ev[0].data >= 2, "data must count the missed ticks: {:?}", ev[0]);
    // Never more expirations than periods elapsed.
    let max = (elapsed.as_millis() / 20) as i64;
    assert!(ev[0].data <= max, "{} expirations in {elapsed:?} of 20 ms periods", ev[0].data);
    assert_eq!(ev[0].flags, Flags::CLEAR);
    // It keeps going: periodic.
    let ev = wait_events(&kq)?;
    assert_eq!(ev.len(), 1, "periodic timer fires again: {ev:?}");
    assert!(ev[0].data >= 1);
    assert_eq!(kq.len(), 1);
    Ok(())
}

#[test]
fn timer_oneshot_fires_once_then_is_gone() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(&kq, &[add(1, Filter::Timer, Flags::ONESHOT).with_data(10).with_udata(7)])?;
    let ev = wait_events(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].data, ev[0].udata), (1, 7));
    assert_eq!(ev[0].flags, Flags::ONESHOT | Flags::CLEAR);
    assert!(kq.is_empty(), "ONESHOT: deleted after delivery");
    assert_errno(&kq, Kevent::new(1, Filter::Timer, Flags::DELETE), libc::ENOENT)?;
    // Time is the subject: a while longer, and it must not come back.
    assert!(collect(&kq, Some(Duration::from_millis(100)))?.is_empty());
    Ok(())
}

#[test]
fn timer_negative_data_is_einval() -> io::Result<()> {
    let kq = Kqueue::new()?;
    for flags in [Flags::empty(), Flags::ONESHOT] {
        for fflags in [0, note::SECONDS, note::MSECONDS, note::USECONDS, note::NSECONDS] {
            let c = add(1, Filter::Timer, flags).with_fflags(fflags).with_data(-1).with_udata(9);
            assert_errno(&kq, c, libc::EINVAL)?;
        }
        assert_errno(&kq, add(1, Filter::Timer, flags).with_data(i64::MIN), libc::EINVAL)?;
    }
    assert!(kq.is_empty(), "a refused timer must not be created");
    Ok(())
}

// Issue 8, item 8: re-adding an existing TIMER with an invalid request is not a change error on
// FreeBSD (filt_timertouch): the change succeeds, the timer is stopped and its undelivered
// expirations are thrown away; the knote stays, silent, until a valid re-add restarts it.
#[test]
fn timer_readd_with_invalid_data_stops_the_timer() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let past = epoch_secs()? - 10;
    for (k, (fflags, data)) in
        [(note::MSECONDS, -1), (note::SECONDS | note::MSECONDS, 5), (0x0100, 5)]
            .into_iter()
            .enumerate()
    {
        let id = 10 + k;
        // Due at once (ABSTIME in the past): an expiration is pending when the re-add comes.
        let first = add(id, Filter::Timer, Flags::empty())
            .with_fflags(note::ABSTIME | note::SECONDS)
            .with_data(past);
        register(&kq, &[first])?;
        let bad = add(id, Filter::Timer, Flags::RECEIPT).with_fflags(fflags).with_data(data);
        let ev = call(&kq, &[bad.with_udata(5)])?;
        assert_eq!(ev.len(), 1, "{fflags:#x}/{data}: one receipt: {ev:?}");
        assert_eq!((ev[0].flags, ev[0].data, ev[0].udata), (Flags::ERROR, 0, 5), "no error");
        assert_eq!(kq.len(), 1, "the knote stays");
        assert_quiet(&kq, "the stopped timer, and its discarded expiration")?;
        // A valid re-add restarts it (periodic: the stored flags are those of the creation).
        register(&kq, &[add(id, Filter::Timer, Flags::empty()).with_data(1).with_udata(6)])?;
        let evs = wait_events(&kq)?;
        assert_eq!((evs[0].ident, evs[0].udata), (id, 6), "{evs:?}");
        assert!(evs[0].data >= 1 && !evs[0].flags.contains(Flags::ERROR), "{evs:?}");
        register(&kq, &[Kevent::new(id, Filter::Timer, Flags::DELETE)])?;
    }
    Ok(())
}

#[test]
fn timer_unknown_unit_bits_are_einval() -> io::Result<()> {
    let kq = Kqueue::new()?;
    for fflags in [
        note::SECONDS | note::MSECONDS,
        note::USECONDS | note::NSECONDS,
        note::SECONDS | note::MSECONDS | note::USECONDS | note::NSECONDS,
        0x0100,
        note::MSECONDS | 0x0100,
        0x8000_0000,
    ] {
        assert_errno(
            &kq,
            add(1, Filter::Timer, Flags::empty()).with_fflags(fflags).with_data(5),
            libc::EINVAL,
        )?;
    }
    assert!(kq.is_empty());
    Ok(())
}

#[test]
fn timer_readd_restarts_the_period() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(&kq, &[add(1, Filter::Timer, Flags::ONESHOT).with_data(300)])?;
    std::thread::sleep(Duration::from_millis(200));
    let readded = Instant::now();
    register(&kq, &[add(1, Filter::Timer, Flags::ONESHOT).with_data(300).with_udata(2)])?;
    let ev = wait_events(&kq)?;
    let took = readded.elapsed();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].data, ev[0].udata), (1, 2));
    assert!(took >= Duration::from_millis(300), "counted from the re-add: fired after {took:?}");
    Ok(())
}

#[test]
fn timer_readd_discards_pending_expirations() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(&kq, &[add(1, Filter::Timer, Flags::empty()).with_data(10)])?;
    std::thread::sleep(Duration::from_millis(100));
    // Several expirations are due (not yet collected); re-adding with one hour throws them away.
    register(
        &kq,
        &[add(1, Filter::Timer, Flags::empty()).with_fflags(note::SECONDS).with_data(3600)],
    )?;
    assert!(poll(&kq)?.is_empty(), "pending expirations must be discarded by the re-add");

    // The same when the expiration was already queued: a level USER knote ahead of the timer
    // takes the only slot, the timer fires and is queued behind it, then the timer is re-added.
    register(&kq, &[add(2, Filter::Timer, Flags::empty()).with_data(10)])?;
    register(&kq, &[add(9, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)])?;
    std::thread::sleep(Duration::from_millis(50));
    let mut one = [Kevent::default(); 1];
    let n = kq.kevent(&[], &mut one, Some(Duration::ZERO))?;
    assert_eq!(n, 1);
    assert_eq!(one[0].filter, Filter::User, "the USER event was queued first: {:?}", one[0]);
    register(
        &kq,
        &[add(2, Filter::Timer, Flags::empty()).with_fflags(note::SECONDS).with_data(3600)],
    )?;
    let ev = poll(&kq)?;
    assert!(
        ev.iter().all(|e| e.filter != Filter::Timer),
        "re-add discards a queued expiration: {ev:?}"
    );
    assert_eq!(ev.len(), 1, "{ev:?}");
    Ok(())
}

#[test]
fn timer_abstime_in_the_past_fires_at_once() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let past = epoch_secs()? - 10;
    register(
        &kq,
        &[add(1, Filter::Timer, Flags::empty())
            .with_fflags(note::ABSTIME | note::SECONDS)
            .with_data(past)
            .with_udata(5)],
    )?;
    let ev = wait_events(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter, ev[0].data, ev[0].udata), (1, Filter::Timer, 1, 5));
    // ABSTIME is not periodic: nothing more.
    assert!(collect(&kq, Some(Duration::from_millis(100)))?.is_empty());

    // Milliseconds since the epoch (the default unit), also in the past.
    let past_ms = past * 1000;
    register(
        &kq,
        &[add(2, Filter::Timer, Flags::ONESHOT).with_fflags(note::ABSTIME).with_data(past_ms)],
    )?;
    let ev = wait_events(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].data), (2, 1));
    Ok(())
}

#[test]
fn timer_abstime_in_the_future_waits() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let at = SystemTime::now() + Duration::from_millis(1500);
    let at_ms = at.duration_since(UNIX_EPOCH).map_err(io::Error::other)?.as_millis() as i64;
    register(
        &kq,
        &[add(1, Filter::Timer, Flags::empty())
            .with_fflags(note::ABSTIME | note::MSECONDS)
            .with_data(at_ms)],
    )?;
    assert!(poll(&kq)?.is_empty(), "1.5 s in the future: not yet");
    let ev = wait_events(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    let at_truncated = UNIX_EPOCH + Duration::from_millis(at_ms as u64);
    assert!(SystemTime::now() >= at_truncated, "fired before its absolute time");
    Ok(())
}

#[test]
fn timer_period_zero_becomes_one_unit() -> io::Result<()> {
    // data 0 in seconds: a period of 1 s, not a timer that fires continuously.
    let (ev, took) = time_first_fire(note::SECONDS, 0, Flags::empty())?;
    assert!(took >= Duration::from_secs(1), "period 0 must become 1 s, fired after {took:?}");
    assert!(ev.data >= 1);
    // data 0 in milliseconds still fires (after 1 ms).
    let (ev, _) = time_first_fire(0, 0, Flags::empty())?;
    assert!(ev.data >= 1);
    Ok(())
}

#[test]
fn timer_delete_before_expiry_gives_no_event() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(&kq, &[add(1, Filter::Timer, Flags::empty()).with_data(50)])?;
    register(&kq, &[Kevent::new(1, Filter::Timer, Flags::DELETE)])?;
    assert!(collect(&kq, Some(Duration::from_millis(200)))?.is_empty());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 37. USER
// ---------------------------------------------------------------------------------------------

#[test]
fn user_nothing_until_trigger() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(
        &kq,
        &[add(1, Filter::User, Flags::empty()).with_fflags(0x5).with_data(3).with_udata(1)],
    )?;
    assert!(poll(&kq)?.is_empty());
    // Modifies that do not trigger do not fire either.
    register(&kq, &[user_change(1, Flags::empty(), note::FFOR | 0x10).with_udata(1)])?;
    register(&kq, &[add(1, Filter::User, Flags::empty()).with_udata(1)])?;
    register(&kq, &[user_change(1, Flags::ENABLE, 0).with_udata(1)])?;
    assert!(poll(&kq)?.is_empty());
    register(&kq, &[trigger(1).with_udata(1).with_data(4)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].ident, ev[0].filter, ev[0].udata), (1, Filter::User, 1));
    assert_eq!(ev[0].fflags, 0x15, "fflags out = stored flags");
    assert_eq!(ev[0].data, 4, "data = the data of the last modify");
    Ok(())
}

#[test]
fn user_triggers_merge_into_one_event() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(&kq, &[add(1, Filter::User, Flags::CLEAR)])?;
    register(&kq, &[trigger(1)])?;
    register(&kq, &[trigger(1)])?;
    register(&kq, &[trigger(1), trigger(1), trigger(1)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "five triggers, one event: {ev:?}");
    assert!(poll(&kq)?.is_empty());
    // The same with a small buffer: still one.
    register(&kq, &[trigger(1), trigger(1)])?;
    let mut events = [Kevent::default(); 2];
    assert_eq!(kq.kevent(&[], &mut events, Some(Duration::ZERO))?, 1);
    assert!(poll(&kq)?.is_empty());
    Ok(())
}

#[test]
fn user_fflags_operations_act_on_low_24_bits() -> io::Result<()> {
    let kq = Kqueue::new()?;
    let fire = |kq: &Kqueue, fflags: u32| -> io::Result<Kevent> {
        register(kq, &[user_change(1, Flags::empty(), note::TRIGGER | fflags)])?;
        let ev = poll(kq)?;
        assert_eq!(ev.len(), 1, "{ev:?}");
        Ok(ev[0])
    };
    register(&kq, &[add(1, Filter::User, Flags::CLEAR).with_fflags(0x0f)])?;
    assert_eq!(fire(&kq, note::FFNOP)?.fflags, 0x0f);
    assert_eq!(fire(&kq, note::FFOR | 0x30)?.fflags, 0x3f);
    assert_eq!(fire(&kq, note::FFAND | 0x0f0f)?.fflags, 0x0f);
    assert_eq!(fire(&kq, note::FFCOPY | 0x00ab_cdef)?.fflags, 0x00ab_cdef);
    // Bits above the low 24 (the trigger bit, the spare bits under the control bits) are never
    // stored or delivered.
    assert_eq!(fire(&kq, note::FFCOPY | 0x3e00_0012)?.fflags, 0x12);
    assert_eq!(fire(&kq, note::FFOR | 0x3eff_ffff)?.fflags, note::FFLAGSMASK);
    assert_eq!(fire(&kq, note::FFAND | 0x3e00_0001)?.fflags, 0x1);
    assert_eq!(fire(&kq, note::FFCOPY | note::FFLAGSMASK)?.fflags, note::FFLAGSMASK);
    assert_eq!(fire(&kq, note::FFAND)?.fflags, 0);
    // Without NOTE_TRIGGER the operation still applies, delivered at the next trigger.
    register(&kq, &[user_change(1, Flags::empty(), note::FFOR | 0x80_0000)])?;
    assert!(poll(&kq)?.is_empty());
    assert_eq!(fire(&kq, note::FFNOP)?.fflags, 0x80_0000);
    // The stored flags are delivered every time, not just the changed ones, and CLEAR does not
    // reset them.
    assert_eq!(fire(&kq, note::FFNOP)?.fflags, 0x80_0000);
    // The flags given at creation are the initial stored flags.
    register(&kq, &[add(2, Filter::User, Flags::CLEAR).with_fflags(0x12_3456)])?;
    register(&kq, &[user_change(2, Flags::empty(), note::TRIGGER)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].fflags, 0x12_3456);
    Ok(())
}

#[test]
fn user_without_clear_stays_triggered_until_modify_with_clear() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(&kq, &[add(1, Filter::User, Flags::empty()).with_udata(1)])?;
    register(&kq, &[trigger(1).with_udata(1)])?;
    for round in 0..3 {
        let ev = poll(&kq)?;
        assert_eq!(ev.len(), 1, "round {round}: still triggered: {ev:?}");
        assert_eq!(ev[0].flags, Flags::empty());
    }
    // A modify without EV_CLEAR leaves it triggered.
    register(&kq, &[user_change(1, Flags::empty(), note::FFOR | 1).with_udata(2)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].udata, ev[0].fflags), (2, 1));
    // A modify with EV_CLEAR resets it (and does not make the knote edge-triggered).
    register(&kq, &[user_change(1, Flags::CLEAR, 0).with_udata(3)])?;
    assert!(poll(&kq)?.is_empty(), "EV_CLEAR modify un-triggers the knote");
    register(&kq, &[trigger(1).with_udata(3)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].flags, Flags::empty(), "stored flags unchanged by the EV_CLEAR modify");
    assert_eq!(poll(&kq)?.len(), 1, "level again after the re-trigger");
    // EV_ADD|EV_CLEAR on the existing knote resets it as well.
    register(&kq, &[add(1, Filter::User, Flags::CLEAR).with_udata(3)])?;
    assert!(poll(&kq)?.is_empty());
    Ok(())
}

#[test]
fn user_with_clear_fires_once_per_trigger() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(&kq, &[add(1, Filter::User, Flags::CLEAR).with_udata(1)])?;
    for _ in 0..3 {
        register(&kq, &[trigger(1).with_udata(1)])?;
        let ev = poll(&kq)?;
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].flags, Flags::CLEAR);
        assert!(poll(&kq)?.is_empty());
    }
    Ok(())
}

#[test]
fn user_dispatch_then_enable_rearms() -> io::Result<()> {
    let kq = Kqueue::new()?;
    // DISPATCH|CLEAR: one event per trigger, and only while enabled.
    register(&kq, &[add(1, Filter::User, Flags::DISPATCH | Flags::CLEAR).with_udata(1)])?;
    register(&kq, &[trigger(1).with_udata(1)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].flags, Flags::DISPATCH | Flags::CLEAR);
    register(&kq, &[trigger(1).with_udata(1)])?;
    assert!(poll(&kq)?.is_empty(), "dispatched: disabled");
    register(&kq, &[user_change(1, Flags::ENABLE, 0).with_udata(1)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "the trigger that came while disabled is delivered: {ev:?}");
    assert_eq!(ev[0].flags, Flags::DISPATCH | Flags::CLEAR, "the flag persists");
    register(&kq, &[user_change(1, Flags::ENABLE, 0).with_udata(1)])?;
    assert!(poll(&kq)?.is_empty(), "cleared by the delivery: enabling alone gives nothing");
    register(&kq, &[trigger(1).with_udata(1)])?;
    assert_eq!(poll(&kq)?.len(), 1);
    assert!(poll(&kq)?.is_empty());

    // DISPATCH without CLEAR: still triggered after delivery, so each EV_ENABLE re-delivers.
    register(&kq, &[add(2, Filter::User, Flags::DISPATCH).with_udata(2)])?;
    register(&kq, &[trigger(2).with_udata(2)])?;
    assert_eq!(poll(&kq)?.len(), 1);
    assert!(poll(&kq)?.is_empty());
    register(&kq, &[user_change(2, Flags::ENABLE, 0).with_udata(2)])?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].flags, Flags::DISPATCH);
    assert!(poll(&kq)?.is_empty());
    Ok(())
}

#[test]
fn user_disable_keeps_trigger_for_enable() -> io::Result<()> {
    let kq = Kqueue::new()?;
    register(&kq, &[add(1, Filter::User, Flags::CLEAR | Flags::DISABLE).with_udata(1)])?;
    register(&kq, &[trigger(1).with_udata(1)])?;
    assert!(poll(&kq)?.is_empty());
    register(&kq, &[user_change(1, Flags::ENABLE, 0).with_udata(1)])?;
    assert_eq!(poll(&kq)?.len(), 1);
    Ok(())
}

/// A failed change with no room to echo it fails the call; `errno_of` gives its errno on every
/// platform (on Windows the raw OS code cannot hold an errno: the reactor carries it inside).
#[test]
fn errno_of_a_failed_call_is_the_kqueue_errno_everywhere() -> std::io::Result<()> {
    let kq = kq_reactor::Kqueue::new()?;
    let delete = kq_reactor::Kevent::new(77, kq_reactor::Filter::User, kq_reactor::Flags::DELETE);
    let err = kq.kevent(&[delete], &mut [], None).expect_err("no such knote");
    assert_eq!(kq_reactor::errno_of(&err), Some(libc::ENOENT), "{err}");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    let bad = kq_reactor::Kevent::new(1, kq_reactor::Filter::Unknown(-99), kq_reactor::Flags::ADD);
    let err = kq.kevent(&[bad], &mut [], None).expect_err("unknown filter");
    assert_eq!(kq_reactor::errno_of(&err), Some(libc::EINVAL), "{err}");
    assert_eq!(kq_reactor::errno_of(&std::io::Error::other("not ours")), None);
    Ok(())
}
