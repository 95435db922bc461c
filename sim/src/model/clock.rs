//! Local clocks: every node, Redis or client, reads its own.
//!
//! True time is madsim's global clock, seen only by the world, the history
//! and the oracle. A node's clock is a piecewise-linear function of true
//! time: it starts at an offset, runs fast or slow by `drift_ppm`, and its
//! wall time can jump. Monotonic time follows drift but never jumps, as
//! `CLOCK_MONOTONIC` does; wall time follows drift and jumps, as
//! `CLOCK_REALTIME` does under NTP steps or an operator's `date -s`.
//!
//! Every change is kept as a segment, so the oracle can ask the inverse
//! question exactly: at what true time did this clock first read `x`?

use serde::{Deserialize, Serialize};

/// Wall time at true time zero: 2023-11-14T22:13:20Z, in Unix ms.
pub const WALL_EPOCH_MS: i64 = 1_700_000_000_000;

/// Monotonic time at true time zero, in ms (an uptime of 10 000 s, so that
/// negative offsets stay positive).
pub const MONO_EPOCH_MS: i64 = 10_000_000;

/// How a clock misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClockChange {
    /// Wall time steps by `by_ms` (negative: backwards). Monotonic time does not.
    Jump { by_ms: i64 },
    /// From now on the clock runs at `1 + ppm / 1e6` times true speed.
    Drift { ppm: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    /// True time at which this segment starts, in µs.
    start_true_us: u64,
    /// Monotonic reading at the segment start, in µs (fractional drift kept).
    mono_us: f64,
    /// Wall reading at the segment start, in µs.
    wall_us: f64,
    drift_ppm: f64,
}

impl Segment {
    fn rate(&self) -> f64 {
        1.0 + self.drift_ppm / 1e6
    }
}

/// One node's clock.
#[derive(Clone, Debug, PartialEq)]
pub struct Clock {
    segments: Vec<Segment>,
}

impl Clock {
    /// A clock whose wall and monotonic readings start `offset_ms` ahead of
    /// the epoch and run `drift_ppm` fast.
    pub fn new(offset_ms: i64, drift_ppm: f64) -> Clock {
        let offset_us = offset_ms as f64 * 1000.0;
        Clock {
            segments: vec![Segment {
                start_true_us: 0,
                mono_us: MONO_EPOCH_MS as f64 * 1000.0 + offset_us,
                wall_us: WALL_EPOCH_MS as f64 * 1000.0 + offset_us,
                drift_ppm,
            }],
        }
    }

    fn segment_at(&self, true_us: u64) -> &Segment {
        let i = self
            .segments
            .partition_point(|s| s.start_true_us <= true_us)
            .saturating_sub(1);
        &self.segments[i]
    }

    /// Monotonic reading in µs at true time `true_us`.
    pub fn mono_us(&self, true_us: u64) -> f64 {
        let s = self.segment_at(true_us);
        s.mono_us + (true_us.saturating_sub(s.start_true_us)) as f64 * s.rate()
    }

    /// Wall reading in µs at true time `true_us`.
    pub fn wall_us(&self, true_us: u64) -> f64 {
        let s = self.segment_at(true_us);
        s.wall_us + (true_us.saturating_sub(s.start_true_us)) as f64 * s.rate()
    }

    /// Monotonic reading in whole ms (floor).
    pub fn mono_ms(&self, true_us: u64) -> u64 {
        (self.mono_us(true_us) / 1000.0).floor().max(0.0) as u64
    }

    /// Wall reading in whole Unix ms (floor).
    pub fn wall_ms(&self, true_us: u64) -> i64 {
        (self.wall_us(true_us) / 1000.0).floor() as i64
    }

    /// The current drift, in ppm.
    pub fn drift_ppm(&self, true_us: u64) -> f64 {
        self.segment_at(true_us).drift_ppm
    }

    /// Wall minus true time at `true_us`, in ms: how far off this clock is.
    pub fn wall_offset_ms(&self, true_us: u64) -> f64 {
        self.wall_us(true_us) / 1000.0 - WALL_EPOCH_MS as f64 - true_us as f64 / 1000.0
    }

