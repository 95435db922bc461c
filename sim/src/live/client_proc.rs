//! Live clients: each one its own OS process, so that SIGSTOP and SIGKILL
//! are real faults.
//!
//! The coordinator re-executes the `locksim` binary as the hidden
//! `locksim live-client --spec FILE --client I --incarnation K
//! --cycles-done N`. The client says [`Up::Ready`], waits for
//! [`Down::Go`], then runs its cycles exactly as the simulator's
//! `client_process` does (acquire with the algorithm's retries, a critical
//! section of `work_ms` with `begin`, `writes` writes and `end` on the
//! resource carrying the fencing token, release, think), streaming every
//! event as a JSON line on stdout the moment it happens. Its stdin carries
//! the resource's answers; when stdin closes (the coordinator is gone) the
//! client exits.

use super::env::{send_up, LiveClock, LiveEnv};
use super::sys::{self, Signal};
use super::{ClientSpec, Down, LiveOp, Up};
use crate::history::EventKind;
use crate::model::NodeRef;
use crate::model::WriteOutcome;
use locksim_models::{AcquireError, AnyLock, Deadline, Env, Lease, LockAlgorithm};
use std::io::BufRead as _;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

// ------------------------------------------------------------------------
// The coordinator's side
// ------------------------------------------------------------------------

/// What the reader of a client's stdout forwards to the coordinator.
#[derive(Debug)]
pub enum FromClient {
    Up(Up),
    /// A line that is not a message (a bug: clients print nothing else).
    Garbage(String),
    /// stdout closed: the process exited or was killed.
    Eof,
    /// A `--client` program's protocol line, read at `mono_ns`
    /// (`CLOCK_MONOTONIC`).
    Line {
        mono_ns: u64,
        line: String,
    },
    /// A `--client` program's connection to the resource closed.
    Closed,
}

/// A running client process, as the coordinator holds it.
pub struct ClientProc {
    pub idx: usize,
    pub incarnation: u32,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl ClientProc {
    /// Starts `exe live-client ...`; every line it prints goes to `forward`.
    pub fn spawn(
        exe: &Path,
        spec: &Path,
        idx: usize,
        incarnation: u32,
        cycles_done: u32,
        forward: impl Fn(FromClient) + 'static,
    ) -> std::io::Result<ClientProc> {
        let mut cmd = Command::new(exe);
        cmd.arg("live-client")
            .arg("--spec")
            .arg(spec)
            .args(["--client", &idx.to_string()])
            .args(["--incarnation", &incarnation.to_string()])
            .args(["--cycles-done", &cycles_done.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            // Own process group: a terminal's Ctrl-C reaches only the
            // coordinator, which then stops everything in order.
            .process_group(0);
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(sys::die_with_parent);
        }
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdin = child.stdin.take();
        tokio::task::spawn_local(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<Up>(&line) {
                    Ok(up) => forward(FromClient::Up(up)),
                    Err(_) => forward(FromClient::Garbage(line)),
                }
            }
            forward(FromClient::Eof);
        });
        Ok(ClientProc {
            idx,
            incarnation,
            child,
            stdin,
        })
    }

    /// Sends one message on the client's stdin (lost if it is gone).
    pub async fn send(&mut self, down: &Down) {
        let mut line = serde_json::to_string(down).expect("messages serialize");
        line.push('\n');
        if let Some(stdin) = &mut self.stdin {
            if stdin.write_all(line.as_bytes()).await.is_err() {
                self.stdin = None;
            }
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGSTOP / SIGCONT.
    pub fn signal(&self, sig: Signal) -> std::io::Result<()> {
        match self.pid() {
            Some(pid) => sys::signal(pid, sig),
            None => Err(std::io::ErrorKind::NotFound.into()),
        }
    }

    /// SIGKILL and reap.
    pub async fn kill(&mut self) {
        self.stdin = None;
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// The exit status once the process is gone (waits for it).
    pub async fn status(&mut self) -> Option<ExitStatus> {
        self.child.wait().await.ok()
    }
}

// ------------------------------------------------------------------------
// The client's side
// ------------------------------------------------------------------------

/// The arguments of `locksim live-client`.
pub struct ClientArgs<'a> {
    pub spec: &'a Path,
    pub client: usize,
    pub incarnation: u32,
    pub cycles_done: u32,
}

/// `locksim live-client`: runs one client process; returns the exit code.
pub fn client_main(args: &ClientArgs) -> i32 {
    let spec: ClientSpec = match std::fs::read(args.spec)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "locksim live-client: cannot read {}: {e}",
                args.spec.display()
            );
            return 2;
        }
    };
    if args.client >= spec.scenario.clients.count {
        eprintln!("locksim live-client: no client-{} in the spec", args.client);
        return 2;
    }
    let (go_tx, go_rx) = std::sync::mpsc::channel::<(u64, i64)>();
    let (res_tx, res_rx) = mpsc::unbounded_channel::<WriteOutcome>();
    let (ack_tx, ack_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Down>(&line) {
                Ok(Down::Go {
                    start_ns,
                    wall_shift_ms,
                }) => {
                    let _ = go_tx.send((start_ns, wall_shift_ms));
                }
                Ok(Down::Resource { outcome }) => {
                    let _ = res_tx.send(outcome);
                }
                Ok(Down::Ack) => {
                    let _ = ack_tx.send(());
                }
                Err(e) => {
                    eprintln!("locksim live-client: bad line from the coordinator: {e}");
                    std::process::exit(2);
                }
            }
        }
        // The coordinator closed our stdin: the run is over.
        std::process::exit(0);
    });
    send_up(&Up::Ready);
    let Ok((start_ns, wall_shift_ms)) = go_rx.recv() else {
        return 0;
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("locksim live-client: no runtime: {e}");
            return 2;
        }
    };
    let clock = LiveClock {
        start_ns,
        offset_ms: spec.offsets_ms.get(args.client).copied().unwrap_or(0),
        wall_shift_ms,
    };
    let env = LiveEnv::new(&spec, args.client, args.incarnation, clock, res_rx, ack_rx);
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, client_loop(&env, &spec, args));
    0
}

