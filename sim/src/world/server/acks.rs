//! The acknowledgements a master counts: Redis's `REPLCONF ACK`, which
//! `WAIT` and `min-replicas-to-write` read (Redis 7.0 `replication.c`).
//!
//! - A linked replica sends `REPLCONF ACK <applied offset>` once a second
//!   (`replicationCron`), right after a full resync, and whenever the
//!   stream brings it a `REPLCONF GETACK *`; the offset it reports does not
//!   include that GETACK (Redis updates `reploff` after the command).
//! - The master keeps, per replica, the largest acknowledged offset
//!   (`repl_ack_off`) and the time of the last acknowledgement in whole
//!   seconds of its own wall clock (`repl_ack_time`, `server.unixtime`).
//!   A replica is *online* from its first acknowledgement after a full
//!   resync.
//! - `WAIT n timeout` answers at once when `n` online replicas already
//!   acknowledged the client's last write; otherwise it blocks and the
//!   master puts one `REPLCONF GETACK *` into the stream (37 bytes of
//!   offset, like any command), so the answer comes one round trip after
//!   the replicas applied the write, not at the next periodic ACK.
//! - min-replicas: the master counts the online replicas whose last ACK
//!   is at most `min_replicas_max_lag_s` old (`refreshGoodSlavesCount`)
//!   once a second, when a replica goes online and when one disconnects,
//!   and refuses writes while fewer than `min_replicas_to_write` count.
//!   A replica whose process is killed disconnects at once (its kernel
//!   closes the socket: the master reads the FIN one network hop later);
//!   a paused, partitioned or powered-off replica only stops acknowledging,
//!   and stops counting once its lag passes the limit.
//!
//! Nothing here depends on the topology: it applies to any master with
//! replicas.

use super::link::{feed, post, MasterSide, Msg, Repl, Side};
use crate::model::NodeRef;
use crate::world::core::World;
use crate::world::topo::Conf;
use locksim_models::Argv;
use rand::Rng;
use std::rc::Rc;
use std::time::Duration;

/// `replicationCron` runs once a second.
const CRON_MS: u64 = 1000;

/// `REPLCONF GETACK *`, as the master feeds it to its replicas.
pub(super) fn getack_argv() -> Argv {
    vec![b"REPLCONF".to_vec(), b"GETACK".to_vec(), b"*".to_vec()]
}

/// The replica's `replicationSendAck`: `REPLCONF ACK` with the offset it
/// has applied (`at`, or the whole applied offset), if it is linked.
pub(super) fn send_ack(srv: &Rc<Repl>, at: Option<u64>) {
    let (master, run, offset) = match &*srv.side.borrow() {
        Side::Replica(rs) => match rs.link {
            Some((run, applied)) => (rs.master, run, at.unwrap_or(applied)),
            None => return,
        },
        Side::Master(_) => return,
    };
    let replica = srv.core.idx;
    let msg = Msg::ReplconfAck {
        replica,
        run,
        offset,
    };
    post(srv, master, Duration::ZERO, msg);
}

/// The replica's half of `replicationCron`: an ACK every second.
pub(super) async fn replica_cron(srv: Rc<Repl>) {
    let me = srv.me();
    loop {
        srv.core.world.sleep_local(me, CRON_MS).await;
        send_ack(&srv, None);
    }
}

/// The master's half of `replicationCron` for min-replicas: refresh the
/// count of good replicas every second. Spawned only when min-replicas is
/// configured (Redis's refresh returns at once otherwise).
pub(super) async fn master_cron(srv: Rc<Repl>) {
    let me = srv.me();
    loop {
        refresh_good(&srv);
        srv.core.world.sleep_local(me, CRON_MS).await;
    }
}

/// Whether min-replicas is on: `to_write` > 0 and `max_lag` > 0.
fn configured(world: &World) -> Option<(usize, i64)> {
    let r = &world.scenario().redis;
    let on = r.min_replicas_to_write > 0 && r.min_replicas_max_lag_s > 0;
    on.then_some((
        r.min_replicas_to_write as usize,
        r.min_replicas_max_lag_s as i64,
    ))
}

/// The master's wall clock in whole seconds (`server.unixtime`).
fn unixtime_s(srv: &Repl) -> i64 {
    srv.core.world.wall_ms(srv.me()).div_euclid(1000)
}

/// `refreshGoodSlavesCount`.
pub(super) fn refresh_good(srv: &Repl) {
    let Some((_, max_lag)) = configured(&srv.core.world) else {
        return;
    };
    let now_s = unixtime_s(srv);
    if let Side::Master(m) = &mut *srv.side.borrow_mut() {
        count_good(m, now_s, max_lag);
    }
}

