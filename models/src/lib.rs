//! # locksim-models: Redis lock algorithms, free of any runtime
//!
//! Each algorithm here is the one users actually run, written against the
//! small [`env::Env`] trait: send an argv to Redis node `i` with a timeout,
//! read the local clocks, sleep, draw randomness, spawn a background task.
//! The simulator (`locksim`) implements [`env::Env`] on madsim with
//! drifting, jumping clocks; live mode implements it with tokio against real
//! redis-server processes. The same algorithm code runs in both.
//!
//! ```ignore
//! use locksim_models::{config::{Algorithm, LockConfig}, AnyLock};
//! let cfg = LockConfig::defaults(Algorithm::SetNxPx);
//! let mut lock = AnyLock::new(cfg);
//! let lease = lock.acquire(&env).await?;   // SET lock <token> NX PX 10000
//! // ... critical section, lease.deadline says until when ...
//! lock.release(&env, &lease).await;        // compare-and-delete script
//! ```
//!
//! The crate has no madsim dependency on purpose: nothing in an algorithm
//! may observe true time.

pub mod config;
pub mod env;
pub mod lock;
pub mod protocol;
pub mod set_nx_px;

pub use config::{Algorithm, LockConfig, Release, RenewOnError};
pub use env::{CallError, Env, LocalTask, Note, TaskHandle};
pub use lock::{AcquireError, Deadline, Lease, LockAlgorithm, ReleaseOutcome};
pub use protocol::{argv, Argv, Reply};

/// Any of the algorithms, chosen by [`LockConfig::algorithm`].
#[derive(Clone, Debug)]
pub enum AnyLock {
    SetNxPx(set_nx_px::SetNxPx),
}

impl AnyLock {
    /// Builds the algorithm `cfg.algorithm` names. Algorithms not built yet
    /// are refused with a message, never substituted.
    pub fn new(cfg: LockConfig) -> Result<AnyLock, String> {
        match cfg.algorithm {
            Algorithm::SetNxPx => Ok(AnyLock::SetNxPx(set_nx_px::SetNxPx::new(cfg))),
            other => Err(format!("algorithm `{}` is not supported yet", other.name())),
        }
    }
}

impl LockAlgorithm for AnyLock {
    async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
        match self {
            AnyLock::SetNxPx(l) => l.acquire(env).await,
        }
    }

    async fn release<E: Env>(&mut self, env: &E, lease: &Lease) -> ReleaseOutcome {
        match self {
            AnyLock::SetNxPx(l) => l.release(env, lease).await,
        }
    }
}
