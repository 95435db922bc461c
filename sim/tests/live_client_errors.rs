//! `locksim live --client` with programs that misbehave: garbage, a line
//! out of order, a protocol version it does not speak, an exit before
//! `DONE`, no `HELLO`, a hang, and SIGINT to locksim mid-run. Each gets a
//! clear message (exit 2; 130 for SIGINT; a hang is judged: liveness), and
//! no process it started survives: every test looks for its own programs
//! (tagged by a marker on their command line) and for the redis-servers
//! afterwards. `--check-client` lists what a sloppy program leaves out.
//!
//! The programs are a few lines of Python (`python3 -c`); without python3
//! or redis-server the tests skip loudly (failing under
//! `LOCKSIM_REQUIRE_CLIENTS=1` / `LOCKSIM_REQUIRE_REDIS=1`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether python3 and redis-server are here (panics when required).
fn can_run(test: &str) -> bool {
    let runs = |c: &str| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let (py, redis) = (runs("python3"), runs("redis-server"));
    if !(py && redis) {
        let need = |v: &str| std::env::var(v).is_ok_and(|x| x == "1");
        assert!(
            !(need("LOCKSIM_REQUIRE_CLIENTS") || need("LOCKSIM_REQUIRE_REDIS")),
            "python3 ({py}) and redis-server ({redis}) are required"
        );
        eprintln!(
            "!!! SKIPPED {test}: python3 or redis-server missing; `locksim live --client` error \
             handling was NOT tested"
        );
    }
    py && redis
}

/// A unique word on the test program's command line.
fn marker() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "locksim-client-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `python3 -c '<connect, say()> BODY' MARKER` as a --client command.
fn program(body: &str, marker: &str) -> String {
    let head = "import os,socket,sys,time\n\
                h,p=os.environ['LOCKSIM_RESOURCE'].split(':')\n\
                s=socket.create_connection((h,int(p)))\n\
                f=s.makefile('r')\n\
                me=os.environ['LOCKSIM_CLIENT']\n\
                def say(l):\n    s.sendall((l+'\\n').encode()); return f.readline().strip()\n";
    let code = format!("{head}{body}");
    format!("python3 -c '{}' {marker}", code.replace('\'', "'\\''"))
}

/// A one-client scenario file in a temporary directory (removed on drop).
struct TempScenario(PathBuf);

impl TempScenario {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempScenario {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn scenario(name: &str, expect: &str, duration_ms: u64) -> TempScenario {
    let dir = std::env::temp_dir().join(format!("{}-{name}", marker()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"{name}\"\nexpect = \"{expect}\"\nduration_ms = {duration_ms}\n\
             [lock]\nalgorithm = \"set-nx-px\"\n\
             [clients]\ncount = 1\ncycles = 1\nwork_ms = [100, 100]\n"
        ),
    )
    .unwrap();
    TempScenario(file)
}

/// Runs `locksim live FILE --client CLIENT`; its output and its pid
/// (the run's servers work in `locksim-live-<pid>-*`).
fn live(file: &Path, client: &str, env: &[(&str, &str)]) -> (Output, u32) {
    let child = Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args([
            "live",
            file.to_str().unwrap(),
            "--client",
            client,
            "--quiet",
        ])
        .envs(env.iter().copied())
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let pid = child.id();
    (child.wait_with_output().expect("it exits"), pid)
}

/// Whether a test program tagged `marker` runs: its own process (python),
/// not locksim (whose `--client` argument holds the marker too) nor a
/// child locksim forked that has not yet exec'd its program.
fn program_runs(marker: &str) -> bool {
    processes_with(marker).into_iter().any(|pid| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        text(argv0).contains("python")
    })
}

/// Live processes (not zombies) whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            continue;
        }
        let cmdline = text(&std::fs::read(e.path().join("cmdline")).unwrap_or_default());
        let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
        if cmdline.contains(needle) || cwd.to_string_lossy().contains(needle) {
            found.push(pid);
        }
    }
    found
}

/// Asserts that `out` failed with exit `code` saying `says`, and that
/// nothing it started is left.
#[track_caller]
fn failed_cleanly((out, pid): &(Output, u32), code: i32, says: &str, marker: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr:\n{err}");
    assert!(err.contains(says), "expected {says:?} in:\n{err}");
    nothing_left(*pid, marker);
}

/// No program tagged `marker` and no redis-server of coordinator `pid`.
#[track_caller]
fn nothing_left(pid: u32, marker: &str) {
    assert_eq!(
        processes_with(marker),
        Vec::<u32>::new(),
        "client left running"
    );
    let servers = format!("locksim-live-{pid}-");
    assert_eq!(
        processes_with(&servers),
        Vec::<u32>::new(),
        "redis-server left running"
    );
}

#[test]
fn garbage_is_refused_with_the_line_and_what_was_expected() {
    if !can_run("garbage") {
        return;
    }
    let m = marker();
    let body = "say('HELLO 1 '+me)\nprint('got', say('hello there'), flush=True)\ntime.sleep(60)\n";
    let out = live(
        scenario("garbage", "safe", 5000).path(),
        &program(body, &m),
        &[],
    );
    failed_cleanly(
        &out,
        2,
        "client-0 sent `hello there`: unknown verb \"hello\" (protocol 1: HELLO, ACQUIRING",
        &m,
    );
}

