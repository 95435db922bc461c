//! What each persistence mode keeps across each kind of crash, pinned on
//! the real server processes: writes before the reply, fsync once a
//! second or before the reply, RDB snapshots, loads that drop expired
//! keys, and downtime that counts against TTLs.

mod support;

use locksim::history::{DiskOp, EventKind};
use locksim::model::{Fault, NodeRef, Persistence, Topology};
use locksim_models::Reply;
use std::sync::{Arc, Mutex};
use support::{scenario, simulate, Sim};

const R0: NodeRef = NodeRef::Redis(0);

fn crash(power_loss: bool, for_ms: Option<u64>) -> Fault {
    if power_loss {
        Fault::PowerLoss { node: R0, for_ms }
    } else {
        Fault::Kill { node: R0, for_ms }
    }
}

/// Writes `old` (then waits 1.5 s: an everysec fsync and an RDB snapshot
/// pass), writes `new`, crashes 10 ms later, restarts at once, and reports
/// which of the two survived.
fn survivors(mode: Persistence, power_loss: bool) -> (bool, bool) {
    let mut s = scenario(Topology::Single, 1, mode);
    s.redis.rdb_save_every_ms = 1000;
    let out = Arc::new(Mutex::new(None));
    let o = out.clone();
    simulate(s, 7, move |sim: Sim| async move {
        sim.ok(0, &["SET", "old", "1"]).await;
        sim.sleep(1500).await;
        assert_eq!(sim.ok(0, &["SET", "new", "1"]).await, Reply::ok());
        sim.sleep(10).await;
        sim.fault(crash(power_loss, None));
        sim.sleep(100).await;
        let old = sim.get(0, "old").await.is_some();
        let new = sim.get(0, "new").await.is_some();
        *o.lock().unwrap() = Some((old, new));
    });
    let got = out.lock().unwrap().take().expect("the test ran");
    got
}

#[test]
fn each_mode_keeps_what_each_crash_allows() {
    use Persistence::*;
    // (mode, crash is a power loss, old write survives, new write survives)
    let table = [
        (None, false, false, false),
        (None, true, false, false),
        // The snapshot (taken at 1 s) has `old`, never `new`.
        (Rdb, false, true, false),
        (Rdb, true, true, false),
        // `new` was written before the reply: a process crash keeps it
        // (page cache); a power loss before the next fsync drops it.
        (AofEverysec, false, true, true),
        (AofEverysec, true, true, false),
        (AofAlways, false, true, true),
        (AofAlways, true, true, true),
    ];
    for (mode, power, old, new) in table {
        let got = survivors(mode, power);
        let kind = if power { "power-loss" } else { "kill" };
        assert_eq!(
            got,
            (old, new),
            "{} x {kind}: (old, new) survived",
            mode.name()
        );
    }
}

