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
//! ## Your own lock
//!
//! A lock algorithm of your own runs in the same world, faults and oracle
//! as the built-in ones. Write it against [`locksim_models::Env`] (send a
//! command to node `i`, read your clocks, sleep, draw random numbers:
//! nothing else, so the run stays deterministic) by implementing
//! [`locksim_models::LockAlgorithm`], wrap it in a
//! [`model::custom::CustomLock`], and attach it to a scenario with
//! [`Scenario::with_custom_lock`](model::Scenario::with_custom_lock).
//! Everything that runs the scenario then runs your lock on every
//! client: [`world::run()`], a [`Hunt`](search::hunt::Hunt) and its
//! shrinker, a [`Check`](search::check::Check). Files name it with
//! `[lock] custom = "NAME"` (written back so, loaded after
//! [`model::custom::register`]); `[lock] algorithm` still gives the
//! defaults of the other `[lock]` keys, which your code reads from the
//! [`LockConfig`](locksim_models::LockConfig) it is built with. A scenario
//! built in code starts from
//! [`Scenario::with_defaults`](model::Scenario::with_defaults) and ends
//! with [`Scenario::validated`](model::Scenario::validated) (see
//! [`scenario`]).
//!
//! ```
//! use locksim::model::{custom::CustomLock, Scenario, Span, Verdict};
//! use locksim::oracle::ViolationKind;
//! use locksim::search::hunt::Hunt;
//! use locksim_models::{argv, AcquireError, Algorithm, Deadline, Env, Grant, Lease};
//! use locksim_models::{LockAlgorithm, LockConfig, ReleaseOutcome, Reply};
//!
//! /// SET NX PX; released by GET, compare, DEL: two commands, not atomic.
//! struct GetDel(LockConfig);
//!
//! impl LockAlgorithm for GetDel {
//!     async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
//!         let (c, token, sent_ms) = (&self.0, env.random_token(), env.mono_ms());
//!         let set = argv(["SET", &c.key, &token, "NX", "PX", &c.ttl_ms.to_string()]);
//!         // `call_acquire`: this reply, when truthy, means "granted".
//!         match env.call_acquire(0, set, c.request_timeout_ms, Grant::Truthy).await {
//!             Ok(Reply::Status(_)) => Ok(Lease {
//!                 value: token.into_bytes(),
//!                 fencing_token: None,
//!                 deadline: Some(Deadline::Mono(sent_ms + c.ttl_ms)),
//!                 nodes: vec![0],
//!             }),
//!             _ => Err(AcquireError::Busy), // the client waits and tries again
//!         }
//!     }
//!
//!     async fn release<E: Env>(&mut self, env: &E, lease: &Lease) -> ReleaseOutcome {
//!         let c = &self.0;
//!         match env.call(0, argv(["GET", &c.key]), c.request_timeout_ms).await {
//!             Ok(Reply::Bulk(Some(v))) if v == lease.value => {
//!                 // ... the key may expire and change hands right here ...
//!                 let _ = env.call(0, argv(["DEL", &c.key]), c.request_timeout_ms).await;
//!                 ReleaseOutcome::Released
//!             }
//!             _ => ReleaseOutcome::NotHeld,
//!         }
//!     }
//! }
//!
//! // Three clients, 1 s TTL, critical sections close to it, random pauses.
//! let mut s = Scenario::with_defaults("get-del-pauses", Verdict::Violation, Algorithm::SetNxPx);
//! s.duration_ms = 20_000;
//! s.lock.ttl_ms = 1_000;
//! s.lock.validity_check = true; // a lease ends at its deadline: L means the lock let two in
//! s.clients.cycles = 8;
//! s.clients.work_ms = Span::new(600, 900);
//! s.nemesis.pause.rate = 0.3;
//! s.nemesis.pause.ms = Span::new(100, 2_000);
//! let s = s
//!     .with_custom_lock(CustomLock::new("get-del", |cfg| GetDel(cfg.clone())))
//!     .validated()
//!     .unwrap();
//!
//! // The hunt finds two clients holding the lock at once, and shrinks the
//! // random schedule to the pause that does it.
//! let finding = Hunt::new(s).seeds(0..500).jobs(1).assert_finds(ViolationKind::L);
//! let shrunk = finding.shrink();
//! assert!(shrunk.scenario.faults.len() <= 2, "{}", shrunk.scenario.to_toml());
//! assert!(shrunk.scenario.to_toml().contains("custom = \"get-del\""));
//! ```
//!
//! `sim/examples/my-lock` is the same from a crate of its own (its
//! `Cargo.toml` and `.cargo/config.toml`: locksim needs `--cfg madsim`),
//! with a scenario file, the fixed lock as a control, and `Check`.
//!
//! ## The module map
//!
//! Layers, lowest first; a module imports only from layers below it, and
//! no two source files import each other:
//!
//! | layer | module | what it is |
//! |---|---|---|
//! | vocabulary | [`model`] | nodes and roles, faults and triggers, the typed scenario, verdicts, clocks, the resource's rule, custom locks, Redis Cluster's hash slots |
//! | | [`profile`] | where a thread's time goes (`locksim bench`) |
//! | facts | [`history`] | typed events (commands as argv, replies as RESP, `key-changed`, `granted`), triggers, JSON Lines, the fingerprint |
//! | judgement and semantics | [`oracle`] | pure checkers over a history: lock-level, resource-level and liveness verdicts |
//! | | [`redis`] | Redis 7.0 as a pure state machine: keyspace, commands, Lua, the disk image, memory and eviction under `maxmemory`, a cluster node's routing (MOVED, CROSSSLOT, CLUSTERDOWN) |
//! | | [`scenario`] | the file format: parse with line:col errors, validate, write back |
//! | simulation | [`world`] | the run on madsim: the run loop, the passive world state, clients, the resource, fault injection, the Redis server processes with persistence, replication, Sentinel and Redis Cluster's failure detection and elections |
//! | uses | [`search`] | hunting random faults, shrinking, proptest strategies, the safety matrix |
//! | | [`report`] | reports, SVG timelines, the text timeline, the gallery |
//! | | [`live`] | the same scenarios against real redis-server processes, with locksim's clients or any program over the line protocol (`--client`) |
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
