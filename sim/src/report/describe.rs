//! Short human descriptions shared by every report: durations, clock
//! readings, faults and their triggers, Redis commands.
//!
//! All formatting here is integer-based (no float `Display` whose last
//! digit could differ), so reports stay byte-identical across runs.

use crate::history::{DiskOp, KeyCause, LoadSource};
use crate::model::clock::{MONO_EPOCH_MS, WALL_EPOCH_MS};
use crate::model::{Fault, NodeRef, Scenario, Trigger, When};
use locksim_models::Reply;

/// A duration in ms, the way a person says it: `250 ms`, `15 s`, `1.5 s`.
pub fn dur_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else if ms.is_multiple_of(100) {
        format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
    } else {
        format!("{}.{:03} s", ms / 1000, ms % 1000)
    }
}

/// A signed duration in ms: `+20 s`, `-40 ms`.
pub fn signed_ms(ms: i64) -> String {
    let sign = if ms < 0 { '-' } else { '+' };
    format!("{sign}{}", dur_ms(ms.unsigned_abs()))
}

/// A length of true time in µs as seconds with ms precision: `4.759 s`.
pub fn span_us(us: u64) -> String {
    format!("{}.{:03} s", us / 1_000_000, (us / 1000) % 1000)
}

/// A monotonic reading as seconds since the clock's epoch: `12.345`
/// (negative offsets can make it `-0.120`).
pub fn mono(mono_ms: u64) -> String {
    signed_secs(mono_ms as i64 - MONO_EPOCH_MS, false)
}

/// A wall reading as UTC time of day: `22:13:30.012` (the simulated epoch
/// is 2023-11-14T22:13:20Z).
pub fn wall(wall_ms: i64) -> String {
    let day_ms = wall_ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        (day_ms / 60_000) % 60,
        (day_ms / 1000) % 60,
        day_ms % 1000
    )
}

/// How far a wall reading is from true time, in seconds: `+20.000`.
pub fn wall_skew(wall_ms: i64, t_us: u64) -> String {
    signed_secs(wall_ms - WALL_EPOCH_MS - (t_us / 1000) as i64, true)
}

/// `ms` as seconds with three decimals, with an explicit `+` if asked.
pub fn signed_secs(ms: i64, plus: bool) -> String {
    let sign = if ms < 0 {
        "-"
    } else if plus {
        "+"
    } else {
        ""
    };
    let a = ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

/// A ppm rate without float noise: `-40 ppm`, `+12.5 ppm`.
pub fn ppm(p: f64) -> String {
    let tenths = (p * 10.0).round() as i64;
    let sign = if tenths < 0 { "-" } else { "+" };
    let a = tenths.unsigned_abs();
    if a.is_multiple_of(10) {
        format!("{sign}{} ppm", a / 10)
    } else {
        format!("{sign}{}.{} ppm", a / 10, a % 10)
    }
}

fn group_text(g: &[NodeRef]) -> String {
    let names: Vec<String> = g.iter().map(|n| n.to_string()).collect();
    format!("{{{}}}", names.join(", "))
}

/// The fault in a few words: `clock-jump redis-2 +20 s`.
pub fn fault(f: &Fault) -> String {
    match f {
        Fault::Kill { node, for_ms } => match for_ms {
            Some(ms) if *ms > 0 => format!("kill {node} (down {})", dur_ms(*ms)),
            _ => format!("kill {node}"),
        },
        Fault::PowerLoss { node, for_ms } => match for_ms {
            Some(ms) if *ms > 0 => format!("power-loss {node} (down {})", dur_ms(*ms)),
            _ => format!("power-loss {node}"),
        },
        Fault::Restart { node } => format!("restart {node}"),
        Fault::Pause { node, for_ms } => format!("pause {node} {}", dur_ms(*for_ms)),
        Fault::Partition { groups, for_ms } => {
            let gs: Vec<String> = groups.iter().map(|g| group_text(g)).collect();
            match for_ms {
                Some(ms) => format!("partition {} for {}", gs.join(" | "), dur_ms(*ms)),
                None => format!("partition {}", gs.join(" | ")),
            }
        }
        Fault::Heal => "heal partitions".into(),
        Fault::ClockJump { node, by_ms } => format!("clock-jump {node} {}", signed_ms(*by_ms)),
        Fault::ClockDrift { node, ppm: p } => format!("clock-drift {node} {}", ppm(*p)),
        Fault::MemoryPressure {
            node,
            bytes: b,
            ttl_ms,
            for_ms,
        } => {
            let mut t = format!("memory-pressure {node} {} of filler", bytes(*b));
            if let Some(ttl) = ttl_ms {
                t.push_str(&format!(" (TTL {})", dur_ms(*ttl)));
            }
            if let Some(ms) = for_ms {
                t.push_str(&format!(" for {}", dur_ms(*ms)));
            }
            t
        }
    }
}

/// A size in bytes without float noise: `512 B`, `64 KiB`, `1.5 MiB`.
pub fn bytes(b: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if b >= unit {
            let tenths = (b * 10 + unit / 2) / unit;
            return if tenths.is_multiple_of(10) {
                format!("{} {name}", tenths / 10)
            } else {
                format!("{}.{} {name}", tenths / 10, tenths % 10)
            };
        }
    }
    format!("{b} B")
}

