//! Reports: what a run did, written so a person can follow it.
//!
//! A report is a folder ([`write_report`]):
//!
//! - `report.md` ([`markdown`]): the verdict in one sentence, the
//!   reproduction line, the ground-truth row the scenario reproduces, the
//!   parameters, the overlapping windows with both clients' own clock
//!   readings, the faults in order with their triggers, the history around
//!   the violation, and the timeline embedded;
//! - `timeline.svg` ([`timeline`]): one lane per client and per Redis
//!   node, true time on x, leases, sessions, key holders, pauses, crashes,
//!   partitions, clock jumps, failovers, the violation window in red and
//!   arrows to the faults that set it up;
//! - `history.jsonl`: every event, the input of everything above;
//! - `scenario.toml`: the scenario with every default written out and the
//!   run's seed, which reproduces the run exactly.
//!
//! Every file is written to a temporary name and renamed ([`write_atomic`]),
//! so an interrupted run never leaves a half-written report behind. Output
//! is deterministic: the same run gives byte-identical files.
//!
//! Also here: the terminal timeline ([`text`], `locksim run --timeline`),
//! the matrix heatmap ([`heatmap`], `reports/matrix.svg`), and the gallery
//! ([`gallery`], `reports/` as `cargo run --release` regenerates it).
//!
//! ```no_run
//! use locksim::{report, scenario, world};
//! let s = scenario::load_scenario("scenarios/set-nx-px-pause-past-ttl.toml".as_ref()).unwrap();
//! let outcome = world::run(&s, s.seed);
//! report::write_report("/tmp/r".as_ref(), &s, "scenarios/set-nx-px-pause-past-ttl.toml", &outcome).unwrap();
//! print!("{}{}", report::text::legend(), report::text::timeline(&s, &outcome));
//! ```

mod canvas;
pub mod describe;
pub mod gallery;
pub mod ground_truth;
pub mod heatmap;
pub mod libraries;
pub mod markdown;
pub mod text;
pub mod timeline;

pub use heatmap::{render_matrix_svg, MatrixCell};

use crate::history::fnv1a_hex;
use crate::model::Scenario;
use crate::world::run::Outcome;
use std::io;
use std::path::{Path, PathBuf};

/// The files of a report folder, in the order they are written.
pub const REPORT_FILES: [&str; 4] = [
    "report.md",
    "timeline.svg",
    "history.jsonl",
    "scenario.toml",
];

/// Writes `bytes` to `path` atomically (temporary file, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The reproduction line for a run.
pub fn repro_line(file: &str, seed: u64) -> String {
    format!("locksim run {file} --seed {seed}")
}

/// Writes the report folder of one run into `dir`. `file` is the scenario
/// file as the user named it (for the reproduction line).
pub fn write_report(
    dir: &Path,
    scenario: &Scenario,
    file: &str,
    outcome: &Outcome,
) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let jsonl = outcome.history.to_jsonl();
    let hash = fnv1a_hex(jsonl.as_bytes());
    let md = markdown::render_hashed(scenario, file, outcome, &hash);
    write_atomic(&dir.join("report.md"), md.as_bytes())?;
    let svg = timeline::render(scenario, outcome);
    write_atomic(&dir.join("timeline.svg"), svg.as_bytes())?;
    write_atomic(&dir.join("history.jsonl"), jsonl.as_bytes())?;
    let mut explicit = scenario.clone();
    explicit.seed = outcome.seed;
    write_atomic(&dir.join("scenario.toml"), explicit.to_toml().as_bytes())?;
    Ok(dir.to_path_buf())
}
