//! Memory pressure and eviction in the simulated world: the ground-truth
//! rows 49-51 under every policy they name, what the filler does and
//! leaves behind, and what reaches the history (`key-changed` with cause
//! `eviction`, `filler-written`, `filler-deleted`, the OOM replies).

mod support;

use locksim::history::{Event, EventKind, KeyCause};
use locksim::model::{Fault, MaxmemoryPolicy, NodeRef, Persistence, Scenario, Topology, Verdict};
use locksim::oracle::ViolationKind;
use locksim::redis::OOM_ERR;
use locksim::scenario::load_scenario;
use locksim::search::sweep::sweep;
use locksim::world::run::{run, Outcome};
use locksim_models::Reply;
use std::path::Path;

fn load(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    load_scenario(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn runs(s: &Scenario, n: u64) -> Vec<Outcome> {
    let seeds: Vec<u64> = (0..n).map(|i| s.seed + i).collect();
    sweep(&seeds, 2, |&seed| run(s, seed), &|_| {})
}

/// `key-changed` events of the lock key with cause `eviction`, per node.
fn evictions(events: &[Event]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::KeyChanged {
                node,
                key,
                owner: None,
                cause: KeyCause::Eviction,
                ..
            } if key == "lock" => Some(*node),
            _ => None,
        })
        .collect()
}

fn oom_replies(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(&e.kind, EventKind::Command { reply: Reply::Error(m), .. } if m == OOM_ERR)
        })
        .count()
}

#[test]
fn row_49_every_volatile_policy_evicts_the_only_key_with_a_ttl() {
    let base = load("set-nx-px-volatile-lru-eviction");
    for policy in [
        MaxmemoryPolicy::VolatileLru,
        MaxmemoryPolicy::VolatileLfu,
        MaxmemoryPolicy::VolatileRandom,
        MaxmemoryPolicy::VolatileTtl,
    ] {
        let mut s = base.clone();
        s.redis.maxmemory_policy = policy;
        for o in runs(&s, 5) {
            let what = format!("{} seed {}", policy.name(), o.seed);
            assert_eq!(o.verdict(), Verdict::Violation, "{what}");
            assert!(
                o.check
                    .violations
                    .iter()
                    .any(|v| v.kind == ViolationKind::L),
                "{what}"
            );
            assert_eq!(evictions(&o.history.events), [0], "{what}: the lock, once");
            assert!(oom_replies(&o.history.events) > 0, "{what}: then OOM");
        }
    }
}

#[test]
fn row_49_volatile_ttl_takes_filler_that_expires_sooner_instead() {
    let mut s = load("set-nx-px-volatile-lru-eviction");
    s.redis.maxmemory_policy = MaxmemoryPolicy::VolatileTtl;
    // The filler expires in 5 s, before the lock's 10 s: every sample's
    // best candidate is filler, never the lock.
    for f in &mut s.faults {
        if let Fault::MemoryPressure { ttl_ms, .. } = &mut f.fault {
            *ttl_ms = Some(5000);
        }
    }
    for o in runs(&s, 5) {
        assert!(evictions(&o.history.events).is_empty(), "seed {}", o.seed);
        assert_ne!(o.verdict(), Verdict::Violation, "seed {}", o.seed);
    }
}

#[test]
fn row_50_allkeys_lru_evicts_the_idle_lock_among_fresh_data() {
    for o in runs(&load("set-nx-px-allkeys-lru-eviction"), 5) {
        assert_eq!(evictions(&o.history.events), [0], "seed {}", o.seed);
        assert_eq!(
            oom_replies(&o.history.events),
            0,
            "allkeys-lru never refuses"
        );
        assert!(
            o.check
                .violations
                .iter()
                .any(|v| v.kind == ViolationKind::L),
            "seed {}",
            o.seed
        );
    }
}

#[test]
fn row_51_noeviction_refuses_new_locks_until_the_pressure_ends() {
    let s = load("set-nx-px-noeviction-oom");
    for o in runs(&s, 5) {
        let ev = &o.history.events;
        assert_eq!(o.verdict(), Verdict::Safe, "seed {}", o.seed);
        assert!(evictions(ev).is_empty(), "noeviction evicts nothing");
        assert!(oom_replies(ev) >= 3, "seed {}: SET NX refused", o.seed);
        let filled = ev.iter().find_map(|e| match &e.kind {
            EventKind::FillerWritten { refused, .. } => Some(refused.clone()),
            _ => None,
        });
        assert_eq!(
            filled,
            Some(Some(OOM_ERR.to_string())),
            "the filler stopped at the limit"
        );
        assert!(
            o.check.unfinished.is_empty(),
            "everyone finished afterwards"
        );
        // Every OOM reply came while the filler was there.
        let t = |want: fn(&EventKind) -> bool| ev.iter().find(|e| want(&e.kind)).map(|e| e.t_us);
        let from = t(|k| matches!(k, EventKind::FillerWritten { .. })).expect("written");
        let to = t(|k| matches!(k, EventKind::FillerDeleted { .. })).expect("deleted");
        for e in ev {
            if matches!(&e.kind, EventKind::Command { reply: Reply::Error(m), .. } if m == OOM_ERR)
            {
                assert!((from..=to).contains(&e.t_us), "seed {}", o.seed);
            }
        }
    }
}

