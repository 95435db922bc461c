//! Differential tests of the memory model and eviction: the same commands
//! on the model and on a real redis-server (tested with 7.0.15) with a
//! small `maxmemory`.
//!
//! - **Calibration.** `INFO memory`'s `used_memory` changes exactly as the
//!   model's does, for strings (embstr, raw, integers, shared integers),
//!   TTLs, hashes (listpack and hashtable), deletes and the dicts' tables
//!   (measured after the server's cron finished rehashing).
//! - **noeviction.** The same writes are accepted and the same refused,
//!   with the same OOM error text, in commands and in scripts.
//! - **Deterministic choices.** volatile-ttl, and LRU / LFU with at most 4
//!   candidates (the dict has 4 buckets and `dictGetSomeKeys` sees every
//!   key), evict the same keys in the same order; access times and
//!   counters are set on both sides as `RESTORE ... IDLETIME / FREQ` sets
//!   them.
//! - **Sampled choices.** The random and sampled policies over many keys
//!   evict only candidates (a `volatile-*` policy never a key without a
//!   TTL), and as many keys as the model.
//!
//! Each case starts from `FLUSHALL` and gives the model the server's
//! measured `used_memory` as its baseline, so both start level. The
//! server runs with `DEBUG REPLYBUFFER RESIZING 0` (its cron would
//! otherwise resize the client's reply buffer, moving `used_memory` by
//! kilobytes), and a warm-up does once what happens once: the first write,
//! the first OOM error (its error-statistics entry). Without
//! `redis-server` on PATH the tests print one line and pass, unless
//! `LOCKSIM_REQUIRE_REDIS=1`, which makes them fail.

mod support;

use locksim::model::MaxmemoryPolicy;
use locksim::redis::{MemoryConfig, RedisNode, OOM_ERR};
use locksim_models::protocol::{Argv, Reply};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::real_mem::{cmd, Conn, RealRedis};

/// `used_memory` between commands: what `INFO memory` reports, less what
/// the INFO command itself holds while it reads it.
fn used(c: &mut Conn) -> u64 {
    c.info("memory", "used_memory") - INFO_OWN_BYTES
}

fn evicted(c: &mut Conn) -> u64 {
    c.info("stats", "evicted_keys")
}

/// What `INFO memory` holds while it reads `used_memory` (its two
/// arguments, the argument array and the reply it is building), measured
/// on 7.0.15: the SET that is accepted with `maxmemory` exactly at that
/// reading is refused 224 bytes lower.
const INFO_OWN_BYTES: u64 = 224;

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// The server and a model node, level: same keys (none), same
/// `used_memory`, same limit and policy.
struct Pair {
    conn: Conn,
    node: RedisNode,
    _server: RealRedis,
}