/// A very short form for SVG badges: `jump +20 s`, `pause 15 s`.
pub fn fault_short(f: &Fault) -> String {
    match f {
        Fault::Kill { .. } => "kill".into(),
        Fault::PowerLoss { .. } => "power-loss".into(),
        Fault::Restart { .. } => "restart".into(),
        Fault::Pause { for_ms, .. } => format!("pause {}", dur_ms(*for_ms)),
        Fault::Partition { .. } => "partition".into(),
        Fault::Heal => "heal".into(),
        Fault::ClockJump { by_ms, .. } => format!("jump {}", signed_ms(*by_ms)),
        Fault::ClockDrift { ppm: p, .. } => format!("drift {}", ppm(*p)),
        Fault::MemoryPressure { bytes: b, .. } => format!("memory +{}", bytes(*b)),
    }
}

/// The nodes a fault acts on (every node named in a partition).
pub fn fault_nodes(f: &Fault) -> Vec<NodeRef> {
    match f {
        Fault::Kill { node, .. }
        | Fault::PowerLoss { node, .. }
        | Fault::Restart { node }
        | Fault::Pause { node, .. }
        | Fault::ClockJump { node, .. }
        | Fault::ClockDrift { node, .. }
        | Fault::MemoryPressure { node, .. } => vec![*node],
        Fault::Partition { groups, .. } => {
            let mut v: Vec<NodeRef> = groups.iter().flatten().copied().collect();
            v.sort();
            v.dedup();
            v
        }
        Fault::Heal => Vec::new(),
    }
}

/// What fired a fault: `at 3000 ms` or `on acquired:client-0 (+100 ms)`,
/// looked up in the scenario's schedule.
pub fn trigger(scenario: &Scenario, f: &Fault, cause: Option<Trigger>) -> String {
    let spec = scenario.faults.iter().find(|s| {
        &s.fault == f
            && match (s.when, cause) {
                (When::On { trigger, .. }, Some(c)) => trigger == c,
                (When::At { .. }, None) => true,
                _ => false,
            }
    });
    match (spec.map(|s| s.when), cause) {
        (Some(When::At { at_ms }), _) => format!("at {at_ms} ms"),
        (Some(When::On { nth, delay_ms, .. }), Some(c)) => {
            let nth = if nth > 1 {
                format!(" #{nth}")
            } else {
                String::new()
            };
            if delay_ms > 0 {
                format!("on {c}{nth} + {}", dur_ms(delay_ms))
            } else {
                format!("on {c}{nth}")
            }
        }
        (_, Some(c)) => format!("on {c}"),
        (_, None) => "nemesis".into(),
    }
}

/// A lock value (or a Redisson field) shortened for reading.
pub fn short_value(v: &str) -> String {
    short_word(v)
}

