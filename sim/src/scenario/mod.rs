//! Scenario files (format v1, TOML): parsing, validation and writing back.
//!
//! - [`parse_scenario`] / [`load_scenario`]: text or file -> validated
//!   [`Scenario`] with every default filled in, or a [`ScenarioError`] at
//!   `file:line:col` with a hint. Never panics, whatever the input.
//! - [`parse_scenario_unchecked`]: the same without the support gate below
//!   (hunting and the round-trip tests use every fault kind).
//! - [`Scenario::to_toml`]: the canonical, fully explicit file.
//! - [`Scenario::validated`]: a scenario built in code, checked as a file is.
//!
//! ## A scenario in code
//!
//! [`Scenario::with_defaults`] is the file with only `name`, `expect` and
//! `[lock] algorithm`; every field is public and named as in the file, and
//! [`FaultSpec::at`](crate::model::FaultSpec::at) /
//! [`FaultSpec::on`](crate::model::FaultSpec::on) write `[[faults]]`
//! entries. Code can build what the parser would refuse (a fault on
//! `redis-7` of a one-node setup), so finish with
//! [`Scenario::validated`], which checks it exactly as a file is checked:
//!
//! ```
//! use locksim::model::{Fault, FaultSpec, NodeRef, Scenario, Trigger, Verdict};
//! use locksim_models::Algorithm;
//! let mut s = Scenario::with_defaults("pause-past-ttl", Verdict::Violation, Algorithm::SetNxPx);
//! s.lock.ttl_ms = 2_000;
//! s.clients.count = 2;
//! s.faults.push(FaultSpec::on(
//!     Trigger::Acquired { client: 0 },
//!     Fault::Pause { node: NodeRef::Client(0), for_ms: 5_000 },
//! ));
//! let s = s.validated().unwrap();
//! assert_eq!(locksim::world::run(&s, s.seed).verdict(), Verdict::Violation);
//!
//! let mut bad = s.clone();
//! bad.faults.push(FaultSpec::at(10, Fault::Kill { node: NodeRef::Redis(7), for_ms: None }));
//! let e = bad.validated().unwrap_err();
//! assert!(e.to_string().contains("redis-7"), "{e}");
//! ```

pub mod defaults;
pub mod error;
mod faults;
mod lock_section;
mod memory;
mod parse;
mod redis_section;
mod schema;
mod tree;
mod values;
mod write;

use crate::model::{Fault, Scenario};
pub use error::ScenarioError;

pub use parse::{load_scenario, load_scenario_unchecked, parse_scenario, parse_scenario_unchecked};
pub use schema::{
    MAX_CLIENTS, MAX_CLIENT_RETRIES, MAX_MS, MAX_NODES, MAX_PRESSURE_BYTES, MIN_MAXMEMORY_BYTES,
};

use error::Loc;
use parse::Locs;
use values::Cx;

// ------------------------------------------------------------------------
// The support gate: what the format can say but this build cannot simulate
// yet. `parse_scenario` reports each gap as an error at the offending key
// ("this build of locksim cannot simulate it yet"). Shrink these lists as
// features land.
// ------------------------------------------------------------------------

/// Why this build cannot simulate fault `f` of `s`, if it cannot. Reported
/// at the fault's `kind`.
pub fn support_gap_fault(_f: &Fault, _s: &Scenario) -> Option<String> {
    None
}

/// Every scenario-level gap of `s`, as (dotted key path, message): the path
/// (`redis.topology`, `nemesis.pause.rate`) is where the error is reported.
pub fn support_gap_scenario(_s: &Scenario) -> Vec<(&'static str, String)> {
    Vec::new()
}

/// Rejects what this build cannot simulate, at the offending key or value.
pub(crate) fn check_support(cx: &Cx, s: &Scenario, locs: &Locs) -> Result<(), ScenarioError> {
    const HINT: &str = "this build of locksim cannot simulate it yet";
    if let Err(why) = s.lock.validate() {
        return Err(cx.err(
            &find_loc(locs, "lock.algorithm"),
            why,
            "remove the field, or pick an algorithm that uses it",
        ));
    }
    if let Some((path, why)) = support_gap_scenario(s).into_iter().next() {
        return Err(cx.err(&find_loc(locs, path), why, HINT));
    }
    for (i, f) in s.faults.iter().enumerate() {
        if let Some(why) = support_gap_fault(&f.fault, s) {
            return Err(cx.err(&find_loc(locs, &format!("faults.{i}.kind")), why, HINT));
        }
    }
    Ok(())
}

impl Scenario {
    /// Checks a scenario built in code exactly as a file is checked (every
    /// range, node name and combination, and the support gate): writes it
    /// as TOML and parses that back. The error's position is in that TOML
    /// (`Scenario::to_toml`), and the message quotes the offending line.
    /// Returns the parsed scenario, which equals `self` when it is valid.
    /// A custom lock is [registered](crate::model::custom::register) first.
    pub fn validated(&self) -> Result<Scenario, ScenarioError> {
        if let Some(c) = &self.custom_lock {
            // The text names it; the parser resolves names by registry.
            crate::model::custom::register(c.clone());
        }
        let text = self.to_toml();
        let file = format!("<scenario {:?} built in code>", self.name);
        parse::parse_scenario(&text, &file)
            .map(|mut s| {
                s.custom_lock = self.custom_lock.clone();
                s
            })
            .map_err(|mut e| {
                if let Some(line) = text.lines().nth(e.line.saturating_sub(1)) {
                    e.message = format!("{} (at `{}`)", e.message, line.trim());
                }
                e
            })
    }
}

/// The position of a dotted path, or of its nearest parent that has one.
fn find_loc(locs: &Locs, path: &str) -> Loc {
    let mut p = path;
    loop {
        if let Some(Some(loc)) = locs.get(p) {
            return Some(loc.clone());
        }
        match p.rfind('.') {
            Some(i) => p = &p[..i],
            None => return None,
        }
    }
}
