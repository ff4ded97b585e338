//! A knote: one registration `(ident, filter)` with its stored request, its pending output and its
//! status bits, as in FreeBSD's `struct knote`.

use std::time::{Duration, Instant};

use crate::kevent::{Filter, Flags, Kevent};

bitflags::bitflags! {
    /// Status bits of a knote (FreeBSD's `KN_*`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub(crate) struct Status: u8 {
        /// The condition was seen and not yet delivered.
        const ACTIVE = 0x01;
        /// The knote is on the ready queue.
        const QUEUED = 0x02;
        /// Disabled: observed, but never delivered.
        const DISABLED = 0x04;
    }
}

/// What an fd is, decided once at registration.
#[cfg_attr(not(all(unix, not(loom))), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FdType {
    /// A regular file: READ data = size - offset; WRITE always ready.
    File,
    /// A listening socket: READ data = pending connections; WRITE never fires.
    Listener,
    /// A socket.
    Socket,
    /// Anything else (pipes, FIFOs, ttys, eventfds...).
    Other,
}

/// What a knote watches, with the per-filter state.
#[cfg_attr(not(all(unix, not(loom))), allow(dead_code))]
pub(crate) enum Kind<S: 'static> {
    /// READ or WRITE on a file descriptor of type `ty` whose file was `identity`
    /// (`st_dev`, `st_ino`) at registration.
    Fd { ty: FdType, identity: (u64, u64) },
    /// READ on another kqueue (nesting); the platform keeps the link, under the knote's ident.
    Nested,
    /// A timer: current deadline, period for periodic timers, and the generation of its heap entry.
    Timer { deadline: Option<Instant>, period: Option<Duration>, gen: u64 },
    /// A user event; `triggered` is FreeBSD's `kn_hookid`.
    User { triggered: bool },
    /// VNODE, PROC or SIGNAL: a source the backend watches, with its per-knote state.
    Os(S),
}

/// One registration.
pub(crate) struct Knote<S: 'static> {
    pub ident: usize,
    pub filter: Filter,
    /// The operations of its filter.
    pub ops: &'static dyn super::filter::FilterOps<S>,
    /// ONESHOT / CLEAR / DISPATCH / RECEIPT, fixed at creation.
    pub flags: Flags,
    /// Requested fflags (`kn_sfflags`) and data (`kn_sdata`).
    pub sfflags: u32,
    pub sdata: i64,
    pub udata: u64,
    /// Output fflags and data, accumulated since the last delivery.
    pub fflags: u32,
    pub data: i64,
    /// Output EOF (hang-up) seen by the last evaluation.
    pub eof: bool,
    pub status: Status,
    /// Distinguishes this knote from an earlier one in the same slab slot (stale queue entries).
    pub gen: u64,
    pub kind: Kind<S>,
}

impl<S: 'static> Knote<S> {
    /// The event this knote delivers now.
    pub fn to_event(&self) -> Kevent {
        let mut flags = self.flags;
        if self.eof {
            flags |= Flags::EOF;
        }
        Kevent {
            ident: self.ident,
            filter: self.filter,
            flags,
            fflags: self.fflags,
            data: self.data,
            udata: self.udata,
        }
    }

    /// PROC NOTE_EXIT (if asked for): the wait status, EV_EOF, and the knote goes after delivery.
    #[cfg_attr(any(loom, not(any(kq_native, target_os = "linux"))), allow(dead_code))]
    pub fn fire_exit(&mut self, status: i64) {
        if self.sfflags & crate::kevent::note::EXIT != 0 {
            self.fflags |= crate::kevent::note::EXIT;
            self.data = status;
            self.eof = true;
            self.flags |= Flags::ONESHOT;
        }
    }

    /// Ready to be put on the queue: active, enabled and not already queued.
    pub fn wants_queue(&self) -> bool {
        self.status & (Status::ACTIVE | Status::DISABLED | Status::QUEUED) == Status::ACTIVE
    }
}
