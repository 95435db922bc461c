//! What every algorithm provides: acquire a lease, release it.

use crate::config::LockConfig;
use crate::env::Env;
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
    fn acquire<E: Env>(&mut self, env: &E) -> impl std::future::Future<Output = Result<Lease, AcquireError>>;

    /// Gives the lock back.
    fn release<E: Env>(&mut self, env: &E, lease: &Lease) -> impl std::future::Future<Output = ReleaseOutcome>;
}

/// Sleeps the retry delay plus a random jitter in `0..=retry_jitter_ms`.
pub async fn retry_pause<E: Env>(env: &E, cfg: &LockConfig) {
    let ms = cfg.retry_delay_ms + env.random_range(0, cfg.retry_jitter_ms);
    env.sleep(ms).await;
}
