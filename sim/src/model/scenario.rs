//! The scenario, as data: what a `scenarios/*.toml` file says once parsed
//! and validated. Every field is explicit here; defaults are filled in by
//! the parser, never guessed later.

use locksim_models::LockConfig;
use serde::{Deserialize, Serialize};
use std::fmt;

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
}

impl Topology {
    /// Every topology, in the order of the scenario format's docs.
    pub const ALL: [Topology; 3] = [Topology::Single, Topology::Independent, Topology::Sentinel];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Single => "single",
            Topology::Independent => "independent",
            Topology::Sentinel => "sentinel",
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

/// A node of the world, by its scenario name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeRef {
    /// `redis-<i>`
    Redis(usize),
    /// `client-<i>`
    Client(usize),
    /// `resource`
    Resource,
}

impl NodeRef {
    /// Parses `redis-3`, `client-0`, `resource` (range checks are the caller's).
    pub fn parse(s: &str) -> Option<NodeRef> {
        if s == "resource" {
            return Some(NodeRef::Resource);
        }
        let (kind, idx) = s.split_once('-')?;
        if idx.is_empty() || (idx.len() > 1 && idx.starts_with('0')) {
            return None;
        }
        let i: usize = idx.parse().ok()?;
        match kind {
            "redis" => Some(NodeRef::Redis(i)),
            "client" => Some(NodeRef::Client(i)),
            _ => None,
        }
    }
}

/// Serialized by its scenario name (`"redis-2"`), as scenario files write it.
impl Serialize for NodeRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NodeRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NodeRef, D::Error> {
        let name = String::deserialize(d)?;
        NodeRef::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("not a node name: `{name}`")))
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeRef::Redis(i) => write!(f, "redis-{i}"),
            NodeRef::Client(i) => write!(f, "client-{i}"),
            NodeRef::Resource => f.write_str("resource"),
        }
    }
}

/// A fault: what happens, to whom. Faults are data, recorded in the same
/// history as client operations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// Process crash: unsynced-but-written data survives (page cache).
    /// Down for `for_ms` (default `restart_delay_ms`), then restarted.
    Kill { node: NodeRef, for_ms: Option<u64> },
    /// Machine loses power: only fsynced data survives.
    PowerLoss { node: NodeRef, for_ms: Option<u64> },
    /// Start a crashed node now.
    Restart { node: NodeRef },
    /// Stop-the-world pause (GC, VM steal) of `for_ms`.
    Pause { node: NodeRef, for_ms: u64 },
    /// Cut every link between nodes of different groups; heal after `for_ms`
    /// if given, else at `heal` or the final heal.
    Partition {
        groups: Vec<Vec<NodeRef>>,
        for_ms: Option<u64>,
    },
    /// Undo every partition.
    Heal,
    /// Step the node's wall clock by `by_ms` (may be negative).
    ClockJump { node: NodeRef, by_ms: i64 },
    /// Set the node's clock rate to `ppm`.
    ClockDrift { node: NodeRef, ppm: f64 },
}

impl Fault {
    /// The scenario-file name of the fault kind.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Fault::Kill { .. } => "kill",
            Fault::PowerLoss { .. } => "power-loss",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Partition { .. } => "partition",
            Fault::Heal => "heal",
            Fault::ClockJump { .. } => "clock-jump",
            Fault::ClockDrift { .. } => "clock-drift",
        }
    }
}

/// An event of the run that can trigger a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "kebab-case")]
pub enum Trigger {
    /// `acquired:client-i`: client i's acquire returned success.
    Acquired { client: usize },
    /// `granted:redis-j:client-i`: node j accepted client i's lock write.
    Granted { node: usize, client: usize },
    /// `released:client-i`: client i starts its release.
    Released { client: usize },
    /// `renewed:client-i`: client i's watchdog renewed the lock.
    Renewed { client: usize },
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Acquired { client } => write!(f, "acquired:client-{client}"),
            Trigger::Granted { node, client } => write!(f, "granted:redis-{node}:client-{client}"),
            Trigger::Released { client } => write!(f, "released:client-{client}"),
            Trigger::Renewed { client } => write!(f, "renewed:client-{client}"),
        }
    }
}

/// When a fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum When {
    /// At this true simulated time.
    At { at_ms: u64 },
    /// `delay_ms` after the `nth` (1-based) occurrence of `trigger`.
    On {
        trigger: Trigger,
        nth: u32,
        delay_ms: u64,
    },
}

/// One `[[faults]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub when: When,
    pub fault: Fault,
}

/// A rate of random faults per simulated second, with a length range.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateSpan {
    pub rate: f64,
    pub ms: Span<i64>,
}

/// `[nemesis]`: random faults for hunting. All rates zero = no nemesis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Nemesis {
    pub kill: f64,
    pub power_loss: f64,
    pub pause: RateSpan,
    pub clock_jump: RateSpan,
    pub partition: RateSpan,
}

impl Nemesis {
    /// True when every rate is zero.
    pub fn is_quiet(&self) -> bool {
        self.kill == 0.0
            && self.power_loss == 0.0
            && self.pause.rate == 0.0
            && self.clock_jump.rate == 0.0
            && self.partition.rate == 0.0
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
}

impl Scenario {
    /// True time (ms) at which every fault is undone.
    pub fn heal_ms(&self) -> u64 {
        (self.duration_ms as f64 * self.heal_at).round() as u64
    }

    /// Every node name of the world, in a stable order.
    pub fn node_refs(&self) -> Vec<NodeRef> {
        let mut v: Vec<NodeRef> = (0..self.redis.nodes).map(NodeRef::Redis).collect();
        v.extend((0..self.clients.count).map(NodeRef::Client));
        v.push(NodeRef::Resource);
        v
    }
}
