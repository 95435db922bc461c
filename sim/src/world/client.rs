//! A lock client process: the algorithm under test, driven through its
//! cycles, and the [`Env`] it sees.
//!
//! Each client runs `cycles` times: acquire (the algorithm, with its own
//! retries; when it gives up, wait `retry_delay_ms` and start again), a
//! critical section of `work_ms` in which it sends `begin`, `writes` writes
//! and `end` to the resource, each carrying its fencing token if it has
//! one, then release. The client's progress lives in the world, so a client
//! that crashes and restarts carries on with the cycles it has left.

use crate::history::{CallEnd, EventKind};
use crate::model::ResourceOp;
use crate::model::WriteOutcome;
use crate::model::{NodeRef, Scenario, Topology};
use crate::redis::cluster::{parse_moved, parse_slots_reply};
use crate::world::core::World;
use crate::world::net::{addr_of, call, redis_at, Body, Request, Response};
use crate::world::slotmap::SlotMap;
use locksim_models::dynlock::BoxLock;
use locksim_models::{
    argv, AcquireError, AnyLock, Argv, CallError, Deadline, Env, Grant, Lease, LocalTask,
    LockAlgorithm, Note, ReleaseOutcome, Reply, TaskHandle,
};
use madsim::net::Endpoint;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

/// The environment of one simulated client.
#[derive(Clone)]
pub struct SimEnv {
    world: Arc<World>,
    client: usize,
    ep: Rc<Endpoint>,
    /// Per logical endpoint, the Redis node its last call went to: what
    /// a lease's endpoints were, physically.
    last_target: Rc<RefCell<Vec<usize>>>,
    /// Raised by [`Note::Aborted`] (the lease could not be extended);
    /// lowered at each acquire.
    aborted: Rc<std::cell::Cell<bool>>,
    /// Redis Cluster: the client's slot map.
    slots: Option<Rc<RefCell<SlotMap>>>,
}

/// How many `MOVED` redirects one command follows (redis-py's
/// `RedisClusterRequestTTL`).
const MAX_REDIRECTS: usize = 16;

/// A background task of a simulated client.
pub struct SimTask(madsim::task::JoinHandle<()>);

impl TaskHandle for SimTask {
    fn abort(&self) {
        self.0.abort();
    }
}

impl SimEnv {
    fn me(&self) -> NodeRef {
        NodeRef::Client(self.client)
    }

    /// The Redis node a logical endpoint maps to: itself for independent
    /// masters, `redis-0` for a single node, and under Sentinel the master
    /// this client last learned of (see [`crate::world::server::sentinel`]).
    fn redis_target(&self, node: usize) -> usize {
        match self.world.scenario().redis.topology {
            Topology::Independent => node,
            Topology::Single => self.world.topo(|t| t.master),
            Topology::Sentinel => self.world.topo(|t| t.client_master[self.client]),
            Topology::Cluster => unreachable!("cluster clients route by slot"),
        }
    }

    /// The Redis nodes behind a lease's logical endpoints.
    fn physical(&self, endpoints: &[usize]) -> Vec<usize> {
        let last = self.last_target.borrow();
        endpoints
            .iter()
            .map(|&e| last.get(e).copied().unwrap_or(e))
            .collect()
    }

    /// Sends `argv` to `redis-<node_idx>` and waits up to `timeout` of
    /// true time, recording the call.
    async fn send(
        &self,
        node_idx: usize,
        argv: Argv,
        timeout: std::time::Duration,
        grant: Option<Grant>,
    ) -> Result<Reply, CallError> {
        let id = self.world.next_id();
        self.world.record(
            Some(self.me()),
            EventKind::CallInvoke {
                client: self.client,
                node: node_idx,
                id,
                cmd: argv.clone(),
            },
        );
        let req = Request {
            id,
            client: self.client,
            body: Body::Redis { argv, grant },
        };
        let got = call(&self.ep, addr_of(NodeRef::Redis(node_idx)), req, timeout).await;
        let (end, result) = match got {
            Some(Response::Redis(r)) => (CallEnd::Ok { reply: r.clone() }, Ok(r)),
            _ => (CallEnd::Timeout, Err(CallError::Timeout)),
        };
        self.world.record(
            Some(self.me()),
            EventKind::CallDone {
                client: self.client,
                node: node_idx,
                id,
                end,
            },
        );
        result
    }

