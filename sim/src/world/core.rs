//! The world owns the state of one run: the history, every node's clock,
//! which nodes are up, paused or down ([`Liveness`]), the cut links, the
//! disks, the replication topology, the resource, the clients' progress.
//!
//! One `World` exists per run, shared (`Arc`) by the tasks of every
//! simulated node. Node processes keep their own volatile state (a Redis
//! keyspace dies with its process); everything that must outlive a crash
//! lives here, behind methods. Iteration is always over ordered maps, so a
//! run is a pure function of its scenario and seed.
//!
//! The world is passive: recording an event appends it and returns what
//! it triggers ([`Triggers`]); the faults it triggers wait in a queue that
//! the run loop drains ([`World::take_fired`]) and injects. The world never
//! injects a fault itself.

use super::cluster::Cluster;
use super::status::Liveness;
use super::topo::Topo;
use crate::history::triggers::{Fired, Triggers};
use crate::history::{Event, EventKind, KeyCause};
use crate::model::clock::{Clock, ClockChange};
use crate::model::{NodeRef, ResourceOp, ResourceState, Scenario, Topology, WriteOutcome};
use crate::profile::{self, Part};
use crate::redis::disk::Disk;
use madsim::runtime::NodeHandle;
use madsim::task::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// A node's copy of a watched key, as last recorded: owner, expiry.
type KeyState = (Option<Vec<u8>>, Option<i64>);

/// Mutable state of a run.
struct State {
    history: Vec<Event>,
    clocks: BTreeMap<NodeRef, Clock>,
    ids: BTreeMap<NodeRef, NodeId>,
    /// Nodes whose process has started at least once.
    booted: BTreeSet<NodeRef>,
    liveness: Liveness,
    /// Successful cycles per client (survives client crashes).
    progress: Vec<u32>,
    /// Clients that finished every cycle.
    done: BTreeSet<usize>,
    triggers: Triggers,
    /// Faults triggered and not yet taken by the run loop.
    fired: Vec<Fired>,
    next_id: u64,
    next_session: u64,
    resource: ResourceState,
    /// Wakes a Redis node's active-expiry task when its clock changes.
    expiry_wakers: BTreeMap<usize, Arc<Notify>>,
    /// The node that runs fault timers (never faulted itself).
    nemesis: Option<NodeHandle>,
    /// Per Redis node: its disk (survives crashes).
    disks: Vec<Disk>,
    topo: Topo,
    /// Redis Cluster's beliefs (topology `cluster` only).
    cluster: Option<Cluster>,
    /// Per Redis node, per watched key: what `key-changed` last said.
    keys: BTreeMap<usize, BTreeMap<String, KeyState>>,
    /// Wakes the sentinel when a node goes down or up, a partition starts
    /// or heals, or a pause starts or ends.
    sentinel_wake: Option<Arc<Notify>>,
    /// Set once the run is over: late events are dropped.
    closed: bool,
    /// Per Redis node: memory-pressure work waiting for its process.
    pressure: BTreeMap<usize, Vec<PressureJob>>,
    /// Per Redis node: wakes its process's memory-pressure task.
    pressure_wakers: BTreeMap<usize, Arc<Notify>>,
    /// Memory-pressure faults injected so far (names their filler keys).
    fillers: u64,
}

/// Memory-pressure work for a Redis server process (its filler task,
/// `world/server/filler.rs`, does it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PressureJob {
    /// Write filler `id`: `bytes` of keys, with a TTL if given.
    Fill {
        id: u64,
        bytes: u64,
        ttl_ms: Option<u64>,
    },
    /// Delete filler `id`'s keys, or every filler key (`None`).
    Drain { id: Option<u64> },
}

/// The shared world of one run.
pub struct World {
    scenario: Scenario,
    seed: u64,
    /// madsim's clock, held so that reading true time is one call (no
    /// context lookup, no `clock_gettime` interposition).
    time: madsim::time::TimeHandle,
    /// The runtime's elapsed time when the world was made: true time zero.
    start: Duration,
    state: Mutex<State>,
    /// Notified when the last client finishes.
    all_done: Notify,
    /// Notified when an event triggered faults.
    fired_wake: Notify,
    /// Notified (all waiters) when any clock changes rate or jumps.
    clock_changed: Notify,
    /// The token slot of a lock object every client shares
    /// (`shared_token`).
    shared_token: locksim_models::env::SharedSlot,
}