impl Pair {
    /// A fresh pair: `FLUSHALL`, the policy and a limit of `budget` bytes
    /// above what the empty server uses.
    fn new(policy: MaxmemoryPolicy, budget: u64) -> Option<Pair> {
        let mut server = RealRedis::start("eviction", &["--enable-debug-command", "local"])?;
        let mut conn = server.connect();
        let ok = Reply::Status("OK".into());
        assert_eq!(
            conn.call(&cmd(&["DEBUG", "REPLYBUFFER", "RESIZING", "0"])),
            ok
        );
        // Warm-up, of the server only: what happens once (the first OOM
        // and other errors: their statistics entries) and the first run of
        // each command the model does not know (its latency histogram).
        for a in [
            cmd(&["SET", "warm", "x"]),
            cmd(&["CONFIG", "SET", "maxmemory", "1"]),
            cmd(&["SET", "warm", "y"]),
            cmd(&["CONFIG", "SET", "maxmemory", "0"]),
            cmd(&["CONFIG", "SET", "maxmemory-policy", policy.name()]),
            cmd(&["HSET", "warm", "f", "v"]),
            cmd(&["INCR", "warm"]),
            cmd(&["KEYS", "*"]),
            cmd(&["DUMP", "warm"]),
            cmd(&["RESTORE", "warm", "0", "x"]),
            cmd(&["INFO", "memory"]),
            cmd(&["INFO", "stats"]),
            cmd(&["FLUSHALL"]),
        ] {
            conn.call(&a);
        }
        let mut node = RedisNode::new();
        let mut cfg = MemoryConfig {
            maxmemory_bytes: 0,
            policy,
            samples: 5,
            baseline_bytes: 0,
        };
        node.set_memory(cfg, 7, wall_ms());
        // The commands both sides know, once on both (latency histograms).
        for a in [
            cmd(&["SET", "warm", "x", "PX", "60000"]),
            cmd(&["GET", "warm"]),
            cmd(&["SETNX", "warm", "x"]),
            cmd(&["GETSET", "warm", "1"]),
            cmd(&["INCR", "warm"]),
            cmd(&["EXISTS", "warm"]),
            cmd(&["PEXPIRE", "warm", "60000"]),
            cmd(&["DEL", "warm"]),
            cmd(&["HSET", "h", "f", "1"]),
            cmd(&["HINCRBY", "h", "f", "1"]),
            cmd(&["HDEL", "h", "f"]),
            cmd(&["PING"]),
            cmd(&["EVAL", "return 1", "0"]),
            cmd(&["SCRIPT", "FLUSH"]),
            cmd(&["FLUSHALL"]),
        ] {
            node.execute(&a, wall_ms());
            conn.call(&a);
        }
        let base = used(&mut conn);
        let limit = base + budget;
        let l = limit.to_string();
        assert_eq!(conn.call(&cmd(&["CONFIG", "SET", "maxmemory", &l])), ok);
        cfg.maxmemory_bytes = limit;
        cfg.baseline_bytes = base - node.used_memory();
        node.set_memory(cfg, 7, wall_ms());
        assert_eq!(node.used_memory(), base);
        Some(Pair {
            conn,
            node,
            _server: server,
        })
    }

    /// Runs `a` on both; the two replies.
    fn both(&mut self, a: &[Vec<u8>]) -> (Reply, Reply) {
        let real = self.conn.call(a);
        let model = self.node.execute(a, wall_ms()).reply;
        (model, real)
    }

    /// Runs `a` on both and checks the replies are equal.
    fn same(&mut self, a: &[Vec<u8>]) -> Reply {
        let (model, real) = self.both(a);
        assert_eq!(model, real, "{:?}", String::from_utf8_lossy(&a.concat()));
        real
    }

    fn model_keys(&self) -> BTreeSet<Vec<u8>> {
        self.node.dump().into_iter().map(|(k, _, _)| k).collect()
    }

    /// Both sides' `used_memory` after the server's cron (100 ms) has
    /// finished rehashing and resizing; the model sees the same cron tick
    /// at its next command.
    fn settled_used(&mut self) -> (u64, u64) {
        std::thread::sleep(Duration::from_millis(250));
        self.node.execute(&cmd(&["PING"]), wall_ms());
        self.conn.call(&cmd(&["PING"]));
        (self.node.used_memory(), used(&mut self.conn))
    }
}

fn value(n: usize) -> String {
    "v".repeat(n)
}

