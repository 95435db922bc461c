//! Injecting faults into the running world, and undoing them.
//!
//! A fault is data ([`Fault`]); this module turns it into madsim actions:
//! `pause`/`resume` for stop-the-world pauses (timers and messages keep
//! going on the global clock, exactly like a GC pause), `kill`/`restart`
//! for crashes, link clogs for partitions, clock segment changes for
//! jumps and drift, and filler keys written by the node's own process for
//! memory pressure (`server/filler.rs`), deleted after `for_ms` or at the
//! final heal.
//!
//! A fault is recorded when it takes effect (`fault-injected`), next to the
//! client operations it explains, or as `fault-skipped` with the reason
//! when it cannot (a pause or crash of a node that is down, a restart of a
//! node that is up, a heal with nothing cut, anything after the final
//! heal). Only the run loop calls in here: the world itself is passive.

use super::core::{PressureJob, World};
use super::status::Status;
use crate::history::{EventKind, SkipReason};
use crate::model::clock::ClockChange;
use crate::model::{Fault, FaultSpec, NodeRef, Trigger};
use madsim::net::NetSim;
use madsim::runtime::Handle;
use std::sync::Arc;
use std::time::Duration;

/// Injects `spec`'s fault after `delay` of true time (at once for zero).
pub fn schedule(world: &Arc<World>, spec: FaultSpec, cause: Option<Trigger>, delay: Duration) {
    if delay.is_zero() {
        inject(world, &spec.fault, cause);
        return;
    }
    let w = world.clone();
    run_later(world, delay, move || inject(&w, &spec.fault, cause));
}

/// Runs `f` on the nemesis node after `delay` of true time.
pub fn run_later(world: &Arc<World>, delay: Duration, f: impl FnOnce() + Send + 'static) {
    world.nemesis().spawn(async move {
        madsim::time::sleep(delay).await;
        f();
    });
}

/// Injects a fault now, or records why it cannot be.
pub fn inject(world: &Arc<World>, fault: &Fault, cause: Option<Trigger>) {
    match try_inject(world, fault, cause) {
        Ok(()) => {}
        Err(reason) => {
            world.record(
                None,
                EventKind::FaultSkipped {
                    fault: fault.clone(),
                    cause,
                    reason,
                },
            );
        }
    }
}

fn injected(world: &World, fault: &Fault, cause: Option<Trigger>) {
    world.record(
        None,
        EventKind::FaultInjected {
            fault: fault.clone(),
            cause,
        },
    );
}

fn try_inject(world: &Arc<World>, fault: &Fault, cause: Option<Trigger>) -> Result<(), SkipReason> {
    // The last phase judges liveness: no fault starts after the final heal.
    if world.now_us() >= world.scenario().heal_ms() * 1000 {
        return Err(SkipReason::AfterFinalHeal);
    }
    match *fault {
        Fault::Pause { node, for_ms } => {
            let pause = world.liveness(|l| l.pause(node))?;
            injected(world, fault, cause);
            Handle::current().pause(world.node_id(node));
            let w = world.clone();
            run_later(world, Duration::from_millis(for_ms), move || {
                if w.liveness(|l| l.resume(node, pause)) {
                    Handle::current().resume(w.node_id(node));
                    w.record(
                        None,
                        EventKind::FaultHealed {
                            fault: Fault::Pause { node, for_ms },
                        },
                    );
                }
            });
        }
        Fault::Kill { node, for_ms } => crash(world, fault, cause, node, for_ms, false)?,
        Fault::PowerLoss { node, for_ms } => crash(world, fault, cause, node, for_ms, true)?,
        Fault::Restart { node } => {
            world.liveness(|l| l.restart(node, None))?;
            injected(world, fault, cause);
            Handle::current().restart(world.node_id(node));
        }
        Fault::ClockJump { node, by_ms } => {
            world.change_clock(node, ClockChange::Jump { by_ms });
            injected(world, fault, cause);
        }
        Fault::ClockDrift { node, ppm } => {
            world.change_clock(node, ClockChange::Drift { ppm });
            injected(world, fault, cause);
        }
        Fault::Partition { ref groups, for_ms } => {
            partition(world, groups);
            injected(world, fault, cause);
            if let Some(ms) = for_ms {
                let w = world.clone();
                run_later(world, Duration::from_millis(ms), move || {
                    heal_partitions(&w);
                });
            }
        }
        Fault::Heal => {
            if !heal_partitions(world) {
                return Err(SkipReason::NoPartition);
            }
        }
        Fault::MemoryPressure {
            node,
            bytes,
            ttl_ms,
            for_ms,
        } => memory_pressure(world, fault, cause, node, bytes, ttl_ms, for_ms)?,
    }
    Ok(())
}

