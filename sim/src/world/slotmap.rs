//! A Redis Cluster client's slot map: which node it sends each hash slot
//! to, as redis-py's `NodesManager` keeps it (redis-py `redis/cluster.py`).
//!
//! - It starts from the cluster as formed (`CLUSTER SLOTS` at startup):
//!   shard `s`'s range goes to `redis-<s>`.
//! - A command goes to the node of its keys' slot; a command without keys
//!   (`WAIT`, `PUBLISH`, `SCRIPT LOAD`) to the node of the client's last
//!   command (the connection it holds).
//! - `MOVED <slot> <ip>:<port>`: the slot now goes to that node, and the
//!   command is sent there (at most 16 hops: `RedisClusterRequestTTL`).
//! - After a timeout (redis-py: a `TimeoutError` or `ConnectionError`) or
//!   a `CLUSTERDOWN` the map is *stale*: before its next command the
//!   client asks the nodes in order, the one that timed out last,
//!   `CLUSTER SLOTS` and takes the first answer (`NodesManager.initialize`).
//!   The command that failed is not re-sent (that is `client_retries`).
//! - A command whose keys span slots goes to its first key's node (Jedis
//!   and Lettuce; redis-py refuses it before sending), which answers
//!   `CROSSSLOT`.

use crate::model::RedisConfig;
use crate::redis::cluster::{
    command_slot, first_key_slot, key_hash_slot, range_of, slot_ranges, KeySlot,
};

/// One client's slot map.
#[derive(Clone, Debug)]
pub struct SlotMap {
    ranges: Vec<(u16, u16)>,
    /// Per range: the node it goes to.
    owners: Vec<usize>,
    /// Refresh before the next command.
    pub stale: bool,
    /// The node that failed last (asked last by a refresh).
    pub failed: Option<usize>,
    /// The node of the last command.
    pub last: usize,
    nodes: usize,
    /// The ranges holding one of the lock's keys (their changes are
    /// recorded in the history).
    watched: Vec<usize>,
}

impl SlotMap {
    /// The map of a freshly formed cluster; `lock_keys` are the keys
    /// whose ranges' changes matter to the history.
    pub fn new(r: &RedisConfig, lock_keys: &[String]) -> SlotMap {
        let ranges = slot_ranges(r.shards);
        let mut watched: Vec<usize> = lock_keys
            .iter()
            .filter_map(|k| range_of(&ranges, key_hash_slot(k.as_bytes())))
            .collect();
        watched.sort();
        watched.dedup();
        SlotMap {
            ranges,
            owners: (0..r.shards).collect(),
            stale: false,
            failed: None,
            last: 0,
            nodes: r.nodes,
            watched,
        }
    }

    /// Where `argv` goes.
    pub fn node_for(&self, argv: &[Vec<u8>]) -> usize {
        match command_slot(argv) {
            KeySlot::Slot(s) => self.node_of_slot(s),
            // A cross-slot command goes to its first key's node, which
            // answers CROSSSLOT (as Jedis and Lettuce send it; redis-py
            // refuses it before sending).
            KeySlot::Cross => first_key_slot(argv).map_or(self.last, |s| self.node_of_slot(s)),
            KeySlot::None => self.last,
        }
    }

    fn node_of_slot(&self, slot: u16) -> usize {
        range_of(&self.ranges, slot).map_or(self.last, |r| self.owners[r])
    }

    /// `MOVED`: `slot`'s range now goes to `node`; whether that changed
    /// a range holding a lock key.
    pub fn moved(&mut self, slot: u16, node: usize) -> bool {
        match range_of(&self.ranges, slot) {
            Some(r) if self.owners[r] != node => {
                self.owners[r] = node;
                self.watched.contains(&r)
            }
            _ => false,
        }
    }

    /// A `CLUSTER SLOTS` answer (ranges and their masters' nodes): the new
    /// masters of the ranges holding a lock key that changed.
    pub fn load(&mut self, entries: &[(u16, u16, usize)]) -> Vec<usize> {
        let mut changed = Vec::new();
        for &(first, _, node) in entries {
            if let Some(r) = range_of(&self.ranges, first) {
                if self.owners[r] != node {
                    self.owners[r] = node;
                    if self.watched.contains(&r) {
                        changed.push(node);
                    }
                }
            }
        }
        self.stale = false;
        changed
    }

    /// The order a refresh asks the nodes in: every node, the one that
    /// failed last at the end.
    pub fn refresh_order(&self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.nodes)
            .filter(|&n| Some(n) != self.failed)
            .collect();
        v.extend(self.failed);
        v
    }
}
