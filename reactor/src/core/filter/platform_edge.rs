//! EVFILT_PROC and EVFILT_SIGNAL: a process or the deliveries of a signal, watched and counted by
//! the platform (a pidfd, a signal handler and a pipe, a kernel knote); EV_CLEAR is implicit.
//! The two filters share every operation: what differs (validation, decoding) lives in the
//! platform's sources (`sys/linux/{proc,signal}.rs`, `sys/native/{proc,signal}.rs`).

use std::time::Instant;

use super::{Attached, Fds, FilterOps};
use crate::core::{Core, Io, Knote};
use crate::kevent::{Flags, Kevent};

pub(super) struct PlatformEdge;

impl<S: 'static> FilterOps<S> for PlatformEdge {
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
