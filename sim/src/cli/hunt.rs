//! `locksim hunt FILE`: random faults from `[nemesis]`, seed after seed;
//! the first violation (the lowest seed, whatever `--jobs`) is shrunk to a
//! minimal explicit scenario and written with its report, under
//! `DIR/<scenario name>/`: `DIR` is `--out DIR`, else `$LOCKSIM_HUNT_DIR`,
//! else `./locksim-hunts` in the current directory.

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::model::Verdict;
use crate::report::markdown::describe_violation;
use crate::search::hunt::{hunt_dir, Hunt, HuntReport, Saved, Shard};

use crate::scenario::load_scenario;
use crate::search::sweep::default_jobs;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub struct HuntArgs {
    /// The scenario file (its `[nemesis]` draws each seed's faults).
    pub file: PathBuf,
    /// Run seeds 0..N (default 1000).
    #[arg(long, conflicts_with = "time")]
    pub seeds: Option<u64>,
    /// Run seeds from 0 on for this many wall seconds.
    #[arg(long, value_name = "S")]
    pub time: Option<f64>,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only the seeds s with s % N == I (CI machines share a sweep).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Keep going after the first violation (count every violating seed).
    #[arg(long)]
    pub keep_going: bool,
    /// Write findings under DIR/<name>/ (default: $LOCKSIM_HUNT_DIR, else ./locksim-hunts).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON object (no progress bar).
    #[arg(long)]
    pub json: bool,
}

/// `locksim hunt`
pub fn hunt(args: &HuntArgs) -> i32 {
    let file = args.file.display().to_string();
    let s = match load_scenario(&args.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_USAGE;
        }
    };
    let shard = match args.shard.as_deref().map(Shard::parse).transpose() {
        Ok(sh) => sh.unwrap_or(Shard::ALL),
        Err(e) => {
            eprintln!("error: --shard {e}");
            return EXIT_USAGE;
        }
    };
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    if jobs == 0 {
        eprintln!("error: --jobs must be at least 1");
        return EXIT_USAGE;
    }
    if args.time.is_some_and(|t| !(t > 0.0 && t.is_finite())) {
        eprintln!("error: --time must be a positive number of seconds");
        return EXIT_USAGE;
    }
    let seeds = match args.time {
        Some(_) => 0..u64::MAX,
        None => 0..args.seeds.unwrap_or(1000),
    };
    let total = match args.time {
        Some(_) => None,
        None => Some(seeds.clone().filter(|&x| shard.owns(x)).count() as u64),
    };
    let bar = progress_bar(total, args.json);
    let mut hunt = Hunt::new(s.clone())
        .file(file.clone())
        .seeds(seeds.clone())
        .jobs(jobs)
        .shard(shard)
        .keep_going(args.keep_going)
        .dir(args.out.clone().unwrap_or_else(hunt_dir));
    if let Some(t) = args.time {
        hunt = hunt.time_limit(Duration::from_secs_f64(t));
    }
    let b = bar.clone();
    let started = std::time::Instant::now();
    hunt = hunt.on_progress(move |p| {
        b.set_position(p.runs);
        let rate = p.runs as f64 / started.elapsed().as_secs_f64().max(1e-9);
        b.set_message(format!("{rate:.0} runs/s, {} violations", p.found));
    });
    let report = hunt.run(Verdict::Violation);
    bar.finish_and_clear();
    let saved = match &report.first {
        Some(f) => match f.save() {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!(
                    "error: cannot write the finding into {}: {e}",
                    f.dir.display()
                );
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    if args.json {
        println!(
            "{}",
            json_summary(&file, &s.name, &report, saved.as_ref(), &seeds)
        );
    } else {
        print_summary(&file, &report, saved.as_ref(), &seeds, jobs);
    }
    if report.first.is_some() {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

fn progress_bar(total: Option<u64>, json: bool) -> ProgressBar {
    let hidden = json || !std::io::stderr().is_terminal();
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if hidden {
        bar.set_draw_target(ProgressDrawTarget::hidden());
        return bar;
    }
    let template = match total {
        Some(_) => "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} seeds, {msg}",
        None => "{spinner} [{elapsed_precise}] {pos} seeds, {msg}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn print_summary(
    file: &str,
    r: &HuntReport,
    saved: Option<&Saved>,
    seeds: &std::ops::Range<u64>,
    jobs: usize,
) {
    let range = if seeds.end == u64::MAX {
        format!("seeds from {} (time limit)", seeds.start)
    } else {
        format!("seeds {}..{}", seeds.start, seeds.end)
    };
    println!(
        "locksim hunt {file}: {range}, shard {}, {jobs} jobs",
        r.shard
    );
    println!(
        "{} runs in {:.1} s ({:.0} runs/s): {} safe, {} liveness, {} violation{}",
        r.runs,
        r.wall.as_secs_f64(),
        r.runs_per_s(),
        r.verdicts[0],
        r.verdicts[1],
        r.verdicts[2],
        match r.last_seed {
            Some(s) if !r.complete => format!(" (stopped after seed {s})"),
            _ => String::new(),
        }
    );
    let Some(f) = &r.first else {
        println!("no violation found");
        return;
    };
    println!("first violation: seed {}", f.seed());
    for v in &f.outcome.check.violations {
        println!(
            "    {:?}: {}",
            v.kind,
            describe_violation(v, &f.scenario.lock.key)
        );
    }
    println!(
        "    {} faults drawn by the nemesis, hash {}",
        f.outcome.schedule.len(),
        f.outcome.hash()
    );
    println!("    repro: {}", crate::report::repro_line(file, f.seed()));
    if let Some(s) = saved {
        print!("{}", s.describe());
    }
}

fn json_summary(
    file: &str,
    name: &str,
    r: &HuntReport,
    saved: Option<&Saved>,
    seeds: &std::ops::Range<u64>,
) -> String {
    let first = r.first.as_ref().map(|f| {
        let violations = super::runs::violations_json(&f.outcome);
        let minimal = saved.map(|s| {
            json!({
                "file": s.minimal_file.display().to_string(),
                "repro": s.repro,
                "faults": s.minimal.faults.len(),
                "faults_before": s.shrunk.faults_before,
                "shrink_runs": s.shrunk.runs,
                // Set when check re-placed the faults the shrink left.
                "replaced": s.shrunk.replaced.map(|r| json!({
                    "shrunk_faults": r.shrunk_faults,
                    "check_runs": r.check_runs,
                })),
                "verdict": s.shrunk.outcome.verdict().name(),
                "hash": s.hash,
                "replay_matches": s.replay_matches,
                "report": s.report_dir.join("report.md").display().to_string(),
                "original": s.original_file.display().to_string(),
            })
        });
        json!({
            "seed": f.seed(), "verdict": f.verdict().name(), "hash": f.outcome.hash(),
            "violations": violations, "faults": f.outcome.schedule.len(),
            "repro": crate::report::repro_line(file, f.seed()),
            "minimal": minimal,
        })
    });
    json!({
        "scenario": name, "file": file,
        "seeds": {"from": seeds.start, "to": if seeds.end == u64::MAX { serde_json::Value::Null } else { json!(seeds.end) }},
        "shard": r.shard.to_string(),
        "runs": r.runs, "complete": r.complete, "last_seed": r.last_seed,
        "verdicts": {"safe": r.verdicts[0], "liveness": r.verdicts[1], "violation": r.verdicts[2]},
        "violations_found": r.found,
        "wall_s": r.wall.as_secs_f64(), "runs_per_s": r.runs_per_s(),
        "first": first,
    })
    .to_string()
}
