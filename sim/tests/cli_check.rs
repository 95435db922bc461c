//! `locksim check` from the command line: exit codes, files, JSON, shards.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn locksim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args(args)
        .current_dir(dir)
        .env_remove("LOCKSIM_HUNT_DIR")
        .output()
        .expect("locksim runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scenario(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .display()
        .to_string()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("locksim-cli-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn json(out: &Output) -> Value {
    let stdout = text(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n{}", text(&out.stderr)))
}

#[test]
fn certified_is_exit_0_and_a_counterexample_exit_1_with_its_files() {
    let dir = temp_dir("verdicts");
    let safe = scenario("../scenarios/set-nx-px-aof-always-crash.toml");
    let out = locksim(
        &dir,
        &[
            "check",
            &safe,
            "--alphabet",
            "kill,power-loss",
            "--jobs",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("certified: no violation with <=1 fault(s)"));
    let broken = scenario("tests/hunt-scenarios/row-15-sentinel-failover.toml");
    let out = locksim(&dir, &["check", &broken, "--alphabet", "kill", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(v["verdict"], "counterexample");
    assert_eq!(v["counterexample"]["replay_matches"], true);
    let minimal = dir.join(v["counterexample"]["minimal"].as_str().expect("a path"));
    assert!(
        minimal.starts_with(dir.join("locksim-checks")),
        "{}",
        minimal.display()
    );
    let toml = std::fs::read_to_string(&minimal).expect("minimal.toml");
    assert!(toml.contains("kind = \"kill\""), "{toml}");
    // The repro line runs from where the user stands and shows the violation.
    let repro = v["counterexample"]["repro"].as_str().expect("repro");
    let args: Vec<&str> = repro.split_whitespace().skip(1).collect();
    let out = locksim(&dir, &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "expect = violation holds: {}",
        text(&out.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_budget_that_ends_first_is_exit_3_and_bad_input_exit_2() {
    let dir = temp_dir("budget");
    let safe = scenario("../scenarios/set-nx-px-aof-always-crash.toml");
    let out = locksim(
        &dir,
        &[
            "check",
            &safe,
            "--faults",
            "2",
            "--alphabet",
            "kill",
            "--budget",
            "50",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("budget exhausted"));
    for bad in [
        vec!["check", &safe, "--alphabet", "warp"],
        // A scenario without maxmemory: nothing to press against.
        vec!["check", &safe, "--alphabet", "memory-pressure"],
        vec!["check", &safe, "--shard", "3/2"],
        vec!["check", "no-such-file.toml"],
        vec!["check", &safe, "--faults", "0"],
        vec!["check", &safe, "--want", "LR"],
        vec!["check", &safe, "--want", "L", "--shard", "0/2"],
    ] {
        let out = locksim(&dir, &bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).is_empty(), "{bad:?} says why");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shards_merge_into_the_single_machine_verdict() {
    let dir = temp_dir("shards");
    let broken = scenario("tests/hunt-scenarios/row-12-no-validity-check.toml");
    let whole = locksim(
        &dir,
        &[
            "check",
            &broken,
            "--alphabet",
            "pause",
            "--json",
            "--out",
            "whole",
        ],
    );
    assert_eq!(whole.status.code(), Some(1));
    for i in 0..3 {
        let sh = format!("{i}/3");
        let out = locksim(
            &dir,
            &[
                "check",
                &broken,
                "--alphabet",
                "pause",
                "--shard",
                &sh,
                "--out",
                "shards",
            ],
        );
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            text(&out.stderr)
        );
    }
    let merged = locksim(&dir, &["check", "--merge", "shards", "--json"]);
    assert_eq!(merged.status.code(), Some(1), "{}", text(&merged.stderr));
    let (w, m) = (json(&whole), json(&merged));
    assert_eq!(m["verdict"], "counterexample");
    // The same counterexample file, byte for byte.
    let read = |v: &Value| {
        let p = dir.join(v["counterexample"]["minimal"].as_str().expect("path"));
        let t = std::fs::read_to_string(p).expect("minimal.toml");
        t.lines()
            .filter(|l| !l.starts_with("about"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(read(&w), read(&m));
    let out = locksim(&dir, &["check", "--merge", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keep_faults_checks_on_top_of_the_scenarios_own_faults() {
    // Row 37's setup: the built-in story minus its final master kill, with
    // aof-always and a 100 ms restart delay (a master kill alone loses
    // nothing). Its own faults cut redis-2 off and bounce redis-1.
    let dir = temp_dir("keep");
    let built_in = std::fs::read_to_string(scenario(
        "../scenarios/redisson-4-7-0-wait-counted-the-wrong-replica.toml",
    ))
    .expect("the built-in scenario");
    let cut = built_in
        .rfind("[[faults]]")
        .expect("the master kill is the last fault");
    let setup = built_in[..cut].replace(
        "failover_after_ms = 1000\n",
        "failover_after_ms = 1000\npersistence = \"aof-always\"\nrestart_delay_ms = 100\n",
    );
    assert!(setup.contains("restart_delay_ms = 100"));
    let file = dir.join("setup.toml");
    std::fs::write(&file, setup).expect("written");
    let file = file.display().to_string();
    let args = [
        "check",
        &file,
        "--alphabet",
        "kill",
        "--want",
        "L",
        "--jobs",
        "2",
    ];
    let dropped = locksim(&dir, &args);
    assert_eq!(dropped.status.code(), Some(0), "{}", text(&dropped.stderr));
    assert!(!text(&dropped.stdout).contains("kept"));
    let mut keep = args.to_vec();
    keep.push("--keep-faults");
    let kept = locksim(&dir, &keep);
    let stdout = text(&kept.stdout);
    assert_eq!(
        kept.status.code(),
        Some(1),
        "{stdout}{}",
        text(&kept.stderr)
    );
    assert!(
        stdout.contains("(on top of the scenario's own 4 fault(s), kept)"),
        "{stdout}"
    );
    // The counterexample file holds the kept faults and the placed one, and
    // replays to the violation.
    let minimal = dir
        .join("locksim-checks")
        .join("redisson-4-7-0-wait-counted-the-wrong-replica")
        .join("minimal.toml");
    let text_min = std::fs::read_to_string(&minimal).expect("minimal.toml");
    assert_eq!(text_min.matches("[[faults]]").count(), 5, "{text_min}");
    assert!(
        text_min.contains("groups = [[\"redis-0\"], [\"redis-2\"]]"),
        "{text_min}"
    );
    let replay = locksim(&dir, &["run", &minimal.display().to_string()]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay.stdout));
    // Shards are checked as written: --keep-faults has no meaning on a merge.
    let bad = locksim(&dir, &["check", "--merge", ".", "--keep-faults"]);
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
