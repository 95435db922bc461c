//! [`RedisNode`]: one Redis 7.0 server as a pure, deterministic state
//! machine. The caller supplies the node's wall time for every step; the
//! node never reads a clock and never iterates a hash map.

use super::cluster::{self, ClusterGate};
use super::commands::{
    self, arity_error, arity_ok, Cmd, Lookup, Spec, DENYOOM, NOREPLICAS_ERR, READONLY_ERR, WRITE,
};
use super::evict::{self, EvictionPool, MemoryConfig, OOM_ERR};
use super::keyspace::{Ctx, Entry, ExpiryMode, Keyspace, Value};
use super::lua::LuaEngine;
use locksim_models::protocol::{Argv, Reply};
use std::sync::Arc;

pub use crate::model::Role;

/// The outcome of one client command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    /// The reply the client receives.
    pub reply: Reply,
    /// What Redis 7.0 appends to the AOF / replication stream for this
    /// command, in absolute-time form; several operations are wrapped in
    /// `MULTI` / `EXEC`. Evictions come first, one `DEL` each, unwrapped.
    pub effects: Vec<Argv>,
    /// The keys evicted (under `maxmemory`) before the command ran.
    pub evicted: Vec<Vec<u8>>,
}

/// One simulated Redis 7.0 node.
#[derive(Debug, Default)]
pub struct RedisNode {
    pub(super) ks: Keyspace,
    pub(super) role: Role,
    /// Created on the first script command.
    pub(super) lua: Option<Box<LuaEngine>>,
    /// A master with fewer good replicas than `min-replicas-to-write`
    /// (the server says so before each command): writes get `NOREPLICAS`.
    pub(super) too_few_replicas: bool,
    pub(super) memory: MemoryConfig,
    /// The eviction pool (process-wide in Redis).
    pool: EvictionPool,
    /// `server.pre_command_oom_state`, for scripts.
    pub(super) pre_command_oom: bool,
    /// A Redis Cluster node: what it knows of the cluster (see
    /// [`super::cluster`]). `None`: cluster support disabled.
    pub(super) cluster: Option<Arc<ClusterGate>>,
}

/// Wraps a command's propagated operations the way Redis 7.0 does.
fn wrap_multi(mut ops: Vec<Argv>) -> Vec<Argv> {
    if ops.len() > 1 {
        ops.insert(0, vec![b"MULTI".to_vec()]);
        ops.push(vec![b"EXEC".to_vec()]);
    }
    ops
}

