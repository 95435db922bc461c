//! `locksim matrix`: algorithms x fault classes x persistence modes, into
//! `reports/matrix.md` and `reports/matrix.json` (and `matrix.svg`).

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::report::write_atomic;
use crate::search::hunt::Shard;
use crate::search::matrix::{
    measure_cells, summarise_all, CellStatus, FaultClass, MatrixCell, RunStat,
};
use crate::search::sweep::default_jobs;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use locksim_models::Algorithm;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args, Debug, Clone)]
pub struct MatrixArgs {
    /// Seeds per cell (0..N).
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Write matrix.md/.json/.svg into DIR (default: ./reports).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write every cell's generated scenario into DIR (for `locksim hunt`).
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// The library matrix instead: every library profile at its current
    /// version under each fault class, into libraries.{md,json,svg}.
    #[arg(long, conflicts_with_all = ["shard", "merge"])]
    pub libraries: bool,
    /// Measure only the cells whose index is I mod N and write their raw
    /// runs to DIR/matrix-shard-I-of-N.json (DIR: --out, default
    /// ./reports), for `--merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Join the shard files found in these directories into
    /// matrix.{md,json,svg} in --out: the cells one machine would give.
    #[arg(long, value_name = "DIR", num_args = 1.., conflicts_with = "shard")]
    pub merge: Vec<PathBuf>,
}

/// What `--shard` writes: one shard's cells, raw.
#[derive(Serialize, Deserialize)]
struct ShardFile {
    format: String,
    seeds: u64,
    shard_index: u64,
    shard_count: u64,
    /// Wall time of the shard's measurement, seconds.
    wall_s: f64,
    /// Threads it ran on.
    jobs: usize,
    cells: Vec<(usize, Vec<RunStat>)>,
}

const SHARD_FORMAT: &str = "locksim-matrix-shard/1";

/// `locksim matrix`
pub fn matrix(args: &MatrixArgs) -> i32 {
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    if jobs == 0 || args.seeds == 0 {
        eprintln!("error: --jobs and --seeds must be at least 1");
        return EXIT_USAGE;
    }
    if args.libraries {
        return libraries(args, jobs);
    }
    if !args.merge.is_empty() {
        return merge(args);
    }
    let shard = match args.shard.as_deref().map(Shard::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --shard: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(dir) = &args.scenarios {
        for c in crate::search::matrix::cells() {
            let s = c.scenario();
            if let Err(e) = write_atomic(
                &dir.join(format!("{}.toml", s.name)),
                s.to_toml().as_bytes(),
            ) {
                eprintln!("error: cannot write into {}: {e}", dir.display());
                return EXIT_USAGE;
            }
        }
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("reports"));
    let bar = ProgressBar::new(0);
    if std::io::stderr().is_terminal() {
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs {per_sec}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let start = Instant::now();
    let b = bar.clone();
    let select = move |i: usize| shard.is_none_or(|s| s.owns(i as u64));
    let raw = measure_cells(args.seeds, jobs, &select, &move |done, total| {
        b.set_length(total as u64);
        b.set_position(done as u64);
    });
    bar.finish_and_clear();
    let wall = start.elapsed();
    if let Some(s) = shard {
        let file = ShardFile {
            format: SHARD_FORMAT.into(),
            seeds: args.seeds,
            shard_index: s.index,
            shard_count: s.count,
            wall_s: wall.as_secs_f64(),
            jobs,
            cells: raw,
        };
        let path = out.join(format!("matrix-shard-{}-of-{}.json", s.index, s.count));
        let json = serde_json::to_string(&file).expect("shard serializes");
        if let Err(e) = write_atomic(&path, json.as_bytes()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
        println!(
            "shard {}/{}: {} cells x {} seeds in {:.1} s; written to {}",
            s.index,
            s.count,
            file.cells.len(),
            args.seeds,
            wall.as_secs_f64(),
            path.display()
        );
        return EXIT_OK;
    }
    let cells = summarise_all(&raw).expect("every cell was measured");
    write_matrix(&out, &cells, args.seeds, jobs, wall)
}

/// `locksim matrix --merge DIR...`: every shard file of one matrix (the
/// same seeds and shard count, each shard once) into the reports one
/// machine writes.
fn merge(args: &MatrixArgs) -> i32 {
    let mut shards: Vec<ShardFile> = Vec::new();
    for dir in &args.merge {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", dir.display());
                return EXIT_USAGE;
            }
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("matrix-shard-") && n.ends_with(".json"))
            })
            .collect();
        names.sort();
        for p in names {
            let parsed = std::fs::read_to_string(&p)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<ShardFile>(&t).map_err(|e| e.to_string()));
            match parsed {
                Ok(f) if f.format == SHARD_FORMAT => shards.push(f),
                Ok(f) => {
                    eprintln!(
                        "error: {}: format {:?}, expected {SHARD_FORMAT:?}",
                        p.display(),
                        f.format
                    );
                    return EXIT_USAGE;
                }
                Err(e) => {
                    eprintln!("error: {}: not a matrix shard file: {e}", p.display());
                    return EXIT_USAGE;
                }
            }
        }
    }
    let Some(first) = shards.first() else {
        eprintln!(
            "error: no matrix-shard-*.json in {:?}; write them with `locksim matrix --shard I/N`",
            args.merge
        );
        return EXIT_USAGE;
    };
    let (seeds, count) = (first.seeds, first.shard_count);
    let mut seen = vec![false; count as usize];
    for f in &shards {
        if f.seeds != seeds || f.shard_count != count {
            eprintln!(
                "error: shard {}/{} ({} seeds) is not part of the same matrix as shard {}/{count} ({seeds} seeds)",
                f.shard_index, f.shard_count, f.seeds, first.shard_index
            );
            return EXIT_USAGE;
        }
        match seen.get_mut(f.shard_index as usize) {
            Some(s) if !*s => *s = true,
            Some(_) => {
                eprintln!("error: shard {}/{count} appears twice", f.shard_index);
                return EXIT_USAGE;
            }
            None => {
                eprintln!("error: shard {}/{count} is out of range", f.shard_index);
                return EXIT_USAGE;
            }
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        eprintln!("error: shard {missing}/{count} is missing");
        return EXIT_USAGE;
    }
    let wall = shards.iter().map(|f| f.wall_s).fold(0.0, f64::max);
    let jobs = shards.iter().map(|f| f.jobs).sum();
    let raw: Vec<(usize, Vec<RunStat>)> = shards.into_iter().flat_map(|f| f.cells).collect();
    let cells = match summarise_all(&raw) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: the shards do not make one matrix: {e}");
            return EXIT_USAGE;
        }
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("reports"));
    write_matrix(&out, &cells, seeds, jobs, Duration::from_secs_f64(wall))
}

