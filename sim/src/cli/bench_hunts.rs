//! `locksim bench`'s hunt tables: the runs and wall time to the first
//! violation from random faults for every violation hunt in
//! `sim/tests/hunt-scenarios/`, and beside them the runs `locksim check`
//! needs to its first violation on the same scenario.
//!
//! Hunting is measured twice. "hunt" runs the scenario as written: its
//! nemesis rates are tuned so that the CI hunts hit within a few runs, and
//! a run then carries several faults at once (7.5 kills per run on row 15).
//! "hunt@1" is the same nemesis scaled so that a run carries one fault on
//! average (every rate times 1 / expected faults per run): random search at
//! the fault budget `check` works with (K = 1, then 2), which is the
//! comparison issue 13 draws ("random runs find a kill inside a replication
//! window after tens to hundreds of tries"). The issue's targets are
//! printed against both. Both searches count only a violation of the
//! kind the scenario's ground-truth row names (L: two holders; R: a stale
//! write), so a hunt for row 27's two holders is not credited with the
//! stale writes a pause past the validity makes anyway (row 28).

use super::EXIT_OK;
use super::EXIT_USAGE;
use crate::model::Scenario;
use crate::oracle::ViolationKind;
use crate::scenario::load_scenario;
use crate::world::nemesis;
use crate::world::run::run;
use std::time::Instant;

/// Runs, on one thread, until the first violation from random faults:
/// the median over the gaps between violating seeds.
pub struct FirstViolation {
    pub runs: u64,
    pub violations: u64,
    pub median_runs: Option<f64>,
    pub median_wall_ms: Option<f64>,
}

/// Seeds 0.. of `s` on this thread until `want` violations (or `max_runs`
/// runs, or `max_wall` seconds).
/// Only violations of `kind` count (`None`: any).
pub fn first_violation(
    s: &Scenario,
    kind: Option<ViolationKind>,
    want: u64,
    max_runs: u64,
    max_wall: f64,
) -> FirstViolation {
    let started = Instant::now();
    let (mut gaps_runs, mut gaps_ms) = (Vec::new(), Vec::new());
    let (mut since, mut since_ms, mut runs) = (0u64, 0.0f64, 0u64);
    for seed in 0..max_runs {
        let t = Instant::now();
        let o = run(s, seed);
        since_ms += t.elapsed().as_secs_f64() * 1e3;
        since += 1;
        runs += 1;
        if counts(&o, kind) {
            gaps_runs.push(since as f64);
            gaps_ms.push(since_ms);
            since = 0;
            since_ms = 0.0;
            if gaps_runs.len() as u64 >= want {
                break;
            }
        }
        if started.elapsed().as_secs_f64() > max_wall {
            break;
        }
    }
    let median = |mut v: Vec<f64>| -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        Some(v[v.len() / 2])
    };
    FirstViolation {
        runs,
        violations: gaps_runs.len() as u64,
        median_runs: median(gaps_runs),
        median_wall_ms: median(gaps_ms),
    }
}

