//! The lanes of a timeline, as data: what each client believed, what each
//! Redis node held, what the resource saw, where the faults were.
//! The model module fills them from a run.

pub use super::holders::{Hold, HoldEnd};
use crate::model::WriteOutcome;
use crate::model::{Fault, NodeRef, Trigger};
use crate::oracle::{Violation, WindowEnd};

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
    pub(super) fn marks_mut(&mut self, n: NodeRef) -> Option<&mut NodeMarks> {
        match n {
            NodeRef::Client(i) => self.clients.get_mut(i).map(|l| &mut l.marks),
            NodeRef::Redis(i) => self.redis.get_mut(i).map(|l| &mut l.marks),
            NodeRef::Resource => Some(&mut self.resource.marks),
        }
    }
}
