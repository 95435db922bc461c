//! The vocabulary of scenario format v1: the limits on numbers, the keys
//! each section may hold, and the names of enum-valued keys.
//!
//! Plain data (and [`named`], to list an enum's names) at the bottom of the
//! scenario modules: the parser (`parse.rs`, `faults.rs`), the value
//! readers (`values.rs`, which use [`SECTIONS`] to tell a misplaced key
//! where it belongs) and the writer (`write.rs`) all read it, so none of
//! them imports another for a constant.

use locksim_models::{OnExtendFail, OnUnsynced, Release, RenewOnError, SyncReplicas, Timing};

// --------------------------------------------------------------- limits

/// The largest duration, time or offset a scenario may name, in ms (about
/// 31 years): far beyond any story, small enough that no clock overflows.
pub const MAX_MS: u64 = 1_000_000_000_000;
/// At most this many clients.
pub const MAX_CLIENTS: usize = 16;
/// At most this many Redis nodes.
pub const MAX_NODES: usize = 9;
/// At most this many re-sends of one command (`lock.client_retries`).
pub const MAX_CLIENT_RETRIES: u32 = 100;
/// The smallest nonzero `maxmemory_bytes`: below 1 MB Redis warns at
/// startup ("You specified a maxmemory value that is less than 1MB"), and
/// an empty server alone uses about 0.9 MB.
pub const MIN_MAXMEMORY_BYTES: u64 = 1 << 20;
/// The most filler one memory-pressure fault may write: the simulator
/// keeps every filler value in memory.
pub const MAX_PRESSURE_BYTES: u64 = 64 << 20;

// ----------------------------------------------------------------- keys

/// The keys of the top level.
pub(crate) const TOP_KEYS: &[&str] = &[
    "name",
    "about",
    "expect",
    "seed",
    "duration_ms",
    "heal_at",
    "lock",
    "redis",
    "network",
    "clients",
    "faults",
    "nemesis",
];
/// The keys of `[lock]`.
pub(crate) const LOCK_KEYS: &[&str] = &[
    "algorithm",
    "key",
    "fence_key",
    "ttl_ms",
    "release",
    "validity_check",
    "retry_count",
    "retry_delay_ms",
    "retry_jitter_ms",
    "drift_factor",
    "renew_every_ms",
    "renew_on_error",
    "fencing",
    "request_timeout_ms",
    "sequential",
    "stale_recovery",
    "reentrant_depth",
    "script_acquire",
    "script_release",
    "script_renew",
    "library",
    "timing",
    "drift_extra_ms",
    "start_once",
    "keep_partial",
    "fail_on_node_error",
    "sync_replicas",
    "wait_timeout_ms",
    "on_unsynced",
    "extend_every_ms",
    "on_extend_fail",
    "extend_setnx",
    "max_extensions",
    "checks_abort",
    "shared_token",
    "clears_token_first",
    "release_retries",
    "client_retries",
    "stale_renewal_entry",
    "single_server_no_resend",
    "custom",
    "keys",
];
/// The keys of `[redis]`.
pub(crate) const REDIS_KEYS: &[&str] = &[
    "topology",
    "nodes",
    "persistence",
    "rdb_save_every_ms",
    "restart_delay_ms",
    "replication_lag_ms",
    "failover_after_ms",
    "min_replicas_to_write",
    "min_replicas_max_lag_s",
    "maxmemory_bytes",
    "maxmemory_policy",
    "maxmemory_samples",
    "shards",
    "replicas_per_shard",
    "cluster_node_timeout_ms",
];
/// The keys of `[network]`.
pub(crate) const NETWORK_KEYS: &[&str] = &["latency_ms", "loss"];
/// The keys of `[clients]`.
pub(crate) const CLIENTS_KEYS: &[&str] = &[
    "count",
    "cycles",
    "work_ms",
    "writes",
    "think_ms",
    "drift_ppm",
    "offset_ms",
];
/// The keys of `[nemesis]`.
pub(crate) const NEMESIS_KEYS: &[&str] = &[
    "kill",
    "power_loss",
    "pause",
    "clock_jump",
    "partition",
    "memory_pressure",
];
/// The keys of a nemesis rate table (`pause = { rate = 0.3, ms = [100, 5000] }`).
pub(crate) const RATE_KEYS: &[&str] = &["rate", "ms"];
/// The keys of the nemesis's memory-pressure table
/// (`memory_pressure = { rate = 0.1, bytes = [65536, 1048576], ms = [1000, 5000] }`).
pub(crate) const RATE_BYTES_KEYS: &[&str] = &["rate", "bytes", "ms"];

/// Every key a `[[faults]]` entry may hold.
pub(crate) const FAULT_KEYS: &[&str] = &[
    "at_ms", "on", "nth", "delay_ms", "kind", "node", "for_ms", "by_ms", "ppm", "groups", "bytes",
    "ttl_ms",
];
/// The keys of a `[[faults]]` entry that say when it fires (the rest say
/// what it does, and depend on its `kind`).
pub(crate) const WHEN_KEYS: &[&str] = &["at_ms", "on", "nth", "delay_ms"];

/// Every section and its keys: to tell a misplaced key where it belongs.
pub(crate) const SECTIONS: &[(&str, &[&str])] = &[
    ("", TOP_KEYS),
    ("lock", LOCK_KEYS),
    ("redis", REDIS_KEYS),
    ("network", NETWORK_KEYS),
    ("clients", CLIENTS_KEYS),
    ("faults", FAULT_KEYS),
    ("nemesis", NEMESIS_KEYS),
];

// ----------------------------------------------------- enum-valued keys

/// The values of `lock.release`.
pub(crate) const RELEASES: &[(&str, Release)] = &[
    ("lua", Release::Lua),
    ("del", Release::Del),
    ("get-then-del", Release::GetThenDel),
];
/// The values of `lock.renew_on_error`.
pub(crate) const RENEW_ON_ERROR: &[(&str, RenewOnError)] =
    &[("stop", RenewOnError::Stop), ("retry", RenewOnError::Retry)];

/// The values of `lock.timing`.
pub(crate) const TIMINGS: &[(&str, Timing)] = &[("mono", Timing::Mono), ("wall", Timing::Wall)];
/// The values of `lock.sync_replicas`.
pub(crate) const SYNC_REPLICAS: &[(&str, SyncReplicas)] = &[
    ("none", SyncReplicas::None),
    ("unawaited", SyncReplicas::Unawaited),
    ("awaited", SyncReplicas::Awaited),
    ("all", SyncReplicas::All),
    ("any", SyncReplicas::Any),
];
/// The values of `lock.on_unsynced`.
pub(crate) const ON_UNSYNCED: &[(&str, OnUnsynced)] =
    &[("keep", OnUnsynced::Keep), ("unlock", OnUnsynced::Unlock)];
/// The values of `lock.on_extend_fail`.
pub(crate) const ON_EXTEND_FAIL: &[(&str, OnExtendFail)] = &[
    ("stop", OnExtendFail::Stop),
    ("retry", OnExtendFail::Retry),
    ("abort", OnExtendFail::Abort),
    ("unlock", OnExtendFail::Unlock),
];

/// `(name, value)` for each of `all`: the options of an enum-valued key.
pub(crate) fn named<T: Copy, const N: usize>(
    all: [T; N],
    name: fn(T) -> &'static str,
) -> Vec<(&'static str, T)> {
    all.map(|v| (name(v), v)).to_vec()
}
