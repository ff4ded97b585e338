//! EVFILT_SIGNAL: deliveries of a signal, counted by the platform (a handler and a pipe, a kernel
//! knote); EV_CLEAR is implicit.

use std::time::Instant;

use super::{Attached, Fds, FilterOps};
use crate::core::{Core, Io, Knote};
use crate::kevent::{Flags, Kevent};

pub(super) struct Signal;

impl<S: 'static> FilterOps<S> for Signal {
    fn attach(
        &self,
        _core: &mut Core<S>,
        kev: &Kevent,
        _identity: Option<(u64, u64)>,
        io: &mut dyn Io<S>,
        _now: Instant,
    ) -> Result<Attached<S>, i32> {
        let kind = io.attach_os(kev)?;
        Ok(Attached { flags: Flags::CLEAR, ..Attached::new(kind, kev) })
    }

    fn detach(&self, _core: &mut Core<S>, kn: &Knote<S>, io: &mut dyn Io<S>) {
        io.detach_os(kn);
    }

    fn event(&self, kn: &mut Knote<S>, _fds: &Fds, io: &mut dyn Io<S>) -> Result<bool, ()> {
        io.evaluate(kn)
    }
}
