//! Redisson's `RLock`: a hash with a reentrancy counter, kept alive by a
//! watchdog.
//!
//! Source: Redisson 3.x, `org.redisson.RedissonLock` / `RedissonBaseLock`
//! (`tryLockInnerAsync`, `renewExpirationAsync`, `unlockInnerAsync`,
//! `renewExpiration`). The three Lua scripts below are Redisson's, as its
//! Java string concatenations produce them: the combined `exists ... or
//! hexists` acquire script (3.16 onwards), the renewal script (unchanged
//! through 3.2x) and the three-ARGV unlock script used before the
//! `redisson_unlock_latch` key was added to it (around 3.22).
//!
//! - The lock is a hash under `key`; the field is `<client-uuid>:<thread>`
//!   (a random UUID per client, drawn from the env, and thread `1`); its
//!   value counts re-entries.
//! - Acquire ([`ACQUIRE_SCRIPT`], `script_acquire` overrides it):
//!   KEYS\[1\] = key, ARGV\[1\] = ttl ms, ARGV\[2\] = field. Returns nil when
//!   granted, else the remaining PTTL. With `reentrant_depth = d` the holder
//!   runs it `d` times (each re-entry increments the counter).
//! - Watchdog ([`RENEW_SCRIPT`], `script_renew` overrides it): KEYS\[1\] =
//!   key, ARGV\[1\] = ttl ms, ARGV\[2\] = field; `1` = extended, `0` = not held.
//!   After a grant a background task (`Env::spawn`) sleeps
//!   `renew_every_ms` (Redisson: `lockWatchdogTimeout / 3`) after each
//!   renewal completes, then runs the script. On `1` it notes
//!   `Renewed{ok:true}` and `Extended{Mono(renewal start + ttl)}`. On `0`
//!   the lock is gone and Redisson cancels the renewal: `Renewed{ok:false}`,
//!   `WatchdogStopped`, stop. On an error or a timeout it notes
//!   `Renewed{ok:false}`, then with `renew_on_error = "stop"` (Redisson 3.x
//!   before the renewal rework: the entry is removed, the error only
//!   logged) `WatchdogStopped` and stops; with `"retry"` it tries again at
//!   the next period. The holder is never told (rows 22, 23).
//! - Release ([`UNLOCK_SCRIPT`], `script_release` overrides it): KEYS\[1\] =
//!   key, KEYS\[2\] = `redisson_lock__channel:{key}`, ARGV\[1\] = `0` (the
//!   unlock message), ARGV\[2\] = ttl ms, ARGV\[3\] = field; nil = not ours,
//!   `0` = counter still positive, `1` = deleted (and published). The
//!   watchdog task is aborted first, then the script runs once per entry.
//!
//! Waiting: Redisson subscribes to the channel and waits for the unlock
//! message (or the returned PTTL). This model polls instead, `retry_count`
//! attempts `retry_delay_ms + jitter` apart: the documented simplification
//! (PUBLISH has no subscribers in the simulator).
//!
//! Redisson 3.11.0-3.12.0 (`stale_renewal_entry = true`): the renewal
//! timer lives in `EXPIRATION_RENEWAL_MAP`, one entry per client and lock
//! name, and a new hold arms a timer only when no entry exists
//! (`scheduleExpirationRenewal`: `putIfAbsent`, else `addThreadId`). A
//! renewal that fails or finds the lock gone kills the timer but leaves the
//! entry, and the unlock removes it only when the unlock script succeeded
//! or errored, not when it answered nil (the lock was gone). So after a
//! failed renewal and a nil unlock, every later hold of the lock by that
//! client runs with no watchdog at all, until the process restarts
//! (redisson #3194, #3712). From 3.12.1 the unlock always clears the entry
//! (#2515), and from 3.14.0 a failed renewal removes it itself: in this
//! model, where a client's next hold always follows its unlock, both clear
//! it in time.
//!
//! Deadline: `Mono(start + ttl)`, moved by every renewal (`Note::Extended`).
//! With `fencing = true` the holder takes a token with `INCR fence_key` on
//! node 0 after the grant: not atomic with it.

