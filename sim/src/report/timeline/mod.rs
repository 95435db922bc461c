//! `timeline.svg`: one picture of a run, drawn with plotters.
//!
//! True time runs left to right. From the top:
//!
//! - **Header**: scenario, seed, verdict, and the verdict in one sentence.
//! - **Violation callouts** (red): what overlapped and when, with an arrow
//!   to the fault badges that set it up.
//! - **Fault badges** `F1`, `F2`, ...: every injected fault at its true
//!   time, with a dashed line down to the lane it hit.
//! - **One lane per client**: acquire attempts (grey line, a tick at each
//!   start), the lease (solid bar in the client's colour: the oracle's
//!   window), the part past the client's own validity deadline (white
//!   hatching), the part the client kept working after its lease ended
//!   (pale), its resource sessions (dark bar) with stale writes (red
//!   triangles) and fenced writes (crosses). The label gives the client's
//!   clock offset and drift.
//! - **One lane per Redis node**: who holds the lock key (colour of the
//!   client, pale on a replica, a notch where it expired), role changes and
//!   failovers. The label gives the role and any clock jump.
//! - **The resource**: whose session is the newest it has seen begin.
//! - **The network** (if partitioned): each partition and its groups; the
//!   lanes of the nodes it cut get a dark stripe along their bottom.
//! - On any node lane: pauses (dark hatching), down time (cross-hatching),
//!   restarts (green triangle, with what was loaded), clock jumps (magenta
//!   line, "wall clock +20 s").
//! - The **violation window**: a red translucent band across every lane.
//! - The **heal line** (`heal_at`), the x axis in seconds, the legend.
//!
//! Output is deterministic: integer pixel coordinates, ordered maps, and
//! text formatted from integers.

mod draw;
mod holders;
pub mod lanes;
mod layout;
mod legend;
pub mod model;
mod palette;
mod spans;

use crate::model::{Fault, NodeRef, Scenario, Verdict};
use crate::report::canvas::{self, text_w, Canvas, Dash, Font, Paint};
use crate::report::markdown::verdict_sentence;
use crate::world::run::Outcome;
use layout::{LaneKind, Layout, BADGE_PX, W, X0, X1};
use model::Model;
use palette::{INK, NOTE};

const HEADER_H: i32 = 50;

/// The SVG timeline of a run.
pub fn render(scenario: &Scenario, outcome: &Outcome) -> String {
    let m = model::build(scenario, outcome);
    let l = layout::layout(&m, HEADER_H);
    let z = layout::zoom(&m, &l);
    let legend_y = z.as_ref().map_or(l.legend_y, |z| z.legend_y);
    let height = legend_y + legend::height(&m) + 6;
    let mut buf = String::with_capacity(64 * 1024);
    {
        let c = Canvas::new(&mut buf, W as u32, height as u32);
        header(&c, scenario, outcome);
        lanes(&c, &l, &m, scenario);
        bands(&c, &l, &m, l.badge_y);
        callouts(&c, &l, &m);
        faults(&c, &l, &m);
        axis(&c, &l, m.heal_us);
        if let Some(z) = &z {
            zoom_panel(&c, &l, z, &m, scenario);
        }
        legend::draw(&c, &m, legend_y);
        c.present();
    }
    canvas::finish(buf)
}

fn header(c: &Canvas, s: &Scenario, o: &Outcome) {
    let verdict = o.verdict();
    let colour = match verdict {
        Verdict::Violation => palette::VIOLATION,
        Verdict::Liveness => palette::BADGE_INK,
        Verdict::Safe => palette::RESTART,
    };
    let expected = if verdict == s.expect {
        "as expected".to_string()
    } else {
        format!("expected {}", s.expect)
    };
    let title = format!("{} · seed {}", s.name, o.seed);
    c.text(&title, 12, 15, Font::new(15.0, INK).bold());
    let vx = 12 + text_w(&title, 15.0 * 1.12) + 16;
    let vtext = format!("{} ({expected})", verdict.name().to_uppercase());
    c.text(&vtext, vx, 15, Font::new(14.0, colour).bold());
    let algo = format!(
        "{} · {} Redis node(s), {} · persistence {}",
        s.algorithm_label(),
        s.redis.nodes,
        s.redis.topology.name(),
        s.redis.persistence.name()
    );
    c.text(&algo, X1, 15, Font::new(11.0, NOTE).right());
    let mut sentence = verdict_sentence(s, o);
    let max = ((W - 24) as f64 / (12.0 * 0.58)) as usize;
    if sentence.chars().count() > max {
        sentence = sentence.chars().take(max - 1).collect::<String>() + "…";
    }
    c.text(&sentence, 12, 36, Font::new(12.0, INK));
}

