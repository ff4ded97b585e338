//! kq-reactor: kqueue's event model on every platform.
//!
//! A [`Kqueue`] holds *knotes*, each identified by `(ident, filter)`, and delivers their events
//! through [`Kqueue::kevent`] with the exact semantics of FreeBSD's kqueue(2): level-triggered by
//! default, edge-triggered with [`Flags::CLEAR`], once with [`Flags::ONESHOT`], once-then-disabled
//! with [`Flags::DISPATCH`], receipts and errors echoed as [`Flags::ERROR`] entries.
//!
//! # Filters
//!
//! | filter | ident | here |
//! |---|---|---|
//! | [`Filter::Read`], [`Filter::Write`] | fd | sockets, pipes, files, ttys; another `Kqueue` (READ) |
//! | [`Filter::Timer`] | user id | all units, periodic, ONESHOT, ABSTIME |
//! | [`Filter::User`] | user id | TRIGGER and the FFAND/FFOR/FFCOPY flag operations |
//! | [`Filter::Vnode`], [`Filter::Proc`], [`Filter::Signal`] | fd, pid, signal | not yet: registration fails with `EOPNOTSUPP` ([`std::io::ErrorKind::Unsupported`]) |
//!
//! On Windows only TIMER and USER are provided; READ and WRITE fail with `EOPNOTSUPP`.
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
//! # Closed and reused descriptors
//!
//! A knote remembers the identity (`st_dev`, `st_ino`) of its fd's file. Each evaluation checks
//! it, so a knote whose fd was closed — or closed and its number reused by another file — is
//! dropped instead of reporting about the new file, and any change on a reused number first drops
//! the old knotes: an event about a closed file never reaches a new registration of that number.
//! The rule left for raw fds: a knote on a closed fd lingers (unused) until its number is touched
//! or evaluated again; delete knotes (`EV_DELETE`) before closing, as the kq crates do.
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
//! let trigger = Kevent::new(1, Filter::User, Flags::empty()).with_fflags(note::TRIGGER);
//! let mut events = [Kevent::default(); 4];
//! let n = kq.kevent(&[trigger], &mut events, Some(Duration::ZERO))?;
//! assert_eq!(n, 1);
//! assert_eq!(events[0].udata, 7);
//! # Ok::<(), std::io::Error>(())
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod core;
mod errno;
mod kevent;
mod kqueue;
#[cfg(all(unix, not(loom)))]
mod nest;
mod sync;
mod sys;

pub use kevent::{note, Filter, Flags, Kevent};
pub use kqueue::Kqueue;
pub use sync::LockStats;

#[cfg(all(test, loom))]
mod loom_tests;