impl RedisNode {
    /// An empty master.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn set_role(&mut self, role: Role) {
        self.role = role;
    }

    /// Redis's `checkGoodReplicasStatus` failing: until told otherwise, a
    /// master refuses write commands with `NOREPLICAS` (and a script its
    /// first write). The server that counts the replicas sets it.
    pub fn set_too_few_replicas(&mut self, yes: bool) {
        self.too_few_replicas = yes;
    }

    /// Makes this a Redis Cluster node with this view of the cluster (or
    /// a plain node with `None`).
    pub fn set_cluster(&mut self, gate: Option<Arc<ClusterGate>>) {
        self.cluster = gate;
    }

    /// The view of the cluster this node answers by, if it is a cluster node.
    pub fn cluster(&self) -> Option<&Arc<ClusterGate>> {
        self.cluster.as_ref()
    }

    /// Runs one client command at node wall time `now_ms` (Unix ms). Time
    /// is frozen for the whole command, a whole script included.
    pub fn execute(&mut self, argv: &[Vec<u8>], now_ms: i64) -> Exec {
        let _profile = crate::profile::section(crate::profile::Part::Redis);
        self.ks.set_now(now_ms);
        let mut also = Vec::new();
        let mut evicted = Vec::new();
        let reply = self.dispatch(argv, now_ms, false, &mut also, &mut evicted);
        self.ks.settle();
        let mut effects: Vec<Argv> = evicted
            .iter()
            .map(|k| vec![b"DEL".to_vec(), k.clone()])
            .collect();
        effects.extend(wrap_multi(also));
        Exec {
            reply,
            effects,
            evicted,
        }
    }

    /// Applies one operation of a master's effects (replication stream or
    /// AOF replay): no expiry, no `READONLY`, no reply. `MULTI`, `EXEC` and
    /// `SELECT` are accepted and ignored.
    pub fn apply_effect(&mut self, argv: &[Vec<u8>], now_ms: i64) {
        let _profile = crate::profile::section(crate::profile::Part::Redis);
        if let Some(name) = argv.first() {
            for skip in ["multi", "exec", "select"] {
                if commands::is(name, skip) {
                    return;
                }
            }
        }
        self.ks.set_now(now_ms);
        let mut also = Vec::new();
        self.dispatch(argv, now_ms, true, &mut also, &mut Vec::new());
        self.ks.settle();
    }

    /// Active expiry: removes every key with `now > expiry` (in key order)
    /// and returns one `DEL key` effect for each. A replica does nothing.
    pub fn active_expire(&mut self, now_ms: i64) -> Vec<Argv> {
        let _profile = crate::profile::section(crate::profile::Part::Redis);
        if self.role == Role::Replica {
            return Vec::new();
        }
        self.ks.set_now(now_ms);
        self.ks
            .remove_expired(now_ms)
            .into_iter()
            .map(|k| vec![b"DEL".to_vec(), k])
            .collect()
    }

    /// Earliest absolute expiry of any key, for scheduling active expiry.
    pub fn next_expiry_ms(&self) -> Option<i64> {
        self.ks.next_expiry()
    }

    /// The live value of `key` at `now_ms`, without side effects.
    pub fn peek(&self, key: &[u8], now_ms: i64) -> Option<&Value> {
        self.ks.peek(key, now_ms).map(|e| &e.value)
    }

    /// Absolute expiry of a key, if any (logically expired keys included).
    pub fn expiry_of(&self, key: &[u8]) -> Option<i64> {
        self.ks.get(key).and_then(|e| e.expire)
    }

    /// Every key with its value and absolute expiry, in key order.
    pub fn dump(&self) -> Vec<(Vec<u8>, Value, Option<i64>)> {
        let _profile = crate::profile::section(crate::profile::Part::Redis);
        self.ks
            .iter()
            .map(|(k, e)| (k.clone(), e.value.clone(), e.expire))
            .collect()
    }

    /// A master loaded from a dump. Like Redis loading an RDB file as a
    /// master, keys whose expiry is already past (`expiry < now`) are
    /// skipped. The script cache starts empty, as after a restart.
    pub fn load(entries: Vec<(Vec<u8>, Value, Option<i64>)>, now_ms: i64) -> Self {
        let _profile = crate::profile::section(crate::profile::Part::Redis);
        let mut node = Self::new();
        node.ks.set_now(now_ms);
        for (key, value, expire) in entries {
            if matches!(expire, Some(when) if when < now_ms) {
                continue;
            }
            node.ks.insert(key, Entry::new(value, expire));
        }
        node
    }

    // --- memory ---------------------------------------------------------

    /// Applies `[redis] maxmemory_*` (and the client count's baseline) to
    /// this process, with its random seed (sampling, LFU, the dicts'
    /// hash). Every key starts afresh at `now_ms`, as after a load.
    pub fn set_memory(&mut self, cfg: MemoryConfig, seed: u64, now_ms: i64) {
        self.memory = cfg;
        self.pool = EvictionPool::default();
        self.ks
            .configure(cfg.policy.is_lfu(), cfg.shared_integers(), seed, now_ms);
    }

    /// The memory settings in force.
    pub fn memory(&self) -> MemoryConfig {
        self.memory
    }

    /// `used_memory` as Redis 7.0 would report it: the baseline plus what
    /// the keys and the keyspace dicts cost.
    pub fn used_memory(&self) -> u64 {
        self.memory.baseline_bytes + self.ks.used_bytes()
    }

    /// What `key` costs now (`used_memory` drops by this when it goes,
    /// dict tables aside); `None` if absent.
    pub fn key_bytes(&self, key: &[u8]) -> Option<u64> {
        let e = self.ks.get(key)?;
        let shared = self.memory.shared_integers();
        Some(super::memory::key_bytes(
            key,
            &e.value,
            e.expire.is_some(),
            shared,
        ))
    }

    /// `RESTORE ... IDLETIME idle_s` (LRU) or `FREQ freq` (LFU) on an
    /// existing key, at `now_ms`: sets its access time or counter.
    pub fn restore_access(&mut self, key: &[u8], idle_s: u64, freq: u8, now_ms: i64) -> bool {
        self.ks.set_now(now_ms);
        self.ks.restore_access(key, idle_s, freq)
    }

    /// `OBJECT IDLETIME key` in ms (LRU clock resolution), or `OBJECT FREQ`
    /// under an LFU policy, at `now_ms`; `None` if absent.
    pub fn access_of(&self, key: &[u8], now_ms: i64) -> Option<u64> {
        let e = self.ks.get(key)?;
        Some(if self.memory.policy.is_lfu() {
            u64::from(super::lru::lfu_counter(e.lru, now_ms))
        } else {
            super::lru::idle_ms(e.lru, now_ms)
        })
    }

    /// Deletes `keys` outside any command (no eviction runs, nothing is
    /// touched), as active expiry deletes: one `DEL key` effect for each
    /// key that was there.
    pub fn remove_keys(&mut self, keys: &[Vec<u8>], now_ms: i64) -> Vec<Argv> {
        self.ks.set_now(now_ms);
        keys.iter()
            .filter(|k| self.ks.remove(k).is_some())
            .map(|k| vec![b"DEL".to_vec(), k.clone()])
            .collect()
    }

    /// The keys that start with `prefix`, in key order (logically expired
    /// ones included).
    pub fn keys_with_prefix(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        self.ks
            .iter_from(prefix)
            .take_while(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Number of keys, logically expired ones not yet removed included
    /// (what `DBSIZE` says).
    pub fn len(&self) -> usize {
        self.ks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ks.len() == 0
    }

    /// Redis's `processCommand` + `call`, for a client or (`apply`) for
    /// the master's stream.
    fn dispatch(
        &mut self,
        argv: &[Vec<u8>],
        now: i64,
        apply: bool,
        also: &mut Vec<Argv>,
        evicted: &mut Vec<Vec<u8>>,
    ) -> Reply {
        let gate = if apply { None } else { self.cluster.clone() };
        if let Some(reply) = gate
            .as_deref()
            .and_then(|g| cluster::cluster_command(g, argv))
        {
            return reply;
        }
        let spec = match commands::lookup(argv) {
            Lookup::Found(spec) => spec,
            Lookup::Unknown => return commands::unknown_command_error(argv),
            Lookup::UnknownSubcommand => return commands::unknown_subcommand_error(argv),
        };
        if !arity_ok(spec, argv.len()) {
            return arity_error(spec);
        }
        if let Some(reply) = gate.as_deref().and_then(|g| cluster::route(g, argv)) {
            return reply;
        }
        let replica = self.role == Role::Replica;
        // processCommand's maxmemory step: a replica ignores maxmemory,
        // and nothing is evicted while loading or applying the stream.
        if !apply && !replica && self.memory.maxmemory_bytes > 0 {
            let pending = super::memory::argv_bytes(argv);
            let out = evict::perform(&mut self.ks, &mut self.pool, &self.memory, pending, now);
            evicted.extend(out.evicted);
            if out.out_of_memory && self.is_denyoom(spec, argv) {
                return Reply::error(OOM_ERR);
            }
            self.pre_command_oom = out.out_of_memory;
        } else {
            self.pre_command_oom = false;
        }
        // processCommand's order: NOREPLICAS (a master's check), then
        // READONLY (a replica's).
        if self.too_few_replicas && !replica && !apply && self.is_write(spec, argv) {
            return Reply::error(NOREPLICAS_ERR);
        }
        if replica && !apply && self.is_write(spec, argv) {
            return Reply::error(READONLY_ERR);
        }
        let mode = match (apply, replica) {
            (true, _) => ExpiryMode::Loading,
            (false, true) => ExpiryMode::Replica,
            (false, false) => ExpiryMode::Master,
        };
        // call(): from here the command runs, and has a latency histogram.
        self.ks.note_command(spec.name);
        match spec.cmd {
            Cmd::Eval => self.eval(argv, now, mode, false, also),
            Cmd::EvalSha => self.eval(argv, now, mode, true, also),
            Cmd::Script
            | Cmd::ScriptLoad
            | Cmd::ScriptExists
            | Cmd::ScriptFlush
            | Cmd::ScriptKill
            | Cmd::ScriptHelp => self.script_command(spec.cmd, argv),
            Cmd::Wait => wait(argv, replica),
            cmd => {
                let mut ctx = Ctx {
                    ks: &mut self.ks,
                    now,
                    mode,
                    also,
                    propagate: true,
                };
                commands::run_plain(&mut ctx, cmd, argv)
            }
        }
    }

    /// `CMD_DENYOOM`, with a script's declared flags for EVAL / EVALSHA.
    fn is_denyoom(&mut self, spec: &Spec, argv: &[Vec<u8>]) -> bool {
        if spec.flags & DENYOOM != 0 {
            return true;
        }
        match spec.cmd {
            Cmd::Eval => self.script_denyoom(argv, false),
            Cmd::EvalSha => self.script_denyoom(argv, true),
            _ => false,
        }
    }

    /// Whether a replica must refuse the command: write commands, and
    /// scripts with a `#!lua` shebang that lacks `flags=no-writes`.
    fn is_write(&mut self, spec: &Spec, argv: &[Vec<u8>]) -> bool {
        if spec.flags & WRITE != 0 {
            return true;
        }
        match spec.cmd {
            Cmd::Eval => self.script_may_write(argv, false),
            Cmd::EvalSha => self.script_may_write(argv, true),
            _ => false,
        }
    }
}

/// `WAIT numreplicas timeout`: the pure model has no replicas (the world
/// intercepts WAIT on replicated topologies).
fn wait(argv: &[Vec<u8>], replica: bool) -> Reply {
    if replica {
        return Reply::error(
            "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        );
    }
    if let Err(e) = commands::int_arg(&argv[1]) {
        return e;
    }
    match commands::parse_i64(&argv[2]) {
        None => Reply::error("ERR timeout is not an integer or out of range"),
        Some(t) if t < 0 => Reply::error("ERR timeout is negative"),
        Some(_) => Reply::Int(0),
    }
}
