//! The oracle: pure checkers over a history, returning a verdict.
//!
//! Three checkers, composed so that the worst verdict wins (Jepsen's
//! `checker/compose`): `violation` > `liveness` > `safe`.
//!
//! - **Lock level (L).** Each successful acquire opens a lease window in
//!   true time. It closes when the client starts its release, when the
//!   client crashes, or at the end of the run; with `validity_check = true`
//!   it closes earlier, at the true time the client's own clock passes the
//!   deadline its algorithm computed. Two clients' windows overlapping is a
//!   violation: the lock granted two leases at once.
//! - **Resource level (R).** A write the resource accepted from a session
//!   that was not the newest one to have begun is stale.
//! - **Liveness.** A client that has not finished its cycles when the run
//!   ends (after every fault healed at `heal_at`) lost liveness.
//!
//! Clocks are rebuilt from the history itself (`ClockInit` plus clock
//! faults), so the oracle needs nothing but the events.

use crate::history::{Event, EventKind};
use crate::model::clock::{Clock, ClockChange};
use crate::model::WriteOutcome;
use crate::model::{Fault, NodeRef, Scenario, Verdict};
use locksim_models::Deadline;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lock-level or resource-level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ViolationKind {
    L,
    R,
}

/// One violation: two clients, a true-time interval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub kind: ViolationKind,
    pub clients: [usize; 2],
    pub from_us: u64,
    pub to_us: u64,
}

/// Why a lease window closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowEnd {
    Released,
    Deadline,
    Crashed,
    RunEnded,
}

/// One lease, in true time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub client: usize,
    pub cycle: u32,
    pub start_us: u64,
    pub end_us: u64,
    pub end: WindowEnd,
    /// The true time the client's clock passed its deadline, if it had one.
    pub deadline_us: Option<u64>,
}

/// What the oracle concluded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub verdict: Verdict,
    pub violations: Vec<Violation>,
    pub windows: Vec<Window>,
    pub fenced: u64,
    pub stale_writes: u64,
    /// Clients that did not finish their cycles.
    pub unfinished: Vec<usize>,
}

/// Runs every checker over `events`.
pub fn check(events: &[Event], scenario: &Scenario) -> Check {
    let _profile = crate::profile::section(crate::profile::Part::Oracle);
    let clocks = rebuild_clocks(events);
    let windows = lease_windows(events, &clocks, scenario.lock.validity_check);
    let mut violations = lock_level(&windows);
    let (resource, stale_writes, fenced) = resource_level(events);
    violations.extend(resource);
    let unfinished = liveness(events, scenario.clients.count);
    let verdict = if !violations.is_empty() {
        Verdict::Violation
    } else if !unfinished.is_empty() {
        Verdict::Liveness
    } else {
        Verdict::Safe
    };
    Check {
        verdict,
        violations,
        windows,
        fenced,
        stale_writes,
        unfinished,
    }
}

/// Every node's clock as the history describes it.
pub fn rebuild_clocks(events: &[Event]) -> BTreeMap<NodeRef, Clock> {
    let mut clocks = BTreeMap::new();
    for e in events {
        match e.kind {
            EventKind::ClockInit {
                offset_ms,
                drift_ppm,
            } => {
                if let Some(node) = e.node {
                    clocks.insert(node, Clock::new(offset_ms, drift_ppm));
                }
            }
            EventKind::FaultInjected {
                fault: Fault::ClockJump { node, by_ms },
                ..
            } => {
                if let Some(c) = clocks.get_mut(&node) {
                    c.apply(e.t_us, ClockChange::Jump { by_ms });
                }
            }
            EventKind::FaultInjected {
                fault: Fault::ClockDrift { node, ppm },
                ..
            } => {
                if let Some(c) = clocks.get_mut(&node) {
                    c.apply(e.t_us, ClockChange::Drift { ppm });
                }
            }
            _ => {}
        }
    }
    clocks
}

fn deadline_true_us(clock: Option<&Clock>, deadline: Deadline, from_us: u64) -> Option<u64> {
    let c = clock?;
    Some(match deadline {
        Deadline::Mono(ms) => c.true_us_when_mono(ms, from_us),
        Deadline::Wall(ms) => c.true_us_when_wall(ms, from_us),
    })
}

