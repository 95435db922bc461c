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
