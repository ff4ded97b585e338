//! Windows (under wine in CI): a timer and a user event, the filters the core provides alone.
#![cfg(windows)]

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use std::time::Duration;

#[test]
fn timer_and_user() -> std::io::Result<()> {
    let kq = Kqueue::new()?;
    kq.kevent(
        &[Kevent::new(3, Filter::Timer, Flags::ADD | Flags::ONESHOT).with_data(20)],
        &mut [],
        None,
    )?;
    let mut ev = [Kevent::default(); 4];
    let n = kq.kevent(&[], &mut ev, Some(Duration::from_secs(10)))?;
    assert_eq!(n, 1);
    assert_eq!((ev[0].filter, ev[0].data), (Filter::Timer, 1));
    let trigger =
        Kevent::new(9, Filter::User, Flags::ADD | Flags::CLEAR).with_fflags(note::TRIGGER);
    let n = kq.kevent(&[trigger], &mut ev, Some(Duration::ZERO))?;
    assert_eq!((n, ev[0].filter), (1, Filter::User));
    Ok(())
}

#[test]
fn user_trigger_from_another_thread_wakes_a_blocked_kevent() -> std::io::Result<()> {
    let kq = std::sync::Arc::new(Kqueue::new()?);
    kq.kevent(&[Kevent::new(5, Filter::User, Flags::ADD | Flags::CLEAR)], &mut [], None)?;
    let kq2 = kq.clone();
    let waiter = std::thread::spawn(move || -> std::io::Result<Vec<Kevent>> {
        let mut ev = [Kevent::default(); 4];
        // Bounded: a lost wake-up fails the test instead of hanging it.
        let n = kq2.kevent(&[], &mut ev, Some(Duration::from_secs(30)))?;
        Ok(ev[..n].to_vec())
    });
    std::thread::sleep(Duration::from_millis(50));
    let trigger = Kevent::new(5, Filter::User, Flags::empty()).with_fflags(note::TRIGGER);
    kq.kevent(&[trigger], &mut [], None)?;
    let events = waiter.join().expect("waiter panicked")?;
    assert_eq!(events.len(), 1, "woken by the trigger, not the timeout");
    assert_eq!((events[0].ident, events[0].filter), (5, Filter::User));
    Ok(())
}

#[test]
fn periodic_timer_counts_expirations() -> std::io::Result<()> {
    let kq = Kqueue::new()?;
    kq.kevent(&[Kevent::new(1, Filter::Timer, Flags::ADD).with_data(10)], &mut [], None)?;
    std::thread::sleep(Duration::from_millis(100));
    let mut ev = [Kevent::default(); 4];
    let n = kq.kevent(&[], &mut ev, Some(Duration::from_secs(10)))?;
    assert_eq!(n, 1);
    assert!(ev[0].data >= 5, "about 10 expirations in 100 ms, got {}", ev[0].data);
    Ok(())
}
