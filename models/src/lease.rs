//! What an acquire hands back and a release reports: the lease, its
//! deadline, and the rule by which a node's reply to an acquire command
//! means that this node granted the lock.

use crate::protocol::Reply;
use serde::{Deserialize, Serialize};

/// Where a lease's validity deadline lives: on the holder's monotonic clock
/// (set-nx-px, watchdog, redlock) or on its wall clock (setnx-getset, whose
/// deadline is the timestamp it wrote).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Deadline {
    /// The holder's monotonic clock passes this many ms.
    Mono(u64),
    /// The holder's wall clock passes this Unix time in ms.
    Wall(i64),
}

/// What a successful acquire hands the holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The value written under the lock key.
    pub value: Vec<u8>,
    /// The fencing token, when the algorithm has one and `fencing = true`.
    pub fencing_token: Option<i64>,
    /// The end of validity the algorithm computed, if it computes one.
    pub deadline: Option<Deadline>,
    /// The nodes that granted the lock.
    pub nodes: Vec<usize>,
}

/// Why an acquire gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcquireError {
    /// Every attempt found the lock held (or lost the quorum).
    Busy,
    /// The algorithm was refused by Redis in a way retries cannot fix.
    Refused(String),
}

/// How a release went, as far as the holder can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseOutcome {
    /// The holder's own lock was deleted.
    Released,
    /// Nothing of the holder's was there any more (expired or stolen).
    NotHeld,
    /// The release did not get an answer.
    Unknown,
}

/// How a reply to an acquire command says that the node granted the lock.
///
/// An algorithm attaches its rule to the command that takes the lock
/// ([`crate::Env::call_acquire`]), so the simulator can record `granted`
/// at the moment the node applies the command, and only when it won: a
/// `GETSET` that found a live timestamp wrote the key but granted nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// `+OK`, a non-zero integer or a non-nil bulk: `SET NX`, `SETNX`,
    /// and acquire scripts that return the token or a fencing number.
    Truthy,
    /// A nil reply: Redisson's acquire script returns nil when it locked
    /// and the remaining PTTL when the lock is held.
    Nil,
    /// An array whose first element is `-1`: Redisson's `RFencedLock`
    /// script answers `{-1, token}` when it locked, `{pttl, -1}` when held.
    FirstMinusOne,
    /// `GETSET key new`: granted when the old value was missing, not a
    /// timestamp, or a timestamp before `now_ms` (the client's wall clock
    /// when it decided the lock was stale).
    StaleBefore { now_ms: i64 },
}

impl Grant {
    /// Whether `reply` means the node granted the lock.
    pub fn won(&self, reply: &Reply) -> bool {
        match (self, reply) {
            (_, Reply::Error(_)) => false,
            (Grant::Truthy, Reply::Int(n)) => *n != 0,
            (Grant::Truthy, r) => !r.is_nil(),
            (Grant::Nil, r) => r.is_nil(),
            (Grant::FirstMinusOne, Reply::Array(Some(v))) => v.first() == Some(&Reply::Int(-1)),
            (Grant::FirstMinusOne, _) => false,
            (Grant::StaleBefore { .. }, Reply::Bulk(None)) => true,
            (Grant::StaleBefore { now_ms }, Reply::Bulk(Some(old))) => {
                parse_timestamp(old).is_none_or(|t| t < *now_ms)
            }
            (Grant::StaleBefore { .. }, _) => false,
        }
    }
}

/// Parses a Unix-ms timestamp lock value (setnx stale recovery,
/// setnx-getset). `None` if it is not a strict decimal integer.
pub fn parse_timestamp(value: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(value).ok()?;
    if s.is_empty() || s.starts_with('+') {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_rules_read_replies_as_the_algorithms_do() {
        assert!(Grant::Truthy.won(&Reply::ok()));
        assert!(Grant::Truthy.won(&Reply::Int(1)));
        assert!(!Grant::Truthy.won(&Reply::Int(0)));
        assert!(!Grant::Truthy.won(&Reply::nil()));
        assert!(!Grant::Truthy.won(&Reply::Error("ERR x".into())));
        assert!(Grant::Nil.won(&Reply::nil()));
        assert!(!Grant::Nil.won(&Reply::Int(2500)));
        let g = Grant::StaleBefore { now_ms: 100 };
        assert!(g.won(&Reply::nil()));
        assert!(g.won(&Reply::Bulk(Some(b"99".to_vec()))));
        assert!(
            !g.won(&Reply::Bulk(Some(b"100".to_vec()))),
            "the GETSET loser"
        );
        assert!(g.won(&Reply::Bulk(Some(b"garbage".to_vec()))));
    }
}
