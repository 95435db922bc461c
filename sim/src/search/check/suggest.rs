//! `locksim check --suggest`: the configuration changes that might fix a
//! counterexample, each re-checked over the same kind of space.
//!
//! [`mitigations`] lists, in a fixed order, every mitigation the ground
//! truth names, each either as the changed scenario or with the reason it
//! does not apply here:
//!
//! | mitigation | change | not applicable when |
//! |---|---|---|
//! | fencing | `fencing = true` | already on; the algorithm has no monotonic token (redlock: `LockConfig::validate` refuses it) |
//! | validity check | `validity_check = true` | already on; the algorithm computes no deadline (plain `setnx`) |
//! | AOF always | `persistence = "aof-always"` | already on |
//! | delayed restart | `restart_delay_ms = ttl_ms` | already at least the TTL |
//! | larger TTL margin | `ttl_ms` doubled | never |
//! | min replicas | `min_replicas_to_write = 1` | already on; masters without replicas (`single`, `independent`) |
//! | library upgrade | `library = "NAME@CURRENT"`, the profile's current version, keeping every other `[lock]` key the scenario set | no `library`; already at or past the current version |
//! | no eviction | `maxmemory_policy = "noeviction"` (row 51: writes are refused instead of keys evicted) | no `maxmemory_bytes`; already `noeviction` |
//!
//! [`suggest`] runs one check per applicable mitigation through a closure
//! (the caller builds each [`Check`](super::Check) with the same bound,
//! alphabet, budget, jobs and seed), and [`render`] prints the table.
//!
//! The check derives its fault lengths from the scenario it checks
//! (TTL / 2, TTL + 10%, 2 x TTL, the restart delay): under a doubled TTL
//! the pauses and down times double too, so "certifies" means "for the
//! same bound and alphabet, at the mitigated setup's own decision points
//! and lengths".

use super::{describe, Report, Verdict};
use crate::model::{MaxmemoryPolicy, Persistence, Scenario};
use crate::scenario::parse_scenario;
use locksim_models::Algorithm;

/// One configuration change and the scenario it gives.
#[derive(Clone, Debug)]
pub struct Mitigation {
    /// Short name: `fencing`, `validity-check`, ...
    pub name: &'static str,
    /// The change in scenario-file terms, e.g. `persistence = "aof-always"`.
    pub what: String,
    /// The mitigated scenario, or why the mitigation does not apply.
    pub scenario: Result<Scenario, String>,
}

/// Every mitigation, in the order of the module table.
pub fn mitigations(s: &Scenario) -> Vec<Mitigation> {
    let ttl = s.lock.ttl_ms;
    let mut out = Vec::new();

    let mut fenced = s.clone();
    fenced.lock.fencing = true;
    out.push(make(
        s,
        "fencing",
        "fencing = true".into(),
        match s.lock.fencing {
            true => Err("already `fencing = true`".into()),
            false => fenced.lock.validate().map(|()| fenced),
        },
    ));

    let mut checked = s.clone();
    checked.lock.validity_check = true;
    out.push(make(
        s,
        "validity-check",
        "validity_check = true".into(),
        if s.lock.validity_check {
            Err("already `validity_check = true`".into())
        } else if s.lock.algorithm == Algorithm::Setnx && !s.lock.stale_recovery {
            Err("plain `setnx` computes no deadline to check (its key never expires)".into())
        } else {
            checked.lock.validate().map(|()| checked)
        },
    ));

    let mut aof = s.clone();
    aof.redis.persistence = Persistence::AofAlways;
    out.push(make(
        s,
        "aof-always",
        "persistence = \"aof-always\"".into(),
        match s.redis.persistence {
            Persistence::AofAlways => Err("already `persistence = \"aof-always\"`".into()),
            _ => Ok(aof),
        },
    ));

    let mut delayed = s.clone();
    delayed.redis.restart_delay_ms = ttl;
    out.push(make(
        s,
        "delayed-restart",
        format!("restart_delay_ms = {ttl} (the TTL)"),
        if s.redis.restart_delay_ms >= ttl {
            Err(format!(
                "already `restart_delay_ms = {}`, at least the TTL ({ttl} ms)",
                s.redis.restart_delay_ms
            ))
        } else {
            Ok(delayed)
        },
    ));

    let mut longer = s.clone();
    longer.lock.ttl_ms = ttl.saturating_mul(2);
    out.push(make(
        s,
        "ttl-x2",
        format!("ttl_ms = {} (doubled)", longer.lock.ttl_ms),
        longer.lock.validate().map(|()| longer),
    ));

    let mut min_replicas = s.clone();
    min_replicas.redis.min_replicas_to_write = 1;
    out.push(make(
        s,
        "min-replicas",
        "min_replicas_to_write = 1".into(),
        if s.redis.replicas_per_master() == 0 {
            Err(format!(
                "topology = \"{}\" has no replicas to count",
                s.redis.topology.name()
            ))
        } else if s.redis.min_replicas_to_write > 0 {
            Err(format!(
                "already `min_replicas_to_write = {}`",
                s.redis.min_replicas_to_write
            ))
        } else {
            Ok(min_replicas)
        },
    ));
    let (what, upgraded) = library_upgrade(s);
    out.push(make(s, "library-upgrade", what, upgraded));

    let mut refusing = s.clone();
    refusing.redis.maxmemory_policy = MaxmemoryPolicy::NoEviction;
    out.push(make(
        s,
        "noeviction",
        "maxmemory_policy = \"noeviction\"".into(),
        if s.redis.maxmemory_bytes == 0 {
            Err("no `maxmemory_bytes`: nothing is ever evicted".into())
        } else if s.redis.maxmemory_policy == MaxmemoryPolicy::NoEviction {
            Err("already `maxmemory_policy = \"noeviction\"`".into())
        } else {
            Ok(refusing)
        },
    ));
    out
}

