//! The clients' side of the coordinator: starting and respawning client
//! processes, and everything they send (events, resource operations,
//! progress, their end). A client process is locksim's own
//! (`live-client`, JSON lines on its pipes) or a `--client` program (the
//! line protocol on a TCP connection, translated into the same messages
//! by `external.rs`).

use super::{Coord, LiveError, Msg, CLIENTS_READY_LIMIT};
use crate::history::{Event, EventKind};
use crate::live::client_proc::{ClientProc, FromClient};
use crate::live::ext_proc::ExtProc;
use crate::live::protocol::Reply;
use crate::live::sys::Signal;
use crate::live::{Down, LiveOp, Up};
use crate::model::{NodeRef, WriteOutcome};
use std::collections::BTreeSet;
use std::process::ExitStatus;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A client process of either kind.
pub(super) enum Proc {
    Own(ClientProc),
    Ext(ExtProc),
}

impl Proc {
    pub(super) fn incarnation(&self) -> u32 {
        match self {
            Proc::Own(p) => p.incarnation,
            Proc::Ext(p) => p.incarnation,
        }
    }

    /// Sends a message: JSON to locksim's own client, the protocol's
    /// reply line to a `--client` program.
    pub(super) async fn send(&mut self, down: &Down) {
        match self {
            Proc::Own(p) => p.send(down).await,
            Proc::Ext(p) => {
                let r = match down {
                    Down::Go { .. } => Reply::Go,
                    Down::Ack => Reply::Ok,
                    Down::Resource {
                        outcome: WriteOutcome::Fenced,
                    } => Reply::Fenced,
                    Down::Resource { .. } => Reply::Ok,
                };
                p.reply(&r).await;
            }
        }
    }

    pub(super) fn signal(&self, sig: Signal) -> std::io::Result<()> {
        match self {
            Proc::Own(p) => p.signal(sig),
            Proc::Ext(p) => p.signal(sig),
        }
    }

    pub(super) async fn kill(&mut self) {
        match self {
            Proc::Own(p) => p.kill().await,
            Proc::Ext(p) => p.kill().await,
        }
    }

    pub(super) async fn status(&mut self) -> Option<ExitStatus> {
        match self {
            Proc::Own(p) => p.status().await,
            Proc::Ext(p) => p.status().await,
        }
    }
}

impl Coord {
    /// Lets clients that wait on a handled `sync` event go on.
    pub(super) async fn send_acks(&mut self) {
        for (idx, incarnation) in std::mem::take(&mut self.acks) {
            if self.incarnation[idx] != incarnation {
                continue;
            }
            if let Some(c) = &mut self.clients[idx] {
                c.send(&Down::Ack).await;
            }
        }
    }

    pub(super) fn spawn_client(&mut self, idx: usize) -> Result<(), LiveError> {
        if self.opts.client_cmd.is_some() {
            return self.spawn_external(idx);
        }
        let incarnation = self.incarnation[idx];
        let tx = self.tx.clone();
        let p = ClientProc::spawn(
            &self.opts.exe,
            &self.spec_path,
            idx,
            incarnation,
            self.progress[idx],
            move |msg| {
                let _ = tx.send(Msg::Client {
                    idx,
                    incarnation,
                    msg,
                });
            },
        )
        .map_err(|e| {
            LiveError::Failed(format!(
                "cannot start client-{idx} ({} live-client): {e}",
                self.opts.exe.display()
            ))
        })?;
        self.clients[idx] = Some(Proc::Own(p));
        Ok(())
    }

    pub(super) async fn start_clients(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Msg>,
    ) -> Result<(), LiveError> {
        for i in 0..self.s.clients.count {
            self.spawn_client(i)?;
        }
        let mut ready = BTreeSet::new();
        let limit = Instant::now()
            + if self.opts.client_cmd.is_some() {
                super::external::hello_limit()
            } else {
                CLIENTS_READY_LIMIT
            };
        while ready.len() < self.s.clients.count {
            let m = tokio::time::timeout_at(limit, rx.recv()).await;
            match m {
                Ok(Some(Msg::Client {
                    idx,
                    msg: FromClient::Up(Up::Ready),
                    ..
                })) => {
                    ready.insert(idx);
                }
                Ok(Some(Msg::Conn { writer, line, bind })) => {
                    ready.insert(self.hello(writer, line, bind).await?);
                }
                Ok(Some(Msg::Client {
                    idx,
                    msg: FromClient::Eof,
                    ..
                })) if self.opts.client_cmd.is_some() => {
                    return Err(self.exited_early(idx).await);
                }
                Ok(Some(Msg::Client {
                    msg: FromClient::Closed,
                    ..
                })) => {}
                Ok(Some(Msg::Client {
                    idx,
                    msg: FromClient::Line { line, .. },
                    ..
                })) => {
                    return Err(LiveError::Client(format!(
                        "client-{idx} sent `{line}` before its `GO`: after `HELLO` a program \
                         waits for the reply"
                    )))
                }
                Ok(Some(Msg::Client { idx, msg, .. })) => {
                    return Err(LiveError::Failed(format!(
                        "client-{idx} did not start: {msg:?} (is {} a locksim binary?)",
                        self.opts.exe.display()
                    )))
                }
                Ok(_) => {}
                Err(_) if self.opts.client_cmd.is_some() => {
                    let idx = (0..self.s.clients.count)
                        .find(|i| !ready.contains(i))
                        .unwrap_or(0);
                    return Err(self.no_hello(idx));
                }
                Err(_) => {
                    return Err(LiveError::Failed(format!(
                        "client processes not ready within {} s",
                        CLIENTS_READY_LIMIT.as_secs()
                    )))
                }
            }
        }
        Ok(())
    }

