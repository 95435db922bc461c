//! Real lock libraries under real faults: `locksim live --client` with the
//! client programs of `sim/examples/clients/` (redis-py `Lock`, pottery
//! `Redlock`, python-redis-lock, node-redlock 5.0.0-beta.2), each under
//! two stories of `sim/tests/live/`:
//!
//! - `client-pause-past-ttl.toml` (row 11): the holder is SIGSTOPped past
//!   its TTL right after its library says it holds the lock; a second
//!   client takes it and the first wakes and writes: a violation for every
//!   library without fencing;
//! - `client-restart-without-persistence.toml` (row 17): the only
//!   redis-server is SIGKILLed and restarted empty under the holder: a
//!   second client takes the lock while the first still works.
//!
//! Each live verdict is then checked against the simulator running the
//! same story with the library's profile (`[lock] library =
//! "redis-py@8.2.0"`, ...; the versions `.ci/run` installs): where they
//! disagree, the profile is wrong.
//!
//! Plus `--check-client` on each program (complete: exit 0), a wrapper
//! script paused as a process group, a killed program started again
//! (`client-holder-killed.toml`, row 10, safe), and the simulator's
//! verdict on the same files (the same story in both).
//!
//! A missing interpreter or package skips a library with one loud line,
//! unless `LOCKSIM_REQUIRE_CLIENTS=1` (CI, `.ci/run`), which makes it a
//! failure. Runs are serial (a lock) and short: about 3 s each.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Instant;

static SERIAL: Mutex<()> = Mutex::new(());

const STORIES: [&str; 3] = [
    "sim/tests/live/client-pause-past-ttl.toml",
    "sim/tests/live/client-restart-without-persistence.toml",
    "sim/tests/live/client-holder-killed.toml",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn locksim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs")
}

fn required() -> bool {
    std::env::var("LOCKSIM_REQUIRE_CLIENTS").is_ok_and(|v| v == "1")
}

/// A lock library's client program, and how to tell it can run here.
struct Lib {
    name: &'static str,
    /// The library profile of the same library at the version `.ci/run`
    /// installs (issue 14 step 4: the simulation must agree with it).
    profile: &'static str,
    cmd: &'static str,
    /// A command that succeeds when the interpreter and packages are there.
    probe: &'static [&'static str],
    probe_dir: &'static str,
    install: &'static str,
}

const LIBS: [Lib; 4] = [
    Lib {
        name: "redis-py Lock",
        profile: "redis-py@8.2.0",
        cmd: "python3 sim/examples/clients/redis_py_lock.py",
        probe: &["python3", "-c", "import redis"],
        probe_dir: ".",
        install: "pip install redis",
    },
    Lib {
        name: "pottery Redlock",
        profile: "pottery@3.0.1",
        cmd: "python3 sim/examples/clients/pottery_redlock.py",
        probe: &["python3", "-c", "import pottery"],
        probe_dir: ".",
        install: "pip install pottery",
    },
    Lib {
        name: "python-redis-lock",
        profile: "python-redis-lock@4.0.1",
        cmd: "python3 sim/examples/clients/python_redis_lock.py",
        probe: &["python3", "-c", "import redis_lock"],
        probe_dir: ".",
        install: "pip install python-redis-lock",
    },
    Lib {
        name: "node-redlock",
        profile: "node-redlock@5.0.0-beta.2",
        cmd: "node sim/examples/clients/node/redlock_client.js",
        probe: &["node", "-e", "require('redlock'); require('ioredis')"],
        probe_dir: "sim/examples/clients/node",
        install: "(cd sim/examples/clients/node && npm ci)",
    },
];

/// Whether `lib` (and redis-server) can run here; panics when it cannot
/// and `LOCKSIM_REQUIRE_CLIENTS=1`.
fn available(lib: &Lib) -> bool {
    let redis = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let ok = redis
        && Command::new(lib.probe[0])
            .args(&lib.probe[1..])
            .current_dir(root().join(lib.probe_dir))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        let what = if redis {
            format!("`{}` failed", lib.probe.join(" "))
        } else {
            "redis-server is not on PATH".into()
        };
        assert!(
            !required(),
            "LOCKSIM_REQUIRE_CLIENTS=1 but {} cannot run: {what}; install it: {}",
            lib.name,
            lib.install
        );
        eprintln!(
            "!!! SKIPPED {}: {what}; the real library was NOT tested. Install it ({}) and rerun \
             `cargo test --release -p locksim --test live_clients` (LOCKSIM_REQUIRE_CLIENTS=1 \
             turns this skip into a failure)",
            lib.name, lib.install
        );
    }
    ok
}

/// `locksim live FILE --client CMD --json --quiet`: the JSON object.
fn live(file: &str, cmd: &str) -> Value {
    let started = Instant::now();
    let out = locksim(&["live", file, "--client", cmd, "--json", "--quiet"]);
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "no JSON from `locksim live {file} --client {cmd:?}` (exit {:?})\nstderr:\n{}",
                out.status.code(),
                text(&out.stderr)
            )
        });
    let v: Value = serde_json::from_str(line).expect("one JSON object");
    eprintln!(
        "{cmd} on {file}: verdict {} in {:.2} s",
        v["verdict"],
        started.elapsed().as_secs_f64()
    );
    v
}

