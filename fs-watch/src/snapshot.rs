//! [`Snapshot`]: what the watcher remembers of one directory, compactly. A directory of the
//! 100,000-file tree costs one 48-byte record per name plus the name's bytes, instead of a
//! `BTreeMap<OsString, Entry>` node slot and a heap-allocated name each (about 280 bytes a file).
//!
//! Records are sorted by name (bytes, as `OsString`'s order); the names live in one byte arena
//! per directory, each record holding where its name ends. The (device, owner, group) triple,
//! which nearly every entry shares with its neighbours, is an index into a small per-directory
//! table, kept in the spare high bits of the mode. What is attached to an entry (a watched child
//! directory, or a knote in per-file mode) is in a side table: few entries have anything.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;

use crate::event::FileType;
use crate::sys::Stat;
use crate::tree::{DirId, Entry};

/// One name of a snapshot: a [`Stat`] less its device, owner and group (a [`Class`]).
#[derive(Clone, Copy, Debug)]
struct Rec {
    ino: u64,
    size: i64,
    mtime: i64,
    ctime: i64,
    btime: i64,
    /// The mode (16 bits on every supported system) and, above it, the index of the class.
    mode_class: u32,
    /// Where the name ends in the arena (it starts where the previous record's ends).
    name_end: u32,
}

/// What most entries of a directory share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Class {
    dev: u64,
    uid: u32,
    gid: u32,
}

const MODE_BITS: u32 = 0xffff;

/// What is attached to an entry, as one number: `(id + 1) << 1`, with bit 0 set for a knote
/// slot, clear for a child directory (an entry has one or the other, never both).
fn encode(child: Option<DirId>, slot: Option<usize>) -> u64 {
    debug_assert!(child.is_none() || slot.is_none(), "an entry has a child or a slot");
    let tagged = |id: usize, tag: u64| {
        u64::try_from(id)
            .ok()
            .and_then(|id| id.checked_add(1))
            .and_then(|v| v.checked_mul(2))
            .map_or(0, |v| v | tag)
    };
    match (child, slot) {
        (Some(c), _) => tagged(c, 0),
        (None, Some(s)) => tagged(s, 1),
        (None, None) => 0,
    }
}

fn decode(attached: u64) -> (Option<DirId>, Option<usize>) {
    if attached == 0 {
        return (None, None);
    }
    let id = usize::try_from((attached >> 1) - 1).ok();
    if attached & 1 == 0 {
        (id, None)
    } else {
        (None, id)
    }
}

fn too_big() -> io::Error {
    io::Error::new(io::ErrorKind::OutOfMemory, "directory too large to snapshot (4 GiB of names)")
}

fn too_varied() -> io::Error {
    let msg = "more than 65,536 (device, owner, group) combinations in one directory";
    io::Error::new(io::ErrorKind::OutOfMemory, msg)
}

/// The entries of one directory, sorted by name.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    recs: Vec<Rec>,
    names: Vec<u8>,
    classes: Vec<Class>,
    /// (record index, [`encode`]d attachment), sorted by index; only entries with one.
    links: Vec<(u32, u64)>,
}

