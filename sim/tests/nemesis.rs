//! The nemesis: random faults drawn from `[nemesis]` rates, expanded into
//! an explicit schedule before the run. A random run is an explicit run:
//! written with `to_toml()` and replayed at the same seed it gives the same
//! history hash.

use locksim::history::EventKind;
use locksim::model::{Fault, FaultSpec, NodeRef, Scenario, When};
use locksim::world::nemesis::{self, draw, effective};
use locksim::world::run::run;

use locksim::scenario::{parse_scenario, parse_scenario_unchecked};

/// Every class at once, on Redlock's five masters.
const ALL_CLASSES: &str = r#"
name = "nemesis-all-classes"
expect = "safe"
seed = 3
duration_ms = 20000
heal_at = 0.75

[lock]
algorithm = "redlock"
ttl_ms = 2000

[redis]
maxmemory_bytes = 2097152
maxmemory_policy = "volatile-lru"

[clients]
count = 3
cycles = 4
work_ms = [100, 500]

[nemesis]
kill = 0.2
power_loss = 0.1
pause = { rate = 0.3, ms = [100, 3000] }
clock_jump = { rate = 0.2, ms = [-2000, 2000] }
partition = { rate = 0.2, ms = [100, 2000] }
memory_pressure = { rate = 0.2, bytes = [100000, 900000], ms = [100, 2000] }
"#;

fn all_classes() -> Scenario {
    parse_scenario(ALL_CLASSES, "all-classes.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn at_ms(f: &FaultSpec) -> u64 {
    match f.when {
        When::At { at_ms } => at_ms,
        When::On { .. } => panic!("the nemesis draws only at_ms faults"),
    }
}

#[test]
fn nonzero_rates_pass_the_support_gate() {
    let s = all_classes();
    assert!(!s.nemesis.is_quiet());
}

#[test]
fn a_quiet_nemesis_draws_nothing() {
    let mut s = all_classes();
    nemesis::quiet(&mut s.nemesis);
    assert!(draw(&s, 7).is_empty());
    assert_eq!(effective(&s, 7).faults, s.faults);
}

#[test]
fn the_same_seeds_draw_the_same_schedule_and_other_seeds_another() {
    let s = all_classes();
    assert_eq!(draw(&s, 11), draw(&s, 11));
    assert_ne!(draw(&s, 11), draw(&s, 12));
    let mut other = s.clone();
    other.seed = 4;
    assert_ne!(
        draw(&s, 11),
        draw(&other, 11),
        "the scenario seed counts too"
    );
}

#[test]
fn faults_are_sorted_before_the_heal_and_hit_the_targets_their_class_allows() {
    let s = all_classes();
    let heal = s.heal_ms();
    let everyone = s.node_refs();
    for seed in 0..200 {
        let faults = draw(&s, seed);
        let times: Vec<u64> = faults.iter().map(at_ms).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "sorted: {times:?}");
        assert!(times.iter().all(|&t| t < heal));
        for f in &faults {
            match &f.fault {
                Fault::Kill { node, for_ms } | Fault::PowerLoss { node, for_ms } => {
                    assert!(matches!(node, NodeRef::Redis(i) if *i < 5));
                    assert_eq!(*for_ms, None, "down for restart_delay_ms");
                }
                Fault::Pause { node, for_ms } => {
                    assert!(matches!(node, NodeRef::Redis(_) | NodeRef::Client(_)));
                    assert!((100..=3000).contains(for_ms));
                }
                Fault::ClockJump { node, by_ms } => {
                    assert!(matches!(node, NodeRef::Redis(_) | NodeRef::Client(_)));
                    assert!((-2000..=2000).contains(by_ms) && *by_ms != 0);
                }
                Fault::Partition { groups, for_ms } => {
                    assert_eq!(groups.len(), 2);
                    assert!(groups.iter().all(|g| !g.is_empty()));
                    let mut all: Vec<NodeRef> = groups.concat();
                    all.sort();
                    assert_eq!(all, everyone, "a split of every node");
                    assert!(for_ms.is_some_and(|ms| (100..=2000).contains(&ms)));
                }
                Fault::MemoryPressure {
                    node,
                    bytes,
                    ttl_ms,
                    for_ms,
                } => {
                    assert!(matches!(node, NodeRef::Redis(i) if *i < 5));
                    assert!((100_000..=900_000).contains(bytes));
                    assert_eq!(*ttl_ms, None, "filler without a TTL");
                    assert!(for_ms.is_some_and(|ms| (100..=2000).contains(&ms)));
                }
                other => panic!("the nemesis never draws {other:?}"),
            }
        }
    }
}

