//! [`Scenario`] -> canonical TOML: every key written (defaults included),
//! in the order of DESIGN.md, faults as `[[faults]]` in order. Parsing the
//! output gives back an identical scenario (`tests/scenario_roundtrip.rs`).
//!
//! Optional values that are absent (`script_*`, a kill's or partition's
//! `for_ms`) are left out: absence is their meaning. The cluster keys
//! (`shards`, `replicas_per_shard`, `cluster_node_timeout_ms`, and
//! Redlock's `keys`) are written only for `topology = "cluster"`, the
//! only topology that accepts them.

use super::schema::{
    ON_EXTEND_FAIL, ON_UNSYNCED, RELEASES, RENEW_ON_ERROR, SYNC_REPLICAS, TIMINGS,
};
use crate::model::*;
use locksim_models::LockConfig;
use std::fmt::Write as _;

impl Scenario {
    /// The canonical, fully explicit TOML of this scenario.
    pub fn to_toml(&self) -> String {
        let mut w = String::new();
        let s = self;
        kv(&mut w, "name", &string(&s.name));
        kv(&mut w, "about", &string(&s.about));
        kv(&mut w, "expect", &string(s.expect.name()));
        // TOML integers are signed: larger seeds are written as strings.
        let seed = if s.seed > i64::MAX as u64 {
            string(&s.seed.to_string())
        } else {
            s.seed.to_string()
        };
        kv(&mut w, "seed", &seed);
        kv(&mut w, "duration_ms", &s.duration_ms.to_string());
        kv(&mut w, "heal_at", &float(s.heal_at));

        w.push_str("\n[lock]\n");
        lock(&mut w, &s.lock);
        if let Some(c) = &s.custom_lock {
            kv(&mut w, "custom", &string(c.name()));
        }

        let r = &s.redis;
        w.push_str("\n[redis]\n");
        kv(&mut w, "topology", &string(r.topology.name()));
        kv(&mut w, "nodes", &r.nodes.to_string());
        kv(&mut w, "persistence", &string(r.persistence.name()));
        kv(
            &mut w,
            "rdb_save_every_ms",
            &r.rdb_save_every_ms.to_string(),
        );
        kv(&mut w, "restart_delay_ms", &r.restart_delay_ms.to_string());
        kv(&mut w, "replication_lag_ms", &span(r.replication_lag_ms));
        kv(
            &mut w,
            "failover_after_ms",
            &r.failover_after_ms.to_string(),
        );
        kv(
            &mut w,
            "min_replicas_to_write",
            &r.min_replicas_to_write.to_string(),
        );
        kv(
            &mut w,
            "min_replicas_max_lag_s",
            &r.min_replicas_max_lag_s.to_string(),
        );
        kv(&mut w, "maxmemory_bytes", &r.maxmemory_bytes.to_string());
        kv(
            &mut w,
            "maxmemory_policy",
            &string(r.maxmemory_policy.name()),
        );
        kv(
            &mut w,
            "maxmemory_samples",
            &r.maxmemory_samples.to_string(),
        );
        if r.topology == Topology::Cluster {
            kv(&mut w, "shards", &r.shards.to_string());
            kv(
                &mut w,
                "replicas_per_shard",
                &r.replicas_per_shard.to_string(),
            );
            kv(
                &mut w,
                "cluster_node_timeout_ms",
                &r.cluster_node_timeout_ms.to_string(),
            );
        }

        w.push_str("\n[network]\n");
        kv(&mut w, "latency_ms", &span(s.network.latency_ms));
        kv(&mut w, "loss", &float(s.network.loss));

        let c = &s.clients;
        w.push_str("\n[clients]\n");
        kv(&mut w, "count", &c.count.to_string());
        kv(&mut w, "cycles", &c.cycles.to_string());
        kv(&mut w, "work_ms", &span(c.work_ms));
        kv(&mut w, "writes", &c.writes.to_string());
        kv(&mut w, "think_ms", &span(c.think_ms));
        kv(&mut w, "drift_ppm", &span(c.drift_ppm));
        kv(&mut w, "offset_ms", &span(c.offset_ms));

        for f in &s.faults {
            w.push_str("\n[[faults]]\n");
            fault(&mut w, f);
        }

        let n = &s.nemesis;
        w.push_str("\n[nemesis]\n");
        kv(&mut w, "kill", &float(n.kill));
        kv(&mut w, "power_loss", &float(n.power_loss));
        kv(&mut w, "pause", &rate_span(n.pause));
        kv(&mut w, "clock_jump", &rate_span(n.clock_jump));
        kv(&mut w, "partition", &rate_span(n.partition));
        let m = n.memory_pressure;
        let ms =
            m.ms.map(|ms| format!(", ms = {}", span(ms)))
                .unwrap_or_default();
        let pressure = format!(
            "{{ rate = {}, bytes = {}{ms} }}",
            float(m.rate),
            span(m.bytes)
        );
        kv(&mut w, "memory_pressure", &pressure);
        w
    }
}