/// The scenario's library at its profile's current version. The keys the
/// scenario set on top of its version's profile (where its lock differs
/// from that profile) are kept; every other key takes the current
/// version's value.
fn library_upgrade(s: &Scenario) -> (String, Result<Scenario, String>) {
    use locksim_models::library::{self, Version};
    let Some(spec) = s.lock.library.as_deref() else {
        return (
            "a library version upgrade".into(),
            Err("no `library = \"NAME@VERSION\"`: no profile to upgrade".into()),
        );
    };
    let resolved = match library::resolve(spec) {
        Ok(r) => r,
        Err(e) => return ("a library version upgrade".into(), Err(e.message)),
    };
    let p = resolved.profile;
    let current = Version::parse(p.current).expect("profile versions parse");
    let what = format!("library = \"{}@{}\"", p.name, p.current);
    if resolved.version >= current {
        return (what, Err(format!("already at {} ({})", p.name, p.current)));
    }
    let as_map = |c: &locksim_models::LockConfig| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => unreachable!("a LockConfig serializes to an object"),
    };
    let old = as_map(&resolved.config);
    let mut new = as_map(&p.at(&current));
    for (k, v) in as_map(&s.lock) {
        if k != "library" && old.get(&k) != Some(&v) {
            new.insert(k, v);
        }
    }
    let upgraded = serde_json::from_value(serde_json::Value::Object(new))
        .map_err(|e| format!("the upgraded [lock] does not parse: {e}"))
        .map(|lock| {
            let mut m = s.clone();
            m.lock = lock;
            m
        });
    (what, upgraded)
}

/// A mitigation; an applicable one is renamed, described in `about`, and
/// must still parse as a scenario file (its canonical TOML round-trips).
fn make(
    base: &Scenario,
    name: &'static str,
    what: String,
    scenario: Result<Scenario, String>,
) -> Mitigation {
    let scenario = scenario.and_then(|mut m| {
        m.name = format!("{}-{name}", base.name);
        m.about = format!("{} Mitigated: {what}.", base.about);
        parse_scenario(&m.to_toml(), &format!("{}.toml", m.name))
            .map_err(|e| e.to_string())
            .map(|_| m)
    });
    Mitigation {
        name,
        what,
        scenario,
    }
}

/// Runs `check_of` on every applicable mitigation of `s`, in order; an
/// inapplicable one gets `None`.
pub fn suggest(
    check_of: impl Fn(Scenario) -> Report,
    s: &Scenario,
) -> Vec<(Mitigation, Option<Report>)> {
    mitigations(s)
        .into_iter()
        .map(|m| {
            let report = m.scenario.as_ref().ok().map(|sc| check_of(sc.clone()));
            (m, report)
        })
        .collect()
}

/// What one mitigation's check concluded, in a few words.
pub fn outcome(report: Option<&Report>, m: &Mitigation) -> String {
    match (report, &m.scenario) {
        (_, Err(why)) => format!("n/a: {why}"),
        (None, Ok(_)) => "not checked".into(),
        (Some(r), Ok(_)) => match &r.verdict {
            Verdict::Certified => format!(
                "certifies the same space ({} schedules, {} decision points)",
                r.coverage.schedules, r.coverage.points
            ),
            Verdict::Counterexample(cx) => {
                let mut kinds: Vec<String> = cx
                    .outcome
                    .check
                    .violations
                    .iter()
                    .map(|v| format!("{:?}", v.kind))
                    .collect();
                kinds.sort();
                kinds.dedup();
                let story = match cx.schedule.placements.is_empty() {
                    true => "the fault-free run".to_string(),
                    false => describe(&cx.schedule),
                };
                format!(
                    "does not: {} violation with {} fault(s): {story}",
                    kinds.join("+"),
                    cx.schedule.placements.len()
                )
            }
            Verdict::Exhausted => format!(
                "budget exhausted: {} schedules, no violation so far",
                r.coverage.schedules
            ),
        },
    }
}

/// The `--suggest` table: one line per mitigation, then what a doubled
/// TTL changes when it was checked.
pub fn render(results: &[(Mitigation, Option<Report>)]) -> String {
    let width = results.iter().map(|(m, _)| m.what.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (m, r) in results {
        out.push_str(&format!(
            "  {:width$}  {}\n",
            m.what,
            outcome(r.as_ref(), m)
        ));
    }
    if results
        .iter()
        .any(|(m, r)| m.name == "ttl-x2" && r.is_some())
    {
        out.push_str("  (ttl_ms doubled: only ttl_ms changes; the check's pause, partition and down-time lengths follow the TTL and double too)\n");
    }
    out
}
