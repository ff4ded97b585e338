//! EVFILT_SIGNAL: deliveries of a signal, counted by the platform (a handler and a pipe, a kernel
//! knote); EV_CLEAR is implicit.

use std::time::Instant;

use super::{Attached, Fds, FilterOps};
use crate::core::{Core, Io, Knote};
use crate::kevent::{Flags, Kevent};

pub(super) struct Signal;

impl FilterOps for Signal {
    fn attach(
        &self,
        _core: &mut Core,
        kev: &Kevent,
        _identity: Option<(u64, u64)>,
        io: &mut dyn Io,
        _now: Instant,
    ) -> Result<Attached, i32> {
        let kind = io.attach_os(kev)?;
        Ok(Attached { flags: Flags::CLEAR, ..Attached::new(kind, kev) })
    }

    fn detach(&self, _core: &mut Core, kn: &Knote, io: &mut dyn Io) {
        io.detach_os(kn);
    }

    fn event(&self, kn: &mut Knote, _fds: &Fds, io: &mut dyn Io) -> Result<bool, ()> {
        io.evaluate(kn)
    }
}
