//! The simulation on madsim: the run loop, the shared world state, the
//! clients, the resource, the network, fault injection and the Redis
//! server processes.

pub mod client;
pub mod cluster;
pub mod core;
pub mod fault;
pub mod nemesis;
pub mod net;
pub mod resource;
pub mod run;
pub mod server;
pub mod slotmap;
pub mod status;
pub mod topo;

pub use run::{run, Outcome, Stats};