/// A lock value or random token shortened for reading: 32 hex digits
/// become their first 6 and an ellipsis.
fn short_word(w: &str) -> String {
    if w.len() >= 16 && w.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("{}…", &w[..6])
    } else if w.chars().count() > 40 {
        let head: String = w.chars().take(37).collect();
        format!("{head}…")
    } else {
        w.to_string()
    }
}

/// The scripts a run can send, so a history's scripts can be named and
/// their Redis calls known: the models' scripts and the scenario's
/// overrides.
#[derive(Clone, Debug)]
pub struct Scripts {
    known: Vec<(u32, String)>,
}

impl Scripts {
    pub fn new(scenario: &Scenario) -> Scripts {
        use locksim_models::{redlock, set_nx_px, watchdog};
        let mut known: Vec<(u32, String)> = Vec::new();
        let mut add = |name: &str, src: &str| {
            let id = script_id(src.as_bytes());
            if !known.iter().any(|(k, _)| *k == id) {
                known.push((id, name.to_string()));
            }
        };
        let l = &scenario.lock;
        for (name, src) in [
            ("script_acquire", &l.script_acquire),
            ("script_release", &l.script_release),
            ("script_renew", &l.script_renew),
        ] {
            if let Some(src) = src {
                add(name, src);
            }
        }
        add("compare-and-delete", set_nx_px::RELEASE_SCRIPT);
        add("set-nx-px + incr token", set_nx_px::FENCED_ACQUIRE_SCRIPT);
        add("compare-and-pexpire", redlock::EXTEND_SCRIPT);
        add("redisson acquire", watchdog::ACQUIRE_SCRIPT);
        add("redisson renew", watchdog::RENEW_SCRIPT);
        add("redisson unlock", watchdog::UNLOCK_SCRIPT);
        Scripts { known }
    }

    /// A readable name: `compare-and-delete`, or `lua: get,del` for a
    /// script the run's scenario does not name.
    pub fn name(&self, source: &[u8]) -> String {
        let id = script_id(source);
        match self.known.iter().find(|(k, _)| *k == id) {
            Some((_, n)) => n.clone(),
            None => format!("lua: {}", script_calls(&String::from_utf8_lossy(source))),
        }
    }
}

fn script_id(source: &[u8]) -> u32 {
    locksim_models::protocol::script_id(source)
}

/// A command as a person reads it: long values cut, Lua scripts named
/// (`EVAL «compare-and-delete» 1 lock 27be83…`).
pub fn command(argv: &[Vec<u8>], scripts: &Scripts) -> String {
    let is_eval = argv
        .first()
        .is_some_and(|c| c.eq_ignore_ascii_case(b"EVAL"));
    let words: Vec<String> = argv
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if is_eval && i == 1 {
                format!("«{}»", scripts.name(a))
            } else {
                short_word(&String::from_utf8_lossy(a))
            }
        })
        .collect();
    words.join(" ")
}

