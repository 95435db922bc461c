//! Redlock over N independent masters.
//!
//! Source: the Redis distlock page, redis.io/docs/manual/patterns/distributed-locks,
//! section "The Redlock algorithm", with the arithmetic of node-redlock
//! (drift = `round(drift_factor * ttl) + 2` ms) and redlock-py.
//!
//! 1. Draw one random value for the whole acquire (the libraries reuse it
//!    across retries) and read the monotonic clock: `start`.
//! 2. `SET key value NX PX ttl` on every node (`env.nodes()`), each bounded
//!    by `request_timeout_ms` (small compared with the TTL). In parallel
//!    ([`join_all`], node-redlock, redsync), or one after another with
//!    `sequential = true` (redlock-py, redlock-rb). A timeout or an error
//!    counts as a refusal.
//! 3. `elapsed = now - start`; `validity = ttl - elapsed - drift`. The lock is
//!    acquired iff at least `N/2 + 1` nodes granted it and `validity > 0`.
//!    With `validity_check = false` the validity is not re-checked, as in
//!    node-redlock #296 (a quorum whose validity already ran out still counts
//!    as a grant). The lease deadline is `Mono(start + ttl - drift)`.
//! 4. On failure, unlock on *all* nodes (the release, below), sleep
//!    `retry_delay_ms + random(0..=retry_jitter_ms)` and retry, `retry_count`
//!    attempts in all.
//!
//! Release: the configured release on every node (default the distlock
//! compare-and-delete script, [`RELEASE_SCRIPT`]; `script_release` replaces
//! it: KEYS\[1\] = key, ARGV\[1\] = value, returns the number deleted). The
//! outcome is `Released` when a majority deleted.
//!
//! Extension ([`Redlock::extend`]): the compare-and-extend script
//! [`EXTEND_SCRIPT`] (`script_renew` replaces it: KEYS\[1\] = key, ARGV\[1\] =
//! value, ARGV\[2\] = new ttl ms, returns 1 when extended) on every node; it
//! succeeds on a majority with a fresh positive validity and notes
//! `Note::Extended`.
//!
//! What the Redlock libraries differ in (their profiles set it):
//! - `timing = "wall"`: elapsed time and the deadline on the wall clock
//!   (node-redlock's `Date.now()`, redlock-py's `time.time()`);
//! - `drift_extra_ms`: the constant in the drift allowance (2 in
//!   node-redlock, redlock-rb and redlock-py, 0 in redsync);
//! - `start_once`: the start is read once per acquire, before all retries
//!   (node-redlock 5.0.0-beta.2), so a late retry's validity is short;
//! - `validity_check = false`: the quorum is not re-checked against the
//!   time left (node-redlock 5.0.0-beta.2);
//! - `keep_partial`: a failed attempt keeps the keys it won and unlocks
//!   only after the last attempt (node-redlock 5.0.0-beta.2): its own keys
//!   then refuse it on the next attempt, as `SET NX` and its acquire
//!   script refuse any existing key;
//! - `fail_on_node_error`: a quorum with another node's error fails the
//!   acquire with nothing unlocked (redlock-py 1.0.8 raises
//!   `MultipleRedlockException`);
//! - `extend_every_ms`: the holder extends with [`Redlock::extend`] by the
//!   rules of [`crate::extend`]; `extend_setnx` re-creates lost copies
//!   (redsync `WithSetNXOnExtend`).
//!
//! `script_acquire` replaces the per-node `SET NX PX` with `EVAL script 2
//! key fence_key value ttl` (the set-nx-px contract: KEYS\[1\] = key,
//! KEYS\[2\] = fence key, ARGV\[1\] = value, ARGV\[2\] = ttl ms; nil, false,
//! `0` or an error = refused). No fencing token: N independent counters make
//! no monotonic token (Kleppmann 2016), and [`LockConfig::validate`]
//! rejects `fencing = true`.

use crate::config::{LockConfig, Timing};
use crate::env::{Env, Note};
use crate::extend::{self, Extension};
use crate::join::join_all;
use crate::lease::Grant;
use crate::lock::{
    attempts, retry_pause, AcquireError, Deadline, Lease, LockAlgorithm, ReleaseOutcome,
};
use crate::protocol::{argv, Reply};
pub use crate::set_nx_px::RELEASE_SCRIPT;
use crate::set_nx_px::{release_single, EXTEND_SETNX_SCRIPT};
use std::future::Future;
use std::rc::Rc;

/// The distlock page's extend script (as node-redlock and redsync ship it).
pub const EXTEND_SCRIPT: &str = "if redis.call(\"get\",KEYS[1]) == ARGV[1] then\n    return redis.call(\"pexpire\",KEYS[1],ARGV[2])\nelse\n    return 0\nend";

/// The Redlock lock of one client.
#[derive(Clone)]
pub struct Redlock {
    cfg: LockConfig,
    /// The running extension loop, if any.
    extender: Option<Rc<dyn crate::env::TaskHandle>>,
}

impl std::fmt::Debug for Redlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redlock")
            .field("cfg", &self.cfg)
            .field("extending", &self.extender.is_some())
            .finish()
    }
}

