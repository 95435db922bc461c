//! What a key holds.

use std::collections::BTreeMap;

/// A value stored at a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string (Redis stores integers as strings too).
    Str(Vec<u8>),
    /// A hash of field to value.
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
}
