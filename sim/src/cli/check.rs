//! `locksim check FILE`: prove a small setup safe up to K faults, or find
//! its shortest counterexample (see [`crate::search::check`]).
//!
//! Exit codes: 0 certified; 1 counterexample found; 2 bad input or
//! usage; 3 the budget ended before the space was covered (the output
//! says how much was). A counterexample is written like a hunt finding:
//! `minimal.toml` (the scenario with its faults placed by triggers or
//! times), `report/`, and a repro line; it goes to
//! `./locksim-checks/<name>/` unless `--out` says otherwise.

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::model::{Scenario, Verdict as RunVerdict};
use crate::oracle::ViolationKind;
use crate::report::{repro_line, write_atomic, write_report};
use crate::scenario::{load_scenario, parse_scenario_unchecked};
use crate::search::check::shard::{self, Merged, ShardResult};
use crate::search::check::space::Kind;
use crate::search::check::{random, suggest};
use crate::search::check::{Check, Coverage, Verdict};
use crate::search::hunt::Shard;
use crate::search::sweep::default_jobs;
use crate::world::run::{run, Outcome};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The budget ended before the space was covered.
pub const EXIT_EXHAUSTED: i32 = 3;

#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// The scenario file (its nemesis rates are dropped, and its own
    /// `[[faults]]` too unless `--keep-faults`).
    #[arg(required_unless_present = "merge")]
    pub file: Option<PathBuf>,
    /// Keep the scenario's own `[[faults]]` as part of the setup (a replica
    /// already cut off, clients that start late) and place up to K faults
    /// on top of them.
    #[arg(long, conflicts_with = "merge")]
    pub keep_faults: bool,
    /// The bound K: at most this many faults per schedule.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4))]
    pub faults: u64,
    /// Fault kinds to place: kill,power-loss,pause,clock-jump,partition
    /// (default: the scenario's nemesis classes, or all).
    #[arg(long, value_name = "KINDS")]
    pub alphabet: Option<String>,
    /// Stop after this many runs.
    #[arg(long, value_name = "RUNS", conflicts_with = "time")]
    pub budget: Option<u64>,
    /// Stop after this many wall seconds.
    #[arg(long, value_name = "S")]
    pub time: Option<f64>,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// The run seed (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Explore only the level-1 placements numbered I mod N and what
    /// follows them; writes the shard's result for `--merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Join the shard results found in these directories.
    #[arg(long, value_name = "DIR", num_args = 1.., conflicts_with_all = ["file", "shard"])]
    pub merge: Vec<PathBuf>,
    /// Instead of covering the space, draw N random schedules of up to K
    /// faults over the same decision points (PCT-style) and print the
    /// probability bound that gives.
    #[arg(long, value_name = "N", conflicts_with_all = ["shard", "merge"], value_parser = clap::value_parser!(u64).range(1..))]
    pub random: Option<u64>,
    /// With a counterexample: re-check the same space once per applicable
    /// mitigation (fencing, validity check, aof-always, delayed restart, a
    /// larger TTL, ...) and say which certify it.
    #[arg(long, conflicts_with_all = ["shard", "merge", "random"])]
    pub suggest: bool,
    /// Where counterexamples and shard results go (default ./locksim-checks/<name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON object (no progress bar).
    #[arg(long)]
    pub json: bool,
    /// Count only violations of one kind: `L` (two clients held the lock at
    /// once) or `R` (the resource accepted a stale write).
    #[arg(long, value_name = "L|R", conflicts_with_all = ["shard", "merge", "suggest"])]
    pub want: Option<String>,
}

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("locksim check: {msg}");
    EXIT_USAGE
}

