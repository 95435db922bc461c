//! [`LiveEnv`]: the [`Env`] of a live client process, on a tokio
//! current-thread runtime, speaking RESP2 to real redis-server processes.
//!
//! - `call`: one TCP connection per in-flight command and node, pooled and
//!   reused; a pooled connection the server closed (it was killed) is
//!   noticed before use and dropped, as client libraries' health checks do.
//!   A command that gets no reply within the timeout drops its connection
//!   (its reply would come late and out of order). A refused or broken
//!   connection is [`CallError::Unreachable`], at once, as real clients see.
//! - clocks: see [`LiveClock`]; `sleep` is a tokio sleep.
//! - randomness: ChaCha8 seeded from the run seed, the client and its
//!   incarnation.
//! - `spawn`: `tokio::task::spawn_local`, aborted through the handle.
//!
//! Every call is recorded (`CallInvoke` / `CallDone`), and a reply to an
//! acquire command that won the lock, by the algorithm's own
//! [`Grant`] rule, is recorded as `Granted` on that node: the client's own
//! observation of the grant reply, since live mode cannot see inside
//! redis-server. A `GETSET` that lost the race grants nothing, as in the
//! simulator.

use super::{sys, ClientSpec, LiveOp, Up};
use crate::history::triggers::Triggers;
use crate::history::{CallEnd, EventKind};
use crate::model::clock::{MONO_EPOCH_MS, WALL_EPOCH_MS};
use crate::model::WriteOutcome;
use crate::model::{NodeRef, Topology};
use locksim_models::{Argv, CallError, Deadline, Env, Grant, LocalTask, Note, Reply, TaskHandle};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Write as _;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};

/// A client's clocks, from the shared `CLOCK_MONOTONIC`.
#[derive(Clone, Copy, Debug)]
pub struct LiveClock {
    /// `t = 0` on `CLOCK_MONOTONIC`, ns.
    pub start_ns: u64,
    /// The client's scenario offset, ms (both clocks).
    pub offset_ms: i64,
    /// Real wall time at `t = 0` minus `WALL_EPOCH_MS`.
    pub wall_shift_ms: i64,
}

impl LiveClock {
    /// True time now, µs since `t = 0`.
    pub fn t_us(&self) -> u64 {
        sys::mono_ns().saturating_sub(self.start_ns) / 1000
    }

    /// The monotonic reading at true time `t_us`: `MONO_EPOCH_MS + offset
    /// + t`, exactly what the oracle rebuilds from `ClockInit`.
    pub fn mono_at(&self, t_us: u64) -> u64 {
        (MONO_EPOCH_MS + self.offset_ms + (t_us / 1000) as i64).max(0) as u64
    }

    /// The wall reading the history shows (simulator epoch).
    pub fn history_wall_at(&self, t_us: u64) -> i64 {
        WALL_EPOCH_MS + self.offset_ms + (t_us / 1000) as i64
    }

    /// The wall reading the algorithm sees: real wall time at `t = 0`,
    /// plus offset and elapsed monotonic time.
    pub fn wall_at(&self, t_us: u64) -> i64 {
        self.history_wall_at(t_us) + self.wall_shift_ms
    }
}

