//! EVFILT_VNODE: a file system object named by an fd; its source is the platform's (inotify, a
//! kernel knote), which follows the inode, so the fd's identity is checked here.

use std::time::Instant;

use super::{file_gone, Attached, Fds, FilterOps};
use crate::core::{Core, Io, Knote};
use crate::kevent::Kevent;

pub(super) struct Vnode;

impl<S: 'static> FilterOps<S> for Vnode {
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
        let kind = io.attach_os(kev)?;
        core.fds.insert(kev.ident, identity);
        Ok(Attached::new(kind, kev))
    }

    fn detach(&self, _core: &mut Core<S>, kn: &Knote<S>, io: &mut dyn Io<S>) {
        io.detach_os(kn);
    }

    fn event(&self, kn: &mut Knote<S>, fds: &Fds, io: &mut dyn Io<S>) -> Result<bool, ()> {
        if file_gone(kn, fds, io) {
            return Err(());
        }
        io.evaluate(kn)
    }
}
