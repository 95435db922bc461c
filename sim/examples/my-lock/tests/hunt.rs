//! Hunting a bug in my own lock with locksim, from `cargo test`.
//!
//! `cargo test --release` (this crate's `.cargo/config.toml` adds the
//! `--cfg madsim` locksim needs).

use locksim::model::Verdict;
use locksim::oracle::ViolationKind;
use locksim::scenario::load_scenario;
use locksim::search::check::space::Kind;
use locksim::search::check::{self, Check};
use locksim::search::hunt::Hunt;
use locksim::world;
use my_lock::{my_lock, my_lock_fixed};
use std::path::Path;

/// Loads a scenario of this crate, after registering both locks so that
/// `[lock] custom = "..."` resolves.
fn scenario(file: &str) -> locksim::model::Scenario {
    locksim::model::custom::register(my_lock());
    locksim::model::custom::register(my_lock_fixed());
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    load_scenario(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Where hunts write their findings: under this crate's target directory.
fn out_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("my-lock-hunts-{}", std::process::id()))
}

#[test]
fn the_hunt_finds_two_holders_and_shrinks_the_story() {
    let s = scenario("pauses.toml");
    assert_eq!(s.custom_lock.as_ref().map(|c| c.name()), Some("my-lock"));
    let finding = Hunt::new(s)
        .seeds(0..300)
        .jobs(2)
        .dir(out_dir())
        .assert_finds(ViolationKind::L);
    println!("found: seed {}: {}", finding.seed(), finding.summary());
    let saved = finding.save().expect("writes minimal.toml and a report");
    println!("{}", saved.describe());
    // Shrunk to a handful of faults, and the minimal file (which names
    // `custom = "my-lock"`) replays to the same history from disk.
    assert!(saved.minimal.faults.len() <= 3, "{}", saved.describe());
    assert!(saved.replay_matches, "{}", saved.describe());
    assert_eq!(saved.minimal.custom_lock, Some(my_lock()));
    let text = std::fs::read_to_string(&saved.minimal_file).unwrap();
    assert!(text.contains("custom = \"my-lock\""), "{text}");
    // The shrunk run is a lock-level violation: two leases at once.
    let replay = world::run(&saved.minimal, finding.seed());
    assert_eq!(replay.verdict(), Verdict::Violation);
    assert!(replay
        .check
        .violations
        .iter()
        .any(|v| v.kind == ViolationKind::L));
    let _ = std::fs::remove_dir_all(out_dir());
}

#[test]
fn the_fixed_lock_survives_the_same_seeds() {
    // The control: the same scenario and seeds with the compare-and-delete
    // release never lets two clients in. (Pauses past the TTL still give
    // stale writes at the resource, R, as for every lock without fencing:
    // the hunt looks for L only.)
    let s = scenario("pauses.toml").with_custom_lock(my_lock_fixed());
    Hunt::new(s)
        .seeds(0..300)
        .jobs(2)
        .dir(out_dir())
        .assert_never(ViolationKind::L);
}

#[test]
fn check_certifies_the_fenced_fix_and_breaks_the_buggy_lock_both_ways() {
    // `locksim check`'s library API: one pause, of each length, on each
    // node, at every decision point of the fault-free run.
    let pauses = |s| {
        Check::new(s)
            .faults(1)
            .alphabet(vec![Kind::Pause])
            .jobs(2)
            .run()
    };
    let fenced = scenario("fenced.toml").with_custom_lock(my_lock_fixed());
    assert_eq!(world::run(&fenced, fenced.seed).verdict(), Verdict::Safe);
    let report = pauses(fenced.clone());
    println!("my-lock-fixed, fenced: {}", report.summary());
    assert!(
        matches!(report.verdict, check::Verdict::Certified),
        "{}",
        report.summary()
    );

    // Without fencing, one pause of a holder past its TTL is enough: its
    // late write lands after the next holder began (R), the counterexample
    // replays with the same custom lock, and its history shows the lock's
    // own commands.
    let mut unfenced = fenced.with_custom_lock(my_lock());
    unfenced.lock.fencing = false;
    let report = pauses(unfenced.clone());
    println!("my-lock, unfenced: {}", report.summary());
    let check::Verdict::Counterexample(c) = &report.verdict else {
        panic!("expected a counterexample: {}", report.summary());
    };
    assert!(c
        .outcome
        .check
        .violations
        .iter()
        .any(|v| v.kind == ViolationKind::R));
    assert_eq!(c.scenario.custom_lock, Some(my_lock()));
    assert_eq!(
        world::run(&c.scenario, unfenced.seed).hash(),
        c.outcome.hash()
    );
    let jsonl = c.outcome.history.to_jsonl();
    assert!(
        jsonl.contains("\"GET\"") && jsonl.contains("\"DEL\""),
        "GET-then-DEL release"
    );

    // The fenced *buggy* lock: fencing stops the stale writes, but not
    // the GET-then-DEL release. Check places a pause right after a
    // release read a reply it acts on next (`replied:client-i`), between
    // this release's GET and its DEL; the DEL then deletes the next
    // holder's key and a third client gets in beside it (L).
    let buggy_fenced = scenario("fenced.toml");
    let report = pauses(buggy_fenced.clone());
    println!("my-lock, fenced: {}", report.summary());
    let check::Verdict::Counterexample(c) = &report.verdict else {
        panic!("expected a counterexample: {}", report.summary());
    };
    assert!(report.summary().contains("after the release read"), "{}", report.summary());
    assert!(c
        .outcome
        .check
        .violations
        .iter()
        .any(|v| v.kind == ViolationKind::L));
    assert_eq!(
        world::run(&c.scenario, buggy_fenced.seed).hash(),
        c.outcome.hash()
    );
}
