//! `locksim check`: a bounded proof for a small setup. Either no placement
//! of up to K faults breaks it, or here is the shortest story that does.
//!
//! 1. The scenario runs once without faults (its nemesis is dropped, and
//!    its own `[[faults]]` too unless [`Check::keep_faults`] keeps them as
//!    part of the setup). Its [decision points](mod@points) are every
//!    event after which a fault can change the outcome: grants, acquire
//!    replies, releases, a release's read of a reply it acts on next,
//!    renewals, replication applies, fsyncs, expiries, deletes, and a
//!    killed node's restart.
//! 2. Level 1 places each fault of the [alphabet](space) at each point and
//!    runs it. Level k + 1 places one more fault at each decision point
//!    *after* the last one, in the run the first k faults made. A run with
//!    one more fault replays its parent exactly up to the new fault, so the
//!    points of one run are points of the next.
//! 3. Placements that land at the same instant by the same mechanism with
//!    the same fault lead to the same run: only the first is run, the rest
//!    are counted as deduplicated.
//!
//! Levels run in turn. Within a level the search goes by [tier](tier)
//! first (the most relevant faults right after grants and acquire replies,
//! where needles such as a failover inside the replication window sit),
//! in parallel chunks; once it meets a violation, every placement before
//! that one in enumeration order (the decision points' time order) runs
//! too, and the first that violates in that order is the **shortest
//! counterexample**: fewest faults, then earliest. The result and the
//! counts never depend on `jobs`; `first_violation_runs` says how soon the
//! search met a violation at all. With none, the setup is
//! **certified** for that bound and alphabet. A budget (`runs`, `time`)
//! that ends first leaves the space **partly covered**, and says how much.
//!
//! `shard = I/N` keeps the level-1 placements whose index is I mod N and
//! everything placed after them: shards split the space without overlap,
//! and [`shard::merge`] gives the verdict one machine would.
//!
//! ```no_run
//! use locksim::scenario::load_scenario;
//! use locksim::search::check::{Check, Verdict};
//! let s = load_scenario("scenarios/set-nx-px-aof-always-crash.toml".as_ref()).unwrap();
//! let report = Check::new(s).faults(1).run();
//! assert!(matches!(report.verdict, Verdict::Certified));
//! ```

pub mod points;
pub mod random;
pub mod shard;
pub mod space;
pub mod suggest;

use crate::model::{Fault, FaultSpec, Scenario, Verdict as RunVerdict};
use crate::oracle::ViolationKind;
use crate::search::sweep::Shard;
use crate::search::sweep::{default_jobs, sweep};
use crate::world::nemesis::quiet;
use crate::world::run::{run, Outcome as RunOutcome};
use points::{points, Point, PointKind};
use serde::{Deserialize, Serialize};
use space::{alphabet_of, faults_at, Kind};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One placed fault: where, and what.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub point: Point,
    pub fault: Fault,
}

/// A schedule: the placements of one run, in time order, with its place
/// in the enumeration (`order`: the index at each level).
#[derive(Clone, Debug)]
pub struct Schedule {
    pub placements: Vec<Placement>,
    pub order: Vec<u64>,
}

impl Schedule {
    /// The faults as a scenario file writes them.
    pub fn specs(&self) -> Vec<FaultSpec> {
        self.placements
            .iter()
            .map(|p| FaultSpec {
                when: p.point.when,
                fault: p.fault.clone(),
            })
            .collect()
    }

    /// True time (µs) the last fault lands.
    fn last_us(&self) -> u64 {
        self.placements.last().map_or(0, |p| p.point.lands_us())
    }
}

/// What a check concluded.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// No violation anywhere in the space.
    Certified,
    /// The shortest counterexample.
    Counterexample(Box<Counterexample>),
    /// The budget ended before the space was covered.
    Exhausted,
}

/// A violating schedule and its run.
#[derive(Clone, Debug)]
pub struct Counterexample {
    pub schedule: Schedule,
    /// The explicit scenario that replays it.
    pub scenario: Scenario,
    pub outcome: RunOutcome,
    /// Placements before it (at its level, in enumeration order) that the
    /// budget left unrun: 0 when it is known to be the earliest. It has the
    /// fewest faults either way (the levels before it were covered).
    pub unconfirmed: u64,
}

