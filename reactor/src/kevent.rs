//! The kevent record: [`Kevent`], [`Filter`], [`Flags`] and the filter notes in [`note`].
//!
//! The values are kq's own and the same on every platform; the native backend translates them to
//! the kernel's (`EVFILT_USER` is -11 on FreeBSD and -10 on macOS, for instance).

/// Which kind of source a knote watches. A knote is identified by `(ident, filter)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Filter {
    /// `EVFILT_READ`: an fd has data to read (or a listening socket has connections, or a
    /// `Kqueue` has pending events). `data` = bytes readable.
    #[default]
    Read,
    /// `EVFILT_WRITE`: an fd has room to write. `data` = free space.
    Write,
    /// `EVFILT_VNODE`: something happened to a file or directory (fflags: [`note`] vnode bits).
    Vnode,
    /// `EVFILT_PROC`: a process exited, forked or exec'd (ident = pid).
    Proc,
    /// `EVFILT_SIGNAL`: a signal was delivered (ident = signal number, data = count).
    Signal,
    /// `EVFILT_TIMER`: a timer expired (ident = user id, data = expirations).
    Timer,
    /// `EVFILT_USER`: a user event, triggered with [`note::TRIGGER`].
    User,
    /// A filter number kq does not know. Registering it fails with `EINVAL`, as kqueue does.
    Unknown(i16),
}

impl Filter {
    /// True for the filters whose ident is a file descriptor.
    pub fn is_fd(self) -> bool {
        crate::core::filter::FD_FILTERS.contains(&self)
    }
}

bitflags::bitflags! {
    /// Action and status flags of a [`Kevent`] (`EV_*`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Flags: u16 {
        /// Add the knote, or modify it if it exists.
        const ADD = 0x0001;
        /// Remove the knote (and any event of it still queued).
        const DELETE = 0x0002;
        /// Enable a disabled knote (re-evaluating it).
        const ENABLE = 0x0004;
        /// Disable the knote: it keeps observing but delivers nothing.
        const DISABLE = 0x0008;
        /// Deliver once, then delete.
        const ONESHOT = 0x0010;
        /// Edge-triggered: reset state after delivery.
        const CLEAR = 0x0020;
        /// Echo the change as an `ERROR` entry with `data = 0` (or the errno).
        const RECEIPT = 0x0040;
        /// Deliver once, then disable (re-arm with `ENABLE`).
        const DISPATCH = 0x0080;
        /// Output: the source hung up (peer closed, last writer gone, process exited).
        const EOF = 0x8000;
        /// Output: the entry reports the result of a change; `data` holds the errno (0: success).
        const ERROR = 0x4000;
    }
}

impl Flags {
    /// The flags a knote keeps from its creation and returns with each event.
    pub(crate) const STORED: Flags =
        Flags::ONESHOT.union(Flags::CLEAR).union(Flags::DISPATCH).union(Flags::RECEIPT);
}

/// Filter-specific notes carried in [`Kevent::fflags`] (`NOTE_*`).
pub mod note {
    /// READ/WRITE: `data` is a low-water mark; no event below it.
    pub const LOWAT: u32 = 0x0001;
    /// READ/WRITE, kq's own: trust the backend's readiness edges instead of asking the source.
    ///
    /// Only with `CLEAR`, `ONESHOT` or `DISPATCH` (a level knote ignores it). An edge from the
    /// OS is delivered as it came: `data` is 0 (unknown), `EOF` is the hang-up the OS reported,
    /// and the event is not re-checked at collection, so it may be stale (the reader then gets
    /// `WouldBlock`). At registration the backend's watch is (re-)armed so that the current
    /// readiness arrives as an edge; `ENABLE` and modifications evaluate the source (never reading
    /// the socket error, which Linux clears when it is read). This is
    /// what an async runtime wants (kq-runtime uses it): on Linux it saves the `fstat`, `poll(2)`
    /// and `ioctl` calls per event that exact `data` costs. The caller must delete the knotes
    /// before closing the fd (the identity check is one of the calls saved).
    pub const NODATA: u32 = 0x0200_0000;

    /// TIMER: `data` is in seconds.
    pub const SECONDS: u32 = 0x0001;
    /// TIMER: `data` is in milliseconds (the default when no unit is given).
    pub const MSECONDS: u32 = 0x0002;
    /// TIMER: `data` is in microseconds.
    pub const USECONDS: u32 = 0x0004;
    /// TIMER: `data` is in nanoseconds.
    pub const NSECONDS: u32 = 0x0008;
    /// TIMER: `data` is an absolute time since the Unix epoch (in the unit given); fires once.
    pub const ABSTIME: u32 = 0x0010;
    /// TIMER: every unit bit.
    pub(crate) const TIMER_UNITS: u32 = SECONDS | MSECONDS | USECONDS | NSECONDS;

