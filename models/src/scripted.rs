//! A scripted [`Env`] for tests: replies come from a closure, time is
//! virtual, and a tiny single-threaded executor runs the algorithm and the
//! tasks it spawns (the watchdog).
//!
//! - Every command is recorded ([`Sent`]): when it left, to which node, the
//!   argv, and what the caller got.
//! - Replies come from the test's closure `Fn(node, &Argv, now_mono) ->
//!   Result<Reply, CallError>`, evaluated when the command is sent. A test
//!   that needs state keeps it in the closure (`Cell`, `RefCell`). There is
//!   no built-in keyspace on purpose: a test says what Redis answers.
//! - Each call takes the configured latency (per node and argv) of virtual
//!   time. A latency above the call's timeout, or an `Err(Timeout)` from the
//!   closure, makes the caller wait the whole timeout and get
//!   `Err(CallError::Timeout)`; the command counts as sent either way.
//! - The monotonic clock is the virtual time; the wall clock is
//!   `wall_start + now + offset` ([`ScriptedEnv::jump_wall`]).
//! - Randomness is a xorshift64* generator seeded per env.
//! - [`ScriptedEnv::block_on`] runs a future (plus every spawned task) to
//!   completion; [`ScriptedEnv::run_until`] runs the spawned tasks until a
//!   virtual time. Time only moves when every task is waiting on a timer.
//!
//! Futures that sleep or call must be driven by this env's executor.

use crate::env::{CallError, Env, LocalTask, Note, TaskHandle};
use crate::lease::Grant;
use crate::protocol::{argv_display, Argv, Reply};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// The reply closure: `(node, argv, now_mono) -> reply`.
pub type ReplyFn = dyn Fn(usize, &Argv, u64) -> Result<Reply, CallError>;
/// The latency closure: `(node, argv) -> ms`.
pub type LatencyFn = dyn Fn(usize, &Argv) -> u64;

/// One command the algorithm sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Monotonic (virtual) time at which it was sent.
    pub at_ms: u64,
    /// Virtual time at which the caller got the result.
    pub done_ms: u64,
    pub node: usize,
    pub argv: Argv,
    pub timeout_ms: u64,
    /// What the caller got.
    pub result: Result<Reply, CallError>,
}

const MAIN: usize = usize::MAX;

struct Inner {
    nodes: usize,
    reply: Box<ReplyFn>,
    latency: RefCell<Box<LatencyFn>>,
    now: Cell<u64>,
    wall_start: i64,
    wall_offset: Cell<i64>,
    rng: Cell<u64>,
    sent: RefCell<Vec<Sent>>,
    notes: RefCell<Vec<(u64, Note)>>,
    sleeps: RefCell<Vec<(u64, u64)>>,
    labels: RefCell<Vec<(String, String)>>,
    timers: RefCell<BTreeMap<(u64, u64), Waker>>,
    timer_seq: Cell<u64>,
    tasks: RefCell<BTreeMap<usize, LocalTask>>,
    aborted: RefCell<BTreeSet<usize>>,
    next_task: Cell<usize>,
    ready: Arc<Mutex<BTreeSet<usize>>>,
}

/// The scripted environment. Cheap to clone (shared state).
#[derive(Clone)]
pub struct ScriptedEnv {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for ScriptedEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedEnv")
            .field("nodes", &self.inner.nodes)
            .field("now", &self.inner.now.get())
            .field("sent", &self.inner.sent.borrow().len())
            .finish()
    }
}

/// The handle [`ScriptedEnv::spawn`] returns.
#[derive(Clone, Debug)]
pub struct ScriptedTask {
    env: ScriptedEnv,
    id: usize,
}

impl TaskHandle for ScriptedTask {
    fn abort(&self) {
        self.env.inner.aborted.borrow_mut().insert(self.id);
        let task = self.env.inner.tasks.borrow_mut().remove(&self.id);
        drop(task);
    }
}

struct TaskWaker {
    id: usize,
    ready: Arc<Mutex<BTreeSet<usize>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.lock().expect("ready set").insert(self.id);
    }
}

