//! VNODE, PROC and SIGNAL on Linux (the mio backend): inotify, pidfd and a signal pipe, each
//! an fd registered in the backend's poller under a token of the reactor's own (`OS_TOKEN` bit).

mod inotify;
mod pidfd;
mod signal;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::mio_poll::MioBackend;
use super::{BackendEvent, OS_TOKEN};
use super::{Core, Kind, Knote};
use crate::kevent::{note, Filter, Kevent};

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

/// The OS sources of one kqueue.
#[derive(Default)]
pub(crate) struct OsSources {
    inotify: Option<inotify::Inotify>,
    /// pidfd -> pid.
    pidfds: HashMap<RawFd, usize>,
    signal_pipe: Option<signal::Slot>,
    /// signal number -> knotes watching it.
    signals: HashMap<usize, usize>,
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
            Filter::Vnode => {
                let st = fstat(kev.ident)?;
                // File system objects only, as on FreeBSD: pipes, sockets and the anonymous
                // inodes of kqueues (epoll), eventfds, timerfds, signalfds, pidfds are EINVAL.
                match st.st_mode & libc::S_IFMT {
                    libc::S_IFREG
                    | libc::S_IFDIR
                    | libc::S_IFLNK
                    | libc::S_IFCHR
                    | libc::S_IFBLK => {}
                    _ => return Err(libc::EINVAL),
                }
                if self.inotify.is_none() {
                    let ino = inotify::Inotify::new()?;
                    backend.watch_read(ino.raw_fd(), INOTIFY_TOKEN).map_err(os_errno)?;
                    self.inotify = Some(ino);
                }
                let ino = self.inotify.as_mut().ok_or(libc::EIO)?;
                let wd = ino.add(kev.ident)?;
                Ok(OsSourceState::Vnode { wd, size: st.st_size, nlink: st.st_nlink })
            }
            Filter::Proc => {
                let pidfd = pidfd::open(kev.ident, kev.fflags)?;
                let raw = pidfd.as_raw_fd();
                backend.watch_read(raw, PIDFD_TOKEN + raw as usize).map_err(os_errno)?;
                self.pidfds.insert(raw, kev.ident);
                Ok(OsSourceState::Proc { pidfd })
            }
            Filter::Signal => {
                let sig = super::signo::validate(kev.ident)?;
                signal::install(sig)?;
                if self.signal_pipe.is_none() {
                    let slot = signal::Slot::claim()?;
                    backend.watch_read(slot.read_fd, SIGNAL_TOKEN).map_err(os_errno)?;
                    self.signal_pipe = Some(slot);
                }
                *self.signals.entry(kev.ident).or_default() += 1;
                Ok(OsSourceState::Signal { last: signal::count(kev.ident) })
            }
            _ => Err(libc::EINVAL),
        }
    }

    pub(crate) fn detach(&mut self, backend: &MioBackend, kn: &Knote) {
        let Kind::Os(state) = &kn.kind else { return };
        match state {
            OsSourceState::Vnode { wd, .. } => {
                if let Some(ino) = &mut self.inotify {
                    ino.remove(*wd, kn.ident);
                }
            }
            OsSourceState::Proc { pidfd } => {
                backend.unwatch_raw(pidfd.as_raw_fd());
                self.pidfds.remove(&pidfd.as_raw_fd());
            }
            OsSourceState::Signal { .. } => {
                if let Some(n) = self.signals.get_mut(&kn.ident) {
                    *n -= 1;
                    if *n == 0 {
                        self.signals.remove(&kn.ident);
                    }
                }
                if self.signals.is_empty() {
                    if let Some(slot) = self.signal_pipe.take() {
                        backend.unwatch_raw(slot.read_fd);
                    }
                }
            }
        }
    }

    /// f_event for an OS knote.
    pub(crate) fn evaluate(&mut self, kn: &mut Knote) -> bool {
        if let Kind::Os(OsSourceState::Proc { pidfd }) = &kn.kind {
            if kn.fflags & note::EXIT == 0 && pidfd::exited(pidfd) {
                let status = pidfd::status(pidfd);
                kn.fire_exit(status);
            }
        }
        kn.fflags != 0 || kn.data != 0
    }

    /// The poller reported one of our own fds.
    pub(crate) fn handle(&mut self, ev: &BackendEvent, core: &mut Core) {
        match ev.token {
            INOTIFY_TOKEN => self.handle_inotify(core),
            SIGNAL_TOKEN => {
                if let Some(slot) = &self.signal_pipe {
                    signal::drain(slot.read_fd);
                }
                for &sig in self.signals.keys() {
                    core.os_update(sig, Filter::Signal, |kn| {
                        if let Kind::Os(OsSourceState::Signal { last }) = &mut kn.kind {
                            let now = signal::count(sig);
                            kn.data = kn.data.saturating_add(now.saturating_sub(*last) as i64);
                            *last = now;
                        }
                    });
                }
            }
            t if t >= PIDFD_TOKEN => {
                let raw = (t - PIDFD_TOKEN) as RawFd;
                if let Some(&pid) = self.pidfds.get(&raw) {
                    core.os_update(pid, Filter::Proc, |kn| {
                        if let Kind::Os(OsSourceState::Proc { pidfd }) = &kn.kind {
                            if kn.fflags & note::EXIT == 0 && pidfd::exited(pidfd) {
                                let status = pidfd::status(pidfd);
                                kn.fire_exit(status);
                            }
                        }
                    });
                }
            }
            _ => {}
        }
    }

    fn handle_inotify(&mut self, core: &mut Core) {
        let Some(ino) = &mut self.inotify else { return };
        let mut changes = Vec::new();
        ino.read(&mut changes);
        for change in changes {
            match change {
                inotify::Change::Overflow => {
                    for &ident in ino.watches.values().flatten() {
                        core.os_update(ident, Filter::Vnode, |kn| {
                            kn.fflags |= kn.sfflags | note::RESCAN;
                        });
                    }
                }
                inotify::Change::Ignored { wd } => {
                    ino.watches.remove(&wd);
                }
                inotify::Change::Watch { wd, notes, modified, attrib } => {
                    let Some(idents) = ino.watches.get(&wd) else { continue };
                    for &ident in idents {
                        core.os_update(ident, Filter::Vnode, |kn| {
                            vnode(kn, notes, modified, attrib)
                        });
                    }
                }
            }
        }
    }
}

/// Adds the notes of one inotify event to a VNODE knote, checking size and link count.
fn vnode(kn: &mut Knote, mut notes: u32, modified: bool, attrib: bool) {
    let Kind::Os(OsSourceState::Vnode { size, nlink, .. }) = &mut kn.kind else { return };
    // Each event updates only what it is about, so that a later event of the other kind still
    // sees its own change (a write then a link between two collections reports both).
    if modified || attrib {
        if let Ok(st) = fstat(kn.ident) {
            if modified {
                if st.st_size > *size {
                    notes |= note::EXTEND;
                }
                *size = st.st_size;
            }
            if attrib {
                if st.st_nlink != *nlink {
                    notes |= note::LINK;
                    if st.st_nlink == 0 {
                        notes |= note::DELETE;
                    }
                }
                *nlink = st.st_nlink;
            }
        }
    }
    kn.fflags |= notes & kn.sfflags;
}