/// `locksim check`
pub fn check(args: &CheckArgs) -> i32 {
    if !args.merge.is_empty() {
        return merge(args);
    }
    let Some(path) = &args.file else {
        return fail("a scenario file or --merge DIR... is required");
    };
    let file = path.display().to_string();
    let s = match load_scenario(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_USAGE;
        }
    };
    let mut c = Check::new(s.clone())
        .faults(args.faults as usize)
        .keep_faults(args.keep_faults);
    if let Some(a) = &args.alphabet {
        match Kind::parse_list(a) {
            Ok(kinds) => {
                if let Some(why) = kinds.iter().find_map(|k| k.unusable_on(&s)) {
                    return fail(format!("--alphabet: {why}"));
                }
                c = c.alphabet(kinds);
            }
            Err(e) => return fail(format!("--alphabet: {e}")),
        }
    }
    if let Some(seed) = args.seed {
        c = c.seed(seed);
    }
    match args.want.as_deref() {
        None => {}
        Some("L" | "l") => c = c.want(Some(ViolationKind::L)),
        Some("R" | "r") => c = c.want(Some(ViolationKind::R)),
        Some(other) => {
            return fail(format!(
                "--want: `{other}` is not a violation kind; use L (two holders) or R (a stale write accepted)"
            ))
        }
    }
    c = c.jobs(args.jobs.unwrap_or_else(default_jobs));
    if let Some(b) = args.budget {
        c = c.max_runs(b);
    }
    if let Some(t) = args.time {
        if !(t > 0.0 && t.is_finite()) {
            return fail("--time must be a positive number of seconds");
        }
        c = c.max_time(Duration::from_secs_f64(t));
    }
    let shard = match args.shard.as_deref().map(Shard::parse).transpose() {
        Ok(sh) => sh,
        Err(e) => return fail(format!("--shard: {e}")),
    };
    if let Some(sh) = shard {
        c = c.shard(sh);
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("locksim-checks").join(&s.name));
    if let Some(n) = args.random {
        return random_draws(&c, n, &s, &file, &out_dir, args.json);
    }
    let bar = progress_bar(args.json);
    if let Some(b) = &bar {
        let b = b.clone();
        c = c.on_progress(move |cov: &Coverage| {
            b.set_length(cov.level_known);
            b.set_position(cov.level_run);
            b.set_message(format!(
                "level {}, {} schedules run",
                cov.levels_done + 1,
                cov.schedules
            ));
        });
    }
    let report = c.run();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(sh) = shard {
        let r = ShardResult::new(&report, c.base().to_toml(), c.run_seed(), sh);
        let p = ShardResult::path(&out_dir, &s.name, sh);
        let text = serde_json::to_string_pretty(&r).expect("serializes");
        if let Err(e) =
            std::fs::create_dir_all(&out_dir).and_then(|()| write_atomic(&p, text.as_bytes()))
        {
            return fail(format!("{}: {e}", p.display()));
        }
        if !args.json {
            println!("shard {sh}: {}", report.summary());
            println!("wrote {}", p.display());
        } else {
            println!("{}", serde_json::to_string(&r).expect("serializes"));
        }
        return exit_of(&report.verdict);
    }
    let written = match &report.verdict {
        Verdict::Counterexample(cx) => {
            match save(
                &out_dir,
                &s,
                &file,
                &cx.scenario,
                &cx.outcome,
                c.run_seed(),
                &report.summary(),
            ) {
                Ok(w) => Some(w),
                Err(e) => return fail(format!("{}: {e}", out_dir.display())),
            }
        }
        _ => None,
    };
    let show = |as_json: bool| {
        print_report(
            as_json,
            &s.name,
            &file,
            &report.summary(),
            verdict_name(&report.verdict),
            &report.coverage,
            report.wall,
            written.as_ref(),
        )
    };
    if !(args.suggest && written.is_some()) {
        show(args.json);
        return exit_of(&report.verdict);
    }
    let results = suggest::suggest(
        |sc| {
            let mut m = Check::new(sc)
                .keep_faults(args.keep_faults)
                .faults(c.max_faults())
                .alphabet(c.kinds().to_vec())
                .seed(c.run_seed())
                .jobs(c.job_count());
            if let Some(b) = args.budget {
                m = m.max_runs(b);
            }
            if let Some(t) = args.time {
                m = m.max_time(Duration::from_secs_f64(t));
            }
            m.run()
        },
        &s,
    );
    show(args.json);
    if args.json {
        let rows: Vec<serde_json::Value> = results
            .iter()
            .map(|(m, r)| {
                json!({
                    "mitigation": m.name,
                    "change": m.what,
                    "certified": r.as_ref().is_some_and(|r| matches!(r.verdict, Verdict::Certified)),
                    "result": suggest::outcome(r.as_ref(), m),
                })
            })
            .collect();
        println!("{}", json!({ "suggestions": rows }));
    } else {
        println!("\nmitigations, each checked over the same bound and alphabet:");
        print!("{}", suggest::render(&results));
    }
    exit_of(&report.verdict)
}

