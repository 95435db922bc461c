//! Rows 52, 55 and 56 of the ground truth, beyond their verdicts: what
//! min-replicas buys against a failover (a measured rate, with and
//! without, over the same seeds), and what a client library that re-sends
//! a timed-out command does to `SET NX` and to a plain `DEL`.

use locksim::history::{Event, EventKind};
use locksim::model::{Scenario, Verdict};
use locksim::oracle::ViolationKind::{self, L, R};
use locksim::scenario::load_scenario;
use locksim::search::matrix::wilson;
use locksim::search::sweep::sweep;
use locksim::world::run::{run, Outcome};
use locksim_models::Reply;
use std::path::Path;

const SEEDS: u64 = 10;

fn load(rel: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    load_scenario(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn story(name: &str) -> Scenario {
    load(&format!("../scenarios/{name}.toml"))
}

fn runs(s: &Scenario, seeds: std::ops::Range<u64>) -> Vec<Outcome> {
    let seeds: Vec<u64> = seeds.collect();
    sweep(&seeds, 2, |&seed| run(s, seed), &|_| {})
}

fn kinds(o: &Outcome) -> Vec<ViolationKind> {
    let mut k: Vec<_> = o.check.violations.iter().map(|v| v.kind).collect();
    k.sort();
    k.dedup();
    k
}

/// Every command `client` got applied on a node: (argv, reply).
fn commands_of(events: &[Event], client: usize) -> Vec<(Vec<Vec<u8>>, Reply)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Command {
                client: c,
                cmd,
                reply,
                ..
            } if *c == client => Some((cmd.clone(), reply.clone())),
            _ => None,
        })
        .collect()
}

// -------------------------------------------------------------- row 55

#[test]
fn row_55_a_re_sent_set_nx_finds_its_own_key_and_the_client_gives_up() {
    let s = story("set-nx-px-client-retry-phantom-holder");
    for o in runs(&s, s.seed..s.seed + SEEDS) {
        assert_eq!(o.verdict(), Verdict::Liveness, "seed {}", o.seed);
        let sets = commands_of(&o.history.events, 0);
        // Both copies of client-0's winning SET ran on the node: the first
        // won, the re-sent one (the same value) found that key: nil.
        let won = sets
            .iter()
            .position(|(_, r)| *r == Reply::ok())
            .unwrap_or_else(|| panic!("seed {}: client-0's SET won once", o.seed));
        let (argv, _) = &sets[won];
        assert_eq!(&sets[won + 1].0, argv, "seed {}: re-sent as is", o.seed);
        assert_eq!(sets[won + 1].1, Reply::nil(), "seed {}", o.seed);
        // Both are client calls in the history too.
        let invokes = o
            .history
            .events
            .iter()
            .filter(
                |e| matches!(&e.kind, EventKind::CallInvoke { client: 0, cmd, .. } if cmd == argv),
            )
            .count();
        assert_eq!(invokes, 2, "seed {}", o.seed);
        // Nobody acquires after that grant: the phantom holds the key.
        let granted_us = o
            .history
            .events
            .iter()
            .find(|e| matches!(e.kind, EventKind::Granted { client: 0, .. }))
            .expect("granted")
            .t_us;
        let later = o
            .history
            .events
            .iter()
            .any(|e| e.t_us > granted_us && matches!(e.kind, EventKind::AcquireOk { .. }));
        assert!(!later, "seed {}", o.seed);
    }
}

// -------------------------------------------------------------- row 56

#[test]
fn row_56_a_re_sent_del_frees_the_next_holders_lock() {
    let s = story("set-nx-px-client-retry-del");
    for o in runs(&s, s.seed..s.seed + SEEDS) {
        assert_eq!(kinds(&o), vec![L, R], "seed {}", o.seed);
        let ev = &o.history.events;
        let dels: Vec<usize> = ev
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                matches!(&e.kind, EventKind::Command { client: 0, cmd, reply, .. }
                    if cmd[0] == b"DEL" && *reply == Reply::Int(1))
            })
            .map(|(i, _)| i)
            .collect();
        assert!(dels.len() >= 2, "seed {}: two DELs deleted", o.seed);
        let other_granted = ev[dels[0]..dels[1]]
            .iter()
            .any(|e| matches!(e.kind, EventKind::Granted { client, .. } if client != 0));
        assert!(
            other_granted,
            "seed {}: the lock changed hands between the two copies",
            o.seed
        );
    }
    // The same faults without the library's re-send are safe.
    let mut once = s.clone();
    once.lock.client_retries = 0;
    for o in runs(&once, s.seed..s.seed + SEEDS) {
        assert_eq!(o.verdict(), Verdict::Safe, "seed {}", o.seed);
    }
}

// -------------------------------------------------------------- row 52

#[test]
fn row_52_min_replicas_refuses_writes_until_a_replica_acknowledges_then_fails_anyway() {
    let s = story("set-nx-px-sentinel-min-replicas-failover");
    for o in runs(&s, s.seed..s.seed + SEEDS) {
        assert!(kinds(&o).contains(&L), "seed {}", o.seed);
        let refused = o.history.events.iter().any(|e| {
            matches!(&e.kind, EventKind::Command { reply: Reply::Error(m), .. }
                if m == "NOREPLICAS Not enough good replicas to write.")
        });
        assert!(
            refused,
            "seed {}: refused before the replicas synced",
            o.seed
        );
    }
}

/// Row 52's measured rate: the row-15 hunt (random kills of a Sentinel
/// master and its replicas, grants lost with the promotion) over the same
/// seeds, without and with `min_replicas_to_write = 1`.
#[test]
fn row_52_min_replicas_lowers_the_row_15_violation_rate_but_not_to_zero() {
    const N: u64 = 1000;
    let without = load("tests/hunt-scenarios/row-15-sentinel-failover.toml");
    let mut with = without.clone();
    with.redis.min_replicas_to_write = 1;
    let rate = |s: &Scenario| {
        let k = runs(s, 0..N)
            .iter()
            .filter(|o| o.verdict() == Verdict::Violation)
            .count() as u64;
        let (lo, hi) = wilson(k, N);
        (k, lo, hi)
    };
    let (k0, lo0, hi0) = rate(&without);
    let (k1, lo1, hi1) = rate(&with);
    println!(
        "row 15 hunt, {N} seeds: without min-replicas {k0}/{N} = {:.1}% [{:.1}%, {:.1}%]; \
         with min_replicas_to_write = 1 {k1}/{N} = {:.1}% [{:.1}%, {:.1}%] (95% Wilson)",
        100.0 * k0 as f64 / N as f64,
        100.0 * lo0,
        100.0 * hi0,
        100.0 * k1 as f64 / N as f64,
        100.0 * lo1,
        100.0 * hi1,
    );
    assert!(hi1 < lo0, "lower, and the 95% intervals do not overlap");
    assert!(lo1 > 0.0, "but not closed: its interval excludes zero");
}
