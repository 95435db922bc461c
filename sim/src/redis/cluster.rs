//! Redis Cluster as one node's keyspace sees it (Redis 7.0): hash slots,
//! the slot ranges `redis-cli --cluster create` hands out, and the checks
//! a cluster node makes before it runs a client's command.
//!
//! - **Slots and ranges**: [`crate::model::slots`] (`keyHashSlot`, and
//!   the ranges `redis-cli --cluster create` hands out).
//! - **Routing** (`getNodeByQuery`, `clusterRedirectClient` in
//!   src/cluster.c, called from `processCommand` after the unknown-command
//!   and arity checks): a command without keys runs anywhere. Otherwise its
//!   keys must share one slot (`-CROSSSLOT Keys in request don't hash to
//!   the same slot`); a node whose cluster state is `fail` refuses it (`-CLUSTERDOWN The
//!   cluster is down`: `cluster-allow-reads-when-down` is `no` by default,
//!   so reads too); a node that does not serve the slot (a replica included:
//!   no client here sends `READONLY`) answers `-MOVED <slot> <ip>:<port>`
//!   with the address of the master it believes serves it.
//! - **Scripts** (`scriptVerifyClusterState`, src/script.c): every
//!   `redis.call` runs the same routing for its own keys; a key another
//!   node serves (or a cross-slot call) fails the call with `Script
//!   attempted to access a non local key in a cluster node`, a cluster that
//!   is down with `Script attempted to execute a command while the cluster
//!   is down`. A `#!lua` script without `allow-cross-slot-keys` may touch
//!   only one slot (`Script attempted to access keys that do not hash to
//!   the same slot`); scripts without a shebang may touch any local slot.
//!   `#!lua flags=no-cluster` is refused on a cluster.
//! - `CLUSTER KEYSLOT`, `CLUSTER SLOTS` (with its 7.0 shape: per range,
//!   start, end, then `[ip, port, id, {}]` of the master and of each
//!   replica) and `CLUSTER MYID`.
//!
//! Not modelled: ASK and TRYAGAIN (no slot ever migrates), `READONLY`
//! clients, pub/sub sharding, `cluster-allow-reads-when-down yes`.

use super::args::{error_line, is};
use super::commands::{self, arity_ok, Cmd, Lookup};
use locksim_models::protocol::Reply;

pub use crate::model::slots::{crc16, key_hash_slot, range_of, slot_ranges, SLOTS};

pub const CROSSSLOT_ERR: &str = "CROSSSLOT Keys in request don't hash to the same slot";
pub const CLUSTERDOWN_ERR: &str = "CLUSTERDOWN The cluster is down";
pub(crate) const SCRIPT_NON_LOCAL: &str =
    "Script attempted to access a non local key in a cluster node";
pub(crate) const SCRIPT_DOWN: &str =
    "Script attempted to execute a command while the cluster is down";
pub(crate) const SCRIPT_CROSS_SLOT: &str =
    "Script attempted to access keys that do not hash to the same slot";
pub(crate) const NO_CLUSTER_ERR: &str =
    "ERR Can not run script on cluster, 'no-cluster' flag is set.";

/// One shard as a cluster node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateShard {
    pub first: u16,
    pub last: u16,
    /// The node this node believes serves the range.
    pub master: usize,
    /// Its replicas as this node believes, those `CLUSTER SLOTS` lists
    /// (`isReplicaAvailable`: not failed, some of the stream applied).
    pub replicas: Vec<usize>,
}

/// Everything about the cluster that decides how one node answers: its
/// own index, every shard as it sees it, every node's address and id,
/// and its cluster state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterGate {
    pub me: usize,
    pub shards: Vec<GateShard>,
    /// Per node: IP, port and 40-character node id.
    pub nodes: Vec<(String, u16, String)>,
    /// `cluster_state:ok`.
    pub ok: bool,
}

impl ClusterGate {
    /// The shard holding `slot`.
    pub fn shard_of_slot(&self, slot: u16) -> Option<&GateShard> {
        self.shards
            .iter()
            .find(|s| s.first <= slot && slot <= s.last)
    }