/// Median wall time to the first violation for every violation hunt, at
/// the scenario's rates and at one fault per run; then, with `check`, the
/// check-vs-hunt table over the same hunts. `rows`: only the hunts of
/// these ground-truth rows (empty: every violation hunt).
pub fn hunts_table(check: bool, rows: &[u32]) -> i32 {
    let Some(dir) = crate::search::hunt::hunt_scenarios_dir() else {
        println!("\nskipping the time-to-first-violation table: no sim/tests/hunt-scenarios here (run from the root of a locksim checkout).");
        return EXIT_OK;
    };
    let files = match crate::report::gallery::scenario_files(&dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", dir.display());
            return EXIT_USAGE;
        }
    };
    println!(
        "\nTime to the first violation (of the kind its ground-truth row names) from random faults (one thread; {}):",
        dir.display()
    );
    println!(
        "{:<44} {:>6} {:>5} {:>12} {:>12} {:>6} {:>7} {:>9}",
        "hunt", "runs", "viol", "runs to 1st", "wall to 1st", "<1 s", "faults", "@1: 1st"
    );
    let mut measured = Vec::new();
    for f in files {
        let s = match load_scenario(&f) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return EXIT_USAGE;
            }
        };
        if s.expect != crate::model::Verdict::Violation {
            continue;
        }
        if !rows.is_empty() && !row_of(&s.name).is_some_and(|r| rows.contains(&r)) {
            continue;
        }
        let kind = row_kind(&s);
        let fv = first_violation(&s, kind, 11, 2_000, 30.0);
        let faults = nemesis::expected_faults(&s);
        // At one fault per run; a nemesis that is already that sparse (or
        // has no rates: explicit faults only) is its own baseline.
        let sparse = if faults > 1.0 {
            let sparse = nemesis::scaled(&s, 1.0 / faults);
            first_violation(&sparse, kind, 5, SPARSE_RUNS, 20.0).median_runs
        } else {
            fv.median_runs
        };
        println!(
            "{:<44} {:>6} {:>5} {:>12} {:>12} {:>6} {:>7.1} {:>9}",
            s.name.trim_start_matches("hunt-"),
            fv.runs,
            fv.violations,
            fv.median_runs.map_or("-".into(), |r| format!("{r:.0}")),
            fv.median_wall_ms
                .map_or("-".into(), |ms| format!("{ms:.0} ms")),
            match fv.median_wall_ms {
                Some(ms) if ms < 1000.0 => "yes",
                Some(_) => "NO",
                None => "none",
            },
            faults,
            sparse.map_or(format!(">{SPARSE_RUNS}"), |r| format!("{r:.0}")),
        );
        measured.push(Measured {
            scenario: s,
            hunt: fv.median_runs,
            sparse,
        });
    }
    if measured.is_empty() && !rows.is_empty() {
        eprintln!(
            "error: no violation hunt in {} stands for rows {rows:?}\nhint: hunt files are named row-NN-...; `ls {}`",
            dir.display(),
            dir.display()
        );
        return EXIT_USAGE;
    }
    println!("runs to 1st / wall to 1st: medians over the gaps between violating seeds (each gap is a hunt from a fresh start).");
    println!("faults: the nemesis's faults per run on average. @1: 1st: runs to the first violation with every rate scaled to one fault per run (median of 5 gaps, at most {SPARSE_RUNS} runs).");
    if check {
        check_table(&measured, rows);
    }
    EXIT_OK
}

/// The most runs the one-fault-per-run hunt gets per scenario.
const SPARSE_RUNS: u64 = 10_000;

/// One violation hunt's random baselines: the median runs to the first
/// violation at the scenario's rates (`hunt`) and at one fault per run
/// (`sparse`); `None`: not found within the budget.
struct Measured {
    scenario: Scenario,
    hunt: Option<f64>,
    sparse: Option<f64>,
}

/// Seeds per hunt scenario for the check-vs-hunt table.
const CHECK_SEEDS: u64 = 5;
/// Runs (schedules plus replays) a check may use per seed.
const CHECK_BUDGET: u64 = 10_000;
/// Rows where check must need at least 10x fewer runs than hunting
/// (issue 13: the failover rows and the pause between sending and reading
/// the reply).
const NEEDLE_ROWS: [u32; 4] = [15, 24, 12, 27];

/// Runs to the first violation, runs to the earliest one (`None`: the
/// budget ended while check made sure), and the bound K that found it.
type CheckFound = (u64, Option<u64>, usize);

