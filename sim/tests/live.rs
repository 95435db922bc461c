//! `locksim live` on real redis-server processes: ground-truth rows 17
//! (restart without persistence: violation), 11 (pause longer than the
//! TTL: violation, R), 20 (appendfsync always, SIGKILL: safe) and 49
//! (volatile-lru evicts the lock under memory pressure: violation), from the
//! live-tailored stories in `sim/tests/live/`, plus what live mode refuses
//! and that no process outlives a run, not even an interrupted one.
//!
//! Live runs are not deterministic: the tests assert verdicts only, and the
//! stories keep wide margins (hundreds of ms against a ~20 ms restart and
//! ~1 ms of process jitter) at `--time-scale 0.2`. They run one at a time
//! (a lock), about 15 s in all.
//!
//! Without `redis-server` on PATH they skip with one loud line, unless
//! `LOCKSIM_REQUIRE_REDIS=1`, which makes them fail.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Live runs share the machine's cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const SCALE: &str = "0.2";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn locksim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether redis-server can run here; panics if it cannot and
/// `LOCKSIM_REQUIRE_REDIS=1`.
fn have_redis(test: &str) -> bool {
    let required = std::env::var("LOCKSIM_REQUIRE_REDIS").is_ok_and(|v| v == "1");
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !required,
            "LOCKSIM_REQUIRE_REDIS=1 but redis-server is not on PATH"
        );
        eprintln!(
            "!!! SKIPPED {test}: redis-server is not on PATH, live mode was NOT run on real Redis; \
             install redis-server (apt-get install redis-server) and rerun \
             `cargo test -p locksim --test live` (LOCKSIM_REQUIRE_REDIS=1 turns this skip into a failure)"
        );
    }
    ok
}

/// Runs one live scenario with `--json`; returns the JSON object.
fn live(file: &str, extra: &[&str]) -> (Value, Output) {
    let mut args = vec!["live", file, "--time-scale", SCALE, "--json", "--quiet"];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = locksim(&args);
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "no JSON from `locksim {}` (exit {:?})\nstdout:\n{stdout}\nstderr:\n{}",
                args.join(" "),
                out.status.code(),
                text(&out.stderr)
            )
        });
    let v: Value = serde_json::from_str(line).expect("one JSON object");
    eprintln!(
        "{file}: verdict {} in {:.2} s",
        v["verdict"],
        started.elapsed().as_secs_f64()
    );
    (v, out)
}

#[test]
fn row_17_restart_without_persistence_breaks_the_lock_on_real_redis() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !have_redis("row 17") {
        return;
    }
    let file = "sim/tests/live/set-nx-px-restart-without-persistence.toml";
    let (v, out) = live(file, &[]);
    assert_eq!(v["verdict"], "violation", "{v}\n{}", text(&out.stderr));
    let kinds: Vec<&str> = v["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|x| x["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"L"), "two leases at once: {v}");
}

#[test]
fn row_11_pause_past_the_ttl_gives_a_stale_write_on_real_redis() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !have_redis("row 11") {
        return;
    }
    let file = "sim/tests/live/set-nx-px-pause-past-ttl.toml";
    let (v, out) = live(file, &[]);
    assert_eq!(v["verdict"], "violation", "{v}\n{}", text(&out.stderr));
    let kinds: Vec<&str> = v["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|x| x["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"R"), "a stale write: {v}");
    assert!(
        !kinds.contains(&"L"),
        "validity_check ends the lease in time: {v}"
    );
}

#[test]
fn row_20_aof_always_survives_sigkill_and_leaves_no_process_behind() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !have_redis("row 20") {
        return;
    }
    let file = "sim/tests/live/set-nx-px-aof-always-kill.toml";
    let report = std::env::temp_dir().join(format!("locksim-live-test-{}", std::process::id()));
    let (v, out) = live(
        file,
        &["--keep-dirs", "--report", report.to_str().expect("utf-8")],
    );
    assert_eq!(v["verdict"], "safe", "{v}\n{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    // The report is a normal report folder, plus live.txt.
    let sub = report.join("set-nx-px-aof-always-kill-live-live");
    for f in ["report.md", "history.jsonl", "scenario.toml", "live.txt"] {
        assert!(sub.join(f).is_file(), "{f} in {}", sub.display());
    }
    let _ = std::fs::remove_dir_all(&report);
    // Every server and client is gone; the kept directory shows the AOF.
    let stdout = text(&out.stdout);
    let kept = kept_dir(&out).unwrap_or_else(|| panic!("no kept dir in {stdout}"));
    assert!(
        kept.join("redis-0/appendonlydir").is_dir(),
        "{}",
        kept.display()
    );
    assert_eq!(processes_in(&kept), Vec::<u32>::new(), "left running");
    let _ = std::fs::remove_dir_all(&kept);
}

