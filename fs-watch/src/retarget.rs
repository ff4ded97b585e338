//! A root that is a symlink to a directory, found leading to another directory (`ln -sfn
//! releases/8 current`): the new directory is watched under the link's path, the old one is
//! dropped, and what a reader of the link's path sees change is reported: the old view against
//! the new directory, name by name, as Creates, Removes and Modifies under the link's path.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use crate::batch::emit_remove;
use crate::event::{Event, EventKind, FileType, ModifyKind};
use crate::sys::Stat;
use crate::tree::{modify_kind, DirId, Entry, Tree};

/// Root `r` (a symlink to a directory) now leads to another directory: watches it, in the root's
/// mode, in place of the old one, and reports the differences to `out`. On an error (the new
/// directory cannot be opened) nothing has changed.
pub(crate) fn retarget_dir(
    tree: &mut Tree,
    r: usize,
    out: &mut Vec<(usize, Event)>,
) -> io::Result<()> {
    let Some(root) = tree.roots.get(r) else { return Ok(()) };
    let (path, old) = (root.path.clone(), root.dir);
    // Through the link, as it is now: what the fd leads to is what the root watches.
    let new = tree.open_dir(libc::AT_FDCWD, path.as_os_str(), path.clone(), None, r, true)?;
    let mut sink = Vec::new();
    tree.scan(new, false, &mut sink);
    if tree.dirs.contains(old) {
        diff_trees(tree, r, old, new, out);
    }
    let id = tree.dirs[new].id;
    let root = &mut tree.roots[r];
    root.dir = new;
    root.id = id;
    tree.drop_dir(old, false, &mut sink);
    // Directories moved into the old tree from another root belong to it: they go with it.
    let keep = tree.subtree(new);
    for d in tree.dirs_of(Some(r)) {
        if !keep.contains(&d) {
            tree.drop_dir(d, false, &mut sink);
        }
    }
    Ok(())
}

/// The entries of a snapshot, by name (sorted).
fn entries(tree: &Tree, dir: DirId) -> Vec<(OsString, Entry)> {
    tree.dirs
        .get(dir)
        .map(|d| d.entries.iter().map(|(n, e)| (n.to_os_string(), e)).collect())
        .unwrap_or_default()
}

/// Compares the view of `old` (its snapshots, as last reported) with the freshly scanned `new`,
/// directory pair by directory pair (the same relative path on both sides), breadth first.
/// What only the old side has gets its Remove (after everything below it), what only the new
/// side has its Create (before everything below it); a name found on both sides, see
/// [`both`].
fn diff_trees(tree: &mut Tree, r: usize, old: DirId, new: DirId, out: &mut Vec<(usize, Event)>) {
    let mut pairs = VecDeque::from([(old, new)]);
    while let Some((o, n)) = pairs.pop_front() {
        if !tree.dirs.contains(o) || !tree.dirs.contains(n) {
            continue;
        }
        let base = tree.path_of(n);
        let (before, after) = (entries(tree, o), entries(tree, n));
        let (mut i, mut j) = (0, 0);
        while i < before.len() || j < after.len() {
            let order = match (before.get(i), after.get(j)) {
                (Some((a, _)), Some((b, _))) => a.as_encoded_bytes().cmp(b.as_encoded_bytes()),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    let (name, e) = &before[i];
                    emit_remove(tree, r, base.join(name), e, out);
                    i += 1;
                }
                Ordering::Greater => {
                    let (name, e) = &after[j];
                    create(tree, r, base.join(name), e, out);
                    j += 1;
                }
                Ordering::Equal => {
                    let ((name, a), (_, b)) = (&before[i], &after[j]);
                    if let Some(pair) = both(tree, r, base.join(name), a, b, out) {
                        pairs.push_back(pair);
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
    }
}

/// A name the old view (`a`) and the new directory (`b`) both have. Of another type: a Remove,
/// then a Create. Of the same type: a Modify if it holds another file or changed (see
/// [`change`]); two watched directories are returned, to be compared in turn; what the view
/// has below only one of them is reported gone (before the Modify) or new (after it).
fn both(
    tree: &mut Tree,
    r: usize,
    path: PathBuf,
    a: &Entry,
    b: &Entry,
    out: &mut Vec<(usize, Event)>,
) -> Option<(DirId, DirId)> {
    if a.st.kind != b.st.kind {
        emit_remove(tree, r, path.clone(), a, out);
        create(tree, r, path, b, out);
        return None;
    }
    let pair = a.child.zip(b.child);
    if pair.is_none() {
        tree.release_entry(a, true, out);
    }
    if let Some(kind) = change(&a.st, &b.st) {
        out.push((r, Event::new(EventKind::Modify(kind), path, Some(b.st.kind))));
    }
    if let (None, Some(y)) = (a.child, b.child) {
        report_subtree(tree, r, y, out);
    }
    pair
}

/// What a reader of a name sees change when it holds `new` where it held `old` (of the same
/// type): another file is new content (as an atomic save), another directory only its own
/// attributes (its content is compared name by name).
fn change(old: &Stat, new: &Stat) -> Option<ModifyKind> {
    if !new.same_file(old) && new.kind != FileType::Dir {
        Some(ModifyKind::Data)
    } else {
        modify_kind(old, new)
    }
}

/// A Create of `path` and of everything the new view has below it.
fn create(tree: &Tree, r: usize, path: PathBuf, e: &Entry, out: &mut Vec<(usize, Event)>) {
    out.push((r, Event::new(EventKind::Create, path, Some(e.st.kind))));
    if let Some(child) = e.child {
        report_subtree(tree, r, child, out);
    }
}

/// Creates of everything the view has below directory `dir`, breadth first (a directory before
/// what is in it).
fn report_subtree(tree: &Tree, r: usize, dir: DirId, out: &mut Vec<(usize, Event)>) {
    let mut queue = VecDeque::from([dir]);
    while let Some(d) = queue.pop_front() {
        let base = tree.path_of(d);
        let Some(d) = tree.dirs.get(d) else { continue };
        for (name, e) in d.entries.iter() {
            out.push((r, Event::new(EventKind::Create, base.join(name), Some(e.st.kind))));
            queue.extend(e.child);
        }
    }
}
