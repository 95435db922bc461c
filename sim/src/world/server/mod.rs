//! A Redis server process: the madsim node that wraps a [`crate::redis::RedisNode`].
//!
//! The process owns its keyspace (it dies with the process); what must
//! survive a crash lives in the world: the node's disk
//! ([`crate::redis::disk`]) and, in the sentinel topology, the role
//! Sentinel gave it ([`replication`], [`sentinel`]). At boot the process
//! loads its disk, takes its role, then serves one command at a time with
//! time frozen at the node's own wall clock. Every write's effects go to
//! the disk (before the reply) and to the replicas; active expiry (Redis's
//! hz 10 cycle) runs only when a key is due and never on a replica. `WAIT`
//! is answered here, from the replicas' acknowledgements, and before each
//! command a master with replicas tells its node whether it has enough good
//! ones for min-replicas ([`acks`]).
//!
//! What the history learns from a server:
//! - `command`: each client command with its argv and reply;
//! - `key-changed`: whenever the lock key's owner or expiry on this node
//!   changes, with its cause (command, expiry, eviction, crash, load,
//!   replication, resync);
//! - `filler-written` / `filler-deleted`: a memory-pressure fault's
//!   filler ([`filler`]);
//! - `granted`: when a command a client sent as its acquire won the lock
//!   here, by the algorithm's own [`locksim_models::Grant`] rule (the
//!   `granted:redis-j:client-i` trigger).
//!
//! In the cluster topology every command first passes the node's view of
//! the cluster ([`cluster`], [`crate::redis::cluster`]): `MOVED`,
//! `CROSSSLOT`, `CLUSTERDOWN`, `CLUSTER SLOTS`.

pub mod acks;
pub mod cluster;
pub mod core;
pub mod filler;
pub mod link;
pub mod persist;
pub mod replication;
pub mod sentinel;

use self::core::{watched_keys, Core};
use crate::history::{EventKind, KeyCause};
use crate::model::NodeRef;
use crate::redis::{MemoryConfig, RedisNode, Role};
use crate::world::core::World;
use crate::world::net::{addr_of, next_request, reply, Body, Response};
use locksim_models::{Argv, Reply};
use madsim::net::Endpoint;
use persist::Persister;
use replication::Repl;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Active expiry runs on a 100 ms grid (Redis `hz 10`).
const HZ_TICK_US: u64 = 100_000;

/// One running Redis server process: its core, persistence and (in the
/// sentinel topology) replication.
pub struct Server {
    pub core: Rc<Core>,
    pub persist: Rc<Persister>,
    pub repl: Option<Rc<Repl>>,
}

impl Server {
    /// A write happened: its effects go to the disk, then to the replicas.
    pub fn commit(&self, client: Option<usize>, effects: &[Argv]) {
        if effects.is_empty() {
            return;
        }
        persist::write(&self.core, &self.persist, effects);
        if let Some(r) = &self.repl {
            replication::propagate(r, client, effects);
        }
    }
}

/// The server process of `redis-<idx>`: the init task of its madsim node.
pub async fn redis_process(world: Arc<World>, idx: usize) {
    let me = NodeRef::Redis(idx);
    world.boot(me);
    let mut node = persist::boot(&world, idx);
    apply_memory(&world, idx, &mut node);
    let ep = Endpoint::bind(addr_of(me))
        .await
        .expect("redis binds its port");
    let waker = Arc::new(Notify::new());
    world.set_expiry_waker(idx, waker.clone());
    let core = Rc::new(Core {
        world: world.clone(),
        idx,
        node: RefCell::new(node),
        ep,
        expiry_waker: waker,
        planned: Cell::new(None),
        cluster_seen: Cell::new(u64::MAX),
    });
    let mode = world.scenario().redis.persistence;
    let persist = Rc::new(Persister::new(mode, world.mono_ms(me)));
    let repl = replication::boot(&core, &persist).await;
    let srv = Rc::new(Server {
        core: core.clone(),
        persist,
        repl,
    });
    core.watch_keys(KeyCause::Load);
    madsim::task::spawn_local(active_expiry(srv.clone()));
    // Only a node with a limit can be pressed (the parser refuses memory
    // pressure without one); another task would change madsim's draws for
    // every other run.
    if world.scenario().redis.maxmemory_bytes > 0 {
        madsim::task::spawn_local(filler::pressure_task(srv.clone()));
    }
    persist::start(&srv.core, &srv.persist);
    if let Some(r) = &srv.repl {
        replication::start(r);
    }
    serve(srv).await;
}

/// The command loop.
async fn serve(srv: Rc<Server>) {
    let core = &srv.core;
    let me = NodeRef::Redis(core.idx);
    let world = core.world.clone();
    while let Some((req, from)) = next_request(&core.ep).await {
        let Body::Redis { argv, grant } = req.body else {
            continue;
        };
        cluster::refresh_gate(core);
        let now = world.wall_ms(me);
        let too_few = srv
            .repl
            .as_deref()
            .is_some_and(|r| !acks::enough_replicas(r));
        let (exec, next) = {
            let mut n = core.node.borrow_mut();
            n.set_too_few_replicas(too_few);
            let exec = n.execute(&argv, now);
            (exec, n.next_expiry_ms())
        };
        // Evictions (before the command) are nobody's write.
        let evictions = exec.evicted.len();
        srv.commit(None, &exec.effects[..evictions]);
        core.note_evictions(&exec.evicted);
        if is_wait(&argv) && !matches!(exec.reply, Reply::Error(_)) {
            wait_command(&srv, req.client, req.id, argv, from);
            continue;
        }
        srv.commit(Some(req.client), &exec.effects[evictions..]);
        if let Some(next) = next {
            if core.planned.get().is_none_or(|p| next < p) {
                core.wake_expiry();
            }
        }
        let granted = grant.is_some_and(|g| g.won(&exec.reply));
        world.record(
            Some(me),
            EventKind::Command {
                node: core.idx,
                client: req.client,
                cmd: argv,
                reply: exec.reply.clone(),
            },
        );
        if !exec.effects.is_empty() {
            core.watch_keys(KeyCause::Command);
        }
        if granted {
            world.record(
                Some(me),
                EventKind::Granted {
                    node: core.idx,
                    client: req.client,
                },
            );
        }
        reply(&core.ep, from, req.id, Response::Redis(exec.reply)).await;
    }
}

