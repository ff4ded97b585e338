//! EVFILT_READ and EVFILT_WRITE: a file descriptor, or another kqueue (nesting, READ only). The
//! platform evaluates the fd (`Io::evaluate`); a knote with `NOTE_NODATA` and an edge mode takes
//! the backend's edges as they are.

use std::time::Instant;

use super::{Attached, Fds, FilterOps};
use crate::core::{ready, Core, Io, Kind, Knote, Status};
use crate::kevent::{note, Filter, Flags, Kevent};

pub(super) struct ReadWrite;

impl<S: 'static> FilterOps<S> for ReadWrite {
    fn is_fd(&self) -> bool {
        true
    }

    fn attach(
        &self,
        core: &mut Core<S>,
        kev: &Kevent,
        identity: Option<(u64, u64)>,
        io: &mut dyn Io<S>,
        _now: Instant,
    ) -> Result<Attached<S>, i32> {
        let identity = identity.ok_or(libc::EBADF)?;
        let first = !core.has(kev.ident, Filter::Read) && !core.has(kev.ident, Filter::Write);
        let kind = io.attach_fd(kev, identity, first)?;
        core.fds.insert(kev.ident, identity);
        Ok(Attached { first, ..Attached::new(kind, kev) })
    }

    fn start(&self, core: &mut Core<S>, key: usize, first: bool, io: &mut dyn Io<S>) {
        let kn = &core.knotes[key];
        if self.trusts_edges(kn) && io.arm_edges(kn, first) {
            // The backend reports the current readiness as an edge: no evaluation needed.
            return;
        }
        core.evaluate_and_queue(key, io);
    }

    fn detach(&self, core: &mut Core<S>, kn: &Knote<S>, io: &mut dyn Io<S>) {
        let last = !core.has(kn.ident, Filter::Read) && !core.has(kn.ident, Filter::Write);
        io.detach_fd(kn, last);
    }

    fn event(&self, kn: &mut Knote<S>, _fds: &Fds, io: &mut dyn Io<S>) -> Result<bool, ()> {
        // The platform checks the file's identity as it evaluates it.
        io.evaluate(kn)
    }

    fn trusts_edges(&self, kn: &Knote<S>) -> bool {
        kn.trusts_edges()
    }
}

impl<S: 'static> Core<S> {
    /// The backend reported readiness `ready` (`ready::*` bits) on the fd of `key`: a knote that
    /// trusts edges takes it as is; the others are evaluated against the source.
    pub fn activate_edge(&mut self, key: usize, ready: u8, io: &mut dyn Io<S>) {
        let Some(kn) = self.knotes.get_mut(key) else { return };
        // A pending socket error alone (`ERR` without a hang-up: a UDP socket told of an ICMP
        // port-unreachable) makes a READ knote fire without EV_EOF, as FreeBSD's filt_soread
        // reports `so_error` (EV_EOF only once the socket can receive no more): the next read
        // returns the error and clears it. Taken as EOF, it left a runtime's socket "closed for
        // reading" for good, and every later receive found WouldBlock and spun.
        let (want, hup) = match kn.filter {
            Filter::Write => (ready::WRITE | ready::WRHUP | ready::ERR, ready::WRHUP | ready::ERR),
            _ => (ready::READ | ready::RDHUP | ready::ERR, ready::RDHUP),
        };
        let trusted = kn.ops.trusts_edges(kn);
        // The collection evaluates every queued knote that is not ONESHOT (or trusts edges)
        // before delivering it, so an fd knote is queued on an edge of its direction and
        // evaluated once, there: evaluating it here as well cost an `fstat` and a `poll` more
        // per event. Evaluated now: a ONESHOT knote (delivered as activated), a NOTE_LOWAT one
        // (an edge below its watermark must not queue it, or a kqueue watching this one would
        // see an event that is not there), a nested kqueue (no system call).
        let deferred = matches!(kn.kind, Kind::Fd { .. })
            && !kn.flags.contains(Flags::ONESHOT)
            && kn.sfflags & note::LOWAT == 0;
        if !trusted && !deferred {
            return self.evaluate_and_observe(key, io);
        }
        if ready & want != 0 {
            if trusted {
                kn.eof = ready & hup != 0;
            }
            kn.status.insert(Status::ACTIVE);
            self.enqueue_if_wanted(key);
        }
    }
}

impl<S: 'static> Knote<S> {
    /// A READ/WRITE knote on an fd that trusts the backend's edges (`NOTE_NODATA` with an edge
    /// mode).
    pub fn trusts_edges(&self) -> bool {
        matches!(self.kind, Kind::Fd { .. }) && edges_only(self.sfflags, self.flags)
    }
}

/// Do these fflags and flags ask for the backend's edges as they are (`NOTE_NODATA` with an
/// edge mode), never for `data`?
pub(crate) fn edges_only(fflags: u32, flags: Flags) -> bool {
    fflags & note::NODATA != 0 && flags.intersects(Flags::CLEAR | Flags::ONESHOT | Flags::DISPATCH)
}
