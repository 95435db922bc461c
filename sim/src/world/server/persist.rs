//! The persistence side of a running Redis server process: loading the
//! disk at boot, the AOF write before each reply, the everysec fsync timer,
//! the RDB saver, and what a crash leaves on the disk. The disk itself (what
//! survives a crash) is [`crate::redis::disk`].

use super::Server;
use crate::history::EventKind;
use crate::model::{NodeRef, Persistence};
use crate::redis::disk::{plural, Dump, Snapshot};
use crate::redis::RedisNode;
use crate::world::core::World;
use locksim_models::Argv;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How often a node checks whether it must snapshot (Redis `hz 10`).
const CRON_MS: u64 = 100;
/// The everysec fsync period.
const FSYNC_MS: u64 = 1000;

/// Per-process persistence state: the timers' wake-ups and the RDB's dirty
/// counter (Redis's `server.dirty` and `lastsave`). Dies with the process.
pub struct Persister {
    pub mode: Persistence,
    fsync_wake: Notify,
    rdb_wake: Notify,
    dirty: Cell<u64>,
    /// Monotonic ms of the last save (process start at first).
    lastsave_mono: Cell<u64>,
}

impl Persister {
    pub fn new(mode: Persistence, start_mono_ms: u64) -> Persister {
        Persister {
            mode,
            fsync_wake: Notify::new(),
            rdb_wake: Notify::new(),
            dirty: Cell::new(0),
            lastsave_mono: Cell::new(start_mono_ms),
        }
    }
}

/// Loads the node's disk at boot (recording what was found) or starts
/// empty.
pub fn boot(world: &Arc<World>, idx: usize) -> RedisNode {
    let me = NodeRef::Redis(idx);
    let mode = world.scenario.redis.persistence;
    if mode == Persistence::None {
        return RedisNode::new();
    }
    let now = world.wall_ms(me);
    let loaded = world.state().disks[idx].load(mode, now);
    match loaded {
        Some(l) => {
            world.record(
                Some(me),
                EventKind::Disk {
                    node: idx,
                    what: "load".into(),
                    detail: l.detail,
                },
            );
            l.node
        }
        None => RedisNode::new(),
    }
}

/// Spawns the persistence timers the mode needs (none for `none` and
/// `aof-always`).
pub fn start(srv: &Rc<Server>) {
    match srv.persist.mode {
        Persistence::AofEverysec => {
            madsim::task::spawn_local(fsync_every_second(srv.clone()));
            let pending = {
                let st = srv.world.state();
                st.disks[srv.idx].synced() < st.disks[srv.idx].written()
            };
            if pending {
                srv.persist.fsync_wake.notify_one();
            }
        }
        Persistence::Rdb => {
            madsim::task::spawn_local(rdb_saver(srv.clone()));
        }
        Persistence::None | Persistence::AofAlways => {}
    }
}

/// Persists the effects of one write (client command, active expiry or
/// the master's stream): AOF append (and fsync for `always`) before the
/// reply, or a dirty mark for the RDB saver.
pub fn write(srv: &Server, effects: &[Argv]) {
    if effects.is_empty() {
        return;
    }
    match srv.persist.mode {
        Persistence::None => {}
        Persistence::Rdb => {
            let p = &srv.persist;
            p.dirty.set(p.dirty.get() + effects.len() as u64);
            p.rdb_wake.notify_one();
        }
        mode => {
            let pending = srv.world.state().disks[srv.idx].write(mode, effects);
            if pending {
                srv.persist.fsync_wake.notify_one();
            }
        }
    }
}

