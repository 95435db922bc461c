//! proptest strategies over fault schedules and scenario parameters.
//!
//! - [`fault`] / [`schedule`]: explicit `at_ms` faults whose kinds,
//!   targets, times and lengths come from a scenario's `[nemesis]` (kinds
//!   weighted by their rates, times in `[0, heal_ms)`, lengths in the
//!   ranges). A schedule has up to twice the faults the rates expect.
//! - [`params`]: the knobs that decide whether a fault hurts: `ttl_ms`,
//!   client drift, network latency, work time, the number of clients.
//! - [`case`]: parameters, then a schedule for them, then a run seed: one
//!   explicit scenario (nemesis quiet) and the seed to run it with.
//! - [`search`]: a proptest `TestRunner` over [`case`] that looks for a run
//!   the predicate flags, with proptest's own shrinking (vectors lose
//!   faults, numbers move toward their lower bounds: earlier, shorter,
//!   smaller). Deterministic: the runner's RNG is seeded.
//!
//! ```no_run
//! use locksim::model::Verdict;
//! use locksim::scenario::load_scenario;
//! use locksim::search::strategy;
//! let base = load_scenario("sim/tests/hunt-scenarios/row-14-server-clock-jump.toml".as_ref()).unwrap();
//! let found = strategy::search(&base, 200, 7, &|o| o.verdict() == Verdict::Violation);
//! if let Some(f) = found { println!("{}", f.scenario.to_toml()); }
//! ```

use crate::model::{Fault, FaultSpec, NodeRef, Scenario, Span, When};
use crate::world::nemesis::{self, Class};
use crate::world::run::{run, Outcome};

use crate::scenario::MAX_CLIENTS;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};

/// One fault of a class with a nonzero rate in `s`'s nemesis, at a time
/// before the final heal. Every class when the nemesis is quiet (memory
/// pressure only with a `maxmemory`).
pub fn fault(s: &Scenario) -> BoxedStrategy<FaultSpec> {
    let heal = s.heal_ms().max(1);
    let mut weighted: Vec<(u32, BoxedStrategy<Fault>)> = Vec::new();
    let quiet = s.nemesis.is_quiet();
    for class in Class::ALL {
        if class == Class::MemoryPressure && s.redis.maxmemory_bytes == 0 {
            continue;
        }
        let rate = class.rate(s);
        let w = if quiet {
            1
        } else {
            (rate * 1000.0).ceil() as u32
        };
        if w > 0 {
            weighted.push((w, fault_of(class, s)));
        }
    }
    let kinds = proptest::strategy::Union::new_weighted(weighted);
    (0..heal, kinds)
        .prop_map(|(at_ms, fault)| FaultSpec {
            when: When::At { at_ms },
            fault,
        })
        .boxed()
}

fn span_strategy(span: Span<i64>, min: i64) -> BoxedStrategy<i64> {
    let lo = span.lo.min(span.hi).max(min);
    let hi = span.lo.max(span.hi).max(lo);
    (lo..=hi).boxed()
}

fn fault_of(class: Class, s: &Scenario) -> BoxedStrategy<Fault> {
    let redis = nemesis::redis_nodes(s);
    let pausable = nemesis::pausable_nodes(s);
    let n = &s.nemesis;
    match class {
        Class::Kill => proptest::sample::select(redis)
            .prop_map(|node| Fault::Kill { node, for_ms: None })
            .boxed(),
        Class::PowerLoss => proptest::sample::select(redis)
            .prop_map(|node| Fault::PowerLoss { node, for_ms: None })
            .boxed(),
        Class::Pause => (
            proptest::sample::select(pausable),
            span_strategy(n.pause.ms, 1),
        )
            .prop_map(|(node, ms)| Fault::Pause {
                node,
                for_ms: ms as u64,
            })
            .boxed(),
        Class::ClockJump => (
            proptest::sample::select(pausable),
            span_strategy(n.clock_jump.ms, i64::MIN),
        )
            .prop_map(|(node, by)| Fault::ClockJump {
                node,
                by_ms: if by == 0 { 1 } else { by },
            })
            .boxed(),
        Class::Partition => {
            let all = s.node_refs();
            let len = all.len();
            (
                proptest::collection::vec(any::<bool>(), len),
                span_strategy(n.partition.ms, 1),
            )
                .prop_map(move |(sides, ms)| Fault::Partition {
                    groups: two_groups(&all, &sides),
                    for_ms: Some(ms as u64),
                })
                .boxed()
        }
        Class::MemoryPressure => {
            let b = n.memory_pressure.bytes;
            let (lo, hi) = (b.lo.min(b.hi).max(1), b.lo.max(b.hi).max(1));
            let ms: BoxedStrategy<Option<u64>> = match n.memory_pressure.ms {
                Some(ms) => (ms.lo.min(ms.hi).max(1)..=ms.hi.max(ms.lo).max(1))
                    .prop_map(Some)
                    .boxed(),
                None => Just(None).boxed(),
            };
            (proptest::sample::select(redis), lo..=hi, ms)
                .prop_map(|(node, bytes, for_ms)| Fault::MemoryPressure {
                    node,
                    bytes,
                    ttl_ms: None,
                    for_ms,
                })
                .boxed()
        }
    }
}

