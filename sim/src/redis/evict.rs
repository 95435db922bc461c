//! Eviction under `maxmemory`: Redis 7.0's `evict.c`, step by step.
//!
//! Before every client command (`processCommand`), a master whose
//! `used_memory` is above `maxmemory` frees memory ([`RedisNode::perform_evictions`],
//! `performEvictions`): it computes how much to free, then evicts one key
//! at a time, each chosen by the policy, until the keys it deleted freed
//! that much. Each eviction is propagated as `DEL key` to the replicas and
//! the AOF, outside any `MULTI`, before the command's own effects. When
//! nothing is left to evict (or the policy is `noeviction`), commands
//! flagged `denyoom` (SET, SETNX, GETSET, INCR, HSET, HINCRBY, and
//! scripts that declare writes without `allow-oom`) get
//! `OOM command not allowed when used memory > 'maxmemory'.`; a script in
//! compatibility mode (no shebang) gets it from its first `denyoom` call,
//! unless it already wrote. Replicas never evict
//! (`replica-ignore-maxmemory yes`); loading and the master's stream never
//! evict.
//!
//! How the victim is chosen:
//! - **LRU, LFU, volatile-ttl**: an eviction pool of `EVPOOL_SIZE` = 16
//!   candidates, kept across calls, ordered by score (idle time, 255 minus
//!   the LFU counter, or `u64::MAX` minus the expiry time). Each refill
//!   samples `maxmemory_samples` keys with `dictGetSomeKeys` (all keys, or
//!   the expires dict for `volatile-*`) and inserts the better ones; the
//!   best entry whose key still exists (in the expires dict for
//!   `volatile-*`) is evicted, and entries for deleted keys are dropped
//!   as ghosts.
//! - **LRU idle time** has the LRU clock's resolution, 1 s: `robj->lru` is
//!   the 24-bit clock of seconds at the last access, and the idle time is
//!   the difference times 1000 ms (wrapping like Redis's). Redis reads a
//!   clock its cron refreshes every 100 ms; the model reads the command's
//!   own time.
//! - **LFU** keeps an 8-bit logarithmic counter (new keys start at 5,
//!   `LFU_INIT_VAL`; an access increments it with probability
//!   `1 / ((counter - 5) * lfu-log-factor + 1)`, factor 10) and the minute
//!   of its last decrement; each `lfu-decay-time` (1 minute) elapsed takes
//!   one off the counter when the key is looked at.
//! - **random**: `dictGetRandomKey` over all keys or the expires dict.
//!
//! An access (`lookupKey`) refreshes the key: every read and write command
//! that finds it, except EXISTS and TTL/PTTL (`LOOKUP_NOTOUCH`). A key
//! written over keeps its LFU counter (`dbOverwrite`) and gets a fresh
//! access time. Not modelled: the eviction time limit
//! (`maxmemory-eviction-tenacity`, which can leave an eviction to a timer
//! when more than 16 keys must go), lazy freeing, and the pause of LRU
//! updates while a fork is saving. Keys loaded from disk or a full resync
//! start fresh (Redis 7.0's RDB keeps idle times and counters).
//!
//! Randomness (sampling, `rand()` in the LFU increment) comes from one
//! generator per server process (`lru.rs`), seeded by the world from the
//! run's seed. The access times and counters themselves are `lru.rs`.

use super::keyspace::Keyspace;
use super::lru::{idle_ms, lfu_counter};
use crate::model::{MaxmemoryPolicy, RedisConfig};

/// `EVPOOL_SIZE`.
pub const EVPOOL_SIZE: usize = 16;

/// The exact text of Redis 7.0's `shared.oomerr`.
pub const OOM_ERR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// `[redis] maxmemory_*` as one node applies them, and what its empty
/// process already uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
    /// 0: no limit.
    pub maxmemory_bytes: u64,
    pub policy: MaxmemoryPolicy,
    pub samples: u32,
    /// `used_memory` with no key: startup plus the clients' buffers.
    pub baseline_bytes: u64,
}

impl Default for MemoryConfig {
    /// No limit, `noeviction`, 5 samples, one client.
    fn default() -> Self {
        MemoryConfig {
            maxmemory_bytes: 0,
            policy: MaxmemoryPolicy::NoEviction,
            samples: 5,
            baseline_bytes: super::memory::STARTUP_BYTES + super::memory::CLIENT_BYTES,
        }
    }
}

impl MemoryConfig {
    /// The settings of `[redis]`, for a world of `clients` clients (each
    /// connected to every node).
    pub fn of(r: &RedisConfig, clients: usize) -> MemoryConfig {
        MemoryConfig {
            maxmemory_bytes: r.maxmemory_bytes,
            policy: r.maxmemory_policy,
            samples: r.maxmemory_samples,
            baseline_bytes: super::memory::STARTUP_BYTES
                + super::memory::CLIENT_BYTES * clients.max(1) as u64,
        }
    }

    /// Whether values 0-9999 share one object (`createStringObjectFromLongLong`).
    pub fn shared_integers(&self) -> bool {
        self.maxmemory_bytes == 0 || !self.policy.no_shared_integers()
    }
}

/// One slot of the eviction pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Slot {
    idle: u64,
    key: Option<Vec<u8>>,
}

