//! Hunting: many seeds of a scenario with random faults, the first
//! violation shrunk to a minimal explicit scenario file.
//!
//! A hunt runs `run(scenario, seed)` for a range of seeds on `jobs`
//! threads. Each seed draws its own faults from the scenario's `[nemesis]`
//! (and its own latencies, clocks and work times). Seeds are run in order,
//! in chunks; the hunt stops after the chunk that holds the first finding,
//! so the finding is always the lowest matching seed, whatever `jobs` is.
//!
//! ```no_run
//! use locksim::model::Verdict;
//! use locksim::scenario::load_scenario;
//! use locksim::search::hunt::Hunt;
//! let load = |f: &str| load_scenario(f.as_ref()).unwrap();
//! // A safe configuration: panics with the verdict, the reproduction line
//! // and the paths of the minimal scenario and its report if a seed violates.
//! let fenced = load("sim/tests/hunt-scenarios/row-13-late-release-fenced.toml");
//! Hunt::new(fenced).seeds(0..5000).jobs(2).assert_safe();
//! // A broken one: the hunt must find a violation; returns the first one.
//! let unchecked = load("sim/tests/hunt-scenarios/row-12-no-validity-check.toml");
//! let finding = Hunt::new(unchecked).seeds(0..500).assert_finds(Verdict::Violation);
//! let saved = finding.save().unwrap(); // shrinks, writes minimal.toml + report
//! println!("{}", saved.repro); // locksim run .../minimal.toml --seed N
//! ```
//!
//! Files go to `DIR/<name>/`: `minimal.toml` (the shrunk explicit
//! scenario), `original.toml` (the random run's whole schedule, explicit)
//! and `report/` (the minimal run's report). `DIR` is [`Hunt::dir`] if set
//! (the CLI's `--out DIR`), else `$LOCKSIM_HUNT_DIR`, else `./locksim-hunts`
//! in the current directory (see [`hunt_dir`]).

use super::{fewest, shrink};
use crate::model::{Scenario, Verdict};
use crate::oracle::ViolationKind;
use crate::report::{markdown::describe_violation, repro_line, write_atomic, write_report};
use crate::world::run::{run, Outcome};

use crate::scenario::parse_scenario_unchecked;
use crate::search::sweep::{default_jobs, sweep};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a hunt looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A run with exactly this verdict.
    Verdict(Verdict),
    /// A run with at least one violation of this kind.
    Kind(ViolationKind),
}

impl Target {
    /// Whether `o` is a finding.
    pub fn matches(self, o: &Outcome) -> bool {
        match self {
            Target::Verdict(v) => o.verdict() == v,
            Target::Kind(k) => o.check.violations.iter().any(|v| v.kind == k),
        }
    }
}

impl From<Verdict> for Target {
    fn from(v: Verdict) -> Target {
        Target::Verdict(v)
    }
}

impl From<ViolationKind> for Target {
    fn from(k: ViolationKind) -> Target {
        Target::Kind(k)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Verdict(v) => write!(f, "{v}"),
            Target::Kind(k) => write!(f, "{k:?} violation"),
        }
    }
}

pub use super::sweep::Shard;

/// Progress of a hunt, for a progress bar.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub runs: u64,
    /// Runs that matched the target so far.
    pub found: u64,
}

/// A builder for one hunt.
pub struct Hunt {
    scenario: Scenario,
    file: Option<String>,
    name: String,
    seeds: Range<u64>,
    jobs: usize,
    shard: Shard,
    time: Option<Duration>,
    dir: Option<PathBuf>,
    stop_at_first: bool,
    #[allow(clippy::type_complexity)]
    progress: Option<Box<dyn Fn(Progress) + Sync>>,
}

impl Hunt {
    /// A hunt over `scenario` (its `[nemesis]` draws each seed's faults):
    /// seeds 0..1000 on every core, stopping at the first violation.
    pub fn new(scenario: Scenario) -> Hunt {
        Hunt {
            name: scenario.name.clone(),
            scenario,
            file: None,
            seeds: 0..1000,
            jobs: default_jobs(),
            shard: Shard::ALL,
            time: None,
            dir: None,
            stop_at_first: true,
            progress: None,
        }
    }

    /// The file the scenario came from (for the reproduction line of the
    /// random run; without one, the run is written as `original.toml`).
    pub fn file(mut self, file: impl Into<String>) -> Hunt {
        self.file = Some(file.into());
        self
    }

