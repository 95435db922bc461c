//! # my-lock: a lock of your own, tested with locksim
//!
//! A single-instance Redis lock as many applications write it by hand:
//! `SET key token NX PX ttl` to acquire, and a release that checks the
//! token before deleting the key. The check has a subtle bug on purpose:
//! it reads the key with `GET`, compares in the client, then sends `DEL`.
//! If the holder stalls between the `GET` reply and the `DEL` long enough
//! for the key to expire and another client to take it, the `DEL` deletes
//! *that* client's lock, and a third client gets in while the second still
//! works (ground-truth row 5). [`Release::CompareAndDelete`] is the fix:
//! the same check in one Lua script, atomic on the server.
//!
//! The lock is written against [`locksim_models::Env`] only (send a
//! command, read the clocks, sleep, draw random numbers), so locksim can
//! run it inside its simulated world. `tests/hunt.rs` shows how.

use locksim::model::custom::CustomLock;
use locksim_models::{
    argv, AcquireError, Deadline, Env, Grant, Lease, LockAlgorithm, LockConfig, ReleaseOutcome,
    Reply,
};

/// How [`MyLock`] gives the lock back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// `GET`, compare the token in the client, then `DEL`: the bug.
    GetThenDel,
    /// The compare-and-delete Lua script: the fix.
    CompareAndDelete,
}

/// The compare-and-delete script of the Redis distlock page.
pub const RELEASE_SCRIPT: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// `SET NX PX` and, when it won, `INCR` of the fence counter, in one
/// script: each grant carries a token larger than every earlier one.
pub const FENCED_ACQUIRE_SCRIPT: &str =
    "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('incr', KEYS[2]) else return false end";

/// The lock of one client. Reads the key, TTL, retries, request timeout
/// and `fencing` from the scenario's `[lock]` table.
pub struct MyLock {
    cfg: LockConfig,
    release: Release,
}

impl MyLock {
    pub fn new(cfg: &LockConfig, release: Release) -> MyLock {
        MyLock {
            cfg: cfg.clone(),
            release,
        }
    }
}

impl LockAlgorithm for MyLock {
    async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
        let c = &self.cfg;
        for _ in 0..c.retry_count.max(1) {
            let token = env.random_token();
            let started_ms = env.mono_ms();
            let ttl = c.ttl_ms.to_string();
            let cmd = if c.fencing {
                let (key, fence) = (&c.key, &c.fence_key);
                argv(["EVAL", FENCED_ACQUIRE_SCRIPT, "2", key, fence, &token, &ttl])
            } else {
                argv(["SET", &c.key, &token, "NX", "PX", &ttl])
            };
            // `call_acquire` tells locksim which reply means "granted", so
            // `granted:redis-0:client-i` triggers and `locksim check`'s
            // decision points see it.
            let reply = env
                .call_acquire(0, cmd, c.request_timeout_ms, Grant::Truthy)
                .await;
            let fencing_token = match reply {
                Ok(Reply::Status(ref s)) if s == "OK" => Some(None),
                Ok(Reply::Int(n)) if c.fencing => Some(Some(n)),
                _ => None,
            };
            if let Some(fencing_token) = fencing_token {
                return Ok(Lease {
                    value: token.into_bytes(),
                    // Carried to the resource with every write: with
                    // `fencing = true` it rejects older tokens.
                    fencing_token,
                    // Valid until ttl after we sent the SET, on our own
                    // monotonic clock.
                    deadline: Some(Deadline::Mono(started_ms + c.ttl_ms)),
                    nodes: vec![0],
                });
            }
            let jitter = env.random_range(0, c.retry_jitter_ms);
            env.sleep(c.retry_delay_ms + jitter).await;
        }
        Err(AcquireError::Busy)
    }

    async fn release<E: Env>(&mut self, env: &E, lease: &Lease) -> ReleaseOutcome {
        let c = &self.cfg;
        let timeout = c.request_timeout_ms;
        let deleted = |r| match r {
            Ok(Reply::Int(1)) => ReleaseOutcome::Released,
            Ok(Reply::Int(_)) => ReleaseOutcome::NotHeld,
            _ => ReleaseOutcome::Unknown,
        };
        match self.release {
            Release::GetThenDel => match env.call(0, argv(["GET", &c.key]), timeout).await {
                // Still ours... as of the GET reply. Anything can happen
                // before the DEL lands.
                Ok(Reply::Bulk(Some(v))) if v == lease.value => {
                    deleted(env.call(0, argv(["DEL", &c.key]), timeout).await)
                }
                Ok(_) => ReleaseOutcome::NotHeld,
                Err(_) => ReleaseOutcome::Unknown,
            },
            Release::CompareAndDelete => {
                let script = argv([
                    b"EVAL".as_slice(),
                    RELEASE_SCRIPT.as_bytes(),
                    b"1",
                    c.key.as_bytes(),
                    &lease.value,
                ]);
                deleted(env.call(0, script, timeout).await)
            }
        }
    }
}

/// The buggy lock, as locksim knows it: scenario files name it
/// `[lock] custom = "my-lock"`.
pub fn my_lock() -> CustomLock {
    CustomLock::new("my-lock", |cfg| MyLock::new(cfg, Release::GetThenDel))
}

/// The fixed lock: `[lock] custom = "my-lock-fixed"`.
pub fn my_lock_fixed() -> CustomLock {
    CustomLock::new("my-lock-fixed", |cfg| {
        MyLock::new(cfg, Release::CompareAndDelete)
    })
}
