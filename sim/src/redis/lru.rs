//! Redis 7.0's access bookkeeping for eviction (`evict.c`, `object.c`):
//! the 24-bit LRU clock with its 1 s resolution, the LFU logarithmic
//! counter with its per-minute decay, and the random generator a server
//! process draws from (SplitMix64, standing in for Redis's `random()`,
//! `rand()` and `genrand64`, seeded by the world from the run's seed).
//!
//! `robj->lru` holds, under an LRU policy (or no policy), the LRU clock at
//! the last access; under an LFU policy, the minute of the last decrement
//! (16 bits) << 8 | the counter (8 bits). New objects start at the clock,
//! or at `LFU_INIT_VAL` = 5; an access sets the clock, or decays then
//! increments the counter with probability
//! `1 / ((counter - 5) * lfu-log-factor + 1)` (factor 10, saturating at
//! 255). Redis reads an LRU clock its cron refreshes every 100 ms; the
//! model reads the command's own time.

/// `LRU_CLOCK_MAX`: the LRU clock has 24 bits.
const LRU_CLOCK_MAX: u64 = (1 << 24) - 1;
/// `LRU_CLOCK_RESOLUTION`, ms.
const LRU_CLOCK_RESOLUTION: i64 = 1000;
/// `LFU_INIT_VAL`.
const LFU_INIT_VAL: u32 = 5;
/// `lfu-log-factor` (default 10).
const LFU_LOG_FACTOR: f64 = 10.0;
/// `lfu-decay-time` in minutes (default 1).
const LFU_DECAY_TIME: u64 = 1;

/// A server process's random generator (SplitMix64), standing in for
/// Redis's `random()`, `rand()` and `genrand64` alike.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `(double)rand()/RAND_MAX`, in [0, 1].
    fn unit(&mut self) -> f64 {
        const RAND_MAX: u64 = (1 << 31) - 1;
        (self.next_u64() >> 33) as f64 / RAND_MAX as f64
    }
}

impl Default for Rng {
    fn default() -> Self {
        Rng::new(0x05ee_d0f7_ed15)
    }
}

/// `getLRUClock()` at node wall time `now_ms`.
pub(crate) fn lru_clock(now_ms: i64) -> u32 {
    (now_ms.div_euclid(LRU_CLOCK_RESOLUTION) as u64 & LRU_CLOCK_MAX) as u32
}

/// `estimateObjectIdleTime`: ms since the last access, at the clock's
/// resolution.
pub(crate) fn idle_ms(lru: u32, now_ms: i64) -> u64 {
    let (clock, lru) = (u64::from(lru_clock(now_ms)), u64::from(lru));
    let ticks = if clock >= lru {
        clock - lru
    } else {
        clock + (LRU_CLOCK_MAX - lru)
    };
    ticks * LRU_CLOCK_RESOLUTION as u64
}

/// `LFUGetTimeInMinutes()`.
fn lfu_minutes(now_ms: i64) -> u64 {
    (now_ms.div_euclid(1000) / 60) as u64 & 65_535
}

/// `LFUDecrAndReturn`: the counter after the decay periods since its last
/// decrement (without storing it).
pub(crate) fn lfu_counter(lru: u32, now_ms: i64) -> u32 {
    let ldt = u64::from(lru >> 8);
    let counter = lru & 255;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65_535 - ldt + now
    };
    let periods = elapsed / LFU_DECAY_TIME;
    if periods > u64::from(counter) {
        0
    } else {
        counter - periods as u32
    }
}

/// `LFULogIncr`.
fn lfu_log_incr(counter: u32, rng: &mut Rng) -> u32 {
    if counter == 255 {
        return 255;
    }
    let base = (f64::from(counter) - f64::from(LFU_INIT_VAL)).max(0.0);
    let p = 1.0 / (base * LFU_LOG_FACTOR + 1.0);
    if rng.unit() < p {
        counter + 1
    } else {
        counter
    }
}

/// `robj->lru` of an object created at `now_ms` (`createObject`).
pub(crate) fn fresh_lru(lfu: bool, now_ms: i64) -> u32 {
    if lfu {
        ((lfu_minutes(now_ms) << 8) as u32) | LFU_INIT_VAL
    } else {
        lru_clock(now_ms)
    }
}

/// `robj->lru` after an access (`lookupKey`; `updateLFU` under LFU).
pub(crate) fn touched_lru(lru: u32, lfu: bool, now_ms: i64, rng: &mut Rng) -> u32 {
    if !lfu {
        return lru_clock(now_ms);
    }
    let counter = lfu_log_incr(lfu_counter(lru, now_ms), rng);
    ((lfu_minutes(now_ms) << 8) as u32) | counter
}

/// `objectSetLRUOrLFU` (RESTORE ... IDLETIME / FREQ): `robj->lru` for an
/// idle time in seconds or a frequency, at `now_ms`.
pub(crate) fn restored_lru(lfu: bool, idle_s: u64, freq: u8, now_ms: i64) -> u32 {
    if lfu {
        return ((lfu_minutes(now_ms) << 8) as u32) | u32::from(freq);
    }
    let clock = i64::from(lru_clock(now_ms));
    let abs = clock - idle_s as i64;
    if abs < 0 {
        ((clock as u64 + LRU_CLOCK_MAX / 2) % LRU_CLOCK_MAX) as u32
    } else {
        abs as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_idle_time_has_one_second_resolution_and_wraps() {
        let t = 1_700_000_000_123;
        let lru = lru_clock(t);
        assert_eq!(idle_ms(lru, t + 876), 0, "same second");
        assert_eq!(idle_ms(lru, t + 877), 1000, "next second");
        assert_eq!(idle_ms(LRU_CLOCK_MAX as u32, 5000), 5000, "wrapped");
        assert_eq!(restored_lru(false, 100, 0, t), lru - 100);
        assert_eq!(idle_ms(restored_lru(false, 100, 0, t), t), 100_000);
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays_per_minute() {
        let t = 1_700_000_000_000;
        let mut rng = Rng::new(3);
        let mut lru = fresh_lru(true, t);
        assert_eq!(lfu_counter(lru, t), 5);
        for _ in 0..1000 {
            lru = touched_lru(lru, true, t, &mut rng);
        }
        let c = lfu_counter(lru, t);
        assert!(
            (15..=30).contains(&c),
            "1000 hits make a counter near 20, got {c}"
        );
        assert_eq!(
            lfu_counter(lru, t + 3 * 60_000),
            c - 3,
            "one off per minute"
        );
        assert_eq!(lfu_counter(lru, t + 1000 * 60_000), 0);
    }
}
