//! The shape of a Redis 7.0 keyspace dict (the main one and the expires
//! one): how many buckets its table has, which bucket each key falls in,
//! and the two ways eviction draws keys from it, `dictGetSomeKeys` and
//! `dictGetRandomKey`, walked over those buckets as `dict.c` walks them.
//!
//! - **Table size.** No table until the first key; then 4 buckets;
//!   doubled (to the next power of two above the count) when a key is
//!   added to a full table (`_dictExpandIfNeeded`); shrunk to the smallest
//!   power of two that holds the keys (at least 4) by the server cron when
//!   less than 10% of the buckets are used (`htNeedsResize`). Each bucket
//!   is an 8-byte pointer: that is what the table costs in `used_memory`.
//!   Incremental rehashing is not modelled: a resize takes effect at once.
//! - **Buckets.** A key's bucket is the top bits of a 64-bit hash of its
//!   name, seeded per server process as Redis seeds SipHash at startup.
//!   Keys of one bucket (a chain) come in hash order (Redis: newest first).
//! - **Randomness** comes from the process's own generator
//!   (`lru.rs`), seeded by the world: a run stays a pure
//!   function of its seed.

use super::lru::Rng;
use std::collections::BTreeSet;
use std::ops::Bound;

/// `DICT_HT_INITIAL_EXP`: 4 buckets.
const INITIAL_EXP: u32 = 2;
/// `HASHTABLE_MIN_FILL`: the cron shrinks a table used below 10%.
const MIN_FILL_PERCENT: u64 = 10;

/// A keyspace dict: its table size and its keys by bucket.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dict {
    /// log2 of the table size; `None`: no table allocated.
    exp: Option<u32>,
    /// (hash, key), so a bucket's keys are one contiguous range.
    keys: BTreeSet<(u64, Vec<u8>)>,
}

impl Dict {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    fn size(&self) -> u64 {
        self.exp.map_or(0, |e| 1 << e)
    }

    /// What the table costs: 8 bytes per bucket.
    pub fn table_bytes(&self) -> u64 {
        8 * self.size()
    }

    /// `dictAdd` of a key not in the dict: expands first if full.
    pub fn add(&mut self, hash: u64, key: Vec<u8>) {
        let used = self.keys.len() as u64;
        match self.exp {
            None => self.exp = Some(INITIAL_EXP),
            Some(_) if used >= self.size() => {
                self.exp = Some(super::memory::table_size(used as usize + 1).trailing_zeros())
            }
            Some(_) => {}
        }
        self.keys.insert((hash, key));
    }

    /// `dictDelete`: the table keeps its size until the cron shrinks it.
    pub fn remove(&mut self, hash: u64, key: &[u8]) {
        self.keys.remove(&(hash, key.to_vec()));
    }

    /// `dictEmpty` (FLUSHALL): no table at all.
    pub fn clear(&mut self) {
        self.exp = None;
        self.keys.clear();
    }

    /// The cron's `tryResizeHashTables`: shrinks a table used below 10%.
    pub fn cron_resize(&mut self) {
        let (size, used) = (self.size(), self.keys.len() as u64);
        if size > 1 << INITIAL_EXP && used * 100 / size < MIN_FILL_PERCENT {
            self.exp = Some(super::memory::table_size(used as usize).trailing_zeros());
        }
    }

    /// The keys in bucket `i`, in hash order.
    fn bucket(&self, i: u64) -> impl Iterator<Item = &Vec<u8>> {
        let exp = self.exp.unwrap_or(0);
        let shift = 64 - exp;
        let lo = i << shift;
        let hi = match (i + 1).checked_shl(shift) {
            Some(h) if i + 1 < 1 << exp => Bound::Excluded((h, Vec::new())),
            _ => Bound::Unbounded,
        };
        self.keys
            .range((Bound::Included((lo, Vec::new())), hi))
            .map(|(_, k)| k)
    }

    /// `dictGetSomeKeys`: up to `count` keys from a walk over consecutive
    /// buckets starting at a random one, jumping elsewhere after a run of
    /// empty buckets, with reservoir sampling inside the last chain.
    pub fn some_keys(&self, count: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
        let count = count.min(self.keys.len());
        let Some(exp) = self.exp else {
            return Vec::new();
        };
        let mask = (1u64 << exp) - 1;
        let mut maxsteps = count * 10;
        let mut out: Vec<Vec<u8>> = Vec::with_capacity(count);
        let mut stored = 0usize;
        let mut i = rng.next_u64() & mask;
        let mut emptylen = 0usize;
        while stored < count && maxsteps > 0 {
            maxsteps -= 1;
            let mut chain = self.bucket(i).peekable();
            if chain.peek().is_none() {
                emptylen += 1;
                if emptylen >= 5 && emptylen > count {
                    i = rng.next_u64() & mask;
                    emptylen = 0;
                }
            } else {
                emptylen = 0;
                for key in chain {
                    if stored < count {
                        out.push(key.clone());
                    } else {
                        let r = (rng.next_u64() % (stored as u64 + 1)) as usize;
                        if r < count {
                            out[r] = key.clone();
                        }
                    }
                    stored += 1;
                }
                if stored >= count {
                    break;
                }
            }
            i = (i + 1) & mask;
        }
        out
    }

    /// `dictGetRandomKey`: a random non-empty bucket, then a random key of
    /// its chain.
    pub fn random_key(&self, rng: &mut Rng) -> Option<Vec<u8>> {
        let exp = self.exp?;
        if self.keys.is_empty() {
            return None;
        }
        let mask = (1u64 << exp) - 1;
        loop {
            let chain: Vec<&Vec<u8>> = self.bucket(rng.next_u64() & mask).collect();
            if !chain.is_empty() {
                let pick = (rng.next_u64() % chain.len() as u64) as usize;
                return Some(chain[pick].clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(n: u64) -> Dict {
        let mut d = Dict::default();
        for i in 0..n {
            let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            d.add(h, format!("k{i}").into_bytes());
        }
        d
    }

    #[test]
    fn tables_grow_and_shrink_like_redis() {
        let sizes: Vec<u64> = [0, 1, 4, 5, 8, 9, 16, 17, 33]
            .iter()
            .map(|&n| dict(n).size())
            .collect();
        assert_eq!(sizes, [0, 4, 4, 8, 8, 16, 16, 32, 64]);
        let mut d = dict(33);
        for i in 0..30u64 {
            let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            d.remove(h, format!("k{i}").as_bytes());
        }
        assert_eq!(d.size(), 64, "deleting never shrinks");
        d.cron_resize();
        assert_eq!(d.size(), 4, "3 of 64 used: the cron shrinks it");
        d.clear();
        assert_eq!(d.table_bytes(), 0);
    }

    #[test]
    fn sampling_sees_every_key_of_a_small_dict() {
        let d = dict(4);
        let mut rng = Rng::new(7);
        for _ in 0..100 {
            let mut got = d.some_keys(5, &mut rng);
            got.sort();
            assert_eq!(got.len(), 4);
            got.dedup();
            assert_eq!(got.len(), 4, "no duplicates in a full walk");
        }
    }

    #[test]
    fn random_keys_cover_the_dict() {
        let d = dict(50);
        let mut rng = Rng::new(1);
        let mut seen = BTreeSet::new();
        for _ in 0..2000 {
            seen.insert(d.random_key(&mut rng).unwrap());
        }
        assert_eq!(seen.len(), 50);
        assert_eq!(Dict::default().random_key(&mut rng), None);
    }
}
