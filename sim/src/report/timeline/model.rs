//! The lanes of a timeline, as data: what each client believed, what each
//! Redis node held, what the resource saw, where the faults were. Built
//! from the history and the oracle's check only; the drawing code never
//! looks at events.

use super::holders::Holders;
pub use super::holders::{Hold, HoldEnd};
use crate::history::{DiskOp, Event, EventKind, KeyCause, LoadSource};
use crate::model::WriteOutcome;
use crate::model::{Fault, NodeRef, Persistence, Scenario, Topology, Trigger};
use crate::oracle::{rebuild_clocks, Violation, WindowEnd};
use crate::report::describe;
use crate::world::run::Outcome;
use std::collections::BTreeMap;

/// A stretch of true time, in µs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub from_us: u64,
    pub to_us: u64,
}

/// What happens to any node: pauses, down time, restarts, clock changes.
#[derive(Clone, Debug, Default)]
pub struct NodeMarks {
    pub pauses: Vec<Span>,
    pub downs: Vec<Span>,
    /// Restarts, with what the node loaded from disk: `restart: aof loaded lock`.
    pub restarts: Vec<(u64, String)>,
    /// Wall-clock jumps: when, by how much.
    pub jumps: Vec<(u64, i64)>,
    /// Drift changes: when, new rate.
    pub drifts: Vec<(u64, f64)>,
    /// Partition cuts touching this node.
    pub cut: Vec<Span>,
}

/// One acquire, from its start to success or giving up.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    pub span: Span,
    pub ok: bool,
}

/// One lease: the oracle's window plus what the client went on believing.
#[derive(Clone, Debug)]
pub struct Lease {
    pub cycle: u32,
    /// The oracle's window.
    pub span: Span,
    /// Until the client started its release (or crashed, or the run ended).
    pub believed_to_us: u64,
    /// The true time its own clock passed the deadline it computed.
    pub deadline_us: Option<u64>,
    pub end: WindowEnd,
    /// The Redis nodes that granted it (Redlock).
    pub nodes: Vec<usize>,
}

/// One critical section as the resource saw it.
#[derive(Clone, Debug)]
pub struct Session {
    pub span: Span,
    pub writes: Vec<(u64, WriteOutcome)>,
}

#[derive(Clone, Debug)]
pub struct ClientLane {
    pub client: usize,
    /// It did not finish its cycles (liveness).
    pub unfinished: bool,
    pub offset_ms: i64,
    pub drift_ppm: f64,
    pub attempts: Vec<Attempt>,
    pub leases: Vec<Lease>,
    pub sessions: Vec<Session>,
    pub marks: NodeMarks,
}

#[derive(Clone, Debug)]
pub struct RedisLane {
    pub node: usize,
    /// The role at the start.
    pub role: String,
    pub holds: Vec<Hold>,
    /// Role changes and failovers: when, what.
    pub roles: Vec<(u64, String)>,
    pub marks: NodeMarks,
}

/// The resource: whose session is the newest one it has seen begin.
#[derive(Clone, Debug, Default)]
pub struct ResourceLane {
    pub newest: Vec<(Span, usize)>,
    pub stale: Vec<(u64, usize)>,
    pub fenced: Vec<(u64, usize)>,
    pub marks: NodeMarks,
}

/// A partition, from injection to heal.
#[derive(Clone, Debug)]
pub struct Partition {
    pub span: Span,
    pub groups: Vec<Vec<NodeRef>>,
    pub fault_no: usize,
}

/// An injected fault, numbered `F1`, `F2`, ... in history order.
#[derive(Clone, Debug)]
pub struct FaultMark {
    pub no: usize,
    pub t_us: u64,
    pub fault: Fault,
    pub cause: Option<Trigger>,
    pub nodes: Vec<NodeRef>,
}

/// A violation and the faults that set it up.
#[derive(Clone, Debug)]
pub struct ViolationMark {
    pub v: Violation,
    /// Fault numbers.
    pub causes: Vec<usize>,
}

/// Everything a timeline shows.
#[derive(Clone, Debug)]
pub struct Model {
    pub end_us: u64,
    pub heal_us: Option<u64>,
    pub clients: Vec<ClientLane>,
    pub redis: Vec<RedisLane>,
    pub resource: ResourceLane,
    pub partitions: Vec<Partition>,
    pub faults: Vec<FaultMark>,
    pub violations: Vec<ViolationMark>,
}

impl Model {
    /// The marks of a node's lane.
    fn marks_mut(&mut self, n: NodeRef) -> Option<&mut NodeMarks> {
        match n {
            NodeRef::Client(i) => self.clients.get_mut(i).map(|l| &mut l.marks),
            NodeRef::Redis(i) => self.redis.get_mut(i).map(|l| &mut l.marks),
            NodeRef::Resource => Some(&mut self.resource.marks),
        }
    }
}

/// Spans opened by one event and closed by a later one, per node.
#[derive(Default)]
struct Opens {
    pauses: BTreeMap<NodeRef, u64>,
    downs: BTreeMap<NodeRef, u64>,
    partitions: Vec<(u64, Vec<Vec<NodeRef>>, usize)>,
    sessions: BTreeMap<(usize, u64), Session>,
    attempts: BTreeMap<usize, u64>,
    /// The resource's newest session has not ended.
    newest_open: bool,
    /// The lock key.
    key: String,
    /// What a restart without a load event means.
    restart_text: &'static str,
    /// Each Redis node's current role.
    roles: BTreeMap<usize, String>,
}

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

fn fault_injected(m: &mut Model, o: &mut Opens, t: u64, fault: &Fault, cause: Option<Trigger>) {
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

fn close_pause(m: &mut Model, o: &mut Opens, node: NodeRef, t: u64) {
    if let Some(from_us) = o.pauses.remove(&node) {
        if let Some(mk) = m.marks_mut(node) {
            mk.pauses.push(Span { from_us, to_us: t });
        }
    }
}

fn close_partitions(m: &mut Model, o: &mut Opens, t: u64) {
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

fn close_all(m: &mut Model, mut o: Opens, end_us: u64) {
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
fn leases(m: &mut Model, scenario: &Scenario, outcome: &Outcome) {
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
fn causes(m: &Model, v: &Violation) -> Vec<usize> {
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