fn client_note(m: &Model, i: usize) -> String {
    let cl = &m.clients[i];
    format!(
        "clock {}, {}",
        crate::report::describe::signed_ms(cl.offset_ms),
        crate::report::describe::ppm(cl.drift_ppm)
    )
}

/// The clock jumps of a lane, for next to its name: `wall +20 s`.
fn jump_flag(jumps: &[(u64, i64)]) -> String {
    let j: Vec<String> = jumps
        .iter()
        .map(|(_, by)| crate::report::describe::signed_ms(*by))
        .collect();
    if j.is_empty() {
        String::new()
    } else {
        format!("wall {}", j.join(", "))
    }
}

fn redis_note(m: &Model, i: usize) -> String {
    let r = &m.redis[i];
    let mut note = r.role.clone();
    if let Some(role) = r.roles.iter().rev().find_map(|(_, x)| x.strip_prefix("→ ")) {
        let role = role.split(' ').next().unwrap_or(role);
        note.push_str(&format!(" → {role}"));
    }
    note
}

fn lanes(c: &Canvas, l: &Layout, m: &Model, s: &Scenario) {
    for (i, b) in l.lanes.iter().enumerate() {
        let (name, note, colour, flag) = match b.kind {
            LaneKind::Client(k) => (
                format!("client-{k}"),
                client_note(m, k),
                palette::client(k),
                jump_flag(&m.clients[k].marks.jumps),
            ),
            LaneKind::Redis(k) => (
                format!("redis-{k}"),
                redis_note(m, k),
                palette::INK,
                jump_flag(&m.redis[k].marks.jumps),
            ),
            LaneKind::Resource => (
                "resource".into(),
                "newest session it has seen".into(),
                palette::SESSION,
                jump_flag(&m.resource.marks.jumps),
            ),
            LaneKind::Network(r) => (
                if r == 0 { "network" } else { "" }.into(),
                String::new(),
                palette::PARTITION,
                String::new(),
            ),
        };
        draw::lane_frame(c, *b, i, &name, &note, colour);
        let mut x = 24 + text_w(&name, 12.5) + 8;
        if !flag.is_empty() {
            c.text(&flag, x, b.y + 11, Font::new(10.5, palette::JUMP).bold());
            x += text_w(&flag, 10.5) + 6;
        }
        if matches!(b.kind, LaneKind::Client(k) if m.clients[k].unfinished) {
            c.text(
                "unfinished",
                x,
                b.y + 11,
                Font::new(10.5, palette::BADGE_INK).bold(),
            );
        }
    }
    // Grid lines at the major ticks.
    for (t, _) in l.tick_times().into_iter().filter(|(_, major)| *major) {
        let x = l.x(t * 1000);
        c.rect(
            x,
            l.lanes_top,
            x + 1,
            l.lanes_bottom,
            Paint::Solid(palette::GRID, 1.0),
        );
    }
    for b in &l.lanes {
        match b.kind {
            LaneKind::Client(k) => {
                draw::client_lane(c, l, *b, &m.clients[k], s.redis.nodes > 1);
                draw::node_marks(c, l, *b, &m.clients[k].marks);
            }
            LaneKind::Redis(k) => {
                draw::redis_lane(c, l, *b, &m.redis[k]);
                draw::node_marks(c, l, *b, &m.redis[k].marks);
            }
            LaneKind::Resource => {
                draw::resource_lane(c, l, *b, &m.resource);
                draw::node_marks(c, l, *b, &m.resource.marks);
            }
            LaneKind::Network(r) => draw::network_row(c, l, *b, m, r),
        }
    }
}

/// The violation windows: red bands from `top` to the lanes' bottom.
fn bands(c: &Canvas, l: &Layout, m: &Model, top: i32) {
    let red = palette::VIOLATION;
    for vm in &m.violations {
        let span = model::Span {
            from_us: vm.v.from_us,
            to_us: vm.v.to_us,
        };
        let Some((a, z)) = l.xs(span, 3) else {
            continue;
        };
        c.rect(a, top, z, l.lanes_bottom, Paint::Solid(red, 0.16));
        if l.xp(span.from_us).is_some() {
            c.rect(a, top, a + 1, l.lanes_bottom, Paint::Solid(red, 0.8));
        }
        if l.xp(span.to_us).is_some() {
            c.rect(z - 1, top, z, l.lanes_bottom, Paint::Solid(red, 0.8));
        }
    }
}

