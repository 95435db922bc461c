//! What a lock algorithm is configured with: the `[lock]` table of a
//! scenario file, minus everything that belongs to the world.

use serde::{Deserialize, Serialize};

/// The algorithms locksim replays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// `SETNX key value`, released with DEL; optional stale-lock recovery.
    Setnx,
    /// `SETNX` then `EXPIRE` as a second command.
    SetnxExpire,
    /// The GETSET algorithm from the old SETNX docs.
    SetnxGetset,
    /// `SET key token NX PX ttl` with a compare-and-delete release.
    SetNxPx,
    /// Redisson's RLock: a hash with a reentrancy counter plus a watchdog.
    Watchdog,
    /// Redlock over N independent masters.
    Redlock,
}

impl Algorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Setnx,
        Algorithm::SetnxExpire,
        Algorithm::SetnxGetset,
        Algorithm::SetNxPx,
        Algorithm::Watchdog,
        Algorithm::Redlock,
    ];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Setnx => "setnx",
            Algorithm::SetnxExpire => "setnx-expire",
            Algorithm::SetnxGetset => "setnx-getset",
            Algorithm::SetNxPx => "set-nx-px",
            Algorithm::Watchdog => "watchdog",
            Algorithm::Redlock => "redlock",
        }
    }

    /// Parses a scenario-file name.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// How a holder gives the lock back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Release {
    /// Compare-and-delete in one Lua script (the distlock page).
    Lua,
    /// A plain `DEL`: deletes whoever's lock is there.
    Del,
    /// `GET`, compare in the client, then `DEL`: not atomic.
    GetThenDel,
}

/// What the watchdog does when a renewal fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenewOnError {
    /// Stop renewing (Redisson before 3.23: the holder is not told).
    Stop,
    /// Keep trying at the next period.
    Retry,
}

/// Which clock times an acquire: the validity a Redlock computes and the
/// deadline a holder works to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timing {
    /// A monotonic clock (Go's `time.Now()` readings, `perf_counter`,
    /// `CLOCK_MONOTONIC`): never jumps.
    Mono,
    /// The wall clock (`Date.now()`, `time.time()`): jumps with it.
    Wall,
}

/// Whether lock writes wait for replicas with `WAIT`, and what counts as
/// enough (Redisson 3.12.5 onwards: `syncedEval`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncReplicas {
    /// No `WAIT`.
    None,
    /// `WAIT` is sent after the write, but the acquire returns on the
    /// write's own reply (Redisson 3.12.5-3.14.0).
    Unawaited,
    /// The client waits for `WAIT`'s reply and ignores its count
    /// (Redisson 3.14.1-3.16.6).
    Awaited,
    /// Every replica must acknowledge (Redisson 3.16.7-3.17.4).
    All,
    /// At least one replica must acknowledge (Redisson 3.17.5 onwards).
    Any,
}

/// What an acquire that failed its replica check does with the key it
/// wrote on the master.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnUnsynced {
    /// Leave it (Redisson 3.16.7-3.19, 3.25-3.46): held until it expires.
    Keep,
    /// Unlock it before failing (Redisson 3.20-3.24, 3.47 onwards).
    Unlock,
}

/// What a holder does when extending its lease fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnExtendFail {
    /// Stop extending; nobody is told (python-redis-lock's renewal thread
    /// dies on any exception).
    Stop,
    /// Try again at the next period.
    Retry,
    /// Retry at once while the lease is still valid, then raise the abort
    /// signal (node-redlock `using`): the routine stops only if it checks
    /// it (`checks_abort`).
    Abort,
    /// Unlock everywhere (redlock-rb, node-redlock v4 `extend`).
    Unlock,
}