/// How much of the space a check covered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Decision points of the fault-free run.
    pub points: usize,
    /// Schedules run.
    pub schedules: u64,
    /// Placements not run because an earlier one leads to the same run.
    pub deduplicated: u64,
    /// Runs that only replayed a parent to find its decision points.
    pub replays: u64,
    /// Levels (fault counts) covered completely.
    pub levels_done: usize,
    /// Schedules known at the level in progress, and how many of them ran.
    pub level_known: u64,
    pub level_run: u64,
    /// Runs (schedules plus replays) when the search first met a
    /// violation; the earliest one may take a few more to confirm.
    #[serde(default)]
    pub first_violation_runs: Option<u64>,
}

/// The result of a check.
#[derive(Clone, Debug)]
pub struct Report {
    pub verdict: Verdict,
    pub coverage: Coverage,
    pub faults: usize,
    pub alphabet: Vec<Kind>,
    pub wall: Duration,
    /// The scenario's own faults every schedule kept (`--keep-faults`).
    pub kept: usize,
}

impl Report {
    /// The one-line verdict.
    pub fn summary(&self) -> String {
        let c = &self.coverage;
        let kinds: Vec<&str> = self.alphabet.iter().map(|k| k.name()).collect();
        let line = self.bare_summary(c, &kinds);
        match self.kept {
            0 => line,
            n => format!("{line} (on top of the scenario's own {n} fault(s), kept)"),
        }
    }

    fn bare_summary(&self, c: &Coverage, kinds: &[&str]) -> String {
        match &self.verdict {
            Verdict::Certified => format!(
                "certified: no violation with <={} fault(s) of kinds {} at any of {} decision points: {} schedules run, {} deduplicated",
                self.faults,
                kinds.join(","),
                c.points,
                c.schedules,
                c.deduplicated
            ),
            Verdict::Counterexample(cx) if cx.unconfirmed > 0 => format!(
                "counterexample with {} fault(s), after {} schedules: {} (the fewest faults; the budget ended before {} earlier placement(s) ran, so a yet earlier one may exist)",
                cx.schedule.placements.len(),
                c.schedules,
                describe(&cx.schedule),
                cx.unconfirmed
            ),
            Verdict::Counterexample(cx) => format!(
                "counterexample with {} fault(s), after {} schedules: {}",
                cx.schedule.placements.len(),
                c.schedules,
                describe(&cx.schedule)
            ),
            Verdict::Exhausted if c.level_known == 0 => format!(
                "budget exhausted: levels 1..={} covered ({} schedules, {} deduplicated), level {} not started: finding its decision points took {} replays; no violation so far",
                c.levels_done,
                c.schedules,
                c.deduplicated,
                c.levels_done + 1,
                c.replays
            ),
            Verdict::Exhausted => format!(
                "budget exhausted: levels 1..={} covered, level {}: {} of {} schedules run ({} in all, {} deduplicated); no violation so far",
                c.levels_done,
                c.levels_done + 1,
                c.level_run,
                c.level_known,
                c.schedules,
                c.deduplicated
            ),
        }
    }
}

/// The placements of a schedule in words.
pub fn describe(s: &Schedule) -> String {
    let parts: Vec<String> = s
        .placements
        .iter()
        .map(|p| {
            format!(
                "{} after the {}",
                crate::report::describe::fault(&p.fault),
                p.point
            )
        })
        .collect();
    parts.join("; then ")
}

/// Called after each chunk of schedules with the coverage so far.
type OnProgress = Box<dyn Fn(&Coverage) + Sync>;

/// A bounded check of one scenario.
pub struct Check {
    base: Scenario,
    seed: u64,
    faults: usize,
    alphabet: Vec<Kind>,
    jobs: usize,
    max_runs: Option<u64>,
    max_time: Option<Duration>,
    shard: Shard,
    progress: Option<OnProgress>,
    /// Only violations of this kind count (`None`: any).
    want: Option<ViolationKind>,
    /// The scenario's own `[[faults]]`, put back by [`Check::keep_faults`].
    own_faults: Vec<FaultSpec>,
}

