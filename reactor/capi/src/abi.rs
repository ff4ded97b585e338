//! The C side of the record: `struct kevent` as laid out by libkqueue's Linux header, its constants,
//! and the translation to and from the reactor's [`Kevent`].
//!
//! Most values are the same on both sides; the differences are the filter numbers (an enum in
//! Rust), the TIMER unit bits (libkqueue's NOTE_USECONDS is 0x2 where kq's is 0x4, and it has no
//! NOTE_MSECONDS), and kq's private bits (`NODATA` in READ/WRITE fflags, `RESCAN` in VNODE
//! fflags), which a C program can neither set nor see.

use std::os::raw::{c_short, c_uint, c_ushort, c_void};

use kq_reactor::{note, Filter, Flags, Kevent};

/// `struct kevent` of `include/sys/event.h` (libkqueue's layout: 32 bytes on LP64).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CKevent {
    /// `uintptr_t ident`.
    pub ident: usize,
    /// `short filter`.
    pub filter: c_short,
    /// `unsigned short flags`.
    pub flags: c_ushort,
    /// `unsigned int fflags`.
    pub fflags: c_uint,
    /// `intptr_t data`.
    pub data: isize,
    /// `void *udata`.
    pub udata: *mut c_void,
}

/// Filter numbers of the header.
pub const EVFILT_READ: c_short = -1;
/// `EVFILT_WRITE`.
pub const EVFILT_WRITE: c_short = -2;
/// `EVFILT_VNODE`.
pub const EVFILT_VNODE: c_short = -4;
/// `EVFILT_PROC`.
pub const EVFILT_PROC: c_short = -5;
/// `EVFILT_SIGNAL`.
pub const EVFILT_SIGNAL: c_short = -6;
/// `EVFILT_TIMER`.
pub const EVFILT_TIMER: c_short = -7;
/// `EVFILT_USER`.
pub const EVFILT_USER: c_short = -11;

/// TIMER units of the header (libkqueue's values).
pub const NOTE_SECONDS: u32 = 0x1;
/// `NOTE_USECONDS`.
pub const NOTE_USECONDS: u32 = 0x2;
/// `NOTE_NSECONDS`.
pub const NOTE_NSECONDS: u32 = 0x4;
/// `NOTE_ABSOLUTE`.
pub const NOTE_ABSOLUTE: u32 = 0x8;

/// VNODE notes a C program knows (kq's `RESCAN` is not one of them).
const VNODE_NOTES: u32 = note::DELETE
    | note::WRITE
    | note::EXTEND
    | note::ATTRIB
    | note::LINK
    | note::RENAME
    | note::REVOKE;

/// A TIMER fflags bit no unit or mode of the reactor uses: the C bits that have no meaning are
/// translated to it, so the reactor refuses them with `EINVAL` as FreeBSD does.
const TIMER_INVALID: u32 = 0x8000_0000;

/// The reactor's filter for a C filter number.
pub fn filter_from_c(filter: c_short) -> Filter {
    match filter {
        EVFILT_READ => Filter::Read,
        EVFILT_WRITE => Filter::Write,
        EVFILT_VNODE => Filter::Vnode,
        EVFILT_PROC => Filter::Proc,
        EVFILT_SIGNAL => Filter::Signal,
        EVFILT_TIMER => Filter::Timer,
        EVFILT_USER => Filter::User,
        other => Filter::Unknown(other),
    }
}

/// The C filter number of a reactor filter.
pub fn filter_to_c(filter: Filter) -> c_short {
    match filter {
        Filter::Read => EVFILT_READ,
        Filter::Write => EVFILT_WRITE,
        Filter::Vnode => EVFILT_VNODE,
        Filter::Proc => EVFILT_PROC,
        Filter::Signal => EVFILT_SIGNAL,
        Filter::Timer => EVFILT_TIMER,
        Filter::User => EVFILT_USER,
        Filter::Unknown(other) => other,
    }
}

/// libkqueue TIMER bits to kq's.
fn timer_to_kq(fflags: u32) -> u32 {
    let mut out = 0;
    for (c, kq) in [
        (NOTE_SECONDS, note::SECONDS),
        (NOTE_USECONDS, note::USECONDS),
        (NOTE_NSECONDS, note::NSECONDS),
        (NOTE_ABSOLUTE, note::ABSTIME),
    ] {
        if fflags & c != 0 {
            out |= kq;
        }
    }
    if fflags & !(NOTE_SECONDS | NOTE_USECONDS | NOTE_NSECONDS | NOTE_ABSOLUTE) != 0 {
        out |= TIMER_INVALID;
    }
    out
}

/// kq's TIMER bits to libkqueue's (milliseconds, the default, has no bit).
fn timer_to_c(fflags: u32) -> u32 {
    let mut out = 0;
    for (c, kq) in [
        (NOTE_SECONDS, note::SECONDS),
        (NOTE_USECONDS, note::USECONDS),
        (NOTE_NSECONDS, note::NSECONDS),
        (NOTE_ABSOLUTE, note::ABSTIME),
    ] {
        if fflags & kq != 0 {
            out |= c;
        }
    }
    out
}

impl CKevent {
    /// The reactor's view of a change.
    pub fn to_kevent(&self) -> Kevent {
        let filter = filter_from_c(self.filter);
        let fflags = match filter {
            // kq's NODATA (and anything else private) is not reachable from C.
            Filter::Read | Filter::Write => self.fflags & note::LOWAT,
            Filter::Timer => timer_to_kq(self.fflags),
            _ => self.fflags,
        };
        Kevent {
            ident: self.ident,
            filter,
            flags: Flags::from_bits_retain(self.flags),
            fflags,
            data: self.data as i64,
            udata: self.udata as usize as u64,
        }
    }

    /// The C record of an event the reactor returned.
    pub fn from_kevent(kev: &Kevent) -> CKevent {
        let fflags = match kev.filter {
            Filter::Timer => timer_to_c(kev.fflags),
            Filter::Vnode if !kev.flags.contains(Flags::ERROR) => kev.fflags & VNODE_NOTES,
            _ => kev.fflags,
        };
        CKevent {
            ident: kev.ident,
            filter: filter_to_c(kev.filter),
            flags: kev.flags.bits(),
            fflags,
            data: kev.data as isize,
            udata: kev.udata as usize as *mut c_void,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_libkqueues() {
        use std::mem::{offset_of, size_of};
        if size_of::<usize>() == 8 {
            assert_eq!(size_of::<CKevent>(), 32);
            assert_eq!(offset_of!(CKevent, ident), 0);
            assert_eq!(offset_of!(CKevent, filter), 8);
            assert_eq!(offset_of!(CKevent, flags), 10);
            assert_eq!(offset_of!(CKevent, fflags), 12);
            assert_eq!(offset_of!(CKevent, data), 16);
            assert_eq!(offset_of!(CKevent, udata), 24);
        }
    }

    #[test]
    fn timer_units_translate_both_ways() {
        for c in [0, NOTE_SECONDS, NOTE_USECONDS, NOTE_NSECONDS, NOTE_ABSOLUTE | NOTE_SECONDS] {
            assert_eq!(timer_to_c(timer_to_kq(c)), c);
        }
        assert_eq!(timer_to_kq(NOTE_USECONDS), note::USECONDS);
        assert_ne!(timer_to_kq(0x10) & TIMER_INVALID, 0);
    }

    #[test]
    fn filters_round_trip() {
        for f in [-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, 0, 5] {
            assert_eq!(filter_to_c(filter_from_c(f)), f);
        }
    }
}