    /// USER: trigger the event.
    pub const TRIGGER: u32 = 0x0100_0000;
    /// USER: leave the stored flags alone.
    pub const FFNOP: u32 = 0x0000_0000;
    /// USER: AND the low 24 bits into the stored flags.
    pub const FFAND: u32 = 0x4000_0000;
    /// USER: OR the low 24 bits into the stored flags.
    pub const FFOR: u32 = 0x8000_0000;
    /// USER: copy the low 24 bits into the stored flags.
    pub const FFCOPY: u32 = 0xc000_0000;
    /// USER: the control bits (FFNOP/FFAND/FFOR/FFCOPY).
    pub const FFCTRLMASK: u32 = 0xc000_0000;
    /// USER: the user-defined flag bits.
    pub const FFLAGSMASK: u32 = 0x00ff_ffff;

    /// VNODE: the file was unlinked.
    pub const DELETE: u32 = 0x0001;
    /// VNODE: the file was written.
    pub const WRITE: u32 = 0x0002;
    /// VNODE: the file grew.
    pub const EXTEND: u32 = 0x0004;
    /// VNODE: its attributes changed.
    pub const ATTRIB: u32 = 0x0008;
    /// VNODE: its link count changed.
    pub const LINK: u32 = 0x0010;
    /// VNODE: it was renamed.
    pub const RENAME: u32 = 0x0020;
    /// VNODE: access was revoked (on Linux: the filesystem was unmounted).
    pub const REVOKE: u32 = 0x0040;
    /// VNODE, kq's own: events were lost (Linux: the inotify queue overflowed). Reported with
    /// every interest bit of the knote, whatever it asked for; the watcher must rescan.
    pub const RESCAN: u32 = 0x0100_0000;
    /// VNODE, kq's own extension, for directory knotes: also fire when the content or the
    /// attributes of an *entry* of the directory change (a file in it written, chmod-ed, touched).
    ///
    /// Asked for in the knote's fflags and reported as this same bit; it says only "some entry
    /// changed", not which: a watcher then compares the directory's entries with a snapshot
    /// (`fstatat` of each), which is how kq-fs-watch watches a tree with one descriptor per
    /// directory instead of one per file. FreeBSD and macOS have no such note (their directory
    /// knotes hear only about entries added, removed or renamed), so the native backend refuses
    /// it with `EOPNOTSUPP`. On Linux it costs nothing: the inotify watch of a directory already
    /// reports its entries' changes, and without this note they are dropped. On a knote that is
    /// not a directory it is accepted and never fires.
    pub const CHILDREN: u32 = 0x0400_0000;

    /// PROC: the process exited (`data` = wait status).
    pub const EXIT: u32 = 0x8000_0000;
    /// PROC: the process forked.
    pub const FORK: u32 = 0x4000_0000;
    /// PROC: the process called exec.
    pub const EXEC: u32 = 0x2000_0000;
}

/// One kqueue record: a change to apply, or an event returned.
///
/// Fields mean what they mean in kqueue(2); see the crate docs for the semantics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Kevent {
    /// The identifier: an fd, a pid, a signal number or a user-chosen id.
    pub ident: usize,
    /// The filter.
    pub filter: Filter,
    /// Action flags in, status flags out.
    pub flags: Flags,
    /// Filter-specific notes, in and out.
    pub fflags: u32,
    /// Filter-specific data, in and out (an errno on an `ERROR` entry).
    pub data: i64,
    /// Opaque to the reactor, returned as given.
    pub udata: u64,
}

impl Kevent {
    /// A change or event for `(ident, filter)` with `flags`, other fields zero.
    pub const fn new(ident: usize, filter: Filter, flags: Flags) -> Kevent {
        Kevent { ident, filter, flags, fflags: 0, data: 0, udata: 0 }
    }

    /// The same record with `fflags` set.
    pub const fn with_fflags(mut self, fflags: u32) -> Kevent {
        self.fflags = fflags;
        self
    }

    /// The same record with `data` set.
    pub const fn with_data(mut self, data: i64) -> Kevent {
        self.data = data;
        self
    }

    /// The same record with `udata` set.
    pub const fn with_udata(mut self, udata: u64) -> Kevent {
        self.udata = udata;
        self
    }

    /// True if this is an `ERROR` entry (the echo of a change) rather than an event.
    pub fn is_error(&self) -> bool {
        self.flags.contains(Flags::ERROR)
    }

    /// The error of an `ERROR` entry, if it reports a failure (`data != 0`). On Linux a VNODE
    /// registration refused by inotify's limits (ENOSPC, EMFILE) names the sysctl to raise.
    pub fn error(&self) -> Option<std::io::Error> {
        let errno = self.data as i32;
        (self.is_error() && self.data != 0).then(|| crate::errno::change_error(errno, self.filter))
    }
}