impl Check {
    /// A check of `scenario` at its seed: its own faults and nemesis are
    /// dropped; the alphabet defaults to its nemesis's classes (all kinds
    /// when it has none); one fault; no budget.
    pub fn new(scenario: Scenario) -> Check {
        let alphabet = alphabet_of(&scenario);
        let seed = scenario.seed;
        let mut base = scenario;
        let own_faults = std::mem::take(&mut base.faults);
        quiet(&mut base.nemesis);
        Check {
            base,
            seed,
            faults: 1,
            alphabet,
            jobs: default_jobs(),
            max_runs: None,
            max_time: None,
            shard: Shard::ALL,
            progress: None,
            want: None,
            own_faults,
        }
    }

    /// Keeps the scenario's own `[[faults]]` as part of the setup (a
    /// replica already cut off, clients that start late) and places up to
    /// K faults on top of them: the fault-free run is then the scenario as
    /// written, minus its nemesis. Off by default.
    pub fn keep_faults(mut self, keep: bool) -> Check {
        self.base.faults = if keep {
            self.own_faults.clone()
        } else {
            Vec::new()
        };
        self
    }

    /// The scenario's own faults every schedule keeps (none unless
    /// [`Check::keep_faults`]).
    pub fn kept_faults(&self) -> usize {
        self.base.faults.len()
    }

    /// Counts only violations of `kind`: L (two holders at once) or R (a
    /// stale write accepted), e.g. a Redlock's two holders without the
    /// stale writes a pause past the validity makes anyway.
    pub fn want(mut self, kind: Option<ViolationKind>) -> Check {
        self.want = kind;
        self
    }

    /// Whether `o` is a violation this check counts.
    pub fn counts(&self, o: &RunOutcome) -> bool {
        o.verdict() == RunVerdict::Violation
            && self
                .want
                .is_none_or(|k| o.check.violations.iter().any(|v| v.kind == k))
    }

    pub fn seed(mut self, seed: u64) -> Check {
        self.seed = seed;
        self
    }

    pub fn faults(mut self, k: usize) -> Check {
        self.faults = k.max(1);
        self
    }

    pub fn alphabet(mut self, kinds: Vec<Kind>) -> Check {
        self.alphabet = kinds;
        self
    }

    pub fn jobs(mut self, jobs: usize) -> Check {
        self.jobs = jobs.max(1);
        self
    }

    pub fn max_runs(mut self, runs: u64) -> Check {
        self.max_runs = Some(runs);
        self
    }

    pub fn max_time(mut self, t: Duration) -> Check {
        self.max_time = Some(t);
        self
    }

    pub fn shard(mut self, shard: Shard) -> Check {
        self.shard = shard;
        self
    }

    pub fn on_progress(mut self, f: impl Fn(&Coverage) + Sync + 'static) -> Check {
        self.progress = Some(Box::new(f));
        self
    }

    /// The scenario every schedule is added to.
    pub fn base(&self) -> &Scenario {
        &self.base
    }

    /// The run seed.
    pub fn run_seed(&self) -> u64 {
        self.seed
    }

    /// The bound K: at most this many faults per schedule.
    pub fn max_faults(&self) -> usize {
        self.faults
    }

    /// The fault kinds placed.
    pub fn kinds(&self) -> &[Kind] {
        &self.alphabet
    }

    /// Worker threads.
    pub fn job_count(&self) -> usize {
        self.jobs
    }

    /// The explicit scenario that runs `schedule`.
    pub fn scenario_for(&self, schedule: &Schedule) -> Scenario {
        let mut s = self.base.clone();
        s.faults.extend(schedule.specs());
        s.seed = self.seed;
        s
    }

