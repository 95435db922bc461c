//! Looking for violations: the random hunt, shrinking a finding to a
//! minimal explicit schedule (then to the fewest faults, re-placed by
//! `check`), the bounded `check` itself, proptest strategies over
//! schedules, the safety matrix, and the parallel sweep they all run on.

pub mod check;
pub mod fewest;
pub mod hunt;
pub mod libraries;
pub mod matrix;
pub mod shrink;
pub mod strategy;
pub mod sweep;
