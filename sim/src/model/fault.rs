//! Faults as data: what happens to whom, and when (at a time, or on an
//! event of the run: a trigger).

use super::node::NodeRef;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A fault: what happens, to whom. Faults are data, recorded in the same
/// history as client operations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// Process crash: unsynced-but-written data survives (page cache).
    /// Down for `for_ms` (default `restart_delay_ms`), then restarted.
    Kill { node: NodeRef, for_ms: Option<u64> },
    /// Machine loses power: only fsynced data survives.
    PowerLoss { node: NodeRef, for_ms: Option<u64> },
    /// Start a crashed node now.
    Restart { node: NodeRef },
    /// Stop-the-world pause (GC, VM steal) of `for_ms`.
    Pause { node: NodeRef, for_ms: u64 },
    /// Cut every link between nodes of different groups; heal after `for_ms`
    /// if given, else at `heal` or the final heal.
    Partition {
        groups: Vec<Vec<NodeRef>>,
        for_ms: Option<u64>,
    },
    /// Undo every partition.
    Heal,
    /// Step the node's wall clock by `by_ms` (may be negative).
    ClockJump { node: NodeRef, by_ms: i64 },
    /// Set the node's clock rate to `ppm`.
    ClockDrift { node: NodeRef, ppm: f64 },
    /// Other data fills Redis node `node`: filler keys of `bytes` in all
    /// (as Redis counts memory), with a TTL of `ttl_ms` if given, deleted
    /// again after `for_ms` if given (else at the final heal).
    MemoryPressure {
        node: NodeRef,
        bytes: u64,
        ttl_ms: Option<u64>,
        for_ms: Option<u64>,
    },
}

impl Fault {
    /// The scenario-file name of the fault kind.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Fault::Kill { .. } => "kill",
            Fault::PowerLoss { .. } => "power-loss",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Partition { .. } => "partition",
            Fault::Heal => "heal",
            Fault::ClockJump { .. } => "clock-jump",
            Fault::ClockDrift { .. } => "clock-drift",
            Fault::MemoryPressure { .. } => "memory-pressure",
        }
    }
}

/// An event of the run that can trigger a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "kebab-case")]
pub enum Trigger {
    /// `acquired:client-i`: client i's acquire returned success.
    Acquired { client: usize },
    /// `granted:redis-j:client-i`: client i's acquire command won the lock
    /// on node j (by the algorithm's `Grant` rule), as node j applied it.
    Granted { node: usize, client: usize },
    /// `released:client-i`: client i starts its release.
    Released { client: usize },
    /// `renewed:client-i`: client i's watchdog renewed the lock.
    Renewed { client: usize },
    /// `replied:client-i`: client i read the reply to one of its commands
    /// (or gave up waiting for it); `nth` counts all of them. `locksim
    /// check` places faults here between two commands of one release (a
    /// `get-then-del` release's GET, before its DEL goes out).
    Replied { client: usize },
}

impl Trigger {
    /// The client whose event it is.
    pub fn client(self) -> usize {
        match self {
            Trigger::Acquired { client }
            | Trigger::Granted { client, .. }
            | Trigger::Released { client }
            | Trigger::Renewed { client }
            | Trigger::Replied { client } => client,
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Acquired { client } => write!(f, "acquired:client-{client}"),
            Trigger::Granted { node, client } => write!(f, "granted:redis-{node}:client-{client}"),
            Trigger::Released { client } => write!(f, "released:client-{client}"),
            Trigger::Renewed { client } => write!(f, "renewed:client-{client}"),
            Trigger::Replied { client } => write!(f, "replied:client-{client}"),
        }
    }
}

/// When a fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum When {
    /// At this true simulated time.
    At { at_ms: u64 },
    /// `delay_ms` after the `nth` (1-based) occurrence of `trigger`.
    On {
        trigger: Trigger,
        nth: u32,
        delay_ms: u64,
    },
}

/// One `[[faults]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub when: When,
    pub fault: Fault,
}

/// Building a fault schedule in code (what a `[[faults]]` entry says).
impl FaultSpec {
    /// `fault` at `at_ms` of true time (`at_ms = ...`).
    pub fn at(at_ms: u64, fault: Fault) -> FaultSpec {
        FaultSpec {
            when: When::At { at_ms },
            fault,
        }
    }

    /// `fault` right after the first `trigger` (`on = "..."`).
    pub fn on(trigger: Trigger, fault: Fault) -> FaultSpec {
        FaultSpec {
            when: When::On {
                trigger,
                nth: 1,
                delay_ms: 0,
            },
            fault,
        }
    }

    /// After the `nth` (1-based) occurrence of the trigger instead (`nth = N`).
    /// No effect on an `at` fault.
    pub fn nth(mut self, n: u32) -> FaultSpec {
        if let When::On { nth, .. } = &mut self.when {
            *nth = n;
        }
        self
    }

    /// `ms` after the trigger instead of right after it (`delay_ms = ...`).
    /// No effect on an `at` fault.
    pub fn delay_ms(mut self, ms: u64) -> FaultSpec {
        if let When::On { delay_ms, .. } = &mut self.when {
            *delay_ms = ms;
        }
        self
    }
}
