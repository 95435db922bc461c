//! The simulated disk of a Redis node, and the persistence timers of its
//! server process.
//!
//! A [`Disk`] lives in the world (outside the madsim node), so it survives
//! `kill` and `restart`; the server process only ever appends to it. It
//! holds what Redis 7.0 keeps on disk:
//!
//! - the **AOF** (multi-part, as in 7.0): an optional *base* (written by a
//!   full resync from a master, always durable) and the *incremental* log:
//!   the effects of every write, in the absolute-time form Redis appends
//!   (`SET k v PXAT t`, `PEXPIREAT`, `DEL`, scripts as their effects). A
//!   prefix of the log is fsynced; the rest is *written* (in the OS page
//!   cache) but not durable.
//! - the **RDB** snapshot, with the node wall time it was taken at. A
//!   snapshot is durable once taken.
//!
//! | mode | before the reply | in the background | `kill` loses | `power-loss` loses |
//! |---|---|---|---|---|
//! | `none` | nothing | nothing | everything | everything |
//! | `rdb` | nothing | snapshot (`dump`) every `rdb_save_every_ms` if something changed | writes since the last snapshot | the same |
//! | `aof-everysec` | write | fsync at every second of node time | nothing | the writes of the last (unsynced) second |
//! | `aof-always` | write + fsync | nothing | nothing | nothing |
//!
//! On restart the node loads the AOF if the mode has one (base, then the
//! log replayed with `apply_effect` at the node's wall time now, then every
//! key whose absolute expiry has passed is dropped), else the RDB snapshot
//! (`RedisNode::load`, which skips expired keys). Expiries are absolute, so
//! time spent down counts against every TTL. A key the AOF brings back
//! already expired is deleted at once, and the `DEL` goes to the AOF
//! ([`Disk::boot`]): Redis 7.0 loads it with its past expiry, then expires
//! it at the first access or active-expire cycle and appends the `DEL`
//! (checked with redis-server 7.0.15), so a later replay does not revive
//! it; without the `DEL`, a Redisson hash re-created under the same name
//! would get the dead owner's field back at the next restart.
//!
//! Simplifications, all documented where they matter:
//! - fsync happens on a grid of whole seconds of the node's monotonic clock
//!   (Redis checks `server.unixtime`; a wall-clock jump does not move our
//!   grid), and only once something is unsynced. Redis also fsyncs at once
//!   when the first write of a new second arrives; we wait for the grid.
//! - a snapshot is instantaneous (no fork, no partial file); the `save`
//!   rule is `save <rdb_save_every_ms> 1`: a snapshot at the first 100 ms
//!   tick at which the keyspace changed and the last save is at least
//!   `rdb_save_every_ms` old (time counted from process start, as
//!   `lastsave`).
//! - no AOF rewrite: the log grows for the whole run (a run is short).
//! - `none` keeps nothing, not even the RDB file a replica receives on a
//!   full resync (Redis leaves it on disk unless `rdb-del-sync-files`).
//! - after a `kill` the page cache still holds the unsynced tail; the next
//!   fsync (by the restarted process) makes it durable, as `fsync(2)` of
//!   the file would.

use super::{RedisNode, Value};
use crate::history::{DiskOp, LoadSource};
use crate::model::Persistence;
use locksim_models::Argv;

/// A keyspace as `RedisNode::dump` returns it: key, value, absolute expiry.
pub type Dump = Vec<(Vec<u8>, Value, Option<i64>)>;

/// A keyspace image with the node wall time it was taken at.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub entries: Dump,
    pub wall_ms: i64,
}

/// The disk of one Redis node.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// AOF base file (from a full resync): durable.
    base: Option<Snapshot>,
    /// AOF incremental log: every entry is written.
    log: Vec<Argv>,
    /// How many entries of `log` are fsynced.
    synced: usize,
    /// The last RDB snapshot: durable.
    rdb: Option<Snapshot>,
}

/// What a node found on its disk at boot.
pub struct Loaded {
    pub node: RedisNode,
    /// What the history says about it (a [`DiskOp::Load`]).
    pub op: DiskOp,
    /// The keys dropped because their expiry had passed.
    pub expired: Vec<Vec<u8>>,
}

impl Disk {
    /// Appends a write's effects (AOF modes only); `aof-always` fsyncs them
    /// at once. Returns true if unsynced data now waits for an fsync.
    pub fn write(&mut self, mode: Persistence, effects: &[Argv]) -> bool {
        match mode {
            Persistence::AofEverysec => {
                self.log.extend_from_slice(effects);
                self.synced < self.log.len()
            }
            Persistence::AofAlways => {
                self.log.extend_from_slice(effects);
                self.synced = self.log.len();
                false
            }
            Persistence::None | Persistence::Rdb => false,
        }
    }

    /// Entries of the AOF log (written, synced or not).
    pub fn written(&self) -> usize {
        self.log.len()
    }

    /// Entries of the AOF log that would survive a power loss.
    pub fn synced(&self) -> usize {
        self.synced
    }

    /// Makes every written entry durable; returns how many became so.
    pub fn fsync(&mut self) -> usize {
        let n = self.log.len() - self.synced;
        self.synced = self.log.len();
        n
    }

    /// The last RDB snapshot, if any.
    pub fn rdb(&self) -> Option<&Snapshot> {
        self.rdb.as_ref()
    }

    /// Stores a durable RDB snapshot.
    pub fn save_rdb(&mut self, snapshot: Snapshot) {
        self.rdb = Some(snapshot);
    }

