//! A tiny profiler: where a thread's time goes, by [`Part`] of locksim.
//!
//! `let _g = profile::section(Part::Redis);` times the rest of the scope
//! and adds it to that part on this thread. Inside a madsim run
//! `std::time::Instant` and `clock_gettime` return simulated time, so the
//! profiler counts CPU timestamp-counter ticks instead (`rdtsc` on x86_64);
//! turning ticks into seconds is the caller's business (`locksim bench`
//! measures the tick rate against `Instant` outside any run). On other
//! architectures the profiler is [unavailable](available) and records
//! nothing.
//!
//! Off by default. While off, a section costs one thread-local read and a
//! branch. A section entered inside another one gets its own time and
//! pauses the outer one, so nothing is counted twice. A section must not
//! be held across an `.await`: it would count whatever other tasks run
//! meanwhile (the guard is not `Send`, which catches that in `Send`
//! futures).
//!
//! The profiler only ever reads the timestamp counter and writes its own
//! thread-local counters: it never touches a run's RNG, its time or its
//! history, so profiled and unprofiled runs are identical.

use std::cell::Cell;
use std::marker::PhantomData;

/// What a section of time is spent on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The Redis model: command execution, Lua scripts, effects, expiry.
    Redis,
    /// The world and the history: recording events, the world's
    /// bookkeeping (clocks, triggers, progress).
    World,
    /// The oracle judging a finished run.
    Oracle,
    /// Creating and tearing down a run's madsim runtime.
    Runtime,
}

const PARTS: usize = 4;

impl Part {
    /// Every part, in table order.
    pub const ALL: [Part; PARTS] = [Part::Redis, Part::World, Part::Oracle, Part::Runtime];

    fn index(self) -> usize {
        self as usize
    }

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Part::Redis => "redis+lua",
            Part::World => "world+history",
            Part::Oracle => "oracle",
            Part::Runtime => "runtime new/drop",
        }
    }
}

/// Ticks and entries per part since the last [`take`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Breakdown {
    ticks: [u64; PARTS],
    entries: [u64; PARTS],
}

impl Breakdown {
    /// Timestamp-counter ticks spent in `part` (its nested sections of
    /// other parts excluded).
    pub fn ticks(&self, part: Part) -> u64 {
        self.ticks[part.index()]
    }

    /// How many sections of `part` were entered: 0 means the part was not
    /// measured at all (nothing instrumented ran), not that it was free.
    pub fn entries(&self, part: Part) -> u64 {
        self.entries[part.index()]
    }

    /// Ticks of every part together.
    pub fn total_ticks(&self) -> u64 {
        self.ticks.iter().sum()
    }
}

struct State {
    enabled: Cell<bool>,
    /// The innermost open section.
    current: Cell<Option<Part>>,
    /// When `current` last started counting.
    since: Cell<u64>,
    ticks: [Cell<u64>; PARTS],
    entries: [Cell<u64>; PARTS],
}

impl State {
    fn add(&self, part: Part, ticks: u64) {
        let c = &self.ticks[part.index()];
        c.set(c.get() + ticks);
    }
}

thread_local! {
    static STATE: State = const {
        State {
            enabled: Cell::new(false),
            current: Cell::new(None),
            since: Cell::new(0),
            ticks: [const { Cell::new(0) }; PARTS],
            entries: [const { Cell::new(0) }; PARTS],
        }
    };
}

/// Whether this build can profile (it needs a timestamp counter).
pub const fn available() -> bool {
    cfg!(target_arch = "x86_64")
}

/// The CPU timestamp counter now (0 where [unavailable](available)).
/// Unaffected by madsim's simulated time.
#[inline]
pub fn now_ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` exists on every x86_64 CPU, reads a counter and
        // has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// Turns profiling on or off on this thread (stays off where
/// [unavailable](available)). Sections already open finish their count.
pub fn enable(on: bool) {
    STATE.with(|s| s.enabled.set(on && available()));
}

/// This thread's counts since the last `take`, and resets them.
pub fn take() -> Breakdown {
    STATE.with(|s| Breakdown {
        ticks: std::array::from_fn(|i| s.ticks[i].take()),
        entries: std::array::from_fn(|i| s.entries[i].take()),
    })
}

/// An open section; counts until dropped.
#[must_use = "a section counts until the guard is dropped"]
pub struct Section {
    /// `None` when profiling was off at entry (the guard does nothing).
    part: Option<Part>,
    /// The section this one interrupted.
    outer: Option<Part>,
    /// Not `Send`: a section must not be held across an await.
    _not_send: PhantomData<*const ()>,
}

/// Opens a section of `part` on this thread, pausing the enclosing one.
#[inline]
pub fn section(part: Part) -> Section {
    STATE.with(|s| {
        if !s.enabled.get() {
            return Section {
                part: None,
                outer: None,
                _not_send: PhantomData,
            };
        }
        let now = now_ticks();
        let outer = s.current.get();
        if let Some(o) = outer {
            s.add(o, now.wrapping_sub(s.since.get()));
        }
        let e = &s.entries[part.index()];
        e.set(e.get() + 1);
        s.current.set(Some(part));
        s.since.set(now);
        Section {
            part: Some(part),
            outer,
            _not_send: PhantomData,
        }
    })
}

impl Drop for Section {
    #[inline]
    fn drop(&mut self) {
        let Some(part) = self.part else { return };
        STATE.with(|s| {
            let now = now_ticks();
            s.add(part, now.wrapping_sub(s.since.get()));
            s.current.set(self.outer);
            s.since.set(now);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(ticks: u64) {
        let start = now_ticks();
        while now_ticks().wrapping_sub(start) < ticks {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn off_records_nothing() {
        enable(false);
        let _ = take();
        {
            let _g = section(Part::Redis);
            spin(10_000);
        }
        assert_eq!(take(), Breakdown::default());
    }

    #[test]
    fn a_nested_section_pauses_the_outer_one() {
        if !available() {
            return;
        }
        enable(true);
        let _ = take();
        let start = now_ticks();
        {
            let _outer = section(Part::World);
            spin(1_000_000);
            {
                let _inner = section(Part::Redis);
                spin(1_000_000);
            }
            spin(1_000_000);
        }
        let total = now_ticks() - start;
        enable(false);
        let b = take();
        let (outer, inner) = (b.ticks(Part::World), b.ticks(Part::Redis));
        assert_eq!((b.entries(Part::World), b.entries(Part::Redis)), (1, 1));
        assert!(inner >= 1_000_000, "inner {inner}");
        assert!(outer >= 2_000_000, "outer {outer}");
        // Nothing counted twice: the parts fit in the wall time around them.
        assert!(outer + inner <= total, "{outer} + {inner} > {total}");
        assert!(outer < total && inner < total);
        assert_eq!(b.ticks(Part::Oracle), 0);
        assert_eq!(take(), Breakdown::default(), "take resets");
    }
}
