//! Redis Cluster's own failure detection and failover (Redis 7.0
//! `src/cluster.c`), as data and rules: what every node of the cluster
//! believes, and how those beliefs change as nodes stop hearing from each
//! other. The rules are pure ([`Cluster::step`]); `server/cluster.rs` runs
//! them on the world's events and timers and applies what they decide.
//!
//! Gossip is not sent as messages. Two nodes are **in contact** while
//! both run (up, not paused) and no partition cuts their link: exactly
//! when their cluster-bus pings and pongs would get through. What gossip
//! carries is applied at once between nodes in contact; the few
//! milliseconds a message takes are ignored next to the timeouts below.
//!
//! The rules, with the 7.0 function each follows:
//!
//! - **PFAIL** (`clusterCron`): node `i` flags `j` as possibly failing when
//!   a ping has gone unanswered for longer than `cluster_node_timeout_ms`.
//!   A node pings each peer whose last pong is older than half the
//!   timeout, so the first unanswered ping leaves up to timeout/2 after
//!   contact is lost (a dead peer's link is re-created every 100 ms and
//!   the ping is queued on it): PFAIL comes `timeout + U[0, timeout/2]`
//!   after it (drawn per pair; the extra random ping of every second,
//!   which only makes detection earlier, is not modelled). Contact again
//!   clears it.
//! - **FAIL** (`markNodeAsFailingIfNeeded`, `clusterSendFail`): `i` marks
//!   `j` failed when the masters whose failure reports about `j` reached
//!   `i` (plus `i` itself if it is a master) are a majority of the masters
//!   (`size / 2 + 1`); it broadcasts FAIL to every node in contact. A
//!   report rides on the reporter's next ping to `i`, which leaves within
//!   half a timeout: it arrives `U[0, timeout/2]` after the reporter set
//!   PFAIL (drawn per reporter and receiver). A FAIL flag is cleared on contact (`clearNodeFailureIfNeeded`)
//!   at once for a replica or a master without slots, and for a master
//!   that still serves slots only after `2 x timeout` in FAIL.
//! - **Cluster state** (`clusterUpdateState`): `fail` while some shard's
//!   master is flagged FAIL (`cluster-require-full-coverage yes`) or while
//!   the node reaches (no PFAIL/FAIL) fewer than a majority of the masters
//!   (the minority side of a partition). A master that was in the minority
//!   turns `ok` again only `clamp(timeout, 500, 5000)` ms after it last was
//!   (the rejoin delay); a restarted master waits 2000 ms before it can be
//!   `ok` (the writable delay). A node in state `fail` answers every keyed
//!   command with `CLUSTERDOWN` ([`crate::redis::cluster`]).
//! - **Election** (`clusterHandleSlaveFailover`, `clusterGetSlaveRank`):
//!   a replica whose master is FAIL and serves slots schedules an election
//!   `500 + U[0, 500) + rank x 1000` ms later, rank = how many other
//!   replicas of that master have applied more of its stream (a larger
//!   rank seen before the election adds 1000 ms per step). Unless its data
//!   is too old (disconnected from the master for more than
//!   `timeout + 10 x timeout + 10 s`, the validity factor 10 and the 10 s
//!   ping period), it then bumps `currentEpoch` and asks every node it is
//!   in contact with. A master votes (`clusterSendFailoverAuthIfNeeded`)
//!   when it serves slots, has not voted in that epoch, flags the
//!   candidate's master FAIL, has not voted for a replica of that master
//!   in the last `2 x timeout`, and knows no newer configuration of its
//!   slots. With a majority of the masters' votes the replica becomes
//!   master of the shard with the election's epoch as its configEpoch;
//!   otherwise it tries again `auth_retry_time` (`4 x max(timeout, 1000)`)
//!   after the election time.
//! - **Configuration** (`clusterUpdateSlotsConfigWith`): a node learns
//!   that a shard has a new master with a higher configEpoch from that
//!   master's pings, and a node still claiming those slots also from any
//!   node that knows better (an UPDATE message). A master that loses its
//!   slots becomes a replica of the new master (then full-resyncs from it
//!   and loses what it took alone), and so do the replicas of the old one.
//!   `currentEpoch` spreads to every node in contact.
//!
//! What survives a restart is what `nodes.conf` holds: epochs, the last
//! vote, and the node's view of who serves what. Flags, timers and the
//! cluster state start afresh (state `fail`). The first boot finds the
//! cluster formed: state `ok`, every node in contact.
//!
//! Not modelled: resharding, replica migration, manual failover, epoch
//! collisions, and a node learning of a new master other than from the
//! master itself.

