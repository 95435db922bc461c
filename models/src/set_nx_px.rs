//! `SET key token NX PX ttl`, released by a compare-and-delete script.
//!
//! The single-instance algorithm of the Redis distlock page: a random value
//! per acquisition so that only its owner can delete it, and a TTL so that a
//! crashed holder does not keep it forever. With `fencing = true` the SET
//! and an `INCR` of the fence counter run in one script, so each grant
//! carries a monotonically increasing token (Kleppmann 2016).

use crate::config::{LockConfig, Release};
use crate::env::{Env, Note};
use crate::lock::{retry_pause, AcquireError, Deadline, Lease, LockAlgorithm, ReleaseOutcome};
use crate::protocol::{argv, Reply};

/// The distlock page's release script.
pub const RELEASE_SCRIPT: &str = "if redis.call(\"get\",KEYS[1]) == ARGV[1] then\n    return redis.call(\"del\",KEYS[1])\nelse\n    return 0\nend";

/// SET NX PX plus INCR of the fence counter, atomically.
pub const FENCED_ACQUIRE_SCRIPT: &str = "if redis.call(\"set\",KEYS[1],ARGV[1],\"NX\",\"PX\",ARGV[2]) then\n    return redis.call(\"incr\",KEYS[2])\nelse\n    return false\nend";

/// The set-nx-px lock of one client.
#[derive(Clone, Debug)]
pub struct SetNxPx {
    cfg: LockConfig,
}

impl SetNxPx {
    pub fn new(cfg: LockConfig) -> SetNxPx {
        SetNxPx { cfg }
    }

    async fn attempt<E: Env>(&self, env: &E, value: &str) -> Option<Option<i64>> {
        let cfg = &self.cfg;
        let ttl = cfg.ttl_ms.to_string();
        let script = match (&cfg.script_acquire, cfg.fencing) {
            (Some(src), _) => Some(src.as_str()),
            (None, true) => Some(FENCED_ACQUIRE_SCRIPT),
            (None, false) => None,
        };
        let cmd = match script {
            Some(src) => argv([
                "EVAL",
                src,
                "2",
                &cfg.key,
                &cfg.fence_key,
                value,
                &ttl,
            ]),
            None => argv(["SET", &cfg.key, value, "NX", "PX", &ttl]),
        };
        match env.call(0, cmd, cfg.request_timeout_ms).await {
            Ok(Reply::Status(s)) if s == "OK" => Some(None),
            Ok(Reply::Int(i)) if script.is_some() && i != 0 => Some(cfg.fencing.then_some(i)),
            Ok(Reply::Bulk(Some(_))) if script.is_some() => Some(None),
            Ok(Reply::Error(e)) => {
                env.note(Note::Info(format!("acquire error: {e}")));
                None
            }
            _ => None,
        }
    }
}

impl LockAlgorithm for SetNxPx {
    async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
        let attempts = self.cfg.retry_count.max(1);
        for attempt in 0..attempts {
            let value = env.random_token();
            let start_ms = env.mono_ms();
            if let Some(fencing_token) = self.attempt(env, &value).await {
                return Ok(Lease {
                    value: value.into_bytes(),
                    fencing_token,
                    deadline: Some(Deadline::Mono(start_ms + self.cfg.ttl_ms)),
                    nodes: vec![0],
                });
            }
            if attempt + 1 < attempts {
                retry_pause(env, &self.cfg).await;
            }
        }
        Err(AcquireError::Busy)
    }

    async fn release<E: Env>(&mut self, env: &E, lease: &Lease) -> ReleaseOutcome {
        release_single(env, &self.cfg, 0, lease).await
    }
}

/// Releases `lease` on node `node` the configured way (`lua`, `del` or
/// `get-then-del`). Shared by every single-key algorithm.
pub async fn release_single<E: Env>(
    env: &E,
    cfg: &LockConfig,
    node: usize,
    lease: &Lease,
) -> ReleaseOutcome {
    let timeout = cfg.request_timeout_ms;
    let deleted = |r: Result<Reply, _>| match r {
        Ok(Reply::Int(n)) if n > 0 => ReleaseOutcome::Released,
        Ok(Reply::Int(_)) => ReleaseOutcome::NotHeld,
        _ => ReleaseOutcome::Unknown,
    };
    match cfg.release {
        Release::Lua => {
            let src = cfg.script_release.as_deref().unwrap_or(RELEASE_SCRIPT);
            let cmd = argv([
                b"EVAL".as_slice(),
                src.as_bytes(),
                b"1",
                cfg.key.as_bytes(),
                &lease.value,
            ]);
            deleted(env.call(node, cmd, timeout).await)
        }
        Release::Del => deleted(env.call(node, argv(["DEL", &cfg.key]), timeout).await),
        Release::GetThenDel => {
            match env.call(node, argv(["GET", &cfg.key]), timeout).await {
                Ok(Reply::Bulk(Some(v))) if v == lease.value => {
                    deleted(env.call(node, argv(["DEL", &cfg.key]), timeout).await)
                }
                Ok(_) => ReleaseOutcome::NotHeld,
                Err(_) => ReleaseOutcome::Unknown,
            }
        }
    }
}
