//! EVFILT_VNODE: a file system object named by an fd; its source is the platform's (inotify, a
//! kernel knote), which follows the inode, so the fd's identity is checked here.

use std::time::Instant;

use super::{file_gone, Attached, Fds, FilterOps};
use crate::core::{Core, Io, Knote};
use crate::kevent::Kevent;

pub(super) struct Vnode;

impl FilterOps for Vnode {
    fn is_fd(&self) -> bool {
        true
    }

    fn attach(
        &self,
        core: &mut Core,
        kev: &Kevent,
        identity: Option<(u64, u64)>,
        io: &mut dyn Io,
        _now: Instant,
    ) -> Result<Attached, i32> {
        let identity = identity.ok_or(libc::EBADF)?;
        let kind = io.attach_os(kev)?;
        core.fds.insert(kev.ident, identity);
        Ok(Attached::new(kind, kev))
    }

    fn detach(&self, _core: &mut Core, kn: &Knote, io: &mut dyn Io) {
        io.detach_os(kn);
    }

    fn event(&self, kn: &mut Knote, fds: &Fds, io: &mut dyn Io) -> Result<bool, ()> {
        if file_gone(kn, fds, io) {
            return Err(());
        }
        io.evaluate(kn)
    }
}
