//! `locksim bench`: how fast the simulator runs, against what madsim alone
//! costs for the same number of messages.
//!
//! For each benchmark scenario it prints runs/s on one thread and with two
//! jobs (and the scaling between them), simulated time per wall time,
//! messages per run, and a baseline: bare madsim (two nodes, request and
//! reply, a timeout per request, nothing else) exchanging the same number of
//! messages. The ratio of the two is what locksim's model costs on top of
//! the runtime it stands on. Every figure is the best of `--repeat`
//! measurements (3 by default): on a shared machine other work only ever
//! slows a measurement down, so the best one is the closest to the truth.
//!
//! Then where a run's time goes, measured: one more pass of `--runs` runs
//! per scenario on this thread with [`crate::profile`] enabled. The pass's
//! wall time comes from `Instant` outside the runs; the time inside the
//! instrumented sections (the Redis model and Lua, the world and history,
//! the oracle, runtime creation and teardown) from the CPU timestamp
//! counter, converted with the tick rate measured against `Instant` over
//! the same pass (inside a run `Instant` is madsim's simulated time). What
//! no section covers is reported as "madsim (rest)": total minus the
//! measured parts, i.e. madsim's executor, timers and network plus any code
//! not yet inside a section. A part whose sections never ran shows `-`
//! (not instrumented), not 0. Without a timestamp counter (not x86_64) the
//! table says the profiler is unavailable.
//!
//! Then, for every violation hunt in `sim/tests/hunt-scenarios/` (one per
//! ground-truth violation row), the median wall time to the first violation
//! from random faults on one thread (target: under 1 s), and beside it the
//! runs `locksim check` needs to its first violation on the same scenario
//! (`--no-check` skips that table; see [`super::bench_hunts`]). `--memory` runs
//! 100k runs on one thread and prints the resident set every 10k: it must
//! stay flat.

use super::runs::scenarios_dir;
use super::{EXIT_OK, EXIT_USAGE};
use crate::model::Scenario;
use crate::profile::{self, Part};
use crate::world::run::run;

use crate::scenario::load_scenario;
use crate::search::sweep::sweep;
use clap::Args;
use madsim::net::Endpoint;
use madsim::runtime::{Handle, Runtime};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The scenarios `locksim bench` measures (files in `scenarios/`).
pub const BENCH_SCENARIOS: [&str; 2] = ["bench-single-node.toml", "bench-five-masters.toml"];

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Runs per measurement.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub runs: u64,
    /// Measure each figure this many times and report the best.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Benchmark these scenario files instead of the built-in two.
    pub files: Vec<std::path::PathBuf>,
    /// Skip the time-to-first-violation table of the hunt scenarios (and
    /// the check-vs-hunt table built on it).
    #[arg(long)]
    pub no_hunts: bool,
    /// Skip the table of runs to the first violation by `check` vs `hunt`.
    #[arg(long)]
    pub no_check: bool,
    /// Only the hunt tables (time to the first violation, check vs hunt):
    /// skip the throughput and breakdown tables.
    #[arg(long, conflicts_with_all = ["no_hunts", "memory"])]
    pub hunts_only: bool,
    /// Only the hunt scenarios of these ground-truth rows (comma-separated,
    /// e.g. `--rows 12,27`); the targets are then judged on these rows.
    #[arg(long, value_delimiter = ',', conflicts_with = "no_hunts")]
    pub rows: Vec<u32>,
    /// Only measure memory: `--memory-runs` runs on one thread, RSS every 10k.
    #[arg(long)]
    pub memory: bool,
    /// Runs for `--memory`.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_runs: u64,
}

struct Measure {
    runs_per_s: f64,
    sim_per_wall: f64,
}

/// The best (highest `rate`) of `repeat` measurements.
fn best_of<T>(repeat: u32, mut once: impl FnMut() -> T, rate: impl Fn(&T) -> f64) -> T {
    (0..repeat)
        .map(|_| once())
        .max_by(|a, b| rate(a).total_cmp(&rate(b)))
        .expect("--repeat is at least 1")
}

fn measure(s: &Scenario, runs: u64, jobs: usize) -> Measure {
    let seeds: Vec<u64> = (0..runs).collect();
    let start = Instant::now();
    let sims = sweep(&seeds, jobs, |&seed| run(s, seed).stats.sim_us, &|_| {});
    let wall = start.elapsed().as_secs_f64();
    let sim_s: f64 = sims.iter().map(|&us| us as f64 / 1e6).sum();
    Measure {
        runs_per_s: runs as f64 / wall,
        sim_per_wall: sim_s / wall,
    }
}

