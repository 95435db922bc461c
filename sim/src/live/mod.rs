//! Live mode: a scenario's algorithm against real `redis-server` processes.
//!
//! `locksim live FILE` runs the *same* lock code as the simulator (the
//! `locksim-models` crate, through [`env::LiveEnv`], an [`Env`](locksim_models::Env) built on a
//! tokio current-thread runtime and real RESP over TCP) against
//! `redis-server` processes it starts itself on 127.0.0.1, on free ports,
//! each in its own temporary directory with the scenario's persistence.
//! The faults are real:
//!
//! - every client is its own OS process (the `locksim` binary re-executed
//!   as the hidden `live-client` subcommand); `pause` of a client or of a
//!   Redis node is SIGSTOP, then SIGCONT after `for_ms`;
//! - `kill` of a Redis node is SIGKILL, then a restart after `for_ms`
//!   (default `restart_delay_ms`) on the same port and directory with the
//!   same persistence; `kill` of a client is SIGKILL and a respawn that
//!   carries on with the cycles it has left.
//!
//! ## Any client program
//!
//! With [`LiveOptions::client_cmd`] (`locksim live FILE --client "CMD
//! ARGS..."`) every client process is that program instead
//! ([`ext_proc`]): a program over any lock library, in any language, that
//! reports what its library does over the line protocol of [`protocol`]
//! (`PROTOCOL.md`) to a TCP port of the coordinator. The coordinator turns
//! its lines into the same events and resource operations its own clients
//! send, so triggers, faults (on the program's whole process group) and
//! the oracle are unchanged. [`check_client`] runs one fault-free cycle of
//! such a program and lists what it leaves out.
//!
//! ## The coordinator
//!
//! The coordinator ([`coordinator`]) is the world: it owns the history,
//! fires faults at `at_ms` by its own clock and on triggers as the clients'
//! events stream in, serves the resource (the same
//! [`crate::model::ResourceState`]) and finally hands the history to the
//! same oracle ([`crate::oracle::check`]) the simulator uses.
//!
//! ## Time
//!
//! True time is `CLOCK_MONOTONIC` minus the coordinator's start (`t = 0`,
//! the moment it tells every client to go). One machine has one
//! `CLOCK_MONOTONIC`, so clients stamp their own events with it and the
//! stamps of every process are comparable; the history is sorted by them.
//! A client's monotonic clock reads `MONO_EPOCH_MS + offset + t`, its wall
//! clock the real wall time at `t = 0` plus `offset + t` (`offset` drawn
//! from `[clients] offset_ms` as in the simulator; drift is not applied:
//! these are the machine's clocks). The history rebases wall readings (and
//! wall deadlines) onto the simulator's epoch, `WALL_EPOCH_MS + offset +
//! t`, so the oracle and the reports read a live history exactly like a
//! simulated one; the real start time is printed and kept in `live.txt`.
//!
//! ## Triggers
//!
//! `acquired:client-i`, `released:client-i` and `renewed:client-i` are the
//! client's own events, as in the simulator. `granted:redis-j:client-i` is
//! approximated by the client's observation of node j's grant reply (by
//! the algorithm's [`locksim_models::Grant`] rule): live mode cannot see
//! inside redis-server, so the
//! fault lands after the reply reached the client, not between the grant
//! and the reply. An event that matches a trigger of the scenario is sent
//! `sync`: the client process stands still until the coordinator has
//! injected what the event fires with no delay. For `granted` it stops at
//! once (the simulator freezes a client that is still waiting for that
//! reply); for the client's own events it stops at its next await point (a
//! command about to go out, a sleep, a resource operation), which is where
//! a paused madsim node stops too: `released:client-0` with a pause lets
//! client-0 run its release's checks, then freezes it before its `DEL`.
//! Delayed faults run on the coordinator's timers.
//!
//! ## Where live and simulated Redis differ
//!
//! - `rdb`: redis-server's `save <s> 1` counts whole seconds since the last
//!   save (the first one from server start), the model snapshots every
//!   `rdb_save_every_ms` on a grid; stories that hinge on which lock a
//!   snapshot caught need `--time-scale 1` and can still differ.
//! - Restarts take real time (about 15-50 ms to answer `PING` here), and
//!   commands sent meanwhile are refused at once (`Unreachable`).
//! - Network latency and loss are not applied (loopback, ~0.1 ms round
//!   trips): stories that need a command in flight for a few ms (a pause
//!   landing between a `GET` and its reply) do not reproduce. Client clock
//!   drift is not applied (the machine's clocks); drift beyond
//!   [`MAX_IGNORED_DRIFT_PPM`] is refused.
//!
//! ## What it refuses
//!
//! Power loss, partitions and clock faults need control over a machine's
//! power, its network or its clocks that processes on one host do not
//! have; the Sentinel topology needs sentinels and replicas, and the
//! Redis Cluster topology cluster-enabled servers and clients that follow
//! `MOVED` (the cluster differential test starts a real cluster instead,
//! `tests/redis_cluster_diff.rs`). Those
//! scenarios exit 2 with "live mode cannot ...: use the simulator" (see
//! [`refusal`]).