    pub(super) async fn on_client(
        &mut self,
        idx: usize,
        incarnation: u32,
        msg: FromClient,
    ) -> Result<(), LiveError> {
        match msg {
            FromClient::Up(Up::Ready) => {
                if self.incarnation[idx] == incarnation {
                    let go = Down::Go {
                        start_ns: self.start_ns,
                        wall_shift_ms: self.wall_shift_ms,
                    };
                    if let Some(c) = &mut self.clients[idx] {
                        c.send(&go).await;
                    }
                }
            }
            FromClient::Up(Up::Event {
                t_us,
                node,
                mono_ms,
                wall_ms,
                kind,
                sync,
            }) => {
                if sync {
                    self.acks.push((idx, incarnation));
                }
                let e = Event {
                    t_us,
                    node,
                    mono_ms,
                    wall_ms,
                    kind,
                };
                self.client_event(idx, incarnation, e)
            }
            FromClient::Up(Up::Resource { op, token }) => {
                self.resource(idx, incarnation, op, token).await
            }
            FromClient::Up(Up::CycleDone) => self.progress[idx] += 1,
            FromClient::Line { mono_ns, line } => {
                return self.on_line(idx, incarnation, mono_ns, line).await
            }
            // A `--client` program's connection closed: its process's
            // end (or a hang) is what counts.
            FromClient::Closed => {}
            FromClient::Garbage(line) => {
                return Err(LiveError::Failed(format!(
                    "client-{idx} printed something that is not a message: {line:?}"
                )))
            }
            FromClient::Eof => {
                let expected = self.killed.contains(&(idx, incarnation))
                    || self.incarnation[idx] != incarnation
                    || self.done.contains(&idx)
                    || self.closed;
                if !expected && self.opts.client_cmd.is_some() {
                    return Err(self.exited_early(idx).await);
                }
                if !expected {
                    let status = match &mut self.clients[idx] {
                        Some(c) => c.status().await,
                        None => None,
                    };
                    return Err(LiveError::Failed(format!(
                        "client-{idx} exited unexpectedly ({})",
                        status.map_or("no status".into(), |s| s.to_string())
                    )));
                }
                if self.done.contains(&idx) && self.incarnation[idx] == incarnation {
                    if let Some(mut c) = self.clients[idx].take() {
                        c.status().await;
                    }
                }
            }
        }
        Ok(())
    }

    /// A resource operation of client `idx`'s current session, applied
    /// and answered.
    pub(super) async fn resource(
        &mut self,
        idx: usize,
        incarnation: u32,
        op: LiveOp,
        token: Option<i64>,
    ) {
        self.messages += 1;
        let session = self.sessions.get(&(idx, incarnation)).copied().unwrap_or(0);
        let outcome = self
            .resource
            .apply(op.into(), session, token, self.s.lock.fencing);
        let kind = match op {
            LiveOp::Begin => EventKind::ResourceBegin {
                client: idx,
                session,
                token,
            },
            LiveOp::Write => EventKind::ResourceWrite {
                client: idx,
                session,
                token,
                outcome,
            },
            LiveOp::End => EventKind::ResourceEnd {
                client: idx,
                session,
            },
        };
        self.record(Some(NodeRef::Resource), kind);
        if self.incarnation[idx] == incarnation {
            if let Some(c) = &mut self.clients[idx] {
                c.send(&Down::Resource { outcome }).await;
            }
        }
    }

    pub(super) fn client_event(&mut self, idx: usize, incarnation: u32, mut e: Event) {
        match &mut e.kind {
            EventKind::CallInvoke { id, .. } => {
                self.messages += 1;
                self.next_id += 1;
                self.call_ids.insert((idx, incarnation, *id), self.next_id);
                *id = self.next_id;
            }
            EventKind::CallDone { id, .. } => {
                if let Some(g) = self.call_ids.remove(&(idx, incarnation, *id)) {
                    *id = g;
                }
            }
            EventKind::AcquireOk { .. } => {
                self.next_session += 1;
                self.sessions.insert((idx, incarnation), self.next_session);
            }
            EventKind::ClientDone { .. } => {
                self.done.insert(idx);
            }
            _ => {}
        }
        self.push(e);
    }
}