#[test]
fn a_line_out_of_order_is_refused() {
    if !can_run("out of order") {
        return;
    }
    let m = marker();
    let body = "say('HELLO 1 '+me)\nsay('BEGIN')\ntime.sleep(60)\n";
    let out = live(
        scenario("order", "safe", 5000).path(),
        &program(body, &m),
        &[],
    );
    failed_cleanly(
        &out,
        2,
        "client-0 sent `BEGIN`: `BEGIN` without a lease",
        &m,
    );
}

#[test]
fn an_unknown_protocol_version_is_refused() {
    if !can_run("version") {
        return;
    }
    let m = marker();
    let body = "print(say('HELLO 7 '+me), flush=True)\ntime.sleep(60)\n";
    let out = live(
        scenario("version", "safe", 5000).path(),
        &program(body, &m),
        &[],
    );
    failed_cleanly(
        &out,
        2,
        "unsupported protocol version 7 (this locksim speaks 1)",
        &m,
    );
}

#[test]
fn an_exit_before_done_is_an_error_with_the_programs_last_words() {
    if !can_run("early exit") {
        return;
    }
    let m = marker();
    let body = "say('HELLO 1 '+me)\nsay('ACQUIRED')\nprint('giving up now', file=sys.stderr)\nsys.exit(3)\n";
    let run = live(
        scenario("early", "safe", 5000).path(),
        &program(body, &m),
        &[],
    );
    failed_cleanly(&run, 2, "client-0 exited (exit status: 3) before DONE", &m);
    assert!(text(&run.0.stderr).contains("| giving up now"));
}

#[test]
fn a_program_that_never_says_hello_is_stopped() {
    if !can_run("no hello") {
        return;
    }
    let m = marker();
    let client = format!("python3 -c 'import time; time.sleep(60)' {m}");
    let started = Instant::now();
    let out = live(
        scenario("nohello", "safe", 5000).path(),
        &client,
        &[("LOCKSIM_HELLO_TIMEOUT_MS", "1000")],
    );
    failed_cleanly(&out, 2, "client-0 did not connect to LOCKSIM_RESOURCE", &m);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_hung_program_is_a_liveness_loss_and_is_stopped() {
    if !can_run("hang") {
        return;
    }
    let m = marker();
    let body = "say('HELLO 1 '+me)\nsay('ACQUIRED')\ntime.sleep(60)\n";
    let (out, pid) = live(
        scenario("hang", "liveness", 1500).path(),
        &program(body, &m),
        &[],
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("liveness"), "{stdout}");
    nothing_left(pid, &m);
}

#[test]
fn sigint_stops_the_programs_and_the_servers() {
    if !can_run("sigint") {
        return;
    }
    let m = marker();
    let body = "say('HELLO 1 '+me)\nsay('ACQUIRED')\ntime.sleep(60)\n";
    let file = scenario("sigint", "safe", 60_000);
    let child = Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args(["live", file.path().to_str().unwrap(), "--quiet", "--client"])
        .arg(program(body, &m))
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !program_runs(&m) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let runs = processes_with(&format!("locksim-live-{pid}-"));
    assert!(!runs.is_empty(), "its redis-server runs");
    assert!(program_runs(&m), "its client runs");
    let sent = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = child.wait_with_output().expect("it exits");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    nothing_left(pid, &m);
}

#[test]
fn check_client_lists_what_a_sloppy_program_leaves_out() {
    if !can_run("check-client") {
        return;
    }
    let m = marker();
    // Never takes the lock in Redis, no critical section, does not exit.
    let body = "say('HELLO 1 '+me)\nsay('ACQUIRED')\nsay('RELEASING')\nsay('RELEASED')\nsay('DONE')\ntime.sleep(60)\n";
    let child = Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args(["live", "--check-client", &program(body, &m), "--quiet"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let pid = child.id();
    let out = child.wait_with_output().expect("it exits");
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}\n{}", text(&out.stderr));
    for problem in [
        "no `BEGIN` / `END`",
        "still running 3 s after `DONE`",
        "note: no `ACQUIRING`",
    ] {
        assert!(said.contains(problem), "{problem:?} in:\n{said}");
    }
    nothing_left(pid, &m);
}

#[test]
fn sigterm_while_waiting_for_hello_stops_everything_at_once() {
    if !can_run("sigterm") {
        return;
    }
    let m = marker();
    let file = scenario("sigterm", "safe", 5000);
    let child = Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args(["live", file.path().to_str().unwrap(), "--quiet", "--client"])
        .arg(format!("python3 -c 'import time; time.sleep(60)' {m}"))
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !program_runs(&m) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(program_runs(&m), "its client runs");
    let sent_at = Instant::now();
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = child.wait_with_output().expect("it exits");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        sent_at.elapsed() < Duration::from_secs(5),
        "not after the 30 s HELLO limit"
    );
    nothing_left(pid, &m);
}
