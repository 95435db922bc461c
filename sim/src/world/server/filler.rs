//! Memory pressure on a Redis server process: the filler keys a
//! `memory-pressure` fault writes, and their deletion.
//!
//! The filler stands for the application's other data. It is written as
//! real keys through the node's normal command path, so everything Redis
//! does with such writes happens: each `SET` first evicts under
//! `maxmemory` (the lock key among the candidates, as the policy says),
//! a refused `SET` (the OOM error; READONLY on a replica, which takes no
//! writes from clients) ends the filler, and the writes and
//! the evictions' `DEL`s go to the AOF and to the replicas like any
//! client's (a replica copies the filler; it never evicts).
//!
//! Filler `id` is `SET locksim:filler:<id>:<i> <1000 bytes> [PX ttl_ms]`
//! for i = 0, 1, ... until the keys written cost `bytes` as the node
//! counts memory (about 1.1 KB each). Deleting it is one `DEL` of the
//! keys still there. The fault's own timer (`for_ms`) and the final heal
//! queue deletions in the world, so a node that is down then deletes its
//! filler (reloaded from disk, if persisted) when it is back.

use super::Server;
use crate::history::EventKind;
use crate::model::NodeRef;
use crate::redis::memory;
use crate::redis::Value;
use crate::world::core::PressureJob;
use locksim_models::{Argv, Reply};
use std::rc::Rc;
use std::sync::Arc;
use tokio::sync::Notify;

/// The prefix of every filler key.
pub const FILLER_PREFIX: &str = "locksim:filler:";
/// The value size of a filler key.
pub const FILLER_VALUE_BYTES: usize = 1000;
/// Keys per `DEL` when deleting filler.
const DEL_BATCH: usize = 1000;

/// The process's memory-pressure task: does the work the world queued
/// for this node, then waits for more.
pub async fn pressure_task(srv: Rc<Server>) {
    let waker = Arc::new(Notify::new());
    let idx = srv.core.idx;
    srv.core.world.set_pressure_waker(idx, waker.clone());
    loop {
        for job in srv.core.world.take_pressure(idx) {
            match job {
                PressureJob::Fill { id, bytes, ttl_ms } => fill(&srv, id, bytes, ttl_ms),
                PressureJob::Drain { id } => drain(&srv, id),
            }
        }
        waker.notified().await;
    }
}

/// The `SET` commands of filler `id`: keys until their cost, as Redis
/// counts memory, reaches `bytes` (live mode sends the same ones).
pub fn filler_plan(id: u64, bytes: u64, ttl_ms: Option<u64>) -> Vec<Argv> {
    let value = vec![b'x'; FILLER_VALUE_BYTES];
    let mut out = Vec::new();
    let mut planned = 0u64;
    while planned < bytes {
        let key = format!("{FILLER_PREFIX}{id}:{}", out.len()).into_bytes();
        let v = Value::Str(value.clone());
        planned += memory::key_bytes(&key, &v, ttl_ms.is_some(), true);
        let mut argv = vec![b"SET".to_vec(), key, value.clone()];
        if let Some(ttl) = ttl_ms {
            argv.push(b"PX".to_vec());
            argv.push(ttl.to_string().into_bytes());
        }
        out.push(argv);
    }
    out
}

/// Writes filler `id` until `bytes` are written or a write is refused.
fn fill(srv: &Server, id: u64, bytes: u64, ttl_ms: Option<u64>) {
    let core = &srv.core;
    let me = NodeRef::Redis(core.idx);
    let mut effects: Vec<Argv> = Vec::new();
    let (mut keys, mut written, mut evicted, mut refused) = (0usize, 0u64, 0usize, None);
    let used_bytes = {
        let mut node = core.node.borrow_mut();
        for argv in filler_plan(id, bytes, ttl_ms) {
            let exec = node.execute(&argv, core.world.wall_ms(me));
            evicted += exec.evicted.len();
            core.note_evictions(&exec.evicted);
            effects.extend(exec.effects);
            if let Reply::Error(e) = exec.reply {
                refused = Some(e);
                break;
            }
            written += node.key_bytes(&argv[1]).unwrap_or(0);
            keys += 1;
        }
        node.used_memory()
    };
    srv.commit(None, &effects);
    if ttl_ms.is_some() {
        core.wake_expiry();
    }
    core.world.record(
        Some(me),
        EventKind::FillerWritten {
            node: core.idx,
            keys,
            bytes: written,
            evicted,
            refused,
            used_bytes,
        },
    );
}

/// Deletes filler `id`'s keys (every filler key for `None`).
fn drain(srv: &Server, id: Option<u64>) {
    let core = &srv.core;
    let me = NodeRef::Redis(core.idx);
    let prefix = match id {
        Some(id) => format!("{FILLER_PREFIX}{id}:"),
        None => FILLER_PREFIX.to_string(),
    };
    let mut effects: Vec<Argv> = Vec::new();
    let (keys, used_bytes) = {
        let mut node = core.node.borrow_mut();
        let keys = node.keys_with_prefix(prefix.as_bytes());
        if keys.is_empty() {
            return;
        }
        for batch in keys.chunks(DEL_BATCH) {
            let mut argv = vec![b"DEL".to_vec()];
            argv.extend(batch.iter().cloned());
            let exec = node.execute(&argv, core.world.wall_ms(me));
            core.note_evictions(&exec.evicted);
            effects.extend(exec.effects);
        }
        (keys.len(), node.used_memory())
    };
    srv.commit(None, &effects);
    core.world.record(
        Some(me),
        EventKind::FillerDeleted {
            node: core.idx,
            keys,
            used_bytes,
        },
    );
}