fn verdict_name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Certified => "certified",
        Verdict::Counterexample(_) => "counterexample",
        Verdict::Exhausted => "exhausted",
    }
}

fn exit_of(v: &Verdict) -> i32 {
    match v {
        Verdict::Certified => EXIT_OK,
        Verdict::Counterexample(_) => EXIT_FAILED,
        Verdict::Exhausted => EXIT_EXHAUSTED,
    }
}

fn progress_bar(json: bool) -> Option<ProgressBar> {
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    b.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} of this level, {per_sec}, {eta} left  {msg}",
        )
        .expect("a valid template"),
    );
    Some(b)
}

/// What a saved counterexample left on disk.
struct Written {
    minimal: PathBuf,
    report: PathBuf,
    repro: String,
    replay_matches: bool,
}

/// Writes `minimal.toml` and `report/` into `dir`, and checks that the
/// file replays to the same history.
fn save(
    dir: &Path,
    original: &Scenario,
    file: &str,
    scenario: &Scenario,
    outcome: &Outcome,
    seed: u64,
    summary: &str,
) -> std::io::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let mut minimal = scenario.clone();
    minimal.name = format!("{}-check", original.name);
    minimal.expect = outcome.verdict();
    minimal.seed = seed;
    minimal.about = format!("Found by locksim check on {file}: {summary}");
    let min_file = dir.join("minimal.toml");
    write_atomic(&min_file, minimal.to_toml().as_bytes())?;
    let name = min_file.display().to_string();
    let report = write_report(&dir.join("report"), &minimal, &name, outcome)?;
    let replay_matches = std::fs::read_to_string(&min_file)
        .ok()
        .and_then(|t| parse_scenario_unchecked(&t, &name).ok())
        .is_some_and(|s| run(&s, seed).hash() == outcome.hash());
    Ok(Written {
        minimal: min_file,
        report,
        repro: repro_line(&name, seed),
        replay_matches,
    })
}

#[allow(clippy::too_many_arguments)]
fn print_report(
    as_json: bool,
    name: &str,
    file: &str,
    summary: &str,
    verdict: &str,
    cov: &Coverage,
    wall: Duration,
    written: Option<&Written>,
) {
    if as_json {
        let cx = written.map(|w| {
            json!({
                "minimal": w.minimal.display().to_string(),
                "report": w.report.display().to_string(),
                "repro": w.repro,
                "replay_matches": w.replay_matches,
            })
        });
        let v = json!({
            "scenario": name,
            "file": file,
            "verdict": verdict,
            "summary": summary,
            "points": cov.points,
            "schedules": cov.schedules,
            "deduplicated": cov.deduplicated,
            "replays": cov.replays,
            "levels_done": cov.levels_done,
            "level_known": cov.level_known,
            "level_run": cov.level_run,
            "first_violation_runs": cov.first_violation_runs,
            "wall_s": wall.as_secs_f64(),
            "counterexample": cx,
        });
        println!("{v}");
        return;
    }
    println!("{name}: {summary}");
    let runs = cov.schedules + cov.replays;
    if wall.is_zero() {
        // A merge: the runs were made by the shards.
        println!("{runs} runs, made by the shards merged");
    } else {
        let rate = runs as f64 / wall.as_secs_f64().max(1e-9);
        println!(
            "{runs} runs in {:.1} s ({rate:.0} runs/s)",
            wall.as_secs_f64()
        );
    }
    if let Some(w) = written {
        println!("minimal scenario: {}", w.minimal.display());
        println!("report:           {}", w.report.join("report.md").display());
        println!(
            "reproduce:        {}{}",
            w.repro,
            if w.replay_matches {
                ""
            } else {
                " (REPLAY MISMATCH)"
            }
        );
    }
}

