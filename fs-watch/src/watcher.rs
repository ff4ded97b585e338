//! [`Watcher`] (the stream) and its [`Builder`].

use std::collections::{BTreeSet, VecDeque};
use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use kq_reactor::note;
use kq_runtime::time::{sleep_until, Sleep};

use crate::batch::{self, Held, PAIR_WINDOW};
use crate::event::{path_error, Event, EventKind, FileType, ModifyKind};
use crate::filter::PathFilter;
use crate::retarget;
use crate::sys;
use crate::tree::{Dir, Owner, Root, Tree};
use crate::RecursiveMode;

/// How many kevents one poll takes from one knote before moving on to the others.
const EVENTS_PER_SLOT: usize = 64;

/// Options of a [`Watcher`]: `Watcher::builder().debounce(..).filter(..).build()`.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    debounce: Option<Duration>,
    filter: Option<PathFilter>,
    follow_symlinks: bool,
    per_file: bool,
}

impl Builder {
    /// Waits this long after a change before looking, so that a burst of changes is reported
    /// coalesced (a file written ten times gives one Modify). Default: none, look at once.
    pub fn debounce(mut self, delay: Duration) -> Builder {
        self.debounce = (!delay.is_zero()).then_some(delay);
        self
    }

    /// Reports only events with a path that passes `filter`: a [`PathFilter::glob`] or any
    /// `Fn(&Path) -> bool`. Directories are watched whatever it says.
    pub fn filter(mut self, filter: impl Into<PathFilter>) -> Builder {
        self.filter = Some(filter.into());
        self
    }

    /// Follows symlinks to directories below the roots (watching what they lead to, under the
    /// link's path). Default: false (a symlink is an entry like any other). Loops are detected
    /// and reported. A root that is a symlink is followed whatever this says.
    pub fn follow_symlinks(mut self, follow: bool) -> Builder {
        self.follow_symlinks = follow;
        self
    }

    /// One knote and descriptor per file, as native kqueue needs (FreeBSD, macOS: always on
    /// there). On Linux it is off by default: directory knotes report their files' changes.
    pub fn per_file_knotes(mut self, on: bool) -> Builder {
        self.per_file = on;
        self
    }

    /// The watcher. Inside a kq runtime it registers with that runtime; outside one, with the
    /// runtime current at the first [`Watcher::watch`].
    ///
    /// # Errors
    /// None today on Linux; kept for platforms that may refuse.
    pub fn build(self) -> io::Result<Watcher> {
        let per_file = self.per_file || !cfg!(target_os = "linux");
        if per_file && !cfg!(target_os = "linux") {
            sys::raise_nofile();
        }
        let handle = kq_runtime::runtime::Handle::try_current().ok();
        Ok(Watcher {
            tree: Tree::new(self.follow_symlinks, per_file, handle),
            filter: self.filter,
            debounce: self.debounce,
            out: VecDeque::new(),
            dirty: BTreeSet::new(),
            root_checks: BTreeSet::new(),
            rescan: false,
            held: Vec::new(),
            held_deadline: None,
            debounce_deadline: None,
            timer: None,
            ended: false,
        })
    }
}

/// A file watcher: a `Stream` of [`Event`]s (and of error items that do not stop it).
pub struct Watcher {
    tree: Tree,
    filter: Option<PathFilter>,
    debounce: Option<Duration>,
    out: VecDeque<io::Result<Event>>,
    dirty: BTreeSet<usize>,
    root_checks: BTreeSet<usize>,
    rescan: bool,
    held: Vec<Held>,
    held_deadline: Option<Instant>,
    debounce_deadline: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    ended: bool,
}

impl Watcher {
    /// A watcher with the default options.
    ///
    /// # Errors
    /// As [`Builder::build`].
    pub fn new() -> io::Result<Watcher> {
        Watcher::builder().build()
    }

