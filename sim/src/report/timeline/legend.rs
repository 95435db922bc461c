//! The legend under the timeline: the clients' colours, then one entry per
//! kind of mark that appears in this run (always the core ones).

use super::layout::{X0, X1};
use super::model::{HoldEnd, Model};
use super::palette::{self, GREY, INK, JUMP, PARTITION, RESTART};
use crate::report::canvas::{text_w, Canvas, Font, Hatch, Paint};
use plotters::style::RGBColor;

const ROW_H: i32 = 19;
const PX: f64 = 10.5;

#[derive(Clone, Copy, Debug)]
enum Swatch {
    Bar(RGBColor, f64),
    Lease(RGBColor),
    Hatch(Hatch, Option<RGBColor>),
    Attempt,
    Session,
    Stale,
    Fenced,
    Restart,
    Jump,
    Cut,
    Band,
    Badge,
    Notch(RGBColor),
}

struct Item {
    swatch: Swatch,
    text: String,
}

fn items(m: &Model) -> Vec<Item> {
    let mut v: Vec<Item> = m
        .clients
        .iter()
        .map(|c| Item {
            swatch: Swatch::Bar(palette::client(c.client), 1.0),
            text: format!("client-{}", c.client),
        })
        .collect();
    let c0 = palette::client(0);
    let mut add = |swatch: Swatch, text: &str| {
        v.push(Item {
            swatch,
            text: text.to_string(),
        })
    };
    add(Swatch::Attempt, "acquire attempt (tick = start)");
    add(
        Swatch::Lease(c0),
        "lease: client believes it holds the lock (oracle window)",
    );
    add(
        Swatch::Hatch(Hatch::Deadline, Some(c0)),
        "past the client's own validity deadline",
    );
    add(
        Swatch::Bar(c0, 0.35),
        "still in its critical section after the lease ended",
    );
    add(Swatch::Session, "resource session (begin..end)");
    add(
        Swatch::Bar(c0, 1.0),
        "Redis node holds the key (colour = client)",
    );
    let any_expired = m
        .redis
        .iter()
        .any(|r| r.holds.iter().any(|h| h.end == HoldEnd::Expired));
    if any_expired {
        add(Swatch::Notch(c0), "key expired (cut corner)");
    }
    if m.redis.iter().any(|r| r.holds.iter().any(|h| h.replica)) {
        add(Swatch::Bar(c0, 0.45), "replica's copy of the key");
    }
    let marks = || {
        m.clients
            .iter()
            .map(|c| &c.marks)
            .chain(m.redis.iter().map(|r| &r.marks))
            .chain(std::iter::once(&m.resource.marks))
    };
    if marks().any(|mk| !mk.pauses.is_empty()) {
        add(Swatch::Hatch(Hatch::Pause, None), "paused (stop-the-world)");
    }
    if marks().any(|mk| !mk.downs.is_empty()) {
        add(Swatch::Hatch(Hatch::Down, None), "process down");
    }
    if marks().any(|mk| !mk.restarts.is_empty()) {
        add(Swatch::Restart, "restart");
    }
    if marks().any(|mk| !mk.jumps.is_empty() || !mk.drifts.is_empty()) {
        add(Swatch::Jump, "clock jump / drift change");
    }
    if !m.partitions.is_empty() {
        add(Swatch::Cut, "partition (lane stripe: node is cut off)");
    }
    if !m.resource.stale.is_empty() {
        add(Swatch::Stale, "stale write accepted (R)");
    }
    if !m.resource.fenced.is_empty() {
        add(Swatch::Fenced, "write fenced (rejected)");
    }
    if !m.faults.is_empty() {
        add(Swatch::Badge, "fault injected (F1, F2, ...)");
    }
    if !m.violations.is_empty() {
        add(Swatch::Band, "violation window");
    }
    v
}

/// Positions of the items: (x, row).
fn flow(items: &[Item]) -> Vec<(i32, i32)> {
    let (mut x, mut row) = (X0, 0);
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let w = 30 + text_w(&it.text, PX) + 16;
        if x + w > X1 && x > X0 {
            x = X0;
            row += 1;
        }
        out.push((x, row));
        x += w;
    }
    out
}

