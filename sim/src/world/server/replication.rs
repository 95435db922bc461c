//! Asynchronous master -> replica replication (topology `sentinel`), and
//! the acknowledgements `WAIT` counts.
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
//! - replicas acknowledge right after applying (Redis sends `REPLCONF ACK`
//!   every second and when `WAIT` asks with `GETACK`): so `WAIT` sees an
//!   acknowledgement one network hop after the replica applied.

use super::core::Core;
use super::persist;
use super::persist::Persister;
use crate::history::{EventKind, KeyCause};
use crate::model::NodeRef;
use crate::redis::disk::Dump;
use crate::redis::{RedisNode, Role};
use crate::world::core::World;
use crate::world::net::ip_of;
use crate::world::topo::Conf;
use locksim_models::Argv;
use madsim::net::Endpoint;
use rand::Rng;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The port replication messages use (master <-> replica).
pub const REPL_PORT: u16 = 16379;

/// A message of the replication protocol.
enum Msg {
    /// Replica -> master: I am yours, send me everything.
    Sync { replica: usize },
    /// Master -> replica: the whole keyspace at `offset`.
    Full {
        master: usize,
        run: u64,
        offset: u64,
        entries: Dump,
    },
    /// Master -> replica: the effects of one write.
    Chunk {
        master: usize,
        run: u64,
        chunk: Chunk,
    },
    /// Replica -> master: applied up to `offset` of `run`.
    Ack {
        replica: usize,
        run: u64,
        offset: u64,
    },
}

/// One write's effects, `[start, end)` of the stream.
#[derive(Clone)]
struct Chunk {
    start: u64,
    end: u64,
    ops: Arc<Vec<Argv>>,
}

/// A replica as its master sees it.
struct Peer {
    /// Waiting for the acknowledgement of a full resync.
    syncing: bool,
    acked: u64,
    sent_end: u64,
    /// True time (µs) of the last message queued for it.
    last_send_us: u64,
}

struct MasterSide {
    run: u64,
    offset: u64,
    backlog: Vec<Chunk>,
    peers: BTreeMap<usize, Peer>,
    /// Per client, the offset after its last write (`c->woff`).
    woff: BTreeMap<usize, u64>,
}

struct ReplicaSide {
    master: usize,
    /// `(run, applied offset)` once a full resync arrived.
    link: Option<(u64, u64)>,
    /// Chunks that arrived early, by `(run, start)`.
    early: BTreeMap<(u64, u64), Chunk>,
}

enum Side {
    Master(MasterSide),
    Replica(ReplicaSide),
}

/// The replication state of one server process (dies with it).
pub struct Repl {
    core: Rc<Core>,
    persist: Rc<Persister>,
    ep: Endpoint,
    side: RefCell<Side>,
    /// Wakes the retransmission timer.
    resend_wake: Notify,
    /// Wakes `WAIT`ers when an acknowledgement arrives.
    acked: Notify,
}

fn repl_addr(idx: usize) -> SocketAddr {
    SocketAddr::new(ip_of(NodeRef::Redis(idx)), REPL_PORT)
}

/// RESP length of one command: what it adds to the replication offset.
fn resp_len(argv: &Argv) -> u64 {
    let digits = |n: usize| n.to_string().len() as u64;
    let mut n = 3 + digits(argv.len());
    for a in argv {
        n += 5 + digits(a.len()) + a.len() as u64;
    }
    n
}

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
}

/// Sends `msg` to `to`'s replication port after `delay` of true time.
fn post(srv: &Rc<Repl>, to: usize, delay: Duration, msg: Msg) {
    let s = srv.clone();
    madsim::task::spawn_local(async move {
        if !delay.is_zero() {
            madsim::time::sleep(delay).await;
        }
        let _ = s.ep.send_to_raw(repl_addr(to), 0, Box::new(msg)).await;
    });
}

fn draw_lag(world: &World) -> Duration {
    let lag = world.scenario().redis.replication_lag_ms;
    let ms = if lag.hi > lag.lo {
        madsim::rand::thread_rng().gen_range(lag.lo..=lag.hi)
    } else {
        lag.lo
    };
    Duration::from_millis(ms)
}

/// How long a master waits for an acknowledgement before resending.
fn resend_after_us(world: &World) -> u64 {
    let r = &world.scenario().redis;
    let n = &world.scenario().network;
    (r.replication_lag_ms.hi + 2 * (n.latency_ms.hi + 2) + 1000) * 1000
}

