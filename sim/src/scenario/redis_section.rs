//! The `[redis]` section: the topology and its layout (a cluster derives
//! its node count from `shards` and `replicas_per_shard`), and Redlock's
//! per-shard keys on a cluster (`[lock] keys`), which depend on it; and
//! min-replicas, which needs masters with replicas; the memory keys are
//! parsed by [`super::memory`].

use super::defaults;
use super::error::ScenarioError;
use super::memory;
use super::schema::{named, MAX_MS, MAX_NODES, REDIS_KEYS};
use super::tree::{Entry, Value};
use super::values::{choice, loc_of, range_u64, uint, unknown_key, Cx, Sect};
use crate::model::*;
use locksim_models::{Algorithm, LockConfig};

/// `lock.keys`: Redlock's per-endpoint keys (on Redis Cluster), distinct
/// non-empty strings.
pub(crate) fn lock_keys(
    cx: &Cx,
    e: &Entry,
    algorithm: Algorithm,
) -> Result<Vec<String>, ScenarioError> {
    let hint = "keys = [\"{b}lock\", \"{c}lock\", \"{a}lock\"]: one key per Redlock node, whose hash tags land on different shards";
    if algorithm != Algorithm::Redlock {
        return Err(cx.err(
            &loc_of(e),
            format!(
                "`lock.keys` has no effect with algorithm = \"{}\"",
                algorithm.name()
            ),
            "keys are Redlock's per-node keys on a Redis Cluster; a single-key lock uses `key`",
        ));
    }
    let Value::Array(items) = &e.node.value else {
        return Err(cx.err(
            &loc_of(e),
            format!(
                "`lock.keys` must be an array of strings, found {}",
                e.node.value.type_name()
            ),
            hint,
        ));
    };
    if items.is_empty() {
        return Err(cx.err(&loc_of(e), "`lock.keys` must not be empty", hint));
    }
    let mut keys: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let at = item.loc.clone().or_else(|| loc_of(e));
        match &item.value {
            Value::Str(k) if !k.is_empty() && !keys.contains(k) => keys.push(k.clone()),
            Value::Str(k) if k.is_empty() => {
                return Err(cx.err(&at, "`lock.keys` holds an empty key", hint))
            }
            Value::Str(k) => {
                return Err(cx.err(
                    &at,
                    format!("`lock.keys` names {k:?} twice"),
                    "each Redlock node needs its own key",
                ))
            }
            other => {
                return Err(cx.err(
                    &at,
                    format!("`lock.keys` must hold strings, found {}", other.type_name()),
                    hint,
                ))
            }
        }
    }
    Ok(keys)
}

/// Redlock on a cluster locks one key per shard (`lock.keys`, by default
/// [`crate::model::slots::redlock_keys`]); `keys` means nothing elsewhere.
pub(crate) fn cluster_keys(
    cx: &Cx,
    lock_sect: &Sect,
    lock: &mut LockConfig,
    redis: &RedisConfig,
) -> Result<(), ScenarioError> {
    let cluster = redis.topology == Topology::Cluster;
    match lock_sect.get("keys") {
        Some(e) if !cluster => Err(cx.err(
            &loc_of(e),
            format!(
                "`lock.keys` applies only to topology = \"cluster\" (this is \"{}\")",
                redis.topology.name()
            ),
            "on independent masters every Redlock node locks `key`; remove `keys`",
        )),
        None if cluster && lock.algorithm == Algorithm::Redlock => {
            lock.keys = crate::model::slots::redlock_keys(&lock.key, redis.shards);
            Ok(())
        }
        _ if cluster => same_slot_script(cx, lock_sect, lock),
        _ => Ok(()),
    }
}

