//! Redis Sentinel (topology `sentinel`): failure detection, promotion,
//! client redirection, and the demotion of an old master.
//!
//! The model is one Sentinel per Redis machine, deciding by majority, run
//! as a single logical process on the world's never-faulted nemesis node:
//!
//! - A Redis node is **visible** when it is up, not paused, and reaches (no
//!   cut link) a majority of all Redis nodes, itself included: a node on
//!   the minority side of a partition, like a crashed or frozen one, is
//!   what the Sentinels of the majority cannot see.
//! - The master is **down** while it is not visible. Once it has been down
//!   for `failover_after_ms` (Sentinel's `down-after-milliseconds`, the
//!   election and the promotion folded into one delay), the visible replica
//!   with the largest applied offset (linked replicas first, then the
//!   lowest index, as Sentinel's priority/offset/run-id order) becomes
//!   master (`REPLICAOF NO ONE`) and every visible node is pointed at it.
//!   With no visible replica nothing happens until one appears.
//! - Every node gets its role as soon as it is visible: an old master that
//!   was isolated or down is demoted when it comes back (healed,
//!   restarted), then full-resyncs from the new master and loses whatever
//!   it accepted alone. Until then it keeps taking writes from the clients
//!   that still point at it (split brain).
//! - Clients learn the master as Sentinel clients do: a client that can
//!   reach some visible node (a Sentinel) switches to the current master;
//!   a client cut off with the old master keeps using the old master.
//!
//! Roles are handed to the node processes through the world ([`Conf`] plus
//! a wake-up), not through the network: the reachability rule above
//! already decides who can hear Sentinel. The sentinel acts only when
//! something changes (a fault injected or healed, a node down or up) or
//! when a failover timer expires, so it costs nothing in a quiet run.

use crate::history::EventKind;
use crate::model::{NodeRef, Role, Topology};
use crate::world::core::World;
use crate::world::status::Liveness;
use crate::world::topo::{Conf, Topo};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Starts Sentinel for a sentinel topology (nothing otherwise): records
/// the initial roles and spawns the sentinel on the nemesis node.
pub fn start(world: &Arc<World>) {
    if world.scenario().redis.topology != Topology::Sentinel {
        return;
    }
    let wake = Arc::new(Notify::new());
    world.set_sentinel_wake(wake.clone());
    let nemesis = world.nemesis();
    for i in 0..world.scenario().redis.nodes {
        let role = if i == 0 { Role::Master } else { Role::Replica };
        world.record(Some(NodeRef::Redis(i)), EventKind::Role { node: i, role });
    }
    let w = world.clone();
    nemesis.spawn(async move {
        let mut s = Sentinel {
            down_since_us: None,
        };
        loop {
            let due = s.evaluate(&w);
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

struct Sentinel {
    /// True time (µs) since which the current master is down.
    down_since_us: Option<u64>,
}

/// Whether the Sentinels of the majority see `redis-<i>`: it runs and
/// reaches a majority of all Redis nodes, itself included.
pub fn visible(l: &Liveness, nodes: usize, i: usize) -> bool {
    let n = NodeRef::Redis(i);
    if !l.runs(n) {
        return false;
    }
    let reach = (0..nodes)
        .filter(|&j| {
            let m = NodeRef::Redis(j);
            j == i || (l.runs(m) && l.linked(n, m))
        })
        .count();
    reach > nodes / 2
}

/// What the sentinel did in one evaluation, recorded after the state lock
/// is released.
#[derive(Default)]
struct Actions {
    failover: Option<(usize, usize)>,
    roles: Vec<(usize, Role)>,
    clients: Vec<(usize, usize)>,
    wake: Vec<Arc<Notify>>,
}

impl Sentinel {
    /// Looks at the world, acts, and returns the true time (µs) at which
    /// to look again if nothing else happens first.
    fn evaluate(&mut self, world: &Arc<World>) -> Option<u64> {
        let now = world.now_us();
        let nodes = world.scenario().redis.nodes;
        let after_us = world.scenario().redis.failover_after_ms * 1000;
        let mut act = Actions::default();
        let due = world.topo_and_liveness(|topo, l| {
            let master = topo.master;
            let mut due = None;
            if visible(l, nodes, master) {
                self.down_since_us = None;
            } else {
                let since = *self.down_since_us.get_or_insert(now);
                if now >= since + after_us {
                    if let Some(p) = best_replica(topo, l, nodes, master) {
                        topo.master = p;
                        self.down_since_us = None;
                        act.failover = Some((p, master));
                    }
                } else {
                    due = Some(since + after_us);
                }
            }
            push_roles(topo, l, nodes, &mut act);
            redirect_clients(topo, l, nodes, &mut act);
            due
        });
        for w in &act.wake {
            w.notify_one();
        }
        if let Some((node, old_master)) = act.failover {
            world.record(
                Some(NodeRef::Redis(node)),
                EventKind::Failover { node, old_master },
            );
        }
        for (node, role) in act.roles {
            world.record(Some(NodeRef::Redis(node)), EventKind::Role { node, role });
        }
        for (client, master) in act.clients {
            world.record(
                Some(NodeRef::Client(client)),
                EventKind::Redirected { client, master },
            );
        }
        due
    }
}

/// The replica to promote: visible, linked replicas first, then the
/// largest applied offset, then the lowest index.
fn best_replica(topo: &Topo, l: &Liveness, nodes: usize, master: usize) -> Option<usize> {
    (0..nodes)
        .filter(|&i| i != master && visible(l, nodes, i))
        .filter(|&i| matches!(topo.conf[i], Conf::Replica { .. }))
        .max_by_key(|&i| {
            let off = topo.offsets[i];
            (off.is_some(), off.unwrap_or(0), std::cmp::Reverse(i))
        })
}

/// Tells every visible node whose role is stale what it is now.
fn push_roles(topo: &mut Topo, l: &Liveness, nodes: usize, act: &mut Actions) {
    let master = topo.master;
    for i in 0..nodes {
        let want = if i == master {
            Conf::Master
        } else {
            Conf::Replica { of: master }
        };
        if topo.conf[i] == want || !visible(l, nodes, i) {
            continue;
        }
        topo.conf[i] = want;
        let role = if want == Conf::Master {
            Role::Master
        } else {
            Role::Replica
        };
        act.roles.push((i, role));
        act.wake.push(topo.control[i].clone());
    }
    if !act.roles.is_empty() {
        // The master registers its new replicas.
        act.wake.push(topo.control[master].clone());
    }
}

/// Points every client that can reach a Sentinel at the current master.
fn redirect_clients(topo: &mut Topo, l: &Liveness, nodes: usize, act: &mut Actions) {
    let master = topo.master;
    let sentinels: Vec<usize> = (0..nodes).filter(|&i| visible(l, nodes, i)).collect();
    for c in 0..topo.client_master.len() {
        if topo.client_master[c] == master {
            continue;
        }
        let reaches = sentinels
            .iter()
            .any(|&i| l.linked(NodeRef::Client(c), NodeRef::Redis(i)));
        if reaches {
            topo.client_master[c] = master;
            act.clients.push((c, master));
        }
    }
}
