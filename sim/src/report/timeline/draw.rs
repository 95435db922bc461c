//! Drawing the lanes: what goes inside each client, Redis, resource and
//! network lane, and the marks every node lane shares (pauses, down time,
//! restarts, clock jumps, partition cuts).
//!
//! Many small things are merged per pixel column before drawing (attempt
//! ticks, accepted writes), so a 60 s run with five clients stays a few
//! thousand elements at most.

use super::layout::{LaneBox, Layout, X0, X1};
use super::model::{ClientLane, HoldEnd, Model, NodeMarks, RedisLane, ResourceLane, Span};
use super::palette::{self, GREY, INK, JUMP, PARTITION, RESTART};
use crate::model::WriteOutcome;
use crate::oracle::WindowEnd;
use crate::report::canvas::{text_w, Canvas, Font, Hatch, Paint};
use crate::report::describe;
use plotters::style::{RGBColor, WHITE};

/// Merges pixel ranges that touch (input in any order).
pub fn merge_px(mut v: Vec<(i32, i32)>) -> Vec<(i32, i32)> {
    v.sort();
    let mut out: Vec<(i32, i32)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Distinct pixel columns of a set of times.
fn columns(l: &Layout, ts: impl Iterator<Item = u64>) -> Vec<i32> {
    let mut xs: Vec<i32> = ts.filter_map(|t| l.xp(t)).collect();
    xs.sort();
    xs.dedup();
    xs
}

/// Text that fits in a bar, centred, if any of the candidates fits.
fn bar_text(c: &Canvas, x0: i32, x1: i32, y: i32, candidates: &[String]) {
    for s in candidates {
        if text_w(s, 10.0) + 6 <= x1 - x0 {
            c.text(s, (x0 + x1) / 2, y, Font::new(10.0, WHITE).bold().center());
            return;
        }
    }
}

/// A stale-write marker (red triangle) and a fenced-write marker (cross).
fn stale_mark(c: &Canvas, x: i32, y: i32) {
    c.polygon(
        &[(x, y), (x - 5, y + 9), (x + 5, y + 9)],
        palette::VIOLATION,
        1.0,
    );
    c.line(
        &[(x, y), (x - 5, y + 9), (x + 5, y + 9), (x, y)],
        INK,
        1.0,
        1,
    );
}

fn fenced_mark(c: &Canvas, x: i32, y: i32) {
    c.line(&[(x - 4, y), (x + 4, y + 8)], INK, 1.0, 2);
    c.line(&[(x + 4, y), (x - 4, y + 8)], INK, 1.0, 2);
}

/// Client lane: acquire attempts on top, lease bars, resource sessions.
pub fn client_lane(c: &Canvas, l: &Layout, b: LaneBox, lane: &ClientLane, multi_node: bool) {
    let colour = palette::client(lane.client);
    let y = b.y;
    // Attempts: a thin line while acquiring, a tick where each starts.
    let spans = lane
        .attempts
        .iter()
        .filter_map(|a| l.xs(a.span, 1))
        .collect::<Vec<_>>();
    for (a, z) in merge_px(spans) {
        c.rect(a, y + 7, z, y + 9, Paint::Solid(GREY, 0.8));
    }
    for x in columns(l, lane.attempts.iter().map(|a| a.span.from_us)) {
        c.rect(x, y + 3, x + 1, y + 13, Paint::Solid(INK, 0.7));
    }
    // Leases: solid = the oracle's window; pale = still in the critical
    // section after it; hatched = past the client's own deadline.
    let (top, bot) = (y + 15, y + 33);
    for ls in &lane.leases {
        let after = Span {
            from_us: ls.span.to_us,
            to_us: ls.believed_to_us,
        };
        if let Some((pa, pz)) = l.xs(after, 0) {
            c.rect(pa, top + 3, pz, bot - 3, Paint::Solid(colour, 0.35));
        }
        let solid = l.xs(ls.span, 2);
        if let Some((a, z)) = solid {
            c.rect(a, top, z, bot, Paint::Solid(colour, 1.0));
        }
        if let Some(d) = ls.deadline_us.filter(|&d| d < ls.believed_to_us) {
            let inside = Span {
                from_us: d.max(ls.span.from_us),
                to_us: ls.span.to_us,
            };
            if d < ls.span.to_us {
                if let Some((ha, hz)) = l.xs(inside, 0) {
                    c.rect(ha, top, hz, bot, Paint::Pattern(Hatch::Deadline));
                }
            }
            let past = Span {
                from_us: d.max(ls.span.to_us),
                to_us: ls.believed_to_us,
            };
            if let Some((ha, hz)) = l.xs(past, 0) {
                c.rect(ha, top + 3, hz, bot - 3, Paint::Pattern(Hatch::Deadline));
            }
            if let Some(xd) = l.xp(d.max(ls.span.from_us)) {
                c.rect(xd, top - 2, xd + 2, bot + 2, Paint::Solid(INK, 1.0));
            }
        }
        if ls.end == WindowEnd::Crashed {
            if let Some(z) = l.xp(ls.span.to_us) {
                c.rect(z - 1, top - 2, z + 1, bot + 2, Paint::Solid(INK, 1.0));
            }
        }
        if let (true, Some((a, z))) = (multi_node && !ls.nodes.is_empty(), solid) {
            let nodes: Vec<String> = ls.nodes.iter().map(|n| n.to_string()).collect();
            let long = format!("granted by redis-{}", nodes.join(","));
            let short = format!("redis-{}", nodes.join(","));
            let tiny = format!("r{}", nodes.join(","));
            bar_text(c, a, z, (top + bot) / 2, &[long, short, tiny]);
        }
    }
    // Resource sessions, with their writes.
    let (st, sb) = (y + 37, y + 44);
    for (a, z) in lane.sessions.iter().filter_map(|s| l.xs(s.span, 2)) {
        c.rect(a, st, z, sb, Paint::Solid(palette::SESSION, 0.85));
    }
    let accepted = lane
        .sessions
        .iter()
        .flat_map(|s| s.writes.iter())
        .filter(|(_, o)| *o == WriteOutcome::Accepted)
        .map(|(t, _)| *t);
    for x in columns(l, accepted) {
        c.rect(x, st + 1, x + 1, sb - 1, Paint::Solid(WHITE, 0.9));
    }
    let writes = |want: WriteOutcome| {
        lane.sessions
            .iter()
            .flat_map(|s| s.writes.iter())
            .filter(move |(_, o)| *o == want)
            .map(|(t, _)| *t)
    };
    for x in columns(l, writes(WriteOutcome::Fenced)) {
        fenced_mark(c, x, st - 1);
    }
    for x in columns(l, writes(WriteOutcome::Stale)) {
        stale_mark(c, x, st - 2);
    }
}

/// Redis lane: who holds the key, colour per client; pale for a replica's
/// copy; role changes and failovers as labelled ticks.
pub fn redis_lane(c: &Canvas, l: &Layout, b: LaneBox, lane: &RedisLane) {
    let (top, bot) = (b.y + 11, b.y + 31);
    for h in &lane.holds {
        let span = Span {
            from_us: h.from_us,
            to_us: h.to_us,
        };
        let Some((a, z)) = l.xs(span, 1) else {
            continue;
        };
        let alpha = if h.replica { 0.45 } else { 1.0 };
        c.rect(
            a,
            top,
            z,
            bot,
            Paint::Solid(palette::client(h.client), alpha),
        );
        if h.end == HoldEnd::Expired && z - a > 8 && l.xp(h.to_us).is_some() {
            // A cut corner: the key expired rather than being deleted.
            c.polygon(&[(z - 8, top), (z, top), (z, top + 8)], WHITE, 1.0);
        }
        let name = format!("client-{}", h.client);
        bar_text(c, a, z, (top + bot) / 2, &[name, format!("c{}", h.client)]);
    }
    for (t, role) in &lane.roles {
        let Some(x) = l.xp(*t) else { continue };
        c.rect(
            x,
            b.y + 2,
            x + 2,
            b.y + b.h - 2,
            Paint::Solid(palette::ROLE, 1.0),
        );
        c.label(role, x + 4, b.y + 6, Font::new(10.0, palette::ROLE).bold());
    }
}

/// Resource lane: whose session is the newest it has seen begin.
pub fn resource_lane(c: &Canvas, l: &Layout, b: LaneBox, lane: &ResourceLane) {
    let (top, bot) = (b.y + 9, b.y + 21);
    for (span, client) in &lane.newest {
        let Some((a, z)) = l.xs(*span, 1) else {
            continue;
        };
        c.rect(a, top, z, bot, Paint::Solid(palette::client(*client), 0.55));
    }
    for x in columns(l, lane.fenced.iter().map(|(t, _)| *t)) {
        fenced_mark(c, x, top + 2);
    }
    for x in columns(l, lane.stale.iter().map(|(t, _)| *t)) {
        stale_mark(c, x, top + 1);
    }
}

/// Network lane row: each partition as a bar with its groups.
pub fn network_row(c: &Canvas, l: &Layout, b: LaneBox, m: &Model, row: usize) {
    for (p, r) in m.partitions.iter().zip(&l.partition_rows) {
        if *r != row {
            continue;
        }
        let Some((a, z)) = l.xs(p.span, 2) else {
            continue;
        };
        c.rect(a, b.y + 4, z, b.y + b.h - 4, Paint::Solid(PARTITION, 0.55));
        let groups: Vec<String> = p
            .groups
            .iter()
            .map(|g| {
                let names: Vec<String> = g.iter().map(|n| n.to_string()).collect();
                names.join(" ")
            })
            .collect();
        let long = format!("F{} cut: {}", p.fault_no, groups.join("  |  "));
        bar_text(c, a, z, b.y + b.h / 2, &[long, format!("F{}", p.fault_no)]);
    }
}

/// Marks every node lane shares, drawn over the lane's content.
pub fn node_marks(c: &Canvas, l: &Layout, b: LaneBox, mk: &NodeMarks) {
    let (top, bot) = (b.y + 1, b.y + b.h - 1);
    for (a, z) in mk.cut.iter().filter_map(|s| l.xs(*s, 1)) {
        c.rect(a, bot - 3, z, bot, Paint::Solid(PARTITION, 0.8));
    }
    for (s, text) in mk
        .pauses
        .iter()
        .map(|s| (s, "paused"))
        .chain(mk.downs.iter().map(|s| (s, "down")))
    {
        let Some((a, z)) = l.xs(*s, 2) else {
            continue;
        };
        let hatch = if text == "down" {
            Hatch::Down
        } else {
            Hatch::Pause
        };
        c.rect(a, top, z, bot, Paint::Pattern(hatch));
        if l.xp(s.from_us).is_some() {
            c.rect(a, top, a + 1, bot, Paint::Solid(INK, 0.8));
        }
        if l.xp(s.to_us).is_some() {
            c.rect(z - 1, top, z, bot, Paint::Solid(INK, 0.8));
        }
        let label = format!("{text} {}", describe::dur_ms((s.to_us - s.from_us) / 1000));
        if text_w(&label, 10.0) + 8 <= z - a {
            c.label(&label, a + 4, top + 7, Font::new(10.0, INK).bold());
        } else if text_w(text, 10.0) + 8 <= z - a {
            c.label(text, a + 4, top + 7, Font::new(10.0, INK).bold());
        }
    }
    for (t, text) in &mk.restarts {
        let Some(x) = l.xp(*t) else { continue };
        c.polygon(&[(x, bot - 9), (x - 5, bot), (x + 5, bot)], RESTART, 1.0);
        c.label(text, x + 7, bot - 5, Font::new(9.5, RESTART).bold());
    }
    for (t, by_ms) in &mk.jumps {
        let Some(x) = l.xp(*t) else { continue };
        c.rect(x - 1, top, x + 2, bot, Paint::Solid(JUMP, 1.0));
        c.polygon(&[(x - 5, top), (x + 5, top), (x, top + 6)], JUMP, 1.0);
        let text = format!("wall clock {}", describe::signed_ms(*by_ms));
        c.label(&text, x + 5, top + 6, Font::new(10.5, JUMP).bold());
    }
    for (t, ppm) in &mk.drifts {
        let Some(x) = l.xp(*t) else { continue };
        c.rect(x, top, x + 2, bot, Paint::Solid(JUMP, 0.7));
        let text = format!("drift {}", describe::ppm(*ppm));
        c.label(&text, x + 5, top + 6, Font::new(10.0, JUMP));
    }
}

/// Lane backgrounds and the labels on the left.
pub fn lane_frame(c: &Canvas, b: LaneBox, index: usize, name: &str, note: &str, colour: RGBColor) {
    let bg = if index.is_multiple_of(2) {
        palette::LANE_A
    } else {
        palette::LANE_B
    };
    c.rect(0, b.y, X1 + 4, b.y + b.h, Paint::Solid(bg, 1.0));
    c.rect(8, b.y + 6, 18, b.y + 16, Paint::Solid(colour, 1.0));
    c.text(name, 24, b.y + 11, Font::new(12.5, INK).bold());
    if !note.is_empty() && b.h >= 30 {
        let max = ((X0 - 20) as f64 / (10.0 * 0.58)) as usize;
        let short: String = if note.chars().count() > max {
            let s: String = note.chars().take(max.saturating_sub(1)).collect();
            format!("{s}…")
        } else {
            note.to_string()
        };
        c.text(&short, 10, b.y + 26, Font::new(10.0, palette::NOTE));
    }
    c.rect(
        0,
        b.y + b.h - 1,
        X1 + 4,
        b.y + b.h,
        Paint::Solid(palette::RULE, 1.0),
    );
}
