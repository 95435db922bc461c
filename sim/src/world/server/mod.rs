//! A Redis server process: the madsim node that wraps a [`RedisNode`].
//!
//! The process owns its keyspace (it dies with the process); what must
//! survive a crash lives in the world: the node's disk ([`crate::disk`])
//! and, in the sentinel topology, the role Sentinel gave it
//! ([`crate::world::server::replication`]). At boot the process loads its disk, takes its
//! role, then serves one command at a time with time frozen at the node's
//! own wall clock. Every write's effects go to the disk (before the reply)
//! and to the replicas; active expiry (Redis's hz 10 cycle) runs only when
//! a key is due and never on a replica. `WAIT` is answered here, from the
//! replicas' acknowledgements. The process reports to the world when a
//! command wrote the lock key (the `granted:redis-j:client-i` trigger).

pub mod persist;
pub mod replication;
pub mod sentinel;

use crate::history::EventKind;
use crate::model::NodeRef;
use crate::redis::{RedisNode, Role};
use crate::world::core::World;
use crate::world::net::{addr_of, next_request, reply, Body, Response};
use locksim_models::protocol::argv_display;
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

/// One running Redis server process: everything its tasks share.
pub struct Server {
    pub world: Arc<World>,
    pub idx: usize,
    pub node: RefCell<RedisNode>,
    pub ep: Endpoint,
    pub persist: Persister,
    /// Replication state (sentinel topology only).
    pub repl: Option<Repl>,
    expiry_waker: Arc<Notify>,
    /// The expiry the active-expiry task is sleeping towards.
    planned: Cell<Option<i64>>,
}

impl Server {
    /// Makes the active-expiry task plan again (new keys, role change).
    pub fn wake_expiry(&self) {
        self.expiry_waker.notify_one();
    }

    /// A write happened: its effects go to the disk, then to the replicas.
    pub fn commit(self: &Rc<Self>, client: Option<usize>, effects: &[Argv]) {
        if effects.is_empty() {
            return;
        }
        persist::write(self, effects);
        replication::propagate(self, client, effects);
    }
}

/// The server process of `redis-<idx>`: the init task of its madsim node.
pub async fn redis_process(world: Arc<World>, idx: usize) {
    let me = NodeRef::Redis(idx);
    let restart = world
        .state()
        .history
        .iter()
        .any(|e| matches!(e.kind, EventKind::NodeUp { node, .. } if node == me));
    world.record(Some(me), EventKind::NodeUp { node: me, restart });
    let node = persist::boot(&world, idx);
    let ep = Endpoint::bind(addr_of(me))
        .await
        .expect("redis binds its port");
    let repl = replication::boot(&world, idx).await;
    let waker = Arc::new(Notify::new());
    world.state().expiry_wakers.insert(idx, waker.clone());
    let persist = Persister::new(world.scenario.redis.persistence, world.mono_ms(me));
    let srv = Rc::new(Server {
        world: world.clone(),
        idx,
        node: RefCell::new(node),
        ep,
        persist,
        repl,
        expiry_waker: waker,
        planned: Cell::new(None),
    });
    madsim::task::spawn_local(active_expiry(srv.clone()));
    persist::start(&srv);
    replication::start(&srv);
    serve(srv).await;
}

/// The command loop.
async fn serve(srv: Rc<Server>) {
    let me = NodeRef::Redis(srv.idx);
    let world = srv.world.clone();
    let key = world.scenario.lock.key.as_bytes().to_vec();
    while let Some((req, from)) = next_request(&srv.ep).await {
        let Body::Redis(argv) = req.body else {
            continue;
        };
        let now = world.wall_ms(me);
        let (exec, granted, next) = {
            let mut n = srv.node.borrow_mut();
            let before = n.peek(&key, now).cloned();
            let exec = n.execute(&argv, now);
            let after = n.peek(&key, now);
            let granted = after.is_some() && after != before.as_ref();
            (exec, granted, n.next_expiry_ms())
        };
        if is_wait(&argv) && !matches!(exec.reply, Reply::Error(_)) {
            wait_command(&srv, req.client, req.id, &argv, from);
            continue;
        }
        srv.commit(Some(req.client), &exec.effects);
        if let Some(next) = next {
            if srv.planned.get().is_none_or(|p| next < p) {
                srv.wake_expiry();
            }
        }
        world.record(
            Some(me),
            EventKind::Command {
                node: srv.idx,
                client: Some(req.client),
                cmd: argv_display(&argv),
                reply: reply_display(&exec.reply),
            },
        );
        if granted {
            world.record(
                Some(me),
                EventKind::Granted {
                    node: srv.idx,
                    client: req.client,
                },
            );
        }
        reply(&srv.ep, from, req.id, Response::Redis(exec.reply)).await;
    }
}

