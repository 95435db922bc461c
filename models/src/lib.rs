//! # locksim-models: Redis lock algorithms, free of any runtime
//!
//! Each algorithm here is the one users actually run, written against the
//! small [`env::Env`] trait: send an argv to Redis node `i` with a timeout,
//! read the local clocks, sleep, draw randomness, spawn a background task.
//! The simulator (`locksim`) implements [`env::Env`] on madsim with
//! drifting, jumping clocks; live mode implements it with tokio against real
//! redis-server processes. The same algorithm code runs in both.
//!
//! | algorithm | module | source |
//! |---|---|---|
//! | `setnx` | [`setnx`] | old SETNX page, "Locking with SETNX" |
//! | `setnx-expire` | [`setnx_expire`] | SETNX then EXPIRE (redis-py #818 era) |
//! | `setnx-getset` | [`setnx_getset`] | old SETNX page, the GETSET algorithm |
//! | `set-nx-px` | [`set_nx_px`] | distlock page, single instance |
//! | `watchdog` | [`watchdog`] | Redisson `RLock` (3.x scripts) |
//! | `redlock` | [`redlock`] | distlock page, "The Redlock algorithm" |
//!
//! [`scripted::ScriptedEnv`] runs an algorithm against replies a test
//! scripts, on virtual time:
//!
//! ```
//! use locksim_models::{scripted::ScriptedEnv, Algorithm, AnyLock, LockAlgorithm, LockConfig, Reply};
//! let env = ScriptedEnv::new(1, 42, |_node, argv, _now| Ok(match argv[0].as_slice() {
//!     b"SET" => Reply::ok(),      // SET lock <token> NX PX 10000
//!     _ => Reply::Int(1),         // the compare-and-delete script
//! }));
//! let mut lock = AnyLock::new(LockConfig::defaults(Algorithm::SetNxPx)).unwrap();
//! let lease = env.block_on(lock.acquire(&env)).unwrap();
//! // ... critical section, lease.deadline says until when ...
//! env.block_on(lock.release(&env, &lease));
//! assert_eq!(env.sent().len(), 2);
//! ```
//!
//! The crate has no madsim dependency on purpose: nothing in an algorithm
//! may observe true time.

pub mod config;
pub mod dynlock;
pub mod env;
pub mod extend;
pub mod join;
pub mod lease;
pub mod library;
pub mod lock;
pub mod protocol;
pub mod redlock;
pub mod scripted;
pub mod set_nx_px;
pub mod setnx;
pub mod setnx_expire;
pub mod setnx_getset;
pub mod synced;
pub mod watchdog;

pub use config::{
    Algorithm, LockConfig, OnExtendFail, OnUnsynced, Release, RenewOnError, SyncReplicas, Timing,
};
pub use env::{CallError, Env, LocalTask, Note, TaskHandle};
pub use lease::{AcquireError, Deadline, Grant, Lease, ReleaseOutcome};
pub use lock::LockAlgorithm;
pub use protocol::{argv, Argv, Reply};

/// Any of the algorithms, chosen by [`LockConfig::algorithm`].
#[derive(Clone, Debug)]
pub enum AnyLock {
    Setnx(setnx::Setnx),
    SetnxExpire(setnx_expire::SetnxExpire),
    SetnxGetset(setnx_getset::SetnxGetset),
    SetNxPx(set_nx_px::SetNxPx),
    Watchdog(watchdog::Watchdog),
    Redlock(redlock::Redlock),
}

impl AnyLock {
    /// Builds the algorithm `cfg.algorithm` names, after checking the
    /// configuration ([`LockConfig::validate`]): a combination the
    /// algorithm cannot honour is refused with a message, never ignored.
    pub fn new(cfg: LockConfig) -> Result<AnyLock, String> {
        cfg.validate()?;
        Ok(match cfg.algorithm {
            Algorithm::Setnx => AnyLock::Setnx(setnx::Setnx::new(cfg)),
            Algorithm::SetnxExpire => AnyLock::SetnxExpire(setnx_expire::SetnxExpire::new(cfg)),
            Algorithm::SetnxGetset => AnyLock::SetnxGetset(setnx_getset::SetnxGetset::new(cfg)),
            Algorithm::SetNxPx => AnyLock::SetNxPx(set_nx_px::SetNxPx::new(cfg)),
            Algorithm::Watchdog => AnyLock::Watchdog(watchdog::Watchdog::new(cfg)),
            Algorithm::Redlock => AnyLock::Redlock(redlock::Redlock::new(cfg)),
        })
    }

