//! The memory keys of a scenario: `[redis] maxmemory_bytes`,
//! `maxmemory_policy` and `maxmemory_samples`, the nemesis's
//! `memory_pressure = { rate, bytes }`, and the checks that tie them
//! together (a policy or a pressure with no limit would silently do
//! nothing, so they are errors).
//!
//! Ranges follow Redis 7.0's `config.c`: `maxmemory-samples` from 1 to
//! INT_MAX. `maxmemory` is 0 (no limit) or at least 1 MB, the value below
//! which Redis warns at startup; an empty 7.0 server already uses about
//! 0.9 MB of it.

use super::error::ScenarioError;
use super::schema::{named, MAX_MS, MAX_PRESSURE_BYTES, MIN_MAXMEMORY_BYTES, RATE_BYTES_KEYS};
use super::tree::{Entry, Value};
use super::values::{choice, float, loc_of, range, section, uint, Cx, Sect};
use crate::model::{MaxmemoryPolicy, RateBytes, RedisConfig, Span};

/// Reads one of the `maxmemory_*` keys of `[redis]` into `r`; false when
/// `e` is not one of them.
pub(crate) fn redis_key(
    cx: &Cx,
    s: &Sect,
    e: &Entry,
    r: &mut RedisConfig,
) -> Result<bool, ScenarioError> {
    match e.key.as_str() {
        "maxmemory_bytes" => {
            let v = uint(cx, s, e, 0, i64::MAX as u64)?;
            if v != 0 && v < MIN_MAXMEMORY_BYTES {
                return Err(cx.err(
                    &loc_of(e),
                    format!("`redis.maxmemory_bytes` = {v} is below 1 MB ({MIN_MAXMEMORY_BYTES} bytes)"),
                    "an empty Redis 7.0 server already uses about 0.9 MB (Redis warns about a maxmemory below 1MB at startup); write maxmemory_bytes = 2097152 or more, or 0 for no limit",
                ));
            }
            r.maxmemory_bytes = v;
        }
        "maxmemory_policy" => {
            r.maxmemory_policy = choice(
                cx,
                s,
                e,
                "maxmemory policy",
                &named(MaxmemoryPolicy::ALL, MaxmemoryPolicy::name),
            )?
        }
        "maxmemory_samples" => r.maxmemory_samples = uint(cx, s, e, 1, i32::MAX as u64)? as u32,
        _ => return Ok(false),
    }
    Ok(true)
}

/// A policy or sample size other than Redis's default does nothing
/// without a limit: an error at that key.
pub(crate) fn check_redis(cx: &Cx, s: &Sect, r: &RedisConfig) -> Result<(), ScenarioError> {
    if r.maxmemory_bytes != 0 {
        return Ok(());
    }
    let idle = [
        (
            "maxmemory_policy",
            r.maxmemory_policy != MaxmemoryPolicy::NoEviction,
        ),
        (
            "maxmemory_samples",
            r.maxmemory_samples != super::defaults::MAXMEMORY_SAMPLES,
        ),
    ];
    for (key, set) in idle {
        if let (true, Some(e)) = (set, s.get(key)) {
            return Err(cx.err(
                &loc_of(e),
                format!("`redis.{key}` has no effect without `redis.maxmemory_bytes`"),
                "Redis evicts only above maxmemory: add maxmemory_bytes = 2097152 (or more), or remove the key",
            ));
        }
    }
    Ok(())
}

/// `memory_pressure = { rate = r, bytes = [lo, hi], ms = [lo, hi] }`;
/// missing keys keep `default`'s.
pub(crate) fn rate_bytes(
    cx: &Cx,
    s: &Sect,
    e: &Entry,
    default: RateBytes,
) -> Result<RateBytes, ScenarioError> {
    let path = s.name(&e.key);
    if !matches!(e.node.value, Value::Table(_)) {
        return Err(cx.err(
            &loc_of(e),
            format!(
                "`{path}` must be an inline table {{ rate = ..., bytes = [lo, hi] }}, found {}",
                e.node.value.type_name()
            ),
            format!(
                "write {} = {{ rate = 0.1, bytes = [{}, {}] }}",
                e.key, default.bytes.lo, default.bytes.hi
            ),
        ));
    }
    let t = section(cx, &path, &e.key_loc, &e.node, RATE_BYTES_KEYS)?;
    let mut r = default;
    if let Some(e) = t.get("rate") {
        let v = float(cx, &t, e)?;
        if v < 0.0 {
            return Err(cx.err(
                &loc_of(e),
                format!("`{}` must not be negative, found {v}", t.name("rate")),
                "a nemesis rate is a number of faults per simulated second, >= 0",
            ));
        }
        r.rate = v;
    }
    if let Some(e) = t.get("bytes") {
        let (lo, hi) = range(cx, &t, e, 1, MAX_PRESSURE_BYTES as i64)?;
        r.bytes = Span::new(lo as u64, hi as u64);
    }
    if let Some(e) = t.get("ms") {
        let (lo, hi) = range(cx, &t, e, 1, MAX_MS as i64)?;
        r.ms = Some(Span::new(lo as u64, hi as u64));
    }
    Ok(r)
}

/// Memory pressure needs a limit to press against: a nemesis rate > 0
/// without `maxmemory_bytes` is an error at the rate.
pub(crate) fn check_nemesis(
    cx: &Cx,
    s: &Sect,
    r: &RedisConfig,
    n: &RateBytes,
) -> Result<(), ScenarioError> {
    if n.rate == 0.0 || r.maxmemory_bytes != 0 {
        return Ok(());
    }
    let at = s.get("memory_pressure").map(loc_of).unwrap_or(None);
    Err(cx.err(
        &at,
        "`nemesis.memory_pressure` needs `redis.maxmemory_bytes`",
        PRESSURE_HINT,
    ))
}

/// Why memory pressure without a limit is refused.
pub(crate) const PRESSURE_HINT: &str = "without maxmemory Redis just grows and the filler evicts nothing: add [redis] maxmemory_bytes = 2097152 (or more) and a maxmemory_policy";

/// `bytes` of a memory-pressure fault: at least 1, at most
/// [`MAX_PRESSURE_BYTES`].
pub(crate) fn pressure_bytes(cx: &Cx, t: &Sect, e: &Entry) -> Result<u64, ScenarioError> {
    let v = uint(cx, t, e, 1, i64::MAX as u64)?;
    if v > MAX_PRESSURE_BYTES {
        return Err(cx.err(
            &loc_of(e),
            format!(
                "`{}` = {v} is more than locksim writes in one fault ({MAX_PRESSURE_BYTES} bytes)",
                t.name("bytes")
            ),
            "the simulator keeps every filler value in memory: scale maxmemory_bytes and bytes down together (eviction depends on how far the filler pushes past the limit)",
        ));
    }
    Ok(v)
}