impl ScriptedEnv {
    /// An env with `nodes` Redis nodes, RNG `seed`, replies from `reply`,
    /// 1 ms latency per call, wall clock starting at 1 700 000 000 000.
    pub fn new(
        nodes: usize,
        seed: u64,
        reply: impl Fn(usize, &Argv, u64) -> Result<Reply, CallError> + 'static,
    ) -> ScriptedEnv {
        ScriptedEnv {
            inner: Rc::new(Inner {
                nodes,
                reply: Box::new(reply),
                latency: RefCell::new(Box::new(|_, _| 1)),
                now: Cell::new(0),
                wall_start: 1_700_000_000_000,
                wall_offset: Cell::new(0),
                rng: Cell::new(seed ^ 0x9e37_79b9_7f4a_7c15 | 1),
                sent: RefCell::new(Vec::new()),
                notes: RefCell::new(Vec::new()),
                sleeps: RefCell::new(Vec::new()),
                labels: RefCell::new(Vec::new()),
                timers: RefCell::new(BTreeMap::new()),
                timer_seq: Cell::new(0),
                tasks: RefCell::new(BTreeMap::new()),
                aborted: RefCell::new(BTreeSet::new()),
                next_task: Cell::new(0),
                ready: Arc::new(Mutex::new(BTreeSet::new())),
            }),
        }
    }

    /// Every call takes `ms` of virtual time.
    pub fn with_latency(self, ms: u64) -> ScriptedEnv {
        self.with_latency_fn(move |_, _| ms)
    }

    /// Per-call latency from a closure `(node, argv) -> ms`.
    pub fn with_latency_fn(self, f: impl Fn(usize, &Argv) -> u64 + 'static) -> ScriptedEnv {
        *self.inner.latency.borrow_mut() = Box::new(f);
        self
    }

    /// Current virtual (monotonic) time.
    pub fn now(&self) -> u64 {
        self.inner.now.get()
    }

    /// Moves the wall clock by `delta_ms` (a clock jump; monotonic time is
    /// untouched).
    pub fn jump_wall(&self, delta_ms: i64) {
        self.inner
            .wall_offset
            .set(self.inner.wall_offset.get() + delta_ms);
    }

    /// Every command sent so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.inner.sent.borrow().clone()
    }

    /// Every note so far, with the virtual time it was made.
    pub fn notes(&self) -> Vec<(u64, Note)> {
        self.inner.notes.borrow().clone()
    }

    /// Every sleep so far: `(started_at, ms)`.
    pub fn sleeps(&self) -> Vec<(u64, u64)> {
        self.inner.sleeps.borrow().clone()
    }

    /// Names a Lua source so that [`ScriptedEnv::summary`] prints
    /// `EVAL <name>` instead of the whole script (display only).
    pub fn label(&self, source: &str, name: &str) {
        self.inner
            .labels
            .borrow_mut()
            .push((source.to_string(), name.to_string()));
    }

    /// The commands sent, one line each: `"<node> <argv>"`, with labelled
    /// scripts shown as `<name>` and other scripts as `<script>`.
    pub fn summary(&self) -> Vec<String> {
        let labels = self.inner.labels.borrow();
        self.inner
            .sent
            .borrow()
            .iter()
            .map(|s| {
                let mut a = s.argv.clone();
                if a.len() > 1 && a[0].eq_ignore_ascii_case(b"EVAL") {
                    let name = labels
                        .iter()
                        .find(|(src, _)| src.as_bytes() == a[1].as_slice())
                        .map_or("script", |(_, n)| n.as_str());
                    a[1] = format!("<{name}>").into_bytes();
                }
                format!("{} {}", s.node, argv_display(&a))
            })
            .collect()
    }

    /// How many spawned tasks are still alive.
    pub fn live_tasks(&self) -> usize {
        self.inner.tasks.borrow().len()
    }

    /// Runs `fut` and every spawned task until `fut` completes.
    ///
    /// Panics if `fut` waits forever (no timer left).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = pin!(fut);
        self.inner.ready.lock().expect("ready set").insert(MAIN);
        let waker = Waker::from(Arc::new(TaskWaker {
            id: MAIN,
            ready: self.inner.ready.clone(),
        }));
        loop {
            if let Some(out) = self.poll_ready(Some((fut.as_mut(), &waker))) {
                return out;
            }
            assert!(
                self.fire_next_timer(None),
                "block_on: the future waits forever"
            );
        }
    }

    /// Runs the spawned tasks until virtual time `t` (then sets the clock
    /// to `t` if it was earlier).
    pub fn run_until(&self, t: u64) {
        loop {
            self.poll_ready::<std::future::Pending<()>>(None);
            if !self.fire_next_timer(Some(t)) {
                break;
            }
        }
        if self.now() < t {
            self.inner.now.set(t);
        }
    }

    /// Polls every ready task (and `main`) until none is ready.
    fn poll_ready<F: Future>(&self, mut main: Option<(Pin<&mut F>, &Waker)>) -> Option<F::Output> {
        loop {
            let ready = std::mem::take(&mut *self.inner.ready.lock().expect("ready set"));
            if ready.is_empty() {
                return None;
            }
            for id in ready {
                if id == MAIN {
                    if let Some((fut, waker)) = main.as_mut() {
                        if let Poll::Ready(v) = fut.as_mut().poll(&mut Context::from_waker(waker)) {
                            return Some(v);
                        }
                    }
                    continue;
                }
                let Some(mut task) = self.inner.tasks.borrow_mut().remove(&id) else {
                    continue;
                };
                let waker = Waker::from(Arc::new(TaskWaker {
                    id,
                    ready: self.inner.ready.clone(),
                }));
                let done = task
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_ready();
                if !done && !self.inner.aborted.borrow().contains(&id) {
                    self.inner.tasks.borrow_mut().insert(id, task);
                }
            }
        }
    }

    /// Advances to the earliest timer (if at or before `limit`) and wakes
    /// every timer due then. False if there was none.
    fn fire_next_timer(&self, limit: Option<u64>) -> bool {
        let next = self.inner.timers.borrow().keys().next().copied();
        let Some((t, _)) = next else { return false };
        if limit.is_some_and(|l| t > l) {
            return false;
        }
        self.inner.now.set(self.now().max(t));
        let now = self.now();
        let due: Vec<Waker> = {
            let mut timers = self.inner.timers.borrow_mut();
            let later = timers.split_off(&(now + 1, 0));
            std::mem::replace(&mut *timers, later)
                .into_values()
                .collect()
        };
        due.into_iter().for_each(Waker::wake);
        true
    }

    fn next_random(&self) -> u64 {
        let mut x = self.inner.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.inner.rng.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn wait(&self, ms: u64) -> Sleep {
        Sleep {
            env: self.clone(),
            until: self.now() + ms,
            key: None,
        }
    }
}

