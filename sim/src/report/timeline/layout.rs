//! Where things go on the timeline: the x scale, the lanes' boxes, the
//! rows of fault badges and violation callouts, the axis ticks.

use super::model::{Model, Span};
use crate::history::fmt_true;
use crate::model::{Fault, NodeRef};
use crate::oracle::ViolationKind;
use crate::report::canvas::text_w;
use crate::report::describe;

/// Width of the whole picture.
pub const W: i32 = 1400;
/// Left edge of the plot (the lane labels are to its left).
pub const X0: i32 = 200;
/// Right edge of the plot.
pub const X1: i32 = W - 24;
/// Badge and callout text size.
pub const BADGE_PX: f64 = 10.5;
const BADGE_H: i32 = 17;
const CALLOUT_H: i32 = 18;
const MAX_BADGE_ROWS: usize = 3;
const MAX_CALLOUTS: usize = 3;

/// What a lane shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneKind {
    Client(usize),
    Redis(usize),
    Resource,
    /// Row `i` of the network lane (overlapping partitions stack).
    Network(usize),
}

impl LaneKind {
    pub fn height(self) -> i32 {
        match self {
            LaneKind::Client(_) => 50,
            LaneKind::Redis(_) => 38,
            LaneKind::Resource => 30,
            LaneKind::Network(_) => 24,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LaneBox {
    pub kind: LaneKind,
    pub y: i32,
    pub h: i32,
}

/// A fault badge: `F2 redis-2: jump +20 s`.
#[derive(Clone, Debug)]
pub struct Badge {
    pub no: usize,
    pub text: String,
    /// Left edge of the box (right of `anchor` when it had to move).
    pub x: i32,
    pub w: i32,
    pub row: usize,
    /// x of the fault's true time.
    pub anchor: i32,
}

/// A violation callout.
#[derive(Clone, Debug)]
pub struct Callout {
    pub index: usize,
    pub text: String,
    pub x: i32,
    pub row: usize,
}

/// The whole layout.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The true-time range shown.
    pub start_us: u64,
    pub end_us: u64,
    pub callouts: Vec<Callout>,
    pub callout_y: i32,
    pub badges: Vec<Badge>,
    pub badge_y: i32,
    pub lanes: Vec<LaneBox>,
    pub lanes_top: i32,
    pub lanes_bottom: i32,
    pub axis_y: i32,
    pub legend_y: i32,
    /// Rows the partitions take in the network lane.
    pub partition_rows: Vec<usize>,
}

impl Layout {
    /// x pixel of true time `t_us` (clamped to the range shown).
    pub fn x(&self, t_us: u64) -> i32 {
        let t = (t_us.clamp(self.start_us, self.end_us) - self.start_us) as u128;
        let range = (self.end_us - self.start_us).max(1) as u128;
        X0 + (t * (X1 - X0) as u128 / range) as i32
    }

    /// x pixel of an instant, `None` outside the range shown.
    pub fn xp(&self, t_us: u64) -> Option<i32> {
        (self.start_us..=self.end_us)
            .contains(&t_us)
            .then(|| self.x(t_us))
    }

    /// Pixel range of a span, clipped to the range shown and at least
    /// `min_w` wide; `None` when it is entirely outside (or empty with
    /// `min_w` 0).
    pub fn xs(&self, s: Span, min_w: i32) -> Option<(i32, i32)> {
        if s.to_us < self.start_us || s.from_us > self.end_us {
            return None;
        }
        let (a, b) = (self.x(s.from_us), self.x(s.to_us));
        let b = b.max(a + min_w);
        (b > a).then_some((a, b))
    }

    /// The grid: every minor tick in range as (ms, is it a major one).
    pub fn tick_times(&self) -> Vec<(u64, bool)> {
        let (step, minor) = ticks(self.end_us - self.start_us);
        let first = self.start_us.div_ceil(minor * 1000) * minor;
        let mut out = Vec::new();
        let mut t = first;
        while t * 1000 <= self.end_us {
            out.push((t, t.is_multiple_of(step)));
            t += minor;
        }
        out
    }

    /// Badge row top.
    pub fn badge_top(&self, row: usize) -> i32 {
        self.badge_y + row as i32 * (BADGE_H + 3)
    }

    pub fn badge_h(&self) -> i32 {
        BADGE_H
    }

    /// Callout row centre.
    pub fn callout_mid(&self, row: usize) -> i32 {
        self.callout_y + row as i32 * CALLOUT_H + CALLOUT_H / 2
    }

    /// The box of a node's lane.
    pub fn lane_of(&self, n: NodeRef) -> Option<LaneBox> {
        let want = match n {
            NodeRef::Client(i) => LaneKind::Client(i),
            NodeRef::Redis(i) => LaneKind::Redis(i),
            NodeRef::Resource => LaneKind::Resource,
        };
        self.lanes.iter().copied().find(|l| l.kind == want)
    }

    /// The first network lane row.
    pub fn network(&self) -> Option<LaneBox> {
        self.lanes
            .iter()
            .copied()
            .find(|l| matches!(l.kind, LaneKind::Network(_)))
    }
}

fn badge_text(f: &Fault, no: usize) -> String {
    match f {
        Fault::Partition { .. } | Fault::Heal => format!("F{no} {}", describe::fault_short(f)),
        other => {
            let node = describe::fault_nodes(other)
                .first()
                .map(|n| n.to_string())
                .unwrap_or_default();
            format!("F{no} {node}: {}", describe::fault_short(other))
        }
    }
}

/// Rows of occupied pixel ranges.
struct Rows(Vec<Vec<(i32, i32)>>);

impl Rows {
    fn new(n: usize) -> Rows {
        Rows(vec![Vec::new(); n])
    }

    fn free(&self, row: usize, x: i32, w: i32) -> bool {
        self.0[row]
            .iter()
            .all(|&(a, b)| x + w + 4 <= a || x >= b + 4)
    }

    /// The first row where `[x, x + w)` is free.
    fn place(&mut self, x: i32, w: i32) -> Option<usize> {
        let row = (0..self.0.len()).find(|&r| self.free(r, x, w))?;
        self.0[row].push((x, x + w));
        Some(row)
    }

    /// The row and leftmost x at or after `x` where `w` fits.
    fn place_shifted(&mut self, x: i32, w: i32) -> (usize, i32) {
        let mut best = (0, i32::MAX);
        for row in 0..self.0.len() {
            let mut cands: Vec<i32> = vec![x];
            cands.extend(self.0[row].iter().map(|&(_, b)| b + 4).filter(|&b| b > x));
            cands.sort();
            if let Some(&cx) = cands.iter().find(|&&cx| self.free(row, cx, w)) {
                if cx < best.1 {
                    best = (row, cx);
                }
            }
        }
        self.0[best.0].push((best.1, best.1 + w));
        best
    }
}

/// Computes the layout of a model.
pub fn layout(m: &Model, header_h: i32) -> Layout {
    let mut l = Layout {
        start_us: 0,
        end_us: m.end_us.max(1),
        callouts: Vec::new(),
        callout_y: header_h,
        badges: Vec::new(),
        badge_y: 0,
        lanes: Vec::new(),
        lanes_top: 0,
        lanes_bottom: 0,
        axis_y: 0,
        legend_y: 0,
        partition_rows: Vec::new(),
    };
    // Violation callouts, stacked when they overlap.
    let mut rows = Rows::new(2);
    for (index, vm) in m.violations.iter().enumerate().take(MAX_CALLOUTS) {
        let v = &vm.v;
        let [a, b] = v.clients;
        let what = match v.kind {
            ViolationKind::L => format!("L: client-{a} and client-{b} both held the lock"),
            ViolationKind::R => format!("R: stale writes from client-{a} after client-{b} began"),
        };
        let causes: Vec<String> = vm.causes.iter().map(|c| format!("F{c}")).collect();
        let after = if causes.is_empty() {
            String::new()
        } else {
            format!(" (after {})", causes.join(", "))
        };
        let text = format!(
            "{what}, {} to {}{after}",
            fmt_true(v.from_us),
            fmt_true(v.to_us)
        );
        let w = text_w(&text, 12.0) + 20;
        let x = l.x(v.from_us).min(X1 - w).max(X0);
        if let Some(row) = rows.place(x, w) {
            l.callouts.push(Callout {
                index,
                text,
                x,
                row,
            });
        }
    }
    let callout_rows = l.callouts.iter().map(|c| c.row + 1).max().unwrap_or(0) as i32;
    l.badge_y = header_h + callout_rows * CALLOUT_H + 4;
    // Fault badges: the faults behind a violation first (they get the top
    // row and their full text), then the rest; full text where a row has
    // room, else `F<n>`, else `F<n>` moved right of its time.
    let causes: Vec<usize> = m.violations.iter().flat_map(|v| v.causes.clone()).collect();
    let order = m
        .faults
        .iter()
        .filter(|f| causes.contains(&f.no))
        .chain(m.faults.iter().filter(|f| !causes.contains(&f.no)));
    let mut rows = Rows::new(MAX_BADGE_ROWS);
    for f in order {
        let anchor = l.x(f.t_us);
        let full = badge_text(&f.fault, f.no);
        let short = format!("F{}", f.no);
        let short_w = text_w(&short, BADGE_PX) + 8;
        let mut placed = None;
        for text in [full, short.clone()] {
            let w = text_w(&text, BADGE_PX) + 8;
            if let Some(row) = rows.place(anchor - 3, w) {
                placed = Some((text, anchor - 3, w, row));
                break;
            }
        }
        let (text, x, w, row) = placed.unwrap_or_else(|| {
            let (row, x) = rows.place_shifted(anchor - 3, short_w);
            (short, x, short_w, row)
        });
        l.badges.push(Badge {
            no: f.no,
            text,
            x,
            w,
            row,
            anchor,
        });
    }
    l.badges.sort_by_key(|b| b.no);
    let badge_rows = l.badges.iter().map(|b| b.row + 1).max().unwrap_or(0) as i32;
    let top = l.badge_y + badge_rows * (BADGE_H + 3) + 6;
    lanes_at(&mut l, m, top);
    l
}

/// Places the lanes from `top` down; sets `lanes_bottom`, `axis_y` and
/// `legend_y`.
fn lanes_at(l: &mut Layout, m: &Model, top: i32) {
    l.lanes_top = top;
    l.lanes.clear();
    l.partition_rows.clear();
    let mut y = top;
    let mut push = |kind: LaneKind, gap: i32, lanes: &mut Vec<LaneBox>| {
        y += gap;
        lanes.push(LaneBox {
            kind,
            y,
            h: kind.height(),
        });
        y += kind.height();
    };
    for c in &m.clients {
        push(LaneKind::Client(c.client), 0, &mut l.lanes);
    }
    for (i, r) in m.redis.iter().enumerate() {
        push(
            LaneKind::Redis(r.node),
            if i == 0 { 6 } else { 0 },
            &mut l.lanes,
        );
    }
    push(LaneKind::Resource, 6, &mut l.lanes);
    let mut row_ends: Vec<u64> = Vec::new();
    for p in &m.partitions {
        let row = match row_ends.iter().position(|&e| e <= p.span.from_us) {
            Some(r) => r,
            None => {
                row_ends.push(0);
                row_ends.len() - 1
            }
        };
        row_ends[row] = p.span.to_us;
        l.partition_rows.push(row);
    }
    for r in 0..row_ends.len() {
        push(
            LaneKind::Network(r),
            if r == 0 { 6 } else { 0 },
            &mut l.lanes,
        );
    }
    l.lanes_bottom = y;
    l.axis_y = y + 4;
    l.legend_y = l.axis_y + 36;
}

/// The height of the zoom panel's title row.
pub const ZOOM_TITLE_H: i32 = 38;

/// A second panel around the first violation and the faults behind it,
/// when that stretch is short next to the whole run: the same lanes over
/// `[from, to]`, below the main panel.
pub fn zoom(m: &Model, main: &Layout) -> Option<Layout> {
    let vm = m.violations.first()?;
    let mut from = vm.v.from_us;
    let to = vm.v.to_us;
    for no in &vm.causes {
        if let Some(f) = m.faults.iter().find(|f| f.no == *no) {
            from = from.min(f.t_us);
        }
    }
    let width = to - from;
    let pad = (width / 4).max(100_000);
    let start = from.saturating_sub(2 * pad);
    let end = (to + pad).min(m.end_us);
    if (end - start) * 100 > m.end_us * 25 {
        return None;
    }
    let mut z = main.clone();
    z.start_us = start;
    z.end_us = end.max(start + 1);
    z.callouts.clear();
    z.badges.clear();
    z.callout_y = main.axis_y + 40;
    let top = z.callout_y + ZOOM_TITLE_H;
    lanes_at(&mut z, m, top);
    Some(z)
}

/// Major tick step and minor step, in ms, for a run of `end_us`.
pub fn ticks(end_us: u64) -> (u64, u64) {
    const STEPS: [u64; 19] = [
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 30_000, 60_000,
        120_000, 300_000, 600_000,
    ];
    let end_ms = end_us.div_ceil(1000).max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| end_ms / s <= 14)
        .unwrap_or(600_000);
    let mut lead = step;
    while lead >= 10 {
        lead /= 10;
    }
    let minor = match lead {
        2 => step / 4,
        3 => step / 3,
        _ => step / 5,
    };
    (step, minor.max(1))
}

/// A tick label: `5 s`, `0.250 s`.
pub fn tick_label(ms: u64, step: u64) -> String {
    if step.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{}.{:03} s", ms / 1000, ms % 1000)
    }
}
