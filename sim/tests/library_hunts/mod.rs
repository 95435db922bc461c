//! Hunts for rows 34-48 of the ground truth: the libraries' incidents, from
//! random faults, each with the library profile set.
//!
//! A violation row must be found within the budget (`FIND` seeds, or a
//! proptest search where the faults that matter are of one kind), and then
//! the finding must be the row's own story, not another way to break the
//! lock: the found run is replayed with the same faults (made explicit)
//! and the same seed, with only the version's behaviour turned off (the
//! fix, or the behaviour the row names), and that replay must not fail the
//! same way. Liveness rows are hunted the same way with the target
//! `Verdict::Liveness`.

use super::*;
use locksim::history::{CallEnd, EventKind};
use locksim::search::hunt::Finding;
use locksim::world::run::{run, Outcome};
use locksim_models::{LockConfig, OnUnsynced, ReleaseOutcome, RenewOnError, Reply};

/// The found run again: its faults explicit, its seed, and `change`
/// applied to the lock.
fn replay_with(f: &Finding, change: impl FnOnce(&mut LockConfig)) -> Outcome {
    let mut s = f.outcome.effective(&f.scenario);
    change(&mut s.lock);
    run(&s, f.seed())
}

fn has_l(o: &Outcome) -> bool {
    o.check.violations.iter().any(|v| v.kind == L)
}

/// Whether `replay` has an L violation overlapping the first one of
/// `found` (what the replay with the behaviour turned off must not have;
/// other, unrelated violations later in the run may remain).
fn same_l(found: &Outcome, replay: &Outcome) -> bool {
    let first = found
        .check
        .violations
        .iter()
        .filter(|v| v.kind == L)
        .min_by_key(|v| v.from_us)
        .expect("an L violation");
    replay
        .check
        .violations
        .iter()
        .any(|v| v.kind == L && v.from_us < first.to_us && first.from_us < v.to_us)
}

/// The first L violation's start (µs) and its two clients.
fn first_l(o: &Outcome) -> (u64, [usize; 2]) {
    let v = o
        .check
        .violations
        .iter()
        .filter(|v| v.kind == L)
        .min_by_key(|v| v.from_us)
        .expect("an L violation");
    (v.from_us, v.clients)
}

/// Whether one of `clients` recorded an event matching `pred` before `t_us`.
fn before(o: &Outcome, t_us: u64, pred: impl Fn(&EventKind) -> bool) -> bool {
    o.history
        .events
        .iter()
        .any(|e| e.t_us <= t_us && pred(&e.kind))
}

/// A proptest search over `strategy` for a run `flag` accepts; panics with
/// the budget when there is none.
fn search(
    what: &str,
    strategy: BoxedStrategy<(Scenario, u64)>,
    cases: u32,
    flag: &dyn Fn(&Outcome) -> bool,
) -> strategy::ProptestFinding {
    strategy::search_with(strategy, cases, 1, flag)
        .unwrap_or_else(|| panic!("{what}: nothing found in {cases} proptest cases"))
}

/// `base` plus 2-3 kills of the Redis nodes `nodes` at random times, each
/// down 50 ms to 4 s: a proptest strategy (the nemesis gives every kill
/// the same down time).
fn redis_kills(base: Scenario, nodes: Vec<usize>) -> BoxedStrategy<(Scenario, u64)> {
    let heal = base.heal_ms();
    let kill =
        (proptest::sample::select(nodes), 0..heal, 50u64..4000).prop_map(|(node, at_ms, ms)| {
            FaultSpec {
                when: When::At { at_ms },
                fault: Fault::Kill {
                    node: NodeRef::Redis(node),
                    for_ms: Some(ms),
                },
            }
        });
    with_faults(base, proptest::collection::vec(kill, 2..=3).boxed())
}

