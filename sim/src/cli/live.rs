//! `locksim live FILE`: the scenario against real redis-server processes
//! (see [`crate::live`]), and the hidden `locksim live-client` each client
//! process runs.

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::live::client_proc::{client_main, ClientArgs};
use crate::live::ext_proc::split_command;
use crate::live::{self, LiveError, LiveOptions, LiveRun};
use crate::model::{Scenario, Verdict};
use crate::report::markdown::describe_violation;
use crate::report::{write_atomic, write_report};

use crate::scenario::load_scenario;
use clap::Args;
use std::path::PathBuf;

/// Exit code when SIGINT / SIGTERM / SIGHUP stopped a live run.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// Scenario file (TOML). Topologies `single` and `independent`; faults
    /// `pause`, `kill`, `restart` and `heal`. Optional with --check-client.
    #[arg(required_unless_present = "check_client")]
    pub file: Option<PathBuf>,
    /// Run CMD ARGS... as every client process instead of locksim's own
    /// client: a program over any lock library that speaks the line
    /// protocol of sim/src/live/PROTOCOL.md (words split like a shell's).
    #[arg(long, value_name = "CMD")]
    pub client: Option<String>,
    /// Run CMD through one fault-free cycle against a real redis-server
    /// and list what it leaves out of the protocol (exit 0: complete,
    /// 1: problems). With FILE, its [lock] and [redis] tables.
    #[arg(long, value_name = "CMD", conflicts_with = "client")]
    pub check_client: Option<String>,
    /// Multiply every time of the scenario by X (TTL, delays, work, faults,
    /// duration): 0.1 runs a 60 s story in 6 s. Too small a scale lets
    /// process and loopback jitter (about a millisecond) dominate.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub time_scale: f64,
    /// Seed for the clients' random streams and clock offsets (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep the temporary directory (servers' data and logs, history.jsonl).
    #[arg(long)]
    pub keep_dirs: bool,
    /// Write a report folder into DIR (as `locksim run --report`).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Print one JSON object for the run (the fields of `locksim run --json`, plus live ones).
    #[arg(long)]
    pub json: bool,
    /// Print a text timeline of the run.
    #[arg(long)]
    pub timeline: bool,
    /// Do not print faults as they happen.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct LiveClientArgs {
    /// The run's spec (JSON), written by the coordinator.
    #[arg(long)]
    pub spec: PathBuf,
    #[arg(long)]
    pub client: usize,
    #[arg(long, default_value_t = 0)]
    pub incarnation: u32,
    #[arg(long, default_value_t = 0)]
    pub cycles_done: u32,
}

/// `locksim live-client` (started by `locksim live`, not by people).
pub fn live_client(args: &LiveClientArgs) -> i32 {
    client_main(&ClientArgs {
        spec: &args.spec,
        client: args.client,
        incarnation: args.incarnation,
        cycles_done: args.cycles_done,
    })
}

/// The binary clients are started from: `LOCKSIM_EXE`, else this one.
pub(super) fn client_exe() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("LOCKSIM_EXE") {
        return Ok(PathBuf::from(p));
    }
    std::env::current_exe().map_err(|e| format!("cannot find the locksim binary: {e}"))
}

