//! VNODE on the native backend: the kernel's EVFILT_VNODE, its notes translated both ways.

use super::sources::{from_native, to_native};
use crate::kevent::{note, Kevent};
use crate::sys::{BackendEvent, Knote};

const VNODE_NOTES: [(u32, u32); 7] = [
    (note::DELETE, libc::NOTE_DELETE),
    (note::WRITE, libc::NOTE_WRITE),
    (note::EXTEND, libc::NOTE_EXTEND),
    (note::ATTRIB, libc::NOTE_ATTRIB),
    (note::LINK, libc::NOTE_LINK),
    (note::RENAME, libc::NOTE_RENAME),
    (note::REVOKE, libc::NOTE_REVOKE),
];

/// The kernel fflags of a VNODE registration; kq's directory extension has no native
/// counterpart (`EOPNOTSUPP`).
pub(super) fn fflags(kev: &Kevent) -> Result<u32, i32> {
    if kev.fflags & note::CHILDREN != 0 {
        return Err(libc::EOPNOTSUPP);
    }
    Ok(to_native(kev.fflags, &VNODE_NOTES))
}

/// Adds the kernel's notes to the knote's pending ones.
pub(super) fn decode(kn: &mut Knote, ev: &BackendEvent) {
    kn.fflags |= from_native(ev.fflags, &VNODE_NOTES) & kn.sfflags;
}