/// A timer on the virtual clock.
struct Sleep {
    env: ScriptedEnv,
    until: u64,
    key: Option<(u64, u64)>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.env.inner.clone();
        if inner.now.get() >= self.until {
            if let Some(k) = self.key.take() {
                inner.timers.borrow_mut().remove(&k);
            }
            return Poll::Ready(());
        }
        let key = match self.key {
            Some(k) => k,
            None => {
                let seq = inner.timer_seq.get();
                inner.timer_seq.set(seq + 1);
                (self.until, seq)
            }
        };
        self.key = Some(key);
        inner.timers.borrow_mut().insert(key, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.env.inner.timers.borrow_mut().remove(&k);
        }
    }
}

impl Env for ScriptedEnv {
    type Task = ScriptedTask;

    fn nodes(&self) -> usize {
        self.inner.nodes
    }

    fn request(
        &self,
        node: usize,
        argv: Argv,
        timeout_ms: u64,
        _grant: Option<Grant>,
    ) -> impl Future<Output = Result<Reply, CallError>> {
        let env = self.clone();
        async move {
            let at_ms = env.now();
            let reply = (env.inner.reply)(node, &argv, at_ms);
            let latency = (env.inner.latency.borrow())(node, &argv);
            let (wait, result) = match reply {
                Ok(r) if latency <= timeout_ms => (latency, Ok(r)),
                Ok(_) | Err(CallError::Timeout) => (timeout_ms, Err(CallError::Timeout)),
                Err(CallError::Unreachable) => {
                    (latency.min(timeout_ms), Err(CallError::Unreachable))
                }
            };
            let index = env.inner.sent.borrow().len();
            env.inner.sent.borrow_mut().push(Sent {
                at_ms,
                done_ms: at_ms + wait,
                node,
                argv,
                timeout_ms,
                result: result.clone(),
            });
            env.wait(wait).await;
            debug_assert_eq!(env.inner.sent.borrow()[index].done_ms, env.now());
            result
        }
    }

    fn mono_ms(&self) -> u64 {
        self.now()
    }

