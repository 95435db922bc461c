//! Which nodes are up, paused or down, and which links a partition cut.
//!
//! One ordered map holds every node's [`Status`], so "a down node has a
//! crash record" and "a paused node is not down" hold by construction.
//! Each pause and crash gets a number, so a timer set to end one (resume
//! after `for_ms`, restart after the down time) ends only that one and
//! never a later pause or crash of the same node.

use crate::history::SkipReason;
use crate::model::NodeRef;
use std::collections::{BTreeMap, BTreeSet};

/// Where a node's process stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Up,
    /// Stopped the world: pause number `pause`.
    Paused {
        pause: u64,
    },
    /// Crashed (crash number `crash`) at true time `since_us`.
    Down {
        crash: u64,
        since_us: u64,
    },
}

/// The liveness of every node, and the cut links.
#[derive(Clone, Debug, Default)]
pub struct Liveness {
    status: BTreeMap<NodeRef, Status>,
    /// Pauses and crashes numbered so far.
    numbered: u64,
    /// Clogged links, each pair once (smaller node first).
    cuts: BTreeSet<(NodeRef, NodeRef)>,
}

fn link(a: NodeRef, b: NodeRef) -> (NodeRef, NodeRef) {
    (a.min(b), a.max(b))
}

impl Liveness {
    /// Every node of `nodes` up, no link cut.
    pub fn new(nodes: impl IntoIterator<Item = NodeRef>) -> Liveness {
        Liveness {
            status: nodes.into_iter().map(|n| (n, Status::Up)).collect(),
            ..Liveness::default()
        }
    }

    pub fn status(&self, node: NodeRef) -> Status {
        self.status.get(&node).copied().unwrap_or(Status::Up)
    }

    /// Not crashed (it may be paused).
    pub fn is_up(&self, node: NodeRef) -> bool {
        !matches!(self.status(node), Status::Down { .. })
    }

    /// Up and not paused: it runs.
    pub fn runs(&self, node: NodeRef) -> bool {
        self.status(node) == Status::Up
    }

    /// Pauses `node`; the pause's number, or why it cannot be paused. A
    /// pause of a paused node replaces the earlier pause.
    pub fn pause(&mut self, node: NodeRef) -> Result<u64, SkipReason> {
        if !self.is_up(node) {
            return Err(SkipReason::NodeDown);
        }
        self.numbered += 1;
        self.status.insert(
            node,
            Status::Paused {
                pause: self.numbered,
            },
        );
        Ok(self.numbered)
    }

    /// Ends pause number `pause` of `node`, if it is still the current one.
    pub fn resume(&mut self, node: NodeRef, pause: u64) -> bool {
        if self.status(node) != (Status::Paused { pause }) {
            return false;
        }
        self.status.insert(node, Status::Up);
        true
    }

    /// Ends every pause; the nodes that were paused.
    pub fn resume_all(&mut self) -> Vec<NodeRef> {
        let mut out = Vec::new();
        for (node, s) in self.status.iter_mut() {
            if matches!(s, Status::Paused { .. }) {
                *s = Status::Up;
                out.push(*node);
            }
        }
        out
    }

    /// Crashes `node` at true time `now_us` (a paused node too); the
    /// crash's number, or why it cannot crash.
    pub fn crash(&mut self, node: NodeRef, now_us: u64) -> Result<u64, SkipReason> {
        if !self.is_up(node) {
            return Err(SkipReason::NodeDown);
        }
        self.numbered += 1;
        let crash = self.numbered;
        self.status.insert(
            node,
            Status::Down {
                crash,
                since_us: now_us,
            },
        );
        Ok(crash)
    }

    /// Brings a crashed node back up (`crash`: only if it is still down
    /// from that crash).
    pub fn restart(&mut self, node: NodeRef, crash: Option<u64>) -> Result<(), SkipReason> {
        match (self.status(node), crash) {
            (Status::Down { crash: c, .. }, Some(want)) if c != want => Err(SkipReason::NotDown),
            (Status::Down { .. }, _) => {
                self.status.insert(node, Status::Up);
                Ok(())
            }
            _ => Err(SkipReason::NotDown),
        }
    }

    /// The crashed nodes: node, crash number, down since (true µs).
    pub fn down(&self) -> Vec<(NodeRef, u64, u64)> {
        self.status
            .iter()
            .filter_map(|(&n, s)| match *s {
                Status::Down { crash, since_us } => Some((n, crash, since_us)),
                _ => None,
            })
            .collect()
    }

    /// Cuts the link between `a` and `b`.
    pub fn cut(&mut self, a: NodeRef, b: NodeRef) {
        self.cuts.insert(link(a, b));
    }

    /// Restores every cut link; the links that were cut.
    pub fn heal_cuts(&mut self) -> Vec<(NodeRef, NodeRef)> {
        std::mem::take(&mut self.cuts).into_iter().collect()
    }

    /// No partition cuts the link between `a` and `b`.
    pub fn linked(&self, a: NodeRef, b: NodeRef) -> bool {
        !self.cuts.contains(&link(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_ends_only_the_pause_or_crash_it_was_set_for() {
        let n = NodeRef::Client(0);
        let mut l = Liveness::new([n]);
        let first = l.pause(n).unwrap();
        let second = l.pause(n).unwrap();
        assert!(!l.resume(n, first), "superseded by the second pause");
        assert!(l.resume(n, second));
        let crash = l.crash(n, 10).unwrap();
        assert_eq!(l.pause(n), Err(SkipReason::NodeDown));
        assert_eq!(l.crash(n, 11), Err(SkipReason::NodeDown));
        assert_eq!(l.down(), vec![(n, crash, 10)]);
        assert_eq!(l.restart(n, Some(crash + 1)), Err(SkipReason::NotDown));
        assert_eq!(l.restart(n, Some(crash)), Ok(()));
        assert_eq!(l.restart(n, None), Err(SkipReason::NotDown));
        assert!(l.runs(n));
    }

    #[test]
    fn a_crash_ends_a_pause_and_cuts_are_symmetric() {
        let (a, b) = (NodeRef::Redis(0), NodeRef::Redis(1));
        let mut l = Liveness::new([a, b]);
        let p = l.pause(a).unwrap();
        l.crash(a, 0).unwrap();
        assert!(!l.resume(a, p));
        assert!(l.resume_all().is_empty());
        l.cut(b, a);
        assert!(!l.linked(a, b));
        assert_eq!(l.heal_cuts(), vec![(a, b)]);
        assert!(l.linked(b, a));
    }
}
