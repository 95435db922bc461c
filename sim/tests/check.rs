//! `locksim check`: bounded, systematic placement of faults at the
//! decision points of a run.

use locksim::history::EventKind;
use locksim::model::{Fault, FaultSpec, NodeRef, Scenario, Verdict as RunVerdict, When};
use locksim::scenario::{load_scenario, parse_scenario_unchecked};
use locksim::search::check::shard::{merge, ShardResult};
use locksim::search::check::space::Kind;
use locksim::search::check::{Check, Report, Verdict};
use locksim::search::hunt::Shard;
use locksim::world::run::run;
use std::path::Path;

fn load(rel: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    load_scenario(&p).unwrap_or_else(|e| panic!("{e}"))
}

/// A small setup: 2 clients x 2 cycles, so K = 2 stays quick.
fn small(rel: &str) -> Scenario {
    let mut s = load(rel);
    s.clients.count = 2;
    s.clients.cycles = 2;
    s
}

fn order_of(r: &Report) -> Option<Vec<u64>> {
    match &r.verdict {
        Verdict::Counterexample(cx) => Some(cx.schedule.order.clone()),
        _ => None,
    }
}

#[test]
fn adding_a_fault_leaves_the_run_before_it_untouched() {
    let s = load("../scenarios/set-nx-px-no-faults.toml");
    let base = run(&s, 3);
    for (when, cut_us) in [
        (When::At { at_ms: 1500 }, 1_500_000),
        (
            When::On {
                trigger: locksim::model::Trigger::Granted { node: 0, client: 1 },
                nth: 2,
                delay_ms: 0,
            },
            0,
        ),
    ] {
        let mut f = s.clone();
        f.faults.push(FaultSpec {
            when,
            fault: Fault::Pause {
                node: NodeRef::Client(0),
                for_ms: 100,
            },
        });
        let faulted = run(&f, 3);
        // The first event that differs is the fault itself.
        let same = base
            .history
            .events
            .iter()
            .zip(&faulted.history.events)
            .take_while(|(a, b)| a == b)
            .count();
        let diverges = &faulted.history.events[same];
        assert!(
            matches!(diverges.kind, EventKind::FaultInjected { .. }),
            "{when:?}: the runs part at {:?}, not at the fault",
            diverges.kind
        );
        assert!(diverges.t_us >= cut_us, "{when:?}");
        assert!(same > 10, "{when:?}: a prefix to share ({same} events)");
    }
}

#[test]
fn a_safe_setup_is_certified_and_the_count_is_exact() {
    let s = load("../scenarios/set-nx-px-aof-always-crash.toml");
    let r = Check::new(s)
        .alphabet(vec![Kind::Kill, Kind::PowerLoss])
        .jobs(2)
        .run();
    assert!(matches!(r.verdict, Verdict::Certified), "{}", r.summary());
    let c = &r.coverage;
    assert!(c.points > 20, "{c:?}");
    // Every placement at every point was either run or deduplicated.
    assert_eq!(c.levels_done, 1);
    assert!(c.schedules >= c.points as u64, "{c:?}");
    assert!(r
        .summary()
        .starts_with("certified: no violation with <=1 fault(s)"));
}

