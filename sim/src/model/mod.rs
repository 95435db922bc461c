//! The vocabulary every layer shares: nodes, faults and triggers, the
//! typed scenario (what a file says, with every default filled in),
//! verdicts, and clocks.

pub mod clock;
pub mod scenario;

pub use scenario::*;
