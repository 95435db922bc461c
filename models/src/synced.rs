//! Waiting for replicas after a lock write: Redisson's `syncedEval`.
//!
//! Source: redisson/redisson, `CommandBatchService.executeAsync` (3.12.5:
//! the batch appends `WAIT <numreplicas> <timeout>` after the write) and
//! `CommandAsyncService.syncedEval` (3.21.0 onwards), read at the tags the
//! `redisson` profile names. The write and its `WAIT` are one pipelined
//! batch on the master's connection; numreplicas is what the client knows
//! of the master's replicas ([`Env::replicas`]; Redisson reads
//! `connected_slaves`), and no `WAIT` is sent when it is 0. The rule by
//! which the client judges `WAIT`'s answer is `sync_replicas`:
//!
//! | `sync_replicas` | Redisson | the acquire succeeds when |
//! |---|---|---|
//! | `unawaited` | 3.12.5-3.14.0 | the write succeeded (`WAIT` is sent, its reply never read) |
//! | `awaited` | 3.14.1-3.16.6 | `WAIT` answered, whatever its count |
//! | `all` | 3.16.7-3.17.4 | every replica acknowledged ("Only X of Y slaves were synced") |
//! | `any` | 3.17.5 onwards | at least one did ("None of slaves were synced") |
//!
//! A master that dies after the write never answers `WAIT`: the batch
//! times out (`request_timeout_ms + wait_timeout_ms`, Redisson's 3000 +
//! 1000 ms) and the acquire fails, which is what keeps Redisson 3.14.1+
//! safe when the master dies right after a grant (row 36).

use crate::config::{LockConfig, SyncReplicas};
use crate::env::{Env, Note};
use crate::protocol::{argv, Reply};

/// How a lock write's replica check went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Synced {
    /// Enough replicas (or no check).
    Ok,
    /// Too few replicas acknowledged: Redisson's exception text.
    Unsynced(String),
    /// `WAIT` got no reply in time (the batch timed out).
    NoReply,
}

/// The response timeout of a lock write on `node`: Redisson times the
/// write and its `WAIT` as one batch (`request_timeout_ms +
/// wait_timeout_ms`, 4000 ms by default) when a `WAIT` follows, so a
/// stalled master makes the client re-send the write after that long.
pub fn write_timeout_ms<E: Env>(env: &E, cfg: &LockConfig, node: usize) -> u64 {
    if cfg.sync_replicas == SyncReplicas::None || env.replicas(node) == 0 {
        cfg.request_timeout_ms
    } else {
        cfg.request_timeout_ms + cfg.wait_timeout_ms
    }
}

/// Sends `WAIT` after a write on `node` by the configured rule.
pub async fn wait_replicas<E: Env>(env: &E, cfg: &LockConfig, node: usize) -> Synced {
    let n = env.replicas(node);
    if cfg.sync_replicas == SyncReplicas::None || n == 0 {
        return Synced::Ok;
    }
    let cmd = argv(["WAIT", &n.to_string(), &cfg.wait_timeout_ms.to_string()]);
    let timeout = cfg.request_timeout_ms + cfg.wait_timeout_ms;
    if cfg.sync_replicas == SyncReplicas::Unawaited {
        let e = env.clone();
        let task = async move {
            let _ = e.call(node, cmd, timeout).await;
        };
        // Fire and forget: the write's own reply already completed the
        // acquire. Dropping the handle detaches the task; it ends with the
        // reply.
        drop(env.spawn(Box::pin(task)));
        return Synced::Ok;
    }
    // `request`, not `call`: the client library re-sends the whole batch
    // (the write and its WAIT), which the caller's next attempt does; a
    // WAIT re-sent alone would count acknowledgements of nothing.
    let acked = match env.request(node, cmd, timeout, None).await {
        Ok(Reply::Int(k)) => k.max(0) as usize,
        Ok(other) => {
            env.note(Note::Info(format!("WAIT: {other:?}")));
            return Synced::NoReply;
        }
        Err(_) => return Synced::NoReply,
    };
    let short = match cfg.sync_replicas {
        SyncReplicas::All if acked < n => Some(format!("Only {acked} of {n} slaves were synced")),
        SyncReplicas::Any if acked == 0 => Some("None of slaves were synced".to_string()),
        _ => None,
    };
    match short {
        Some(text) => {
            env.note(Note::Info(text.clone()));
            Synced::Unsynced(text)
        }
        None => Synced::Ok,
    }
}