    fn moved(&self, slot: u16, to: usize) -> Reply {
        let (ip, port, _) = &self.nodes[to];
        Reply::Error(format!("MOVED {slot} {ip}:{port}"))
    }
}

/// A script on a Redis Cluster node: the node's view, whether the script
/// may touch several slots, and the slot it is bound to.
#[derive(Clone, Debug)]
pub(crate) struct ScriptCluster {
    pub gate: std::sync::Arc<ClusterGate>,
    pub allow_cross_slot: bool,
    pub slot: Option<u16>,
}

/// The keys of a command, as one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySlot {
    /// No keys (or not a command that gets that far): runs on any node.
    None,
    Slot(u16),
    /// Keys in different slots.
    Cross,
}

/// C's `atoi`: optional whitespace and sign, then the leading digits.
fn atoi(b: &[u8]) -> i64 {
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = i < b.len() && b[i] == b'-';
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let mut n: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        n = n.saturating_mul(10).saturating_add(i64::from(b[i] - b'0'));
        i += 1;
    }
    if neg {
        -n
    } else {
        n
    }
}

/// The key arguments of a known command with a valid arity (Redis's key
/// specs; `evalGetKeys` reads EVAL's numkeys with `atoi` and finds no
/// keys when it is out of range).
fn keys_of(cmd: Cmd, argv: &[Vec<u8>]) -> &[Vec<u8>] {
    match cmd {
        Cmd::Get
        | Cmd::Set
        | Cmd::SetNx
        | Cmd::GetSet
        | Cmd::Incr
        | Cmd::Expire
        | Cmd::PExpire
        | Cmd::ExpireAt
        | Cmd::PExpireAt
        | Cmd::Ttl
        | Cmd::Pttl
        | Cmd::HSet
        | Cmd::HGet
        | Cmd::HExists
        | Cmd::HIncrBy
        | Cmd::HDel => &argv[1..2],
        Cmd::Del | Cmd::Exists => &argv[1..],
        Cmd::Eval | Cmd::EvalSha => {
            let n = atoi(&argv[2]);
            if n < 1 || n > (argv.len() - 3) as i64 {
                &[]
            } else {
                &argv[3..3 + n as usize]
            }
        }
        _ => &[],
    }
}

/// The slot of a command's keys. Unknown commands and bad arities have
/// none: they fail before routing.
pub fn command_slot(argv: &[Vec<u8>]) -> KeySlot {
    let Lookup::Found(spec) = commands::lookup(argv) else {
        return KeySlot::None;
    };
    if !arity_ok(spec, argv.len()) {
        return KeySlot::None;
    }
    let mut slot = None;
    for k in keys_of(spec.cmd, argv) {
        let s = key_hash_slot(k);
        match slot {
            None => slot = Some(s),
            Some(first) if first != s => return KeySlot::Cross,
            _ => {}
        }
    }
    slot.map_or(KeySlot::None, KeySlot::Slot)
}

/// The slot of a command's first key, if it has keys.
pub fn first_key_slot(argv: &[Vec<u8>]) -> Option<u16> {
    let Lookup::Found(spec) = commands::lookup(argv) else {
        return None;
    };
    if !arity_ok(spec, argv.len()) {
        return None;
    }
    keys_of(spec.cmd, argv).first().map(|k| key_hash_slot(k))
}

/// What a node answers instead of running `argv`, if anything: the
/// `processCommand` cluster check.
pub fn route(gate: &ClusterGate, argv: &[Vec<u8>]) -> Option<Reply> {
    let slot = match command_slot(argv) {
        KeySlot::None => return None,
        KeySlot::Cross => return Some(Reply::error(CROSSSLOT_ERR)),
        KeySlot::Slot(s) => s,
    };
    if !gate.ok {
        return Some(Reply::error(CLUSTERDOWN_ERR));
    }
    let owner = gate.shard_of_slot(slot)?.master;
    (owner != gate.me).then(|| gate.moved(slot, owner))
}

