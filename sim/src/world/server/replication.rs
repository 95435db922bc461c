//! Asynchronous master -> replica replication (topologies `sentinel` and
//! `cluster`): the stream, full resyncs and retransmission.
//!
//! The master streams the effects of every write (exactly what Redis 7.0
//! propagates: absolute `PXAT`, scripts as their effects, lazy and active
//! expiry as `DEL`) to each replica as network messages on the replication
//! port, so partitions and crashes cut the stream like they cut a TCP link.
//! Each chunk (the effects of one write) is held back by a lag drawn from
//! `replication_lag_ms` (the output buffer, the replica's event loop)
//! before it goes on the wire; the replica applies chunks strictly in
//! offset order with `apply_effect` (buffering early ones), appends them
//! to its own disk, records `Replicated`, and acknowledges its offset.
//!
//! Offsets count the RESP bytes of the stream, as `master_repl_offset`
//! does. The world keeps what Sentinel needs to know about every node:
//! the role it was told ([`Conf`], like the config file Sentinel rewrites,
//! so it survives a restart), the offset it reports, and which master each
//! client believes in.
//!
//! Synchronisation is modelled on PSYNC, simplified:
//! - a replica that has no link to its master (first boot, restart, new
//!   master, a chunk from an unknown run) sends `Sync` (again after the
//!   resend delay until linked); the master answers with a **full resync**: its
//!   whole keyspace (`dump`) at its current offset. The replica replaces
//!   its keyspace with it (an old master demoted after a split brain loses
//!   every write it took alone) and its disk stores it. There is no
//!   partial resync across masters or restarts: every new link is full.
//! - a master process starts a new *run* (Redis's replication id) at each
//!   boot or promotion; a promoted replica continues its offset.
//! - lost chunks (a partition, loss) are resent by the master from its
//!   backlog (unbounded) when a replica's acknowledged offset stays behind
//!   for longer than the lag plus a round trip plus a second.
//! - a replica's transport acknowledges each chunk as it is applied (what
//!   the resending above reads); Redis's own `REPLCONF ACK`, once a second
//!   and on `GETACK`, is what `WAIT` and min-replicas count ([`super::acks`]).

use super::acks;
use super::core::Core;
use super::link::{
    draw_lag, feed, post, repl_addr, resend_after_us, Chunk, MasterSide, Msg, Peer, ReplicaSide,
    Side,
};
use super::persist;
use super::persist::Persister;
use crate::history::{EventKind, KeyCause};
use crate::model::NodeRef;
use crate::redis::disk::Dump;
use crate::redis::{RedisNode, Role};
use crate::world::topo::Conf;
use locksim_models::Argv;
use madsim::net::Endpoint;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub use super::link::{Repl, REPL_PORT};

/// Binds the replication port and starts the process's replication tasks,
/// in the role the world says this node has. `None` outside `sentinel`
/// and `cluster`.
pub async fn boot(core: &Rc<Core>, persist: &Rc<Persister>) -> Option<Rc<Repl>> {
    let (world, idx) = (&core.world, core.idx);
    use crate::model::Topology;
    if !matches!(
        world.scenario().redis.topology,
        Topology::Sentinel | Topology::Cluster
    ) {
        return None;
    }
    let ep = Endpoint::bind(repl_addr(idx))
        .await
        .expect("redis binds its replication port");
    let side = Side::Replica(ReplicaSide {
        master: usize::MAX,
        link: None,
        early: BTreeMap::new(),
    });
    Some(Rc::new(Repl {
        core: core.clone(),
        persist: persist.clone(),
        ep,
        side: RefCell::new(side),
        resend_wake: Notify::new(),
        acked: Notify::new(),
    }))
}

/// Spawns the replication tasks of a process that has a [`Repl`].
pub fn start(srv: &Rc<Repl>) {
    reconcile(srv);
    madsim::task::spawn_local(receiver(srv.clone()));
    madsim::task::spawn_local(control(srv.clone()));
    madsim::task::spawn_local(resender(srv.clone()));
    madsim::task::spawn_local(acks::replica_cron(srv.clone()));
    let r = &srv.core.world.scenario().redis;
    if r.min_replicas_to_write > 0 && r.min_replicas_max_lag_s > 0 {
        madsim::task::spawn_local(acks::master_cron(srv.clone()));
    }
}

