//! [`IdMap`]: a map whose ids are never reused. Held Removes, queued wake-ups and parent links
//! refer to directories and knotes by id after they may be gone; with a slab a new directory
//! could take a dropped one's id and be mistaken for it.

use std::collections::BTreeMap;
use std::ops::{Index, IndexMut};

pub(crate) struct IdMap<T> {
    map: BTreeMap<usize, T>,
    next: usize,
}

impl<T> Default for IdMap<T> {
    fn default() -> Self {
        IdMap { map: BTreeMap::new(), next: 0 }
    }
}

impl<T> IdMap<T> {
    /// The id the next [`insert`](Self::insert) returns.
    pub fn next_key(&self) -> usize {
        self.next
    }

    pub fn insert(&mut self, value: T) -> usize {
        let id = self.next;
        self.next += 1;
        self.map.insert(id, value);
        id
    }

    pub fn get(&self, id: usize) -> Option<&T> {
        self.map.get(&id)
    }

    pub fn get_mut(&mut self, id: usize) -> Option<&mut T> {
        self.map.get_mut(&id)
    }

    pub fn contains(&self, id: usize) -> bool {
        self.map.contains_key(&id)
    }

    pub fn try_remove(&mut self, id: usize) -> Option<T> {
        self.map.remove(&id)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.map.iter().map(|(&k, v)| (k, v))
    }
}

impl<T> Index<usize> for IdMap<T> {
    type Output = T;
    /// Only for ids known to be present (the caller checked, or just inserted them).
    fn index(&self, id: usize) -> &T {
        &self.map[&id]
    }
}

impl<T> IndexMut<usize> for IdMap<T> {
    fn index_mut(&mut self, id: usize) -> &mut T {
        self.map.get_mut(&id).expect("IdMap: an id known to be present")
    }
}