    /// A command on Redis Cluster (see [`crate::world::slotmap`]): refresh
    /// a stale slot map, send to the node of the command's slot, follow
    /// `MOVED` within the call's timeout.
    async fn cluster_request(
        &self,
        map: &RefCell<SlotMap>,
        endpoint: usize,
        argv: Argv,
        timeout_ms: u64,
        grant: Option<Grant>,
    ) -> Result<Reply, CallError> {
        if map.borrow().stale {
            self.refresh_slots(map, timeout_ms).await;
        }
        let deadline_ms = self.mono_ms() + timeout_ms;
        let mut target = map.borrow().node_for(&argv);
        let mut hops = 0;
        loop {
            map.borrow_mut().last = target;
            if let Some(slot) = self.last_target.borrow_mut().get_mut(endpoint) {
                *slot = target;
            }
            let left_ms = deadline_ms.saturating_sub(self.mono_ms()).max(1);
            let timeout = self.world.true_duration(self.me(), left_ms);
            let reply = match self.send(target, argv.clone(), timeout, grant).await {
                Ok(r) => r,
                Err(e) => {
                    let mut m = map.borrow_mut();
                    m.stale = true;
                    m.failed = Some(target);
                    return Err(e);
                }
            };
            let Reply::Error(text) = &reply else {
                return Ok(reply);
            };
            if text.starts_with("CLUSTERDOWN") {
                map.borrow_mut().stale = true;
                return Ok(reply);
            }
            let moved = parse_moved(text).and_then(|(slot, addr)| Some((slot, redis_at(addr)?)));
            let Some((slot, to)) = moved else {
                return Ok(reply);
            };
            hops += 1;
            if hops >= MAX_REDIRECTS {
                return Ok(reply);
            }
            if map.borrow_mut().moved(slot, to) {
                self.world.record(
                    Some(self.me()),
                    EventKind::Redirected {
                        client: self.client,
                        master: to,
                    },
                );
            }
            target = to;
        }
    }

    /// Asks the nodes for `CLUSTER SLOTS` until one answers, and takes its
    /// answer as the slot map.
    async fn refresh_slots(&self, map: &RefCell<SlotMap>, timeout_ms: u64) {
        let order = map.borrow().refresh_order();
        for n in order {
            let timeout = self.world.true_duration(self.me(), timeout_ms);
            let Ok(reply) = self
                .send(n, argv(["CLUSTER", "SLOTS"]), timeout, None)
                .await
            else {
                continue;
            };
            let Some(entries) = parse_slots_reply(&reply) else {
                continue;
            };
            let entries: Vec<(u16, u16, usize)> = entries
                .into_iter()
                .filter_map(|(a, b, addr)| Some((a, b, redis_at(&addr)?)))
                .collect();
            let changed = map.borrow_mut().load(&entries);
            for master in changed {
                self.world.record(
                    Some(self.me()),
                    EventKind::Redirected {
                        client: self.client,
                        master,
                    },
                );
            }
            return;
        }
    }

    /// A resource operation; `None` if it got no answer in time.
    async fn resource(
        &self,
        op: ResourceOp,
        session: u64,
        token: Option<i64>,
    ) -> Option<WriteOutcome> {
        let req = Request {
            id: self.world.next_id(),
            client: self.client,
            body: Body::Resource { op, session, token },
        };
        let timeout = self.world.true_duration(self.me(), 1000);
        match call(&self.ep, addr_of(NodeRef::Resource), req, timeout).await {
            Some(Response::Resource(o)) => Some(o),
            _ => None,
        }
    }
}

