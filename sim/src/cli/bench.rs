//! `locksim bench`: how fast the simulator runs, against what madsim alone
//! costs for the same number of messages.
//!
//! For each benchmark scenario it prints runs/s on one thread and with two
//! jobs (and the scaling between them), simulated time per wall time,
//! messages per run, and a baseline: bare madsim (two nodes, request and
//! reply, a timeout per request, nothing else) exchanging the same number of
//! messages. The ratio of the two is what locksim's model costs on top of
//! the runtime it stands on.

use super::runs::scenarios_dir;
use super::{EXIT_OK, EXIT_USAGE};
use crate::run::run;
use crate::scenario::{load_scenario, Scenario};
use crate::sweep::sweep;
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
    #[arg(long, default_value_t = 2000)]
    pub runs: u64,
    /// Benchmark these scenario files instead of the built-in two.
    pub files: Vec<std::path::PathBuf>,
}

struct Measure {
    runs_per_s: f64,
    sim_per_wall: f64,
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
    let files: Vec<std::path::PathBuf> = if args.files.is_empty() {
        BENCH_SCENARIOS
            .iter()
            .map(|f| scenarios_dir().join(f))
            .collect()
    } else {
        args.files.clone()
    };
    let runs = args.runs.max(10);
    println!("locksim bench: {runs} runs per measurement, release build recommended\n");
    println!(
        "{:<22} {:>9} {:>9} {:>7} {:>10} {:>8} {:>10} {:>10}",
        "scenario", "runs/s@1", "runs/s@2", "scale", "sim/wall", "msgs/run", "bare/s", "cost/bare"
    );
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
        let one = measure(&s, runs, 1);
        let two = measure(&s, runs, 2);
        let lat = (s.network.latency_ms.lo, s.network.latency_ms.hi);
        let start = Instant::now();
        for seed in 0..runs {
            bare_madsim(seed, msgs.div_ceil(2), lat);
        }
        let bare = runs as f64 / start.elapsed().as_secs_f64();
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
    }
    println!("\nruns/s@N: whole runs (world, oracle) per second on N threads; sim/wall: simulated seconds per wall second on one thread;");
    println!("bare/s: bare madsim exchanging the same number of messages; cost/bare: locksim's per-run cost over that baseline.");
    EXIT_OK
}
