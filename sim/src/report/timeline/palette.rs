//! Colours of the timeline. Clients get distinct hues (none of them red,
//! which belongs to violations, nor magenta, which marks clock changes).

use plotters::style::RGBColor;

const CLIENTS: [RGBColor; 10] = [
    RGBColor(0x1F, 0x77, 0xB4), // blue
    RGBColor(0xFF, 0x7F, 0x0E), // orange
    RGBColor(0x2C, 0xA0, 0x2C), // green
    RGBColor(0x94, 0x67, 0xBD), // purple
    RGBColor(0x8C, 0x56, 0x4B), // brown
    RGBColor(0x17, 0xBE, 0xCF), // cyan
    RGBColor(0xBC, 0xBD, 0x22), // olive
    RGBColor(0x39, 0x3B, 0x79), // navy
    RGBColor(0x7F, 0x7F, 0x7F), // grey
    RGBColor(0xE3, 0x77, 0xC2), // pink
];

/// The colour of client `i`.
pub fn client(i: usize) -> RGBColor {
    CLIENTS[i % CLIENTS.len()]
}

/// Text and outlines.
pub const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Secondary text.
pub const NOTE: RGBColor = RGBColor(0x55, 0x55, 0x55);
/// Acquire attempts, grid.
pub const GREY: RGBColor = RGBColor(0x99, 0x99, 0x99);
pub const GRID: RGBColor = RGBColor(0xE2, 0xE2, 0xE2);
pub const RULE: RGBColor = RGBColor(0xD0, 0xD0, 0xD0);
pub const LANE_A: RGBColor = RGBColor(0xFF, 0xFF, 0xFF);
pub const LANE_B: RGBColor = RGBColor(0xF5, 0xF6, 0xF8);
/// Resource sessions.
pub const SESSION: RGBColor = RGBColor(0x3A, 0x3F, 0x47);
/// Violations.
pub const VIOLATION: RGBColor = RGBColor(0xD6, 0x27, 0x28);
/// Clock jumps and drift changes.
pub const JUMP: RGBColor = RGBColor(0xC5, 0x1B, 0x7D);
/// Partitions.
pub const PARTITION: RGBColor = RGBColor(0x00, 0x89, 0x7B);
/// Restarts.
pub const RESTART: RGBColor = RGBColor(0x1B, 0x7A, 0x3A);
/// Role changes and failovers.
pub const ROLE: RGBColor = RGBColor(0x6A, 0x3D, 0x9A);
/// Fault badges.
pub const BADGE_FILL: RGBColor = RGBColor(0xFF, 0xF6, 0xD5);
pub const BADGE_INK: RGBColor = RGBColor(0x6B, 0x4E, 0x00);