#[test]
fn power_loss_under_everysec_loses_only_the_last_unsynced_second() {
    for (seed, crash_at_ms) in [(1, 3550), (2, 4300), (3, 2700), (4, 5730)] {
        let s = scenario(Topology::Single, 1, Persistence::AofEverysec);
        simulate(s, seed, move |sim: Sim| async move {
            // A write every ~50 ms; remember when each was executed.
            let mut written = Vec::new();
            let mut i = 0;
            while sim.now_ms() < crash_at_ms {
                let key = format!("k{i}");
                sim.ok(0, &["SET", &key, "v"]).await;
                written.push(key);
                i += 1;
                sim.sleep(50).await;
            }
            let crash_us = sim.world.now_us();
            sim.fault(crash(true, None));
            sim.sleep(50).await;
            // When each SET ran on the node, from the history.
            let ran: Vec<(String, u64)> = sim
                .history()
                .into_iter()
                .filter_map(|e| match e.kind {
                    EventKind::Command { ref cmd, .. }
                        if cmd[0] == b"SET" && cmd[1].starts_with(b"k") =>
                    {
                        Some((String::from_utf8(cmd[1].clone()).unwrap(), e.t_us))
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(ran.len(), written.len());
            let last_fsync = sim
                .disk_events(0, "fsync")
                .into_iter()
                .map(|(t, _)| t)
                .filter(|&t| t <= crash_us)
                .max()
                .expect("an fsync ran before the crash");
            assert!(
                crash_us - last_fsync < 1_000_000,
                "fsync at least once a second"
            );
            let mut lost = 0;
            for (key, t) in &ran {
                let present = sim.get(0, key).await.is_some();
                // Durable iff written before the last fsync.
                assert_eq!(
                    present,
                    *t <= last_fsync,
                    "{key} written at {t} us, last fsync {last_fsync} us, crash {crash_us} us"
                );
                if !present {
                    lost += 1;
                    assert!(crash_us - t < 1_000_000, "only the last second is lost");
                }
            }
            assert!(lost > 0, "the unsynced tail was not empty (seed {seed})");
            let lost_events = sim.disk_events(0, "lost");
            assert_eq!(lost_events.len(), 1);
            assert_eq!(
                lost_events[0].1,
                DiskOp::Lost { ops: lost },
                "{lost_events:?}"
            );
        });
    }
}

#[test]
fn a_killed_nodes_page_cache_is_fsynced_by_the_restarted_process() {
    let s = scenario(Topology::Single, 1, Persistence::AofEverysec);
    simulate(s, 3, |sim: Sim| async move {
        sim.sleep(20).await;
        sim.ok(0, &["SET", "k", "v"]).await;
        sim.fault(crash(false, None)); // unsynced, but in the page cache
        sim.sleep(1500).await; // the restarted process fsyncs it
        sim.fault(crash(true, None));
        sim.sleep(50).await;
        assert_eq!(sim.get(0, "k").await.as_deref(), Some("v"));
    });
}

#[test]
fn downtime_counts_against_ttls() {
    for mode in [
        Persistence::Rdb,
        Persistence::AofEverysec,
        Persistence::AofAlways,
    ] {
        let mut s = scenario(Topology::Single, 1, mode);
        s.redis.rdb_save_every_ms = 100;
        simulate(s, 5, move |sim: Sim| async move {
            sim.ok(0, &["SET", "short", "v", "PX", "2000"]).await;
            sim.ok(0, &["SET", "long", "v", "PX", "10000"]).await;
            sim.ok(
                0,
                &[
                    "EVAL",
                    "return redis.call('set', KEYS[1], 'v', 'PX', 10000)",
                    "1",
                    "script",
                ],
            )
            .await;
            sim.sleep(1100).await; // synced / snapshotted
            sim.fault(crash(true, Some(3000)));
            assert_eq!(sim.cmd(0, &["PING"]).await, None, "down"); // 2 s timeout
            sim.sleep(1100).await;
            assert_eq!(
                sim.get(0, "short").await,
                None,
                "{}: expired while down",
                mode.name()
            );
            assert_eq!(sim.get(0, "long").await.as_deref(), Some("v"));
            assert_eq!(
                sim.get(0, "script").await.as_deref(),
                Some("v"),
                "script effects persisted"
            );
            let Reply::Int(pttl) = sim.ok(0, &["PTTL", "long"]).await else {
                panic!("PTTL is an integer")
            };
            assert!(
                (5500..=5900).contains(&pttl),
                "{}: 4.2 s of 10 s used, pttl {pttl}",
                mode.name()
            );
            let loads = sim.disk_events(0, "load");
            assert_eq!(loads.len(), 1, "{loads:?}");
            assert!(
                matches!(&loads[0].1, DiskOp::Load { keys: 2, dropped, .. } if dropped == &["short"]),
                "{:?}",
                loads[0].1
            );
        });
    }
}

#[test]
fn rdb_snapshots_only_after_a_change_and_the_interval() {
    let mut s = scenario(Topology::Single, 1, Persistence::Rdb);
    s.redis.rdb_save_every_ms = 2000;
    simulate(s, 9, |sim: Sim| async move {
        sim.sleep(3000).await;
        assert!(sim.disk_events(0, "snapshot").is_empty(), "nothing changed");
        sim.ok(0, &["SET", "a", "1"]).await; // at 3 s: overdue, next cron tick
        sim.sleep(150).await;
        let snaps = sim.disk_events(0, "snapshot");
        assert_eq!(snaps.len(), 1, "{snaps:?}");
        assert!(
            snaps[0].0 <= 3_101_000,
            "at the next 100 ms tick: {snaps:?}"
        );
        sim.ok(0, &["SET", "b", "1"]).await;
        sim.sleep(1000).await;
        assert_eq!(
            sim.disk_events(0, "snapshot").len(),
            1,
            "not before 2 s have passed"
        );
        sim.fault(crash(false, None));
        sim.sleep(10).await;
        assert_eq!(sim.get(0, "a").await.as_deref(), Some("1"));
        assert_eq!(sim.get(0, "b").await, None, "newer than the snapshot");
    });
}

#[test]
fn the_final_heal_keeps_the_delayed_restart() {
    let mut s = scenario(Topology::Single, 1, Persistence::None);
    s.redis.restart_delay_ms = 5000;
    simulate(s, 11, |sim: Sim| async move {
        sim.sleep(100).await;
        sim.fault(crash(false, None)); // at 0.1 s, down until 5.1 s
        sim.sleep(1000).await;
        locksim::world::fault::heal_all(&sim.world); // at 1.1 s
        assert_eq!(sim.cmd(0, &["PING"]).await, None, "still down at 1.1-3.1 s");
        sim.sleep(2100).await; // 5.2 s
        assert_eq!(
            sim.cmd(0, &["PING"]).await,
            Some(Reply::Status("PONG".into()))
        );
        let up = sim
            .history()
            .iter()
            .find(|e| matches!(e.kind, EventKind::NodeUp { restart: true, .. }))
            .map(|e| e.t_us)
            .expect("restarted");
        assert!((5_100_000..5_102_000).contains(&up), "restarted at {up} us");
        // A restart timer never ends a later crash early.
        sim.fault(crash(false, Some(500))); // crash A at ~5.2 s
        sim.sleep(100).await;
        sim.fault(Fault::Restart { node: R0 });
        sim.sleep(100).await;
        sim.fault(crash(false, Some(3000))); // crash B: until ~8.4 s
        sim.sleep(1000).await; // A's timer fired meanwhile
        assert_eq!(sim.cmd(0, &["PING"]).await, None, "B still down");
    });
}
