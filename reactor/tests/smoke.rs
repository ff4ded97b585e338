//! A first end-to-end check: pipe, user event, timer.
// Unix-only: pipes and Unix sockets (the Windows socket cases are in windows_sockets.rs).
#![cfg(unix)]
mod util;
use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use std::time::Duration;
use util::*;

#[test]
fn pipe_user_timer() -> std::io::Result<()> {
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    register(&kq, &[add(ident(&r), Filter::Read, Flags::empty()).with_udata(1)])?;
    assert!(poll(&kq)?.is_empty());
    write_fd(&w, b"hello")?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].data, 5);
    assert_eq!(ev[0].udata, 1);
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1, "level: fires again");
    read_fd(&r, 5)?;
    assert!(poll(&kq)?.is_empty());
    register(&kq, &[add(9, Filter::User, Flags::CLEAR)])?;
    kq.kevent(
        &[Kevent::new(9, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)],
        &mut [],
        None,
    )?;
    let ev = poll(&kq)?;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].filter, Filter::User);
    register(&kq, &[add(3, Filter::Timer, Flags::ONESHOT).with_data(20)])?;
    let ev = collect(&kq, Some(Duration::from_secs(5)))?;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].filter, Filter::Timer);
    assert_eq!(ev[0].data, 1);
    Ok(())
}