/// Gives a freshly booted or resynced node `[redis] maxmemory_*` (for
/// this world's client count), when the scenario sets a limit; without
/// one the node keeps no memory accounting at all.
pub fn apply_memory(world: &World, idx: usize, node: &mut RedisNode) {
    let s = world.scenario();
    if s.redis.maxmemory_bytes == 0 {
        return;
    }
    let cfg = MemoryConfig::of(&s.redis, s.clients.count);
    node.set_memory(
        cfg,
        process_seed(world, idx),
        world.wall_ms(NodeRef::Redis(idx)),
    );
}

/// The random seed of a server process (eviction sampling, LFU, the
/// dicts' hash): derived from the run's seed, the node and the boot time,
/// so it never draws from madsim's generator (runs without `maxmemory`
/// stay exactly as they were).
pub fn process_seed(world: &World, idx: usize) -> u64 {
    let mut z = world.seed() ^ (idx as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ world.now_us();
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn is_wait(argv: &[Vec<u8>]) -> bool {
    argv.len() == 3 && argv[0].eq_ignore_ascii_case(b"wait")
}

/// `WAIT numreplicas timeout` on a master (the model already rejected bad
/// arguments and replicas), as Redis 7.0's `waitCommand`: answers at once
/// when enough replicas already acknowledged the client's last write;
/// otherwise blocks this client only, asks the replicas for an ACK
/// (`GETACK`, see [`acks`]), and answers how many acknowledged when
/// `numreplicas` did or the timeout (node ms, 0 = forever) passed. A
/// master without replicas counts none.
fn wait_command(srv: &Rc<Server>, client: usize, id: u64, argv: Argv, to: SocketAddr) {
    let int = |a: &[u8]| std::str::from_utf8(a).ok()?.parse::<i64>().ok();
    let (Some(want), Some(timeout_ms)) = (int(&argv[1]), int(&argv[2])) else {
        return;
    };
    let s = srv.clone();
    let me = NodeRef::Redis(srv.core.idx);
    let limit = (timeout_ms > 0).then(|| s.core.world.true_duration(me, timeout_ms as u64));
    madsim::task::spawn_local(async move {
        let start = madsim::time::Instant::now();
        let now = s.repl.as_deref().map_or(0, |r| acks::acked(r, client));
        if now < want {
            if let Some(r) = &s.repl {
                acks::request_acks(r);
            }
        }
        let n = loop {
            let ack = s.repl.as_deref().map(acks::next_ack);
            let n = s.repl.as_deref().map_or(0, |r| acks::acked(r, client));
            let left = limit.map(|l| l.saturating_sub(start.elapsed()));
            if n >= want || left.is_some_and(|l| l.is_zero()) {
                break n;
            }
            match (ack, left) {
                (Some(ack), Some(l)) => {
                    let _ = madsim::time::timeout(l, ack).await;
                }
                (None, Some(l)) => madsim::time::sleep(l).await,
                (Some(ack), None) => ack.await,
                (None, None) => std::future::pending::<()>().await,
            }
        };
        let r = Reply::Int(n);
        s.core.world.record(
            Some(me),
            EventKind::Command {
                node: s.core.idx,
                client,
                cmd: argv,
                reply: r.clone(),
            },
        );
        reply(&s.core.ep, to, id, Response::Redis(r)).await;
    });
}

/// Removes expired keys when the earliest expiry is due, on the hz grid.
async fn active_expiry(srv: Rc<Server>) {
    let core = &srv.core;
    let me = NodeRef::Redis(core.idx);
    let world = core.world.clone();
    loop {
        let next = {
            let n = core.node.borrow();
            if n.role() == Role::Replica {
                None
            } else {
                n.next_expiry_ms()
            }
        };
        core.planned.set(next);
        let Some(when_ms) = next else {
            core.expiry_waker.notified().await;
            continue;
        };
        // Redis: a key is expired once `now > when`.
        let now_us = world.now_us();
        let due_us = world.true_us_when_wall(me, when_ms + 1);
        let tick_us = due_us.div_ceil(HZ_TICK_US) * HZ_TICK_US;
        let wait = Duration::from_micros(tick_us.saturating_sub(now_us).max(1));
        if madsim::time::timeout(wait, core.expiry_waker.notified())
            .await
            .is_ok()
        {
            continue; // something changed: plan again
        }
        let now = world.wall_ms(me);
        let effects = core.node.borrow_mut().active_expire(now);
        if effects.is_empty() {
            continue;
        }
        srv.commit(None, &effects);
        core.watch_keys(KeyCause::Expiry);
    }
}

/// What a crash does to `redis-<idx>` beyond killing the process: its
/// keyspace is gone (`key-changed`, cause crash) and its disk keeps what
/// the crash kind allows (see [`crate::redis::disk`]).
pub fn on_crash(world: &Arc<World>, idx: usize, power_loss: bool) {
    world.drop_fills(idx);
    for key in watched_keys(world) {
        world.key_state(idx, &key, None, None, KeyCause::Crash);
    }
    if !power_loss {
        acks::replica_killed(world, idx);
    }
    persist::crash(world, idx, power_loss);
    cluster::on_crash(world, idx);
}