/// Runs `check` needs to its first violation of `s` at `seed`, to the
/// earliest one (what it reports: the same or more; `None` when the
/// budget ended while it made sure), and the bound K that found it: K = 1
/// within [`CHECK_BUDGET`]; when K = 1 certifies, K = 2 with what is left
/// of the budget. The scenario's own `[[faults]]` are kept, as hunting
/// keeps them. Counts are that check's own schedules plus replays (the
/// fault-free run included): what one `locksim check --faults K
/// --keep-faults` invocation runs. `None`: not found.
fn check_first(s: &Scenario, seed: u64) -> Option<CheckFound> {
    let kind = row_kind(s);
    use crate::search::check::{Check, Report, Verdict};
    let runs = |r: &Report| r.coverage.schedules + r.coverage.replays;
    let found = |r: &Report, k| {
        let total = runs(r);
        let first = r.coverage.first_violation_runs;
        match r.verdict {
            Verdict::Counterexample(ref cx) => Some((
                first.unwrap_or(total),
                (cx.unconfirmed == 0).then_some(total),
                k,
            )),
            // Met, but the budget ended before every earlier placement ran.
            Verdict::Exhausted => first.map(|f| (f, None, k)),
            Verdict::Certified => None,
        }
    };
    let check = |k: usize, budget: u64| {
        Check::new(s.clone())
            .keep_faults(true)
            .seed(seed)
            .faults(k)
            .want(kind)
            .jobs(1)
            .max_runs(budget)
            .run()
    };
    let one = check(1, CHECK_BUDGET);
    if !matches!(one.verdict, Verdict::Certified) {
        return found(&one, 1);
    }
    let left = CHECK_BUDGET.saturating_sub(runs(&one));
    if left == 0 {
        return None;
    }
    found(&check(2, left), 2)
}

/// Whether `o` is a violation, of `kind` when one is given.
fn counts(o: &crate::world::run::Outcome, kind: Option<ViolationKind>) -> bool {
    o.verdict() == crate::model::Verdict::Violation
        && kind.is_none_or(|k| o.check.violations.iter().any(|v| v.kind == k))
}

/// The kind of violation the scenario's ground-truth row names: R where it
/// says a stale write (row 28's "R (fencing impossible ...)"), L where it
/// names two holders, else any.
fn row_kind(s: &Scenario) -> Option<ViolationKind> {
    let row = crate::report::ground_truth::rows_for(&s.about)
        .into_iter()
        .next()?;
    let e = row.expected;
    if e.starts_with('R') {
        Some(ViolationKind::R)
    } else if e == "L" || e.contains(": L") || e.starts_with("L ") {
        Some(ViolationKind::L)
    } else {
        None
    }
}

/// The ground-truth rows a hunt scenario stands for: the number in
/// `hunt-row-NN-...`.
fn row_of(name: &str) -> Option<u32> {
    let rest = name.trim_start_matches("hunt-").strip_prefix("row-")?;
    rest.split('-').next()?.parse().ok()
}

