//! `locksim check --random N`: when the space is too large to cover, draw
//! N schedules over the same decision points, and say what that proves.
//!
//! # What is drawn
//!
//! The scenario runs once without faults, and its [decision points]
//! before the final heal are collected, as for the systematic check.
//! Every decision point paired with every fault [tried there](faults_at)
//! is a **choice**; choices that land at the same instant by the same
//! mechanism with the same fault lead to the same run and are counted
//! once (the check's deduplication). Call their number F.
//!
//! Each draw then, with K the check's fault bound:
//!
//! 1. picks a depth d uniformly in 1..=K (capped at F);
//! 2. picks d distinct choices, uniformly among the C(F, d) sets of d;
//! 3. places them in time order ([`Point::lands_us`], then history order)
//!    and runs the schedule.
//!
//! This is **PCT-style** (after Burckhardt et al., *A Randomized Scheduler
//! with Probabilistic Guarantees of Finding Bugs*, ASPLOS 2010): rather
//! than sampling faults by rate, as `locksim hunt` does, it samples the
//! few points a bug of small depth needs, uniformly over the points that
//! matter, so that the chance of hitting any one such bug has a lower
//! bound that depends only on the size of the space, not on how rare the
//! bug's window is in time.
//!
//! Draw i uses its own [`ChaCha8Rng`] stream (a fixed function of the run
//! seed, stream i), so a draw is the same whatever the number of draws or
//! `jobs`. Draws run in parallel chunks; at the first chunk with a
//! violation the lowest violating draw is reported, which is the lowest
//! violating draw overall: the result never depends on `jobs`.
//!
//! Points come from the fault-free run. After an earlier fault the run
//! differs, and a later choice lands where its anchor is in *that* run: a
//! time placement (`at_ms`) lands at its time whatever happened, a
//! trigger placement at the nth occurrence of its trigger, which may be
//! a different moment, or never. The systematic check re-collects points
//! after each fault; random testing does not need to: every draw is a
//! valid schedule, and the bound below is about the schedules drawn.
//!
//! # The bound
//!
//! Take a bug that one specific schedule triggers: a specific set S of
//! d <= K choices (the order is fixed by time). One draw produces exactly
//! S with probability
//!
//! ```text
//! p_d = 1/K' * 1/C(F, d)        K' = min(K, F)
//! ```
//!
//! (the depth d is picked with probability 1/K', then S is one of the
//! C(F, d) equally likely sets). Other schedules may trigger the same bug
//! too, so p_d is a lower bound on a draw finding it. The worst depth is
//! the one with the most sets, d* = min(K', max(1, floor(F/2))), so every
//! such bug of depth <= K is found by one draw with probability at least
//! p = p_{d*}, and draws are independent, so N draws miss it with
//! probability at most
//!
//! ```text
//! missed <= (1 - p)^N          found >= 1 - (1 - p)^N
//! ```
//!
//! and `ceil(ln(1 - q) / ln(1 - p))` draws reach `found >= q`.
//!
//! C(F, d) can be far beyond f64 (F in the thousands, d = 5), so all of it
//! is computed in log space: `ln C(F, d) = sum over i < d of ln(F - i) -
//! ln(i + 1)`, `ln p = -ln K' - ln C`, `missed = exp(N * ln_1p(-p))`,
//! `found = -exp_m1(N * ln_1p(-p))`. The result is never NaN; `found` can
//! underflow to 0 for astronomically large spaces, and
//! [`Bound::ln_per_draw`] keeps the exact exponent.
//!
//! Assumptions: the bug is triggered by one specific set of choices from
//! the fault-free run's points (a bug that needs a point only a faulted
//! run has is reachable, as explained above, but the bound does not count
//! it); the run is deterministic given the schedule and seed, which
//! madsim guarantees; and a bug's faults are among the alphabet's kinds
//! and lengths ([`faults_at`]).
//!
//! ```no_run
//! use locksim::scenario::load_scenario;
//! use locksim::search::check::{random::random, Check};
//! let s = load_scenario("scenarios/set-nx-px-aof-always-crash.toml".as_ref()).unwrap();
//! let report = random(&Check::new(s).faults(2), 500);
//! println!("{}", report.summary());
//! ```
//!
//! [decision points]: mod@super::points