/// Whether `deadline` has passed on this client's clocks.
fn deadline_passed(env: &LiveEnv, deadline: Deadline) -> bool {
    match deadline {
        Deadline::Mono(d) => env.mono_ms() >= d,
        Deadline::Wall(d) => env.wall_ms() >= d,
    }
}

/// The simulator's `client_process`, on real processes.
async fn client_loop(env: &LiveEnv, spec: &ClientSpec, args: &ClientArgs<'_>) {
    let client = args.client;
    let s = &spec.scenario;
    env.record(EventKind::NodeUp {
        node: NodeRef::Client(client),
        restart: args.incarnation > 0,
    });
    let cfg = s.lock.clone();
    let mut lock = match AnyLock::new(cfg.clone()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("locksim live-client: {e}");
            std::process::exit(2);
        }
    };
    let mut cycle = args.cycles_done;
    while cycle < s.clients.cycles {
        env.record(EventKind::AcquireInvoke { client, cycle });
        let lease = match lock.acquire(env).await {
            Ok(lease) => lease,
            Err(e) => {
                let reason = match e {
                    AcquireError::Busy => "busy".to_string(),
                    AcquireError::Refused(r) => r,
                };
                env.record(EventKind::AcquireFail { client, reason });
                env.sleep(cfg.retry_delay_ms).await;
                continue;
            }
        };
        if cfg.validity_check && lease.deadline.is_some_and(|d| deadline_passed(env, d)) {
            env.record(EventKind::AcquireLate { client });
            let outcome = lock.release(env, &lease).await;
            env.record(EventKind::ReleaseDone { client, outcome });
            env.sleep(cfg.retry_delay_ms).await;
            continue;
        }
        env.record(EventKind::AcquireOk {
            client,
            cycle,
            value: String::from_utf8_lossy(&lease.value).into_owned(),
            token: lease.fencing_token,
            deadline: lease.deadline,
            nodes: lease.nodes.clone(),
        });
        critical_section(env, spec, &lease).await;
        env.record(EventKind::ReleaseInvoke { client });
        let outcome = lock.release(env, &lease).await;
        env.record(EventKind::ReleaseDone { client, outcome });
        cycle += 1;
        send_up(&Up::CycleDone);
        let think = s.clients.think_ms;
        let think_ms = env.random_range(think.lo, think.hi);
        env.sleep(think_ms).await;
    }
    env.record(EventKind::ClientDone { client });
}

/// `begin`, `writes` writes spread over the work time, `end`. The session
/// is the coordinator's: the one it opened when it read this client's
/// `AcquireOk`.
async fn critical_section(env: &LiveEnv, spec: &ClientSpec, lease: &Lease) {
    let clients = &spec.scenario.clients;
    let work_ms = env.random_range(clients.work_ms.lo, clients.work_ms.hi);
    let token = lease.fencing_token;
    env.resource(LiveOp::Begin, token).await;
    let step_ms = work_ms / u64::from(clients.writes.max(1));
    for _ in 0..clients.writes {
        env.sleep(step_ms).await;
        env.resource(LiveOp::Write, token).await;
    }
    env.resource(LiveOp::End, token).await;
}