use super::status::Liveness;
use crate::model::{NodeRef, RedisConfig};
use std::collections::BTreeMap;

/// Redis's `CLUSTER_WRITABLE_DELAY`.
const WRITABLE_DELAY_US: u64 = 2_000_000;
/// `cluster-replica-validity-factor` and `repl-ping-replica-period` (s).
const VALIDITY_FACTOR: u64 = 10;
const REPL_PING_PERIOD_US: u64 = 10_000_000;

/// What one node believes about another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    /// True time (µs) since when it has had no contact.
    pub lost_us: Option<u64>,
    /// When PFAIL is due if contact stays lost.
    pub pfail_due_us: u64,
    pub pfail: bool,
    /// While flagged PFAIL: per node, when this node's failure report
    /// (carried by its next ping there) reaches it.
    pub reports_us: Vec<u64>,
    /// FAIL, since this true time (µs).
    pub fail_us: Option<u64>,
}

/// A replica's failover election (`failover_auth_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Election {
    /// When to ask for votes.
    pub at_us: u64,
    pub rank: u64,
    pub sent: bool,
}

/// The state of a node's running process: gone with a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proc {
    /// A restarted master stays in state fail until then (the writable
    /// delay); 0 for the first boot.
    pub writable_us: u64,
    /// `cluster_state:ok`.
    pub ok: bool,
    /// The last time it was on the minority side (`among_minority_time`).
    pub minority_us: Option<u64>,
    pub in_minority: bool,
    /// Per other node.
    pub peers: Vec<Peer>,
    pub election: Option<Election>,
    /// Per master: when this node last voted for one of its replicas.
    pub voted_us: BTreeMap<usize, u64>,
    /// A replica: since when it has had no contact with its master.
    pub master_lost_us: Option<u64>,
}

/// One node: its `nodes.conf` and its process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    /// Per shard: the node this node believes serves it, and its configEpoch.
    pub owners: Vec<(usize, u64)>,
    /// `None`: a master.
    pub replica_of: Option<usize>,
    pub proc: Option<Proc>,
}

/// Something a step decided, for the history and for the nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `node` flagged `failed` FAIL (quorum reached there).
    MarkedFail { node: usize, failed: usize },
    /// `node`'s cluster state became ok or fail.
    State { node: usize, ok: bool },
    /// `node` asked for votes in `epoch` and got `votes` of `needed`.
    Election {
        node: usize,
        epoch: u64,
        votes: usize,
        needed: usize,
    },
    /// `node` won and replaced `old_master`.
    Promoted { node: usize, old_master: usize },
    /// `node` is now a replica of `of` (or a master: `None`).
    Role { node: usize, of: Option<usize> },
}

/// What a step needs from the world.
pub struct StepEnv<'a> {
    pub now_us: u64,
    pub liveness: &'a Liveness,
    /// Per node: the replication offset it has applied (ranks replicas).
    pub offsets: &'a [Option<u64>],
    /// A uniform draw in `0..n`.
    pub rand: &'a mut dyn FnMut(u64) -> u64,
}