    /// Applies a change at true time `at_true_us` (not before the last one).
    pub fn apply(&mut self, at_true_us: u64, change: ClockChange) {
        let last = *self.segments.last().expect("a clock has a segment");
        let at = at_true_us.max(last.start_true_us);
        let mut next = Segment {
            start_true_us: at,
            mono_us: self.mono_us(at),
            wall_us: self.wall_us(at),
            drift_ppm: last.drift_ppm,
        };
        match change {
            ClockChange::Jump { by_ms } => next.wall_us += by_ms as f64 * 1000.0,
            ClockChange::Drift { ppm } => next.drift_ppm = ppm,
        }
        if last.start_true_us == at {
            *self.segments.last_mut().expect("non-empty") = next;
        } else {
            self.segments.push(next);
        }
    }

    /// The first true time (µs) at which the monotonic clock reads at least
    /// `mono_ms`, searching from `from_true_us`.
    pub fn true_us_when_mono(&self, mono_ms: u64, from_true_us: u64) -> u64 {
        self.first_true_us(from_true_us, mono_ms as f64 * 1000.0, |s| s.mono_us)
    }

    /// The first true time (µs) at or after `from_true_us` at which the wall
    /// clock reads at least `wall_ms` (a backward jump can delay it, a
    /// forward jump can bring it at once).
    pub fn true_us_when_wall(&self, wall_ms: i64, from_true_us: u64) -> u64 {
        self.first_true_us(from_true_us, wall_ms as f64 * 1000.0, |s| s.wall_us)
    }

    fn first_true_us(
        &self,
        from_true_us: u64,
        target_us: f64,
        read: impl Fn(&Segment) -> f64,
    ) -> u64 {
        let n = self.segments.len();
        for i in 0..n {
            let s = &self.segments[i];
            let end = self.segments.get(i + 1).map(|x| x.start_true_us);
            if end.is_some_and(|e| e <= from_true_us) {
                continue;
            }
            let start = s.start_true_us.max(from_true_us);
            let value_at_start = read(s) + (start - s.start_true_us) as f64 * s.rate();
            if value_at_start >= target_us {
                return start;
            }
            let need_us = ((target_us - value_at_start) / s.rate()).ceil() as u64;
            let hit = start + need_us;
            match end {
                Some(e) if hit >= e => continue,
                _ => return hit,
            }
        }
        u64::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_runs_fast_and_jumps_move_wall_only() {
        let mut c = Clock::new(5, 1000.0); // 0.1 % fast
        assert_eq!(c.wall_ms(0), WALL_EPOCH_MS + 5);
        assert_eq!(c.mono_ms(1_000_000) as i64, MONO_EPOCH_MS + 5 + 1001);
        c.apply(1_000_000, ClockChange::Jump { by_ms: 30_000 });
        assert_eq!(c.wall_ms(1_000_000), WALL_EPOCH_MS + 5 + 1001 + 30_000);
        assert_eq!(c.mono_ms(1_000_000) as i64, MONO_EPOCH_MS + 5 + 1001);
    }

    #[test]
    fn inverse_finds_first_true_time() {
        let mut c = Clock::new(0, 0.0);
        c.apply(2_000_000, ClockChange::Jump { by_ms: 10_000 });
        // wall reaches epoch+5 s at true 2 s (the jump), not at true 5 s.
        assert_eq!(c.true_us_when_wall(WALL_EPOCH_MS + 5_000, 0), 2_000_000);
        assert_eq!(c.true_us_when_wall(WALL_EPOCH_MS + 1_000, 0), 1_000_000);
        // monotonic is unaffected by the jump.
        assert_eq!(
            c.true_us_when_mono(MONO_EPOCH_MS as u64 + 5_000, 0),
            5_000_000
        );
        let mut b = Clock::new(0, 0.0);
        b.apply(1_000_000, ClockChange::Jump { by_ms: -5_000 });
        assert_eq!(b.true_us_when_wall(WALL_EPOCH_MS + 2_000, 0), 7_000_000);
    }
}