/// Streams one write's effects to every replica (a master only), and
/// remembers the offset after `client`'s last write for `WAIT`.
pub fn propagate(srv: &Rc<Repl>, client: Option<usize>, effects: &[Argv]) {
    let Some(offset) = feed(srv, effects.to_vec(), false) else {
        return;
    };
    if let (Some(c), Side::Master(m)) = (client, &mut *srv.side.borrow_mut()) {
        m.woff.insert(c, offset);
    }
}

/// Makes the process's side match the role the world gives it.
fn reconcile(srv: &Rc<Repl>) {
    let r = &srv;
    let conf = srv.core.world.topo(|t| t.conf[srv.core.idx]);
    let mut side = r.side.borrow_mut();
    match (conf, &mut *side) {
        (Conf::Master, Side::Replica(rs)) => {
            // Promotion (or first boot as master): a new run that continues
            // the offset this node had applied.
            let offset = rs.link.map_or(0, |(_, applied)| applied);
            let run = srv.core.world.topo(|t| {
                t.next_run += 1;
                t.offsets[srv.core.idx] = None;
                t.next_run
            });
            *side = Side::Master(MasterSide {
                run,
                offset,
                backlog: Vec::new(),
                peers: BTreeMap::new(),
                woff: BTreeMap::new(),
                good: 0,
                getack_us: None,
            });
            drop(side);
            srv.core.node.borrow_mut().set_role(Role::Master);
            srv.core.wake_expiry();
            add_conf_peers(srv);
        }
        (Conf::Master, Side::Master(_)) => {
            drop(side);
            add_conf_peers(srv);
        }
        (Conf::Replica { of }, side_ref) => {
            let stale = match side_ref {
                Side::Master(_) => true,
                Side::Replica(rs) => rs.master != of,
            };
            if !stale {
                return;
            }
            *side_ref = Side::Replica(ReplicaSide {
                master: of,
                link: None,
                early: BTreeMap::new(),
            });
            drop(side);
            srv.core.world.topo(|t| t.offsets[srv.core.idx] = None);
            srv.core.node.borrow_mut().set_role(Role::Replica);
            srv.core.wake_expiry();
            post(
                srv,
                of,
                Duration::ZERO,
                Msg::Sync {
                    replica: srv.core.idx,
                },
            );
        }
    }
}

/// A master registers every node configured as its replica and sends it
/// a full resync.
fn add_conf_peers(srv: &Rc<Repl>) {
    let mine: Vec<usize> = srv.core.world.topo(|t| {
        (0..t.conf.len())
            .filter(|&i| t.conf[i] == Conf::Replica { of: srv.core.idx })
            .collect()
    });
    for i in mine {
        let known = match &*srv.side.borrow() {
            Side::Master(m) => m.peers.contains_key(&i),
            Side::Replica(_) => return,
        };
        if !known {
            full_resync(srv, i, false);
        }
    }
}

/// Sends `to` the whole keyspace and (re)registers it: a new connection,
/// or (`resend`) the same one whose full resync went unacknowledged.
fn full_resync(srv: &Rc<Repl>, to: usize, resend: bool) {
    let r = &srv;
    let mut side = r.side.borrow_mut();
    let Side::Master(m) = &mut *side else { return };
    let now = srv.core.world.now_us();
    let since_us = match m.peers.get(&to) {
        Some(p) if resend => p.since_us,
        _ => now,
    };
    m.peers.insert(
        to,
        Peer {
            syncing: true,
            delivered: 0,
            sent_end: m.offset,
            last_send_us: now,
            since_us,
            online: false,
            ack_off: 0,
            ack_time_s: 0,
        },
    );
    let msg = Msg::Full {
        master: srv.core.idx,
        run: m.run,
        offset: m.offset,
        entries: srv.core.node.borrow().dump(),
    };
    drop(side);
    post(srv, to, draw_lag(&srv.core.world), msg);
    r.resend_wake.notify_one();
    acks::refresh_good(srv);
}

/// Waits for role changes from Sentinel; an unlinked replica asks its
/// master for a sync again whenever the last request should have been
/// answered (the master's resend delay).
async fn control(srv: Rc<Repl>) {
    let wake = srv.core.world.topo(|t| t.control[srv.core.idx].clone());
    loop {
        let unlinked = match &*srv.side.borrow() {
            Side::Replica(rs) => (rs.link.is_none()).then_some(rs.master),
            Side::Master(_) => None,
        };
        match unlinked {
            None => wake.notified().await,
            Some(master) => {
                let wait = Duration::from_micros(resend_after_us(&srv.core.world));
                let timed_out = madsim::time::timeout(wait, wake.notified()).await.is_err();
                let still = match &*srv.side.borrow() {
                    Side::Replica(rs) => rs.link.is_none() && rs.master == master,
                    Side::Master(_) => false,
                };
                if timed_out && still {
                    post(
                        &srv,
                        master,
                        Duration::ZERO,
                        Msg::Sync {
                            replica: srv.core.idx,
                        },
                    );
                }
            }
        }
        reconcile(&srv);
        acks::links_closed(&srv);
    }
}