/// Every node's beliefs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub shards: usize,
    /// Per node: its shard (the layout never changes).
    pub shard_of: Vec<usize>,
    pub timeout_us: u64,
    pub nodes: Vec<Node>,
    /// Bumped whenever a node's answers may change (owners, state).
    pub version: u64,
}

impl Cluster {
    /// A formed cluster: shard `s` served by `redis-<s>` at configEpoch
    /// `s + 1` (`redis-cli --cluster create` gives each node its own),
    /// every node in contact, state ok.
    pub fn new(r: &RedisConfig) -> Cluster {
        let n = r.nodes;
        let owners: Vec<(usize, u64)> = (0..r.shards).map(|s| (s, s as u64 + 1)).collect();
        let nodes = (0..n)
            .map(|i| Node {
                current_epoch: r.shards as u64,
                last_vote_epoch: 0,
                owners: owners.clone(),
                replica_of: (i >= r.shards).then(|| r.shard_of(i)),
                proc: Some(Proc::new(0, n, true)),
            })
            .collect();
        Cluster {
            shards: r.shards,
            shard_of: (0..n).map(|i| r.shard_of(i)).collect(),
            timeout_us: r.cluster_node_timeout_ms * 1000,
            nodes,
            version: 0,
        }
    }

    /// Majority of the masters (`size / 2 + 1`; every shard has one).
    pub fn quorum(&self) -> usize {
        self.shards / 2 + 1
    }

    /// Whether `i` claims a shard (a master in its own view).
    pub fn is_master(&self, i: usize) -> bool {
        self.nodes[i].replica_of.is_none()
    }

    /// Whether `j` serves slots in `i`'s view.
    fn serves_in_view_of(&self, i: usize, j: usize) -> bool {
        self.nodes[i].owners[self.shard_of[j]].0 == j
    }

    fn peer(&self, i: usize, j: usize) -> &Peer {
        &self.nodes[i].proc.as_ref().expect("running").peers[j]
    }

    fn proc_mut(&mut self, i: usize) -> &mut Proc {
        self.nodes[i].proc.as_mut().expect("running")
    }

    /// Whether the node's process runs (and has cluster state).
    fn runs(&self, l: &Liveness, i: usize) -> bool {
        self.nodes[i].proc.is_some() && l.runs(NodeRef::Redis(i))
    }

    fn contact(&self, l: &Liveness, i: usize, j: usize) -> bool {
        i != j
            && self.runs(l, i)
            && self.runs(l, j)
            && l.linked(NodeRef::Redis(i), NodeRef::Redis(j))
    }