/// The lock's configuration, shared by every client of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockConfig {
    pub algorithm: Algorithm,
    /// The lock key.
    pub key: String,
    /// The key that holds the fencing counter (`INCR`).
    pub fence_key: String,
    pub ttl_ms: u64,
    pub release: Release,
    /// Whether the holder treats its computed deadline as the end of its
    /// lease (an acquire whose deadline passed before the reply is failed).
    pub validity_check: bool,
    /// Attempts per acquire before giving up.
    pub retry_count: u32,
    pub retry_delay_ms: u64,
    pub retry_jitter_ms: u64,
    /// Redlock: validity = ttl - elapsed - (ttl * drift_factor + 2 ms).
    pub drift_factor: f64,
    /// Watchdog renewal period.
    pub renew_every_ms: u64,
    pub renew_on_error: RenewOnError,
    /// Whether the holder takes a fencing token (from `INCR`).
    pub fencing: bool,
    /// Per-command timeout, in ms of the client's monotonic clock.
    pub request_timeout_ms: u64,
    /// Redlock: lock nodes one after another instead of in parallel.
    pub sequential: bool,
    /// `setnx`: recover a stale lock with DEL then SETNX (old SETNX docs).
    pub stale_recovery: bool,
    /// Watchdog: how many times each holder re-enters the lock it holds
    /// (each needs its own unlock).
    pub reentrant_depth: u32,
    /// Lua source overriding the algorithm's acquire script.
    pub script_acquire: Option<String>,
    /// Lua source overriding the algorithm's release script.
    pub script_release: Option<String>,
    /// Lua source overriding the algorithm's renew/extend script.
    pub script_renew: Option<String>,
    /// The library profile this configuration starts from
    /// (`"redisson@3.27.0"`), if any: see the `library` module.
    pub library: Option<String>,
    // ------------------------------------------- what libraries differ in
    /// Which clock times an acquire (validity and deadline).
    pub timing: Timing,
    /// Redlock: ms added to the drift allowance (`round(ttl * drift_factor)
    /// + drift_extra_ms`; node-redlock and redlock-py 2, redsync 0).
    pub drift_extra_ms: u64,
    /// Redlock: the start time is read once per acquire, before all its
    /// retries (node-redlock 5.0.0-beta.2), not once per attempt.
    pub start_once: bool,
    /// Redlock: a failed attempt keeps the keys it won for the next attempt
    /// and releases them only after the last (node-redlock 5.0.0-beta.2).
    pub keep_partial: bool,
    /// Redlock: a quorum reached while another node answered with an error
    /// fails the acquire, with nothing unlocked (redlock-py 1.0.8).
    pub fail_on_node_error: bool,
    /// Whether lock writes wait for replicas (`WAIT n wait_timeout_ms`).
    pub sync_replicas: SyncReplicas,
    /// The `WAIT` timeout (Redisson `slavesSyncTimeout`).
    pub wait_timeout_ms: u64,
    /// What an acquire that failed its replica check does with its key.
    pub on_unsynced: OnUnsynced,
    /// set-nx-px and redlock: the holder extends its lease every this many
    /// ms while it holds it (0 = never).
    pub extend_every_ms: u64,
    /// What a failed extension does.
    pub on_extend_fail: OnExtendFail,
    /// The extension re-creates a key that is gone (redsync
    /// `WithSetNXOnExtend`, redlock-rb's extend).
    pub extend_setnx: bool,
    /// At most this many extensions per hold (pottery: 3; 0 = no cap).
    pub max_extensions: u32,
    /// The critical section checks the abort signal before each write and
    /// stops early when it is raised.
    pub checks_abort: bool,
    /// set-nx-px: the clients share one lock object, hence one token slot
    /// (redis-py's `Lock` used by several asyncio tasks): a release deletes
    /// whatever token was stored last.
    pub shared_token: bool,
    /// set-nx-px: the library forgets the token before it sends the
    /// release (redis-py's sync `Lock` up to 8.1: `self.local.token =
    /// None` first), so a release that raised cannot be retried: a second
    /// `release()` raises `LockError` without sending anything.
    pub clears_token_first: bool,
    /// set-nx-px: the application calls `release()` again, up to this many
    /// times, after one that got no answer (a timeout or a dropped
    /// connection, once the client library's own re-sends are spent).
    pub release_retries: u32,
    /// How many times the client library re-sends a command that timed out
    /// or whose connection dropped (redis-py's `Retry`, older redis-rb's
    /// reconnect-and-retry), with the same argv: every algorithm gets it
    /// from [`crate::Env::call`]. 0 = never.
    pub client_retries: u32,
    /// Watchdog (Redisson 3.11.0-3.12.0): a renewal that fails leaves the
    /// client's renewal entry registered, and an unlock that finds the
    /// lock gone does not clear it, so the client's later holds are never
    /// renewed (redisson #3194, #3712).
    pub stale_renewal_entry: bool,
    /// Watchdog (Redisson 3.37.0 onwards, `evalWriteNoRetryAsync`): on a
    /// master without replicas (single-server mode) the acquire and
    /// unlock scripts are sent once, never re-sent by `client_retries`; a
    /// master with replicas still re-sends them (redisson #7367).
    pub single_server_no_resend: bool,
    /// Redlock on Redis Cluster: one key per Redlock "node" (endpoint `i`
    /// locks `keys[i]`), chosen so that their hash tags land on different
    /// shards. Empty: every endpoint locks `key`.
    pub keys: Vec<String>,
}

