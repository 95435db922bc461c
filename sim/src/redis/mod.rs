//! The Redis node model (Redis 7.0 semantics).
//!
//! [`RedisNode`] is a pure, deterministic state machine: a keyspace with
//! absolute expiries, the commands a distributed lock needs (byte-exact
//! replies and error texts of redis-server 7.0.15), a real Lua 5.1 for
//! EVAL / EVALSHA, and for every command the effects Redis would append to
//! the AOF and the replication stream. The caller owns time: every step is
//! given the node's wall clock. [`run_shell`] is a redis-cli-like shell on
//! one node.

mod args;
mod bytecode;
mod cli;
pub mod cluster;
mod commands;
pub mod disk;
mod hash;
mod keys;
mod keyspace;
mod lua;
mod luacall;
mod luaconv;
mod node;
mod scripting;
mod strings;

pub use cli::{run_shell, split_args, SHELL_EPOCH_MS};
pub use keyspace::Value;
pub use node::{Exec, RedisNode, Role};
