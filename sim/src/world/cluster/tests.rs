//! The failover rules on their own: a liveness map, fixed draws, and the
//! step run at every timer it asks for.

use super::*;
use crate::model::Topology;
use crate::scenario::defaults;

const S: u64 = 1_000_000;

struct Bench {
    c: Cluster,
    l: Liveness,
    offsets: Vec<Option<u64>>,
    now: u64,
    /// Every change with the true time it happened.
    log: Vec<(u64, Change)>,
    /// Returned by every draw (`0` = the earliest, `n - 1` the latest).
    draw: fn(u64) -> u64,
}

fn bench(shards: usize, per: usize, timeout_ms: u64) -> Bench {
    let mut r = defaults::redis(Topology::Cluster);
    r.shards = shards;
    r.replicas_per_shard = per;
    r.nodes = RedisConfig::cluster_nodes(shards, per);
    r.cluster_node_timeout_ms = timeout_ms;
    Bench {
        c: Cluster::new(&r),
        l: Liveness::new((0..r.nodes).map(NodeRef::Redis)),
        offsets: vec![Some(0); r.nodes],
        now: 0,
        log: Vec::new(),
        draw: |_| 0,
    }
}

impl Bench {
    fn step(&mut self) -> Option<u64> {
        let draw = self.draw;
        let mut rand = move |n: u64| draw(n);
        let (changes, due) = self.c.step(&mut StepEnv {
            now_us: self.now,
            liveness: &self.l,
            offsets: &self.offsets,
            rand: &mut rand,
        });
        self.log.extend(changes.into_iter().map(|c| (self.now, c)));
        due
    }

    /// Steps at every timer up to `until_us`, then at `until_us`.
    fn run_to(&mut self, until_us: u64) {
        loop {
            match self.step() {
                Some(due) if due <= until_us => self.now = due.max(self.now + 1),
                _ => break,
            }
        }
        self.now = until_us;
        self.step();
    }

    fn crash(&mut self, i: usize) {
        self.l.crash(NodeRef::Redis(i), self.now).unwrap();
        self.c.crash(i);
        self.step();
    }

    fn restart(&mut self, i: usize) {
        self.l.restart(NodeRef::Redis(i), None).unwrap();
        self.step();
    }

    /// Cuts `group` off from every other node.
    fn isolate(&mut self, group: &[usize]) {
        let n = self.c.nodes.len();
        for &a in group {
            for b in (0..n).filter(|b| !group.contains(b)) {
                self.l.cut(NodeRef::Redis(a), NodeRef::Redis(b));
            }
        }
        self.step();
    }

    fn heal(&mut self) {
        self.l.heal_cuts();
        self.step();
    }

    fn first(&self, want: impl Fn(&Change) -> bool) -> Option<u64> {
        self.log.iter().find(|(_, c)| want(c)).map(|(t, _)| *t)
    }
}

#[test]
fn a_crashed_master_s_replica_is_elected_after_the_timeout_and_the_delay() {
    let mut b = bench(3, 1, 2_000);
    b.now = S;
    b.crash(1);
    b.run_to(20 * S);
    // Earliest draws: PFAIL at 1 s + 2 s, FAIL at once (both other
    // masters agree), election 500 ms later.
    let fail = b.first(|c| matches!(c, Change::MarkedFail { failed: 1, .. }));
    assert_eq!(fail, Some(3 * S));
    let won = b.first(|c| {
        matches!(
            c,
            Change::Promoted {
                node: 4,
                old_master: 1
            }
        )
    });
    assert_eq!(won, Some(3 * S + 500_000));
    assert!(b.log.contains(&(
        3 * S + 500_000,
        Change::Election {
            node: 4,
            epoch: 4,
            votes: 2,
            needed: 2
        }
    )));
    // Between FAIL and the election the whole cluster is down (full
    // coverage), then ok again.
    assert!(b
        .log
        .contains(&(3 * S, Change::State { node: 0, ok: false })));
    assert!(b
        .log
        .contains(&(3 * S + 500_000, Change::State { node: 0, ok: true })));
    assert!(b.c.ok(2) && b.c.ok(3) && b.c.ok(5));
    // The old master comes back as a replica of the new one.
    b.restart(1);
    assert_eq!(b.c.nodes[1].replica_of, Some(4));
    assert!(b.log.iter().any(|(_, c)| *c
        == Change::Role {
            node: 1,
            of: Some(4)
        }));
}