/// Streams one write's effects to every replica (a master only).
pub fn propagate(srv: &Rc<Repl>, client: Option<usize>, effects: &[Argv]) {
    let r = &srv;
    let mut side = r.side.borrow_mut();
    let Side::Master(m) = &mut *side else { return };
    let start = m.offset;
    m.offset += effects.iter().map(resp_len).sum::<u64>();
    let chunk = Chunk {
        start,
        end: m.offset,
        ops: Arc::new(effects.to_vec()),
    };
    if let Some(c) = client {
        m.woff.insert(c, m.offset);
    }
    let now = srv.core.world.now_us();
    let mut any = false;
    for (&to, peer) in m.peers.iter_mut() {
        peer.sent_end = chunk.end;
        peer.last_send_us = now;
        any = true;
        let msg = Msg::Chunk {
            master: srv.core.idx,
            run: m.run,
            chunk: chunk.clone(),
        };
        post(srv, to, draw_lag(&srv.core.world), msg);
    }
    m.backlog.push(chunk);
    drop(side);
    if any {
        r.resend_wake.notify_one();
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
            full_resync(srv, i);
        }
    }
}

/// Sends `to` the whole keyspace and (re)registers it.
fn full_resync(srv: &Rc<Repl>, to: usize) {
    let r = &srv;
    let mut side = r.side.borrow_mut();
    let Side::Master(m) = &mut *side else { return };
    let now = srv.core.world.now_us();
    m.peers.insert(
        to,
        Peer {
            syncing: true,
            acked: 0,
            sent_end: m.offset,
            last_send_us: now,
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
            Msg::Ack {
                replica,
                run,
                offset,
            } => on_ack(&srv, replica, run, offset),
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
        full_resync(srv, replica);
    }
}

fn on_ack(srv: &Repl, replica: usize, run: u64, offset: u64) {
    let r = &srv;
    let mut side = r.side.borrow_mut();
    let Side::Master(m) = &mut *side else { return };
    if m.run != run {
        return;
    }
    if let Some(p) = m.peers.get_mut(&replica) {
        p.syncing = false;
        p.acked = p.acked.max(offset);
    }
    drop(side);
    r.acked.notify_waiters();
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
            return;
        }
        rs.link = Some((run, offset));
        rs.early.retain(|&(r, s), _| r == run && s >= offset);
    }
    let keys = entries.len();
    let mut node = RedisNode::load(entries.clone(), i64::MIN);
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
/// records and acknowledges the new offset.
fn apply_ready(srv: &Rc<Repl>) {
    let me = NodeRef::Redis(srv.core.idx);
    let mut batch: Vec<Arc<Vec<Argv>>> = Vec::new();
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
            batch.push(c.ops);
        }
        rs.early.retain(|&(r, s), _| r != run || s > applied);
        rs.link = Some((run, applied));
        (rs.master, run, applied)
    };
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
        srv.core
            .world
            .topo(|t| t.offsets[srv.core.idx] = Some(applied));
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
    post(
        srv,
        master,
        Duration::ZERO,
        Msg::Ack {
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
                    .filter(|p| p.syncing || p.acked < p.sent_end)
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
    {
        let mut side = r.side.borrow_mut();
        let Side::Master(m) = &mut *side else { return };
        m.peers
            .retain(|&i, _| conf.get(i) == Some(&Conf::Replica { of: srv.core.idx }));
        for (&to, p) in m.peers.iter_mut() {
            if p.last_send_us + rto > now || !(p.syncing || p.acked < p.sent_end) {
                continue;
            }
            p.last_send_us = now;
            if p.syncing {
                fulls.push(to);
                continue;
            }
            let from = m.backlog.partition_point(|c| c.end <= p.acked);
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
    for to in fulls {
        full_resync(srv, to);
    }
}

/// How many replicas acknowledged `client`'s last write (`c->woff`; a
/// client that never wrote waits for offset 0): what `WAIT` counts.
pub fn acked(r: &Repl, client: usize) -> i64 {
    match &*r.side.borrow() {
        Side::Master(m) => {
            let target = m.woff.get(&client).copied().unwrap_or(0);
            m.peers
                .values()
                .filter(|p| !p.syncing && p.acked >= target)
                .count() as i64
        }
        Side::Replica(_) => 0,
    }
}

/// Wakes at the next acknowledgement. Create it before checking
/// [`acked`], so no acknowledgement is missed.
pub fn next_ack(r: &Repl) -> tokio::sync::futures::Notified<'_> {
    r.acked.notified()
}
