//! EVFILT_TIMER: one-shot, periodic and absolute timers in the core's heap (`core/timer.rs`);
//! `data` counts expirations, EV_CLEAR is implicit, and re-adding restarts the timer.

use std::time::Instant;

use super::{Attached, Fds, FilterOps};
use crate::core::{timer, Core, Io, Kind, Knote, Status};
use crate::kevent::{Flags, Kevent};

pub(super) struct Timer;

impl<S: 'static> FilterOps<S> for Timer {
    fn attach(
        &self,
        _core: &mut Core<S>,
        kev: &Kevent,
        _identity: Option<(u64, u64)>,
        _io: &mut dyn Io<S>,
        now: Instant,
    ) -> Result<Attached<S>, i32> {
        let spec = timer::spec(kev.fflags, kev.data, kev.flags, now)?;
        let kind = Kind::Timer { deadline: spec.deadline, period: spec.period, gen: 0 };
        Ok(Attached { flags: Flags::CLEAR, ..Attached::new(kind, kev) })
    }

    fn inserted(&self, core: &mut Core<S>, key: usize) {
        core.arm_timer(key);
    }

    fn detach(&self, core: &mut Core<S>, kn: &Knote<S>, _io: &mut dyn Io<S>) {
        if let Kind::Timer { gen, .. } = kn.kind {
            if gen != 0 {
                core.timers.disarm();
                core.compact_timers();
            }
        }
    }

    fn event(&self, kn: &mut Knote<S>, _fds: &Fds, _io: &mut dyn Io<S>) -> Result<bool, ()> {
        Ok(kn.data != 0)
    }

    fn touch(&self, core: &mut Core<S>, key: usize, kev: &Kevent, now: Instant) {
        if !kev.flags.contains(Flags::ADD) {
            return;
        }
        // Re-adding restarts the timer and throws away undelivered expirations. With an invalid
        // request the change still succeeds and the timer is stopped, as in FreeBSD's
        // filt_timertouch: the knote stays, silent, until a valid re-add.
        let kn = &mut core.knotes[key];
        let spec = timer::spec(kev.fflags, kev.data, kn.flags, now)
            .unwrap_or(timer::TimerSpec { deadline: None, period: None });
        kn.sfflags = kev.fflags;
        kn.sdata = kev.data;
        kn.data = 0;
        kn.status.remove(Status::ACTIVE);
        if kn.status.contains(Status::QUEUED) {
            kn.status.remove(Status::QUEUED);
            core.queued -= 1;
            // The stale queue entry is skipped: give the knote a new generation.
            core.next_gen += 1;
            kn.gen = core.next_gen;
        }
        if let Kind::Timer { deadline, period, .. } = &mut kn.kind {
            *deadline = spec.deadline;
            *period = spec.period;
        }
        core.arm_timer(key);
    }
}

impl<S: 'static> Core<S> {
    /// Puts the timer of `key` in the heap for its current deadline (a new arming generation).
    fn arm_timer(&mut self, key: usize) {
        let kn = &mut self.knotes[key];
        if let Kind::Timer { deadline, gen, .. } = &mut kn.kind {
            if *gen != 0 {
                self.timers.disarm();
            }
            self.next_gen += 1;
            *gen = self.next_gen;
            match deadline {
                Some(d) => self.timers.arm(*d, *gen, key),
                None => *gen = 0,
            }
        }
    }

    /// Fires due timers: counts expirations, queues the knotes, re-arms periodic ones.
    pub fn fire_timers(&mut self, now: Instant) {
        while let Some((due, gen, key)) = self.timers.pop_due(now) {
            let Some(kn) = self.knotes.get_mut(key) else { continue };
            let Kind::Timer { deadline, period, gen: armed } = &mut kn.kind else { continue };
            if *armed != gen {
                continue;
            }
            self.timers.fired();
            let (count, next) = timer::expirations(due, *period, now);
            kn.data = kn.data.saturating_add(count);
            kn.status.insert(Status::ACTIVE);
            *deadline = next;
            if next.is_some() {
                self.arm_timer(key);
            } else if let Kind::Timer { gen, .. } = &mut self.knotes[key].kind {
                *gen = 0;
            }
            self.enqueue_if_wanted(key);
        }
        self.compact_timers();
    }

    /// Drops stale heap entries once they outnumber the armed timers (cheap when they do not).
    fn compact_timers(&mut self) {
        let knotes = &self.knotes;
        self.timers.compact(|gen, key| {
            knotes
                .get(key)
                .is_some_and(|kn| matches!(kn.kind, Kind::Timer { gen: g, .. } if g == gen))
        });
    }
}