pub mod check_client;
pub mod client_proc;
pub mod coordinator;
pub mod env;
pub mod ext_proc;
pub mod protocol;
pub mod redis_proc;
pub mod sys;

use crate::history::EventKind;
use crate::model::ResourceOp;
use crate::model::WriteOutcome;
use crate::model::{Fault, NodeRef, Scenario, Span, Topology, When};
use serde::{Deserialize, Serialize};

pub use coordinator::{run_live, LiveError, LiveOptions, LiveRun};

/// The smallest per-command timeout `--time-scale` produces: below this,
/// loopback and scheduling jitter on a busy machine would time commands out.
pub const MIN_REQUEST_TIMEOUT_MS: u64 = 20;

/// The largest `[clients] drift_ppm` live mode runs without applying it:
/// about what a crystal plus NTP's slewing can do. Beyond it the drift is
/// the story, and live mode refuses.
pub const MAX_IGNORED_DRIFT_PPM: i64 = 1000;

/// A resource operation as it travels on a client's pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LiveOp {
    Begin,
    Write,
    End,
}

impl From<LiveOp> for ResourceOp {
    fn from(op: LiveOp) -> ResourceOp {
        match op {
            LiveOp::Begin => ResourceOp::Begin,
            LiveOp::Write => ResourceOp::Write,
            LiveOp::End => ResourceOp::End,
        }
    }
}

/// A client process to the coordinator: one JSON object per line on the
/// client's stdout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "up", rename_all = "kebab-case")]
pub enum Up {
    /// Started and waiting for [`Down::Go`].
    Ready,
    /// A history event, stamped by the client (true time from the shared
    /// monotonic clock, its own clock readings). The fields of an
    /// [`Event`](crate::history::Event), kept apart: `Event` flattens its kind, whose `node`
    /// (`node-up`, `node-down`) would collide with the event's own.
    Event {
        t_us: u64,
        node: Option<NodeRef>,
        mono_ms: Option<u64>,
        wall_ms: Option<i64>,
        kind: EventKind,
        /// The event matches one of the scenario's triggers: the client
        /// waits for [`Down::Ack`] before it goes on, so a fault it fires
        /// with no delay (a pause of the client itself) lands exactly
        /// there, as in the simulator, and not a few instructions later.
        sync: bool,
    },
    /// A resource operation of the client's current session; the
    /// coordinator answers with [`Down::Resource`].
    Resource { op: LiveOp, token: Option<i64> },
    /// One more cycle finished (progress survives a client kill).
    CycleDone,
}