/// The red callouts, with arrows from the first to its faults' badges.
fn callouts(c: &Canvas, l: &Layout, m: &Model) {
    let red = palette::VIOLATION;
    for co in &l.callouts {
        let mid = l.callout_mid(co.row);
        let w = text_w(&co.text, 12.0);
        c.rect(co.x, mid - 6, co.x + 10, mid + 5, Paint::Solid(red, 1.0));
        c.text(&co.text, co.x + 14, mid, Font::new(12.0, red).bold());
        // Arrows from the first callout to the faults that set it up.
        let vm = &m.violations[co.index];
        let causes: &[usize] = if co.index == 0 { &vm.causes } else { &[] };
        for no in causes {
            let Some(b) = l.badges.iter().find(|b| b.no == *no) else {
                continue;
            };
            let xb = b.x + 3;
            let btop = l.badge_top(b.row) - 1;
            let start = if xb < co.x {
                Some((co.x - 3, mid))
            } else if xb > co.x + 14 + w {
                Some((co.x + 16 + w, mid))
            } else {
                None
            };
            let pts = match start {
                Some(s) => vec![s, (xb, mid), (xb, btop - 4)],
                None => vec![(xb, mid + 8), (xb, btop - 4)],
            };
            c.line(&pts, red, 1.0, 2);
            c.polygon(
                &[(xb - 4, btop - 5), (xb + 4, btop - 5), (xb, btop)],
                red,
                1.0,
            );
        }
    }
    if m.violations.len() > l.callouts.len() {
        let more = m.violations.len() - l.callouts.len();
        let y = 36;
        c.text(
            &format!("+{more} more violation(s): see report.md"),
            X1,
            y,
            Font::new(10.5, red).right(),
        );
    }
}

fn fault_lanes(l: &Layout, f: &Fault, nodes: &[NodeRef]) -> Option<i32> {
    match f {
        Fault::Partition { .. } | Fault::Heal => l.network().map(|b| b.y),
        _ => nodes
            .iter()
            .filter_map(|n| l.lane_of(*n))
            .map(|b| b.y)
            .min(),
    }
}

fn faults(c: &Canvas, l: &Layout, m: &Model) {
    let causes: Vec<usize> = m.violations.iter().flat_map(|v| v.causes.clone()).collect();
    for (f, b) in m.faults.iter().zip(&l.badges) {
        let x = b.anchor;
        let bottom = l.badge_top(b.row) + l.badge_h();
        if let Some(y) = fault_lanes(l, &f.fault, &f.nodes) {
            c.dashed(&[(x, bottom), (x, y + 2)], Dash::Fault, 1);
        }
        if b.x > x - 3 {
            // The badge had to move right: tie it to its time.
            c.line(
                &[(x, bottom + 2), (x, bottom), (b.x, bottom - 3)],
                palette::BADGE_INK,
                1.0,
                1,
            );
        }
    }
    for b in &l.badges {
        let top = l.badge_top(b.row);
        let cause = causes.contains(&b.no);
        c.rect(
            b.x,
            top,
            b.x + b.w,
            top + l.badge_h(),
            Paint::Solid(palette::BADGE_FILL, 1.0),
        );
        let (ink, width) = if cause {
            (palette::VIOLATION, 2)
        } else {
            (palette::BADGE_INK, 1)
        };
        c.frame(b.x, top, b.x + b.w, top + l.badge_h(), ink, width);
        let font = Font::new(BADGE_PX, ink);
        let font = if cause { font.bold() } else { font };
        c.text(&b.text, b.x + 4, top + l.badge_h() / 2, font);
    }
}

