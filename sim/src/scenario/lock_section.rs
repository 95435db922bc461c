//! The `[lock]` section: an algorithm or a library profile
//! (`library = "NAME@VERSION"`, whose keys the others then override one by
//! one), every key of [`LockConfig`], the checks that tie them together,
//! and `custom = "NAME"`, a lock registered in this process.

use super::error::ScenarioError;
use super::redis_section;
use super::schema::{
    named, LOCK_KEYS, MAX_CLIENT_RETRIES, MAX_MS, ON_EXTEND_FAIL, ON_UNSYNCED, RELEASES,
    RENEW_ON_ERROR, SYNC_REPLICAS, TIMINGS,
};
use super::tree::Entry;
use super::values::{
    boolean, choice, float, loc_of, missing, nonempty, string, uint, unknown_key, Cx, Sect,
};
use crate::model::custom;
use crate::model::*;
use locksim_models::{Algorithm, LockConfig};

pub(crate) fn lock(cx: &Cx, s: &Sect) -> Result<LockConfig, ScenarioError> {
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

/// `[lock] custom = "NAME"`: a lock registered in this process (see
/// [`crate::model::custom`]), built once here so that a configuration it
/// refuses is reported at the key.
pub(crate) fn custom_lock(
    cx: &Cx,
    s: &Sect,
    cfg: &LockConfig,
) -> Result<Option<CustomLock>, ScenarioError> {
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