fn lock(w: &mut String, l: &LockConfig) {
    if let Some(lib) = &l.library {
        kv(w, "library", &string(lib));
    }
    kv(w, "algorithm", &string(l.algorithm.name()));
    kv(w, "key", &string(&l.key));
    kv(w, "fence_key", &string(&l.fence_key));
    kv(w, "ttl_ms", &l.ttl_ms.to_string());
    kv(w, "release", &string(name_of(RELEASES, l.release)));
    kv(w, "validity_check", &l.validity_check.to_string());
    kv(w, "retry_count", &l.retry_count.to_string());
    kv(w, "retry_delay_ms", &l.retry_delay_ms.to_string());
    kv(w, "retry_jitter_ms", &l.retry_jitter_ms.to_string());
    kv(w, "drift_factor", &float(l.drift_factor));
    kv(w, "renew_every_ms", &l.renew_every_ms.to_string());
    kv(
        w,
        "renew_on_error",
        &string(name_of(RENEW_ON_ERROR, l.renew_on_error)),
    );
    kv(w, "fencing", &l.fencing.to_string());
    kv(w, "request_timeout_ms", &l.request_timeout_ms.to_string());
    kv(w, "sequential", &l.sequential.to_string());
    kv(w, "stale_recovery", &l.stale_recovery.to_string());
    kv(w, "reentrant_depth", &l.reentrant_depth.to_string());
    kv(w, "timing", &string(name_of(TIMINGS, l.timing)));
    kv(w, "drift_extra_ms", &l.drift_extra_ms.to_string());
    kv(w, "start_once", &l.start_once.to_string());
    kv(w, "keep_partial", &l.keep_partial.to_string());
    kv(w, "fail_on_node_error", &l.fail_on_node_error.to_string());
    kv(
        w,
        "sync_replicas",
        &string(name_of(SYNC_REPLICAS, l.sync_replicas)),
    );
    kv(w, "wait_timeout_ms", &l.wait_timeout_ms.to_string());
    kv(
        w,
        "on_unsynced",
        &string(name_of(ON_UNSYNCED, l.on_unsynced)),
    );
    kv(w, "extend_every_ms", &l.extend_every_ms.to_string());
    kv(
        w,
        "on_extend_fail",
        &string(name_of(ON_EXTEND_FAIL, l.on_extend_fail)),
    );
    kv(w, "extend_setnx", &l.extend_setnx.to_string());
    kv(w, "max_extensions", &l.max_extensions.to_string());
    kv(w, "checks_abort", &l.checks_abort.to_string());
    kv(w, "shared_token", &l.shared_token.to_string());
    kv(w, "clears_token_first", &l.clears_token_first.to_string());
    kv(w, "release_retries", &l.release_retries.to_string());
    kv(w, "client_retries", &l.client_retries.to_string());
    kv(w, "stale_renewal_entry", &l.stale_renewal_entry.to_string());
    kv(
        w,
        "single_server_no_resend",
        &l.single_server_no_resend.to_string(),
    );
    for (key, source) in [
        ("script_acquire", &l.script_acquire),
        ("script_release", &l.script_release),
        ("script_renew", &l.script_renew),
    ] {
        if let Some(src) = source {
            kv(w, key, &script(src));
        }
    }
    if !l.keys.is_empty() {
        let keys: Vec<String> = l.keys.iter().map(|k| string(k)).collect();
        kv(w, "keys", &format!("[{}]", keys.join(", ")));
    }
}

