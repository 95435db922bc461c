//! A text timeline for the terminal (`locksim run FILE --timeline`): one
//! line per event, aligned in columns, in the spirit of TigerBeetle's VOPR.
//!
//! ```text
//!      true  node           mono    wall-Δ  ev  what
//!    0.014s  client-1     10.014    +0.000  +   ACQUIRED `lock` (cycle 0) on redis-1,2,4, valid until mono 19.898
//!    0.112s  world                          !   FAULT F2: clock-jump redis-2 +20 s (on acquired:client-0 + 100 ms)
//! ```
//!
//! Columns: `true` is true (simulated global) time; `node` is where it
//! happened (`world` for faults and heals); `mono` is that node's
//! monotonic clock in seconds since its epoch (drift shows here); `wall-Δ`
//! is that node's wall clock minus true time, in seconds (offsets and
//! clock jumps show here); `ev` is a one-character symbol; `what` says
//! what happened.
//!
//! Symbols:
//!
//! | ev | meaning |
//! |---|---|
//! | `>` | a client starts an acquire |
//! | `+` | the acquire succeeded: the client's lease opens |
//! | `x` | the acquire gave up after its retries |
//! | `~` | the reply came after the client's own deadline (validity check): treated as failed |
//! | `<` | the client starts its release: its lease closes |
//! | `.` | the release finished |
//! | `$` | a Redis node executed a command (with its reply and the client) |
//! | `G` | that command won the lock for a client (its acquire command, by the algorithm's rule) |
//! | `k` | a node's copy of the lock key changed other than by a command: expired, evicted, crashed, loaded, replicated, resynced |
//! | `t` | a client's call timed out, or its reply arrived late (the client was paused) |
//! | `d` | persistence: snapshot, load (writes and fsyncs are hidden) |
//! | `r` | a replica applied its master's stream, or a full resync |
//! | `F` | failover, role change, or Sentinel pointing a client at the master |
//! | `!` | a fault took effect (numbered `F1`, `F2`, ... as on the SVG timeline) |
//! | `-` | a fault came due but did nothing (its node was down, ...) |
//! | `h` | a fault was undone, or every fault was (`heal_at`) |
//! | `^` | a node process restarted |
//! | `v` | a node process went down |
//! | `[` `]` | a resource session begins, ends |
//! | `w` | the resource accepted a write from the newest session |
//! | `S` | the resource accepted a **stale** write (resource-level violation) |
//! | `X` | the resource rejected a write with an old fencing token (fenced) |
//! | `e` | the holder extended its lease, a renewal's outcome, the watchdog stopping |
//! | `n` | a note from the algorithm (quorum counts, validity) |
//! | `c` | a node's clock at the start (only clocks with an offset or drift) |
//! | `m` | memory pressure: filler written (with the evictions and OOM refusals it caused), filler deleted |
//! | `*` | a client finished all its cycles |
//! | `#` | the run ended |
//!
//! Hidden as noise (all of them are in `history.jsonl`): the client's side
//! of each call (the node's `$` line shows the command and its reply),
//! unless it timed out or came back late; fsyncs; key changes a command
//! made (its `$`/`G` line shows them); first
//! boots at time zero; clocks that start exact.

use crate::history::{fmt_true, CallEnd, DiskOp, Event, EventKind, KeyCause};
use crate::model::WriteOutcome;
use crate::model::{Fault, Scenario, Topology};
use crate::report::describe;
use crate::world::run::Outcome;
use locksim_models::{Deadline, ReleaseOutcome};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One printed line.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub t_us: u64,
    /// Index of the event in the history.
    pub index: usize,
    pub node: String,
    pub mono: String,
    pub skew: String,
    pub sym: char,
    pub text: String,
}

/// The lines of a run and how many events were folded away.
#[derive(Clone, Debug, Default)]
pub struct Lines {
    pub lines: Vec<Line>,
    pub hidden: usize,
}

