//! `locksim check --suggest`: each mitigation of a counterexample is
//! re-checked over the same bound and alphabet. What must hold comes from
//! GROUND-TRUTH.md; what the ground truth leaves open is only checked for
//! consistency (a counterexample replays), never given a verdict.

use locksim::model::{Persistence, Scenario, Verdict as RunVerdict};
use locksim::scenario::load_scenario;
use locksim::search::check::space::Kind;
use locksim::search::check::suggest::{mitigations, render, suggest, Mitigation};
use locksim::search::check::{Check, Report, Verdict};
use locksim::world::run::run;
use std::path::Path;

fn load(rel: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    load_scenario(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn check_with(kind: Kind) -> impl Fn(Scenario) -> Report {
    move |s| {
        Check::new(s)
            .faults(1)
            .alphabet(vec![kind])
            .jobs(2)
            .max_runs(5_000)
            .run()
    }
}

fn find<'a>(r: &'a [(Mitigation, Option<Report>)], name: &str) -> &'a (Mitigation, Option<Report>) {
    r.iter()
        .find(|(m, _)| m.name == name)
        .unwrap_or_else(|| panic!("no mitigation {name}"))
}

fn certified(r: &[(Mitigation, Option<Report>)], name: &str) -> bool {
    matches!(
        find(r, name).1.as_ref().map(|r| &r.verdict),
        Some(Verdict::Certified)
    )
}

/// A counterexample a mitigation's check reports replays as a violation
/// of the mitigated scenario.
fn counterexamples_replay(r: &[(Mitigation, Option<Report>)]) {
    for (m, report) in r {
        if let Some(Verdict::Counterexample(cx)) = report.as_ref().map(|r| &r.verdict) {
            let mitigated = m.scenario.as_ref().expect("checked, so applicable");
            assert_eq!(cx.scenario.lock, mitigated.lock, "{}", m.name);
            assert_eq!(cx.scenario.redis, mitigated.redis, "{}", m.name);
            let o = run(&cx.scenario, cx.scenario.seed);
            assert_eq!(o.verdict(), RunVerdict::Violation, "{}", m.name);
        }
    }
}

/// Checks `rel` with one fault of `kind` (it must break), then every
/// mitigation over the same space.
fn broken_then_suggested(rel: &str, kind: Kind) -> (Scenario, Vec<(Mitigation, Option<Report>)>) {
    let s = load(rel);
    let check = check_with(kind);
    let base = check(s.clone());
    assert!(
        matches!(base.verdict, Verdict::Counterexample(_)),
        "{}",
        base.summary()
    );
    let r = suggest(&check, &s);
    println!("{}", render(&r));
    (s, r)
}

const ORDER: [&str; 8] = [
    "fencing",
    "validity-check",
    "aof-always",
    "delayed-restart",
    "ttl-x2",
    "min-replicas",
    "library-upgrade",
    "noeviction",
];

#[test]
fn restart_without_persistence_is_fixed_by_aof_always_and_a_delayed_restart() {
    // Row 17: one kill suffices.
    let (s, r) = broken_then_suggested(
        "tests/hunt-scenarios/row-17-restart-no-persistence.toml",
        Kind::Kill,
    );
    let names: Vec<&str> = r.iter().map(|(m, _)| m.name).collect();
    assert_eq!(names, ORDER);
    // Row 20: aof-always is safe under any crash.
    assert!(certified(&r, "aof-always"), "{}", render(&r));
    // Rows 30 (and the distlock page): a restart delayed by the TTL is safe.
    assert!(certified(&r, "delayed-restart"), "{}", render(&r));
    // Each applicable mitigation changes exactly its field.
    let (m, _) = find(&r, "aof-always");
    let aof = m.scenario.as_ref().unwrap();
    assert_eq!(aof.redis.persistence, Persistence::AofAlways);
    assert_eq!(aof.lock, s.lock);
    let (m, _) = find(&r, "delayed-restart");
    assert_eq!(
        m.scenario.as_ref().unwrap().redis.restart_delay_ms,
        s.lock.ttl_ms
    );
    let (m, _) = find(&r, "ttl-x2");
    assert_eq!(m.scenario.as_ref().unwrap().lock.ttl_ms, 2 * s.lock.ttl_ms);
    // Not applicable (a single node has no replicas; no library profile to
    // upgrade): said so, never checked.
    for name in ["min-replicas", "library-upgrade"] {
        let (m, report) = find(&r, name);
        assert!(m.scenario.is_err() && report.is_none(), "{name}");
    }
    counterexamples_replay(&r);
    let text = render(&r);
    assert!(text.contains("certifies the same space"), "{text}");
    assert!(
        text.contains("n/a: topology = \"single\" has no replicas to count"),
        "{text}"
    );
}

#[test]
fn a_pause_past_the_ttl_is_fixed_by_fencing() {
    let (_, r) = broken_then_suggested(
        "tests/hunt-scenarios/row-11-pause-past-ttl.toml",
        Kind::Pause,
    );
    // Row 11: R, safe with fencing.
    assert!(certified(&r, "fencing"), "{}", render(&r));
    // The scenario already checks validity: nothing to re-check.
    let (m, report) = find(&r, "validity-check");
    assert!(m.scenario.is_err() && report.is_none());
    counterexamples_replay(&r);
}