/// Bare madsim: `round_trips` request/reply pairs between two nodes, with
/// the same latency and a timeout per request, as locksim's calls have.
pub fn bare_madsim(seed: u64, round_trips: u64, latency_ms: (u64, u64)) {
    let mut cfg = madsim::Config::default();
    cfg.net.send_latency = Duration::from_millis(latency_ms.0)
        ..Duration::from_millis(latency_ms.1) + Duration::from_micros(1);
    let rt = Runtime::with_seed_and_config(seed, cfg);
    rt.block_on(async move {
        let h = Handle::current();
        let server_addr: SocketAddr = "10.0.0.1:1".parse().expect("an address");
        let server = h
            .create_node()
            .ip(server_addr.ip())
            .init(move || async move {
                let ep = Endpoint::bind(server_addr).await.expect("bind");
                while let Ok((p, from)) = ep.recv_from_raw(0).await {
                    let id = *p.downcast::<u64>().expect("a u64");
                    let _ = ep.send_to_raw(from, id, Box::new(id)).await;
                }
            })
            .build();
        let client = h
            .create_node()
            .ip("10.0.0.2".parse().expect("an ip"))
            .build();
        let _ = client
            .spawn(async move {
                let ep = Endpoint::bind("10.0.0.2:1").await.expect("bind");
                for id in 1..=round_trips {
                    let _ = ep.send_to_raw(server_addr, 0, Box::new(id)).await;
                    let _ = madsim::time::timeout(Duration::from_millis(50), ep.recv_from_raw(id))
                        .await;
                }
            })
            .await;
        h.kill(server.id());
        h.kill(client.id());
        madsim::time::sleep(Duration::from_millis(1)).await;
    });
}

/// `locksim bench`
pub fn bench(args: &BenchArgs) -> i32 {
    if args.memory {
        return memory(args);
    }
    if args.hunts_only {
        return super::bench_hunts::hunts_table(!args.no_check, &args.rows);
    }
    let files: Vec<std::path::PathBuf> = if args.files.is_empty() {
        BENCH_SCENARIOS
            .iter()
            .map(|f| scenarios_dir().join(f))
            .collect()
    } else {
        args.files.clone()
    };
    let runs = args.runs;
    println!(
        "locksim bench: {runs} runs per measurement, best of {}, release build recommended\n",
        args.repeat
    );
    println!(
        "{:<22} {:>9} {:>9} {:>7} {:>10} {:>8} {:>10} {:>10}",
        "scenario", "runs/s@1", "runs/s@2", "scale", "sim/wall", "msgs/run", "bare/s", "cost/bare"
    );
    let mut scenarios = Vec::new();
    for f in &files {
        let s = match load_scenario(f) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return EXIT_USAGE;
            }
        };
        let probe = run(&s, 0);
        let msgs = probe.stats.messages;
        let by_rate = |m: &Measure| m.runs_per_s;
        let one = best_of(args.repeat, || measure(&s, runs, 1), by_rate);
        let two = best_of(args.repeat, || measure(&s, runs, 2), by_rate);
        let lat = (s.network.latency_ms.lo, s.network.latency_ms.hi);
        let bare_once = || {
            let start = Instant::now();
            for seed in 0..runs {
                bare_madsim(seed, msgs.div_ceil(2), lat);
            }
            runs as f64 / start.elapsed().as_secs_f64()
        };
        let bare = best_of(args.repeat, bare_once, |&r| r);
        println!(
            "{:<22} {:>9.0} {:>9.0} {:>6.2}x {:>9.0}x {:>8} {:>10.0} {:>9.2}x",
            s.name,
            one.runs_per_s,
            two.runs_per_s,
            two.runs_per_s / one.runs_per_s,
            one.sim_per_wall,
            msgs,
            bare,
            bare / one.runs_per_s
        );
        scenarios.push((s, one.runs_per_s));
    }
    println!("\nruns/s@N: whole runs (world, oracle) per second on N threads; sim/wall: simulated seconds per wall second on one thread;");
    println!("bare/s: bare madsim exchanging the same number of messages; cost/bare: locksim's per-run cost over that baseline.");
    breakdown_table(&scenarios, runs);
    if !args.no_hunts {
        return super::bench_hunts::hunts_table(!args.no_check, &args.rows);
    }
    EXIT_OK
}

