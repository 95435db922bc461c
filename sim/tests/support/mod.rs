//! A small harness for the persistence and replication tests: the real
//! Redis server processes, the real world, faults and Sentinel, driven by
//! a test client that sends raw commands (no lock algorithm in the way);
//! and, in [`real`], real redis-server processes (a master and its
//! replica) for the differential tests that compare the two.

#![allow(dead_code)]

pub mod real;
pub mod real_mem;

use locksim::history::{DiskOp, Event, EventKind};
use locksim::model::clock::Clock;
use locksim::model::{Fault, NodeRef, Persistence, Scenario, Span, Topology, Verdict};
use locksim::world::core::World;
use locksim::world::fault;
use locksim::world::net::{addr_of, call, ip_of, Body, Request, Response};
use locksim::world::server as node;
use locksim::world::server::{cluster, sentinel};
use locksim_models::{Algorithm, Reply};
use madsim::net::Endpoint;
use madsim::runtime::{Handle, Runtime};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// A scenario with `nodes` Redis nodes in `topology`, one client, exact
/// 1 ms network latency and no faults.
pub fn scenario(topology: Topology, nodes: usize, persistence: Persistence) -> Scenario {
    let mut s = Scenario::with_defaults("harness", Verdict::Safe, Algorithm::SetNxPx);
    s.redis.topology = topology;
    s.redis.nodes = nodes;
    s.redis.persistence = persistence;
    s.clients.count = 1;
    s.network.latency_ms = Span::new(1, 1);
    s.duration_ms = 600_000;
    s
}

/// The test client's handle on the world.
pub struct Sim {
    pub world: Arc<World>,
    ep: Endpoint,
}

impl Sim {
    /// Sends a command to `redis-<node>` and waits up to 2 s for the reply.
    pub async fn cmd(&self, node: usize, args: &[&str]) -> Option<Reply> {
        let req = Request {
            id: self.world.next_id(),
            client: 0,
            body: Body::Redis {
                argv: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
                grant: None,
            },
        };
        match call(
            &self.ep,
            addr_of(NodeRef::Redis(node)),
            req,
            Duration::from_secs(2),
        )
        .await
        {
            Some(Response::Redis(r)) => Some(r),
            _ => None,
        }
    }

    /// Like [`Sim::cmd`], but panics without a reply.
    pub async fn ok(&self, node: usize, args: &[&str]) -> Reply {
        self.cmd(node, args)
            .await
            .unwrap_or_else(|| panic!("no reply from redis-{node} to {args:?}"))
    }

    /// `GET key` on `node`: the value, if any.
    pub async fn get(&self, node: usize, key: &str) -> Option<String> {
        match self.ok(node, &["GET", key]).await {
            Reply::Bulk(Some(v)) => Some(String::from_utf8(v).expect("utf8")),
            Reply::Bulk(None) => None,
            other => panic!("GET {key} on redis-{node}: {other:?}"),
        }
    }

    /// Injects a fault now.
    pub fn fault(&self, f: Fault) {
        fault::inject(&self.world, &f, None);
    }

    pub async fn sleep(&self, ms: u64) {
        madsim::time::sleep(Duration::from_millis(ms)).await;
    }

    /// True time now, ms.
    pub fn now_ms(&self) -> u64 {
        self.world.now_us() / 1000
    }

    /// The master the client sees (sentinel topology).
    pub fn master(&self) -> usize {
        self.world.topo(|t| t.client_master[0])
    }

    /// A copy of the history so far.
    pub fn history(&self) -> Vec<Event> {
        self.world.events()
    }

    /// Every `Disk` event of kind `what` (`load`, `fsync`, `snapshot`,
    /// `lost`, `resync-stored`) on `node`.
    pub fn disk_events(&self, node: usize, what: &str) -> Vec<(u64, DiskOp)> {
        self.history()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::Disk { node: n, op }
                    if n == node && serde_json::to_value(&op).unwrap()["op"] == what =>
                {
                    Some((e.t_us, op))
                }
                _ => None,
            })
            .collect()
    }
}

/// Runs `body` as the test client of a fresh world built from `s`.
pub fn simulate<F, Fut>(s: Scenario, seed: u64, body: F)
where
    F: FnOnce(Sim) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let mut config = madsim::Config::default();
    let lat = s.network.latency_ms;
    config.net.send_latency =
        Duration::from_millis(lat.lo)..Duration::from_millis(lat.hi) + Duration::from_micros(1);
    let rt = Runtime::with_seed_and_config(seed, config);
    rt.block_on(async move {
        let clocks = s
            .node_refs()
            .into_iter()
            .map(|n| (n, Clock::new(0, 0.0)))
            .collect();
        let world = Arc::new(World::new(s, seed, clocks));
        let handle = Handle::current();
        let nemesis = handle
            .create_node()
            .name("nemesis")
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 9, 1)))
            .build();
        world.set_nemesis(nemesis);
        for i in 0..world.scenario().redis.nodes {
            let w = world.clone();
            let h = handle
                .create_node()
                .name(format!("redis-{i}"))
                .ip(ip_of(NodeRef::Redis(i)))
                .init(move || node::redis_process(w.clone(), i))
                .build();
            world.set_node_id(NodeRef::Redis(i), h.id());
        }
        let me = NodeRef::Client(0);
        let done = Arc::new(Notify::new());
        let cell = Arc::new(Mutex::new(Some(body)));
        let (w, d) = (world.clone(), done.clone());
        let client = handle
            .create_node()
            .name("client-0")
            .ip(ip_of(me))
            .init(move || {
                let body = cell.lock().expect("body").take();
                let (w, d) = (w.clone(), d.clone());
                async move {
                    if let Some(body) = body {
                        let ep = Endpoint::bind(addr_of(me)).await.expect("bind");
                        body(Sim { world: w, ep }).await;
                        d.notify_one();
                    }
                    std::future::pending::<()>().await;
                }
            })
            .build();
        world.set_node_id(me, client.id());
        sentinel::start(&world);
        cluster::start(&world);
        done.notified().await;
        for id in world.node_ids() {
            handle.kill(id);
        }
        if let Some(n) = world.take_nemesis() {
            handle.kill(n.id());
        }
        madsim::time::sleep(Duration::from_millis(1)).await;
    });
}

/// A bulk reply's text.
pub fn bulk(r: &Reply) -> Option<String> {
    match r {
        Reply::Bulk(Some(v)) => Some(String::from_utf8_lossy(v).into_owned()),
        _ => None,
    }
}