impl World {
    /// A world at true time zero. `clocks` holds every node's initial clock.
    pub fn new(scenario: Scenario, seed: u64, clocks: BTreeMap<NodeRef, Clock>) -> World {
        let clients = scenario.clients.count;
        let nodes = scenario.redis.nodes;
        let time = madsim::time::TimeHandle::current();
        World {
            seed,
            start: time.elapsed(),
            time,
            state: Mutex::new(State {
                history: Vec::with_capacity(1024),
                liveness: Liveness::new(clocks.keys().copied()),
                clocks,
                ids: BTreeMap::new(),
                booted: BTreeSet::new(),
                progress: vec![0; clients],
                done: BTreeSet::new(),
                triggers: Triggers::new(&scenario.faults),
                fired: Vec::new(),
                next_id: 1,
                next_session: 1,
                resource: ResourceState::default(),
                expiry_wakers: BTreeMap::new(),
                nemesis: None,
                disks: vec![Disk::default(); nodes],
                topo: match scenario.redis.topology {
                    Topology::Cluster => Topo::cluster(&scenario.redis, clients),
                    t => Topo::new(nodes, clients, t == Topology::Sentinel),
                },
                cluster: (scenario.redis.topology == Topology::Cluster)
                    .then(|| Cluster::new(&scenario.redis)),
                keys: BTreeMap::new(),
                sentinel_wake: None,
                closed: false,
                pressure: BTreeMap::new(),
                pressure_wakers: BTreeMap::new(),
                fillers: 0,
            }),
            scenario,
            all_done: Notify::new(),
            fired_wake: Notify::new(),
            clock_changed: Notify::new(),
            shared_token: Default::default(),
        }
    }

