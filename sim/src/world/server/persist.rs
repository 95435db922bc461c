//! The persistence side of a running Redis server process: loading the
//! disk at boot, the AOF write before each reply, the everysec fsync timer,
//! the RDB saver, and what a crash leaves on the disk. The disk itself (what
//! survives a crash) is [`crate::redis::disk`].

use super::core::Core;
use crate::history::{DiskOp, EventKind};
use crate::model::{NodeRef, Persistence};
use crate::redis::disk::{Dump, Snapshot};
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
    let mode = world.scenario().redis.persistence;
    if mode == Persistence::None {
        return RedisNode::new();
    }
    let now = world.wall_ms(me);
    let loaded = world.disk(idx, |d| d.boot(mode, now));
    match loaded {
        Some(l) => {
            world.record(
                Some(me),
                EventKind::Disk {
                    node: idx,
                    op: l.op,
                },
            );
            l.node
        }
        None => RedisNode::new(),
    }
}

/// Spawns the persistence timers the mode needs (none for `none` and
/// `aof-always`).
pub fn start(srv: &Rc<Core>, persist: &Rc<Persister>) {
    match persist.mode {
        Persistence::AofEverysec => {
            madsim::task::spawn_local(fsync_every_second(srv.clone(), persist.clone()));
            let pending = srv.world.disk(srv.idx, |d| d.synced() < d.written());
            if pending {
                persist.fsync_wake.notify_one();
            }
        }
        Persistence::Rdb => {
            madsim::task::spawn_local(rdb_saver(srv.clone(), persist.clone()));
        }
        Persistence::None | Persistence::AofAlways => {}
    }
}

/// Persists the effects of one write (client command, active expiry or
/// the master's stream): AOF append (and fsync for `always`) before the
/// reply, or a dirty mark for the RDB saver.
pub fn write(srv: &Core, persist: &Persister, effects: &[Argv]) {
    if effects.is_empty() {
        return;
    }
    match persist.mode {
        Persistence::None => {}
        Persistence::Rdb => {
            let p = persist;
            p.dirty.set(p.dirty.get() + effects.len() as u64);
            p.rdb_wake.notify_one();
        }
        mode => {
            let pending = srv.world.disk(srv.idx, |d| d.write(mode, effects));
            if pending {
                persist.fsync_wake.notify_one();
            }
        }
    }
}

/// Marks the keyspace changed by a full resync (the disk was rewritten).
pub fn resynced(srv: &Core, persist: &Persister, entries: Dump) {
    let mode = persist.mode;
    if mode == Persistence::None {
        return;
    }
    let me = NodeRef::Redis(srv.idx);
    let wall_ms = srv.world.wall_ms(me);
    let keys = entries.len();
    srv.world
        .disk(srv.idx, |d| d.resync(mode, Snapshot { entries, wall_ms }));
    persist.dirty.set(0);
    persist.lastsave_mono.set(srv.world.mono_ms(me));
    let op = DiskOp::ResyncStored { keys };
    srv.world
        .record(Some(me), EventKind::Disk { node: srv.idx, op });
}

/// Sleeps until the node's monotonic clock reads `mono_ms`.
async fn sleep_until_mono(srv: &Core, mono_ms: u64) {
    let me = NodeRef::Redis(srv.idx);
    let now_us = srv.world.now_us();
    let due_us = srv.world.true_us_when_mono(me, mono_ms);
    madsim::time::sleep(Duration::from_micros(due_us.saturating_sub(now_us).max(1))).await;
}

/// `appendfsync everysec`: when something is unsynced, fsync at the next
/// whole second of node time.
async fn fsync_every_second(srv: Rc<Core>, persist: Rc<Persister>) {
    let me = NodeRef::Redis(srv.idx);
    loop {
        let pending = srv.world.disk(srv.idx, |d| d.synced() < d.written());
        if !pending {
            persist.fsync_wake.notified().await;
            continue;
        }
        let now = srv.world.mono_ms(me);
        sleep_until_mono(&srv, (now / FSYNC_MS + 1) * FSYNC_MS).await;
        let (ops, synced) = srv.world.disk(srv.idx, |d| (d.fsync(), d.synced()));
        if ops > 0 {
            let op = DiskOp::Fsync { ops, synced };
            srv.world
                .record(Some(me), EventKind::Disk { node: srv.idx, op });
        }
    }
}

/// `save <rdb_save_every_ms> 1`: once the keyspace changed, snapshot at the
/// first cron tick at least `rdb_save_every_ms` after the last save.
async fn rdb_saver(srv: Rc<Core>, persist: Rc<Persister>) {
    let me = NodeRef::Redis(srv.idx);
    let every = srv.world.scenario().redis.rdb_save_every_ms;
    let p = &persist;
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
        let keys = entries.len();
        let changes = p.dirty.replace(0);
        p.lastsave_mono.set(now);
        srv.world
            .disk(srv.idx, |d| d.save_rdb(Snapshot { entries, wall_ms }));
        let op = DiskOp::Snapshot { keys, changes };
        srv.world
            .record(Some(me), EventKind::Disk { node: srv.idx, op });
    }
}

/// What a crash does to `redis-<idx>`'s disk (called by the fault module
/// once the process is dead).
pub fn crash(world: &Arc<World>, idx: usize, power_loss: bool) {
    if world.scenario().redis.persistence == Persistence::None {
        return;
    }
    let ops = world.disk(idx, |d| d.crash(power_loss));
    if ops > 0 {
        let op = DiskOp::Lost { ops };
        world.record(Some(NodeRef::Redis(idx)), EventKind::Disk { node: idx, op });
    }
}
