//! The hunt machinery, on ground-truth hunt scenarios: a finding shrinks
//! to a minimal file that replays to the same hash, shrinking and the first
//! finding do not depend on jobs, shards merge to the unsharded sweep, a
//! failed `assert_safe` says what to run, proptest's search shrinks, and
//! the CLI's exit codes and output. The rows themselves are `hunts.rs`.

use locksim::model::{Scenario, Verdict};
use locksim::oracle::ViolationKind::L;
use locksim::search::hunt::{Hunt, Shard};
use locksim::search::strategy;
use locksim::world::run::run;

use locksim::scenario::{load_scenario, parse_scenario};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Seeds a violation hunt may spend before it fails (it stops at the first).
const FIND: u64 = 1000;

fn file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hunt-scenarios")
        .join(format!("{name}.toml"))
}

fn scenario(name: &str) -> Scenario {
    load_scenario(&file(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// Where a failing test leaves its finding: `$LOCKSIM_HUNT_DIR`, else the
/// workspace's `target/locksim-hunts` (the binary's own default,
/// `./locksim-hunts`, would land in `sim/` under cargo test).
fn findings_dir() -> PathBuf {
    match std::env::var_os("LOCKSIM_HUNT_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/locksim-hunts"),
    }
}

fn hunt(name: &str) -> Hunt {
    Hunt::new(scenario(name))
        .file(file(name).display().to_string())
        .jobs(2)
        .dir(findings_dir())
}

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("locksim-hunts-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

// -------------------------------------------------- shrinking and replaying

#[test]
fn a_found_violation_shrinks_to_a_minimal_file_that_replays_to_the_same_hash() {
    let dir = tmp_dir("shrink");
    let finding = hunt("row-12-no-validity-check")
        .seeds(0..FIND)
        .assert_finds(Verdict::Violation);
    let saved = finding.save_to(&dir).expect("the finding is written");
    assert!(saved.replay_matches, "{}", saved.describe());
    assert!(saved.minimal.faults.len() <= saved.shrunk.faults_before);
    assert!(
        saved.minimal.faults.len() < finding.outcome.schedule.len()
            || finding.outcome.schedule.len() <= 1
    );
    assert!(saved.minimal.nemesis.is_quiet());
    // The file on disk, through the checked parser, replays the same run.
    let minimal = load_scenario(&saved.minimal_file).unwrap_or_else(|e| panic!("{e}"));
    let replay = run(&minimal, minimal.seed);
    assert_eq!(minimal.seed, finding.seed());
    assert_eq!(replay.verdict(), Verdict::Violation);
    assert_eq!(replay.hash(), saved.hash);
    assert!(
        replay.check.violations.iter().any(|v| v.kind == L),
        "an L run stays an L run"
    );
    // The whole random run, explicit, replays the finding itself.
    let original = load_scenario(&saved.original_file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        run(&original, finding.seed()).hash(),
        finding.outcome.hash()
    );
    // And so does the random scenario at the finding's seed.
    assert_eq!(
        run(&finding.scenario, finding.seed()).hash(),
        finding.outcome.hash()
    );
    assert!(saved.report_dir.join("report.md").is_file());
    assert!(
        saved.repro.starts_with("locksim run ")
            && saved.repro.ends_with(&format!("--seed {}", finding.seed()))
    );
}

#[test]
fn shrinking_is_deterministic() {
    let f = hunt("row-17-restart-no-persistence")
        .seeds(0..FIND)
        .assert_finds(Verdict::Violation);
    let a = f.shrink();
    let b = f.shrink();
    assert_eq!(a.scenario, b.scenario);
    assert_eq!(a.outcome.hash(), b.outcome.hash());
    assert!(
        a.scenario.faults.len() <= 2,
        "one kill explains row 17: {:?}",
        a.scenario.faults
    );
}

#[test]
fn the_first_finding_does_not_depend_on_jobs() {
    let one = hunt("row-14-server-clock-jump")
        .jobs(1)
        .seeds(0..FIND)
        .assert_finds(L);
    let two = hunt("row-14-server-clock-jump")
        .jobs(2)
        .seeds(0..FIND)
        .assert_finds(L);
    assert_eq!(one.seed(), two.seed());
    assert_eq!(one.outcome.hash(), two.outcome.hash());
}

#[test]
fn shards_split_the_seeds_and_merge_to_the_unsharded_sweep() {
    let name = "row-12-no-validity-check";
    let all = hunt(name)
        .seeds(0..60)
        .keep_going(true)
        .run(Verdict::Violation);
    let mut runs = 0;
    let mut verdicts = [0u64; 3];
    let mut firsts = Vec::new();
    for i in 0..3 {
        let r = hunt(name)
            .seeds(0..60)
            .shard(Shard { index: i, count: 3 })
            .keep_going(true)
            .run(Verdict::Violation);
        runs += r.runs;
        for (sum, n) in verdicts.iter_mut().zip(r.verdicts) {
            *sum += n;
        }
        if let Some(f) = &r.first {
            assert_eq!(f.seed() % 3, i);
            firsts.push(f.seed());
        }
    }
    assert_eq!(runs, all.runs);
    assert_eq!(verdicts, all.verdicts);
    assert_eq!(firsts.into_iter().min(), all.first.map(|f| f.seed()));
}

#[test]
fn a_failed_assert_safe_names_the_verdict_the_repro_line_and_the_files() {
    let dir = tmp_dir("panic");
    let h = hunt("row-12-no-validity-check").seeds(0..FIND).dir(&dir);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.assert_safe();
    }))
    .expect_err("row 12 is not safe");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("violation at seed"), "{msg}");
    assert!(
        msg.contains("locksim run ") && msg.contains("--seed "),
        "{msg}"
    );
    assert!(
        msg.contains("minimal.toml") && msg.contains("report.md"),
        "{msg}"
    );
    let min = dir
        .join("hunt-row-12-no-validity-check")
        .join("minimal.toml");
    assert!(min.is_file(), "{}", min.display());
}