/// Splits `nodes` by `sides`; moves the first node across if one side is empty.
fn two_groups(nodes: &[NodeRef], sides: &[bool]) -> Vec<Vec<NodeRef>> {
    let mut sides = sides.to_vec();
    if sides.iter().all(|&b| b) || sides.iter().all(|&b| !b) {
        sides[0] = !sides[0];
    }
    nemesis::groups_of(nodes, &sides)
}

/// A schedule for `s`: up to twice the faults its rates expect (at least
/// one), sorted by time.
pub fn schedule(s: &Scenario) -> BoxedStrategy<Vec<FaultSpec>> {
    let expected: f64 = Class::ALL
        .iter()
        .map(|&c| nemesis::expected_count(s, c))
        .sum();
    let max = ((2.0 * expected).ceil() as usize).clamp(1, 64);
    proptest::collection::vec(fault(s), 0..=max)
        .prop_map(|mut v| {
            v.sort_by_key(|f| match f.when {
                When::At { at_ms } => at_ms,
                When::On { .. } => u64::MAX,
            });
            v
        })
        .boxed()
}

/// Parameters around `base`: `ttl_ms` in [ttl/4, 2 ttl] (the watchdog's
/// renewal period follows at ttl/3 when it was at its default), client
/// drift up to ±2% (shrinks toward exact clocks), one-way latency from 1 ms
/// up to 8x base, work time up to 2x base, and 2 to max(2, min(base, 4))
/// clients (the base's count when its own faults name clients).
pub fn params(base: &Scenario) -> BoxedStrategy<Scenario> {
    let b = base.clone();
    let ttl = b.lock.ttl_ms.max(4);
    let lat_hi = b.network.latency_ms.hi.max(1);
    let work_hi = b.clients.work_ms.hi.max(1);
    let max_clients = b.clients.count.clamp(2, 4).min(MAX_CLIENTS);
    let min_clients = if b.faults.is_empty() {
        2
    } else {
        b.clients.count
    };
    (
        ttl / 4..=ttl * 2,
        0i64..=20_000,
        (1..=lat_hi * 4, 0..=lat_hi * 4),
        (0..=work_hi * 2, 0..=work_hi * 2),
        min_clients..=max_clients.max(min_clients),
    )
        .prop_map(
            move |(ttl_ms, drift, (lat_a, lat_b), (w_a, w_b), clients)| {
                let mut s = b.clone();
                let renew_follows = s.lock.renew_every_ms == s.lock.ttl_ms / 3;
                s.lock.ttl_ms = ttl_ms;
                if renew_follows {
                    s.lock.renew_every_ms = (ttl_ms / 3).max(1);
                }
                s.clients.drift_ppm = Span::new(-drift, drift);
                s.network.latency_ms = Span::new(lat_a, lat_a + lat_b);
                s.clients.work_ms = Span::new(w_a.min(w_b), w_a.max(w_b));
                s.clients.count = clients;
                s
            },
        )
        .boxed()
}

/// Parameters, a schedule for them and a run seed: an explicit scenario
/// (nemesis quiet, faults drawn here) and the seed to run it with.
pub fn case(base: &Scenario) -> BoxedStrategy<(Scenario, u64)> {
    params(base)
        .prop_flat_map(|s| {
            let sched = schedule(&s);
            (Just(s), sched, 0u64..1000)
        })
        .prop_map(|(s, faults, seed)| {
            let mut e = s;
            e.faults.extend(faults);
            nemesis::quiet(&mut e.nemesis);
            e.seed = seed;
            (e, seed)
        })
        .boxed()
}

/// Only a schedule, on `base`'s own parameters.
pub fn schedule_case(base: &Scenario) -> BoxedStrategy<(Scenario, u64)> {
    let b = base.clone();
    (schedule(base), 0u64..1000)
        .prop_map(move |(faults, seed)| {
            let mut e = b.clone();
            e.faults.extend(faults);
            nemesis::quiet(&mut e.nemesis);
            e.seed = seed;
            (e, seed)
        })
        .boxed()
}

/// What [`search`] found, shrunk by proptest.
#[derive(Clone, Debug)]
pub struct ProptestFinding {
    /// Explicit, seed = the run seed.
    pub scenario: Scenario,
    pub seed: u64,
    pub outcome: Outcome,
}

/// Up to `cases` runs drawn from [`case`] of `base`; the first one `flag`
/// accepts is shrunk by proptest and returned. `rng_seed` fixes the search.
pub fn search(
    base: &Scenario,
    cases: u32,
    rng_seed: u64,
    flag: &dyn Fn(&Outcome) -> bool,
) -> Option<ProptestFinding> {
    search_with(case(base), cases, rng_seed, flag)
}

/// [`search`] over any strategy of (explicit scenario, seed).
pub fn search_with(
    strategy: BoxedStrategy<(Scenario, u64)>,
    cases: u32,
    rng_seed: u64,
    flag: &dyn Fn(&Outcome) -> bool,
) -> Option<ProptestFinding> {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        max_global_rejects: cases.saturating_mul(4),
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&rng_seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&strategy, |(s, seed)| {
        let o = run(&s, seed);
        prop_assert!(!flag(&o), "flagged: {}", o.verdict());
        Ok(())
    });
    match result {
        Err(TestError::Fail(_, (scenario, seed))) => {
            let outcome = run(&scenario, seed);
            Some(ProptestFinding {
                scenario,
                seed,
                outcome,
            })
        }
        _ => None,
    }
}
