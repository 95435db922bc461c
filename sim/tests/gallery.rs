//! The committed gallery (`reports/`) is exactly what `cargo run --release`
//! produces from the scenarios in `scenarios/` now: regenerating it into a
//! temporary directory reproduces every committed file byte for byte.
//!
//! When this fails, the gallery is stale (a scenario, the simulator or the
//! report code changed): run `cargo run --release` and commit `reports/`.

use locksim::report::gallery;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where two byte strings first differ, as "line L, byte B".
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let line = a[..at].iter().filter(|&&c| c == b'\n').count() + 1;
    format!(
        "first difference at line {line}, byte {at} (committed {} bytes, regenerated {} bytes)",
        a.len(),
        b.len()
    )
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn committed_gallery_is_what_regeneration_produces() {
    let scenarios = root().join("scenarios");
    let committed = root().join("reports");
    let fresh = std::env::temp_dir().join(format!("locksim-gallery-test-{}", std::process::id()));
    let _ = fs::remove_dir_all(&fresh);
    let summary = gallery::regenerate(&scenarios, &fresh)
        .unwrap_or_else(|e| panic!("cannot regenerate the gallery: {e}"));
    let mut problems: Vec<String> = Vec::new();

    // Every file regeneration writes must be committed, byte for byte.
    for rel in &summary.files {
        let new = fs::read(fresh.join(rel)).expect("regenerated file is readable");
        match fs::read(committed.join(rel)) {
            Err(_) => problems.push(format!("reports/{} is missing", rel.display())),
            Ok(old) if old != new => problems.push(format!(
                "reports/{} differs: {}",
                rel.display(),
                first_difference(&old, &new)
            )),
            Ok(_) => {}
        }
    }

    // Nothing committed may be left over from the gallery of before.
    let produced_dirs: Vec<String> = summary
        .entries
        .iter()
        .map(|e| e.scenario.name.clone())
        .collect();
    for name in names_in(&committed) {
        let path = committed.join(&name);
        if path.is_dir() {
            if produced_dirs.contains(&name) {
                for f in names_in(&path) {
                    let rel = Path::new(&name).join(&f);
                    if !summary.files.contains(&rel) {
                        problems.push(format!(
                            "reports/{} is not produced by the gallery",
                            rel.display()
                        ));
                    }
                }
            } else if gallery::is_generated(&path) {
                problems.push(format!(
                    "reports/{name}/ is a report of a scenario that no longer exists"
                ));
            } else {
                eprintln!("note: reports/{name}/ is not a gallery folder; not compared");
            }
        } else if !summary.files.contains(&PathBuf::from(&name)) {
            eprintln!("note: reports/{name} is not written by the gallery (e.g. `locksim matrix`); not compared");
        }
    }
    let _ = fs::remove_dir_all(&fresh);

    assert!(
        problems.is_empty(),
        "the committed gallery is stale ({} problem(s)):\n  {}\n\nRun `cargo run --release` to regenerate reports/ and commit it.",
        problems.len(),
        problems.join("\n  ")
    );
}