use crate::config::{LockConfig, OnUnsynced, RenewOnError};
use crate::env::{CallError, Env, Note, TaskHandle};
use crate::lease::Grant;
use crate::lock::{
    attempts, retry_pause, take_fence_token, AcquireError, Deadline, Lease, LockAlgorithm,
    ReleaseOutcome,
};
use crate::protocol::{argv, Argv, Reply};
use crate::synced::{wait_replicas, write_timeout_ms, Synced};
use std::cell::Cell;
use std::rc::Rc;

/// Sends a lock write (the acquire or unlock script) to the master: the
/// client library re-sends it after a timeout (`client_retries`), except
/// with `single_server_no_resend` on a master without replicas (Redisson
/// 3.37.0+ `evalWriteNoRetryAsync`; the batch path of a replicated master
/// keeps re-sending, redisson #7367).
async fn send_write<E: Env>(
    env: &E,
    cfg: &LockConfig,
    cmd: Argv,
    timeout_ms: u64,
    grant: Option<Grant>,
) -> Result<Reply, CallError> {
    if cfg.single_server_no_resend && env.replicas(0) == 0 {
        return env.request(0, cmd, timeout_ms, grant).await;
    }
    match grant {
        Some(g) => env.call_acquire(0, cmd, timeout_ms, g).await,
        None => env.call(0, cmd, timeout_ms).await,
    }
}

/// Redisson's `tryLockInnerAsync` script.
pub const ACQUIRE_SCRIPT: &str = "if ((redis.call('exists', KEYS[1]) == 0) or (redis.call('hexists', KEYS[1], ARGV[2]) == 1)) then redis.call('hincrby', KEYS[1], ARGV[2], 1); redis.call('pexpire', KEYS[1], ARGV[1]); return nil; end; return redis.call('pttl', KEYS[1]);";

/// Redisson's `RFencedLock` acquire script (3.19.0 onwards,
/// `RedissonFencedLock.java`): the token is an `INCR` of KEYS\[2\] inside
/// the script; `{-1, token}` when acquired, `{pttl, -1}` when held.
pub const FENCED_ACQUIRE_SCRIPT: &str = "if (redis.call('exists', KEYS[1]) == 0 or (redis.call('hexists', KEYS[1], ARGV[2]) == 1)) then local token = redis.call('incr', KEYS[2]);redis.call('hincrby', KEYS[1], ARGV[2], 1); redis.call('pexpire', KEYS[1], ARGV[1]); return {-1, token}; end; return {redis.call('pttl', KEYS[1]), -1};";

/// Redisson's `renewExpirationAsync` script.
pub const RENEW_SCRIPT: &str = "if (redis.call('hexists', KEYS[1], ARGV[2]) == 1) then redis.call('pexpire', KEYS[1], ARGV[1]); return 1; end; return 0;";

/// Redisson's `unlockInnerAsync` script.
pub const UNLOCK_SCRIPT: &str = "if (redis.call('hexists', KEYS[1], ARGV[3]) == 0) then return nil;end; local counter = redis.call('hincrby', KEYS[1], ARGV[3], -1); if (counter > 0) then redis.call('pexpire', KEYS[1], ARGV[2]); return 0; else redis.call('del', KEYS[1]); redis.call('publish', KEYS[2], ARGV[1]); return 1; end; return nil;";

/// The pub/sub channel Redisson publishes unlocks on (`prefixName`).
pub fn channel_name(key: &str) -> String {
    if key.contains('{') {
        format!("redisson_lock__channel:{key}")
    } else {
        format!("redisson_lock__channel:{{{key}}}")
    }
}

/// The watchdog lock of one client.
#[derive(Clone)]
pub struct Watchdog {
    cfg: LockConfig,
    /// The client's UUID, drawn at its first acquire.
    id: Option<String>,
    /// How many times the current holder entered the lock.
    entered: u32,
    task: Option<Rc<dyn TaskHandle>>,
    /// `stale_renewal_entry`: a renewal entry a dead timer left behind
    /// (shared with the watchdog task that leaves it).
    stale_entry: Rc<Cell<bool>>,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog")
            .field("cfg", &self.cfg)
            .field("id", &self.id)
            .field("entered", &self.entered)
            .field("watchdog_running", &self.task.is_some())
            .field("stale_entry", &self.stale_entry.get())
            .finish()
    }
}

enum Try {
    /// Granted, with the token when the script hands one out.
    Granted(Option<i64>),
    Held,
    Failed,
}

