//! `reports/matrix.svg`: algorithms x fault classes, coloured by the rate of
//! runs that ended in a violation. One panel per persistence mode when
//! there is more than one. `locksim matrix` fills the cells; this module
//! only draws them.
//!
//! ```
//! use locksim::report::heatmap::{render_matrix_svg, MatrixCell};
//! let cells = vec![MatrixCell {
//!     algorithm: "redlock".into(),
//!     fault_class: "clock-jump".into(),
//!     persistence: "none".into(),
//!     runs: 100,
//!     violations: 37,
//!     liveness: 2,
//! }];
//! let svg = render_matrix_svg(&cells);
//! assert!(svg.contains("37%"));
//! ```

use crate::report::canvas::{self, text_w, Canvas, Font, Paint};
use plotters::style::RGBColor;

/// One cell of the matrix: how many runs of `algorithm` under
/// `fault_class` with `persistence` ended in a violation or lost liveness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixCell {
    pub algorithm: String,
    pub fault_class: String,
    pub persistence: String,
    pub runs: u64,
    pub violations: u64,
    pub liveness: u64,
}

const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const NOTE: RGBColor = RGBColor(0x55, 0x55, 0x55);
const EMPTY: RGBColor = RGBColor(0xEE, 0xEE, 0xEE);
const ZERO: RGBColor = RGBColor(0xEE, 0xF6, 0xEC);
/// The ramp for rates above zero (ColorBrewer "Reds").
const RAMP: [RGBColor; 5] = [
    RGBColor(0xFE, 0xE0, 0xD2),
    RGBColor(0xFC, 0x92, 0x72),
    RGBColor(0xFB, 0x6A, 0x4A),
    RGBColor(0xCB, 0x18, 0x1D),
    RGBColor(0x67, 0x00, 0x0D),
];

const CELL_W: i32 = 112;
const CELL_H: i32 = 46;
const LEFT: i32 = 150;
const TOP: i32 = 74;
const PANEL_GAP: i32 = 34;