impl LockConfig {
    /// The defaults for `algorithm`, taken from the library most users run
    /// (see GROUND-TRUTH.md): the distlock page for set-nx-px (random value,
    /// `SET NX PX`, compare-and-delete release), redlock-py for Redlock
    /// (3 tries, 200 ms), Redisson for the watchdog (30 s, 10 s). The three
    /// SETNX-era recipes release with a plain `DEL`, as their sources do.
    pub fn defaults(algorithm: Algorithm) -> LockConfig {
        let ttl_ms = match algorithm {
            Algorithm::Watchdog => 30_000,
            Algorithm::Redlock => 10_000,
            _ => 10_000,
        };
        LockConfig {
            algorithm,
            key: "lock".into(),
            fence_key: "lock:fence".into(),
            ttl_ms,
            release: match algorithm {
                Algorithm::Setnx | Algorithm::SetnxExpire | Algorithm::SetnxGetset => Release::Del,
                _ => Release::Lua,
            },
            validity_check: algorithm == Algorithm::Redlock,
            retry_count: 3,
            retry_delay_ms: 200,
            retry_jitter_ms: 100,
            drift_factor: 0.01,
            renew_every_ms: ttl_ms / 3,
            renew_on_error: RenewOnError::Stop,
            fencing: false,
            request_timeout_ms: 50,
            sequential: false,
            stale_recovery: false,
            reentrant_depth: 1,
            script_acquire: None,
            script_release: None,
            script_renew: None,
            library: None,
            timing: Timing::Mono,
            drift_extra_ms: 2,
            start_once: false,
            keep_partial: false,
            fail_on_node_error: false,
            sync_replicas: SyncReplicas::None,
            wait_timeout_ms: 1000,
            on_unsynced: OnUnsynced::Keep,
            extend_every_ms: 0,
            on_extend_fail: OnExtendFail::Stop,
            extend_setnx: false,
            max_extensions: 0,
            checks_abort: false,
            shared_token: false,
            clears_token_first: false,
            release_retries: 0,
            client_retries: 0,
            stale_renewal_entry: false,
            single_server_no_resend: false,
            keys: Vec::new(),
        }
    }

    /// The lock key endpoint `node` uses: `keys[node]` when `keys` is set
    /// (Redlock on Redis Cluster), else `key`.
    pub fn key_for(&self, node: usize) -> &str {
        self.keys
            .get(node)
            .map_or(self.key.as_str(), String::as_str)
    }

