//! TOML text -> validated [`Scenario`], every default filled in.
//!
//! The text is first read into a position-keeping tree (`tree.rs`), so the
//! only error `toml` itself can raise is a syntax error. Every other check
//! (unknown keys, types, ranges, node names, impossible combinations, and
//! the support gate of this build) is made here on the tree, and reported
//! at the offending key or value with a hint.

use super::defaults;
use super::error::{Loc, ScenarioError};
use super::faults::parse_faults;
use super::lock_section;
use super::memory;
use super::redis_section;
use super::schema::{
    named, CLIENTS_KEYS, LOCK_KEYS, MAX_CLIENTS, MAX_MS, NEMESIS_KEYS, NETWORK_KEYS, RATE_KEYS,
    REDIS_KEYS, TOP_KEYS,
};
use super::tree::{parse_tree, Entry, Node, Value};
use super::values::{
    choice, float, loc_of, missing, range, range_u64, section, string, uint, unknown_key, Cx, Sect,
};
use crate::model::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Parses and validates a scenario, then rejects what this build of locksim
/// cannot simulate yet (see [`super::support_gap_scenario`]).
pub fn parse_scenario(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let cx = Cx { file, text };
    let (scenario, locs) = parse_located(&cx)?;
    super::check_support(&cx, &scenario, &locs)?;
    Ok(scenario)
}

/// Parses and validates a scenario without the support gate: every fault
/// kind, topology and persistence mode of the format is accepted.
pub fn parse_scenario_unchecked(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let cx = Cx { file, text };
    parse_located(&cx).map(|(s, _)| s)
}

/// Reads and parses a scenario file (with the support gate).
pub fn load_scenario(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = read_text(path, &file)?;
    parse_scenario(&text, &file)
}

/// Reads and parses a scenario file without the support gate.
pub fn load_scenario_unchecked(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = read_text(path, &file)?;
    parse_scenario_unchecked(&text, &file)
}

fn read_text(path: &Path, file: &str) -> Result<String, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ScenarioError::new(file, 1, 1, format!("cannot read the scenario file: {e}"))
            .with_hint("check the path and that the file is readable")
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&e.as_bytes()[..good]).into_owned();
        ScenarioError::at_offset(file, &prefix, good, "the file is not valid UTF-8")
            .with_hint("TOML files must be UTF-8 encoded")
    })
}

/// Where each dotted key path of the file is (`redis.topology`,
/// `nemesis.pause.rate`, `faults.2.kind`): value position, else key position.
pub(crate) type Locs = BTreeMap<String, Loc>;

// ---------------------------------------------------------------- sections

fn parse_located(cx: &Cx) -> Result<(Scenario, Locs), ScenarioError> {
    let root = parse_tree(cx.text).map_err(|e| syntax_error(cx, &e))?;
    let mut locs = Locs::new();
    collect_locs(&root, String::new(), &mut locs);
    let top = section(cx, "", &None, &root, TOP_KEYS)?;
    let scenario = scenario(cx, &top)?;
    Ok((scenario, locs))
}

fn syntax_error(cx: &Cx, e: &toml::de::Error) -> ScenarioError {
    let offset = e.span().map_or(0, |r| r.start);
    let message = e.message().trim().replace('\n', "; ");
    let hint = if message.contains("too large") {
        "TOML integers are signed 64-bit (at most 9223372036854775807); write a larger seed as a string: seed = \"18446744073709551615\""
    } else {
        "the file is not valid TOML (see https://toml.io/en/v1.0.0)"
    };
    ScenarioError::at_offset(cx.file, cx.text, offset, format!("invalid TOML: {message}"))
        .with_hint(hint)
}

fn collect_locs(node: &Node, path: String, locs: &mut Locs) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match &node.value {
        Value::Table(entries) => {
            for e in entries {
                let p = join(&e.key);
                locs.insert(p.clone(), loc_of(e));
                collect_locs(&e.node, p, locs);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = join(&i.to_string());
                locs.insert(p.clone(), item.loc.clone());
                collect_locs(item, p, locs);
            }
        }
        _ => {}
    }
}