    /// The folder name under the hunt directory (default: the scenario's name).
    pub fn name(mut self, name: impl Into<String>) -> Hunt {
        self.name = name.into();
        self
    }

    pub fn seeds(mut self, seeds: Range<u64>) -> Hunt {
        self.seeds = seeds;
        self
    }

    pub fn jobs(mut self, jobs: usize) -> Hunt {
        self.jobs = jobs.max(1);
        self
    }

    pub fn shard(mut self, shard: Shard) -> Hunt {
        self.shard = shard;
        self
    }

    /// Stop after this much wall time (checked between chunks of seeds).
    pub fn time_limit(mut self, limit: Duration) -> Hunt {
        self.time = Some(limit);
        self
    }

    /// Write findings under `dir/<name>/` instead of [`hunt_dir`].
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Hunt {
        self.dir = Some(dir.into());
        self
    }

    /// Keep going after the first finding (counts every matching seed).
    pub fn keep_going(mut self, yes: bool) -> Hunt {
        self.stop_at_first = !yes;
        self
    }

    /// Called after every run with the totals so far.
    pub fn on_progress(mut self, f: impl Fn(Progress) + Sync + 'static) -> Hunt {
        self.progress = Some(Box::new(f));
        self
    }

    /// The seeds this hunt (this shard) would run, in order.
    pub fn seed_list(&self) -> impl Iterator<Item = u64> + '_ {
        self.seeds.clone().filter(|&s| self.shard.owns(s))
    }

    /// Where findings of this hunt are written.
    pub fn out_dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(hunt_dir).join(&self.name)
    }

    /// Runs the hunt for `target`.
    pub fn run(&self, target: impl Into<Target>) -> HuntReport {
        let target = target.into();
        let start = Instant::now();
        let chunk = (self.jobs * 8).max(32);
        let mut seeds = self.seed_list();
        let mut report = HuntReport {
            name: self.scenario.name.clone(),
            target,
            shard: self.shard,
            runs: 0,
            verdicts: [0; 3],
            found: 0,
            last_seed: None,
            complete: false,
            wall: Duration::ZERO,
            first: None,
        };
        let found = AtomicU64::new(0);
        loop {
            let batch: Vec<u64> = seeds.by_ref().take(chunk).collect();
            if batch.is_empty() {
                report.complete = true;
                break;
            }
            let base = report.runs;
            let outs = sweep(
                &batch,
                self.jobs,
                |&seed| {
                    let o = run(&self.scenario, seed);
                    let hit = target.matches(&o);
                    if hit {
                        found.fetch_add(1, Ordering::Relaxed);
                    }
                    (o.verdict(), hit.then_some(o))
                },
                &|done| {
                    if let Some(p) = &self.progress {
                        p(Progress {
                            runs: base + done as u64,
                            found: found.load(Ordering::Relaxed),
                        });
                    }
                },
            );
            report.runs += batch.len() as u64;
            report.last_seed = batch.last().copied();
            for (verdict, hit) in outs {
                report.verdicts[verdict as usize] += 1;
                if let Some(o) = hit {
                    report.found += 1;
                    if report.first.is_none() {
                        report.first = Some(Finding {
                            scenario: self.scenario.clone(),
                            file: self.file.clone(),
                            dir: self.out_dir(),
                            target,
                            outcome: o,
                        });
                    }
                }
            }
            if report.first.is_some() && self.stop_at_first {
                break;
            }
            if self.time.is_some_and(|t| start.elapsed() >= t) {
                break;
            }
        }
        report.wall = start.elapsed();
        report
    }

    /// Panics (with the verdict, the reproduction line and the paths of
    /// the written minimal scenario and report) if any seed violates.
    /// Liveness losses are counted, not failures.
    pub fn assert_safe(self) -> HuntReport {
        self.assert_never(Verdict::Violation)
    }

    /// Panics if any seed matches `target`, after shrinking and saving it.
    pub fn assert_never(self, target: impl Into<Target>) -> HuntReport {
        let report = self.run(target);
        if let Some(f) = &report.first {
            let saved = f.save();
            panic!("{}", f.failure_message(&report, saved.as_ref()));
        }
        report
    }

    /// Panics unless some seed matches `target`; returns the first one
    /// (not shrunk: call [`Finding::save`] for the minimal scenario).
    pub fn assert_finds(self, target: impl Into<Target>) -> Finding {
        let target = target.into();
        let report = self.run(target);
        match report.first {
            Some(f) => f,
            None => panic!(
                "locksim hunt `{}`: no {} in {} runs (seeds {}..{}, shard {}; {} safe, {} liveness, {} violation)",
                report.name,
                target,
                report.runs,
                self.seeds.start,
                self.seeds.end,
                self.shard,
                report.verdicts[0],
                report.verdicts[1],
                report.verdicts[2]
            ),
        }
    }
}

