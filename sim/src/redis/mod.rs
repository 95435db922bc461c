//! The Redis node model (Redis 7.0 semantics).
//!
//! [`RedisNode`] is a pure, deterministic state machine: a keyspace with
//! absolute expiries, the commands a distributed lock needs (byte-exact
//! replies and error texts of redis-server 7.0.15), a real Lua 5.1 for
//! EVAL / EVALSHA, and for every command the effects Redis would append to
//! the AOF and the replication stream. The caller owns time: every step is
//! given the node's wall clock. Under `maxmemory` the node counts what its
//! keys cost as Redis does ([`memory`]) and evicts before each command as
//! Redis 7.0's `evict.c` does (`evict.rs`, with the dicts' shape in
//! `dict.rs`). [`run_shell`] is a redis-cli-like shell on
//! one node.

mod args;
mod bytecode;
mod cli;
pub mod cluster;
mod commands;
mod dict;
pub mod disk;
mod evict;
mod hash;
mod keys;
mod keyspace;
mod lru;
mod lua;
mod luacall;
mod luaconv;
pub mod memory;
mod node;
mod scripting;
mod strings;
mod value;

pub use cli::{run_shell, split_args, SHELL_EPOCH_MS};
pub use evict::{MemoryConfig, OOM_ERR};
pub use keyspace::Value;
pub use node::{Exec, RedisNode, Role};