fn fault(w: &mut String, f: &FaultSpec) {
    match f.when {
        When::At { at_ms } => kv(w, "at_ms", &at_ms.to_string()),
        When::On {
            trigger,
            nth,
            delay_ms,
        } => {
            kv(w, "on", &string(&trigger.to_string()));
            kv(w, "nth", &nth.to_string());
            kv(w, "delay_ms", &delay_ms.to_string());
        }
    }
    kv(w, "kind", &string(f.fault.kind_name()));
    let node = |w: &mut String, n: &NodeRef| kv(w, "node", &string(&n.to_string()));
    let for_ms = |w: &mut String, ms: &Option<u64>| {
        if let Some(ms) = ms {
            kv(w, "for_ms", &ms.to_string());
        }
    };
    match &f.fault {
        Fault::Kill {
            node: n,
            for_ms: ms,
        }
        | Fault::PowerLoss {
            node: n,
            for_ms: ms,
        } => {
            node(w, n);
            for_ms(w, ms);
        }
        Fault::Restart { node: n } => node(w, n),
        Fault::Pause {
            node: n,
            for_ms: ms,
        } => {
            node(w, n);
            kv(w, "for_ms", &ms.to_string());
        }
        Fault::Partition { groups, for_ms: ms } => {
            let gs: Vec<String> = groups
                .iter()
                .map(|g| {
                    let names: Vec<String> = g.iter().map(|n| string(&n.to_string())).collect();
                    format!("[{}]", names.join(", "))
                })
                .collect();
            kv(w, "groups", &format!("[{}]", gs.join(", ")));
            for_ms(w, ms);
        }
        Fault::Heal => {}
        Fault::ClockJump { node: n, by_ms } => {
            node(w, n);
            kv(w, "by_ms", &by_ms.to_string());
        }
        Fault::ClockDrift { node: n, ppm } => {
            node(w, n);
            kv(w, "ppm", &float(*ppm));
        }
        Fault::MemoryPressure {
            node: n,
            bytes,
            ttl_ms,
            for_ms: ms,
        } => {
            node(w, n);
            kv(w, "bytes", &bytes.to_string());
            if let Some(ttl) = ttl_ms {
                kv(w, "ttl_ms", &ttl.to_string());
            }
            for_ms(w, ms);
        }
    }
}

fn kv(w: &mut String, key: &str, value: &str) {
    let _ = writeln!(w, "{key} = {value}");
}

/// The file name of `v` in an option table of the parser.
fn name_of<T: PartialEq>(options: &[(&'static str, T)], v: T) -> &'static str {
    options
        .iter()
        .find(|(_, o)| *o == v)
        .map_or("?", |(n, _)| n)
}

fn span<T: std::fmt::Display>(s: Span<T>) -> String {
    format!("[{}, {}]", s.lo, s.hi)
}

fn rate_span(r: RateSpan) -> String {
    format!("{{ rate = {}, ms = {} }}", float(r.rate), span(r.ms))
}

/// A TOML float that reads back as exactly `v` (shortest round-trip form).
fn float(v: f64) -> String {
    if v.is_nan() {
        return "nan".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// Lua source: a multi-line literal string when the text allows one (the
/// script stays readable), else a basic string with escapes.
fn script(v: &str) -> String {
    let literal_ok = v.contains('\n')
        && !v.contains("'''")
        && !v.ends_with('\'')
        && v.chars().all(|c| c == '\n' || c == '\t' || !c.is_control());
    if literal_ok {
        // The newline right after the opening delimiter is not part of the value.
        return format!("'''\n{v}'''");
    }
    string(v)
}

/// A TOML basic string, escaped.
fn string(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_back() {
        for v in [
            0.0,
            -0.0,
            0.8,
            1.0,
            1e-7,
            1e300,
            0.1 + 0.2,
            123456789.0,
            -5e-324,
        ] {
            let text = format!("x = {}", float(v));
            let t: toml::Table = toml::from_str(&text).unwrap();
            assert_eq!(t["x"].as_float().unwrap().to_bits(), v.to_bits(), "{text}");
        }
    }

    #[test]
    fn strings_read_back() {
        for v in [
            "",
            "plain",
            "q\"uo\\te",
            "line\nline",
            "\nstarts with newline",
            "ends'",
            "has ''' triple",
            "tab\tand\r\ncrlf",
            "ctl\u{1}\u{7f}",
            "return redis.call('get', KEYS[1])\n",
        ] {
            for text in [format!("x = {}", string(v)), format!("x = {}", script(v))] {
                let t: toml::Table = toml::from_str(&text).unwrap();
                assert_eq!(t["x"].as_str().unwrap(), v, "{text}");
            }
        }
    }
}
