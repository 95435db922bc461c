//! The replication topology as the world knows it: the role Sentinel (or
//! the cluster's own failover) gave each Redis node (kept outside the
//! node, like the config file Sentinel rewrites, so it survives a
//! restart), the offset each replica reports, and the master each client
//! believes in.

use crate::model::RedisConfig;
use std::sync::Arc;
use tokio::sync::Notify;

/// What Sentinel told a node to be. Kept in the world: it survives
/// restarts like the rewritten config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conf {
    Master,
    Replica { of: usize },
}

/// The world's view of the replication topology.
#[derive(Debug, Default)]
pub struct Topo {
    /// The Redis node clients of a `single` or `sentinel` topology talk to.
    pub master: usize,
    /// Per Redis node: its configured role.
    pub conf: Vec<Conf>,
    /// Per Redis node: the offset a linked replica has applied (`None`:
    /// not linked to a master, or not a replica).
    pub offsets: Vec<Option<u64>>,
    /// Per Redis node: wakes its process when `conf` changes.
    pub control: Vec<Arc<Notify>>,
    /// Per client: the master it sends commands to.
    pub client_master: Vec<usize>,
    /// Replication ids handed out so far.
    pub next_run: u64,
    /// Per Redis master: replicas whose process was killed, with the true
    /// time (µs) of the kill: the closed links it has yet to notice.
    pub closed: Vec<Vec<(usize, u64)>>,
}

impl Topo {
    /// `redis-0` master, the rest its replicas (every node a master outside
    /// the sentinel topology).
    pub fn new(nodes: usize, clients: usize, sentinel: bool) -> Topo {
        let conf = (0..nodes)
            .map(|i| match (sentinel, i) {
                (true, i) if i > 0 => Conf::Replica { of: 0 },
                _ => Conf::Master,
            })
            .collect();
        Topo {
            master: 0,
            conf,
            offsets: vec![None; nodes],
            control: (0..nodes).map(|_| Arc::new(Notify::new())).collect(),
            client_master: vec![0; clients],
            next_run: 0,
            closed: vec![Vec::new(); nodes],
        }
    }

    /// Redis Cluster's layout: shard `s`'s master `redis-<s>`, its
    /// replicas after the masters (see [`RedisConfig::shard_nodes`]).
    pub fn cluster(r: &RedisConfig, clients: usize) -> Topo {
        let mut t = Topo::new(r.nodes, clients, false);
        for i in r.shards..r.nodes {
            t.conf[i] = Conf::Replica { of: r.shard_of(i) };
        }
        t
    }
}
