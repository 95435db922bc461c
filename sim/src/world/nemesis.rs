//! The nemesis: random faults drawn from a scenario's `[nemesis]` rates.
//!
//! A nemesis is a generator, not a schedule (TigerBeetle's `options_swarm`
//! next to its explicit replay files). [`draw`] turns the rates into an
//! explicit list of `at_ms` faults before the run starts, with ChaCha8
//! seeded from (scenario seed, run seed); [`effective`] appends that list to
//! the scenario's own faults and zeroes the rates. `world::run::run` runs
//! the effective scenario, so a random run *is* an explicit one: written
//! with [`Scenario::to_toml`] and replayed at the same seed it gives the same
//! history, byte for byte.
//!
//! Arrivals are a Poisson process per fault class over `[0, heal_ms)`:
//! exponential gaps with mean `1 / rate` simulated seconds. Each class draws
//! from its own ChaCha stream, so turning one rate up never moves the faults
//! of another class.
//!
//! | class | targets | length |
//! |---|---|---|
//! | `kill`, `power_loss` | a Redis node | down for `restart_delay_ms` |
//! | `pause` | a client or a Redis node | `pause.ms` |
//! | `clock_jump` | a Redis node or a client | `by_ms` from `clock_jump.ms` (may be negative) |
//! | `partition` | a random two-way split of every node | `partition.ms`, then healed |
//! | `memory_pressure` | a Redis node | filler of `memory_pressure.bytes`, without a TTL, kept for `memory_pressure.ms` (without `ms`: until the final heal) |