/// One profiled pass: `runs` runs of `s` on this thread.
struct Profiled {
    wall_s: f64,
    ticks_per_s: f64,
    parts: profile::Breakdown,
}

fn profiled_pass(s: &Scenario, runs: u64) -> Profiled {
    profile::enable(true);
    let _ = profile::take();
    // Both clocks are read outside any run, where `Instant` is real time.
    let (start, start_ticks) = (Instant::now(), profile::now_ticks());
    for seed in 0..runs {
        std::hint::black_box(run(s, seed));
    }
    let (wall, ticks) = (start.elapsed(), profile::now_ticks() - start_ticks);
    profile::enable(false);
    Profiled {
        wall_s: wall.as_secs_f64(),
        ticks_per_s: ticks as f64 / wall.as_secs_f64(),
        parts: profile::take(),
    }
}

/// Where a run's time goes, per scenario (see the module docs).
fn breakdown_table(scenarios: &[(Scenario, f64)], runs: u64) {
    println!(
        "\nWhere a run's time goes (one profiled pass of {runs} runs per scenario on one thread):"
    );
    if !profile::available() {
        println!("profiler unavailable: it needs the x86_64 timestamp counter.");
        return;
    }
    print!(
        "{:<22} {:>8} {:>9} {:>15}",
        "scenario", "runs/s", "µs/run", "madsim (rest)"
    );
    for part in Part::ALL {
        print!(" {:>16}", part.name());
    }
    println!();
    for (s, unprofiled) in scenarios {
        let p = profiled_pass(s, runs);
        let total_us = p.wall_s * 1e6 / runs as f64;
        let us = |ticks: u64| ticks as f64 / p.ticks_per_s * 1e6 / runs as f64;
        let cell = |us: f64| format!("{:>5.1}% {:>6.1}µs", 100.0 * us / total_us, us);
        let rest = total_us - us(p.parts.total_ticks());
        print!(
            "{:<22} {:>8.0} {:>9.1} {:>15}",
            s.name,
            runs as f64 / p.wall_s,
            total_us,
            cell(rest)
        );
        for part in Part::ALL {
            if p.parts.entries(part) == 0 {
                print!(" {:>16}", "-");
            } else {
                print!(" {:>16}", cell(us(p.parts.ticks(part))));
            }
        }
        println!("   (unprofiled {unprofiled:.0} runs/s)");
    }
    println!("Each cell: share of the pass's wall time and µs per run. Wall time: Instant around the pass, outside the runs;");
    println!("parts: CPU timestamp-counter ticks inside profile sections (nested sections counted once), at the tick rate");
    println!("measured against Instant over the same pass. madsim (rest) = total - measured parts: madsim's executor, timers");
    println!("and network, plus code in no section. -: no section of that part ran (not instrumented), not zero cost.");
}

/// The resident set size of this process, in bytes (`/proc/self/statm`).
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// `--memory`: many runs on one thread; RSS must not grow.
fn memory(args: &BenchArgs) -> i32 {
    let file = args
        .files
        .first()
        .cloned()
        .unwrap_or_else(|| scenarios_dir().join(BENCH_SCENARIOS[0]));
    let s = match load_scenario(&file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_USAGE;
        }
    };
    let total = args.memory_runs;
    let every = (total / 10).max(1);
    println!(
        "locksim bench --memory: {total} runs of {} on one thread",
        s.name
    );
    println!("{:>8} {:>10} {:>9}", "runs", "RSS MiB", "runs/s");
    let mib = |b: Option<u64>| b.map_or(f64::NAN, |b| b as f64 / (1024.0 * 1024.0));
    println!("{:>8} {:>10.1} {:>9}", 0, mib(rss_bytes()), "-");
    let mut start = Instant::now();
    for seed in 0..total {
        let o = run(&s, seed);
        std::hint::black_box(&o);
        if (seed + 1) % every == 0 {
            let rate = every as f64 / start.elapsed().as_secs_f64();
            println!("{:>8} {:>10.1} {:>9.0}", seed + 1, mib(rss_bytes()), rate);
            start = Instant::now();
        }
    }
    EXIT_OK
}
