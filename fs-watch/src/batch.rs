//! One batch of diffs made into events: a Remove and a Create of the same (device, inode) become
//! one Rename, wherever they are in the watched trees; new directories are watched and their
//! contents reported; removed directories are dropped with everything below them.
//!
//! # Unpaired halves
//!
//! A rename across directories touches two directory knotes, and on a multi-thread runtime the
//! watcher may run between their two events. So a Remove that finds no Create in its batch is
//! *held*: it waits for the next batch, or [`PAIR_WINDOW`] at most, whichever comes first, for
//! its Create half, and is reported as a Remove after that (before anything of the next batch).
//! A Create is never held (the file is there: it is reported at once).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::event::{Event, EventKind, FileType, ModifyKind};
use crate::sys::Stat;
use crate::tree::{entry_path, DirId, Entry, Owner, Raw, Tree};

/// How long a Remove waits for its Create half at most.
///
/// A rename across directories touches two directory knotes, and on a multi-thread runtime the
/// watcher may look between their two events. So a Remove that finds no Create of the same
/// (device, inode) in its batch is held until the next batch or for this long, whichever comes
/// first, then reported as a Remove (before anything of the next batch). Plain deletes are
/// therefore reported up to 20 ms late; Creates, Modifies and paired Renames never wait.
pub const PAIR_WINDOW: Duration = Duration::from_millis(20);

/// A Remove waiting for its Create half.
#[derive(Debug)]
pub(crate) struct Held {
    pub dir: DirId,
    pub name: OsString,
    pub path: PathBuf,
    pub entry: Entry,
    pub root: usize,
}

struct Removed {
    dir: DirId,
    name: OsString,
    path: PathBuf,
    entry: Entry,
    replaced: bool,
    held: bool,
    root: usize,
    paired: bool,
}

struct Created {
    dir: DirId,
    name: OsString,
    replaced: bool,
    paired: bool,
}

/// Emits a Remove of an entry and of everything below it, deepest first.
pub(crate) fn emit_remove(
    tree: &mut Tree,
    root: usize,
    path: PathBuf,
    entry: &Entry,
    out: &mut Vec<(usize, Event)>,
) {
    tree.release_entry(entry, true, out);
    out.push((root, Event::new(EventKind::Remove, path, Some(entry.st.kind))));
}

/// Flushes the held Removes (all of them, or those of one root).
pub(crate) fn flush_held(
    tree: &mut Tree,
    held: &mut Vec<Held>,
    root: Option<usize>,
    out: &mut Vec<(usize, Event)>,
) {
    let (mut now, keep): (Vec<Held>, Vec<Held>) =
        std::mem::take(held).into_iter().partition(|h| root.is_none_or(|r| h.root == r));
    *held = keep;
    // A batch of nothing but these: they are all reported, each after those inside it.
    process(tree, Vec::new(), &mut now, false, out);
}

/// Reports `removed[i]`, after every other unreported Remove inside its subtree (a directory's
/// contents can be found gone a batch after the directory itself, and they must come first).
fn emit_nested(
    tree: &mut Tree,
    removed: &mut [Removed],
    created: &[Created],
    pairs: &mut [(usize, usize, bool)],
    i: usize,
    out: &mut Vec<(usize, Event)>,
) {
    if removed[i].paired {
        return;
    }
    removed[i].paired = true;
    if let Some(child) = removed[i].entry.child {
        emit_inside(tree, removed, created, pairs, child, out);
    }
    let r = &mut removed[i];
    let entry = take_entry(&mut r.entry);
    let path = current_path(tree, r.dir, &r.name, std::mem::take(&mut r.path));
    emit_remove(tree, r.root, path, &entry, out);
}

/// Reports what left the subtree of directory `child` and is not reported yet: what moved out
/// of it first, then what was removed inside it (each after what is inside it).
fn emit_inside(
    tree: &mut Tree,
    removed: &mut [Removed],
    created: &[Created],
    pairs: &mut [(usize, usize, bool)],
    child: DirId,
    out: &mut Vec<(usize, Event)>,
) {
    emit_moves_out(tree, removed, created, pairs, child, out);
    let inside = tree.subtree(child);
    for j in 0..removed.len() {
        if !removed[j].paired && inside.contains(&removed[j].dir) {
            emit_nested(tree, removed, created, pairs, j, out);
        }
    }
}

