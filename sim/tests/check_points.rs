//! `locksim check`'s newer decision points and `--keep-faults`: a pause
//! between a `get-then-del` release's GET and its DEL (row 5), the moment a
//! killed node comes back before it resynced, and the scenario's own
//! faults kept as part of the setup (row 37's replica cut off).

use locksim::history::EventKind;
use locksim::model::{Fault, NodeRef, Persistence, Scenario, Verdict as RunVerdict, When};
use locksim::oracle::ViolationKind;
use locksim::scenario::{load_scenario, parse_scenario_unchecked};
use locksim::search::check::points::{points, PointKind};
use locksim::search::check::space::{faults_at, Kind};
use locksim::search::check::{Check, Counterexample, Report, Verdict};
use locksim::world::run::run;
use std::path::Path;

fn load(rel: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    load_scenario(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn counterexample(r: &Report) -> &Counterexample {
    match &r.verdict {
        Verdict::Counterexample(cx) => cx,
        _ => panic!("expected a counterexample: {}", r.summary()),
    }
}

/// The counterexample's scenario, written and read back, replays to the
/// same history.
fn replays(cx: &Counterexample, seed: u64) {
    let text = cx.scenario.to_toml();
    let back = parse_scenario_unchecked(&text, "minimal.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        run(&back, seed).hash(),
        cx.outcome.hash(),
        "the written counterexample replays:\n{text}"
    );
}

fn has_l(cx: &Counterexample) -> bool {
    cx.outcome
        .check
        .violations
        .iter()
        .any(|v| v.kind == ViolationKind::L)
}

#[test]
fn a_pause_between_a_releases_get_and_its_del_is_a_decision_point() {
    // Row 5: the holder's GET returns its own token; paused before the
    // DEL goes out, it deletes the key the next client took meanwhile.
    let s = load("tests/hunt-scenarios/row-05-get-then-del.toml");
    let check = Check::new(s)
        .alphabet(vec![Kind::Pause])
        .want(Some(ViolationKind::L))
        .jobs(2);
    let r = check.run();
    let cx = counterexample(&r);
    assert_eq!(cx.schedule.placements.len(), 1, "{}", r.summary());
    let p = &cx.schedule.placements[0];
    assert_eq!(p.point.kind, PointKind::ReleaseRead, "{}", r.summary());
    assert!(
        matches!(p.point.when, When::On { trigger, .. } if trigger.to_string().starts_with("replied:client-")),
        "{}",
        r.summary()
    );
    assert!(has_l(cx));
    // The paused client's DEL deleted a key another client had set.
    let client = p.point.client.expect("a release read is a client's");
    let resumed = p.point.t_us;
    assert!(
        cx.outcome.history.events.iter().any(|e| e.t_us > resumed
            && matches!(&e.kind, EventKind::Command { client: c, cmd, .. }
                if *c == client && cmd[0] == b"DEL")),
        "client-{client} sent its DEL after the pause"
    );
    replays(cx, check.run_seed());
}

#[test]
fn a_budget_that_ends_while_confirming_says_the_counterexample_may_not_be_the_earliest() {
    let s = load("tests/hunt-scenarios/row-05-get-then-del.toml");
    let check = || {
        Check::new(s.clone())
            .alphabet(vec![Kind::Pause])
            .want(Some(ViolationKind::L))
            .jobs(2)
    };
    let full = check().run();
    let first = full.coverage.first_violation_runs.expect("met");
    let all = full.coverage.schedules + full.coverage.replays;
    assert!(first < all, "met before the earliest was confirmed");
    assert_eq!(counterexample(&full).unconfirmed, 0);
    // A budget between the two: the violation met is reported, with how
    // many earlier placements did not run.
    let cut = check().max_runs(first + 1).run();
    let cx = counterexample(&cut);
    assert!(cx.unconfirmed > 0, "{}", cut.summary());
    assert!(
        cut.summary().contains("a yet earlier one may exist"),
        "{}",
        cut.summary()
    );
    assert!(has_l(cx));
}

#[test]
fn only_replies_followed_by_another_command_of_the_release_are_points() {
    // A compare-and-delete script is one command: its reply ends the
    // release, so no release read is a point there.
    let s = load("../scenarios/set-nx-px-no-faults.toml");
    let o = run(&s, s.seed);
    let pts = points(&o.history.events, &s.lock.key, 0, u64::MAX);
    assert!(pts.iter().all(|p| p.kind != PointKind::ReleaseRead));
    let mut g = s.clone();
    g.lock.release = locksim_models::Release::GetThenDel;
    let o = run(&g, g.seed);
    let reads = points(&o.history.events, &g.lock.key, 0, u64::MAX)
        .into_iter()
        .filter(|p| p.kind == PointKind::ReleaseRead)
        .count();
    let releases = o
        .history
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ReleaseInvoke { .. }))
        .count();
    assert_eq!(reads, releases, "one GET before each DEL");
}

