//! The typed history says what happened, not what a string suggested:
//! `granted` only for a command that won the lock, `key-changed` for every
//! change of a node's copy of the key, faults recorded when they take
//! effect (or skipped with a reason), reports that name physical nodes,
//! and sleeps that follow a drift change.

use locksim::history::{CallEnd, Event, EventKind, KeyCause, SkipReason};
use locksim::model::clock::{Clock, ClockChange};
use locksim::model::{Fault, FaultSpec, NodeRef, Scenario, Topology, Verdict, When};
use locksim::scenario::load_scenario;
use locksim::world::core::World;
use locksim::world::run::run;
use locksim_models::Algorithm;
use madsim::runtime::Runtime;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    load_scenario(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Every `granted` of `client` is followed by its `acquire-ok` before it
/// starts another acquire or gives up: a grant is a lock won.
fn grants_are_acquisitions(events: &[Event]) -> usize {
    let mut checked = 0;
    for (i, e) in events.iter().enumerate() {
        let EventKind::Granted { client, node } = e.kind else {
            continue;
        };
        let next = events[i + 1..].iter().find_map(|n| match n.kind {
            // The grant's reply was lost (row 55's phantom holder): the
            // client never learned that it won.
            EventKind::CallDone {
                client: c,
                node: m,
                end: CallEnd::Timeout,
                ..
            } if c == client && m == node => Some(true),
            EventKind::AcquireOk { client: c, .. } | EventKind::AcquireLate { client: c }
                if c == client =>
            {
                Some(true)
            }
            EventKind::AcquireFail { client: c, .. }
            | EventKind::AcquireInvoke { client: c, .. }
                if c == client =>
            {
                Some(false)
            }
            // Crashed before the reply reached it (setnx-expire's story).
            EventKind::NodeDown {
                node: NodeRef::Client(c),
            } if c == client => Some(true),
            _ => None,
        });
        assert_ne!(
            next,
            Some(false),
            "client-{client} granted at {} but did not acquire",
            e.t_us
        );
        checked += 1;
    }
    checked
}

#[test]
fn the_getset_loser_is_not_granted() {
    let s = scenario("setnx-getset-stale-race");
    let o = run(&s, s.seed);
    let events = &o.history.events;
    // The story happened: a GETSET found the winner's live timestamp.
    let lost = events.iter().any(|e| {
        matches!(&e.kind, EventKind::Note { text, .. } if text.starts_with("GETSET lost the race"))
    });
    assert!(lost, "the race was run");
    let getsets: Vec<usize> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Command { cmd, client, .. } if cmd[0] == b"GETSET" => Some(*client),
            _ => None,
        })
        .collect();
    assert!(getsets.len() >= 2, "both GETSETs ran: {getsets:?}");
    assert!(grants_are_acquisitions(events) >= 3);
    // The loser's GETSET wrote its timestamp over the key, and was granted
    // nothing: the command, its key change, and no `granted` after them.
    let mut losers = 0;
    for (i, e) in events.iter().enumerate() {
        let EventKind::Command { cmd, client, .. } = &e.kind else {
            continue;
        };
        if cmd[0] != b"GETSET" {
            continue;
        }
        let same_step: Vec<&EventKind> = events[i + 1..]
            .iter()
            .take_while(|n| n.t_us == e.t_us && n.node == e.node)
            .map(|n| &n.kind)
            .collect();
        let wrote = same_step.iter().any(|k| {
            matches!(k, EventKind::KeyChanged { owner: Some(o), .. } if o.as_bytes() == cmd[2].as_slice())
        });
        let granted = same_step
            .iter()
            .any(|k| matches!(k, EventKind::Granted { client: c, .. } if c == client));
        assert!(wrote, "a GETSET always writes the key");
        if !granted {
            losers += 1;
        }
    }
    assert_eq!(losers, 1, "exactly the race's loser is not granted");
}

#[test]
fn grants_are_acquisitions_in_every_story() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut grants = 0;
    for entry in std::fs::read_dir(dir).expect("scenarios/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let s = load_scenario(&path).unwrap_or_else(|e| panic!("{e}"));
        // Redlock's per-node grants need a quorum to become an acquire.
        if s.redis.topology == Topology::Independent {
            continue;
        }
        let o = run(&s, s.seed);
        grants += grants_are_acquisitions(&o.history.events);
    }
    assert!(grants > 100, "{grants}");
}