impl Snapshot {
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.recs[i - 1].name_end as usize
        }
    }

    /// The name of entry `i`.
    pub fn name(&self, i: usize) -> &OsStr {
        OsStr::from_bytes(&self.names[self.start(i)..self.recs[i].name_end as usize])
    }

    fn link(&self, i: usize) -> Result<usize, usize> {
        self.links.binary_search_by_key(&i, |&(at, _)| at as usize)
    }

    /// Entry `i`.
    pub fn entry(&self, i: usize) -> Entry {
        let r = &self.recs[i];
        let mode = r.mode_class & MODE_BITS;
        let class = self.classes.get((r.mode_class >> 16) as usize);
        let class = class.copied().unwrap_or(Class { dev: 0, uid: 0, gid: 0 });
        let st = Stat {
            dev: class.dev,
            ino: r.ino,
            kind: FileType::from_mode(mode),
            size: r.size,
            mtime: r.mtime,
            ctime: r.ctime,
            mode,
            uid: class.uid,
            gid: class.gid,
            btime: r.btime,
        };
        let (child, slot) = self.link(i).map_or((None, None), |l| decode(self.links[l].1));
        Entry { st, child, slot }
    }

    /// The index of `name`, or where it would go.
    pub fn find(&self, name: &OsStr) -> Result<usize, usize> {
        let name = name.as_bytes();
        let (mut lo, mut hi) = (0, self.recs.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.name(mid).as_bytes().cmp(name) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn get(&self, name: &OsStr) -> Option<Entry> {
        self.find(name).ok().map(|i| self.entry(i))
    }

    /// Sets what is attached to entry `i` (a child directory or a knote slot).
    pub fn set_links_at(&mut self, i: usize, child: Option<DirId>, slot: Option<usize>) {
        if i >= self.recs.len() {
            return;
        }
        let code = encode(child, slot);
        match (self.link(i), code) {
            (Ok(l), 0) => {
                self.links.remove(l);
            }
            (Ok(l), code) => self.links[l].1 = code,
            (Err(_), 0) => {}
            (Err(l), code) => {
                if let Ok(i) = u32::try_from(i) {
                    self.links.insert(l, (i, code));
                }
            }
        }
    }

    /// Sets what is attached to `name`, if it is there.
    pub fn set_links(&mut self, name: &OsStr, child: Option<DirId>, slot: Option<usize>) {
        if let Ok(i) = self.find(name) {
            self.set_links_at(i, child, slot);
        }
    }

    /// Removes `name`, returning its entry.
    pub fn remove(&mut self, name: &OsStr) -> Option<Entry> {
        let i = self.find(name).ok()?;
        let entry = self.entry(i);
        self.set_links_at(i, None, None);
        let (start, end) = (self.start(i), self.recs[i].name_end as usize);
        self.names.drain(start..end);
        self.recs.remove(i);
        let len = (end - start) as u32;
        for r in &mut self.recs[i..] {
            r.name_end -= len;
        }
        for l in self.links.iter_mut().filter(|l| l.0 as usize > i) {
            l.0 -= 1;
        }
        Some(entry)
    }

    /// The class of `st`, added to the table if new. `index` (a builder's) maps every class
    /// of the table to its index; without it the table is searched.
    fn class_of(
        &mut self,
        st: &Stat,
        mut index: Option<&mut HashMap<Class, u32>>,
    ) -> io::Result<u32> {
        let class = Class { dev: st.dev, uid: st.uid, gid: st.gid };
        let n = self.classes.len();
        // Nearly always the last one added (most directories have one).
        if n > 0 && self.classes[n - 1] == class {
            return Ok((n - 1) as u32);
        }
        let found = match index.as_deref_mut() {
            Some(map) => map.get(&class).copied(),
            None => self.classes.iter().position(|c| *c == class).map(|i| i as u32),
        };
        if let Some(i) = found {
            return Ok(i);
        }
        if n > MODE_BITS as usize {
            return Err(too_varied());
        }
        self.classes.push(class);
        if let Some(map) = index {
            map.insert(class, n as u32);
        }
        Ok(n as u32)
    }

    fn rec(
        &mut self,
        st: &Stat,
        name_end: u32,
        index: Option<&mut HashMap<Class, u32>>,
    ) -> io::Result<Rec> {
        Ok(Rec {
            ino: st.ino,
            size: st.size,
            mtime: st.mtime,
            ctime: st.ctime,
            btime: st.btime,
            mode_class: (st.mode & MODE_BITS) | (self.class_of(st, index)? << 16),
            name_end,
        })
    }

    /// Inserts (or replaces) `name`.
    pub fn insert(&mut self, name: &OsStr, e: Entry) -> io::Result<()> {
        let i = match self.find(name) {
            Ok(i) => {
                let end = self.recs[i].name_end;
                self.recs[i] = self.rec(&e.st, end, None)?;
                i
            }
            Err(i) => {
                let bytes = name.as_bytes();
                let len = u32::try_from(bytes.len()).map_err(|_| too_big())?;
                u32::try_from(self.names.len() + bytes.len()).map_err(|_| too_big())?;
                let start = self.start(i);
                let rec = self.rec(&e.st, (start as u32) + len, None)?;
                self.names.splice(start..start, bytes.iter().copied());
                for r in &mut self.recs[i..] {
                    r.name_end += len;
                }
                for l in self.links.iter_mut().filter(|l| l.0 as usize >= i) {
                    l.0 += 1;
                }
                self.recs.insert(i, rec);
                i
            }
        };
        self.set_links_at(i, e.child, e.slot);
        Ok(())
    }

    /// Every entry, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, Entry)> + '_ {
        (0..self.recs.len()).map(|i| (self.name(i), self.entry(i)))
    }

    /// The child directories attached to entries.
    pub fn children(&self) -> impl Iterator<Item = DirId> + '_ {
        self.links.iter().filter_map(|l| decode(l.1).0)
    }
}

