//! The history of a run: typed events in true-time order.
//!
//! Everything the oracle, the reports and the timeline know comes from
//! here. Each event carries the true time (µs, madsim's global clock), the
//! node it happened on and that node's own clock readings, so a report can
//! show both what happened and what each participant believed.
//!
//! Events are data: a command is its argv bytes, a reply is a RESP value,
//! disk operations, roles and release outcomes are enums. Text is made only
//! when a history is written ([`History::to_jsonl`]) or shown (the reports).
//!
//! Three kinds of event carry the facts that used to be re-derived:
//! - [`EventKind::KeyChanged`]: a node's copy of the lock key changed owner
//!   or expiry, with the [`KeyCause`] (a command, expiry, a crash, a load
//!   from disk, the replication stream, a full resync). Who holds the key on
//!   each node at any time is a fold over these events.
//! - [`EventKind::Granted`]: the algorithm's acquire command *won* the lock
//!   on that node (by the algorithm's own [`locksim_models::Grant`] rule):
//!   a `GETSET` that lost the race writes the key but grants nothing.
//! - [`EventKind::FaultInjected`] is recorded when a fault takes effect;
//!   one that cannot (pausing a node that is down, restarting one that is
//!   up, anything after the final heal) is [`EventKind::FaultSkipped`]
//!   with its [`SkipReason`].
//!
//! # JSON Lines
//!
//! On disk a history is JSON Lines ([`wire`] has the format): one event per
//! line, `{"t_us":..,"at":"redis-0","mono_ms":..,"wall_ms":..,"type":"..",
//! ...fields}`. Commands are arrays of strings, replies read like
//! redis-cli's types (`"+OK"`, `"-ERR .."`, integers, `null`, `"$value"`);
//! a Lua script is written once, on a `{"script":id,"source":..}` line
//! before its first use, and commands name it `{"script":id}`. The FNV-1a
//! hash of those bytes is the run's fingerprint ([`History::hash`]).

pub mod triggers;
pub mod wire;

use crate::model::{Fault, NodeRef, Role, Trigger, WriteOutcome};
use locksim_models::{Argv, Deadline, Note, ReleaseOutcome, Reply};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// How a call ended, from the client's side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallEnd {
    Ok {
        #[serde(with = "wire::reply")]
        reply: Reply,
    },
    Timeout,
}

/// Why a node's copy of a watched key changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyCause {
    /// A client's command (or script) wrote or deleted it.
    Command,
    /// It expired: by the node's active expiry, or logically (a read found
    /// it past its expiry before the active cycle removed it).
    Expiry,
    /// Evicted under `maxmemory`.
    Eviction,
    /// The node's process died: its keyspace is gone.
    Crash,
    /// Loaded from disk at boot.
    Load,
    /// Applied from the master's replication stream.
    Replication,
    /// Replaced by a full resync from a (new) master.
    Resync,
}

/// A persistence operation of a Redis node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum DiskOp {
    /// Boot: the keyspace was loaded from the RDB snapshot (taken `age_ms`
    /// of node wall time earlier) or the AOF (`base` from a full resync,
    /// then `replayed` log entries). `dropped` keys had expired meanwhile.
    Load {
        source: LoadSource,
        keys: usize,
        dropped: Vec<String>,
    },
    /// `appendfsync everysec`: `ops` entries became durable, `synced` in all.
    Fsync { ops: usize, synced: usize },
    /// An RDB snapshot of `keys` keys after `changes` changes.
    Snapshot { keys: usize, changes: u64 },
    /// A full resync's keyspace was stored as the new durable base.
    ResyncStored { keys: usize },
    /// A power loss dropped `ops` written but unsynced AOF entries.
    Lost { ops: usize },
}

/// Where a boot-time load came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum LoadSource {
    Rdb { age_ms: i64 },
    Aof { base: bool, replayed: usize },
}

/// Why a scheduled fault did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Its node is down (crashed and not restarted yet).
    NodeDown,
    /// A restart of a node that is not down.
    NotDown,
    /// A heal with no partition in place.
    NoPartition,
    /// It would land after the final heal (`heal_at`): the last phase
    /// judges liveness, so no fault starts there.
    AfterFinalHeal,
}

