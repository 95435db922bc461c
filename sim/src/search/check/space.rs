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
//! | `kill` | every Redis node; every client (restarted at once) | down for the restart delay; TTL + 10%; failover + TTL (Sentinel) |
//! | `power-loss` | every Redis node, only under `aof-everysec` (elsewhere it loses exactly what a kill loses) | as `kill` |
//! | `pause` | every node | TTL / 2; TTL + 10%; 2 x TTL; failover + TTL (Redis nodes, Sentinel) |
//! | `clock-jump` | every node, forward | TTL / 2; 2 x TTL |
//! | `partition` | each node cut off alone; under Sentinel also the master with the point's client | TTL + 10%; failover + TTL (Sentinel) |

use super::points::Point;
use crate::model::{Fault, NodeRef, Persistence, Scenario, Topology};
use std::fmt;

/// A kind of fault `locksim check` can place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Kill,
    PowerLoss,
    Pause,
    ClockJump,
    Partition,
}

impl Kind {
    /// Every kind, in the order a point tries them.
    pub const ALL: [Kind; 5] = [
        Kind::Kill,
        Kind::PowerLoss,
        Kind::Pause,
        Kind::ClockJump,
        Kind::Partition,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Kill => "kill",
            Kind::PowerLoss => "power-loss",
            Kind::Pause => "pause",
            Kind::ClockJump => "clock-jump",
            Kind::Partition => "partition",
        }
    }

    /// Parses `kill,pause,...`. `memory-pressure` is refused with the
    /// reason (this build has no memory model).
    pub fn parse_list(s: &str) -> Result<Vec<Kind>, String> {
        let mut out = Vec::new();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let k = match word {
                "kill" => Kind::Kill,
                "power-loss" => Kind::PowerLoss,
                "pause" => Kind::Pause,
                "clock-jump" => Kind::ClockJump,
                "partition" => Kind::Partition,
                "memory-pressure" => {
                    return Err("`memory-pressure` needs the Redis memory model (maxmemory and eviction), which this build does not have yet".into())
                }
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
/// nonzero rate, or every kind when it has none.
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
    if out.is_empty() {
        out = Kind::ALL.to_vec();
    }
    out
}

fn dedup_sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v.dedup();
    v
}

/// The faults to try at `p`, in a fixed order: kind, node, length.
pub fn faults_at(s: &Scenario, alphabet: &[Kind], p: &Point) -> Vec<Fault> {
    let ttl = s.lock.ttl_ms.max(2);
    let around = ttl + ttl / 10;
    let sentinel = s.redis.topology == Topology::Sentinel;
    let failover = s.redis.failover_after_ms + ttl;
    let restart = s.redis.restart_delay_ms;
    let redis: Vec<NodeRef> = (0..s.redis.nodes).map(NodeRef::Redis).collect();
    let clients: Vec<NodeRef> = (0..s.clients.count).map(NodeRef::Client).collect();
    let mut down = vec![restart, around.max(restart)];
    if sentinel {
        down.push(failover.max(restart));
    }
    let down = dedup_sorted(down);
    let mut out = Vec::new();
    for &kind in alphabet {
        match kind {
            Kind::Kill | Kind::PowerLoss => {
                let power = kind == Kind::PowerLoss;
                if power && s.redis.persistence != Persistence::AofEverysec {
                    continue;
                }
                for &node in &redis {
                    for &ms in &down {
                        let for_ms = Some(ms);
                        out.push(match power {
                            true => Fault::PowerLoss { node, for_ms },
                            false => Fault::Kill { node, for_ms },
                        });
                    }
                }
                if !power {
                    for &node in &clients {
                        out.push(Fault::Kill { node, for_ms: None });
                    }
                }
            }
            Kind::Pause => {
                for &node in redis.iter().chain(&clients) {
                    let mut lens = vec![ttl / 2, around, 2 * ttl];
                    if sentinel && matches!(node, NodeRef::Redis(_)) {
                        lens.push(failover);
                    }
                    for for_ms in dedup_sorted(lens) {
                        out.push(Fault::Pause { node, for_ms });
                    }
                }
            }
            Kind::ClockJump => {
                for &node in redis.iter().chain(&clients) {
                    for by_ms in dedup_sorted(vec![ttl / 2, 2 * ttl]) {
                        out.push(Fault::ClockJump {
                            node,
                            by_ms: by_ms as i64,
                        });
                    }
                }
            }
            Kind::Partition => {
                let mut lens = vec![around];
                if sentinel {
                    lens.push(failover);
                }
                let lens = dedup_sorted(lens);
                let mut cuts: Vec<Vec<NodeRef>> =
                    redis.iter().chain(&clients).map(|&n| vec![n]).collect();
                if sentinel {
                    if let Some(c @ NodeRef::Client(_)) = p.node {
                        // The master (redis-0 until a failover) with the client.
                        cuts.push(vec![NodeRef::Redis(0), c]);
                    }
                }
                let all: Vec<NodeRef> = redis.iter().chain(&clients).copied().collect();
                for side in cuts {
                    let rest: Vec<NodeRef> =
                        all.iter().filter(|n| !side.contains(n)).copied().collect();
                    for &ms in &lens {
                        out.push(Fault::Partition {
                            groups: vec![side.clone(), rest.clone()],
                            for_ms: Some(ms),
                        });
                    }
                }
            }
        }
    }
    out
}