/// How one node answered an acquire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vote {
    Granted,
    Refused,
    /// An error reply, a timeout or an unreachable node: what the
    /// libraries see as an exception.
    Error,
}

/// One Redlock lease's extension: [`Redlock::extend`] on every node.
struct Quorum {
    lock: Redlock,
    lease: Lease,
}

impl<E: Env> Extension<E> for Quorum {
    async fn once(&mut self, env: &E) -> Option<Deadline> {
        let ttl = self.lock.cfg.ttl_ms;
        let lease = self.lock.extend(env, &self.lease, ttl).await?;
        let d = lease.deadline;
        self.lease.deadline = d;
        d
    }

    async fn unlock(&mut self, env: &E) {
        self.lock.unlock_all(env, &self.lease).await;
    }
}

/// `N/2 + 1`.
pub fn quorum(nodes: usize) -> usize {
    nodes / 2 + 1
}

/// node-redlock's clock drift allowance: `round(drift_factor * ttl) + 2` ms.
pub fn drift_ms(ttl_ms: u64, drift_factor: f64) -> u64 {
    drift_with(ttl_ms, drift_factor, 2)
}

/// `round(drift_factor * ttl) + extra_ms` (redsync: extra 0).
pub fn drift_with(ttl_ms: u64, drift_factor: f64, extra_ms: u64) -> u64 {
    (drift_factor * ttl_ms as f64).round() as u64 + extra_ms
}

/// `ttl - elapsed - drift`, in ms (negative when already over).
pub fn validity_ms(ttl_ms: u64, elapsed_ms: u64, drift_ms: u64) -> i64 {
    ttl_ms as i64 - elapsed_ms as i64 - drift_ms as i64
}

/// Runs `f(node)` for every node, all at once or one after another.
async fn each_node<T, Fut: Future<Output = T>>(
    nodes: usize,
    sequential: bool,
    f: impl Fn(usize) -> Fut,
) -> Vec<T> {
    if sequential {
        let mut out = Vec::with_capacity(nodes);
        for node in 0..nodes {
            out.push(f(node).await);
        }
        out
    } else {
        join_all((0..nodes).map(f).collect()).await
    }
}

impl Redlock {
    pub fn new(cfg: LockConfig) -> Redlock {
        Redlock {
            cfg,
            extender: None,
        }
    }

    /// The configured clock (`timing`), in ms.
    fn now<E: Env>(&self, env: &E) -> i64 {
        match self.cfg.timing {
            Timing::Mono => env.mono_ms() as i64,
            Timing::Wall => env.wall_ms(),
        }
    }

    /// The lease deadline for a start read at `start` on that clock.
    fn deadline(&self, start: i64, ttl_ms: u64, drift: u64) -> Deadline {
        let end = start + ttl_ms.saturating_sub(drift) as i64;
        match self.cfg.timing {
            Timing::Mono => Deadline::Mono(end.max(0) as u64),
            Timing::Wall => Deadline::Wall(end),
        }
    }

    fn drift(&self, ttl_ms: u64) -> u64 {
        drift_with(ttl_ms, self.cfg.drift_factor, self.cfg.drift_extra_ms)
    }

    fn stop_extending(&mut self) {
        if let Some(t) = self.extender.take() {
            t.abort();
        }
    }

    /// Whether a majority result still has time left (or is not checked).
    fn valid(&self, granted: usize, nodes: usize, validity: i64) -> bool {
        granted >= quorum(nodes) && (validity > 0 || !self.cfg.validity_check)
    }

    async fn lock_node<E: Env>(&self, env: &E, node: usize, value: &str) -> Vote {
        let cfg = &self.cfg;
        let ttl = cfg.ttl_ms.to_string();
        let cmd = match &cfg.script_acquire {
            Some(src) => argv([
                "EVAL",
                src,
                "2",
                cfg.key_for(node),
                &cfg.fence_key,
                value,
                &ttl,
            ]),
            None => argv(["SET", cfg.key_for(node), value, "NX", "PX", &ttl]),
        };
        match env
            .call_acquire(node, cmd, cfg.request_timeout_ms, Grant::Truthy)
            .await
        {
            Ok(Reply::Error(_)) | Err(_) => Vote::Error,
            Ok(Reply::Int(0)) => Vote::Refused,
            Ok(r) if r.is_nil() => Vote::Refused,
            Ok(_) => Vote::Granted,
        }
    }

    /// The configured release on every node; how many deleted the lock,
    /// and how many gave no answer.
    async fn unlock_all<E: Env>(&self, env: &E, lease: &Lease) -> (usize, usize) {
        let outcomes = each_node(env.nodes(), self.cfg.sequential, |node| {
            release_single(env, &self.cfg, node, lease)
        })
        .await;
        let released = outcomes
            .iter()
            .filter(|o| **o == ReleaseOutcome::Released)
            .count();
        let unknown = outcomes
            .iter()
            .filter(|o| **o == ReleaseOutcome::Unknown)
            .count();
        (released, unknown)
    }

