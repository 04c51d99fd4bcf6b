//! The head's series lookup by label hash, sharded.
//!
//! Keys are [`Labels::hash64`](crate::labels::Labels::hash64) values, already well mixed, so the
//! maps use them as they are ([`PreHashed`]) instead of hashing them again. Each key normally
//! has one series, stored inline in `first`; the rare series whose label hash collides with
//! another's go to `more`. A lookup is then one probe and one label comparison.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use parking_lot::RwLock;

use super::MemSeries;

/// Number of shards (a power of two).
const SHARDS: usize = 16;

/// A `BuildHasher` for keys that are already hashes: `write_u64` passes the value through.
#[derive(Clone, Copy, Default)]
pub(crate) struct PreHashed;

/// The hasher of [`PreHashed`].
pub(crate) struct PreHashedHasher(u64);

impl BuildHasher for PreHashed {
    type Hasher = PreHashedHasher;
    fn build_hasher(&self) -> PreHashedHasher {
        PreHashedHasher(0)
    }
}

impl Hasher for PreHashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; a plain fold keeps other key types working.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// One shard: the series of each label hash.
#[derive(Default)]
pub(crate) struct Shard {
    first: HashMap<u64, Arc<MemSeries>, PreHashed>,
    more: HashMap<u64, Vec<Arc<MemSeries>>, PreHashed>,
}

impl Shard {
    /// The series with hash `h` for which `is` holds.
    pub fn find(&self, h: u64, mut is: impl FnMut(&MemSeries) -> bool) -> Option<&Arc<MemSeries>> {
        let s = self.first.get(&h)?;
        if is(s) {
            return Some(s);
        }
        self.more.get(&h)?.iter().find(|s| is(s))
    }

    /// Adds a series (not present yet) under hash `h`.
    pub fn insert(&mut self, h: u64, s: Arc<MemSeries>) {
        match self.first.entry(h) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(s);
            }
            std::collections::hash_map::Entry::Occupied(_) => self.more.entry(h).or_default().push(s),
        }
    }

    /// Keeps the series for which `keep` returns true; `keep` is called once per series.
    pub fn retain(&mut self, mut keep: impl FnMut(&Arc<MemSeries>) -> bool) {
        self.more.retain(|_, v| {
            v.retain(|s| keep(s));
            !v.is_empty()
        });
        let mut emptied = Vec::new();
        self.first.retain(|h, s| {
            let k = keep(s);
            if !k {
                emptied.push(*h);
            }
            k
        });
        for h in emptied {
            if let Some(v) = self.more.get_mut(&h)
                && let Some(s) = v.pop()
            {
                self.first.insert(h, s);
                if v.is_empty() {
                    self.more.remove(&h);
                }
            }
        }
    }

    /// Number of series in the shard.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.first.len() + self.more.values().map(Vec::len).sum::<usize>()
    }
}

/// The sharded map.
pub(crate) struct SeriesMap {
    shards: Vec<RwLock<Shard>>,
}

impl SeriesMap {
    /// An empty map.
    pub fn new() -> Self {
        SeriesMap {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
        }
    }

    /// The shard of hash `h`. Picked by middle bits: the maps use the low bits for buckets and
    /// the top seven for their control bytes, so those must vary within a shard.
    pub fn shard(&self, h: u64) -> &RwLock<Shard> {
        &self.shards[((h >> 32) as usize) & (SHARDS - 1)]
    }

    /// All shards.
    pub fn shards(&self) -> &[RwLock<Shard>] {
        &self.shards
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;
    use crate::metrics::head::SeriesData;
    use parking_lot::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU32};

    fn series(id: u32) -> Arc<MemSeries> {
        Arc::new(MemSeries {
            id,
            labels: Labels::from_pairs([("__name__", format!("m{id}"))]).unwrap(),
            data: Mutex::new(SeriesData::new()),
            logged: AtomicBool::new(false),
            pending: AtomicU32::new(0),
        })
    }

    #[test]
    fn colliding_hashes_keep_every_series_and_retain_promotes() {
        let mut s = Shard::default();
        for id in 0..5 {
            // Ids 0..3 share hash 7; id 4 has its own.
            s.insert(if id < 4 { 7 } else { 8 }, series(id));
        }
        assert_eq!(s.len(), 5);
        for id in 0..4 {
            assert_eq!(s.find(7, |m| m.id == id).map(|m| m.id), Some(id));
        }
        assert!(s.find(7, |m| m.id == 4).is_none());
        assert_eq!(s.find(8, |m| m.id == 4).map(|m| m.id), Some(4));
        let mut calls = 0;
        s.retain(|m| {
            calls += 1;
            m.id % 2 == 1
        });
        assert_eq!(calls, 5, "keep runs once per series");
        assert_eq!(s.len(), 2);
        for id in [1, 3] {
            assert_eq!(s.find(7, |m| m.id == id).map(|m| m.id), Some(id));
        }
        assert!(s.find(8, |_| true).is_none());
        s.retain(|m| m.id == 3);
        assert_eq!(s.find(7, |m| m.id == 3).map(|m| m.id), Some(3));
        assert_eq!(s.len(), 1);
    }
}