/// The coordinator to a client process: one JSON object per line on the
/// client's stdin. The client exits when its stdin closes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "down", rename_all = "kebab-case")]
pub enum Down {
    /// Start now. `start_ns` is `t = 0` on `CLOCK_MONOTONIC`;
    /// `wall_shift_ms` is the real wall time at `t = 0` minus
    /// [`crate::model::clock::WALL_EPOCH_MS`].
    Go { start_ns: u64, wall_shift_ms: i64 },
    /// What the resource did with the last operation.
    Resource { outcome: WriteOutcome },
    /// The coordinator has handled a `sync` event (and injected what it
    /// triggered with no delay).
    Ack,
}

/// What a client process is told on its command line (as a JSON file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientSpec {
    /// The scenario as it runs (already time-scaled).
    pub scenario: Scenario,
    pub seed: u64,
    /// The port of each Redis node, in node order.
    pub ports: Vec<u16>,
    /// Each client's clock offset, ms.
    pub offsets_ms: Vec<i64>,
}

/// Why live mode cannot run `s`, if it cannot: the message of an exit 2.
pub fn refusal(s: &Scenario) -> Option<String> {
    const SIM: &str = "use the simulator (`locksim run`)";
    if let Some(c) = &s.custom_lock {
        return Some(format!(
            "live mode cannot run the custom lock {:?}: its client processes are the locksim \
             binary, which does not have your code; {SIM}, or run your lock's own program with \
             `--client`",
            c.name()
        ));
    }
    if s.redis.topology == Topology::Sentinel {
        return Some(format!(
            "live mode cannot run topology `sentinel`: it starts no sentinels or replicas; {SIM}"
        ));
    }
    if s.redis.topology == Topology::Cluster {
        return Some(format!(
            "live mode cannot run topology `cluster`: it starts plain redis-servers, and its \
             clients neither follow MOVED nor refresh a slot map; {SIM} (a real cluster is \
             compared with the model by `cargo test -p locksim --test redis_cluster_diff`)"
        ));
    }
    if !s.nemesis.is_quiet() {
        return Some(format!(
            "live mode cannot draw random faults from [nemesis]: random search is `locksim hunt`; \
             remove [nemesis] or {SIM}"
        ));
    }
    if s.network.loss > 0.0 {
        return Some(format!(
            "live mode cannot drop messages (`network.loss` = {}): it does not touch the \
             loopback interface; {SIM}",
            s.network.loss
        ));
    }
    let d = s.clients.drift_ppm;
    if d.lo.abs().max(d.hi.abs()) > MAX_IGNORED_DRIFT_PPM {
        return Some(format!(
            "live mode cannot make client clocks drift (`clients.drift_ppm` = [{}, {}]): \
             every process reads this machine's clocks; {SIM}",
            d.lo, d.hi
        ));
    }
    for (i, spec) in s.faults.iter().enumerate() {
        let why = match &spec.fault {
            Fault::PowerLoss { .. } => Some(
                "cut a machine's power: a SIGKILLed redis-server keeps what reached the OS \
                 page cache, so power loss cannot be reproduced on one host",
            ),
            Fault::Partition { .. } => Some(
                "partition the network: every process shares 127.0.0.1 and live mode \
                 changes no firewall rules",
            ),
            Fault::ClockJump { .. } | Fault::ClockDrift { .. } => {
                Some("change a clock: every process reads this machine's real clocks")
            }
            Fault::Kill {
                node: NodeRef::Resource,
                ..
            }
            | Fault::Pause {
                node: NodeRef::Resource,
                ..
            }
            | Fault::Restart {
                node: NodeRef::Resource,
            } => Some("fault the resource: the coordinator itself serves it"),
            _ => None,
        };
        if let Some(why) = why {
            return Some(format!(
                "live mode cannot {why} (fault {} of {}, kind `{}`); {SIM}",
                i + 1,
                s.faults.len(),
                spec.fault.kind_name()
            ));
        }
    }
    if !sys::SUPPORTED {
        return Some(format!(
            "live mode needs Linux (signals and CLOCK_MONOTONIC shared by processes); {SIM}"
        ));
    }
    None
}

