//! # locksim
//!
//! A deterministic simulation harness for Redis distributed locks.

#[cfg(not(madsim))]
compile_error!("locksim must be built with --cfg madsim (see .cargo/config.toml); an environment RUSTFLAGS, even empty, overrides it: unset RUSTFLAGS");

pub mod cli;
pub mod history;
pub mod live;
pub mod model;
pub mod oracle;
pub mod profile;
pub mod redis;
pub mod report;
pub mod scenario;
pub mod search;
pub mod world;
