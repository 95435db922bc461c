//! The lanes of a timeline, built from the history and the oracle's check
//! only; the drawing code never looks at events. The lane types live in
//! [`super::lanes`] (re-exported here), the spans faults open and close
//! in [`super::spans`].

use super::holders::Holders;
pub use super::lanes::*;
use super::spans::{
    causes, close_all, close_partitions, close_pause, fault_injected, leases, Opens,
};
use crate::history::{DiskOp, Event, EventKind, KeyCause, LoadSource};
use crate::model::WriteOutcome;
use crate::model::{Fault, NodeRef, Persistence, Scenario, Topology};
use crate::oracle::rebuild_clocks;
use crate::world::run::Outcome;

fn initial_role(s: &Scenario, node: usize) -> &'static str {
    match s.redis.topology {
        Topology::Sentinel if node > 0 => "replica",
        Topology::Cluster if node >= s.redis.shards => "replica",
        _ => "master",
    }
}

/// Builds the model of one run.
pub fn build(scenario: &Scenario, outcome: &Outcome) -> Model {
    let events = &outcome.history.events;
    let end_us = events.last().map_or(0, |e| e.t_us).max(1);
    let clocks = rebuild_clocks(events);
    let mut m = Model {
        end_us,
        heal_us: None,
        clients: (0..scenario.clients.count)
            .map(|client| ClientLane {
                client,
                unfinished: outcome.check.unfinished.contains(&client),
                offset_ms: 0,
                drift_ppm: 0.0,
                attempts: Vec::new(),
                leases: Vec::new(),
                sessions: Vec::new(),
                marks: NodeMarks::default(),
            })
            .collect(),
        redis: (0..scenario.redis.nodes)
            .map(|node| RedisLane {
                node,
                role: initial_role(scenario, node).into(),
                holds: Vec::new(),
                roles: Vec::new(),
                marks: NodeMarks::default(),
            })
            .collect(),
        resource: ResourceLane::default(),
        partitions: Vec::new(),
        faults: Vec::new(),
        violations: Vec::new(),
    };
    let keys = scenario.lock_keys();
    let mut holders = Holders::new(
        &keys,
        scenario.redis.nodes,
        |n| initial_role(scenario, n) == "replica",
        &clocks,
    );
    let mut opens = Opens {
        key: scenario.lock.key.clone(),
        restart_text: if scenario.redis.persistence == Persistence::None {
            "restart: empty (no persistence)"
        } else {
            "restart"
        },
        roles: m.redis.iter().map(|r| (r.node, r.role.clone())).collect(),
        ..Opens::default()
    };
    for e in events {
        holders.event(e);
        feed(&mut m, &mut opens, e);
    }
    close_all(&mut m, opens, end_us);
    for (lane, holds) in m.redis.iter_mut().zip(holders.finish(end_us)) {
        lane.holds = holds;
    }
    leases(&mut m, scenario, outcome);
    m.violations = outcome
        .check
        .violations
        .iter()
        .map(|v| ViolationMark {
            v: v.clone(),
            causes: causes(&m, v),
        })
        .collect();
    m
}

