//! The scenario, as data: what a `scenarios/*.toml` file says once parsed
//! and validated. Every field is explicit here; defaults are filled in by
//! the parser, never guessed later.

use locksim_models::LockConfig;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use super::custom::CustomLock;
pub use super::fault::{Fault, FaultSpec, Trigger, When};
pub use super::memory::MaxmemoryPolicy;
pub use super::node::NodeRef;

/// What the oracle concludes about a run. Worst wins: `Violation` >
/// `Liveness` > `Safe` (the derived order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Safe,
    Liveness,
    Violation,
}

impl Verdict {
    /// Every verdict, worst first (the order of the scenario format's docs).
    pub const ALL: [Verdict; 3] = [Verdict::Violation, Verdict::Liveness, Verdict::Safe];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Liveness => "liveness",
            Verdict::Violation => "violation",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An inclusive range `[lo, hi]`, drawn uniformly.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span<T> {
    pub lo: T,
    pub hi: T,
}

impl<T: Copy> Span<T> {
    pub fn new(lo: T, hi: T) -> Span<T> {
        Span { lo, hi }
    }
    pub fn fixed(v: T) -> Span<T> {
        Span { lo: v, hi: v }
    }
}

/// How the Redis nodes are arranged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// One master; every client talks to `redis-0`.
    Single,
    /// `nodes` unrelated masters (Redlock).
    Independent,
    /// `redis-0` is master, the rest are replicas; Sentinel fails over.
    Sentinel,
    /// Redis Cluster: `shards` masters (`redis-0 .. redis-<shards-1>`),
    /// each with `replicas_per_shard` replicas after them; the cluster
    /// detects failures and elects replicas itself.
    Cluster,
}

impl Topology {
    /// Every topology, in the order of the scenario format's docs.
    pub const ALL: [Topology; 4] = [
        Topology::Single,
        Topology::Independent,
        Topology::Sentinel,
        Topology::Cluster,
    ];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Single => "single",
            Topology::Independent => "independent",
            Topology::Sentinel => "sentinel",
            Topology::Cluster => "cluster",
        }
    }
}

/// What a node writes to its disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Persistence {
    None,
    Rdb,
    AofEverysec,
    AofAlways,
}

impl Persistence {
    /// Every mode, from least to most durable.
    pub const ALL: [Persistence; 4] = [
        Persistence::None,
        Persistence::Rdb,
        Persistence::AofEverysec,
        Persistence::AofAlways,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Persistence::None => "none",
            Persistence::Rdb => "rdb",
            Persistence::AofEverysec => "aof-everysec",
            Persistence::AofAlways => "aof-always",
        }
    }
}

/// `[redis]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedisConfig {
    pub topology: Topology,
    pub nodes: usize,
    pub persistence: Persistence,
    pub rdb_save_every_ms: u64,
    /// Down time before a crashed node comes back (delayed-restart mitigation).
    pub restart_delay_ms: u64,
    pub replication_lag_ms: Span<u64>,
    pub failover_after_ms: u64,
    /// A master refuses writes (`NOREPLICAS`) unless at least this many
    /// replicas acknowledged within `min_replicas_max_lag_s` (Redis's
    /// `min-replicas-to-write`; 0 = off). Replicated topologies only.
    pub min_replicas_to_write: u32,
    /// Redis's `min-replicas-max-lag`: the largest acknowledgement age, in
    /// whole seconds of the master's clock, of a replica that counts (0 = off).
    pub min_replicas_max_lag_s: u64,
    /// `maxmemory`: the limit on what Redis counts as used memory (0: no
    /// limit).
    pub maxmemory_bytes: u64,
    /// `maxmemory-policy`.
    pub maxmemory_policy: MaxmemoryPolicy,
    /// `maxmemory-samples`: keys sampled per eviction-pool refill.
    pub maxmemory_samples: u32,
    /// `cluster`: how many masters split the 16384 hash slots.
    pub shards: usize,
    /// `cluster`: replicas of each master.
    pub replicas_per_shard: usize,
    /// `cluster`: Redis's `cluster-node-timeout`.
    pub cluster_node_timeout_ms: u64,
}

impl RedisConfig {
    /// How many replicas each master has: `nodes - 1` under Sentinel,
    /// `replicas_per_shard` for each shard master of a cluster, none for
    /// `single` and `independent`.
    pub fn replicas_per_master(&self) -> usize {
        match self.topology {
            Topology::Single | Topology::Independent => 0,
            Topology::Sentinel => self.nodes.saturating_sub(1),
            Topology::Cluster => self.replicas_per_shard,
        }
    }

    /// The node count a cluster of `shards` masters with
    /// `replicas_per_shard` replicas each has.
    pub fn cluster_nodes(shards: usize, replicas_per_shard: usize) -> usize {
        shards * (1 + replicas_per_shard)
    }

