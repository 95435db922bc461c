//! The world owns the state: the history, every node's clock, which nodes
//! are down or paused, the resource, the fault triggers.
//!
//! One `World` exists per run, shared (`Arc`) by the tasks of every
//! simulated node. Node processes keep their own volatile state (a Redis
//! keyspace dies with its process); everything that must outlive a crash
//! (clocks, disks, client progress) lives here. Iteration is always over
//! ordered maps, so a run is a pure function of its scenario and seed.

use crate::history::{Event, EventKind};
use crate::model::clock::{Clock, ClockChange};
use crate::model::{FaultSpec, NodeRef, Scenario, Topology, Trigger, When};
use crate::redis::disk::Disk;
use crate::world::resource::ResourceState;
use crate::world::server::sentinel::Topo;
use madsim::runtime::NodeHandle;
use madsim::task::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Mutable state of a run.
pub struct State {
    pub history: Vec<Event>,
    pub clocks: BTreeMap<NodeRef, Clock>,
    pub ids: BTreeMap<NodeRef, NodeId>,
    /// Successful cycles per client (survives client crashes).
    pub progress: Vec<u32>,
    /// Clients that finished every cycle.
    pub done: BTreeSet<usize>,
    /// Occurrences of each trigger so far.
    pub trigger_counts: Vec<(Trigger, u32)>,
    pub next_id: u64,
    pub next_session: u64,
    pub resource: ResourceState,
    /// The Redis node clients of a `single` or `sentinel` topology talk to.
    pub master: usize,
    /// Crashed nodes that have not restarted yet.
    pub down: BTreeSet<NodeRef>,
    /// Per crashed node: the crash's sequence number and its true time
    /// (µs), so that a restart timer ends only the crash it was set for.
    pub crashed: BTreeMap<NodeRef, (u64, u64)>,
    pub crash_seq: u64,
    /// Paused nodes, with the pause generation (a later pause supersedes).
    pub paused: BTreeMap<NodeRef, u64>,
    pub pause_generation: u64,
    /// Clogged links (both directions recorded), as node pairs.
    pub cuts: BTreeSet<(NodeRef, NodeRef)>,
    /// Wakes a Redis node's active-expiry task when its clock changes.
    pub expiry_wakers: BTreeMap<usize, Arc<Notify>>,
    /// The node that runs fault timers (never faulted itself).
    pub nemesis: Option<NodeHandle>,
    /// Per Redis node: its disk (survives crashes; see `disk`).
    pub disks: Vec<Disk>,
    /// Roles, replication offsets and clients' view of the master
    /// (meaningful in the sentinel topology; see `sentinel`).
    pub repl: Topo,
    /// Wakes the sentinel when a node goes down or up, a partition starts
    /// or heals, or a pause starts or ends.
    pub sentinel_wake: Option<Arc<Notify>>,
    /// Set once the run is over: late events are dropped.
    pub closed: bool,
}

/// The shared world of one run.
pub struct World {
    pub scenario: Scenario,
    pub seed: u64,
    start: madsim::time::Instant,
    state: Mutex<State>,
    /// Notified when the last client finishes.
    pub all_done: Notify,
}

impl World {
    /// A world at true time zero. `clocks` holds every node's initial clock.
    pub fn new(scenario: Scenario, seed: u64, clocks: BTreeMap<NodeRef, Clock>) -> World {
        let clients = scenario.clients.count;
        World {
            seed,
            start: madsim::time::Instant::now(),
            state: Mutex::new(State {
                history: Vec::with_capacity(1024),
                clocks,
                ids: BTreeMap::new(),
                progress: vec![0; clients],
                done: BTreeSet::new(),
                trigger_counts: Vec::new(),
                next_id: 1,
                next_session: 1,
                resource: ResourceState::default(),
                master: 0,
                down: BTreeSet::new(),
                crashed: BTreeMap::new(),
                crash_seq: 0,
                paused: BTreeMap::new(),
                pause_generation: 0,
                cuts: BTreeSet::new(),
                expiry_wakers: BTreeMap::new(),
                nemesis: None,
                disks: vec![Disk::default(); scenario.redis.nodes],
                repl: Topo::new(
                    scenario.redis.nodes,
                    clients,
                    scenario.redis.topology == Topology::Sentinel,
                ),
                sentinel_wake: None,
                closed: false,
            }),
            scenario,
            all_done: Notify::new(),
        }
    }