impl SkipReason {
    pub fn text(self) -> &'static str {
        match self {
            SkipReason::NodeDown => "the node is down",
            SkipReason::NotDown => "the node is not down",
            SkipReason::NoPartition => "no partition to heal",
            SkipReason::AfterFinalHeal => "after the final heal",
        }
    }
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
    /// algorithm computed on the client's clock; `nodes` are the Redis
    /// nodes (physical: `redis-<i>`) that granted it.
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
        outcome: ReleaseOutcome,
    },
    /// A client sent a command to Redis node `node`.
    CallInvoke {
        client: usize,
        node: usize,
        id: u64,
        #[serde(with = "wire::argv")]
        cmd: Argv,
    },
    /// The client got a reply, or gave up waiting.
    CallDone {
        client: usize,
        node: usize,
        id: u64,
        end: CallEnd,
    },
    /// A Redis node executed a client's command.
    Command {
        node: usize,
        client: usize,
        #[serde(with = "wire::argv")]
        cmd: Argv,
        #[serde(with = "wire::reply")]
        reply: Reply,
    },
    /// Client `client`'s acquire command won the lock on node `node`.
    Granted {
        node: usize,
        client: usize,
    },
    /// Node `node`'s copy of `key` changed: its owner (the value of a
    /// string key, the field of a Redisson hash; `None`: absent) and its
    /// absolute expiry on the node's wall clock.
    KeyChanged {
        node: usize,
        key: String,
        owner: Option<String>,
        expires_ms: Option<i64>,
        cause: KeyCause,
    },
    /// A persistence operation.
    Disk {
        node: usize,
        #[serde(flatten)]
        op: DiskOp,
    },
    /// A replica replaced its keyspace with `master`'s (`keys` keys at
    /// replication offset `offset`).
    FullResync {
        node: usize,
        master: usize,
        keys: usize,
        offset: u64,
    },
    /// A replica applied the master's stream up to `offset`.
    Replicated {
        from: usize,
        to: usize,
        offset: u64,
    },
    /// Sentinel (or, on Redis Cluster, an election) promoted `node`.
    Failover {
        node: usize,
        old_master: usize,
    },
    /// A node was told its role.
    Role {
        node: usize,
        role: Role,
    },
    /// Sentinel pointed a client at the master `master`; on Redis Cluster,
    /// the client's slot map now sends the slots of (one of) the lock's
    /// keys to `master` (after a `MOVED` or a `CLUSTER SLOTS` refresh).
    Redirected {
        client: usize,
        master: usize,
    },
    /// A fault took effect; `cause` is the trigger that fired it, if any.
    FaultInjected {
        fault: Fault,
        cause: Option<Trigger>,
    },
    /// A fault came due but did nothing.
    FaultSkipped {
        fault: Fault,
        cause: Option<Trigger>,
        reason: SkipReason,
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
    /// A watchdog renewal finished; `ok` is whether the lock was extended.
    Renewal {
        client: usize,
        ok: bool,
    },
    /// The watchdog or extension loop stopped extending the lease.
    WatchdogStopped {
        client: usize,
    },
    /// The holder's abort signal was raised: its lease could not be
    /// extended (node-redlock `using`).
    Aborted {
        client: usize,
    },
    /// Something the algorithm noted ("quorum 2/5 failed", ...).
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
    /// A memory-pressure fault's filler reached Redis node `node`: `keys`
    /// filler keys written, `bytes` of them as Redis counts memory,
    /// `evicted` keys evicted meanwhile (the filler's own included);
    /// `refused`: the error a filler write got (the OOM error; READONLY on
    /// a replica), which ends the filler. `used_bytes` is the node's
    /// `used_memory` after.
    FillerWritten {
        node: usize,
        keys: usize,
        bytes: u64,
        evicted: usize,
        refused: Option<String>,
        used_bytes: u64,
    },
    /// Filler keys were deleted from node `node` (the fault's `for_ms`
    /// ended, or the final heal); `used_bytes` is `used_memory` after.
    FillerDeleted {
        node: usize,
        keys: usize,
        used_bytes: u64,
    },
    /// Redis Cluster: `node`'s cluster state became ok or fail (a node in
    /// state fail answers keyed commands with `CLUSTERDOWN`).
    ClusterState {
        node: usize,
        ok: bool,
    },
    /// Redis Cluster: `node` flagged `failed` as FAIL (a majority of the
    /// masters agreed) and told every node it reaches.
    MarkedFail {
        node: usize,
        failed: usize,
    },
    /// Redis Cluster: replica `node` asked for votes in `epoch` and got
    /// `votes` of the `needed` majority.
    Election {
        node: usize,
        epoch: u64,
        votes: usize,
        needed: usize,
    },
}

impl EventKind {
    /// What an algorithm's [`Note`] to its environment becomes in the
    /// history (simulated and live clients alike).
    pub fn from_note(client: usize, note: Note) -> EventKind {
        match note {
            Note::Extended { deadline } => EventKind::Extended { client, deadline },
            Note::Renewed { ok } => EventKind::Renewal { client, ok },
            Note::WatchdogStopped => EventKind::WatchdogStopped { client },
            Note::Aborted => EventKind::Aborted { client },
            Note::Info(text) => EventKind::Note { client, text },
        }
    }

    /// The trigger this event fires, if any.
    pub fn trigger(&self) -> Option<Trigger> {
        match *self {
            EventKind::AcquireOk { client, .. } => Some(Trigger::Acquired { client }),
            EventKind::Granted { node, client } => Some(Trigger::Granted { node, client }),
            EventKind::ReleaseInvoke { client } => Some(Trigger::Released { client }),
            EventKind::Extended { client, .. } => Some(Trigger::Renewed { client }),
            EventKind::CallDone { client, .. } => Some(Trigger::Replied { client }),
            _ => None,
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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub events: Vec<Event>,
}

impl History {
    /// JSON Lines: the scripts a run used (each once, before its first
    /// use), then one event per line. See [`wire`].
    pub fn to_jsonl(&self) -> String {
        wire::to_jsonl(&self.events)
    }

    /// Parses JSON Lines written by [`History::to_jsonl`].
    pub fn from_jsonl(text: &str) -> Result<History, String> {
        wire::from_jsonl(text).map(|events| History { events })
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