/// Handles replication messages.
async fn receiver(srv: Rc<Repl>) {
    loop {
        let Ok((payload, _)) = srv.ep.recv_from_raw(0).await else {
            return;
        };
        let Ok(msg) = payload.downcast::<Msg>() else {
            continue;
        };
        match *msg {
            Msg::Sync { replica } => on_sync(&srv, replica),
            Msg::Delivered {
                replica,
                run,
                offset,
            } => on_delivered(&srv, replica, run, offset),
            Msg::ReplconfAck {
                replica,
                run,
                offset,
            } => acks::on_replconf_ack(&srv, replica, run, offset),
            Msg::Full {
                master,
                run,
                offset,
                entries,
            } => on_full(&srv, master, run, offset, entries),
            Msg::Chunk { master, run, chunk } => on_chunk(&srv, master, run, chunk),
        }
    }
}

/// A replica asks for everything. One asking again while its full resync
/// is still in flight gets nothing new (the resender covers a loss).
fn on_sync(srv: &Rc<Repl>, replica: usize) {
    let now = srv.core.world.now_us();
    let rto = resend_after_us(&srv.core.world);
    let fresh = match &*srv.side.borrow() {
        Side::Master(m) => !m
            .peers
            .get(&replica)
            .is_some_and(|p| p.syncing && now < p.last_send_us + rto),
        Side::Replica(_) => false,
    };
    let mine = srv
        .core
        .world
        .topo(|t| t.conf[replica] == Conf::Replica { of: srv.core.idx });
    if fresh && mine {
        full_resync(srv, replica, false);
    }
}

/// The transport delivered up to `offset`: nothing left to resend below it.
fn on_delivered(srv: &Repl, replica: usize, run: u64, offset: u64) {
    let mut side = srv.side.borrow_mut();
    let Side::Master(m) = &mut *side else { return };
    if m.run != run {
        return;
    }
    if let Some(p) = m.peers.get_mut(&replica) {
        p.syncing = false;
        p.delivered = p.delivered.max(offset);
    }
}

fn on_full(srv: &Rc<Repl>, master: usize, run: u64, offset: u64, entries: Dump) {
    let r = &srv;
    let me = NodeRef::Redis(srv.core.idx);
    {
        let mut side = r.side.borrow_mut();
        let Side::Replica(rs) = &mut *side else {
            return;
        };
        if rs.master != master {
            return;
        }
        if matches!(rs.link, Some((r, applied)) if r == run && applied >= offset) {
            drop(side);
            apply_ready(srv); // a duplicate: just acknowledge again
            acks::send_ack(srv, None);
            return;
        }
        rs.link = Some((run, offset));
        rs.early.retain(|&(r, s), _| r == run && s >= offset);
    }
    let keys = entries.len();
    let mut node = RedisNode::load(entries.clone(), i64::MIN);
    super::apply_memory(&srv.core.world, srv.core.idx, &mut node);
    node.set_role(Role::Replica);
    *srv.core.node.borrow_mut() = node;
    srv.core.wake_expiry();
    srv.core
        .world
        .topo(|t| t.offsets[srv.core.idx] = Some(offset));
    srv.core.world.record(
        Some(me),
        EventKind::FullResync {
            node: srv.core.idx,
            master,
            keys,
            offset,
        },
    );
    srv.core.watch_keys(KeyCause::Resync);
    persist::resynced(&srv.core, &srv.persist, entries);
    // The first REPLCONF ACK goes out right after loading (Redis 7.0
    // `readSyncBulkPayload`): it puts this replica online.
    acks::send_ack(srv, Some(offset));
    apply_ready(srv);
}

fn on_chunk(srv: &Rc<Repl>, master: usize, run: u64, chunk: Chunk) {
    let resync = {
        let mut side = srv.side.borrow_mut();
        let Side::Replica(rs) = &mut *side else {
            return;
        };
        if rs.master != master {
            return;
        }
        // Buffer it; a chunk of another run than the one we are linked to
        // means the master restarted: ask for a sync (a chunk while we are
        // unlinked may belong to the full resync on its way).
        let stale = matches!(rs.link, Some((r, _)) if r != run);
        let late = matches!(rs.link, Some((r, applied)) if r == run && chunk.start < applied);
        if stale {
            rs.link = None;
        }
        if !late {
            rs.early.insert((run, chunk.start), chunk);
        }
        stale
    };
    if resync {
        srv.core.world.topo(|t| t.offsets[srv.core.idx] = None);
        post(
            srv,
            master,
            Duration::ZERO,
            Msg::Sync {
                replica: srv.core.idx,
            },
        );
        return;
    }
    apply_ready(srv);
}