/// `locksim live FILE`.
pub fn live(args: &LiveArgs) -> i32 {
    let x = args.time_scale;
    if !x.is_finite() || x <= 0.0 || x > 1000.0 {
        eprintln!("error: --time-scale must be a number in (0, 1000], got {x}");
        return EXIT_USAGE;
    }
    let original = match &args.file {
        None => None,
        Some(f) => match load_scenario(f) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("{e}");
                return EXIT_USAGE;
            }
        },
    };
    let client_cmd = match args.client.as_deref().map(split_command).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: --client: {e}");
            return EXIT_USAGE;
        }
    };
    let Some(original) = original else {
        eprintln!("error: locksim live needs a scenario FILE");
        return EXIT_USAGE;
    };
    let file = args
        .file
        .as_ref()
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    if let Some(why) = live::refusal(&original) {
        eprintln!("error: {file}: {why}");
        return EXIT_USAGE;
    }
    let s = live::scale(&original, x);
    let exe = match client_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    for n in live::notes(&s) {
        eprintln!("note: {n}");
    }
    if args.client.is_some() {
        use crate::model::{Trigger, When};
        for f in &s.faults {
            let line = match f.when {
                When::On {
                    trigger: Trigger::Granted { .. },
                    ..
                } => "GRANTED j",
                When::On {
                    trigger: Trigger::Renewed { .. },
                    ..
                } => "EXTENDED valid_ms=N",
                _ => continue,
            };
            if let When::On { trigger, .. } = f.when {
                eprintln!(
                    "note: the fault on `{trigger}` fires only if the --client program says \
                     `{line}` (an optional line of the protocol)"
                );
            }
        }
    }
    let off = s.clients.offset_ms;
    if args.client.is_some() && (off.lo != 0 || off.hi != 0) {
        eprintln!(
            "note: clients.offset_ms = [{}, {}] is not applied to --client programs: they read \
             the machine's clocks (the history's readings are offset)",
            off.lo, off.hi
        );
    }
    if !args.quiet {
        let clients = match &args.client {
            Some(c) => format!("{} client processes running `{c}`", s.clients.count),
            None => format!("{} client processes", s.clients.count),
        };
        eprintln!(
            "live: {} ({}, {} redis-server ({}), persistence {}, {clients}), \
             time scale {x}: ttl {} ms, duration {} ms",
            s.name,
            if args.client.is_some() {
                "--client".to_string()
            } else {
                s.algorithm_label()
            },
            s.redis.nodes,
            s.redis.topology.name(),
            s.redis.persistence.name(),
            s.lock.ttl_ms,
            s.duration_ms
        );
    }
    let opts = LiveOptions {
        seed: args.seed.unwrap_or(s.seed),
        keep_dirs: args.keep_dirs,
        exe,
        progress: !args.quiet,
        client_cmd,
        inspect: false,
    };
    let run = match live::run_live(&s, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {file}: {e}");
            return match e {
                LiveError::Interrupted => EXIT_INTERRUPTED,
                LiveError::Refused(_) | LiveError::Failed(_) | LiveError::Client(_) => EXIT_USAGE,
            };
        }
    };
    let o = &run.outcome;
    let ok = o.verdict() == s.expect;
    if args.json {
        println!("{}", json_line(&file, &s, &run, x, args.client.as_deref()));
    } else {
        println!(
            "{:<44} {:>6} {:<10} {:<10} {:<4} {:>8}",
            "scenario (live)", "seed", "expect", "verdict", "ok", "took"
        );
        println!(
            "{:<44} {:>6} {:<10} {:<10} {:<4} {:>7.2}s",
            s.name,
            o.seed,
            s.expect.name(),
            o.verdict().name(),
            if ok { "ok" } else { "FAIL" },
            run.elapsed.as_secs_f64()
        );
        for v in &o.check.violations {
            println!("    {}", describe_violation(v, &s.lock.key));
        }
        if o.verdict() == Verdict::Liveness {
            println!(
                "    unfinished clients: {:?} (live runs have no deterministic schedule; \
                 a larger --time-scale gives more slack)",
                o.check.unfinished
            );
        }
        println!(
            "    on {} ({} events, {} messages); not deterministic: the simulator's run is \
             `locksim run {file} --seed {}`",
            run.redis_version, o.stats.events, o.stats.messages, o.seed
        );
        if let Some(d) = &run.kept_dir {
            println!("    kept: {}", d.display());
        }
    }
    if args.timeline {
        print!("{}", crate::report::text::timeline(&s, o));
    }
    if let Some(dir) = &args.report {
        let sub = dir.join(format!("{}-live", s.name));
        let written = write_report(&sub, &s, &file, o).and_then(|_| {
            write_atomic(
                &sub.join("live.txt"),
                live_txt(&file, &s, &run, x, args.client.as_deref()).as_bytes(),
            )
        });
        if let Err(e) = written {
            eprintln!("error: cannot write report into {}: {e}", dir.display());
            return EXIT_USAGE;
        }
        if !args.json {
            println!("    report: {}", sub.display());
        }
    }
    if ok {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// The JSON object of a live run: `locksim run --json`'s fields plus
/// `live`, `time_scale`, `elapsed_ms`, `redis_version` and, with
/// `--keep-dirs`, `kept_dir`.
fn json_line(file: &str, s: &Scenario, run: &LiveRun, x: f64, client: Option<&str>) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&super::runs::json_line(file, s, &run.outcome))
            .expect("json_line is JSON");
    if let Some(m) = v.as_object_mut() {
        m.insert("live".into(), true.into());
        m.insert("time_scale".into(), x.into());
        m.insert("elapsed_ms".into(), (run.elapsed.as_millis() as u64).into());
        m.insert("redis_version".into(), run.redis_version.clone().into());
        if let Some(c) = client {
            m.insert("client".into(), c.into());
        }
        if let Some(d) = &run.kept_dir {
            m.insert("kept_dir".into(), d.display().to_string().into());
        }
    }
    v.to_string()
}

/// `live.txt` of a report: how this history was made.
fn live_txt(file: &str, s: &Scenario, run: &LiveRun, x: f64, client: Option<&str>) -> String {
    let mut t = String::new();
    t.push_str("This history comes from a live run on real redis-server processes,\n");
    t.push_str("not from the simulator. It is not reproducible bit for bit.\n\n");
    let with = client.map_or(String::new(), |c| format!(" --client {c:?}"));
    t.push_str(&format!(
        "command:        locksim live {file} --time-scale {x} --seed {}{with}\n",
        run.outcome.seed
    ));
    t.push_str(&format!("redis-server:   {}\n", run.redis_version));
    for (i, c) in run.redis_command_lines.iter().enumerate() {
        t.push_str(&format!("redis-{i}:        redis-server {c}\n"));
    }
    t.push_str(&format!(
        "started:        Unix ms {} (history wall readings are rebased onto the \
         simulator's epoch)\n",
        run.wall_start_ms
    ));
    t.push_str(&format!(
        "took:           {:.3} s for {} ms of scenario time\n",
        run.elapsed.as_secs_f64(),
        s.duration_ms
    ));
    t.push_str(&format!(
        "verdict:        {} (expect {})\n",
        run.outcome.verdict(),
        s.expect
    ));
    t.push_str(
        "\nscenario.toml holds the scenario as it ran (times already scaled).\n\
         `granted` events are the clients' own observation of the grant reply.\n",
    );
    t
}