/// Encodes `argv` as a RESP2 array of bulk strings.
pub fn encode(argv: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", argv.len()).into_bytes();
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses one RESP2 reply from the front of `buf`: `Ok(None)` when more
/// bytes are needed, else the reply and how many bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[1..end]).map_err(|e| format!("bad RESP line: {e}"))?;
    let after = end + 2;
    let int = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("bad RESP integer {s:?}"))
    };
    match kind {
        b'+' => Ok(Some((Reply::Status(line.to_string()), after))),
        b'-' => Ok(Some((Reply::Error(line.to_string()), after))),
        b':' => Ok(Some((Reply::Int(int(line)?), after))),
        b'$' => {
            let n = int(line)?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), after)));
            }
            let n = n as usize;
            if buf.len() < after + n + 2 {
                return Ok(None);
            }
            if &buf[after + n..after + n + 2] != b"\r\n" {
                return Err("bulk string not terminated by CRLF".into());
            }
            Ok(Some((
                Reply::Bulk(Some(buf[after..after + n].to_vec())),
                after + n + 2,
            )))
        }
        b'*' => {
            let n = int(line)?;
            if n < 0 {
                return Ok(Some((Reply::Array(None), after)));
            }
            let mut items = Vec::with_capacity(n as usize);
            let mut at = after;
            for _ in 0..n {
                match parse(&buf[at..])? {
                    Some((r, used)) => {
                        items.push(r);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), at)))
        }
        other => Err(format!("unknown RESP type byte {:?}", other as char)),
    }
}