/// Collects the entries of a directory as they are read, then sorts them into a [`Snapshot`].
/// One is kept and reused, directory after directory: its buffers grow once, not per directory.
#[derive(Default)]
pub(crate) struct Builder {
    names: Vec<u8>,
    items: Vec<(u32, u32, Stat)>,
    /// The buffer directories are read into (`sys::read_dir`).
    pub dirents: Vec<u64>,
}

/// Entries a reused builder keeps room for; after a bigger directory its buffers are freed.
const KEEP_ITEMS: usize = 4096;

impl Builder {
    /// Adds `name` (read from the directory, so not yet seen).
    pub fn push(&mut self, name: &[u8], st: Stat) -> io::Result<()> {
        let start = u32::try_from(self.names.len()).map_err(|_| too_big())?;
        let end = u32::try_from(self.names.len() + name.len()).map_err(|_| too_big())?;
        self.names.extend_from_slice(name);
        self.items.push((start, end, st));
        Ok(())
    }

    /// The snapshot, sorted by name (a name read twice is kept once); the builder is left empty.
    pub fn finish(&mut self) -> io::Result<Snapshot> {
        let snap = self.build();
        self.clear();
        snap
    }

    /// Forgets what was pushed.
    pub fn clear(&mut self) {
        self.names.clear();
        self.items.clear();
        if self.items.capacity() > KEEP_ITEMS {
            self.items = Vec::new();
            self.names = Vec::new();
        }
    }

