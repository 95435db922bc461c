//! One run: a scenario and a seed in, a verdict and its history out.
//!
//! `run` builds a fresh madsim runtime seeded with the run seed, creates the
//! nodes (Redis servers, the resource, the clients and a nemesis node that
//! only keeps fault timers), schedules the scenario's faults and the final
//! heal, and lets the clients work until they finish or `duration_ms`
//! passes. Then it kills every node (so nothing leaks into the next run on
//! this thread) and hands the history to the oracle.
//!
//! Everything random inside the run comes from madsim's seeded generator;
//! everything drawn before it (client clocks, the nemesis's faults) from
//! ChaCha seeded with the same seed. Same scenario + same seed =
//! byte-identical history.
//!
//! A scenario with a `[nemesis]` runs as its *effective* scenario: the
//! nemesis's faults drawn for this seed ([`crate::world::nemesis::draw`]) appended
//! as explicit `at_ms` faults, the rates zeroed. [`Outcome::schedule`]
//! keeps what was drawn and [`Outcome::effective`] rebuilds that explicit
//! scenario, which replays to the same history at the same seed.

use super::server::{self, cluster, sentinel};
use super::{client, fault, nemesis, resource};
use crate::history::{EventKind, History};
use crate::model::clock::Clock;
use crate::model::{FaultSpec, NodeRef, Scenario, Verdict, When};
use crate::oracle::{self, Check};
use crate::profile::{self, Part};
use crate::world::core::World;
use crate::world::net::ip_of;
use madsim::net::NetSim;
use madsim::runtime::{Handle, Runtime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub events: usize,
    /// Messages madsim carried.
    pub messages: u64,
    /// Simulated time the run covered, in µs.
    pub sim_us: u64,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub seed: u64,
    pub check: Check,
    pub history: History,
    pub stats: Stats,
    /// The faults the nemesis drew for this run (empty without one). They
    /// ran as explicit `at_ms` faults after the scenario's own.
    pub schedule: Vec<FaultSpec>,
}

impl Outcome {
    pub fn verdict(&self) -> Verdict {
        self.check.verdict
    }

    /// The run's fingerprint: FNV-1a of the history's JSON Lines. Computed
    /// on demand (it costs about as much as a quarter of a run).
    pub fn hash(&self) -> String {
        self.history.hash()
    }

    /// The explicit scenario this run ran: `scenario` (the one passed to
    /// [`run`]) with [`Outcome::schedule`] appended, the nemesis quiet and
    /// the run's seed as its seed. Its `to_toml()` replays this run.
    pub fn effective(&self, scenario: &Scenario) -> Scenario {
        nemesis::with_schedule(scenario, self.seed, &self.schedule)
    }
}

/// The initial clocks: Redis nodes and the resource are exact; each client
/// draws its offset and drift from the scenario ranges.
pub fn initial_clocks(scenario: &Scenario, seed: u64) -> BTreeMap<NodeRef, (i64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6c6f_636b_7369_6d00);
    let c = &scenario.clients;
    let mut clocks = BTreeMap::new();
    for node in scenario.node_refs() {
        let params = match node {
            NodeRef::Client(_) => (
                rng.gen_range(c.offset_ms.lo..=c.offset_ms.hi),
                rng.gen_range(c.drift_ppm.lo..=c.drift_ppm.hi) as f64,
            ),
            _ => (0, 0.0),
        };
        clocks.insert(node, params);
    }
    clocks
}

fn madsim_config(scenario: &Scenario) -> madsim::Config {
    let mut config = madsim::Config::default();
    let lat = scenario.network.latency_ms;
    config.net.send_latency =
        Duration::from_millis(lat.lo)..Duration::from_millis(lat.hi) + Duration::from_micros(1);
    config.net.packet_loss_rate = scenario.network.loss;
    config
}

/// Runs `scenario` with `seed`: its effective scenario when it has a
/// nemesis (see the module docs), else the scenario itself.
pub fn run(scenario: &Scenario, seed: u64) -> Outcome {
    let schedule = nemesis::draw(scenario, seed);
    if scenario.nemesis.is_quiet() {
        return run_explicit(scenario, seed, schedule);
    }
    let effective = nemesis::with_schedule(scenario, seed, &schedule);
    run_explicit(&effective, seed, schedule)
}