    /// Extends a Redlock lease ([`redlock::Redlock::extend`]); `None` for
    /// the other algorithms, which have no client-driven extension.
    pub async fn extend<E: Env>(&mut self, env: &E, lease: &Lease, ttl_ms: u64) -> Option<Lease> {
        match self {
            AnyLock::Redlock(l) => l.extend(env, lease, ttl_ms).await,
            _ => None,
        }
    }
}

impl LockAlgorithm for AnyLock {
    async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
        match self {
            AnyLock::Setnx(l) => l.acquire(env).await,
            AnyLock::SetnxExpire(l) => l.acquire(env).await,
            AnyLock::SetnxGetset(l) => l.acquire(env).await,
            AnyLock::SetNxPx(l) => l.acquire(env).await,
            AnyLock::Watchdog(l) => l.acquire(env).await,
            AnyLock::Redlock(l) => l.acquire(env).await,
        }
    }

    async fn release<E: Env>(&mut self, env: &E, lease: &Lease) -> ReleaseOutcome {
        match self {
            AnyLock::Setnx(l) => l.release(env, lease).await,
            AnyLock::SetnxExpire(l) => l.release(env, lease).await,
            AnyLock::SetnxGetset(l) => l.release(env, lease).await,
            AnyLock::SetNxPx(l) => l.release(env, lease).await,
            AnyLock::Watchdog(l) => l.release(env, lease).await,
            AnyLock::Redlock(l) => l.release(env, lease).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted::ScriptedEnv;

    #[test]
    fn every_algorithm_is_built_from_its_defaults() {
        for alg in Algorithm::ALL {
            let lock = AnyLock::new(LockConfig::defaults(alg)).unwrap();
            let name = format!("{lock:?}");
            assert!(name.starts_with(&format!("{alg:?}(")), "{name}");
        }
    }

    #[test]
    fn impossible_combinations_are_refused() {
        let bad = [
            (Algorithm::Redlock, "fencing"),
            (Algorithm::SetNxPx, "stale_recovery"),
            (Algorithm::Setnx, "script_acquire"),
            (Algorithm::Setnx, "script_renew"),
            (Algorithm::Watchdog, "sequential"),
            (Algorithm::Redlock, "reentrant_depth"),
        ];
        for (alg, field) in bad {
            let mut c = LockConfig::defaults(alg);
            match field {
                "fencing" => c.fencing = true,
                "stale_recovery" => c.stale_recovery = true,
                "script_acquire" => c.script_acquire = Some("return 1".into()),
                "script_renew" => c.script_renew = Some("return 1".into()),
                "sequential" => c.sequential = true,
                _ => c.reentrant_depth = 2,
            }
            let err = AnyLock::new(c).unwrap_err();
            assert!(err.contains(field), "{err}");
        }
        let mut c = LockConfig::defaults(Algorithm::Setnx);
        c.script_release = Some("return 1".into());
        assert!(c.validate().is_err(), "setnx releases with DEL by default");
        c.release = Release::Lua;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn extend_is_redlock_only() {
        let env = ScriptedEnv::new(3, 1, |_, _, _| Ok(Reply::Int(1)));
        let lease = Lease {
            value: b"v".to_vec(),
            fencing_token: None,
            deadline: None,
            nodes: vec![0, 1, 2],
        };
        let mut redlock = AnyLock::new(LockConfig::defaults(Algorithm::Redlock)).unwrap();
        assert!(env.block_on(redlock.extend(&env, &lease, 1_000)).is_some());
        let mut single = AnyLock::new(LockConfig::defaults(Algorithm::SetNxPx)).unwrap();
        assert_eq!(env.block_on(single.extend(&env, &lease, 1_000)), None);
    }
}