use super::points::{points, Point};
use super::space::{faults_at, Kind};
use super::{describe, Check, Counterexample, Coverage, Placement, Schedule};
use crate::search::sweep::sweep;
use crate::world::run::run;
use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The guarantee N draws give for bugs of depth <= K (see the module
/// docs for the derivation).
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// K' = min(K, F): the depths drawn.
    pub depth: usize,
    /// F: the choices (point, fault) drawn from.
    pub choices: u64,
    /// Draws the bound is for.
    pub draws: u64,
    /// ln p: the log of the least chance one draw has of hitting a given
    /// schedule of <= K faults (`-inf` when there is nothing to draw).
    pub ln_per_draw: f64,
    /// p = exp(ln p).
    pub per_draw: f64,
    /// At least this chance that N draws hit a given schedule of <= K
    /// faults: 1 - (1 - p)^N.
    pub found: f64,
    /// At most this chance that they miss it: (1 - p)^N.
    pub missed: f64,
    /// Draws for `found >= 0.5` and `found >= 0.99` (u64::MAX when beyond
    /// counting, or when there is nothing to draw).
    pub draws_for_half: u64,
    pub draws_for_99: u64,
}

/// The bound N draws give over F choices with at most K faults.
pub fn bound(choices: u64, k: usize, draws: u64) -> Bound {
    let depth = (k as u64).min(choices) as usize;
    if depth == 0 {
        return Bound {
            depth,
            choices,
            draws,
            ln_per_draw: f64::NEG_INFINITY,
            per_draw: 0.0,
            found: 0.0,
            missed: 1.0,
            draws_for_half: u64::MAX,
            draws_for_99: u64::MAX,
        };
    }
    // The depth with the most sets: C(F, d) grows up to d = F / 2.
    let worst = depth.min((choices / 2).max(1) as usize);
    let f = choices as f64;
    let ln_c: f64 = (0..worst)
        .map(|i| (f - i as f64).ln() - (i as f64 + 1.0).ln())
        .sum();
    let ln_p = -(depth as f64).ln() - ln_c;
    let p = ln_p.exp();
    // ln(1 - p); -p exactly enough when p is tiny, -inf when p = 1.
    let ln_q = (-p).ln_1p();
    let (found, missed) = if draws == 0 {
        (0.0, 1.0)
    } else {
        let e = draws as f64 * ln_q;
        (-e.exp_m1(), e.exp())
    };
    let draws_for = |target: f64| -> u64 {
        let need = -(-target).ln_1p(); // -ln(1 - target) > 0
        let n = if ln_q < 0.0 {
            need / -ln_q
        } else {
            // p underflowed: ln(1 - p) ~ -p = -exp(ln p).
            (need.ln() - ln_p).exp()
        };
        // `as` saturates: inf becomes u64::MAX.
        (n.ceil() as u64).max(1)
    };
    Bound {
        depth,
        choices,
        draws,
        ln_per_draw: ln_p,
        per_draw: p,
        found,
        missed,
        draws_for_half: draws_for(0.5),
        draws_for_99: draws_for(0.99),
    }
}

/// A violation a random check found.
#[derive(Clone, Debug)]
pub struct RandomViolation {
    /// The draw that violated, the lowest one; `None` when the fault-free
    /// run itself violates (then nothing was drawn).
    pub draw: Option<u64>,
    /// Its schedule (`order` holds the indices of its choices), the
    /// explicit scenario that replays it, and its run.
    pub counterexample: Counterexample,
}

/// The result of [`random`].
#[derive(Clone, Debug)]
pub struct RandomReport {
    /// Draws asked for.
    pub requested: u64,
    /// Draws run: all asked for, up to and including the violating one,
    /// or fewer when the check's budget (`max_runs`, `max_time`) ended
    /// first.
    pub draws: u64,
    pub violation: Option<RandomViolation>,
    /// Decision points of the fault-free run before the final heal.
    pub points: usize,
    /// F: the (point, fault) choices, deduplicated.
    pub choices: u64,
    /// K.
    pub faults: usize,
    pub alphabet: Vec<Kind>,
    /// What `draws` draws guarantee.
    pub bound: Bound,
    pub wall: Duration,
}