#[test]
fn used_memory_moves_as_on_redis_to_the_byte() {
    let Some(mut p) = Pair::new(MaxmemoryPolicy::NoEviction, 1 << 30) else {
        return;
    };
    let mut steps: Vec<(String, Vec<Argv>)> = Vec::new();
    let strings: Vec<Argv> = (0..300)
        .map(|i| {
            let key = format!("{}{i}", "k".repeat(i % 40));
            cmd(&["SET", &key, &value(i % 60)])
        })
        .collect();
    steps.push(("300 strings (embstr and raw)".into(), strings));
    let ttl: Vec<Argv> = (0..120)
        .map(|i| {
            let v = value([100, 1000, 5000][i % 3]);
            cmd(&["SET", &format!("t{i}"), &v, "PX", "600000"])
        })
        .collect();
    steps.push(("120 strings with a TTL (raw, 5000 bytes)".into(), ttl));
    let ints: Vec<Argv> = (0..60)
        .map(|i| {
            let v = [0i64, 5, 9999, 10_000, 123_456_789_012, -5][i % 6].to_string();
            cmd(&["SET", &format!("i{i}"), &v])
        })
        .collect();
    steps.push(("60 integers, shared and not".into(), ints));
    let hashes: Vec<Argv> = (0..50)
        .flat_map(|i| {
            let key = format!("h{i}");
            let field = format!("{:032x}:{i}", i * 7919);
            vec![
                cmd(&["HSET", &key, &field, "1"]),
                cmd(&["HINCRBY", &key, &field, "1"]),
                cmd(&["PEXPIRE", &key, "600000"]),
            ]
        })
        .chain([cmd(&["HSET", "big", &"f".repeat(65), "1"])])
        .collect();
    steps.push(("Redisson-style hashes, and a hashtable hash".into(), hashes));
    let dels: Vec<Argv> = (0..300)
        .step_by(2)
        .map(|i| cmd(&["DEL", &format!("{}{i}", "k".repeat(i % 40))]))
        .chain((0..50).map(|i| cmd(&["HDEL", &format!("h{i}"), &format!("{:032x}:{i}", i * 7919)])))
        .collect();
    steps.push(("deletes".into(), dels));
    let most: Vec<Argv> = (1..300)
        .step_by(2)
        .map(|i| cmd(&["DEL", &format!("{}{i}", "k".repeat(i % 40))]))
        .chain((0..110).map(|i| cmd(&["DEL", &format!("t{i}")])))
        .collect();
    steps.push((
        "deletes below 10% (the cron shrinks the tables)".into(),
        most,
    ));
    // The level: equal but for a few dozen bytes the server sometimes
    // frees by itself in its first cron ticks when the machine is loaded
    // (32 bytes in about one run of twelve); every change from here on
    // must be exact.
    let (mut model0, mut real0) = p.settled_used();
    assert!(model0.abs_diff(real0) <= 64, "{model0} vs {real0}");
    for (what, cmds) in steps {
        for a in &cmds {
            p.same(a);
        }
        let (model, real) = p.settled_used();
        assert_eq!(
            model as i64 - model0 as i64,
            real as i64 - real0 as i64,
            "{what}: the model's used_memory change (left) against redis-server's (right), at {model} / {real}"
        );
        (model0, real0) = (model, real);
    }
    assert_eq!(p.model_keys(), p.conn.keys());
}

#[test]
fn integers_are_not_shared_under_an_lru_policy() {
    let Some(mut p) = Pair::new(MaxmemoryPolicy::AllkeysLru, 1 << 30) else {
        return;
    };
    let (m0, r0) = p.settled_used();
    for i in 0..40 {
        p.same(&cmd(&["SET", &format!("n{i}"), &(i % 7).to_string()]));
    }
    let (m1, r1) = p.settled_used();
    assert_eq!(m1 - m0, r1 - r0);
}