/// Writes matrix.{md,json,svg} into `out` and prints the grid and any
/// disagreement with the ground truth (exit 1 then).
fn write_matrix(
    out: &std::path::Path,
    cells: &[MatrixCell],
    seeds: u64,
    jobs: usize,
    wall: Duration,
) -> i32 {
    let md = render_md(cells, seeds, jobs, wall);
    let json = serde_json::to_string_pretty(cells).expect("cells serialize");
    let written = write_atomic(&out.join("matrix.md"), md.as_bytes())
        .and_then(|_| write_atomic(&out.join("matrix.json"), json.as_bytes()))
        .and_then(|_| write_svg(out, cells));
    if let Err(e) = written {
        eprintln!("error: cannot write into {}: {e}", out.display());
        return EXIT_USAGE;
    }
    print!("{}", grid(cells));
    let disagree: Vec<&MatrixCell> = cells.iter().filter(|c| c.agrees == Some(false)).collect();
    println!(
        "\n{} cells, {} runs each, {:.1} s; written to {}/matrix.{{md,json,svg}}",
        cells.len(),
        seeds,
        wall.as_secs_f64(),
        out.display()
    );
    for c in &disagree {
        println!(
            "DISAGREES with ground truth rows {:?}: {} x {} ({}): expected {}, measured {} L / {} R in {} runs",
            c.rows,
            c.algorithm,
            c.class,
            c.persistence,
            c.expect.map_or("-", |e| e.text()),
            c.l,
            c.r,
            c.runs
        );
    }
    if disagree.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// `locksim matrix --libraries`.
fn libraries(args: &MatrixArgs, jobs: usize) -> i32 {
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("reports"));
    if let Some(dir) = &args.scenarios {
        for c in crate::search::libraries::cells() {
            let s = c.scenario();
            let p = dir.join(format!("{}.toml", s.name));
            if let Err(e) = write_atomic(&p, s.to_toml().as_bytes()) {
                eprintln!("error: cannot write into {}: {e}", dir.display());
                return EXIT_USAGE;
            }
        }
    }
    let start = Instant::now();
    let mut files = Vec::new();
    let rows = match crate::report::gallery::write_libraries(&out, args.seeds, jobs, &mut files) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let md = crate::report::libraries::render_md(&rows, args.seeds);
    let grid: String = md
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with('|'))
        .map(|l| format!("{l}\n"))
        .collect();
    print!("{grid}");
    println!(
        "\n{} cells, {} runs each, {:.1} s; written to {}/libraries.{{md,json,svg}}",
        rows.len(),
        args.seeds,
        start.elapsed().as_secs_f64(),
        out.display()
    );
    let disagree: Vec<_> = rows.iter().filter(|r| r.agrees == Some(false)).collect();
    for r in &disagree {
        println!(
            "DISAGREES with ground truth rows {:?}: {} x {}: expected {}, measured {} L in {} runs",
            r.rows,
            r.library,
            r.class,
            if r.expect_l == Some(true) {
                "L"
            } else {
                "no L"
            },
            r.l,
            r.runs
        );
    }
    if disagree.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// `matrix.svg`, drawn by the reports module (measured cells only).
