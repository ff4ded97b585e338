//! Where no VNODE, PROC or SIGNAL source exists (Windows, the loom model, emulated systems other
//! than Linux): registering them is `EOPNOTSUPP`.

use super::{BackendEvent, OsBackend};
use super::{Core, Knote};
use crate::kevent::Kevent;

/// Per-knote state of an OS source: none can exist here.
pub(crate) enum OsSourceState {}

/// The OS sources of one kqueue: none.
#[derive(Default)]
pub(crate) struct OsSources {}

impl OsSources {
    pub(crate) fn attach(
        &mut self,
        _backend: &OsBackend,
        _kev: &Kevent,
    ) -> Result<OsSourceState, i32> {
        Err(crate::errno::EOPNOTSUPP)
    }

    pub(crate) fn detach(&mut self, _backend: &OsBackend, _kn: &Knote) {}

    pub(crate) fn evaluate(&mut self, kn: &mut Knote) -> bool {
        kn.fflags != 0 || kn.data != 0
    }

    pub(crate) fn handle(
        &mut self,
        _ev: &BackendEvent,
        _core: &mut Core,
        _follow: &mut Vec<crate::sys::FollowUp>,
    ) {
    }
}
