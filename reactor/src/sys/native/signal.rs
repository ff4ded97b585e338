//! SIGNAL on the native backend: the kernel's EVFILT_SIGNAL. Dispositions are untouched: a
//! watched signal whose default action ends the process still ends it, as on FreeBSD.

use crate::kevent::Kevent;
use crate::sys::{BackendEvent, Knote};

/// The kernel fflags of a SIGNAL registration (none), after the one signal-number rule.
pub(super) fn fflags(kev: &Kevent) -> Result<u32, i32> {
    crate::sys::signo::validate(kev.ident)?;
    Ok(0)
}

/// Adds the kernel's delivery count.
pub(super) fn decode(kn: &mut Knote, ev: &BackendEvent) {
    kn.data = kn.data.saturating_add(ev.data);
}