/// Reports the renames not reported yet of what was in the subtree of directory `child`.
fn emit_moves_out(
    tree: &mut Tree,
    removed: &mut [Removed],
    created: &[Created],
    pairs: &mut [(usize, usize, bool)],
    child: DirId,
    out: &mut Vec<(usize, Event)>,
) {
    let inside = tree.subtree(child);
    for k in 0..pairs.len() {
        let (ri, ci, done) = pairs[k];
        if !done && inside.contains(&removed[ri].dir) {
            pairs[k].2 = true;
            emit_rename(tree, removed, created, pairs, ri, ci, out);
        }
    }
}

/// The pairs (taken out of `pairs`) that would make a directory its own ancestor: the
/// destination is below the moved directory in the tree as it is after the batch's other
/// directory moves (`mv X/A A; mv X A/X2` is fine: A moved out of X first).
fn into_own_subtree(
    tree: &Tree,
    removed: &[Removed],
    created: &[Created],
    pairs: &mut Vec<(usize, usize, bool)>,
) -> Vec<(usize, usize)> {
    let mut moved: HashMap<DirId, DirId> = pairs
        .iter()
        .filter_map(|&(ri, ci, _)| removed[ri].entry.child.map(|d| (d, created[ci].dir)))
        .collect();
    let mut bad = Vec::new();
    while let Some(k) = pairs.iter().position(|&(ri, ci, _)| {
        removed[ri].entry.child.is_some_and(|x| lands_within(tree, &moved, created[ci].dir, x))
    }) {
        let (ri, ci, _) = pairs.remove(k);
        if let Some(x) = removed[ri].entry.child {
            moved.remove(&x);
        }
        bad.push((ri, ci));
    }
    bad
}

/// Whether `dir` is `x` or below it once the directories of `moved` are under their new parents.
fn lands_within(tree: &Tree, moved: &HashMap<DirId, DirId>, dir: DirId, x: DirId) -> bool {
    let mut cur = Some(dir);
    for _ in 0..=tree.dirs.len() {
        match cur {
            Some(d) if d == x => return true,
            Some(d) => {
                cur = moved.get(&d).copied().or_else(|| tree.dirs.get(d).and_then(|d| d.parent))
            }
            None => return false,
        }
    }
    // The moves form a cycle of their own: contradictory, a Remove rather than a Rename.
    true
}

/// The directories whose removal is reported in this batch, with everything below them: those
/// of the Removes reported now (`now`), and those of the unpaired Removes inside these, which
/// are reported with them (nested), and so on. The subtrees are walked through the snapshots,
/// which this batch's diffs have already cleared of the names that left: a subdirectory that
/// left a doomed directory for where the view cannot follow it is no longer listed there, but
/// it goes with it all the same, and what this batch found in it must not be reported removed
/// without having been reported created. A rename into a doomed directory is unpaired (taken
/// out of `pairs`): its source is a Remove, and when that is inside, what is below it is
/// doomed too.
fn doomed_dirs(
    tree: &Tree,
    removed: &mut [Removed],
    created: &mut [Created],
    pairs: &mut Vec<(usize, usize, bool)>,
    now: impl Fn(usize, &Removed) -> bool,
) -> HashSet<DirId> {
    let mut doomed = HashSet::new();
    let mut counted = vec![false; removed.len()];
    loop {
        // Each round counts a Remove or unpairs a pair, or is the last one.
        let mut grew = false;
        for (i, r) in removed.iter().enumerate() {
            if counted[i] || r.paired || !(now(i, r) || doomed.contains(&r.dir)) {
                continue;
            }
            counted[i] = true;
            if let Some(child) = r.entry.child {
                doomed.extend(tree.subtree(child));
                grew = true;
            }
        }
        pairs.retain(|&(ri, ci, _)| {
            if doomed.contains(&created[ci].dir) {
                removed[ri].paired = false;
                created[ci].paired = true;
                grew = true;
                return false;
            }
            true
        });
        if !grew {
            return doomed;
        }
    }
}

