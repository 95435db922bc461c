//! Injecting faults into the running world, and undoing them.
//!
//! A fault is data ([`Fault`]); this module turns it into madsim actions:
//! `pause`/`resume` for stop-the-world pauses (timers and messages keep
//! going on the global clock, exactly like a GC pause), `kill`/`restart`
//! for crashes, link clogs for partitions, and clock segment changes for
//! jumps and drift. Every injection and every heal is recorded in the
//! history, next to the client operations it explains.

use crate::history::EventKind;
use crate::model::clock::ClockChange;
use crate::model::{Fault, FaultSpec, NodeRef, Trigger};
use crate::world::core::World;
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
    let nemesis = world
        .state()
        .nemesis
        .clone()
        .expect("the nemesis node exists");
    nemesis.spawn(async move {
        madsim::time::sleep(delay).await;
        f();
    });
}

/// Injects a fault now. Faults that would land after the final heal
/// (`heal_at`) are not injected: the last phase judges liveness.
pub fn inject(world: &Arc<World>, fault: &Fault, cause: Option<Trigger>) {
    if world.now_us() >= world.scenario.heal_ms() * 1000 {
        return;
    }
    world.record(
        None,
        EventKind::FaultInjected {
            fault: fault.clone(),
            cause,
        },
    );
    match *fault {
        Fault::Pause { node, for_ms } => pause(world, node, for_ms),
        Fault::Kill { node, for_ms } => crash(world, node, for_ms, false),
        Fault::PowerLoss { node, for_ms } => crash(world, node, for_ms, true),
        Fault::Restart { node } => restart(world, node),
        Fault::ClockJump { node, by_ms } => world.change_clock(node, ClockChange::Jump { by_ms }),
        Fault::ClockDrift { node, ppm } => world.change_clock(node, ClockChange::Drift { ppm }),
        Fault::Partition { ref groups, for_ms } => {
            partition(world, groups);
            if let Some(ms) = for_ms {
                let w = world.clone();
                run_later(world, Duration::from_millis(ms), move || {
                    heal_partitions(&w)
                });
            }
        }
        Fault::Heal => heal_partitions(world),
    }
}

fn pause(world: &Arc<World>, node: NodeRef, for_ms: u64) {
    let generation = {
        let mut st = world.state();
        if st.down.contains(&node) {
            return;
        }
        st.pause_generation += 1;
        let g = st.pause_generation;
        st.paused.insert(node, g);
        g
    };
    Handle::current().pause(world.node_id(node));
    let w = world.clone();
    run_later(world, Duration::from_millis(for_ms), move || {
        let current = w.state().paused.get(&node) == Some(&generation);
        if current {
            resume(&w, node, for_ms);
        }
    });
}

fn resume(world: &Arc<World>, node: NodeRef, for_ms: u64) {
    world.state().paused.remove(&node);
    Handle::current().resume(world.node_id(node));
    world.record(
        None,
        EventKind::FaultHealed {
            fault: Fault::Pause { node, for_ms },
        },
    );
}

/// Crashes `node`: its process and volatile state are gone; a Redis node's
/// disk keeps what the crash kind allows. It restarts after `for_ms`
/// (default: `restart_delay_ms` for Redis nodes, at once for others).
fn crash(world: &Arc<World>, node: NodeRef, for_ms: Option<u64>, power_loss: bool) {
    let crash = {
        let mut st = world.state();
        if st.down.contains(&node) {
            return;
        }
        st.down.insert(node);
        st.paused.remove(&node);
        st.crash_seq += 1;
        let crash = st.crash_seq;
        st.crashed.insert(node, (crash, world.now_us()));
        crash
    };
    Handle::current().kill(world.node_id(node));
    if let NodeRef::Redis(i) = node {
        crate::world::server::on_crash(world, i, power_loss);
    }
    world.record(Some(node), EventKind::NodeDown { node });
    let down_ms = for_ms.unwrap_or(match node {
        NodeRef::Redis(_) => world.scenario.redis.restart_delay_ms,
        _ => 0,
    });
    restart_after(world, node, crash, down_ms * 1000);
}

/// Restarts `node` after `delay_us`, unless it restarted (and maybe
/// crashed again) in between: a timer only ever ends the crash it was set
/// for.
fn restart_after(world: &Arc<World>, node: NodeRef, crash: u64, delay_us: u64) {
    if delay_us == 0 {
        restart(world, node);
        return;
    }
    let w = world.clone();
    run_later(world, Duration::from_micros(delay_us), move || {
        let same = w.state().crashed.get(&node).map(|c| c.0) == Some(crash);
        if same {
            restart(&w, node);
        }
    });
}

/// Starts a crashed node again (its init task records `NodeUp`).
pub fn restart(world: &Arc<World>, node: NodeRef) {
    {
        let mut st = world.state();
        if !st.down.remove(&node) {
            return;
        }
        st.crashed.remove(&node);
    }
    Handle::current().restart(world.node_id(node));
}

fn partition(world: &Arc<World>, groups: &[Vec<NodeRef>]) {
    let net = NetSim::current();
    let mut st = world.state();
    for (gi, a_group) in groups.iter().enumerate() {
        for b_group in &groups[gi + 1..] {
            for &a in a_group {
                for &b in b_group {
                    let (ia, ib) = (st.ids[&a], st.ids[&b]);
                    net.clog_link(ia, ib);
                    net.clog_link(ib, ia);
                    st.cuts.insert((a.min(b), a.max(b)));
                }
            }
        }
    }
}

/// Undoes every partition.
pub fn heal_partitions(world: &Arc<World>) {
    let net = NetSim::current();
    let cuts = {
        let mut st = world.state();
        let cuts = std::mem::take(&mut st.cuts);
        cuts.into_iter()
            .map(|(a, b)| (st.ids[&a], st.ids[&b]))
            .collect::<Vec<_>>()
    };
    if cuts.is_empty() {
        return;
    }
    for (a, b) in cuts {
        net.unclog_link(a, b);
        net.unclog_link(b, a);
    }
    world.record(None, EventKind::FaultHealed { fault: Fault::Heal });
}

/// The final phase: resume every paused node, restart every crashed one,
/// heal every partition. Clock changes stay (a clock that jumped does not
/// jump back), which is what production sees after an incident. A crashed
/// Redis node still honours `restart_delay_ms` (the delayed-restart
/// mitigation is the node's restart policy, not a fault): it comes back
/// at once if it has been down that long, else when it has.
pub fn heal_all(world: &Arc<World>) {
    let now = world.now_us();
    let min_down_us = world.scenario.redis.restart_delay_ms * 1000;
    let (paused, down) = {
        let st = world.state();
        let down: Vec<_> = st
            .down
            .iter()
            .map(|&n| {
                let (crash, at) = st.crashed.get(&n).copied().unwrap_or((0, 0));
                let wait = match n {
                    NodeRef::Redis(_) => (at + min_down_us).saturating_sub(now),
                    _ => 0,
                };
                (n, crash, wait)
            })
            .collect();
        (st.paused.keys().copied().collect::<Vec<_>>(), down)
    };
    world.record(None, EventKind::HealAll);
    for node in paused {
        world.state().paused.remove(&node);
        Handle::current().resume(world.node_id(node));
    }
    for (node, crash, wait_us) in down {
        restart_after(world, node, crash, wait_us);
    }
    heal_partitions(world);
}