/// What a hunt did.
#[derive(Debug)]
pub struct HuntReport {
    pub name: String,
    pub target: Target,
    pub shard: Shard,
    pub runs: u64,
    /// Runs per verdict, indexed by `Verdict as usize` (safe, liveness, violation).
    pub verdicts: [u64; 3],
    /// Runs that matched the target.
    pub found: u64,
    /// The last seed run.
    pub last_seed: Option<u64>,
    /// Every seed of the range ran (no early stop, no time limit).
    pub complete: bool,
    pub wall: Duration,
    /// The lowest matching seed.
    pub first: Option<Finding>,
}

impl HuntReport {
    pub fn runs_per_s(&self) -> f64 {
        self.runs as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// A matching run, as the hunt found it.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The scenario the hunt ran (with its nemesis).
    pub scenario: Scenario,
    pub file: Option<String>,
    /// Where [`Finding::save`] writes.
    pub dir: PathBuf,
    pub target: Target,
    pub outcome: Outcome,
}

impl Finding {
    pub fn seed(&self) -> u64 {
        self.outcome.seed
    }

    pub fn verdict(&self) -> Verdict {
        self.outcome.verdict()
    }

    /// The explicit scenario the random run ran.
    pub fn effective(&self) -> Scenario {
        self.outcome.effective(&self.scenario)
    }

    /// One line on what went wrong.
    pub fn summary(&self) -> String {
        match self.outcome.check.violations.first() {
            Some(v) => format!(
                "{:?}: {}",
                v.kind,
                describe_violation(v, &self.scenario.lock.key)
            ),
            None => crate::report::markdown::verdict_sentence(&self.scenario, &self.outcome),
        }
    }

    /// What the shrinker must keep: the target, and for a violation the
    /// kind of the first one (an L run must not shrink into an R run).
    pub fn keep(&self) -> impl Fn(&Outcome) -> bool {
        let target = self.target;
        let kind = self.outcome.check.violations.first().map(|v| v.kind);
        move |o: &Outcome| {
            target.matches(o) && kind.is_none_or(|k| o.check.violations.iter().any(|v| v.kind == k))
        }
    }

    /// Shrinks the run to a minimal explicit scenario (deterministic),
    /// then lets check re-place what is left with fewer faults
    /// ([`fewest`]).
    pub fn shrink(&self) -> shrink::Shrunk {
        let keep = self.keep();
        let mut shrunk = shrink::shrink(
            &self.effective(),
            self.seed(),
            &keep,
            shrink::DEFAULT_BUDGET,
        );
        if shrunk.outcome.verdict() != self.outcome.verdict() || !keep(&shrunk.outcome) {
            return shrunk;
        }
        let kind = self.outcome.check.violations.first().map(|v| v.kind);
        let budget = fewest::DEFAULT_BUDGET;
        if let Some(p) = fewest::fewest(&shrunk.scenario, self.seed(), kind, &keep, budget) {
            shrunk.replaced = Some(shrink::Replaced {
                shrunk_faults: p.shrunk_faults,
                check_runs: p.runs,
            });
            shrunk.scenario = p.scenario;
            shrunk.outcome = p.outcome;
        }
        shrunk
    }

    /// Shrinks and writes everything into [`Finding::dir`].
    pub fn save(&self) -> std::io::Result<Saved> {
        self.save_to(&self.dir)
    }