fn write_svg(out: &std::path::Path, cells: &[MatrixCell]) -> std::io::Result<()> {
    let heat: Vec<crate::report::MatrixCell> = cells
        .iter()
        .filter(|c| c.status == CellStatus::Measured)
        .map(|c| crate::report::MatrixCell {
            algorithm: c.algorithm.clone(),
            fault_class: c.class.clone(),
            persistence: c.persistence.clone(),
            runs: c.runs,
            violations: c.violations,
            liveness: c.liveness,
        })
        .collect();
    let svg = crate::report::render_matrix_svg(&heat);
    write_atomic(&out.join("matrix.svg"), svg.as_bytes())
}

use crate::report::libraries::pct;

/// One short cell of the grid: violation rate and the kinds seen.
fn short(c: &MatrixCell) -> String {
    match &c.status {
        CellStatus::NotAvailableYet(_) => "n/a yet".into(),
        CellStatus::Measured => {
            let mut kinds = String::new();
            if c.l > 0 {
                kinds.push('L');
            }
            if c.r > 0 {
                kinds.push('R');
            }
            let mark = match c.agrees {
                Some(false) => " ✗",
                _ => "",
            };
            if c.violations == 0 {
                format!("safe{mark}")
            } else {
                format!("{} {kinds}{mark}", pct(c.violation_rate))
            }
        }
    }
}

/// The compact grid (persistence `none` for every class; the kill, power
/// loss and failover cells of other modes are in the detailed table).
pub fn grid(cells: &[MatrixCell]) -> String {
    let mut s = String::new();
    let classes: Vec<&str> = FaultClass::ALL.iter().map(|c| c.name()).collect();
    let _ = writeln!(s, "| algorithm | {} |", classes.join(" | "));
    let _ = writeln!(s, "|---|{}", "---|".repeat(classes.len()));
    for alg in Algorithm::ALL {
        let mut row = format!("| {} |", alg.name());
        for class in &classes {
            let c = cells.iter().find(|c| {
                c.algorithm == alg.name() && c.class == *class && c.persistence == "none"
            });
            let _ = write!(row, " {} |", c.map_or("-".to_string(), short));
        }
        let _ = writeln!(s, "{row}");
    }
    s
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x >= 1000.0 => format!("{:.1} s", x / 1000.0),
        Some(x) => format!("{x:.0} ms"),
    }
}

