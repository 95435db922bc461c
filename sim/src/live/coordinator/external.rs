//! `--client` programs: the resource's TCP server, each program's
//! environment, and the translation of its protocol lines
//! ([`crate::live::protocol`]) into the events and resource operations
//! locksim's own clients send, so that the rest of the coordinator (the
//! triggers, the faults, the resource, the oracle) is the same for both.
//!
//! Every line is answered after it is handled: an event's `OK` goes out
//! with the acks of `sync` events, after the faults it triggered with no
//! delay were injected (a pause `on = "acquired:client-0"` stops the
//! program while it waits for that `OK`). Lines of a killed incarnation
//! are dropped: its lease ended when it was killed.

use super::{Coord, LiveError, Msg, CLIENTS_READY_LIMIT};
use crate::history::{Event, EventKind};
use crate::live::client_proc::FromClient;
use crate::live::env::Conn;
use crate::live::ext_proc::ExtProc;
use crate::live::protocol::{parse_line, Line, Order, Reply, VERSION};
use crate::live::{LiveOp, Up};
use crate::model::clock::{MONO_EPOCH_MS, WALL_EPOCH_MS};
use crate::model::NodeRef;
use locksim_models::{Deadline, Reply as RespReply};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// What one `--client` program said, and what Redis held meanwhile
/// (kept with [`super::LiveOptions::inspect`], for `--check-client`).
#[derive(Clone, Debug, Default)]
pub struct ClientLog {
    /// Each line it sent (first incarnation onwards) and locksim's reply.
    pub lines: Vec<(String, String)>,
    /// The keys of every Redis node when it said `BEGIN` (the first time).
    pub at_begin: Option<Vec<Observed>>,
    /// The keys of every Redis node when it said `RELEASED` (the first time).
    pub after_release: Option<Vec<Observed>>,
    /// How it exited after `DONE`, if it did within a few seconds.
    pub exit: Option<String>,
}

/// A key on a Redis node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub node: usize,
    pub key: String,
    /// `PTTL`: -1 without expiry.
    pub pttl_ms: i64,
}