/// Marks the keyspace changed by a full resync (the disk was rewritten).
pub fn resynced(srv: &Server, entries: Dump) {
    let mode = srv.persist.mode;
    if mode == Persistence::None {
        return;
    }
    let me = NodeRef::Redis(srv.idx);
    let wall_ms = srv.world.wall_ms(me);
    let n = entries.len();
    srv.world.state().disks[srv.idx].resync(mode, Snapshot { entries, wall_ms });
    srv.persist.dirty.set(0);
    srv.persist.lastsave_mono.set(srv.world.mono_ms(me));
    srv.world.record(
        Some(me),
        EventKind::Disk {
            node: srv.idx,
            what: "snapshot".into(),
            detail: format!("full resync stored: {n} key{}", plural(n)),
        },
    );
}

/// Sleeps until the node's monotonic clock reads `mono_ms`.
async fn sleep_until_mono(srv: &Server, mono_ms: u64) {
    let me = NodeRef::Redis(srv.idx);
    let now_us = srv.world.now_us();
    let due_us = srv.world.state().clocks[&me].true_us_when_mono(mono_ms, now_us);
    madsim::time::sleep(Duration::from_micros(due_us.saturating_sub(now_us).max(1))).await;
}

/// `appendfsync everysec`: when something is unsynced, fsync at the next
/// whole second of node time.
async fn fsync_every_second(srv: Rc<Server>) {
    let me = NodeRef::Redis(srv.idx);
    loop {
        let pending = {
            let st = srv.world.state();
            let d = &st.disks[srv.idx];
            d.synced() < d.written()
        };
        if !pending {
            srv.persist.fsync_wake.notified().await;
            continue;
        }
        let now = srv.world.mono_ms(me);
        sleep_until_mono(&srv, (now / FSYNC_MS + 1) * FSYNC_MS).await;
        let (n, total) = {
            let mut st = srv.world.state();
            let d = &mut st.disks[srv.idx];
            (d.fsync(), d.synced())
        };
        if n > 0 {
            srv.world.record(
                Some(me),
                EventKind::Disk {
                    node: srv.idx,
                    what: "fsync".into(),
                    detail: format!("aof: {n} op{} made durable, {total} synced", plural(n)),
                },
            );
        }
    }
}

/// `save <rdb_save_every_ms> 1`: once the keyspace changed, snapshot at the
/// first cron tick at least `rdb_save_every_ms` after the last save.
async fn rdb_saver(srv: Rc<Server>) {
    let me = NodeRef::Redis(srv.idx);
    let every = srv.world.scenario.redis.rdb_save_every_ms;
    let p = &srv.persist;
    loop {
        if p.dirty.get() == 0 {
            p.rdb_wake.notified().await;
            continue;
        }
        let now = srv.world.mono_ms(me);
        let due = (p.lastsave_mono.get() + every).max(now);
        let tick = due.div_ceil(CRON_MS) * CRON_MS;
        if tick > now {
            sleep_until_mono(&srv, tick).await;
            continue; // a full resync may have saved meanwhile: check again
        }
        let wall_ms = srv.world.wall_ms(me);
        let entries = srv.node.borrow().dump();
        let n = entries.len();
        let changes = p.dirty.replace(0);
        p.lastsave_mono.set(now);
        srv.world.state().disks[srv.idx].save_rdb(Snapshot { entries, wall_ms });
        srv.world.record(
            Some(me),
            EventKind::Disk {
                node: srv.idx,
                what: "snapshot".into(),
                detail: format!(
                    "rdb: {n} key{} after {changes} change{}",
                    plural(n),
                    plural(changes as usize)
                ),
            },
        );
    }
}

/// What a crash does to `redis-<idx>`'s disk (called by the fault module
/// once the process is dead).
pub fn crash(world: &Arc<World>, idx: usize, power_loss: bool) {
    if world.scenario.redis.persistence == Persistence::None {
        return;
    }
    let lost = world.state().disks[idx].crash(power_loss);
    if lost > 0 {
        world.record(
            Some(NodeRef::Redis(idx)),
            EventKind::Disk {
                node: idx,
                what: "lost".into(),
                detail: format!("power loss: {lost} unsynced aof op{} dropped", plural(lost)),
            },
        );
    }
}
