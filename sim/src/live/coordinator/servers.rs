//! The host around a live run: the redis-server processes (started, each
//! answering `PING` before the run begins, and noticed when a restarted
//! one answers again), the run's temporary directory, and the signals
//! that end a run early.

use super::{Coord, LiveError, REDIS_READY_LIMIT};
use crate::history::EventKind;
use crate::live::redis_proc::{self, RedisProc};
use crate::model::NodeRef;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

impl Coord {
    pub(super) async fn start_servers(&mut self) -> Result<(), LiveError> {
        for i in 0..self.s.redis.nodes {
            let mut last = String::new();
            let mut started = None;
            for _attempt in 0..3 {
                let port = redis_proc::free_port()
                    .map_err(|e| LiveError::Failed(format!("no free port on 127.0.0.1: {e}")))?;
                let dir = self.dir.join(format!("redis-{i}"));
                redis_proc::remove_dir(&dir);
                let mut p = RedisProc::new(i, port, dir, &self.s)
                    .map_err(|e| LiveError::Failed(format!("redis-{i}: {e}")))?;
                p.start().map_err(|e| {
                    LiveError::Failed(format!("cannot start {}: {e}", redis_proc::server_binary()))
                })?;
                match redis_proc::wait_ready(port, REDIS_READY_LIMIT).await {
                    Ok(()) => {
                        started = Some(p);
                        break;
                    }
                    Err(e) => {
                        last = format!("{e}\n{}", p.log_tail(5));
                        p.kill().await;
                    }
                }
            }
            match started {
                Some(p) => self.redis.push(p),
                None => return Err(LiveError::Failed(format!("redis-{i}: {last}"))),
            }
        }
        Ok(())
    }

    /// A restarted redis-server answered `PING` (or did not).
    pub(super) fn on_redis_ready(
        &mut self,
        node: usize,
        generation: u64,
        result: Result<(), String>,
    ) -> Result<(), LiveError> {
        if self.redis[node].generation != generation || !self.redis[node].is_running() {
            return Ok(());
        }
        match result {
            Ok(()) => {
                self.progress(&format!("redis-{node} is up again"));
                self.record(
                    Some(NodeRef::Redis(node)),
                    EventKind::NodeUp {
                        node: NodeRef::Redis(node),
                        restart: true,
                    },
                );
                Ok(())
            }
            Err(_) if self.paused.contains_key(&NodeRef::Redis(node)) => {
                // Paused while it was starting: it will answer later.
                self.watch_ready(node);
                Ok(())
            }
            Err(e) => Err(LiveError::Failed(format!(
                "redis-{node} did not come back: {e}\n{}",
                self.redis[node].log_tail(5)
            ))),
        }
    }
}

/// The run's temporary directory, removed on drop unless kept.
pub(super) struct TempDir {
    pub(super) path: PathBuf,
    keep: bool,
}

impl TempDir {
    pub(super) fn new(keep: bool) -> std::io::Result<TempDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("locksim-live-{}-{nanos:09}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir { path, keep })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            redis_proc::remove_dir(&self.path);
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP, as one future.
pub(super) struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn new() -> Result<Signals, LiveError> {
        use tokio::signal::unix::{signal, SignalKind};
        let f = |k| signal(k).map_err(|e| LiveError::Failed(format!("cannot handle signals: {e}")));
        Ok(Signals {
            int: f(SignalKind::interrupt())?,
            term: f(SignalKind::terminate())?,
            hup: f(SignalKind::hangup())?,
        })
    }

    pub(super) async fn any(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
        }
    }
}