    /// The node's process crashed: its flags, timers and state are gone.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].proc = None;
        self.version += 1;
    }

    /// The nodes flagged FAIL in `i`'s view.
    pub fn failed_in_view_of(&self, i: usize, j: usize) -> bool {
        self.nodes[i]
            .proc
            .as_ref()
            .is_some_and(|p| p.peers[j].fail_us.is_some())
    }

    /// `i`'s cluster state (`false` while its process is down).
    pub fn ok(&self, i: usize) -> bool {
        self.nodes[i].proc.as_ref().is_some_and(|p| p.ok)
    }

    /// Applies the rules at `env.now_us` until nothing changes. Returns
    /// what changed and the true time (µs) of the next timer, if any.
    pub fn step(&mut self, env: &mut StepEnv) -> (Vec<Change>, Option<u64>) {
        let mut changes = Vec::new();
        let mut due = Due(None);
        for i in 0..self.nodes.len() {
            if self.nodes[i].proc.is_none() && env.liveness.is_up(NodeRef::Redis(i)) {
                self.nodes[i].proc = Some(Proc::new(env.now_us, self.nodes.len(), false));
                self.version += 1;
            }
        }
        for _ in 0..4 * self.nodes.len() + 4 {
            due = Due(None);
            let before = changes.len();
            let mut dirty = self.contacts(env, &mut due);
            dirty |= self.gossip(env, &mut changes);
            self.mark_failures(env, &mut changes, &mut due);
            self.update_states(env, &mut changes, &mut due);
            self.elections(env, &mut changes, &mut due);
            if changes.len() == before && !dirty {
                break;
            }
        }
        if !changes.is_empty() {
            self.version += 1;
        }
        (changes, due.0)
    }

    /// PFAIL flags from contact and its loss; FAIL flags cleared on contact.
    fn contacts(&mut self, env: &mut StepEnv, due: &mut Due) -> bool {
        let (now, l, timeout) = (env.now_us, env.liveness, self.timeout_us);
        let n = self.nodes.len();
        let mut dirty = false;
        for i in 0..self.nodes.len() {
            if !self.runs(l, i) {
                continue;
            }
            for j in 0..self.nodes.len() {
                if j == i {
                    continue;
                }
                let contact = self.contact(l, i, j);
                let serves = self.serves_in_view_of(i, j);
                let p = &mut self.proc_mut(i).peers[j];
                if contact {
                    if p.lost_us.take().is_some() || p.pfail {
                        p.pfail = false;
                        dirty = true;
                    }
                    if let Some(since) = p.fail_us {
                        if !serves || now > since + 2 * timeout {
                            p.fail_us = None;
                            dirty = true;
                        } else {
                            due.at(since + 2 * timeout + 1);
                        }
                    }
                    continue;
                }
                if p.lost_us.is_none() {
                    p.lost_us = Some(now);
                    p.pfail_due_us = now + timeout + (env.rand)(timeout / 2 + 1);
                }
                if !p.pfail && p.fail_us.is_none() {
                    if now >= p.pfail_due_us {
                        p.pfail = true;
                        dirty = true;
                        p.reports_us = (0..n).map(|_| now + (env.rand)(timeout / 2 + 1)).collect();
                    } else {
                        due.at(p.pfail_due_us);
                    }
                }
            }
            let master = self.nodes[i].replica_of;
            let reach = master.is_some_and(|m| self.contact(l, i, m));
            let p = self.proc_mut(i);
            if master.is_none() || reach {
                p.master_lost_us = None;
            } else if p.master_lost_us.is_none() {
                p.master_lost_us = Some(now);
            }
        }
        dirty
    }

    /// Epochs and configurations between nodes in contact.
    fn gossip(&mut self, env: &mut StepEnv, changes: &mut Vec<Change>) -> bool {
        let l = env.liveness;
        let n = self.nodes.len();
        let mut dirty = false;
        for i in 0..n {
            for j in 0..n {
                if !self.contact(l, i, j) {
                    continue;
                }
                let ce = self.nodes[j].current_epoch;
                if self.nodes[i].current_epoch < ce {
                    self.nodes[i].current_epoch = ce;
                    dirty = true;
                }
                // j's pings carry its own claim.
                let sj = self.shard_of[j];
                let (owner, epoch) = self.nodes[j].owners[sj];
                if owner == j && self.nodes[i].owners[sj].1 < epoch {
                    self.adopt(i, sj, j, epoch, changes);
                }
                // An UPDATE for a stale claim of i's.
                let si = self.shard_of[i];
                let mine = self.nodes[i].owners[si];
                let known = self.nodes[j].owners[si];
                if mine.0 == i && known.1 > mine.1 {
                    self.adopt(i, si, known.0, known.1, changes);
                }
            }
        }
        dirty
    }

    /// `i` learns that `owner` serves shard `s` at `epoch`.
    fn adopt(&mut self, i: usize, s: usize, owner: usize, epoch: u64, changes: &mut Vec<Change>) {
        if owner == i {
            return;
        }
        self.version += 1;
        let node = &mut self.nodes[i];
        let old = node.owners[s].0;
        node.owners[s] = (owner, epoch);
        let follows_old = node.replica_of == Some(old);
        if old == i || follows_old {
            node.replica_of = Some(owner);
            if let Some(p) = node.proc.as_mut() {
                p.election = None;
                p.master_lost_us = None;
            }
            changes.push(Change::Role {
                node: i,
                of: Some(owner),
            });
        }
    }

    /// Quorum of failure reports turns PFAIL into FAIL, broadcast.
    fn mark_failures(&mut self, env: &mut StepEnv, changes: &mut Vec<Change>, due: &mut Due) {
        let (l, now, n) = (env.liveness, env.now_us, self.nodes.len());
        for i in 0..n {
            if !self.runs(l, i) {
                continue;
            }
            for j in 0..n {
                let p = self.peer(i, j);
                if j == i || !p.pfail || p.fail_us.is_some() {
                    continue;
                }
                let reports = (0..self.shards)
                    .map(|s| self.nodes[i].owners[s].0)
                    .filter(|&m| m != j)
                    .filter(|&m| {
                        m == i
                            || (self.contact(l, i, m) && {
                                let q = self.peer(m, j);
                                let arrives = q.reports_us.get(i).copied().unwrap_or(0);
                                if q.pfail && now < arrives {
                                    due.at(arrives);
                                }
                                q.fail_us.is_some() || (q.pfail && now >= arrives)
                            })
                    })
                    .count();
                if reports < self.quorum() {
                    continue;
                }
                changes.push(Change::MarkedFail { node: i, failed: j });
                for k in 0..n {
                    if k != j && (k == i || self.contact(l, i, k)) {
                        let q = &mut self.proc_mut(k).peers[j];
                        if q.fail_us.is_none() {
                            q.fail_us = Some(now);
                            q.pfail = false;
                        }
                    }
                }
            }
        }
    }

    /// `clusterUpdateState` for every running node.
    fn update_states(&mut self, env: &mut StepEnv, changes: &mut Vec<Change>, due: &mut Due) {
        let (l, now) = (env.liveness, env.now_us);
        let rejoin_us = self.timeout_us.clamp(500_000, 5_000_000);
        for i in 0..self.nodes.len() {
            if !self.runs(l, i) {
                continue;
            }
            let owners: Vec<usize> = self.nodes[i].owners.iter().map(|o| o.0).collect();
            let covered = owners
                .iter()
                .all(|&o| o == i || self.peer(i, o).fail_us.is_none());
            let reachable = owners
                .iter()
                .filter(|&&o| {
                    o == i || {
                        let p = self.peer(i, o);
                        !p.pfail && p.fail_us.is_none()
                    }
                })
                .count();
            let minority = reachable < self.quorum();
            let master = self.is_master(i);
            let p = self.proc_mut(i);
            if minority || p.in_minority {
                p.minority_us = Some(now);
            }
            p.in_minority = minority;
            let want = covered && !minority;
            if want == p.ok {
                continue;
            }
            if master && !p.ok && now < p.writable_us {
                due.at(p.writable_us);
                continue;
            }
            if want && master {
                if let Some(t) = p.minority_us.filter(|&t| now < t + rejoin_us) {
                    due.at(t + rejoin_us);
                    continue;
                }
            }
            p.ok = want;
            changes.push(Change::State { node: i, ok: want });
        }
    }
}

impl Proc {
    /// A process booted at `boot_us`: a first boot finds the cluster
    /// formed (ok); a restart starts in state fail.
    fn new(boot_us: u64, nodes: usize, formed: bool) -> Proc {
        Proc {
            writable_us: if formed {
                0
            } else {
                boot_us + WRITABLE_DELAY_US
            },
            ok: formed,
            minority_us: None,
            in_minority: false,
            peers: vec![Peer::default(); nodes],
            election: None,
            voted_us: BTreeMap::new(),
            master_lost_us: None,
        }
    }
}

/// The earliest of some true times.
struct Due(Option<u64>);

impl Due {
    fn at(&mut self, t: u64) {
        self.0 = Some(self.0.map_or(t, |d| d.min(t)));
    }
}

mod election;
#[cfg(test)]
mod tests;
