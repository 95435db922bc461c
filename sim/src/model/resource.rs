//! The resource the lock protects, as a rule: a storage service that sees
//! sessions begin, write and end, and (with `fencing = true`) rejects
//! writes whose token is older than the newest it has seen, as
//! Kleppmann's fencing tokens prescribe.
//!
//! It is the ground truth for resource-level violations: a write accepted
//! from a session that is not the newest one to have begun is stale,
//! whatever the lock believed. The simulated resource process and live
//! mode's resource both apply this rule.

use serde::{Deserialize, Serialize};

/// A request to the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceOp {
    Begin,
    Write,
    End,
}

/// What the resource did with a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteOutcome {
    /// From the newest session the resource has seen begin.
    Accepted,
    /// Accepted, but from an older session: a resource-level violation.
    Stale,
    /// Rejected because its fencing token is older than the newest seen.
    Fenced,
}

/// What the resource remembers (it never crashes in these scenarios).
#[derive(Clone, Debug, Default)]
pub struct ResourceState {
    /// The newest session to have begun: the highest session id, since
    /// sessions are numbered in the order their leases were granted (a
    /// holder that wakes from a pause and begins late is still the old one).
    pub newest_session: Option<u64>,
    /// The highest fencing token seen.
    pub max_token: Option<i64>,
    /// Writes rejected by fencing.
    pub fenced: u64,
}

impl ResourceState {
    /// Applies one operation and says what became of it.
    pub fn apply(
        &mut self,
        op: ResourceOp,
        session: u64,
        token: Option<i64>,
        fencing: bool,
    ) -> WriteOutcome {
        let older = fencing && matches!((token, self.max_token), (Some(t), Some(m)) if t < m);
        match op {
            ResourceOp::Begin if older => WriteOutcome::Fenced,
            ResourceOp::Begin => {
                self.newest_session = Some(self.newest_session.map_or(session, |n| n.max(session)));
                if let Some(t) = token {
                    self.max_token = Some(self.max_token.map_or(t, |m| m.max(t)));
                }
                WriteOutcome::Accepted
            }
            ResourceOp::Write if older => {
                self.fenced += 1;
                WriteOutcome::Fenced
            }
            ResourceOp::Write if self.newest_session.is_some_and(|n| session < n) => {
                WriteOutcome::Stale
            }
            ResourceOp::Write | ResourceOp::End => WriteOutcome::Accepted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_write_is_accepted_without_fencing_and_rejected_with_it() {
        let mut r = ResourceState::default();
        assert_eq!(
            r.apply(ResourceOp::Begin, 1, Some(1), false),
            WriteOutcome::Accepted
        );
        assert_eq!(
            r.apply(ResourceOp::Begin, 2, Some(2), false),
            WriteOutcome::Accepted
        );
        assert_eq!(
            r.apply(ResourceOp::Write, 1, Some(1), false),
            WriteOutcome::Stale
        );
        let mut f = ResourceState::default();
        f.apply(ResourceOp::Begin, 1, Some(1), true);
        f.apply(ResourceOp::Begin, 2, Some(2), true);
        assert_eq!(
            f.apply(ResourceOp::Write, 1, Some(1), true),
            WriteOutcome::Fenced
        );
        assert_eq!(
            f.apply(ResourceOp::Write, 2, Some(2), true),
            WriteOutcome::Accepted
        );
        assert_eq!(f.fenced, 1);
    }
}
