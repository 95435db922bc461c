//! `[[faults]]` entries: when (`at_ms`, or `on` a trigger), what (`kind`),
//! and the fields each kind takes, checked against the world the rest of
//! the file describes (node names, duration, heal time).

use super::error::{closest, Loc, ScenarioError};
use super::memory;
use super::schema::{FAULT_KEYS, MAX_MS, WHEN_KEYS};
use super::tree::{Entry, Value};
use super::values::{choice, float, int, loc_of, section, string, uint, Cx, Sect};
use crate::model::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Kill,
    PowerLoss,
    Restart,
    Pause,
    Partition,
    Heal,
    ClockJump,
    ClockDrift,
    MemoryPressure,
}

const KINDS: &[(&str, Kind)] = &[
    ("kill", Kind::Kill),
    ("power-loss", Kind::PowerLoss),
    ("restart", Kind::Restart),
    ("pause", Kind::Pause),
    ("partition", Kind::Partition),
    ("heal", Kind::Heal),
    ("clock-jump", Kind::ClockJump),
    ("clock-drift", Kind::ClockDrift),
    ("memory-pressure", Kind::MemoryPressure),
];

impl Kind {
    fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| n)
    }

    /// The fields this kind takes, besides the `WHEN_KEYS` and `kind`.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Kill | Kind::PowerLoss => &["node", "for_ms"],
            Kind::Restart => &["node"],
            Kind::Pause => &["node", "for_ms"],
            Kind::Partition => &["groups", "for_ms"],
            Kind::Heal => &[],
            Kind::ClockJump => &["node", "by_ms"],
            Kind::ClockDrift => &["node", "ppm"],
            Kind::MemoryPressure => &["node", "bytes", "ttl_ms", "for_ms"],
        }
    }
}

