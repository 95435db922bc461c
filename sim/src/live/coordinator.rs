//! The coordinator of a live run: the world, on real processes.
//!
//! It starts the redis-server processes and waits until each answers
//! `PING`, spawns the client processes and waits until each is ready, then
//! takes `t = 0`: records every node's `ClockInit`, injects the `at_ms = 0`
//! faults (a client paused at 0 starts late, as in the simulator) and tells
//! every client to go. From then on one loop handles, in arrival order:
//!
//! - the clients' stdout lines: history events (stamped by the client on
//!   the shared monotonic clock), resource operations (applied to a
//!   [`ResourceState`] and answered on the client's stdin) and cycle
//!   progress. Each event is checked against the scenario's triggers as it
//!   arrives, so `acquired:client-0` fires within a fraction of a
//!   millisecond of the client's acquire returning;
//! - timers: `at_ms` faults by the coordinator's clock, trigger delays,
//!   pause ends, restarts, the final heal at `heal_at`;
//! - redis-server restarts becoming ready;
//! - SIGINT / SIGTERM / SIGHUP, which end the run early (exit 130).
//!
//! The run ends when every client has finished or at `duration_ms`. Then
//! every process is SIGKILLed and reaped, the history is sorted by true
//! time and judged by [`oracle::check`], unchanged. Every process also dies
//! if the coordinator itself is killed (`PR_SET_PDEATHSIG`), and every
//! child is `kill_on_drop`.
//!
//! Resource sessions are numbered in the order the coordinator reads the
//! clients' `AcquireOk` events, i.e. in the order the leases were granted,
//! as the simulator numbers them.

mod faults;

mod clients;
mod external;
mod servers;

use super::client_proc::FromClient;
use super::redis_proc::{self, RedisProc};
use super::sys;
use super::{ClientSpec, Down};
use crate::history::triggers::Triggers;
use crate::history::{Event, EventKind, History};
use crate::model::clock::{MONO_EPOCH_MS, WALL_EPOCH_MS};
use crate::model::ResourceState;
use crate::model::{FaultSpec, NodeRef, Scenario, Trigger, When};
use crate::oracle;
use crate::world::run::{initial_clocks, Outcome, Stats};
use clients::Proc;
pub use external::{ClientLog, Observed};
use servers::{Signals, TempDir};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How long a redis-server may take to answer its first `PING`.
const REDIS_READY_LIMIT: Duration = Duration::from_secs(15);
/// How long the client processes may take to start.
const CLIENTS_READY_LIMIT: Duration = Duration::from_secs(30);

/// How to run.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// The seed (client clock offsets and every client's random stream).
    pub seed: u64,
    /// Keep the temporary directory (servers' data and logs, the spec).
    pub keep_dirs: bool,
    /// The `locksim` binary clients are started from.
    pub exe: PathBuf,
    /// Print faults and restarts on stderr as they happen (and a
    /// `--client` program's output).
    pub progress: bool,
    /// `--client`: run this program (already split into words) as every
    /// client process, speaking [`crate::live::protocol`], instead of
    /// locksim's own client.
    pub client_cmd: Option<Vec<String>>,
    /// `--check-client`: keep each client's transcript and look at the
    /// Redis keys when it begins and releases ([`LiveRun::clients`]).
    pub inspect: bool,
}

/// Why a live run did not produce a verdict.
#[derive(Debug)]
pub enum LiveError {
    /// The scenario asks for something live mode cannot do (exit 2).
    Refused(String),
    /// redis-server or a client could not be started or failed (exit 2).
    Failed(String),
    /// SIGINT, SIGTERM or SIGHUP (exit 130).
    Interrupted,
    /// A `--client` program broke the protocol: garbage, a line out of
    /// order, an exit before `DONE`, no `HELLO` (exit 2).
    Client(String),
}

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiveError::Refused(m) | LiveError::Failed(m) | LiveError::Client(m) => f.write_str(m),
            LiveError::Interrupted => f.write_str("interrupted: every process was stopped"),
        }
    }
}

/// A finished live run.
#[derive(Debug)]
pub struct LiveRun {
    /// Verdict and history, exactly as a simulated run has them.
    pub outcome: Outcome,
    /// `redis-server --version`.
    pub redis_version: String,
    /// Real wall time at `t = 0`, Unix ms.
    pub wall_start_ms: i64,
    /// How long the run took on the wall clock, from `t = 0`.
    pub elapsed: Duration,
    /// The temporary directory, if it was kept.
    pub kept_dir: Option<PathBuf>,
    /// Each node's command line (after `redis-server`).
    pub redis_command_lines: Vec<String>,
    /// With [`LiveOptions::inspect`]: what each `--client` program said
    /// and what Redis held meanwhile.
    pub clients: Vec<ClientLog>,
}

