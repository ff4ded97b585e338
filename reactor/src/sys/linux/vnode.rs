//! VNODE on Linux: one inotify instance per kqueue (`VnodeSource`). A watch is added on `/proc/self/fd/N`, which
//! follows the fd to its inode (so it survives renames), and inotify's events are mapped to
//! FreeBSD's notes:
//!
//! | inotify | VNODE |
//! |---|---|
//! | IN_MODIFY | WRITE, + EXTEND when the size grew |
//! | IN_ATTRIB | ATTRIB, + LINK when the link count changed, + DELETE when it reached 0 |
//! | IN_DELETE_SELF | DELETE |
//! | IN_MOVE_SELF | RENAME |
//! | IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO (in a directory) | WRITE, + LINK for a subdirectory |
//! | IN_UNMOUNT | REVOKE |
//! | IN_MODIFY, IN_ATTRIB of an entry (in a directory) | [`note::CHILDREN`] (kq's extension), else nothing |
//! | IN_Q_OVERFLOW | every knote: all its interest bits + [`note::RESCAN`] |
//!
//! The same instance stands in for epoll under READ knotes on regular files, which epoll cannot
//! watch: each has a watch too, and its inode's IN_MODIFY (a write or a truncation, by anyone)
//! is an edge of the knote, which the core then evaluates (size minus offset), as FreeBSD's
//! `filt_vfsread` runs at each write (`tail -f`). Overflow is an edge of every such knote.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{fstat, os_errno, Core, FollowUp, Knote, MioBackend, OsSourceState, INOTIFY_TOKEN};
use crate::kevent::{note, Filter, Kevent};

const MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO;

/// What happened to one watch, as VNODE bits before the size and link checks.
pub(crate) enum Change {
    /// Notes for the knotes of one watch descriptor (`grew`/`attrib` ask for fstat checks).
    /// `notes` may hold [`note::CHILDREN`], which only knotes that asked for it receive.
    Watch { wd: i32, notes: u32, modified: bool, attrib: bool },
    /// The queue overflowed: every knote must rescan.
    Overflow,
    /// The watch is gone (the inode was freed or its filesystem unmounted).
    Ignored { wd: i32 },
}

pub(crate) struct Inotify {
    fd: OwnedFd,
    /// Watch descriptor -> the knotes on that inode: `(ident, filter)`, VNODE, or READ on a
    /// regular file.
    pub watches: HashMap<i32, Vec<(usize, Filter)>>,
}

impl Inotify {
    pub(crate) fn new() -> Result<Inotify, i32> {
        // SAFETY: inotify_init1 takes flags and returns a new fd or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(super::errno());
        }
        // SAFETY: a fresh fd that we now own.
        Ok(Inotify { fd: unsafe { OwnedFd::from_raw_fd(fd) }, watches: HashMap::new() })
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Watches the inode behind `fd` for knote `(fd, filter)`; returns the watch descriptor.
    pub(crate) fn add(&mut self, fd: usize, filter: Filter) -> Result<i32, i32> {
        let path = CString::new(format!("/proc/self/fd/{fd}")).map_err(|_| libc::EINVAL)?;
        // SAFETY: `path` is a valid C string; the call reads it only.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), path.as_ptr(), MASK) };
        if wd < 0 {
            return Err(super::errno());
        }
        self.watches.entry(wd).or_default().push((fd, filter));
        Ok(wd)
    }

    /// Forgets knote `(ident, filter)` on `wd`, removing the watch when it was the last one.
    pub(crate) fn remove(&mut self, wd: i32, ident: usize, filter: Filter) {
        let Some(idents) = self.watches.get_mut(&wd) else { return };
        if let Some(pos) = idents.iter().position(|&i| i == (ident, filter)) {
            idents.swap_remove(pos);
        }
        if idents.is_empty() {
            self.watches.remove(&wd);
            // SAFETY: plain syscall on our inotify fd; an already-gone watch gives EINVAL.
            unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), wd) };
        }
    }

    /// Reads every pending inotify event.
    pub(crate) fn read(&self, out: &mut Vec<Change>) {
        #[repr(C, align(8))]
        struct Buf([u8; 8192]);
        let mut buf = Buf([0; 8192]);
        loop {
            // SAFETY: `buf` is valid for its length of writes.
            let n =
                unsafe { libc::read(self.fd.as_raw_fd(), buf.0.as_mut_ptr().cast(), buf.0.len()) };
            if n <= 0 {
                return;
            }
            let n = n as usize;
            let header = std::mem::size_of::<libc::inotify_event>();
            let mut off = 0;
            while off + header <= n {
                // SAFETY: the kernel wrote a whole inotify_event at `off` (records are aligned
                // and never split); read_unaligned avoids relying on that alignment.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf.0.as_ptr().add(off).cast()) };
                off += header + ev.len as usize;
                out.push(map(&ev));
            }
        }
    }
}

