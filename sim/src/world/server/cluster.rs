//! Redis Cluster in the running world (topology `cluster`): the cluster
//! bus that detects failures and elects replicas, and the view of the
//! cluster each server process answers by.
//!
//! The rules live in [`crate::world::cluster`] as a pure step over every
//! node's beliefs. Here a single logical process on the world's
//! never-faulted nemesis node runs that step whenever reachability may
//! have changed (a fault injected or healed, a node down or up: the same
//! wake-up as Sentinel's) and when the next timer of the rules is due
//! (PFAIL, an election, a rejoin or writable delay), then applies what it
//! decided: history events (`marked-fail`, `cluster-state`, `election`,
//! `failover`, `role`) and role changes handed to the node processes
//! through the world's [`Conf`], as Sentinel does, so replication
//! (`replication.rs`) re-points and full-resyncs exactly as after a
//! Sentinel failover.
//!
//! A server process asks for its view ([`refresh_gate`]) before each
//! command; the view changes only when the beliefs do (a version number),
//! so a quiet run builds it once per process.

use super::core::Core;
use crate::history::EventKind;
use crate::model::{NodeRef, Role, Topology};
use crate::redis::cluster::{slot_ranges, ClusterGate, GateShard};
use crate::world::cluster::{Change, StepEnv};
use crate::world::core::World;
use crate::world::net::{ip_of, REDIS_PORT};
use crate::world::topo::Conf;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The 40-character node id of `redis-<i>` (`CLUSTER MYID`).
pub fn node_id(i: usize) -> String {
    format!("{i:040}")
}

/// Starts the cluster bus for a cluster topology (nothing otherwise):
/// records the initial roles and spawns the bus on the nemesis node.
pub fn start(world: &Arc<World>) {
    if world.scenario().redis.topology != Topology::Cluster {
        return;
    }
    let wake = Arc::new(Notify::new());
    world.set_sentinel_wake(wake.clone());
    let r = &world.scenario().redis;
    for i in 0..r.nodes {
        let role = if i < r.shards {
            Role::Master
        } else {
            Role::Replica
        };
        world.record(Some(NodeRef::Redis(i)), EventKind::Role { node: i, role });
    }
    let w = world.clone();
    world.nemesis().spawn(async move {
        loop {
            let due = evaluate(&w);
            match due {
                None => wake.notified().await,
                Some(at_us) => {
                    let wait = at_us.saturating_sub(w.now_us()).max(1);
                    let _ =
                        madsim::time::timeout(Duration::from_micros(wait), wake.notified()).await;
                }
            }
        }
    });
}

/// One step of the rules now; applies and records what changed. Returns
/// when to look again.
fn evaluate(world: &Arc<World>) -> Option<u64> {
    let now_us = world.now_us();
    let mut wakes: Vec<Arc<Notify>> = Vec::new();
    let (changes, due) = world
        .cluster(|c, topo, l| {
            let offsets = topo.offsets.clone();
            let mut rand = |n: u64| madsim::rand::thread_rng().gen_range(0..n.max(1));
            let (changes, due) = c.step(&mut StepEnv {
                now_us,
                liveness: l,
                offsets: &offsets,
                rand: &mut rand,
            });
            for ch in &changes {
                if let Change::Role { node, of } = *ch {
                    topo.conf[node] = match of {
                        None => Conf::Master,
                        Some(m) => Conf::Replica { of: m },
                    };
                    wakes.push(topo.control[node].clone());
                    wakes.push(topo.control[of.unwrap_or(node)].clone());
                }
            }
            (changes, due)
        })
        .expect("the cluster bus runs only in a cluster");
    for w in wakes {
        w.notify_one();
    }
    for ch in changes {
        let (at, kind) = match ch {
            Change::MarkedFail { node, failed } => (node, EventKind::MarkedFail { node, failed }),
            Change::State { node, ok } => (node, EventKind::ClusterState { node, ok }),
            Change::Election {
                node,
                epoch,
                votes,
                needed,
            } => (
                node,
                EventKind::Election {
                    node,
                    epoch,
                    votes,
                    needed,
                },
            ),
            Change::Promoted { node, old_master } => {
                (node, EventKind::Failover { node, old_master })
            }
            Change::Role { node, of } => {
                let role = if of.is_none() {
                    Role::Master
                } else {
                    Role::Replica
                };
                (node, EventKind::Role { node, role })
            }
        };
        world.record(Some(NodeRef::Redis(at)), kind);
    }
    due
}

/// `redis-<idx>` crashed: its flags, timers and cluster state are gone
/// (its `nodes.conf` stays).
pub fn on_crash(world: &World, idx: usize) {
    world.cluster(|c, _, _| c.crash(idx));
}

/// Gives the node process `core` its current view of the cluster if it
/// changed since it last looked, or if its keyspace was replaced (a load,
/// a full resync); nothing outside a cluster.
pub fn refresh_gate(core: &Core) {
    let world = &core.world;
    let r = &world.scenario().redis;
    let gate = world.cluster(|c, topo, _| {
        let has_gate = core.node.borrow().cluster().is_some();
        if c.version == core.cluster_seen.get() && has_gate {
            return None;
        }
        core.cluster_seen.set(c.version);
        let me = core.idx;
        let view = &c.nodes[me];
        let ranges = slot_ranges(r.shards);
        let shards = (0..r.shards)
            .map(|s| {
                let master = view.owners[s].0;
                GateShard {
                    first: ranges[s].0,
                    last: ranges[s].1,
                    master,
                    // `isReplicaAvailable`: not FAIL, and has applied some
                    // of the stream.
                    replicas: r
                        .shard_nodes(s)
                        .into_iter()
                        .filter(|&n| n != master && !c.failed_in_view_of(me, n))
                        .filter(|&n| topo.offsets[n].is_some_and(|o| o > 0))
                        .collect(),
                }
            })
            .collect();
        Some(ClusterGate {
            me,
            shards,
            nodes: (0..r.nodes)
                .map(|i| {
                    let ip = ip_of(NodeRef::Redis(i)).to_string();
                    (ip, REDIS_PORT, node_id(i))
                })
                .collect(),
            ok: c.ok(me),
        })
    });
    if let Some(Some(gate)) = gate {
        core.node.borrow_mut().set_cluster(Some(Arc::new(gate)));
    }
}
