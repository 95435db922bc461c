//! `locksim matrix --shard I/N` and `--merge DIR...`: shards run on
//! separate machines merge into the matrix one machine writes.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn locksim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("locksim runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("locksim-matrix-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// `matrix.json` without its only wall-clock field (the median wall time
/// to the first violation, which no two runs share), as bytes.
fn deterministic_json(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("matrix.json");
    let mut cells: Vec<Value> = serde_json::from_str(&text).expect("JSON");
    for c in &mut cells {
        c.as_object_mut()
            .expect("a cell")
            .remove("median_ms_to_first");
    }
    serde_json::to_string_pretty(&cells).expect("serializes")
}

/// The grid `locksim matrix` prints (no wall times), without the summary
/// line that carries one.
fn grid(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .take_while(|l| !l.contains("cells,"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn three_shards_merge_into_the_single_machine_matrix() {
    let dir = temp_dir("shards");
    let seeds = "2";
    let single = locksim(
        &dir,
        &["matrix", "--seeds", seeds, "--jobs", "2", "--out", "one"],
    );
    let mut dirs = Vec::new();
    for i in 0..3 {
        let d = format!("s{i}");
        let shard = format!("{i}/3");
        let out = locksim(
            &dir,
            &[
                "matrix", "--seeds", seeds, "--jobs", "1", "--shard", &shard, "--out", &d,
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(dir
            .join(&d)
            .join(format!("matrix-shard-{i}-of-3.json"))
            .exists());
        dirs.push(d);
    }
    let mut args = vec!["matrix", "--out", "merged", "--merge"];
    args.extend(dirs.iter().map(String::as_str));
    let merged = locksim(&dir, &args);
    // The exit code says whether the cells agree with the ground truth; at
    // 2 seeds some do not, and the merge must say the same as one machine.
    assert_eq!(merged.status.code(), single.status.code());
    assert_eq!(grid(&merged), grid(&single));
    assert_eq!(
        deterministic_json(&dir.join("merged/matrix.json")),
        deterministic_json(&dir.join("one/matrix.json"))
    );
    assert!(dir.join("merged/matrix.md").exists() && dir.join("merged/matrix.svg").exists());

    // A shard missing, or one from another matrix: exit 2 with the reason.
    let out = locksim(&dir, &["matrix", "--out", "x", "--merge", "s0", "s1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 2/3 is missing"));
    let other = locksim(
        &dir,
        &["matrix", "--seeds", "1", "--shard", "2/3", "--out", "t"],
    );
    assert_eq!(other.status.code(), Some(0));
    let out = locksim(&dir, &["matrix", "--out", "x", "--merge", "s0", "s1", "t"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not part of the same matrix"));
    let out = locksim(&dir, &["matrix", "--shard", "3/3"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