fn kinds(v: &Value) -> Vec<String> {
    v["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|x| x["kind"].as_str().map(str::to_string))
        .collect()
}

/// The simulator's verdict on `file` with `[lock] library = profile` in
/// place of its algorithm (the file's other `[lock]` keys, which the
/// client program also reads, still override the profile's defaults), on
/// seeds 1..=5; all five must agree.
fn simulated(file: &str, profile: &str) -> String {
    let text = std::fs::read_to_string(root().join(file)).expect("story file");
    let mut t = text.replace(
        "algorithm = \"set-nx-px\"",
        &format!("library = \"{profile}\""),
    );
    let lib = locksim_models::library::resolve(profile).expect("profile");
    if lib.config.algorithm == locksim_models::Algorithm::Redlock {
        // A Redlock library on the story's one Redis, as the live client
        // program runs it: one independent master.
        t = t.replace(
            "topology = \"single\"",
            "topology = \"independent\"\nnodes = 1",
        );
        if !t.contains("[redis]") {
            t.push_str("\n[redis]\ntopology = \"independent\"\nnodes = 1\n");
        }
    }
    let s = locksim::scenario::parse_scenario(&t, file).unwrap_or_else(|e| panic!("{e}"));
    let verdicts: Vec<String> = (1..=5)
        .map(|seed| {
            locksim::world::run::run(&s, seed)
                .verdict()
                .name()
                .to_string()
        })
        .collect();
    assert!(
        verdicts.iter().all(|v| *v == verdicts[0]),
        "{profile} on {file}: the simulator disagrees with itself over seeds: {verdicts:?}"
    );
    verdicts[0].clone()
}

/// Issue 14 step 4: the same story, simulated with the library's profile
/// and run live with the real library, ends in the same verdict.
fn agrees(lib: &Lib, file: &str, live: &Value) {
    let sim = simulated(file, lib.profile);
    assert_eq!(
        live["verdict"].as_str(),
        Some(sim.as_str()),
        "{} live and {} simulated disagree on {file}: the profile is wrong",
        lib.name,
        lib.profile
    );
}

/// Both stories, and `--check-client`, for one library.
fn both_stories(lib: &Lib) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !available(lib) {
        return;
    }
    let check = locksim(&["live", "--check-client", lib.cmd, "--quiet"]);
    let said = text(&check.stdout);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}: {said}\n{}",
        lib.name,
        text(&check.stderr)
    );
    assert!(said.contains("complete"), "{said}");

    let pause = live(STORIES[0], lib.cmd);
    assert_eq!(pause["verdict"], "violation", "{}: {pause}", lib.name);
    assert!(
        kinds(&pause).contains(&"R".to_string()),
        "{}: the paused holder's writes land after the next holder began: {pause}",
        lib.name
    );
    assert_eq!(pause["client"], lib.cmd);
    agrees(lib, STORIES[0], &pause);

    let restart = live(STORIES[1], lib.cmd);
    assert_eq!(restart["verdict"], "violation", "{}: {restart}", lib.name);
    assert!(
        kinds(&restart).contains(&"L".to_string()),
        "{}: two holders after the restart: {restart}",
        lib.name
    );
    agrees(lib, STORIES[1], &restart);
}

#[test]
fn redis_py_lock_breaks_under_a_pause_and_a_restart() {
    both_stories(&LIBS[0]);
}

#[test]
fn pottery_redlock_breaks_under_a_pause_and_a_restart() {
    both_stories(&LIBS[1]);
}

#[test]
fn python_redis_lock_breaks_under_a_pause_and_a_restart() {
    both_stories(&LIBS[2]);
}

#[test]
fn node_redlock_breaks_under_a_pause_and_a_restart() {
    both_stories(&LIBS[3]);
}

#[test]
fn the_simulator_tells_the_same_stories() {
    for file in STORIES {
        let out = locksim(&["run", file, "--seeds", "5"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file} reproduces in the simulator on every seed:\n{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn a_pause_stops_a_wrapper_and_the_program_it_started() {
    // `sh` stays the parent of python3 (no exec): SIGSTOP must reach the
    // whole process group, or client-0 would work through its pause and
    // no stale write would happen.
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !available(&LIBS[0]) {
        return;
    }
    let wrapped = format!("sh -c '{}; true'", LIBS[0].cmd);
    let v = live(STORIES[0], &wrapped);
    assert_eq!(v["verdict"], "violation", "{v}");
    assert!(kinds(&v).contains(&"R".to_string()), "{v}");
}

#[test]
fn a_killed_program_is_started_again_with_the_cycles_it_has_left() {
    // Row 10: SIGKILL right after the library says it holds the lock; the
    // program comes back as incarnation 1 with LOCKSIM_CYCLES = 1, waits
    // for its own orphaned lock to expire, and finishes. Safe.
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !available(&LIBS[0]) {
        return;
    }
    let out = locksim(&[
        "live",
        "sim/tests/live/client-holder-killed.toml",
        "--client",
        LIBS[0].cmd,
        "--json",
        "--quiet",
        "--keep-dirs",
    ]);
    let stdout = text(&out.stdout);
    let v: Value = serde_json::from_str(stdout.lines().find(|l| l.starts_with('{')).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", text(&out.stderr)));
    assert_eq!(v["verdict"], "safe", "{v}\n{}", text(&out.stderr));
    let kept = PathBuf::from(v["kept_dir"].as_str().expect("kept_dir"));
    let history = std::fs::read_to_string(kept.join("history.jsonl")).unwrap();
    let _ = std::fs::remove_dir_all(&kept);
    let has = |needle: &str| history.lines().any(|l| l.contains(needle));
    assert!(has(r#""type":"node-down","node":"client-0""#), "{history}");
    assert!(
        has(r#""type":"node-up","node":"client-0","restart":true"#),
        "{history}"
    );
    for c in 0..2 {
        assert!(
            has(&format!(r#""type":"client-done","client":{c}"#)),
            "client-{c} finished:\n{history}"
        );
    }
}