/// The legend printed before a timeline (the same as the module docs).
pub fn legend() -> String {
    let rows: [(&str, &str); 26] = [
        (">", "acquire starts"),
        ("+", "acquire succeeded: lease opens"),
        ("x", "acquire gave up"),
        ("~", "reply after own deadline: failed"),
        ("<", "release starts: lease closes"),
        (".", "release finished"),
        ("$", "Redis node executed a command"),
        ("G", "... and it won the lock for a client"),
        ("k", "lock key changed: expiry, crash, ..."),
        ("t", "call timed out / reply late"),
        ("d", "persistence (snapshot, load)"),
        ("r", "replica applied the stream"),
        ("F", "failover / role change"),
        ("!", "FAULT injected (F1, F2, ...)"),
        ("-", "fault skipped (node down, ...)"),
        ("h", "fault undone / heal all"),
        ("^ v", "node restarted / went down"),
        ("[ ]", "resource session begins / ends"),
        ("w", "resource accepted a write"),
        ("S", "STALE write accepted (R)"),
        ("X", "write fenced (rejected)"),
        ("e", "lease extended (renewal)"),
        ("n", "note from the algorithm"),
        ("c", "clock offset/drift at start"),
        ("* #", "client finished / run ended"),
        ("m", "memory filler written / deleted"),
    ];
    let mut out = String::from(
        "legend: true = true time; mono = node's monotonic clock (s); wall-Δ = node's wall clock minus true time (s)\n",
    );
    for pair in rows.chunks(3) {
        let cells: Vec<String> = pair
            .iter()
            .map(|(s, m)| format!("{s:>3} {m:<36}"))
            .collect();
        let _ = writeln!(out, "  {}", cells.join("").trim_end());
    }
    out
}

/// The column header.
pub fn header() -> String {
    format!(
        "{:>9}  {:<9} {:>9} {:>9}  ev  what",
        "true", "node", "mono", "wall-Δ"
    )
}

/// A line in columns.
pub fn format_line(l: &Line) -> String {
    format!(
        "{:>9}  {:<9} {:>9} {:>9}  {}   {}",
        fmt_true(l.t_us),
        l.node,
        l.mono,
        l.skew,
        l.sym,
        l.text
    )
}

/// The whole timeline: header, one line per shown event, a footer.
pub fn timeline(scenario: &Scenario, outcome: &Outcome) -> String {
    let ls = lines(scenario, outcome);
    let mut out = String::with_capacity(ls.lines.len() * 90);
    let _ = writeln!(
        out,
        "== {} seed {}: {} ==",
        scenario.name,
        outcome.seed,
        outcome.verdict()
    );
    let _ = writeln!(out, "{}", header());
    for l in &ls.lines {
        let _ = writeln!(out, "{}", format_line(l));
    }
    let _ = writeln!(
        out,
        "({} events shown, {} hidden as noise; history.jsonl has all {})",
        ls.lines.len(),
        ls.hidden,
        outcome.history.events.len()
    );
    out
}

fn deadline_text(d: &Deadline) -> String {
    match d {
        Deadline::Mono(ms) => format!("mono {}", describe::mono(*ms)),
        Deadline::Wall(ms) => format!("wall {}", describe::wall(*ms)),
    }
}

fn nodes_text(nodes: &[usize]) -> String {
    let n: Vec<String> = nodes.iter().map(|i| i.to_string()).collect();
    format!("redis-{}", n.join(","))
}

fn token_text(token: Option<i64>) -> String {
    token.map(|t| format!(", token {t}")).unwrap_or_default()
}

fn healed_text(f: &Fault) -> String {
    match f {
        Fault::Pause { node, for_ms } => {
            format!("{node} resumes after {}", describe::dur_ms(*for_ms))
        }
        Fault::Heal | Fault::Partition { .. } => "partitions healed".into(),
        other => format!("undone: {}", describe::fault(other)),
    }
}

