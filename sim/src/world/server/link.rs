//! The master <-> replica link: the messages of the replication protocol
//! and the state each side of a link keeps, shared by the stream
//! (`replication.rs`) and the acknowledgements (`acks.rs`).
//!
//! Messages travel on the replication port like any other, so partitions
//! and crashes cut them. Two kinds of acknowledgement come back from a
//! replica, as on a real link:
//! - `Msg::Delivered` is the transport's (TCP's) acknowledgement, sent
//!   right after a chunk is applied. Only the master's retransmission uses
//!   it: Redis relies on TCP for that, and so do we.
//! - `Msg::ReplconfAck` is Redis's `REPLCONF ACK <offset>`: sent once a
//!   second, when the master asks with `REPLCONF GETACK`, and right after a
//!   full resync. It is what `WAIT` and min-replicas count.

use super::core::Core;
use super::persist::Persister;
use crate::model::NodeRef;
use crate::redis::disk::Dump;
use crate::world::core::World;
use crate::world::net::ip_of;
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
pub(super) enum Msg {
    /// Replica -> master: I am yours, send me everything.
    Sync { replica: usize },
    /// Master -> replica: the whole keyspace at `offset`.
    Full {
        master: usize,
        run: u64,
        offset: u64,
        entries: Dump,
    },
    /// Master -> replica: the next piece of the stream.
    Chunk {
        master: usize,
        run: u64,
        chunk: Chunk,
    },
    /// Replica -> master: the transport delivered and the replica applied
    /// up to `offset` of `run` (what TCP's acknowledgements tell).
    Delivered {
        replica: usize,
        run: u64,
        offset: u64,
    },
    /// Replica -> master: `REPLCONF ACK offset` for `run`.
    ReplconfAck {
        replica: usize,
        run: u64,
        offset: u64,
    },
}

/// A piece of the stream, `[start, end)`: the effects of one write, or a
/// `REPLCONF GETACK *` (no effects; the replica answers with its offset).
#[derive(Clone)]
pub(super) struct Chunk {
    pub start: u64,
    pub end: u64,
    pub ops: Arc<Vec<Argv>>,
    pub getack: bool,
}

/// A replica as its master sees it (Redis's replica client).
pub(super) struct Peer {
    /// Waiting for the first acknowledgement of a full resync.
    pub syncing: bool,
    /// What the transport acknowledged (for retransmission).
    pub delivered: u64,
    pub sent_end: u64,
    /// True time (µs) of the oldest send it has not acknowledged (the last
    /// send when it is caught up): the resend timer runs from it.
    pub last_send_us: u64,
    /// True time (µs) at which this replica (re)connected.
    pub since_us: u64,
    /// A `REPLCONF ACK` arrived since the full resync (`SLAVE_STATE_ONLINE`).
    pub online: bool,
    /// The largest offset it acknowledged with `REPLCONF ACK` (`repl_ack_off`).
    pub ack_off: u64,
    /// The master's wall clock, in whole seconds, at that acknowledgement
    /// or at going online (`repl_ack_time`, `server.unixtime`).
    pub ack_time_s: i64,
}

pub(super) struct MasterSide {
    pub run: u64,
    pub offset: u64,
    pub backlog: Vec<Chunk>,
    pub peers: BTreeMap<usize, Peer>,
    /// Per client, the offset after its last write (`c->woff`).
    pub woff: BTreeMap<usize, u64>,
    /// Replicas online whose acknowledgement is at most
    /// `min_replicas_max_lag_s` old, as of the last refresh
    /// (`repl_good_slaves_count`).
    pub good: usize,
    /// True time (µs) of the last `GETACK` (one per instant, like Redis's
    /// one per event-loop iteration).
    pub getack_us: Option<u64>,
}

pub(super) struct ReplicaSide {
    pub master: usize,
    /// `(run, applied offset)` once a full resync arrived.
    pub link: Option<(u64, u64)>,
    /// Chunks that arrived early, by `(run, start)`.
    pub early: BTreeMap<(u64, u64), Chunk>,
}

