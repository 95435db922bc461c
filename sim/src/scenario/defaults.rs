//! The defaults of format v1, in one place: what the parser fills in for a
//! key the file leaves out, and what code building scenarios (matrix, hunt)
//! starts from.

use crate::model::*;
use locksim_models::{Algorithm, LockConfig};

pub const SEED: u64 = 1;
pub const DURATION_MS: u64 = 60_000;
pub const HEAL_AT: f64 = 0.8;
/// Redis's default `maxmemory-samples`.
pub const MAXMEMORY_SAMPLES: u32 = 5;

/// `independent` for Redlock, `single` for every other algorithm.
pub fn topology(algorithm: Algorithm) -> Topology {
    match algorithm {
        Algorithm::Redlock => Topology::Independent,
        _ => Topology::Single,
    }
}

/// Redis Cluster: 3 shards (the fewest `redis-cli --cluster create`
/// accepts), each master with one replica, `cluster-node-timeout` 15 s.
pub const SHARDS: usize = 3;
pub const REPLICAS_PER_SHARD: usize = 1;
pub const CLUSTER_NODE_TIMEOUT_MS: u64 = 15_000;

/// 1 for single, 5 for independent, 3 for sentinel, 6 for cluster
/// (3 shards x (master + 1 replica)).
pub fn nodes(topology: Topology) -> usize {
    match topology {
        Topology::Single => 1,
        Topology::Independent => 5,
        Topology::Sentinel => 3,
        Topology::Cluster => RedisConfig::cluster_nodes(SHARDS, REPLICAS_PER_SHARD),
    }
}

/// `[redis]` with every key left out, for `topology`.
pub fn redis(topology: Topology) -> RedisConfig {
    RedisConfig {
        topology,
        nodes: nodes(topology),
        persistence: Persistence::None,
        rdb_save_every_ms: 60_000,
        restart_delay_ms: 0,
        replication_lag_ms: Span::new(1, 50),
        failover_after_ms: 5_000,
        min_replicas_to_write: 0,
        min_replicas_max_lag_s: 10,
        maxmemory_bytes: 0,
        maxmemory_policy: MaxmemoryPolicy::NoEviction,
        maxmemory_samples: MAXMEMORY_SAMPLES,
        shards: SHARDS,
        replicas_per_shard: REPLICAS_PER_SHARD,
        cluster_node_timeout_ms: CLUSTER_NODE_TIMEOUT_MS,
    }
}

/// `[network]` with every key left out.
pub fn network() -> NetworkConfig {
    NetworkConfig {
        latency_ms: Span::new(1, 5),
        loss: 0.0,
    }
}

/// `[clients]` with every key left out.
pub fn clients() -> ClientsConfig {
    ClientsConfig {
        count: 3,
        cycles: 10,
        work_ms: Span::new(100, 2_000),
        writes: 3,
        think_ms: Span::new(50, 250),
        drift_ppm: Span::new(-100, 100),
        offset_ms: Span::new(0, 0),
    }
}

/// `[nemesis]` with every key left out: quiet.
pub fn nemesis() -> Nemesis {
    Nemesis {
        kill: 0.0,
        power_loss: 0.0,
        pause: RateSpan {
            rate: 0.0,
            ms: Span::new(100, 30_000),
        },
        clock_jump: RateSpan {
            rate: 0.0,
            ms: Span::new(-10_000, 30_000),
        },
        partition: RateSpan {
            rate: 0.0,
            ms: Span::new(100, 10_000),
        },
        memory_pressure: RateBytes {
            rate: 0.0,
            bytes: Span::new(65_536, 1_048_576),
            ms: None,
        },
    }
}

impl Scenario {
    /// The scenario a file with only `name`, `expect` and
    /// `[lock] algorithm` describes: every other key at its default.
    pub fn with_defaults(name: &str, expect: Verdict, algorithm: Algorithm) -> Scenario {
        Scenario {
            name: name.to_string(),
            about: String::new(),
            expect,
            seed: SEED,
            duration_ms: DURATION_MS,
            heal_at: HEAL_AT,
            lock: LockConfig::defaults(algorithm),
            redis: redis(topology(algorithm)),
            network: network(),
            clients: clients(),
            faults: Vec::new(),
            nemesis: nemesis(),
            custom_lock: None,
        }
    }
}
