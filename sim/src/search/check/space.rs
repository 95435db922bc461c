//! The faults `locksim check` tries at a decision point: each kind of its
//! alphabet, on each node it applies to, for the few lengths that matter.
//!
//! Lengths bracket the two clocks a lock lives by: shorter than, around
//! and longer than the TTL, and for Sentinel the failover timeout plus the
//! TTL (long enough for a replica to be promoted and the old lease to
//! lapse). A Redis node is never brought back sooner than
//! `restart_delay_ms`: the operator's restart policy is part of the setup
//! being checked, not a fault.
//!
//! | kind | nodes | lengths |
//! |---|---|---|
//! | `kill` | every Redis node; every client (restarted at once) | down for the restart delay; TTL + 10%; 2 x TTL; failover + TTL (Sentinel); never less than the restart delay |
//! | `power-loss` | every Redis node, only under `aof-everysec` (elsewhere it loses exactly what a kill loses) | as `kill` |
//! | `pause` | every client and Redis node | TTL / 2; TTL + 10%; 2 x TTL; failover + TTL (Redis nodes, Sentinel) |
//! | `clock-jump` | every client and Redis node, forward | TTL / 2; TTL + 10%; 2 x TTL |
//! | `partition` | each node cut off from everyone; each client cut off from the Redis nodes only (it still reaches the resource); under Sentinel also the master with the point's client, on a cluster the lock key's shard master with it | TTL / 2; TTL + 10%; 2 x TTL; failover + TTL (Sentinel), election + TTL (cluster); with `client_retries`, half the request timeout (a lost reply healed before the client library re-sends) |
//! | `memory-pressure` | every Redis node, only with a `maxmemory_bytes` | filler without a TTL of the room under the limit (`maxmemory` less the empty node's baseline: just enough to reach it, so `noeviction` refuses and a `volatile-*` policy has only TTL keys, the lock's, to evict), 2 x and 4 x that (an `allkeys-*` policy evicts more keys, so the lock is more likely among them); each for TTL / 10 (a burst that is gone while the holder still works), TTL / 2 and TTL + 10% |
//!
//! At one point the nodes come most relevant first (the point's client,
//! the node the event happened on, then the rest) and lengths longest
//! first: that order only decides which of several counterexamples at the
//! same instant is reported, and how soon a violation is met.

use super::points::{Point, PointKind};
use crate::model::{Fault, NodeRef, Persistence, Scenario, Topology};
use crate::redis::MemoryConfig;
use crate::scenario::MAX_PRESSURE_BYTES;
use std::fmt;

/// A kind of fault `locksim check` can place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Kill,
    PowerLoss,
    Pause,
    ClockJump,
    Partition,
    MemoryPressure,
}

impl Kind {
    /// Every kind, in the order a point tries them.
    pub const ALL: [Kind; 6] = [
        Kind::Kill,
        Kind::PowerLoss,
        Kind::Pause,
        Kind::ClockJump,
        Kind::Partition,
        Kind::MemoryPressure,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Kill => "kill",
            Kind::PowerLoss => "power-loss",
            Kind::Pause => "pause",
            Kind::ClockJump => "clock-jump",
            Kind::Partition => "partition",
            Kind::MemoryPressure => "memory-pressure",
        }
    }

    /// Why this kind cannot be tried on `s`, if it cannot: memory pressure
    /// needs a limit to press against.
    pub fn unusable_on(self, s: &Scenario) -> Option<String> {
        (self == Kind::MemoryPressure && s.redis.maxmemory_bytes == 0).then(|| {
            "`memory-pressure` needs [redis] maxmemory_bytes in the scenario: without a limit \
             Redis just grows and nothing is evicted or refused"
                .to_string()
        })
    }

    /// Parses `kill,pause,...`.
    pub fn parse_list(s: &str) -> Result<Vec<Kind>, String> {
        let mut out = Vec::new();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let k = match word {
                "kill" => Kind::Kill,
                "power-loss" => Kind::PowerLoss,
                "pause" => Kind::Pause,
                "clock-jump" => Kind::ClockJump,
                "partition" => Kind::Partition,
                "memory-pressure" => Kind::MemoryPressure,
                other => {
                    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                    return Err(format!(
                        "unknown fault kind `{other}`; known: {}",
                        known.join(", ")
                    ));
                }
            };
            if !out.contains(&k) {
                out.push(k);
            }
        }
        if out.is_empty() {
            return Err("the alphabet is empty".into());
        }
        out.sort();
        Ok(out)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The alphabet a scenario's `[nemesis]` implies: the classes with a