fn feed(m: &mut Model, o: &mut Opens, e: &Event) {
    let t = e.t_us;
    match &e.kind {
        EventKind::ClockInit {
            offset_ms,
            drift_ppm,
        } => {
            if let Some(NodeRef::Client(c)) = e.node {
                if let Some(l) = m.clients.get_mut(c) {
                    l.offset_ms = *offset_ms;
                    l.drift_ppm = *drift_ppm;
                }
            }
        }
        EventKind::AcquireInvoke { client, .. } => {
            o.attempts.insert(*client, t);
        }
        EventKind::AcquireOk { client, .. }
        | EventKind::AcquireFail { client, .. }
        | EventKind::AcquireLate { client } => {
            let ok = matches!(e.kind, EventKind::AcquireOk { .. });
            if let (Some(from_us), Some(l)) =
                (o.attempts.remove(client), m.clients.get_mut(*client))
            {
                l.attempts.push(Attempt {
                    span: Span { from_us, to_us: t },
                    ok,
                });
            }
        }
        EventKind::ResourceBegin {
            client, session, ..
        } => {
            let s = Session {
                span: Span {
                    from_us: t,
                    to_us: t,
                },
                writes: Vec::new(),
            };
            o.sessions.insert((*client, *session), s);
            if o.newest_open {
                if let Some((span, _)) = m.resource.newest.last_mut() {
                    span.to_us = t;
                }
            }
            o.newest_open = true;
            m.resource.newest.push((
                Span {
                    from_us: t,
                    to_us: t,
                },
                *client,
            ));
        }
        EventKind::ResourceWrite {
            client,
            session,
            outcome,
            ..
        } => {
            if let Some(s) = o.sessions.get_mut(&(*client, *session)) {
                s.writes.push((t, *outcome));
            }
            match outcome {
                WriteOutcome::Stale => m.resource.stale.push((t, *client)),
                WriteOutcome::Fenced => m.resource.fenced.push((t, *client)),
                WriteOutcome::Accepted => {}
            }
        }
        EventKind::ResourceEnd { client, session } => {
            if let Some(mut s) = o.sessions.remove(&(*client, *session)) {
                s.span.to_us = t;
                if let Some(l) = m.clients.get_mut(*client) {
                    l.sessions.push(s);
                }
            }
            if let Some((span, c)) = m.resource.newest.last_mut() {
                if o.newest_open && *c == *client {
                    span.to_us = t;
                    o.newest_open = false;
                }
            }
        }
        EventKind::FaultInjected { fault, cause } => fault_injected(m, o, t, fault, *cause),
        EventKind::FaultHealed { fault } => match fault {
            Fault::Pause { node, .. } => close_pause(m, o, *node, t),
            Fault::Heal | Fault::Partition { .. } => close_partitions(m, o, t),
            _ => {}
        },
        EventKind::HealAll => {
            m.heal_us = Some(t);
            let paused: Vec<NodeRef> = o.pauses.keys().copied().collect();
            for n in paused {
                close_pause(m, o, n, t);
            }
        }
        EventKind::NodeDown { node } => {
            close_pause(m, o, *node, t);
            o.downs.entry(*node).or_insert(t);
        }
        EventKind::NodeUp { node, restart } => {
            if let Some(from_us) = o.downs.remove(node) {
                if let Some(mk) = m.marks_mut(*node) {
                    mk.downs.push(Span { from_us, to_us: t });
                }
            }
            if *restart {
                let text = match node {
                    NodeRef::Redis(_) => o.restart_text,
                    _ => "restart",
                };
                if let Some(mk) = m.marks_mut(*node) {
                    mk.restarts.push((t, text.to_string()));
                }
            }
        }
        EventKind::Disk {
            node,
            op: DiskOp::Load {
                source, dropped, ..
            },
        } => {
            if let Some(l) = m.redis.get_mut(*node) {
                if let Some((_, text)) = l.marks.restarts.last_mut() {
                    *text = restart_summary(source, dropped, &o.key);
                }
            }
        }
        EventKind::KeyChanged {
            node,
            key,
            owner: Some(_),
            cause: KeyCause::Load,
            ..
        } if *key == o.key => {
            if let Some(l) = m.redis.get_mut(*node) {
                if let Some((_, text)) = l.marks.restarts.last_mut() {
                    if let Some(source) = text.strip_suffix(&format!(" had no {key}")) {
                        *text = format!("{source} loaded {key}");
                    }
                }
            }
        }
        EventKind::Role { node, role } => {
            let role = role.to_string();
            let same = o.roles.get(node) == Some(&role);
            o.roles.insert(*node, role.clone());
            if let Some(l) = m.redis.get_mut(*node) {
                let failover_now = l.roles.last().is_some_and(|(at, _)| *at == t);
                if !same && !failover_now {
                    l.roles.push((t, format!("→ {role}")));
                }
            }
        }
        EventKind::Failover { node, old_master } => {
            o.roles.insert(*node, "master".into());
            if let Some(l) = m.redis.get_mut(*node) {
                if l.roles.last().is_some_and(|(at, _)| *at == t) {
                    l.roles.pop();
                }
                l.roles
                    .push((t, format!("→ master (failover from redis-{old_master})")));
            }
        }
        _ => {}
    }
}

/// A restart's label from its load event: `restart: aof had no lock`
/// until a `key-changed` (cause load) says the key came back.
fn restart_summary(source: &LoadSource, dropped: &[String], key: &str) -> String {
    let source = match source {
        LoadSource::Rdb { .. } => "rdb",
        LoadSource::Aof { .. } => "aof",
    };
    if dropped.iter().any(|d| d == key) {
        format!("restart: {source} copy of {key} had expired")
    } else {
        format!("restart: {source} had no {key}")
    }
}
