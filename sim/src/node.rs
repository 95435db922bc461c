//! A Redis server process: the madsim node that wraps a [`RedisNode`].
//!
//! The process owns its keyspace (it dies with the process); what must
//! survive a crash lives in the world (the node's disk, see
//! [`on_crash`]). It serves one command at a time with time frozen at the
//! node's own wall clock, runs active expiry (Redis's hz 10 cycle) only
//! when a key is due, and reports to the world when a command wrote the
//! lock key (the `granted:redis-j:client-i` trigger).

use crate::history::EventKind;
use crate::net::{addr_of, next_request, reply, Body, Response};
use crate::redis::{RedisNode, Role};
use crate::scenario::NodeRef;
use crate::world::World;
use locksim_models::protocol::argv_display;
use locksim_models::Reply;
use madsim::net::Endpoint;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Active expiry runs on a 100 ms grid (Redis `hz 10`).
const HZ_TICK_US: u64 = 100_000;

/// The server process of `redis-<idx>`: the init task of its madsim node.
pub async fn redis_process(world: Arc<World>, idx: usize) {
    let me = NodeRef::Redis(idx);
    let restart = world
        .state()
        .history
        .iter()
        .any(|e| matches!(e.kind, EventKind::NodeUp { node, .. } if node == me));
    world.record(Some(me), EventKind::NodeUp { node: me, restart });
    let node = Rc::new(RefCell::new(RedisNode::new()));
    let ep = Endpoint::bind(addr_of(me))
        .await
        .expect("redis binds its port");
    let waker = Arc::new(Notify::new());
    world.state().expiry_wakers.insert(idx, waker.clone());
    let planned = Rc::new(Cell::new(None::<i64>));
    madsim::task::spawn_local(active_expiry(
        world.clone(),
        idx,
        node.clone(),
        waker.clone(),
        planned.clone(),
    ));
    let key = world.scenario.lock.key.as_bytes().to_vec();
    while let Some((req, from)) = next_request(&ep).await {
        let Body::Redis(argv) = req.body else {
            continue;
        };
        let now = world.wall_ms(me);
        let (exec, granted, next) = {
            let mut n = node.borrow_mut();
            let before = n.peek(&key, now).cloned();
            let exec = n.execute(&argv, now);
            let after = n.peek(&key, now);
            let granted = after.is_some() && after != before.as_ref();
            (exec, granted, n.next_expiry_ms())
        };
        if let Some(next) = next {
            if planned.get().is_none_or(|p| next < p) {
                waker.notify_one();
            }
        }
        world.record(
            Some(me),
            EventKind::Command {
                node: idx,
                client: Some(req.client),
                cmd: argv_display(&argv),
                reply: reply_display(&exec.reply),
            },
        );
        if granted {
            world.record(
                Some(me),
                EventKind::Granted {
                    node: idx,
                    client: req.client,
                },
            );
        }
        reply(&ep, from, req.id, Response::Redis(exec.reply)).await;
    }
}

/// Removes expired keys when the earliest expiry is due, on the hz grid.
async fn active_expiry(
    world: Arc<World>,
    idx: usize,
    node: Rc<RefCell<RedisNode>>,
    waker: Arc<Notify>,
    planned: Rc<Cell<Option<i64>>>,
) {
    let me = NodeRef::Redis(idx);
    loop {
        let next = {
            let n = node.borrow();
            if n.role() == Role::Replica {
                None
            } else {
                n.next_expiry_ms()
            }
        };
        planned.set(next);
        let Some(when_ms) = next else {
            waker.notified().await;
            continue;
        };
        // Redis: a key is expired once `now > when`.
        let now_us = world.now_us();
        let due_us = world.state().clocks[&me].true_us_when_wall(when_ms + 1, now_us);
        let tick_us = due_us.div_ceil(HZ_TICK_US) * HZ_TICK_US;
        let wait = Duration::from_micros(tick_us.saturating_sub(now_us).max(1));
        if madsim::time::timeout(wait, waker.notified()).await.is_ok() {
            continue; // something changed: plan again
        }
        let now = world.wall_ms(me);
        let effects = node.borrow_mut().active_expire(now);
        for effect in effects {
            let key = effect
                .get(1)
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default();
            world.record(Some(me), EventKind::Expired { node: idx, key });
        }
    }
}

/// What a crash does to `redis-<idx>`'s disk. With `persistence = "none"`
/// there is nothing on disk: the keyspace died with the process.
pub fn on_crash(_world: &Arc<World>, _idx: usize, _power_loss: bool) {}

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
