//! kq-fs-watch: a recursive file watcher on the reactor's VNODE knotes, as a
//! `Stream<Item = io::Result<Event>>` (re-exported as `kq::fs_watch`).
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use kq_fs_watch::{RecursiveMode, Watcher};
//!
//! # kq_runtime::Runtime::new()?.block_on(async {
//! let mut watcher = Watcher::new()?;
//! watcher.watch("src", RecursiveMode::Recursive)?;
//! while let Some(event) = watcher.next().await {
//!     println!("{}", event?);
//! }
//! # Ok::<(), std::io::Error>(())
//! # })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How it works
//!
//! Every watched directory is kept open (one descriptor) and has one VNODE knote on the
//! runtime's reactor (a [`kq_runtime::io::EventSource`]); there is no inotify instance or polling
//! loop of its own. When a directory's knote fires, the directory is read again and compared with
//! its snapshot (name -> device, inode, type, size, mtime, ctime, mode, owner):
//!
//! - a new name gives **Create**, a name gone gives **Remove**, and a Remove plus a Create of the
//!   same (device, inode) anywhere in the watched trees give one **Rename { from, to }** (see
//!   [`PAIR_WINDOW`] for how long an unpaired Remove waits for its other half);
//! - a new directory is opened, watched and read at once, and everything already in it gets a
//!   Create (`mkdir -p a/b/c && touch a/b/c/f` gives Create for a, a/b, a/b/c, a/b/c/f);
//! - a changed size or mtime gives **Modify(Data)**, a changed mode, owner or ctime
//!   **Modify(Metadata)**.
//!
//! Changes that happen between two looks at a directory are coalesced: a file created and
//! written gives one Create, a file created and deleted nothing. Events for one path come in the
//! order the changes happened, and every event agrees with the ones before it: a program that
//! applies them to a set of paths (Create adds the path, Remove takes it and everything below,
//! Rename moves it and everything below) never sees a Create of a path it has or a Remove,
//! Modify or Rename of one it lacks, and ends with what is on disk (`tests/random_ops.rs` checks
//! this against random creates, writes, deletes, renames across directories and whole
//! directories moved and removed, on both runtime flavours).
//!
//! ## Scale: one descriptor per directory
//!
//! On Linux each directory knote asks for [`kq_reactor::note::CHILDREN`], kq's extension that
//! makes a directory knote fire when one of its entries is written or changes attributes (the
//! inotify directory watch sees those), so files need no descriptor of their own: a tree of
//! 100,000 files in 1,000 directories takes about 1,000 descriptors and 1,000 inotify watches.
//! On FreeBSD and macOS directories do not report their files' writes, so every file gets its
//! own knote and descriptor ([`Builder::per_file_knotes`]); the watcher raises the soft
//! `RLIMIT_NOFILE` to the hard limit at [`Builder::build`], and the number of files plus
//! directories it can watch is that limit minus what the program already has open (macOS caps
//! it at `OPEN_MAX`, 10,240). Past it, the stream reports [`LimitError`]s.
//!
//! ## Saves as editors do them
//!
//! - *Atomic save* (write `f.tmp`, rename it over `f`): when the watcher looks after the
//!   rename only, `Modify(Data) f`; when it saw `f.tmp` first: `Create f.tmp`
//!   (`Modify(Data) f.tmp`), then `Rename { from: f.tmp, to: f }` (the old `f` gets no Remove of
//!   its own, as with rename(2)).
//! - *vim-style save* (rename `f` to `f~`, write a new `f`, delete `f~`): seen in one look,
//!   `Modify(Data) f`; seen step by step, `Rename { from: f, to: f~ }`, `Create f`,
//!   `Modify(Data) f`, `Remove f~`.
//!
//! ## Roots, errors and limits
//!
//! - A watched root deleted or moved away: its Remove (after a Remove for whatever was still in
//!   it) or its `Rename { from: root, to: where it went }` (Linux), then it is no longer watched;
//!   when it was the last root, the stream ends. A root's removal is heard through a knote on
//!   its parent directory (Linux reports a directory's own deletion only when the last
//!   descriptor on it closes, and the watcher holds one).
//! - A root that is a symlink is followed, with or without `follow_symlinks` (as notify does:
//!   inotify follows it). To a file (through any chain of links): that file is watched where
//!   it is, and its writes, truncations and attribute changes are reported under the link's
//!   path, as for a file root. The file deleted or moved away: the root's Remove, then it is no
//!   longer watched. The link deleted, or made to dangle or to lead to a directory: the root's
//!   Remove too. The link made to lead to another file (`ln -sfn other link`, or a Kubernetes
//!   ConfigMap update swapping its `..data` link): `Modify(Data)` of the link's path, and that
//!   file is watched from then on. (notify's inotify backend keeps watching the old file's
//!   inode instead, and reports no event for the link's deletion or swap.)
//! - A root that is a symlink to a directory is watched under the link's path. The link made to
//!   lead to another directory (`ln -sfn releases/8 current`, which renames a new link over the
//!   old one; or the path replaced by a directory): that directory is watched from then on, in
//!   the root's mode, and the old one no longer (its descriptors and knotes are released). The
//!   swap is reported as a reader of the link's path sees it: the view last reported against the
//!   new directory, name by name, under the link's path: **Create** of what only the new one has
//!   (a directory before its contents), **Remove** of what only the old one had (contents
//!   first), `Modify(Data)` of a name that now holds another file or changed content,
//!   `Modify(Metadata)` of one whose attributes differ, a Remove then a Create of a name whose
//!   type changed; nothing for a directory both have, nor for the same (hard-linked) unchanged
//!   file. A program that mirrors the tree from the events ends with the new directory's
//!   content; a deploy that swaps the link and then deletes the old release gets no Removes of
//!   it. The link deleted, made to dangle (the directory it leads to deleted or moved away too:
//!   that directory's parent is watched to hear it) or to lead to a file: one Remove of the
//!   root (what was below it goes with it), then it is no longer watched. (notify's inotify
//!   backend keeps watching the old directory.)
//! - `watch` of a path that does not exist, or of a dangling symlink: `NotFound` naming it; of
//!   a symlink loop: the `ELOOP` error naming it. A subdirectory that cannot be read is
//!   skipped with an error item naming it. With `follow_symlinks(true)`, a symlink that
//!   leads back to one of its ancestors is reported as an error item and not followed.
//! - Out of descriptors or inotify watches: an error item whose inner error is a
//!   [`LimitError`] naming the limit to raise; the rest stays watched.
//! - Overflow of the kernel queue ([`kq_reactor::note::RESCAN`]): a **Rescan** event, then every
//!   watched directory is diffed again and the events that follow bring the view back to the
//!   disk.
//!
//! ## Known limits
//!
//! - A rewrite that changes neither the size nor the mtime or ctime (both are set from a coarse
//!   clock, a few ms on Linux) of a file since the watcher's last look at it is not seen.
//! - Overlapping roots (`a` and `a/b`) are watched twice and report changes below `a/b` twice.
//! - The first `watch` of a tree reads all of it synchronously (about 0.15 s for 100,000 files
//!   on tmpfs, as long as notify takes) on the calling task's thread; the snapshot costs about
//!   55 bytes a file (a 48-byte record and the name).
//! - A change costs a read of its whole directory (one `statx` per entry): a directory of
//!   100,000 files with one of them written continuously keeps a core busy. Debounce bounds it.
//! - Without `follow_symlinks`, changes behind a symlink below a root are not seen; with it, a
//!   directory reachable by two paths is watched (and reported) twice.
//! - A root that is a symlink hears its link being swapped through the link's own directory
//!   and through the file's directory (or the directory's own entries and its parent): a link
//!   further along the way, in another directory, swapped is seen at the old file's or
//!   directory's next change (or deletion), not at once.
//! - A symlinked directory root swapped costs a read of the whole new tree (as a first `watch`:
//!   about 45 ms for 20,000 files in 200 directories on tmpfs), and every file both directories
//!   have but as different files (a fresh copy of a release) gets a `Modify(Data)`, changed or
//!   not: releases hard-linked to each other (`rsync --link-dest`, `cp -al`) report only what
//!   changed.
//! - A directory watched through a link above it (`current/conf`, `current` swapped) stays on
//!   the old release's directory until that is deleted (its Remove, then it ends): watch the
//!   link itself to follow swaps.
//! - Unix only (Linux, FreeBSD, macOS, NetBSD, OpenBSD): on Windows this crate is empty.

#[cfg(unix)]
mod batch;
#[cfg(unix)]
mod event;
#[cfg(unix)]
mod filter;
#[cfg(unix)]
mod ids;
#[cfg(unix)]
mod ready;
#[cfg(unix)]
mod retarget;
#[cfg(unix)]
mod snapshot;
#[cfg(unix)]
mod sys;
#[cfg(unix)]
mod tree;
#[cfg(unix)]
mod watcher;

#[cfg(unix)]
pub use batch::PAIR_WINDOW;
#[cfg(unix)]
pub use event::{Event, EventKind, FileType, Limit, LimitError, ModifyKind};
#[cfg(unix)]
pub use filter::{Glob, PathFilter};
#[cfg(unix)]
pub use watcher::{Builder, Watcher};

/// Whether a watch covers what is below the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecursiveMode {
    /// The directory and everything below it, including directories created later.
    Recursive,
    /// The directory's own entries only.
    NonRecursive,
}