    /// Checks the combinations the algorithms cannot honour, so that a
    /// scenario never silently ignores a field. The scenario parser reports
    /// the message against the `[lock]` table.
    pub fn validate(&self) -> Result<(), String> {
        use Algorithm::*;
        let alg = self.algorithm;
        let only = |field: &str, set: bool, allowed: &[Algorithm]| -> Result<(), String> {
            if set && !allowed.contains(&alg) {
                let names: Vec<&str> = allowed.iter().map(|a| a.name()).collect();
                return Err(format!(
                    "`{field}` has no effect with algorithm `{}` (only {})",
                    alg.name(),
                    names.join(", ")
                ));
            }
            Ok(())
        };
        if self.ttl_ms == 0 && !matches!(alg, Setnx | SetNxPx) {
            return Err(
                "`ttl_ms` must be positive (only setnx and set-nx-px can take a lock without a TTL)"
                    .into(),
            );
        }
        if self.fencing && alg == Redlock {
            return Err(
                "`fencing` is impossible with redlock: N independent counters give no \
                        monotonic token (Kleppmann 2016)"
                    .into(),
            );
        }
        only("stale_recovery", self.stale_recovery, &[Setnx])?;
        only("sequential", self.sequential, &[Redlock])?;
        only("keys", !self.keys.is_empty(), &[Redlock])?;
        only("reentrant_depth", self.reentrant_depth != 1, &[Watchdog])?;
        if self.reentrant_depth == 0 {
            return Err("`reentrant_depth` must be at least 1".into());
        }
        only(
            "script_acquire",
            self.script_acquire.is_some(),
            &[SetNxPx, Watchdog, Redlock],
        )?;
        only(
            "script_renew",
            self.script_renew.is_some(),
            &[SetNxPx, Watchdog, Redlock],
        )?;
        let release_script_used = matches!(alg, Watchdog) || self.release == Release::Lua;
        if self.script_release.is_some() && !release_script_used {
            return Err("`script_release` needs `release = \"lua\"`".into());
        }
        if alg == Watchdog && self.renew_every_ms == 0 {
            return Err("`renew_every_ms` must be positive".into());
        }
        if !(0.0..1.0).contains(&self.drift_factor) {
            return Err("`drift_factor` must be in [0, 1)".into());
        }
        only("timing", self.timing != Timing::Mono, &[SetNxPx, Redlock])?;
        only("drift_extra_ms", self.drift_extra_ms != 2, &[Redlock])?;
        only("start_once", self.start_once, &[Redlock])?;
        only("keep_partial", self.keep_partial, &[Redlock])?;
        only("fail_on_node_error", self.fail_on_node_error, &[Redlock])?;
        only(
            "sync_replicas",
            self.sync_replicas != SyncReplicas::None,
            &[Watchdog],
        )?;
        only(
            "extend_every_ms",
            self.extend_every_ms > 0,
            &[SetNxPx, Redlock],
        )?;
        only("shared_token", self.shared_token, &[SetNxPx])?;
        only("clears_token_first", self.clears_token_first, &[SetNxPx])?;
        only("release_retries", self.release_retries > 0, &[SetNxPx])?;
        only("stale_renewal_entry", self.stale_renewal_entry, &[Watchdog])?;
        only(
            "single_server_no_resend",
            self.single_server_no_resend,
            &[Watchdog],
        )?;
        if self.fencing && self.ttl_ms == 0 {
            return Err("`fencing` needs a TTL (the fenced acquire script sets PX)".into());
        }
        if self.extend_every_ms > 0 && self.ttl_ms == 0 {
            return Err(
                "`extend_every_ms` needs a TTL: a lock without one cannot be extended (redis-py: \"Cannot extend a lock with no timeout\")"
                    .into(),
            );
        }
        if self.wait_timeout_ms == 0 && self.sync_replicas != SyncReplicas::None {
            return Err("`wait_timeout_ms` must be positive: WAIT 0 blocks forever".into());
        }
        Ok(())
    }
}