impl Watchdog {
    pub fn new(cfg: LockConfig) -> Watchdog {
        Watchdog {
            cfg,
            id: None,
            entered: 0,
            task: None,
            stale_entry: Rc::new(Cell::new(false)),
        }
    }

    /// The hash field of this client's thread: `<uuid>:1`.
    pub fn field<E: Env>(&mut self, env: &E) -> String {
        let id = self.id.get_or_insert_with(|| random_uuid(env));
        format!("{id}:1")
    }

    async fn try_lock<E: Env>(&self, env: &E, field: &str) -> Try {
        let cfg = &self.cfg;
        let ttl = cfg.ttl_ms.to_string();
        // With fencing and no script of the user's, the token comes from
        // RFencedLock's script, atomically with the grant.
        let fenced = cfg.fencing && cfg.script_acquire.is_none();
        let (cmd, grant) = if fenced {
            let cmd = argv([
                "EVAL",
                FENCED_ACQUIRE_SCRIPT,
                "2",
                &cfg.key,
                &cfg.fence_key,
                &ttl,
                field,
            ]);
            (cmd, Grant::FirstMinusOne)
        } else {
            let src = cfg.script_acquire.as_deref().unwrap_or(ACQUIRE_SCRIPT);
            (argv(["EVAL", src, "1", &cfg.key, &ttl, field]), Grant::Nil)
        };
        let timeout = write_timeout_ms(env, cfg, 0);
        let granted = match send_write(env, cfg, cmd, timeout, Some(grant)).await {
            Ok(Reply::Bulk(None)) => Ok(None),
            Ok(Reply::Array(Some(v))) if fenced && v.first() == Some(&Reply::Int(-1)) => {
                Ok(match v.get(1) {
                    Some(Reply::Int(t)) => Some(*t),
                    _ => None,
                })
            }
            other => Err(other),
        };
        match granted {
            Ok(token) => match wait_replicas(env, cfg, 0).await {
                Synced::Ok => Try::Granted(token),
                Synced::NoReply => Try::Failed,
                Synced::Unsynced(_) => {
                    if cfg.on_unsynced == OnUnsynced::Unlock {
                        // Redisson 3.20 `handleNoSync`: unlock, then rethrow.
                        let _ = self.unlock_once(env, field.as_bytes()).await;
                    }
                    Try::Failed
                }
            },
            Err(Ok(Reply::Int(_))) | Err(Ok(Reply::Array(Some(_)))) => Try::Held,
            Err(Ok(other)) => {
                env.note(Note::Info(format!("acquire script: {other:?}")));
                Try::Failed
            }
            Err(Err(_)) => Try::Failed,
        }
    }

    /// Runs the unlock script once.
    async fn unlock_once<E: Env>(&self, env: &E, field: &[u8]) -> Result<Reply, ()> {
        let cfg = &self.cfg;
        let src = cfg.script_release.as_deref().unwrap_or(UNLOCK_SCRIPT);
        let (channel, ttl) = (channel_name(&cfg.key), cfg.ttl_ms.to_string());
        let cmd = argv([
            b"EVAL".as_slice(),
            src.as_bytes(),
            b"2",
            cfg.key.as_bytes(),
            channel.as_bytes(),
            b"0",
            ttl.as_bytes(),
            field,
        ]);
        send_write(env, cfg, cmd, cfg.request_timeout_ms, None)
            .await
            .map_err(|_| ())
    }

    /// Runs the unlock script once per entry of the current hold.
    async fn unlock_all<E: Env>(&mut self, env: &E, lease: &Lease) -> ReleaseOutcome {
        let times = std::mem::take(&mut self.entered).max(1);
        for _ in 0..times {
            match self.unlock_once(env, &lease.value).await {
                Ok(Reply::Int(1)) => return ReleaseOutcome::Released,
                Ok(Reply::Int(0)) => continue,
                Ok(r) if r.is_nil() => return ReleaseOutcome::NotHeld,
                _ => return ReleaseOutcome::Unknown,
            }
        }
        env.note(Note::Info(
            "unlocked every entry but the counter is still positive".into(),
        ));
        ReleaseOutcome::Unknown
    }

