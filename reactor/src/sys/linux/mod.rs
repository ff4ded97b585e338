//! VNODE, PROC and SIGNAL on Linux (the mio backend): inotify, pidfd and a signal pipe, each
//! an fd registered in the backend's poller under a token of the reactor's own (`OS_TOKEN` bit).

mod proc;
mod signal;
mod vnode;

use std::os::fd::OwnedFd;

use super::mio_poll::MioBackend;
use super::{BackendEvent, Core, FollowUp, Kind, Knote, OS_TOKEN};
use crate::kevent::{Filter, Kevent};

const INOTIFY_TOKEN: usize = OS_TOKEN;
const SIGNAL_TOKEN: usize = OS_TOKEN | 1;
const PIDFD_TOKEN: usize = OS_TOKEN | 2;

/// Per-knote state of an OS source.
pub(crate) enum OsSourceState {
    /// A VNODE knote: its inotify watch, and the size and link count last seen.
    Vnode { wd: i32, size: i64, nlink: u64 },
    /// A PROC knote: the process's pidfd.
    Proc { pidfd: OwnedFd },
    /// A SIGNAL knote: the process-wide delivery count last seen.
    Signal { last: u64 },
}

/// The OS sources of one kqueue, one per filter.
#[derive(Default)]
pub(crate) struct OsSources {
    vnode: vnode::VnodeSource,
    proc: proc::ProcSource,
    signal: signal::SignalSource,
}

pub(crate) use super::source::errno;
use super::source::{fstat, readable};

fn os_errno(e: std::io::Error) -> i32 {
    crate::errno::of(&e)
}

impl OsSources {
    pub(crate) fn attach(
        &mut self,
        backend: &MioBackend,
        kev: &Kevent,
    ) -> Result<OsSourceState, i32> {
        match kev.filter {
            Filter::Vnode => self.vnode.attach(backend, kev),
            Filter::Proc => self.proc.attach(backend, kev),
            Filter::Signal => self.signal.attach(backend, kev),
            _ => Err(libc::EINVAL),
        }
    }

    pub(crate) fn detach(&mut self, backend: &MioBackend, kn: &Knote) {
        let Kind::Os(state) = &kn.kind else { return };
        match state {
            OsSourceState::Vnode { wd, .. } => self.vnode.detach(*wd, kn.ident),
            OsSourceState::Proc { pidfd } => self.proc.detach(backend, pidfd),
            OsSourceState::Signal { .. } => self.signal.detach(backend, kn.ident),
        }
    }

    /// f_event for an OS knote.
    pub(crate) fn evaluate(&mut self, kn: &mut Knote) -> bool {
        proc::check_exit(kn);
        kn.fflags != 0 || kn.data != 0
    }

    /// A READ knote on the regular file `fd`, which epoll cannot watch: inotify watches it.
    pub(crate) fn watch_file_read(&mut self, backend: &MioBackend, fd: usize) -> Result<(), i32> {
        self.vnode.watch_file_read(backend, fd)
    }

    /// The READ knote on the regular file `fd` is gone.
    pub(crate) fn unwatch_file_read(&mut self, fd: usize) {
        self.vnode.unwatch_file_read(fd);
    }

    /// The poller reported one of our own fds; `follow` gets what the core must do next.
    pub(crate) fn handle(
        &mut self,
        ev: &BackendEvent,
        core: &mut Core,
        follow: &mut Vec<FollowUp>,
    ) {
        match ev.token {
            INOTIFY_TOKEN => self.vnode.handle(core, follow),
            SIGNAL_TOKEN => self.signal.handle(core),
            t if t >= PIDFD_TOKEN => self.proc.handle(t, core, follow),
            _ => {}
        }
    }
}