    /// Runs the check.
    pub fn run(&self) -> Report {
        let started = Instant::now();
        let mut cov = Coverage::default();
        let heal_us = self.base.heal_ms() * 1000;
        let key = self.base.lock.key.clone();
        let root = run(&self.base, self.seed);
        // Every shard runs the fault-free run; shard 0 counts it.
        if self.shard.owns(0) {
            cov.replays += 1;
        }
        let root_points = points(&root.history.events, &key, 0, heal_us);
        cov.points = root_points.len();
        let report = |verdict, cov: Coverage| Report {
            verdict,
            coverage: cov,
            faults: self.faults,
            alphabet: self.alphabet.clone(),
            wall: started.elapsed(),
            kept: self.kept_faults(),
        };
        if self.counts(&root) {
            let cx = Counterexample {
                schedule: Schedule {
                    placements: Vec::new(),
                    order: Vec::new(),
                },
                scenario: self.scenario_for(&Schedule {
                    placements: Vec::new(),
                    order: Vec::new(),
                }),
                outcome: root,
                unconfirmed: 0,
            };
            return report(Verdict::Counterexample(Box::new(cx)), cov);
        }
        let parent = Schedule {
            placements: Vec::new(),
            order: Vec::new(),
        };
        let mut frontier: Vec<(Schedule, Vec<Point>)> = vec![(parent, root_points)];
        for level in 1..=self.faults {
            let mut level_schedules = Vec::new();
            let mut tiers = Vec::new();
            for (parent, pts) in &frontier {
                // Placements landing at the same instant by the same
                // mechanism with the same fault lead to the same run. The
                // unique ones are numbered; a level-1 placement belongs to
                // shard (number mod N), and so does a duplicate of it.
                let mut first: BTreeMap<((u64, bool), String), u64> = BTreeMap::new();
                let mut unique = 0u64;
                for p in pts {
                    for (rank, f) in faults_at(&self.base, &self.alphabet, p)
                        .into_iter()
                        .enumerate()
                    {
                        let key = (p.key(), format!("{f:?}"));
                        let owned = |i: u64| level > 1 || self.shard.owns(i);
                        if let Some(&i) = first.get(&key) {
                            if owned(i) {
                                cov.deduplicated += 1;
                            }
                            continue;
                        }
                        let i = unique;
                        unique += 1;
                        first.insert(key, i);
                        if !owned(i) {
                            continue;
                        }
                        let mut s = parent.clone();
                        s.placements.push(Placement {
                            point: p.clone(),
                            fault: f,
                        });
                        s.order.push(i);
                        level_schedules.push(s);
                        tiers.push(tier(p.kind, rank));
                    }
                }
            }
            cov.level_known = level_schedules.len() as u64;
            cov.level_run = 0;
            let expand = level < self.faults;
            let (found, next_points) =
                self.run_level(&level_schedules, &tiers, expand, &mut cov, started);
            match found {
                LevelEnd::Found(cx) => return report(Verdict::Counterexample(cx), cov),
                LevelEnd::OutOfBudget => return report(Verdict::Exhausted, cov),
                LevelEnd::Clean => {}
            }
            cov.levels_done = level;
            if level == self.faults {
                break;
            }
            // The next level places one more fault after each run's last.
            frontier = level_schedules.into_iter().zip(next_points).collect();
        }
        report(Verdict::Certified, cov)
    }

    fn out_of_budget(&self, cov: &Coverage, started: Instant) -> bool {
        self.max_runs
            .is_some_and(|m| cov.schedules + cov.replays >= m)
            || self.max_time.is_some_and(|t| started.elapsed() >= t)
    }