/// `base` plus 1-3 cuts of the link between `redis-0` and `redis-1` at
/// random times, each 0.5-8 s long.
fn replica_cuts(base: Scenario) -> BoxedStrategy<(Scenario, u64)> {
    let heal = base.heal_ms();
    let cut = (0..heal, 500u64..8000).prop_map(|(at_ms, ms)| FaultSpec {
        when: When::At { at_ms },
        fault: Fault::Partition {
            groups: vec![vec![NodeRef::Redis(0)], vec![NodeRef::Redis(1)]],
            for_ms: Some(ms),
        },
    });
    with_faults(base, proptest::collection::vec(cut, 1..=3).boxed())
}

/// `base` plus 1-2 stalls (pauses) of the master `redis-0` at random
/// times, each 1-6 s long.
fn master_stalls(base: Scenario) -> BoxedStrategy<(Scenario, u64)> {
    let heal = base.heal_ms();
    let stall = (0..heal, 1000u64..6000).prop_map(|(at_ms, ms)| FaultSpec {
        when: When::At { at_ms },
        fault: Fault::Pause {
            node: NodeRef::Redis(0),
            for_ms: ms,
        },
    });
    with_faults(base, proptest::collection::vec(stall, 1..=2).boxed())
}

/// `base` with `faults` appended (its nemesis quiet) and a run seed.
fn with_faults(
    base: Scenario,
    faults: BoxedStrategy<Vec<FaultSpec>>,
) -> BoxedStrategy<(Scenario, u64)> {
    (faults, 0u64..1000)
        .prop_map(move |(mut extra, seed)| {
            let mut s = base.clone();
            extra.sort_by_key(|f| match f.when {
                When::At { at_ms } => at_ms,
                When::On { .. } => u64::MAX,
            });
            s.faults.extend(extra);
            locksim::world::nemesis::quiet(&mut s.nemesis);
            s.seed = seed;
            (s, seed)
        })
        .boxed()
}

/// The same run (explicit faults, same seed) with `change` to its lock.
fn replay_case(f: &strategy::ProptestFinding, change: impl FnOnce(&mut LockConfig)) -> Outcome {
    let mut s = f.scenario.clone();
    change(&mut s.lock);
    run(&s, f.seed)
}

// ------------------------------------------------------------ violations

#[test]
fn row_34_redisson_3_11_stale_renewal_entry_leaves_a_later_hold_unrenewed() {
    let f = hunt("row-34-redisson-stale-renewal-entry")
        .seeds(0..FIND)
        .assert_finds(L);
    let (t, clients) = first_l(&f.outcome);
    assert!(
        before(
            &f.outcome,
            t,
            |k| matches!(k, EventKind::Note { client, text }
            if clients.contains(client) && text.contains("never renewed"))
        ),
        "seed {}: the overlap follows a hold that a stale renewal entry left unrenewed",
        f.seed()
    );
    let fixed = replay_with(&f, |l| l.stale_renewal_entry = false);
    assert!(
        !same_l(&f.outcome, &fixed),
        "seed {}: 3.14.0 renews that hold",
        f.seed()
    );
}

#[test]
fn row_35_redisson_3_43_stops_renewing_after_one_failure() {
    let f = hunt("row-35-redisson-renewal-stops")
        .seeds(0..FIND)
        .assert_finds(L);
    let (t, clients) = first_l(&f.outcome);
    assert!(
        before(
            &f.outcome,
            t,
            |k| matches!(k, EventKind::WatchdogStopped { client }
            if clients.contains(client))
        ),
        "seed {}: a watchdog stopped before the overlap",
        f.seed()
    );
    let fixed = replay_with(&f, |l| l.renew_on_error = RenewOnError::Retry);
    assert!(
        !same_l(&f.outcome, &fixed),
        "seed {}: 3.44.0 tries again next period and keeps the lock",
        f.seed()
    );
}

