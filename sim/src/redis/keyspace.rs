//! The keyspace of one node: values, absolute expiries and the lazy-expiry
//! rule every command goes through.
//!
//! Redis 7.0 considers a key expired when `now > when` (a key whose expiry
//! equals the current millisecond is still alive, with a PTTL of 0). What
//! happens to an expired key depends on who is looking:
//!
//! - a master deletes it on access and propagates `DEL key`;
//! - a replica hides it from reads but keeps it (the master's `DEL` will
//!   come through the replication stream);
//! - while loading or applying the master's stream nothing is ever expired.
//!
//! Under memory settings ([`Keyspace::configure`]) the keyspace also keeps
//! what eviction needs: the two dicts Redis keeps keys in (all keys; keys
//! with a TTL) with their table sizes, what each key costs
//! (`memory.rs`), access times (`lru.rs`) and the process's random
//! generator. A node without memory settings keeps none of it.

use super::dict::Dict;
use super::lru::{self, Rng};
use super::memory;
use locksim_models::protocol::Argv;
use std::collections::{BTreeMap, BTreeSet};

pub use super::value::Value;

/// A value with its optional absolute expiry (Unix ms, node wall clock),
/// and what eviction and the memory count need to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub value: Value,
    pub expire: Option<i64>,
    /// Redis's `robj->lru`: the LRU clock at the last access or, under an
    /// LFU policy, the minute of the last decrement << 8 | the counter.
    /// Set by [`Keyspace::insert`] and accesses.
    pub lru: u32,
    /// What the key costs in `used_memory`, as last settled.
    bytes: u64,
    /// Whether the key is in the expires dict, as last settled.
    volatile: bool,
}

impl Entry {
    pub fn new(value: Value, expire: Option<i64>) -> Entry {
        Entry {
            value,
            expire,
            lru: 0,
            bytes: 0,
            volatile: false,
        }
    }
}

/// How lazy expiry behaves during one command (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExpiryMode {
    /// Delete expired keys on access and propagate `DEL`.
    Master,
    /// Hide expired keys, keep them.
    Replica,
    /// Never expire (loading a file, applying the master's stream).
    Loading,
}

/// True when an entry with this expiry is logically expired at `now`.
pub(crate) fn is_expired(expire: Option<i64>, now: i64) -> bool {
    matches!(expire, Some(when) if now > when)
}

/// The server cron's period (`hz 10`), for shrinking dict tables.
const CRON_MS: i64 = 100;

/// What a keyspace with memory settings keeps beside its keys.
#[derive(Clone, Debug, Default)]
struct Track {
    main: Dict,
    expires: Dict,
    /// Sum of the entries' `bytes`.
    data_bytes: u64,
    /// Keys handed out mutably since the last settle.
    dirty: Vec<Vec<u8>>,
    /// The current command's time (`server.mstime`), for access times.
    now: i64,
    rng: Rng,
    hash_seed: u64,
    lfu: bool,
    shared_integers: bool,
    last_cron_ms: i64,
    /// Command names that ran at least once (each has a latency histogram).
    commands: BTreeSet<&'static str>,
    /// The script cache: how many scripts, what they cost.
    scripts: usize,
    script_bytes: u64,
}

impl Track {
    fn hash(&self, key: &[u8]) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.hash_seed;
        for &b in key {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Rng::new(h).next_u64()
    }

    /// Brings `e`'s cost and its place in the expires dict up to date.
    fn settle(&mut self, key: &[u8], e: &mut Entry) {
        let bytes = memory::key_bytes(key, &e.value, e.expire.is_some(), self.shared_integers);
        self.data_bytes = self.data_bytes - e.bytes + bytes;
        e.bytes = bytes;
        let ttl = e.expire.is_some();
        if ttl != e.volatile {
            e.volatile = ttl;
            let hash = self.hash(key);
            if ttl {
                self.expires.add(hash, key.to_vec());
            } else {
                self.expires.remove(hash, key);
            }
        }
    }
}

/// All keys of a node, in key order (and, with memory settings, what
/// eviction needs: see the module docs).
///
/// Commands mutate entries in place through [`Keyspace::get_mut`], so a
/// key's size and its place in the expires dict are brought up to date by
/// [`Keyspace::settle`] at the end of each command (before any eviction).
#[derive(Clone, Debug, Default)]
pub(crate) struct Keyspace {
    map: BTreeMap<Vec<u8>, Entry>,
    track: Option<Box<Track>>,
}

