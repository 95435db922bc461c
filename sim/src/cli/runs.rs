//! `locksim run` and the default job (every scenario of `./scenarios`, the
//! gallery in `./reports`; run from the root of a locksim checkout).

use super::{RunArgs, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::history::fmt_true;
use crate::model::Scenario;
use crate::report::gallery;
use crate::report::{repro_line, write_report};
use crate::world::run::{run, Outcome};

use crate::scenario::load_scenario;
use crate::search::sweep::{default_jobs, sweep};
use serde_json::json;
use std::path::PathBuf;

/// Seeds the default job runs per scenario.
pub use crate::report::gallery::GALLERY_SEEDS;

/// Loads every file, or prints each error and returns `None`.
fn load_all(files: &[PathBuf]) -> Option<Vec<(String, Scenario)>> {
    let mut loaded = Vec::new();
    let mut bad = false;
    for f in files {
        match load_scenario(f) {
            Ok(s) => loaded.push((f.display().to_string(), s)),
            Err(e) => {
                eprintln!("{e}");
                bad = true;
            }
        }
    }
    (!bad).then_some(loaded)
}

/// A run's violations as JSON values (`--json` of `run` and `hunt`).
pub fn violations_json(o: &Outcome) -> Vec<serde_json::Value> {
    o.check
        .violations
        .iter()
        .map(|v| {
            json!({"kind": format!("{:?}", v.kind), "clients": v.clients,
                   "from_ms": v.from_us as f64 / 1000.0, "to_ms": v.to_us as f64 / 1000.0})
        })
        .collect()
}

/// One line of JSON for a run.
pub fn json_line(file: &str, s: &Scenario, o: &Outcome) -> String {
    let violations = violations_json(o);
    json!({
        "scenario": s.name, "file": file, "seed": o.seed, "expect": s.expect.name(),
        "verdict": o.verdict().name(), "ok": o.verdict() == s.expect, "hash": o.hash(),
        "violations": violations, "fenced": o.check.fenced,
        "events": o.stats.events, "messages": o.stats.messages, "sim_ms": o.stats.sim_us / 1000,
    })
    .to_string()
}

/// `locksim run FILE...`
pub fn run_files(args: &RunArgs) -> i32 {
    let Some(loaded) = load_all(&args.files) else {
        return EXIT_USAGE;
    };
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    if jobs == 0 {
        eprintln!("error: --jobs must be at least 1");
        return EXIT_USAGE;
    }
    let mut all_ok = true;
    let mut legend_printed = false;
    if !args.json {
        println!(
            "{:<44} {:>6} {:<10} {:<10} {:<4} hash",
            "scenario", "seed", "expect", "verdict", "ok"
        );
    }
    for (file, s) in &loaded {
        let seeds: Vec<u64> = match (args.seed, args.seeds) {
            (Some(seed), _) => vec![seed],
            (None, Some(n)) => (0..n).map(|i| s.seed.wrapping_add(i)).collect(),
            (None, None) => vec![s.seed],
        };
        let outcomes = sweep(&seeds, jobs, |&seed| run(s, seed), &|_| {});
        for o in &outcomes {
            let ok = o.verdict() == s.expect;
            all_ok &= ok;
            if args.json {
                println!("{}", json_line(file, s, o));
            } else {
                println!(
                    "{:<44} {:>6} {:<10} {:<10} {:<4} {}",
                    s.name,
                    o.seed,
                    s.expect.name(),
                    o.verdict().name(),
                    if ok { "ok" } else { "FAIL" },
                    o.hash()
                );
                if o.verdict() != crate::model::Verdict::Safe || !ok {
                    for v in &o.check.violations {
                        println!(
                            "    {}",
                            crate::report::markdown::describe_violation(v, &s.lock.key)
                        );
                    }
                    println!("    repro: {}", repro_line(file, o.seed));
                }
            }
            if args.timeline {
                if !legend_printed {
                    print!("{}", crate::report::text::legend());
                    legend_printed = true;
                }
                print!("{}", crate::report::text::timeline(s, o));
            }
            if let Some(dir) = &args.report {
                let sub = if seeds.len() == 1 {
                    s.name.clone()
                } else {
                    format!("{}-seed{}", s.name, o.seed)
                };
                if let Err(e) = write_report(&dir.join(sub), s, file, o) {
                    eprintln!("error: cannot write report into {}: {e}", dir.display());
                    return EXIT_USAGE;
                }
            }
        }
    }
    if all_ok {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// The built-in scenarios: `scenarios/` in the current directory, which is
/// the root of a locksim checkout. Nothing at run time looks into the tree
/// locksim was built from.
pub fn scenarios_dir() -> PathBuf {
    PathBuf::from("scenarios")
}

/// Printed when the default job finds no `./scenarios`.
fn not_in_a_checkout() -> String {
    let here = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "the current directory".into());
    format!(
        "error: no scenarios/ directory in {here}\n\
         \n\
         With no command, locksim runs the built-in scenarios of a locksim checkout\n\
         (scenarios/*.toml) and regenerates its reports/. Run it from the repository\n\
         root, where scenarios/ and reports/ live.\n\
         \n\
         To run a single scenario file from anywhere: locksim run FILE\n\
         (locksim --help lists the other commands)."
    )
}

/// The default job: every scenario of `./scenarios`, a few seeds each, the
/// summary table, and `./reports` regenerated (`report::gallery`, shared
/// with the test that keeps the committed gallery current). Without
/// `./scenarios`: a usage error saying where to run it.
pub fn run_gallery() -> i32 {
    let dir = scenarios_dir();
    if !dir.is_dir() {
        eprintln!("{}", not_in_a_checkout());
        return EXIT_USAGE;
    }
    let reports = PathBuf::from("reports");
    let summary = match gallery::regenerate_with(&dir, &reports, GALLERY_SEEDS, default_jobs()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    println!(
        "{:<44} {:<10} {:<10} {:>4}  {:<16} first violation",
        "scenario", "expect", "verdict", "runs", "hash"
    );
    for entry in &summary.entries {
        let s = &entry.scenario;
        let first = entry.first();
        let when = first
            .check
            .violations
            .first()
            .map(|v| fmt_true(v.from_us))
            .unwrap_or_default();
        let ok = entry.ok();
        println!(
            "{:<44} {:<10} {:<10} {:>4}  {:<16} {}{}",
            s.name,
            s.expect.name(),
            entry.verdict_label(),
            entry.outcomes.len(),
            first.hash(),
            when,
            if ok { "" } else { "   <-- FAILED" }
        );
        if !ok {
            for o in entry.outcomes.iter().filter(|o| o.verdict() != s.expect) {
                println!(
                    "    seed {} gave {}: repro: {}",
                    o.seed,
                    o.verdict(),
                    repro_line(&entry.file, o.seed)
                );
            }
        }
    }
    for name in &summary.removed {
        println!("removed reports/{name}/ (its scenario is gone)");
    }
    println!("\nreports written to {}", reports.display());
    if summary.all_ok() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
