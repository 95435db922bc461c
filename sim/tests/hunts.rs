//! Cargo-test hunts: the ground truth (GROUND-TRUTH.md) from random faults.
//!
//! For every violation row this build can simulate, a hunt over a scenario
//! with a `[nemesis]` (random faults at given rates, not a hand-placed
//! schedule; files in `tests/hunt-scenarios/`) must find the violation
//! within a seed budget. For every safe row, a budget of seeds must find
//! nothing. Crash rows (a client dies) use a proptest strategy of random
//! client kills, since the nemesis kills Redis nodes only. Then the
//! machinery itself: shrinking to a minimal file that replays to the same
//! hash, jobs- and shard-independence, the panic message, the CLI.
//!
//! The default budgets keep this file to about a minute on 2 cores. Larger
//! budgets (10x seeds for every safe row) are `#[ignore]`d:
//!
//! ```text
//! cargo test --release -p locksim --test hunts -- --ignored
//! ```
//!
//! Findings are written under `target/locksim-hunts/` (or `$LOCKSIM_HUNT_DIR`).

use locksim::model::{Fault, FaultSpec, NodeRef, Scenario, Verdict, When};
use locksim::oracle::ViolationKind::{L, R};
use locksim::search::hunt::{Hunt, Shard, Target};
use locksim::search::strategy;
use locksim::world::run::run;

use locksim::scenario::{load_scenario, parse_scenario};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Seeds a violation hunt may spend before it fails (it stops at the first).
const FIND: u64 = 1000;
/// Seeds a safe row must survive by default; `deep_*` tests run 10x.
const SAFE: u64 = 200;

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

// ----------------------------------------------------------- violation rows

