//! Hunt findings shrink to the fewest faults.
//!
//! The [shrinker](super::shrink) removes faults one chunk at a time from
//! the schedule the nemesis drew, at the times it drew them. That can leave
//! more faults than the story needs: on three Redlock masters without
//! persistence, a run with 12 random kills shrinks to the 4 whose timing
//! happens to matter, where 2 kills right after an acquire suffice. Random
//! times are the trouble: a fault kept because the run needs it *then*
//! cannot move to where fewer faults would do.
//!
//! So after the shrink, the shrunk schedule's faults are dropped and
//! [`check`](super::check) places up to F - 1 faults of the same kinds
//! (F: the shrunk count; at most [`MAX_FAULTS`]) at the decision points of
//! the fault-free run, on triggers (`on = "acquired:client-1"`) or times,
//! at the same seed, with the same clients and cycles. Its first
//! counterexample (fewest faults, then earliest) that keeps what the hunt
//! keeps (the target, and the kind of the first violation) replaces the
//! shrunk schedule. A needle such as a kill inside a 1-2 ms replication
//! window thus ends as the one kill right after the grant. When check
//! finds nothing within the budget, the shrunk schedule stays.

use super::check::space::Kind;
use super::check::{Check, Verdict};
use crate::model::{Fault, Scenario};
use crate::oracle::ViolationKind;
use crate::world::run::Outcome;

/// Runs the re-placement may spend.
pub const DEFAULT_BUDGET: u64 = 3000;

/// The most faults check places (levels beyond 2 are rarely affordable).
pub const MAX_FAULTS: usize = 2;

/// A schedule with fewer faults than the shrink left.
#[derive(Clone, Debug)]
pub struct Placed {
    pub scenario: Scenario,
    pub outcome: Outcome,
    /// Runs check made (schedules plus replays).
    pub runs: u64,
    /// The faults the shrink had left.
    pub shrunk_faults: usize,
}

/// The check alphabet that places faults like `s`'s: one kind per fault
/// class it uses (clock drifts, restarts and heals have none).
pub fn kinds_of(s: &Scenario) -> Vec<Kind> {
    let mut out: Vec<Kind> = s
        .faults
        .iter()
        .filter_map(|f| match f.fault {
            Fault::Kill { .. } => Some(Kind::Kill),
            Fault::PowerLoss { .. } => Some(Kind::PowerLoss),
            Fault::Pause { .. } => Some(Kind::Pause),
            Fault::ClockJump { .. } => Some(Kind::ClockJump),
            Fault::Partition { .. } => Some(Kind::Partition),
            Fault::MemoryPressure { .. } => Some(Kind::MemoryPressure),
            Fault::ClockDrift { .. } | Fault::Restart { .. } | Fault::Heal => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Re-places `shrunk`'s faults with check (see the module docs): `None`
/// when it has fewer than two faults, when `kind` is not a violation kind
/// to look for, or when check finds no counterexample `keep` accepts
/// within `budget` runs.
pub fn fewest(
    shrunk: &Scenario,
    seed: u64,
    kind: Option<ViolationKind>,
    keep: &dyn Fn(&Outcome) -> bool,
    budget: u64,
) -> Option<Placed> {
    let f = shrunk.faults.len();
    let kind = kind?;
    let kinds = kinds_of(shrunk);
    if f < 2 || kinds.is_empty() {
        return None;
    }
    let report = Check::new(shrunk.clone())
        .seed(seed)
        .faults((f - 1).min(MAX_FAULTS))
        .alphabet(kinds)
        .want(Some(kind))
        .max_runs(budget)
        .run();
    let runs = report.coverage.schedules + report.coverage.replays;
    match report.verdict {
        Verdict::Counterexample(cx) if keep(&cx.outcome) => Some(Placed {
            scenario: cx.scenario,
            outcome: cx.outcome,
            runs,
            shrunk_faults: f,
        }),
        _ => None,
    }
}