use crate::model::{Fault, FaultSpec, NodeRef, RateSpan, Scenario, Span, When};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A fault class of the nemesis, in the order of `[nemesis]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Kill,
    PowerLoss,
    Pause,
    ClockJump,
    Partition,
    MemoryPressure,
}

impl Class {
    pub const ALL: [Class; 6] = [
        Class::Kill,
        Class::PowerLoss,
        Class::Pause,
        Class::ClockJump,
        Class::Partition,
        Class::MemoryPressure,
    ];

    /// The `[nemesis]` key.
    pub fn key(self) -> &'static str {
        match self {
            Class::Kill => "kill",
            Class::PowerLoss => "power_loss",
            Class::Pause => "pause",
            Class::ClockJump => "clock_jump",
            Class::Partition => "partition",
            Class::MemoryPressure => "memory_pressure",
        }
    }

    /// This class's rate in `s`'s nemesis, faults per simulated second.
    pub fn rate(self, s: &Scenario) -> f64 {
        let n = &s.nemesis;
        match self {
            Class::Kill => n.kill,
            Class::PowerLoss => n.power_loss,
            Class::Pause => n.pause.rate,
            Class::ClockJump => n.clock_jump.rate,
            Class::Partition => n.partition.rate,
            Class::MemoryPressure => n.memory_pressure.rate,
        }
    }
}

/// How many faults `s`'s nemesis injects per run on average: the sum of
/// its rates times the time before the final heal.
pub fn expected_faults(s: &Scenario) -> f64 {
    let rate: f64 = Class::ALL.iter().map(|c| c.rate(s)).sum();
    rate * s.heal_ms() as f64 / 1000.0
}

/// `s` with every nemesis rate times `factor` (durations and sizes kept).
pub fn scaled(s: &Scenario, factor: f64) -> Scenario {
    let mut t = s.clone();
    let n = &mut t.nemesis;
    n.kill *= factor;
    n.power_loss *= factor;
    n.pause.rate *= factor;
    n.clock_jump.rate *= factor;
    n.partition.rate *= factor;
    n.memory_pressure.rate *= factor;
    t
}

/// The seed of the nemesis generator for a scenario seed and a run seed.
pub fn nemesis_seed(scenario_seed: u64, run_seed: u64) -> u64 {
    splitmix64(splitmix64(scenario_seed ^ 0x6e65_6d65_7369_7300) ^ run_seed)
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The faults `s`'s nemesis injects in the run with `seed`, in order of
/// time (ties: the class order). Empty when every rate is zero.
pub fn draw(s: &Scenario, seed: u64) -> Vec<FaultSpec> {
    if s.nemesis.is_quiet() {
        return Vec::new();
    }
    let heal_ms = s.heal_ms();
    let base = nemesis_seed(s.seed, seed);
    let mut out: Vec<FaultSpec> = Vec::new();
    for (stream, class) in Class::ALL.into_iter().enumerate() {
        let rate = class.rate(s);
        if !(rate > 0.0 && rate.is_finite()) {
            continue;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(base);
        rng.set_stream(stream as u64 + 1);
        let mut t_ms = 0.0f64;
        loop {
            // Exponential gap, mean 1/rate s; 1 - u is in (0, 1].
            let u: f64 = rng.gen();
            t_ms += -(1.0 - u).ln() / rate * 1000.0;
            if t_ms >= heal_ms as f64 {
                break;
            }
            let at_ms = t_ms as u64;
            out.push(FaultSpec {
                when: When::At { at_ms },
                fault: fault_of(class, s, &mut rng),
            });
        }
    }
    // Stable: equal times keep the class order.
    out.sort_by_key(|f| match f.when {
        When::At { at_ms } => at_ms,
        When::On { .. } => u64::MAX,
    });
    out
}

/// `s` with its nemesis drawn for `seed` and appended as explicit faults,
/// the rates zeroed and `seed` as the scenario's seed: the explicit
/// scenario that the run with `seed` actually runs.
pub fn effective(s: &Scenario, seed: u64) -> Scenario {
    let drawn = draw(s, seed);
    with_schedule(s, seed, &drawn)
}

/// `s` with `drawn` appended to its faults, the nemesis quiet and `seed`
/// as its seed.
pub fn with_schedule(s: &Scenario, seed: u64, drawn: &[FaultSpec]) -> Scenario {
    let mut e = s.clone();
    e.faults.extend_from_slice(drawn);
    quiet(&mut e.nemesis);
    e.seed = seed;
    e
}

/// Zeroes every rate, keeping the length ranges.
pub fn quiet(n: &mut crate::model::Nemesis) {
    n.kill = 0.0;
    n.power_loss = 0.0;
    n.pause.rate = 0.0;
    n.clock_jump.rate = 0.0;
    n.partition.rate = 0.0;
    n.memory_pressure.rate = 0.0;
}

/// Redis nodes.
pub fn redis_nodes(s: &Scenario) -> Vec<NodeRef> {
    (0..s.redis.nodes).map(NodeRef::Redis).collect()
}

/// Clients, then Redis nodes: what a pause or a clock jump may hit.
pub fn pausable_nodes(s: &Scenario) -> Vec<NodeRef> {
    let mut v: Vec<NodeRef> = (0..s.clients.count).map(NodeRef::Client).collect();
    v.extend(redis_nodes(s));
    v
}

fn pick(rng: &mut ChaCha8Rng, nodes: &[NodeRef]) -> NodeRef {
    nodes[rng.gen_range(0..nodes.len())]
}

/// A length from a `[lo, hi]` range, at least `min`.
fn length(rng: &mut ChaCha8Rng, span: Span<i64>, min: i64) -> i64 {
    let (lo, hi) = (span.lo.min(span.hi), span.lo.max(span.hi));
    rng.gen_range(lo..=hi).max(min)
}

fn fault_of(class: Class, s: &Scenario, rng: &mut ChaCha8Rng) -> Fault {
    let n = &s.nemesis;
    match class {
        Class::Kill => Fault::Kill {
            node: pick(rng, &redis_nodes(s)),
            for_ms: None,
        },
        Class::PowerLoss => Fault::PowerLoss {
            node: pick(rng, &redis_nodes(s)),
            for_ms: None,
        },
        Class::Pause => Fault::Pause {
            node: pick(rng, &pausable_nodes(s)),
            for_ms: length(rng, n.pause.ms, 1) as u64,
        },
        Class::ClockJump => {
            let node = pick(rng, &pausable_nodes(s));
            let mut by_ms = length(rng, n.clock_jump.ms, i64::MIN);
            if by_ms == 0 {
                by_ms = 1; // a jump of zero is not a fault
            }
            Fault::ClockJump { node, by_ms }
        }
        Class::Partition => Fault::Partition {
            groups: split(rng, &s.node_refs()),
            for_ms: Some(length(rng, n.partition.ms, 1) as u64),
        },
        Class::MemoryPressure => {
            let node = pick(rng, &redis_nodes(s));
            let b = n.memory_pressure.bytes;
            let bytes = rng.gen_range(b.lo.min(b.hi)..=b.hi.max(b.lo)).max(1);
            let for_ms = n
                .memory_pressure
                .ms
                .map(|ms| rng.gen_range(ms.lo.min(ms.hi)..=ms.hi.max(ms.lo)).max(1));
            Fault::MemoryPressure {
                node,
                bytes,
                ttl_ms: None,
                for_ms,
            }
        }
    }
}

/// A random two-way split of `nodes`, both sides non-empty.
pub fn split(rng: &mut ChaCha8Rng, nodes: &[NodeRef]) -> Vec<Vec<NodeRef>> {
    let mut sides: Vec<bool> = nodes.iter().map(|_| rng.gen_bool(0.5)).collect();
    if sides.iter().all(|&b| b) || sides.iter().all(|&b| !b) {
        let i = rng.gen_range(0..nodes.len());
        sides[i] = !sides[i];
    }
    groups_of(nodes, &sides)
}

/// The two groups `sides` assigns `nodes` to (`false` first).
pub fn groups_of(nodes: &[NodeRef], sides: &[bool]) -> Vec<Vec<NodeRef>> {
    let side = |want: bool| -> Vec<NodeRef> {
        nodes
            .iter()
            .zip(sides)
            .filter(|(_, &b)| b == want)
            .map(|(n, _)| *n)
            .collect()
    };
    vec![side(false), side(true)]
}

/// The expected number of faults of `class` in a run of `s`.
pub fn expected_count(s: &Scenario, class: Class) -> f64 {
    class.rate(s) * s.heal_ms() as f64 / 1000.0
}

/// A `RateSpan` with `rate` and `[lo, hi]` ms.
pub fn rate_span(rate: f64, lo: i64, hi: i64) -> RateSpan {
    RateSpan {
        rate,
        ms: Span::new(lo, hi),
    }
}
