//! The platform side of the core, for one kqueue: what a READ/WRITE knote's fd is and how it
//! is watched and evaluated (unix: `fstat`, the backend's fd watch, `poll(2)`; Windows: its
//! sockets), nesting, and the OS sources.

#[cfg(all(unix, not(loom)))]
use crate::kevent::Filter;
use crate::kevent::Kevent;
#[cfg(all(unix, not(loom)))]
use crate::sys::FdBackend as _;
use crate::sys::{Core, Kind, Knote, OsSourceState, OsSources};
use crate::wait::{Shared, State};

impl State {
    /// The core, and the platform side it calls back into.
    pub(crate) fn split<'a>(&'a mut self, shared: &'a Shared) -> (&'a mut Core, IoCtx<'a>) {
        let io = IoCtx {
            shared,
            os: &mut self.os,
            #[cfg(all(unix, not(loom)))]
            stat: std::cell::Cell::new(None),
            #[cfg(all(unix, not(loom)))]
            fresh_watch: None,
            #[cfg(all(unix, not(loom)))]
            unwatched: None,
        };
        (&mut self.core, io)
    }
}

/// The platform side of the core, for one kqueue.
pub(crate) struct IoCtx<'a> {
    shared: &'a Shared,
    os: &'a mut OsSources,
    /// The last fstat taken in this lock hold, reused by the next step on the same fd
    /// (a registration is identity check, classification and evaluation: one fstat).
    #[cfg(all(unix, not(loom)))]
    stat: std::cell::Cell<Option<(usize, libc::stat)>>,
    /// An fd whose watch was created by this context: its first edge, still to come, reports the
    /// current readiness of both directions.
    #[cfg(all(unix, not(loom)))]
    fresh_watch: Option<usize>,
    /// An fd whose watch `unwatch_checked` removed: its `detach_fd` has nothing to unwatch.
    #[cfg(all(unix, not(loom)))]
    unwatched: Option<usize>,
}

#[cfg(all(unix, not(loom)))]
impl IoCtx<'_> {
    fn stat(&self, fd: usize) -> Result<libc::stat, i32> {
        match self.stat.get() {
            Some((cached, st)) if cached == fd => Ok(st),
            _ => {
                let st = crate::sys::source::fstat(fd)?;
                self.stat.set(Some((fd, st)));
                Ok(st)
            }
        }
    }
}

