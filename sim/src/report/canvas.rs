//! A thin pixel-coordinate canvas over plotters' SVG backend, plus the two
//! things plotters' SVG output lacks: fill patterns (hatching) and dashed
//! strokes. Those are drawn with reserved colours and rewritten into SVG
//! `pattern`s and `stroke-dasharray` when the document is finished. Every
//! coordinate is an integer pixel, so output is byte-for-byte stable.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Font family of every text.
pub const FONT: &str = "sans-serif";

/// A fill.
#[derive(Clone, Copy, Debug)]
pub enum Paint {
    Solid(RGBColor, f64),
    Pattern(Hatch),
}

/// The hatch patterns (see [`DEFS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hatch {
    /// Dark diagonal lines: a stop-the-world pause.
    Pause = 1,
    /// White diagonal stripes over a bar: past the client's own deadline.
    Deadline = 2,
    /// Dark cross-hatch: the node is down.
    Down = 3,
}

/// Colours of dashed lines (see [`finish`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dash {
    Grey = 1,
    Fault = 2,
}

const DASH_COLOURS: [&str; 3] = ["", "#888888", "#B35806"];

const DEFS: &str = "<defs>\n\
<pattern id=\"hatch1\" width=\"7\" height=\"7\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"7\" height=\"7\" fill=\"#FFFFFF\" opacity=\"0.35\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"7\" stroke=\"#444444\" stroke-width=\"2\"/></pattern>\n\
<pattern id=\"hatch2\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(-45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#FFFFFF\" stroke-width=\"2.5\"/></pattern>\n\
<pattern id=\"hatch3\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><rect width=\"6\" height=\"6\" fill=\"#333333\" opacity=\"0.55\"/><path d=\"M0,0 L6,6 M6,0 L0,6\" stroke=\"#111111\" stroke-width=\"1\"/></pattern>\n\
</defs>\n";

/// Text settings.
#[derive(Clone, Copy)]
pub struct Font {
    pub px: f64,
    pub bold: bool,
    pub color: RGBColor,
    pub h: HPos,
    pub v: VPos,
}

impl Font {
    pub fn new(px: f64, color: RGBColor) -> Font {
        Font {
            px,
            bold: false,
            color,
            h: HPos::Left,
            v: VPos::Center,
        }
    }
    pub fn bold(mut self) -> Font {
        self.bold = true;
        self
    }
    pub fn right(mut self) -> Font {
        self.h = HPos::Right;
        self
    }
    pub fn center(mut self) -> Font {
        self.h = HPos::Center;
        self
    }
}

/// The size to hand plotters so that its SVG `font-size` (size / 1.24)
/// comes out as exactly `px`, not `15.000000000000002`.
fn backend_size(px: f64) -> f64 {
    let base = px * 1.24;
    for k in 0..8u64 {
        for cand in [base.to_bits() + k, base.to_bits().saturating_sub(k)] {
            let f = f64::from_bits(cand);
            if f / 1.24 == px {
                return f;
            }
        }
    }
    base
}

/// Estimated width of `s` in pixels (sans-serif averages ~0.58 em).
pub fn text_w(s: &str, px: f64) -> i32 {
    (s.chars().count() as f64 * px * 0.58).ceil() as i32
}

/// The drawing surface.
pub struct Canvas<'a> {
    area: DrawingArea<SVGBackend<'a>, Shift>,
}

impl<'a> Canvas<'a> {
    pub fn new(buf: &'a mut String, w: u32, h: u32) -> Canvas<'a> {
        let area = SVGBackend::with_string(buf, (w, h)).into_drawing_area();
        let _ = area.fill(&WHITE);
        Canvas { area }
    }

    /// A filled rectangle (`x1`, `y1` exclusive); nothing when empty.
    pub fn rect(&self, x0: i32, y0: i32, x1: i32, y1: i32, paint: Paint) {
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        let style = match paint {
            Paint::Solid(c, a) => c.mix(a).filled(),
            Paint::Pattern(h) => RGBColor(1, 2, h as u8).filled(),
        };
        let _ = self.area.draw(&Rectangle::new([(x0, y0), (x1, y1)], style));
    }

    /// An outlined rectangle.
    pub fn frame(&self, x0: i32, y0: i32, x1: i32, y1: i32, c: RGBColor, width: u32) {
        let _ = self
            .area
            .draw(&Rectangle::new([(x0, y0), (x1, y1)], c.stroke_width(width)));
    }

    /// A polyline.
    pub fn line(&self, pts: &[(i32, i32)], c: RGBColor, alpha: f64, width: u32) {
        let _ = self.area.draw(&PathElement::new(
            pts.to_vec(),
            c.mix(alpha).stroke_width(width),
        ));
    }

    /// A dashed polyline.
    pub fn dashed(&self, pts: &[(i32, i32)], dash: Dash, width: u32) {
        let _ = self.area.draw(&PathElement::new(
            pts.to_vec(),
            RGBColor(1, 3, dash as u8).stroke_width(width),
        ));
    }

    /// A filled polygon.
    pub fn polygon(&self, pts: &[(i32, i32)], c: RGBColor, alpha: f64) {
        let _ = self
            .area
            .draw(&Polygon::new(pts.to_vec(), c.mix(alpha).filled()));
    }

    /// Text anchored at (`x`, `y`) as `font` says.
    pub fn text(&self, s: &str, x: i32, y: i32, font: Font) {
        let style = if font.bold {
            FontStyle::Bold
        } else {
            FontStyle::Normal
        };
        let desc = FontDesc::new(FontFamily::Name(FONT), backend_size(font.px), style);
        let ts = TextStyle::from(desc)
            .color(&font.color)
            .pos(Pos::new(font.h, font.v));
        let _ = self.area.draw(&Text::new(s.to_string(), (x, y), ts));
    }

    /// Text on a white box, so it stays legible over bars and bands.
    pub fn label(&self, s: &str, x: i32, y: i32, font: Font) {
        let w = text_w(s, font.px);
        let h = font.px as i32 + 2;
        let x0 = match font.h {
            HPos::Left => x - 2,
            HPos::Center => x - w / 2 - 2,
            HPos::Right => x - w - 2,
        };
        self.rect(
            x0,
            y - h / 2,
            x0 + w + 4,
            y + h / 2 + 1,
            Paint::Solid(WHITE, 0.85),
        );
        self.text(s, x, y, font);
    }

    /// Flushes the document.
    pub fn present(self) {
        let _ = self.area.present();
    }
}

/// Rewrites reserved colours into patterns and dashes; adds the defs.
pub fn finish(svg: String) -> String {
    let mut s = svg;
    for h in 1..=3u8 {
        s = s.replace(
            &format!("fill=\"#0102{h:02X}\""),
            &format!("fill=\"url(#hatch{h})\""),
        );
    }
    for (d, colour) in DASH_COLOURS.iter().enumerate().skip(1) {
        s = s.replace(
            &format!("stroke=\"#0103{d:02X}\""),
            &format!("stroke=\"{colour}\" stroke-dasharray=\"4,3\""),
        );
    }
    match s.find(">\n") {
        Some(i) => {
            s.insert_str(i + 2, DEFS);
            s
        }
        None => s,
    }
}