impl Keyspace {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// The entry, to change in place (the change is counted at the next
    /// [`Keyspace::settle`]).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let e = self.map.get_mut(key)?;
        if let Some(t) = &mut self.track {
            t.dirty.push(key.to_vec());
        }
        Some(e)
    }

    /// `lookupKey`'s access: refreshes the key's LRU time or LFU counter.
    pub fn touch(&mut self, key: &[u8]) {
        let Some(t) = &mut self.track else { return };
        if let Some(e) = self.map.get_mut(key) {
            e.lru = lru::touched_lru(e.lru, t.lfu, t.now, &mut t.rng);
        }
    }

    /// `dbAdd` or `dbOverwrite`: a new object (fresh access time; an
    /// overwrite keeps the LFU counter).
    pub fn insert(&mut self, key: Vec<u8>, mut entry: Entry) {
        let Some(t) = &mut self.track else {
            self.map.insert(key, entry);
            return;
        };
        let old = self.map.get(&key);
        entry.lru = match old {
            Some(old) if t.lfu => old.lru,
            _ => lru::fresh_lru(t.lfu, t.now),
        };
        match old {
            Some(old) => {
                t.data_bytes -= old.bytes;
                entry.volatile = old.volatile;
            }
            None => {
                let hash = t.hash(&key);
                t.main.add(hash, key.clone());
            }
        }
        entry.bytes = 0;
        t.settle(&key, &mut entry);
        self.map.insert(key, entry);
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.remove(key)?;
        if let Some(t) = &mut self.track {
            let hash = t.hash(key);
            t.data_bytes -= e.bytes;
            t.main.remove(hash, key);
            if e.volatile {
                t.expires.remove(hash, key);
            }
        }
        Some(e)
    }

    pub fn clear(&mut self) {
        self.map.clear();
        if let Some(t) = &mut self.track {
            t.main.clear();
            t.expires.clear();
            t.data_bytes = 0;
            t.dirty.clear();
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Entry)> {
        self.map.iter()
    }

    /// The keys from `from` on, in key order.
    pub fn iter_from<'a>(&'a self, from: &[u8]) -> impl Iterator<Item = &'a Vec<u8>> + 'a {
        self.map.range(from.to_vec()..).map(|(k, _)| k)
    }

    /// The live entry at `now`, without side effects.
    pub fn peek(&self, key: &[u8], now: i64) -> Option<&Entry> {
        self.map.get(key).filter(|e| !is_expired(e.expire, now))
    }

    /// Earliest absolute expiry of any key.
    pub fn next_expiry(&self) -> Option<i64> {
        self.map.values().filter_map(|e| e.expire).min()
    }

    /// Removes every key with `now > expiry`, in key order; returns the keys.
    pub fn remove_expired(&mut self, now: i64) -> Vec<Vec<u8>> {
        let dead: Vec<Vec<u8>> = self
            .map
            .iter()
            .filter(|(_, e)| is_expired(e.expire, now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &dead {
            self.remove(k);
        }
        dead
    }

    // --- memory ---------------------------------------------------------

    /// Sets the command's time, and runs the cron's table resize when a
    /// cron tick has passed since the last.
    pub fn set_now(&mut self, now: i64) {
        let Some(t) = &mut self.track else { return };
        t.now = now;
        if now >= t.last_cron_ms + CRON_MS || now < t.last_cron_ms {
            t.last_cron_ms = now;
            t.main.cron_resize();
            t.expires.cron_resize();
        }
    }

    /// Applies a node's memory settings: the LFU flag, shared integers,
    /// the process's random seed (which also seeds the dicts' hash, so the
    /// dicts are rebuilt). Every key starts afresh at `now`, as if just
    /// loaded.
    pub fn configure(&mut self, lfu: bool, shared_integers: bool, seed: u64, now: i64) {
        let mut rng = Rng::new(seed);
        let hash_seed = rng.next_u64();
        let old = self.track.take().map(|t| *t).unwrap_or_default();
        self.track = Some(Box::new(Track {
            now,
            rng,
            hash_seed,
            lfu,
            shared_integers,
            last_cron_ms: now,
            commands: old.commands,
            scripts: old.scripts,
            script_bytes: old.script_bytes,
            ..Track::default()
        }));
        for (key, e) in std::mem::take(&mut self.map) {
            self.insert(key, Entry::new(e.value, e.expire));
        }
    }

    /// Counts every change made through [`Keyspace::get_mut`].
    pub fn settle(&mut self) {
        let Some(t) = &mut self.track else { return };
        for key in std::mem::take(&mut t.dirty) {
            if let Some(e) = self.map.get_mut(&key) {
                t.settle(&key, e);
            }
        }
    }

    /// What the keys, both dicts' tables, the latency histograms and the
    /// script cache cost (settled state; 0 without memory settings).
    pub fn used_bytes(&self) -> u64 {
        self.track.as_ref().map_or(0, |t| {
            let scripts = match t.scripts {
                0 => 0,
                n => t.script_bytes + 8 * memory::table_size(n),
            };
            t.data_bytes
                + t.main.table_bytes()
                + t.expires.table_bytes()
                + t.commands.len() as u64 * memory::LATENCY_HISTOGRAM_BYTES
                + scripts
        })
    }

    /// A command ran (`call()`): its latency histogram exists from now on.
    pub fn note_command(&mut self, name: &'static str) {
        if let Some(t) = &mut self.track {
            t.commands.insert(name);
        }
    }

    /// A script entered the script cache.
    pub fn note_script(&mut self, body: &[u8]) {
        if let Some(t) = &mut self.track {
            t.scripts += 1;
            t.script_bytes += memory::script_bytes(body);
        }
    }

    /// `SCRIPT FLUSH`: a new, empty script cache.
    pub fn flush_scripts(&mut self) {
        if let Some(t) = &mut self.track {
            t.scripts = 0;
            t.script_bytes = 0;
        }
    }

    /// How many keys eviction may pick from: all, or (`volatile`) those
    /// with a TTL.
    pub fn candidates(&self, volatile: bool) -> usize {
        match &self.track {
            Some(t) if volatile => t.expires.len(),
            Some(t) => t.main.len(),
            None => 0,
        }
    }

    /// The dict eviction samples (all keys, or `volatile`: the expires
    /// dict) and the generator to sample with; `None` without memory
    /// settings.
    pub fn dict_and_rng(&mut self, volatile: bool) -> Option<(&Dict, &mut Rng)> {
        let t = self.track.as_deref_mut()?;
        let dict = if volatile { &t.expires } else { &t.main };
        Some((dict, &mut t.rng))
    }

    /// `objectSetLRUOrLFU`, as RESTORE's IDLETIME / FREQ set it.
    pub fn restore_access(&mut self, key: &[u8], idle_s: u64, freq: u8) -> bool {
        let Some(t) = &self.track else { return false };
        match self.map.get_mut(key) {
            Some(e) => {
                e.lru = lru::restored_lru(t.lfu, idle_s, freq, t.now);
                true
            }
            None => false,
        }
    }
}

/// The state one command (or one whole script) runs against: the keyspace,
/// the frozen time, the expiry mode and the list of operations to
/// propagate (lazy `DEL`s and the commands' own rewritten forms).
pub(crate) struct Ctx<'a> {
    pub ks: &'a mut Keyspace,
    pub now: i64,
    pub mode: ExpiryMode,
    pub also: &'a mut Vec<Argv>,
    /// False after `redis.set_repl(redis.REPL_NONE)` in a script: commands
    /// stop propagating themselves (lazy `DEL`s still propagate).
    pub propagate: bool,
}

