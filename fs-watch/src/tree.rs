//! The watched trees: one [`Dir`] per watched directory (its fd, its VNODE knote, its snapshot),
//! [`Slot`]s for the knotes, [`Root`]s for what the user asked to watch. Scanning a new
//! directory, diffing a directory against its snapshot, moving and dropping subtrees.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kq_reactor::{note, Filter, Flags, Kevent};
use kq_runtime::io::EventSource;
use kq_runtime::runtime::Handle;

use crate::event::{path_error, Event, EventKind, FileType, ModifyKind};
use crate::ids::IdMap;
use crate::ready::{ReadySet, SlotWaker};
use crate::snapshot::{self, Snapshot};
use crate::sys::{self, Stat};
use crate::RecursiveMode;

pub(crate) type DirId = usize;

/// One name in a directory snapshot (as stored compactly in a [`Snapshot`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub st: Stat,
    /// The watched directory behind this name (a subdirectory, or a followed symlink to one).
    pub child: Option<DirId>,
    /// Its own knote (per-file mode: native kqueue). Never set together with `child`.
    pub slot: Option<usize>,
}

/// A watched directory.
pub(crate) struct Dir {
    /// The path when this directory was opened or last moved; the current one is
    /// [`Tree::path_of`], from the parent's (a directory taken out of its parent's snapshot, a
    /// held Remove, still follows its parent's renames).
    pub path: PathBuf,
    /// Its name in `parent`.
    pub name: OsString,
    pub slot: usize,
    pub parent: Option<DirId>,
    pub root: usize,
    pub depth: usize,
    pub entries: Snapshot,
    /// A watched file's directory: the one name it follows.
    pub only: Option<OsString>,
    pub id: (u64, u64),
    /// Last, so that the knote (in the slot, removed first) goes before the fd closes.
    pub fd: OwnedFd,
}

/// Who a knote reports for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A watched directory's own knote.
    Dir(DirId),
    /// A file's knote (per-file mode): its directory needs a diff.
    File(DirId),
    /// The knote on a watched root's parent directory, which hears the root's removal.
    RootParent(usize),
}

/// One VNODE knote of the watcher.
pub(crate) struct Slot {
    pub source: EventSource,
    pub waker: Arc<SlotWaker>,
    pub owner: Owner,
    /// The slot's own fd (files, root parents); after `source` so the knote goes first.
    pub _fd: Option<OwnedFd>,
}

/// A path the user watches.
pub(crate) struct Root {
    pub path: PathBuf,
    pub mode: RecursiveMode,
    pub dir: DirId,
    /// A file (its directory is `dir`, following one name).
    pub file: bool,
    /// A file root that is a symlink: the real path of the file it leads to, which the tree
    /// watches and its events name (the stream renames them to `path`).
    pub target: Option<PathBuf>,
    /// `path` was a symlink when watched (to a file or a directory): what it leads to may
    /// change (the link swapped), which is not the root moving away.
    pub link: bool,
    pub id: (u64, u64),
    pub parent_slot: Option<usize>,
    /// A symlink to a directory: the knote on that directory's own parent (the link's is
    /// `parent_slot`), which hears it deleted or moved away (the link then dangles). None when
    /// both are the same directory.
    pub target_slot: Option<usize>,
}

impl Root {
    /// Where a filter's relative globs start: the root's path, or a file root's directory.
    pub fn filter_base(&self) -> &Path {
        if self.file {
            self.path.parent().unwrap_or(Path::new("/"))
        } else {
            &self.path
        }
    }
}

/// A change found by a diff, before renames are paired. Paths are computed when the events are
/// made, after the batch's renames: a directory renamed in the same batch has its new path.
/// (`Removed::path` is the path at the diff, for an entry whose directory is gone by then.)
#[derive(Debug)]
pub(crate) enum Raw {
    Created { dir: DirId, name: OsString, replaced: bool },
    Removed { dir: DirId, name: OsString, path: PathBuf, entry: Entry, replaced: bool },
    Modified { dir: DirId, name: OsString, kind: ModifyKind, ft: FileType },
}

const DIR_NOTES: u32 = note::DELETE
    | note::WRITE
    | note::EXTEND
    | note::ATTRIB
    | note::LINK
    | note::RENAME
    | note::REVOKE;