    fn build(&mut self) -> io::Result<Snapshot> {
        let names = &self.names;
        let key = |&(s, e, _): &(u32, u32, Stat)| &names[s as usize..e as usize];
        self.items.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        self.items.dedup_by(|a, b| key(a) == key(b));
        let mut snap = Snapshot {
            recs: Vec::with_capacity(self.items.len()),
            names: Vec::with_capacity(self.names.len()),
            classes: Vec::new(),
            links: Vec::new(),
        };
        let mut index = HashMap::new();
        for item in &self.items {
            snap.names.extend_from_slice(key(item));
            let end = snap.names.len() as u32;
            let rec = snap.rec(&item.2, end, Some(&mut index))?;
            snap.recs.push(rec);
        }
        snap.names.shrink_to_fit();
        snap.classes.shrink_to_fit();
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(dev: u64, ino: u64, mode: u32) -> Stat {
        Stat {
            dev,
            ino,
            kind: FileType::from_mode(mode),
            size: ino as i64 * 3,
            mtime: -(ino as i64),
            ctime: i64::MAX - ino as i64,
            mode,
            uid: 1000 + ino as u32,
            gid: 7,
            btime: ino as i64 * 11,
        }
    }

    // mode_t is u16 on macOS.
    #[allow(clippy::unnecessary_cast)]
    const REG: u32 = libc::S_IFREG as u32 | 0o644;
    #[allow(clippy::unnecessary_cast)]
    const DIR: u32 = libc::S_IFDIR as u32 | 0o755;

    fn names(s: &Snapshot) -> Vec<String> {
        s.iter().map(|(n, _)| n.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn sorted_round_trip_with_devices_and_links() {
        let mut b = Builder::default();
        for (i, name) in ["b", "a", "", "ccc", "a"].iter().enumerate() {
            let dev = if i == 3 { 99 } else { 5 };
            b.push(name.as_bytes(), st(dev, i as u64 + 1, if i == 1 { DIR } else { REG })).unwrap();
        }
        let mut s = b.finish().unwrap();
        // Sorted by bytes, a name read twice kept once.
        assert_eq!(names(&s), ["", "a", "b", "ccc"]);
        let a = s.get(OsStr::new("a")).unwrap();
        assert!(a.st.ino == 2 || a.st.ino == 5);
        assert_eq!(s.get(OsStr::new("ccc")).unwrap().st, st(99, 4, REG));
        assert_eq!(s.get(OsStr::new("b")).unwrap().st, st(5, 1, REG));
        assert!(s.get(OsStr::new("bb")).is_none());
        assert_eq!(s.find(OsStr::new("bb")), Err(3));

        s.set_links(OsStr::new("b"), Some(0), None);
        s.set_links(OsStr::new("ccc"), None, Some(usize::MAX / 4));
        assert_eq!(s.children().collect::<Vec<_>>(), [0]);
        let c = s.get(OsStr::new("ccc")).unwrap();
        assert_eq!((c.child, c.slot), (None, Some(usize::MAX / 4)));

        let removed = s.remove(OsStr::new("b")).unwrap();
        assert_eq!((removed.st, removed.child), (st(5, 1, REG), Some(0)));
        assert!(s.remove(OsStr::new("b")).is_none());
        assert_eq!(names(&s), ["", "a", "ccc"]);
        assert_eq!(s.get(OsStr::new("ccc")).unwrap().st, st(99, 4, REG));
        assert_eq!(s.get(OsStr::new("ccc")).unwrap().slot, Some(usize::MAX / 4));
        assert_eq!(s.children().count(), 0);

        let e = Entry { st: st(77, 9, DIR), child: Some(3), slot: None };
        s.insert(OsStr::new("bz"), e).unwrap();
        s.insert(OsStr::new("zz"), Entry { st: st(5, 10, REG), child: None, slot: None }).unwrap();
        assert_eq!(names(&s), ["", "a", "bz", "ccc", "zz"]);
        let bz = s.get(OsStr::new("bz")).unwrap();
        assert_eq!((bz.st, bz.child), (st(77, 9, DIR), Some(3)));
        assert_eq!(s.get(OsStr::new("zz")).unwrap().st, st(5, 10, REG));
        assert_eq!(s.get(OsStr::new("ccc")).unwrap().slot, Some(usize::MAX / 4));
        assert_eq!(s.get(OsStr::new("zz")).unwrap().slot, None);
        assert_eq!(s.children().collect::<Vec<_>>(), [3]);
        // Insert over an existing name replaces it.
        s.insert(OsStr::new("a"), Entry { st: st(5, 42, REG), child: None, slot: None }).unwrap();
        assert_eq!(s.get(OsStr::new("a")).unwrap().st.ino, 42);
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn empty() {
        let s = Builder::default().finish().unwrap();
        assert!(s.is_empty());
        assert!(s.get(OsStr::new("x")).is_none());
        assert_eq!(s.children().count(), 0);
        assert_eq!(std::mem::size_of::<Rec>(), 48);
    }

    #[test]
    fn class_table_full_is_an_error_not_a_wrong_snapshot() {
        let build = |n: u32| {
            let mut b = Builder::default();
            for i in 0..n {
                let mut s = st(5, u64::from(i), REG);
                s.uid = i;
                b.push(format!("{i:06}").as_bytes(), s).unwrap();
            }
            b.finish()
        };
        let s = build(65_536).unwrap();
        let last = s.get(OsStr::new("065535")).unwrap().st;
        assert_eq!((last.uid, last.ino, last.dev, last.mode), (65_535, 65_535, 5, REG));
        assert_eq!(s.get(OsStr::new("000007")).unwrap().st.uid, 7);
        let e = build(65_537).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
    }
}