fn count_good(m: &mut MasterSide, now_s: i64, max_lag: i64) {
    m.good = m
        .peers
        .values()
        .filter(|p| p.online && now_s - p.ack_time_s <= max_lag)
        .count();
}

/// The master receives `REPLCONF ACK offset` from `replica`.
pub(super) fn on_replconf_ack(srv: &Repl, replica: usize, run: u64, offset: u64) {
    let now_s = unixtime_s(srv);
    let went_online = {
        let mut side = srv.side.borrow_mut();
        let Side::Master(m) = &mut *side else { return };
        if m.run != run {
            return;
        }
        let Some(p) = m.peers.get_mut(&replica) else {
            return;
        };
        p.syncing = false;
        p.delivered = p.delivered.max(offset);
        p.ack_off = p.ack_off.max(offset);
        p.ack_time_s = now_s;
        let went_online = !p.online;
        p.online = true;
        went_online
    };
    if went_online {
        refresh_good(srv);
    }
    srv.acked.notify_waiters();
}

/// `replicationRequestAckFromSlaves` + `sendGetackToReplicas`: one
/// `REPLCONF GETACK *` into the stream (one per instant).
pub fn request_acks(srv: &Rc<Repl>) {
    let now = srv.core.world.now_us();
    {
        let mut side = srv.side.borrow_mut();
        let Side::Master(m) = &mut *side else { return };
        if m.getack_us == Some(now) {
            return;
        }
        m.getack_us = Some(now);
    }
    feed(srv, vec![getack_argv()], true);
}

/// How many online replicas acknowledged `client`'s last write (`c->woff`;
/// a client that never wrote waits for offset 0): what `WAIT` counts
/// (`replicationCountAcksByOffset`).
pub fn acked(r: &Repl, client: usize) -> i64 {
    match &*r.side.borrow() {
        Side::Master(m) => {
            let target = m.woff.get(&client).copied().unwrap_or(0);
            m.peers
                .values()
                .filter(|p| p.online && p.ack_off >= target)
                .count() as i64
        }
        Side::Replica(_) => 0,
    }
}

/// Wakes at the next `REPLCONF ACK`. Create it before checking
/// [`acked`], so no acknowledgement is missed.
pub fn next_ack(r: &Repl) -> tokio::sync::futures::Notified<'_> {
    r.acked.notified()
}

/// `checkGoodReplicasStatus`: a replica, or a master without min-replicas,
/// or one with enough good replicas, accepts writes.
pub fn enough_replicas(r: &Repl) -> bool {
    let Some((to_write, _)) = configured(&r.core.world) else {
        return true;
    };
    match &*r.side.borrow() {
        Side::Master(m) => m.good >= to_write,
        Side::Replica(_) => true,
    }
}

/// `redis-<idx>`'s process was killed (not a power loss): if it was a
/// replica and its master can hear it, the master learns that the link
/// closed (see `links_closed`).
pub fn replica_killed(world: &World, idx: usize) {
    let at_us = world.now_us();
    let me = NodeRef::Redis(idx);
    world.topo_and_liveness(|t, l| {
        let Conf::Replica { of } = t.conf[idx] else {
            return;
        };
        if l.linked(me, NodeRef::Redis(of)) {
            t.closed[of].push((idx, at_us));
            t.control[of].notify_one();
        }
    });
}

/// The master reads the FINs of the replicas killed since: one network
/// hop after each kill it frees that replica (`freeClient`) unless the
/// replica has connected again since, and refreshes the good count.
pub(super) fn links_closed(srv: &Rc<Repl>) {
    let closed = srv
        .core
        .world
        .topo(|t| std::mem::take(&mut t.closed[srv.core.idx]));
    for (replica, at_us) in closed {
        let lat = srv.core.world.scenario().network.latency_ms;
        let ms = if lat.hi > lat.lo {
            madsim::rand::thread_rng().gen_range(lat.lo..=lat.hi)
        } else {
            lat.lo
        };
        let s = srv.clone();
        madsim::task::spawn_local(async move {
            madsim::time::sleep(Duration::from_millis(ms)).await;
            let freed = match &mut *s.side.borrow_mut() {
                Side::Master(m) => {
                    let old = m.peers.get(&replica).is_some_and(|p| p.since_us <= at_us);
                    if old {
                        m.peers.remove(&replica);
                    }
                    old
                }
                Side::Replica(_) => false,
            };
            if freed {
                refresh_good(&s);
            }
        });
    }
}