impl Coord {
    /// Opens the resource's port for `--client` programs.
    pub(super) async fn listen(&mut self) -> Result<(), LiveError> {
        if self.opts.client_cmd.is_none() {
            return Ok(());
        }
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| LiveError::Failed(format!("cannot listen on 127.0.0.1: {e}")))?;
        self.resource_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let tx = self.tx.clone();
        tokio::task::spawn_local(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let tx = tx.clone();
                tokio::task::spawn_local(async move {
                    let (r, writer) = stream.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let Ok(Some(line)) = lines.next_line().await else {
                        return;
                    };
                    let (bind, bound) = oneshot::channel();
                    let conn = Msg::Conn { writer, line, bind };
                    if tx.send(conn).is_err() {
                        return;
                    }
                    let Ok(Some((idx, incarnation))) = bound.await else {
                        return;
                    };
                    loop {
                        let msg = match lines.next_line().await {
                            Ok(Some(line)) => FromClient::Line {
                                mono_ns: crate::live::sys::mono_ns(),
                                line,
                            },
                            Ok(None) | Err(_) => FromClient::Closed,
                        };
                        let closed = matches!(msg, FromClient::Closed);
                        let sent = tx.send(Msg::Client {
                            idx,
                            incarnation,
                            msg,
                        });
                        if sent.is_err() || closed {
                            return;
                        }
                    }
                });
            }
        });
        Ok(())
    }

    /// The environment of client `idx`'s program (see PROTOCOL.md).
    fn client_env(&self, idx: usize) -> Vec<(String, String)> {
        let s = &self.s;
        let l = &s.lock;
        let c = &s.clients;
        let b = |v: bool| if v { "1" } else { "0" }.to_string();
        let redis: Vec<String> = self
            .redis
            .iter()
            .map(|r| format!("127.0.0.1:{}", r.port))
            .collect();
        let left = c.cycles.saturating_sub(self.progress[idx]);
        let vars: Vec<(&str, String)> = vec![
            ("LOCKSIM_PROTOCOL", VERSION.to_string()),
            (
                "LOCKSIM_RESOURCE",
                format!("127.0.0.1:{}", self.resource_port),
            ),
            ("LOCKSIM_CLIENT", idx.to_string()),
            ("LOCKSIM_CLIENTS", c.count.to_string()),
            ("LOCKSIM_INCARNATION", self.incarnation[idx].to_string()),
            ("LOCKSIM_CYCLES", left.to_string()),
            ("LOCKSIM_REDIS", redis.join(",")),
            ("LOCKSIM_REDIS_NODES", redis.len().to_string()),
            ("LOCKSIM_KEY", l.key.clone()),
            ("LOCKSIM_FENCE_KEY", l.fence_key.clone()),
            ("LOCKSIM_TTL_MS", l.ttl_ms.to_string()),
            ("LOCKSIM_RETRY_COUNT", l.retry_count.to_string()),
            ("LOCKSIM_RETRY_DELAY_MS", l.retry_delay_ms.to_string()),
            ("LOCKSIM_RETRY_JITTER_MS", l.retry_jitter_ms.to_string()),
            (
                "LOCKSIM_REQUEST_TIMEOUT_MS",
                l.request_timeout_ms.to_string(),
            ),
            ("LOCKSIM_DRIFT_FACTOR", l.drift_factor.to_string()),
            ("LOCKSIM_RENEW_EVERY_MS", l.renew_every_ms.to_string()),
            ("LOCKSIM_FENCING", b(l.fencing)),
            ("LOCKSIM_VALIDITY_CHECK", b(l.validity_check)),
            ("LOCKSIM_WORK_MS_MIN", c.work_ms.lo.to_string()),
            ("LOCKSIM_WORK_MS_MAX", c.work_ms.hi.to_string()),
            ("LOCKSIM_WRITES", c.writes.to_string()),
            ("LOCKSIM_THINK_MS_MIN", c.think_ms.lo.to_string()),
            ("LOCKSIM_THINK_MS_MAX", c.think_ms.hi.to_string()),
            ("LOCKSIM_SEED", self.opts.seed.to_string()),
        ];
        vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    pub(super) fn spawn_external(&mut self, idx: usize) -> Result<(), LiveError> {
        let argv = self.opts.client_cmd.clone().unwrap_or_default();
        let incarnation = self.incarnation[idx];
        let env = self.client_env(idx);
        let tx = self.tx.clone();
        let p = ExtProc::spawn(
            &argv,
            &env,
            idx,
            incarnation,
            self.opts.progress,
            move |msg| {
                let _ = tx.send(Msg::Client {
                    idx,
                    incarnation,
                    msg,
                });
            },
        )
        .map_err(|e| {
            LiveError::Client(format!(
                "cannot start the --client program `{}` for client-{idx}: {e}",
                argv.join(" ")
            ))
        })?;
        self.clients[idx] = Some(super::Proc::Ext(p));
        Ok(())
    }

    /// A connection's first line: `HELLO 1 <client>` binds it to that
    /// client's current process. Returns the client, now ready.
    pub(super) async fn hello(
        &mut self,
        mut writer: OwnedWriteHalf,
        line: String,
        bind: oneshot::Sender<Option<(usize, u32)>>,
    ) -> Result<usize, LiveError> {
        let refuse = |why: String| LiveError::Client(format!("a --client program {why}"));
        let said = match parse_line(&line) {
            Ok(Line::Hello { version, client }) => (version, client),
            Ok(other) => {
                let why = format!(
                    "began with `{line}`: the first line is `HELLO {VERSION} <client>`, not {}",
                    other.verb()
                );
                refuse_conn(&mut writer, &why).await;
                return Err(refuse(why));
            }
            Err(e) => {
                let why = format!("sent {line:?} as its first line: {e}");
                refuse_conn(&mut writer, &why).await;
                return Err(refuse(why));
            }
        };
        let (version, idx) = said;
        if version != VERSION {
            let why =
                format!("unsupported protocol version {version} (this locksim speaks {VERSION})");
            refuse_conn(&mut writer, &why).await;
            return Err(refuse(format!("said `{line}`: {why}")));
        }
        let Some(Some(super::Proc::Ext(p))) = self.clients.get_mut(idx) else {
            let why = format!(
                "said `{line}`, but the run has clients 0 to {} (LOCKSIM_CLIENT)",
                self.s.clients.count.saturating_sub(1)
            );
            refuse_conn(&mut writer, &why).await;
            return Err(refuse(why));
        };
        if p.connected() {
            let why = format!("said `{line}` on a second connection: client-{idx} is connected");
            refuse_conn(&mut writer, &why).await;
            return Err(refuse(why));
        }
        p.attach(writer);
        p.order = Order::Idle;
        let incarnation = p.incarnation;
        if self.opts.inspect {
            self.logs[idx].lines.push((line, "GO".into()));
        }
        let _ = bind.send(Some((idx, incarnation)));
        Ok(idx)
    }

    /// A `HELLO` after the start: a restarted client goes at once.
    pub(super) async fn on_conn(
        &mut self,
        writer: OwnedWriteHalf,
        line: String,
        bind: oneshot::Sender<Option<(usize, u32)>>,
    ) -> Result<(), LiveError> {
        let idx = self.hello(writer, line, bind).await?;
        let incarnation = self.incarnation[idx];
        let node = NodeRef::Client(idx);
        let up = EventKind::NodeUp {
            node,
            restart: incarnation > 0,
        };
        self.record(Some(node), up);
        self.on_client(idx, incarnation, FromClient::Up(Up::Ready))
            .await
    }

    /// The `--client` program of client `idx`, if that is what runs.
    fn ext(&mut self, idx: usize) -> Option<&mut ExtProc> {
        match self.clients.get_mut(idx) {
            Some(Some(super::Proc::Ext(p))) => Some(p),
            _ => None,
        }
    }

    /// Answers `ERR why` and ends the run with it.
    async fn refuse_line(&mut self, idx: usize, why: String) -> Result<(), LiveError> {
        if let Some(p) = self.ext(idx) {
            p.reply(&Reply::Err(why.clone())).await;
        }
        Err(LiveError::Client(why))
    }

    /// One protocol line of client `idx`.
    pub(super) async fn on_line(
        &mut self,
        idx: usize,
        incarnation: u32,
        mono_ns: u64,
        raw: String,
    ) -> Result<(), LiveError> {
        if self.incarnation[idx] != incarnation || self.killed.contains(&(idx, incarnation)) {
            return Ok(());
        }
        let Some(p) = self.ext(idx) else {
            return Ok(());
        };
        let parsed = parse_line(&raw).and_then(|l| p.order.next(&l).map(|o| (l, o)));
        let line = match parsed {
            Ok((line, order)) => {
                p.order = order;
                line
            }
            Err(e) => {
                return self
                    .refuse_line(idx, format!("client-{idx} sent `{raw}`: {e}"))
                    .await
            }
        };
        if self.opts.inspect {
            self.logs[idx].lines.push((raw.clone(), "OK".into()));
        }
        let t_us = mono_ns.saturating_sub(self.start_ns) / 1000;
        let client = idx;
        let off = self.offset_of(NodeRef::Client(idx));
        let mono_now = (MONO_EPOCH_MS + off + (t_us / 1000) as i64).max(0) as u64;
        let cycle = self.progress[idx];
        let kind = match line {
            Line::Hello { .. } => unreachable!("Order refuses a second HELLO"),
            Line::Acquiring => EventKind::AcquireInvoke { client, cycle },
            Line::Failed { reason } => EventKind::AcquireFail { client, reason },
            Line::Acquired { token, valid_ms } => {
                if let Some(p) = self.ext(idx) {
                    p.token = token;
                    p.began = false;
                }
                EventKind::AcquireOk {
                    client,
                    cycle,
                    value: String::new(),
                    token,
                    deadline: valid_ms.map(|v| Deadline::Mono(mono_now + v)),
                    nodes: Vec::new(),
                }
            }
            Line::Begin | Line::Write | Line::End => {
                let op = match line {
                    Line::Begin => LiveOp::Begin,
                    Line::Write => LiveOp::Write,
                    _ => LiveOp::End,
                };
                let token = self.ext(idx).and_then(|p| {
                    p.began |= op == LiveOp::Begin;
                    p.token
                });
                if self.opts.inspect && op == LiveOp::Begin && self.logs[idx].at_begin.is_none() {
                    self.logs[idx].at_begin = Some(self.observe_keys().await);
                }
                self.resource(idx, incarnation, op, token).await;
                return Ok(());
            }
            Line::Releasing => EventKind::ReleaseInvoke { client },
            Line::Released { outcome } => {
                if self.ext(idx).is_some_and(|p| std::mem::take(&mut p.began)) {
                    self.progress[idx] += 1;
                }
                if self.opts.inspect && self.logs[idx].after_release.is_none() {
                    self.logs[idx].after_release = Some(self.observe_keys().await);
                }
                EventKind::ReleaseDone { client, outcome }
            }
            Line::Extended { valid_ms } => EventKind::Extended {
                client,
                deadline: Deadline::Mono(mono_now + valid_ms),
            },
            Line::Granted { node } if node >= self.redis.len() => {
                let last = self.redis.len().saturating_sub(1);
                let why = format!("client-{idx} sent `{raw}`: the run has redis-0 to redis-{last}");
                return self.refuse_line(idx, why).await;
            }
            Line::Granted { node } => EventKind::Granted { node, client },
            Line::Note { text } => EventKind::Note { client, text },
            Line::Done => EventKind::ClientDone { client },
        };
        let node = match kind {
            EventKind::Granted { node, .. } => NodeRef::Redis(node),
            _ => NodeRef::Client(idx),
        };
        let off = self.offset_of(node);
        let ms = (t_us / 1000) as i64;
        let e = Event {
            t_us,
            node: Some(node),
            mono_ms: Some((MONO_EPOCH_MS + off + ms).max(0) as u64),
            wall_ms: Some(WALL_EPOCH_MS + off + ms),
            kind,
        };
        self.messages += 1;
        // Answered `OK` with the acks, after what it triggers is injected.
        self.acks.push((idx, incarnation));
        self.client_event(idx, incarnation, e);
        Ok(())
    }

    /// Every key of every Redis node and its PTTL (for `--check-client`).
    async fn observe_keys(&self) -> Vec<Observed> {
        let mut out = Vec::new();
        for (node, r) in self.redis.iter().enumerate() {
            let Ok(mut c) = Conn::connect(r.port).await else {
                continue;
            };
            let keys = match c.call(&[b"KEYS".to_vec(), b"*".to_vec()]).await {
                Ok(RespReply::Array(Some(items))) => items,
                _ => continue,
            };
            for k in keys {
                let RespReply::Bulk(Some(key)) = k else {
                    continue;
                };
                let pttl = match c.call(&[b"PTTL".to_vec(), key.clone()]).await {
                    Ok(RespReply::Int(n)) => n,
                    _ => -2,
                };
                out.push(Observed {
                    node,
                    key: String::from_utf8_lossy(&key).into_owned(),
                    pttl_ms: pttl,
                });
            }
        }
        out.sort_by(|a, b| (a.node, &a.key).cmp(&(b.node, &b.key)));
        out
    }

    /// A `--client` program that ended without being killed, before `DONE`.
    pub(super) async fn exited_early(&mut self, idx: usize) -> LiveError {
        let cycles = self.progress[idx];
        let (status, tail) = match &mut self.clients[idx] {
            Some(super::Proc::Ext(p)) => {
                let s = p.status().await;
                (s, p.tail())
            }
            _ => (None, String::new()),
        };
        let status = status.map_or("no status".into(), |s| s.to_string());
        LiveError::Client(format!(
            "client-{idx} exited ({status}) before DONE, after {cycles} of {} cycles; its last output:\n{tail}",
            self.s.clients.cycles
        ))
    }

    /// A `--client` program that never said `HELLO`.
    pub(super) fn no_hello(&self, idx: usize) -> LiveError {
        let tail = match &self.clients[idx] {
            Some(super::Proc::Ext(p)) => p.tail(),
            _ => String::new(),
        };
        LiveError::Client(format!(
            "client-{idx} did not connect to LOCKSIM_RESOURCE (127.0.0.1:{}) and say `HELLO {VERSION} {idx}` within {} ms (LOCKSIM_HELLO_TIMEOUT_MS); its last output:\n{tail}",
            self.resource_port,
            hello_limit().as_millis()
        ))
    }

    /// With `inspect`: lets each program that said `DONE` exit by itself
    /// (a few seconds), and keeps how it exited.
    pub(super) async fn await_exits(&mut self) {
        if !self.opts.inspect {
            return;
        }
        for idx in 0..self.clients.len() {
            if !self.done.contains(&idx) {
                continue;
            }
            let exit = match &mut self.clients[idx] {
                Some(super::Proc::Ext(p)) => {
                    let wait = tokio::time::timeout(std::time::Duration::from_secs(3), p.status());
                    match wait.await {
                        Ok(Some(s)) => Some(s.to_string()),
                        Ok(None) => Some("unknown".into()),
                        Err(_) => None,
                    }
                }
                _ => continue,
            };
            self.logs[idx].exit = exit;
        }
    }
}

/// How long every `--client` program of a run may take to say `HELLO`:
/// `LOCKSIM_HELLO_TIMEOUT_MS` (ms) if set, else 30 s (a JVM starts slowly).
pub(super) fn hello_limit() -> Duration {
    std::env::var("LOCKSIM_HELLO_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(CLIENTS_READY_LIMIT, Duration::from_millis)
}

/// Tells a connection why it is refused, then drops it.
async fn refuse_conn(writer: &mut OwnedWriteHalf, why: &str) {
    use tokio::io::AsyncWriteExt;
    let _ = writer
        .write_all(format!("{}\n", Reply::Err(why.to_string())).as_bytes())
        .await;
}
