//! Differential tests of replication against a real master and replica:
//! `WAIT`'s replies and timing, and min-replicas (`NOREPLICAS`: its text,
//! which commands and scripts it refuses, and when it starts and stops).
//!
//! Each case is a script of steps run twice: on a real redis-server 7.0
//! master with one replica (`--replicaof 127.0.0.1 PORT`, both started by
//! the test on free ports) and on a simulated sentinel pair (1 ms links,
//! 1 ms replication lag). A replica's stop-the-world pause is `DEBUG SLEEP`
//! on the real one and a `pause` fault in the simulation; a kill is
//! SIGKILL and a `kill` fault. Every reply must be the same bytes; the
//! times at which things change must fall in the windows Redis 7.0's
//! source gives (see each case).
//!
//! Without `redis-server` on PATH the tests print one line and pass,
//! unless `LOCKSIM_REQUIRE_REDIS=1`, which makes them fail.

mod support;

use locksim::model::{Fault, NodeRef, Persistence, Scenario, Span, Topology};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::real::{available, RealServer};
use support::{scenario, simulate, Sim};

/// One step of a case.
#[derive(Clone, Debug)]
enum Act {
    /// A command to node 0 (master) or 1 (replica): reply and time taken.
    Cmd(usize, Vec<&'static str>),
    /// Stops the replica for this many ms (DEBUG SLEEP / pause).
    PauseReplica(u64),
    /// Kills the replica.
    KillReplica,
    Sleep(u64),
    /// Sends the command to the master every `every_ms` until its reply
    /// starts with `prefix` (at most `limit_ms`): that reply, and the time
    /// since the last `PauseReplica` / `KillReplica`.
    PollUntil {
        cmd: Vec<&'static str>,
        prefix: &'static str,
        every_ms: u64,
        limit_ms: u64,
    },
}

/// What a step gave: the raw RESP reply and a time in ms.
#[derive(Clone, Debug, PartialEq)]
struct Got {
    resp: Vec<u8>,
    ms: u64,
}

fn cmd(node: usize, args: &[&'static str]) -> Act {
    Act::Cmd(node, args.to_vec())
}

fn poll(cmd: &[&'static str], prefix: &'static str, every_ms: u64, limit_ms: u64) -> Act {
    Act::PollUntil {
        cmd: cmd.to_vec(),
        prefix,
        every_ms,
        limit_ms,
    }
}

/// Runs `acts` on a real master and replica; `None` without redis-server.
fn run_real(test: &str, master_args: &[&str], acts: &[Act]) -> Option<Vec<Got>> {
    if !available(test) {
        return None;
    }
    let master = RealServer::start(master_args);
    let mport = master.port.to_string();
    let mut replica = RealServer::start(&["--replicaof", "127.0.0.1", &mport]);
    master.wait_for_replicas(1);
    let mut conns = [
        master.connect().expect("master"),
        replica.connect().expect("replica"),
    ];
    let mut sleeper = replica.connect().expect("replica");
    let mut mark = Instant::now();
    let mut out = Vec::new();
    for act in acts {
        match act {
            Act::Cmd(node, args) => {
                let t = Instant::now();
                let resp = conns[*node].call(args);
                out.push(Got {
                    resp,
                    ms: t.elapsed().as_millis() as u64,
                });
            }
            Act::PauseReplica(ms) => {
                mark = Instant::now();
                let secs = format!("{}", *ms as f64 / 1000.0);
                sleeper.send(&["DEBUG", "SLEEP", &secs]);
            }
            Act::KillReplica => {
                mark = Instant::now();
                replica.kill9();
            }
            Act::Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Act::PollUntil {
                cmd,
                prefix,
                every_ms,
                limit_ms,
            } => {
                let start = Instant::now();
                let resp = loop {
                    let r = conns[0].call(cmd);
                    if r.starts_with(prefix.as_bytes())
                        || start.elapsed() > Duration::from_millis(*limit_ms)
                    {
                        break r;
                    }
                    std::thread::sleep(Duration::from_millis(*every_ms));
                };
                out.push(Got {
                    resp,
                    ms: mark.elapsed().as_millis() as u64,
                });
            }
        }
    }
    Some(out)
}

/// The simulated pair: `redis-0` master, `redis-1` its replica.
fn sim_pair() -> Scenario {
    let mut s = scenario(Topology::Sentinel, 2, Persistence::None);
    s.redis.replication_lag_ms = Span::new(1, 1);
    s
}

/// Runs `acts` on the simulated pair of `s`.
fn run_sim(s: Scenario, acts: &[Act]) -> Vec<Got> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let (o, acts) = (out.clone(), acts.to_vec());
    simulate(s, 7, move |sim: Sim| async move {
        sim.sleep(500).await; // the replica's full resync
        let mut mark = sim.now_ms();
        for act in acts {
            let got = match act {
                Act::Cmd(node, args) => {
                    let t = sim.now_ms();
                    let r = sim.ok(node, &args).await;
                    Some(Got {
                        resp: r.to_resp(),
                        ms: sim.now_ms() - t,
                    })
                }
                Act::PauseReplica(ms) => {
                    mark = sim.now_ms();
                    sim.fault(Fault::Pause {
                        node: NodeRef::Redis(1),
                        for_ms: ms,
                    });
                    None
                }
                Act::KillReplica => {
                    mark = sim.now_ms();
                    sim.fault(Fault::Kill {
                        node: NodeRef::Redis(1),
                        for_ms: Some(3_600_000),
                    });
                    None
                }
                Act::Sleep(ms) => {
                    sim.sleep(ms).await;
                    None
                }
                Act::PollUntil {
                    cmd,
                    prefix,
                    every_ms,
                    limit_ms,
                } => {
                    let start = sim.now_ms();
                    let resp = loop {
                        let r = sim.ok(0, &cmd).await.to_resp();
                        if r.starts_with(prefix.as_bytes()) || sim.now_ms() - start > limit_ms {
                            break r;
                        }
                        sim.sleep(every_ms).await;
                    };
                    Some(Got {
                        resp,
                        ms: sim.now_ms() - mark,
                    })
                }
            };
            o.lock().unwrap().extend(got);
        }
    });
    let got = out.lock().unwrap().clone();
    got
}

/// The steps of `acts` that record something, for messages.
fn recorded(acts: &[Act]) -> Vec<&Act> {
    acts.iter()
        .filter(|a| matches!(a, Act::Cmd(..) | Act::PollUntil { .. }))
        .collect()
}

/// Same bytes on both sides, step by step.
fn assert_same_replies(acts: &[Act], sim: &[Got], real: &[Got]) {
    let steps = recorded(acts);
    assert_eq!(sim.len(), steps.len());
    assert_eq!(real.len(), steps.len());
    for (i, ((act, s), r)) in steps.iter().zip(sim).zip(real).enumerate() {
        assert_eq!(
            String::from_utf8_lossy(&s.resp),
            String::from_utf8_lossy(&r.resp),
            "step {i}, {act:?}: the model (left) and redis-server (right) disagree"
        );
    }
}

const WAIT_ERR_ON_REPLICA: &str = "-ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.\r\n";

#[test]
fn wait_replies_and_timing_match_a_real_master_and_replica() {
    let acts = vec![
        cmd(0, &["WAIT", "0", "0"]), // 0: no write yet: every online replica counts
        cmd(0, &["SET", "k", "v"]),
        // 2: GETACK brings the ACK at once (a long timeout: never reached,
        // even on a loaded machine)
        cmd(0, &["WAIT", "1", "1000"]),
        cmd(0, &["WAIT", "2", "100"]), // 3: one replica: 1 after the timeout
        cmd(0, &["WAIT", "0", "0"]),
        cmd(0, &["WAIT", "1", "0"]),
        cmd(0, &["WAIT", "-1", "10"]),
        cmd(0, &["WAIT", "1"]),
        cmd(0, &["WAIT", "x", "10"]),
        cmd(0, &["WAIT", "1", "abc"]),
        cmd(0, &["WAIT", "1", "-1"]),
        cmd(0, &["WAIT", "1", "1.5"]),
        cmd(0, &["WAIT", "99999999999999999999", "1"]),
        cmd(1, &["WAIT", "0", "0"]),
        cmd(1, &["WAIT", "1", "100"]),
        cmd(1, &["SET", "k", "w"]),
        cmd(1, &["GET", "k"]),
        Act::KillReplica,
        Act::Sleep(200),
        cmd(0, &["WAIT", "0", "0"]),   // 17: the dead replica is gone
        cmd(0, &["WAIT", "1", "100"]), // 18: none left: 0 after the timeout
    ];
    let Some(real) = run_real("wait_replies", &[], &acts) else {
        return;
    };
    let sim = run_sim(sim_pair(), &acts);
    assert_same_replies(&acts, &sim, &real);
    assert_eq!(real[0].resp, b":1\r\n");
    assert_eq!(real[2].resp, b":1\r\n");
    assert_eq!(real[3].resp, b":1\r\n");
    assert_eq!(real[13].resp, WAIT_ERR_ON_REPLICA.as_bytes());
    assert_eq!(real[17].resp, b":0\r\n");
    for (name, got) in [("model", &sim), ("redis-server", &real)] {
        assert!(got[2].ms < 1000, "{name}: WAIT 1 1000 answered early");
        assert!(
            (100..1000).contains(&got[3].ms),
            "{name}: WAIT 2 100 timed out: {} ms",
            got[3].ms
        );
        assert!((100..1000).contains(&got[18].ms), "{name}: no replica left");
    }
}

/// min-replicas-to-write 1, min-replicas-max-lag 2.
const MAX_LAG_MS: u64 = 2000;
const NOREPLICAS: &str = "-NOREPLICAS Not enough good replicas to write.\r\n";

#[test]
fn noreplicas_text_and_timing_match_a_real_master_and_replica() {
    let acts = vec![
        cmd(0, &["SET", "a", "1"]), // 0
        Act::PauseReplica(5000),
        // 1: the replica's last ACK ages past the limit (whole seconds,
        // counted by the master's once-a-second cron)
        poll(&["SET", "b", "x"], "-NOREPLICAS", 50, 6000),
        cmd(0, &["GET", "a"]), // 2: reads still work
        cmd(0, &["EVAL", "return redis.call('set','c','1')", "0"]),
        cmd(0, &["EVAL", "return redis.pcall('set','c','1')", "0"]),
        cmd(
            0,
            &[
                "EVAL",
                "redis.call('get','a'); return redis.call('set','c','1')",
                "0",
            ],
        ),
        cmd(0, &["EVAL", "#!lua\nreturn redis.call('set','c','1')", "0"]),
        cmd(
            0,
            &[
                "EVAL",
                "#!lua flags=no-writes\nreturn redis.call('get','a')",
                "0",
            ],
        ),
        cmd(0, &["EVAL", "return redis.call('get','a')", "0"]),
        cmd(0, &["DEL", "a"]),
        cmd(0, &["INCR", "n"]),
        cmd(0, &["PEXPIRE", "a", "100"]),
        cmd(0, &["HSET", "h", "f", "v"]),
        cmd(0, &["PUBLISH", "ch", "x"]), // 13: may-replicate, not a write
        cmd(0, &["SCRIPT", "LOAD", "return 1"]),
        cmd(0, &["PING"]),
        // 16: the replica wakes at 5 s, acknowledges, counts again at the
        // master's next cron
        poll(&["SET", "b", "y"], "+OK", 50, 10_000),
        Act::KillReplica,
        // 17: a killed replica's link closes: refused at once
        poll(&["SET", "b", "z"], "-NOREPLICAS", 5, 2000),
        cmd(0, &["GET", "b"]),
    ];
    let args = [
        "--min-replicas-to-write",
        "1",
        "--min-replicas-max-lag",
        "2",
    ];
    let Some(real) = run_real("noreplicas", &args, &acts) else {
        return;
    };
    let mut s = sim_pair();
    s.redis.min_replicas_to_write = 1;
    s.redis.min_replicas_max_lag_s = MAX_LAG_MS / 1000;
    let sim = run_sim(s, &acts);
    assert_same_replies(&acts, &sim, &real);
    assert_eq!(real[0].resp, b"+OK\r\n");
    assert_eq!(real[1].resp, NOREPLICAS.as_bytes());
    assert_eq!(real[2].resp, b"$1\r\n1\r\n");
    assert_eq!(real[13].resp, b":0\r\n");
    assert_eq!(real[17].resp, NOREPLICAS.as_bytes());
    assert_eq!(real[18].resp, b"$1\r\ny\r\n");
    println!(
        "NOREPLICAS after the replica stopped: model {} ms, redis-server {} ms; \
         writes back after it woke (5 s): model {} ms, redis-server {} ms; \
         after a kill: model {} ms, redis-server {} ms",
        sim[1].ms, real[1].ms, sim[16].ms, real[16].ms, sim[17].ms, real[17].ms
    );
    for (name, got) in [("model", &sim), ("redis-server", &real)] {
        // Refused once floor(now) - floor(last ACK) > 2 s; the last ACK is
        // at most 1 s before the pause, and the count is refreshed once a
        // second: between 1 s and 4 s after the pause.
        let refused = got[1].ms;
        assert!(
            (MAX_LAG_MS - 1000..=MAX_LAG_MS + 2000 + 300).contains(&refused),
            "{name}: NOREPLICAS {refused} ms after the replica stopped"
        );
        // Back within 2 s of waking (an ACK, then a cron refresh).
        let back = got[16].ms;
        assert!(
            (5000..=5000 + 2000 + 300).contains(&back),
            "{name}: writes accepted again {back} ms after the pause began"
        );
        let gone = got[17].ms;
        // At once: well before any ACK could age (a loaded machine may be slow).
        assert!(gone < 500, "{name}: NOREPLICAS {gone} ms after the kill");
    }
}