#[test]
fn sigint_stops_every_process() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !have_redis("sigint") {
        return;
    }
    let child = Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args([
            "live",
            "sim/tests/live/set-nx-px-aof-always-kill.toml",
            "--time-scale",
            "2",
            "--keep-dirs",
        ])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(1500));
    let dirs = run_dirs_of(pid);
    assert!(!dirs.is_empty(), "the run has a temporary directory");
    let running: Vec<u32> = dirs.iter().flat_map(|d| processes_in(d)).collect();
    assert!(
        running.len() >= 4,
        "1 server and 3 clients run: {running:?}"
    );
    let sent = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = child.wait_with_output().expect("it exits");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interrupted"),
        "{}",
        text(&out.stderr)
    );
    for d in &dirs {
        assert_eq!(processes_in(d), Vec::<u32>::new(), "left running");
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn what_live_mode_cannot_do_is_refused_with_exit_2() {
    for (file, says) in [
        (
            "scenarios/set-nx-px-aof-always-crash.toml",
            "live mode cannot cut a machine's power",
        ),
        (
            "scenarios/watchdog-sentinel-failover.toml",
            "live mode cannot run topology `sentinel`",
        ),
        (
            "scenarios/set-nx-px-cluster-failover-before-replication.toml",
            "live mode cannot run topology `cluster`",
        ),
        (
            "scenarios/redlock-client-partitioned.toml",
            "live mode cannot partition the network",
        ),
        (
            "scenarios/setnx-getset-clock-skew.toml",
            "live mode cannot change a clock",
        ),
    ] {
        let out = locksim(&["live", file]);
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{file}: {err}");
        assert!(err.contains("use the simulator"), "{file}: {err}");
    }
    let bad = locksim(&[
        "live",
        "scenarios/set-nx-px-no-faults.toml",
        "--time-scale",
        "0",
    ]);
    assert_eq!(bad.status.code(), Some(2));
}

/// The `kept:` directory a `--keep-dirs` run printed (or, with `--json`,
/// the newest run directory of that coordinator).
fn kept_dir(out: &Output) -> Option<PathBuf> {
    let stdout = text(&out.stdout);
    if let Some(l) = stdout.lines().find_map(|l| l.trim().strip_prefix("kept: ")) {
        return Some(PathBuf::from(l));
    }
    let v: Value = serde_json::from_str(stdout.lines().find(|l| l.starts_with('{'))?).ok()?;
    v["kept_dir"].as_str().map(PathBuf::from)
}

/// Run directories of coordinator `pid` (`locksim-live-<pid>-*`).
fn run_dirs_of(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("locksim-live-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Processes that work in `dir` (a redis-server's cwd is its directory) or
/// name it on their command line (a client's `--spec`).
fn processes_in(dir: &Path) -> Vec<u32> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            continue; // a zombie is already dead
        }
        let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if cwd.starts_with(&dir) || text(&cmdline).contains(&needle) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn row_49_volatile_lru_evicts_the_lock_on_real_redis() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !have_redis("row 49") {
        return;
    }
    // redis-server runs with --maxmemory 2097152 --maxmemory-policy
    // volatile-lru, and the coordinator writes filler keys without a TTL
    // to it: the lock is the only key with a TTL, the real server evicts
    // it, and client-1 gets in while client-0 still works (1.2 s of
    // overlap at this scale).
    let (v, out) = live("sim/tests/live/set-nx-px-volatile-lru-eviction.toml", &[]);
    assert_eq!(v["verdict"], "violation", "{v}\n{}", text(&out.stderr));
    let kinds: Vec<&str> = v["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|x| x["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"L"), "two leases at once: {v}");
}