#[test]
fn arrivals_follow_the_rates() {
    // Poisson: over 400 runs of 15 s the mean count per class is within a
    // few standard errors of rate * 15.
    let s = all_classes();
    let runs = 400u64;
    let mut counts = [0u64; 6];
    for seed in 0..runs {
        for f in draw(&s, seed) {
            let i = match f.fault {
                Fault::Kill { .. } => 0,
                Fault::PowerLoss { .. } => 1,
                Fault::Pause { .. } => 2,
                Fault::ClockJump { .. } => 3,
                Fault::Partition { .. } => 4,
                Fault::MemoryPressure { .. } => 5,
                _ => unreachable!(),
            };
            counts[i] += 1;
        }
    }
    for (i, class) in nemesis::Class::ALL.into_iter().enumerate() {
        let expected = nemesis::expected_count(&s, class);
        let mean = counts[i] as f64 / runs as f64;
        let se = (expected / runs as f64).sqrt();
        assert!(
            (mean - expected).abs() < 5.0 * se,
            "{}: mean {mean:.2} per run, expected {expected:.2}",
            class.key()
        );
    }
}

#[test]
fn each_class_draws_from_its_own_stream() {
    let s = all_classes();
    let mut louder = s.clone();
    louder.nemesis.pause.rate = 2.0;
    let kills = |s: &Scenario| -> Vec<FaultSpec> {
        draw(s, 5)
            .into_iter()
            .filter(|f| matches!(f.fault, Fault::Kill { .. }))
            .collect()
    };
    assert_eq!(kills(&s), kills(&louder));
}

#[test]
fn a_random_run_is_its_effective_explicit_scenario() {
    let s = all_classes();
    for seed in [0, 1, 2] {
        let o = run(&s, seed);
        assert_eq!(o.schedule, draw(&s, seed));
        let e = o.effective(&s);
        assert_eq!(e, effective(&s, seed));
        assert!(e.nemesis.is_quiet());
        assert_eq!(e.seed, seed);
        assert_eq!(e.faults.len(), s.faults.len() + o.schedule.len());
        // Written, parsed back (through the support gate) and replayed:
        // the same history, byte for byte.
        let text = e.to_toml();
        let back = parse_scenario(&text, "effective.toml").unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(back, e);
        let replay = run(&back, seed);
        assert_eq!(replay.hash(), o.hash(), "seed {seed}");
        assert!(
            replay.schedule.is_empty(),
            "an explicit scenario draws nothing"
        );
        assert_eq!(replay.verdict(), o.verdict());
    }
}

#[test]
fn drawn_faults_are_recorded_in_the_history_like_explicit_ones() {
    let s = all_classes();
    let o = run(&s, 9);
    let injected: Vec<&Fault> = o
        .history
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FaultInjected { fault, cause: None } => Some(fault),
            _ => None,
        })
        .collect();
    // A pause of a node that is down, or a fault after every client
    // finished, is not injected; everything injected was drawn, in order.
    assert!(!injected.is_empty());
    let mut drawn = o.schedule.iter().map(|f| &f.fault);
    for f in injected {
        assert!(drawn.any(|d| d == f), "{f:?} was drawn");
    }
}

#[test]
fn a_run_with_a_nemesis_is_deterministic_across_threads() {
    let s = all_classes();
    let here: Vec<String> = (0..4).map(|seed| run(&s, seed).hash()).collect();
    let s2 = s.clone();
    let there = std::thread::spawn(move || {
        (0..4)
            .rev()
            .map(|seed| run(&s2, seed).hash())
            .collect::<Vec<_>>()
    })
    .join()
    .expect("the thread ran");
    let there: Vec<String> = there.into_iter().rev().collect();
    assert_eq!(here, there);
}

#[test]
fn unchecked_parsing_accepts_what_the_writer_writes_for_every_class() {
    let s = all_classes();
    let e = effective(&s, 1);
    let back =
        parse_scenario_unchecked(&e.to_toml(), "x.toml").unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(back, e);
}
