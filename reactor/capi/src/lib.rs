//! kq-capi: kq's reactor as a C library, `libkq.so` and `libkq.a`, exporting BSD's
//!
//! ```c
//! int kqueue(void);
//! int kevent(int kq, const struct kevent *changelist, int nchanges,
//!            struct kevent *eventlist, int nevents, const struct timespec *timeout);
//! ```
//!
//! with the header `include/sys/event.h`, binary compatible with libkqueue's Linux header (same
//! `struct kevent` layout, same constants): a program built against libkqueue runs on kq when
//! `libkq.so` is loaded in place of `libkqueue.so.0`. The semantics are those of
//! [`kq_reactor`] (FreeBSD's); `docs/KQUEUE.md` is the contract, and `kevent()` fails with
//! the errno it lists.
//!
//! - `kqueue()` returns a real descriptor (the write end of a pipe), freed by `close(2)`; see the
//!   `src/table.rs` for how a close is noticed, how a reused number is never mistaken for the old
//!   kqueue, and what `fork()` does.
//! - `kevent()` is thread-safe: any number of threads may use one kqueue at once.
//! - Argument errors: a negative `nchanges` or `nevents` is `EINVAL`; a null list with a positive
//!   count is `EFAULT`; a timeout with a negative `tv_sec` or a `tv_nsec` outside
//!   `0..1_000_000_000` is `EINVAL` (checked before any change is applied); a descriptor that is
//!   not a kqueue of this process is `EBADF`.
//! - No panic crosses the C boundary: one would be reported as `EIO`.
//!
//! Only Linux builds the library; elsewhere the crate is empty (the kernel has kqueue).

#[cfg(target_os = "linux")]
mod abi;
#[cfg(target_os = "linux")]
mod call;
#[cfg(target_os = "linux")]
mod reaper;
#[cfg(target_os = "linux")]
mod table;

#[cfg(target_os = "linux")]
pub use abi::CKevent;

#[cfg(target_os = "linux")]
mod exports {
    use std::os::raw::c_int;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use crate::abi::CKevent;

    fn errno_location() -> *mut c_int {
        // SAFETY: __errno_location has no preconditions and returns this thread's errno.
        unsafe { libc::__errno_location() }
    }

    /// Runs `f` for C: its value, or -1 with errno set; errno is left as it was on success, and
    /// a panic becomes `EIO`.
    fn guard(f: impl FnOnce() -> Result<c_int, i32>) -> c_int {
        let errno = errno_location();
        // SAFETY: `errno` points to this thread's errno.
        let saved = unsafe { *errno };
        let (value, err) = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(n)) => (n, saved),
            Ok(Err(e)) => (-1, e),
            Err(_) => (-1, libc::EIO),
        };
        // SAFETY: as above.
        unsafe { *errno = err };
        value
    }

    /// `int kqueue(void)`: a new kqueue, or -1 with errno (`EMFILE`, `ENFILE`, `ENOMEM`).
    #[no_mangle]
    pub extern "C" fn kqueue() -> c_int {
        guard(crate::table::create)
    }

    /// `int kevent(...)`: see the crate docs.
    ///
    /// # Safety
    /// As kevent(2): `changelist` valid for `nchanges` reads, `eventlist` for `nevents` writes
    /// (they may overlap), `timeout` null or valid.
    #[no_mangle]
    pub unsafe extern "C" fn kevent(
        kq: c_int,
        changelist: *const CKevent,
        nchanges: c_int,
        eventlist: *mut CKevent,
        nevents: c_int,
        timeout: *const libc::timespec,
    ) -> c_int {
        guard(|| {
            // SAFETY: the caller's promise, forwarded.
            unsafe { crate::call::kevent(kq, changelist, nchanges, eventlist, nevents, timeout) }
        })
    }
}
