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

    /// The C compiler's view of the header: `sizeof`/`offsetof` of every field and every constant,
    /// against the Rust struct, the reactor's values and the values the issue fixes.
    #[test]
    fn c_header_matches_rust() {
        use std::mem::{align_of, offset_of, size_of};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let exe = std::env::temp_dir().join(format!("kq-capi-layout-{}", std::process::id()));
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let status = std::process::Command::new(cc)
            .args(["-std=c11", "-Wall", "-Werror", "-I"])
            .arg(dir.join("include"))
            .arg(dir.join("tests/c/layout.c"))
            .arg("-o")
            .arg(&exe)
            .status()
            .expect("running cc");
        assert!(status.success());
        let out = std::process::Command::new(&exe).output().expect("running the layout program");
        let _ = std::fs::remove_file(&exe);
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let c: std::collections::HashMap<&str, i64> = text
            .lines()
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(k, v)| (k, v.parse().expect("a number")))
            .collect();
        let field = |name: &str| c[format!("sizeof(((struct kevent *)0)->{name})").as_str()];
        let u = |v: u32| i64::from(v);
        let expected: Vec<(&str, i64)> = vec![
            ("sizeof(struct kevent)", size_of::<CKevent>() as i64),
            ("_Alignof(struct kevent)", align_of::<CKevent>() as i64),
            ("offsetof(struct kevent, ident)", offset_of!(CKevent, ident) as i64),
            ("offsetof(struct kevent, filter)", offset_of!(CKevent, filter) as i64),
            ("offsetof(struct kevent, flags)", offset_of!(CKevent, flags) as i64),
            ("offsetof(struct kevent, fflags)", offset_of!(CKevent, fflags) as i64),
            ("offsetof(struct kevent, data)", offset_of!(CKevent, data) as i64),
            ("offsetof(struct kevent, udata)", offset_of!(CKevent, udata) as i64),
            ("EVFILT_READ", -1),
            ("EVFILT_WRITE", -2),
            ("EVFILT_VNODE", -4),
            ("EVFILT_PROC", -5),
            ("EVFILT_SIGNAL", -6),
            ("EVFILT_TIMER", -7),
            ("EVFILT_USER", -11),
            ("EV_ADD", Flags::ADD.bits().into()),
            ("EV_DELETE", Flags::DELETE.bits().into()),
            ("EV_ENABLE", Flags::ENABLE.bits().into()),
            ("EV_DISABLE", Flags::DISABLE.bits().into()),
            ("EV_ONESHOT", Flags::ONESHOT.bits().into()),
            ("EV_CLEAR", Flags::CLEAR.bits().into()),
            ("EV_RECEIPT", Flags::RECEIPT.bits().into()),
            ("EV_DISPATCH", Flags::DISPATCH.bits().into()),
            ("EV_ERROR", Flags::ERROR.bits().into()),
            ("EV_EOF", Flags::EOF.bits().into()),
            ("NOTE_LOWAT", u(note::LOWAT)),
            ("NOTE_FFNOP", u(note::FFNOP)),
            ("NOTE_FFAND", u(note::FFAND)),
            ("NOTE_FFOR", u(note::FFOR)),
            ("NOTE_FFCOPY", u(note::FFCOPY)),
            ("NOTE_FFCTRLMASK", u(note::FFCTRLMASK)),
            ("NOTE_FFLAGSMASK", u(note::FFLAGSMASK)),
            ("NOTE_TRIGGER", u(note::TRIGGER)),
            ("NOTE_DELETE", u(note::DELETE)),
            ("NOTE_WRITE", u(note::WRITE)),
            ("NOTE_EXTEND", u(note::EXTEND)),
            ("NOTE_ATTRIB", u(note::ATTRIB)),
            ("NOTE_LINK", u(note::LINK)),
            ("NOTE_RENAME", u(note::RENAME)),
            ("NOTE_REVOKE", u(note::REVOKE)),
            ("NOTE_EXIT", u(note::EXIT)),
            ("NOTE_FORK", u(note::FORK)),
            ("NOTE_EXEC", u(note::EXEC)),
            ("NOTE_SECONDS", u(NOTE_SECONDS)),
            ("NOTE_USECONDS", u(NOTE_USECONDS)),
            ("NOTE_NSECONDS", u(NOTE_NSECONDS)),
            ("NOTE_ABSOLUTE", u(NOTE_ABSOLUTE)),
        ];
        for (name, want) in expected {
            assert_eq!(c.get(name), Some(&want), "{name}");
        }
        // The values the issue fixes, independently of both sides.
        assert_eq!((c["EV_ERROR"], c["EV_EOF"], c["NOTE_TRIGGER"]), (0x4000, 0x8000, 0x0100_0000));
        assert_eq!((c["NOTE_USECONDS"], c["NOTE_ABSOLUTE"], c["NOTE_EXIT"]), (2, 8, 0x8000_0000));
        assert_eq!(field("ident"), size_of::<usize>() as i64);
        assert_eq!(field("filter"), 2);
        assert_eq!(field("flags"), 2);
        assert_eq!(field("fflags"), 4);
        assert_eq!(field("data"), size_of::<isize>() as i64);
        assert_eq!(field("udata"), size_of::<usize>() as i64);
        if size_of::<usize>() == 8 {
            assert_eq!(c["sizeof(struct kevent)"], 32);
            assert_eq!(c["offsetof(struct kevent, udata)"], 24);
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