/// One connection to a redis-server.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects to 127.0.0.1:`port`.
    pub async fn connect(port: u16) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends one command and reads its reply.
    pub async fn call(&mut self, argv: &[Vec<u8>]) -> std::io::Result<Reply> {
        self.stream.write_all(&encode(argv)).await?;
        let mut chunk = [0u8; 4096];
        loop {
            match parse(&self.buf) {
                Ok(Some((reply, used))) => {
                    self.buf.drain(..used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            }
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Whether an idle pooled connection is still usable: nothing to read
    /// (no EOF from a dead server, no stray bytes).
    fn healthy(&self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

/// Where a client's events and resource operations go: the coordinator,
/// one JSON line each on stdout.
pub fn send_up(up: &Up) {
    let mut line = serde_json::to_string(up).expect("messages serialize");
    line.push('\n');
    let mut out = std::io::stdout().lock();
    if out
        .write_all(line.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        // The coordinator is gone: so is this run.
        std::process::exit(0);
    }
}

struct Inner {
    client: usize,
    /// The triggers the scenario's faults wait for (events that match one
    /// are `sync`).
    triggers: Triggers,
    /// Acks of `sync` events, from the stdin thread.
    ack_rx: std::sync::mpsc::Receiver<()>,
    /// Acks owed for `sync` events, collected at the next await point.
    owed_acks: Cell<u32>,
    single: bool,
    /// `[lock] client_retries`.
    retries: u32,
    ports: Vec<u16>,
    clock: LiveClock,
    pool: RefCell<Vec<Vec<Conn>>>,
    rng: RefCell<ChaCha8Rng>,
    next_id: Cell<u64>,
    /// Answers of the resource, read from stdin by another thread.
    resource_rx: Mutex<mpsc::UnboundedReceiver<WriteOutcome>>,
}

/// The environment of one live client process.
#[derive(Clone)]
pub struct LiveEnv(Rc<Inner>);

/// A background task of a live client.
pub struct LiveTask(tokio::task::JoinHandle<()>);

impl TaskHandle for LiveTask {
    fn abort(&self) {
        self.0.abort();
    }
}

impl LiveEnv {
    /// The env of `client` of `spec` (`incarnation` picks its random stream).
    pub fn new(
        spec: &ClientSpec,
        client: usize,
        incarnation: u32,
        clock: LiveClock,
        resource_rx: mpsc::UnboundedReceiver<WriteOutcome>,
        ack_rx: std::sync::mpsc::Receiver<()>,
    ) -> LiveEnv {
        let stream =
            spec.seed ^ 0x6c69_7665_0000_0000 ^ ((client as u64) << 20) ^ u64::from(incarnation);
        let s = &spec.scenario;
        let nodes = spec.ports.len();
        LiveEnv(Rc::new(Inner {
            client,
            triggers: Triggers::new(&s.faults),
            ack_rx,
            owed_acks: Cell::new(0),
            single: s.redis.topology != Topology::Independent,
            retries: s.lock.client_retries,
            ports: spec.ports.clone(),
            clock,
            pool: RefCell::new((0..nodes).map(|_| Vec::new()).collect()),
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(stream)),
            next_id: Cell::new(0),
            resource_rx: Mutex::new(resource_rx),
        }))
    }

    /// This client's clocks.
    pub fn clock(&self) -> LiveClock {
        self.0.clock
    }

    /// Records an event of this client, stamped now. Wall deadlines are
    /// rebased onto the history's epoch (see the module docs of `live`).
    pub fn record(&self, kind: EventKind) {
        self.record_on(NodeRef::Client(self.0.client), kind);
    }

    fn record_on(&self, node: NodeRef, kind: EventKind) {
        let c = self.0.clock;
        let t_us = c.t_us();
        let rebase = |d: Deadline| match d {
            Deadline::Wall(w) => Deadline::Wall(w - c.wall_shift_ms),
            m => m,
        };
        let kind = match kind {
            EventKind::AcquireOk {
                client,
                cycle,
                value,
                token,
                deadline,
                nodes,
            } => EventKind::AcquireOk {
                client,
                cycle,
                value,
                token,
                deadline: deadline.map(rebase),
                nodes,
            },
            EventKind::Extended { client, deadline } => EventKind::Extended {
                client,
                deadline: rebase(deadline),
            },
            other => other,
        };
        // A Redis node's clock is the machine's, offset 0.
        let (mono, wall) = match node {
            NodeRef::Client(_) => (c.mono_at(t_us), c.history_wall_at(t_us)),
            _ => (
                (MONO_EPOCH_MS + (t_us / 1000) as i64) as u64,
                WALL_EPOCH_MS + (t_us / 1000) as i64,
            ),
        };
        let sync = kind.trigger().is_some_and(|t| self.0.triggers.watches(t));
        let kind_is_grant = matches!(kind, EventKind::Granted { .. });
        send_up(&Up::Event {
            t_us,
            node: Some(node),
            mono_ms: Some(mono),
            wall_ms: Some(wall),
            kind,
            sync,
        });
        if sync {
            self.0.owed_acks.set(self.0.owed_acks.get() + 1);
            if kind_is_grant {
                // The grant happened on the server, where the simulator
                // freezes a client waiting for the reply: stop right here,
                // before this reply (or any other) is acted upon.
                self.settle();
            }
        }
    }

    /// Waits for the coordinator's acks of this client's `sync` events:
    /// called at the client's next await point (a command about to go out,
    /// a sleep, a resource operation), which is where a madsim node paused
    /// at the event stops too. Deliberately blocking: the whole client
    /// process stands still until the coordinator has injected what the
    /// events trigger (which may be SIGSTOP of this very process).
    fn settle(&self) {
        while self.0.owed_acks.get() > 0 {
            if self.0.ack_rx.recv().is_err() {
                std::process::exit(0);
            }
            self.0.owed_acks.set(self.0.owed_acks.get() - 1);
        }
    }

    /// One resource operation of the current session. The coordinator
    /// always answers (it is never faulted), so there is no timeout: a
    /// paused client reads the answer when it wakes.
    pub async fn resource(&self, op: LiveOp, token: Option<i64>) -> Option<WriteOutcome> {
        let mut rx = self.0.resource_rx.lock().await;
        self.settle();
        send_up(&Up::Resource { op, token });
        rx.recv().await
    }

    fn take_conn(&self, node: usize) -> Option<Conn> {
        let mut pool = self.0.pool.borrow_mut();
        let conns = &mut pool[node];
        while let Some(c) = conns.pop() {
            if c.healthy() {
                return Some(c);
            }
        }
        None
    }

    async fn exchange(&self, node: usize, argv: &[Vec<u8>]) -> std::io::Result<Reply> {
        let mut conn = match self.take_conn(node) {
            Some(c) => c,
            None => Conn::connect(self.0.ports[node]).await?,
        };
        let reply = conn.call(argv).await?;
        self.0.pool.borrow_mut()[node].push(conn);
        Ok(reply)
    }
}

impl Env for LiveEnv {
    type Task = LiveTask;

    fn client_retries(&self) -> u32 {
        self.0.retries
    }

    fn nodes(&self) -> usize {
        if self.0.single {
            1
        } else {
            self.0.ports.len()
        }
    }

    async fn request(
        &self,
        node: usize,
        argv: Argv,
        timeout_ms: u64,
        grant: Option<Grant>,
    ) -> Result<Reply, CallError> {
        let client = self.0.client;

        let id = self.0.next_id.get() + 1;
        self.0.next_id.set(id);
        self.record(EventKind::CallInvoke {
            client,
            node,
            id,
            cmd: argv.clone(),
        });
        let limit = Duration::from_millis(timeout_ms.max(1));
        self.settle();
        let got = tokio::time::timeout(limit, self.exchange(node, &argv)).await;
        let (end, result) = match got {
            Ok(Ok(r)) => (CallEnd::Ok { reply: r.clone() }, Ok(r)),
            Ok(Err(e)) => {
                self.note(Note::Info(format!("redis-{node} unreachable: {e}")));
                (CallEnd::Timeout, Err(CallError::Unreachable))
            }
            Err(_) => (CallEnd::Timeout, Err(CallError::Timeout)),
        };
        self.record(EventKind::CallDone {
            client,
            node,
            id,
            end,
        });
        // Live mode learns a grant from the reply (the simulator knows it
        // when the node applies the command).
        if let Ok(r) = &result {
            if grant.is_some_and(|g| g.won(r)) {
                self.record_on(NodeRef::Redis(node), EventKind::Granted { node, client });
            }
        }
        result
    }

    fn mono_ms(&self) -> u64 {
        let c = self.0.clock;
        c.mono_at(c.t_us())
    }

    fn wall_ms(&self) -> i64 {
        let c = self.0.clock;
        c.wall_at(c.t_us())
    }

    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        self.settle();
        tokio::time::sleep(Duration::from_millis(ms))
    }

    fn random_u64(&self) -> u64 {
        self.0.rng.borrow_mut().next_u64()
    }

    fn spawn(&self, task: LocalTask) -> LiveTask {
        LiveTask(tokio::task::spawn_local(task))
    }

    fn note(&self, note: Note) {
        self.record(EventKind::from_note(self.0.client, note));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locksim_models::argv;

    #[test]
    fn resp_round_trips_every_reply_kind() {
        let replies = [
            Reply::ok(),
            Reply::error("ERR syntax error"),
            Reply::Int(-42),
            Reply::nil(),
            Reply::bulk("a\r\nb"),
            Reply::Array(None),
            Reply::Array(Some(vec![Reply::Int(1), Reply::bulk("x"), Reply::nil()])),
        ];
        for r in replies {
            let bytes = r.to_resp();
            assert_eq!(parse(&bytes).unwrap(), Some((r.clone(), bytes.len())));
            for cut in 0..bytes.len() {
                assert_eq!(parse(&bytes[..cut]).unwrap(), None, "{r:?} cut at {cut}");
            }
        }
        assert!(parse(b"?x\r\n").is_err());
        assert_eq!(
            encode(&argv(["SET", "k", "v"])),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        );
    }

    #[test]
    fn clocks_read_like_the_oracle_rebuilds_them() {
        let c = LiveClock {
            start_ns: 0,
            offset_ms: -250,
            wall_shift_ms: 1_000,
        };
        let oracle = crate::model::clock::Clock::new(-250, 0.0);
        for t_us in [0, 999, 1_000, 123_456_789] {
            assert_eq!(c.mono_at(t_us), oracle.mono_ms(t_us));
            assert_eq!(c.history_wall_at(t_us), oracle.wall_ms(t_us));
            assert_eq!(c.wall_at(t_us), oracle.wall_ms(t_us) + 1_000);
        }
    }
}
