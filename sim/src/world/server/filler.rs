//! Memory pressure on a Redis server process: the filler keys a
//! `memory-pressure` fault writes, their top-ups, and their deletion.
//!
//! The filler stands for the application's other data. It is written as
//! real keys through the node's normal command path, so everything Redis
//! does with such writes happens: each `SET` first evicts under
//! `maxmemory` (the lock key among the candidates, as the policy says,
//! the `SET`'s own arguments counted), a refused `SET` (the OOM error;
//! READONLY on a replica, which takes no writes from clients) stops the
//! filler, and the writes and the evictions' `DEL`s go to the AOF and to
//! the replicas like any client's (a replica copies the filler; it never
//! evicts).
//!
//! Filler `id` is `SET locksim:filler:<id>:<i> <1000 bytes> [PX ttl_ms]`
//! for i = 0, 1, ... until the keys written cost `bytes` as the node
//! counts memory (about 1.1 KB each). A write refused with the OOM error
//! is tried again with smaller values (250, 60, 15, then 1 byte), as an
//! application's writes come in all sizes, so the filler stops within one
//! small write (about 150 bytes) of the limit. The pressure is sustained:
//! what is left is tried again every [`TOP_UP_MS`] (an application
//! retrying its writes), so memory freed while the pressure lasts (a lock
//! released, keys expired) is taken back at the next try. A `filler-written`
//! event is recorded for the first try and for every later one that wrote
//! something.
//!
//! The pressure ends when the fault's `for_ms` is over or at the final
//! heal (the world queues a deletion): the tries stop and the filler keys
//! still there are deleted, one `DEL` each, propagated like active expiry's
//! and without eviction (the data goes away; nobody writes). A node that
//! is down then deletes its filler (reloaded from disk, if persisted) when
//! it is back. A crash ends the tries (they lived in the process).

use super::Server;
use crate::history::EventKind;
use crate::model::NodeRef;
use crate::redis::memory;
use crate::redis::Value;
use crate::world::core::PressureJob;
use locksim_models::{Argv, Reply};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The prefix of every filler key.
pub const FILLER_PREFIX: &str = "locksim:filler:";
/// The value size of a filler key.
pub const FILLER_VALUE_BYTES: usize = 1000;
/// How often a refused filler is tried again, true ms.
pub const TOP_UP_MS: u64 = 100;

/// Value sizes the filler tries, largest first: a write refused at one
/// size is tried again smaller, as an application's writes come in all
/// sizes, so the filler fills memory to within one small write of the
/// limit.
const SIZES: [usize; 5] = [FILLER_VALUE_BYTES, 250, 60, 15, 1];

/// Filler `i` of `id`, with a value of `size` bytes.
fn filler_set(id: u64, i: usize, size: usize, ttl_ms: Option<u64>) -> Argv {
    let key = format!("{FILLER_PREFIX}{id}:{i}").into_bytes();
    let mut argv = vec![b"SET".to_vec(), key, vec![b'x'; size]];
    if let Some(ttl) = ttl_ms {
        argv.push(b"PX".to_vec());
        argv.push(ttl.to_string().into_bytes());
    }
    argv
}

/// What the key a filler `SET` writes costs as Redis counts memory.
pub fn cost(argv: &Argv, ttl_ms: Option<u64>) -> u64 {
    let v = Value::Str(argv[2].clone());
    memory::key_bytes(&argv[1], &v, ttl_ms.is_some(), true)
}

/// The `SET` commands of filler `id`: 1000-byte keys until their cost
/// reaches `bytes` (live mode sends them, once, as one pipeline).
pub fn filler_plan(id: u64, bytes: u64, ttl_ms: Option<u64>) -> Vec<Argv> {
    let mut out = Vec::new();
    let mut planned = 0u64;
    while planned < bytes {
        let argv = filler_set(id, out.len(), FILLER_VALUE_BYTES, ttl_ms);
        planned += cost(&argv, ttl_ms);
        out.push(argv);
    }
    out
}

