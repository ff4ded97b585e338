//! kq-reactor: kqueue's event model on every platform.
//!
//! A [`Kqueue`] holds *knotes*, each identified by `(ident, filter)`, and delivers their events
//! through [`Kqueue::kevent`] with the exact semantics of FreeBSD's kqueue(2): level-triggered by
//! default, edge-triggered with [`Flags::CLEAR`], once with [`Flags::ONESHOT`], once-then-disabled
//! with [`Flags::DISPATCH`], receipts and errors echoed as [`Flags::ERROR`] entries.
//!
//! # Filters
//!
//! | filter | ident | FreeBSD, macOS, NetBSD, OpenBSD (native) | Linux (emulated) | Windows |
//! |---|---|---|---|---|
//! | [`Filter::Read`], [`Filter::Write`] | fd (Windows: `SOCKET`) | kernel, level re-evaluated by the core | epoll (mio) + `poll(2)`/`FIONREAD`/`SIOCOUTQ` | sockets only: AFD poll (mio) + `WSAPoll`/`FIONREAD` (see below) |
//! | READ on another `Kqueue` | fd | yes | yes, any depth (see [Nesting](#nesting)) | - |
//! | [`Filter::Timer`] | user id | core heap | core heap | core heap |
//! | [`Filter::User`] | user id | core | core | core |
//! | [`Filter::Vnode`] | fd | kernel | inotify on `/proc/self/fd/N`; REVOKE = unmount; overflow gives [`note::RESCAN`]; directories can also report their entries' changes ([`note::CHILDREN`], kq's extension; native: `EOPNOTSUPP`) | `EOPNOTSUPP` |
//! | [`Filter::Proc`] | pid | kernel: EXIT, FORK, EXEC | pidfd: EXIT only (FORK/EXEC `EOPNOTSUPP`); status of a non-child is 0 | `EOPNOTSUPP` |
//! | [`Filter::Signal`] | signal | kernel (dispositions untouched) | counting handler + pipe (see below) | `EOPNOTSUPP` |
//!
//! ## Signals on Linux
//!
//! The first SIGNAL knote for a signal installs a process-wide handler that counts deliveries
//! and chains to the handler that was there before; it stays installed, as tokio's does. A
//! disposition of `SIG_IGN` or `SIG_DFL` is replaced by counting: on Linux a watched signal
//! whose default action would end the process no longer does (on the native backend, as on
//! FreeBSD, it still does: set `SIG_IGN` or a handler first). `SIGCHLD` left at `SIG_IGN` is not
//! touched (that would change how children are reaped) and its knote never fires. No signal needs
//! to be blocked by the program, and a signal the program blocks in every thread is not counted
//! until it is unblocked and delivered (the kernel runs no handler for a blocked signal; FreeBSD
//! counts the attempt). Programs written for libkqueue, which reads signals with `signalfd` and
//! asks for them blocked, must leave them unblocked with kq. A handler another library installs
//! over kq's is left in place (libraries such as signal-hook chain to the handler they replaced;
//! one that does not chain stops kq's counting). `SIGKILL`, `SIGSTOP`, 0 and numbers past 64 are
//! `EINVAL`, and so are `SIGILL`, `SIGFPE` and `SIGSEGV` (a counting handler would turn a fault
//! into a hang). Any number of kqueues may watch signals: each holds one pipe from a pool that grows as needed
//! (pipes are reused, never closed: the handler may be writing to one at any moment).
//!
//! ## Sockets on Windows
//!
//! The ident is the `SOCKET` handle (`AsRawSocket::as_raw_socket() as usize`); any other handle
//! is `EBADF`. The reactor wraps the socket for mio without owning it. Level, ONESHOT, DISPATCH
//! and `NOTE_NODATA` edges are exact; a [`Flags::CLEAR`] knote without `NOTE_NODATA` is reported
//! again at each `kevent` call while its condition holds (the AFD poll is level-triggered and the
//! reactor cannot see the application's reads). A `NOTE_NODATA` edge knote is re-armed by
//! re-adding it after `WouldBlock` (kq-runtime does). READ `data` on a listener and WRITE `data`
//! are 1 (Windows gives neither the backlog length nor the free send space); `NOTE_LOWAT` is
//! `EOPNOTSUPP` (the AFD poll is level-triggered: below the mark it would report at once, again
//! and again). Under wine, a peer's FIN is seen only once the data before it is read.
//!
//! # Architecture
//!
//! A portable core (knote table, ready queue, timer heap, FreeBSD's collection scan) behind **one
//! lock**, whose contention is counted ([`Kqueue::lock_stats`]; wait and hold times with the
//! `lock-profiling` feature). Under it, a backend that only reports "this fd may have changed":
//! the kernel's kqueue on FreeBSD, macOS, NetBSD and OpenBSD, `mio` elsewhere. Level semantics come
//! from asking the source itself at collection (a zero-timeout `poll(2)` and `FIONREAD` or
//! `SIOCOUTQ`), so they are exact on an edge-triggered poller.
//!
//! # Socket errors on Linux
//!
//! An EOF event carries the socket's pending error in `fflags`, as on FreeBSD. Linux has no way
//! to read it but `SO_ERROR`, which clears it: after such an event the application's own read
//! returns end-of-file instead of the error. Knotes with [`note::NODATA`] never read it.
//!
//! # Closed and reused descriptors
//!
//! A knote remembers the identity (`st_dev`, `st_ino`) of its fd's file. Each evaluation checks
//! it (READ and WRITE at every collection; VNODE, whose inotify watch follows the inode and not
//! the fd, and ONESHOT knotes before delivery), so a knote whose fd was closed — or closed and
//! its number reused by another file — is dropped instead of reporting about the new file, and
//! any change on a reused number first drops the old knotes: an event about a closed file never
//! reaches a new registration of that number. What is left of FreeBSD's rule (close drops the
//! knotes) on Linux:
//!
//! - a knote on a closed fd lingers, unused and silent, until its number is touched or the
//!   knote is evaluated again ([`Kqueue::len`] counts it meanwhile);
//! - a closed fd whose number is reused by *the same file* (a `dup` of it, or another `open` of
//!   the same path) is indistinguishable from the old one: its knotes stay and report about that
//!   file. Linux's anonymous inodes (eventfd, timerfd, signalfd, epoll — hence another
//!   [`Kqueue`] —, pidfd) all share one identity, so for READ/WRITE knotes on those, reuse of
//!   the number by another such fd is not detected either;
//! - knotes with [`note::NODATA`] skip the identity check (it is one of the calls they save).
//!
//! Delete knotes before closing: `EV_DELETE`, or [`Kqueue::delete_fd_knotes`] (what `close(2)`
//! does to an fd's knotes on FreeBSD, without asking the OS about the fd), as the kq crates do.
//! The `EV_DELETE` of an fd's last READ/WRITE knote removes the backend's watch first and takes
//! its answer (epoll and the kernel's kqueue key a watch by file: `EBADF` for a closed fd,
//! `ENOENT` for a number that names another file now), the same answers as the identity check.
//!
//! # Nesting
//!
//! A kqueue registered for READ in another one reports its pending events (`data`: queued events,
//! plus one for due timers, plus one when only kqueues further down have some). What the OS has for
//! the watched kqueue and nobody collected yet is collected first, so its knotes are activated and,
//! where FreeBSD's filters would decide at the source, evaluated: a change no knote reports (data
//! below a `NOTE_LOWAT` mark, say) counts nothing. Watching itself, and any registration that would
//! close a cycle, is `EINVAL`; chains have no depth limit. On Linux the OS nests a kqueue's epoll
//! instance in its parent's where it can (up to the depth Linux allows, about 4); deeper links are
//! followed by the thread that waits in `kevent` on an ancestor, which polls those kqueues' fds
//! along with its own. Only an outside poller of a kqueue's fd (e.g. an epoll of the application's
//! own) misses events below that depth. A `dup` of a kqueue's fd is an ordinary fd to another
//! kqueue, readable while the OS has events for the original.
//!
//! # fork
//!
//! A kqueue is not inherited across `fork` (as on FreeBSD): in the child, every `kevent` on a
//! kqueue created before the fork fails with `EBADF`, and takes none of the parent's events
//! (on Linux the child shares the parent's epoll instance); the parent is unaffected. The child
//! may create kqueues of its own. (Detected with a `pthread_atfork` handler: a raw `clone` that
//! skips it is not.)
//!
//! # Deviations from FreeBSD
//!
//! Made exact where FreeBSD is clear: `EV_ADD|EV_DELETE` on a missing knote creates it (and on an
//! existing one deletes it); a successful change with `EV_RECEIPT` and no room left to echo it
//! ends the call, later changes unapplied; re-adding a TIMER with an invalid request succeeds and
//! stops the timer, dropping its pending expirations. Kept on purpose:
//!
//! - receipts: in that last case FreeBSD's `kevent` returns 0 even when earlier entries of the
//!   same call were written; kq returns the number of entries written, so that they can be read;
//! - TIMER: FreeBSD also marks the stopped knote with `EV_ERROR` and the errno in its stored
//!   `data`, so that a later valid re-add delivers expirations flagged `EV_ERROR`; kq delivers
//!   plain expirations;
//! - closed descriptors (Linux): see above; knotes linger, silent, until looked at, and a number
//!   reused by the same file keeps its knotes (FreeBSD drops knotes at `close`, which no Linux
//!   interface reports);
//! - nesting: `data` as described above (FreeBSD counts queued knotes only); an edge event that
//!   a kqueue's own waiter takes before a kqueue above it looks is not reported above (FreeBSD
//!   would leave the intermediate knotes queued until scanned); on Linux the fd of a deep kqueue,
//!   polled from outside kq, is not readable for what happens below Linux's nesting depth;
//! - SIGNAL (Linux): a watched signal's default action is replaced by counting, and a signal
//!   blocked in every thread is counted only once unblocked; PROC (Linux): NOTE_EXIT only, the
//!   status of a non-child is 0, and so is the status of a child the program reaped (`waitpid`)
//!   before the event was collected (Linux keeps no status once a child is reaped; FreeBSD
//!   stores it at exit); VNODE (Linux): inotify's view (see the table);
//! - READ on a regular file (Linux): epoll cannot watch regular files, so an inotify watch
//!   (the kqueue's VNODE instance) stands behind the knote, and a write or truncation by anyone
//!   activates it, as on FreeBSD (`tail -f`); registering it takes an inotify watch, and fails
//!   with `ENOSPC` when `fs.inotify.max_user_watches` is reached. inotify hears nothing of writes
//!   through the descriptor of an anonymous file (`memfd_create`) or through a shared mapping;
//! - `fork`: detected through `pthread_atfork`, so a raw `clone` child is not.
//!
//! # Example
//!
//! ```
//! use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
//! use std::time::Duration;
//!
//! let kq = Kqueue::new()?;
//! let add = Kevent::new(1, Filter::User, Flags::ADD | Flags::CLEAR).with_udata(7);
//! kq.kevent(&[add], &mut [], None)?;
//! // A trigger is a modify: like any modify it sets udata too.
//! let trigger = Kevent::new(1, Filter::User, Flags::empty()).with_fflags(note::TRIGGER).with_udata(7);
//! let mut events = [Kevent::default(); 4];
//! let n = kq.kevent(&[trigger], &mut events, Some(Duration::ZERO))?;
//! assert_eq!(n, 1);
//! assert_eq!(events[0].udata, 7);
//! # Ok::<(), std::io::Error>(())
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod core;
mod errno;
#[cfg(all(unix, not(loom)))]
mod fork;
mod kevent;
mod kqueue;
#[cfg(all(unix, not(loom)))]
mod nest;
mod platform;
mod sync;
mod sys;
mod wait;

pub use errno::errno_of;
pub use kevent::{note, Filter, Flags, Kevent};
pub use kqueue::Kqueue;
pub use sync::LockStats;

#[cfg(all(test, loom))]
mod loom_tests;
