//! Hunt findings shrink to the fewest faults: after the delta-debugging
//! shrink, `check` re-places what is left on triggers, with fewer faults
//! where fewer suffice (`locksim::search::fewest`).

use locksim::model::{Fault, NodeRef, Scenario, Trigger, When};
use locksim::oracle::ViolationKind::L;
use locksim::scenario::load_scenario;
use locksim::search::check::space::Kind;
use locksim::search::fewest::{fewest, kinds_of};
use locksim::search::hunt::{Hunt, Saved, Shard};
use locksim::world::run::run;
use std::path::{Path, PathBuf};

fn load(rel: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    load_scenario(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn out_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("locksim-fewest-{name}-{}", std::process::id()))
}

/// The first finding of each of `n` shards of seeds 0..400, saved.
fn findings(s: &Scenario, name: &str, n: u64) -> Vec<Saved> {
    (0..n)
        .map(|i| {
            let f = Hunt::new(s.clone())
                .seeds(0..400)
                .shard(Shard { index: i, count: n })
                .jobs(2)
                .dir(out_dir(name))
                .assert_finds(L);
            let saved = f.save().expect("writes the finding");
            assert!(saved.replay_matches, "{}", saved.describe());
            saved
        })
        .collect()
}

#[test]
fn the_needle_failover_shrinks_to_the_one_kill_after_the_acquire() {
    // A kill of the master inside the 1-2 ms between a grant and its
    // replication: every finding ends as that one kill.
    let s = load("tests/hunt-scenarios/row-15-sentinel-failover.toml");
    let all = findings(&s, "row-15", 6);
    for saved in &all {
        assert_eq!(saved.minimal.faults.len(), 1, "{}", saved.describe());
        assert!(matches!(
            saved.minimal.faults[0].fault,
            Fault::Kill {
                node: NodeRef::Redis(0),
                ..
            }
        ));
    }
    // Seed 138 draws 6 kills, and the shrink keeps 3 of them at their
    // random times; check re-places them as the one kill right after the
    // acquire reply.
    let first = &all[0];
    assert_eq!(first.shrunk.outcome.seed, 138);
    let replaced = first.shrunk.replaced.expect("check re-placed the faults");
    assert_eq!(replaced.shrunk_faults, 3, "{}", first.describe());
    assert!(
        matches!(
            first.minimal.faults[0].when,
            When::On {
                trigger: Trigger::Acquired { .. },
                delay_ms: 0,
                ..
            }
        ),
        "{}",
        first.minimal.to_toml()
    );
    assert!(first.describe().contains("check re-placed the 3 faults"));
    let _ = std::fs::remove_dir_all(out_dir("row-15"));
}

#[test]
fn three_redlock_masters_under_random_kills_shrink_to_two_kills_or_fewer() {
    // Redlock on three masters without persistence: a master killed after
    // an acquire comes back empty at once. The nemesis draws 6-18 kills a
    // run; two (or one, where the holder had only two masters) suffice.
    let mut s = load("tests/hunt-scenarios/row-29-redlock-restart-no-persistence.toml");
    s.redis.nodes = 3;
    s.nemesis.kill = 0.8;
    for saved in findings(&s, "redlock-3", 8) {
        assert!(saved.shrunk.faults_before >= 6, "{}", saved.describe());
        assert!(saved.minimal.faults.len() <= 2, "{}", saved.describe());
        assert!(saved
            .minimal
            .faults
            .iter()
            .all(|f| matches!(f.fault, Fault::Kill { .. })));
    }
    let _ = std::fs::remove_dir_all(out_dir("redlock-3"));
}

#[test]
fn check_re_places_only_with_fewer_faults_that_keep_the_violation() {
    let s = load("tests/hunt-scenarios/row-15-sentinel-failover.toml");
    let seed = 138;
    let keep_l = |o: &locksim::world::run::Outcome| o.check.violations.iter().any(|v| v.kind == L);
    // The needle's minimal file: with one fault there is nothing fewer to
    // find.
    let one = Hunt::new(s)
        .seeds(seed..seed + 1)
        .assert_finds(L)
        .save_to(&out_dir("one"))
        .expect("saved")
        .minimal;
    assert_eq!(one.faults.len(), 1);
    assert_eq!(kinds_of(&one), vec![Kind::Kill]);
    assert!(fewest(&one, seed, Some(L), &keep_l, 1000).is_none());
    // Two copies of it: one is found again, placed on its trigger.
    let mut two = one.clone();
    two.faults.push(one.faults[0].clone());
    let placed = fewest(&two, seed, Some(L), &keep_l, 1000).expect("one kill suffices");
    assert_eq!(placed.scenario.faults.len(), 1);
    assert_eq!(placed.shrunk_faults, 2);
    assert_eq!(
        run(&placed.scenario, seed).hash(),
        placed.outcome.hash(),
        "the placed schedule replays"
    );
    // No violation kind to keep (a liveness finding): nothing is placed.
    assert!(fewest(&two, seed, None, &keep_l, 1000).is_none());
    // A predicate nothing satisfies: nothing is placed.
    assert!(fewest(&two, seed, Some(L), &|_| false, 1000).is_none());
    let _ = std::fs::remove_dir_all(out_dir("one"));
}