#[test]
fn proptest_search_shrinks_a_generated_schedule_and_the_minimum_replays() {
    let base = scenario("row-14-server-clock-jump");
    let found = strategy::search_with(strategy::schedule_case(&base), 200, 3, &|o| {
        o.check.violations.iter().any(|v| v.kind == L)
    })
    .expect("clock jumps break set-nx-px");
    assert!(found.scenario.nemesis.is_quiet());
    assert!(
        found.scenario.faults.len() <= 3,
        "proptest shrank it: {:?}",
        found.scenario.faults
    );
    let back =
        parse_scenario(&found.scenario.to_toml(), "found.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, found.scenario);
    assert_eq!(run(&back, found.seed).hash(), found.outcome.hash());
}

#[test]
fn parameter_strategies_stay_valid() {
    // Every generated case parses back from its own file.
    let base = scenario("row-29-redlock-restart-no-persistence");
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let cases = strategy::case(&base);
    for _ in 0..50 {
        let (s, _) = cases.new_tree(&mut runner).expect("a case").current();
        let back = parse_scenario(&s.to_toml(), "case.toml")
            .unwrap_or_else(|e| panic!("{e}\n{}", s.to_toml()));
        assert_eq!(back, s);
    }
}

// ---------------------------------------------------------------------- CLI

fn locksim(args: &[&str], hunt_dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args(args)
        .env("LOCKSIM_HUNT_DIR", hunt_dir)
        .output()
        .expect("locksim runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn cli_hunt_exits_1_with_a_repro_line_when_it_finds_a_violation() {
    let f = file("row-12-no-validity-check").display().to_string();
    let dir = tmp_dir("cli-found");
    let (code, out) = locksim(
        &["hunt", &f, "--seeds", "200", "--jobs", "2", "--json"],
        &dir,
    );
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    let first = &v["first"];
    let seed = first["seed"].as_u64().expect("a seed");
    assert_eq!(first["repro"], format!("locksim run {f} --seed {seed}"));
    assert_eq!(first["minimal"]["replay_matches"], true);
    assert_eq!(
        v["verdicts"]["violation"].as_u64(),
        Some(v["violations_found"].as_u64().unwrap())
    );
    // The minimal file replays through `locksim run` to the same hash.
    let min = first["minimal"]["file"]
        .as_str()
        .expect("a file")
        .to_string();
    let (code, out) = locksim(&["run", &min, "--json"], &dir);
    assert_eq!(code, 0, "the minimal file expects its violation: {out}");
    let r: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(r["hash"], first["minimal"]["hash"]);
    assert_eq!(r["verdict"], "violation");
}

#[test]
fn cli_hunt_exits_0_when_nothing_is_found_and_2_on_bad_input() {
    let f = file("row-13-late-release-fenced").display().to_string();
    let dir = tmp_dir("cli-safe");
    let (code, out) = locksim(&["hunt", &f, "--seeds", "20", "--jobs", "2"], &dir);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no violation found"), "{out}");
    let (code, _) = locksim(&["hunt", "no-such-file.toml"], &dir);
    assert_eq!(code, 2);
    let (code, _) = locksim(&["hunt", &f, "--shard", "3/3"], &dir);
    assert_eq!(code, 2);
}