    /// Shrinks, then writes into `dir`: `minimal.toml`, `original.toml`
    /// and `report/` (the minimal run). Replays `minimal.toml` from disk to
    /// check that it reproduces the same history hash.
    pub fn save_to(&self, dir: &Path) -> std::io::Result<Saved> {
        let shrunk = self.shrink();
        let seed = self.seed();
        let mut minimal = shrunk.scenario.clone();
        minimal.name = format!("{}-seed{seed}-min", self.scenario.name);
        minimal.expect = shrunk.outcome.verdict();
        let what = match shrunk.outcome.check.violations.first() {
            Some(v) => describe_violation(v, &minimal.lock.key),
            None => crate::report::markdown::verdict_sentence(&minimal, &shrunk.outcome),
        };
        let placed = match shrunk.replaced {
            Some(_) => ", placed on decision points by locksim check",
            None => "",
        };
        minimal.about = format!(
            "Shrunk by locksim hunt from {} seed {seed} ({} of {} faults{placed}): {what}",
            self.file.as_deref().unwrap_or(&self.scenario.name),
            minimal.faults.len(),
            shrunk.faults_before,
        );
        let min_file = dir.join("minimal.toml");
        let orig_file = dir.join("original.toml");
        let text = minimal.to_toml();
        write_atomic(&min_file, text.as_bytes())?;
        let mut original = self.effective();
        original.expect = self.verdict();
        write_atomic(&orig_file, original.to_toml().as_bytes())?;
        let min_name = min_file.display().to_string();
        let report_dir = write_report(&dir.join("report"), &minimal, &min_name, &shrunk.outcome)?;
        let hash = shrunk.outcome.hash();
        let replayed = std::fs::read_to_string(&min_file).ok().and_then(|t| {
            let s = parse_scenario_unchecked(&t, &min_name).ok()?;
            Some(run(&s, seed).hash())
        });
        let original_repro = match &self.file {
            Some(f) => repro_line(f, seed),
            None => repro_line(&orig_file.display().to_string(), seed),
        };
        Ok(Saved {
            repro: repro_line(&min_name, seed),
            original_repro,
            minimal_file: min_file,
            original_file: orig_file,
            report_dir,
            replay_matches: replayed.as_deref() == Some(hash.as_str()),
            hash,
            minimal,
            shrunk,
        })
    }

    /// The panic message of a failed `assert_safe`/`assert_never`.
    pub fn failure_message(
        &self,
        report: &HuntReport,
        saved: Result<&Saved, &std::io::Error>,
    ) -> String {
        let mut m = format!(
            "locksim hunt `{}`: {} at seed {} (run {} of the hunt)\n  {}\n  repro: {}\n",
            self.scenario.name,
            self.verdict(),
            self.seed(),
            report.runs,
            self.summary(),
            match &self.file {
                Some(f) => repro_line(f, self.seed()),
                None => "(see original.toml below)".into(),
            }
        );
        match saved {
            Ok(s) => m.push_str(&s.describe()),
            Err(e) => m.push_str(&format!("  (could not write the minimal scenario: {e})\n")),
        }
        m
    }
}

/// A shrunk finding, written to disk.
#[derive(Clone, Debug)]
pub struct Saved {
    pub minimal: Scenario,
    pub shrunk: shrink::Shrunk,
    pub minimal_file: PathBuf,
    pub original_file: PathBuf,
    pub report_dir: PathBuf,
    /// `locksim run <minimal.toml> --seed <n>`
    pub repro: String,
    /// The random run's own reproduction line.
    pub original_repro: String,
    pub hash: String,
    /// Replaying `minimal.toml` from disk gave the same hash.
    pub replay_matches: bool,
}

impl Saved {
    pub fn describe(&self) -> String {
        let replaced = match self.shrunk.replaced {
            Some(r) => format!(
                " (check re-placed the {} faults the shrink left, in {} runs)",
                r.shrunk_faults, r.check_runs
            ),
            None => String::new(),
        };
        format!(
            "  shrunk: {} of {} faults in {} runs{replaced}, verdict {}, hash {}{}\n  minimal: {}\n  scenario: {}\n  report: {}\n  original schedule: {}\n",
            self.minimal.faults.len(),
            self.shrunk.faults_before,
            self.shrunk.runs,
            self.shrunk.outcome.verdict(),
            self.hash,
            if self.replay_matches { "" } else { " (REPLAY MISMATCH)" },
            self.repro,
            self.minimal_file.display(),
            self.report_dir.join("report.md").display(),
            self.original_file.display(),
        )
    }
}

/// The hunt scenarios of the ground-truth rows: `sim/tests/hunt-scenarios`
/// of a locksim checkout, relative to the current directory (so found when
/// run from the repository root), `None` when it is not there. Nothing at
/// run time looks into the tree locksim was built from.
pub fn hunt_scenarios_dir() -> Option<PathBuf> {
    let dir = PathBuf::from("sim/tests/hunt-scenarios");
    dir.is_dir().then_some(dir)
}

/// Where hunts write their findings (each under `<name>/`):
/// `$LOCKSIM_HUNT_DIR` when set and not empty, else `locksim-hunts` in the
/// current directory. [`Hunt::dir`] (the CLI's `--out DIR`) beats both.
pub fn hunt_dir() -> PathBuf {
    match std::env::var_os("LOCKSIM_HUNT_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from("locksim-hunts"),
    }
}