    /// Cluster layout: the shard `redis-<node>` belongs to. Shard s's
    /// master is `redis-<s>`, its replicas are
    /// `redis-<shards + s * replicas_per_shard + r>`.
    pub fn shard_of(&self, node: usize) -> usize {
        if node < self.shards {
            node
        } else {
            (node - self.shards) / self.replicas_per_shard.max(1)
        }
    }

    /// Cluster layout: the nodes of shard `s`, its first master first.
    pub fn shard_nodes(&self, s: usize) -> Vec<usize> {
        let first = self.shards + s * self.replicas_per_shard;
        std::iter::once(s)
            .chain(first..first + self.replicas_per_shard)
            .collect()
    }
}

/// `[network]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// One-way latency per message, uniform.
    pub latency_ms: Span<u64>,
    /// Probability that a message is lost.
    pub loss: f64,
}

/// `[clients]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientsConfig {
    pub count: usize,
    /// Successful acquisitions each client makes.
    pub cycles: u32,
    /// Length of one critical section.
    pub work_ms: Span<u64>,
    /// Resource writes per critical section (between `begin` and `end`).
    pub writes: u32,
    /// Time between a release and the next acquire (the rest of the
    /// application's loop), drawn per cycle.
    pub think_ms: Span<u64>,
    /// Drawn per client.
    pub drift_ppm: Span<i64>,
    /// Drawn per client: initial clock offset (wall and monotonic).
    pub offset_ms: Span<i64>,
}

/// A rate of random faults per simulated second, with a length range.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateSpan {
    pub rate: f64,
    pub ms: Span<i64>,
}

/// `memory_pressure = { rate = 0.1, bytes = [lo, hi], ms = [lo, hi] }`:
/// random memory-pressure faults per simulated second, each writing a
/// size of filler drawn from `bytes`, kept for a length drawn from `ms`
/// (without `ms`: until the final heal).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateBytes {
    pub rate: f64,
    pub bytes: Span<u64>,
    pub ms: Option<Span<u64>>,
}

/// `[nemesis]`: random faults for hunting. All rates zero = no nemesis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Nemesis {
    pub kill: f64,
    pub power_loss: f64,
    pub pause: RateSpan,
    pub clock_jump: RateSpan,
    pub partition: RateSpan,
    /// Memory-pressure faults: filler keys on a random Redis node.
    pub memory_pressure: RateBytes,
}

impl Nemesis {
    /// True when every rate is zero.
    pub fn is_quiet(&self) -> bool {
        self.kill == 0.0
            && self.power_loss == 0.0
            && self.pause.rate == 0.0
            && self.clock_jump.rate == 0.0
            && self.partition.rate == 0.0
            && self.memory_pressure.rate == 0.0
    }
}

/// A whole scenario file, validated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub about: String,
    pub expect: Verdict,
    pub seed: u64,
    pub duration_ms: u64,
    /// Fraction of `duration_ms` at which every fault is undone.
    pub heal_at: f64,
    pub lock: LockConfig,
    pub redis: RedisConfig,
    pub network: NetworkConfig,
    pub clients: ClientsConfig,
    pub faults: Vec<FaultSpec>,
    pub nemesis: Nemesis,
    /// `[lock] custom`: lock code of your own that every client runs
    /// instead of the built-in `lock.algorithm` (see [`super::custom`]).
    /// Not serialized: it is code.
    #[serde(skip)]
    pub custom_lock: Option<CustomLock>,
}

impl Scenario {
    /// True time (ms) at which every fault is undone.
    pub fn heal_ms(&self) -> u64 {
        (self.duration_ms as f64 * self.heal_at).round() as u64
    }

    /// The lock's keys: `lock.keys` (Redlock on a cluster: one per
    /// shard) when set, else `lock.key`.
    pub fn lock_keys(&self) -> Vec<String> {
        if self.lock.keys.is_empty() {
            vec![self.lock.key.clone()]
        } else {
            self.lock.keys.clone()
        }
    }

    /// Every node name of the world, in a stable order.
    pub fn node_refs(&self) -> Vec<NodeRef> {
        let mut v: Vec<NodeRef> = (0..self.redis.nodes).map(NodeRef::Redis).collect();
        v.extend((0..self.clients.count).map(NodeRef::Client));
        v.push(NodeRef::Resource);
        v
    }
}

impl Scenario {
    /// This scenario with `lock` as every client's lock algorithm (and
    /// `lock` [registered](super::custom::register), see [`super::custom`]).
    pub fn with_custom_lock(mut self, lock: CustomLock) -> Scenario {
        super::custom::register(lock.clone());
        self.custom_lock = Some(lock);
        self
    }

    /// The lock code a run uses, in words: `set-nx-px`, or
    /// `custom "my-lock" (defaults of set-nx-px)`.
    pub fn algorithm_label(&self) -> String {
        match &self.custom_lock {
            Some(c) => format!(
                "custom \"{}\" (defaults of {})",
                c.name(),
                self.lock.algorithm.name()
            ),
            None => self.lock.algorithm.name().to_string(),
        }
    }
}