fn scenario(cx: &Cx, top: &Sect) -> Result<Scenario, ScenarioError> {
    let name = match top.get("name") {
        None => {
            return Err(missing(
                cx,
                top,
                "name",
                "add name = \"my-scenario\" (lowercase letters, digits and '-')",
            ))
        }
        Some(e) => scenario_name(cx, top, e)?,
    };
    let about = match top.get("about") {
        None => String::new(),
        Some(e) => string(cx, top, e)?.to_string(),
    };
    let expect = match top.get("expect") {
        None => {
            return Err(missing(
                cx,
                top,
                "expect",
                "add expect = \"violation\", \"liveness\" or \"safe\": the verdict `locksim run` checks",
            ))
        }
        Some(e) => choice(cx, top, e, "verdict", &named(Verdict::ALL, Verdict::name))?,
    };
    let seed = match top.get("seed") {
        None => defaults::SEED,
        Some(e) => seed(cx, top, e)?,
    };
    let duration_ms = match top.get("duration_ms") {
        None => defaults::DURATION_MS,
        Some(e) => uint(cx, top, e, 1, MAX_MS)?,
    };
    let heal_at = match top.get("heal_at") {
        None => defaults::HEAL_AT,
        Some(e) => {
            let v = float(cx, top, e)?;
            if !(v > 0.0 && v <= 1.0) {
                return Err(cx.err(
                    &loc_of(e),
                    format!("`heal_at` must be in (0, 1], found {v}"),
                    "heal_at is the fraction of duration_ms at which every fault is undone, e.g. heal_at = 0.8",
                ));
            }
            v
        }
    };

    let lock_sect = match top.get("lock") {
        None => {
            return Err(cx.err(
                &None,
                "missing [lock] section",
                "add a [lock] section with algorithm = \"set-nx-px\" (or setnx, setnx-expire, setnx-getset, watchdog, redlock)",
            ))
        }
        Some(e) => section(cx, "lock", &e.key_loc, &e.node, LOCK_KEYS)?,
    };
    let mut lock = lock_section::lock(cx, &lock_sect)?;
    let empty = Node {
        loc: None,
        value: Value::Table(Vec::new()),
    };
    let sub = |key: &str, keys: &[&str]| -> Result<Sect<'_>, ScenarioError> {
        match top.get(key) {
            Some(e) => section(cx, key, &e.key_loc, &e.node, keys),
            None => section(cx, key, &None, &empty, keys),
        }
    };
    let redis = redis_section::redis(cx, &sub("redis", REDIS_KEYS)?, lock.algorithm)?;
    redis_section::cluster_keys(cx, &lock_sect, &mut lock, &redis)?;
    let custom_lock = lock_section::custom_lock(cx, &lock_sect, &lock)?;
    let network = network(cx, &sub("network", NETWORK_KEYS)?)?;
    let clients = clients(cx, &sub("clients", CLIENTS_KEYS)?)?;
    let nemesis_sect = sub("nemesis", NEMESIS_KEYS)?;
    let nemesis = nemesis(cx, &nemesis_sect)?;
    memory::check_nemesis(cx, &nemesis_sect, &redis, &nemesis.memory_pressure)?;

    let mut s = Scenario {
        name,
        about,
        expect,
        seed,
        duration_ms,
        heal_at,
        lock,
        redis,
        network,
        clients,
        faults: Vec::new(),
        nemesis,
        custom_lock,
    };
    if let Some(e) = top.get("faults") {
        s.faults = parse_faults(cx, e, &s)?;
    }
    Ok(s)
}

fn scenario_name(cx: &Cx, top: &Sect, e: &Entry) -> Result<String, ScenarioError> {
    let v = string(cx, top, e)?;
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if v.is_empty() || !v.chars().all(ok) {
        let fixed: String = v
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let hint = if fixed.is_empty() || !fixed.chars().all(ok) {
            "names use only lowercase letters, digits and '-', e.g. name = \"redlock-clock-jump\""
                .to_string()
        } else {
            format!("names use only lowercase letters, digits and '-': try name = \"{fixed}\"")
        };
        return Err(cx.err(
            &loc_of(e),
            format!("invalid scenario name {v:?}: must match [a-z0-9-]+"),
            hint,
        ));
    }
    Ok(v.to_string())
}

/// A seed: an integer >= 0, or a string of decimal digits for seeds above
/// 2^63 - 1 (TOML integers are signed 64-bit).
fn seed(cx: &Cx, top: &Sect, e: &Entry) -> Result<u64, ScenarioError> {
    match &e.node.value {
        Value::Str(v) => v.parse::<u64>().map_err(|_| {
            cx.err(
                &loc_of(e),
                format!("`seed` must be an integer, found the string {v:?}"),
                "write seed = 7 (a string of decimal digits is accepted for seeds above 9223372036854775807)",
            )
        }),
        _ => uint(cx, top, e, 0, u64::MAX),
    }
}

