//! `report.md`: the verdict in a sentence, then the evidence.

use crate::history::{fmt_true, EventKind};
use crate::oracle::{Violation, ViolationKind};
use crate::report::repro_line;
use crate::run::Outcome;
use crate::scenario::{Scenario, Verdict};
use std::fmt::Write as _;

/// One sentence that says what happened.
pub fn verdict_sentence(scenario: &Scenario, outcome: &Outcome) -> String {
    let key = &scenario.lock.key;
    match outcome.check.violations.first() {
        Some(v) => describe_violation(v, key),
        None if outcome.verdict() == Verdict::Liveness => {
            let who: Vec<String> = outcome.check.unfinished.iter().map(|c| format!("client-{c}")).collect();
            format!(
                "{} could not finish {} cycles by {} after every fault healed: liveness lost.",
                who.join(", "),
                scenario.clients.cycles,
                fmt_true(scenario.duration_ms * 1000)
            )
        }
        None => format!(
            "No two clients held `{key}` at once and the resource saw no stale write; every client finished ({} fenced writes).",
            outcome.check.fenced
        ),
    }
}

/// "client-1 and client-2 both held `lock` from 12.400s to 14.100s true time."
pub fn describe_violation(v: &Violation, key: &str) -> String {
    let [a, b] = v.clients;
    match v.kind {
        ViolationKind::L => format!(
            "client-{a} and client-{b} both held `{key}` from {} to {} true time.",
            fmt_true(v.from_us),
            fmt_true(v.to_us)
        ),
        ViolationKind::R => format!(
            "The resource accepted stale writes from client-{a} between {} and {} true time, after client-{b}'s session had begun.",
            fmt_true(v.from_us),
            fmt_true(v.to_us)
        ),
    }
}

/// The whole `report.md`.
pub fn render(scenario: &Scenario, file: &str, outcome: &Outcome) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {} (seed {})\n", scenario.name, outcome.seed);
    if !scenario.about.is_empty() {
        let _ = writeln!(md, "> {}\n", scenario.about);
    }
    let ok = if outcome.verdict() == scenario.expect {
        "as expected"
    } else {
        "NOT as expected"
    };
    let _ = writeln!(
        md,
        "**Verdict: {}** (expected {}, {ok}).\n",
        outcome.verdict(),
        scenario.expect
    );
    let _ = writeln!(md, "{}\n", verdict_sentence(scenario, outcome));
    let _ = writeln!(
        md,
        "Reproduce:\n\n```\n{}\n```\n",
        repro_line(file, outcome.seed)
    );
    let _ = writeln!(
        md,
        "History hash `{}`, {} events, {} messages, {} simulated.\n",
        outcome.hash(),
        outcome.stats.events,
        outcome.stats.messages,
        fmt_true(outcome.stats.sim_us)
    );
    write_parameters(&mut md, scenario);
    write_violations(&mut md, scenario, outcome);
    write_faults(&mut md, outcome);
    md
}

fn write_parameters(md: &mut String, s: &Scenario) {
    let l = &s.lock;
    let r = &s.redis;
    let c = &s.clients;
    let _ = writeln!(md, "## Parameters\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(
        md,
        "| algorithm | `{}` (ttl {} ms, release `{:?}`, validity check {}, fencing {}) |",
        l.algorithm.name(),
        l.ttl_ms,
        l.release,
        l.validity_check,
        l.fencing
    );
    let _ = writeln!(
        md,
        "| redis | {:?}, {} node(s), persistence `{}`, restart delay {} ms |",
        r.topology,
        r.nodes,
        r.persistence.name(),
        r.restart_delay_ms
    );
    let _ = writeln!(
        md,
        "| network | latency {}-{} ms, loss {} |",
        s.network.latency_ms.lo, s.network.latency_ms.hi, s.network.loss
    );
    let _ = writeln!(
        md,
        "| clients | {} x {} cycles, work {}-{} ms, drift {}..{} ppm, offset {}..{} ms |",
        c.count,
        c.cycles,
        c.work_ms.lo,
        c.work_ms.hi,
        c.drift_ppm.lo,
        c.drift_ppm.hi,
        c.offset_ms.lo,
        c.offset_ms.hi
    );
    let _ = writeln!(
        md,
        "| duration | {} ms, faults healed at {} ms |\n",
        s.duration_ms,
        s.heal_ms()
    );
}

fn write_violations(md: &mut String, s: &Scenario, o: &Outcome) {
    if o.check.violations.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Violations\n");
    let _ = writeln!(md, "| kind | clients | from | to |\n|---|---|---|---|");
    for v in &o.check.violations {
        let _ = writeln!(
            md,
            "| {:?} | client-{}, client-{} | {} | {} |",
            v.kind,
            v.clients[0],
            v.clients[1],
            fmt_true(v.from_us),
            fmt_true(v.to_us)
        );
    }
    let _ = writeln!(
        md,
        "\n{}\n",
        describe_violation(&o.check.violations[0], &s.lock.key)
    );
}

fn write_faults(md: &mut String, o: &Outcome) {
    let faults: Vec<String> = o
        .history
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FaultInjected { fault, cause } => Some(format!(
                "- {} {}{}",
                fmt_true(e.t_us),
                serde_json::to_string(fault).unwrap_or_default(),
                cause.map(|c| format!(" (on {c})")).unwrap_or_default()
            )),
            _ => None,
        })
        .collect();
    if faults.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Faults\n\n{}\n", faults.join("\n"));
}