impl Env for SimEnv {
    type Task = SimTask;

    fn replicas(&self, node: usize) -> usize {
        let master = match self.slots {
            // The shard master the endpoint's last command went to (a
            // `WAIT` follows the write it waits for to that node).
            Some(_) => self.physical(&[node])[0],
            None => self.redis_target(node),
        };
        self.world.topo(|t| {
            t.conf
                .iter()
                .filter(|c| matches!(c, crate::world::topo::Conf::Replica { of } if *of == master))
                .count()
        })
    }

    fn shared_token(&self) -> Option<locksim_models::env::SharedSlot> {
        Some(self.world.shared_token())
    }

    fn nodes(&self) -> usize {
        let s = self.world.scenario();
        match s.redis.topology {
            Topology::Independent => s.redis.nodes,
            Topology::Cluster if !s.lock.keys.is_empty() => s.lock.keys.len(),
            Topology::Single | Topology::Sentinel | Topology::Cluster => 1,
        }
    }

    fn client_retries(&self) -> u32 {
        self.world.scenario().lock.client_retries
    }

    async fn request(
        &self,
        node: usize,
        argv: Argv,
        timeout_ms: u64,
        grant: Option<Grant>,
    ) -> Result<Reply, CallError> {
        if let Some(map) = &self.slots {
            return self
                .cluster_request(map, node, argv, timeout_ms, grant)
                .await;
        }
        let node_idx = self.redis_target(node);
        if let Some(slot) = self.last_target.borrow_mut().get_mut(node) {
            *slot = node_idx;
        }
        let timeout = self.world.true_duration(self.me(), timeout_ms);
        self.send(node_idx, argv, timeout, grant).await
    }

    fn mono_ms(&self) -> u64 {
        self.world.mono_ms(self.me())
    }

    fn wall_ms(&self) -> i64 {
        self.world.wall_ms(self.me())
    }

    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        let world = self.world.clone();
        let me = self.me();
        async move { world.sleep_local(me, ms).await }
    }

    fn random_u64(&self) -> u64 {
        madsim::rand::random()
    }

    fn spawn(&self, task: LocalTask) -> SimTask {
        SimTask(madsim::task::spawn_local(task))
    }

    fn note(&self, note: Note) {
        if note == Note::Aborted {
            self.aborted.set(true);
        }
        self.world
            .record(Some(self.me()), EventKind::from_note(self.client, note));
    }
}

/// Whether `deadline` has passed on this client's clocks.
fn deadline_passed(env: &SimEnv, deadline: Deadline) -> bool {
    match deadline {
        Deadline::Mono(d) => env.mono_ms() >= d,
        Deadline::Wall(d) => env.wall_ms() >= d,
    }
}

