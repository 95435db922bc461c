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
        "name = \"x\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"set-nx-px\"\nttl_ms = -1\n",
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

// ------------------------------------------------- outside the source tree
//
// A copied binary must not depend on the tree it was built from: findings
// go to the current directory (or where `--out` / `$LOCKSIM_HUNT_DIR` say),
// and the default job only looks for `./scenarios`.

/// A fresh empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "locksim-cli-{tag}-{}-{nanos:09}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// A small hunt scenario that finds a violation within a few seeds.
const HUNT_FILE: &str = "row-04-release-del.toml";
/// Its `name`: findings go to `<dir>/<name>/`.
const HUNT_NAME: &str = "hunt-row-04-release-del";
const HUNT_SEEDS: &str = "50";

/// A copy of the binary and of [`HUNT_FILE`] in a fresh directory, as a
/// user who copied `locksim` somewhere would have them.
struct Sandbox {
    dir: TempDir,
    exe: PathBuf,
}

impl Sandbox {
    fn new(tag: &str) -> Sandbox {
        let dir = TempDir::new(tag);
        let built = Path::new(env!("CARGO_BIN_EXE_locksim"));
        let exe = dir.0.join(built.file_name().expect("a file name"));
        std::fs::copy(built, &exe).expect("copy the binary");
        let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/hunt-scenarios")
            .join(HUNT_FILE);
        std::fs::copy(scenario, dir.0.join(HUNT_FILE)).expect("copy the scenario");
        Sandbox { dir, exe }
    }

    fn path(&self) -> &Path {
        &self.dir.0
    }

    fn exe_name(&self) -> String {
        self.exe
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned()
    }

    /// Runs the copied binary in the sandbox, without `LOCKSIM_HUNT_DIR`
    /// unless `env_dir` sets it.
    fn run(&self, args: &[&str], env_dir: Option<&Path>) -> Output {
        let mut cmd = Command::new(&self.exe);
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("LOCKSIM_HUNT_DIR");
        if let Some(d) = env_dir {
            cmd.env("LOCKSIM_HUNT_DIR", d);
        }
        cmd.output().expect("the copied binary runs")
    }

    fn hunt(&self, extra: &[&str], env_dir: Option<&Path>) -> Output {
        let mut args = vec!["hunt", HUNT_FILE, "--seeds", HUNT_SEEDS, "--jobs", "2"];
        args.extend_from_slice(extra);
        let out = self.run(&args, env_dir);
        assert_eq!(
            out.status.code(),
            Some(1),
            "a violation is found within {HUNT_SEEDS} seeds\nstdout:\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }
}

/// Asserts `dir` holds a saved finding of [`HUNT_NAME`] and nothing else.
fn assert_finding_in(dir: &Path) {
    assert_eq!(
        entries(dir),
        vec![HUNT_NAME.to_string()],
        "{}",
        dir.display()
    );
    let finding = dir.join(HUNT_NAME);
    for f in ["minimal.toml", "original.toml", "report/report.md"] {
        assert!(finding.join(f).is_file(), "{}", finding.join(f).display());
    }
}

/// Where the old default (and a hunt run from `sim/` or the workspace root)
/// would have put the finding in the source tree, with each one's
/// modification time: a sandboxed hunt must change none of them.
fn source_tree_findings() -> Vec<(PathBuf, Option<std::time::SystemTime>)> {
    let sim = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        sim.join("../target/locksim-hunts"),
        sim.join("locksim-hunts"),
        sim.join("../locksim-hunts"),
    ]
    .into_iter()
    .map(|d| {
        let min = d.join(HUNT_NAME).join("minimal.toml");
        let mtime = std::fs::metadata(&min).and_then(|m| m.modified()).ok();
        (min, mtime)
    })
    .collect()
}

#[test]
fn a_copied_binary_hunts_into_locksim_hunts_of_the_current_directory() {
    let before = source_tree_findings();
    let sb = Sandbox::new("hunt-default");
    let out = sb.hunt(&[], None);
    assert!(
        text(&out.stdout).contains("minimal.toml"),
        "{}",
        text(&out.stdout)
    );
    let mut expected = vec![
        sb.exe_name(),
        HUNT_FILE.to_string(),
        "locksim-hunts".to_string(),
    ];
    expected.sort();
    assert_eq!(entries(sb.path()), expected, "nothing else is written");
    assert_finding_in(&sb.path().join("locksim-hunts"));
    assert_eq!(
        source_tree_findings(),
        before,
        "nothing is written into the source tree"
    );
}

#[test]
fn out_beats_locksim_hunt_dir_which_beats_the_default() {
    let sb = Sandbox::new("hunt-override");
    let from_env = sb.path().join("from-env");
    sb.hunt(&[], Some(&from_env));
    assert_finding_in(&from_env);
    assert!(!sb.path().join("locksim-hunts").exists());

    let from_flag = sb.path().join("from-flag");
    let unused_env = sb.path().join("unused-env");
    sb.hunt(&["--out", "from-flag"], Some(&unused_env));
    assert_finding_in(&from_flag);
    assert!(!unused_env.exists(), "--out wins over LOCKSIM_HUNT_DIR");
    assert!(!sb.path().join("locksim-hunts").exists());

    // An empty LOCKSIM_HUNT_DIR counts as unset.
    sb.hunt(&[], Some(Path::new("")));
    assert_finding_in(&sb.path().join("locksim-hunts"));
}

#[test]
fn with_no_command_outside_a_checkout_it_exits_2_and_says_where_to_run_it() {
    let sb = Sandbox::new("no-command");
    let before = entries(sb.path());
    let out = sb.run(&[], None);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no scenarios/ directory"), "{err}");
    assert!(err.contains("built-in scenarios"), "{err}");
    assert!(err.contains("repository"), "{err}");
    assert!(err.contains("locksim run FILE"), "{err}");
    assert_eq!(
        entries(sb.path()),
        before,
        "no reports/ written, nothing created"
    );
}