#[test]
fn the_failover_row_is_found_at_once_and_the_file_replays_it() {
    let s = load("tests/hunt-scenarios/row-15-sentinel-failover.toml");
    let r = Check::new(s).alphabet(vec![Kind::Kill]).jobs(2).run();
    let Verdict::Counterexample(cx) = &r.verdict else {
        panic!("row 15 must break: {}", r.summary());
    };
    assert_eq!(cx.schedule.placements.len(), 1, "one fault suffices");
    assert!(
        matches!(
            cx.schedule.placements[0].fault,
            Fault::Kill {
                node: NodeRef::Redis(0),
                ..
            }
        ),
        "the master dies: {:?}",
        cx.schedule.placements[0]
    );
    assert!(
        r.coverage.schedules < 20,
        "a systematic pass finds it early: {:?}",
        r.coverage
    );
    assert_eq!(cx.outcome.verdict(), RunVerdict::Violation);
    // The scenario file with the placed faults replays it exactly.
    let text = cx.scenario.to_toml();
    let back = parse_scenario_unchecked(&text, "cx.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run(&back, cx.scenario.seed).hash(), cx.outcome.hash());
}

#[test]
fn the_result_does_not_depend_on_jobs() {
    let s = load("tests/hunt-scenarios/row-12-no-validity-check.toml");
    let one = Check::new(s.clone())
        .alphabet(vec![Kind::Pause])
        .jobs(1)
        .run();
    let two = Check::new(s).alphabet(vec![Kind::Pause]).jobs(2).run();
    assert!(order_of(&one).is_some(), "{}", one.summary());
    assert_eq!(order_of(&one), order_of(&two));
    assert_eq!(one.coverage, two.coverage);
}

#[test]
fn two_faults_are_explored_after_one_and_budgets_stop_with_coverage() {
    let s = small("../scenarios/set-nx-px-aof-always-crash.toml");
    let r = Check::new(s.clone())
        .faults(2)
        .alphabet(vec![Kind::Kill])
        .jobs(2)
        .run();
    assert!(matches!(r.verdict, Verdict::Certified), "{}", r.summary());
    assert_eq!(r.coverage.levels_done, 2);
    let one = Check::new(s.clone())
        .alphabet(vec![Kind::Kill])
        .jobs(2)
        .run();
    assert!(
        r.coverage.schedules > 3 * one.coverage.schedules,
        "level 2 is bigger"
    );
    let cut = Check::new(s)
        .faults(2)
        .alphabet(vec![Kind::Kill])
        .jobs(2)
        .max_runs(one.coverage.schedules + 5)
        .run();
    assert!(
        matches!(cut.verdict, Verdict::Exhausted),
        "{}",
        cut.summary()
    );
    assert_eq!(cut.coverage.levels_done, 1);
    assert!(cut.summary().contains("budget exhausted"));
}

fn shards(s: &Scenario, kinds: &[Kind], n: u64) -> Vec<ShardResult> {
    (0..n)
        .map(|i| {
            let sh = Shard { index: i, count: n };
            let c = Check::new(s.clone())
                .alphabet(kinds.to_vec())
                .jobs(1)
                .shard(sh);
            let r = c.run();
            ShardResult::new(&r, c.base().to_toml(), c.run_seed(), sh)
        })
        .collect()
}

#[test]
fn merged_shards_give_the_single_machine_verdict() {
    // Certified: the coverage adds up to the single machine's.
    let s = load("../scenarios/set-nx-px-aof-always-crash.toml");
    let kinds = [Kind::Kill, Kind::PowerLoss];
    let whole = Check::new(s.clone()).alphabet(kinds.to_vec()).jobs(2).run();
    let m = merge(&shards(&s, &kinds, 3)).expect("merges");
    assert_eq!(m.verdict, "certified");
    assert_eq!(m.coverage.schedules, whole.coverage.schedules);
    assert_eq!(m.coverage.deduplicated, whole.coverage.deduplicated);
    assert_eq!(m.coverage.replays, whole.coverage.replays);
    // A counterexample: the same one the single machine finds.
    let s = load("tests/hunt-scenarios/row-12-no-validity-check.toml");
    let whole = Check::new(s.clone())
        .alphabet(vec![Kind::Pause])
        .jobs(2)
        .run();
    let results = shards(&s, &[Kind::Pause], 2);
    let m = merge(&results).expect("merges");
    assert_eq!(m.verdict, "counterexample");
    assert_eq!(
        Some(m.counterexample.expect("found").order),
        order_of(&whole)
    );
    // Missing, duplicated or foreign shards are refused.
    assert!(merge(&results[..1]).unwrap_err().contains("missing"));
    let twice = vec![results[0].clone(), results[0].clone()];
    assert!(merge(&twice).unwrap_err().contains("twice"));
    let mut other = results.clone();
    other[1].seed += 1;
    assert!(merge(&other).unwrap_err().contains("not the same check"));
}

#[test]
fn an_unknown_or_unbuilt_fault_kind_is_refused() {
    assert!(Kind::parse_list("kill,warp")
        .unwrap_err()
        .contains("unknown fault kind `warp`"));
    assert_eq!(
        Kind::parse_list("memory-pressure").unwrap(),
        vec![Kind::MemoryPressure]
    );
    assert_eq!(
        Kind::parse_list("pause, kill,pause").unwrap(),
        vec![Kind::Kill, Kind::Pause]
    );
}

#[test]
fn a_setup_broken_without_faults_is_a_counterexample_with_none() {
    // Work longer than the TTL: the lease lapses under its holder with no
    // fault at all, so the shortest counterexample places nothing.
    let s = load("../scenarios/set-nx-px-work-longer-than-ttl.toml");
    let r = Check::new(s).alphabet(vec![Kind::Kill]).jobs(1).run();
    let Verdict::Counterexample(cx) = &r.verdict else {
        panic!("{}", r.summary());
    };
    assert!(cx.schedule.placements.is_empty());
    assert!(cx.scenario.faults.is_empty());
    assert_eq!(r.coverage.schedules, 0);
    assert!(
        r.summary().starts_with("counterexample with 0 fault(s)"),
        "{}",
        r.summary()
    );
}

/// `want`: only violations of one kind count. A search for one kind
/// skips runs whose violations are all of the other (Redlock's stale
/// writes from a pause past the validity are not its two holders).
#[test]
fn want_counts_only_violations_of_one_kind() {
    use locksim::oracle::ViolationKind::{self, L, R};
    let kinds = |r: &Report| -> Option<Vec<ViolationKind>> {
        match &r.verdict {
            Verdict::Counterexample(cx) => {
                Some(cx.outcome.check.violations.iter().map(|v| v.kind).collect())
            }
            _ => None,
        }
    };
    let mut skipped = false;
    for file in [
        "tests/hunt-scenarios/row-27-redlock-no-recheck.toml",
        "tests/hunt-scenarios/row-28-redlock-pause-past-validity.toml",
    ] {
        let s = load(file);
        let any = Check::new(s.clone()).jobs(2).run();
        let first = kinds(&any).expect("a violation of some kind");
        for kind in [L, R] {
            let only = Check::new(s.clone())
                .want(Some(kind))
                .jobs(2)
                .max_runs(300)
                .run();
            if let Some(found) = kinds(&only) {
                assert!(found.contains(&kind), "{file} {kind:?}: {found:?}");
            }
            if !first.contains(&kind) {
                // The first violation of any kind is not one of these.
                skipped = true;
                assert_ne!(order_of(&only), order_of(&any), "{file} {kind:?}");
            }
        }
    }
    assert!(skipped, "some first violation lacks a kind");
}
