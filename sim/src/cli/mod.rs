//! The `locksim` command line.
//!
//! Exit codes: 0 when every expectation held (or a hunt found nothing, or
//! a check certified), 1 when an expectation failed (or a hunt or check
//! found a violation), 2 for bad input or usage, 3 when a check's budget
//! ended before it covered its space.

mod bench;
mod bench_hunts;
mod check;
mod hunt;
mod libraries;
mod live;
mod live_check;
mod matrix;
mod runs;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Exit code: expectations held.
pub const EXIT_OK: i32 = 0;
/// Exit code: an expectation failed or a violation was found.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad input or usage.
pub const EXIT_USAGE: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "locksim",
    version,
    about = "Deterministic simulation of Redis distributed locks under faults"
)]
#[command(
    after_help = "With no command: run every scenario in ./scenarios and regenerate ./reports \
                  (run it from the root of a locksim checkout)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenario files and check each run against its `expect`.
    Run(RunArgs),
    /// A shell on one simulated Redis node (redis-cli syntax; `SLEEP ms` advances time).
    Redis {
        /// Print replies as raw RESP2 bytes instead of redis-cli's rendering.
        #[arg(long)]
        resp: bool,
    },
    /// Measure runs/s and simulated/wall time on the canonical benchmark scenarios.
    Bench(bench::BenchArgs),
    /// Random faults from a scenario's `[nemesis]`, seed after seed; the first
    /// violation is shrunk to a minimal scenario file plus report.
    Hunt(hunt::HuntArgs),
    /// Prove a small setup safe up to K faults, or find its shortest counterexample
    Check(check::CheckArgs),
    /// The library profiles (`[lock] library = "NAME@VERSION"`) and their behaviour changes.
    Libraries(libraries::LibrariesArgs),
    /// Algorithms x fault classes x persistence modes: violation rates into reports/matrix.*.
    Matrix(matrix::MatrixArgs),
    /// Run a scenario against real redis-server processes it starts on
    /// 127.0.0.1, with real faults (SIGSTOP, SIGKILL); the same oracle judges it.
    Live(live::LiveArgs),
    /// One client process of `locksim live` (internal).
    #[command(hide = true)]
    LiveClient(live::LiveClientArgs),
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Scenario files (TOML).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Run this one seed (default: the scenario's `seed`).
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Run this many seeds, starting at the scenario's `seed`.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Write a report folder per run into DIR.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Print one JSON object per run, one per line.
    #[arg(long)]
    pub json: bool,
    /// Print a text timeline of each run (one line per event).
    #[arg(long)]
    pub timeline: bool,
}

/// Parses the arguments and runs; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        None => runs::run_gallery(),
        Some(Command::Run(args)) => runs::run_files(&args),
        Some(Command::Redis { resp }) => {
            let stdin = std::io::stdin();
            let mut out = std::io::stdout();
            match crate::redis::run_shell(stdin.lock(), &mut out, resp) {
                Ok(()) => EXIT_OK,
                Err(e) => {
                    eprintln!("locksim redis: {e}");
                    EXIT_USAGE
                }
            }
        }
        Some(Command::Bench(args)) => bench::bench(&args),
        Some(Command::Hunt(args)) => hunt::hunt(&args),
        Some(Command::Check(args)) => check::check(&args),
        Some(Command::Libraries(args)) => libraries::libraries(&args),
        Some(Command::Matrix(args)) => matrix::matrix(&args),
        Some(Command::Live(args)) if args.check_client.is_some() => live_check::check_client(&args),
        Some(Command::Live(args)) => live::live(&args),
        Some(Command::LiveClient(args)) => live::live_client(&args),
    }
}
