//! The Redis node model (Redis 7.0 semantics).
