//! Decision points: the events of a run after which a fault can change
//! the outcome, and how to place a fault right after each.
//!
//! | point | event | placed with |
//! |---|---|---|
//! | grant | a node applied a client's winning acquire command (the gap between the command's arrival and its reply) | `on = "granted:redis-j:client-i"`, `nth` |
//! | acquire reply | the client learned it holds the lock | `on = "acquired:client-i"`, `nth` |
//! | release | the client starts its release | `on = "released:client-i"`, `nth` |
//! | release read | a release read a reply and has another command to send (a `get-then-del` release's GET came back; its DEL is next) | `on = "replied:client-i"`, `nth` |
//! | renewal | the holder's lease was extended | `on = "renewed:client-i"`, `nth` |
//! | replication | a replica applied its master's stream | `at_ms`, the next whole ms |
//! | fsync | an AOF fsync made writes durable | `at_ms`, the next whole ms |
//! | expiry | a node's copy of the lock key expired | `at_ms`, the next whole ms |
//! | restart | a killed Redis node came back, before it resynced (only in runs a kill is in) | `at_ms`, the next whole ms |
//! | delete | a client's command deleted the lock key on a node (a release applied, its reply maybe still in flight; the point's client is the one whose release began last) | `at_ms`, the next whole ms |
//!
//! Trigger placements land right after their event, before the process
//! that recorded it goes on (`delay_ms = 0`); time placements land at the
//! next whole millisecond, which is what a scenario file can say. A run
//! with one more fault replays the run it was placed on exactly up to the
//! fault (see `world::run`'s fault timer), so a point of one run is a
//! point of the next.

use crate::history::{DiskOp, Event, EventKind, KeyCause};
use crate::model::{NodeRef, Trigger, When};
use std::collections::BTreeMap;
use std::fmt;

/// What kind of event a decision point follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PointKind {
    Grant,
    AcquireReply,
    Release,
    ReleaseRead,
    Renewal,
    Replication,
    Fsync,
    Expiry,
    Delete,
    Restart,
}

impl PointKind {
    pub fn name(self) -> &'static str {
        match self {
            PointKind::Grant => "grant",
            PointKind::AcquireReply => "acquire reply",
            PointKind::Release => "release",
            PointKind::ReleaseRead => "release read",
            PointKind::Renewal => "renewal",
            PointKind::Replication => "replication",
            PointKind::Fsync => "fsync",
            PointKind::Expiry => "expiry",
            PointKind::Delete => "delete",
            PointKind::Restart => "restart",
        }
    }
}

/// One decision point of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// True time of the event, µs.
    pub t_us: u64,
    pub kind: PointKind,
    /// Where a fault placed here is anchored.
    pub when: When,
    /// The node the event happened on.
    pub node: Option<NodeRef>,
    /// The client the event is about (the grantee, the holder), if any.
    pub client: Option<usize>,
}

impl Point {
    /// When a fault placed here takes effect, µs: the event itself for a
    /// trigger, the next whole ms for a time placement.
    pub fn lands_us(&self) -> u64 {
        match self.when {
            When::At { at_ms } => at_ms * 1000,
            When::On { .. } => self.t_us,
        }
    }

    /// Two placements with the same key lead to the same run: the same
    /// instant by the same mechanism.
    pub fn key(&self) -> (u64, bool) {
        (self.lands_us(), matches!(self.when, When::On { .. }))
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = crate::history::fmt_true(self.t_us);
        match (self.when, self.node) {
            (When::On { trigger, nth, .. }, _) => {
                write!(f, "{} at {at} ({trigger} #{nth})", self.kind.name())
            }
            (When::At { at_ms }, Some(n)) => {
                write!(f, "{} on {n} at {at} (at {at_ms} ms)", self.kind.name())
            }
            (When::At { at_ms }, None) => write!(f, "{} at {at} (at {at_ms} ms)", self.kind.name()),
        }
    }
}

/// The decision points of `events` that land at or after `from_us` and
/// before `until_us` (the final heal: no fault starts after it), in
/// history order. The lock key is `key`.
pub fn points(events: &[Event], key: &str, from_us: u64, until_us: u64) -> Vec<Point> {
    let reads = release_reads(events);
    let mut counts: BTreeMap<Trigger, u32> = BTreeMap::new();
    let mut out = Vec::new();
    // The client whose release began last: whose command a delete is.
    let mut releasing = None;
    for (i, e) in events.iter().enumerate() {
        if let EventKind::ReleaseInvoke { client } = e.kind {
            releasing = Some(client);
        }
        let trigger = e.kind.trigger();
        let nth = trigger.map(|t| {
            let n = counts.entry(t).or_insert(0);
            *n += 1;
            *n
        });
        let kind = match &e.kind {
            EventKind::Granted { .. } => PointKind::Grant,
            EventKind::AcquireOk { .. } => PointKind::AcquireReply,
            EventKind::ReleaseInvoke { .. } => PointKind::Release,
            EventKind::CallDone { .. } if reads.contains(&i) => PointKind::ReleaseRead,
            EventKind::Extended { .. } => PointKind::Renewal,
            EventKind::Replicated { .. } => PointKind::Replication,
            EventKind::Disk {
                op: DiskOp::Fsync { .. },
                ..
            } => PointKind::Fsync,
            EventKind::KeyChanged {
                key: k,
                owner: None,
                cause: KeyCause::Expiry,
                ..
            } if k == key => PointKind::Expiry,
            EventKind::KeyChanged {
                key: k,
                owner: None,
                cause: KeyCause::Command,
                ..
            } if k == key => PointKind::Delete,
            EventKind::NodeUp {
                node: NodeRef::Redis(_),
                restart: true,
            } => PointKind::Restart,
            _ => continue,
        };
        let when = match (trigger, nth) {
            (Some(trigger), Some(nth)) => When::On {
                trigger,
                nth,
                delay_ms: 0,
            },
            _ => When::At {
                at_ms: e.t_us / 1000 + 1,
            },
        };
        let client = match trigger {
            Some(t) => Some(t.client()),
            None if kind == PointKind::Delete => releasing,
            None => None,
        };
        let p = Point {
            t_us: e.t_us,
            kind,
            when,
            node: e.node,
            client,
        };
        let lands = p.lands_us();
        if lands >= from_us && lands < until_us {
            out.push(p);
        }
    }
    out
}

/// The indices of the replies a release read before it sent another
/// command: where a pause holds a `get-then-del` release between its GET
/// and its DEL. (Replies after the release's last command, such as the
/// ones of a Redlock's parallel deletes, are not points.)
fn release_reads(events: &[Event]) -> std::collections::BTreeSet<usize> {
    // Per releasing client: its replies not yet followed by a command.
    let mut open: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut out = std::collections::BTreeSet::new();
    for (i, e) in events.iter().enumerate() {
        match e.kind {
            EventKind::ReleaseInvoke { client } => {
                open.insert(client, Vec::new());
            }
            EventKind::CallDone { client, .. } => {
                if let Some(v) = open.get_mut(&client) {
                    v.push(i);
                }
            }
            EventKind::CallInvoke { client, .. } => {
                if let Some(v) = open.get_mut(&client) {
                    out.extend(v.drain(..));
                }
            }
            EventKind::ReleaseDone { client, .. } => {
                open.remove(&client);
            }
            _ => {}
        }
    }
    out
}
