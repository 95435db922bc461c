//! Messages between the nodes of the world, carried by madsim's network.
//!
//! A request goes to a node's well-known port with tag 0; the reply comes
//! back to the caller's endpoint tagged with the request's id, so a client
//! can wait for several replies at once (Redlock asks all masters in
//! parallel) without a dispatcher. Payloads travel as Rust values: nothing
//! is serialized, which keeps a run cheap. Latency and loss come from the
//! scenario's `[network]` table through madsim's `Config`; partitions are
//! madsim link clogs.

use locksim_models::{Argv, Grant, Reply};
use madsim::net::Endpoint;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::model::NodeRef;
use crate::model::{ResourceOp, WriteOutcome};

/// The port every Redis node listens on.
pub const REDIS_PORT: u16 = 6379;
/// The port the resource listens on.
pub const RESOURCE_PORT: u16 = 7000;
/// The port a client's endpoint uses.
pub const CLIENT_PORT: u16 = 5000;

/// The simulated IP address of a node.
pub fn ip_of(node: NodeRef) -> IpAddr {
    match node {
        NodeRef::Redis(i) => IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1)),
        NodeRef::Resource => IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
        NodeRef::Client(i) => IpAddr::V4(Ipv4Addr::new(10, 0, 2, i as u8 + 1)),
    }
}

/// The address a node serves on.
pub fn addr_of(node: NodeRef) -> SocketAddr {
    let port = match node {
        NodeRef::Redis(_) => REDIS_PORT,
        NodeRef::Resource => RESOURCE_PORT,
        NodeRef::Client(_) => CLIENT_PORT,
    };
    SocketAddr::new(ip_of(node), port)
}

/// A request's body.
#[derive(Clone, Debug)]
pub enum Body {
    /// A Redis command; `grant` when it is an acquire command, with the
    /// rule by which its reply means the node granted the lock.
    Redis { argv: Argv, grant: Option<Grant> },
    /// A resource operation of `session`, carrying the fencing token if any.
    Resource {
        op: ResourceOp,
        session: u64,
        token: Option<i64>,
    },
}

/// A request: `id` tags the reply.
#[derive(Clone, Debug)]
pub struct Request {
    pub id: u64,
    pub client: usize,
    pub body: Body,
}

/// A reply.
#[derive(Clone, Debug)]
pub enum Response {
    Redis(Reply),
    Resource(WriteOutcome),
}

/// madsim's receive path sleeps 1 ms after taking a message out of the
/// mailbox (every madsim sleep is at least 1 ms). A reply that already sits
/// in the caller's socket when the deadline passes gets this much longer.
const READ_GRACE: Duration = Duration::from_micros(1001);

/// Sends `req` to `dst` and waits for the reply up to `timeout` of true
/// time. `None` means no reply in time (lost, partitioned, node down or
/// paused, or merely slow).
///
/// A process woken from a pause finds both its expired timer and the
/// replies that reached its socket meanwhile; like an event loop that
/// drains readable sockets before running timers, it reads those replies
/// (antirez's "pause between sending SET and reading the reply" needs
/// exactly that). Only replies present when the deadline is noticed count.
pub async fn call(
    ep: &Endpoint,
    dst: SocketAddr,
    req: Request,
    timeout: Duration,
) -> Option<Response> {
    let id = req.id;
    // Lost or clogged sends still return Ok; an Err means our own node is
    // going down, which is a timeout as far as the caller can tell.
    ep.send_to_raw(dst, 0, Box::new(req)).await.ok()?;
    let mut recv = std::pin::pin!(ep.recv_from_raw(id));
    let got = match madsim::time::timeout(timeout, recv.as_mut()).await {
        Ok(got) => Some(got),
        Err(_) => madsim::time::timeout(READ_GRACE, recv.as_mut()).await.ok(),
    };
    match got {
        Some(Ok((payload, _))) => payload.downcast::<Response>().ok().map(|b| *b),
        _ => None,
    }
}

/// Receives the next request on a server endpoint.
pub async fn next_request(ep: &Endpoint) -> Option<(Request, SocketAddr)> {
    let (payload, from) = ep.recv_from_raw(0).await.ok()?;
    let req = payload.downcast::<Request>().ok()?;
    Some((*req, from))
}

/// Sends `resp` back to the caller of request `id`.
pub async fn reply(ep: &Endpoint, to: SocketAddr, id: u64, resp: Response) {
    // A reply to a caller that is gone is simply lost.
    let _ = ep.send_to_raw(to, id, Box::new(resp)).await;
}

/// The Redis node serving at `ip:port` (the address a `MOVED` redirect or
/// `CLUSTER SLOTS` names), if it is one of the world's.
pub fn redis_at(addr: &str) -> Option<usize> {
    let sock: SocketAddr = addr.parse().ok()?;
    let IpAddr::V4(ip) = sock.ip() else {
        return None;
    };
    let [10, 0, 0, last] = ip.octets() else {
        return None;
    };
    let i = usize::from(last).checked_sub(1)?;
    (sock.port() == REDIS_PORT && addr_of(NodeRef::Redis(i)) == sock).then_some(i)
}
