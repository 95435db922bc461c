//! The spans a timeline's faults open and later events close (pauses,
//! downtimes, partitions, sessions, acquire attempts), the fault marks,
//! and the leases and violation causes taken from the oracle.

use super::lanes::*;
use crate::history::EventKind;
use crate::model::{Fault, NodeRef, Scenario, Trigger};
use crate::oracle::Violation;
use crate::report::describe;
use crate::world::run::Outcome;
use std::collections::BTreeMap;

/// Spans opened by one event and closed by a later one, per node.
#[derive(Default)]
pub(super) struct Opens {
    pub(super) pauses: BTreeMap<NodeRef, u64>,
    pub(super) downs: BTreeMap<NodeRef, u64>,
    pub(super) partitions: Vec<(u64, Vec<Vec<NodeRef>>, usize)>,
    pub(super) sessions: BTreeMap<(usize, u64), Session>,
    pub(super) attempts: BTreeMap<usize, u64>,
    /// The resource's newest session has not ended.
    pub(super) newest_open: bool,
    /// The lock key.
    pub(super) key: String,
    /// What a restart without a load event means.
    pub(super) restart_text: &'static str,
    /// Each Redis node's current role.
    pub(super) roles: BTreeMap<usize, String>,
}

pub(super) fn fault_injected(
    m: &mut Model,
    o: &mut Opens,
    t: u64,
    fault: &Fault,
    cause: Option<Trigger>,
) {
    let no = m.faults.len() + 1;
    m.faults.push(FaultMark {
        no,
        t_us: t,
        fault: fault.clone(),
        cause,
        nodes: describe::fault_nodes(fault),
    });
    match fault {
        Fault::Pause { node, .. } if !o.downs.contains_key(node) => {
            o.pauses.entry(*node).or_insert(t);
        }
        Fault::ClockJump { node, by_ms } => {
            if let Some(mk) = m.marks_mut(*node) {
                mk.jumps.push((t, *by_ms));
            }
        }
        Fault::ClockDrift { node, ppm } => {
            if let Some(mk) = m.marks_mut(*node) {
                mk.drifts.push((t, *ppm));
            }
        }
        Fault::Partition { groups, .. } => o.partitions.push((t, groups.clone(), no)),
        Fault::Heal => close_partitions(m, o, t),
        _ => {}
    }
}

pub(super) fn close_pause(m: &mut Model, o: &mut Opens, node: NodeRef, t: u64) {
    if let Some(from_us) = o.pauses.remove(&node) {
        if let Some(mk) = m.marks_mut(node) {
            mk.pauses.push(Span { from_us, to_us: t });
        }
    }
}

pub(super) fn close_partitions(m: &mut Model, o: &mut Opens, t: u64) {
    for (from_us, groups, fault_no) in std::mem::take(&mut o.partitions) {
        let span = Span { from_us, to_us: t };
        for n in describe::fault_nodes(&Fault::Partition {
            groups: groups.clone(),
            for_ms: None,
        }) {
            if let Some(mk) = m.marks_mut(n) {
                mk.cut.push(span);
            }
        }
        m.partitions.push(Partition {
            span,
            groups,
            fault_no,
        });
    }
}

pub(super) fn close_all(m: &mut Model, mut o: Opens, end_us: u64) {
    let paused: Vec<NodeRef> = o.pauses.keys().copied().collect();
    for n in paused {
        close_pause(m, &mut o, n, end_us);
    }
    for (n, from_us) in std::mem::take(&mut o.downs) {
        if let Some(mk) = m.marks_mut(n) {
            mk.downs.push(Span {
                from_us,
                to_us: end_us,
            });
        }
    }
    close_partitions(m, &mut o, end_us);
    if o.newest_open {
        if let Some((span, _)) = m.resource.newest.last_mut() {
            span.to_us = end_us;
        }
    }
    for ((client, _), mut s) in o.sessions {
        s.span.to_us = end_us;
        if let Some(l) = m.clients.get_mut(client) {
            l.sessions.push(s);
        }
    }
    for (client, from_us) in o.attempts {
        if let Some(l) = m.clients.get_mut(client) {
            l.attempts.push(Attempt {
                span: Span {
                    from_us,
                    to_us: end_us,
                },
                ok: false,
            });
        }
    }
    for l in &mut m.clients {
        l.sessions.sort_by_key(|s| s.span);
        l.marks.pauses.sort();
        l.marks.downs.sort();
    }
    m.partitions.sort_by_key(|p| (p.span, p.fault_no));
}

/// The oracle's windows, with what each client went on believing after.
pub(super) fn leases(m: &mut Model, scenario: &Scenario, outcome: &Outcome) {
    let events = &outcome.history.events;
    // Per client: the times its lease could end (release, crash).
    let mut ends: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut granted: BTreeMap<(usize, u64), Vec<usize>> = BTreeMap::new();
    for e in events {
        match &e.kind {
            EventKind::ReleaseInvoke { client }
            | EventKind::NodeDown {
                node: NodeRef::Client(client),
            } => ends.entry(*client).or_default().push(e.t_us),
            EventKind::AcquireOk { client, nodes, .. } => {
                granted.insert((*client, e.t_us), nodes.clone());
            }
            _ => {}
        }
    }
    let single = scenario.redis.nodes <= 1;
    for w in &outcome.check.windows {
        let Some(lane) = m.clients.get_mut(w.client) else {
            continue;
        };
        let believed_to_us = ends
            .get(&w.client)
            .and_then(|v| v.iter().find(|&&t| t >= w.start_us).copied())
            .unwrap_or(m.end_us)
            .max(w.end_us);
        lane.leases.push(Lease {
            cycle: w.cycle,
            span: Span {
                from_us: w.start_us,
                to_us: w.end_us,
            },
            believed_to_us,
            deadline_us: w.deadline_us.filter(|&d| d < u64::MAX),
            end: w.end,
            nodes: if single {
                Vec::new()
            } else {
                granted.remove(&(w.client, w.start_us)).unwrap_or_default()
            },
        });
    }
}

/// The faults that set a violation up: the nearest one injected before it
/// began, plus any whose effect (pause, down time, partition) was still on
/// when it began. At most three, in order.
pub(super) fn causes(m: &Model, v: &Violation) -> Vec<usize> {
    let before: Vec<&FaultMark> = m.faults.iter().filter(|f| f.t_us <= v.from_us).collect();
    let mut out: Vec<usize> = before.last().map(|f| f.no).into_iter().collect();
    for f in before.iter().rev() {
        if out.len() >= 3 {
            break;
        }
        if out.contains(&f.no) {
            continue;
        }
        let lasting = f.nodes.iter().any(|&n| {
            let mk = match n {
                NodeRef::Client(i) => m.clients.get(i).map(|l| &l.marks),
                NodeRef::Redis(i) => m.redis.get(i).map(|l| &l.marks),
                NodeRef::Resource => Some(&m.resource.marks),
            };
            mk.is_some_and(|mk| {
                let on = |s: &Span| s.from_us == f.t_us && s.to_us >= v.from_us;
                match f.fault {
                    Fault::Pause { .. } => mk.pauses.iter().any(on),
                    Fault::Kill { .. } | Fault::PowerLoss { .. } => mk.downs.iter().any(on),
                    Fault::Partition { .. } => mk.cut.iter().any(on),
                    _ => false,
                }
            })
        });
        if lasting {
            out.push(f.no);
        }
    }
    out.sort();
    out
}
