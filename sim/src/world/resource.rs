//! The resource the lock protects: a storage service that sees sessions
//! begin, write and end, and (with `fencing = true`) rejects writes whose
//! token is older than the newest it has seen, as Kleppmann's fencing
//! tokens prescribe.
//!
//! The resource is the ground truth for resource-level violations: a write
//! accepted from a session that is not the newest one to have begun is
//! stale, whatever the lock believed.

use crate::history::{EventKind, WriteOutcome};
use crate::model::NodeRef;
use crate::world::core::World;
use crate::world::net::{addr_of, next_request, reply, Body, ResourceOp, Response};
use madsim::net::Endpoint;
use std::sync::Arc;

/// What the resource remembers (it never crashes in these scenarios; its
/// state lives in the world).
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

/// The resource's process: serves begin/write/end until the run ends.
pub async fn resource_process(world: Arc<World>) {
    let me = NodeRef::Resource;
    let ep = Endpoint::bind(addr_of(me))
        .await
        .expect("resource binds its port");
    let fencing = world.scenario.lock.fencing;
    while let Some((req, from)) = next_request(&ep).await {
        let Body::Resource { op, session, token } = req.body else {
            continue;
        };
        let client = req.client;
        let outcome = world.state().resource.apply(op, session, token, fencing);
        let kind = match op {
            ResourceOp::Begin => EventKind::ResourceBegin {
                client,
                session,
                token,
            },
            ResourceOp::Write => EventKind::ResourceWrite {
                client,
                session,
                token,
                outcome,
            },
            ResourceOp::End => EventKind::ResourceEnd { client, session },
        };
        world.record(Some(me), kind);
        reply(&ep, from, req.id, Response::Resource(outcome)).await;
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