/// Queues a filler for the node's process (written as soon as it runs:
/// at once, or when a paused node resumes) and, with `for_ms`, its
/// deletion. A node that is down is skipped.
fn memory_pressure(
    world: &Arc<World>,
    fault: &Fault,
    cause: Option<Trigger>,
    node: NodeRef,
    bytes: u64,
    ttl_ms: Option<u64>,
    for_ms: Option<u64>,
) -> Result<(), SkipReason> {
    let NodeRef::Redis(idx) = node else {
        unreachable!("the parser accepts memory pressure on Redis nodes only");
    };
    if matches!(world.liveness(|l| l.status(node)), Status::Down { .. }) {
        return Err(SkipReason::NodeDown);
    }
    injected(world, fault, cause);
    let id = world.next_filler();
    world.push_pressure(idx, PressureJob::Fill { id, bytes, ttl_ms });
    if let Some(ms) = for_ms {
        let w = world.clone();
        run_later(world, Duration::from_millis(ms), move || {
            w.push_pressure(idx, PressureJob::Drain { id: Some(id) });
        });
    }
    Ok(())
}

/// Crashes `node`: its process and volatile state are gone; a Redis node's
/// disk keeps what the crash kind allows. It restarts after `for_ms`
/// (default: `restart_delay_ms` for Redis nodes, at once for others).
fn crash(
    world: &Arc<World>,
    fault: &Fault,
    cause: Option<Trigger>,
    node: NodeRef,
    for_ms: Option<u64>,
    power_loss: bool,
) -> Result<(), SkipReason> {
    let now = world.now_us();
    let crash = world.liveness(|l| l.crash(node, now))?;
    injected(world, fault, cause);
    Handle::current().kill(world.node_id(node));
    if let NodeRef::Redis(i) = node {
        super::server::on_crash(world, i, power_loss);
    }
    world.record(Some(node), EventKind::NodeDown { node });
    let down_ms = for_ms.unwrap_or(match node {
        NodeRef::Redis(_) => world.scenario().redis.restart_delay_ms,
        _ => 0,
    });
    restart_after(world, node, crash, down_ms * 1000);
    Ok(())
}

/// Restarts `node` after `delay_us`, unless it restarted (and maybe
/// crashed again) in between: a timer only ever ends the crash it was set
/// for.
fn restart_after(world: &Arc<World>, node: NodeRef, crash: u64, delay_us: u64) {
    let up = move |w: &World| {
        if w.liveness(|l| l.restart(node, Some(crash))).is_ok() {
            Handle::current().restart(w.node_id(node));
        }
    };
    if delay_us == 0 {
        up(world);
        return;
    }
    let w = world.clone();
    run_later(world, Duration::from_micros(delay_us), move || up(&w));
}

fn partition(world: &Arc<World>, groups: &[Vec<NodeRef>]) {
    let net = NetSim::current();
    for (gi, a_group) in groups.iter().enumerate() {
        for b_group in &groups[gi + 1..] {
            for &a in a_group {
                for &b in b_group {
                    let (ia, ib) = (world.node_id(a), world.node_id(b));
                    net.clog_link(ia, ib);
                    net.clog_link(ib, ia);
                    world.liveness(|l| l.cut(a, b));
                }
            }
        }
    }
}

/// Undoes every partition; false when nothing was cut.
pub fn heal_partitions(world: &Arc<World>) -> bool {
    let net = NetSim::current();
    let cuts = world.liveness(|l| l.heal_cuts());
    if cuts.is_empty() {
        return false;
    }
    for (a, b) in cuts {
        let (ia, ib) = (world.node_id(a), world.node_id(b));
        net.unclog_link(ia, ib);
        net.unclog_link(ib, ia);
    }
    world.record(None, EventKind::FaultHealed { fault: Fault::Heal });
    true
}

/// The final phase: resume every paused node, restart every crashed one,
/// heal every partition, delete every filler. Clock changes stay (a clock that jumped does not
/// jump back), which is what production sees after an incident. A crashed
/// Redis node still honours `restart_delay_ms` (the delayed-restart
/// mitigation is the node's restart policy, not a fault): it comes back
/// at once if it has been down that long, else when it has.
pub fn heal_all(world: &Arc<World>) {
    let now = world.now_us();
    let min_down_us = world.scenario().redis.restart_delay_ms * 1000;
    world.record(None, EventKind::HealAll);
    for node in world.liveness(|l| l.resume_all()) {
        Handle::current().resume(world.node_id(node));
    }
    for (node, crash, since_us) in world.liveness(|l| l.down()) {
        let wait_us = match node {
            NodeRef::Redis(_) => (since_us + min_down_us).saturating_sub(now),
            _ => 0,
        };
        restart_after(world, node, crash, wait_us);
    }
    heal_partitions(world);
    if world.any_filler() {
        for idx in 0..world.scenario().redis.nodes {
            world.push_pressure(idx, PressureJob::Drain { id: None });
        }
    }
}