/// Runs `scenario` (already time-scaled) live. Blocks; builds its own
/// tokio runtime, so it must not be called from inside one (nor inside a
/// madsim run).
pub fn run_live(scenario: &Scenario, opts: &LiveOptions) -> Result<LiveRun, LiveError> {
    if let Some(why) = super::refusal(scenario) {
        return Err(LiveError::Refused(why));
    }
    let redis_version = redis_proc::server_version().map_err(|e| {
        LiveError::Failed(format!(
            "live mode needs redis-server: {e}; install it (apt-get install redis-server) \
             or point LOCKSIM_REDIS_SERVER at one"
        ))
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LiveError::Failed(format!("cannot build a tokio runtime: {e}")))?;
    let dir = TempDir::new(opts.keep_dirs)
        .map_err(|e| LiveError::Failed(format!("cannot create a temporary directory: {e}")))?;
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&rt, async {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut c = Coord::new(scenario.clone(), opts.clone(), dir.path.clone(), tx);
        let result = c.run(rx).await;
        c.shutdown().await;
        result.map(|()| c)
    });
    let mut c = result?;
    let clients = std::mem::take(&mut c.logs);
    let kept_dir = opts.keep_dirs.then(|| dir.path.clone());
    let redis_command_lines = c.redis.iter().map(RedisProc::command_line).collect();
    let elapsed = c.finished.unwrap_or_else(Instant::now) - c.start;
    let wall_start_ms = c.wall_shift_ms + WALL_EPOCH_MS;
    let outcome = c.into_outcome();
    if let Some(d) = &kept_dir {
        let _ = std::fs::write(d.join("history.jsonl"), outcome.history.to_jsonl());
    }
    Ok(LiveRun {
        outcome,
        redis_version,
        wall_start_ms,
        elapsed,
        kept_dir,
        redis_command_lines,
        clients,
    })
}

/// Something for the coordinator's loop.
enum Msg {
    Client {
        idx: usize,
        incarnation: u32,
        msg: FromClient,
    },
    Timer(Action),
    RedisReady {
        node: usize,
        generation: u64,
        result: Result<(), String>,
    },
    /// A connection to the resource sent its first line (`HELLO`, for a
    /// well-behaved `--client` program). `bind` gets the client and
    /// incarnation its later lines belong to, or `None` (closed).
    Conn {
        writer: OwnedWriteHalf,
        line: String,
        bind: oneshot::Sender<Option<(usize, u32)>>,
    },
}

/// A scheduled change to the world.
#[derive(Clone, Debug)]
enum Action {
    Inject(FaultSpec, Option<Trigger>),
    Resume {
        node: NodeRef,
        generation: u64,
        for_ms: u64,
    },
    Restart(NodeRef),
    HealAll,
}

struct Coord {
    s: Scenario,
    opts: LiveOptions,
    dir: PathBuf,
    tx: mpsc::UnboundedSender<Msg>,
    /// `t = 0` on `CLOCK_MONOTONIC`, and as a tokio instant.
    start_ns: u64,
    start: Instant,
    finished: Option<Instant>,
    wall_shift_ms: i64,
    offsets: Vec<i64>,
    history: Vec<Event>,
    redis: Vec<RedisProc>,
    clients: Vec<Option<Proc>>,
    /// The resource's port for `--client` programs (0: none).
    resource_port: u16,
    /// Per client, with [`LiveOptions::inspect`].
    logs: Vec<ClientLog>,
    incarnation: Vec<u32>,
    progress: Vec<u32>,
    done: BTreeSet<usize>,
    triggers: Triggers,
    resource: ResourceState,
    next_session: u64,
    sessions: BTreeMap<(usize, u32), u64>,
    next_id: u64,
    call_ids: BTreeMap<(usize, u32, u64), u64>,
    paused: BTreeMap<NodeRef, u64>,
    pause_generation: u64,
    down: BTreeSet<NodeRef>,
    /// Client incarnations the coordinator killed (their EOF is expected).
    killed: BTreeSet<(usize, u32)>,
    /// Actions due now (faults fired with no delay).
    due: VecDeque<Action>,
    /// Clients waiting for [`Down::Ack`] after a `sync` event.
    acks: Vec<(usize, u32)>,
    messages: u64,
    spec_path: PathBuf,
    closed: bool,
}