/// The process of `client-<client>`: the init task of its madsim node.
pub async fn client_process(world: Arc<World>, client: usize) {
    let me = NodeRef::Client(client);
    world.boot(me);
    let ep = Rc::new(
        Endpoint::bind(addr_of(me))
            .await
            .expect("client binds its port"),
    );
    let endpoints = (0..world.scenario().redis.nodes).collect();
    let r = &world.scenario().redis;
    let slots = (r.topology == Topology::Cluster).then(|| {
        let keys = world.scenario().lock_keys();
        Rc::new(RefCell::new(SlotMap::new(r, &keys)))
    });
    let env = SimEnv {
        world: world.clone(),
        client,
        ep,
        last_target: Rc::new(RefCell::new(endpoints)),
        aborted: Rc::new(std::cell::Cell::new(false)),
        slots,
    };
    let cfg = world.scenario().lock.clone();
    let clients = &world.scenario().clients;
    let mut lock = ClientLock::new(world.scenario());
    loop {
        let cycle = world.progress(client);
        if cycle >= clients.cycles {
            break;
        }
        world.record(Some(me), EventKind::AcquireInvoke { client, cycle });
        env.aborted.set(false);
        let lease = match lock.acquire(&env).await {
            Ok(lease) => lease,
            Err(e) => {
                let reason = match e {
                    AcquireError::Busy => "busy".to_string(),
                    AcquireError::Refused(r) => r,
                };
                world.record(Some(me), EventKind::AcquireFail { client, reason });
                env.sleep(cfg.retry_delay_ms).await;
                continue;
            }
        };
        if cfg.validity_check && lease.deadline.is_some_and(|d| deadline_passed(&env, d)) {
            world.record(Some(me), EventKind::AcquireLate { client });
            let outcome = lock.release(&env, &lease).await;
            world.record(Some(me), EventKind::ReleaseDone { client, outcome });
            env.sleep(cfg.retry_delay_ms).await;
            continue;
        }
        world.record(
            Some(me),
            EventKind::AcquireOk {
                client,
                cycle,
                value: String::from_utf8_lossy(&lease.value).into_owned(),
                token: lease.fencing_token,
                deadline: lease.deadline,
                nodes: env.physical(&lease.nodes),
            },
        );
        critical_section(&env, &lease).await;
        world.record(Some(me), EventKind::ReleaseInvoke { client });
        let outcome = lock.release(&env, &lease).await;
        world.record(Some(me), EventKind::ReleaseDone { client, outcome });
        world.cycle_done(client);
        let think_ms = env.random_range(clients.think_ms.lo, clients.think_ms.hi);
        env.sleep(think_ms).await;
    }
    world.record(Some(me), EventKind::ClientDone { client });
    world.client_finished(client);
    std::future::pending::<()>().await;
}

/// The lock a client runs: the scenario's built-in algorithm, or its
/// custom lock ([`crate::model::custom`]), boxed. One per client, made
/// once and never moved: the size of the built-in variant does not matter.
#[allow(clippy::large_enum_variant)]
enum ClientLock {
    Builtin(AnyLock),
    Custom(BoxLock),
}

impl ClientLock {
    fn new(s: &Scenario) -> ClientLock {
        match &s.custom_lock {
            Some(c) => ClientLock::Custom(c.build(&s.lock).unwrap_or_else(|why| {
                panic!(
                    "custom lock {:?} refuses this [lock] table: {why}",
                    c.name()
                )
            })),
            None => ClientLock::Builtin(
                AnyLock::new(s.lock.clone()).expect("the parser admits only built algorithms"),
            ),
        }
    }

    async fn acquire(&mut self, env: &SimEnv) -> Result<Lease, AcquireError> {
        match self {
            ClientLock::Builtin(l) => l.acquire(env).await,
            ClientLock::Custom(l) => l.acquire(env).await,
        }
    }

    async fn release(&mut self, env: &SimEnv, lease: &Lease) -> ReleaseOutcome {
        match self {
            ClientLock::Builtin(l) => l.release(env, lease).await,
            ClientLock::Custom(l) => l.release(env, lease).await,
        }
    }
}

/// `begin`, `writes` writes spread over the work time, `end`.
async fn critical_section(env: &SimEnv, lease: &Lease) {
    let clients = &env.world.scenario().clients;
    let session = env.world.next_session();
    let work_ms = env.random_range(clients.work_ms.lo, clients.work_ms.hi);
    let token = lease.fencing_token;
    env.resource(ResourceOp::Begin, session, token).await;
    let step_ms = work_ms / u64::from(clients.writes.max(1));
    let checks_abort = env.world.scenario().lock.checks_abort;
    for _ in 0..clients.writes {
        env.sleep(step_ms).await;
        if checks_abort && env.aborted.get() {
            // The routine reads `signal.aborted` and gives up its work.
            break;
        }
        env.resource(ResourceOp::Write, session, token).await;
    }
    env.resource(ResourceOp::End, session, token).await;
}