/// Runs to the first violation by `check` (median over scenario seeds
/// 1..=[`CHECK_SEEDS`], K = 1 then 2, one thread, the scenario's own
/// faults kept as hunting keeps them) beside both hunts' medians, then the
/// issue's targets, computed against each.
fn check_table(measured: &[Measured], only: &[u32]) {
    println!(
        "\nRuns to the first violation of the row's kind: check (K=1, else K=2; {CHECK_SEEDS} seeds, budget {CHECK_BUDGET} runs each, one thread) vs hunt:"
    );
    println!(
        "{:<44} {:>4} {:>8} {:>8} {:>6} {:>4} {:>9} {:>7} {:>9} {:>7} {:>5}",
        "hunt", "row", "check", "earliest", "found", "K", "hunt", "ratio", "hunt@1", "ratio", ""
    );
    // For the targets.
    let mut rows: Vec<Line> = Vec::new();
    let ratio = |h: Option<f64>, c: Option<f64>| match (h, c) {
        (Some(h), Some(c)) => format!("{:.1}x", h / c),
        (None, Some(_)) => "big".into(),
        _ => "-".into(),
    };
    for m in measured {
        let s = &m.scenario;
        let found: Vec<CheckFound> = (1..=CHECK_SEEDS)
            .filter_map(|seed| check_first(s, seed))
            .collect();
        // Not found counts as more than any budget: the median is "-" when
        // half the seeds or more found nothing.
        let median_of = |pick: fn(&CheckFound) -> Option<u64>| {
            let mut all: Vec<f64> = found
                .iter()
                .map(|f| pick(f).map_or(f64::INFINITY, |n| n as f64))
                .collect();
            all.resize(CHECK_SEEDS as usize, f64::INFINITY);
            all.sort_by(|a, b| a.total_cmp(b));
            Some(all[all.len() / 2]).filter(|m| m.is_finite())
        };
        let median = median_of(|f| Some(f.0));
        let earliest = median_of(|f| f.1);
        let max_k = found.iter().map(|f| f.2).max();
        let row = row_of(&s.name);
        println!(
            "{:<44} {:>4} {:>8} {:>8} {:>6} {:>4} {:>9} {:>7} {:>9} {:>7} {:>5}",
            s.name.trim_start_matches("hunt-"),
            row.map_or("?".into(), |r| r.to_string()),
            median.map_or("-".into(), |m| format!("{m:.0}")),
            earliest.map_or("-".into(), |m| format!("{m:.0}")),
            format!("{}/{CHECK_SEEDS}", found.len()),
            max_k.map_or("-".into(), |k| k.to_string()),
            m.hunt.map_or("-".into(), |h| format!("{h:.0}")),
            ratio(m.hunt, median),
            m.sparse
                .map_or(format!(">{SPARSE_RUNS}"), |h| format!("{h:.0}")),
            ratio(m.sparse, median),
            if more(median, m.sparse) { "MORE" } else { "" }
        );
        if let Some(row) = row {
            rows.push(Line {
                row,
                check: median,
                hunt: m.hunt,
                sparse: m.sparse,
            });
        }
    }
    println!("check: median over seeds of schedules + replays run up to the first violation met (the fault-free run counts);");
    println!("  earliest: the same up to the earliest counterexample, the one check reports (it runs every placement before it; -: the budget ended first).");
    println!("  K: the largest bound that was needed (a K=2 count is that check's own runs, level 1 included); -: not found within the budget.");
    println!("hunt, hunt@1: the runs-to-1st medians above (big: hunt@1 found nothing in {SPARSE_RUNS} runs). ratio: hunt / check.");
    println!("MORE: check needed more runs than hunting at one fault per run.");
    for (label, pick) in [
        ("hunting at one fault per run", 3usize),
        ("hunting at the scenario's rates", 2),
    ] {
        let hunt_of = |l: &Line| match pick {
            2 => l.hunt,
            _ => l.sparse,
        };
        for row in NEEDLE_ROWS {
            if !only.is_empty() && !only.contains(&row) {
                continue;
            }
            let ratios: Vec<Option<f64>> = rows
                .iter()
                .filter(|l| l.row == row)
                .map(|l| match (hunt_of(l), l.check) {
                    (Some(h), Some(c)) => Some(h / c),
                    (None, Some(c)) => Some(SPARSE_RUNS as f64 / c),
                    _ => None,
                })
                .collect();
            let text: Vec<String> = ratios
                .iter()
                .map(|r| r.map_or("-".into(), |x| format!("{x:.1}x")))
                .collect();
            let met = !ratios.is_empty() && ratios.iter().all(|r| r.is_some_and(|x| x >= 10.0));
            println!(
                "target vs {label}: row {row}: >= 10x fewer runs: {} ({})",
                if met { "met" } else { "NOT met" },
                if text.is_empty() {
                    "no hunt scenario".into()
                } else {
                    text.join(", ")
                }
            );
        }
        let worse: Vec<String> = rows
            .iter()
            .filter(|l| more(l.check, hunt_of(l)))
            .map(|l| l.row.to_string())
            .collect();
        println!(
            "target vs {label}: never more runs than hunting: {}",
            if worse.is_empty() {
                "met".to_string()
            } else {
                format!("NOT met (rows {})", worse.join(", "))
            }
        );
    }
}

/// One row of the check table, for the targets: the medians of runs to
/// the first violation by check, by hunting, and by hunting at one fault
/// per run.
struct Line {
    row: u32,
    check: Option<f64>,
    hunt: Option<f64>,
    sparse: Option<f64>,
}

/// Whether check (`c`, median runs; `None`: not found) needed more runs
/// than hunting (`h`; `None`: hunting found nothing either, or nothing
/// within its budget, which check can only match or beat by finding).
fn more(c: Option<f64>, h: Option<f64>) -> bool {
    match (c, h) {
        (Some(c), Some(h)) => c > h,
        (None, Some(_)) => true,
        _ => false,
    }
}