impl Coord {
    fn new(s: Scenario, opts: LiveOptions, dir: PathBuf, tx: mpsc::UnboundedSender<Msg>) -> Coord {
        let triggers = Triggers::new(&s.faults);
        let clients = s.clients.count;
        let offsets = {
            let clocks = initial_clocks(&s, opts.seed);
            (0..clients)
                .map(|c| clocks.get(&NodeRef::Client(c)).map_or(0, |p| p.0))
                .collect()
        };
        Coord {
            spec_path: dir.join("spec.json"),
            s,
            opts,
            dir,
            tx,
            start_ns: sys::mono_ns(),
            start: Instant::now(),
            finished: None,
            wall_shift_ms: 0,
            offsets,
            history: Vec::with_capacity(4096),
            redis: Vec::new(),
            clients: (0..clients).map(|_| None).collect(),
            resource_port: 0,
            logs: (0..clients).map(|_| ClientLog::default()).collect(),
            incarnation: vec![0; clients],
            progress: vec![0; clients],
            done: BTreeSet::new(),
            triggers,
            resource: ResourceState::default(),
            next_session: 0,
            sessions: BTreeMap::new(),
            next_id: 0,
            call_ids: BTreeMap::new(),
            paused: BTreeMap::new(),
            pause_generation: 0,
            down: BTreeSet::new(),
            killed: BTreeSet::new(),
            due: VecDeque::new(),
            acks: Vec::new(),
            messages: 0,
            closed: false,
        }
    }

    // --------------------------------------------------------------------
    // Time and the history
    // --------------------------------------------------------------------

    fn now_us(&self) -> u64 {
        sys::mono_ns().saturating_sub(self.start_ns) / 1000
    }

    fn offset_of(&self, node: NodeRef) -> i64 {
        match node {
            NodeRef::Client(c) => self.offsets.get(c).copied().unwrap_or(0),
            _ => 0,
        }
    }

    /// Appends an event of the coordinator (a fault, the resource, a
    /// redis-server going down or up), stamped now.
    fn record(&mut self, node: Option<NodeRef>, kind: EventKind) {
        self.record_at(self.now_us(), node, kind);
    }

    /// Appends an event stamped `t_us` (a `--client` line, stamped when
    /// it was read), with `node`'s clock readings at that time.
    fn record_at(&mut self, t_us: u64, node: Option<NodeRef>, kind: EventKind) {
        let (mono_ms, wall_ms) = match node {
            Some(n) => {
                let off = self.offset_of(n);
                let ms = (t_us / 1000) as i64;
                (
                    Some((MONO_EPOCH_MS + off + ms).max(0) as u64),
                    Some(WALL_EPOCH_MS + off + ms),
                )
            }
            None => (None, None),
        };
        self.push(Event {
            t_us,
            node,
            mono_ms,
            wall_ms,
            kind,
        });
    }

    /// Appends an event and fires the faults it triggers.
    fn push(&mut self, e: Event) {
        if self.closed {
            return;
        }
        let fired = self.triggers.observe(&e.kind);
        self.history.push(e);
        for f in fired {
            let action = Action::Inject(f.spec, Some(f.trigger));
            if f.delay_ms == 0 {
                self.due.push_back(action);
            } else {
                self.later(Duration::from_millis(f.delay_ms), action);
            }
        }
    }