#[test]
fn key_changes_follow_the_key_through_a_crash_and_its_expiry() {
    let s = scenario("set-nx-px-restart-without-persistence");
    let o = run(&s, s.seed);
    let causes: Vec<KeyCause> = o
        .history
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::KeyChanged { cause, key, .. } if key == "lock" => Some(*cause),
            _ => None,
        })
        .collect();
    assert!(causes.contains(&KeyCause::Command));
    assert!(causes.contains(&KeyCause::Crash), "{causes:?}");
    // Every change has a node and is consistent: an owner comes with the
    // command that wrote it, absence after a crash has no expiry.
    for e in &o.history.events {
        if let EventKind::KeyChanged {
            owner: None,
            expires_ms,
            ..
        } = &e.kind
        {
            assert_eq!(*expires_ms, None);
        }
    }
    let s = scenario("set-nx-px-holder-crash");
    let o = run(&s, s.seed);
    let expired = o.history.events.iter().any(|e| {
        matches!(
            &e.kind,
            EventKind::KeyChanged {
                owner: None,
                cause: KeyCause::Expiry,
                ..
            }
        )
    });
    assert!(expired, "the crashed holder's key expires");
}

fn with_faults(faults: Vec<(u64, Fault)>) -> Scenario {
    let mut s = Scenario::with_defaults("skips", Verdict::Safe, Algorithm::SetNxPx);
    s.clients.count = 1;
    s.clients.cycles = 1000;
    s.duration_ms = 30_000;
    s.faults = faults
        .into_iter()
        .map(|(at_ms, fault)| FaultSpec {
            when: When::At { at_ms },
            fault,
        })
        .collect();
    s
}

#[test]
fn a_fault_that_cannot_take_effect_is_skipped_with_its_reason() {
    let r = NodeRef::Redis(0);
    let s = with_faults(vec![
        (
            100,
            Fault::Kill {
                node: r,
                for_ms: Some(5000),
            },
        ),
        (
            200,
            Fault::Pause {
                node: r,
                for_ms: 100,
            },
        ),
        (
            300,
            Fault::PowerLoss {
                node: r,
                for_ms: None,
            },
        ),
        (9000, Fault::Restart { node: r }),
        (9100, Fault::Heal),
        (
            29_000,
            Fault::Pause {
                node: r,
                for_ms: 10,
            },
        ),
    ]);
    let o = run(&s, 1);
    let mut injected = 0;
    let mut skipped = Vec::new();
    for e in &o.history.events {
        match &e.kind {
            EventKind::FaultInjected { .. } => injected += 1,
            EventKind::FaultSkipped { fault, reason, .. } => {
                skipped.push((e.t_us / 1000, fault.kind_name(), *reason))
            }
            _ => {}
        }
    }
    assert_eq!(injected, 1, "only the first kill took effect");
    assert_eq!(
        skipped,
        vec![
            (200, "pause", SkipReason::NodeDown),
            (300, "power-loss", SkipReason::NodeDown),
            (9000, "restart", SkipReason::NotDown),
            (9100, "heal", SkipReason::NoPartition),
            (29_000, "pause", SkipReason::AfterFinalHeal),
        ]
    );
}

#[test]
fn a_sleep_follows_a_drift_change_made_while_it_sleeps() {
    let rt = Runtime::with_seed_and_config(1, madsim::Config::default());
    let ended_ms = rt.block_on(async {
        let s = Scenario::with_defaults("drift", Verdict::Safe, Algorithm::SetNxPx);
        let me = NodeRef::Client(0);
        let clocks = s
            .node_refs()
            .into_iter()
            .map(|n| (n, Clock::new(0, 0.0)))
            .collect();
        let world = Arc::new(World::new(s, 1, clocks));
        let w = world.clone();
        let sleeper = madsim::task::spawn(async move {
            w.sleep_local(me, 1000).await;
            w.now_us() / 1000
        });
        madsim::time::sleep(Duration::from_millis(100)).await;
        // From 100 ms on the client's clock runs 10% fast: the other 900
        // local ms take 818 ms of true time.
        world.change_clock(me, ClockChange::Drift { ppm: 100_000.0 });
        sleeper.await.expect("the sleeper ends")
    });
    assert!((915..=921).contains(&ended_ms), "woke at {ended_ms} ms");
}

#[test]
fn reports_name_the_node_that_granted_the_lock() {
    for name in [
        "set-nx-px-sentinel-split-brain",
        "set-nx-px-sentinel-failover-before-replication",
        "watchdog-sentinel-failover",
    ] {
        let s = scenario(name);
        let o = run(&s, s.seed);
        // The physical node of every acquire is the node that granted it.
        let mut promoted = false;
        for (i, e) in o.history.events.iter().enumerate() {
            if let EventKind::AcquireOk { client, nodes, .. } = &e.kind {
                let granted = o.history.events[..i]
                    .iter()
                    .rev()
                    .find_map(|g| match g.kind {
                        EventKind::Granted { node, client: c } if c == *client => Some(node),
                        _ => None,
                    });
                assert_eq!(
                    Some(nodes[0]),
                    granted,
                    "{name}: client-{client} at {}",
                    e.t_us
                );
                promoted |= nodes[0] != 0;
            }
        }
        assert!(promoted, "{name}: a promoted replica granted a lock");
        let md = locksim::report::markdown::render(&s, "story.toml", &o);
        assert!(
            md.contains("| granted by | redis-1") || md.contains("granted by | redis-0 | redis-1"),
            "{name}: the report names redis-1:\n{md}"
        );
    }
}
