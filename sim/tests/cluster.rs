//! Redis Cluster in the simulator: the routing a node does (MOVED,
//! CROSSSLOT, CLUSTERDOWN, scripts), failover and the old master's return
//! seen from a raw client, the two ground-truth stories (rows 53 and 54)
//! on every seed, and both kinds of lock running on a cluster.

mod support;

use locksim::history::{Event, EventKind, KeyCause};
use locksim::model::{Fault, NodeRef, Persistence, Role, Scenario, Topology, Verdict};
use locksim::oracle::ViolationKind;
use locksim::scenario::load_scenario;
use locksim::search::sweep::sweep;
use locksim::world::run::{run, Outcome};
use locksim_models::{Algorithm, Reply};
use std::path::Path;
use support::{simulate, Sim};

fn cluster_scenario(timeout_ms: u64) -> Scenario {
    let mut s = support::scenario(Topology::Cluster, 6, Persistence::None);
    s.redis.cluster_node_timeout_ms = timeout_ms;
    s.redis.replication_lag_ms = locksim::model::Span::new(1, 1);
    s
}

fn err(r: &Reply) -> &str {
    match r {
        Reply::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn argv_of(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_string).collect()
}

async fn cmd(sim: &Sim, node: usize, line: &str) -> Reply {
    let args = argv_of(line);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    sim.ok(node, &refs).await
}

#[test]
fn nodes_redirect_refuse_cross_slot_and_keep_scripts_local() {
    simulate(cluster_scenario(2_000), 1, |sim: Sim| async move {
        // `lock` is slot 8718, served by redis-1 (10.0.0.2).
        assert_eq!(
            err(&cmd(&sim, 0, "SET lock x").await),
            "MOVED 8718 10.0.0.2:6379"
        );
        assert_eq!(cmd(&sim, 1, "SET lock x").await, Reply::ok());
        // A replica redirects to its master too (no READONLY client here).
        assert_eq!(
            err(&cmd(&sim, 4, "GET lock").await),
            "MOVED 8718 10.0.0.2:6379"
        );
        assert_eq!(
            err(&cmd(&sim, 0, "DEL a b").await),
            "CROSSSLOT Keys in request don't hash to the same slot"
        );
        assert_eq!(cmd(&sim, 0, "DEL b {b}x").await, Reply::Int(0));
        assert_eq!(
            cmd(&sim, 5, "CLUSTER KEYSLOT {a}lock").await,
            Reply::Int(15495)
        );
        assert_eq!(cmd(&sim, 5, "PING").await, Reply::Status("PONG".into()));
        let script = sim
            .ok(0, &["EVAL", "return redis.call('get','lock')", "0"])
            .await;
        assert!(
            err(&script).starts_with(
                "ERR Script attempted to access a non local key in a cluster node script: "
            ),
            "{script:?}"
        );
        match cmd(&sim, 3, "CLUSTER SLOTS").await {
            Reply::Array(Some(ranges)) => assert_eq!(ranges.len(), 3),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn a_killed_master_is_replaced_and_returns_as_a_replica_of_its_replica() {
    simulate(cluster_scenario(1_000), 2, |sim: Sim| async move {
        assert_eq!(cmd(&sim, 1, "SET lock before").await, Reply::ok());
        sim.sleep(50).await;
        sim.fault(Fault::Kill {
            node: NodeRef::Redis(1),
            for_ms: Some(10_000),
        });
        let killed = sim.now_ms();
        // Until FAIL, the other masters still serve their own slots.
        assert_eq!(cmd(&sim, 0, "GET b").await, Reply::Bulk(None));
        let mut promoted = None;
        for _ in 0..100 {
            sim.sleep(50).await;
            if matches!(cmd(&sim, 4, "SET lock after").await, Reply::Status(_)) {
                promoted = Some(sim.now_ms() - killed);
                break;
            }
        }
        // Node timeout 1 s, PFAIL within another 0.5 s, the other
        // master's report within 0.5 s more, election 0.5-1 s later.
        let took = promoted.expect("redis-4 took over");
        assert!((1_500..=3_100).contains(&took), "took {took} ms");
        let h = sim.history();
        assert!(h.iter().any(|e| matches!(
            e.kind,
            EventKind::Failover {
                node: 4,
                old_master: 1
            }
        )));
        assert!(h
            .iter()
            .any(|e| matches!(e.kind, EventKind::ClusterState { node: 0, ok: false })));
        assert_eq!(sim.get(4, "lock").await.as_deref(), Some("after"));
        sim.sleep(10_000).await;
        // redis-1 is back, a replica of redis-4, with redis-4's data.
        assert_eq!(
            err(&cmd(&sim, 1, "GET lock").await),
            "MOVED 8718 10.0.0.5:6379"
        );
        let h = sim.history();
        assert!(h.iter().any(|e| matches!(
            e.kind,
            EventKind::Role {
                node: 1,
                role: Role::Replica
            }
        )));
        assert!(h.iter().any(|e| matches!(
            e.kind,
            EventKind::FullResync {
                node: 1,
                master: 4,
                ..
            }
        )));
    });
}

fn load(name: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    load_scenario(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn runs(s: &Scenario, n: u64) -> Vec<Outcome> {
    let seeds: Vec<u64> = (0..n).map(|i| s.seed + i).collect();
    sweep(&seeds, 2, |&seed| run(s, seed), &|_| {})
}

fn has(h: &[Event], f: impl Fn(&EventKind) -> bool) -> bool {
    h.iter().any(|e| f(&e.kind))
}

#[test]
fn row_53_the_elected_replica_never_had_the_lock() {
    for o in runs(&load("set-nx-px-cluster-failover-before-replication"), 10) {
        let h = &o.history.events;
        let seed = o.seed;
        assert!(
            o.check
                .violations
                .iter()
                .any(|v| v.kind == ViolationKind::L && (v.clients == [0, 1] || v.clients == [1, 0])),
            "seed {seed}: {:?}",
            o.check.violations
        );
        assert!(
            has(h, |k| matches!(
                k,
                EventKind::Failover {
                    node: 4,
                    old_master: 1
                }
            )),
            "seed {seed}"
        );
        assert!(
            has(h, |k| matches!(
                k,
                EventKind::Granted { node: 4, client: 1 }
            )),
            "seed {seed}"
        );
        assert!(
            has(h, |k| matches!(
                k,
                EventKind::Role {
                    node: 1,
                    role: Role::Replica
                }
            )),
            "seed {seed}"
        );
    }
}

#[test]
fn row_54_the_minority_master_refuses_then_is_demoted_and_loses_its_writes() {
    for o in runs(&load("set-nx-px-cluster-minority-master"), 10) {
        let h = &o.history.events;
        let seed = o.seed;
        assert!(
            o.check
                .violations
                .iter()
                .any(|v| v.kind == ViolationKind::L),
            "seed {seed}"
        );
        // redis-1 turned its state to fail and refused client-0.
        assert!(
            has(h, |k| matches!(
                k,
                EventKind::ClusterState { node: 1, ok: false }
            )),
            "seed {seed}"
        );
        assert!(
            has(
                h,
                |k| matches!(k, EventKind::Command { node: 1, client: 0, reply: Reply::Error(e), .. } if e == "CLUSTERDOWN The cluster is down")
            ),
            "seed {seed}"
        );
        assert!(
            has(h, |k| matches!(
                k,
                EventKind::Failover {
                    node: 4,
                    old_master: 1
                }
            )),
            "seed {seed}"
        );
        assert!(
            has(h, |k| matches!(
                k,
                EventKind::Granted { node: 4, client: 1 }
            )),
            "seed {seed}"
        );
        // After the heal: demoted, full resync from redis-4, client-0's
        // lock gone from it.
        assert!(
            has(h, |k| matches!(
                k,
                EventKind::Role {
                    node: 1,
                    role: Role::Replica
                }
            )),
            "seed {seed}"
        );
        assert!(
            has(h, |k| matches!(
                k,
                EventKind::FullResync {
                    node: 1,
                    master: 4,
                    ..
                }
            )),
            "seed {seed}"
        );
        assert!(
            has(h, |k| matches!(
                k,
                EventKind::KeyChanged {
                    node: 1,
                    cause: KeyCause::Resync,
                    ..
                }
            )),
            "seed {seed}"
        );
        // client-0's slot map follows (a MOVED, or a CLUSTER SLOTS refresh).
        assert!(
            has(h, |k| matches!(
                k,
                EventKind::Redirected {
                    client: 0,
                    master: 4
                }
            )),
            "seed {seed}"
        );
    }
}

#[test]
fn cluster_runs_replay_to_the_same_history() {
    for name in [
        "set-nx-px-cluster-failover-before-replication",
        "set-nx-px-cluster-minority-master",
    ] {
        let s = load(name);
        let a = run(&s, 3);
        let b = run(&s, 3);
        assert_eq!(a.hash(), b.hash(), "{name}");
    }
}

fn lock_on_cluster(alg: Algorithm) -> Scenario {
    let mut s = locksim::scenario::parse_scenario(
        &format!(
            "name = \"c\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"{}\"\nttl_ms = 3000\n[redis]\ntopology = \"cluster\"\ncluster_node_timeout_ms = 2000\n[clients]\ncount = 3\ncycles = 4\nwork_ms = [100, 500]\n",
            alg.name()
        ),
        "c.toml",
    )
    .unwrap();
    s.duration_ms = 40_000;
    s
}

#[test]
fn redlock_over_three_shards_locks_one_key_on_each_master() {
    let s = lock_on_cluster(Algorithm::Redlock);
    assert_eq!(s.lock.keys, ["{b}lock", "{c}lock", "{a}lock"]);
    for o in runs(&s, 5) {
        assert_eq!(o.verdict(), Verdict::Safe, "seed {}", o.seed);
        assert!(o.check.unfinished.is_empty(), "seed {}", o.seed);
        for e in &o.history.events {
            if let EventKind::AcquireOk { nodes, .. } = &e.kind {
                let mut n = nodes.clone();
                n.sort();
                n.dedup();
                assert_eq!(n.len(), nodes.len(), "one grant per master");
                assert!(n.iter().all(|&m| m < 3), "masters only: {nodes:?}");
            }
        }
        // Each key lives on its own master only.
        for (node, key) in [(0, "{b}lock"), (1, "{c}lock"), (2, "{a}lock")] {
            assert!(has(
                &o.history.events,
                |k| matches!(k, EventKind::KeyChanged { node: n, key: kk, .. } if *n == node && kk == key)
            ));
            assert!(!has(
                &o.history.events,
                |k| matches!(k, EventKind::KeyChanged { node: n, key: kk, .. } if *n != node && *n < 3 && kk == key)
            ));
        }
    }
}

#[test]
fn watchdog_and_set_nx_px_on_one_shard_are_safe_without_faults() {
    for alg in [Algorithm::Watchdog, Algorithm::SetNxPx] {
        let s = lock_on_cluster(alg);
        for o in runs(&s, 5) {
            assert_eq!(o.verdict(), Verdict::Safe, "{} seed {}", alg.name(), o.seed);
            // Every grant on redis-1, the master of slot 8718.
            assert!(!has(
                &o.history.events,
                |k| matches!(k, EventKind::Granted { node, .. } if *node != 1)
            ));
        }
    }
}

// ------------------------------- main's replication features on a cluster

/// A command `node` ran: (time, argv, reply).
fn commands_on(h: &[Event], node: usize) -> Vec<(u64, String, Reply)> {
    h.iter()
        .filter_map(|e| match &e.kind {
            EventKind::Command {
                node: n,
                cmd,
                reply,
                ..
            } if *n == node => {
                let line: Vec<String> = cmd
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                Some((e.t_us, line.join(" "), reply.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn min_replicas_on_a_shard_master_refuses_writes_once_its_replica_dies() {
    let s = locksim::scenario::parse_scenario(
        "name = \"c\"\nexpect = \"liveness\"\nduration_ms = 30000\n[lock]\nalgorithm = \"set-nx-px\"\nttl_ms = 3000\n[redis]\ntopology = \"cluster\"\ncluster_node_timeout_ms = 2000\nmin_replicas_to_write = 1\nmin_replicas_max_lag_s = 2\n[clients]\ncount = 2\ncycles = 50\nwork_ms = [100, 300]\nthink_ms = [200, 200]\n[[faults]]\nat_ms = 8000\nkind = \"kill\"\nnode = \"redis-4\"\nfor_ms = 30000\n",
        "c.toml",
    )
    .unwrap();
    assert_eq!(s.redis.replicas_per_master(), 1);
    let noreplicas = |r: &Reply| matches!(r, Reply::Error(e) if e.starts_with("NOREPLICAS"));
    for o in runs(&s, 3) {
        let h = &o.history.events;
        // redis-1 (slot 8718) grants while redis-4 acknowledges...
        let on_1 = commands_on(h, 1);
        assert!(
            on_1.iter()
                .any(|(t, c, r)| *t < 8_000_000 && c.starts_with("SET lock") && *r == Reply::ok()),
            "seed {}",
            o.seed
        );
        // ...refuses every write while its only replica is dead (killed at
        // 8 s, restarted when the liveness phase heals everything at 24 s)...
        let dead: Vec<_> = on_1
            .iter()
            .filter(|(t, c, _)| (8_100_000..24_000_000).contains(t) && c.starts_with("SET lock"))
            .collect();
        assert!(!dead.is_empty(), "seed {}", o.seed);
        assert!(
            dead.iter().all(|(_, _, r)| noreplicas(r)),
            "seed {}: {dead:?}",
            o.seed
        );
        // ...and grants again once the replica is back and acknowledges.
        assert!(
            on_1.iter()
                .any(|(t, c, r)| *t > 24_000_000 && c.starts_with("SET lock") && *r == Reply::ok()),
            "seed {}",
            o.seed
        );
    }
}

#[test]
fn watchdog_waits_for_the_replica_of_its_shard_master() {
    let mut s = lock_on_cluster(Algorithm::Watchdog);
    s.lock.sync_replicas = locksim_models::SyncReplicas::All;
    for o in runs(&s, 3) {
        assert_eq!(o.verdict(), Verdict::Safe, "seed {}", o.seed);
        let waits: Vec<_> = commands_on(&o.history.events, 1)
            .into_iter()
            .filter(|(_, c, _)| c.starts_with("WAIT "))
            .collect();
        assert!(!waits.is_empty(), "seed {}", o.seed);
        // One replica per shard: `WAIT 1`, acknowledged by redis-4.
        assert!(
            waits
                .iter()
                .all(|(_, c, r)| c.starts_with("WAIT 1 ") && *r == Reply::Int(1)),
            "seed {}: {waits:?}",
            o.seed
        );
    }
}