    /// Runs `action` after `delay` of the coordinator's clock.
    fn later(&self, delay: Duration, action: Action) {
        let tx = self.tx.clone();
        tokio::task::spawn_local(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(Msg::Timer(action));
        });
    }

    /// Runs `action` at `at` after `t = 0`.
    fn at(&self, at: Duration, action: Action) {
        let tx = self.tx.clone();
        let when = self.start + at;
        tokio::task::spawn_local(async move {
            tokio::time::sleep_until(when).await;
            let _ = tx.send(Msg::Timer(action));
        });
    }

    fn progress(&self, text: &str) {
        if self.opts.progress {
            let t = self.now_us();
            eprintln!("  {:>4}.{:03}s  {text}", t / 1_000_000, (t / 1000) % 1000);
        }
    }

    // --------------------------------------------------------------------
    // The run
    // --------------------------------------------------------------------

    async fn run(&mut self, mut rx: mpsc::UnboundedReceiver<Msg>) -> Result<(), LiveError> {
        // From here on SIGINT & co. only queue up: the loop below turns
        // them into a clean shutdown.
        let mut signals = Signals::new()?;
        // Starting can wait long (a --client program has 30 s to say
        // HELLO): a signal ends it too.
        let start = async {
            self.start_servers().await?;
            self.write_spec()?;
            self.listen().await?;
            self.start_clients(&mut rx).await?;
            self.go().await
        };
        tokio::select! {
            biased;
            _ = signals.any() => return Err(LiveError::Interrupted),
            started = start => started?,
        }
        let end_at = self.start + Duration::from_millis(self.s.duration_ms);
        loop {
            if self.done.len() == self.s.clients.count {
                break;
            }
            tokio::select! {
                biased;
                _ = signals.any() => return Err(LiveError::Interrupted),
                _ = tokio::time::sleep_until(end_at) => break,
                m = rx.recv() => {
                    let Some(m) = m else { break };
                    self.handle(m).await?;
                    while let Some(a) = self.due.pop_front() {
                        self.act(a).await?;
                    }
                    self.send_acks().await;
                }
            }
        }
        let clients_done = self.done.len();
        self.record(None, EventKind::End { clients_done });
        self.await_exits().await;
        self.closed = true;
        self.finished = Some(Instant::now());
        Ok(())
    }

    fn write_spec(&self) -> Result<(), LiveError> {
        let spec = ClientSpec {
            scenario: self.s.clone(),
            seed: self.opts.seed,
            ports: self.redis.iter().map(|r| r.port).collect(),
            offsets_ms: self.offsets.clone(),
        };
        let json = serde_json::to_vec(&spec).expect("the spec serializes");
        std::fs::write(&self.spec_path, json).map_err(|e| {
            LiveError::Failed(format!("cannot write {}: {e}", self.spec_path.display()))
        })
    }

    /// `t = 0`: clocks, the redis nodes up, the faults at 0, then go.
    async fn go(&mut self) -> Result<(), LiveError> {
        self.start_ns = sys::mono_ns();
        self.start = Instant::now();
        let wall_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(WALL_EPOCH_MS);
        self.wall_shift_ms = wall_now - WALL_EPOCH_MS;
        for node in self.s.node_refs() {
            let offset_ms = self.offset_of(node);
            self.record(
                Some(node),
                EventKind::ClockInit {
                    offset_ms,
                    drift_ppm: 0.0,
                },
            );
        }
        for i in 0..self.redis.len() {
            self.record(
                Some(NodeRef::Redis(i)),
                EventKind::NodeUp {
                    node: NodeRef::Redis(i),
                    restart: false,
                },
            );
        }
        // locksim's own clients record their start themselves.
        if self.opts.client_cmd.is_some() {
            for c in 0..self.s.clients.count {
                let node = NodeRef::Client(c);
                let up = EventKind::NodeUp {
                    node,
                    restart: false,
                };
                self.record(Some(node), up);
            }
        }
        let faults = self.s.faults.clone();
        for spec in faults {
            if let When::At { at_ms } = spec.when {
                if at_ms == 0 {
                    self.act(Action::Inject(spec, None)).await?;
                } else {
                    self.at(Duration::from_millis(at_ms), Action::Inject(spec, None));
                }
            }
        }
        self.at(Duration::from_millis(self.s.heal_ms()), Action::HealAll);
        let go = Down::Go {
            start_ns: self.start_ns,
            wall_shift_ms: self.wall_shift_ms,
        };
        for c in self.clients.iter_mut().flatten() {
            c.send(&go).await;
        }
        Ok(())
    }

    // --------------------------------------------------------------------
    // Messages
    // --------------------------------------------------------------------

    async fn handle(&mut self, m: Msg) -> Result<(), LiveError> {
        match m {
            Msg::Client {
                idx,
                incarnation,
                msg,
            } => self.on_client(idx, incarnation, msg).await,
            Msg::Timer(a) => self.act(a).await,
            Msg::Conn { writer, line, bind } => self.on_conn(writer, line, bind).await,
            Msg::RedisReady {
                node,
                generation,
                result,
            } => self.on_redis_ready(node, generation, result),
        }
    }

    /// Stops every process (clients first), reaping each one.
    async fn shutdown(&mut self) {
        self.closed = true;
        for c in self.clients.iter_mut() {
            if let Some(mut p) = c.take() {
                p.kill().await;
            }
        }
        for r in &mut self.redis {
            r.kill().await;
        }
    }

    fn into_outcome(self) -> Outcome {
        let mut events = self.history;
        events.sort_by_key(|e| e.t_us);
        let check = oracle::check(&events, &self.s);
        let sim_us = events.last().map_or(0, |e| e.t_us);
        let history = History { events };
        Outcome {
            seed: self.opts.seed,
            stats: Stats {
                events: history.events.len(),
                messages: self.messages,
                sim_us,
            },
            check,
            history,
            schedule: Vec::new(),
        }
    }
}