/// nonzero rate, or every kind when it has none (memory pressure only
/// with a `maxmemory`).
pub fn alphabet_of(s: &Scenario) -> Vec<Kind> {
    let n = &s.nemesis;
    let mut out = Vec::new();
    if n.kill > 0.0 {
        out.push(Kind::Kill);
    }
    if n.power_loss > 0.0 {
        out.push(Kind::PowerLoss);
    }
    if n.pause.rate > 0.0 {
        out.push(Kind::Pause);
    }
    if n.clock_jump.rate > 0.0 {
        out.push(Kind::ClockJump);
    }
    if n.partition.rate > 0.0 {
        out.push(Kind::Partition);
    }
    if n.memory_pressure.rate > 0.0 {
        out.push(Kind::MemoryPressure);
    }
    if out.is_empty() {
        out = Kind::ALL
            .into_iter()
            .filter(|k| k.unusable_on(s).is_none())
            .collect();
    }
    out
}

fn dedup_sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v.dedup();
    v
}

/// The nodes a fault at `p` is tried on, most relevant first: the point's
/// client, the node the event happened on (after the other Redis nodes
/// when it is a node that just came back), the other Redis nodes, the
/// other clients. The order within one point only decides which of
/// several counterexamples at the same instant is reported, and how soon
/// a violation is met.
fn nodes_for(s: &Scenario, p: &Point) -> Vec<NodeRef> {
    let mut out: Vec<NodeRef> = Vec::new();
    let mut add = |n: NodeRef| {
        if !out.contains(&n) {
            out.push(n);
        }
    };
    if let Some(c) = p.client {
        add(NodeRef::Client(c));
    }
    // A node that just came back matters through the others: its master
    // dying before it resynced leaves it behind.
    if let (Some(n @ NodeRef::Redis(_)), false) = (p.node, p.kind == PointKind::Restart) {
        add(n);
    }
    for i in 0..s.redis.nodes {
        if Some(NodeRef::Redis(i)) != p.node {
            add(NodeRef::Redis(i));
        }
    }
    for i in 0..s.redis.nodes {
        add(NodeRef::Redis(i));
    }
    for i in 0..s.clients.count {
        add(NodeRef::Client(i));
    }
    out
}

/// Lengths, longest first (the most disruptive first).
fn longest_first(v: Vec<u64>) -> Vec<u64> {
    let mut v = dedup_sorted(v);
    v.reverse();
    v
}

/// The faults to try at `p`, in a fixed order: kind, node (most relevant
/// first), length (longest first).
pub fn faults_at(s: &Scenario, alphabet: &[Kind], p: &Point) -> Vec<Fault> {
    let ttl = s.lock.ttl_ms.max(2);
    let around = ttl + ttl / 10;
    let sentinel = s.redis.topology == Topology::Sentinel;
    let failover = s.redis.failover_after_ms + ttl;
    let restart = s.redis.restart_delay_ms;
    let nodes = nodes_for(s, p);
    let mut down = vec![restart, around.max(restart), (2 * ttl).max(restart)];
    if sentinel {
        down.push(failover.max(restart));
    }
    if s.redis.topology == Topology::Cluster {
        // Long enough for the cluster to elect a replica (2 x node
        // timeout + 1 s at the latest, see `world::cluster`), plus a TTL.
        let elected = 2 * s.redis.cluster_node_timeout_ms + 1_000 + ttl;
        down.push(elected.max(restart));
    }
    // Shortest first: a node back as soon as the restart policy allows
    // comes back empty or stale while its clients still run, the most
    // disruptive; longer ones add a failover or an expired lock.
    let down = dedup_sorted(down);
    // The other side of a master cut off with the point's client: Sentinel
    // fails over, a cluster elects the shard's replica.
    let takeover = match s.redis.topology {
        Topology::Sentinel => Some((NodeRef::Redis(0), failover)),
        Topology::Cluster => {
            let ranges = crate::model::slots::slot_ranges(s.redis.shards);
            let slot = crate::model::slots::key_hash_slot(s.lock.key.as_bytes());
            let shard = crate::model::slots::range_of(&ranges, slot).unwrap_or(0);
            let elected = 2 * s.redis.cluster_node_timeout_ms + 1_000 + ttl;
            Some((NodeRef::Redis(shard), elected))
        }
        _ => None,
    };
    let mut out = Vec::new();
    for &kind in alphabet {
        match kind {
            Kind::Kill | Kind::PowerLoss => {
                let power = kind == Kind::PowerLoss;
                if power && s.redis.persistence != Persistence::AofEverysec {
                    continue;
                }
                // Redis nodes first: a client's crash costs liveness for a
                // TTL and can never let two clients in by itself.
                let (redis, others): (Vec<NodeRef>, Vec<NodeRef>) =
                    nodes.iter().partition(|n| matches!(n, NodeRef::Redis(_)));
                for &node in redis.iter().chain(&others) {
                    match node {
                        NodeRef::Redis(_) => {
                            for &ms in &down {
                                let for_ms = Some(ms);
                                out.push(match power {
                                    true => Fault::PowerLoss { node, for_ms },
                                    false => Fault::Kill { node, for_ms },
                                });
                            }
                        }
                        _ if !power => out.push(Fault::Kill { node, for_ms: None }),
                        _ => {}
                    }
                }
            }
            Kind::Pause => {
                for &node in &nodes {
                    let mut lens = vec![ttl / 2, around, 2 * ttl];
                    if sentinel && matches!(node, NodeRef::Redis(_)) {
                        lens.push(failover);
                    }
                    for for_ms in longest_first(lens) {
                        out.push(Fault::Pause { node, for_ms });
                    }
                }
            }
            Kind::ClockJump => {
                for &node in &nodes {
                    for by_ms in longest_first(vec![ttl / 2, around, 2 * ttl]) {
                        out.push(Fault::ClockJump {
                            node,
                            by_ms: by_ms as i64,
                        });
                    }
                }
            }
            Kind::Partition => partitions(s, p, &nodes, around, takeover, &mut out),
            Kind::MemoryPressure => memory_pressure(s, &nodes, around, &mut out),
        }
    }
    out
}

