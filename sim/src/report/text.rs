//! A text timeline for the terminal: one line per event.

use crate::history::{fmt_true, Event, EventKind};
use crate::run::Outcome;
use crate::scenario::Scenario;
use std::fmt::Write as _;

/// One line per event: true time, node, local clock, what happened.
pub fn timeline(_scenario: &Scenario, outcome: &Outcome) -> String {
    let mut out = String::new();
    for e in &outcome.history.events {
        let _ = writeln!(out, "{}", line(e));
    }
    out
}

/// One event as a line.
pub fn line(e: &Event) -> String {
    let node = e
        .node
        .map(|n| n.to_string())
        .unwrap_or_else(|| "world".into());
    let what = match &e.kind {
        EventKind::Command { cmd, reply, .. } => format!("{cmd} -> {reply}"),
        other => serde_json::to_string(other).unwrap_or_default(),
    };
    format!("{:>10} {:<10} {what}", fmt_true(e.t_us), node)
}