/// `--random N`: exit 1 with the first violating draw written like a
/// counterexample, else 0 (nothing found is not a proof: the bound says
/// how much it is worth).
fn random_draws(c: &Check, n: u64, s: &Scenario, file: &str, dir: &Path, as_json: bool) -> i32 {
    let r = random::random(c, n);
    let summary = r.summary();
    let mut written = None;
    if let Some(v) = &r.violation {
        let cx = &v.counterexample;
        match save(
            dir,
            s,
            file,
            &cx.scenario,
            &cx.outcome,
            c.run_seed(),
            &summary,
        ) {
            Ok(w) => written = Some(w),
            Err(e) => return fail(format!("{}: {e}", dir.display())),
        }
    }
    let verdict = if r.violation.is_some() {
        "counterexample"
    } else {
        "none-found"
    };
    let cov = Coverage {
        points: r.points,
        schedules: r.draws,
        ..Coverage::default()
    };
    print_report(
        as_json,
        &s.name,
        file,
        &summary,
        verdict,
        &cov,
        r.wall,
        written.as_ref(),
    );
    if r.violation.is_some() {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// `locksim check --merge DIR...`
fn merge(args: &CheckArgs) -> i32 {
    let results = match shard::read_dirs(&args.merge) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let m: Merged = match shard::merge(&results) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let base = match parse_scenario_unchecked(&m.base_toml, "merged shards") {
        Ok(s) => s,
        Err(e) => return fail(format!("the shards' scenario does not parse: {e}")),
    };
    let kinds = m.alphabet.join(",");
    let summary = match (&m.counterexample, m.verdict.as_str()) {
        (Some(cx), _) if cx.unconfirmed > 0 => format!(
            "counterexample with {} fault(s): {} (the fewest faults; a shard's budget ended before {} earlier placement(s) ran, so a yet earlier one may exist)",
            cx.faults.len(),
            cx.summary,
            cx.unconfirmed
        ),
        (Some(cx), _) => format!(
            "counterexample with {} fault(s): {}",
            cx.faults.len(),
            cx.summary
        ),
        (None, "certified") => format!(
            "certified: no violation with <={} fault(s) of kinds {kinds} at any of {} decision points: {} schedules run, {} deduplicated",
            m.faults, m.coverage.points, m.coverage.schedules, m.coverage.deduplicated
        ),
        _ => format!(
            "budget exhausted in some shard: {} schedules run in all, levels 1..={} covered everywhere",
            m.coverage.schedules, m.coverage.levels_done
        ),
    };
    let summary = match base.faults.len() {
        0 => summary,
        n => format!("{summary} (on top of the scenario's own {n} fault(s), kept)"),
    };
    let mut written = None;
    if let Some(cx) = &m.counterexample {
        // The base keeps the scenario's own faults when the shards did.
        let mut s = base.clone();
        s.faults.extend(cx.faults.iter().cloned());
        s.seed = m.seed;
        let outcome = run(&s, m.seed);
        if outcome.verdict() != RunVerdict::Violation {
            return fail("the merged counterexample does not replay to a violation (the shards ran different code?)");
        }
        let dir = args.out.clone().unwrap_or_else(|| args.merge[0].clone());
        match save(&dir, &base, "merged shards", &s, &outcome, m.seed, &summary) {
            Ok(w) => written = Some(w),
            Err(e) => return fail(format!("{}: {e}", dir.display())),
        }
    }
    print_report(
        args.json,
        &base.name,
        "merged shards",
        &summary,
        &m.verdict,
        &m.coverage,
        Duration::ZERO,
        written.as_ref(),
    );
    match m.verdict.as_str() {
        "certified" => EXIT_OK,
        "counterexample" => EXIT_FAILED,
        _ => EXIT_EXHAUSTED,
    }
}