/// `EvictionPoolLRU`: the best candidates seen so far, ascending by score
/// (best on the right). It lives as long as the server process.
#[derive(Clone, Debug, Default)]
pub struct EvictionPool {
    slots: [Slot; EVPOOL_SIZE],
}

impl EvictionPool {
    /// `evictionPoolPopulate`: samples keys and inserts each whose score
    /// beats the worst entry (or that finds a free slot).
    fn populate(&mut self, ks: &mut Keyspace, cfg: &MemoryConfig, now_ms: i64) {
        let allkeys = cfg.policy.allkeys();
        let sampled = match ks.dict_and_rng(!allkeys) {
            Some((dict, rng)) => dict.some_keys(cfg.samples as usize, rng),
            None => return,
        };
        for key in sampled {
            let Some(entry) = ks.get(&key) else { continue };
            let idle = if cfg.policy.is_lru() {
                idle_ms(entry.lru, now_ms)
            } else if cfg.policy.is_lfu() {
                255 - u64::from(lfu_counter(entry.lru, now_ms))
            } else {
                // volatile-ttl: the sooner the expiry, the better.
                u64::MAX - entry.expire.unwrap_or(0) as u64
            };
            self.insert(idle, key);
        }
    }

    fn insert(&mut self, idle: u64, key: Vec<u8>) {
        let pool = &mut self.slots;
        let mut k = 0;
        while k < EVPOOL_SIZE && pool[k].key.is_some() && pool[k].idle < idle {
            k += 1;
        }
        if k == 0 && pool[EVPOOL_SIZE - 1].key.is_some() {
            return; // worse than everything in a full pool
        } else if k < EVPOOL_SIZE && pool[k].key.is_none() {
            // an empty slot
        } else if pool[EVPOOL_SIZE - 1].key.is_none() {
            // room on the right: shift k.. right
            pool[k..].rotate_right(1);
        } else {
            // full: drop the worst (leftmost), insert at k - 1
            k -= 1;
            pool[..=k].rotate_left(1);
        }
        pool[k] = Slot {
            idle,
            key: Some(key),
        };
    }

    /// Takes the best entry whose key is still a candidate, dropping
    /// ghosts on the way; `None` when the pool holds none.
    fn take_best(&mut self, ks: &Keyspace, allkeys: bool) -> Option<Vec<u8>> {
        for slot in self.slots.iter_mut().rev() {
            let Some(key) = slot.key.take() else { continue };
            slot.idle = 0;
            let exists = ks.get(&key).is_some_and(|e| allkeys || e.expire.is_some());
            if exists {
                return Some(key);
            }
        }
        None
    }
}

/// What `performEvictions` concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evictions {
    /// `EVICT_FAIL`: still above the limit, nothing (more) to evict.
    pub out_of_memory: bool,
    /// The keys evicted, in order.
    pub evicted: Vec<Vec<u8>>,
}

/// `performEvictions` on `ks` (which must be settled) at `now_ms`, with
/// `pending` bytes of the command about to run in memory.
pub(crate) fn perform(
    ks: &mut Keyspace,
    pool: &mut EvictionPool,
    cfg: &MemoryConfig,
    pending: u64,
    now_ms: i64,
) -> Evictions {
    let mut out = Evictions {
        out_of_memory: false,
        evicted: Vec::new(),
    };
    let used = cfg.baseline_bytes + ks.used_bytes() + pending;
    if cfg.maxmemory_bytes == 0 || used <= cfg.maxmemory_bytes {
        return out;
    }
    if cfg.policy == MaxmemoryPolicy::NoEviction {
        out.out_of_memory = true;
        return out;
    }
    let to_free = used - cfg.maxmemory_bytes;
    let allkeys = cfg.policy.allkeys();
    let mut freed = 0u64;
    while freed < to_free {
        let best = if cfg.policy.uses_pool() {
            let mut best = None;
            while best.is_none() {
                if ks.candidates(!allkeys) == 0 {
                    break;
                }
                pool.populate(ks, cfg, now_ms);
                best = pool.take_best(ks, allkeys);
            }
            best
        } else {
            ks.dict_and_rng(!allkeys)
                .and_then(|(dict, rng)| dict.random_key(rng))
        };
        let Some(key) = best else {
            out.out_of_memory = true;
            return out;
        };
        let before = ks.used_bytes();
        ks.remove(&key);
        freed += before - ks.used_bytes();
        out.evicted.push(key);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_keeps_the_best_sixteen_in_order() {
        let mut p = EvictionPool::default();
        for i in [5u64, 1, 9, 3] {
            p.insert(i, vec![i as u8]);
        }
        let idles: Vec<u64> = p
            .slots
            .iter()
            .filter(|s| s.key.is_some())
            .map(|s| s.idle)
            .collect();
        assert_eq!(idles, [1, 3, 5, 9]);
        for i in 10..30u64 {
            p.insert(i, vec![i as u8]);
        }
        assert_eq!(p.slots[0].idle, 14, "the worst dropped as better ones came");
        assert_eq!(p.slots[EVPOOL_SIZE - 1].idle, 29);
        p.insert(2, vec![2]);
        assert_eq!(
            p.slots[0].idle, 14,
            "worse than the whole full pool: ignored"
        );
    }
}
