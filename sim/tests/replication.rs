//! Asynchronous replication, WAIT and Sentinel failover, pinned on the
//! real server processes: what a promoted replica has, what WAIT counts,
//! what replicas do with expired keys, and what a split brain costs.

mod support;

use locksim::history::{EventKind, KeyCause};
use locksim::model::{Fault, NodeRef, Persistence, Role, Span, Topology};
use locksim_models::Reply;
use support::{scenario, simulate, Sim};

const READONLY: &str = "READONLY You can't write against a read only replica.";

fn sentinel(lag_ms: u64, failover_after_ms: u64) -> locksim::model::Scenario {
    let mut s = scenario(Topology::Sentinel, 3, Persistence::None);
    s.redis.replication_lag_ms = Span::new(lag_ms, lag_ms);
    s.redis.failover_after_ms = failover_after_ms;
    s
}

/// Waits until every replica applied the master's stream.
async fn settle(sim: &Sim, ms: u64) {
    sim.sleep(ms).await;
}

#[test]
fn a_promoted_replica_misses_exactly_the_unreplicated_writes() {
    for (seed, lag) in [(1, 500), (2, 800), (3, 300)] {
        simulate(sentinel(lag, 1000), seed, move |sim: Sim| async move {
            settle(&sim, lag + 100).await; // the initial full resync
            let mut writes = Vec::new();
            for i in 0..30 {
                let key = format!("k{i}");
                assert_eq!(sim.ok(0, &["SET", &key, "v"]).await, Reply::ok());
                writes.push(key);
                sim.sleep(97).await;
            }
            let kill_us = sim.world.now_us();
            sim.fault(Fault::Kill {
                node: NodeRef::Redis(0),
                for_ms: Some(60_000),
            });
            sim.sleep(1500).await;
            let p = sim.master();
            assert_ne!(p, 0, "failed over");
            let h = sim.history();
            let failover = h
                .iter()
                .find(|e| matches!(e.kind, EventKind::Failover { .. }))
                .expect("a failover");
            assert!(
                (kill_us + 1_000_000..kill_us + 1_010_000).contains(&failover.t_us),
                "promoted failover_after_ms after the crash"
            );
            // Each SET's effects leave the master `lag` ms after it ran; what
            // left before the crash arrives, the rest died with the master.
            let ran: Vec<u64> = h
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::Command { node: 0, cmd, .. }
                        if cmd[0] == b"SET" && cmd[1].starts_with(b"k") =>
                    {
                        Some(e.t_us)
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(ran.len(), writes.len());
            let mut missing = Vec::new();
            for (key, t) in writes.iter().zip(&ran) {
                let sent = t + lag * 1000 < kill_us;
                assert!(
                    (t + lag * 1000).abs_diff(kill_us) > 2000,
                    "no write on the boundary (seed {seed})"
                );
                let present = sim.get(p, key).await.is_some();
                assert_eq!(
                    present, sent,
                    "{key}: ran at {t} us, crash at {kill_us} us, lag {lag} ms"
                );
                if !present {
                    missing.push(key.clone());
                }
            }
            let expect_missing = (lag / 100) as usize;
            assert!(
                missing.len().abs_diff(expect_missing) <= 1,
                "about lag/interval writes lost: {missing:?}"
            );
            // The other replica follows the new master and has its data.
            let other = 3 - p;
            sim.sleep(lag + 200).await;
            assert_eq!(sim.get(other, &writes[0]).await.as_deref(), Some("v"));
            assert_eq!(sim.get(other, writes.last().unwrap()).await, None);
            let r = sim.ok(other, &["SET", "x", "1"]).await;
            assert_eq!(r, Reply::Error(READONLY.into()));
        });
    }
}

#[test]
fn wait_counts_the_replicas_that_acknowledged() {
    simulate(sentinel(200, 5000), 4, |sim: Sim| async move {
        settle(&sim, 400).await;
        sim.ok(0, &["SET", "a", "1"]).await;
        assert_eq!(
            sim.ok(0, &["WAIT", "0", "0"]).await,
            Reply::Int(0),
            "nobody acked yet"
        );
        let t0 = sim.now_ms();
        assert_eq!(sim.ok(0, &["WAIT", "2", "1000"]).await, Reply::Int(2));
        let took = sim.now_ms() - t0;
        assert!(
            (200..400).contains(&took),
            "blocks until both acked: {took} ms"
        );
        assert_eq!(
            sim.ok(0, &["WAIT", "1", "0"]).await,
            Reply::Int(2),
            "enough already"
        );
        // A client that never wrote waits for nothing (offset 0).
        sim.ok(0, &["SET", "b", "1"]).await;
        assert_eq!(
            sim.ok(0, &["WAIT", "1", "50"]).await,
            Reply::Int(0),
            "not yet acked"
        );
    });
}

#[test]
fn wait_times_out_with_the_acks_it_has() {
    simulate(sentinel(100, 60_000), 5, |sim: Sim| async move {
        settle(&sim, 300).await;
        sim.fault(Fault::Partition {
            groups: vec![vec![NodeRef::Redis(2)], vec![NodeRef::Redis(0)]],
            for_ms: Some(3000),
        });
        sim.ok(0, &["SET", "a", "1"]).await;
        let t0 = sim.now_ms();
        assert_eq!(sim.ok(0, &["WAIT", "2", "500"]).await, Reply::Int(1));
        let took = sim.now_ms() - t0;
        assert!(
            (500..520).contains(&took),
            "waited the whole timeout: {took} ms"
        );
        assert_eq!(sim.ok(0, &["WAIT", "1", "0"]).await, Reply::Int(1));
        // The stream is resent once the link heals.
        sim.sleep(4500).await;
        assert_eq!(sim.get(2, "a").await.as_deref(), Some("1"));
        assert_eq!(sim.ok(0, &["WAIT", "2", "100"]).await, Reply::Int(2));
        // WAIT on a replica is an error; on a lone master it counts none.
        let Reply::Error(e) = sim.ok(1, &["WAIT", "1", "10"]).await else {
            panic!("an error")
        };
        assert!(
            e.starts_with("ERR WAIT cannot be used with replica instances."),
            "{e}"
        );
    });
    simulate(
        scenario(Topology::Single, 1, Persistence::None),
        5,
        |sim: Sim| async move {
            let t0 = sim.now_ms();
            assert_eq!(sim.ok(0, &["WAIT", "1", "100"]).await, Reply::Int(0));
            assert!(
                sim.now_ms() - t0 >= 100,
                "blocks for the timeout like Redis"
            );
            assert_eq!(sim.ok(0, &["WAIT", "0", "0"]).await, Reply::Int(0));
        },
    );
}

#[test]
fn replicas_hide_expired_keys_but_never_expire_them() {
    // No failover: the master stays down, its replicas keep the key.
    simulate(sentinel(10, 600_000), 6, |sim: Sim| async move {
        settle(&sim, 100).await;
        sim.ok(0, &["SET", "lock", "v", "PX", "300"]).await;
        sim.sleep(100).await;
        assert_eq!(sim.get(1, "lock").await.as_deref(), Some("v"));
        sim.fault(Fault::Kill {
            node: NodeRef::Redis(0),
            for_ms: Some(600_000),
        });
        sim.sleep(1000).await;
        assert_eq!(sim.get(1, "lock").await, None, "logically expired: hidden");
        assert_eq!(sim.ok(1, &["EXISTS", "lock"]).await, Reply::Int(0));
        let h = sim.history();
        let copied = h.iter().any(|e| {
            matches!(
                &e.kind,
                EventKind::KeyChanged {
                    node: 1,
                    owner: Some(_),
                    cause: KeyCause::Replication,
                    ..
                }
            )
        });
        assert!(copied, "the replica's copy is in the history");
        let expired_on_replica = h.iter().any(|e| {
            matches!(e.kind, EventKind::KeyChanged { node, cause: KeyCause::Expiry, .. } if node != 0)
        });
        assert!(!expired_on_replica, "replicas never expire keys themselves");
        assert_eq!(
            sim.ok(1, &["SET", "lock", "w"]).await,
            Reply::Error(READONLY.into())
        );
    });
}

#[test]
fn a_split_brain_old_master_loses_its_writes_when_demoted() {
    let mut s = sentinel(10, 1000);
    s.clients.count = 1;
    simulate(s, 8, |sim: Sim| async move {
        settle(&sim, 100).await;
        sim.ok(0, &["SET", "before", "1"]).await;
        sim.sleep(100).await;
        sim.fault(Fault::Partition {
            groups: vec![
                vec![NodeRef::Redis(0), NodeRef::Client(0)],
                vec![NodeRef::Redis(1), NodeRef::Redis(2)],
            ],
            for_ms: Some(3000),
        });
        // The isolated old master keeps taking writes; the client, cut off
        // from the Sentinels, keeps believing in it.
        sim.sleep(1500).await;
        assert_eq!(sim.ok(0, &["SET", "alone", "1"]).await, Reply::ok());
        assert_eq!(sim.master(), 0, "the client cannot hear Sentinel");
        let h = sim.history();
        let promoted = h
            .iter()
            .find_map(|e| match e.kind {
                EventKind::Failover {
                    node,
                    old_master: 0,
                } => Some(node),
                _ => None,
            })
            .expect("the majority failed over");
        sim.sleep(2000).await; // healed at 3.2 s
        assert_eq!(sim.master(), promoted, "the client learns the new master");
        assert_eq!(sim.get(promoted, "before").await.as_deref(), Some("1"));
        assert_eq!(sim.get(promoted, "alone").await, None);
        // The old master is a replica now, resynced from the new master.
        assert_eq!(sim.get(0, "alone").await, None, "its lone write is gone");
        assert_eq!(sim.get(0, "before").await.as_deref(), Some("1"));
        assert_eq!(
            sim.ok(0, &["SET", "x", "1"]).await,
            Reply::Error(READONLY.into())
        );
        let demoted = sim.history().iter().any(|e| {
            matches!(
                &e.kind,
                EventKind::Role {
                    node: 0,
                    role: Role::Replica
                }
            )
        });
        assert!(demoted);
    });
}

#[test]
fn a_master_restarted_without_persistence_wipes_its_replicas() {
    simulate(sentinel(10, 5000), 9, |sim: Sim| async move {
        settle(&sim, 100).await;
        sim.ok(0, &["SET", "k", "v"]).await;
        sim.sleep(100).await;
        assert_eq!(sim.get(1, "k").await.as_deref(), Some("v"));
        sim.fault(Fault::Kill {
            node: NodeRef::Redis(0),
            for_ms: None, // back at once: no failover
        });
        sim.sleep(200).await;
        assert_eq!(sim.master(), 0);
        assert_eq!(sim.get(0, "k").await, None);
        assert_eq!(
            sim.get(1, "k").await,
            None,
            "full resync from the empty master"
        );
        assert_eq!(sim.get(2, "k").await, None);
    });
}

#[test]
fn wait_answers_at_once_when_the_periodic_ack_already_covers_the_write() {
    simulate(sentinel(20, 60_000), 8, |sim: Sim| async move {
        settle(&sim, 100).await;
        sim.ok(0, &["SET", "a", "1"]).await;
        // Replicas send REPLCONF ACK once a second: by now both have.
        sim.sleep(1200).await;
        let t0 = sim.now_ms();
        assert_eq!(sim.ok(0, &["WAIT", "2", "1000"]).await, Reply::Int(2));
        let took = sim.now_ms() - t0;
        assert!(took < 10, "no GETACK round trip needed: {took} ms");
    });
}

/// min-replicas against each way a replica can go away: a killed process
/// closes its link at once; a powered-off one (or a paused or cut-off
/// one) only stops acknowledging, and counts until its last ACK is older
/// than `min_replicas_max_lag_s`.
#[test]
fn min_replicas_drops_a_killed_replica_at_once_and_a_silent_one_after_the_lag() {
    const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";
    let mut s = sentinel(5, 600_000);
    s.redis.min_replicas_to_write = 2;
    s.redis.min_replicas_max_lag_s = 2;
    simulate(s, 9, |sim: Sim| async move {
        // Until both replicas synced and acknowledged: refused.
        let r = sim.ok(0, &["SET", "a", "1"]).await;
        assert_eq!(r, Reply::Error(NOREPLICAS.into()), "before the sync");
        settle(&sim, 100).await;
        assert_eq!(sim.ok(0, &["SET", "a", "1"]).await, Reply::ok());
        // A kill: refused one network hop later.
        sim.fault(Fault::Kill {
            node: NodeRef::Redis(1),
            for_ms: Some(1000),
        });
        sim.sleep(10).await;
        let r = sim.ok(0, &["SET", "a", "2"]).await;
        assert_eq!(r, Reply::Error(NOREPLICAS.into()), "the link closed");
        assert_eq!(sim.get(0, "a").await.as_deref(), Some("1"), "reads work");
        // Back after its restart, full resync and first ACK.
        sim.sleep(1100).await;
        assert_eq!(sim.ok(0, &["SET", "a", "3"]).await, Reply::ok());
        // A power loss sends no FIN: still good for more than a second.
        let t0 = sim.now_ms();
        sim.fault(Fault::PowerLoss {
            node: NodeRef::Redis(2),
            for_ms: Some(600_000),
        });
        sim.sleep(900).await;
        assert_eq!(sim.ok(0, &["SET", "a", "4"]).await, Reply::ok());
        let refused_at = loop {
            let r = sim.ok(0, &["SET", "a", "5"]).await;
            if r != Reply::ok() {
                assert_eq!(r, Reply::Error(NOREPLICAS.into()));
                break sim.now_ms() - t0;
            }
            sim.sleep(50).await;
        };
        // floor(now) - floor(last ACK) > 2 s, counted once a second.
        assert!(
            (1000..=4100).contains(&refused_at),
            "refused {refused_at} ms after the power loss"
        );
        // A script's first write is refused; one that writes nothing runs.
        let r = sim
            .ok(0, &["EVAL", "return redis.call('get','a')", "0"])
            .await;
        assert_eq!(
            r,
            Reply::Bulk(sim.get(0, "a").await.map(String::into_bytes))
        );
        let Reply::Error(e) = sim
            .ok(0, &["EVAL", "return redis.call('set','a','6')", "0"])
            .await
        else {
            panic!("refused")
        };
        assert!(e.starts_with(NOREPLICAS), "{e}");
    });
}

#[test]
fn a_replica_cut_off_under_steady_writes_catches_up_after_the_heal() {
    // The master writes every 300 ms, faster than its resend delay
    // (lag + 2 round trips + 1 s): the chunks the partition lost must still
    // be resent once it heals, or the replica never applies anything again
    // and WAIT answers 0 for ever.
    simulate(sentinel(20, 60_000), 10, |sim: Sim| async move {
        settle(&sim, 100).await;
        sim.fault(Fault::Partition {
            groups: vec![vec![NodeRef::Redis(0)], vec![NodeRef::Redis(2)]],
            for_ms: Some(3000),
        });
        for i in 0..30 {
            assert_eq!(
                sim.ok(0, &["SET", &format!("k{i}"), "v"]).await,
                Reply::ok()
            );
            sim.sleep(300).await;
        }
        // Healed at 3.1 s; every write since is 2 s or more old.
        assert_eq!(
            sim.get(2, "k0").await.as_deref(),
            Some("v"),
            "lost in the partition, resent"
        );
        assert_eq!(sim.get(2, "k20").await.as_deref(), Some("v"));
        assert_eq!(sim.ok(0, &["WAIT", "2", "1000"]).await, Reply::Int(2));
    });
}
