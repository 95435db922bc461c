//! Scenario files (format v1, TOML): parsing, validation and writing back.

pub mod model;

pub use model::*;