/// Runs an explicit scenario (its nemesis, if any, is ignored).
fn run_explicit(scenario: &Scenario, seed: u64, schedule: Vec<FaultSpec>) -> Outcome {
    let clock_params = initial_clocks(scenario, seed);
    let rt = {
        let _p = profile::section(Part::Runtime);
        Runtime::with_seed_and_config(seed, madsim_config(scenario))
    };
    let sc = scenario.clone();
    let (events, messages) = rt.block_on(async move {
        let clocks = clock_params
            .iter()
            .map(|(n, &(o, d))| (*n, Clock::new(o, d)))
            .collect();
        let world = Arc::new(World::new(sc, seed, clocks));
        for (&node, &(offset_ms, drift_ppm)) in &clock_params {
            world.record(
                Some(node),
                EventKind::ClockInit {
                    offset_ms,
                    drift_ppm,
                },
            );
        }
        start_nodes(&world);
        sentinel::start(&world);
        cluster::start(&world);
        schedule_faults(&world);
        inject_triggered(&world);
        let limit = Duration::from_millis(world.scenario().duration_ms);
        let _ = madsim::time::timeout(limit, world.all_done()).await;
        let clients_done = world.clients_done();
        world.record(None, EventKind::End { clients_done });
        let events = world.close();
        let messages = NetSim::current().stat().msg_count;
        let handle = Handle::current();
        for id in world.node_ids() {
            handle.kill(id);
        }
        if let Some(n) = world.take_nemesis() {
            handle.kill(n.id());
        }
        madsim::time::sleep(Duration::from_millis(1)).await;
        (events, messages)
    });
    {
        let _p = profile::section(Part::Runtime);
        drop(rt);
    }
    let check = oracle::check(&events, scenario);
    let sim_us = events.last().map_or(0, |e| e.t_us);
    let history = History { events };
    Outcome {
        seed,
        stats: Stats {
            events: history.events.len(),
            messages,
            sim_us,
        },
        check,
        history,
        schedule,
    }
}

fn start_nodes(world: &Arc<World>) {
    let handle = Handle::current();
    let nemesis = handle
        .create_node()
        .name("nemesis")
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 9, 1)))
        .build();
    world.set_nemesis(nemesis);
    for node in world.scenario().node_refs() {
        let w = world.clone();
        let builder = handle.create_node().name(node.to_string()).ip(ip_of(node));
        let h = match node {
            NodeRef::Redis(i) => builder
                .init(move || server::redis_process(w.clone(), i))
                .build(),
            NodeRef::Client(i) => builder
                .init(move || client::client_process(w.clone(), i))
                .build(),
            NodeRef::Resource => builder
                .init(move || resource::resource_process(w.clone()))
                .build(),
        };
        world.set_node_id(node, h.id());
    }
}

/// The run loop's side of triggers: the world queues the faults an event
/// triggered; this task, on the never-faulted nemesis node, injects them
/// (after their `delay_ms`) in the order they fired.
fn inject_triggered(world: &Arc<World>) {
    let w = world.clone();
    world.nemesis().spawn(async move {
        loop {
            w.fired().await;
            for f in w.take_fired() {
                let delay = Duration::from_millis(f.delay_ms);
                fault::schedule(&w, f.spec, Some(f.trigger), delay);
            }
        }
    });
}

/// The explicit `at_ms` faults and the final heal, on one timer task of
/// the nemesis node that sleeps until the next one is due. One task, the
/// same in every run, whatever the schedule: adding a fault at time T
/// leaves the run before T untouched (madsim draws from its generator to
/// pick among ready tasks, so a timer task per fault would perturb the
/// run from its start). `locksim check` relies on this to place a fault
/// at a decision point of a run it has seen. Faults at 0 land before any
/// node runs (a client paused at 0 starts late); faults at or after the
/// heal are skipped.
fn schedule_faults(world: &Arc<World>) {
    let heal_ms = world.scenario().heal_ms();
    let mut timed: Vec<(u64, Option<FaultSpec>)> = Vec::new();
    for spec in &world.scenario().faults {
        if let When::At { at_ms } = spec.when {
            if at_ms == 0 {
                fault::inject(world, &spec.fault, None);
            } else {
                timed.push((at_ms, Some(spec.clone())));
            }
        }
    }
    // Stable: faults due at the same ms keep their file order; the heal
    // goes after the faults due before it and before those due with it.
    timed.sort_by_key(|(at, _)| *at);
    let heal_at = timed.partition_point(|(at, _)| *at < heal_ms);
    timed.insert(heal_at, (heal_ms, None));
    let w = world.clone();
    world.nemesis().spawn(async move {
        for (at_ms, spec) in timed {
            let due_us = (at_ms * 1000).saturating_sub(w.now_us());
            if due_us > 0 {
                madsim::time::sleep(Duration::from_micros(due_us)).await;
            }
            match spec {
                Some(spec) => fault::inject(&w, &spec.fault, None),
                None => fault::heal_all(&w),
            }
        }
    });
}