    fn wall_ms(&self) -> i64 {
        self.inner.wall_start + self.now() as i64 + self.inner.wall_offset.get()
    }

    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        self.inner.sleeps.borrow_mut().push((self.now(), ms));
        self.wait(ms)
    }

    fn random_u64(&self) -> u64 {
        self.next_random()
    }

    fn spawn(&self, task: LocalTask) -> ScriptedTask {
        let id = self.inner.next_task.get();
        self.inner.next_task.set(id + 1);
        self.inner.tasks.borrow_mut().insert(id, task);
        self.inner.ready.lock().expect("ready set").insert(id);
        ScriptedTask {
            env: self.clone(),
            id,
        }
    }

    fn note(&self, note: Note) {
        self.inner.notes.borrow_mut().push((self.now(), note));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::argv;

    fn pong() -> ScriptedEnv {
        ScriptedEnv::new(3, 1, |node, a, now| {
            if a[0] == b"BLACKHOLE" {
                return Err(CallError::Timeout);
            }
            Ok(Reply::Status(format!("n{node}@{now}")))
        })
    }

    #[test]
    fn calls_take_latency_and_are_recorded() {
        let env = pong().with_latency_fn(|node, _| 10 * (node as u64 + 1));
        let r = env.block_on(async {
            let a = env.call(0, argv(["PING"]), 100).await;
            let b = env.call(2, argv(["PING"]), 100).await;
            let c = env.call(2, argv(["PING"]), 20).await;
            let d = env.call(1, argv(["BLACKHOLE"]), 40).await;
            (a, b, c, d)
        });
        assert_eq!(r.0, Ok(Reply::Status("n0@0".into())));
        assert_eq!(r.1, Ok(Reply::Status("n2@10".into())));
        assert_eq!(r.2, Err(CallError::Timeout));
        assert_eq!(r.3, Err(CallError::Timeout));
        assert_eq!(env.now(), 10 + 30 + 20 + 40);
        let at: Vec<_> = env
            .sent()
            .iter()
            .map(|s| (s.at_ms, s.done_ms, s.node))
            .collect();
        assert_eq!(at, vec![(0, 10, 0), (10, 40, 2), (40, 60, 2), (60, 100, 1)]);
        assert_eq!(env.summary()[0], "0 PING");
    }

    #[test]
    fn parallel_calls_overlap_in_virtual_time() {
        let env = pong().with_latency_fn(|node, _| 5 + node as u64);
        let out = env.block_on(crate::join::join_all(
            (0..3).map(|n| env.call(n, argv(["PING"]), 50)).collect(),
        ));
        assert_eq!(out.len(), 3);
        assert_eq!(env.now(), 7);
        assert!(env.sent().iter().all(|s| s.at_ms == 0));
    }

    #[test]
    fn spawned_tasks_run_on_virtual_time_and_abort() {
        let env = pong();
        let e2 = env.clone();
        let task = env.spawn(Box::pin(async move {
            loop {
                e2.sleep(100).await;
                e2.note(Note::Renewed { ok: true });
            }
        }));
        env.run_until(350);
        assert_eq!(env.now(), 350);
        let times: Vec<u64> = env.notes().iter().map(|n| n.0).collect();
        assert_eq!(times, vec![100, 200, 300]);
        env.block_on(env.sleep(100));
        assert_eq!(env.notes().len(), 4);
        task.abort();
        assert_eq!(env.live_tasks(), 0);
        env.run_until(1000);
        assert_eq!(env.notes().len(), 4);
    }

    #[test]
    fn clocks_and_randomness_are_deterministic() {
        let a = pong();
        let b = pong();
        let xs: Vec<u64> = (0..4).map(|_| a.random_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.random_u64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.windows(2).all(|w| w[0] != w[1]));
        let w0 = a.wall_ms();
        a.block_on(a.sleep(25));
        assert_eq!(a.wall_ms(), w0 + 25);
        a.jump_wall(-1000);
        assert_eq!(a.wall_ms(), w0 - 975);
        assert_eq!(a.mono_ms(), 25);
        assert_eq!(a.sleeps(), vec![(0, 25)]);
        for _ in 0..100 {
            let r = a.random_range(200, 300);
            assert!((200..=300).contains(&r));
        }
    }

    #[test]
    #[should_panic(expected = "waits forever")]
    fn a_stuck_future_panics() {
        let env = pong();
        env.block_on(std::future::pending::<()>());
    }
}
