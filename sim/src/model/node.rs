//! Who is who: the nodes of a world by their scenario names, and the role
//! a Redis node plays in a replicated topology.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A node of the world, by its scenario name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeRef {
    /// `redis-<i>`
    Redis(usize),
    /// `client-<i>`
    Client(usize),
    /// `resource`
    Resource,
}

impl NodeRef {
    /// Parses `redis-3`, `client-0`, `resource` (range checks are the caller's).
    pub fn parse(s: &str) -> Option<NodeRef> {
        if s == "resource" {
            return Some(NodeRef::Resource);
        }
        let (kind, idx) = s.split_once('-')?;
        if idx.is_empty() || (idx.len() > 1 && idx.starts_with('0')) {
            return None;
        }
        let i: usize = idx.parse().ok()?;
        match kind {
            "redis" => Some(NodeRef::Redis(i)),
            "client" => Some(NodeRef::Client(i)),
            _ => None,
        }
    }
}

/// Serialized by its scenario name (`"redis-2"`), as scenario files write it.
impl Serialize for NodeRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NodeRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NodeRef, D::Error> {
        let name = String::deserialize(d)?;
        NodeRef::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("not a node name: `{name}`")))
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeRef::Redis(i) => write!(f, "redis-{i}"),
            NodeRef::Client(i) => write!(f, "client-{i}"),
            NodeRef::Resource => f.write_str("resource"),
        }
    }
}

/// Whether a Redis node accepts writes from clients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Accepts writes, expires keys, propagates effects.
    #[default]
    Master,
    /// Rejects client writes with `READONLY`, never expires keys itself
    /// (it hides logically expired ones), applies the master's effects.
    Replica,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Master => "master",
            Role::Replica => "replica",
        })
    }
}
