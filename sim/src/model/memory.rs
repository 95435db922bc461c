//! Redis's `maxmemory` settings as scenario data: the limit, the eviction
//! policy (Redis's eight `maxmemory-policy` names).
//!
//! What each policy does is [`crate::redis`]'s business (`evict.rs`); this
//! file only names them and answers the questions Redis's
//! `MAXMEMORY_FLAG_*` bits answer.

use serde::{Deserialize, Serialize};

/// `maxmemory-policy`: what Redis 7.0 does when a command needs memory
/// above `maxmemory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MaxmemoryPolicy {
    /// Evict nothing: commands that may use memory get the OOM error.
    #[serde(rename = "noeviction")]
    NoEviction,
    /// The least recently used of sampled keys.
    #[serde(rename = "allkeys-lru")]
    AllkeysLru,
    /// The least frequently used of sampled keys.
    #[serde(rename = "allkeys-lfu")]
    AllkeysLfu,
    /// Any key.
    #[serde(rename = "allkeys-random")]
    AllkeysRandom,
    /// The least recently used of sampled keys with a TTL.
    #[serde(rename = "volatile-lru")]
    VolatileLru,
    /// The least frequently used of sampled keys with a TTL.
    #[serde(rename = "volatile-lfu")]
    VolatileLfu,
    /// Any key with a TTL.
    #[serde(rename = "volatile-random")]
    VolatileRandom,
    /// The sampled key with a TTL that expires soonest.
    #[serde(rename = "volatile-ttl")]
    VolatileTtl,
}

impl MaxmemoryPolicy {
    /// Every policy, in the order of the scenario format's docs.
    pub const ALL: [MaxmemoryPolicy; 8] = [
        MaxmemoryPolicy::NoEviction,
        MaxmemoryPolicy::AllkeysLru,
        MaxmemoryPolicy::AllkeysLfu,
        MaxmemoryPolicy::AllkeysRandom,
        MaxmemoryPolicy::VolatileLru,
        MaxmemoryPolicy::VolatileLfu,
        MaxmemoryPolicy::VolatileRandom,
        MaxmemoryPolicy::VolatileTtl,
    ];

    /// Redis's name (`redis.conf`, `CONFIG SET maxmemory-policy`).
    pub fn name(self) -> &'static str {
        match self {
            MaxmemoryPolicy::NoEviction => "noeviction",
            MaxmemoryPolicy::AllkeysLru => "allkeys-lru",
            MaxmemoryPolicy::AllkeysLfu => "allkeys-lfu",
            MaxmemoryPolicy::AllkeysRandom => "allkeys-random",
            MaxmemoryPolicy::VolatileLru => "volatile-lru",
            MaxmemoryPolicy::VolatileLfu => "volatile-lfu",
            MaxmemoryPolicy::VolatileRandom => "volatile-random",
            MaxmemoryPolicy::VolatileTtl => "volatile-ttl",
        }
    }

    /// `MAXMEMORY_FLAG_LRU`.
    pub fn is_lru(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::AllkeysLru | MaxmemoryPolicy::VolatileLru
        )
    }

    /// `MAXMEMORY_FLAG_LFU`: objects keep a frequency counter instead of
    /// an access time.
    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::AllkeysLfu | MaxmemoryPolicy::VolatileLfu
        )
    }

    /// `MAXMEMORY_FLAG_ALLKEYS`: every key is a candidate (else only the
    /// keys with a TTL).
    pub fn allkeys(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::AllkeysLru
                | MaxmemoryPolicy::AllkeysLfu
                | MaxmemoryPolicy::AllkeysRandom
        )
    }

    /// The policies that pick through the eviction pool (sampling).
    pub fn uses_pool(self) -> bool {
        self.is_lru() || self.is_lfu() || self == MaxmemoryPolicy::VolatileTtl
    }

    /// `MAXMEMORY_FLAG_NO_SHARED_INTEGERS`: with a limit and an LRU or LFU
    /// policy every value is its own object (shared integers 0-9999 would
    /// share one access time).
    pub fn no_shared_integers(self) -> bool {
        self.is_lru() || self.is_lfu()
    }
}