/// What a script's `redis.call` of `argv` is refused with, if anything
/// (`scriptVerifyClusterState`); `slot` is the slot the script is bound
/// to (its declared keys' slot, else the first it touched).
pub(crate) fn script_check(
    gate: &ClusterGate,
    argv: &[Vec<u8>],
    allow_cross_slot: bool,
    slot: &mut Option<u16>,
) -> Result<(), &'static str> {
    let s = match command_slot(argv) {
        KeySlot::None => return Ok(()),
        KeySlot::Cross => return Err(SCRIPT_NON_LOCAL),
        KeySlot::Slot(s) => s,
    };
    if !gate.ok {
        return Err(SCRIPT_DOWN);
    }
    if gate.shard_of_slot(s).map(|g| g.master) != Some(gate.me) {
        return Err(SCRIPT_NON_LOCAL);
    }
    if !allow_cross_slot {
        match *slot {
            None => *slot = Some(s),
            Some(bound) if bound != s => return Err(SCRIPT_CROSS_SLOT),
            _ => {}
        }
    }
    Ok(())
}

/// `CLUSTER <subcommand>`, for the subcommands the model knows; `None`
/// when `argv` is not a CLUSTER command.
pub fn cluster_command(gate: &ClusterGate, argv: &[Vec<u8>]) -> Option<Reply> {
    if !argv.first().is_some_and(|n| is(n, "cluster")) {
        return None;
    }
    if argv.len() < 2 {
        return Some(Reply::error(
            "ERR wrong number of arguments for 'cluster' command",
        ));
    }
    let sub = &argv[1];
    let arity = |n: usize, name: &str| {
        (argv.len() != n).then(|| {
            Reply::error(format!(
                "ERR wrong number of arguments for 'cluster|{name}' command"
            ))
        })
    };
    Some(if is(sub, "keyslot") {
        arity(3, "keyslot").unwrap_or_else(|| Reply::Int(i64::from(key_hash_slot(&argv[2]))))
    } else if is(sub, "slots") {
        arity(2, "slots").unwrap_or_else(|| slots_reply(gate))
    } else if is(sub, "myid") {
        arity(2, "myid").unwrap_or_else(|| Reply::bulk(gate.nodes[gate.me].2.clone()))
    } else {
        let mut line = b"ERR unknown subcommand '".to_vec();
        line.extend_from_slice(sub);
        line.extend_from_slice(b"'. Try CLUSTER HELP.");
        error_line(&line)
    })
}

/// `CLUSTER SLOTS`: per range, in slot order, its first and last slot,
/// then the master and each replica as `[ip, port, id, {}]`.
fn slots_reply(gate: &ClusterGate) -> Reply {
    let node = |i: usize| {
        let (ip, port, id) = &gate.nodes[i];
        Reply::Array(Some(vec![
            Reply::bulk(ip.clone()),
            Reply::Int(i64::from(*port)),
            Reply::bulk(id.clone()),
            Reply::Array(Some(Vec::new())),
        ]))
    };
    let mut shards: Vec<&GateShard> = gate.shards.iter().collect();
    shards.sort_by_key(|s| s.first);
    Reply::Array(Some(
        shards
            .into_iter()
            .map(|s| {
                let mut v = vec![
                    Reply::Int(i64::from(s.first)),
                    Reply::Int(i64::from(s.last)),
                    node(s.master),
                ];
                v.extend(s.replicas.iter().map(|&r| node(r)));
                Reply::Array(Some(v))
            })
            .collect(),
    ))
}

/// The first slot range of a `CLUSTER SLOTS` reply entry and the
/// `ip:port` of its master, as a cluster client reads it.
pub fn parse_slots_reply(reply: &Reply) -> Option<Vec<(u16, u16, String)>> {
    let Reply::Array(Some(entries)) = reply else {
        return None;
    };
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let Reply::Array(Some(parts)) = e else {
            return None;
        };
        let (Some(Reply::Int(a)), Some(Reply::Int(b)), Some(Reply::Array(Some(m)))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            return None;
        };
        let (Some(Reply::Bulk(Some(ip))), Some(Reply::Int(port))) = (m.first(), m.get(1)) else {
            return None;
        };
        let addr = format!("{}:{port}", String::from_utf8_lossy(ip));
        out.push((u16::try_from(*a).ok()?, u16::try_from(*b).ok()?, addr));
    }
    Some(out)
}