#[test]
fn filler_is_deleted_after_for_ms_and_at_the_final_heal() {
    let mut s = load("set-nx-px-noeviction-oom");
    let o = run(&s, 1);
    let deleted: Vec<(u64, usize)> = o
        .history
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::FillerDeleted { keys, .. } => Some((e.t_us, keys)),
            _ => None,
        })
        .collect();
    assert_eq!(deleted.len(), 1, "for_ms: deleted once");
    assert!(deleted[0].1 > 900);
    // Without for_ms the filler stays until the final heal.
    for f in &mut s.faults {
        if let Fault::MemoryPressure { for_ms, .. } = &mut f.fault {
            *for_ms = None;
        }
    }
    s.duration_ms = 20_000;
    let o = run(&s, 1);
    let heal_us = s.heal_ms() * 1000;
    let at: Vec<u64> = o
        .history
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::FillerDeleted { .. }))
        .map(|e| e.t_us)
        .collect();
    assert_eq!(at.len(), 1);
    assert!(at[0] >= heal_us, "deleted at the final heal, not before");
}

#[test]
fn evictions_reach_the_replicas_as_del_and_replicas_never_evict() {
    let mut s = load("set-nx-px-volatile-lru-eviction");
    s.redis.topology = Topology::Sentinel;
    s.redis.nodes = 3;
    s.redis.replication_lag_ms = locksim::model::Span::new(1, 5);
    let o = run(&s, 1);
    let ev = &o.history.events;
    assert_eq!(evictions(ev), [0], "only the master evicts");
    let gone_on_replicas: Vec<usize> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::KeyChanged {
                node,
                key,
                owner: None,
                cause: KeyCause::Replication,
                ..
            } if key == "lock" && *node > 0 => Some(*node),
            _ => None,
        })
        .collect();
    assert!(gone_on_replicas.contains(&1) && gone_on_replicas.contains(&2));
}

#[test]
fn pressure_on_a_replica_is_refused_like_any_client_write() {
    let mut s = support::scenario(Topology::Sentinel, 2, Persistence::None);
    s.redis.maxmemory_bytes = 2 << 20;
    support::simulate(s, 1, |sim| async move {
        sim.sleep(500).await;
        // A replica takes no writes from clients: READONLY, whatever
        // the memory.
        sim.fault(Fault::MemoryPressure {
            node: NodeRef::Redis(1),
            bytes: 10_000,
            ttl_ms: None,
            for_ms: None,
        });
        sim.sleep(10).await;
        let refused = sim.history().into_iter().find_map(|e| match e.kind {
            EventKind::FillerWritten {
                node: 1,
                keys,
                refused,
                ..
            } => Some((keys, refused)),
            _ => None,
        });
        let (keys, refused) = refused.expect("the filler reached redis-1");
        assert_eq!(keys, 0);
        assert!(refused.expect("refused").starts_with("READONLY"));
    });
}

#[test]
fn memory_pressure_on_a_node_that_is_down_is_skipped() {
    support::simulate(
        support::scenario(Topology::Single, 1, Persistence::None),
        1,
        |sim| async move {
            sim.fault(Fault::Kill {
                node: NodeRef::Redis(0),
                for_ms: Some(1000),
            });
            sim.fault(Fault::MemoryPressure {
                node: NodeRef::Redis(0),
                bytes: 10_000,
                ttl_ms: None,
                for_ms: None,
            });
            sim.sleep(10).await;
            let skipped = sim.history().into_iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::FaultSkipped {
                        fault: Fault::MemoryPressure { .. },
                        ..
                    }
                )
            });
            assert!(skipped);
        },
    );
}

#[test]
fn runs_with_memory_pressure_are_deterministic() {
    let mut s = load("set-nx-px-allkeys-lru-eviction");
    s.nemesis.memory_pressure.rate = 0.2;
    s.nemesis.memory_pressure.bytes = locksim::model::Span::new(200_000, 2_000_000);
    let a = run(&s, 3).hash();
    let _ = run(&load("set-nx-px-noeviction-oom"), 9);
    assert_eq!(run(&s, 3).hash(), a);
}

#[test]
fn check_finds_row_49_with_one_memory_pressure_and_noeviction_certifies_the_space() {
    use locksim::search::check::space::Kind;
    use locksim::search::check::suggest::{render, suggest};
    use locksim::search::check::{Check, Report, Verdict as CheckVerdict};
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hunt-scenarios/row-49-volatile-lru-eviction.toml");
    let s = load_scenario(&path).unwrap_or_else(|e| panic!("{e}"));
    let check = |s: Scenario| -> Report {
        Check::new(s)
            .faults(1)
            .alphabet(vec![Kind::MemoryPressure])
            .jobs(2)
            .max_runs(5_000)
            .run()
    };
    let base = check(s.clone());
    let CheckVerdict::Counterexample(cx) = &base.verdict else {
        panic!("{}", base.summary())
    };
    let o = run(&cx.scenario, cx.scenario.seed);
    assert_eq!(evictions(&o.history.events), [0], "the lock was evicted");
    let results = suggest(check, &s);
    let (_, report) = results
        .iter()
        .find(|(m, _)| m.name == "noeviction")
        .expect("a noeviction mitigation");
    let verdict = &report.as_ref().expect("applicable").verdict;
    assert!(
        matches!(verdict, CheckVerdict::Certified),
        "{}",
        render(&results)
    );
}

#[test]
fn histories_with_evictions_and_filler_read_back_from_json_lines() {
    let o = run(&load("set-nx-px-volatile-lru-eviction"), 1);
    let text = o.history.to_jsonl();
    assert!(
        text.contains(r#""cause":"eviction""#),
        "key-changed by eviction"
    );
    assert!(text.contains(r#""type":"filler-written""#));
    assert!(text.contains(r#""type":"filler-deleted""#));
    let back = locksim::history::History::from_jsonl(&text).expect("reads back");
    assert_eq!(back, o.history);
}
