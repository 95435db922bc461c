//! `sim/examples/my-lock`, a crate of its own that tests its own lock with
//! locksim, builds and passes its `cargo test --release`: the path a user
//! takes (README, "Testing your own lock"), exercised by locksim's suite.
//!
//! It shares this workspace's `target/`: the dependencies are already
//! built there, so only `locksim-models`, `locksim` (as a dependency of
//! another workspace it is a unit of its own) and `my-lock` compile, about
//! 30 s on 2 cores after a change to locksim, nothing when nothing
//! changed. For that the flags must be byte-identical to this workspace's:
//! both `.cargo/config.toml` files apply to the example (cargo reads every
//! one from the working directory up) and their arrays concatenate into
//! `--cfg madsim --cfg madsim`, which would rebuild all ~150 dependencies
//! apart. The test passes the flags once through `CARGO_ENCODED_RUSTFLAGS`,
//! after checking that the example's own file says exactly that, which is
//! what a user's crate builds with.
//!
//! `--offline`: everything comes from the registry cache the workspace's
//! `cargo fetch` filled (`.ci/run` also fetches the example's lockfile).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

#[test]
fn the_my_lock_example_crate_builds_and_its_hunt_finds_the_bug() {
    let root = root();
    let dir = root.join("sim/examples/my-lock");
    let config = std::fs::read_to_string(dir.join(".cargo/config.toml")).expect("its config");
    for line in [
        "rustflags = [\"--cfg\", \"madsim\"]",
        "rustdocflags = [\"--cfg\", \"madsim\"]",
    ] {
        assert!(config.contains(line), "{line} in its .cargo/config.toml");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();
    let out = Command::new(cargo)
        .args(["test", "--release", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env("CARGO_ENCODED_RUSTFLAGS", "--cfg\u{1f}madsim")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTDOCFLAGS")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "sim/examples/my-lock: cargo test --release took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "cargo test in sim/examples/my-lock failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    for test in [
        "the_hunt_finds_two_holders_and_shrinks_the_story",
        "the_fixed_lock_survives_the_same_seeds",
        "check_certifies_the_fenced_fix_and_breaks_the_buggy_lock_both_ways",
    ] {
        assert!(
            stdout.contains(&format!("test {test} ... ok")),
            "{test} ran and passed:\n{stdout}"
        );
    }
}