pub(crate) struct Tree {
    /// Before `dirs`: knotes are deleted before their directories' fds close.
    pub slots: IdMap<Slot>,
    pub dirs: IdMap<Dir>,
    pub roots: IdMap<Root>,
    pub ready: Arc<ReadySet>,
    pub follow: bool,
    /// One knote per file (native kqueue, or asked for): directories do not report their files.
    pub per_file: bool,
    /// Errors met on the way (unreadable directories, limits), for the stream.
    pub errors: Vec<io::Error>,
    /// Directories to diff again with the next batch (see [`Tree::moved_into_own_subtree`]).
    pub recheck: Vec<DirId>,
    /// Roots dropped since the stream last emitted, with their filter bases: the events of the
    /// batch that ended them (their last Removes) are filtered from there too.
    pub ended: Vec<(usize, PathBuf)>,
    /// Reused by every directory read.
    scratch: snapshot::Builder,
    handle: Option<Handle>,
}

fn is_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

impl Tree {
    pub(crate) fn new(follow: bool, per_file: bool, handle: Option<Handle>) -> Tree {
        Tree {
            slots: IdMap::default(),
            dirs: IdMap::default(),
            roots: IdMap::default(),
            ready: Arc::default(),
            follow,
            per_file,
            errors: Vec::new(),
            recheck: Vec::new(),
            ended: Vec::new(),
            scratch: snapshot::Builder::default(),
            handle,
        }
    }

    /// The runtime the knotes are registered with (the one current at the first watch).
    pub(crate) fn handle(&mut self) -> io::Result<Handle> {
        if let Some(h) = &self.handle {
            return Ok(h.clone());
        }
        let h = Handle::try_current().map_err(|e| {
            io::Error::other(format!(
                "the file watcher needs a kq runtime ({e}): call it inside one"
            ))
        })?;
        self.handle = Some(h.clone());
        Ok(h)
    }

    /// Registers a VNODE knote on `fd` for `owner`.
    pub(crate) fn add_slot(
        &mut self,
        fd: RawFd,
        owner: Owner,
        own_fd: Option<OwnedFd>,
        children: bool,
    ) -> io::Result<usize> {
        let handle = self.handle()?;
        let fflags = if children { DIR_NOTES | note::CHILDREN } else { DIR_NOTES };
        let change = Kevent::new(fd as usize, Filter::Vnode, Flags::CLEAR).with_fflags(fflags);
        let source = {
            let _guard = handle.enter();
            EventSource::new(change)?
        };
        let key = self.slots.next_key();
        let waker = self.ready.waker(key);
        Ok(self.slots.insert(Slot { source, waker, owner, _fd: own_fd }))
    }

    /// Opens and watches directory `name` of `at` (a path with `AT_FDCWD`), checking symlink
    /// loops against the ancestors.
    pub(crate) fn open_dir(
        &mut self,
        at: RawFd,
        name: &OsStr,
        path: PathBuf,
        parent: Option<DirId>,
        root: usize,
        follow: bool,
    ) -> io::Result<DirId> {
        let fd = sys::open_dir_at(at, name, follow).map_err(|e| path_error(e, &path))?;
        let st = sys::fstat(fd.as_raw_fd()).map_err(|e| path_error(e, &path))?;
        let mut up = parent;
        // Bounded by the number of directories: the parent links never form a cycle (a rename
        // into the moved directory's own subtree is not applied, see `is_within`), and if they
        // did, this walk must still end.
        let mut steps = 0;
        while let Some(a) = up.filter(|_| steps <= self.dirs.len()) {
            steps += 1;
            if self.dirs[a].id == st.id() {
                let link = follow
                    && sys::stat_at(at, name, false).is_ok_and(|s| s.kind == FileType::Symlink);
                let what = if link { "symlink" } else { "directory" };
                let msg = format!(
                    "{}: {what} loop (it leads back to {}); not followed",
                    path.display(),
                    self.path_of(a).display()
                );
                return Err(io::Error::new(io::Error::from_raw_os_error(libc::ELOOP).kind(), msg));
            }
            up = self.dirs[a].parent;
        }
        let depth = parent.map_or(0, |p| self.dirs[p].depth + 1);
        let raw = fd.as_raw_fd();
        let id = self.dirs.insert(Dir {
            path: path.clone(),
            name: name.to_os_string(),
            slot: usize::MAX,
            parent,
            root,
            depth,
            entries: Snapshot::default(),
            only: None,
            id: st.id(),
            fd,
        });
        match self.add_slot(raw, Owner::Dir(id), None, !self.per_file) {
            Ok(slot) => {
                self.dirs[id].slot = slot;
                Ok(id)
            }
            Err(e) => {
                self.dirs.try_remove(id);
                Err(path_error(e, &path))
            }
        }
    }