    /// Extends `lease` to `ttl_ms` from now on a majority with the
    /// compare-and-extend script. `None` if that failed (the old lease
    /// stands until its own deadline; nothing is unlocked).
    pub async fn extend<E: Env>(&mut self, env: &E, lease: &Lease, ttl_ms: u64) -> Option<Lease> {
        let cfg = &self.cfg;
        let src = match (&cfg.script_renew, cfg.extend_setnx) {
            (Some(src), _) => src.as_str(),
            (None, true) => EXTEND_SETNX_SCRIPT,
            (None, false) => EXTEND_SCRIPT,
        };
        let ttl = ttl_ms.to_string();
        let start = self.now(env);
        let replies = each_node(env.nodes(), cfg.sequential, |node| {
            let cmd = argv([
                b"EVAL".as_slice(),
                src.as_bytes(),
                b"1",
                cfg.key_for(node).as_bytes(),
                &lease.value,
                ttl.as_bytes(),
            ]);
            env.call(node, cmd, cfg.request_timeout_ms)
        })
        .await;
        let extended: Vec<usize> = (0..replies.len())
            .filter(|&i| matches!(replies[i], Ok(Reply::Int(n)) if n > 0))
            .collect();
        let drift = self.drift(ttl_ms);
        let elapsed = (self.now(env) - start).max(0) as u64;
        let validity = validity_ms(ttl_ms, elapsed, drift);
        env.note(Note::Info(format!(
            "redlock extend: {}/{} extended, validity {validity} ms",
            extended.len(),
            replies.len()
        )));
        if !self.valid(extended.len(), replies.len(), validity) {
            return None;
        }
        let deadline = self.deadline(start, ttl_ms, drift);
        env.note(Note::Extended { deadline });
        Some(Lease {
            value: lease.value.clone(),
            fencing_token: None,
            deadline: Some(deadline),
            nodes: extended,
        })
    }
}

impl LockAlgorithm for Redlock {
    async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
        let nodes = env.nodes();
        let drift = self.drift(self.cfg.ttl_ms);
        let value = env.random_token();
        let n = attempts(&self.cfg);
        let first_start = self.now(env);
        let mut won_any = Lease {
            value: value.clone().into_bytes(),
            fencing_token: None,
            deadline: None,
            nodes: Vec::new(),
        };
        for attempt in 0..n {
            let start = if self.cfg.start_once {
                first_start
            } else {
                self.now(env)
            };
            let votes = each_node(nodes, self.cfg.sequential, |node| {
                self.lock_node(env, node, &value)
            })
            .await;
            let granted: Vec<usize> = (0..nodes).filter(|&i| votes[i] == Vote::Granted).collect();
            let errors = votes.iter().filter(|v| **v == Vote::Error).count();
            let elapsed = (self.now(env) - start).max(0) as u64;
            let validity = validity_ms(self.cfg.ttl_ms, elapsed, drift);
            let ok = self.valid(granted.len(), nodes, validity);
            env.note(Note::Info(format!(
                "redlock: {}/{nodes} granted (quorum {}), validity {validity} ms{}",
                granted.len(),
                quorum(nodes),
                if ok { "" } else { ": failed" }
            )));
            let lease = Lease {
                value: value.clone().into_bytes(),
                fencing_token: None,
                deadline: Some(self.deadline(start, self.cfg.ttl_ms, drift)),
                nodes: granted,
            };
            if ok && errors > 0 && self.cfg.fail_on_node_error {
                // redlock-py 1.0.8: `if redis_errors: raise
                // MultipleRedlockException(redis_errors)`, nothing unlocked.
                env.note(Note::Info(format!(
                    "MultipleRedlockException: quorum reached but {errors} node(s) failed; nothing unlocked"
                )));
                return Err(AcquireError::Refused("MultipleRedlockException".into()));
            }
            if ok {
                self.stop_extending();
                if self.cfg.extend_every_ms > 0 {
                    let x = Quorum {
                        lock: Redlock::new(self.cfg.clone()),
                        lease: lease.clone(),
                    };
                    let task = extend::run(env.clone(), self.cfg.clone(), x, lease.deadline);
                    self.extender = Some(Rc::new(env.spawn(Box::pin(task))));
                }
                return Ok(lease);
            }
            if self.cfg.keep_partial {
                // node-redlock 5.0.0-beta.2 keeps its keys between
                // attempts and releases once, after the last.
                won_any.nodes.extend(lease.nodes.iter().copied());
            } else {
                self.unlock_all(env, &lease).await;
            }
            if attempt + 1 < n {
                retry_pause(env, &self.cfg).await;
            }
        }
        if self.cfg.keep_partial {
            self.unlock_all(env, &won_any).await;
        }
        Err(AcquireError::Busy)
    }

    async fn release<E: Env>(&mut self, env: &E, lease: &Lease) -> ReleaseOutcome {
        self.stop_extending();
        let nodes = env.nodes();
        let (released, unknown) = self.unlock_all(env, lease).await;
        if released >= quorum(nodes) {
            ReleaseOutcome::Released
        } else if released + unknown >= quorum(nodes) {
            ReleaseOutcome::Unknown
        } else {
            ReleaseOutcome::NotHeld
        }
    }
}

#[cfg(test)]
mod tests;