/// Applies every buffered chunk that continues the applied offset, then
/// records the new offset and has the transport acknowledge it. A
/// `GETACK` in the stream is answered with the offset before it.
fn apply_ready(srv: &Rc<Repl>) {
    let me = NodeRef::Redis(srv.core.idx);
    let mut batch: Vec<Arc<Vec<Argv>>> = Vec::new();
    let mut getack = None;
    let (master, run, applied) = {
        let mut side = srv.side.borrow_mut();
        let Side::Replica(rs) = &mut *side else {
            return;
        };
        let Some((run, mut applied)) = rs.link else {
            return;
        };
        while let Some(c) = rs.early.remove(&(run, applied)) {
            applied = c.end;
            if c.getack {
                getack = Some(c.start);
            } else {
                batch.push(c.ops);
            }
        }
        rs.early.retain(|&(r, s), _| r != run || s > applied);
        rs.link = Some((run, applied));
        (rs.master, run, applied)
    };
    srv.core
        .world
        .topo(|t| t.offsets[srv.core.idx] = Some(applied));
    if !batch.is_empty() {
        let now = srv.core.world.wall_ms(me);
        {
            let mut node = srv.core.node.borrow_mut();
            for ops in &batch {
                for op in ops.iter() {
                    node.apply_effect(op, now);
                }
            }
        }
        for ops in &batch {
            persist::write(&srv.core, &srv.persist, ops);
        }
        srv.core.world.record(
            Some(me),
            EventKind::Replicated {
                from: master,
                to: srv.core.idx,
                offset: applied,
            },
        );
        srv.core.watch_keys(KeyCause::Replication);
    }
    if getack.is_some() {
        acks::send_ack(srv, getack);
    }
    post(
        srv,
        master,
        Duration::ZERO,
        Msg::Delivered {
            replica: srv.core.idx,
            run,
            offset: applied,
        },
    );
}

/// Resends what replicas did not acknowledge in time (lost full resyncs,
/// chunks cut by a partition); forgets replicas Sentinel gave to another
/// master.
async fn resender(srv: Rc<Repl>) {
    let r = &srv;
    let rto = resend_after_us(&srv.core.world);
    loop {
        let next = {
            let side = r.side.borrow();
            match &*side {
                Side::Master(m) => m
                    .peers
                    .values()
                    .filter(|p| p.syncing || p.delivered < p.sent_end)
                    .map(|p| p.last_send_us + rto)
                    .min(),
                Side::Replica(_) => None,
            }
        };
        let Some(due) = next else {
            r.resend_wake.notified().await;
            continue;
        };
        let now = srv.core.world.now_us();
        if due > now {
            let _ =
                madsim::time::timeout(Duration::from_micros(due - now), r.resend_wake.notified())
                    .await;
            continue;
        }
        resend_due(&srv, now, rto);
    }
}

fn resend_due(srv: &Rc<Repl>, now: u64, rto: u64) {
    let r = &srv;
    let conf = srv.core.world.topo(|t| t.conf.clone());
    let mut fulls = Vec::new();
    let left;
    {
        let mut side = r.side.borrow_mut();
        let Side::Master(m) = &mut *side else { return };
        let before = m.peers.len();
        m.peers
            .retain(|&i, _| conf.get(i) == Some(&Conf::Replica { of: srv.core.idx }));
        left = m.peers.len() < before;
        for (&to, p) in m.peers.iter_mut() {
            if p.last_send_us + rto > now || !(p.syncing || p.delivered < p.sent_end) {
                continue;
            }
            p.last_send_us = now;
            if p.syncing {
                fulls.push(to);
                continue;
            }
            let from = m.backlog.partition_point(|c| c.end <= p.delivered);
            for c in &m.backlog[from..] {
                let msg = Msg::Chunk {
                    master: srv.core.idx,
                    run: m.run,
                    chunk: c.clone(),
                };
                post(srv, to, draw_lag(&srv.core.world), msg);
            }
        }
    }
    if left {
        acks::refresh_good(srv); // a replica given to another master left
    }
    for to in fulls {
        full_resync(srv, to, true);
    }
}