    fn stop_watchdog(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A random UUID (version 4 layout) from the env's generator.
fn random_uuid<E: Env>(env: &E) -> String {
    let mut x = (u128::from(env.random_u64()) << 64) | u128::from(env.random_u64());
    x = (x & !(0xf << 76)) | (0x4 << 76);
    x = (x & !(0x3 << 62)) | (0x2 << 62);
    let h = format!("{x:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The watchdog: renews the lock every `renew_every_ms` until aborted or
/// stopped. When it stops by itself with `stale_renewal_entry`, it leaves
/// its entry behind (`stale_entry`).
async fn renew_loop<E: Env>(env: E, cfg: LockConfig, field: String, stale_entry: Rc<Cell<bool>>) {
    let leave_entry = || {
        if cfg.stale_renewal_entry {
            stale_entry.set(true);
        }
    };
    let src = cfg
        .script_renew
        .clone()
        .unwrap_or_else(|| RENEW_SCRIPT.to_string());
    let ttl = cfg.ttl_ms.to_string();
    loop {
        env.sleep(cfg.renew_every_ms).await;
        let start = env.mono_ms();
        let cmd = argv(["EVAL", &src, "1", &cfg.key, &ttl, &field]);
        match env.call(0, cmd, cfg.request_timeout_ms).await {
            Ok(Reply::Int(1)) => {
                env.note(Note::Renewed { ok: true });
                env.note(Note::Extended {
                    deadline: Deadline::Mono(start + cfg.ttl_ms),
                });
            }
            Ok(reply) if !reply.is_error() => {
                // Not held any more: Redisson cancels the renewal.
                env.note(Note::Renewed { ok: false });
                env.note(Note::WatchdogStopped);
                leave_entry();
                return;
            }
            failed => {
                env.note(Note::Renewed { ok: false });
                if let Ok(Reply::Error(e)) = failed {
                    env.note(Note::Info(format!("renewal error: {e}")));
                }
                if cfg.renew_on_error == RenewOnError::Stop {
                    env.note(Note::WatchdogStopped);
                    leave_entry();
                    return;
                }
            }
        }
    }
}

impl LockAlgorithm for Watchdog {
    async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
        let field = self.field(env);
        let n = attempts(&self.cfg);
        for attempt in 0..n {
            let start = env.mono_ms();
            if let Try::Granted(token) = self.try_lock(env, &field).await {
                self.entered = 1;
                while self.entered < self.cfg.reentrant_depth {
                    match self.try_lock(env, &field).await {
                        Try::Granted(_) => self.entered += 1,
                        _ => {
                            env.note(Note::Info(format!("re-entry {} failed", self.entered + 1)));
                            break;
                        }
                    }
                }
                let mut lease = Lease {
                    value: field.clone().into_bytes(),
                    fencing_token: token,
                    deadline: Some(Deadline::Mono(start + self.cfg.ttl_ms)),
                    nodes: vec![0],
                };
                if self.cfg.fencing && self.cfg.script_acquire.is_some() {
                    lease.fencing_token = take_fence_token(env, &self.cfg).await;
                    if lease.fencing_token.is_none() {
                        self.release(env, &lease).await;
                        if attempt + 1 < n {
                            retry_pause(env, &self.cfg).await;
                        }
                        continue;
                    }
                }
                self.stop_watchdog();
                if self.cfg.stale_renewal_entry && self.stale_entry.get() {
                    // `putIfAbsent` finds the old entry: no timer is armed.
                    env.note(Note::Info(
                        "a failed renewal left its entry registered (Redisson before 3.12.1): this hold is never renewed".into(),
                    ));
                    return Ok(lease);
                }
                let task = env.spawn(Box::pin(renew_loop(
                    env.clone(),
                    self.cfg.clone(),
                    field,
                    self.stale_entry.clone(),
                )));
                self.task = Some(Rc::new(task));
                return Ok(lease);
            }
            if attempt + 1 < n {
                retry_pause(env, &self.cfg).await;
            }
        }
        Err(AcquireError::Busy)
    }

    async fn release<E: Env>(&mut self, env: &E, lease: &Lease) -> ReleaseOutcome {
        self.stop_watchdog();
        let outcome = self.unlock_all(env, lease).await;
        if self.cfg.stale_renewal_entry {
            // Redisson 3.11.0-3.12.0 `unlockAsync`: the entry is cancelled
            // when the script succeeded or errored, not when it answered
            // nil (the lock was gone); then the entry stays.
            self.stale_entry.set(outcome == ReleaseOutcome::NotHeld);
        }
        outcome
    }
}

#[cfg(test)]
mod tests;
