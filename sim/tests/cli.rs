//! The `locksim` binary as a user meets it: exit codes, error messages,
//! reproduction lines and JSON output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn locksim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp_file(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("locksim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p
}

#[test]
fn a_bad_scenario_is_exit_2_with_file_line_and_column() {
    let p = temp_file(
        "bad.toml",
        "name = \"x\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"set-nx-px\"\nttl_ms = 0\n",
    );
    let out = locksim(&["run", p.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.toml:5:10: error:"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn usage_errors_are_exit_2() {
    assert_eq!(locksim(&["run"]).status.code(), Some(2));
    assert_eq!(locksim(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        locksim(&["run", "--seeds", "x", "scenarios/set-nx-px-no-faults.toml"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        locksim(&["run", "does-not-exist.toml"]).status.code(),
        Some(2)
    );
}

#[test]
fn a_held_expectation_is_exit_0_and_a_failed_one_exit_1_with_a_repro_line() {
    let ok = locksim(&["run", "scenarios/set-nx-px-release-del.toml", "--seed", "3"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    assert!(text(&ok.stdout)
        .contains("repro: locksim run scenarios/set-nx-px-release-del.toml --seed 3"));
    let wrong = std::fs::read_to_string("../scenarios/set-nx-px-release-del.toml")
        .or_else(|_| {
            std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../scenarios/set-nx-px-release-del.toml"),
            )
        })
        .expect("the scenario")
        .replace("expect = \"violation\"", "expect = \"safe\"");
    let p = temp_file("wrong-expect.toml", &wrong);
    let failed = locksim(&["run", p.to_str().expect("utf-8"), "--seed", "3"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(text(&failed.stdout).contains("FAIL"));
}

#[test]
fn the_same_seed_prints_the_same_hash() {
    let a = text(
        &locksim(&[
            "run",
            "scenarios/set-nx-px-restart-without-persistence.toml",
            "--seed",
            "3",
        ])
        .stdout,
    );
    let b = text(
        &locksim(&[
            "run",
            "scenarios/set-nx-px-restart-without-persistence.toml",
            "--seed",
            "3",
            "--jobs",
            "1",
        ])
        .stdout,
    );
    assert_eq!(a, b);
    assert!(
        a.lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().count() == 6),
        "{a}"
    );
}

#[test]
fn json_has_one_object_per_run_with_the_documented_fields() {
    let out = locksim(&[
        "run",
        "scenarios/set-nx-px-pause-past-ttl.toml",
        "--seeds",
        "3",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3);
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(&l).expect("json");
        for key in [
            "scenario",
            "file",
            "seed",
            "expect",
            "verdict",
            "ok",
            "hash",
            "violations",
            "fenced",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {l}");
        }
        assert_eq!(v["verdict"], "violation");
        let first = &v["violations"][0];
        assert_eq!(first["kind"], "R");
        assert!(
            first["from_ms"].as_f64().is_some()
                && first["clients"].as_array().is_some_and(|c| c.len() == 2)
        );
    }
}