/// On a cluster, an acquire script gets `key` (Redlock: each of `keys`)
/// and `fence_key` as KEYS: in different slots every acquire would fail
/// with CROSSSLOT, so the lock could never be taken.
fn same_slot_script(cx: &Cx, lock_sect: &Sect, lock: &LockConfig) -> Result<(), ScenarioError> {
    use crate::model::slots::key_hash_slot;
    let script =
        lock.script_acquire.is_some() || (lock.fencing && lock.algorithm == Algorithm::SetNxPx);
    if !script {
        return Ok(());
    }
    let fence = key_hash_slot(lock.fence_key.as_bytes());
    let keys = if lock.keys.is_empty() {
        vec![lock.key.clone()]
    } else {
        lock.keys.clone()
    };
    let Some(k) = keys.iter().find(|k| key_hash_slot(k.as_bytes()) != fence) else {
        return Ok(());
    };
    let at = ["script_acquire", "fencing", "fence_key", "key"]
        .iter()
        .find_map(|key| lock_sect.get(key))
        .map_or_else(|| lock_sect.loc.clone(), loc_of);
    Err(cx.err(
        &at,
        format!(
            "on Redis Cluster the acquire script's keys `{k}` (slot {}) and `{}` (slot {fence}) hash to different slots: every acquire would fail with CROSSSLOT",
            key_hash_slot(k.as_bytes()),
            lock.fence_key
        ),
        "give them one hash tag, e.g. key = \"{lock}\" and fence_key = \"{lock}:fence\"",
    ))
}

pub(crate) fn redis(cx: &Cx, s: &Sect, algorithm: Algorithm) -> Result<RedisConfig, ScenarioError> {
    let topology = match s.get("topology") {
        None => defaults::topology(algorithm),
        Some(e) => choice(cx, s, e, "topology", &named(Topology::ALL, Topology::name))?,
    };
    let cluster = topology == Topology::Cluster;
    let mut r = defaults::redis(topology);
    let mut nodes_given = None;
    for e in s.entries {
        match e.key.as_str() {
            "topology" => {}
            "nodes" => {
                let n = uint(cx, s, e, 1, MAX_NODES as u64)? as usize;
                let bad = match topology {
                    Topology::Single if n != 1 => {
                        Some("a single topology has exactly one node (nodes = 1)")
                    }
                    Topology::Sentinel if n < 2 => Some(
                        "a sentinel topology needs a master and at least one replica (nodes >= 2)",
                    ),
                    _ => None,
                };
                if let Some(why) = bad {
                    let how = if s.get("topology").is_none() {
                        format!(" (the default for {})", algorithm.name())
                    } else {
                        String::new()
                    };
                    let t = topology.name();
                    return Err(cx.err(
                        &loc_of(e),
                        format!("`redis.nodes` = {n} is impossible with topology = \"{t}\"{how}"),
                        format!(
                            "{why}; use topology = \"independent\" for several unrelated masters"
                        ),
                    ));
                }
                r.nodes = n;
                nodes_given = Some((e, n));
            }
            "persistence" => {
                r.persistence = choice(
                    cx,
                    s,
                    e,
                    "persistence mode",
                    &named(Persistence::ALL, Persistence::name),
                )?
            }
            "rdb_save_every_ms" => r.rdb_save_every_ms = uint(cx, s, e, 1, MAX_MS)?,
            "restart_delay_ms" => r.restart_delay_ms = uint(cx, s, e, 0, MAX_MS)?,
            "replication_lag_ms" => r.replication_lag_ms = range_u64(cx, s, e)?,
            "failover_after_ms" => r.failover_after_ms = uint(cx, s, e, 0, MAX_MS)?,
            "shards" | "replicas_per_shard" | "cluster_node_timeout_ms" if !cluster => {
                return Err(cx.err(
                    &loc_of(e),
                    format!(
                        "`redis.{}` applies only to topology = \"cluster\" (this is \"{}\")",
                        e.key,
                        topology.name()
                    ),
                    format!("set topology = \"cluster\", or remove `{}`", e.key),
                ))
            }
            "shards" => r.shards = uint(cx, s, e, 1, MAX_NODES as u64)? as usize,
            "replicas_per_shard" => {
                r.replicas_per_shard = uint(cx, s, e, 0, MAX_NODES as u64 - 1)? as usize
            }
            "cluster_node_timeout_ms" => r.cluster_node_timeout_ms = uint(cx, s, e, 1, MAX_MS)?,
            "min_replicas_to_write" => {
                r.min_replicas_to_write = uint(cx, s, e, 0, MAX_NODES as u64)? as u32
            }
            "min_replicas_max_lag_s" => {
                r.min_replicas_max_lag_s = uint(cx, s, e, 0, MAX_MS / 1000)?
            }
            _ if memory::redis_key(cx, s, e, &mut r)? => {}
            _ => return Err(unknown_key(cx, s, e, REDIS_KEYS)),
        }
    }
    if cluster {
        cluster_layout(cx, s, &mut r, nodes_given)?;
    }
    min_replicas(cx, s, &r)?;
    memory::check_redis(cx, s, &r)?;
    Ok(r)
}