    /// May directories below `dir` be watched?
    pub(crate) fn recursive(&self, dir: DirId) -> bool {
        let d = &self.dirs[dir];
        d.only.is_none()
            && self.roots.get(d.root).is_some_and(|r| r.mode == RecursiveMode::Recursive)
    }

    /// Does this entry lead to a directory to watch?
    fn leads_to_dir(&self, dir: DirId, name: &OsStr, st: &Stat) -> bool {
        match st.kind {
            FileType::Dir => true,
            FileType::Symlink if self.follow => {
                sys::stat_at(self.dirs[dir].fd.as_raw_fd(), name, true)
                    .is_ok_and(|s| s.kind == FileType::Dir)
            }
            _ => false,
        }
    }

    /// Watches what entry `name` of `dir` needs (its subtree, or its own knote in per-file
    /// mode). With `report`, every entry found below gets a Create in `out`.
    pub(crate) fn attach_entry(
        &mut self,
        dir: DirId,
        name: &OsStr,
        report: bool,
        out: &mut Vec<(usize, Event)>,
    ) {
        let Some(entry) = self.dirs[dir].entries.get(name) else { return };
        let st = entry.st;
        let path = self.path_of(dir).join(name);
        if self.recursive(dir) && self.leads_to_dir(dir, name, &st) {
            let at = self.dirs[dir].fd.as_raw_fd();
            let root = self.dirs[dir].root;
            match self.open_dir(at, name, path, Some(dir), root, self.follow) {
                Ok(child) => {
                    self.dirs[dir].entries.set_links(name, Some(child), None);
                    self.scan(child, report, out);
                }
                Err(e) if is_gone(&e) => {}
                Err(e) => self.errors.push(e),
            }
        } else if self.per_file && st.kind == FileType::File {
            let at = self.dirs[dir].fd.as_raw_fd();
            let opened = sys::open_file_at(at, name).and_then(|fd| {
                let raw = fd.as_raw_fd();
                self.add_slot(raw, Owner::File(dir), Some(fd), false)
            });
            match opened {
                Ok(slot) => self.dirs[dir].entries.set_links(name, None, Some(slot)),
                Err(e) if is_gone(&e) => {}
                Err(e) => self.errors.push(path_error(e, &path)),
            }
        }
    }

    /// Reads directory `dir` (following only its `only` name, if set) into a new snapshot.
    ///
    /// A name listed but gone by its `stat` (`ENOENT`) was removed in between and is left out.
    /// Any other failure of that `stat` fails the whole read: the directory's fd still lists
    /// its names after a `chmod 000` or `chmod 600`, but they can no longer be looked up
    /// (`EACCES`), and leaving them out would report files that are there as removed. The
    /// caller then keeps the last snapshot and reports the directory as an error item.
    fn read_snapshot(&mut self, dir: DirId) -> io::Result<Snapshot> {
        let mut b = std::mem::take(&mut self.scratch);
        let mut buf = std::mem::take(&mut b.dirents);
        let d = &self.dirs[dir];
        let fd = d.fd.as_raw_fd();
        let only = d.only.as_deref().map(std::os::unix::ffi::OsStrExt::as_bytes);
        let mut full = Ok(());
        let read = sys::read_dir(&d.fd, &mut buf, |name| {
            let bytes = name.to_bytes();
            if only.is_some_and(|o| o != bytes) || full.is_err() {
                return;
            }
            match sys::stat_at_c(fd, name, false) {
                Ok(st) => full = b.push(bytes, st),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => full = Err(e),
            }
        });
        b.dirents = buf;
        let snap = match read.and(full) {
            Ok(()) => b.finish(),
            Err(e) => {
                b.clear();
                Err(e)
            }
        };
        self.scratch = b;
        snap
    }

