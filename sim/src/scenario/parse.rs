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
use super::memory;
use super::redis_section;
use super::schema::{
    named, CLIENTS_KEYS, LOCK_KEYS, MAX_CLIENTS, MAX_CLIENT_RETRIES, MAX_MS, NEMESIS_KEYS,
    NETWORK_KEYS, ON_EXTEND_FAIL, ON_UNSYNCED, RATE_KEYS, REDIS_KEYS, RELEASES, RENEW_ON_ERROR,
    SYNC_REPLICAS, TIMINGS, TOP_KEYS,
};
use super::tree::{parse_tree, Entry, Node, Value};
use super::values::{
    boolean, choice, float, loc_of, nonempty, range, range_u64, section, string, uint, unknown_key,
    Cx, Sect,
};
use crate::model::custom;
use crate::model::*;
use locksim_models::{Algorithm, LockConfig};
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

fn missing(cx: &Cx, s: &Sect, key: &str, hint: impl Into<String>) -> ScenarioError {
    cx.err(
        &s.loc,
        format!("missing required key `{}` in {}", s.name(key), s.title()),
        hint,
    )
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
    let mut lock = lock(cx, &lock_sect)?;
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
    let custom_lock = custom_lock(cx, &lock_sect, &lock)?;
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

fn lock(cx: &Cx, s: &Sect) -> Result<LockConfig, ScenarioError> {
    let names = Algorithm::ALL.map(Algorithm::name);
    // A library profile sets the algorithm and its defaults; the other
    // keys then override single fields.
    let profile = match s.get("library") {
        None => None,
        Some(e) => Some(library(cx, s, e)?),
    };
    let algorithm = match (s.get("algorithm"), &profile) {
        (None, None) => {
            return Err(missing(
                cx,
                s,
                "algorithm",
                format!(
                    "add algorithm = \"...\", one of: {}; or library = \"NAME@VERSION\" (see `locksim libraries`)",
                    names.join(", ")
                ),
            ))
        }
        (None, Some(p)) => p.algorithm,
        (Some(e), p) => {
            let a = choice(
                cx,
                s,
                e,
                "algorithm",
                &named(Algorithm::ALL, Algorithm::name),
            )?;
            if let Some(p) = p.as_ref().filter(|p| p.algorithm != a) {
                return Err(cx.err(
                    &loc_of(e),
                    format!(
                        "`lock.algorithm = \"{}\"` contradicts `library = {:?}`, which is algorithm \"{}\"",
                        a.name(),
                        p.library.as_deref().unwrap_or_default(),
                        p.algorithm.name()
                    ),
                    "drop the algorithm key: the library profile sets it",
                ));
            }
            a
        }
    };
    let mut c = profile
        .clone()
        .unwrap_or_else(|| LockConfig::defaults(algorithm));
    let mut renew_set = false;
    let mut extend_set = false;
    for e in s.entries {
        match e.key.as_str() {
            "algorithm" | "library" => {}
            "key" => c.key = nonempty(cx, s, e)?,
            "fence_key" => c.fence_key = nonempty(cx, s, e)?,
            "ttl_ms" => c.ttl_ms = uint(cx, s, e, 0, MAX_MS)?,
            "release" => c.release = choice(cx, s, e, "release", RELEASES)?,
            "validity_check" => c.validity_check = boolean(cx, s, e)?,
            "retry_count" => c.retry_count = uint(cx, s, e, 0, u32::MAX.into())? as u32,
            "retry_delay_ms" => c.retry_delay_ms = uint(cx, s, e, 0, MAX_MS)?,
            "retry_jitter_ms" => c.retry_jitter_ms = uint(cx, s, e, 0, MAX_MS)?,
            "drift_factor" => {
                let v = float(cx, s, e)?;
                if !(0.0..1.0).contains(&v) {
                    return Err(cx.err(
                        &loc_of(e),
                        format!("`lock.drift_factor` must be in [0, 1), found {v}"),
                        "drift_factor is the fraction of the TTL Redlock sets aside for clock drift, e.g. 0.01",
                    ));
                }
                c.drift_factor = v;
            }
            "renew_every_ms" => {
                c.renew_every_ms = uint(cx, s, e, 0, MAX_MS)?;
                renew_set = true;
            }
            "renew_on_error" => {
                c.renew_on_error = choice(cx, s, e, "renew_on_error value", RENEW_ON_ERROR)?
            }
            "fencing" => c.fencing = boolean(cx, s, e)?,
            "request_timeout_ms" => c.request_timeout_ms = uint(cx, s, e, 1, MAX_MS)?,
            "sequential" => c.sequential = boolean(cx, s, e)?,
            "stale_recovery" => c.stale_recovery = boolean(cx, s, e)?,
            "reentrant_depth" => c.reentrant_depth = uint(cx, s, e, 1, u32::MAX.into())? as u32,
            "script_acquire" => c.script_acquire = Some(nonempty(cx, s, e)?),
            "script_release" => c.script_release = Some(nonempty(cx, s, e)?),
            "script_renew" => c.script_renew = Some(nonempty(cx, s, e)?),
            "timing" => c.timing = choice(cx, s, e, "timing", TIMINGS)?,
            "drift_extra_ms" => c.drift_extra_ms = uint(cx, s, e, 0, MAX_MS)?,
            "start_once" => c.start_once = boolean(cx, s, e)?,
            "keep_partial" => c.keep_partial = boolean(cx, s, e)?,
            "fail_on_node_error" => c.fail_on_node_error = boolean(cx, s, e)?,
            "sync_replicas" => c.sync_replicas = choice(cx, s, e, "sync_replicas", SYNC_REPLICAS)?,
            "wait_timeout_ms" => c.wait_timeout_ms = uint(cx, s, e, 1, MAX_MS)?,
            "on_unsynced" => c.on_unsynced = choice(cx, s, e, "on_unsynced", ON_UNSYNCED)?,
            "extend_every_ms" => {
                c.extend_every_ms = uint(cx, s, e, 0, MAX_MS)?;
                extend_set = true;
            }
            "on_extend_fail" => {
                c.on_extend_fail = choice(cx, s, e, "on_extend_fail", ON_EXTEND_FAIL)?
            }
            "extend_setnx" => c.extend_setnx = boolean(cx, s, e)?,
            "max_extensions" => c.max_extensions = uint(cx, s, e, 0, u32::MAX.into())? as u32,
            "checks_abort" => c.checks_abort = boolean(cx, s, e)?,
            "shared_token" => c.shared_token = boolean(cx, s, e)?,
            "clears_token_first" => c.clears_token_first = boolean(cx, s, e)?,
            "release_retries" => c.release_retries = uint(cx, s, e, 0, u32::MAX as u64)? as u32,
            "client_retries" => {
                c.client_retries = uint(cx, s, e, 0, MAX_CLIENT_RETRIES.into())? as u32
            }
            "stale_renewal_entry" => c.stale_renewal_entry = boolean(cx, s, e)?,
            "single_server_no_resend" => c.single_server_no_resend = boolean(cx, s, e)?,
            "custom" => {} // read by `custom_lock`, once the table is known
            "keys" => c.keys = redis_section::lock_keys(cx, e, algorithm)?,
            _ => return Err(unknown_key(cx, s, e, LOCK_KEYS)),
        }
    }
    if c.ttl_ms == 0 && !matches!(c.algorithm, Algorithm::Setnx | Algorithm::SetNxPx) {
        let e = s.get("ttl_ms").expect("a profile's TTL of 0 is set-nx-px");
        return Err(cx.err(
            &loc_of(e),
            "`lock.ttl_ms` must be greater than 0, found 0",
            format!(
                "give {} a positive integer; only setnx and set-nx-px take a lock without a TTL (0)",
                c.algorithm.name()
            ),
        ));
    }
    if !renew_set {
        // The library's own ratio (Redisson: a third of the lease,
        // python-redis-lock: two thirds), else a third.
        c.renew_every_ms = match &profile {
            Some(p) if p.ttl_ms > 0 => c.ttl_ms * p.renew_every_ms / p.ttl_ms,
            _ => c.ttl_ms / 3,
        };
    }
    if !extend_set {
        // A profile's extension period keeps its ratio to the TTL.
        if let Some(p) = profile.as_ref().filter(|p| p.ttl_ms > 0) {
            c.extend_every_ms = c.ttl_ms * p.extend_every_ms / p.ttl_ms;
        }
    }
    if c.key == c.fence_key {
        let e = s
            .get("fence_key")
            .or_else(|| s.get("key"))
            .expect("one of them was set");
        return Err(cx.err(
            &loc_of(e),
            format!("`lock.key` and `lock.fence_key` are both {:?}", c.key),
            "the fencing counter (INCR) would overwrite the lock: give them different keys",
        ));
    }
    if algorithm == Algorithm::Watchdog && (c.renew_every_ms == 0 || c.renew_every_ms >= c.ttl_ms) {
        let (at, msg) = match s.get("renew_every_ms") {
            Some(e) => (loc_of(e), format!("`lock.renew_every_ms` = {} must be greater than 0 and less than ttl_ms = {}", c.renew_every_ms, c.ttl_ms)),
            None => (
                s.get("ttl_ms").map(loc_of).unwrap_or_else(|| s.loc.clone()),
                format!("ttl_ms = {} is too short for the watchdog: the default renew_every_ms (ttl_ms / 3) is 0", c.ttl_ms),
            ),
        };
        return Err(cx.err(
            &at,
            msg,
            "the watchdog must renew the lock before it expires: 0 < renew_every_ms < ttl_ms",
        ));
    }
    if algorithm == Algorithm::Redlock && c.fencing {
        let e = s.get("fencing").expect("fencing defaults to false");
        return Err(cx.err(
            &loc_of(e),
            "`lock.fencing = true` cannot be used with algorithm = \"redlock\"",
            "Redlock has no monotonic token to fence with: N independent INCR counters do not give one (Kleppmann 2016)",
        ));
    }
    Ok(c)
}

/// `library = "NAME@VERSION"`: the profile's configuration at VERSION.
fn library(cx: &Cx, s: &Sect, e: &Entry) -> Result<LockConfig, ScenarioError> {
    let spec = string(cx, s, e)?;
    locksim_models::library::resolve(spec)
        .map(|r| r.config)
        .map_err(|err| cx.err(&loc_of(e), err.message, err.hint))
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

/// `[lock] custom = "NAME"`: a lock registered in this process (see
/// [`crate::model::custom`]), built once here so that a configuration it
/// refuses is reported at the key.
fn custom_lock(cx: &Cx, s: &Sect, cfg: &LockConfig) -> Result<Option<CustomLock>, ScenarioError> {
    let Some(e) = s.get("custom") else {
        return Ok(None);
    };
    let name = nonempty(cx, s, e)?;
    let Some(lock) = custom::registered(&name) else {
        let known = custom::registered_names();
        let hint = if known.is_empty() {
            "a custom lock is Rust code: only a program that registers it \
             (locksim::model::custom::register, or Scenario::with_custom_lock) can load this \
             file; the locksim binary registers none. Remove `custom` to run the built-in \
             `algorithm`"
                .to_string()
        } else {
            format!("registered in this process: {}", known.join(", "))
        };
        return Err(cx.err(
            &loc_of(e),
            format!("no custom lock named {name:?} is registered in this process"),
            hint,
        ));
    };
    if let Err(why) = lock.build(cfg) {
        return Err(cx.err(
            &loc_of(e),
            format!("custom lock {name:?} refuses this [lock] table: {why}"),
            "change the [lock] keys it names",
        ));
    }
    Ok(Some(lock))
}