/// What live mode runs differently from the simulator without refusing:
/// one line each, printed before the run.
pub fn notes(s: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    let lat = s.network.latency_ms;
    if lat.hi > 0 {
        out.push(format!(
            "network.latency_ms = [{}, {}] is not applied: commands travel over loopback",
            lat.lo, lat.hi
        ));
    }
    let d = s.clients.drift_ppm;
    if d.lo != 0 || d.hi != 0 {
        out.push(format!(
            "clients.drift_ppm = [{}, {}] is not applied: clients read the machine's clocks \
             (offset_ms is)",
            d.lo, d.hi
        ));
    }
    if s.redis.persistence == crate::model::Persistence::Rdb {
        out.push(format!(
            "rdb snapshots every {} s (redis-server's `save` counts whole seconds)",
            rdb_save_secs(s.redis.rdb_save_every_ms)
        ));
    }
    if s.faults
        .iter()
        .any(|f| matches!(f.fault, Fault::MemoryPressure { .. }))
    {
        out.push(
            "memory pressure: the coordinator writes each filler to the real server once, as a \
             pipeline (no smaller retries, no top-ups); evictions show only in what clients see"
                .into(),
        );
    }
    out
}

/// `save <secs> 1`: Redis counts seconds, at least 1.
pub fn rdb_save_secs(every_ms: u64) -> u64 {
    every_ms.div_ceil(1000).max(1)
}

fn scale_ms(v: u64, x: f64) -> u64 {
    if v == 0 {
        return 0;
    }
    ((v as f64 * x).round() as u64).max(1)
}

fn scale_i(v: i64, x: f64) -> i64 {
    (v as f64 * x).round() as i64
}

fn scale_span(s: Span<u64>, x: f64) -> Span<u64> {
    Span::new(scale_ms(s.lo, x), scale_ms(s.hi, x))
}