/// Height the legend needs.
pub fn height(m: &Model) -> i32 {
    let it = items(m);
    let rows = flow(&it).last().map_or(0, |&(_, r)| r + 1);
    rows * ROW_H + 8
}

fn swatch(c: &Canvas, s: Swatch, x: i32, y: i32) {
    let (x1, y0, y1) = (x + 24, y - 6, y + 6);
    match s {
        Swatch::Bar(col, a) => c.rect(x, y0, x1, y1, Paint::Solid(col, a)),
        Swatch::Lease(col) => c.rect(x, y0 - 1, x1, y1 + 1, Paint::Solid(col, 1.0)),
        Swatch::Hatch(h, base) => {
            if let Some(col) = base {
                c.rect(x, y0, x1, y1, Paint::Solid(col, 1.0));
            }
            c.rect(x, y0, x1, y1, Paint::Pattern(h));
            c.frame(x, y0, x1, y1, INK, 1);
        }
        Swatch::Attempt => {
            c.rect(x, y - 1, x1, y + 1, Paint::Solid(GREY, 0.8));
            c.rect(x, y - 5, x + 1, y + 5, Paint::Solid(INK, 0.7));
        }
        Swatch::Session => c.rect(x, y - 3, x1, y + 4, Paint::Solid(palette::SESSION, 0.85)),
        Swatch::Stale => c.polygon(
            &[(x + 12, y - 6), (x + 7, y + 4), (x + 17, y + 4)],
            palette::VIOLATION,
            1.0,
        ),
        Swatch::Fenced => {
            c.line(&[(x + 8, y - 4), (x + 16, y + 4)], INK, 1.0, 2);
            c.line(&[(x + 16, y - 4), (x + 8, y + 4)], INK, 1.0, 2);
        }
        Swatch::Restart => c.polygon(
            &[(x + 12, y - 6), (x + 6, y + 5), (x + 18, y + 5)],
            RESTART,
            1.0,
        ),
        Swatch::Jump => {
            c.rect(x + 11, y0 - 1, x + 14, y1 + 1, Paint::Solid(JUMP, 1.0));
            c.polygon(
                &[(x + 7, y0 - 1), (x + 17, y0 - 1), (x + 12, y0 + 5)],
                JUMP,
                1.0,
            );
        }
        Swatch::Cut => c.rect(x, y + 2, x1, y + 6, Paint::Solid(PARTITION, 0.8)),
        Swatch::Band => {
            c.rect(
                x,
                y0 - 1,
                x1,
                y1 + 1,
                Paint::Solid(palette::VIOLATION, 0.22),
            );
            c.rect(
                x,
                y0 - 1,
                x + 1,
                y1 + 1,
                Paint::Solid(palette::VIOLATION, 0.9),
            );
            c.rect(
                x1 - 1,
                y0 - 1,
                x1,
                y1 + 1,
                Paint::Solid(palette::VIOLATION, 0.9),
            );
        }
        Swatch::Badge => {
            c.rect(x, y0, x1, y1, Paint::Solid(palette::BADGE_FILL, 1.0));
            c.frame(x, y0, x1, y1, palette::BADGE_INK, 1);
            c.text("F1", x + 4, y, Font::new(9.0, palette::BADGE_INK).bold());
        }
        Swatch::Notch(col) => {
            c.rect(x, y0, x1, y1, Paint::Solid(col, 1.0));
            c.polygon(
                &[(x1 - 8, y0), (x1, y0), (x1, y0 + 8)],
                plotters::style::WHITE,
                1.0,
            );
        }
    }
}

/// Draws the legend with its top at `y`.
pub fn draw(c: &Canvas, m: &Model, y: i32) {
    c.text(
        "legend",
        X0 - 12,
        y + ROW_H / 2,
        Font::new(11.0, palette::NOTE).bold().right(),
    );
    let it = items(m);
    for (item, (x, row)) in it.iter().zip(flow(&it)) {
        let yy = y + row * ROW_H + ROW_H / 2;
        swatch(c, item.swatch, x, yy);
        c.text(&item.text, x + 30, yy, Font::new(PX, INK));
    }
}