/// `min_replicas_*` need a master with replicas (a Sentinel master, or a
/// cluster's shard masters), and no more replicas than there are.
fn min_replicas(cx: &Cx, s: &Sect, r: &RedisConfig) -> Result<(), ScenarioError> {
    let replicas = r.replicas_per_master();
    let t = r.topology.name();
    let defaults = defaults::redis(r.topology);
    for (key, set) in [
        (
            "min_replicas_to_write",
            r.min_replicas_to_write != defaults.min_replicas_to_write,
        ),
        (
            "min_replicas_max_lag_s",
            r.min_replicas_max_lag_s != defaults.min_replicas_max_lag_s,
        ),
    ] {
        if let (true, 0, Some(e)) = (set, replicas, s.get(key)) {
            let how = if r.topology == Topology::Cluster {
                "set replicas_per_shard >= 1, or leave the key out"
            } else {
                "use topology = \"sentinel\" (or \"cluster\" with replicas_per_shard >= 1), or leave the key out"
            };
            return Err(cx.err(
                &loc_of(e),
                format!("`redis.{key}` has no effect with topology = \"{t}\": its masters have no replicas"),
                format!("min-replicas is a master's check of its replicas' acknowledgements: {how}"),
            ));
        }
    }
    let want = r.min_replicas_to_write as usize;
    if want > replicas && replicas > 0 {
        let e = s.get("min_replicas_to_write").expect("non-zero means set");
        let (layout, add) = if r.topology == Topology::Cluster {
            (
                format!("replicas_per_shard = {replicas}"),
                "raise replicas_per_shard",
            )
        } else {
            (format!("nodes = {}", r.nodes), "add nodes")
        };
        return Err(cx.err(
            &loc_of(e),
            format!("`redis.min_replicas_to_write` = {want} but a master has only {replicas} replica(s) ({layout})"),
            format!("every write would be refused with NOREPLICAS: use at most {replicas}, or {add}"),
        ));
    }
    Ok(())
}

/// A cluster's node count follows from its layout: `shards` masters, each
/// with `replicas_per_shard` replicas. A `nodes` key must agree.
fn cluster_layout(
    cx: &Cx,
    s: &Sect,
    r: &mut RedisConfig,
    nodes_given: Option<(&Entry, usize)>,
) -> Result<(), ScenarioError> {
    let (shards, per) = (r.shards, r.replicas_per_shard);
    let derived = RedisConfig::cluster_nodes(shards, per);
    let layout = format!("shards = {shards} x (1 master + {per} replicas) = {derived} nodes");
    if derived > MAX_NODES {
        let at = s
            .get("replicas_per_shard")
            .or_else(|| s.get("shards"))
            .map_or_else(|| s.loc.clone(), loc_of);
        return Err(cx.err(
            &at,
            format!("a cluster of {layout} is more than the {MAX_NODES} Redis nodes locksim simulates"),
            "use fewer shards or fewer replicas_per_shard (3 shards x 1 replica = 6 nodes, 3 x 2 = 9)",
        ));
    }
    if let Some((e, n)) = nodes_given {
        if n != derived {
            return Err(cx.err(
                &loc_of(e),
                format!("`redis.nodes` = {n} disagrees with the cluster layout: {layout}"),
                format!("remove `nodes` (a cluster derives it from its layout), or write nodes = {derived}"),
            ));
        }
    }
    r.nodes = derived;
    Ok(())
}