#[test]
fn noeviction_refuses_the_same_writes_with_the_same_oom_error() {
    // The limit is reached at about the 25th key, well after the keyspace
    // dict grew to 32 buckets (at the 17th) and finished rehashing: right
    // after a table doubles, the server still holds the old table for a
    // few commands (the model's stated difference).
    let Some(mut p) = Pair::new(MaxmemoryPolicy::NoEviction, 27_000) else {
        return;
    };
    let oom = Reply::Error(OOM_ERR.into());
    p.same(&cmd(&["SET", "lock", "token-0", "NX", "PX", "60000"]));
    p.same(&cmd(&["HSET", "rlock", "uuid:1", "1"]));
    let mut refused = 0;
    for i in 0..60 {
        if p.same(&cmd(&["SET", &format!("fill:{i}"), &value(1000)])) == oom {
            refused += 1;
        }
    }
    assert!(refused > 10, "the limit was reached ({refused} refused)");
    assert_eq!(p.model_keys(), p.conn.keys(), "the same keys were stored");
    for a in [
        cmd(&["SET", "other", "x", "NX", "PX", "1000"]),
        cmd(&["SETNX", "other", "x"]),
        cmd(&["GETSET", "lock", "x"]),
        cmd(&["INCR", "counter"]),
        cmd(&["HINCRBY", "rlock", "uuid:1", "1"]),
        cmd(&["HSET", "rlock", "uuid:1", "2"]),
        cmd(&["GET", "lock"]),
        cmd(&["PEXPIRE", "lock", "30000"]),
        cmd(&["EXISTS", "lock"]),
        cmd(&[
            "EVAL",
            "return redis.call('set', KEYS[1], ARGV[1])",
            "1",
            "x",
            "y",
        ]),
        cmd(&[
            "EVAL",
            "return redis.pcall('set', KEYS[1], ARGV[1])",
            "1",
            "x",
            "y",
        ]),
        cmd(&["EVAL", "return redis.call('get', KEYS[1])", "1", "lock"]),
        cmd(&[
            "EVAL",
            "#!lua\nreturn redis.call('get', KEYS[1])",
            "1",
            "lock",
        ]),
        cmd(&[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])",
            "1",
            "lock",
        ]),
        cmd(&[
            "EVAL",
            "redis.call('del', 'nothing'); return redis.call('set', KEYS[1], 'z')",
            "1",
            "y",
        ]),
        cmd(&[
            "EVAL",
            "#!lua flags=allow-oom\nreturn redis.call('set', KEYS[1], 'w')",
            "1",
            "w",
        ]),
        cmd(&["DEL", "fill:0", "fill:1"]),
        cmd(&["HDEL", "rlock", "uuid:1"]),
    ] {
        p.same(&a);
    }
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiry_first_like_redis() {
    let Some(mut p) = Pair::new(MaxmemoryPolicy::VolatileTtl, 30_000) else {
        return;
    };
    for (key, ttl) in [
        ("c", "30000"),
        ("a", "10000"),
        ("d", "40000"),
        ("b", "20000"),
    ] {
        p.same(&cmd(&["SET", key, &value(2000), "PX", ttl]));
    }
    let mut gone = Vec::new();
    let oom = Reply::Error(OOM_ERR.into());
    for i in 0..40 {
        let before = p.model_keys();
        let reply = p.same(&cmd(&["SET", &format!("plain:{i}"), &value(1000)]));
        assert_eq!(p.model_keys(), p.conn.keys(), "after SET plain:{i}");
        gone.extend(before.difference(&p.model_keys()).cloned());
        if reply == oom {
            break;
        }
    }
    let order: Vec<String> = gone
        .iter()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert_eq!(
        order,
        ["a", "b", "c", "d"],
        "soonest expiry first, then OOM"
    );
    assert_eq!(evicted(&mut p.conn), 4);
}

/// `RESTORE key ttl <dump> REPLACE IDLETIME s` (or `FREQ f`) on the
/// server, the same access time or counter on the model (whose key kept
/// its TTL: RESTORE gives it `ttl_ms` again, and 0 means none).
fn restore(p: &mut Pair, key: &str, ttl_ms: u64, idle_s: u64, freq: u8) {
    let Reply::Bulk(Some(dump)) = p.conn.call(&cmd(&["DUMP", key])) else {
        panic!("DUMP {key}")
    };
    let mut a: Argv = cmd(&["RESTORE", key, &ttl_ms.to_string()]);
    a.push(dump);
    // Redis takes IDLETIME or FREQ, not both; each policy reads one.
    let (opt, n) = if p.node.memory().policy.is_lfu() {
        ("FREQ", u64::from(freq))
    } else {
        ("IDLETIME", idle_s)
    };
    a.extend(cmd(&["REPLACE", opt, &n.to_string()]));
    assert_eq!(p.conn.call(&a), Reply::Status("OK".into()));
    assert!(p
        .node
        .restore_access(key.as_bytes(), idle_s, freq, wall_ms()));
}

