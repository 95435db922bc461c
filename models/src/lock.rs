//! What every algorithm provides: acquire a lease, release it.

use crate::config::LockConfig;
use crate::env::{Env, Note};
use crate::protocol::{argv, Reply};
use serde::{Deserialize, Serialize};

/// Where a lease's validity deadline lives: on the holder's monotonic clock
/// (set-nx-px, watchdog, redlock) or on its wall clock (setnx-getset, whose
/// deadline is the timestamp it wrote).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Deadline {
    /// The holder's monotonic clock passes this many ms.
    Mono(u64),
    /// The holder's wall clock passes this Unix time in ms.
    Wall(i64),
}

/// What a successful acquire hands the holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The value written under the lock key.
    pub value: Vec<u8>,
    /// The fencing token, when the algorithm has one and `fencing = true`.
    pub fencing_token: Option<i64>,
    /// The end of validity the algorithm computed, if it computes one.
    pub deadline: Option<Deadline>,
    /// The nodes that granted the lock.
    pub nodes: Vec<usize>,
}

/// Why an acquire gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcquireError {
    /// Every attempt found the lock held (or lost the quorum).
    Busy,
    /// The algorithm was refused by Redis in a way retries cannot fix.
    Refused(String),
}

/// How a release went, as far as the holder can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The holder's own lock was deleted.
    Released,
    /// Nothing of the holder's was there any more (expired or stolen).
    NotHeld,
    /// The release did not get an answer.
    Unknown,
}

/// A lock algorithm bound to one client.
pub trait LockAlgorithm {
    /// Tries to take the lock, with the configured retries.
    fn acquire<E: Env>(
        &mut self,
        env: &E,
    ) -> impl std::future::Future<Output = Result<Lease, AcquireError>>;

    /// Gives the lock back.
    fn release<E: Env>(
        &mut self,
        env: &E,
        lease: &Lease,
    ) -> impl std::future::Future<Output = ReleaseOutcome>;
}

/// Sleeps the retry delay plus a random jitter in `0..=retry_jitter_ms`.
pub async fn retry_pause<E: Env>(env: &E, cfg: &LockConfig) {
    let ms = cfg.retry_delay_ms + env.random_range(0, cfg.retry_jitter_ms);
    env.sleep(ms).await;
}

/// Takes a fencing token with `INCR fence_key` on node 0.
///
/// For setnx, setnx-expire, setnx-getset and watchdog this is a second
/// command after the grant, so it is **not** atomic with it: a holder
/// that pauses between the grant and the INCR can get a newer token than a
/// client that acquired after it. `None` if the INCR got no integer reply.
pub async fn take_fence_token<E: Env>(env: &E, cfg: &LockConfig) -> Option<i64> {
    match env
        .call(0, argv(["INCR", &cfg.fence_key]), cfg.request_timeout_ms)
        .await
    {
        Ok(Reply::Int(n)) => Some(n),
        other => {
            env.note(Note::Info(format!("fencing INCR failed: {other:?}")));
            None
        }
    }
}

/// The number of attempts an acquire makes (`retry_count`, at least one).
pub fn attempts(cfg: &LockConfig) -> u32 {
    cfg.retry_count.max(1)
}

/// Parses a Unix-ms timestamp lock value (setnx stale recovery,
/// setnx-getset). `None` if it is not a strict decimal integer.
pub fn parse_timestamp(value: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(value).ok()?;
    if s.is_empty() || s.starts_with('+') {
        return None;
    }
    s.parse().ok()
}
