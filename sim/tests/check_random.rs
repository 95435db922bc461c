//! `locksim check --random N`: PCT-style random schedules over the
//! decision points, and the bound they give.

use locksim::scenario::load_scenario;
use locksim::search::check::random::{bound, random};
use locksim::search::check::space::Kind;
use locksim::search::check::Check;
use std::path::Path;

fn load(rel: &str) -> locksim::model::Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    load_scenario(&p).unwrap_or_else(|e| panic!("{e}"))
}

/// The same draws find the same first violation whatever `jobs` is, also
/// when it lies several chunks in (16 draws a chunk per job).
#[test]
fn deterministic_across_jobs() {
    for (file, kind, seed, expect_past) in [
        (
            "tests/hunt-scenarios/row-12-no-validity-check.toml",
            Kind::Pause,
            6, // past two chunks too
            32,
        ),
        (
            "tests/hunt-scenarios/row-15-sentinel-failover.toml",
            Kind::Kill,
            3, // a seed whose first violation lies past two chunks
            32,
        ),
    ] {
        let s = load(file);
        let check = |jobs| {
            Check::new(s.clone())
                .seed(seed)
                .faults(1)
                .alphabet(vec![kind])
                .jobs(jobs)
        };
        let one = random(&check(1), 200);
        let two = random(&check(2), 200);
        println!("{}", one.summary());
        let v1 = one
            .violation
            .as_ref()
            .expect("a violation within 200 draws");
        let v2 = two
            .violation
            .as_ref()
            .expect("a violation within 200 draws");
        let at = v1.draw.expect("the fault-free run is safe");
        assert!(at >= expect_past, "{file}: draw {at}");
        assert_eq!(v1.draw, v2.draw);
        assert_eq!(one.draws, two.draws);
        assert_eq!(one.draws, at + 1);
        assert_eq!(
            v1.counterexample.scenario.faults,
            v2.counterexample.scenario.faults
        );
        assert_eq!(
            v1.counterexample.outcome.hash(),
            v2.counterexample.outcome.hash()
        );
        // The explicit scenario replays the violation.
        let again = locksim::world::run::run(&v1.counterexample.scenario, seed);
        assert_eq!(again.verdict(), locksim::model::Verdict::Violation);
        // Fewer draws than the first violation: none found, all run.
        let short = random(&check(2), at);
        assert!(short.violation.is_none());
        assert_eq!(short.draws, at);
    }
    // Depth 2: placements within K, in time order.
    let s = load("tests/hunt-scenarios/row-12-no-validity-check.toml");
    let check = |jobs| {
        Check::new(s.clone())
            .faults(2)
            .alphabet(vec![Kind::Pause])
            .jobs(jobs)
    };
    let (one, two) = (random(&check(1), 200), random(&check(2), 200));
    let v1 = one.violation.expect("a violation within 200 draws");
    let v2 = two.violation.expect("a violation within 200 draws");
    assert_eq!(v1.draw, v2.draw);
    let p = &v1.counterexample.schedule.placements;
    assert!((1..=2).contains(&p.len()));
    assert!(p
        .windows(2)
        .all(|w| w[0].point.lands_us() <= w[1].point.lands_us()));
}

/// A safe setup stays safe over N draws, and the bound is reported.
#[test]
fn safe_setup_stays_safe() {
    let s = load("../scenarios/set-nx-px-aof-always-crash.toml");
    let check = Check::new(s)
        .faults(1)
        .alphabet(vec![Kind::Kill, Kind::PowerLoss])
        .jobs(2);
    let r = random(&check, 100);
    println!("{} in {:?}", r.summary(), r.wall);
    assert!(r.violation.is_none(), "{}", r.summary());
    assert_eq!(r.draws, 100);
    assert!(r.points > 0 && r.choices > 0);
    assert_eq!(r.bound, bound(r.choices, 1, 100));
    assert!(r.bound.found > 0.0 && r.bound.found <= 1.0);
    assert!(r.summary().contains("no violation"));
}

#[test]
fn bound_arithmetic() {
    // F = 10, K = 1: p = 1/10.
    let b = bound(10, 1, 10);
    assert!((b.found - (1.0 - 0.9f64.powi(10))).abs() < 1e-12, "{b:?}");
    assert!((b.missed - 0.9f64.powi(10)).abs() < 1e-12);
    assert!((b.per_draw - 0.1).abs() < 1e-15);
    // 1 - 0.9^n >= 0.5 first at n = 7; >= 0.99 first at n = 44.
    assert_eq!(b.draws_for_half, 7);
    assert_eq!(b.draws_for_99, 44);
    // F = 10, K = 2: the worst depth is 2, p = 1/2 * 1/45.
    let b = bound(10, 2, 1);
    assert!((b.per_draw - 1.0 / 90.0).abs() < 1e-15);
    // K above F / 2: the worst depth is F / 2 (C(4, 2) = 6 > C(4, 3)).
    let b = bound(4, 3, 1);
    assert!((b.per_draw - 1.0 / 18.0).abs() < 1e-15, "{b:?}");
    // K above F: depths are capped at F; F = 1 is one certain choice.
    let b = bound(1, 3, 1);
    assert_eq!(b.depth, 1);
    assert_eq!(b.found, 1.0);
    assert_eq!(b.draws_for_99, 1);
    // Huge spaces: positive, finite, never NaN.
    for (f, k, n) in [
        (1_000_000u64, 3usize, 1000u64),
        (1u64 << 40, 5, 1 << 30),
        (u64::MAX, 3, u64::MAX),
    ] {
        let b = bound(f, k, n);
        assert!(b.found > 0.0 && b.found.is_finite(), "{b:?}");
        assert!(b.missed <= 1.0 && !b.missed.is_nan(), "{b:?}");
        assert!(b.draws_for_99 >= b.draws_for_half);
    }
    // Astronomical: may underflow to 0, but never NaN; the exponent stays.
    for (f, k, n) in [(u64::MAX, 50usize, 1u64), (1 << 20, 200, 0), (0, 3, 10)] {
        let b = bound(f, k, n);
        assert!(!b.found.is_nan() && !b.missed.is_nan() && !b.per_draw.is_nan());
        assert!(!b.ln_per_draw.is_nan());
        assert!((0.0..=1.0).contains(&b.found));
    }
}