/// Four keys of 6 KB with the given idle times (s) or counters, then one
/// more write: which key does each side evict?
fn evict_one_of_four(
    policy: MaxmemoryPolicy,
    access: [(u64, u8); 4],
    ttl: bool,
) -> Option<(String, String)> {
    let mut p = Pair::new(policy, 27_000)?;
    for (i, (idle_s, freq)) in access.into_iter().enumerate() {
        let key = format!("k{i}");
        let mut a = cmd(&["SET", &key, &value(6000)]);
        if ttl {
            a.extend(cmd(&["PX", "600000"]));
        }
        p.same(&a);
        // Not PEXPIRE afterwards: it would touch the key.
        let ttl_ms = if ttl { 600_000 } else { 0 };
        restore(&mut p, &key, ttl_ms, idle_s, freq);
    }
    if ttl {
        // Keys without a TTL, fresh: no candidates for a volatile policy.
        // (Under allkeys-* they would be sampled too: five of ten keys.)
        for i in 0..6 {
            p.same(&cmd(&["SET", &format!("plain{i}"), "x"]));
        }
    }
    let before = p.model_keys();
    p.same(&cmd(&["SET", "new", &value(6000)]));
    assert_eq!(p.model_keys(), p.conn.keys());
    let gone: Vec<String> = before
        .difference(&p.model_keys())
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert_eq!(
        gone.len(),
        1,
        "{policy:?}: one eviction makes room: {gone:?}"
    );
    Some((gone[0].clone(), policy.name().to_string()))
}

#[test]
fn lru_and_lfu_with_four_candidates_evict_the_same_key_as_redis() {
    let idle = [(50, 0), (500, 0), (5, 0), (100, 0)];
    let freq = [(0, 30), (0, 2), (0, 9), (0, 100)];
    for (policy, access, ttl, want) in [
        (MaxmemoryPolicy::AllkeysLru, idle, false, "k1"),
        (MaxmemoryPolicy::VolatileLru, idle, true, "k1"),
        (MaxmemoryPolicy::AllkeysLfu, freq, false, "k1"),
        (MaxmemoryPolicy::VolatileLfu, freq, true, "k1"),
    ] {
        let Some((gone, name)) = evict_one_of_four(policy, access, ttl) else {
            return;
        };
        assert_eq!(gone, want, "{name}: the idlest (least frequent) key");
    }
}

#[test]
fn sampled_policies_evict_only_candidates_and_as_many_keys_as_redis() {
    for policy in [
        MaxmemoryPolicy::AllkeysRandom,
        MaxmemoryPolicy::VolatileRandom,
        MaxmemoryPolicy::AllkeysLru,
        MaxmemoryPolicy::VolatileLru,
        MaxmemoryPolicy::AllkeysLfu,
        MaxmemoryPolicy::VolatileLfu,
    ] {
        let Some(mut p) = Pair::new(policy, 190_000) else {
            return;
        };
        // 80 keys with a TTL, 80 without, all of one size.
        for i in 0..80 {
            p.same(&cmd(&[
                "SET",
                &format!("vol:{i:03}"),
                &value(1000),
                "PX",
                "600000",
            ]));
            p.same(&cmd(&["SET", &format!("per:{i:03}"), &value(1000)]));
        }
        let start: BTreeSet<Vec<u8>> = p.conn.keys();
        let mut evicted_model = 0;
        for i in 0..60 {
            let a = cmd(&["SET", &format!("new:{i:03}"), &value(1000), "PX", "600000"]);
            let before = p.model_keys();
            let (model, real) = p.both(&a);
            assert_eq!(model, real, "{policy:?} new:{i}");
            evicted_model += before.difference(&p.model_keys()).count();
        }
        let evicted_real = evicted(&mut p.conn) as usize;
        assert!(evicted_real > 10, "{policy:?}: the limit was reached");
        assert_eq!(evicted_model, evicted_real, "{policy:?}: as many evictions");
        for (side, keys) in [("model", p.model_keys()), ("redis", p.conn.keys())] {
            let gone: Vec<&Vec<u8>> = start.difference(&keys).collect();
            assert!(!gone.is_empty());
            if !policy.allkeys() {
                assert!(
                    gone.iter().all(|k| k.starts_with(b"vol:")),
                    "{policy:?} on {side}: a key without a TTL was evicted"
                );
            }
        }
    }
}