pub(super) enum Side {
    Master(MasterSide),
    Replica(ReplicaSide),
}

/// The replication state of one server process (dies with it).
pub struct Repl {
    pub(super) core: Rc<Core>,
    pub(super) persist: Rc<Persister>,
    pub(super) ep: Endpoint,
    pub(super) side: RefCell<Side>,
    /// Wakes the retransmission timer.
    pub(super) resend_wake: Notify,
    /// Wakes `WAIT`ers when a `REPLCONF ACK` arrives.
    pub(super) acked: Notify,
}

impl Repl {
    pub(super) fn me(&self) -> NodeRef {
        NodeRef::Redis(self.core.idx)
    }
}

pub(super) fn repl_addr(idx: usize) -> SocketAddr {
    SocketAddr::new(ip_of(NodeRef::Redis(idx)), REPL_PORT)
}

/// RESP length of one command: what it adds to the replication offset.
pub(super) fn resp_len(argv: &Argv) -> u64 {
    let digits = |n: usize| n.to_string().len() as u64;
    let mut n = 3 + digits(argv.len());
    for a in argv {
        n += 5 + digits(a.len()) + a.len() as u64;
    }
    n
}

/// Sends `msg` to `to`'s replication port after `delay` of true time.
pub(super) fn post(srv: &Rc<Repl>, to: usize, delay: Duration, msg: Msg) {
    let s = srv.clone();
    madsim::task::spawn_local(async move {
        if !delay.is_zero() {
            madsim::time::sleep(delay).await;
        }
        let _ = s.ep.send_to_raw(repl_addr(to), 0, Box::new(msg)).await;
    });
}

/// The output-buffer lag of one chunk, from `replication_lag_ms`.
pub(super) fn draw_lag(world: &World) -> Duration {
    let lag = world.scenario().redis.replication_lag_ms;
    let ms = if lag.hi > lag.lo {
        madsim::rand::thread_rng().gen_range(lag.lo..=lag.hi)
    } else {
        lag.lo
    };
    Duration::from_millis(ms)
}

/// How long a master waits for the transport's acknowledgement before
/// resending.
pub(super) fn resend_after_us(world: &World) -> u64 {
    let r = &world.scenario().redis;
    let n = &world.scenario().network;
    (r.replication_lag_ms.hi + 2 * (n.latency_ms.hi + 2) + 1000) * 1000
}

/// Appends a chunk to the stream (backlog and every replica); returns
/// the new master offset. Shared by writes and GETACK.
pub(super) fn feed(srv: &Rc<Repl>, ops: Vec<Argv>, getack: bool) -> Option<u64> {
    let mut side = srv.side.borrow_mut();
    let Side::Master(m) = &mut *side else {
        return None;
    };
    let start = m.offset;
    m.offset += ops.iter().map(resp_len).sum::<u64>();
    let chunk = Chunk {
        start,
        end: m.offset,
        ops: Arc::new(ops),
        getack,
    };
    let now = srv.core.world.now_us();
    let mut any = false;
    for (&to, peer) in m.peers.iter_mut() {
        // The resend timer runs from the oldest unacknowledged send: a new
        // write must not postpone the resend of a chunk a partition lost
        // (under a steady write rate it would never be resent).
        if peer.delivered >= peer.sent_end && !peer.syncing {
            peer.last_send_us = now;
        }
        peer.sent_end = chunk.end;
        any = true;
        let msg = Msg::Chunk {
            master: srv.core.idx,
            run: m.run,
            chunk: chunk.clone(),
        };
        post(srv, to, draw_lag(&srv.core.world), msg);
    }
    m.backlog.push(chunk);
    let offset = m.offset;
    drop(side);
    if any {
        srv.resend_wake.notify_one();
    }
    Some(offset)
}