#[test]
fn the_latest_draws_stretch_detection_to_two_timeouts_plus_a_second() {
    let mut b = bench(3, 1, 2_000);
    b.draw = |n| n - 1;
    b.now = S;
    b.crash(1);
    b.run_to(20 * S);
    // PFAIL 1.5 timeouts after the crash, the other master's report half
    // a timeout later, the election a second after that.
    let fail = b.first(|c| matches!(c, Change::MarkedFail { failed: 1, .. }));
    assert_eq!(fail, Some(S + 4_000_000));
    let won = b.first(|c| matches!(c, Change::Promoted { node: 4, .. }));
    assert_eq!(won, Some(S + 4_000_000 + 999_000));
}

#[test]
fn a_minority_master_refuses_after_the_timeout_and_rejoins_as_a_replica() {
    let mut b = bench(3, 1, 2_000);
    b.now = S;
    b.isolate(&[1]);
    b.run_to(10 * S);
    assert_eq!(
        b.first(|c| *c == Change::State { node: 1, ok: false }),
        Some(3 * S),
        "no master reachable after the node timeout"
    );
    assert_eq!(
        b.first(|c| matches!(c, Change::Promoted { node: 4, .. })),
        Some(3 * S + 500_000)
    );
    assert!(!b.c.ok(1), "still on the minority side");
    b.heal();
    assert_eq!(b.c.nodes[1].replica_of, Some(4), "demoted by an UPDATE");
    assert!(b.c.ok(1), "a replica needs no rejoin delay");
    assert_eq!(b.c.nodes[1].owners[1], (4, 4));
}

#[test]
fn a_minority_master_that_nobody_replaced_waits_the_rejoin_delay() {
    // Cut off with its own replica: the other masters flag it FAIL, but
    // the replica still reaches it and never runs an election.
    let mut b = bench(3, 1, 2_000);
    b.now = S;
    b.isolate(&[1, 4]);
    b.run_to(4 * S);
    assert!(!b.c.ok(1));
    assert!(b.c.is_master(1), "its replica could not be elected");
    b.heal();
    // FAIL in the others' view lasts 2 x timeout since it was set; the
    // master itself waits the rejoin delay (its timeout, 2 s).
    assert!(!b.c.ok(1));
    let healed = b.now;
    b.run_to(healed + 10 * S);
    let back = b
        .first(|c| *c == Change::State { node: 1, ok: true })
        .unwrap();
    assert_eq!(back, healed + 2 * S);
    assert!(b.c.ok(0) && b.c.ok(2));
}

#[test]
fn one_shard_cannot_fail_over_without_a_majority_of_masters() {
    let mut b = bench(1, 1, 1_000);
    b.crash(0);
    b.run_to(30 * S);
    assert!(b.first(|c| matches!(c, Change::Promoted { .. })).is_none());
    assert!(b.c.nodes[1].replica_of == Some(0));
}

#[test]
fn the_replica_that_applied_less_waits_a_second_per_rank_and_loses() {
    let mut b = bench(3, 2, 2_000);
    // Shard 0: master 0, replicas 3 and 4; 4 applied more.
    b.offsets[3] = Some(10);
    b.offsets[4] = Some(20);
    b.now = S;
    b.crash(0);
    b.run_to(20 * S);
    assert_eq!(
        b.first(|c| matches!(c, Change::Promoted { .. })),
        b.first(|c| matches!(c, Change::Promoted { node: 4, .. }))
    );
    assert!(b
        .first(|c| matches!(c, Change::Promoted { node: 3, .. }))
        .is_none());
    assert_eq!(b.c.nodes[3].replica_of, Some(4), "follows the winner");
}

#[test]
fn a_master_restarted_before_anyone_noticed_waits_the_writable_delay() {
    let mut b = bench(3, 1, 15_000);
    b.now = S;
    b.crash(2);
    b.now = 2 * S;
    b.restart(2);
    assert!(b.c.is_master(2));
    assert!(!b.c.ok(2), "a restarted node starts in state fail");
    b.run_to(10 * S);
    assert_eq!(
        b.first(|c| *c == Change::State { node: 2, ok: true }),
        Some(4 * S)
    );
}
