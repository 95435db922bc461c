//! Redis Cluster's hash slots, shared by the scenario format (default
//! keys), the Redis model (routing) and the world (clients' slot maps):
//!
//! - `keyHashSlot` (Redis 7.0 src/cluster.c): CRC16 (XMODEM: polynomial
//!   0x1021, initial value 0) of the key, modulo 16384, except that a key
//!   with a `{` followed later by a `}` with at least one byte between
//!   them hashes only those bytes (the first `{` and the first `}` after
//!   it: `{}{a}` hashes the whole key, `x{a}{b}` hashes `a`). `lock` is
//!   slot 8718.
//! - `clusterManagerCommandCreate` (src/redis-cli.c): with `m` masters,
//!   `slots_per_node = 16384 / (float) m`; master `i` gets `first ..
//!   lround(cursor + slots_per_node - 1)` (the last master up to 16383),
//!   then `cursor += slots_per_node`, in single precision. Three masters:
//!   0-5460, 5461-10922, 10923-16383.

/// The number of hash slots.
pub const SLOTS: u16 = 16384;

/// CRC16-CCITT (XMODEM), as Redis's `crc16.c`.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash slot of `key` (`keyHashSlot`), hash tags included.
pub fn key_hash_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        None => key,
        Some(s) => match key[s + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[s + 1..s + 1 + len],
            _ => key,
        },
    };
    crc16(hashed) & 0x3FFF
}

/// The slot ranges `redis-cli --cluster create` gives `masters` masters,
/// first and last slot of each, in master order.
pub fn slot_ranges(masters: usize) -> Vec<(u16, u16)> {
    let per_node = f32::from(SLOTS) / masters as f32;
    let mut cursor = 0.0f32;
    let mut first: i64 = 0;
    let mut out = Vec::with_capacity(masters);
    for i in 0..masters {
        // C's lround: halves away from zero, as f32::round does.
        let mut last = (cursor + per_node - 1.0).round() as i64;
        if last > i64::from(SLOTS) || i == masters - 1 {
            last = i64::from(SLOTS) - 1;
        }
        if last < first {
            last = first;
        }
        out.push((first as u16, last as u16));
        first = last + 1;
        cursor += per_node;
    }
    out
}

/// Which of `ranges` holds `slot`.
pub fn range_of(ranges: &[(u16, u16)], slot: u16) -> Option<usize> {
    ranges.iter().position(|&(a, b)| a <= slot && slot <= b)
}

/// Redlock on a cluster of `shards` masters: one key per shard, in shard
/// order, `{<tag>}<key>` with the first tag (`a`, `b`, .., `z`, `aa`, ..)
/// whose slot lies in that shard's range. For `lock` and three shards:
/// `{b}lock` (slot 3300), `{c}lock` (7365), `{a}lock` (15495).
pub fn redlock_keys(key: &str, shards: usize) -> Vec<String> {
    let ranges = slot_ranges(shards);
    let tag = |mut n: usize| {
        let mut t = Vec::new();
        loop {
            t.push(b'a' + (n % 26) as u8);
            n /= 26;
            if n == 0 {
                break;
            }
            n -= 1;
        }
        t.reverse();
        String::from_utf8(t).expect("ascii")
    };
    (0..shards)
        .map(|s| {
            let t = (0..)
                .map(tag)
                .find(|t| range_of(&ranges, key_hash_slot(t.as_bytes())) == Some(s))
                .expect("every range holds the slot of some short tag");
            format!("{{{t}}}{key}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_is_xmodem_and_slots_follow_hash_tags() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_hash_slot(b"lock"), 8718);
        assert_eq!(key_hash_slot(b"{lock}:fence"), 8718);
        assert_eq!(key_hash_slot(b"a"), 15495);
        assert_eq!(key_hash_slot(b"{a}lock"), 15495);
        assert_eq!(key_hash_slot(b"b"), 3300);
        assert_eq!(key_hash_slot(b"c"), 7365);
        // An empty tag or no closing brace hashes the whole key.
        assert_eq!(key_hash_slot(b"{}a"), crc16(b"{}a") & 0x3FFF);
        assert_eq!(key_hash_slot(b"{a"), crc16(b"{a") & 0x3FFF);
        // Only the first `{` counts, with the first `}` after it.
        assert_eq!(key_hash_slot(b"{}{a}"), crc16(b"{}{a}") & 0x3FFF);
        assert_eq!(key_hash_slot(b"x{a}{b}"), 15495);
        assert_eq!(key_hash_slot(b"{a}}"), 15495);
        // As `CLUSTER KEYSLOT` on redis-server 7.0.15 says.
        assert_eq!(key_hash_slot(b"{}{a}"), 13650);
        assert_eq!(key_hash_slot(b"{}a"), 10875);
        assert_eq!(key_hash_slot(b"hello"), 866);
    }

    #[test]
    fn ranges_are_redis_cli_create_s() {
        assert_eq!(
            slot_ranges(3),
            vec![(0, 5460), (5461, 10922), (10923, 16383)]
        );
        assert_eq!(slot_ranges(1), vec![(0, 16383)]);
        for m in 1..=9 {
            let r = slot_ranges(m);
            assert_eq!(r.len(), m);
            assert_eq!(r[0].0, 0);
            assert_eq!(r[m - 1].1, 16383);
            for w in r.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0);
            }
        }
    }

    #[test]
    fn redlock_keys_land_one_on_each_shard() {
        assert_eq!(redlock_keys("lock", 3), ["{b}lock", "{c}lock", "{a}lock"]);
        for shards in 1..=9 {
            let keys = redlock_keys("lock", shards);
            let ranges = slot_ranges(shards);
            for (s, k) in keys.iter().enumerate() {
                assert_eq!(
                    range_of(&ranges, key_hash_slot(k.as_bytes())),
                    Some(s),
                    "{k}"
                );
            }
        }
    }
}