#[test]
fn what_applies_follows_the_algorithm() {
    // Redlock: no monotonic token (row 28), validity already checked.
    let s = load("tests/hunt-scenarios/row-29-redlock-restart-no-persistence.toml");
    let m = mitigations(&s);
    let fencing = m[0].scenario.as_ref().unwrap_err();
    assert!(fencing.contains("redlock"), "{fencing}");
    assert!(m[1].scenario.is_err(), "redlock checks validity by default");
    assert!(m[2].scenario.is_ok() && m[3].scenario.is_ok());
    // Plain SETNX computes no deadline.
    let s = load("../scenarios/setnx-holder-crash.toml");
    assert!(!s.lock.stale_recovery);
    let m = mitigations(&s);
    assert!(m[0].scenario.is_ok());
    assert!(m[1].scenario.as_ref().unwrap_err().contains("no deadline"));
    // Already applied: skipped with the reason.
    let s = load("tests/hunt-scenarios/row-20-aof-always-crash.toml");
    let m = mitigations(&s);
    assert!(m[2].scenario.as_ref().unwrap_err().contains("already"));
    // Every applicable mitigation parses back as a scenario file.
    for x in m.iter().filter_map(|x| x.scenario.as_ref().ok()) {
        locksim::scenario::parse_scenario(&x.to_toml(), "x.toml").unwrap();
    }
}

/// Row 52: min-replicas narrows the failover window (the measured rate in
/// `min_replicas_and_retries.rs`) but does not close it: over row 15's
/// space (one kill at any decision point) it is re-checked, and the check
/// finds a counterexample with it too: replicas that acknowledge every
/// second count as good while they lag, so a grant still dies with the
/// master.
#[test]
fn min_replicas_is_checked_on_a_sentinel_failover_and_does_not_certify_it() {
    let (s, r) = broken_then_suggested(
        "tests/hunt-scenarios/row-15-sentinel-failover.toml",
        Kind::Kill,
    );
    let (m, report) = find(&r, "min-replicas");
    let mitigated = m.scenario.as_ref().expect("sentinel masters have replicas");
    assert_eq!(mitigated.redis.min_replicas_to_write, 1);
    assert_eq!(mitigated.lock, s.lock);
    let report = report.as_ref().expect("checked");
    assert!(
        matches!(report.verdict, Verdict::Counterexample(_)),
        "{}",
        report.summary()
    );
    counterexamples_replay(&r);
    // Already on: skipped with the reason.
    let m = mitigations(mitigated);
    let (_, why) = (m[5].name, m[5].scenario.as_ref().unwrap_err());
    assert!(why.contains("already `min_replicas_to_write = 1`"), "{why}");
}

/// A library upgrade is offered where the scenario names a profile: the
/// profile's current version, with every [lock] key the scenario set on
/// top of its version kept; re-checked like any mitigation. Redisson
/// 3.11 (no WAIT) upgraded to the current version waits for a replica,
/// so the kill right after the grant (row 36) no longer breaks it; a
/// kill after the acquire reply still does (row 37: WAIT is not
/// consensus), and the check says so.
#[test]
fn a_library_upgrade_keeps_the_scenarios_own_keys_and_is_rechecked() {
    let mut s = load("../scenarios/redisson-3-11-0-sentinel-kill-after-grant.toml");
    s.lock.request_timeout_ms = 777; // a key the scenario sets itself
    let m = mitigations(&s);
    let (up, _) = m
        .iter()
        .map(|x| (x, ()))
        .find(|(x, _)| x.name == "library-upgrade")
        .expect("offered");
    assert_eq!(up.what, "library = \"redisson@4.7.0\"");
    let u = up.scenario.as_ref().expect("applicable");
    assert_eq!(u.lock.library.as_deref(), Some("redisson@4.7.0"));
    assert_eq!(u.lock.request_timeout_ms, 777, "the scenario's own key");
    assert_eq!(
        u.lock.sync_replicas,
        locksim_models::SyncReplicas::Any,
        "4.7.0's WAIT rule"
    );
    assert!(u.lock.single_server_no_resend, "a 3.37 change");
    // Already current: not applicable.
    let now = load("../scenarios/redisson-4-7-0-resent-acquire-runs-twice.toml");
    let m = mitigations(&now);
    let up = m.iter().find(|x| x.name == "library-upgrade").unwrap();
    assert!(up.scenario.as_ref().unwrap_err().contains("already"));
    // Re-checked: a kill at any decision point still breaks 4.7.0.
    let r = suggest(check_with(Kind::Kill), &s);
    let (_, report) = find(&r, "library-upgrade");
    let report = report.as_ref().expect("checked");
    assert!(
        matches!(report.verdict, Verdict::Counterexample(_)),
        "{}",
        report.summary()
    );
}
