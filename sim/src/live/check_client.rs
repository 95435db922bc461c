//! `locksim live --check-client "CMD ARGS..."`: one fault-free cycle of a
//! `--client` program against a real redis-server, and a list of what it
//! leaves out of the protocol ([`super::protocol`]).
//!
//! The run is the scenario (FILE, or `set-nx-px` defaults) cut down to one
//! client, one cycle, no faults. The coordinator keeps what the program
//! said and looks at every Redis key when it says `BEGIN` and `RELEASED`.
//! A **problem** is something the oracle needs and did not get (no
//! critical section, fewer writes than `LOCKSIM_WRITES`, no release, no
//! `DONE`, an exit status other than 0, garbage or a line out of order, no
//! key in Redis while it claimed the lock, the key still there after a
//! release it called successful); a **note** is worth knowing and harmless
//! (no `ACQUIRING`, a key name other than `LOCKSIM_KEY`, a key without
//! expiry).

use super::coordinator::{run_live, ClientLog, LiveError, LiveOptions};
use crate::model::{Scenario, Verdict};
use locksim_models::Algorithm;

/// How long the one cycle may take (scenario time, before `--time-scale`).
pub const CHECK_DURATION_MS: u64 = 30_000;

/// What `--check-client` found.
#[derive(Clone, Debug, Default)]
pub struct ClientCheck {
    /// What the program left out or got wrong; empty when complete.
    pub problems: Vec<String>,
    /// Harmless observations.
    pub notes: Vec<String>,
    /// Each line it sent and locksim's reply.
    pub transcript: Vec<(String, String)>,
    /// The keys Redis held when it said `BEGIN`, as `redis-j key (pttl ms)`.
    pub keys_at_begin: Vec<String>,
}