#[test]
fn row_37_redisson_wait_counts_a_replica_sentinel_does_not_promote() {
    // An overlap that begins after Sentinel promoted the lagging redis-2.
    let promoted_laggard = |o: &Outcome| {
        has_l(o)
            && before(o, first_l(o).0, |k| {
                matches!(k, EventKind::Failover { node: 2, .. })
            })
    };
    let base = scenario("row-37-redisson-wait-not-consensus");
    let f = search(
        "row 37",
        redis_kills(base, vec![0, 1]),
        3000,
        &promoted_laggard,
    );
    let (t, clients) = first_l(&f.outcome);
    assert!(
        clients
            .iter()
            .any(|&c| wait_answered(&f.outcome, c, t).contains(&1)),
        "one of the holders acquired on a WAIT 2 that counted one replica:\n{}",
        f.scenario.to_toml()
    );
}

/// The counts `client`'s `WAIT`s answered before `t_us`.
fn wait_answered(o: &Outcome, client: usize, t_us: u64) -> Vec<i64> {
    let mut waits = std::collections::BTreeSet::new();
    let mut counts = Vec::new();
    for e in o.history.events.iter().filter(|e| e.t_us <= t_us) {
        match &e.kind {
            EventKind::CallInvoke {
                client: c, id, cmd, ..
            } if *c == client && cmd[0] == b"WAIT" => {
                waits.insert(*id);
            }
            EventKind::CallDone {
                id,
                end: CallEnd::Ok {
                    reply: Reply::Int(n),
                },
                ..
            } if waits.contains(id) => counts.push(*n),
            _ => {}
        }
    }
    counts
}

#[test]
fn row_40_node_redlock_5_beta_2_never_rechecks_validity() {
    let f = hunt("row-40-node-redlock-no-recheck")
        .seeds(0..FIND)
        .assert_finds(L);
    let fixed = replay_with(&f, |l| l.validity_check = true);
    assert!(
        !same_l(&f.outcome, &fixed),
        "seed {}: v4.2's re-check",
        f.seed()
    );
    hunt("row-40-node-redlock-4-2-recheck")
        .seeds(0..SAFE / 2)
        .assert_never(L);
}

#[test]
fn row_42_node_redlock_using_routine_writes_after_the_abort_signal() {
    let f = hunt("row-42-node-redlock-using-ignores-abort")
        .seeds(0..FIND)
        .assert_finds(R);
    assert!(
        f.outcome
            .history
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Aborted { .. })),
        "seed {}: `using` raised the abort signal",
        f.seed()
    );
    let careful = replay_with(&f, |l| l.checks_abort = true);
    assert!(
        careful.check.stale_writes < f.outcome.check.stale_writes,
        "seed {}: a routine that checks the signal writes less after it",
        f.seed()
    );
}

#[test]
fn row_43_redsync_extend_cannot_restore_copies_lost_to_restarts() {
    let f = hunt("row-43-redsync-extend-erodes")
        .seeds(0..FIND)
        .assert_finds(L);
    let fixed = replay_with(&f, |l| l.extend_setnx = true);
    assert!(
        !same_l(&f.outcome, &fixed),
        "seed {}: WithSetNXOnExtend restores the copies",
        f.seed()
    );
}

#[test]
fn row_45_redis_py_shared_token_deletes_the_next_holders_lock() {
    let f = hunt("row-45-redis-py-shared-token")
        .seeds(0..FIND)
        .assert_finds(L);
    let fixed = replay_with(&f, |l| l.shared_token = false);
    assert!(
        !same_l(&f.outcome, &fixed),
        "seed {}: one token per thread",
        f.seed()
    );
    hunt("row-45-redis-py-own-tokens")
        .seeds(0..SAFE / 2)
        .assert_never(L);
}

#[test]
fn row_47_python_redis_lock_renewal_thread_dies_and_the_key_expires() {
    let f = hunt("row-47-python-redis-lock-renewal-dies")
        .seeds(0..FIND)
        .assert_finds(L);
    let (t, clients) = first_l(&f.outcome);
    assert!(
        before(
            &f.outcome,
            t,
            |k| matches!(k, EventKind::WatchdogStopped { client }
            if clients.contains(client))
        ),
        "seed {}: the renewal thread died before the overlap",
        f.seed()
    );
}

// -------------------------------------------------------------- liveness