/// The lease windows of every client, in order of start.
pub fn lease_windows(
    events: &[Event],
    clocks: &BTreeMap<NodeRef, Clock>,
    validity_check: bool,
) -> Vec<Window> {
    let end_of_run = events.last().map_or(0, |e| e.t_us);
    let mut open: BTreeMap<usize, Window> = BTreeMap::new();
    let mut done = Vec::new();
    let close = |w: Window, at_us: u64, why: WindowEnd, done: &mut Vec<Window>| {
        let mut w = w;
        match w.deadline_us {
            Some(d) if validity_check && d < at_us => {
                w.end_us = d.max(w.start_us);
                w.end = WindowEnd::Deadline;
            }
            _ => {
                w.end_us = at_us;
                w.end = why;
            }
        }
        done.push(w);
    };
    for e in events {
        match &e.kind {
            EventKind::AcquireOk {
                client,
                cycle,
                deadline,
                ..
            } => {
                let clock = clocks.get(&NodeRef::Client(*client));
                let deadline_us = deadline.and_then(|d| deadline_true_us(clock, d, e.t_us));
                let w = Window {
                    client: *client,
                    cycle: *cycle,
                    start_us: e.t_us,
                    end_us: e.t_us,
                    end: WindowEnd::RunEnded,
                    deadline_us,
                };
                if let Some(prev) = open.insert(*client, w) {
                    close(prev, e.t_us, WindowEnd::Released, &mut done);
                }
            }
            EventKind::Extended { client, deadline } => {
                if let Some(w) = open.get_mut(client) {
                    let clock = clocks.get(&NodeRef::Client(*client));
                    // An extension only counts if it came before the lease ran out.
                    if w.deadline_us.is_none_or(|d| d >= e.t_us || !validity_check) {
                        w.deadline_us = deadline_true_us(clock, *deadline, e.t_us);
                    }
                }
            }
            EventKind::ReleaseInvoke { client } => {
                if let Some(w) = open.remove(client) {
                    close(w, e.t_us, WindowEnd::Released, &mut done);
                }
            }
            EventKind::NodeDown {
                node: NodeRef::Client(client),
            } => {
                if let Some(w) = open.remove(client) {
                    close(w, e.t_us, WindowEnd::Crashed, &mut done);
                }
            }
            _ => {}
        }
    }
    for (_, w) in open {
        close(w, end_of_run, WindowEnd::RunEnded, &mut done);
    }
    done.sort_by_key(|w| (w.start_us, w.client, w.cycle));
    done
}

/// Pairs of windows of different clients that overlap, merged per pair.
pub fn lock_level(windows: &[Window]) -> Vec<Violation> {
    let mut found: Vec<Violation> = Vec::new();
    for (i, a) in windows.iter().enumerate() {
        for b in &windows[i + 1..] {
            if b.start_us >= a.end_us {
                continue;
            }
            if a.client == b.client || b.end_us <= a.start_us {
                continue;
            }
            let from_us = a.start_us.max(b.start_us);
            let to_us = a.end_us.min(b.end_us);
            found.push(Violation {
                kind: ViolationKind::L,
                clients: [a.client, b.client],
                from_us,
                to_us,
            });
        }
    }
    found
}

/// Stale writes, as violations (merged per pair of sessions), plus the
/// count of stale and fenced writes.
pub fn resource_level(events: &[Event]) -> (Vec<Violation>, u64, u64) {
    let mut session_client: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
    let mut newest: Option<u64> = None;
    let mut by_pair: BTreeMap<(u64, u64), Violation> = BTreeMap::new();
    let (mut stale, mut fenced) = (0, 0);
    for e in events {
        match e.kind {
            EventKind::ResourceBegin {
                client, session, ..
            } => {
                session_client.insert(session, (client, e.t_us));
                newest = Some(newest.map_or(session, |n: u64| n.max(session)));
            }
            EventKind::ResourceWrite {
                client,
                session,
                outcome,
                ..
            } => match outcome {
                WriteOutcome::Fenced => fenced += 1,
                WriteOutcome::Accepted => {}
                WriteOutcome::Stale => {
                    stale += 1;
                    let Some(n) = newest else { continue };
                    let (other, began_us) = session_client[&n];
                    by_pair
                        .entry((session, n))
                        .and_modify(|v| v.to_us = e.t_us)
                        .or_insert(Violation {
                            kind: ViolationKind::R,
                            clients: [client, other],
                            from_us: began_us,
                            to_us: e.t_us,
                        });
                }
            },
            _ => {}
        }
    }
    (by_pair.into_values().collect(), stale, fenced)
}

/// Clients that did not finish.
pub fn liveness(events: &[Event], clients: usize) -> Vec<usize> {
    let mut finished = vec![false; clients];
    for e in events {
        if let EventKind::ClientDone { client } = e.kind {
            if let Some(f) = finished.get_mut(client) {
                *f = true;
            }
        }
    }
    (0..clients).filter(|&c| !finished[c]).collect()
}
