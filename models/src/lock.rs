//! What every algorithm provides: acquire a lease, release it.

use crate::config::LockConfig;
use crate::env::{Env, Note};
pub use crate::lease::{parse_timestamp, AcquireError, Deadline, Lease, ReleaseOutcome};
use crate::protocol::{argv, Reply};

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

/// The number of attempts an acquire makes: `retry_count`, or without
/// end when it is 0 (redis-py and pottery block without a deadline).
pub fn attempts(cfg: &LockConfig) -> u32 {
    if cfg.retry_count == 0 {
        u32::MAX
    } else {
        cfg.retry_count
    }
}