/// The colour of a violation rate in per mille.
fn colour(permille: u64) -> RGBColor {
    if permille == 0 {
        return ZERO;
    }
    let pos = permille.min(1000) * (RAMP.len() as u64 - 1);
    let i = (pos / 1000) as usize;
    let f = pos % 1000;
    if i + 1 >= RAMP.len() {
        return RAMP[RAMP.len() - 1];
    }
    let (a, b) = (RAMP[i], RAMP[i + 1]);
    let mix = |x: u8, y: u8| ((x as u64 * (1000 - f) + y as u64 * f) / 1000) as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Distinct values in first-seen order.
fn distinct<'a>(cells: &'a [MatrixCell], f: impl Fn(&'a MatrixCell) -> &'a str) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for c in cells {
        let v = f(c);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// A rate as a whole percent, rounded half up, from integers.
fn percent(n: u64, d: u64) -> u64 {
    (n * 100 + d / 2).checked_div(d).unwrap_or(0)
}

/// Draws the matrix. Rows and columns keep the order in which algorithms
/// and fault classes first appear in `rows`; cells that repeat a
/// combination are summed.
pub fn render_matrix_svg(rows: &[MatrixCell]) -> String {
    let algos = distinct(rows, |c| &c.algorithm);
    let classes = distinct(rows, |c| &c.fault_class);
    let modes = distinct(rows, |c| &c.persistence);
    let panel_h = 24 + algos.len() as i32 * CELL_H;
    let width = (LEFT + classes.len() as i32 * CELL_W + 24).max(560);
    let legend_y = TOP + modes.len() as i32 * (panel_h + PANEL_GAP);
    let height = legend_y + 56;
    let mut buf = String::with_capacity(32 * 1024);
    {
        let c = Canvas::new(&mut buf, width as u32, height as u32);
        c.text(
            "Violation rate: algorithms x fault classes",
            12,
            16,
            Font::new(15.0, INK).bold(),
        );
        c.text(
            "cell: % of runs with a violation (L or R); below it violations/runs and liveness losses",
            12,
            38,
            Font::new(11.0, NOTE),
        );
        for (p, mode) in modes.iter().enumerate() {
            let y0 = TOP + p as i32 * (panel_h + PANEL_GAP);
            panel(&c, rows, &algos, &classes, mode, y0, modes.len() > 1);
        }
        legend(&c, legend_y);
        c.present();
    }
    canvas::finish(buf)
}

fn panel(
    c: &Canvas,
    rows: &[MatrixCell],
    algos: &[&str],
    classes: &[&str],
    mode: &str,
    y0: i32,
    titled: bool,
) {
    if titled {
        c.text(
            &format!("persistence: {mode}"),
            12,
            y0 - 8,
            Font::new(12.0, INK).bold(),
        );
    }
    for (j, class) in classes.iter().enumerate() {
        let x = LEFT + j as i32 * CELL_W + CELL_W / 2;
        let mut label = class.to_string();
        while text_w(&label, 11.0) > CELL_W - 6 && label.chars().count() > 4 {
            label = label
                .chars()
                .take(label.chars().count() - 2)
                .collect::<String>()
                + "…";
        }
        c.text(&label, x, y0 + 10, Font::new(11.0, INK).bold().center());
    }
    for (i, algo) in algos.iter().enumerate() {
        let y = y0 + 24 + i as i32 * CELL_H;
        c.text(
            algo,
            LEFT - 10,
            y + CELL_H / 2,
            Font::new(12.0, INK).bold().right(),
        );
        for (j, class) in classes.iter().enumerate() {
            let x = LEFT + j as i32 * CELL_W;
            let (mut runs, mut viol, mut live) = (0, 0, 0);
            for cell in rows.iter().filter(|r| {
                r.algorithm == *algo && r.fault_class == *class && r.persistence == mode
            }) {
                runs += cell.runs;
                viol += cell.violations;
                live += cell.liveness;
            }
            cell(c, x, y, runs, viol, live);
        }
    }
}

fn cell(c: &Canvas, x: i32, y: i32, runs: u64, viol: u64, live: u64) {
    let (x1, y1) = (x + CELL_W - 2, y + CELL_H - 2);
    if runs == 0 {
        c.rect(x, y, x1, y1, Paint::Solid(EMPTY, 1.0));
        c.text(
            "–",
            x + CELL_W / 2,
            y + CELL_H / 2,
            Font::new(12.0, NOTE).center(),
        );
        return;
    }
    let permille = viol * 1000 / runs;
    let fill = colour(permille);
    c.rect(x, y, x1, y1, Paint::Solid(fill, 1.0));
    let ink = if permille >= 500 {
        RGBColor(0xFF, 0xFF, 0xFF)
    } else {
        INK
    };
    let mid = x + CELL_W / 2;
    let pct = percent(viol, runs);
    let big = if viol > 0 && pct == 0 {
        "<1%".to_string()
    } else {
        format!("{pct}%")
    };
    c.text(&big, mid, y + 15, Font::new(14.0, ink).bold().center());
    let mut small = format!("{viol}/{runs}");
    if live > 0 {
        small.push_str(&format!(" · live {live}"));
    }
    c.text(&small, mid, y + 33, Font::new(10.0, ink).center());
}

fn legend(c: &Canvas, y: i32) {
    c.text("violation rate", 12, y + 10, Font::new(11.0, NOTE).bold());
    let x0 = LEFT;
    c.rect(x0 - 40, y + 2, x0 - 10, y + 18, Paint::Solid(ZERO, 1.0));
    c.text("none", x0 - 25, y + 30, Font::new(10.0, NOTE).center());
    let w = 300;
    for k in 0..60 {
        let pm = (k as u64 * 1000 + 500) / 60;
        let xa = x0 + k * w / 60;
        let xb = x0 + (k + 1) * w / 60;
        c.rect(xa, y + 2, xb, y + 18, Paint::Solid(colour(pm.max(1)), 1.0));
    }
    for p in [0, 25, 50, 75, 100] {
        let x = x0 + p * w / 100;
        c.rect(x, y + 18, x + 1, y + 22, Paint::Solid(INK, 1.0));
        let label = if p == 0 {
            ">0%".to_string()
        } else {
            format!("{p}%")
        };
        c.text(&label, x, y + 30, Font::new(10.0, NOTE).center());
    }
    c.text("– : not run", x0 + w + 24, y + 10, Font::new(10.5, NOTE));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(a: &str, f: &str, p: &str, runs: u64, v: u64) -> MatrixCell {
        MatrixCell {
            algorithm: a.into(),
            fault_class: f.into(),
            persistence: p.into(),
            runs,
            violations: v,
            liveness: 0,
        }
    }

    #[test]
    fn matrix_is_deterministic_and_sums_repeats() {
        let cells = vec![
            cell("set-nx-px", "pause", "none", 10, 5),
            cell("redlock", "pause", "none", 10, 0),
            cell("set-nx-px", "pause", "none", 10, 5),
            cell("redlock", "kill", "aof-always", 4, 1),
        ];
        let a = render_matrix_svg(&cells);
        assert_eq!(a, render_matrix_svg(&cells));
        assert!(a.contains("10/20"), "repeats are summed");
        assert!(a.contains("persistence: aof-always"));
        assert!(a.starts_with("<svg"));
    }

    #[test]
    fn ramp_ends_at_the_darkest_red() {
        assert_eq!(colour(1000), RAMP[4]);
        assert_eq!(colour(0), ZERO);
        assert_eq!(percent(1, 3), 33);
    }
}