/// The zoom panel: its range marked on the main axis, a title, the same
/// lanes over the shorter range, the bands, the faults in range, an axis.
fn zoom_panel(c: &Canvas, main: &Layout, z: &Layout, m: &Model, s: &Scenario) {
    let (a, b) = (
        main.x(z.start_us),
        main.x(z.end_us).max(main.x(z.start_us) + 2),
    );
    let y = main.axis_y + 22;
    c.rect(a, y, b, y + 4, Paint::Solid(palette::VIOLATION, 0.8));
    c.text(
        "zoomed below",
        b + 4,
        y + 2,
        Font::new(10.0, palette::VIOLATION).bold(),
    );
    let title = format!(
        "Zoom: {} to {} true time, the first violation and the faults behind it",
        crate::history::fmt_true(z.start_us),
        crate::history::fmt_true(z.end_us)
    );
    c.rect(
        0,
        z.callout_y,
        X1 + 4,
        z.callout_y + 1,
        Paint::Solid(palette::RULE, 1.0),
    );
    c.text(&title, 12, z.callout_y + 14, Font::new(12.5, INK).bold());
    lanes(c, z, m, s);
    bands(c, z, m, z.lanes_top);
    for f in &m.faults {
        let Some(x) = z.xp(f.t_us) else { continue };
        let top = z.lanes_top - 8;
        if let Some(y) = fault_lanes(z, &f.fault, &f.nodes) {
            c.dashed(&[(x, top), (x, y + 2)], Dash::Fault, 1);
        }
        c.text(
            &format!("F{}", f.no),
            x + 2,
            top - 2,
            Font::new(10.0, palette::BADGE_INK).bold(),
        );
    }
    axis(c, z, m.heal_us);
}

fn axis(c: &Canvas, l: &Layout, heal_us: Option<u64>) {
    let y = l.axis_y;
    if let Some(x) = heal_us.and_then(|h| l.xp(h)) {
        c.dashed(&[(x, l.lanes_top), (x, y)], Dash::Grey, 1);
        let text = "heal_at: every fault undone";
        let font = Font::new(10.0, NOTE);
        if x + 4 + text_w(text, 10.0) > X1 {
            c.label(text, x - 4, y + 26, font.right());
        } else {
            c.label(text, x + 4, y + 26, font);
        }
    }
    c.rect(X0, y, X1 + 1, y + 1, Paint::Solid(INK, 1.0));
    let (step, _) = layout::ticks(l.end_us - l.start_us);
    for (t, major) in l.tick_times() {
        let x = l.x(t * 1000);
        if major {
            c.rect(x, y, x + 1, y + 6, Paint::Solid(INK, 1.0));
            c.text(
                &layout::tick_label(t, step),
                x,
                y + 15,
                Font::new(10.5, INK).center(),
            );
        } else {
            c.rect(x, y, x + 1, y + 3, Paint::Solid(INK, 0.7));
        }
    }
    c.text(
        "true time",
        X0 - 30,
        y + 15,
        Font::new(11.0, NOTE).bold().right(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_scenario;
    use crate::world::run::run;

    const CLOCK_JUMP: &str = r#"
name = "redlock-clock-jump"
about = "Row 25: client-0 holds {0,1,2}; redis-2's clock jumps; client-1 gets {2,3,4}"
expect = "violation"
seed = 1
duration_ms = 30000

[lock]
algorithm = "redlock"
ttl_ms = 10000

[redis]
topology = "independent"
nodes = 5

[clients]
count = 2
cycles = 3
work_ms = [5000, 5000]

[[faults]]
at_ms = 0
kind = "partition"
groups = [["client-0"], ["redis-3", "redis-4"]]
for_ms = 12000

[[faults]]
on = "acquired:client-0"
delay_ms = 100
kind = "clock-jump"
node = "redis-2"
by_ms = 20000
"#;

    #[test]
    fn redlock_clock_jump_timeline_shows_the_jumping_node_and_the_overlap() {
        let s = parse_scenario(CLOCK_JUMP, "clock-jump.toml").expect("the scenario parses");
        let o = run(&s, s.seed);
        assert_eq!(o.verdict(), Verdict::Violation);
        let m = model::build(&s, &o);
        // redis-2 held client-0's key until its wall clock jumped: expired
        // at the jump, then granted to client-1.
        let jump_us = m.redis[2].marks.jumps[0].0;
        let holds = &m.redis[2].holds;
        let i = holds
            .iter()
            .position(|h| h.client == 0 && h.to_us == jump_us)
            .expect("client-0's key on redis-2 ends at the jump");
        assert_eq!(holds[i].end, model::HoldEnd::Expired);
        assert_eq!(holds[i + 1].client, 1);
        // The first violation is caused by the jump (and the lasting partition).
        let jump_fault = m
            .faults
            .iter()
            .find(|f| matches!(f.fault, Fault::ClockJump { .. }))
            .expect("the jump is a fault");
        assert!(m.violations[0].causes.contains(&jump_fault.no));
        let svg = render(&s, &o);
        assert!(svg.contains("wall clock +20 s"));
        assert!(svg.contains("redis-2: jump +20 s"));
        assert!(svg.contains("L: client-0 and client-1 both held the lock"));
        assert_eq!(svg, render(&s, &o), "same run, same bytes");
    }
}
