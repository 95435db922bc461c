//! # locksim
//!
//! A deterministic simulation harness for Redis distributed locks. It
//! builds a world of simulated Redis nodes, lock clients and the resource
//! they protect on [madsim], injects the faults that break locks in
//! production (clock drift and jumps, stop-the-world pauses, network delay
//! and partitions, async replication with Sentinel or Redis Cluster
//! failover, crashes under each persistence mode), and judges every run
//! with a mutual-exclusion oracle. The same scenario and seed always give
//! the same history, byte for byte, so every finding replays.
//!
//! ## Load, run, report
//!
//! ```
//! use locksim::{model::Verdict, report, scenario, world};
//!
//! // Row 11 of the ground truth: the holder pauses past its TTL.
//! let s = scenario::parse_scenario(r#"
//!     name = "pause-past-ttl"
//!     expect = "violation"
//!     [lock]
//!     algorithm = "set-nx-px"
//!     ttl_ms = 2000
//!     [clients]
//!     count = 2
//!     cycles = 2
//!     work_ms = [500, 500]
//!     [[faults]]
//!     on = "acquired:client-0"
//!     kind = "pause"
//!     node = "client-0"
//!     for_ms = 5000
//! "#, "doc.toml").unwrap();
//! let outcome = world::run(&s, s.seed);
//! assert_eq!(outcome.verdict(), Verdict::Violation);
//! let md = report::markdown::render(&s, "doc.toml", &outcome);
//! assert!(md.contains("locksim run doc.toml --seed 1"));
//! println!("{}", report::text::timeline(&s, &outcome));
//! ```
//!
//! ## The module map
//!
//! Layers, lowest first; a module imports only from layers below it, and
//! no two source files import each other:
//!
//! | layer | module | what it is |
//! |---|---|---|
//! | vocabulary | [`model`] | nodes and roles, faults and triggers, the typed scenario, verdicts, clocks, the resource's rule, Redis Cluster's hash slots |
//! | | [`profile`] | where a thread's time goes (`locksim bench`) |
//! | facts | [`history`] | typed events (commands as argv, replies as RESP, `key-changed`, `granted`), triggers, JSON Lines, the fingerprint |
//! | judgement and semantics | [`oracle`] | pure checkers over a history: lock-level, resource-level and liveness verdicts |
//! | | [`redis`] | Redis 7.0 as a pure state machine: keyspace, commands, Lua, the disk image, a cluster node's routing (MOVED, CROSSSLOT, CLUSTERDOWN) |
//! | | [`scenario`] | the file format: parse with line:col errors, validate, write back |
//! | simulation | [`world`] | the run on madsim: the run loop, the passive world state, clients, the resource, fault injection, the Redis server processes with persistence, replication, Sentinel and Redis Cluster's failure detection and elections |
//! | uses | [`search`] | hunting random faults, shrinking, proptest strategies, the safety matrix |
//! | | [`report`] | reports, SVG timelines, the text timeline, the gallery |
//! | | [`live`] | the same scenarios against real redis-server processes |
//! | front | [`cli`] | the `locksim` command |
//!
//! A run: [`world::run()`] draws the nemesis's faults (if any) and the
//! clients' clocks from the seed, starts a fresh madsim runtime, and lets
//! the clients cycle through acquire, critical section and release. Every
//! process records what it does in the world's history; the world is
//! passive (recording an event only returns what it triggers, and the run
//! loop injects those faults). The [`oracle`] then reads the history alone.

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
