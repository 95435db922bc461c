//! `locksim live --check-client "CMD ARGS..." [FILE]`: one fault-free cycle
//! of a `--client` program, and what it leaves out (see
//! [`crate::live::check_client`]). Exit 0 when complete, 1 with the list of
//! problems, 2 when the check itself cannot run.

use super::live::{client_exe, LiveArgs, EXIT_INTERRUPTED};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::live::check_client::{check_client as run_check, check_scenario};
use crate::live::ext_proc::split_command;
use crate::live::{self, LiveError, LiveOptions};
use crate::scenario::load_scenario;

/// Runs the check and prints it.
pub fn check_client(args: &LiveArgs) -> i32 {
    let x = args.time_scale;
    if !x.is_finite() || x <= 0.0 || x > 1000.0 {
        eprintln!("error: --time-scale must be a number in (0, 1000], got {x}");
        return EXIT_USAGE;
    }
    let base = match &args.file {
        None => None,
        Some(f) => match load_scenario(f) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("{e}");
                return EXIT_USAGE;
            }
        },
    };
    let cmd = args.check_client.clone().unwrap_or_default();
    let client_cmd = match split_command(&cmd) {
        Ok(words) => Some(words),
        Err(e) => {
            eprintln!("error: --check-client: {e}");
            return EXIT_USAGE;
        }
    };
    let s = live::scale(&check_scenario(base.as_ref()), x);
    if let Some(why) = live::refusal(&s) {
        eprintln!("error: {why}");
        return EXIT_USAGE;
    }
    let exe = match client_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let opts = LiveOptions {
        seed: args.seed.unwrap_or(s.seed),
        keep_dirs: args.keep_dirs,
        exe,
        progress: !args.quiet,
        client_cmd,
        inspect: true,
    };
    println!(
        "check-client: `{cmd}`, one fault-free cycle: {} redis-server ({}), key {:?}, ttl {} ms, \
         {} write(s)",
        s.redis.nodes,
        s.redis.topology.name(),
        s.lock.key,
        s.lock.ttl_ms,
        s.clients.writes
    );
    let c = match run_check(&s, &opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                LiveError::Interrupted => EXIT_INTERRUPTED,
                _ => EXIT_USAGE,
            };
        }
    };
    for (line, reply) in &c.transcript {
        println!("  > {line:<40} < {reply}");
    }
    if !c.keys_at_begin.is_empty() {
        println!("  Redis at BEGIN: {}", c.keys_at_begin.join(", "));
    }
    for n in &c.notes {
        println!("  note: {n}");
    }
    if c.complete() {
        println!("complete: it says every line the oracle needs");
        EXIT_OK
    } else {
        println!("{} problem(s):", c.problems.len());
        for p in &c.problems {
            for (i, l) in p.lines().enumerate() {
                println!("{}{l}", if i == 0 { "  - " } else { "    " });
            }
        }
        EXIT_FAILED
    }
}