/// An event that gets a line, with what its line needs from the events
/// around it.
#[derive(Clone, Copy, Debug)]
pub struct Pick {
    pub index: usize,
    /// The fault number (faults), or the index of the call's invoke (calls).
    extra: usize,
    /// The next event is this command's `Granted` (folded into the line).
    granted: Option<usize>,
}

/// Which events get a line (cheap: no text is formatted) and how many
/// are hidden as noise.
pub fn picks(scenario: &Scenario, outcome: &Outcome) -> (Vec<Pick>, usize) {
    let events = &outcome.history.events;
    let late_us = (2 * scenario.network.latency_ms.hi + 5) * 1000;
    let mut invoked: BTreeMap<u64, usize> = BTreeMap::new();
    let mut fault_no = 0usize;
    let mut hidden = 0;
    let mut out = Vec::with_capacity(events.len() / 2);
    let mut skip_next_grant = false;
    for (index, e) in events.iter().enumerate() {
        let mut pick = Pick {
            index,
            extra: 0,
            granted: None,
        };
        let show = match &e.kind {
            EventKind::ClockInit {
                offset_ms,
                drift_ppm,
            } => *offset_ms != 0 || *drift_ppm != 0.0,
            EventKind::CallInvoke { id, .. } => {
                invoked.insert(*id, index);
                false
            }
            EventKind::CallDone { id, end, .. } => {
                let at = invoked.remove(id);
                pick.extra = at.unwrap_or(index);
                let sent_us = at.map_or(e.t_us, |i| events[i].t_us);
                matches!(end, CallEnd::Timeout) || e.t_us - sent_us >= late_us
            }
            EventKind::Command { node, .. } => {
                // The command's own key change sits between it and its grant.
                let after = events[index + 1..]
                    .iter()
                    .find(|n| !matches!(n.kind, EventKind::KeyChanged { .. }));
                pick.granted = match after.map(|n| &n.kind) {
                    Some(EventKind::Granted { node: gn, client }) if gn == node => Some(*client),
                    _ => None,
                };
                skip_next_grant = pick.granted.is_some();
                true
            }
            EventKind::Granted { .. } => !std::mem::take(&mut skip_next_grant),
            EventKind::Disk { op, .. } => !matches!(op, DiskOp::Fsync { .. }),
            EventKind::KeyChanged { cause, .. } => !matches!(cause, KeyCause::Command),
            EventKind::FaultInjected { .. } => {
                fault_no += 1;
                pick.extra = fault_no;
                true
            }
            EventKind::NodeUp { restart, .. } => *restart,
            _ => true,
        };
        if show {
            out.push(pick);
        } else {
            hidden += 1;
        }
    }
    (out, hidden)
}

/// Every shown line of a run, with the noise folded away.
pub fn lines(scenario: &Scenario, outcome: &Outcome) -> Lines {
    let (ps, hidden) = picks(scenario, outcome);
    let scripts = describe::Scripts::new(scenario);
    Lines {
        lines: ps
            .iter()
            .map(|p| line(scenario, outcome, &scripts, p))
            .collect(),
        hidden,
    }
}

