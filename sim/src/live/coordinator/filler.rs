//! Memory pressure on a real redis-server: the coordinator writes the
//! filler keys itself, over its own connection, exactly the `SET`s the
//! simulator's node writes (`world::server::filler::filler_plan`), as one
//! pipeline; the server evicts (or refuses with the OOM error) by its own
//! rules. `INFO` before and after gives the `filler-written` event its
//! figures (`evicted_keys`, `used_memory`). The filler is deleted with
//! `DEL` when the fault's `for_ms` ends and at the final heal.
//!
//! Evictions on a real server reach the history only through what the
//! clients then see: live mode records no `key-changed` events.

use super::{Coord, LiveError};
use crate::history::EventKind;
use crate::live::env::Conn;
use crate::model::NodeRef;
use crate::world::server::filler::{cost, filler_plan};
use locksim_models::Reply;

/// A field of `INFO` (`used_memory`, `evicted_keys`), if present.
fn info_field(info: &Reply, name: &str) -> Option<u64> {
    let Reply::Bulk(Some(text)) = info else {
        return None;
    };
    let text = String::from_utf8_lossy(text);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
}

impl Coord {
    async fn conn(&self, node: usize) -> Result<Conn, LiveError> {
        Conn::connect(self.redis[node].port).await.map_err(|e| {
            LiveError::Failed(format!(
                "memory pressure: cannot connect to redis-{node}: {e}"
            ))
        })
    }

    /// Writes a filler of `bytes` to `redis-<node>`; its id.
    pub(super) async fn fill(
        &mut self,
        node: usize,
        bytes: u64,
        ttl_ms: Option<u64>,
    ) -> Result<u64, LiveError> {
        // `bytes` as the simulator counts it: the same keys are planned.
        self.fillers += 1;
        let id = self.fillers;
        let plan = filler_plan(id, bytes, ttl_ms);
        let mut conn = self.conn(node).await?;
        let info = vec![b"INFO".to_vec(), b"everything".to_vec()];
        let fail =
            |e: std::io::Error| LiveError::Failed(format!("memory pressure on redis-{node}: {e}"));
        let before = conn.call(&info).await.map_err(fail)?;
        let replies = conn.pipeline(&plan).await.map_err(fail)?;
        let after = conn.call(&info).await.map_err(fail)?;
        let written = replies.iter().filter(|r| !r.is_error()).count();
        let written_bytes: u64 = plan
            .iter()
            .zip(&replies)
            .filter(|(_, r)| !r.is_error())
            .map(|(argv, _)| cost(argv, ttl_ms))
            .sum();
        let refused = replies.iter().find_map(|r| match r {
            Reply::Error(e) => Some(e.clone()),
            _ => None,
        });
        let evicted = info_field(&after, "evicted_keys").unwrap_or(0)
            - info_field(&before, "evicted_keys").unwrap_or(0);
        self.progress(&format!(
            "redis-{node}: {written} filler keys written, {} refused, {evicted} evicted",
            plan.len() - written
        ));
        self.record(
            Some(NodeRef::Redis(node)),
            EventKind::FillerWritten {
                node,
                keys: written,
                bytes: written_bytes,
                evicted: evicted as usize,
                refused,
                used_bytes: info_field(&after, "used_memory").unwrap_or(0),
            },
        );
        self.filled.insert((node, id), plan);
        Ok(id)
    }

    /// Deletes filler `id` (every filler for `None`) from `redis-<node>`.
    pub(super) async fn drain(&mut self, node: usize, id: Option<u64>) -> Result<(), LiveError> {
        let ids: Vec<u64> = self
            .filled
            .keys()
            .filter(|(n, i)| *n == node && id.is_none_or(|id| id == *i))
            .map(|(_, i)| *i)
            .collect();
        if ids.is_empty() || self.down.contains(&NodeRef::Redis(node)) {
            return Ok(());
        }
        let mut del = vec![b"DEL".to_vec()];
        for i in &ids {
            let plan = self.filled.remove(&(node, *i)).unwrap_or_default();
            del.extend(plan.into_iter().map(|argv| argv[1].clone()));
        }
        let mut conn = self.conn(node).await?;
        let fail =
            |e: std::io::Error| LiveError::Failed(format!("memory pressure on redis-{node}: {e}"));
        let deleted = match conn.call(&del).await.map_err(fail)? {
            Reply::Int(n) => n as usize,
            _ => 0,
        };
        let info = vec![b"INFO".to_vec(), b"memory".to_vec()];
        let after = conn.call(&info).await.map_err(fail)?;
        self.record(
            Some(NodeRef::Redis(node)),
            EventKind::FillerDeleted {
                node,
                keys: deleted,
                used_bytes: info_field(&after, "used_memory").unwrap_or(0),
            },
        );
        Ok(())
    }
}