/// A filler whose pressure lasts.
struct Active {
    bytes: u64,
    ttl_ms: Option<u64>,
    /// Bytes written so far, and the next key's number.
    written: u64,
    next: usize,
    /// Tries made (the first one is always recorded).
    tries: u32,
}

/// The process's memory-pressure task: does the work the world queued
/// for this node, and tops up the fillers Redis refused.
pub async fn pressure_task(srv: Rc<Server>) {
    let waker = Arc::new(Notify::new());
    let idx = srv.core.idx;
    srv.core.world.set_pressure_waker(idx, waker.clone());
    let mut active: BTreeMap<u64, Active> = BTreeMap::new();
    loop {
        for job in srv.core.world.take_pressure(idx) {
            match job {
                PressureJob::Fill { id, bytes, ttl_ms } => {
                    let a = Active {
                        bytes,
                        ttl_ms,
                        written: 0,
                        next: 0,
                        tries: 0,
                    };
                    active.insert(id, a);
                }
                PressureJob::Drain { id } => {
                    match id {
                        Some(id) => {
                            active.remove(&id);
                        }
                        None => active.clear(),
                    }
                    drain(&srv, id);
                }
            }
        }
        for (&id, a) in active.iter_mut() {
            if a.written < a.bytes {
                fill(&srv, id, a);
            }
        }
        if active.values().any(|a| a.written < a.bytes) {
            let top_up = Duration::from_millis(TOP_UP_MS);
            let _ = madsim::time::timeout(top_up, waker.notified()).await;
        } else {
            waker.notified().await;
        }
    }
}

/// Writes filler `id` on until its bytes are written or a write is
/// refused.
fn fill(srv: &Server, id: u64, a: &mut Active) {
    let core = &srv.core;
    let me = NodeRef::Redis(core.idx);
    let mut effects: Vec<Argv> = Vec::new();
    let (mut keys, mut written, mut evicted, mut refused) = (0usize, 0u64, 0usize, None);
    let used_bytes = {
        let mut node = core.node.borrow_mut();
        let mut sizes = SIZES.iter().copied();
        let mut size = sizes.next().expect("sizes");
        while a.written < a.bytes {
            let argv = filler_set(id, a.next, size, a.ttl_ms);
            let exec = node.execute(&argv, core.world.wall_ms(me));
            evicted += exec.evicted.len();
            core.note_evictions(&exec.evicted);
            effects.extend(exec.effects);
            if let Reply::Error(e) = exec.reply {
                let oom = e.starts_with("OOM");
                refused = Some(e);
                match sizes.next() {
                    Some(smaller) if oom => {
                        size = smaller;
                        continue;
                    }
                    _ => break,
                }
            }
            let c = cost(&argv, a.ttl_ms);
            a.written += c;
            written += c;
            a.next += 1;
            keys += 1;
        }
        node.used_memory()
    };
    a.tries += 1;
    srv.commit(None, &effects);
    if a.ttl_ms.is_some() && keys > 0 {
        core.wake_expiry();
    }
    if a.tries == 1 || keys > 0 || evicted > 0 {
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
}

/// Deletes filler `id`'s keys (every filler key for `None`).
fn drain(srv: &Server, id: Option<u64>) {
    let core = &srv.core;
    let me = NodeRef::Redis(core.idx);
    let prefix = match id {
        Some(id) => format!("{FILLER_PREFIX}{id}:"),
        None => FILLER_PREFIX.to_string(),
    };
    let (effects, used_bytes) = {
        let mut node = core.node.borrow_mut();
        let keys = node.keys_with_prefix(prefix.as_bytes());
        if keys.is_empty() {
            return;
        }
        (
            node.remove_keys(&keys, core.world.wall_ms(me)),
            node.used_memory(),
        )
    };
    srv.commit(None, &effects);
    core.world.record(
        Some(me),
        EventKind::FillerDeleted {
            node: core.idx,
            keys: effects.len(),
            used_bytes,
        },
    );
}