/// `matrix.md`.
pub fn render_md(cells: &[MatrixCell], seeds: u64, jobs: usize, wall: Duration) -> String {
    let mut md = String::from("# The safety matrix\n\n");
    let _ = writeln!(
        md,
        "Generated by `locksim matrix --seeds {seeds}` ({} cells x {seeds} seeds on {jobs} threads, {:.0} s). \
         Each cell is a generated scenario (`locksim::search::matrix`): 3 clients x 10 cycles of 100-800 ms critical \
         sections under a 2 s TTL, library defaults otherwise (validity re-checked by Redlock only, plain `DEL` \
         release for the SETNX-era recipes), 40 s simulated with every fault healed at 20 s; its nemesis injects \
         one fault class only.\n",
        cells.len(),
        wall.as_secs_f64()
    );
    md.push_str("| class | what the nemesis does |\n|---|---|\n");
    for c in FaultClass::ALL {
        let _ = writeln!(md, "| {} | {} |", c.name(), c.describe());
    }
    md.push_str("\n## Violation rate (persistence `none`)\n\n");
    md.push_str("L = two clients held the lock at once; R = the resource accepted a stale write. ✗ = disagrees with the ground truth.\n\n");
    md.push_str(&grid(cells));
    let disagree: Vec<&MatrixCell> = cells.iter().filter(|c| c.agrees == Some(false)).collect();
    let checked = cells.iter().filter(|c| c.agrees.is_some()).count();
    let _ = writeln!(
        md,
        "\n{} of {checked} cells that a ground-truth row speaks about agree with it.",
        checked - disagree.len()
    );
    for c in disagree {
        let _ = writeln!(
            md,
            "- **Disagrees:** {} x {} ({}): rows {:?} say {}, measured {} L and {} R runs of {}.",
            c.algorithm,
            c.class,
            c.persistence,
            c.rows,
            c.expect.map_or("-", |e| e.text()),
            c.l,
            c.r,
            c.runs
        );
    }
    md.push_str(NOTES);
    md.push_str("\n## Every cell\n\n");
    md.push_str("Violation rate with its 95% Wilson interval; L, R and liveness loss as runs out of the total; \
                 median runs and single-thread wall time to the first violation (over the gaps between violating seeds); \
                 the ground-truth rows that speak about the cell and whether the measurement agrees.\n\n");
    md.push_str("| algorithm | faults | persistence | runs | violation rate [95% CI] | L | R | liveness lost | runs to 1st | wall to 1st | ground truth | agrees |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for c in cells {
        if let CellStatus::NotAvailableYet(why) = &c.status {
            let _ = writeln!(
                md,
                "| {} | {} | {} | - | not available yet ({why}) | | | | | | {} | |",
                c.algorithm,
                c.class,
                c.persistence,
                gt_text(c)
            );
            continue;
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} [{}, {}] | {} | {} | {} | {} | {} | {} | {} |",
            c.algorithm,
            c.class,
            c.persistence,
            c.runs,
            pct(c.violation_rate),
            pct(c.wilson_lo),
            pct(c.wilson_hi),
            c.l,
            c.r,
            c.liveness,
            c.median_runs_to_first
                .map_or("-".into(), |r| format!("{r:.0}")),
            ms(c.median_ms_to_first),
            gt_text(c),
            match c.agrees {
                Some(true) => "yes",
                Some(false) => "**NO**",
                None => "",
            }
        );
    }
    md
}

/// How to read the cells no ground-truth row covers, and the R columns.
const NOTES: &str = "
Reading it:

- **R without L** (Redlock under pauses and partitions): the lock never granted two leases, but a holder
  whose critical section outlived its validity (paused, or its resource calls timing out behind a
  partition) wrote after the next holder began. Rows 26/33 (no L) and 28 (R) at once; Redlock has no
  fencing token to stop it.
- **Partitions on one Redis node** (set-nx-px, setnx-expire, setnx-getset): a holder cut off from the
  resource spends its critical section waiting on timeouts, outlives a TTL it never re-checks, and the
  next client walks in (L); its delayed writes then land stale (R). No row covers it; it is row 12's
  mechanism with a network delay in place of a pause.
- **setnx** never expires its key: expiry faults (pause, clock jump, drift) cannot break it, but lost
  releases leave the lock stuck (liveness), and any crash that loses the key lets a second client in.
- **Watchdog under client drift** stays safe: renewals keep the key alive, so a slow clock only renews late.
- **Delayed restart** is safe for every algorithm: a crashed node that stays down for the TTL comes back
  only after every lease it granted has expired, so losing the key no longer matters (row 30 for Redlock).
  Single-node locks pay in availability while the node is down, never in safety.
- **Kill vs power loss:** `aof-everysec` survives a process kill (the write is in the page cache before the
  reply) but not a power loss; only `aof-always` survives both.
- **Cluster failover** is Sentinel's failover column on Redis Cluster: the cluster itself flags a dead master
  and elects its replica, which knows nothing of the grants it had not received yet (row 53). Persistence
  does not help: the elected replica never had the write. Redlock over three shards is not three
  independent masters either: each failover can lose one of its keys, and two losses close enough together
  let a second client in.
";

fn gt_text(c: &MatrixCell) -> String {
    match c.expect {
        None => String::new(),
        Some(e) if c.rows.is_empty() => format!("{} (control)", e.text()),
        Some(e) => {
            let rows: Vec<String> = c.rows.iter().map(|r| format!("#{r}")).collect();
            format!("{}: {}", rows.join(", "), e.text())
        }
    }
}