    /// Reads a freshly watched directory and everything below it (breadth first, so a Create of a
    /// directory always comes before the Creates of what is inside it).
    pub(crate) fn scan(&mut self, dir: DirId, report: bool, out: &mut Vec<(usize, Event)>) {
        let mut queue = std::collections::VecDeque::from([dir]);
        while let Some(d) = queue.pop_front() {
            let mut snap = match self.read_snapshot(d) {
                Ok(snap) => snap,
                Err(e) => {
                    self.errors.push(path_error(e, &self.path_of(d)));
                    continue;
                }
            };
            self.drop_misplaced(d, &mut snap);
            let root = self.dirs[d].root;
            if report {
                let base = self.path_of(d);
                for (name, e) in snap.iter() {
                    let ev = Event::new(EventKind::Create, base.join(name), Some(e.st.kind));
                    out.push((root, ev));
                }
            }
            let n = snap.len();
            self.dirs[d].entries = snap;
            let (recursive, per_file) = (self.recursive(d), self.per_file);
            for i in 0..n {
                let Some(dir) = self.dirs.get(d) else { break };
                let kind = dir.entries.entry(i).st.kind;
                let wanted = match kind {
                    FileType::Dir | FileType::Symlink => recursive,
                    FileType::File => per_file,
                    FileType::Other => false,
                };
                if !wanted {
                    continue;
                }
                // Subdirectories are opened now, scanned when their turn in the queue comes.
                let name = dir.entries.name(i).to_os_string();
                self.attach_entry_shallow(d, &name);
                if let Some(child) = self.dirs.get(d).and_then(|x| x.entries.entry(i).child) {
                    queue.push_back(child);
                }
            }
        }
    }

    /// [`attach_entry`](Self::attach_entry) without scanning the new directory.
    fn attach_entry_shallow(&mut self, dir: DirId, name: &OsStr) {
        let Some(entry) = self.dirs[dir].entries.get(name) else { return };
        let st = entry.st;
        if self.recursive(dir) && self.leads_to_dir(dir, name, &st) {
            let at = self.dirs[dir].fd.as_raw_fd();
            let root = self.dirs[dir].root;
            let path = self.path_of(dir).join(name);
            match self.open_dir(at, name, path, Some(dir), root, self.follow) {
                Ok(child) => self.dirs[dir].entries.set_links(name, Some(child), None),
                Err(e) if is_gone(&e) => {}
                Err(e) => self.errors.push(e),
            }
        } else if self.per_file && st.kind == FileType::File {
            let mut sink = Vec::new();
            self.attach_entry(dir, name, false, &mut sink);
        }
    }

    /// Compares `dir` with what is on disk, updating its snapshot; the differences go to `out`.
    pub(crate) fn diff(&mut self, dir: DirId, out: &mut Vec<Raw>) {
        let dir_path = self.path_of(dir);
        let mut now = match self.read_snapshot(dir) {
            Ok(snap) => snap,
            Err(e) => {
                let e = path_error(e, &dir_path);
                self.errors.push(e);
                return;
            }
        };
        let d = &mut self.dirs[dir];
        let old = std::mem::take(&mut d.entries);
        // Both sorted by name: walk them side by side. Gone names first, then the others.
        let (mut i, mut j) = (0, 0);
        while i < old.len() {
            let name = old.name(i);
            let found = loop {
                if j == now.len() {
                    break false;
                }
                match now.name(j).as_encoded_bytes().cmp(name.as_encoded_bytes()) {
                    std::cmp::Ordering::Less => j += 1,
                    std::cmp::Ordering::Equal => break true,
                    std::cmp::Ordering::Greater => break false,
                }
            };
            if !found {
                let name = name.to_os_string();
                let path = dir_path.join(&name);
                out.push(Raw::Removed { dir, name, path, entry: old.entry(i), replaced: false });
            }
            i += 1;
        }
        let mut i = 0;
        for j in 0..now.len() {
            let name = now.name(j);
            let st = now.entry(j).st;
            while i < old.len() && old.name(i).as_encoded_bytes() < name.as_encoded_bytes() {
                i += 1;
            }
            let name = name.to_os_string();
            if i == old.len() || old.name(i) != name {
                out.push(Raw::Created { dir, name, replaced: false });
                continue;
            }
            let prev = old.entry(i);
            if !st.same_file(&prev.st) {
                let path = dir_path.join(&name);
                out.push(Raw::Removed {
                    dir,
                    name: name.clone(),
                    path,
                    entry: prev,
                    replaced: true,
                });
                out.push(Raw::Created { dir, name, replaced: true });
            } else {
                if let Some(kind) = modify_kind(&prev.st, &st) {
                    out.push(Raw::Modified { dir, name, kind, ft: st.kind });
                }
                now.set_links_at(j, prev.child, prev.slot);
            }
        }
        d.entries = now;
    }