/// A reply on one line, as redis-cli shows it (arrays in brackets).
pub fn reply(r: &Reply) -> String {
    match r {
        Reply::Array(Some(items)) => {
            let parts: Vec<String> = items.iter().map(reply).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_cli(),
    }
}

/// The Redis commands a script calls, in first-use order: `get,del`.
pub fn script_calls(script: &str) -> String {
    const CALLS: [&str; 15] = [
        "exists", "hexists", "hincrby", "hset", "hget", "hdel", "getset", "get", "set", "del",
        "pexpire", "expire", "pttl", "incr", "publish",
    ];
    let lower = script.to_ascii_lowercase();
    let mut found: Vec<(usize, &str)> = Vec::new();
    for name in CALLS {
        let quoted = [
            format!("\\\"{name}\\\""),
            format!("\"{name}\""),
            format!("'{name}'"),
        ];
        if let Some(pos) = quoted.iter().filter_map(|q| lower.find(q.as_str())).min() {
            found.push((pos, name));
        }
    }
    found.sort();
    if found.is_empty() {
        return "script".into();
    }
    found.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(",")
}

/// A `key-changed` line: the causes a command line does not already show.
pub fn key_changed_text(
    key: &str,
    owner: Option<&str>,
    expires_ms: Option<i64>,
    cause: KeyCause,
) -> (char, String) {
    let why = match cause {
        KeyCause::Command => "by a command",
        KeyCause::Expiry => "by expiry",
        KeyCause::Eviction => "EVICTED under maxmemory",
        KeyCause::Crash => "by the crash",
        KeyCause::Load => "by the load from disk",
        KeyCause::Replication => "by the master's stream",
        KeyCause::Resync => "by a full resync",
    };
    let what = match owner {
        None => "gone".to_string(),
        Some(o) => {
            let until = expires_ms
                .map(|w| format!(" until {}", wall(w)))
                .unwrap_or_default();
            format!("held by {}{until}", short_value(o))
        }
    };
    ('k', format!("`{key}` {what} ({why})"))
}

/// A persistence operation in words.
pub fn disk_text(op: &DiskOp) -> String {
    match op {
        DiskOp::Load {
            source,
            keys,
            dropped,
        } => {
            let from = match source {
                LoadSource::Rdb { age_ms } => {
                    format!("rdb taken {} earlier", dur_ms(*age_ms as u64))
                }
                LoadSource::Aof { base, replayed } => format!(
                    "aof{}, {replayed} op(s) replayed",
                    if *base { " (base + log)" } else { "" }
                ),
            };
            let gone = if dropped.is_empty() {
                String::new()
            } else {
                format!("; dropped expired: {}", dropped.join(", "))
            };
            format!("load: {from}: {keys} key(s){gone}")
        }
        DiskOp::Fsync { ops, synced } => {
            format!("fsync: {ops} op(s) made durable, {synced} synced")
        }
        DiskOp::Snapshot { keys, changes } => {
            format!("snapshot: rdb of {keys} key(s) after {changes} change(s)")
        }
        DiskOp::ResyncStored { keys } => format!("snapshot: full resync stored, {keys} key(s)"),
        DiskOp::Lost { ops } => format!("lost: power loss dropped {ops} unsynced aof op(s)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locksim_models::argv;

    #[test]
    fn durations_and_clocks_read_naturally() {
        assert_eq!(dur_ms(250), "250 ms");
        assert_eq!(dur_ms(15_000), "15 s");
        assert_eq!(dur_ms(1500), "1.5 s");
        assert_eq!(signed_ms(-40), "-40 ms");
        assert_eq!(signed_ms(20_000), "+20 s");
        assert_eq!(wall(WALL_EPOCH_MS + 10_012), "22:13:30.012");
        assert_eq!(mono(MONO_EPOCH_MS as u64 + 12_345), "12.345");
        assert_eq!(wall_skew(WALL_EPOCH_MS + 25_000, 5_000_000), "+20.000");
        assert_eq!(ppm(-40.0), "-40 ppm");
        assert_eq!(ppm(12.5), "+12.5 ppm");
    }

    #[test]
    fn scripts_and_values_are_shortened() {
        let text = "name = \"x\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"set-nx-px\"\n";
        let s = crate::scenario::parse_scenario(text, "x.toml").unwrap_or_else(|e| panic!("{e}"));
        let scripts = Scripts::new(&s);
        let release = locksim_models::set_nx_px::RELEASE_SCRIPT;
        let cmd = argv([
            "EVAL",
            release,
            "1",
            "lock",
            "27be8394119090136f4de38408d73bc7",
        ]);
        assert_eq!(
            command(&cmd, &scripts),
            "EVAL «compare-and-delete» 1 lock 27be83…"
        );
        assert_eq!(script_calls(release), "get,del");
        let inline = argv(["EVAL", "return redis.call(\"del\",KEYS[1])", "1", "lock"]);
        assert_eq!(command(&inline, &scripts), "EVAL «lua: del» 1 lock");
        let set = argv([
            "SET",
            "lock",
            "d60501a78fc27e5c4fcacf4101e31e68",
            "NX",
            "PX",
            "10000",
        ]);
        assert_eq!(command(&set, &scripts), "SET lock d60501… NX PX 10000");
        assert_eq!(
            reply(&Reply::Array(Some(vec![Reply::Int(1), Reply::nil()]))),
            "[(integer) 1, (nil)]"
        );
    }
}