    /// A full resync replaced the keyspace with the master's: Redis stores
    /// the received RDB and restarts the AOF from it (a new durable base).
    pub fn resync(&mut self, mode: Persistence, snapshot: Snapshot) {
        match mode {
            Persistence::None => {}
            Persistence::Rdb => self.rdb = Some(snapshot),
            Persistence::AofEverysec | Persistence::AofAlways => {
                self.base = Some(snapshot);
                self.log.clear();
                self.synced = 0;
            }
        }
    }

    /// A crash: `power_loss` drops what was written but not fsynced (a
    /// process crash leaves it in the page cache). Returns entries lost.
    pub fn crash(&mut self, power_loss: bool) -> usize {
        if !power_loss {
            return 0;
        }
        let lost = self.log.len() - self.synced;
        self.log.truncate(self.synced);
        lost
    }

    /// Boots a node from this disk at its wall time `now_ms`: what
    /// [`Disk::load`] gives, with a `DEL` appended to the AOF (written, not
    /// yet fsynced) for every key the log brought back already expired.
    pub fn boot(&mut self, mode: Persistence, now_ms: i64) -> Option<Loaded> {
        let loaded = self.load(mode, now_ms)?;
        if matches!(mode, Persistence::AofEverysec | Persistence::AofAlways) {
            let dels: Vec<Argv> = loaded
                .expired
                .iter()
                .map(|k| vec![b"DEL".to_vec(), k.clone()])
                .collect();
            self.write(mode, &dels);
        }
        Some(loaded)
    }

    /// What the node loads at boot, at its wall time `now_ms`; `None` when
    /// the mode keeps nothing or nothing was ever written.
    pub fn load(&self, mode: Persistence, now_ms: i64) -> Option<Loaded> {
        let names = |keys: Vec<Vec<u8>>| -> Vec<String> {
            keys.iter()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect()
        };
        match mode {
            Persistence::None => None,
            Persistence::Rdb => {
                let snap = self.rdb.as_ref()?;
                let expired: Vec<Vec<u8>> = snap
                    .entries
                    .iter()
                    .filter(|(_, _, e)| matches!(e, Some(w) if *w < now_ms))
                    .map(|(k, _, _)| k.clone())
                    .collect();
                let node = RedisNode::load(snap.entries.clone(), now_ms);
                let op = DiskOp::Load {
                    source: LoadSource::Rdb {
                        age_ms: now_ms - snap.wall_ms,
                    },
                    keys: node.len(),
                    dropped: names(expired.clone()),
                };
                Some(Loaded { node, op, expired })
            }
            Persistence::AofEverysec | Persistence::AofAlways => {
                if self.base.is_none() && self.log.is_empty() {
                    return None;
                }
                // Nothing expires while loading; expired keys go afterwards.
                let mut node = match &self.base {
                    Some(b) => RedisNode::load(b.entries.clone(), i64::MIN),
                    None => RedisNode::new(),
                };
                for op in &self.log {
                    node.apply_effect(op, now_ms);
                }
                let expired: Vec<Vec<u8>> = node
                    .active_expire(now_ms)
                    .into_iter()
                    .filter_map(|del| del.into_iter().nth(1))
                    .collect();
                let op = DiskOp::Load {
                    source: LoadSource::Aof {
                        base: self.base.is_some(),
                        replayed: self.log.len(),
                    },
                    keys: node.len(),
                    dropped: names(expired.clone()),
                };
                Some(Loaded { node, op, expired })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(k: &str, v: &str, pxat: i64) -> Argv {
        vec![
            b"SET".to_vec(),
            k.as_bytes().to_vec(),
            v.as_bytes().to_vec(),
            b"PXAT".to_vec(),
            pxat.to_string().into_bytes(),
        ]
    }

    #[test]
    fn power_loss_drops_only_the_unsynced_tail() {
        let mut d = Disk::default();
        assert!(d.write(Persistence::AofEverysec, &[set("a", "1", 100)]));
        assert_eq!(d.fsync(), 1);
        assert!(d.write(Persistence::AofEverysec, &[set("b", "1", 100)]));
        assert_eq!(d.crash(false), 0);
        assert_eq!(d.written(), 2);
        assert_eq!(d.crash(true), 1);
        assert_eq!(d.written(), 1);
        let l = d.load(Persistence::AofEverysec, 50).expect("aof");
        assert_eq!(l.node.len(), 1);
        assert_eq!(l.node.expiry_of(b"a"), Some(100));
    }

    #[test]
    fn load_drops_expired_keys() {
        let mut d = Disk::default();
        d.write(
            Persistence::AofAlways,
            &[set("a", "1", 100), set("b", "1", 300)],
        );
        let l = d.load(Persistence::AofAlways, 200).expect("aof");
        assert_eq!(l.node.len(), 1);
        assert!(
            matches!(&l.op, DiskOp::Load { keys: 1, dropped, .. } if dropped == &["a"]),
            "{:?}",
            l.op
        );
        let mut r = Disk::default();
        let mut n = RedisNode::new();
        n.apply_effect(&set("a", "1", 100), 0);
        r.save_rdb(Snapshot {
            entries: n.dump(),
            wall_ms: 0,
        });
        let l = r.load(Persistence::Rdb, 200).expect("rdb");
        assert!(l.node.is_empty());
        assert!(
            matches!(
                l.op,
                DiskOp::Load {
                    source: LoadSource::Rdb { age_ms: 200 },
                    ..
                }
            ),
            "{:?}",
            l.op
        );
    }
}
