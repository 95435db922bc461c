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
use crate::model::{NodeRef, Topology};
use crate::world::core::{State, World};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What Sentinel told a node to be. Kept in the world: it survives
/// restarts like the rewritten config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conf {
    Master,
    Replica { of: usize },
}

/// The world's view of the replication topology.
#[derive(Debug, Default)]
pub struct Topo {
    /// Per Redis node: its configured role.
    pub conf: Vec<Conf>,
    /// Per Redis node: the offset a linked replica has applied (`None`:
    /// not linked to a master, or not a replica).
    pub offsets: Vec<Option<u64>>,
    /// Per Redis node: wakes its process when `conf` changes.
    pub control: Vec<Arc<Notify>>,
    /// Per client: the master it sends commands to.
    pub client_master: Vec<usize>,
    /// Replication ids handed out so far.
    pub next_run: u64,
}

impl Topo {
    /// `redis-0` master, the rest its replicas (every node a master outside
    /// the sentinel topology).
    pub fn new(nodes: usize, clients: usize, sentinel: bool) -> Topo {
        let conf = (0..nodes)
            .map(|i| match (sentinel, i) {
                (true, i) if i > 0 => Conf::Replica { of: 0 },
                _ => Conf::Master,
            })
            .collect();
        Topo {
            conf,
            offsets: vec![None; nodes],
            control: (0..nodes).map(|_| Arc::new(Notify::new())).collect(),
            client_master: vec![0; clients],
            next_run: 0,
        }
    }
}

/// Starts Sentinel for a sentinel topology (nothing otherwise): records
/// the initial roles and spawns the sentinel on the nemesis node.
pub fn start(world: &Arc<World>) {
    if world.scenario.redis.topology != Topology::Sentinel {
        return;
    }
    let wake = Arc::new(Notify::new());
    let nemesis = {
        let mut st = world.state();
        st.sentinel_wake = Some(wake.clone());
        st.nemesis.clone().expect("the nemesis node exists")
    };
    for i in 0..world.scenario.redis.nodes {
        let role = if i == 0 { "master" } else { "replica" };
        world.record(
            Some(NodeRef::Redis(i)),
            EventKind::Role {
                node: i,
                role: role.into(),
            },
        );
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

/// Up and not paused.
fn alive(st: &State, n: NodeRef) -> bool {
    !st.down.contains(&n) && !st.paused.contains_key(&n)
}

/// No partition cuts the link between `a` and `b`.
fn linked(st: &State, a: NodeRef, b: NodeRef) -> bool {
    !st.cuts.contains(&(a.min(b), a.max(b)))
}

/// Whether the Sentinels of the majority see `redis-<i>`.
pub fn visible(st: &State, nodes: usize, i: usize) -> bool {
    let n = NodeRef::Redis(i);
    if !alive(st, n) {
        return false;
    }
    let reach = (0..nodes)
        .filter(|&j| {
            let m = NodeRef::Redis(j);
            j == i || (alive(st, m) && linked(st, n, m))
        })
        .count();
    reach > nodes / 2
}

/// What the sentinel did in one evaluation, recorded after the state lock
/// is released.
#[derive(Default)]
struct Actions {
    failover: Option<(usize, usize)>,
    roles: Vec<(usize, &'static str)>,
    clients: Vec<(usize, usize)>,
    wake: Vec<Arc<Notify>>,
}

impl Sentinel {
    /// Looks at the world, acts, and returns the true time (µs) at which
    /// to look again if nothing else happens first.
    fn evaluate(&mut self, world: &Arc<World>) -> Option<u64> {
        let now = world.now_us();
        let nodes = world.scenario.redis.nodes;
        let after_us = world.scenario.redis.failover_after_ms * 1000;
        let mut act = Actions::default();
        let due = {
            let mut st = world.state();
            let master = st.master;
            let mut due = None;
            if visible(&st, nodes, master) {
                self.down_since_us = None;
            } else {
                let since = *self.down_since_us.get_or_insert(now);
                if now >= since + after_us {
                    if let Some(p) = best_replica(&st, nodes, master) {
                        st.master = p;
                        self.down_since_us = None;
                        act.failover = Some((p, master));
                    }
                } else {
                    due = Some(since + after_us);
                }
            }
            push_roles(&mut st, nodes, &mut act);
            redirect_clients(&mut st, nodes, &mut act);
            due
        };
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
            world.record(
                Some(NodeRef::Redis(node)),
                EventKind::Role {
                    node,
                    role: role.into(),
                },
            );
        }
        for (client, master) in act.clients {
            world.record(
                Some(NodeRef::Client(client)),
                EventKind::Note {
                    client,
                    text: format!("sentinel: master is redis-{master}"),
                },
            );
        }
        due
    }
}

/// The replica to promote: visible, linked replicas first, then the
/// largest applied offset, then the lowest index.
fn best_replica(st: &State, nodes: usize, master: usize) -> Option<usize> {
    (0..nodes)
        .filter(|&i| i != master && visible(st, nodes, i))
        .filter(|&i| matches!(st.repl.conf[i], Conf::Replica { .. }))
        .max_by_key(|&i| {
            let off = st.repl.offsets[i];
            (off.is_some(), off.unwrap_or(0), std::cmp::Reverse(i))
        })
}

/// Tells every visible node whose role is stale what it is now.
fn push_roles(st: &mut State, nodes: usize, act: &mut Actions) {
    let master = st.master;
    for i in 0..nodes {
        let want = if i == master {
            Conf::Master
        } else {
            Conf::Replica { of: master }
        };
        if st.repl.conf[i] == want || !visible(st, nodes, i) {
            continue;
        }
        st.repl.conf[i] = want;
        act.roles.push((
            i,
            if want == Conf::Master {
                "master"
            } else {
                "replica"
            },
        ));
        act.wake.push(st.repl.control[i].clone());
    }
    if !act.roles.is_empty() {
        // The master registers its new replicas.
        act.wake.push(st.repl.control[master].clone());
    }
}

/// Points every client that can reach a Sentinel at the current master.
fn redirect_clients(st: &mut State, nodes: usize, act: &mut Actions) {
    let master = st.master;
    let sentinels: Vec<usize> = (0..nodes).filter(|&i| visible(st, nodes, i)).collect();
    for c in 0..st.repl.client_master.len() {
        if st.repl.client_master[c] == master {
            continue;
        }
        let reaches = sentinels
            .iter()
            .any(|&i| linked(st, NodeRef::Client(c), NodeRef::Redis(i)));
        if reaches {
            st.repl.client_master[c] = master;
            act.clients.push((c, master));
        }
    }
}
