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
