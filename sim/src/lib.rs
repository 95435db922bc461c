//! # locksim
//!
//! A deterministic simulation harness for Redis distributed locks.

#[cfg(not(madsim))]
compile_error!("locksim must be built with --cfg madsim (see .cargo/config.toml); an environment RUSTFLAGS, even empty, overrides it: unset RUSTFLAGS");

pub mod cli;
pub mod client;
pub mod clock;
pub mod disk;
pub mod fault;
pub mod history;
pub mod hunt;
pub mod live;
pub mod nemesis;
pub mod net;
pub mod node;
pub mod oracle;
pub mod redis;
pub mod replication;
pub mod report;
pub mod resource;
pub mod run;
pub mod scenario;
pub mod sentinel;
pub mod sweep;
pub mod world;