    /// Options: debounce, filter, symlinks.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Watches `path` (a directory, or a file). Watching a path already watched in the same mode
    /// does nothing; in the other mode, replaces that watch. A symlink is followed, to a
    /// directory or to a file, and its events are reported under `path`; the link swapped to
    /// another directory or file, the new one is watched (see the crate docs, "Roots, errors
    /// and limits", for the events, and for the link deleted).
    ///
    /// # Errors
    /// `NotFound` (naming the path) when it does not exist or is a dangling symlink; the
    /// `ELOOP` error (naming it) for a symlink loop; outside a kq runtime (when the
    /// watcher was built outside one too); the errors of opening it or of its knote, a
    /// [`LimitError`](crate::LimitError) for a limit. Errors below the root (unreadable
    /// subdirectories, limits) come as items of the stream instead.
    pub fn watch(&mut self, path: impl AsRef<Path>, mode: RecursiveMode) -> io::Result<()> {
        let path = absolute(path.as_ref())?;
        let existing = self.tree.roots.iter().find(|(_, r)| r.path == path);
        if let Some((r, same)) = existing.map(|(r, root)| (r, root.mode == mode)) {
            if same {
                return Ok(());
            }
            self.drop_root(r);
        }
        self.tree.handle()?;
        let st = sys::stat_path(&path, true).map_err(|e| path_error(e, &path))?;
        let link = sys::stat_path(&path, false).is_ok_and(|l| l.kind == FileType::Symlink);
        let r = self.tree.roots.next_key();
        let (dir, target, id) = if st.kind == FileType::Dir {
            let at = libc::AT_FDCWD;
            let dir = self.tree.open_dir(at, path.as_os_str(), path.clone(), None, r, true)?;
            (dir, None, st.id())
        } else {
            // A symlink to a file is followed, as one to a directory is: the file is watched
            // where it is, and its events are renamed to `path` (see `name_events`).
            let target = if link {
                Some(std::fs::canonicalize(&path).map_err(|e| path_error(e, &path))?)
            } else {
                None
            };
            let (dir, watched) = self.watch_file(target.as_deref().unwrap_or(&path), r)?;
            (dir, target, watched.id())
        };
        let file = st.kind != FileType::Dir;
        let root = Root {
            path: path.clone(),
            mode,
            dir,
            file,
            target,
            link,
            id,
            parent_slot: None,
            target_slot: None,
        };
        self.tree.roots.insert(root);
        if !file || link {
            // The parent's knote hears the root's removal or move (a link's: its retargeting).
            if let Some(parent) = path.parent() {
                let slot =
                    sys::open_dir_at(libc::AT_FDCWD, parent.as_os_str(), true).and_then(|fd| {
                        let raw = fd.as_raw_fd();
                        self.tree.add_slot(raw, Owner::RootParent(r), Some(fd), false)
                    });
                match slot {
                    Ok(slot) => self.tree.roots[r].parent_slot = Some(slot),
                    Err(e) => self.tree.errors.push(path_error(e, parent)),
                }
            }
        }
        if !file {
            if link {
                self.tree.roots[r].target_slot = self.watch_target_parent(r);
            }
            let mut sink = Vec::new();
            self.tree.scan(dir, false, &mut sink);
        }
        self.ended = false;
        self.take_errors();
        Ok(())
    }