#[test]
fn row_03_setnx_stale_recovery_lets_two_recoverers_in() {
    hunt("row-03-setnx-stale-recovery")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_04_a_late_plain_del_lets_a_third_client_in() {
    hunt("row-04-release-del").seeds(0..FIND).assert_finds(L);
}

#[test]
fn row_05_get_then_del_deletes_the_next_holders_lock() {
    hunt("row-05-get-then-del").seeds(0..FIND).assert_finds(L);
}

#[test]
fn row_08_setnx_getset_clients_with_jumped_clocks_take_a_live_lock() {
    hunt("row-08-getset-clock-jump")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_09_setnx_getset_holder_paused_past_its_timeout_keeps_going() {
    hunt("row-09-getset-pause").seeds(0..FIND).assert_finds(L);
}

#[test]
fn row_11_set_nx_px_pause_past_ttl_writes_stale() {
    hunt("row-11-pause-past-ttl").seeds(0..FIND).assert_finds(R);
}

#[test]
fn row_12_set_nx_px_without_validity_check_lets_two_clients_in() {
    hunt("row-12-no-validity-check")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_14_server_clock_jump_expires_the_holders_key() {
    hunt("row-14-server-clock-jump")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_17_restart_without_persistence_loses_the_key() {
    hunt("row-17-restart-no-persistence")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_15_sentinel_failover_promotes_a_replica_without_the_grant() {
    hunt("row-15-sentinel-failover")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_16_sentinel_split_brain_lets_two_clients_in() {
    hunt("row-16-sentinel-split-brain")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_17_restart_from_an_rdb_older_than_the_lock_loses_the_key() {
    hunt("row-17-restart-rdb").seeds(0..FIND).assert_finds(L);
}

#[test]
fn row_19_power_loss_under_aof_everysec_loses_the_last_second() {
    hunt("row-19-aof-everysec-power-loss")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_22_watchdog_stop_the_world_pause_outlives_the_lease() {
    hunt("row-22-watchdog-pause").seeds(0..FIND).assert_finds(L);
}

#[test]
fn row_23_watchdog_holder_partitioned_from_redis_is_not_told() {
    hunt("row-23-watchdog-partition")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_24_watchdog_failover_loses_the_lock_hash() {
    hunt("row-24-watchdog-failover")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_25_redlock_master_clock_jumps_give_a_second_majority() {
    hunt("row-25-redlock-clock-jump")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_27_redlock_without_validity_recheck_lets_two_clients_in() {
    hunt("row-27-redlock-no-recheck")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_28_redlock_pause_past_validity_writes_stale() {
    hunt("row-28-redlock-pause-past-validity")
        .seeds(0..FIND)
        .assert_finds(R);
}

#[test]
fn row_29_redlock_majority_restart_without_persistence_lets_two_clients_in() {
    hunt("row-29-redlock-restart-no-persistence")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_29_redlock_majority_restart_from_old_snapshots_lets_two_clients_in() {
    hunt("row-29-redlock-restart-rdb")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_29_redlock_majority_power_loss_under_aof_everysec_lets_two_clients_in() {
    hunt("row-29-redlock-everysec-power-loss")
        .seeds(0..FIND)
        .assert_finds(L);
}

#[test]
fn row_32_redlock_client_drift_beyond_the_factor_lets_two_clients_in() {
    hunt("row-32-redlock-drift-beyond")
        .seeds(0..FIND)
        .assert_finds(L);
}

/// Whether an L violation of `o` is Redis Cluster's failover story: the
/// later of the two leases was granted by a replica elected before it.
fn granted_by_an_elected_replica(o: &locksim::world::run::Outcome) -> bool {
    use locksim::history::EventKind;
    let ev = &o.history.events;
    let elected = |node: usize, before: u64| {
        ev.iter().any(|e| {
            e.t_us <= before && matches!(e.kind, EventKind::Failover { node: n, .. } if n == node)
        })
    };
    o.check.violations.iter().filter(|v| v.kind == L).any(|v| {
        ev.iter().any(|e| match &e.kind {
            EventKind::AcquireOk { client, nodes, .. }
                if e.t_us == v.from_us && v.clients.contains(client) =>
            {
                nodes.iter().any(|&n| elected(n, e.t_us))
            }
            _ => false,
        })
    })
}

#[test]
fn row_53_cluster_master_dies_before_replicating_and_its_replica_grants_again() {
    let f = hunt("row-53-cluster-failover")
        .seeds(0..FIND)
        .assert_finds(L);
    assert!(
        granted_by_an_elected_replica(&f.outcome),
        "seed {}: {}",
        f.seed(),
        f.summary()
    );
}

#[test]
fn row_54_cluster_minority_master_holds_while_the_majority_elects_its_replica() {
    let f = hunt("row-54-cluster-partition")
        .seeds(0..FIND)
        .assert_finds(L);
    assert!(
        granted_by_an_elected_replica(&f.outcome),
        "seed {}: {}",
        f.seed(),
        f.summary()
    );
}

// ---------------------------------------------------------------- safe rows

#[test]
fn rows_11_13_set_nx_px_with_fencing_and_lua_release_stays_safe_under_pauses() {
    hunt("row-13-late-release-fenced")
        .seeds(0..SAFE)
        .assert_safe();
}

#[test]
fn row_18_aof_everysec_survives_process_kills() {
    hunt("row-18-aof-everysec-kill")
        .seeds(0..SAFE)
        .assert_safe();
}

#[test]
fn row_20_aof_always_survives_kills_and_power_loss() {
    hunt("row-20-aof-always-crash").seeds(0..SAFE).assert_safe();
}

#[test]
fn row_26_redlock_with_validity_recheck_never_grants_two_leases_under_pauses() {
    hunt("row-26-redlock-pause-recheck")
        .seeds(0..SAFE)
        .assert_never(L);
}

#[test]
fn row_30_redlock_with_delayed_restart_stays_safe_under_random_kills() {
    hunt("row-30-redlock-delayed-restart")
        .seeds(0..SAFE)
        .assert_safe();
}

#[test]
fn row_32_redlock_client_drift_within_the_factor_stays_safe() {
    hunt("row-32-redlock-drift-within")
        .seeds(0..SAFE)
        .assert_safe();
}

#[test]
fn row_31_redlock_with_aof_always_survives_kills_and_power_loss() {
    hunt("row-31-redlock-aof-always")
        .seeds(0..SAFE)
        .assert_safe();
}

#[test]
fn row_33_redlock_partitions_cost_liveness_never_two_leases() {
    hunt("row-33-redlock-partition")
        .seeds(0..SAFE)
        .assert_never(L);
}

#[ignore = "deep budget: cargo test --release --test hunts -- --ignored"]
#[test]
fn deep_safe_rows() {
    for (name, target) in [
        (
            "row-13-late-release-fenced",
            Target::Verdict(Verdict::Violation),
        ),
        ("row-26-redlock-pause-recheck", Target::Kind(L)),
        (
            "row-30-redlock-delayed-restart",
            Target::Verdict(Verdict::Violation),
        ),
        (
            "row-18-aof-everysec-kill",
            Target::Verdict(Verdict::Violation),
        ),
        (
            "row-20-aof-always-crash",
            Target::Verdict(Verdict::Violation),
        ),
        (
            "row-31-redlock-aof-always",
            Target::Verdict(Verdict::Violation),
        ),
        (
            "row-32-redlock-drift-within",
            Target::Verdict(Verdict::Violation),
        ),
        ("row-33-redlock-partition", Target::Kind(L)),
    ] {
        hunt(name).seeds(0..SAFE * 10).assert_never(target);
    }
}

// ------------------------------------------- crash rows: random client kills

/// A base scenario plus 1-3 kills of random clients at random times, each
/// down 0-3 s: a proptest strategy (the nemesis kills Redis nodes only).
fn client_kills(base: Scenario) -> BoxedStrategy<(Scenario, u64)> {
    let clients = base.clients.count;
    let heal = base.heal_ms();
    let kill = (0..clients, 0..heal, 0u64..3000).prop_map(|(c, at_ms, ms)| FaultSpec {
        when: When::At { at_ms },
        fault: Fault::Kill {
            node: NodeRef::Client(c),
            for_ms: Some(ms),
        },
    });
    (proptest::collection::vec(kill, 1..=3), 0u64..1000)
        .prop_map(move |(kills, seed)| {
            let mut s = base.clone();
            s.faults = kills;
            s.seed = seed;
            (s, seed)
        })
        .boxed()
}

fn crash_base(algorithm: &str) -> Scenario {
    let text = format!(
        "name = \"crash-{algorithm}\"\nexpect = \"safe\"\nduration_ms = 20000\nheal_at = 0.75\n\
         [lock]\nalgorithm = \"{algorithm}\"\nttl_ms = 2000\n\
         [clients]\ncount = 3\ncycles = 6\nwork_ms = [100, 800]\n"
    );
    parse_scenario(&text, "crash.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn assert_crashes_are_safe(algorithm: &str, cases: u32) {
    let found = strategy::search_with(client_kills(crash_base(algorithm)), cases, 1, &|o| {
        o.verdict() == Verdict::Violation
    });
    if let Some(f) = found {
        panic!(
            "{algorithm}: a client crash let two clients in (proptest-shrunk, seed {}):\n{}",
            f.seed,
            f.scenario.to_toml()
        );
    }
}

#[test]
fn rows_06_07_setnx_getset_holder_crash_is_taken_over_safely() {
    assert_crashes_are_safe("setnx-getset", 150);
}

#[test]
fn row_10_set_nx_px_holder_crash_is_safe() {
    assert_crashes_are_safe("set-nx-px", 150);
}

#[test]
fn row_21_watchdog_holder_crash_is_safe() {
    assert_crashes_are_safe("watchdog", 150);
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