    /// The token slot the clients share when `shared_token` is set.
    pub fn shared_token(&self) -> locksim_models::env::SharedSlot {
        self.shared_token.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("world state poisoned")
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    // --- time and clocks ------------------------------------------------

    /// True time since the start of the run, in µs.
    pub fn now_us(&self) -> u64 {
        (self.time.elapsed() - self.start).as_micros() as u64
    }

    /// `node`'s monotonic clock now, ms.
    pub fn mono_ms(&self, node: NodeRef) -> u64 {
        let _p = profile::section(Part::World);
        let t = self.now_us();
        self.state().clocks[&node].mono_ms(t)
    }

    /// `node`'s wall clock now, Unix ms.
    pub fn wall_ms(&self, node: NodeRef) -> i64 {
        let _p = profile::section(Part::World);
        let t = self.now_us();
        self.state().clocks[&node].wall_ms(t)
    }

    /// How much true time passes while `node`'s clock advances `local_ms`
    /// at its rate now (for timeouts; [`World::sleep_local`] follows later
    /// drift changes).
    pub fn true_duration(&self, node: NodeRef, local_ms: u64) -> Duration {
        let _p = profile::section(Part::World);
        let t = self.now_us();
        let ppm = self.state().clocks[&node].drift_ppm(t);
        let us = (local_ms as f64 * 1000.0 / (1.0 + ppm / 1e6)).round() as u64;
        Duration::from_micros(us.max(1))
    }

    /// The true time (µs) at which `node`'s monotonic clock reads `mono_ms`.
    pub fn true_us_when_mono(&self, node: NodeRef, mono_ms: u64) -> u64 {
        let _p = profile::section(Part::World);
        let t = self.now_us();
        self.state().clocks[&node].true_us_when_mono(mono_ms, t)
    }

    /// The true time (µs) at which `node`'s wall clock reads `wall_ms`.
    pub fn true_us_when_wall(&self, node: NodeRef, wall_ms: i64) -> u64 {
        let _p = profile::section(Part::World);
        let t = self.now_us();
        self.state().clocks[&node].true_us_when_wall(wall_ms, t)
    }

    /// Sleeps until `node`'s monotonic clock has advanced `local_ms`. A
    /// drift change while it sleeps re-times the rest of the sleep at the
    /// new rate, as a real timer on that clock would run.
    pub async fn sleep_local(&self, node: NodeRef, local_ms: u64) {
        let until = self.mono_ms(node) + local_ms;
        loop {
            let now = self.now_us();
            let due = self.true_us_when_mono(node, until);
            let changed = self.clock_changed.notified();
            let wait = Duration::from_micros(due.saturating_sub(now).max(1));
            if madsim::time::timeout(wait, changed).await.is_err() {
                return;
            }
        }
    }

    /// Changes `node`'s clock now and records nothing (the fault injector
    /// records the fault). Wakes the node's expiry task so it re-plans.
    pub fn change_clock(&self, node: NodeRef, change: ClockChange) {
        let _p = profile::section(Part::World);
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
        self.clock_changed.notify_waiters();
    }

    // --- the history ----------------------------------------------------

    /// Appends an event stamped with the true time and `node`'s clocks.
    /// Returns how many faults it triggered; they wait for the run loop
    /// ([`World::take_fired`]).
    pub fn record(&self, node: Option<NodeRef>, kind: EventKind) -> usize {
        let _p = profile::section(Part::World);
        let t_us = self.now_us();
        let mut st = self.state();
        if st.closed {
            return 0;
        }
        let (mono_ms, wall_ms) = match node.and_then(|n| st.clocks.get(&n)) {
            Some(c) => (Some(c.mono_ms(t_us)), Some(c.wall_ms(t_us))),
            None => (None, None),
        };
        if changes_reachability(&kind) {
            if let Some(w) = &st.sentinel_wake {
                w.notify_one();
            }
        }
        let fired = st.triggers.observe(&kind);
        st.history.push(Event {
            t_us,
            node,
            mono_ms,
            wall_ms,
            kind,
        });
        let n = fired.len();
        if n > 0 {
            st.fired.extend(fired);
            self.fired_wake.notify_one();
        }
        n
    }

    /// Records `key-changed` when node `idx`'s copy of `key` (its `owner`
    /// and absolute `expires_ms`) is not what the history last said. A
    /// copy that disappears after its recorded expiry passed on the node's
    /// clock is recorded as expired, whatever command found it gone.
    pub fn key_state(
        &self,
        idx: usize,
        key: &str,
        owner: Option<&[u8]>,
        expires_ms: Option<i64>,
        cause: KeyCause,
    ) {
        let me = NodeRef::Redis(idx);
        let t = self.now_us();
        let _p = profile::section(Part::World);
        let cause = {
            let mut st = self.state();
            let wall = st.clocks[&me].wall_ms(t);
            let last = st.keys.entry(idx).or_default().get(key);
            let same = match last {
                Some((o, e)) => o.as_deref() == owner && *e == expires_ms,
                None => owner.is_none(),
            };
            if same {
                return;
            }
            let lapsed = owner.is_none()
                && last.is_some_and(|(o, e)| o.is_some() && e.is_some_and(|e| e < wall));
            let state = (owner.map(<[u8]>::to_vec), expires_ms);
            st.keys
                .get_mut(&idx)
                .expect("inserted above")
                .insert(key.to_string(), state);
            match cause {
                KeyCause::Command | KeyCause::Replication | KeyCause::Eviction if lapsed => {
                    KeyCause::Expiry
                }
                c => c,
            }
        };
        self.record(
            Some(me),
            EventKind::KeyChanged {
                node: idx,
                key: key.to_string(),
                owner: owner.map(|o| String::from_utf8_lossy(o).into_owned()),
                expires_ms,
                cause,
            },
        );
    }

    /// The faults triggered since the last call, in order.
    pub fn take_fired(&self) -> Vec<Fired> {
        std::mem::take(&mut self.state().fired)
    }

    /// Resolves when an event has triggered faults.
    pub async fn fired(&self) {
        self.fired_wake.notified().await
    }

    /// A copy of the history so far (tests and tools; a run takes its
    /// history with [`World::close`]).
    pub fn events(&self) -> Vec<Event> {
        self.state().history.clone()
    }

    /// Takes the history out at the end of a run; later events are dropped.
    pub fn close(&self) -> Vec<Event> {
        let mut st = self.state();
        st.closed = true;
        std::mem::take(&mut st.history)
    }

    // --- nodes ----------------------------------------------------------

    /// Records that `node`'s process started; whether it had before.
    pub fn boot(&self, node: NodeRef) -> bool {
        let restart = !self.state().booted.insert(node);
        self.record(Some(node), EventKind::NodeUp { node, restart });
        restart
    }

    pub fn set_node_id(&self, node: NodeRef, id: NodeId) {
        self.state().ids.insert(node, id);
    }

    /// The madsim id of a node.
    pub fn node_id(&self, node: NodeRef) -> NodeId {
        self.state().ids[&node]
    }

    /// Every node's madsim id, in node order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.state().ids.values().copied().collect()
    }

    /// Reads or changes liveness and links. Changes wake the sentinel
    /// through the events the caller records.
    pub fn liveness<R>(&self, f: impl FnOnce(&mut Liveness) -> R) -> R {
        f(&mut self.state().liveness)
    }

