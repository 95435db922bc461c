//! The clients' side of the coordinator: starting and respawning client
//! processes, and everything they send (events, resource operations,
//! progress, their end).

use super::{Coord, LiveError, Msg, CLIENTS_READY_LIMIT};
use crate::history::{Event, EventKind};
use crate::live::client_proc::{ClientProc, FromClient};
use crate::live::{Down, LiveOp, Up};
use crate::model::NodeRef;
use std::collections::BTreeSet;
use tokio::sync::mpsc;
use tokio::time::Instant;

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
        self.clients[idx] = Some(p);
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
        let limit = Instant::now() + CLIENTS_READY_LIMIT;
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
                Ok(Some(Msg::Client { idx, msg, .. })) => {
                    return Err(LiveError::Failed(format!(
                        "client-{idx} did not start: {msg:?} (is {} a locksim binary?)",
                        self.opts.exe.display()
                    )))
                }
                Ok(_) => {}
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
            FromClient::Up(Up::CycleDone) => self.progress[idx] += 1,
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

    fn client_event(&mut self, idx: usize, incarnation: u32, mut e: Event) {
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