/// The `faults` key of the top level: an array of tables, kept in file order.
pub(crate) fn parse_faults(
    cx: &Cx,
    e: &Entry,
    s: &Scenario,
) -> Result<Vec<FaultSpec>, ScenarioError> {
    let hint = "write each fault as a [[faults]] section with kind = \"...\" and at_ms = ... or on = \"...\"";
    let Value::Array(items) = &e.node.value else {
        return Err(cx.err(
            &loc_of(e),
            format!(
                "`faults` must be an array of tables, found {}",
                e.node.value.type_name()
            ),
            hint,
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if !matches!(item.value, Value::Table(_)) {
            return Err(cx.err(
                &item.loc.clone().or_else(|| loc_of(e)),
                format!(
                    "`faults[{i}]` must be a table, found {}",
                    item.value.type_name()
                ),
                hint,
            ));
        }
        let at = item.loc.clone().or_else(|| loc_of(e));
        let t = section(cx, &format!("faults[{i}]"), &at, item, FAULT_KEYS)?;
        out.push(fault(cx, &t, s)?);
    }
    Ok(out)
}

fn start(loc: &Loc) -> usize {
    loc.as_ref().map_or(0, |r| r.start)
}

fn fault(cx: &Cx, t: &Sect, s: &Scenario) -> Result<FaultSpec, ScenarioError> {
    let when = when(cx, t, s)?;
    let kind_names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
    let Some(kind_entry) = t.get("kind") else {
        return Err(cx.err(
            &t.loc,
            format!(
                "missing required key `{}` in a [[faults]] entry",
                t.name("kind")
            ),
            format!("add kind = \"...\", one of: {}", kind_names.join(", ")),
        ));
    };
    let kind = choice(cx, t, kind_entry, "fault kind", KINDS)?;
    for e in t.entries {
        let k = e.key.as_str();
        if k != "kind" && !WHEN_KEYS.contains(&k) && !kind.fields().contains(&k) {
            let takes = if kind.fields().is_empty() {
                format!(
                    "a {} fault takes no other field than kind and its time",
                    kind.name()
                )
            } else {
                format!(
                    "a {} fault takes: {}",
                    kind.name(),
                    kind.fields().join(", ")
                )
            };
            return Err(cx.err(
                &e.key_loc.clone().or_else(|| loc_of(e)),
                format!("`{k}` does not apply to a {} fault", kind.name()),
                takes,
            ));
        }
    }
    let node = |clock: bool| -> Result<NodeRef, ScenarioError> {
        let Some(e) = t.get("node") else {
            return Err(cx.err(
                &loc_of(kind_entry),
                format!("a {} fault needs `node`", kind.name()),
                format!("add node = \"...\", one of: {}", node_names(s)),
            ));
        };
        let n = node_ref(cx, t, e, s)?;
        if clock && n == NodeRef::Resource {
            return Err(cx.err(
                &loc_of(e),
                format!("a {} fault cannot target `resource`", kind.name()),
                "the resource's clock is never read; clock faults apply to redis-<i> and client-<i>",
            ));
        }
        Ok(n)
    };
    let for_ms = |min: u64| -> Result<Option<u64>, ScenarioError> {
        t.get("for_ms")
            .map(|e| uint(cx, t, e, min, MAX_MS))
            .transpose()
    };
    let fault = match kind {
        Kind::Kill => Fault::Kill {
            node: node(false)?,
            for_ms: for_ms(0)?,
        },
        Kind::PowerLoss => Fault::PowerLoss {
            node: node(false)?,
            for_ms: for_ms(0)?,
        },
        Kind::Restart => Fault::Restart { node: node(false)? },
        Kind::Pause => {
            let node = node(false)?;
            let Some(for_ms) = for_ms(1)? else {
                return Err(cx.err(
                    &loc_of(kind_entry),
                    "a pause fault needs `for_ms`",
                    "add for_ms = ... : how long the node stops, in ms (e.g. a 15 s GC pause: for_ms = 15000)",
                ));
            };
            Fault::Pause { node, for_ms }
        }
        Kind::Partition => {
            let Some(e) = t.get("groups") else {
                return Err(cx.err(
                    &loc_of(kind_entry),
                    "a partition fault needs `groups`",
                    "add groups = [[\"redis-0\", \"client-0\"], [\"redis-1\", \"client-1\"]]: links between groups are cut",
                ));
            };
            let groups = groups(cx, t, e, s)?;
            Fault::Partition {
                groups,
                for_ms: for_ms(1)?,
            }
        }
        Kind::Heal => Fault::Heal,
        Kind::ClockJump => {
            let node = node(true)?;
            let Some(e) = t.get("by_ms") else {
                return Err(cx.err(
                    &loc_of(kind_entry),
                    "a clock-jump fault needs `by_ms`",
                    "add by_ms = ... : how far the wall clock steps, in ms (negative steps it back)",
                ));
            };
            let by = int(cx, t, e)?;
            if by == 0 || by.unsigned_abs() > MAX_MS {
                let msg = if by == 0 {
                    "`by_ms` = 0: a clock jump of zero does nothing".to_string()
                } else {
                    format!(
                        "`{}` = {by} is too large (at most {MAX_MS} either way)",
                        t.name("by_ms")
                    )
                };
                return Err(cx.err(&loc_of(e), msg, "by_ms is a non-zero step of the wall clock in ms, e.g. by_ms = 20000 or by_ms = -5000"));
            }
            Fault::ClockJump { node, by_ms: by }
        }
        Kind::ClockDrift => {
            let node = node(true)?;
            let Some(e) = t.get("ppm") else {
                return Err(cx.err(
                    &loc_of(kind_entry),
                    "a clock-drift fault needs `ppm`",
                    "add ppm = ... : the clock's new rate error in parts per million (e.g. ppm = 50000 runs 5% fast)",
                ));
            };
            let ppm = float(cx, t, e)?;
            if ppm.abs() > 1_000_000.0 {
                return Err(cx.err(
                    &loc_of(e),
                    format!("`{}` = {ppm} is out of range", t.name("ppm")),
                    "ppm must be within [-1000000, 1000000] (-1000000 stops the clock)",
                ));
            }
            Fault::ClockDrift { node, ppm }
        }
        Kind::MemoryPressure => memory_pressure(cx, t, kind_entry, s, node(false)?)?,
    };
    Ok(FaultSpec { when, fault })
}

/// `kind = "memory-pressure"`: a Redis node, `bytes`, optional `ttl_ms`
/// and `for_ms`, and a limit to press against.
fn memory_pressure(
    cx: &Cx,
    t: &Sect,
    kind_entry: &Entry,
    s: &Scenario,
    node: NodeRef,
) -> Result<Fault, ScenarioError> {
    if !matches!(node, NodeRef::Redis(_)) {
        let e = t.get("node").expect("node() found it");
        return Err(cx.err(
            &loc_of(e),
            format!("a memory-pressure fault cannot target `{node}`"),
            "memory pressure fills a Redis node's memory: node = \"redis-<i>\"",
        ));
    }
    if s.redis.maxmemory_bytes == 0 {
        return Err(cx.err(
            &loc_of(kind_entry),
            "a memory-pressure fault needs `redis.maxmemory_bytes`",
            memory::PRESSURE_HINT,
        ));
    }
    let Some(e) = t.get("bytes") else {
        return Err(cx.err(
            &loc_of(kind_entry),
            "a memory-pressure fault needs `bytes`",
            "add bytes = ... : how much filler to write, as Redis counts memory (e.g. bytes = 1048576)",
        ));
    };
    let bytes = memory::pressure_bytes(cx, t, e)?;
    let opt = |key: &str| t.get(key).map(|e| uint(cx, t, e, 1, MAX_MS)).transpose();
    Ok(Fault::MemoryPressure {
        node,
        bytes,
        ttl_ms: opt("ttl_ms")?,
        for_ms: opt("for_ms")?,
    })
}

fn when(cx: &Cx, t: &Sect, s: &Scenario) -> Result<When, ScenarioError> {
    let trigger_hint = "a fault fires either at a true time (at_ms = 3000) or on an event (on = \"acquired:client-0\"), not both";
    match (t.get("at_ms"), t.get("on")) {
        (Some(a), Some(o)) => {
            let later = if start(&a.key_loc) > start(&o.key_loc) {
                a
            } else {
                o
            };
            Err(cx.err(
                &later.key_loc,
                "a fault has both `at_ms` and `on`",
                trigger_hint,
            ))
        }
        (None, None) => Err(cx.err(
            &t.loc,
            "a [[faults]] entry needs `at_ms` or `on`",
            "add at_ms = 3000 (true simulated time) or on = \"acquired:client-0\" (an event)",
        )),
        (Some(a), None) => {
            for k in ["nth", "delay_ms"] {
                if let Some(e) = t.get(k) {
                    return Err(cx.err(
                        &e.key_loc,
                        format!(
                            "`{k}` only applies to a fault triggered by an event (on = \"...\")"
                        ),
                        format!("with at_ms the fault fires once, at that time: remove `{k}`"),
                    ));
                }
            }
            let at = uint(cx, t, a, 0, MAX_MS)?;
            let heal = s.heal_ms();
            if at >= s.duration_ms {
                return Err(cx.err(
                    &loc_of(a),
                    format!("`{}` = {at} is not before the end of the run (duration_ms = {})", t.name("at_ms"), s.duration_ms),
                    format!("faults are injected before the final heal at {heal} ms (duration_ms * heal_at)"),
                ));
            }
            if at >= heal {
                return Err(cx.err(
                    &loc_of(a),
                    format!("`{}` = {at} is after the final heal at {heal} ms: the fault would never be injected", t.name("at_ms")),
                    format!("faults are injected before duration_ms * heal_at = {heal} ms; move it earlier or raise heal_at"),
                ));
            }
            Ok(When::At { at_ms: at })
        }
        (None, Some(o)) => {
            let trigger = trigger(cx, t, o, s)?;
            let nth = match t.get("nth") {
                Some(e) => uint(cx, t, e, 1, u32::MAX.into())? as u32,
                None => 1,
            };
            let delay_ms = match t.get("delay_ms") {
                Some(e) => uint(cx, t, e, 0, MAX_MS)?,
                None => 0,
            };
            Ok(When::On {
                trigger,
                nth,
                delay_ms,
            })
        }
    }
}

/// Every node name of `s`, for hints.
fn node_names(s: &Scenario) -> String {
    s.node_refs()
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `name` is not a node of `s`, if it is not.
fn node_problem(name: &str, s: &Scenario) -> Option<String> {
    match NodeRef::parse(name) {
        None => Some(format!("unknown node `{name}`")),
        Some(NodeRef::Redis(i)) if i >= s.redis.nodes => Some(format!(
            "unknown node `{name}`: [redis] nodes = {} makes redis-0 .. redis-{}",
            s.redis.nodes,
            s.redis.nodes - 1
        )),
        Some(NodeRef::Client(i)) if i >= s.clients.count => Some(format!(
            "unknown node `{name}`: [clients] count = {} makes client-0 .. client-{}",
            s.clients.count,
            s.clients.count - 1
        )),
        Some(_) => None,
    }
}

fn node_ref(cx: &Cx, t: &Sect, e: &Entry, s: &Scenario) -> Result<NodeRef, ScenarioError> {
    let name = string(cx, t, e)?;
    check_node(cx, &loc_of(e), name, s)
}

fn check_node(cx: &Cx, at: &Loc, name: &str, s: &Scenario) -> Result<NodeRef, ScenarioError> {
    match node_problem(name, s) {
        Some(msg) => Err(cx.err(at, msg, format!("valid nodes: {}", node_names(s)))),
        None => Ok(NodeRef::parse(name).expect("checked by node_problem")),
    }
}

/// `[["redis-0", "client-0"], ["redis-1"]]`: >= 2 non-empty groups, each
/// node at most once.
fn groups(cx: &Cx, t: &Sect, e: &Entry, s: &Scenario) -> Result<Vec<Vec<NodeRef>>, ScenarioError> {
    let hint = "groups = [[\"redis-0\", \"client-0\"], [\"redis-1\", \"client-1\"]]: at least two non-empty groups of node names";
    let name = t.name("groups");
    let Value::Array(gs) = &e.node.value else {
        return Err(cx.err(
            &loc_of(e),
            format!(
                "`{name}` must be an array of groups, found {}",
                e.node.value.type_name()
            ),
            hint,
        ));
    };
    if gs.len() < 2 {
        return Err(cx.err(
            &loc_of(e),
            format!("a partition needs at least two groups, found {}", gs.len()),
            format!("a partition cuts the links between groups; {hint}"),
        ));
    }
    let mut seen: Vec<NodeRef> = Vec::new();
    let mut out = Vec::with_capacity(gs.len());
    for g in gs {
        let gloc = g.loc.clone().or_else(|| loc_of(e));
        let Value::Array(members) = &g.value else {
            return Err(cx.err(
                &gloc,
                format!(
                    "each group of `{name}` must be an array of node names, found {}",
                    g.value.type_name()
                ),
                hint,
            ));
        };
        if members.is_empty() {
            return Err(cx.err(&gloc, "empty group in a partition", hint));
        }
        let mut group = Vec::with_capacity(members.len());
        for m in members {
            let mloc = m.loc.clone().or_else(|| gloc.clone());
            let Value::Str(n) = &m.value else {
                return Err(cx.err(
                    &mloc,
                    format!(
                        "a group member must be a node name (a string), found {}",
                        m.value.type_name()
                    ),
                    hint,
                ));
            };
            let node = check_node(cx, &mloc, n, s)?;
            if seen.contains(&node) {
                return Err(cx.err(
                    &mloc,
                    format!("node `{n}` is in two groups of the partition"),
                    "each node may be in at most one group (a node in no group keeps all its links)",
                ));
            }
            seen.push(node);
            group.push(node);
        }
        out.push(group);
    }
    Ok(out)
}

const EVENTS: &[&str] = &["acquired", "granted", "released", "renewed", "replied"];
const TRIGGER_HINT: &str =
    "triggers: acquired:client-<i>, granted:redis-<j>:client-<i>, released:client-<i>, renewed:client-<i>, replied:client-<i>";

/// Where byte `offset` of string value `v` is, when the value is written
/// without escapes (else the value's start).
fn inside(cx: &Cx, at: &Loc, v: &str, offset: usize) -> Loc {
    let r = at.as_ref()?;
    let raw = cx.text.get(r.clone())?;
    let plain = raw.len() == v.len() + 2 && raw.get(1..raw.len() - 1) == Some(v);
    if plain {
        Some(r.start + 1 + offset..r.end)
    } else {
        Some(r.clone())
    }
}

fn trigger(cx: &Cx, t: &Sect, e: &Entry, s: &Scenario) -> Result<Trigger, ScenarioError> {
    let v = string(cx, t, e)?;
    let at = loc_of(e);
    let parts: Vec<&str> = v.split(':').collect();
    let event = parts[0];
    if !EVENTS.contains(&event) {
        let hint = match closest(event, EVENTS) {
            Some(c) => format!("did you mean `{c}`? {TRIGGER_HINT}"),
            None => TRIGGER_HINT.to_string(),
        };
        return Err(cx.err(
            &at,
            format!("bad trigger {v:?}: unknown event `{event}`"),
            hint,
        ));
    }
    let want = if event == "granted" { 3 } else { 2 };
    if parts.len() != want {
        let form = if event == "granted" {
            "granted:redis-<j>:client-<i>"
        } else {
            "<event>:client-<i>"
        };
        return Err(cx.err(
            &at,
            format!("bad trigger {v:?}: expected {form}"),
            TRIGGER_HINT,
        ));
    }
    // Byte offset of part k in v; parts are checked left to right.
    let offset = |k: usize| parts[..k].iter().map(|p| p.len() + 1).sum::<usize>();
    let mut node = 0;
    if event == "granted" {
        let node_part = parts[1];
        node = match NodeRef::parse(node_part) {
            Some(NodeRef::Redis(j)) => j,
            other => {
                let hint = if matches!(other, Some(NodeRef::Client(_))) {
                    format!(
                        "the Redis node comes first: granted:{}:{}",
                        parts[2], parts[1]
                    )
                } else {
                    TRIGGER_HINT.to_string()
                };
                return Err(cx.err(
                    &inside(cx, &at, v, offset(1)),
                    format!(
                        "bad trigger {v:?}: `{node_part}` is not a Redis node name (redis-<j>)"
                    ),
                    hint,
                ));
            }
        };
        if let Some(msg) = node_problem(node_part, s) {
            return Err(cx.err(
                &inside(cx, &at, v, offset(1)),
                format!("bad trigger {v:?}: {msg}"),
                format!("valid nodes: {}", node_names(s)),
            ));
        }
    }
    let client_part = parts[want - 1];
    let Some(NodeRef::Client(client)) = NodeRef::parse(client_part) else {
        return Err(cx.err(
            &inside(cx, &at, v, offset(want - 1)),
            format!("bad trigger {v:?}: `{client_part}` is not a client name (client-<i>)"),
            TRIGGER_HINT,
        ));
    };
    if let Some(msg) = node_problem(client_part, s) {
        return Err(cx.err(
            &inside(cx, &at, v, offset(want - 1)),
            format!("bad trigger {v:?}: {msg}"),
            format!("valid clients: {}", client_names(s)),
        ));
    }
    Ok(match event {
        "acquired" => Trigger::Acquired { client },
        "granted" => Trigger::Granted { node, client },
        "released" => Trigger::Released { client },
        "replied" => Trigger::Replied { client },
        _ => Trigger::Renewed { client },
    })
}

fn client_names(s: &Scenario) -> String {
    (0..s.clients.count)
        .map(|i| format!("client-{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
