//! The environment a lock algorithm runs in.
//!
//! An algorithm sees exactly what a real client process sees: it can send a
//! command to Redis node `i` and wait for the reply up to a timeout, read its
//! own monotonic and wall clocks, sleep, draw random numbers and spawn a
//! background task (a watchdog). It never sees true time: in the simulator
//! the clocks drift and jump; against a real redis-server they are the OS
//! clocks.

use crate::lease::{Deadline, Grant};
use crate::protocol::{Argv, Reply};
use std::future::Future;
use std::pin::Pin;

/// Why a call produced no reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// No reply within the timeout: the command may or may not have run.
    Timeout,
    /// The node could not be reached at all (connection refused, no route).
    Unreachable,
}

/// One token slot shared by the clients of a run (see [`Env::shared_token`]).
pub type SharedSlot = std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>;

/// A future an algorithm hands to [`Env::spawn`].
pub type LocalTask = Pin<Box<dyn Future<Output = ()> + 'static>>;

/// Something an algorithm wants recorded in the run's history. The world
/// turns notes into history events and fault triggers (`renewed:client-i`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A watchdog renewal finished; `ok` is whether the lock was extended.
    Renewed { ok: bool },
    /// The holder's lease now lasts until `deadline` (a watchdog renewal or
    /// a Redlock extension succeeded).
    Extended { deadline: Deadline },
    /// The watchdog or the extension loop stopped extending the lease
    /// (see the `extend` module).
    WatchdogStopped,
    /// The extension failed for good and the holder's abort signal is
    /// raised (node-redlock `using`): the routine stops only if it checks.
    Aborted,
    /// A free-form remark: "validity 9 798 ms", "quorum 2/5 failed".
    Info(String),
}

/// The client library's send loop: one [`Env::request`] per copy, so every
/// copy is its own command on the wire (and in the history). A re-sent
/// command whose first copy was applied runs twice: a second `SET NX`
/// finds its own key and returns nil, a second `DEL` deletes whatever is
/// there by then.
async fn send_with_retries<E: Env>(
    env: &E,
    node: usize,
    argv: Argv,
    timeout_ms: u64,
    grant: Option<Grant>,
) -> Result<Reply, CallError> {
    let retries = env.client_retries();
    let mut sent = 0;
    loop {
        let got = env.request(node, argv.clone(), timeout_ms, grant).await;
        match got {
            Err(e) if sent < retries => {
                sent += 1;
                let why = match e {
                    CallError::Timeout => "timed out",
                    CallError::Unreachable => "lost its connection",
                };
                env.note(Note::Info(format!(
                    "client library re-sends {} ({why}; retry {sent}/{retries})",
                    crate::protocol::argv_display(&argv)
                )));
            }
            got => return got,
        }
    }
}

/// A handle to a spawned background task.
pub trait TaskHandle {
    /// Stops the task at its next await point.
    fn abort(&self);
}

/// The client's window on the world. Implemented by the simulator (madsim,
/// simulated clocks) and by live mode (tokio, real redis-server processes).
pub trait Env: Clone + 'static {
    /// The handle [`Env::spawn`] returns.
    type Task: TaskHandle + 'static;

    /// How many Redis endpoints this client may address: `nodes` for the
    /// `independent` topology, 1 for `single` and `sentinel` (where node 0
    /// is whichever node the client currently believes is master).
    fn nodes(&self) -> usize;

    /// How many replicas the client knows its master `node` has: what a
    /// library that waits for replicas passes to `WAIT` (Redisson reads
    /// `connected_slaves`). 0 outside replicated topologies.
    fn replicas(&self, node: usize) -> usize {
        let _ = node;
        0
    }

    /// The token slot every client of the run shares when the lock object
    /// is shared (`shared_token`; redis-py's `Lock` used by several asyncio
    /// tasks). `None` where clients cannot share memory (live mode).
    fn shared_token(&self) -> Option<SharedSlot> {
        None
    }

    /// Sends `argv` to node `node` and waits up to `timeout_ms` of the
    /// client's monotonic time for the reply. `grant` is set on the command
    /// that takes the lock: the rule by which its reply means the node
    /// granted it (the simulator records `granted` when the node applies a
    /// command that won). What an environment implements; algorithms call
    /// [`Env::call`] and [`Env::call_acquire`].
    fn request(
        &self,
        node: usize,
        argv: Argv,
        timeout_ms: u64,
        grant: Option<Grant>,
    ) -> impl Future<Output = Result<Reply, CallError>>;

    /// How many times the client library re-sends a command that got no
    /// reply (a timeout, a dropped connection), as redis-py's `Retry` and
    /// older redis-rb do: `[lock] client_retries`. Default: never.
    fn client_retries(&self) -> u32 {
        0
    }

    /// Sends a command and waits up to `timeout_ms` for its reply; re-sent
    /// (the same argv, the same timeout) up to [`Env::client_retries`]
    /// times while no reply comes.
    fn call(
        &self,
        node: usize,
        argv: Argv,
        timeout_ms: u64,
    ) -> impl Future<Output = Result<Reply, CallError>> {
        send_with_retries(self, node, argv, timeout_ms, None)
    }

    /// Sends the command that takes the lock on `node`, with the rule by
    /// which its reply means the node granted it; re-sent like
    /// [`Env::call`].
    fn call_acquire(
        &self,
        node: usize,
        argv: Argv,
        timeout_ms: u64,
        grant: Grant,
    ) -> impl Future<Output = Result<Reply, CallError>> {
        send_with_retries(self, node, argv, timeout_ms, Some(grant))
    }

    /// Local monotonic clock, in ms. Never jumps, may drift.
    fn mono_ms(&self) -> u64;

    /// Local wall clock, Unix time in ms. Drifts and jumps.
    fn wall_ms(&self) -> i64;

    /// Sleeps `ms` of local monotonic time.
    fn sleep(&self, ms: u64) -> impl Future<Output = ()>;

    /// A uniformly random `u64` from the run's seeded generator.
    fn random_u64(&self) -> u64;

    /// Runs `task` in the background on this client. The task stops when the
    /// client process dies or pauses with it.
    fn spawn(&self, task: LocalTask) -> Self::Task;

    /// Records a note in the history.
    fn note(&self, note: Note);

    /// A uniformly random integer in `lo..=hi`.
    fn random_range(&self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo + 1;
        lo + self.random_u64() % span
    }

    /// A fresh random lock value: 32 hex digits (128 bits), as the distlock
    /// page recommends ("20 bytes from /dev/urandom" in spirit).
    fn random_token(&self) -> String {
        format!("{:016x}{:016x}", self.random_u64(), self.random_u64())
    }
}