/// Reports the rename of pair (`removed[ri]`, `created[ci]`) (already marked done in `pairs`).
///
/// When it landed on a name that held another file (rename(2) over it), that file goes without
/// a Remove of its own, but what the view still has below it (a directory renamed over was
/// empty by then: its contents were removed or moved out first) is reported gone before the
/// Rename, at its old paths: reported after it, those paths would name what was moved in.
fn emit_rename(
    tree: &mut Tree,
    removed: &mut [Removed],
    created: &[Created],
    pairs: &mut [(usize, usize, bool)],
    ri: usize,
    ci: usize,
    out: &mut Vec<(usize, Event)>,
) {
    let c = &created[ci];
    if let Some(x) = removed[ri].entry.child.filter(|&x| tree.is_within(c.dir, x)) {
        // What moves out of it first (`mv X/A A; mv X A/X2`): then it is not its own ancestor.
        emit_moves_out(tree, removed, created, pairs, x, out);
        if tree.is_within(c.dir, x) {
            // Contradictory (`into_own_subtree` keeps these out): a Remove, not a Rename.
            tree.forget_entry(c.dir, &c.name);
            removed[ri].paired = false;
            emit_nested(tree, removed, created, pairs, ri, out);
            return;
        }
    }
    let over = c.replaced.then(|| {
        removed.iter().position(|r| r.replaced && !r.paired && r.dir == c.dir && r.name == c.name)
    });
    let over = over.flatten();
    if let Some(o) = over {
        removed[o].paired = true;
        if let Some(child) = removed[o].entry.child {
            emit_inside(tree, removed, created, pairs, child, out);
        }
    }
    let r = &mut removed[ri];
    let entry = take_entry(&mut r.entry);
    let from = current_path(tree, r.dir, &r.name, std::mem::take(&mut r.path));
    if let Some(o) = over {
        let old = take_entry(&mut removed[o].entry);
        tree.release_entry(&old, true, out);
    }
    rename(tree, entry, from, c.dir, &c.name, out);
}

