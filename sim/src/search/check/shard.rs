//! Splitting a check across machines and joining the pieces.
//!
//! `locksim check FILE --shard I/N` explores the level-1 placements whose
//! number is I mod N, and everything placed after them, and writes a
//! [`ShardResult`] (JSON). `locksim check --merge DIR...` reads the N
//! results and gives the verdict one machine would have given:
//!
//! - the shards must be the same check (scenario, seed, bound, alphabet)
//!   and cover 0..N once each, or the merge is refused;
//! - a counterexample wins when every shard covered every level below it;
//!   among several, the one with the fewest faults, then the earliest in
//!   the single machine's order (placement numbers compared level by
//!   level), as one machine would have met it first;
//! - otherwise certified when every shard is, else partly covered.
//!
//! Coverage counts add up to the single machine's: duplicates and the
//! fault-free run are counted by exactly one shard.

use super::{Counterexample, Coverage, Report, Verdict};
use crate::model::FaultSpec;
use crate::search::sweep::Shard;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What one shard found, as written to disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardResult {
    /// The check's identity: the base scenario (as its file text), the run
    /// seed, the bound and the alphabet.
    pub base_toml: String,
    pub seed: u64,
    pub faults: usize,
    pub alphabet: Vec<String>,
    pub shard_index: u64,
    pub shard_count: u64,
    /// `certified`, `counterexample` or `exhausted`.
    pub verdict: String,
    pub coverage: Coverage,
    pub counterexample: Option<Found>,
}

/// A shard's counterexample: its place in the enumeration and its faults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Found {
    pub order: Vec<u64>,
    pub faults: Vec<FaultSpec>,
    pub summary: String,
    /// Earlier placements the shard's budget left unrun (see
    /// [`Counterexample::unconfirmed`]).
    #[serde(default)]
    pub unconfirmed: u64,
}

impl ShardResult {
    pub fn new(report: &Report, base_toml: String, seed: u64, shard: Shard) -> ShardResult {
        let (verdict, counterexample) = match &report.verdict {
            Verdict::Certified => ("certified", None),
            Verdict::Exhausted => ("exhausted", None),
            Verdict::Counterexample(cx) => ("counterexample", Some(found(cx))),
        };
        ShardResult {
            base_toml,
            seed,
            faults: report.faults,
            alphabet: report
                .alphabet
                .iter()
                .map(|k| k.name().to_string())
                .collect(),
            shard_index: shard.index,
            shard_count: shard.count,
            verdict: verdict.into(),
            coverage: report.coverage.clone(),
            counterexample,
        }
    }

    /// The file a shard's result goes to in `dir`.
    pub fn path(dir: &Path, name: &str, shard: Shard) -> PathBuf {
        dir.join(format!(
            "{name}.shard-{}-of-{}.json",
            shard.index, shard.count
        ))
    }
}

fn found(cx: &Counterexample) -> Found {
    Found {
        order: cx.schedule.order.clone(),
        faults: cx.schedule.specs(),
        summary: super::describe(&cx.schedule),
        unconfirmed: cx.unconfirmed,
    }
}

/// The joined verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// `certified`, `counterexample` or `exhausted`.
    pub verdict: String,
    pub coverage: Coverage,
    pub counterexample: Option<Found>,
    pub base_toml: String,
    pub seed: u64,
    pub faults: usize,
    pub alphabet: Vec<String>,
}

/// Reads every `*.shard-*-of-*.json` in `dirs`.
pub fn read_dirs(dirs: &[PathBuf]) -> Result<Vec<ShardResult>, String> {
    let mut out = Vec::new();
    for d in dirs {
        let entries = std::fs::read_dir(d).map_err(|e| format!("{}: {e}", d.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.contains(".shard-") && n.ends_with(".json"))
            })
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let r: ShardResult = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a shard result: {e}", f.display()))?;
            out.push(r);
        }
    }
    if out.is_empty() {
        return Err("no shard results (*.shard-I-of-N.json) in the given directories".into());
    }
    Ok(out)
}

/// Joins shard results (see the module docs).
pub fn merge(results: &[ShardResult]) -> Result<Merged, String> {
    let first = results.first().ok_or("nothing to merge")?;
    let n = first.shard_count;
    let mut seen = vec![false; n as usize];
    for r in results {
        let same = r.base_toml == first.base_toml
            && r.seed == first.seed
            && r.faults == first.faults
            && r.alphabet == first.alphabet
            && r.shard_count == n;
        if !same {
            return Err(format!(
                "shard {}/{} is not the same check as shard {}/{} (scenario, seed, bound, alphabet and shard count must match)",
                r.shard_index, r.shard_count, first.shard_index, n
            ));
        }
        let slot = seen
            .get_mut(r.shard_index as usize)
            .ok_or_else(|| format!("shard {}/{} is out of range", r.shard_index, n))?;
        if *slot {
            return Err(format!("shard {}/{n} appears twice", r.shard_index));
        }
        *slot = true;
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(format!("shard {missing}/{n} is missing"));
    }
    let mut cov = Coverage {
        points: first.coverage.points,
        levels_done: usize::MAX,
        ..Coverage::default()
    };
    for r in results {
        cov.schedules += r.coverage.schedules;
        cov.deduplicated += r.coverage.deduplicated;
        cov.replays += r.coverage.replays;
        cov.level_known += r.coverage.level_known;
        cov.level_run += r.coverage.level_run;
        cov.levels_done = cov.levels_done.min(r.coverage.levels_done);
    }
    let best = results
        .iter()
        .filter_map(|r| r.counterexample.as_ref())
        .min_by(|a, b| (a.faults.len(), &a.order).cmp(&(b.faults.len(), &b.order)))
        .cloned();
    let verdict = match &best {
        Some(cx)
            if results
                .iter()
                .all(|r| r.coverage.levels_done + 1 >= cx.faults.len()) =>
        {
            "counterexample"
        }
        Some(_) => "exhausted",
        None if results.iter().all(|r| r.verdict == "certified") => "certified",
        None => "exhausted",
    };
    Ok(Merged {
        verdict: verdict.into(),
        coverage: cov,
        counterexample: if verdict == "counterexample" {
            best
        } else {
            None
        },
        base_toml: first.base_toml.clone(),
        seed: first.seed,
        faults: first.faults,
        alphabet: first.alphabet.clone(),
    })
}
