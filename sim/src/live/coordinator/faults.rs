//! Faults on real processes: SIGSTOP / SIGCONT for pauses, SIGKILL and a
//! restart (same port, same directory, same persistence) for a Redis node's
//! crash, SIGKILL and a respawn for a client's. Every injection and heal is
//! recorded in the history, as the simulator's `fault` module does.

use super::{Action, Coord, LiveError, Msg, REDIS_READY_LIMIT};
use crate::history::EventKind;
use crate::live::redis_proc;
use crate::live::sys::Signal;
use crate::model::{Fault, NodeRef, Trigger};
use std::time::Duration;

impl Coord {
    pub(super) async fn act(&mut self, a: Action) -> Result<(), LiveError> {
        if self.closed {
            return Ok(());
        }
        match a {
            Action::Inject(spec, cause) => self.inject(&spec.fault, cause).await,
            Action::Resume {
                node,
                generation,
                for_ms,
            } => {
                if self.paused.get(&node) == Some(&generation) {
                    self.paused.remove(&node);
                    self.record(
                        None,
                        EventKind::FaultHealed {
                            fault: Fault::Pause { node, for_ms },
                        },
                    );
                    self.cont(node);
                    self.progress(&format!("{node} resumed (SIGCONT)"));
                }
                Ok(())
            }
            Action::Restart(node) => self.restart(node),
            Action::HealAll => {
                self.record(None, EventKind::HealAll);
                let paused: Vec<NodeRef> = self.paused.keys().copied().collect();
                let down: Vec<NodeRef> = self.down.iter().copied().collect();
                if !paused.is_empty() || !down.is_empty() {
                    self.progress("heal: every fault undone");
                }
                for node in paused {
                    self.paused.remove(&node);
                    self.cont(node);
                }
                for node in down {
                    self.restart(node)?;
                }
                Ok(())
            }
        }
    }

    fn cont(&self, node: NodeRef) {
        let _ = match node {
            NodeRef::Redis(i) => self.redis[i].signal(Signal::Cont),
            NodeRef::Client(c) => match &self.clients[c] {
                Some(p) => p.signal(Signal::Cont),
                None => Ok(()),
            },
            NodeRef::Resource => Ok(()),
        };
    }

    /// Injects a fault now; faults due after the final heal are dropped,
    /// as in the simulator.
    async fn inject(&mut self, fault: &Fault, cause: Option<Trigger>) -> Result<(), LiveError> {
        if self.now_us() >= self.s.heal_ms() * 1000 {
            return Ok(());
        }
        let why = cause.map_or(String::new(), |c| format!(" (on {c})"));
        self.progress(&format!("{}{why}", describe(fault)));
        self.record(
            None,
            EventKind::FaultInjected {
                fault: fault.clone(),
                cause,
            },
        );
        match *fault {
            Fault::Pause { node, for_ms } => {
                if self.down.contains(&node) {
                    return Ok(());
                }
                let sent = match node {
                    NodeRef::Redis(i) => self.redis[i].signal(Signal::Stop).is_ok(),
                    NodeRef::Client(c) => self.clients[c]
                        .as_ref()
                        .is_some_and(|p| p.signal(Signal::Stop).is_ok()),
                    NodeRef::Resource => false,
                };
                if sent {
                    self.pause_generation += 1;
                    let generation = self.pause_generation;
                    self.paused.insert(node, generation);
                    self.later(
                        Duration::from_millis(for_ms),
                        Action::Resume {
                            node,
                            generation,
                            for_ms,
                        },
                    );
                }
                Ok(())
            }
            Fault::Kill { node, for_ms } => self.crash(node, for_ms).await,
            Fault::Restart { node } => self.restart(node),
            // No partitions exist in live mode: nothing to heal.
            Fault::Heal => Ok(()),
            Fault::PowerLoss { .. }
            | Fault::Partition { .. }
            | Fault::ClockJump { .. }
            | Fault::ClockDrift { .. } => Err(LiveError::Refused(format!(
                "live mode cannot inject `{}`",
                fault.kind_name()
            ))),
        }
    }

    async fn crash(&mut self, node: NodeRef, for_ms: Option<u64>) -> Result<(), LiveError> {
        if self.down.contains(&node) {
            return Ok(());
        }
        match node {
            NodeRef::Redis(i) => self.redis[i].kill().await,
            NodeRef::Client(c) => {
                if self.done.contains(&c) {
                    return Ok(()); // finished and gone: nothing to kill
                }
                let Some(mut p) = self.clients[c].take() else {
                    return Ok(());
                };
                self.killed.insert((c, p.incarnation()));
                p.kill().await;
            }
            NodeRef::Resource => return Ok(()),
        }
        self.paused.remove(&node);
        self.down.insert(node);
        self.record(Some(node), EventKind::NodeDown { node });
        let down_ms = for_ms.unwrap_or(match node {
            NodeRef::Redis(_) => self.s.redis.restart_delay_ms,
            _ => 0,
        });
        if down_ms == 0 {
            self.restart(node)
        } else {
            self.later(Duration::from_millis(down_ms), Action::Restart(node));
            Ok(())
        }
    }

    /// Starts a crashed node again.
    fn restart(&mut self, node: NodeRef) -> Result<(), LiveError> {
        if !self.down.remove(&node) {
            return Ok(());
        }
        match node {
            NodeRef::Redis(i) => {
                self.progress(&format!("restart redis-{i}"));
                self.redis[i]
                    .start()
                    .map_err(|e| LiveError::Failed(format!("cannot restart redis-{i}: {e}")))?;
                self.watch_ready(i);
                Ok(())
            }
            NodeRef::Client(c) => {
                self.progress(&format!("respawn client-{c}"));
                self.incarnation[c] += 1;
                self.spawn_client(c)
            }
            NodeRef::Resource => Ok(()),
        }
    }

    pub(super) fn watch_ready(&self, node: usize) {
        let tx = self.tx.clone();
        let port = self.redis[node].port;
        let generation = self.redis[node].generation;
        tokio::task::spawn_local(async move {
            let result = redis_proc::wait_ready(port, REDIS_READY_LIMIT).await;
            let _ = tx.send(Msg::RedisReady {
                node,
                generation,
                result,
            });
        });
    }
}

/// A fault in a few words, for the progress lines.
fn describe(f: &Fault) -> String {
    match f {
        Fault::Pause { node, for_ms } => format!("pause {node} for {for_ms} ms (SIGSTOP)"),
        Fault::Kill { node, for_ms } => match for_ms {
            Some(ms) => format!("kill {node} (SIGKILL), down {ms} ms"),
            None => format!("kill {node} (SIGKILL)"),
        },
        Fault::Restart { node } => format!("restart {node}"),
        other => other.kind_name().to_string(),
    }
}