#[test]
fn row_38_redisson_3_19_unsynced_acquire_leaves_its_key() {
    let base = scenario("row-38-redisson-unsynced-leftover");
    let live = |o: &Outcome| o.verdict() == Verdict::Liveness;
    let f = search("row 38", replica_cuts(base.clone()), 200, &live);
    assert!(
        f.outcome.history.events.iter().any(|e| matches!(&e.kind,
            EventKind::Note { text, .. } if text == "None of slaves were synced")),
        "an acquire failed its replica check:\n{}",
        f.scenario.to_toml()
    );
    let fixed = replay_case(&f, |l| l.on_unsynced = OnUnsynced::Unlock);
    assert_ne!(fixed.verdict(), Verdict::Liveness, "3.20.0 unlocks");
}

#[test]
fn row_39_redisson_resent_acquire_runs_twice() {
    let base = scenario("row-39-redisson-resent-acquire");
    let live = |o: &Outcome| o.verdict() == Verdict::Liveness;
    let f = search("row 39", master_stalls(base), 100, &live);
    let resent = f.outcome.history.events.iter().any(|e| {
        matches!(&e.kind,
        EventKind::Note { text, .. } if text.starts_with("client library re-sends EVAL"))
    });
    assert!(resent, "an acquire was re-sent:\n{}", f.scenario.to_toml());
    // Both copies ran: one client granted twice with no release between.
    let mut last: Option<usize> = None;
    let mut twice = false;
    for e in &f.outcome.history.events {
        match e.kind {
            EventKind::Granted { client, .. } => {
                twice |= last == Some(client);
                last = Some(client);
            }
            EventKind::ReleaseInvoke { .. } => last = None,
            _ => {}
        }
    }
    assert!(
        twice,
        "a re-sent acquire ran twice:\n{}",
        f.scenario.to_toml()
    );
    let once = replay_case(&f, |l| l.client_retries = 0);
    assert_ne!(once.verdict(), Verdict::Liveness, "sent once, it runs once");
}

#[test]
fn row_41_node_redlock_5_beta_2_blocks_itself_with_its_own_keys() {
    let f = hunt("row-41-node-redlock-split-vote")
        .seeds(0..FIND)
        .assert_finds(Verdict::Liveness);
    let fixed = replay_with(&f, |l| l.keep_partial = false);
    assert_ne!(
        fixed.verdict(),
        Verdict::Liveness,
        "seed {}: v4.2 unlocks between attempts",
        f.seed()
    );
}

#[test]
fn row_44_redis_py_without_timeout_holder_crash_sticks_forever() {
    let base = scenario("row-44-redis-py-holder-crash");
    let live = |o: &Outcome| o.verdict() == Verdict::Liveness;
    let f = search("row 44", client_kills(base), 100, &live);
    let with_ttl = replay_case(&f, |l| l.ttl_ms = 2000);
    assert_eq!(with_ttl.verdict(), Verdict::Safe, "timeout=2 expires it");
}

#[test]
fn row_46_redis_py_release_lost_without_timeout_is_never_retried() {
    let f = hunt("row-46-redis-py-release-lost")
        .seeds(0..FIND)
        .assert_finds(Verdict::Liveness);
    assert!(
        f.outcome.history.events.iter().any(|e| matches!(
            e.kind,
            EventKind::ReleaseDone {
                outcome: ReleaseOutcome::Unknown,
                ..
            }
        )),
        "seed {}: a release got no answer",
        f.seed()
    );
}

#[test]
fn row_48_redlock_py_1_0_8_raises_after_quorum_and_leaves_its_keys() {
    let f = hunt("row-48-redlock-py-raise-after-quorum")
        .seeds(0..FIND)
        .assert_finds(Verdict::Liveness);
    let fixed = replay_with(&f, |l| l.fail_on_node_error = false);
    assert_eq!(
        fixed.verdict(),
        Verdict::Safe,
        "seed {}: 1.0.6 swallows the node error",
        f.seed()
    );
}
