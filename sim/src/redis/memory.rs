//! What a key costs as Redis 7.0 counts memory (`INFO memory`'s
//! `used_memory`, which `maxmemory` is compared with).
//!
//! `used_memory` is the sum of the usable sizes of every live allocation
//! (`zmalloc_used_memory`, jemalloc's `malloc_usable_size`), so the model
//! rebuilds a key's allocations the way redis-server 7.0.15 (jemalloc
//! 5.3, x86_64) makes them and rounds each to its jemalloc size class:
//!
//! | part | allocation |
//! |---|---|
//! | every key | its `dictEntry` (24 -> 32 bytes) and its name as an sds (1, 3 or 5 header bytes + length + 1) |
//! | a TTL | a `dictEntry` in the expires dict (32 bytes; the name is shared) |
//! | a string of 44 bytes or less | one `embstr` object: 16 + 3 + length + 1 |
//! | a longer string | a 16-byte object and an sds |
//! | an integer string (up to 20 characters) | a 16-byte object, or nothing for 0-9999 (shared integers), unless the policy is LRU or LFU with a limit |
//! | a hash of at most 128 fields of at most 64 bytes | a 16-byte object and one listpack (6-byte header, each entry's encoding and back-length, a 1-byte end) |
//! | a larger hash | a 16-byte object, a 56-byte dict (64), its table and per field a 32-byte entry and two sds |
//! | each keyspace dict | a table of 8 bytes per bucket (a power of two; see `dict.rs`) |
//! | each command name, the first time it runs | its latency histogram, [`LATENCY_HISTOGRAM_BYTES`] |
//! | each cached script | a dict entry, its SHA1 as an sds, a 16-byte `luaScript` and its body |
//!
//! While a command runs, its arguments are in memory too ([`argv_bytes`]):
//! `processCommand` evicts with them counted, so a large write can be
//! refused, or evict, where a small one would not.
//!
//! An empty server is not free: [`STARTUP_BYTES`] is `used_memory_startup`
//! of redis-server 7.0.15, and every connected client adds about
//! [`CLIENT_BYTES`] while it is active (its query and reply buffers).
//!
//! # Calibration
//!
//! Measured against redis-server 7.0.15 (`INFO memory` before and after
//! each command, one client, `DEBUG REPLYBUFFER RESIZING 0`;
//! `sim/tests/redis_eviction_diff.rs` repeats it): for strings with and
//! without a TTL (embstr, raw, integer, shared integer), listpack and
//! hashtable hashes, HINCRBY, PEXPIRE and DEL, deletes that make the cron
//! shrink the tables, first runs of commands and scripts, the model's
//! change of `used_memory` equals the server's **to the byte** once the
//! dicts have finished rehashing. The differences that remain:
//! - a growing dict keeps its old table until incremental rehashing ends
//!   (a few commands, or the next 100 ms cron): the server is briefly up
//!   to 8 bytes x the old table size above the model;
//! - the baseline: the server's buffers for each client grow and shrink
//!   (about 38 KB while a client is active, about 4 KB after 2 s idle) and
//!   the replication backlog fills up to 1 MB on a master with replicas;
//!   the model counts a fixed [`CLIENT_BYTES`] per client and no backlog;
//! - values of 32 KB or more are stored in the client's query buffer, and
//!   the server allocates a new one (about 20 KB more, and the value's
//!   allocation follows the buffer's size); the model counts them like
//!   smaller values (the simulation's filler values are 1000 bytes);
//! - error statistics (`INFO errorstats`: a few dozen bytes the first time
//!   each error code is sent) are not counted, and a freshly started
//!   server sometimes frees another 32 bytes in its first cron ticks when
//!   the machine is loaded (the test compares changes, not levels).

use super::value::Value;
use std::collections::BTreeMap;

/// `used_memory_startup` of redis-server 7.0.15 (jemalloc 5.3, x86_64):
/// an empty server with no client.
pub const STARTUP_BYTES: u64 = 876_232;
/// What one active client connection adds to `used_memory` (query buffer,
/// reply buffer, client struct), measured on 7.0.15 with 1 to 5 clients.
pub const CLIENT_BYTES: u64 = 38_096;

/// The latency histogram (`hdr_histogram`, `latency-tracking yes`) Redis
/// 7.0 allocates for a command the first time it runs, measured on 7.0.15.
pub const LATENCY_HISTOGRAM_BYTES: u64 = 24_688;