    /// A file root: its directory, following one name; and what that name was when read.
    fn watch_file(&mut self, path: &Path, root: usize) -> io::Result<(usize, sys::Stat)> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(path_error(io::ErrorKind::InvalidInput.into(), path));
        };
        let dir = self.tree.open_dir(
            libc::AT_FDCWD,
            parent.as_os_str(),
            parent.to_path_buf(),
            None,
            root,
            true,
        )?;
        let name: OsString = name.to_os_string();
        self.tree.dirs[dir].only = Some(name.clone());
        let fd = self.tree.dirs[dir].fd.as_raw_fd();
        match sys::stat_at(fd, &name, false) {
            Ok(st) => {
                let entry = crate::tree::Entry { st, child: None, slot: None };
                if let Err(e) = self.tree.dirs[dir].entries.insert(&name, entry) {
                    let mut sink = Vec::new();
                    self.tree.drop_dir(dir, false, &mut sink);
                    return Err(path_error(e, path));
                }
                let mut sink = Vec::new();
                self.tree.attach_entry(dir, &name, false, &mut sink);
                Ok((dir, st))
            }
            Err(e) => {
                let mut sink = Vec::new();
                self.tree.drop_dir(dir, false, &mut sink);
                Err(path_error(e, path))
            }
        }
    }

    /// Stops watching `path` (as given to [`watch`](Self::watch)).
    ///
    /// # Errors
    /// `NotFound` (naming it) when it is not watched.
    pub fn unwatch(&mut self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = absolute(path.as_ref())?;
        let Some(r) = self.tree.roots.iter().find(|(_, r)| r.path == path).map(|(r, _)| r) else {
            let msg = format!("{}: not watched", path.display());
            return Err(io::Error::new(io::ErrorKind::NotFound, msg));
        };
        self.drop_root(r);
        Ok(())
    }

    /// Root `r` is no longer wanted (`unwatch`, or watched again in another mode): nothing of
    /// it is reported from now on, so its filter base is not kept either.
    fn drop_root(&mut self, r: usize) {
        self.forget_held(r);
        self.tree.drop_root(r);
        self.tree.ended.retain(|(e, _)| *e != r);
    }

    /// Root `r` ended by what happened to it on disk (its last events are out): it is dropped,
    /// and the stream ends with the last root.
    fn root_ended(&mut self, r: usize) {
        self.tree.drop_root(r);
        self.ended = self.tree.roots.is_empty();
    }

    /// Drops the held Removes of root `r`, unreported.
    fn forget_held(&mut self, r: usize) {
        let (drop, keep): (Vec<Held>, Vec<Held>) =
            std::mem::take(&mut self.held).into_iter().partition(|h| h.root == r);
        self.held = keep;
        let mut sink = Vec::new();
        for h in drop {
            self.tree.release_entry(&h.entry, false, &mut sink);
        }
    }

    /// The watched paths (absolute, as given).
    pub fn watched_paths(&self) -> Vec<PathBuf> {
        self.tree.roots.iter().map(|(_, r)| r.path.clone()).collect()
    }

    /// How many directories are watched (one descriptor and one knote each), and how many
    /// knotes the watcher holds in all.
    pub fn watch_counts(&self) -> (usize, usize) {
        (self.tree.dirs.len(), self.tree.slots.len())
    }

    fn take_errors(&mut self) {
        self.out.extend(self.tree.errors.drain(..).map(Err));
    }

    fn emit(&mut self, events: Vec<(usize, Event)>) {
        for (root, ev) in events {
            let pass = match (&self.filter, &ev.kind) {
                (None, _) | (_, EventKind::Rescan) => true,
                (Some(f), _) => {
                    // A root ended by this batch is gone from the tree: its base is kept.
                    let ended = || self.tree.ended.iter().rev().find(|(r, _)| *r == root);
                    let base = match self.tree.roots.get(root) {
                        Some(r) => r.filter_base(),
                        None => ended().map_or(Path::new("/"), |(_, base)| base.as_path()),
                    };
                    ev.paths.iter().any(|p| f.matches(base, p))
                }
            };
            if pass {
                self.out.push_back(Ok(ev));
            }
        }
        self.tree.ended.clear();
    }

    /// Takes the kevents of every knote that fired, noting which directories need a look.
    fn collect(&mut self, cx: &Context<'_>) {
        for id in self.tree.ready.take(cx.waker()) {
            let Some(slot) = self.tree.slots.get_mut(id) else { continue };
            slot.waker.unqueue();
            let waker = Waker::from(slot.waker.clone());
            let mut scx = Context::from_waker(&waker);
            let owner = slot.owner;
            let mut notes = 0;
            let mut n = 0;
            while let Poll::Ready(Some(ev)) = slot.source.poll_next_event(&mut scx) {
                notes |= ev.fflags;
                n += 1;
                if n == EVENTS_PER_SLOT {
                    self.tree.ready.requeue(&slot.waker);
                    break;
                }
            }
            if n == 0 {
                continue;
            }
            if notes & note::RESCAN != 0 {
                self.rescan = true;
            }
            match owner {
                Owner::Dir(d) | Owner::File(d) => {
                    self.dirty.insert(d);
                    let self_notes = note::DELETE | note::RENAME | note::REVOKE;
                    if let Some(dir) = self.tree.dirs.get(d) {
                        // A symlink root is checked whenever its file or directory changes too:
                        // a link further along its way may have been swapped (then the old
                        // file's Remove is not the root's).
                        let link = self.tree.roots.get(dir.root).is_some_and(|r| r.link);
                        if dir.parent.is_none() && (notes & self_notes != 0 || link) {
                            self.root_checks.insert(dir.root);
                        }
                    }
                }
                Owner::RootParent(r) => {
                    self.root_checks.insert(r);
                }
            }
        }
    }

    /// Diffs the dirty directories and turns the differences into events.
    fn run_batch(&mut self) {
        let mut events = Vec::new();
        if std::mem::take(&mut self.rescan) {
            let roots = self.tree.roots.iter().map(|(_, r)| r.path.clone()).collect();
            let ev = Event { kind: EventKind::Rescan, paths: roots, file_type: None };
            events.push((usize::MAX, ev));
            self.dirty.extend(self.tree.dirs_of(None));
            self.root_checks.extend(self.tree.roots.iter().map(|(r, _)| r));
        }
        // Directory roots whose link was swapped first: the old directory's view is compared
        // with the new one as it was last reported, before this batch diffs it (a deploy that
        // swaps the link and deletes the old release reports no Removes of what both have).
        let roots = &self.tree.roots;
        let checks = self.root_checks.iter().copied();
        let relinked: Vec<usize> =
            checks.filter(|&r| roots.get(r).is_some_and(|root| root.link && !root.file)).collect();
        for r in relinked {
            self.root_checks.remove(&r);
            self.check_dir_link_root(r, &mut events);
        }
        let mut dirs: Vec<usize> = std::mem::take(&mut self.dirty).into_iter().collect();
        dirs.sort_by_key(|&d| std::cmp::Reverse(self.tree.dirs.get(d).map_or(0, |d| d.depth)));
        let mut raws = Vec::new();
        for d in dirs {
            if self.tree.dirs.contains(d) {
                self.tree.diff(d, &mut raws);
            }
        }
        let had_held = !self.held.is_empty();
        batch::process(&mut self.tree, raws, &mut self.held, true, &mut events);
        self.name_events(&mut events);
        // Directories with an entry that could not be placed yet: again with the next batch.
        self.dirty.extend(self.tree.recheck.drain(..));
        if !self.held.is_empty() && (!had_held || self.held_deadline.is_none()) {
            self.held_deadline = Some(Instant::now() + PAIR_WINDOW);
        }
        for r in std::mem::take(&mut self.root_checks) {
            self.check_root(r, &mut events);
        }
        self.end_file_roots(&mut events);
        self.emit(events);
        self.take_errors();
    }

    /// Is root `r` still where it was? If not: its Remove or Rename, and it is dropped.
    fn check_root(&mut self, r: usize, events: &mut Vec<(usize, Event)>) {
        let Some(root) = self.tree.roots.get(r) else { return };
        if root.link {
            if root.file {
                self.check_link_root(r, events);
            } else {
                self.check_dir_link_root(r, events);
            }
            return;
        }
        if root.file {
            return;
        }
        if sys::stat_path(&root.path, true).is_ok_and(|st| st.id() == root.id) {
            return;
        }
        let path = root.path.clone();
        let dir = root.dir;
        let fd = self.tree.dirs[dir].fd.as_raw_fd();
        let deleted = sys::nlink(fd).map_or(true, |n| n == 0);
        let moved_to = if deleted { None } else { sys::fd_path(fd) };
        batch::flush_held(&mut self.tree, &mut self.held, Some(r), events);
        match moved_to {
            Some(to) => {
                events.push((r, Event::rename(path, to, Some(FileType::Dir))));
            }
            None => {
                // What is still in the snapshots is gone with it.
                let mut sink = Vec::new();
                let snap = std::mem::take(&mut self.tree.dirs[dir].entries);
                let top: Vec<(OsString, crate::tree::Entry)> =
                    snap.iter().map(|(n, e)| (n.to_os_string(), e)).collect();
                for (name, entry) in top {
                    batch::emit_remove(&mut self.tree, r, path.join(name), &entry, &mut sink);
                }
                events.extend(sink);
                events.push((r, Event::new(EventKind::Remove, path, Some(FileType::Dir))));
            }
        }
        self.root_ended(r);
    }

    /// Does root `r`, a symlink to a directory, still lead to the directory watched? Led to
    /// another directory (`ln -sfn`): that one is watched instead, and the differences are
    /// reported under the link's path. Gone, dangling, or led to a file (or the new directory
    /// cannot be opened): the root's Remove, and it is no longer watched.
    fn check_dir_link_root(&mut self, r: usize, events: &mut Vec<(usize, Event)>) {
        let Some(root) = self.tree.roots.get(r) else { return };
        let path = root.path.clone();
        let now = sys::stat_path(&path, true).ok();
        if now.is_some_and(|st| st.id() == root.id) {
            return;
        }
        // Removes held from the last batch happened before: out of the old view first.
        batch::flush_held(&mut self.tree, &mut self.held, Some(r), events);
        if now.is_some_and(|st| st.kind == FileType::Dir) {
            match retarget::retarget_dir(&mut self.tree, r, events) {
                Ok(()) => {
                    if let Some(old) = self.tree.roots[r].target_slot.take() {
                        self.tree.drop_slot(old);
                    }
                    self.tree.roots[r].target_slot = self.watch_target_parent(r);
                    return;
                }
                Err(e) => self.tree.errors.push(e),
            }
        }
        // One Remove: what was below the link's path goes with it.
        events.push((r, Event::new(EventKind::Remove, path, Some(FileType::Dir))));
        self.root_ended(r);
    }

    /// A knote on the parent of the directory root `r` (a symlink to a directory) watches,
    /// reached through that directory (`..`, whatever path led to it): it hears the directory
    /// deleted or moved away, which the directory's own knote does not (Linux reports a
    /// directory's deletion when its last descriptor closes) nor the link's directory's. None
    /// when that parent is the link's directory, or on an error (reported).
    fn watch_target_parent(&mut self, r: usize) -> Option<usize> {
        let root = self.tree.roots.get(r)?;
        let fd = self.tree.dirs.get(root.dir)?.fd.as_raw_fd();
        let path = root.path.clone();
        let link_dir = path.parent().and_then(|p| sys::stat_path(p, true).ok()).map(|s| s.id());
        let slot = sys::open_dir_at(fd, std::ffi::OsStr::new(".."), false).and_then(|parent| {
            let raw = parent.as_raw_fd();
            if sys::fstat(raw)?.id() == link_dir.unwrap_or_default() {
                return Ok(None);
            }
            self.tree.add_slot(raw, Owner::RootParent(r), Some(parent), false).map(Some)
        });
        slot.unwrap_or_else(|e| {
            self.tree.errors.push(path_error(e, &path));
            None
        })
    }

    /// Does root `r`, a symlink to a file, still lead to the file watched? Led to another file
    /// (`ln -sfn`): that one is watched instead. Gone, dangling, or led to a directory: the
    /// root's Remove (unless its file's Remove was just reported), and it is no longer watched.
    fn check_link_root(&mut self, r: usize, events: &mut Vec<(usize, Event)>) {
        let Some(root) = self.tree.roots.get(r) else { return };
        let path = root.path.clone();
        let now = link_target(&path);
        if now.is_some() && now == root.target {
            return;
        }
        if let Some(to) = now {
            match self.retarget(r, to, events) {
                Ok(()) => return,
                Err(e) => self.tree.errors.push(path_error(e, &path)),
            }
        }
        let start = events.len();
        batch::flush_held(&mut self.tree, &mut self.held, Some(r), events);
        self.name_events(&mut events[start..]);
        let Some(root) = self.tree.roots.get(r) else { return };
        // Once: the file's own Remove may have come with this batch. (The file moved into
        // another root is that root's Rename, from the file's path: the link's root still
        // gets its Remove.)
        let reported = events
            .iter()
            .any(|(q, e)| *q == r && e.kind == EventKind::Remove && e.paths.first() == Some(&path));
        if !reported {
            let last = self.tree.dirs.get(root.dir).and_then(|d| d.entries.iter().next());
            let kind = last.map_or(FileType::File, |(_, e)| e.st.kind);
            events.push((r, Event::new(EventKind::Remove, path, Some(kind))));
        }
        self.root_ended(r);
    }

    /// Root `r`, a symlink to a file, now leads to the file `to`: that file is watched instead
    /// of the old one (whose held Remove, if any, is dropped: the path did not lose its file),
    /// and the root's path holds other content: a Modify(Data), as for an atomic save.
    fn retarget(
        &mut self,
        r: usize,
        to: PathBuf,
        events: &mut Vec<(usize, Event)>,
    ) -> io::Result<()> {
        let (dir, st) = self.watch_file(&to, r)?;
        self.forget_held(r);
        let root = &mut self.tree.roots[r];
        let old_dir = std::mem::replace(&mut root.dir, dir);
        root.target = Some(to);
        root.id = st.id();
        let path = root.path.clone();
        let old = self.tree.dirs.get(old_dir).and_then(|d| d.entries.iter().next());
        let same = old.is_some_and(|(_, e)| e.st == st);
        let mut sink = Vec::new();
        self.tree.drop_dir(old_dir, false, &mut sink);
        if !same {
            let ev = Event::new(EventKind::Modify(ModifyKind::Data), path, Some(st.kind));
            events.push((r, ev));
        }
        Ok(())
    }

    /// Renames the paths of the events of symlinked file roots from the file's real path to
    /// the link's, the path the user watched. Called on events as they are made, while their
    /// roots are there.
    fn name_events(&self, events: &mut [(usize, Event)]) {
        for (r, ev) in events {
            let Some(root) = self.tree.roots.get(*r) else { continue };
            let Some(target) = &root.target else { continue };
            let rename = |p: &mut PathBuf| {
                if p == target {
                    p.clone_from(&root.path);
                }
            };
            ev.paths.iter_mut().for_each(rename);
            if let EventKind::Rename { from, to } = &mut ev.kind {
                rename(from);
                rename(to);
            }
        }
    }

    /// A watched file gone from its directory (its Remove or Rename was just reported): that
    /// root is done.
    fn end_file_roots(&mut self, _events: &mut [(usize, Event)]) {
        let done: Vec<usize> = self
            .tree
            .roots
            .iter()
            .filter(|(r, root)| {
                root.file
                    && self.tree.dirs.get(root.dir).is_none_or(|d: &Dir| d.entries.is_empty())
                    && !self.held.iter().any(|h| h.root == *r)
            })
            .map(|(r, _)| r)
            .collect();
        for r in done {
            self.root_ended(r);
        }
    }

    /// The earliest timer deadline, if any.
    fn deadline(&self) -> Option<Instant> {
        match (self.held_deadline, self.debounce_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Event>>> {
        // A timer that fired counts as its deadline reached, whatever the clock says.
        let mut fired: Option<Instant> = None;
        loop {
            if let Some(item) = self.out.pop_front() {
                return Poll::Ready(Some(item));
            }
            self.collect(cx);
            let now = fired.map_or_else(Instant::now, |f| f.max(Instant::now()));
            let pending = !self.dirty.is_empty() || self.rescan || !self.root_checks.is_empty();
            if pending {
                match (self.debounce, self.debounce_deadline) {
                    (Some(d), None) => self.debounce_deadline = Some(now + d),
                    (Some(_), Some(at)) if at > now => {}
                    _ => {
                        self.debounce_deadline = None;
                        self.run_batch();
                        continue;
                    }
                }
            }
            if self.held_deadline.is_some_and(|at| at <= now) {
                self.held_deadline = None;
                let mut events = Vec::new();
                batch::flush_held(&mut self.tree, &mut self.held, None, &mut events);
                self.name_events(&mut events);
                self.end_file_roots(&mut events);
                self.emit(events);
                continue;
            }
            if self.ended && self.tree.roots.is_empty() {
                return Poll::Ready(None);
            }
            if let Some(at) = self.deadline() {
                // The watcher may be polled from outside its runtime (another executor): the
                // timer is the runtime's.
                let handle = self.tree.handle().ok();
                let _guard = handle.as_ref().map(|h| h.enter());
                let timer = self.timer.get_or_insert_with(|| Box::pin(sleep_until(at)));
                if timer.deadline() != at {
                    timer.as_mut().reset(at);
                }
                if timer.as_mut().poll(cx).is_ready() {
                    fired = Some(at);
                    continue;
                }
            }
            return Poll::Pending;
        }
    }
}

use std::future::Future;

impl futures_core::Stream for Watcher {
    type Item = io::Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_item(cx)
    }
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("roots", &self.watched_paths())
            .field("dirs", &self.tree.dirs.len())
            .field("knotes", &self.tree.slots.len())
            .finish()
    }
}

/// The real path of the file (not a directory) `path` leads to, if it leads to one.
fn link_target(path: &Path) -> Option<PathBuf> {
    let to = std::fs::canonicalize(path).ok()?;
    sys::stat_path(&to, false).ok().filter(|st| st.kind != FileType::Dir).map(|_| to)
}

fn absolute(path: &Path) -> io::Result<PathBuf> {
    if path.as_os_str().is_empty() {
        let msg = "an empty path cannot be watched";
        return Err(io::Error::new(io::ErrorKind::NotFound, msg));
    }
    std::path::absolute(path).map_err(|e| path_error(e, path))
}