impl ClientCheck {
    pub fn complete(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The scenario of a check: `base` (or `set-nx-px` defaults) with one
/// client, one cycle of 100 ms work and no faults.
pub fn check_scenario(base: Option<&Scenario>) -> Scenario {
    let mut s = base.cloned().unwrap_or_else(|| {
        Scenario::with_defaults("check-client", Verdict::Safe, Algorithm::SetNxPx)
    });
    s.name = format!("{}-check-client", s.name);
    s.expect = Verdict::Safe;
    s.clients.count = 1;
    s.clients.cycles = 1;
    s.clients.offset_ms = crate::model::Span::new(0, 0);
    // The check is about the protocol, not timing: a short section.
    s.clients.work_ms = crate::model::Span::new(100, 100);
    s.clients.think_ms = crate::model::Span::new(0, 0);
    s.faults.clear();
    crate::world::nemesis::quiet(&mut s.nemesis);
    s.duration_ms = CHECK_DURATION_MS;
    s
}

/// Runs the check: `s` from [`check_scenario`] (already time-scaled).
/// `Err` only when the run itself could not be made (no redis-server...):
/// whatever the program does wrong is a problem of the result.
pub fn check_client(s: &Scenario, opts: &LiveOptions) -> Result<ClientCheck, LiveError> {
    let mut opts = opts.clone();
    opts.inspect = true;
    match run_live(s, &opts) {
        Ok(run) => {
            let log = run.clients.into_iter().next().unwrap_or_default();
            let verdict = run.outcome.verdict();
            Ok(judge(s, &log, verdict))
        }
        Err(LiveError::Client(why)) => Ok(ClientCheck {
            problems: vec![why],
            ..ClientCheck::default()
        }),
        Err(e) => Err(e),
    }
}

/// The problems and notes of one logged cycle.
pub fn judge(s: &Scenario, log: &ClientLog, verdict: Verdict) -> ClientCheck {
    let mut c = ClientCheck {
        transcript: log.lines.clone(),
        ..ClientCheck::default()
    };
    let verbs: Vec<&str> = log
        .lines
        .iter()
        .map(|(l, _)| l.split(' ').next().unwrap_or(""))
        .collect();
    let count = |v: &str| verbs.iter().filter(|x| **x == v).count();
    let mut problem = |p: String| c.problems.push(p);
    if count("HELLO") == 0 {
        problem("never said `HELLO 1 0` on LOCKSIM_RESOURCE".into());
    }
    if count("ACQUIRED") == 0 {
        problem("never sent `ACQUIRED`: the oracle saw no lease".into());
    }
    if count("ACQUIRED") > 0 && count("BEGIN") == 0 {
        problem(
            "no `BEGIN` / `END`: the resource saw no critical section, so stale writes (R) \
             cannot be seen"
                .into(),
        );
    }
    let writes = count("WRITE");
    if count("BEGIN") > 0 && writes != s.clients.writes as usize {
        problem(format!(
            "sent {writes} `WRITE` line(s) in its critical section; LOCKSIM_WRITES is {}",
            s.clients.writes
        ));
    }
    if count("BEGIN") > 0 && count("END") == 0 {
        problem("no `END` after `BEGIN`".into());
    }
    if count("ACQUIRED") > 0 && count("RELEASING") == 0 {
        problem("no `RELEASING` before releasing: the lease never ends in the history".into());
    }
    if count("RELEASING") > 0 && count("RELEASED") == 0 {
        problem("no `RELEASED` after `RELEASING`".into());
    }
    if count("DONE") == 0 {
        problem(format!(
            "no `DONE` within {} ms: it hung, or forgot to say it finished its LOCKSIM_CYCLES",
            s.duration_ms
        ));
    }
    match log.exit.as_deref() {
        Some("exit status: 0") | None if count("DONE") == 0 => {}
        Some("exit status: 0") => {}
        Some(other) => problem(format!("exited with {other} after `DONE` (expected 0)")),
        None => problem("still running 3 s after `DONE` (it should exit)".into()),
    }
    if verdict != Verdict::Safe {
        problem(format!(
            "the fault-free cycle was judged {verdict}, not safe"
        ));
    }
    if count("ACQUIRING") == 0 {
        c.notes
            .push("no `ACQUIRING` (optional): the timeline shows no acquire attempts".into());
    }
    check_keys(s, log, &mut c);
    c
}

/// What Redis held: a key while the lease was claimed, none after a
/// successful release.
fn check_keys(s: &Scenario, log: &ClientLog, c: &mut ClientCheck) {
    let Some(at_begin) = &log.at_begin else {
        return;
    };
    c.keys_at_begin = at_begin
        .iter()
        .map(|k| format!("redis-{} {} (pttl {} ms)", k.node, k.key, k.pttl_ms))
        .collect();
    // Keys without expiry that are not the lock: fencing counters.
    let lock_keys: Vec<_> = at_begin
        .iter()
        .filter(|k| k.pttl_ms >= 0 || k.key.contains(&s.lock.key))
        .filter(|k| k.key != s.lock.fence_key)
        .collect();
    if lock_keys.is_empty() {
        c.problems.push(format!(
            "Redis held no lock key when it said `BEGIN` (saw: {}): is it using LOCKSIM_REDIS \
             ({} node(s)) and LOCKSIM_KEY ({:?})?",
            if at_begin.is_empty() {
                "nothing".to_string()
            } else {
                c.keys_at_begin.join(", ")
            },
            s.redis.nodes,
            s.lock.key
        ));
        return;
    }
    for k in &lock_keys {
        if k.key != s.lock.key {
            c.notes.push(format!(
                "the lock's key on redis-{} is {:?}, not LOCKSIM_KEY {:?} (a library prefix: \
                 harmless, the oracle reads the protocol)",
                k.node, k.key, s.lock.key
            ));
        }
        if k.pttl_ms == -1 {
            c.notes.push(format!(
                "{:?} on redis-{} has no expiry: a holder that crashes keeps it forever \
                 (LOCKSIM_TTL_MS is {})",
                k.key, k.node, s.lock.ttl_ms
            ));
        }
    }
    let released_ok = log
        .lines
        .iter()
        .any(|(l, _)| l == "RELEASED" || l == "RELEASED released");
    if let (true, Some(after)) = (released_ok, &log.after_release) {
        for k in &lock_keys {
            if after.iter().any(|a| a.node == k.node && a.key == k.key) {
                c.problems.push(format!(
                    "said `RELEASED` (released), but {:?} is still on redis-{}: is `RELEASED` \
                     sent after the release returned?",
                    k.key, k.node
                ));
            }
        }
    }
}
