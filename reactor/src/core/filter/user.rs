//! EVFILT_USER: an event triggered by the program. `triggered` is FreeBSD's `kn_hookid`; the
//! stored fflags are changed by the `NOTE_FF*` operations, and a delivery carries the stored
//! fflags and data.

use std::time::Instant;

use super::{Attached, Fds, FilterOps};
use crate::core::{Core, Io, Kind, Knote};
use crate::kevent::{note, Flags, Kevent};

pub(super) struct User;

impl<S: 'static> FilterOps<S> for User {
    fn attach(
        &self,
        _core: &mut Core<S>,
        kev: &Kevent,
        _identity: Option<(u64, u64)>,
        _io: &mut dyn Io<S>,
        _now: Instant,
    ) -> Result<Attached<S>, i32> {
        let kind = Kind::User { triggered: kev.fflags & note::TRIGGER != 0 };
        Ok(Attached { sfflags: kev.fflags & note::FFLAGSMASK, ..Attached::new(kind, kev) })
    }

    fn detach(&self, _core: &mut Core<S>, _kn: &Knote<S>, _io: &mut dyn Io<S>) {}

    fn event(&self, kn: &mut Knote<S>, _fds: &Fds, _io: &mut dyn Io<S>) -> Result<bool, ()> {
        Ok(matches!(kn.kind, Kind::User { triggered: true }))
    }

    fn touch(&self, core: &mut Core<S>, key: usize, kev: &Kevent, _now: Instant) {
        let kn = &mut core.knotes[key];
        let Kind::User { triggered } = &mut kn.kind else { return };
        if kev.fflags & note::TRIGGER != 0 {
            *triggered = true;
        }
        let ff = kev.fflags & note::FFLAGSMASK;
        match kev.fflags & note::FFCTRLMASK {
            note::FFAND => kn.sfflags &= ff,
            note::FFOR => kn.sfflags |= ff,
            note::FFCOPY => kn.sfflags = ff,
            _ => {}
        }
        kn.sdata = kev.data;
        if kev.flags.contains(Flags::CLEAR) {
            *triggered = false;
            kn.data = 0;
            kn.fflags = 0;
        }
    }

    fn deliver(&self, kn: &Knote<S>, ev: &mut Kevent) {
        ev.fflags = kn.sfflags;
        ev.data = kn.sdata;
    }

    fn clear(&self, kn: &mut Knote<S>) {
        kn.data = 0;
        kn.fflags = 0;
        if let Kind::User { triggered } = &mut kn.kind {
            *triggered = false;
        }
    }
}
