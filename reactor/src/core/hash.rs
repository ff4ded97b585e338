//! The hasher of the core's maps. Their keys are small integers (fds, idents, filters), hashed on
//! every registration and delivery: std's SipHash cost about 1 µs per TCP connection made and
//! closed (3.5 % of the time of the connect-churn benchmark under perf). This is FxHash's
//! multiply-rotate (rustc's hasher), as hashbrown's users commonly take for integer keys.
//!
//! SipHash's resistance to chosen keys buys nothing here: the keys of a kqueue are chosen by
//! the process that owns it, which could only slow down its own kqueue.

use std::hash::{BuildHasher, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Builds [`IntHasher`]s.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IntHash;

impl BuildHasher for IntHash {
    type Hasher = IntHasher;

    fn build_hasher(&self) -> IntHasher {
        IntHasher(0)
    }
}

/// FxHash: each word is mixed in with a rotate, an xor and a multiply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IntHasher(u64);

impl IntHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for IntHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn write_i16(&mut self, n: i16) {
        self.add(n as u16 as u64);
    }

    fn write_i32(&mut self, n: i32) {
        self.add(n as u32 as u64);
    }

    fn write_isize(&mut self, n: isize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by integers, with [`IntHash`].
pub(crate) type IntMap<K, V> = std::collections::HashMap<K, V, IntHash>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kevent::Filter;
    use std::hash::Hash;

    fn hash(v: impl Hash) -> u64 {
        IntHash.hash_one(v)
    }

    #[test]
    fn distinct_keys_hash_apart_and_equal_keys_alike() {
        assert_eq!(hash((7usize, Filter::Read)), hash((7usize, Filter::Read)));
        assert_ne!(hash((7usize, Filter::Read)), hash((7usize, Filter::Write)));
        assert_ne!(hash((7usize, Filter::Read)), hash((8usize, Filter::Read)));
        assert_ne!(hash((7usize, Filter::Unknown(-20))), hash((7usize, Filter::Unknown(-21))));
        // hashbrown takes its control byte from the top 7 bits: consecutive fds must spread there.
        let tops: std::collections::HashSet<u64> = (0..64usize).map(|fd| hash(fd) >> 57).collect();
        assert!(tops.len() > 32, "top bits of consecutive keys: {tops:?}");
    }

    #[test]
    fn a_map_of_many_consecutive_fds_works() {
        let mut m: IntMap<(usize, Filter), usize> = IntMap::default();
        for fd in 0..10_000 {
            m.insert((fd, Filter::Read), fd);
            m.insert((fd, Filter::Write), fd + 1);
        }
        assert_eq!(m.len(), 20_000);
        assert!(
            (0..10_000).all(|fd| m[&(fd, Filter::Read)] == fd && m[&(fd, Filter::Write)] == fd + 1)
        );
    }
}
