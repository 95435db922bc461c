//! The core of a running Redis server process: the keyspace, the client
//! endpoint and the active-expiry wake-up, shared by the command loop,
//! persistence and replication tasks of one process (it dies with it).
//! It also says what the history follows about the node's keys
//! ([`Core::watch_keys`]).

use crate::history::KeyCause;
use crate::model::NodeRef;
use crate::redis::{RedisNode, Value};
use crate::world::core::World;
use madsim::net::Endpoint;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use tokio::sync::Notify;

/// What the tasks of one server process share.
pub struct Core {
    pub world: Arc<World>,
    pub idx: usize,
    pub node: RefCell<RedisNode>,
    pub ep: Endpoint,
    pub(super) expiry_waker: Arc<Notify>,
    /// The expiry the active-expiry task is sleeping towards.
    pub(super) planned: Cell<Option<i64>>,
    /// Redis Cluster: the version of the cluster's beliefs the node's
    /// view was built from (see `cluster.rs`).
    pub(super) cluster_seen: Cell<u64>,
}

impl Core {
    /// Makes the active-expiry task plan again (new keys, role change).
    pub fn wake_expiry(&self) {
        self.expiry_waker.notify_one();
    }

    /// Records `key-changed` (cause eviction) for each watched key among
    /// `evicted`.
    pub fn note_evictions(&self, evicted: &[Vec<u8>]) {
        if evicted.is_empty() {
            return;
        }
        for key in watched_keys(&self.world) {
            if evicted.iter().any(|k| k == key.as_bytes()) {
                self.world
                    .key_state(self.idx, &key, None, None, KeyCause::Eviction);
            }
        }
    }

    /// Records `key-changed` for each watched key whose copy on this node
    /// changed (see [`World::key_state`]).
    pub fn watch_keys(&self, cause: KeyCause) {
        let now = self.world.wall_ms(NodeRef::Redis(self.idx));
        let n = self.node.borrow();
        for key in watched_keys(&self.world) {
            let (owner, expires) = owner_of(&n, key.as_bytes(), now);
            self.world
                .key_state(self.idx, &key, owner.as_deref(), expires, cause);
        }
    }
}

/// The keys whose owner the history follows on every node: the lock key,
/// or Redlock's per-node keys on a cluster (`lock.keys`).
pub fn watched_keys(world: &World) -> Vec<String> {
    world.scenario().lock_keys()
}

/// Who holds `key` on `node` at wall time `now`, and its absolute expiry:
/// a string key's value, a hash's fields (Redisson's `<uuid>:<thread>`)
/// joined by commas. Logically expired keys are absent.
pub fn owner_of(node: &RedisNode, key: &[u8], now: i64) -> (Option<Vec<u8>>, Option<i64>) {
    match node.peek(key, now) {
        None => (None, None),
        Some(Value::Str(v)) => (Some(v.clone()), node.expiry_of(key)),
        Some(Value::Hash(h)) => {
            let fields: Vec<&[u8]> = h.keys().map(Vec::as_slice).collect();
            (Some(fields.join(&b","[..])), node.expiry_of(key))
        }
    }
}