/// The line of one picked event.
pub fn line(scenario: &Scenario, outcome: &Outcome, scripts: &describe::Scripts, p: &Pick) -> Line {
    let events = &outcome.history.events;
    let e = &events[p.index];
    let key = &scenario.lock.key;
    let (sym, text): (char, String) = match &e.kind {
        EventKind::ClockInit {
            offset_ms,
            drift_ppm,
        } => (
            'c',
            format!(
                "clock starts {} off, runs {}",
                describe::signed_ms(*offset_ms),
                describe::ppm(*drift_ppm)
            ),
        ),
        EventKind::AcquireInvoke { cycle, .. } => ('>', format!("acquire (cycle {cycle})")),
        EventKind::AcquireOk {
            cycle,
            token,
            deadline,
            nodes,
            ..
        } => {
            let on = if scenario.redis.nodes > 1 {
                format!(" on {}", nodes_text(nodes))
            } else {
                String::new()
            };
            let until = deadline
                .map(|d| format!(", valid until {}", deadline_text(&d)))
                .unwrap_or_default();
            (
                '+',
                format!(
                    "ACQUIRED `{key}` (cycle {cycle}){on}{}{until}",
                    token_text(*token)
                ),
            )
        }
        EventKind::AcquireFail { reason, .. } => ('x', format!("acquire gave up: {reason}")),
        EventKind::AcquireLate { .. } => (
            '~',
            "reply came after its own deadline: acquire counts as failed, releasing".into(),
        ),
        EventKind::ReleaseInvoke { .. } => ('<', "release (lease ends)".into()),
        EventKind::ReleaseDone { outcome, .. } => (
            '.',
            format!(
                "release done: {}",
                match outcome {
                    ReleaseOutcome::Released => "released",
                    ReleaseOutcome::NotHeld => "nothing of ours was there",
                    ReleaseOutcome::Unknown => "no answer",
                }
            ),
        ),
        EventKind::CallDone { node, end, .. } => {
            let sent = &events[p.extra];
            let cmd = match &sent.kind {
                EventKind::CallInvoke { cmd, .. } => describe::command(cmd, scripts),
                _ => String::new(),
            };
            match end {
                CallEnd::Timeout => ('t', format!("{cmd} to redis-{node}: timed out")),
                CallEnd::Ok { reply } => (
                    't',
                    format!(
                        "{cmd} to redis-{node}: reply {} arrived {} after sending",
                        describe::reply(reply),
                        describe::span_us(e.t_us - sent.t_us)
                    ),
                ),
            }
        }
        EventKind::Command {
            client, cmd, reply, ..
        } => {
            let reply = describe::reply(reply);
            match p.granted {
                Some(c) => (
                    'G',
                    format!(
                        "{} -> {reply}: granted `{key}` to client-{c}",
                        describe::command(cmd, scripts)
                    ),
                ),
                None => (
                    '$',
                    format!(
                        "{} -> {reply} (client-{client})",
                        describe::command(cmd, scripts)
                    ),
                ),
            }
        }
        EventKind::Granted { client, .. } => ('G', format!("granted `{key}` to client-{client}")),
        EventKind::KeyChanged {
            key: k,
            owner,
            expires_ms,
            cause,
            ..
        } => describe::key_changed_text(k, owner.as_deref(), *expires_ms, *cause),
        EventKind::Disk { op, .. } => ('d', describe::disk_text(op)),
        EventKind::FullResync {
            master,
            keys,
            offset,
            ..
        } => (
            'r',
            format!("full resync from redis-{master}: {keys} key(s) at offset {offset}"),
        ),
        EventKind::Redirected { master, .. } if scenario.redis.topology == Topology::Cluster => (
            'F',
            format!("slot map: the lock's slot goes to redis-{master}"),
        ),
        EventKind::Redirected { master, .. } => {
            ('F', format!("sentinel: master is redis-{master}"))
        }
        EventKind::ClusterState { ok, .. } => (
            'F',
            if *ok {
                "cluster state ok".into()
            } else {
                "cluster state FAIL: keyed commands get CLUSTERDOWN".into()
            },
        ),
        EventKind::MarkedFail { failed, .. } => (
            'F',
            format!("marks redis-{failed} FAIL (a majority of masters agree)"),
        ),
        EventKind::Election {
            epoch,
            votes,
            needed,
            ..
        } => (
            'F',
            format!("election for epoch {epoch}: {votes} of {needed} needed votes"),
        ),
        EventKind::FaultSkipped { fault, reason, .. } => (
            '-',
            format!(
                "fault skipped: {} ({})",
                describe::fault(fault),
                reason.text()
            ),
        ),
        EventKind::Renewal { ok, .. } => (
            'e',
            format!("renewal {}", if *ok { "ok" } else { "failed" }),
        ),
        EventKind::WatchdogStopped { .. } => ('e', "watchdog stopped".into()),
        EventKind::Aborted { .. } => ('e', "abort signal raised".into()),
        EventKind::Replicated { from, offset, .. } => (
            'r',
            format!("applied redis-{from}'s stream up to offset {offset}"),
        ),
        EventKind::Failover { node, old_master } => (
            'F',
            format!("FAILOVER: redis-{node} promoted (old master redis-{old_master})"),
        ),
        EventKind::Role { role, .. } => ('F', format!("role: {role}")),
        EventKind::FaultInjected { fault, cause } => (
            '!',
            format!(
                "FAULT F{}: {} ({})",
                p.extra,
                describe::fault(fault),
                describe::trigger(scenario, fault, *cause)
            ),
        ),
        EventKind::FaultHealed { fault } => ('h', healed_text(fault)),
        EventKind::NodeUp { .. } => ('^', "restarted".into()),
        EventKind::NodeDown { .. } => ('v', "DOWN: process gone".into()),
        EventKind::ResourceBegin { session, token, .. } => (
            '[',
            format!("session {session} begins{}", token_text(*token)),
        ),
        EventKind::ResourceWrite {
            session,
            token,
            outcome,
            ..
        } => match outcome {
            WriteOutcome::Accepted => (
                'w',
                format!("write accepted (session {session}{})", token_text(*token)),
            ),
            WriteOutcome::Stale => (
                'S',
                format!(
                    "STALE write accepted from session {session}{}: a newer session had begun",
                    token_text(*token)
                ),
            ),
            WriteOutcome::Fenced => (
                'X',
                format!(
                    "write fenced (session {session}{}): an older token than the newest seen",
                    token_text(*token)
                ),
            ),
        },
        EventKind::ResourceEnd { session, .. } => (']', format!("session {session} ends")),
        EventKind::Extended { deadline, .. } => (
            'e',
            format!("lease extended until {}", deadline_text(deadline)),
        ),
        EventKind::Note { text, .. } => ('n', text.clone()),
        EventKind::ClientDone { .. } => ('*', "finished its cycles".into()),
        EventKind::HealAll => (
            'h',
            "HEAL ALL: every remaining fault undone (liveness phase)".into(),
        ),
        EventKind::End { clients_done } => {
            ('#', format!("run ends: {clients_done} client(s) finished"))
        }
        EventKind::FillerWritten {
            keys,
            bytes,
            evicted,
            refused,
            used_bytes,
            ..
        } => {
            let refused = match refused {
                Some(e) => format!(", then a write was REFUSED: {e}"),
                None => String::new(),
            };
            (
                'm',
                format!(
                    "filler: {keys} key(s), {} written, {evicted} key(s) evicted{refused}; used_memory {}",
                    describe::bytes(*bytes),
                    describe::bytes(*used_bytes)
                ),
            )
        }
        EventKind::FillerDeleted {
            keys, used_bytes, ..
        } => (
            'm',
            format!(
                "filler deleted: {keys} key(s); used_memory {}",
                describe::bytes(*used_bytes)
            ),
        ),
        #[allow(unreachable_patterns)]
        other => ('?', serde_json::to_string(other).unwrap_or_default()),
    };
    line_of(p.index, e, sym, text)
}

fn line_of(index: usize, e: &Event, sym: char, text: String) -> Line {
    Line {
        t_us: e.t_us,
        index,
        node: e.node.map_or_else(|| "world".into(), |n| n.to_string()),
        mono: e.mono_ms.map(describe::mono).unwrap_or_default(),
        skew: e
            .wall_ms
            .map(|w| describe::wall_skew(w, e.t_us))
            .unwrap_or_default(),
        sym,
        text,
    }
}