    /// Runs one level's schedules, in chunks, until the earliest violating
    /// one (in enumeration order) is known, or the budget ends.
    ///
    /// The search goes by [`tier`] (the most relevant faults right after
    /// grants and acquire replies first) until it meets a violation, which is when
    /// `first_violation_runs` is taken. Every schedule before that one in
    /// enumeration order then runs, in that order, and the first that
    /// violates is the answer: the same schedule a plain in-order pass
    /// reports, usually met sooner. Counts are of schedules in the order
    /// they are considered, so they never depend on `jobs`.
    /// With `expand`, each clean run also hands back its decision points
    /// after its last fault (the next level's placements), so no run is
    /// made twice.
    fn run_level(
        &self,
        schedules: &[Schedule],
        tiers: &[u8],
        expand: bool,
        cov: &mut Coverage,
        started: Instant,
    ) -> (LevelEnd, Vec<Vec<Point>>) {
        let key = self.base.lock.key.as_str();
        let heal_us = self.base.heal_ms() * 1000;
        let exec = |idx: &[usize]| {
            sweep(
                idx,
                self.jobs,
                |&i| {
                    let s = &schedules[i];
                    let o = run(&self.scenario_for(s), self.seed);
                    let pts = match expand {
                        true => points(&o.history.events, key, s.last_us() + 1, heal_us),
                        false => Vec::new(),
                    };
                    (self.counts(&o), pts)
                },
                &|_| {},
            )
        };
        let n = schedules.len();
        let chunk = (self.jobs * 16).max(16);
        let mut results: Vec<Option<(bool, Vec<Point>)>> = vec![None; n];
        let mut counted = vec![false; n];
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (tiers[i], i));
        // Pass 1: the search order, to the first violation.
        let mut hit = None;
        let mut at = 0;
        while at < n && hit.is_none() {
            if self.out_of_budget(cov, started) {
                return (LevelEnd::OutOfBudget, Vec::new());
            }
            let end = self.chunk_end(at, chunk, n, cov);
            let batch = &order[at..end];
            for (&i, r) in batch.iter().zip(exec(batch)) {
                results[i] = Some(r);
            }
            for &i in batch {
                counted[i] = true;
                cov.schedules += 1;
                cov.level_run += 1;
                if results[i].as_ref().is_some_and(|r| r.0) {
                    hit = Some(i);
                    cov.first_violation_runs = Some(cov.schedules + cov.replays);
                    break;
                }
            }
            at = end;
            if let Some(p) = &self.progress {
                p(cov);
            }
        }
        let Some(mut best) = hit else {
            let next = results.into_iter().map(|r| r.expect("run").1).collect();
            return (LevelEnd::Clean, next);
        };
        // Pass 2: everything before it in enumeration order, in that order.
        let before: Vec<usize> = (0..best).filter(|&i| !counted[i]).collect();
        let mut at = 0;
        let mut unconfirmed = 0;
        'earlier: while at < before.len() {
            if self.out_of_budget(cov, started) {
                unconfirmed = (before.len() - at) as u64;
                break;
            }
            let end = self.chunk_end(at, chunk, before.len(), cov);
            let todo: Vec<usize> = before[at..end]
                .iter()
                .copied()
                .filter(|&i| results[i].is_none())
                .collect();
            for (&i, r) in todo.iter().zip(exec(&todo)) {
                results[i] = Some(r);
            }
            for &i in &before[at..end] {
                cov.schedules += 1;
                cov.level_run += 1;
                if results[i].as_ref().is_some_and(|r| r.0) {
                    best = i;
                    break 'earlier;
                }
            }
            at = end;
        }
        let s = schedules[best].clone();
        let scenario = self.scenario_for(&s);
        let outcome = run(&scenario, self.seed);
        let cx = Counterexample {
            schedule: s,
            scenario,
            outcome,
            unconfirmed,
        };
        (LevelEnd::Found(Box::new(cx)), Vec::new())
    }

    /// Where a chunk starting at `at` of `n` ends: `chunk` long, and no
    /// further than the run budget allows.
    fn chunk_end(&self, at: usize, chunk: usize, n: usize, cov: &Coverage) -> usize {
        let mut end = (at + chunk).min(n);
        if let Some(m) = self.max_runs {
            let left = m.saturating_sub(cov.schedules + cov.replays) as usize;
            end = end.min(at + left.max(1));
        }
        end
    }
}

/// The search tier of a placement (lower first; see [`Check::run_level`]).
/// First the most relevant faults (the point's own client or node, longest
/// first: four, enough for a Redis node's every length) right after an
/// acquire reply, where the client starts to act on the lock: a pause past
/// the lease, a kill of the master before replication. Then the two most
/// relevant right after a grant, the window before the reply (a pause
/// there outlives the lease unseen), and the four most relevant right
/// after a release deleted the key (a lost reply the client re-sends) or
/// read a reply it acts on next (a GET before its DEL), or right after a
/// killed node came back (before it resynced). Then every other fault
/// after an acquire reply; then the rest. Within a tier, enumeration
/// order.
fn tier(kind: PointKind, rank: usize) -> u8 {
    match kind {
        PointKind::AcquireReply if rank < 4 => 0,
        PointKind::Grant if rank < 2 => 1,
        PointKind::Restart if rank < 4 => 0,
        PointKind::Delete | PointKind::ReleaseRead if rank < 4 => 1,
        PointKind::AcquireReply => 2,
        _ => 3,
    }
}

enum LevelEnd {
    Clean,
    Found(Box<Counterexample>),
    OutOfBudget,
}
