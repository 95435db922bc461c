//! The resource's process: the storage service the lock protects, serving
//! begin/write/end on the network and judging each by the rule of
//! [`crate::model::resource`] (stale sessions, fencing tokens). Its state
//! lives in the world.

use crate::history::EventKind;
use crate::model::NodeRef;
use crate::model::ResourceOp;
use crate::world::core::World;
use crate::world::net::{addr_of, next_request, reply, Body, Response};
use madsim::net::Endpoint;
use std::sync::Arc;

/// The resource's process: serves begin/write/end until the run ends.
pub async fn resource_process(world: Arc<World>) {
    let me = NodeRef::Resource;
    let ep = Endpoint::bind(addr_of(me))
        .await
        .expect("resource binds its port");
    while let Some((req, from)) = next_request(&ep).await {
        let Body::Resource { op, session, token } = req.body else {
            continue;
        };
        let client = req.client;
        let outcome = world.resource_apply(op, session, token);
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
