//! Cargo-test hunts: the ground truth (GROUND-TRUTH.md) from random faults.
//!
//! For every violation row this build can simulate, a hunt over a scenario
//! with a `[nemesis]` (random faults at given rates, not a hand-placed
//! schedule; files in `tests/hunt-scenarios/`) must find the violation
//! within a seed budget. For every safe row, a budget of seeds must find
//! nothing. Crash rows (a client dies) use a proptest strategy of random
//! client kills, since the nemesis kills Redis nodes only. The machinery
//! itself (shrinking, jobs and shards, the CLI) is `hunt_machinery.rs`.
//!
//! The default budgets keep this file to about a minute on 2 cores. Larger
//! budgets (10x seeds for every safe row) are `#[ignore]`d:
//!
//! ```text
//! cargo test --release -p locksim --test hunts -- --ignored
//! ```
//!
//! Findings are written under `target/locksim-hunts/` (or `$LOCKSIM_HUNT_DIR`).

use locksim::history::EventKind;
use locksim::model::{Fault, FaultSpec, NodeRef, Scenario, Verdict, When};
use locksim::oracle::ViolationKind::{L, R};
use locksim::search::hunt::{Hunt, Target};
use locksim::search::strategy;
use locksim_models::Reply;

use locksim::scenario::{load_scenario, parse_scenario};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

mod library_hunts;

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

// ------------------------------------- production Redis rows (52, 55, 56)

#[test]
fn row_52_min_replicas_does_not_stop_a_failover_from_losing_the_grant() {
    hunt("row-52-sentinel-min-replicas")
        .seeds(0..FIND)
        .assert_finds(L);
}

/// Whether `client` sent the same command twice in a row (the library's
/// re-send) and the node ran both copies with these replies.
fn re_sent(events: &[locksim::history::Event], client: usize, replies: [Reply; 2]) -> bool {
    let cmds: Vec<(&Vec<Vec<u8>>, &Reply)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Command {
                client: c,
                cmd,
                reply,
                ..
            } if *c == client => Some((cmd, reply)),
            _ => None,
        })
        .collect();
    cmds.windows(2)
        .any(|w| w[0].0 == w[1].0 && *w[0].1 == replies[0] && *w[1].1 == replies[1])
}

#[test]
fn row_55_a_lost_set_reply_and_its_re_send_leave_a_phantom_holder() {
    let f = hunt("row-55-client-retry-phantom")
        .seeds(0..FIND)
        .assert_finds(Verdict::Liveness);
    let ev = &f.outcome.history.events;
    let phantom = (0..3).any(|c| re_sent(ev, c, [Reply::ok(), Reply::nil()]));
    assert!(
        phantom,
        "seed {}: stuck because a re-sent SET found its own key",
        f.seed()
    );
}

#[test]
fn row_56_a_re_sent_del_deletes_the_next_holders_lock() {
    let f = hunt("row-56-client-retry-del")
        .seeds(0..FIND)
        .assert_finds(L);
    let ev = &f.outcome.history.events;
    let twice = (0..3).any(|c| re_sent(ev, c, [Reply::Int(1), Reply::Int(1)]));
    assert!(twice, "seed {}: a re-sent DEL deleted a lock", f.seed());
    // The same faults without the re-send: no L.
    let mut once = scenario("row-56-client-retry-del");
    once.lock.client_retries = 0;
    Hunt::new(once)
        .name("row-56-without-retries")
        .jobs(2)
        .dir(findings_dir())
        .seeds(0..SAFE)
        .assert_never(L);
}

/// Whether an L violation of `o` is Redis Cluster's failover story: the
/// later of the two leases was granted by a replica elected before it.
fn granted_by_an_elected_replica(o: &locksim::world::run::Outcome) -> bool {
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