impl RandomReport {
    /// The one-line result.
    pub fn summary(&self) -> String {
        let head = format!(
            "random: {} draw(s) over {} decision points ({} placements)",
            thousands(self.draws),
            thousands(self.points as u64),
            thousands(self.choices)
        );
        if let Some(v) = &self.violation {
            let s = &v.counterexample.schedule;
            return match v.draw {
                None => format!("{head}: the fault-free run already violates"),
                Some(d) => format!(
                    "{head}: violation at draw {d} with {} fault(s): {}",
                    s.placements.len(),
                    describe(s)
                ),
            };
        }
        if self.choices == 0 {
            return format!("{head}: no violation; nothing to place before the heal");
        }
        let b = &self.bound;
        let cut = if self.draws < self.requested {
            format!(" (budget ended after {} of {})", self.draws, self.requested)
        } else {
            String::new()
        };
        format!(
            "{head}{cut}: no violation; a bug needing one specific placement of <={} fault(s) is missed with probability <= {} (found with >= {}); {} draws give 50%, {} give 99%",
            self.faults,
            at_most(b.missed),
            at_least(b.found, Some(b.ln_per_draw + (b.draws.max(1) as f64).ln())),
            count(b.draws_for_half),
            count(b.draws_for_99)
        )
    }
}

/// Runs `draws` random schedules of `check` (see the module docs).
/// Honors the check's `jobs`, `max_runs` (counting the fault-free run),
/// `max_time` and progress callback (with `level_known` = draws asked,
/// `level_run` = draws run); not its shard.
pub fn random(check: &Check, draws: u64) -> RandomReport {
    let started = Instant::now();
    let base = check.base();
    let seed = check.run_seed();
    let k = check.max_faults();
    let heal_us = base.heal_ms() * 1000;
    let root = run(base, seed);
    let pts = points(&root.history.events, &base.lock.key, 0, heal_us);
    let choices = choices(check, &pts);
    let f = choices.len() as u64;
    let mut cov = Coverage {
        points: pts.len(),
        replays: 1,
        level_known: draws,
        ..Coverage::default()
    };
    let report = |run_draws: u64, violation| RandomReport {
        requested: draws,
        draws: run_draws,
        violation,
        points: pts.len(),
        choices: f,
        faults: k,
        alphabet: check.kinds().to_vec(),
        bound: bound(f, k, run_draws),
        wall: started.elapsed(),
    };
    if check.counts(&root) {
        let schedule = Schedule {
            placements: Vec::new(),
            order: Vec::new(),
        };
        let cx = Counterexample {
            scenario: check.scenario_for(&schedule),
            schedule,
            outcome: root,
            unconfirmed: 0,
        };
        return report(
            0,
            Some(RandomViolation {
                draw: None,
                counterexample: cx,
            }),
        );
    }
    if f == 0 {
        return report(0, None);
    }
    let jobs = check.job_count();
    let chunk = (jobs as u64 * 16).max(16);
    let mut limit = draws;
    if let Some(m) = check.max_runs {
        limit = limit.min(m.saturating_sub(1));
    }
    let mut at = 0u64;
    while at < limit {
        if check.max_time.is_some_and(|t| started.elapsed() >= t) {
            break;
        }
        let end = (at + chunk).min(limit);
        let batch: Vec<u64> = (at..end).collect();
        let verdicts = sweep(
            &batch,
            jobs,
            |&i| {
                let s = draw(seed, i, k, &choices);
                check.counts(&run(&check.scenario_for(&s), seed))
            },
            &|_| {},
        );
        if let Some(j) = verdicts.iter().position(|&v| v) {
            let i = batch[j];
            let schedule = draw(seed, i, k, &choices);
            let scenario = check.scenario_for(&schedule);
            let outcome = run(&scenario, seed);
            // A random draw claims nothing about earlier placements.
            let cx = Counterexample {
                schedule,
                scenario,
                outcome,
                unconfirmed: 0,
            };
            return report(
                i + 1,
                Some(RandomViolation {
                    draw: Some(i),
                    counterexample: cx,
                }),
            );
        }
        at = end;
        cov.schedules = at;
        cov.level_run = at;
        if let Some(p) = &check.progress {
            p(&cov);
        }
    }
    report(at, None)
}