fn is_wait(argv: &[Vec<u8>]) -> bool {
    argv.len() == 3 && argv[0].eq_ignore_ascii_case(b"wait")
}

/// `WAIT numreplicas timeout` on a master (the model already rejected bad
/// arguments and replicas): blocks this client only, until `numreplicas`
/// replicas acknowledged its last write or the timeout (node ms, 0 =
/// forever) passed, then replies how many did. A master without replicas
/// counts none, as Redis does.
fn wait_command(srv: &Rc<Server>, client: usize, id: u64, argv: &Argv, to: SocketAddr) {
    let int = |a: &[u8]| std::str::from_utf8(a).ok()?.parse::<i64>().ok();
    let (Some(want), Some(timeout_ms)) = (int(&argv[1]), int(&argv[2])) else {
        return;
    };
    let s = srv.clone();
    let cmd = argv_display(argv);
    let me = NodeRef::Redis(srv.idx);
    let limit = (timeout_ms > 0).then(|| s.world.true_duration(me, timeout_ms as u64));
    madsim::task::spawn_local(async move {
        let start = madsim::time::Instant::now();
        let n = loop {
            let ack = replication::next_ack(&s);
            let n = replication::acked(&s, client);
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
        s.world.record(
            Some(me),
            EventKind::Command {
                node: s.idx,
                client: Some(client),
                cmd,
                reply: reply_display(&r),
            },
        );
        reply(&s.ep, to, id, Response::Redis(r)).await;
    });
}

/// Removes expired keys when the earliest expiry is due, on the hz grid.
async fn active_expiry(srv: Rc<Server>) {
    let me = NodeRef::Redis(srv.idx);
    let world = srv.world.clone();
    loop {
        let next = {
            let n = srv.node.borrow();
            if n.role() == Role::Replica {
                None
            } else {
                n.next_expiry_ms()
            }
        };
        srv.planned.set(next);
        let Some(when_ms) = next else {
            srv.expiry_waker.notified().await;
            continue;
        };
        // Redis: a key is expired once `now > when`.
        let now_us = world.now_us();
        let due_us = world.state().clocks[&me].true_us_when_wall(when_ms + 1, now_us);
        let tick_us = due_us.div_ceil(HZ_TICK_US) * HZ_TICK_US;
        let wait = Duration::from_micros(tick_us.saturating_sub(now_us).max(1));
        if madsim::time::timeout(wait, srv.expiry_waker.notified())
            .await
            .is_ok()
        {
            continue; // something changed: plan again
        }
        let now = world.wall_ms(me);
        let effects = srv.node.borrow_mut().active_expire(now);
        srv.commit(None, &effects);
        for effect in effects {
            let key = effect
                .get(1)
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default();
            world.record(Some(me), EventKind::Expired { node: srv.idx, key });
        }
    }
}

/// What a crash does to `redis-<idx>` beyond killing the process: its
/// disk keeps what the crash kind allows (see [`crate::disk`]).
pub fn on_crash(world: &Arc<World>, idx: usize, power_loss: bool) {
    persist::crash(world, idx, power_loss);
}

/// A reply on one line, as the history shows it.
pub fn reply_display(reply: &Reply) -> String {
    match reply {
        Reply::Array(Some(items)) => {
            let parts: Vec<String> = items.iter().map(reply_display).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_cli(),
    }
}