/// Row 37's setup: Redisson 4.7.0 on Sentinel with two replicas, redis-2
/// cut off from the master, client-0 acquiring on a `WAIT 2` that counts
/// redis-1 alone, and redis-1 killed for 100 ms after it (the built-in
/// scenario minus its final master kill). With `aof-always` and a 100 ms
/// restart delay, a master kill on its own loses nothing.
fn row_37_setup() -> Scenario {
    let mut s = load("../scenarios/redisson-4-7-0-wait-counted-the-wrong-replica.toml");
    let last = s.faults.pop().expect("the master kill");
    assert!(matches!(
        last.fault,
        Fault::Kill {
            node: NodeRef::Redis(0),
            ..
        }
    ));
    s.redis.persistence = Persistence::AofAlways;
    s.redis.restart_delay_ms = 100;
    s
}

#[test]
fn kept_faults_are_part_of_the_setup_and_of_the_counterexample() {
    let s = row_37_setup();
    let own = s.faults.len();
    let kills = || {
        Check::new(s.clone())
            .alphabet(vec![Kind::Kill])
            .want(Some(ViolationKind::L))
            .jobs(2)
    };
    // Without its own faults the replicas stay in sync: no single kill
    // breaks it.
    let dropped = kills().run();
    assert!(
        matches!(dropped.verdict, Verdict::Certified),
        "{}",
        dropped.summary()
    );
    assert_eq!(dropped.kept, 0);
    // With them (redis-2 cut off, redis-1 down for 100 ms), one master
    // kill lets Sentinel promote redis-2, which never had the lock.
    let check = kills().keep_faults(true);
    assert_eq!(check.kept_faults(), own);
    let kept = check.run();
    let cx = counterexample(&kept);
    assert_eq!(cx.schedule.placements.len(), 1, "{}", kept.summary());
    assert!(
        kept.summary().ends_with(&format!(
            "(on top of the scenario's own {own} fault(s), kept)"
        )),
        "{}",
        kept.summary()
    );
    assert_eq!(cx.scenario.faults.len(), own + 1);
    assert_eq!(cx.scenario.faults[..own], s.faults[..]);
    assert!(has_l(cx));
    assert!(cx
        .outcome
        .history
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Failover { node: 2, .. })));
    replays(cx, check.run_seed());
    // `keep_faults(false)` puts the plain check back.
    assert_eq!(
        kills().keep_faults(true).keep_faults(false).kept_faults(),
        0
    );
}

#[test]
fn a_node_back_from_a_kill_is_a_point_where_the_other_nodes_come_first() {
    let s = row_37_setup();
    let o = run(&s, s.seed);
    assert_eq!(o.verdict(), RunVerdict::Safe, "the setup alone is safe");
    let heal_us = s.heal_ms() * 1000;
    let pts = points(&o.history.events, &s.lock.key, 0, heal_us);
    let back = pts
        .iter()
        .find(|p| p.kind == PointKind::Restart)
        .expect("redis-1's restart is a decision point");
    assert_eq!(back.node, Some(NodeRef::Redis(1)));
    // Kills there: the master first, the node that just came back last
    // among the Redis nodes.
    let order: Vec<NodeRef> = faults_at(&s, &[Kind::Kill], back)
        .into_iter()
        .filter_map(|f| match f {
            Fault::Kill { node, .. } => Some(node),
            _ => None,
        })
        .fold(Vec::new(), |mut v, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        });
    assert_eq!(
        order[..3],
        [NodeRef::Redis(0), NodeRef::Redis(2), NodeRef::Redis(1)]
    );
    // No restart point in a run without kills.
    let quiet = Check::new(s.clone());
    let o = run(quiet.base(), s.seed);
    assert!(points(&o.history.events, &s.lock.key, 0, heal_us)
        .iter()
        .all(|p| p.kind != PointKind::Restart));
}

/// Row 37 from its hunt scenario: its own faults kept, two kills placed
/// (redis-1 down for the restart delay, the master killed as it comes
/// back). About 40,000 runs to the earliest counterexample: 3 minutes on
/// 2 cores.
#[test]
#[ignore]
fn row_37_two_kills_on_top_of_the_hunt_scenarios_setup() {
    let s = load("tests/hunt-scenarios/row-37-redisson-wait-not-consensus.toml");
    let check = Check::new(s)
        .keep_faults(true)
        .faults(2)
        .alphabet(vec![Kind::Kill])
        .want(Some(ViolationKind::L));
    let r = check.run();
    let cx = counterexample(&r);
    assert_eq!(cx.schedule.placements.len(), 2, "{}", r.summary());
    assert_eq!(cx.schedule.placements[1].point.kind, PointKind::Restart);
    assert!(has_l(cx));
    replays(cx, check.run_seed());
}