fn network(cx: &Cx, s: &Sect) -> Result<NetworkConfig, ScenarioError> {
    let mut n = defaults::network();
    for e in s.entries {
        match e.key.as_str() {
            "latency_ms" => n.latency_ms = range_u64(cx, s, e)?,
            "loss" => {
                let v = float(cx, s, e)?;
                if !(0.0..1.0).contains(&v) {
                    return Err(cx.err(
                        &loc_of(e),
                        format!("`network.loss` must be in [0, 1), found {v}"),
                        "loss is the probability that a message is dropped, e.g. loss = 0.01 (1.0 would cut every link: use a partition)",
                    ));
                }
                n.loss = v;
            }
            _ => return Err(unknown_key(cx, s, e, NETWORK_KEYS)),
        }
    }
    Ok(n)
}

fn clients(cx: &Cx, s: &Sect) -> Result<ClientsConfig, ScenarioError> {
    let mut c = defaults::clients();
    for e in s.entries {
        match e.key.as_str() {
            "count" => {
                let n = uint(cx, s, e, 1, u64::MAX)?;
                if n > MAX_CLIENTS as u64 {
                    return Err(cx.err(
                        &loc_of(e),
                        format!("more clients than allowed: `clients.count` = {n}, at most {MAX_CLIENTS}"),
                        format!("locksim simulates 1 to {MAX_CLIENTS} clients"),
                    ));
                }
                c.count = n as usize;
            }
            "cycles" => c.cycles = uint(cx, s, e, 1, u32::MAX.into())? as u32,
            "work_ms" => c.work_ms = range_u64(cx, s, e)?,
            "writes" => c.writes = uint(cx, s, e, 1, u32::MAX.into())? as u32,
            "think_ms" => c.think_ms = range_u64(cx, s, e)?,
            "drift_ppm" => {
                let (lo, hi) = range(cx, s, e, -1_000_000, 1_000_000)?;
                c.drift_ppm = Span::new(lo, hi);
            }
            "offset_ms" => {
                let (lo, hi) = range(cx, s, e, -(MAX_MS as i64), MAX_MS as i64)?;
                c.offset_ms = Span::new(lo, hi);
            }
            _ => return Err(unknown_key(cx, s, e, CLIENTS_KEYS)),
        }
    }
    Ok(c)
}

fn nemesis(cx: &Cx, s: &Sect) -> Result<Nemesis, ScenarioError> {
    let mut n = defaults::nemesis();
    for e in s.entries {
        match e.key.as_str() {
            "kill" => n.kill = rate(cx, s, e)?,
            "power_loss" => n.power_loss = rate(cx, s, e)?,
            "pause" => n.pause = rate_span(cx, s, e, n.pause, 1)?,
            "clock_jump" => n.clock_jump = rate_span(cx, s, e, n.clock_jump, -(MAX_MS as i64))?,
            "partition" => n.partition = rate_span(cx, s, e, n.partition, 1)?,
            "memory_pressure" => {
                n.memory_pressure = memory::rate_bytes(cx, s, e, n.memory_pressure)?
            }
            _ => return Err(unknown_key(cx, s, e, NEMESIS_KEYS)),
        }
    }
    Ok(n)
}

fn rate(cx: &Cx, s: &Sect, e: &Entry) -> Result<f64, ScenarioError> {
    let v = float(cx, s, e)?;
    if v < 0.0 {
        let name = s.name(&e.key);
        return Err(cx.err(
            &loc_of(e),
            format!("`{name}` must not be negative, found {v}"),
            "a nemesis rate is a number of faults per simulated second, >= 0",
        ));
    }
    Ok(v)
}

/// `{ rate = r, ms = [lo, hi] }`; missing keys keep `default`'s.
fn rate_span(
    cx: &Cx,
    s: &Sect,
    e: &Entry,
    default: RateSpan,
    min_ms: i64,
) -> Result<RateSpan, ScenarioError> {
    let path = s.name(&e.key);
    if !matches!(e.node.value, Value::Table(_)) {
        return Err(cx.err(
            &loc_of(e),
            format!(
                "`{path}` must be an inline table {{ rate = ..., ms = [lo, hi] }}, found {}",
                e.node.value.type_name()
            ),
            format!(
                "write {} = {{ rate = 0.1, ms = [{}, {}] }}",
                e.key, default.ms.lo, default.ms.hi
            ),
        ));
    }
    let t = section(cx, &path, &e.key_loc, &e.node, RATE_KEYS)?;
    let mut r = default;
    if let Some(e) = t.get("rate") {
        r.rate = rate(cx, &t, e)?;
    }
    if let Some(e) = t.get("ms") {
        let (lo, hi) = range(cx, &t, e, min_ms, MAX_MS as i64)?;
        r.ms = Span::new(lo, hi);
    }
    Ok(r)
}
