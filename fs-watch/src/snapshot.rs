//! [`Snapshot`]: what the watcher remembers of one directory, compactly. A directory of the
//! 100,000-file tree costs one 64-byte record per name plus the name's bytes, instead of a
//! `BTreeMap<OsString, Entry>` node slot and a heap-allocated name each (about 280 bytes a file).
//!
//! Records are sorted by name (bytes, as `OsString`'s order); the names live in one byte arena
//! per directory, each record holding where its name ends. The device, which nearly every entry
//! shares with its directory, is an index into a small per-directory table, kept in the spare
//! high bits of the mode.

use std::cmp::Ordering;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;

use crate::event::FileType;
use crate::sys::Stat;
use crate::tree::{DirId, Entry};

/// One name of a snapshot: a [`Stat`] (less its device, an index in `mode_dev`) and what is
/// attached to it.
#[derive(Clone, Copy, Debug)]
struct Rec {
    ino: u64,
    size: i64,
    mtime: i64,
    ctime: i64,
    btime: i64,
    /// 0: nothing; else `(id + 1) << 1`, with bit 0 set for a knote slot, clear for a child
    /// directory (an entry has one or the other, never both).
    attached: u64,
    /// The mode (16 bits on every supported system) and, above it, the index of the device.
    mode_dev: u32,
    uid: u32,
    gid: u32,
    /// Where the name ends in the arena (it starts where the previous record's ends).
    name_end: u32,
}

const MODE_BITS: u32 = 0xffff;

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

/// The entries of one directory, sorted by name.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    recs: Vec<Rec>,
    names: Vec<u8>,
    devs: Vec<u64>,
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

    /// Entry `i`.
    pub fn entry(&self, i: usize) -> Entry {
        let r = &self.recs[i];
        let mode = r.mode_dev & MODE_BITS;
        let st = Stat {
            dev: self.devs.get((r.mode_dev >> 16) as usize).copied().unwrap_or(0),
            ino: r.ino,
            kind: FileType::from_mode(mode),
            size: r.size,
            mtime: r.mtime,
            ctime: r.ctime,
            mode,
            uid: r.uid,
            gid: r.gid,
            btime: r.btime,
        };
        let (child, slot) = decode(r.attached);
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
        if let Some(r) = self.recs.get_mut(i) {
            r.attached = encode(child, slot);
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
        let (start, end) = (self.start(i), self.recs[i].name_end as usize);
        self.names.drain(start..end);
        self.recs.remove(i);
        let len = (end - start) as u32;
        for r in &mut self.recs[i..] {
            r.name_end -= len;
        }
        Some(entry)
    }

    fn dev_index(devs: &mut Vec<u64>, dev: u64) -> io::Result<u32> {
        // Nearly always the first or the last one.
        if let Some(i) = devs.iter().rposition(|&d| d == dev) {
            return Ok(i as u32);
        }
        if devs.len() > MODE_BITS as usize {
            return Err(io::Error::other("more than 65,536 devices in one directory"));
        }
        devs.push(dev);
        Ok((devs.len() - 1) as u32)
    }

    fn rec(devs: &mut Vec<u64>, e: &Entry, name_end: u32) -> io::Result<Rec> {
        let st = &e.st;
        Ok(Rec {
            ino: st.ino,
            size: st.size,
            mtime: st.mtime,
            ctime: st.ctime,
            btime: st.btime,
            attached: encode(e.child, e.slot),
            mode_dev: (st.mode & MODE_BITS) | (Snapshot::dev_index(devs, st.dev)? << 16),
            uid: st.uid,
            gid: st.gid,
            name_end,
        })
    }

    /// Inserts (or replaces) `name`.
    pub fn insert(&mut self, name: &OsStr, e: Entry) -> io::Result<()> {
        match self.find(name) {
            Ok(i) => {
                let end = self.recs[i].name_end;
                self.recs[i] = Snapshot::rec(&mut self.devs, &e, end)?;
            }
            Err(i) => {
                let bytes = name.as_bytes();
                let len = u32::try_from(bytes.len()).map_err(|_| too_big())?;
                u32::try_from(self.names.len() + bytes.len()).map_err(|_| too_big())?;
                let start = self.start(i);
                let rec = Snapshot::rec(&mut self.devs, &e, (start as u32) + len)?;
                self.names.splice(start..start, bytes.iter().copied());
                for r in &mut self.recs[i..] {
                    r.name_end += len;
                }
                self.recs.insert(i, rec);
            }
        }
        Ok(())
    }

    /// Every entry, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, Entry)> + '_ {
        (0..self.recs.len()).map(|i| (self.name(i), self.entry(i)))
    }

    /// The child directories attached to entries.
    pub fn children(&self) -> impl Iterator<Item = DirId> + '_ {
        self.recs.iter().filter_map(|r| decode(r.attached).0)
    }
}

/// Collects the entries of a directory as they are read, then sorts them into a [`Snapshot`].
#[derive(Default)]
pub(crate) struct Builder {
    names: Vec<u8>,
    items: Vec<(u32, u32, Stat)>,
}

impl Builder {
    /// Adds `name` (read from the directory, so not yet seen).
    pub fn push(&mut self, name: &[u8], st: Stat) -> io::Result<()> {
        let start = u32::try_from(self.names.len()).map_err(|_| too_big())?;
        let end = u32::try_from(self.names.len() + name.len()).map_err(|_| too_big())?;
        self.names.extend_from_slice(name);
        self.items.push((start, end, st));
        Ok(())
    }

    /// The snapshot, sorted by name (a name read twice is kept once).
    pub fn finish(mut self) -> io::Result<Snapshot> {
        let names = &self.names;
        let key = |&(s, e, _): &(u32, u32, Stat)| &names[s as usize..e as usize];
        self.items.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        self.items.dedup_by(|a, b| key(a) == key(b));
        let mut snap = Snapshot {
            recs: Vec::with_capacity(self.items.len()),
            names: Vec::with_capacity(self.names.len()),
            devs: Vec::new(),
        };
        for item in &self.items {
            snap.names.extend_from_slice(key(item));
            let entry = Entry { st: item.2, child: None, slot: None };
            let end = snap.names.len() as u32;
            let rec = Snapshot::rec(&mut snap.devs, &entry, end)?;
            snap.recs.push(rec);
        }
        snap.names.shrink_to_fit();
        snap.devs.shrink_to_fit();
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

        let e = Entry { st: st(77, 9, DIR), child: Some(3), slot: None };
        s.insert(OsStr::new("bz"), e).unwrap();
        s.insert(OsStr::new("zz"), Entry { st: st(5, 10, REG), child: None, slot: None }).unwrap();
        assert_eq!(names(&s), ["", "a", "bz", "ccc", "zz"]);
        let bz = s.get(OsStr::new("bz")).unwrap();
        assert_eq!((bz.st, bz.child), (st(77, 9, DIR), Some(3)));
        assert_eq!(s.get(OsStr::new("zz")).unwrap().st, st(5, 10, REG));
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
        assert_eq!(std::mem::size_of::<Rec>(), 64);
    }
}