    pub fn set_nemesis(&self, h: NodeHandle) {
        self.state().nemesis = Some(h);
    }

    /// The node that runs fault timers.
    pub fn nemesis(&self) -> NodeHandle {
        self.state()
            .nemesis
            .clone()
            .expect("the nemesis node exists")
    }

    pub fn take_nemesis(&self) -> Option<NodeHandle> {
        self.state().nemesis.take()
    }

    pub fn set_sentinel_wake(&self, wake: Arc<Notify>) {
        self.state().sentinel_wake = Some(wake);
    }

    pub fn set_expiry_waker(&self, idx: usize, waker: Arc<Notify>) {
        self.state().expiry_wakers.insert(idx, waker);
    }

    // --- memory pressure ------------------------------------------------

    pub fn set_pressure_waker(&self, idx: usize, waker: Arc<Notify>) {
        self.state().pressure_wakers.insert(idx, waker);
    }

    /// A fresh filler id.
    pub fn next_filler(&self) -> u64 {
        let mut st = self.state();
        st.fillers += 1;
        st.fillers
    }

    /// Whether any memory-pressure fault was injected.
    pub fn any_filler(&self) -> bool {
        self.state().fillers > 0
    }

    /// Queues work for `redis-<idx>`'s process and wakes it.
    pub fn push_pressure(&self, idx: usize, job: PressureJob) {
        let waker = {
            let mut st = self.state();
            st.pressure.entry(idx).or_default().push(job);
            st.pressure_wakers.get(&idx).cloned()
        };
        if let Some(w) = waker {
            w.notify_one();
        }
    }

    /// Takes the work queued for `redis-<idx>`.
    pub fn take_pressure(&self, idx: usize) -> Vec<PressureJob> {
        self.state().pressure.remove(&idx).unwrap_or_default()
    }

    /// A crash drops the filler not written yet (deletions stay queued for
    /// the next process).
    pub fn drop_fills(&self, idx: usize) {
        if let Some(jobs) = self.state().pressure.get_mut(&idx) {
            jobs.retain(|j| matches!(j, PressureJob::Drain { .. }));
        }
    }

    /// Reads or changes node `idx`'s disk.
    pub fn disk<R>(&self, idx: usize, f: impl FnOnce(&mut Disk) -> R) -> R {
        f(&mut self.state().disks[idx])
    }

    /// Reads or changes the replication topology.
    pub fn topo<R>(&self, f: impl FnOnce(&mut Topo) -> R) -> R {
        f(&mut self.state().topo)
    }

    /// Reads the topology and liveness together (the sentinel's view).
    pub fn topo_and_liveness<R>(&self, f: impl FnOnce(&mut Topo, &Liveness) -> R) -> R {
        let mut st = self.state();
        let st = &mut *st;
        f(&mut st.topo, &st.liveness)
    }

    /// Reads or changes Redis Cluster's beliefs, with the topology and
    /// liveness (`None` outside the cluster topology).
    pub fn cluster<R>(&self, f: impl FnOnce(&mut Cluster, &mut Topo, &Liveness) -> R) -> Option<R> {
        let mut st = self.state();
        let st = &mut *st;
        let c = st.cluster.as_mut()?;
        Some(f(c, &mut st.topo, &st.liveness))
    }

    // --- clients and the resource ---------------------------------------

    /// A fresh request id.
    pub fn next_id(&self) -> u64 {
        let _p = profile::section(Part::World);
        let mut st = self.state();
        st.next_id += 1;
        st.next_id
    }

    /// A fresh session number (sessions are numbered in grant order).
    pub fn next_session(&self) -> u64 {
        let mut st = self.state();
        st.next_session += 1;
        st.next_session
    }

    /// The resource applies one operation.
    pub fn resource_apply(&self, op: ResourceOp, session: u64, token: Option<i64>) -> WriteOutcome {
        let fencing = self.scenario.lock.fencing;
        self.state().resource.apply(op, session, token, fencing)
    }

    /// Cycles `client` has completed.
    pub fn progress(&self, client: usize) -> u32 {
        self.state().progress[client]
    }

    /// Counts one completed cycle of `client`.
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

    /// How many clients finished.
    pub fn clients_done(&self) -> usize {
        self.state().done.len()
    }

    /// Resolves when every client finished.
    pub async fn all_done(&self) {
        self.all_done.notified().await
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
