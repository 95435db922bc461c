//! Scenario files (format v1, TOML): parsing, validation and writing back.
//!
//! - [`parse_scenario`] / [`load_scenario`]: text or file -> validated
//!   [`Scenario`] with every default filled in, or a [`ScenarioError`] at
//!   `file:line:col` with a hint. Never panics, whatever the input.
//! - [`parse_scenario_unchecked`]: the same without the support gate below
//!   (hunting and the round-trip tests use every fault kind).
//! - [`Scenario::to_toml`]: the canonical, fully explicit file.

pub mod defaults;
pub mod error;
mod faults;

mod parse;
mod redis_section;
mod schema;
mod tree;
mod values;
mod write;

use crate::model::{Fault, Scenario};
pub use error::ScenarioError;

pub use parse::{load_scenario, load_scenario_unchecked, parse_scenario, parse_scenario_unchecked};
pub use schema::{MAX_CLIENTS, MAX_CLIENT_RETRIES, MAX_MS, MAX_NODES};

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