/// The (point, fault) choices of `pts`, in point order then fault order,
/// without placements that lead to the same run.
fn choices(check: &Check, pts: &[Point]) -> Vec<Placement> {
    let mut seen: BTreeSet<((u64, bool), String)> = BTreeSet::new();
    let mut out = Vec::new();
    for p in pts {
        for fault in faults_at(check.base(), check.kinds(), p) {
            if seen.insert((p.key(), format!("{fault:?}"))) {
                out.push(Placement {
                    point: p.clone(),
                    fault,
                });
            }
        }
    }
    out
}

/// The rng of draw `i`: its own stream of a generator keyed by the seed.
fn rng_for(seed: u64, i: u64) -> ChaCha8Rng {
    // A fixed key, distinct from the nemesis's use of the seed.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7063_742d_6472_6177); // "pct-draw"
    rng.set_stream(i);
    rng
}

/// Draw `i`: a depth uniform in 1..=min(K, F), that many distinct
/// choices uniformly, in time order. `choices` is not empty.
pub(crate) fn draw(seed: u64, i: u64, k: usize, choices: &[Placement]) -> Schedule {
    let mut rng = rng_for(seed, i);
    let depth = k.min(choices.len()).max(1);
    let d = rng.gen_range(1..=depth);
    let mut picked: Vec<usize> = index::sample(&mut rng, choices.len(), d).into_vec();
    picked.sort_by_key(|&j| (choices[j].point.lands_us(), j));
    Schedule {
        placements: picked.iter().map(|&j| choices[j].clone()).collect(),
        order: picked.iter().map(|&j| j as u64).collect(),
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A lower bound in words, rounded down: a percentage, or scientific
/// when tiny; `ln` gives the exponent when it underflowed to 0.
fn at_least(x: f64, ln: Option<f64>) -> String {
    if x >= 1.0 {
        return "100%".into();
    }
    if x >= 0.001 {
        let tenths = (x * 1000.0).floor() / 10.0;
        return format!("{tenths}%");
    }
    if x > 0.0 {
        let e = x.log10().floor();
        let m = (x / 10f64.powf(e) * 10.0).floor() / 10.0;
        return format!("{m}e{e}");
    }
    match ln.filter(|l| l.is_finite()) {
        Some(l) => format!("1e{:.0}", (l / std::f64::consts::LN_10).floor()),
        None => "0".into(),
    }
}

/// An upper bound in words, rounded up, with enough decimals to tell it
/// from 1.
fn at_most(x: f64) -> String {
    if x >= 1.0 {
        return "1".into();
    }
    if x <= 0.0 {
        return "0".into();
    }
    let gap = (1.0 - x).max(f64::MIN_POSITIVE);
    let places = ((-gap.log10()).ceil() as i32 + 1).clamp(3, 15);
    let scale = 10f64.powi(places);
    let up = (x * scale).ceil() / scale;
    if up >= 1.0 {
        return "1".into();
    }
    let s = format!("{up:.*}", places as usize);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn count(n: u64) -> String {
    if n == u64::MAX {
        "more than 1.8e19".into()
    } else if n >= 1_000_000_000_000 {
        format!("{:.1e}", n as f64)
    } else {
        thousands(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(thousands(3400), "3,400");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(at_least(0.0029, None), "0.2%");
        assert_eq!(at_least(0.5, None), "50%");
        assert_eq!(at_least(0.99999, None), "99.9%");
        assert_eq!(at_least(2.37e-5, None), "2.3e-5");
        assert_eq!(at_least(0.0, Some(-1000.0)), "1e-435");
        assert_eq!(at_most(0.64101), "0.642");
        assert_eq!(at_most(0.9971), "0.9971");
        assert_eq!(at_most(0.99991), "0.99991");
        assert_eq!(at_most(0.5), "0.5");
        assert_eq!(at_most(0.0), "0");
        assert_eq!(count(u64::MAX), "more than 1.8e19");
    }
}
