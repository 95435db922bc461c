//! The history of a run: typed events in true-time order.
//!
//! Everything the oracle, the reports and the timeline know comes from here.
//! Each event carries the true time (µs, madsim's global clock), the node it
//! happened on and that node's own clock readings, so a report can show
//! both what happened and what each participant believed. On disk a history
//! is JSON Lines; the FNV-1a hash of those bytes is the run's fingerprint.

use crate::model::{Fault, NodeRef, Trigger};
use locksim_models::{Deadline, Note};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// What the resource did with a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteOutcome {
    /// From the newest session the resource has seen begin.
    Accepted,
    /// Accepted, but from an older session: a resource-level violation.
    Stale,
    /// Rejected because its fencing token is older than the newest seen.
    Fenced,
}

/// How a call ended, from the client's side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallEnd {
    Ok { reply: String },
    Timeout,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventKind {
    /// A node's clock at the start of the run.
    ClockInit {
        offset_ms: i64,
        drift_ppm: f64,
    },
    /// A client starts an acquire (cycle is 0-based).
    AcquireInvoke {
        client: usize,
        cycle: u32,
    },
    /// The acquire returned success; `deadline` is the validity the
    /// algorithm computed on the client's clock.
    AcquireOk {
        client: usize,
        cycle: u32,
        value: String,
        token: Option<i64>,
        deadline: Option<Deadline>,
        nodes: Vec<usize>,
    },
    /// The acquire gave up after its retries.
    AcquireFail {
        client: usize,
        reason: String,
    },
    /// `validity_check`: the deadline had passed when the reply arrived, so
    /// the client treats the acquire as failed and releases.
    AcquireLate {
        client: usize,
    },
    /// The client starts its release; its lease ends here.
    ReleaseInvoke {
        client: usize,
    },
    ReleaseDone {
        client: usize,
        outcome: String,
    },
    /// A client sent a command.
    CallInvoke {
        client: usize,
        node: usize,
        id: u64,
        cmd: String,
    },
    /// The client got a reply, or gave up waiting.
    CallDone {
        client: usize,
        node: usize,
        id: u64,
        end: CallEnd,
    },
    /// A Redis node executed a command.
    Command {
        node: usize,
        client: Option<usize>,
        cmd: String,
        reply: String,
    },
    /// Node `node` accepted client `client`'s write of the lock key.
    Granted {
        node: usize,
        client: usize,
    },
    /// The node's active expiry removed a key.
    Expired {
        node: usize,
        key: String,
    },
    /// Persistence: `what` is `write`, `fsync`, `snapshot`, `load`.
    Disk {
        node: usize,
        what: String,
        detail: String,
    },
    /// A replica applied the master's stream up to `offset`.
    Replicated {
        from: usize,
        to: usize,
        offset: u64,
    },
    /// Sentinel promoted `node`.
    Failover {
        node: usize,
        old_master: usize,
    },
    /// A node changed role (`master`, `replica`).
    Role {
        node: usize,
        role: String,
    },
    /// A fault was injected; `cause` is the trigger that fired it, if any.
    FaultInjected {
        fault: Fault,
        cause: Option<Trigger>,
    },
    /// A fault was undone (resume, restart, partition healed).
    FaultHealed {
        fault: Fault,
    },
    /// A node process started (first boot or restart).
    NodeUp {
        node: NodeRef,
        restart: bool,
    },
    /// A node process stopped (kill, power loss).
    NodeDown {
        node: NodeRef,
    },
    /// The resource saw a session begin.
    ResourceBegin {
        client: usize,
        session: u64,
        token: Option<i64>,
    },
    /// The resource got a write.
    ResourceWrite {
        client: usize,
        session: u64,
        token: Option<i64>,
        outcome: WriteOutcome,
    },
    ResourceEnd {
        client: usize,
        session: u64,
    },
    /// The holder's lease was extended (watchdog renewal, Redlock extend).
    Extended {
        client: usize,
        deadline: Deadline,
    },
    /// Something the algorithm noted (`renewed`, `watchdog stopped`, ...).
    Note {
        client: usize,
        text: String,
    },
    /// A client finished all its cycles.
    ClientDone {
        client: usize,
    },
    /// Every remaining fault was undone (`heal_at`).
    HealAll,
    /// The run ended.
    End {
        clients_done: usize,
    },
}

impl EventKind {
    /// What an algorithm's [`Note`] to its environment becomes in the
    /// history (simulated and live clients alike).
    pub fn from_note(client: usize, note: Note) -> EventKind {
        match note {
            Note::Extended { deadline } => EventKind::Extended { client, deadline },
            Note::Renewed { ok } => EventKind::Note {
                client,
                text: format!("renewal {}", if ok { "ok" } else { "failed" }),
            },
            Note::WatchdogStopped => EventKind::Note {
                client,
                text: "watchdog stopped".into(),
            },
            Note::Info(text) => EventKind::Note { client, text },
        }
    }
}

/// One entry of the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// True time in µs since the start of the run.
    pub t_us: u64,
    /// Where it happened (`None`: the world itself). Serialized as `at`, so
    /// it never collides with an event's own `node` field.
    #[serde(rename = "at")]
    pub node: Option<NodeRef>,
    /// That node's monotonic reading, ms.
    pub mono_ms: Option<u64>,
    /// That node's wall reading, Unix ms.
    pub wall_ms: Option<i64>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The events of one run, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub events: Vec<Event>,
}

impl History {
    /// JSON Lines: one event per line.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::with_capacity(self.events.len() * 120);
        for e in &self.events {
            out.push_str(&serde_json::to_string(e).expect("events serialize"));
            out.push('\n');
        }
        out
    }

    /// Parses JSON Lines written by [`History::to_jsonl`].
    pub fn from_jsonl(text: &str) -> Result<History, String> {
        let mut events = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            events.push(serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?);
        }
        Ok(History { events })
    }

    /// The run's fingerprint: FNV-1a 64 over the JSON Lines bytes, in hex.
    pub fn hash(&self) -> String {
        fnv1a_hex(self.to_jsonl().as_bytes())
    }
}

/// FNV-1a 64-bit, as 16 hex digits.
pub fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut s = String::with_capacity(16);
    let _ = write!(s, "{h:016x}");
    s
}

/// Formats true time in µs as seconds with ms precision: `12.400s`.
pub fn fmt_true(t_us: u64) -> String {
    format!("{}.{:03}s", t_us / 1_000_000, (t_us / 1000) % 1000)
}