    /// Locks the state. Never hold the guard across an await.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("world state poisoned")
    }

    /// True time since the start of the run, in µs.
    pub fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// `node`'s monotonic clock now, ms.
    pub fn mono_ms(&self, node: NodeRef) -> u64 {
        let t = self.now_us();
        self.state().clocks[&node].mono_ms(t)
    }

    /// `node`'s wall clock now, Unix ms.
    pub fn wall_ms(&self, node: NodeRef) -> i64 {
        let t = self.now_us();
        self.state().clocks[&node].wall_ms(t)
    }

    /// How much true time passes while `node`'s clock advances `local_ms`.
    pub fn true_duration(&self, node: NodeRef, local_ms: u64) -> Duration {
        let t = self.now_us();
        let ppm = self.state().clocks[&node].drift_ppm(t);
        let us = (local_ms as f64 * 1000.0 / (1.0 + ppm / 1e6)).round() as u64;
        Duration::from_micros(us.max(1))
    }

    /// A fresh request id.
    pub fn next_id(&self) -> u64 {
        let mut st = self.state();
        st.next_id += 1;
        st.next_id
    }

    /// Changes `node`'s clock now and records nothing (the fault module
    /// records the fault). Wakes the node's expiry task so it re-plans.
    pub fn change_clock(&self, node: NodeRef, change: ClockChange) {
        let t = self.now_us();
        let waker = {
            let mut st = self.state();
            st.clocks
                .get_mut(&node)
                .expect("every node has a clock")
                .apply(t, change);
            match node {
                NodeRef::Redis(i) => st.expiry_wakers.get(&i).cloned(),
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.notify_one();
        }
    }

    /// Appends an event stamped with the true time and `node`'s clocks,
    /// then fires the faults it triggers.
    pub fn record(self: &Arc<Self>, node: Option<NodeRef>, kind: EventKind) {
        let t_us = self.now_us();
        let fired = {
            let mut st = self.state();
            if st.closed {
                return;
            }
            let (mono_ms, wall_ms) = match node.and_then(|n| st.clocks.get(&n)) {
                Some(c) => (Some(c.mono_ms(t_us)), Some(c.wall_ms(t_us))),
                None => (None, None),
            };
            let trigger = trigger_of(&kind);
            if changes_reachability(&kind) {
                if let Some(w) = &st.sentinel_wake {
                    w.notify_one();
                }
            }
            st.history.push(Event {
                t_us,
                node,
                mono_ms,
                wall_ms,
                kind,
            });
            match trigger {
                Some(tr) => self.count_trigger(&mut st, tr),
                None => Vec::new(),
            }
        };
        for (spec, trigger, delay_ms) in fired {
            crate::world::fault::schedule(
                self,
                spec,
                Some(trigger),
                Duration::from_millis(delay_ms),
            );
        }
    }

    fn count_trigger(&self, st: &mut State, trigger: Trigger) -> Vec<(FaultSpec, Trigger, u64)> {
        let count = match st.trigger_counts.iter_mut().find(|(t, _)| *t == trigger) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                st.trigger_counts.push((trigger, 1));
                1
            }
        };
        self.scenario
            .faults
            .iter()
            .filter_map(|spec| match spec.when {
                When::On {
                    trigger: t,
                    nth,
                    delay_ms,
                } if t == trigger && nth == count => Some((spec.clone(), trigger, delay_ms)),
                _ => None,
            })
            .collect()
    }

    /// Marks a client's cycle done; wakes the run when every client is.
    pub fn cycle_done(&self, client: usize) -> u32 {
        let mut st = self.state();
        st.progress[client] += 1;
        st.progress[client]
    }

    /// Marks `client` finished; notifies the run when all are.
    pub fn client_finished(&self, client: usize) {
        let all = {
            let mut st = self.state();
            st.done.insert(client);
            st.done.len() == self.scenario.clients.count
        };
        if all {
            self.all_done.notify_one();
        }
    }

    /// The madsim id of a node.
    pub fn node_id(&self, node: NodeRef) -> NodeId {
        self.state().ids[&node]
    }

    /// Takes the history out at the end of a run; later events are dropped.
    pub fn close(&self) -> Vec<Event> {
        let mut st = self.state();
        st.closed = true;
        std::mem::take(&mut st.history)
    }
}

/// Whether an event may change which nodes Sentinel can reach.
fn changes_reachability(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::FaultInjected { .. }
            | EventKind::FaultHealed { .. }
            | EventKind::NodeUp { .. }
            | EventKind::NodeDown { .. }
            | EventKind::HealAll
    )
}

/// The trigger an event fires, if any.
fn trigger_of(kind: &EventKind) -> Option<Trigger> {
    match *kind {
        EventKind::AcquireOk { client, .. } => Some(Trigger::Acquired { client }),
        EventKind::Granted { node, client } => Some(Trigger::Granted { node, client }),
        EventKind::ReleaseInvoke { client } => Some(Trigger::Released { client }),
        EventKind::Extended { client, .. } => Some(Trigger::Renewed { client }),
        _ => None,
    }
}