/// `MOVED <slot> <ip>:<port>` -> the slot and the address.
pub fn parse_moved(error: &str) -> Option<(u16, &str)> {
    let rest = error.strip_prefix("MOVED ")?;
    let (slot, addr) = rest.split_once(' ')?;
    Some((slot.parse().ok()?, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    fn gate(me: usize, ok: bool) -> ClusterGate {
        let r = slot_ranges(3);
        ClusterGate {
            me,
            shards: (0..3)
                .map(|s| GateShard {
                    first: r[s].0,
                    last: r[s].1,
                    master: s,
                    replicas: vec![3 + s],
                })
                .collect(),
            nodes: (0..6)
                .map(|i| (format!("10.0.0.{}", i + 1), 6379, format!("{i:040}")))
                .collect(),
            ok,
        }
    }

    #[test]
    fn routing_answers_moved_crossslot_and_clusterdown() {
        let g = gate(0, true);
        assert_eq!(
            route(&g, &argv(&["SET", "lock", "x"])),
            Some(Reply::error("MOVED 8718 10.0.0.2:6379"))
        );
        assert_eq!(route(&g, &argv(&["GET", "b"])), None);
        assert_eq!(
            route(&g, &argv(&["DEL", "a", "b"])),
            Some(Reply::error(CROSSSLOT_ERR))
        );
        assert_eq!(route(&g, &argv(&["PING"])), None);
        assert_eq!(route(&g, &argv(&["GET"])), None, "arity first");
        assert_eq!(route(&g, &argv(&["EVAL", "return 1", "0"])), None);
        assert_eq!(route(&g, &argv(&["EVAL", "return 1", "5", "a"])), None);
        assert_eq!(
            route(&g, &argv(&["EVAL", "return 1", "1x", "lock"])),
            Some(Reply::error("MOVED 8718 10.0.0.2:6379")),
            "numkeys is read with atoi"
        );
        let replica = gate(4, true);
        assert_eq!(
            route(&replica, &argv(&["GET", "lock"])),
            Some(Reply::error("MOVED 8718 10.0.0.2:6379"))
        );
        let down = gate(1, false);
        assert_eq!(
            route(&down, &argv(&["GET", "lock"])),
            Some(Reply::error(CLUSTERDOWN_ERR))
        );
        assert_eq!(route(&down, &argv(&["PING"])), None);
    }

    #[test]
    fn scripts_stay_local_and_in_one_slot_unless_allowed() {
        let g = gate(0, true);
        let mut slot = None;
        assert_eq!(
            script_check(&g, &argv(&["get", "lock"]), true, &mut slot),
            Err(SCRIPT_NON_LOCAL)
        );
        assert_eq!(
            script_check(&g, &argv(&["get", "b"]), false, &mut slot),
            Ok(())
        );
        assert_eq!(slot, Some(3300));
        assert_eq!(
            script_check(&g, &argv(&["set", "hello", "1"]), false, &mut slot),
            Err(SCRIPT_CROSS_SLOT)
        );
        assert_eq!(
            script_check(&g, &argv(&["set", "hello", "1"]), true, &mut slot),
            Ok(())
        );
        assert_eq!(
            script_check(&gate(0, false), &argv(&["get", "b"]), true, &mut None),
            Err(SCRIPT_DOWN)
        );
    }

    #[test]
    fn cluster_subcommands_and_the_client_side_parsers() {
        let g = gate(0, true);
        let c = |a: &[&str]| cluster_command(&g, &argv(a));
        assert_eq!(c(&["CLUSTER", "KEYSLOT", "lock"]), Some(Reply::Int(8718)));
        assert_eq!(c(&["GET", "x"]), None);
        let slots = c(&["cluster", "slots"]).unwrap();
        let parsed = parse_slots_reply(&slots).unwrap();
        assert_eq!(parsed[1], (5461, 10922, "10.0.0.2:6379".to_string()));
        assert_eq!(
            c(&["CLUSTER", "NOPE"]),
            Some(Reply::error(
                "ERR unknown subcommand 'NOPE'. Try CLUSTER HELP."
            ))
        );
        assert_eq!(
            parse_moved("MOVED 8718 10.0.0.2:6379"),
            Some((8718, "10.0.0.2:6379"))
        );
        assert_eq!(parse_moved("ERR x"), None);
    }
}