impl Ctx<'_> {
    /// Redis's `expireIfNeeded`: true if the key is (logically) expired,
    /// deleting it and recording `DEL key` on a master.
    pub fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        let expired = match self.ks.get(key) {
            Some(e) => is_expired(e.expire, self.now),
            None => return false,
        };
        if !expired {
            return false;
        }
        match self.mode {
            ExpiryMode::Loading => false,
            ExpiryMode::Replica => true,
            ExpiryMode::Master => {
                self.ks.remove(key);
                self.also.push(vec![b"DEL".to_vec(), key.to_vec()]);
                true
            }
        }
    }

    /// Looks a key up the way every command does (`lookupKey`): lazy
    /// expiry first, then an access (LRU time, LFU counter).
    pub fn lookup(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if self.expire_if_needed(key) {
            return None;
        }
        self.ks.touch(key);
        self.ks.get_mut(key)
    }

    /// `lookupKey` with `LOOKUP_NOTOUCH` (EXISTS, TTL, PTTL): no access.
    pub fn lookup_notouch(&mut self, key: &[u8]) -> Option<&Entry> {
        if self.expire_if_needed(key) {
            return None;
        }
        self.ks.get(key)
    }

    /// Records the command's own propagated form.
    pub fn propagate(&mut self, argv: Argv) {
        if self.propagate {
            self.also.push(argv);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(expire: Option<i64>) -> Entry {
        Entry::new(Value::Str(b"v".to_vec()), expire)
    }

    #[test]
    fn expiry_boundary_is_strictly_greater() {
        assert!(!is_expired(Some(100), 100));
        assert!(is_expired(Some(100), 101));
        assert!(!is_expired(None, i64::MAX));
    }

    #[test]
    fn lazy_expiry_depends_on_mode() {
        for (mode, gone, kept) in [
            (ExpiryMode::Master, true, false),
            (ExpiryMode::Replica, true, true),
            (ExpiryMode::Loading, false, true),
        ] {
            let mut ks = Keyspace::default();
            ks.insert(b"k".to_vec(), entry(Some(10)));
            let mut also = Vec::new();
            let mut ctx = Ctx {
                ks: &mut ks,
                now: 11,
                mode,
                also: &mut also,
                propagate: true,
            };
            assert_eq!(ctx.lookup(b"k").is_none(), gone, "{mode:?}");
            assert_eq!(ks.get(b"k").is_some(), kept, "{mode:?}");
            let dels = usize::from(mode == ExpiryMode::Master);
            assert_eq!(also.len(), dels);
        }
    }

    #[test]
    fn remove_expired_in_key_order() {
        let mut ks = Keyspace::default();
        ks.insert(b"b".to_vec(), entry(Some(5)));
        ks.insert(b"a".to_vec(), entry(Some(5)));
        ks.insert(b"c".to_vec(), entry(Some(50)));
        ks.insert(b"d".to_vec(), entry(None));
        assert_eq!(ks.next_expiry(), Some(5));
        assert_eq!(ks.remove_expired(6), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(ks.len(), 2);
        assert_eq!(ks.next_expiry(), Some(50));
    }
}