fn map(ev: &libc::inotify_event) -> Change {
    let m = ev.mask;
    if m & libc::IN_Q_OVERFLOW != 0 {
        return Change::Overflow;
    }
    if m & libc::IN_IGNORED != 0 {
        return Change::Ignored { wd: ev.wd };
    }
    // A watched directory also hears about writes and attribute changes of the files in it
    // (events that carry a name); on FreeBSD those concern the files, not the directory.
    // They are reported as kq's `note::CHILDREN`, to the knotes that ask for it.
    let mut notes = 0;
    let entry = libc::IN_MODIFY | libc::IN_ATTRIB;
    if ev.len > 0 && m & entry != 0 {
        notes |= note::CHILDREN;
    }
    let m = if ev.len > 0 { m & !entry } else { m };
    if m & libc::IN_DELETE_SELF != 0 {
        notes |= note::DELETE;
    }
    if m & libc::IN_MOVE_SELF != 0 {
        notes |= note::RENAME;
    }
    if m & libc::IN_UNMOUNT != 0 {
        notes |= note::REVOKE;
    }
    if m & (libc::IN_CREATE | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO) != 0 {
        notes |= note::WRITE;
        if m & libc::IN_ISDIR != 0 {
            notes |= note::LINK;
        }
    }
    let modified = m & libc::IN_MODIFY != 0;
    if modified {
        notes |= note::WRITE;
    }
    let attrib = m & libc::IN_ATTRIB != 0;
    if attrib {
        notes |= note::ATTRIB;
    }
    Change::Watch { wd: ev.wd, notes, modified, attrib }
}

/// The VNODE source of one kqueue: its inotify instance, made at the first VNODE knote (or READ
/// knote on a regular file).
#[derive(Default)]
pub(super) struct VnodeSource {
    inotify: Option<Inotify>,
    /// READ knotes on regular files: ident -> watch descriptor.
    file_reads: HashMap<usize, i32>,
}

impl VnodeSource {
    /// File system objects only, as on FreeBSD: pipes, sockets and the anonymous inodes of
    /// kqueues (epoll), eventfds, timerfds, signalfds, pidfds are EINVAL.
    pub(super) fn attach(
        &mut self,
        backend: &MioBackend,
        kev: &Kevent,
    ) -> Result<OsSourceState, i32> {
        let st = fstat(kev.ident)?;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG | libc::S_IFDIR | libc::S_IFLNK | libc::S_IFCHR | libc::S_IFBLK => {}
            _ => return Err(libc::EINVAL),
        }
        let wd = self.inotify(backend)?.add(kev.ident, Filter::Vnode)?;
        Ok(OsSourceState::Vnode { wd, size: st.st_size, nlink: st.st_nlink })
    }

    /// The kqueue's inotify instance, made and watched by the backend at first use.
    fn inotify(&mut self, backend: &MioBackend) -> Result<&mut Inotify, i32> {
        if self.inotify.is_none() {
            let ino = Inotify::new()?;
            backend.watch_read(ino.raw_fd(), INOTIFY_TOKEN).map_err(os_errno)?;
            self.inotify = Some(ino);
        }
        self.inotify.as_mut().ok_or(libc::EIO)
    }

    pub(super) fn detach(&mut self, wd: i32, ident: usize) {
        if let Some(ino) = &mut self.inotify {
            ino.remove(wd, ident, Filter::Vnode);
        }
    }

    /// A READ knote on the regular file `fd`: its inode's writes become edges of the knote.
    pub(super) fn watch_file_read(&mut self, backend: &MioBackend, fd: usize) -> Result<(), i32> {
        if self.file_reads.contains_key(&fd) {
            return Ok(());
        }
        let wd = self.inotify(backend)?.add(fd, Filter::Read)?;
        self.file_reads.insert(fd, wd);
        Ok(())
    }

    /// Undoes [`watch_file_read`](Self::watch_file_read).
    pub(super) fn unwatch_file_read(&mut self, fd: usize) {
        let Some(wd) = self.file_reads.remove(&fd) else { return };
        if let Some(ino) = &mut self.inotify {
            ino.remove(wd, fd, Filter::Read);
        }
    }

    /// inotify is readable: its events become notes of the VNODE knotes watching each inode,
    /// and edges ([`FollowUp::FileEdge`]) of the READ knotes on regular files.
    pub(super) fn handle(&mut self, core: &mut Core, follow: &mut Vec<FollowUp>) {
        let Some(ino) = &mut self.inotify else { return };
        let mut changes = Vec::new();
        ino.read(&mut changes);
        for change in changes {
            match change {
                Change::Overflow => {
                    for &(ident, filter) in ino.watches.values().flatten() {
                        if filter == Filter::Read {
                            follow.push(FollowUp::FileEdge(ident));
                            continue;
                        }
                        core.os_update(ident, Filter::Vnode, |kn| {
                            kn.fflags |= kn.sfflags | note::RESCAN;
                        });
                    }
                }
                Change::Ignored { wd } => {
                    ino.watches.remove(&wd);
                    self.file_reads.retain(|_, w| *w != wd);
                }
                Change::Watch { wd, notes, modified, attrib } => {
                    let Some(idents) = ino.watches.get(&wd) else { continue };
                    for &(ident, filter) in idents {
                        if filter == Filter::Read {
                            if modified {
                                follow.push(FollowUp::FileEdge(ident));
                            }
                            continue;
                        }
                        core.os_update(ident, Filter::Vnode, |kn| {
                            decode(kn, notes, modified, attrib)
                        });
                    }
                }
            }
        }
    }
}

/// Adds the notes of one inotify event to a VNODE knote, checking size and link count.
fn decode(kn: &mut Knote, mut notes: u32, modified: bool, attrib: bool) {
    let crate::sys::Kind::Os(OsSourceState::Vnode { size, nlink, .. }) = &mut kn.kind else {
        return;
    };
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