/// `sizeof(robj)`.
const ROBJ_BYTES: u64 = 16;
/// A `dictEntry` (24 bytes) in jemalloc's 32-byte class.
pub(crate) const DICT_ENTRY_BYTES: u64 = 32;
/// `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`.
const EMBSTR_SIZE_LIMIT: usize = 44;
/// `OBJ_SHARED_INTEGERS`.
const SHARED_INTEGERS: i64 = 10_000;
/// `hash-max-listpack-entries` and `hash-max-listpack-value`.
const LISTPACK_MAX_ENTRIES: usize = 128;
const LISTPACK_MAX_VALUE: usize = 64;

/// jemalloc 5.3's size class for a request of `n` bytes on x86_64: 8,
/// then multiples of 16 up to 128, then four classes per doubling.
pub fn size_class(n: u64) -> u64 {
    match n {
        0..=8 => 8,
        9..=128 => n.div_ceil(16) * 16,
        _ => {
            let lg = 63 - (n - 1).leading_zeros();
            let delta = 1u64 << (lg - 2);
            n.div_ceil(delta) * delta
        }
    }
}

/// An sds string of `len` bytes as `sdsnewlen` allocates it: the smallest
/// header type that holds the length, the bytes, a NUL.
pub fn sds_bytes(len: usize) -> u64 {
    let header = match len {
        1..=31 => 1,
        0 | 32..=255 => 3,
        256..=65_535 => 5,
        _ => 9,
    };
    size_class(header + len as u64 + 1)
}