/// Turns the raw changes of one batch (and the Removes held from the last one) into events.
/// Unpaired Removes of this batch are held when `hold` is set, else reported.
pub(crate) fn process(
    tree: &mut Tree,
    raws: Vec<Raw>,
    held: &mut Vec<Held>,
    hold: bool,
    out: &mut Vec<(usize, Event)>,
) {
    let mut removed: Vec<Removed> = std::mem::take(held)
        .into_iter()
        .map(|h| Removed {
            dir: h.dir,
            name: h.name,
            path: h.path,
            entry: h.entry,
            replaced: false,
            held: true,
            root: h.root,
            paired: false,
        })
        .collect();
    let mut created = Vec::new();
    let mut modified = Vec::new();
    for raw in raws {
        match raw {
            Raw::Removed { dir, name, path, entry, replaced } => {
                let root = tree.dirs.get(dir).map_or(usize::MAX, |d| d.root);
                removed.push(Removed {
                    dir,
                    name,
                    path,
                    entry,
                    replaced,
                    held: false,
                    root,
                    paired: false,
                });
            }
            Raw::Created { dir, name, replaced } => {
                created.push(Created { dir, name, replaced, paired: false })
            }
            Raw::Modified { dir, name, kind, ft } => modified.push((dir, name, kind, ft)),
        }
    }

    // Pair by (device, inode).
    let mut by_id: HashMap<(u64, u64), Vec<(usize, Stat)>> = HashMap::new();
    for (i, c) in created.iter().enumerate() {
        if let Some(e) = tree.dirs.get(c.dir).and_then(|d| d.entries.get(&c.name)) {
            by_id.entry(e.st.id()).or_default().push((i, e.st));
        }
    }
    let mut pairs = Vec::new();
    for (ri, r) in removed.iter_mut().enumerate() {
        if let Some(list) = by_id.get_mut(&r.entry.st.id()) {
            if let Some(pos) = list.iter().position(|(_, st)| st.same_file(&r.entry.st)) {
                let (ci, _) = list.swap_remove(pos);
                r.paired = true;
                created[ci].paired = true;
                pairs.push((ri, ci, false));
            }
        }
    }
    // Directories seen arriving inside their own former subtree, even after this batch's other
    // moves: both left the tree (a directory cannot move into its own descendant), the
    // descendant still watched through its fd until its held Remove comes out. Pairing them
    // would make the directory its own ancestor; it is a Remove instead, reported with this
    // batch.
    let mut left_tree = Vec::new();
    for (ri, ci) in into_own_subtree(tree, &removed, &created, &mut pairs) {
        // Nothing to create: it is not in the tree (nor in its parent's view).
        removed[ri].paired = false;
        tree.forget_entry(created[ci].dir, &created[ci].name);
        left_tree.push(ri);
    }

    // Directories whose removal is reported in this batch: what this batch's diffs found new
    // or changed inside them was created and removed between two looks (coalesced away), and a
    // rename into them is a Remove of its source.
    let reported_now = |i: usize, r: &Removed| {
        !r.paired && (r.held || r.replaced || !hold || left_tree.contains(&i))
    };
    let doomed = doomed_dirs(tree, &mut removed, &mut created, &mut pairs, reported_now);
    if !doomed.is_empty() {
        for c in created.iter_mut().filter(|c| doomed.contains(&c.dir)) {
            c.paired = true;
            tree.forget_entry(c.dir, &c.name);
        }
        modified.retain(|(dir, ..)| !doomed.contains(dir));
    }

    // 1. Held Removes that found nothing: they happened before everything else here; then
    // the directories that left into their own former subtree.
    for i in 0..removed.len() {
        if removed[i].held && !removed[i].paired {
            emit_nested(tree, &mut removed, &created, &mut pairs, i, out);
        }
    }
    for &i in &left_tree {
        emit_nested(tree, &mut removed, &created, &mut pairs, i, out);
    }
    // 2. Renames; those out of a name that was then refilled first (`mv a b; mv c a`).
    pairs.sort_by_key(|&(ri, _, _)| !removed[ri].replaced);
    for k in 0..pairs.len() {
        let (ri, ci, done) = pairs[k];
        if !done {
            pairs[k].2 = true;
            emit_rename(tree, &mut removed, &created, &mut pairs, ri, ci, out);
        }
    }
    // 3. Names that now hold another file.
    let mut replaced_removes: HashMap<(DirId, OsString), usize> = HashMap::new();
    for (i, r) in removed.iter().enumerate() {
        if r.replaced && !r.paired {
            replaced_removes.insert((r.dir, r.name.clone()), i);
        }
    }
    for c in created.iter().filter(|c| !c.paired) {
        let root = tree.dirs.get(c.dir).map_or(usize::MAX, |d| d.root);
        let path = entry_path(tree, c.dir, &c.name);
        let Some(kind) =
            tree.dirs.get(c.dir).and_then(|d| d.entries.get(&c.name)).map(|e| e.st.kind)
        else {
            continue;
        };
        let old = if c.replaced { replaced_removes.remove(&(c.dir, c.name.clone())) } else { None };
        if let Some(ri) = old {
            if removed[ri].entry.st.kind == kind && kind != FileType::Dir {
                // An atomic or vim-style save seen in one look: the file changed.
                let r = &mut removed[ri];
                let entry = take_entry(&mut r.entry);
                r.paired = true;
                tree.release_entry(&entry, false, out);
                out.push((root, Event::new(EventKind::Modify(ModifyKind::Data), path, Some(kind))));
                tree.attach_entry(c.dir, &c.name, true, out);
                continue;
            }
            emit_nested(tree, &mut removed, &created, &mut pairs, ri, out);
        }
        let misplaced = tree.dirs.get(c.dir).and_then(|d| d.entries.get(&c.name));
        if misplaced.is_some_and(|e| tree.moved_into_own_subtree(c.dir, &e.st)) {
            tree.forget_entry(c.dir, &c.name);
            tree.recheck_later(c.dir);
            continue;
        }
        out.push((root, Event::new(EventKind::Create, path, Some(kind))));
        tree.attach_entry(c.dir, &c.name, true, out);
    }
    // A name that now holds a file the view could not place (a renamed-over name is handled
    // with its Rename): the file it held is gone without a Remove of its own (as with
    // rename(2)), but what is below it in the view is reported gone, and its knotes dropped.
    for i in 0..removed.len() {
        if removed[i].replaced && !removed[i].paired {
            removed[i].paired = true;
            if let Some(child) = removed[i].entry.child {
                emit_inside(tree, &mut removed, &created, &mut pairs, child, out);
            }
            let entry = take_entry(&mut removed[i].entry);
            tree.release_entry(&entry, true, out);
        }
    }
    // 4. Content and attribute changes.
    for (dir, name, kind, ft) in modified {
        let Some(root) = tree.dirs.get(dir).map(|d| d.root) else { continue };
        let path = tree.path_of(dir).join(name);
        out.push((root, Event::new(EventKind::Modify(kind), path, Some(ft))));
    }
    // 5. This batch's unpaired Removes: held for the next one, or reported.
    if !hold {
        for i in 0..removed.len() {
            emit_nested(tree, &mut removed, &created, &mut pairs, i, out);
        }
    }
    for r in removed.into_iter().filter(|r| !r.paired && !r.held) {
        if hold {
            held.push(Held {
                dir: r.dir,
                name: r.name,
                path: r.path,
                entry: r.entry,
                root: r.root,
            });
        } else {
            let path = current_path(tree, r.dir, &r.name, r.path);
            emit_remove(tree, r.root, path, &r.entry, out);
        }
    }
}

