//! Every scenario in `scenarios/` meets its `expect` on every seed it is
//! run with, because of what the simulation did. Stories that say more
//! than a verdict (which kind of violation, fenced writes) are checked too.

use locksim::history::EventKind;
use locksim::model::{Fault, NodeRef, Scenario, Verdict};
use locksim::oracle::{ViolationKind, WindowEnd};
use locksim::world::run::{run, Outcome};

use locksim::scenario::load_scenario;
use locksim::search::sweep::sweep;
use std::path::{Path, PathBuf};

/// Seeds each scenario is run with (starting at its own `seed`).
const SEEDS: u64 = 10;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn load(name: &str) -> Scenario {
    let path = scenarios_dir().join(format!("{name}.toml"));
    load_scenario(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn runs(s: &Scenario, n: u64) -> Vec<Outcome> {
    let seeds: Vec<u64> = (0..n).map(|i| s.seed + i).collect();
    sweep(&seeds, 2, |&seed| run(s, seed), &|_| {})
}

fn kinds(o: &Outcome) -> Vec<ViolationKind> {
    let mut k: Vec<_> = o.check.violations.iter().map(|v| v.kind).collect();
    k.sort();
    k.dedup();
    k
}

#[test]
fn every_scenario_meets_its_expectation_on_every_seed() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .expect("scenarios/ exists")
        .map(|e| e.expect("a dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "the canonical scenarios are there");
    let mut failures = Vec::new();
    for f in &files {
        let s = load_scenario(f).unwrap_or_else(|e| panic!("{e}"));
        for o in runs(&s, SEEDS) {
            if o.verdict() != s.expect {
                failures.push(format!(
                    "{}: expected {}, seed {} gave {} (repro: locksim run {} --seed {})",
                    s.name,
                    s.expect,
                    o.seed,
                    o.verdict(),
                    f.display(),
                    o.seed
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn single_node_without_faults_is_safe_over_1000_seeds() {
    let s = load("set-nx-px-no-faults");
    let outcomes = runs(&s, 1000);
    for o in &outcomes {
        assert_eq!(
            o.verdict(),
            Verdict::Safe,
            "seed {}: {:?}",
            o.seed,
            o.check.violations
        );
        assert_eq!(
            o.check.windows.len(),
            30,
            "3 clients x 10 cycles, seed {}",
            o.seed
        );
    }
}

#[test]
fn pause_past_ttl_with_validity_check_is_a_resource_violation_only() {
    for o in runs(&load("set-nx-px-pause-past-ttl"), SEEDS) {
        assert_eq!(kinds(&o), vec![ViolationKind::R], "seed {}", o.seed);
        assert!(o.check.stale_writes > 0);
    }
}

#[test]
fn fencing_turns_the_stale_writes_into_fenced_writes() {
    for o in runs(&load("set-nx-px-pause-past-ttl-fenced"), SEEDS) {
        assert_eq!(o.verdict(), Verdict::Safe, "seed {}", o.seed);
        assert!(
            o.check.fenced > 0,
            "seed {}: the woken client's writes were fenced",
            o.seed
        );
        assert_eq!(o.check.stale_writes, 0);
    }
}

#[test]
fn plain_del_release_lets_the_next_two_clients_in_together() {
    for o in runs(&load("set-nx-px-release-del"), SEEDS) {
        assert_eq!(
            kinds(&o),
            vec![ViolationKind::L, ViolationKind::R],
            "seed {}",
            o.seed
        );
        // The first overlap starts after client-0 wakes and sends its DEL:
        // the DEL of someone else's lock caused it, not the pause itself.
        let woke_us = o
            .history
            .events
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::FaultHealed {
                    fault:
                        Fault::Pause {
                            node: NodeRef::Client(0),
                            ..
                        },
                } => Some(e.t_us),
                _ => None,
            })
            .expect("client-0 woke up");
        let l = o
            .check
            .violations
            .iter()
            .filter(|v| v.kind == ViolationKind::L)
            .min_by_key(|v| v.from_us)
            .expect("an L");
        assert!(
            l.from_us > woke_us,
            "seed {}: {:?} began before the DEL",
            o.seed,
            l
        );
    }
}

#[test]
fn work_longer_than_ttl_overlaps_leases() {
    for o in runs(&load("set-nx-px-work-longer-than-ttl"), SEEDS) {
        assert!(kinds(&o).contains(&ViolationKind::L), "seed {}", o.seed);
    }
}

#[test]
fn restart_without_persistence_loses_the_lock() {
    for o in runs(&load("set-nx-px-restart-without-persistence"), SEEDS) {
        assert!(kinds(&o).contains(&ViolationKind::L), "seed {}", o.seed);
        assert!(
            o.check.violations.iter().any(|v| v.clients.contains(&0)),
            "seed {}",
            o.seed
        );
    }
}

/// Which kinds of violation each violating story must show (and no other),
/// on every seed: a verdict reached for the wrong reason fails here.
#[test]
fn each_violating_story_shows_the_violation_its_row_describes() {
    use ViolationKind::{L, R};
    let table: &[(&str, &[ViolationKind])] = &[
        ("setnx-stale-recovery-race", &[L, R]),
        ("set-nx-px-release-del", &[L, R]),
        ("set-nx-px-get-then-del", &[L, R]),
        ("setnx-getset-clock-skew", &[L, R]),
        ("setnx-getset-pause-then-del", &[L, R]),
        ("set-nx-px-pause-past-ttl", &[R]),
        ("set-nx-px-pause-before-reply", &[L, R]),
        ("watchdog-stop-the-world-pause", &[L, R]),
        ("redlock-pause-before-replies-no-recheck", &[L, R]),
        ("redlock-pause-past-validity", &[R]),
        ("redlock-drift-beyond-factor", &[L, R]),
        ("set-nx-px-cluster-failover-before-replication", &[L, R]),
        ("set-nx-px-cluster-minority-master", &[L, R]),
    ];
    for (name, want) in table {
        for o in runs(&load(name), SEEDS) {
            assert_eq!(&kinds(&o), want, "{name} seed {}", o.seed);
        }
    }
}

/// Safe stories finished every cycle of every client (no hidden stall).
#[test]
fn safe_stories_finish_every_cycle() {
    for name in [
        "set-nx-px-holder-crash",
        "setnx-getset-holder-crash",
        "watchdog-holder-crash",
        "redlock-pause-before-replies",
    ] {
        let s = load(name);
        for o in runs(&s, SEEDS) {
            assert!(o.check.unfinished.is_empty(), "{name} seed {}", o.seed);
            let released = o
                .check
                .windows
                .iter()
                .filter(|w| w.end == WindowEnd::Released)
                .count();
            assert_eq!(
                released,
                s.clients.count * s.clients.cycles as usize,
                "{name} seed {}: every cycle held and released the lock",
                o.seed
            );
        }
    }
}