/// Redis's `string2ll`: an integer with no sign but `-`, no leading zero,
/// no spaces, at most 20 characters.
fn redis_int(v: &[u8]) -> Option<i64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    let ok = match digits {
        [b'0'] => v.len() == 1,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !ok {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// A string value after `tryObjectEncoding`: an integer object (or a
/// shared one), an embstr, or an object plus an sds.
pub fn string_bytes(v: &[u8], shared_integers: bool) -> u64 {
    if let Some(n) = redis_int(v) {
        if shared_integers && (0..SHARED_INTEGERS).contains(&n) {
            return 0;
        }
        return ROBJ_BYTES;
    }
    if v.len() <= EMBSTR_SIZE_LIMIT {
        size_class(ROBJ_BYTES + 3 + v.len() as u64 + 1)
    } else {
        ROBJ_BYTES + sds_bytes(v.len())
    }
}

/// One listpack entry (`lpEncodeString` / integer encodings) with its
/// back-length.
fn listpack_entry(s: &[u8]) -> u64 {
    let body = match redis_int(s) {
        Some(n) if (0..=127).contains(&n) => 1,
        Some(n) if (-4096..=4095).contains(&n) => 2,
        Some(n) if (-32_768..=32_767).contains(&n) => 3,
        Some(n) if (-8_388_608..=8_388_607).contains(&n) => 4,
        Some(n) if i32::try_from(n).is_ok() => 5,
        Some(_) => 9,
        None => {
            let len = s.len() as u64;
            match len {
                0..=63 => 1 + len,
                64..=4095 => 2 + len,
                _ => 5 + len,
            }
        }
    };
    let backlen = match body {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    body + backlen
}

/// The smallest power of two >= `n`, at least 4 (`_dictNextExp`).
pub(crate) fn table_size(n: usize) -> u64 {
    (n.max(4) as u64).next_power_of_two()
}

/// A hash value: listpack-encoded while small, else a dict.
pub fn hash_bytes(h: &BTreeMap<Vec<u8>, Vec<u8>>) -> u64 {
    let small = h.len() <= LISTPACK_MAX_ENTRIES
        && h.iter()
            .all(|(f, v)| f.len() <= LISTPACK_MAX_VALUE && v.len() <= LISTPACK_MAX_VALUE);
    if small {
        let entries: u64 = h
            .iter()
            .map(|(f, v)| listpack_entry(f) + listpack_entry(v))
            .sum();
        return ROBJ_BYTES + size_class(6 + entries + 1);
    }
    let fields: u64 = h
        .iter()
        .map(|(f, v)| DICT_ENTRY_BYTES + sds_bytes(f.len()) + sds_bytes(v.len()))
        .sum();
    ROBJ_BYTES + size_class(56) + 8 * table_size(h.len()) + fields
}

/// A script in the script cache (`luaCreateFunction`): its dict entry,
/// its SHA1 name as an sds, a `luaScript` and the body object (never
/// integer-encoded).
pub fn script_bytes(body: &[u8]) -> u64 {
    let body = if body.len() <= EMBSTR_SIZE_LIMIT {
        size_class(ROBJ_BYTES + 3 + body.len() as u64 + 1)
    } else {
        ROBJ_BYTES + sds_bytes(body.len())
    };
    DICT_ENTRY_BYTES + sds_bytes(40) + ROBJ_BYTES + body
}

/// The command being run, as it sits in memory while `processCommand`
/// evicts: the argument array and one string object per argument
/// (created from the query buffer: embstr or raw, never integers yet).
pub fn argv_bytes(argv: &[Vec<u8>]) -> u64 {
    let args: u64 = argv
        .iter()
        .map(|a| {
            if a.len() <= EMBSTR_SIZE_LIMIT {
                size_class(ROBJ_BYTES + 3 + a.len() as u64 + 1)
            } else {
                ROBJ_BYTES + sds_bytes(a.len())
            }
        })
        .sum();
    size_class(8 * argv.len() as u64) + args
}

/// Everything one key costs except the keyspace dicts' tables: its dict
/// entry, its name, its value, and its expires entry if it has a TTL.
pub fn key_bytes(key: &[u8], value: &Value, ttl: bool, shared_integers: bool) -> u64 {
    let value = match value {
        Value::Str(s) => string_bytes(s, shared_integers),
        Value::Hash(h) => hash_bytes(h),
    };
    let expires = if ttl { DICT_ENTRY_BYTES } else { 0 };
    DICT_ENTRY_BYTES + sds_bytes(key.len()) + value + expires
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_size_classes() {
        let classes: Vec<u64> = [1, 8, 9, 24, 56, 128, 129, 160, 161, 257, 1004, 5006, 16_400]
            .iter()
            .map(|&n| size_class(n))
            .collect();
        assert_eq!(
            classes,
            [8, 8, 16, 32, 64, 128, 160, 160, 192, 320, 1024, 5120, 20_480]
        );
    }

    /// The per-key costs measured on redis-server 7.0.15 (see the module
    /// docs and `tests/redis_eviction_diff.rs`).
    #[test]
    fn measured_key_costs() {
        let s = |k: usize, v: &str, ttl: bool| {
            key_bytes(
                "k".repeat(k).as_bytes(),
                &Value::Str(v.as_bytes().to_vec()),
                ttl,
                true,
            )
        };
        assert_eq!(s(4, &"x".repeat(36), false), 104);
        assert_eq!(s(4, &"x".repeat(36), true), 136);
        assert_eq!(s(10, &"x".repeat(10), false), 80);
        assert_eq!(s(30, &"x".repeat(44), false), 128);
        assert_eq!(s(31, &"x".repeat(45), false), 160);
        assert_eq!(s(40, &"x".repeat(100), false), 208);
        assert_eq!(s(40, &"x".repeat(1000), false), 1120);
        assert_eq!(s(10, &"x".repeat(5000), false), 5184);
        assert_eq!(s(3, "5", false), 40, "a shared integer");
        assert_eq!(s(7, "10000", false), 64);
        let lru = key_bytes(b"i:5", &Value::Str(b"5".to_vec()), false, false);
        assert_eq!(lru, 56, "no shared integers under an LRU policy");
        let h = |f: &str, v: &str| {
            let mut m = BTreeMap::new();
            m.insert(f.as_bytes().to_vec(), v.as_bytes().to_vec());
            key_bytes(b"h", &Value::Hash(m), false, true)
        };
        assert_eq!(h(&"f".repeat(34), "1"), 104);
        assert_eq!(h("f", "hello"), 88);
        assert_eq!(h(&"x".repeat(63), "1"), 136);
        assert_eq!(h(&"x".repeat(64), "1"), 136);
        assert_eq!(h(&"x".repeat(65), "1"), 272, "a hashtable hash");
    }

    #[test]
    fn integers_follow_string2ll() {
        for (v, n) in [("0", Some(0)), ("-5", Some(-5)), ("10000", Some(10_000))] {
            assert_eq!(redis_int(v.as_bytes()), n);
        }
        for v in ["-0", "01", "+1", " 1", "", "1a", "123456789012345678901"] {
            assert_eq!(redis_int(v.as_bytes()), None, "{v:?}");
        }
    }
}