/// The path of `name` in `dir` now (after renames of `dir` or above it), or `fallback` when the
/// directory is gone.
fn current_path(tree: &Tree, dir: DirId, name: &std::ffi::OsStr, fallback: PathBuf) -> PathBuf {
    if name.is_empty() {
        return fallback;
    }
    if tree.dirs.contains(dir) {
        tree.path_of(dir).join(name)
    } else {
        fallback
    }
}

/// Moves an entry out, leaving one with nothing attached behind.
fn take_entry(e: &mut Entry) -> Entry {
    let rest = Entry { st: e.st, child: None, slot: None };
    std::mem::replace(e, rest)
}

/// Applies a paired rename: the moved entry keeps its subtree and knotes under its new name.
fn rename(
    tree: &mut Tree,
    moved: Entry,
    from: PathBuf,
    dir: DirId,
    name: &std::ffi::OsStr,
    out: &mut Vec<(usize, Event)>,
) {
    let root = tree.dirs.get(dir).map_or(usize::MAX, |d| d.root);
    let to = entry_path(tree, dir, name);
    let recursive = tree.dirs.contains(dir) && tree.recursive(dir);
    let Some(dest) = tree.dirs.get_mut(dir).filter(|d| d.entries.find(name).is_ok()) else {
        tree.release_entry(&moved, false, out);
        return;
    };
    let kind = dest.entries.get(name).map_or(FileType::Other, |e| e.st.kind);
    dest.entries.set_links(name, moved.child, moved.slot);
    out.push((root, Event::rename(from, to, Some(kind))));
    if let Some(slot) = moved.slot.and_then(|s| tree.slots.get_mut(s)) {
        slot.owner = Owner::File(dir);
    }
    match moved.child {
        Some(child) if recursive => tree.reparent(child, dir, name),
        Some(child) => {
            if let Some(d) = tree.dirs.get_mut(dir) {
                d.entries.set_links(name, None, None);
            }
            tree.drop_dir(child, false, out);
        }
        // Moved in from where it was not watched (a non-recursive root): watch it now.
        None if moved.slot.is_none() => tree.attach_entry(dir, name, true, out),
        None => {}
    }
}