    /// Removes a slot (its knote), if it is there.
    pub(crate) fn drop_slot(&mut self, slot: usize) {
        if self.slots.contains(slot) {
            self.slots.try_remove(slot);
        }
    }

    /// Forgets what an entry holds (its subtree, its knote); with `report`, a Remove for every
    /// path below it, deepest first (the entry's own Remove is the caller's).
    pub(crate) fn release_entry(
        &mut self,
        entry: &Entry,
        report: bool,
        out: &mut Vec<(usize, Event)>,
    ) {
        if let Some(slot) = entry.slot {
            self.drop_slot(slot);
        }
        if let Some(child) = entry.child {
            self.drop_dir(child, report, out);
        }
    }

    /// The directories of the subtree of `dir` (itself included).
    pub(crate) fn subtree(&self, dir: DirId) -> std::collections::HashSet<DirId> {
        let mut set = std::collections::HashSet::from([dir]);
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            if let Some(d) = self.dirs.get(d) {
                for c in d.entries.children() {
                    if set.insert(c) {
                        stack.push(c);
                    }
                }
            }
        }
        set
    }

    /// Whether `dir` is `ancestor` or lies below it (following parent links, boundedly).
    pub(crate) fn is_within(&self, dir: DirId, ancestor: DirId) -> bool {
        let mut cur = Some(dir);
        for _ in 0..=self.dirs.len() {
            match cur {
                Some(d) if d == ancestor => return true,
                Some(d) => cur = self.dirs.get(d).and_then(|d| d.parent),
                None => return false,
            }
        }
        false
    }

    /// Whether `st`, an entry of `dir`, is a directory the tree has as `dir` or one of its
    /// ancestors although it is not above `dir` on disk: a directory moved into what the tree
    /// still has as its own subtree, because the moves that took that subtree out of it are not
    /// applied yet (their Removes held, or not seen yet). Such an entry cannot be placed: it
    /// is left out of `dir`'s snapshot (no Create), and `dir` is diffed again with the next
    /// batch, when those moves are known. (A directory really above itself, a bind mount of
    /// a directory inside itself, is not this: it is reported as a loop when opened.)
    pub(crate) fn moved_into_own_subtree(&self, dir: DirId, st: &Stat) -> bool {
        if st.kind != FileType::Dir {
            return false;
        }
        let mut cur = Some(dir);
        for _ in 0..=self.dirs.len() {
            let Some(d) = cur.and_then(|c| self.dirs.get(c)) else { return false };
            if d.id == st.id() {
                let fd = self.dirs[dir].fd.as_raw_fd();
                return !sys::is_above(fd, st.id(), self.dirs[dir].depth + 4096);
            }
            cur = d.parent;
        }
        false
    }

    /// Takes out of `dir`'s snapshot the entries [`moved_into_own_subtree`] and queues `dir`
    /// for a diff with the next batch.
    ///
    /// [`moved_into_own_subtree`]: Self::moved_into_own_subtree
    fn drop_misplaced(&mut self, dir: DirId, snap: &mut Snapshot) {
        let misplaced: Vec<OsString> = snap
            .iter()
            .filter(|(_, e)| self.moved_into_own_subtree(dir, &e.st))
            .map(|(n, _)| n.to_os_string())
            .collect();
        for name in &misplaced {
            snap.remove(name);
        }
        if !misplaced.is_empty() {
            self.recheck_later(dir);
        }
    }

    /// Queues `dir` for a diff with the next batch (once).
    pub(crate) fn recheck_later(&mut self, dir: DirId) {
        if !self.recheck.contains(&dir) {
            self.recheck.push(dir);
        }
    }

    /// Takes `name` out of `dir`'s snapshot (an entry found by this batch's diff that is not
    /// to be reported), if the directory is still there.
    pub(crate) fn forget_entry(&mut self, dir: DirId, name: &std::ffi::OsStr) {
        if let Some(d) = self.dirs.get_mut(dir) {
            d.entries.remove(name);
        }
    }

    /// Drops directory `dir` and everything below it (see [`release_entry`](Self::release_entry)).
    pub(crate) fn drop_dir(&mut self, dir: DirId, report: bool, out: &mut Vec<(usize, Event)>) {
        // Pre-order list, then processed backwards: children before their parents.
        let mut order = vec![dir];
        let mut i = 0;
        while i < order.len() {
            if let Some(d) = self.dirs.get(order[i]) {
                order.extend(d.entries.children());
            }
            i += 1;
        }
        for &d in order.iter().rev() {
            let path = self.path_of(d);
            let Some(removed) = self.dirs.try_remove(d) else { continue };
            self.drop_slot(removed.slot);
            for (name, e) in removed.entries.iter() {
                if let Some(slot) = e.slot {
                    self.drop_slot(slot);
                }
                if report {
                    let ev = Event::new(EventKind::Remove, path.join(name), Some(e.st.kind));
                    out.push((removed.root, ev));
                }
            }
        }
    }

    /// Moves the subtree of `child` under `parent` as `name` (after a rename), fixing the paths,
    /// depths and roots below it.
    pub(crate) fn reparent(&mut self, child: DirId, parent: DirId, name: &OsStr) {
        let root = self.dirs[parent].root;
        let mut stack = vec![(child, parent, name.to_os_string())];
        while let Some((d, p, n)) = stack.pop() {
            let path = self.path_of(p).join(&n);
            let depth = self.dirs[p].depth + 1;
            let Some(dir) = self.dirs.get_mut(d) else { continue };
            dir.parent = Some(p);
            dir.name = n;
            dir.path = path;
            dir.depth = depth;
            dir.root = root;
            for (n, e) in dir.entries.iter() {
                if let Some(c) = e.child {
                    stack.push((c, d, n.to_os_string()));
                }
            }
        }
    }

    /// The current path of directory `id`: its parent's path and its name, up to a root (or to
    /// a directory whose parent is gone, from its own recorded path).
    pub(crate) fn path_of(&self, id: DirId) -> PathBuf {
        let mut names = Vec::new();
        let mut cur = id;
        let mut base = PathBuf::new();
        while let Some(d) = self.dirs.get(cur) {
            match d.parent {
                Some(p) if self.dirs.contains(p) && names.len() <= self.dirs.len() => {
                    names.push(&d.name);
                    cur = p;
                }
                _ => {
                    base = d.path.clone();
                    break;
                }
            }
        }
        for n in names.iter().rev() {
            base.push(n);
        }
        base
    }

    /// Every directory of root `root` (or of every root).
    pub(crate) fn dirs_of(&self, root: Option<usize>) -> Vec<DirId> {
        self.dirs
            .iter()
            .filter(|(_, d)| root.is_none_or(|r| d.root == r))
            .map(|(id, _)| id)
            .collect()
    }

    /// Drops root `r` and all its knotes and fds, silently.
    pub(crate) fn drop_root(&mut self, r: usize) {
        let Some(root) = self.roots.try_remove(r) else { return };
        self.ended.push((r, root.filter_base().to_path_buf()));
        for s in root.parent_slot.into_iter().chain(root.target_slot) {
            self.drop_slot(s);
        }
        let mut sink = Vec::new();
        self.drop_dir(root.dir, false, &mut sink);
        // Directories moved into this root from another one belong to it now: drop them too.
        for d in self.dirs_of(Some(r)) {
            self.drop_dir(d, false, &mut sink);
        }
    }
}

/// What changed between two looks at the same file.
pub(crate) fn modify_kind(old: &Stat, new: &Stat) -> Option<ModifyKind> {
    let dir = new.kind == FileType::Dir;
    if !dir && (old.size != new.size || old.mtime != new.mtime) {
        Some(ModifyKind::Data)
    } else if old.mode != new.mode
        || old.uid != new.uid
        || old.gid != new.gid
        || (!dir && old.ctime != new.ctime)
    {
        Some(ModifyKind::Metadata)
    } else {
        None
    }
}

/// The user-visible path of entry `name` of `dir`.
pub(crate) fn entry_path(tree: &Tree, dir: DirId, name: &OsStr) -> PathBuf {
    if tree.dirs.contains(dir) {
        tree.path_of(dir).join(name)
    } else {
        Path::new(name).to_path_buf()
    }
}