/// Filler of the room under the limit, twice and four times that, on
/// each Redis node, for TTL / 10, TTL / 2 and TTL + 10%.
fn memory_pressure(s: &Scenario, nodes: &[NodeRef], around: u64, out: &mut Vec<Fault>) {
    if s.redis.maxmemory_bytes == 0 {
        return;
    }
    let base = MemoryConfig::of(&s.redis, s.clients.count).baseline_bytes;
    let room = s.redis.maxmemory_bytes.saturating_sub(base).max(1);
    let sizes = longest_first(
        [room, 2 * room, 4 * room]
            .map(|b| b.min(MAX_PRESSURE_BYTES))
            .to_vec(),
    );
    let ttl = s.lock.ttl_ms.max(10);
    let lens = longest_first(vec![ttl / 10, ttl / 2, around]);
    for &node in nodes.iter().filter(|n| matches!(n, NodeRef::Redis(_))) {
        for &bytes in &sizes {
            for &ms in &lens {
                out.push(Fault::MemoryPressure {
                    node,
                    bytes,
                    ttl_ms: None,
                    for_ms: Some(ms),
                });
            }
        }
    }
}

/// Each node cut off alone (a client either from everything or from the
/// Redis nodes only, keeping its link to the resource: the holder that is
/// not told), and where a replica can take over (`takeover`: the master
/// and how long the takeover plus a TTL takes) that master with the
/// point's client.
fn partitions(
    s: &Scenario,
    p: &Point,
    nodes: &[NodeRef],
    around: u64,
    takeover: Option<(NodeRef, u64)>,
    out: &mut Vec<Fault>,
) {
    let ttl = s.lock.ttl_ms.max(2);
    // A client library that re-sends: a cut that heals before it does.
    let resend = (s.lock.client_retries > 0).then_some(s.lock.request_timeout_ms / 2);
    let lens = longest_first(
        [
            Some(ttl / 2),
            Some(around),
            Some(2 * ttl),
            takeover.map(|t| t.1),
            resend,
        ]
        .into_iter()
        .flatten()
        .filter(|&ms| ms > 0)
        .collect(),
    );
    let redis: Vec<NodeRef> = (0..s.redis.nodes).map(NodeRef::Redis).collect();
    let mut cuts: Vec<(Vec<NodeRef>, Vec<NodeRef>)> = Vec::new();
    if let Some((master, _)) = takeover {
        if let Some(c) = p.client {
            let side = vec![master, NodeRef::Client(c)];
            let rest = everyone_but(s, &side);
            cuts.push((side, rest));
        }
    }
    for &n in nodes {
        cuts.push((vec![n], everyone_but(s, &[n])));
        if matches!(n, NodeRef::Client(_)) {
            cuts.push((vec![n], redis.clone()));
        }
    }
    for (side, rest) in cuts {
        for &ms in &lens {
            out.push(Fault::Partition {
                groups: vec![side.clone(), rest.clone()],
                for_ms: Some(ms),
            });
        }
    }
}

/// Every node of the world (the resource included) but `side`.
fn everyone_but(s: &Scenario, side: &[NodeRef]) -> Vec<NodeRef> {
    s.node_refs()
        .into_iter()
        .filter(|n| !side.contains(n))
        .collect()
}