/// `s` with every time multiplied by `x` (`--time-scale`): TTL, retry
/// delays and jitter, renewal period, request timeout (never below
/// [`MIN_REQUEST_TIMEOUT_MS`] unless it was already), work, think and
/// offsets, restart delay, snapshot period, the duration, and every fault's
/// time, delay and length. A positive time stays at least 1 ms. Ratios
/// (`heal_at`, `drift_factor`) are unchanged.
pub fn scale(s: &Scenario, x: f64) -> Scenario {
    if x == 1.0 {
        return s.clone();
    }
    let mut t = s.clone();
    t.duration_ms = scale_ms(s.duration_ms, x);
    let l = &mut t.lock;
    l.ttl_ms = scale_ms(l.ttl_ms, x);
    l.retry_delay_ms = scale_ms(l.retry_delay_ms, x);
    l.retry_jitter_ms = scale_ms(l.retry_jitter_ms, x);
    l.renew_every_ms = scale_ms(l.renew_every_ms, x);
    let timeout = s.lock.request_timeout_ms;
    l.request_timeout_ms = scale_ms(timeout, x).max(MIN_REQUEST_TIMEOUT_MS.min(timeout));
    let r = &mut t.redis;
    r.rdb_save_every_ms = scale_ms(r.rdb_save_every_ms, x);
    r.restart_delay_ms = scale_ms(r.restart_delay_ms, x);
    r.failover_after_ms = scale_ms(r.failover_after_ms, x);
    r.replication_lag_ms = scale_span(r.replication_lag_ms, x);
    let c = &mut t.clients;
    c.work_ms = scale_span(c.work_ms, x);
    c.think_ms = scale_span(c.think_ms, x);
    c.offset_ms = Span::new(scale_i(c.offset_ms.lo, x), scale_i(c.offset_ms.hi, x));
    for f in &mut t.faults {
        match &mut f.when {
            When::At { at_ms } => *at_ms = scale_ms(*at_ms, x),
            When::On { delay_ms, .. } => *delay_ms = scale_ms(*delay_ms, x),
        }
        match &mut f.fault {
            Fault::Kill { for_ms, .. } | Fault::PowerLoss { for_ms, .. } => {
                *for_ms = for_ms.map(|v| scale_ms(v, x));
            }
            Fault::Pause { for_ms, .. } => *for_ms = scale_ms(*for_ms, x),
            Fault::Partition { for_ms, .. } => *for_ms = for_ms.map(|v| scale_ms(v, x)),
            Fault::ClockJump { by_ms, .. } => *by_ms = scale_i(*by_ms, x),
            Fault::MemoryPressure { ttl_ms, for_ms, .. } => {
                *ttl_ms = ttl_ms.map(|v| scale_ms(v, x));
                *for_ms = for_ms.map(|v| scale_ms(v, x));
            }
            Fault::Restart { .. } | Fault::Heal | Fault::ClockDrift { .. } => {}
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Verdict;

    use crate::scenario::parse_scenario;
    use locksim_models::Algorithm;

    #[test]
    fn scaling_touches_every_time_and_keeps_positive_times_positive() {
        let text = "name = \"x\"\nexpect = \"safe\"\nduration_ms = 60000\n[lock]\nalgorithm = \"set-nx-px\"\nttl_ms = 10000\n[clients]\nwork_ms = [1000, 3000]\n[[faults]]\nat_ms = 5\nkind = \"pause\"\nnode = \"client-0\"\nfor_ms = 15000\n[[faults]]\non = \"acquired:client-1\"\ndelay_ms = 10\nkind = \"kill\"\nnode = \"redis-0\"\n";
        let s = parse_scenario(text, "x.toml").unwrap();
        let t = scale(&s, 0.1);
        assert_eq!(t.duration_ms, 6000);
        assert_eq!(t.lock.ttl_ms, 1000);
        assert_eq!(t.lock.retry_delay_ms, 20);
        assert_eq!(t.lock.request_timeout_ms, MIN_REQUEST_TIMEOUT_MS);
        assert_eq!(t.clients.work_ms, Span::new(100, 300));
        assert_eq!(t.faults[0].when, When::At { at_ms: 1 });
        assert_eq!(
            t.faults[0].fault,
            Fault::Pause {
                node: NodeRef::Client(0),
                for_ms: 1500
            }
        );
        assert!(matches!(t.faults[1].when, When::On { delay_ms: 1, .. }));
        assert_eq!(scale(&s, 1.0), s);
    }

    #[test]
    fn refusals_name_the_fault_and_point_to_the_simulator() {
        let mut s = Scenario::with_defaults("x", Verdict::Safe, Algorithm::SetNxPx);
        assert_eq!(refusal(&s), None);
        s.faults.push(crate::model::FaultSpec {
            when: When::At { at_ms: 1 },
            fault: Fault::PowerLoss {
                node: NodeRef::Redis(0),
                for_ms: None,
            },
        });
        let why = refusal(&s).unwrap();
        assert!(
            why.starts_with("live mode cannot cut a machine's power"),
            "{why}"
        );
        assert!(why.contains("use the simulator"), "{why}");
        s.faults.clear();
        s.clients.drift_ppm = Span::new(-200_000, -200_000);
        assert!(refusal(&s).unwrap().contains("drift"));
        s.clients.drift_ppm = Span::new(-100, 100);
        s.redis.topology = Topology::Sentinel;
        assert!(refusal(&s).unwrap().contains("sentinel"));
        s.redis.topology = Topology::Cluster;
        let why = refusal(&s).unwrap();
        assert!(
            why.starts_with("live mode cannot run topology `cluster`"),
            "{why}"
        );
        assert!(why.contains("use the simulator"), "{why}");
    }
}
