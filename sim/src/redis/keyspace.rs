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

use locksim_models::protocol::Argv;
use std::collections::BTreeMap;

/// A value stored at a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string (Redis stores integers as strings too).
    Str(Vec<u8>),
    /// A hash of field to value.
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
}

/// A value with its optional absolute expiry (Unix ms, node wall clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub value: Value,
    pub expire: Option<i64>,
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

/// All keys of a node, in key order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Keyspace {
    map: BTreeMap<Vec<u8>, Entry>,
}

impl Keyspace {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    pub fn insert(&mut self, key: Vec<u8>, entry: Entry) {
        self.map.insert(key, entry);
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.map.remove(key)
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Entry)> {
        self.map.iter()
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
            self.map.remove(k);
        }
        dead
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

    /// Looks a key up the way every command does (lazy expiry first).
    pub fn lookup(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if self.expire_if_needed(key) {
            return None;
        }
        self.ks.get_mut(key)
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
        Entry {
            value: Value::Str(b"v".to_vec()),
            expire,
        }
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