impl crate::core::Io<OsSourceState> for IoCtx<'_> {
    fn identity(&self, fd: usize) -> Result<(u64, u64), i32> {
        #[cfg(all(unix, not(loom)))]
        return self.stat(fd).map(|st| crate::sys::source::identity_of(&st));
        #[cfg(all(windows, not(loom)))]
        return crate::sys::windows::identity(fd);
        #[cfg(not(all(any(unix, windows), not(loom))))]
        {
            let _ = fd;
            Err(crate::errno::EOPNOTSUPP)
        }
    }

    fn attach_fd(&mut self, kev: &Kevent, identity: (u64, u64), first: bool) -> Result<Kind, i32> {
        #[cfg(all(unix, not(loom)))]
        {
            let st = self.stat(kev.ident)?;
            // A socket is never a kqueue, nor is a pipe on Linux (a kqueue there is an epoll
            // fd, an anonymous inode; FreeBSD reports its kqueues as FIFOs): the process-wide
            // registry (a lock shared by every kqueue) is asked only about other fds.
            let ty = st.st_mode & libc::S_IFMT;
            let maybe_kqueue = ty != libc::S_IFSOCK
                && !(cfg!(any(target_os = "linux", target_os = "android")) && ty == libc::S_IFIFO);
            if let Some(child) = maybe_kqueue.then(|| crate::nest::lookup(kev.ident)).flatten() {
                if kev.filter != Filter::Read {
                    return Err(libc::EINVAL);
                }
                crate::nest::link(self.shared, &child, kev.ident)?;
                // Where the OS refuses to nest (Linux: chains of epolls deeper than a few give
                // ELOOP), the link stays and the waiting thread follows it instead: nothing
                // fails, so nothing is left behind.
                if first && self.shared.backend.watch_fd(kev.ident).is_ok() {
                    crate::nest::set_os_nested(self.shared, kev.ident);
                }
                return Ok(Kind::Nested);
            }
            if crate::sys::source::identity_of(&st) != identity {
                return Err(libc::EBADF); // closed and reused since the identity was taken
            }
            let edges_only = crate::core::filter::edges_only(kev.fflags, kev.flags);
            let ty = crate::sys::source::classify(kev.ident, &st, !edges_only);
            if first {
                self.shared.backend.watch_fd(kev.ident).map_err(os_errno)?;
                self.fresh_watch = Some(kev.ident);
            }
            // epoll cannot watch a regular file: inotify tells its READ knote of writes.
            #[cfg(all(not(kq_native), target_os = "linux"))]
            if ty == crate::core::FdType::File && kev.filter == Filter::Read {
                if let Err(errno) = self.os.watch_file_read(&self.shared.backend, kev.ident) {
                    if first {
                        self.shared.backend.unwatch_fd(kev.ident);
                    }
                    return Err(errno);
                }
            }
            Ok(Kind::Fd { ty, identity })
        }
        #[cfg(all(windows, not(loom)))]
        return crate::sys::windows::attach(&self.shared.backend, kev, identity, first);
        #[cfg(not(all(any(unix, windows), not(loom))))]
        {
            let _ = (kev, identity, first);
            Err(crate::errno::EOPNOTSUPP)
        }
    }

    fn arm_edges(&mut self, kn: &Knote, first: bool) -> bool {
        #[cfg(all(unix, not(loom)))]
        {
            match kn.kind {
                Kind::Fd { ty: crate::core::FdType::File, .. } => false,
                Kind::Fd { .. } => {
                    first
                        || self.fresh_watch == Some(kn.ident)
                        || self.shared.backend.rearm_fd(kn.ident).is_ok()
                }
                _ => false,
            }
        }
        #[cfg(all(windows, not(loom)))]
        return crate::sys::windows::arm_edges(&self.shared.backend, kn, first);
        #[cfg(not(all(any(unix, windows), not(loom))))]
        {
            let _ = (kn, first);
            false
        }
    }

    fn detach_fd(&mut self, kn: &Knote, last: bool) {
        #[cfg(all(unix, not(loom)))]
        {
            if let Kind::Nested = kn.kind {
                crate::nest::unlink(self.shared, kn.ident);
            }
            #[cfg(all(not(kq_native), target_os = "linux"))]
            if kn.filter == Filter::Read
                && matches!(kn.kind, Kind::Fd { ty: crate::core::FdType::File, .. })
            {
                self.os.unwatch_file_read(kn.ident);
            }
            if last && self.unwatched.take() != Some(kn.ident) {
                self.shared.backend.unwatch_fd(kn.ident);
            }
        }
        #[cfg(all(windows, not(loom)))]
        crate::sys::windows::detach(&self.shared.backend, kn, last);
        #[cfg(not(all(any(unix, windows), not(loom))))]
        let _ = (kn, last);
    }

    #[cfg(all(unix, not(loom)))]
    fn unwatch_checked(&mut self, fd: usize) -> Option<Result<(), i32>> {
        let result = self.shared.backend.unwatch_fd_checked(fd)?;
        if result.is_ok() {
            self.unwatched = Some(fd);
        }
        Some(result)
    }

    #[cfg(all(windows, not(loom)))]
    fn requeue_after_delivery(&self, kn: &Knote) -> bool {
        crate::sys::windows::requeue_after_delivery(kn)
    }

    fn nested_stale(&self, fd: usize) -> bool {
        #[cfg(all(unix, not(loom)))]
        {
            match (self.shared.child(fd), crate::nest::lookup(fd)) {
                (Some(linked), Some(now)) => !std::sync::Arc::ptr_eq(&linked, &now),
                _ => true,
            }
        }
        #[cfg(not(all(unix, not(loom))))]
        {
            let _ = fd;
            false
        }
    }

    fn attach_os(&mut self, kev: &Kevent) -> Result<Kind, i32> {
        self.os.attach(&self.shared.backend, kev).map(Kind::Os)
    }

    fn detach_os(&mut self, kn: &Knote) {
        self.os.detach(&self.shared.backend, kn);
    }

    fn evaluate(&mut self, kn: &mut Knote) -> Result<bool, ()> {
        match &kn.kind {
            #[cfg(all(unix, not(loom)))]
            Kind::Fd { ty, identity } => {
                // The fd number may now name another file (closed and reused without a new
                // registration): then the knote's file is gone, and so is the knote.
                let st = self.stat(kn.ident).map_err(|_| ())?;
                if crate::sys::source::identity_of(&st) != *identity {
                    return Err(());
                }
                let p = crate::sys::source::probe(kn.ident, kn.filter, *ty, kn.sfflags, kn.sdata)?;
                kn.data = p.data;
                kn.eof = p.eof;
                kn.fflags = p.fflags;
                Ok(p.ready)
            }
            #[cfg(all(windows, not(loom)))]
            Kind::Fd { .. } => crate::sys::windows::evaluate(&self.shared.backend, kn),
            Kind::Nested => {
                let child = self.shared.child(kn.ident).ok_or(())?;
                kn.data = child.pending_count();
                Ok(kn.data > 0)
            }
            Kind::Os(_) => Ok(self.os.evaluate(kn)),
            _ => Ok(false),
        }
    }
}

#[cfg(all(unix, not(loom)))]
fn os_errno(e: std::io::Error) -> i32 {
    crate::errno::of(&e)
}
