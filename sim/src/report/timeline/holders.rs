//! Who holds the lock key on each Redis node, over true time: a fold over
//! the history's `key-changed` events.
//!
//! Each node reports every change of its copy of the key (owner and
//! absolute expiry, with the cause), so nothing here re-derives what a
//! command or a script did. An owner (the value, or a Redisson hash's
//! field) is tied to a client by the `granted` event its acquire command
//! caused, or by the value of the client's `acquire-ok`. A value that no
//! client was granted (the `GETSET` that lost the race overwrote the
//! timestamp) leaves the key with the client that holds it.
//!
//! A hold ends when the key goes (deleted, expired, the node crashed), when
//! another client's value replaces it, or when the run ends. A key whose
//! expiry passes on the node's own clock is shown ending there even before
//! the node removes it (a replica never does): the expiry is turned into
//! true time with the node's clock as the history describes it, so a
//! forward clock jump brings the end forward.

use crate::history::{Event, EventKind, KeyCause};
use crate::model::clock::Clock;
use crate::model::{NodeRef, Role};
use std::collections::BTreeMap;

/// How a node's hold of the key ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldEnd {
    Deleted,
    Expired,
    Crashed,
    Replaced,
    RunEnded,
}

/// A node holding the lock key for a client.
#[derive(Clone, Copy, Debug)]
pub struct Hold {
    pub client: usize,
    pub from_us: u64,
    pub to_us: u64,
    pub end: HoldEnd,
    /// A replica's copy of its master's key.
    pub replica: bool,
}

#[derive(Clone, Copy, Debug)]
struct Open {
    client: usize,
    from_us: u64,
    expire_us: Option<u64>,
    replica: bool,
}

/// The holds of every Redis node, fed one event at a time.
pub struct Holders<'a> {
    /// The lock's keys (several only for Redlock on a cluster, where each
    /// node holds at most one of them).
    keys: &'a [String],
    clocks: &'a BTreeMap<NodeRef, Clock>,
    /// Which client each owner value belongs to.
    owners: BTreeMap<String, usize>,
    /// Per node: the owner `key-changed` last reported, and when.
    last: Vec<Option<(String, Option<i64>, u64)>>,
    replica: Vec<bool>,
    cur: Vec<Option<Open>>,
    holds: Vec<Vec<Hold>>,
}

impl<'a> Holders<'a> {
    pub fn new(
        keys: &'a [String],
        nodes: usize,
        replicas: impl Fn(usize) -> bool,
        clocks: &'a BTreeMap<NodeRef, Clock>,
    ) -> Self {
        Holders {
            keys,
            clocks,
            owners: BTreeMap::new(),
            last: vec![None; nodes],
            replica: (0..nodes).map(replicas).collect(),
            cur: vec![None; nodes],
            holds: vec![Vec::new(); nodes],
        }
    }

    fn expire_us(&self, node: usize, wall: Option<i64>, from_us: u64) -> Option<u64> {
        let clock = self.clocks.get(&NodeRef::Redis(node))?;
        wall.map(|w| clock.true_us_when_wall(w.saturating_add(1), from_us))
    }

    fn close(&mut self, node: usize, at_us: u64, end: HoldEnd) {
        if let Some(o) = self.cur[node].take() {
            self.holds[node].push(Hold {
                client: o.client,
                from_us: o.from_us,
                to_us: at_us.max(o.from_us),
                end,
                replica: o.replica,
            });
        }
    }

    /// Node `node` holds the key for `client` from `t` (until `wall`).
    fn hold(&mut self, node: usize, client: usize, wall: Option<i64>, t: u64) {
        let expire_us = self.expire_us(node, wall, t);
        if let Some(o) = &mut self.cur[node] {
            if o.client == client {
                o.expire_us = expire_us;
                return;
            }
        }
        self.close(node, t, HoldEnd::Replaced);
        self.cur[node] = Some(Open {
            client,
            from_us: t,
            expire_us,
            replica: self.replica[node],
        });
    }

    /// Logical expiry: a key is gone once the node's wall clock passes it.
    fn expire_until(&mut self, t_us: u64) {
        for n in 0..self.cur.len() {
            if let Some(exp) = self.cur[n].and_then(|o| o.expire_us) {
                if exp <= t_us {
                    self.close(n, exp, HoldEnd::Expired);
                }
            }
        }
    }

    /// Feeds one event (in history order).
    pub fn event(&mut self, e: &Event) {
        self.expire_until(e.t_us);
        let t = e.t_us;
        match &e.kind {
            EventKind::KeyChanged {
                node,
                key,
                owner,
                expires_ms,
                cause,
            } if self.keys.contains(key) && *node < self.cur.len() => {
                let n = *node;
                self.last[n] = owner.clone().map(|o| (o, *expires_ms, t));
                match owner {
                    None => {
                        let end = match cause {
                            KeyCause::Expiry => HoldEnd::Expired,
                            KeyCause::Crash => HoldEnd::Crashed,
                            KeyCause::Load | KeyCause::Resync => HoldEnd::Replaced,
                            KeyCause::Command | KeyCause::Replication | KeyCause::Eviction => {
                                HoldEnd::Deleted
                            }
                        };
                        self.close(n, t, end);
                    }
                    Some(o) => match self.owners.get(o) {
                        Some(&client) => self.hold(n, client, *expires_ms, t),
                        // Not (yet) anybody's: its `granted` may follow; a
                        // value nobody was granted leaves the holder be.
                        None => {
                            if let Some(c) = self.cur[n].map(|o| o.client) {
                                self.hold(n, c, *expires_ms, t);
                            }
                        }
                    },
                }
            }
            EventKind::Granted { node, client } if *node < self.cur.len() => {
                if let Some((owner, wall, since)) = self.last[*node].clone() {
                    self.owners.insert(owner, *client);
                    self.hold(*node, *client, wall, since);
                }
            }
            EventKind::AcquireOk { client, value, .. } => {
                self.owners.entry(value.clone()).or_insert(*client);
            }
            EventKind::Role { node, role } if *node < self.cur.len() => {
                self.replica[*node] = *role == Role::Replica;
            }
            _ => {}
        }
    }

    /// The holds of every node, in node order; open ones end at `end_us`.
    pub fn finish(mut self, end_us: u64) -> Vec<Vec<Hold>> {
        self.expire_until(end_us);
        for n in 0..self.cur.len() {
            self.close(n, end_us, HoldEnd::RunEnded);
        }
        self.holds
    }
}
