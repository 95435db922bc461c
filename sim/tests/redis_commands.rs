//! Transcript tests of the Redis node model.
//!
//! Every expected reply and effect below was checked against a real
//! `redis-server` 7.0.15 (`redis-server --version`: `Redis server v=7.0.15
//! sha=00000000:0 malloc=jemalloc-5.3.0 bits=64`): replies byte for byte as
//! raw RESP2, effects by reading the server's `appendonlydir/*.incr.aof`,
//! replica behaviour on a `--replicaof` instance, shell output against
//! `redis-cli --no-raw` reading the same lines from a pipe. Absolute times
//! in effects are the model's (fixed) clock; on the server they were the
//! server's clock at the command.
//!
//! `redis_differential.rs` re-checks most of these live when redis-server
//! is installed.

use locksim::redis::{run_shell, split_args, RedisNode, Role, Value};
use std::collections::BTreeMap;

const T0: i64 = 1_700_000_000_000;

fn args(cmd: &str) -> Vec<Vec<u8>> {
    split_args(cmd.as_bytes()).unwrap_or_else(|| panic!("bad test line {cmd}"))
}

/// Runs `(command, expected RESP)` pairs at time `now`.
fn transcript(node: &mut RedisNode, now: i64, lines: &[(&str, &str)]) {
    for (cmd, want) in lines {
        let got = node.execute(&args(cmd), now).reply.to_resp();
        assert_eq!(String::from_utf8_lossy(&got), *want, "command: {cmd}");
    }
}

/// Runs one command and checks its reply and effects (each effect written
/// as a redis-cli line).
fn effects(node: &mut RedisNode, now: i64, cmd: &str, reply: &str, want: &[&str]) {
    let exec = node.execute(&args(cmd), now);
    assert_eq!(
        String::from_utf8_lossy(&exec.reply.to_resp()),
        reply,
        "reply of {cmd}"
    );
    let want: Vec<Vec<Vec<u8>>> = want.iter().map(|w| args(w)).collect();
    assert_eq!(exec.effects, want, "effects of {cmd}");
}

const SYNTAX: &str = "-ERR syntax error\r\n";
const NOT_INT: &str = "-ERR value is not an integer or out of range\r\n";
const BAD_EXPIRE: &str = "-ERR invalid expire time in 'set' command\r\n";
const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
const READONLY: &str = "-READONLY You can't write against a read only replica.\r\n";
const OK: &str = "+OK\r\n";
const NIL: &str = "$-1\r\n";

#[test]
fn set_options_conflicts_and_parse_errors() {
    let mut n = RedisNode::new();
    transcript(
        &mut n,
        T0,
        &[
            (
                "set",
                "-ERR wrong number of arguments for 'set' command\r\n",
            ),
            (
                "set k",
                "-ERR wrong number of arguments for 'set' command\r\n",
            ),
            ("set k v", OK),
            ("set k v nx", NIL),
            ("set k v xx", OK),
            ("set k2 v xx", NIL),
            ("set k v nx xx", SYNTAX),
            ("set k v xx nx", SYNTAX),
            ("set k v ex 10 px 100", SYNTAX),
            ("set k v ex 10 ex 10", OK),
            ("set k v ex", SYNTAX),
            ("set k v ex 0", BAD_EXPIRE),
            ("set k v ex -1", BAD_EXPIRE),
            ("set k v ex abc", NOT_INT),
            ("set k v ex 1.5", NOT_INT),
            ("set k v px 0", BAD_EXPIRE),
            ("set k v exat 0", BAD_EXPIRE),
            ("set k v pxat 0", BAD_EXPIRE),
            ("set k v pxat 1", OK),
            ("get k", NIL),
            ("set k v pxat -1", BAD_EXPIRE),
            ("set k v ex 9223372036854775807", BAD_EXPIRE),
            ("set k v px 9223372036854775807", BAD_EXPIRE),
            ("set k v ex 9223372036854776", BAD_EXPIRE),
            ("set k v ex 9223372036854775", BAD_EXPIRE),
            ("set k v pxat 9223372036854775807", OK),
            ("set k v exat 9223372036854775807", BAD_EXPIRE),
            ("set k v exat 9223372036854775", OK),
            ("set k v keepttl", OK),
            ("set k v keepttl ex 10", SYNTAX),
            ("set k v ex 10 keepttl", SYNTAX),
            ("set k v get", "$1\r\nv\r\n"),
            ("set k v get nx", "$1\r\nv\r\n"),
            ("set k v nx get", "$1\r\nv\r\n"),
            ("set k v xx get", "$1\r\nv\r\n"),
            ("set k v foo", SYNTAX),
            ("set k v nx nx", NIL),
            ("set k v get get", "$1\r\nv\r\n"),
            ("set k v px 100 px 100", OK),
            ("set k v keepttl keepttl", OK),
            ("set k v EX 10 nx get", "$1\r\nv\r\n"),
            ("set k v ex 010", NOT_INT),
            ("set k v ex +10", NOT_INT),
            ("set k v ex \" 10\"", NOT_INT),
            ("set k v ex 10abc", NOT_INT),
            ("set k v ex 0x10", NOT_INT),
            ("set k v ex -0", NOT_INT),
            ("set k v PX 00", NOT_INT),
            ("set k v ex 1e3", NOT_INT),
            ("hset h f v", ":1\r\n"),
            ("set h v get", WRONGTYPE),
            ("set h v", OK),
            ("get h", "$1\r\nv\r\n"),
        ],
    );
}

#[test]
fn strings_and_keys() {
    let mut n = RedisNode::new();
    transcript(
        &mut n,
        T0,
        &[
            (
                "GET",
                "-ERR wrong number of arguments for 'get' command\r\n",
            ),
            (
                "GET a b",
                "-ERR wrong number of arguments for 'get' command\r\n",
            ),
            ("Get a", NIL),
            (
                "exists",
                "-ERR wrong number of arguments for 'exists' command\r\n",
            ),
            ("exists a", ":0\r\n"),
            ("set a 1", OK),
            ("exists a a b a", ":3\r\n"),
            (
                "del",
                "-ERR wrong number of arguments for 'del' command\r\n",
            ),
            ("del a a", ":1\r\n"),
            (
                "incr",
                "-ERR wrong number of arguments for 'incr' command\r\n",
            ),
            ("incr x", ":1\r\n"),
            ("incr x", ":2\r\n"),
            ("set x 9223372036854775807", OK),
            ("incr x", "-ERR increment or decrement would overflow\r\n"),
            ("set x -9223372036854775808", OK),
            ("incr x", ":-9223372036854775807\r\n"),
            ("set x abc", OK),
            ("incr x", NOT_INT),
            ("set x \" 1\"", OK),
            ("incr x", NOT_INT),
            ("set x 01", OK),
            ("incr x", NOT_INT),
            ("set x -0", OK),
            ("incr x", NOT_INT),
            ("set x \"\"", OK),
            ("incr x", NOT_INT),
            ("set x 1.0", OK),
            ("incr x", NOT_INT),
            ("hset h f 1", ":1\r\n"),
            ("incr h", WRONGTYPE),
            ("get h", WRONGTYPE),
            ("getset h v", WRONGTYPE),
            (
                "getset",
                "-ERR wrong number of arguments for 'getset' command\r\n",
            ),
            (
                "getset a",
                "-ERR wrong number of arguments for 'getset' command\r\n",
            ),
            (
                "setnx",
                "-ERR wrong number of arguments for 'setnx' command\r\n",
            ),
            (
                "setnx a",
                "-ERR wrong number of arguments for 'setnx' command\r\n",
            ),
            ("setnx h v", ":0\r\n"),
            ("setnx b 1", ":1\r\n"),
            ("getset b 2", "$1\r\n1\r\n"),
            ("del h", ":1\r\n"),
        ],
    );
}

#[test]
fn expire_family_and_ttl() {
    let mut n = RedisNode::new();
    transcript(
        &mut n,
        T0,
        &[
            (
                "expire",
                "-ERR wrong number of arguments for 'expire' command\r\n",
            ),
            (
                "expire k",
                "-ERR wrong number of arguments for 'expire' command\r\n",
            ),
            ("expire k 10", ":0\r\n"),
            ("set k v", OK),
            (
                "expire k 10 nx xx",
                "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
            ),
            (
                "expire k 10 gt lt",
                "-ERR GT and LT options at the same time are not compatible\r\n",
            ),
            (
                "expire k 10 nx gt",
                "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
            ),
            ("expire k 10 foo", "-ERR Unsupported option foo\r\n"),
            ("expire k abc", NOT_INT),
            ("expire k 10 nx", ":1\r\n"),
            ("expire k 10 nx", ":0\r\n"),
            ("expire k 20 xx", ":1\r\n"),
            ("expire k 10 gt", ":0\r\n"),
            ("expire k 30 gt", ":1\r\n"),
            ("expire k 10 lt", ":1\r\n"),
            ("expire k 10 xx xx", ":1\r\n"),
            ("set n v", OK),
            ("expire n 10 gt", ":0\r\n"),
            ("expire n 10 lt", ":1\r\n"),
            ("expire n 10 xx", ":1\r\n"),
            ("expire n 10 NX", ":0\r\n"),
            ("set n2 v", OK),
            ("pexpire n2 100 LT", ":1\r\n"),
            ("ttl n2", ":0\r\n"),
            ("set k v ex 100", OK),
            (
                "expire k 9223372036854775807",
                "-ERR invalid expire time in 'expire' command\r\n",
            ),
            (
                "pexpire k 9223372036854775807",
                "-ERR invalid expire time in 'pexpire' command\r\n",
            ),
            ("pexpireat k 9223372036854775807", ":1\r\n"),
            (
                "expire k 9223372036854775",
                "-ERR invalid expire time in 'expire' command\r\n",
            ),
            ("expireat k 9223372036854775", ":1\r\n"),
            (
                "expireat k 9223372036854776",
                "-ERR invalid expire time in 'expireat' command\r\n",
            ),
            (
                "expire k -9223372036854775808",
                "-ERR invalid expire time in 'expire' command\r\n",
            ),
            ("pexpire k -9223372036854775808", ":1\r\n"),
            ("ttl k", ":-2\r\n"),
            ("pttl k", ":-2\r\n"),
            ("set k v ex 100", OK),
            ("expire k 100 NX", ":0\r\n"),
            (
                "expire k 100 Nx lt",
                "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
            ),
            ("expire k -5 gt", ":0\r\n"),
            ("expire k -5 lt", ":1\r\n"),
            ("ttl k", ":-2\r\n"),
            ("ttl nokey", ":-2\r\n"),
            ("pttl nokey", ":-2\r\n"),
            ("set p v", OK),
            ("ttl p", ":-1\r\n"),
            ("pttl p", ":-1\r\n"),
            (
                "ttl",
                "-ERR wrong number of arguments for 'ttl' command\r\n",
            ),
            (
                "ttl a b",
                "-ERR wrong number of arguments for 'ttl' command\r\n",
            ),
            (
                "pttl p x",
                "-ERR wrong number of arguments for 'pttl' command\r\n",
            ),
            ("set k v ex 100", OK),
            ("expire k 10abc nx", NOT_INT),
            ("expire k 10 nx nx", ":0\r\n"),
        ],
    );
}

/// Redis expires a key when `now > expiry`: at `now == expiry` the key is
/// alive with a PTTL of 0 (checked on the server inside a script, where
/// time is frozen: `SET k v PXAT <TIME in ms>`, then PTTL and EXISTS gave
/// 0 and 1; with `PXAT <TIME - 1>` they gave -2 and 0). TTL rounds to the
/// nearest second.
#[test]
fn expiry_boundary_is_now_greater_than_expiry() {
    let mut n = RedisNode::new();
    transcript(&mut n, T0, &[("set k v pxat 1700000001000", OK)]);
    transcript(
        &mut n,
        T0 + 499,
        &[("ttl k", ":1\r\n"), ("pttl k", ":501\r\n")],
    );
    transcript(&mut n, T0 + 500, &[("ttl k", ":1\r\n")]);
    transcript(&mut n, T0 + 501, &[("ttl k", ":0\r\n")]);
    transcript(
        &mut n,
        T0 + 1000,
        &[
            ("pttl k", ":0\r\n"),
            ("ttl k", ":0\r\n"),
            ("exists k", ":1\r\n"),
            ("get k", "$1\r\nv\r\n"),
        ],
    );
    assert_eq!(n.peek(b"k", T0 + 1000), Some(&Value::Str(b"v".to_vec())));
    assert_eq!(n.peek(b"k", T0 + 1001), None);
    transcript(
        &mut n,
        T0 + 1001,
        &[("exists k", ":0\r\n"), ("pttl k", ":-2\r\n")],
    );
    assert!(n.is_empty(), "the lazy expiry removed the key");
}

#[test]
fn hashes() {
    let mut n = RedisNode::new();
    transcript(
        &mut n,
        T0,
        &[
            (
                "hset h",
                "-ERR wrong number of arguments for 'hset' command\r\n",
            ),
            (
                "hset h f",
                "-ERR wrong number of arguments for 'hset' command\r\n",
            ),
            (
                "hset h f v g",
                "-ERR wrong number of arguments for 'hset' command\r\n",
            ),
            ("hset h f v f v2", ":1\r\n"),
            ("hget h f", "$2\r\nv2\r\n"),
            ("hget h zz", NIL),
            ("hget nokey f", NIL),
            ("hexists h f", ":1\r\n"),
            ("hexists h zz", ":0\r\n"),
            ("hexists nokey f", ":0\r\n"),
            ("hincrby h f 1", "-ERR hash value is not an integer\r\n"),
            ("hincrby h n 5", ":5\r\n"),
            ("hincrby h n abc", NOT_INT),
            (
                "hincrby h n 9223372036854775807",
                "-ERR increment or decrement would overflow\r\n",
            ),
            ("hset h s abc", ":1\r\n"),
            ("hincrby h s 1", "-ERR hash value is not an integer\r\n"),
            (
                "hdel h",
                "-ERR wrong number of arguments for 'hdel' command\r\n",
            ),
            ("hdel h f n s zz", ":3\r\n"),
            ("exists h", ":0\r\n"),
            (
                "hget",
                "-ERR wrong number of arguments for 'hget' command\r\n",
            ),
            (
                "hexists h",
                "-ERR wrong number of arguments for 'hexists' command\r\n",
            ),
            (
                "hincrby h f",
                "-ERR wrong number of arguments for 'hincrby' command\r\n",
            ),
            ("set s v", OK),
            ("hget s f", WRONGTYPE),
            ("hset s f v", WRONGTYPE),
            ("hexists s f", WRONGTYPE),
            ("hincrby s f 1", WRONGTYPE),
            ("hdel s f", WRONGTYPE),
        ],
    );
}

#[test]
fn misc_commands_and_unknown_commands() {
    let mut n = RedisNode::new();
    let long = "a".repeat(140);
    let long_cmd = format!("foo {long}");
    let long_reply = format!(
        "-ERR unknown command 'foo', with args beginning with: '{}' \r\n",
        "a".repeat(128)
    );
    transcript(
        &mut n,
        T0,
        &[
            ("foo", "-ERR unknown command 'foo', with args beginning with: \r\n"),
            ("foo a b", "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"),
            ("FOO a \"b c\"", "-ERR unknown command 'FOO', with args beginning with: 'a' 'b c' \r\n"),
            ("foo \"a\\r\\nb\"", "-ERR unknown command 'foo', with args beginning with: 'a  b' \r\n"),
            (
                "foo a b c d e f g h i j k l m n o p",
                "-ERR unknown command 'foo', with args beginning with: 'a' 'b' 'c' 'd' 'e' 'f' 'g' 'h' 'i' 'j' 'k' 'l' 'm' 'n' 'o' 'p' \r\n",
            ),
            ("\"\"", "-ERR unknown command '', with args beginning with: \r\n"),
            (&long_cmd, &long_reply),
            ("ping", "+PONG\r\n"),
            ("ping hello", "$5\r\nhello\r\n"),
            ("ping a b", "-ERR wrong number of arguments for 'ping' command\r\n"),
            ("PING \"\"", "$0\r\n\r\n"),
            ("echo a", "$1\r\na\r\n"),
            ("echo a b", "-ERR wrong number of arguments for 'echo' command\r\n"),
            ("time x", "-ERR wrong number of arguments for 'time' command\r\n"),
            ("time", "*2\r\n$10\r\n1700000000\r\n$1\r\n0\r\n"),
            ("publish", "-ERR wrong number of arguments for 'publish' command\r\n"),
            ("publish a b c", "-ERR wrong number of arguments for 'publish' command\r\n"),
            ("publish a b", ":0\r\n"),
            ("wait", "-ERR wrong number of arguments for 'wait' command\r\n"),
            ("wait 0", "-ERR wrong number of arguments for 'wait' command\r\n"),
            ("wait 0 0", ":0\r\n"),
            ("wait 1 1", ":0\r\n"),
            ("wait a 0", NOT_INT),
            ("wait 0 a", "-ERR timeout is not an integer or out of range\r\n"),
            ("wait -1 0", ":0\r\n"),
            ("wait 0 -1", "-ERR timeout is negative\r\n"),
            ("dbsize x", "-ERR wrong number of arguments for 'dbsize' command\r\n"),
            ("set a 1", OK),
            ("dbsize", ":1\r\n"),
            ("flushall foo", SYNTAX),
            ("flushall sync async", SYNTAX),
            ("flushdb x", SYNTAX),
            ("flushall sync", OK),
            ("dbsize", ":0\r\n"),
        ],
    );
}

#[test]
fn script_cache_commands() {
    let mut n = RedisNode::new();
    let noscript = "-NOSCRIPT No matching script. Please use EVAL.\r\n";
    let sha1 = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
    transcript(
        &mut n,
        T0,
        &[
            ("script", "-ERR wrong number of arguments for 'script' command\r\n"),
            ("script load", "-ERR wrong number of arguments for 'script|load' command\r\n"),
            ("script load \"return 1\" x", "-ERR wrong number of arguments for 'script|load' command\r\n"),
            (
                "script load \"return 1 +\"",
                "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'\r\n",
            ),
            ("script load \"return 1\"", "$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n"),
            ("script exists e0e1f9fabfc9d4800c877a703b823ac0578ff8db ffffffffffffffffffffffffffffffffffffffff", "*2\r\n:1\r\n:0\r\n"),
            ("script exists E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "*1\r\n:1\r\n"),
            ("script exists", "-ERR wrong number of arguments for 'script|exists' command\r\n"),
            ("script exists abc", "*1\r\n:0\r\n"),
            (&format!("evalsha {sha1} 0"), ":1\r\n"),
            ("evalsha E0E1F9FABFC9D4800C877A703B823AC0578FF8DB 0", ":1\r\n"),
            ("evalsha ffffffffffffffffffffffffffffffffffffffff 0", noscript),
            ("evalsha abc 0", noscript),
            (&format!("evalsha {sha1}"), "-ERR wrong number of arguments for 'evalsha' command\r\n"),
            (&format!("evalsha {sha1} x"), NOT_INT),
            ("evalsha ffffffffffffffffffffffffffffffffffffffff 5", "-ERR Number of keys can't be greater than number of args\r\n"),
            ("script flush foo", "-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n"),
            ("script flush sync async", "-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n"),
            ("script flush async", OK),
            ("script foo", "-ERR unknown subcommand 'foo'. Try SCRIPT HELP.\r\n"),
            ("script FOO", "-ERR unknown subcommand 'FOO'. Try SCRIPT HELP.\r\n"),
            ("script help x", "-ERR wrong number of arguments for 'script|help' command\r\n"),
            ("script kill", "-NOTBUSY No scripts in execution right now.\r\n"),
            (&format!("evalsha {sha1} 0"), noscript),
            ("eval \"return 1\" 0", ":1\r\n"),
            (&format!("evalsha {sha1} 0"), ":1\r\n"),
        ],
    );
}

#[test]
fn eval_arguments_and_lua_to_resp_conversion() {
    let mut n = RedisNode::new();
    transcript(
        &mut n,
        T0,
        &[
            ("eval \"return 1\"", "-ERR wrong number of arguments for 'eval' command\r\n"),
            ("eval \"return 1\" x", NOT_INT),
            ("eval \"return 1\" -1", "-ERR Number of keys can't be negative\r\n"),
            ("eval \"return 1\" 01", NOT_INT),
            ("eval \"return 1 +\" x", NOT_INT),
            ("eval \"return {KEYS[1]}\" 3 a", "-ERR Number of keys can't be greater than number of args\r\n"),
            ("eval \"return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}\" 2 a b c d", "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
            ("eval \"return #KEYS\" 0 a b", ":0\r\n"),
            ("eval \"return 1.9\" 0", ":1\r\n"),
            ("eval \"return -1.9\" 0", ":-1\r\n"),
            ("eval \"return 'x'\" 0", "$1\r\nx\r\n"),
            ("eval \"return {1,2,{3,'a'},nil,5}\" 0", "*3\r\n:1\r\n:2\r\n*2\r\n:3\r\n$1\r\na\r\n"),
            ("eval \"return {ok='fine'}\" 0", "+fine\r\n"),
            ("eval \"return {err='My Error'}\" 0", "-My Error\r\n"),
            ("eval \"return {err=''}\" 0", "-\r\n"),
            ("eval \"return {ok=1}\" 0", "*0\r\n"),
            ("eval \"return {err='a\\\\nb'}\" 0", "-a b\r\n"),
            ("eval \"return {ok='a\\\\r\\\\nb'}\" 0", "+a  b\r\n"),
            ("eval \"return {err='x', ok='y'}\" 0", "-x\r\n"),
            ("eval \"return false\" 0", NIL),
            ("eval \"return true\" 0", ":1\r\n"),
            ("eval \"return nil\" 0", NIL),
            ("eval \"return\" 0", NIL),
            ("eval \"return {a=1}\" 0", "*0\r\n"),
            ("eval \"return {1, false, true, 'x'}\" 0", "*4\r\n:1\r\n$-1\r\n:1\r\n$1\r\nx\r\n"),
            ("eval \"return {1, {ok='a'}, {err='b'}}\" 0", "*3\r\n:1\r\n+a\r\n-b\r\n"),
            ("eval \"return {double=1.5}\" 0", "$3\r\n1.5\r\n"),
            ("eval \"return {big_number='123'}\" 0", "$3\r\n123\r\n"),
            ("eval \"return {map={a=1}}\" 0", "*2\r\n$1\r\na\r\n:1\r\n"),
            ("eval \"return {set={a=true}}\" 0", "*1\r\n$1\r\na\r\n"),
            ("eval \"return 1e300\" 0", ":-9223372036854775808\r\n"),
            ("eval \"return 0/0\" 0", ":-9223372036854775808\r\n"),
            ("eval \"return 9007199254740993\" 0", ":9007199254740992\r\n"),
            ("eval \"return 2^62\" 0", ":4611686018427387904\r\n"),
            ("eval \"redis.call('set','k',0.1); return redis.call('get','k')\" 0", "$19\r\n0.10000000000000001\r\n"),
            ("eval \"redis.call('set','k',1e20); return redis.call('get','k')\" 0", "$5\r\n1e+20\r\n"),
            ("eval \"redis.call('set','k',0/0); return redis.call('get','k')\" 0", "$4\r\n-nan\r\n"),
            ("eval \"return type(redis.call('get','nokey'))\" 0", "$7\r\nboolean\r\n"),
            ("eval \"local r = redis.call('set','k','v'); return type(r) .. r.ok\" 0", "$7\r\ntableOK\r\n"),
            ("eval \"return type(redis.call('incr','n'))\" 0", "$6\r\nnumber\r\n"),
            ("eval \"return redis.error_reply('x')\" 0", "-ERR x\r\n"),
            ("eval \"return redis.error_reply('-MY x y')\" 0", "-MY x y\r\n"),
            ("eval \"return redis.status_reply('x')\" 0", "+x\r\n"),
            ("eval \"return redis.status_reply(1)\" 0", "-ERR wrong number or type of arguments\r\n"),
            ("eval \"return redis.sha1hex('')\" 0", "$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n"),
            ("eval \"return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}\" 0", "*2\r\n$6\r\n7.0.15\r\n:458767\r\n"),
            ("eval \"return {pcall(redis.call, 'nosuch')}\" 0", "*2\r\n$-1\r\n$44\r\nERR Unknown Redis command called from script\r\n"),
            ("eval \"return {xpcall(function() redis.call('nosuch') end, function(e) return type(e) end)}\" 0", "*2\r\n$-1\r\n$5\r\ntable\r\n"),
        ],
    );
}

#[test]
fn script_errors_carry_redis_suffixes() {
    let mut n = RedisNode::new();
    transcript(
        &mut n,
        T0,
        &[
            ("eval \"return redis.call('nosuch')\" 0", "-ERR Unknown Redis command called from script script: 206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1.\r\n"),
            ("eval \"return redis.pcall('nosuch')\" 0", "-ERR Unknown Redis command called from script\r\n"),
            ("eval \"return redis.call('get')\" 0", "-ERR Wrong number of args calling Redis command from script script: f187dee77f607f7cff00bbabc9df38507582c78d, on @user_script:1.\r\n"),
            ("eval \"return redis.call()\" 0", "-ERR Please specify at least one argument for this redis lib call script: 0a907e1429221a4d85516cab7fd219a82a9439d8, on @user_script:1.\r\n"),
            ("eval \"return redis.pcall('get', {})\" 0", "-ERR Lua redis lib command arguments must be strings or integers\r\n"),
            ("eval \"return redis.call('eval','return 1','0')\" 0", "-ERR This Redis command is not allowed from script script: 1e5046f3a9119d3dc9cf5824428b6d9fedd305d2, on @user_script:1.\r\n"),
            ("eval \"redis.call('set','k','x'); return redis.call('incr','k')\" 0", "-ERR value is not an integer or out of range script: 78a533a7e9c3db3df01c1f0b5b5f7b22e14f0fa3, on @user_script:1.\r\n"),
            ("eval \"return redis.call('hset','k','f','v')\" 0", "-WRONGTYPE Operation against a key holding the wrong kind of value script: 97a4648a5668c64a2e10744d8fbf8d86221662b5, on @user_script:1.\r\n"),
            ("eval \"return x\" 0", "-ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: 03c387736bb5cc009ff35151572cee04677aa374, on @user_script:1.\r\n"),
            ("eval \"x = 1\" 0", "-ERR user_script:1: Attempt to modify a readonly table script: 34bce5f775de97f557a34088509c8bfe1ea17e52, on @user_script:1.\r\n"),
            ("eval \"error('boom')\" 0", "-ERR user_script:1: boom script: 82903a0434f1503e152f89c03c9acd881a0e8150, on @user_script:1.\r\n"),
            ("eval \"error({err='MY boom'})\" 0", "-MY boom script: 4c2ee35ef37c857625d6ec6d812eab72377cfa97, on @user_script:1.\r\n"),
            ("eval \"error()\" 0", "-ERR nil script: aca90d914519fdb9825352bdc0befb59f7c8510f, on @user_script:1.\r\n"),
            ("eval \"return 1 +\" 0", "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'\r\n"),
            ("eval \"\\nreturn 'a' + 1\" 0", "-ERR user_script:2: attempt to perform arithmetic on a string value script: c199f585ac75a77398d8403ada8df3e615c7cf02, on @user_script:2.\r\n"),
            ("eval \"local function f()\\n  redis.call('nosuch')\\nend\\nf()\" 0", "-ERR Unknown Redis command called from script script: 8c217497af5b0cb70f7d3a0ee04a577ff35e02ec, on @user_script:2.\r\n"),
            ("eval \"return string.gsub('x', '.', error)\" 0", "-ERR x script: 8f1eb7fec37cf73913ddfd9613da07bac8c5effe, on =[C]:-1.\r\n"),
            ("eval \"return loadstring('return x')()\" 0", "-ERR [string \"return x\"]:1: Script attempted to access nonexistent global variable 'x' script: bc6c8f5739bc9265a1c05115a82d34f021d42f96, on return x:1.\r\n"),
            ("eval \"redis.log(99, 'x') return 1\" 0", "-ERR Invalid debug level. script: 1115414cf5959481eaa54c2086197ef4f8e4c317, on @user_script:1.\r\n"),
            ("eval \"#!lua flags=no-writes\\nreturn redis.call('set','a','1')\" 0", "-ERR Write commands are not allowed from read-only scripts. script: 71c6978aa8dbb43cfeb7536150d4b9326e6031a2, on @user_script:2.\r\n"),
            ("eval \"#!lua flags=foo\\nreturn 1\" 0", "-ERR Unexpected flag in script shebang: foo\r\n"),
            ("eval \"#!lua\" 0", "-ERR Invalid script shebang\r\n"),
        ],
    );
}

/// No rollback: writes before the error stay (and are propagated).
#[test]
fn script_error_keeps_earlier_writes() {
    let mut n = RedisNode::new();
    effects(
        &mut n,
        T0,
        "eval \"redis.call('set','k','v'); return redis.call('nosuch')\" 0",
        "-ERR Unknown Redis command called from script script: 26e79916324fd2e4b8c9654ddb66d3654da2ffd5, on @user_script:1.\r\n",
        &["set k v"],
    );
    assert_eq!(n.peek(b"k", T0), Some(&Value::Str(b"v".to_vec())));
}

/// Redis's lrand48 sequence for math.random on a fresh server.
#[test]
fn math_random_follows_redis_lrand48() {
    let mut n = RedisNode::new();
    transcript(
        &mut n,
        T0,
        &[
            ("eval \"return math.random(100)\" 0", ":40\r\n"),
            ("eval \"return math.random()\" 0", ":0\r\n"),
            (
                "eval \"return {math.random(100), math.random(100), math.random(1000000)}\" 0",
                "*3\r\n:36\r\n:45\r\n:318693\r\n",
            ),
            (
                "eval \"return {math.random(100), math.random(100), math.random(1000000)}\" 0",
                "*3\r\n:89\r\n:2\r\n:584091\r\n",
            ),
            (
                "eval \"return tostring(math.random())\" 0",
                "$16\r\n0.15936862638191\r\n",
            ),
        ],
    );
}

#[test]
fn replica_rejects_writes_and_hides_expired_keys() {
    let mut master = RedisNode::new();
    let mut replica = RedisNode::new();
    replica.set_role(Role::Replica);
    for cmd in [
        "set k v px 150",
        "hset h f v",
        "pexpire h 150",
        "set n 5 px 150",
        "set live v px 100000",
    ] {
        for effect in master.execute(&args(cmd), T0).effects {
            replica.apply_effect(&effect, T0);
        }
    }
    let later = T0 + 500;
    transcript(
        &mut replica,
        later,
        &[
            ("get k", NIL),
            ("exists k live", ":1\r\n"),
            ("ttl k", ":-2\r\n"),
            ("pttl k", ":-2\r\n"),
            ("hget h f", NIL),
            ("hexists h f", ":0\r\n"),
            ("dbsize", ":4\r\n"),
            ("get live", "$1\r\nv\r\n"),
            ("eval \"return redis.call('get', KEYS[1])\" 1 k", NIL),
            ("eval \"return redis.call('incr', KEYS[1])\" 1 n", "-READONLY You can't write against a read only replica. script: 2bab3b661081db58bd2341920e0ba7cf5dc77b25, on @user_script:1.\r\n"),
            ("eval \"return redis.pcall('incr', KEYS[1])\" 1 n", READONLY),
            ("eval \"redis.pcall('incr', KEYS[1]); return redis.call('get', KEYS[1])\" 1 live", "$1\r\nv\r\n"),
            ("eval \"return redis.call('del', KEYS[1])\" 1 nokey", "-READONLY You can't write against a read only replica. script: 98b2b88b1aa43ae891c8e2859ad7d9cd48c1c784, on @user_script:1.\r\n"),
            ("eval \"return redis.call('publish', 'a', 'b')\" 0", ":0\r\n"),
            ("eval \"#!lua flags=no-writes\\nreturn redis.call('get', KEYS[1])\" 1 live", "$1\r\nv\r\n"),
            ("eval \"#!lua flags=no-writes\\nreturn redis.call('set', KEYS[1], 'x')\" 1 live", "-ERR Write commands are not allowed from read-only scripts. script: 5542bd57a4a0c7e258558319b363acf2ab028631, on @user_script:2.\r\n"),
            ("eval \"#!lua\\nreturn 1\" x", READONLY),
            ("eval \"#!lua\\nreturn 1 +\" 0", READONLY),
            ("eval \"#!lua flags=foo\\nreturn 1\" 0", "-ERR Unexpected flag in script shebang: foo\r\n"),
            ("script load \"#!lua\\nreturn 2\"", "$40\r\n327e60b78547ebb77ec450ead371d5bd10cbdd69\r\n"),
            ("set", "-ERR wrong number of arguments for 'set' command\r\n"),
            ("set a b c d", READONLY),
            ("expire a abc", READONLY),
            ("flushall", READONLY),
            ("getset a b", READONLY),
            ("hincrby h f 1", READONLY),
            ("hdel h f", READONLY),
            ("setnx a b", READONLY),
            ("del nokey", READONLY),
            ("script flush", OK),
            ("wait 0 0", "-ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.\r\n"),
            ("wait x 0", "-ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.\r\n"),
            ("dbsize", ":4\r\n"),
        ],
    );
    assert!(
        replica.active_expire(later).is_empty(),
        "replicas never expire actively"
    );
    // The master's lazy expiry reaches the replica as a DEL.
    let exec = master.execute(&args("get k"), later);
    assert_eq!(exec.effects, vec![args("DEL k")]);
    replica.apply_effect(&exec.effects[0], later);
    transcript(&mut replica, later, &[("dbsize", ":3\r\n")]);
}

#[test]
fn effects_of_commands_are_absolute_and_rewritten() {
    let mut n = RedisNode::new();
    let t = T0;
    effects(&mut n, t, "set a 1", OK, &["set a 1"]);
    effects(
        &mut n,
        t,
        "set a 1 px 100000",
        OK,
        &["SET a 1 PXAT 1700000100000"],
    );
    effects(
        &mut n,
        t,
        "set a 1 ex 100",
        OK,
        &["SET a 1 PXAT 1700000100000"],
    );
    effects(
        &mut n,
        t,
        "set a 1 exat 2000000000",
        OK,
        &["SET a 1 PXAT 2000000000000"],
    );
    effects(
        &mut n,
        t,
        "set a 1 pxat 2000000000000",
        OK,
        &["SET a 1 PXAT 2000000000000"],
    );
    effects(&mut n, t, "set a 1 NX px 100", NIL, &[]);
    effects(&mut n, t, "set b 1 nx", OK, &["set b 1 nx"]);
    effects(&mut n, t, "set b 2 xx get", "$1\r\n1\r\n", &["set b 2 xx"]);
    effects(
        &mut n,
        t,
        "set b 2 xx get px 100000",
        "$1\r\n2\r\n",
        &["SET b 2 PXAT 1700000100000"],
    );
    effects(
        &mut n,
        t,
        "set b 3 keepttl get",
        "$1\r\n2\r\n",
        &["set b 3 keepttl"],
    );
    effects(&mut n, t, "SET b 3 KEEPTTL", OK, &["SET b 3 KEEPTTL"]);
    effects(&mut n, t, "set nk2 1 xx get", NIL, &[]);
    effects(&mut n, t, "set c v pxat 1", OK, &["SET c v PXAT 1"]);
    effects(&mut n, t, "get c", NIL, &["DEL c"]);
    effects(
        &mut n,
        t,
        "expire b 100",
        ":1\r\n",
        &["PEXPIREAT b 1700000100000"],
    );
    effects(
        &mut n,
        t,
        "pexpire b 100000",
        ":1\r\n",
        &["PEXPIREAT b 1700000100000"],
    );
    effects(
        &mut n,
        t,
        "pexpireat b 3000000000000",
        ":1\r\n",
        &["pexpireat b 3000000000000"],
    );
    effects(&mut n, t, "expire b 100 nx", ":0\r\n", &[]);
    effects(
        &mut n,
        t,
        "expire b 100 xx",
        ":1\r\n",
        &["PEXPIREAT b 1700000100000 xx"],
    );
    effects(
        &mut n,
        t,
        "expire b 200 gt",
        ":1\r\n",
        &["PEXPIREAT b 1700000200000 gt"],
    );
    effects(
        &mut n,
        t,
        "expireat b 3000000000",
        ":1\r\n",
        &["PEXPIREAT b 3000000000000"],
    );
    effects(&mut n, t, "getset b 5", "$1\r\n3\r\n", &["SET b 5"]);
    effects(&mut n, t, "setnx d 1", ":1\r\n", &["setnx d 1"]);
    effects(&mut n, t, "setnx d 1", ":0\r\n", &[]);
    effects(&mut n, t, "incr d", ":2\r\n", &["incr d"]);
    effects(&mut n, t, "del d e", ":1\r\n", &["del d e"]);
    effects(&mut n, t, "del zz", ":0\r\n", &[]);
    effects(&mut n, t, "hset h f 1 g 2", ":2\r\n", &["hset h f 1 g 2"]);
    effects(&mut n, t, "hset h f 1", ":0\r\n", &["hset h f 1"]);
    effects(&mut n, t, "hincrby h f 3", ":4\r\n", &["hincrby h f 3"]);
    effects(&mut n, t, "hdel h f zz", ":1\r\n", &["hdel h f zz"]);
    effects(&mut n, t, "hdel h zz", ":0\r\n", &[]);
    effects(&mut n, t, "publish ch m", ":0\r\n", &[]);
    effects(
        &mut n,
        t,
        "script load \"return 1\"",
        "$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n",
        &[],
    );
    effects(&mut n, t, "expire a -1", ":1\r\n", &["DEL a"]);
    effects(&mut n, t, "pexpire b 0", ":1\r\n", &["DEL b"]);
    effects(&mut n, t, "flushall sync", OK, &["flushall sync"]);
}

#[test]
fn lazy_expiry_effects_come_first_in_multi() {
    let mut n = RedisNode::new();
    for i in 1..=9 {
        n.execute(&args(&format!("set x{i} 1 px 150")), T0);
    }
    n.execute(&args("hset h f 1"), T0);
    n.execute(&args("pexpire h 150"), T0);
    n.execute(&args("set mark 1"), T0);
    let t = T0 + 300;
    effects(
        &mut n,
        t,
        "setnx x1 2",
        ":1\r\n",
        &["MULTI", "DEL x1", "setnx x1 2", "EXEC"],
    );
    effects(
        &mut n,
        t,
        "incr x2",
        ":1\r\n",
        &["MULTI", "DEL x2", "incr x2", "EXEC"],
    );
    effects(
        &mut n,
        t,
        "hset h f 2",
        ":1\r\n",
        &["MULTI", "DEL h", "hset h f 2", "EXEC"],
    );
    effects(
        &mut n,
        t,
        "exists x3 x4 mark",
        ":1\r\n",
        &["MULTI", "DEL x3", "DEL x4", "EXEC"],
    );
    effects(&mut n, t, "del x5", ":0\r\n", &["DEL x5"]);
    effects(&mut n, t, "ttl x6", ":-2\r\n", &["DEL x6"]);
    effects(
        &mut n,
        t,
        "getset x7 v",
        NIL,
        &["MULTI", "DEL x7", "SET x7 v", "EXEC"],
    );
    effects(&mut n, t, "expire x8 100", ":0\r\n", &["DEL x8"]);
    effects(
        &mut n,
        t,
        "set x9 v px 100000 get",
        NIL,
        &["MULTI", "DEL x9", "SET x9 v PXAT 1700000100300", "EXEC"],
    );
    effects(&mut n, t, "pexpireat mark 1", ":1\r\n", &["DEL mark"]);
}

#[test]
fn script_effects_are_wrapped_in_multi_exec() {
    let mut n = RedisNode::new();
    let t = T0;
    effects(
        &mut n,
        t,
        "eval \"return redis.call('get','k')\" 0",
        NIL,
        &[],
    );
    effects(
        &mut n,
        t,
        "eval \"return redis.call('set','k','v','px','100000')\" 0",
        OK,
        &["SET k v PXAT 1700000100000"],
    );
    effects(
        &mut n,
        t,
        "eval \"redis.call('set','k','v'); redis.call('incr','n'); return 1\" 0",
        ":1\r\n",
        &["MULTI", "set k v", "incr n", "EXEC"],
    );
    effects(
        &mut n,
        t,
        "eval \"if redis.call('get',KEYS[1]) == ARGV[1] then return redis.call('del',KEYS[1]) else return 0 end\" 1 k v",
        ":1\r\n",
        &["del k"],
    );
    effects(
        &mut n,
        t,
        "eval \"redis.call('del','nokey'); return 1\" 0",
        ":1\r\n",
        &[],
    );
    effects(
        &mut n,
        t,
        "eval \"redis.call('expire','n','100'); return redis.call('pexpire','n','5000')\" 0",
        ":1\r\n",
        &[
            "MULTI",
            "PEXPIREAT n 1700000100000",
            "PEXPIREAT n 1700000005000",
            "EXEC",
        ],
    );
    n.execute(&args("set e1 1 px 150"), t);
    n.execute(&args("set e2 1 px 150"), t);
    let t = T0 + 300;
    effects(
        &mut n,
        t,
        "eval \"return redis.call('get','e1')\" 0",
        NIL,
        &["DEL e1"],
    );
    effects(
        &mut n,
        t,
        "eval \"redis.call('set','z','1'); return redis.call('get','e2')\" 0",
        NIL,
        &["MULTI", "set z 1", "DEL e2", "EXEC"],
    );
    effects(
        &mut n,
        t,
        "eval \"return redis.call('getset','z','1')\" 0",
        "$1\r\n1\r\n",
        &["SET z 1"],
    );
    effects(
        &mut n,
        t,
        "eval \"return redis.call('expire','z','-1')\" 0",
        ":1\r\n",
        &["DEL z"],
    );
    effects(
        &mut n,
        t,
        "eval \"return redis.call('set','z', '1', 'pxat', '1')\" 0",
        OK,
        &["SET z 1 PXAT 1"],
    );
    effects(
        &mut n,
        t,
        "eval \"return redis.call('setnx','z', '1')\" 0",
        ":1\r\n",
        &["MULTI", "DEL z", "setnx z 1", "EXEC"],
    );
    effects(
        &mut n,
        t,
        "eval \"redis.call('set','z','1'); return redis.call('set','z','2','xx','get')\" 0",
        "$1\r\n1\r\n",
        &["MULTI", "set z 1", "set z 2 xx", "EXEC"],
    );
    effects(
        &mut n,
        t,
        "eval \"redis.call('set','z','1'); return redis.call('publish','ch', 'm')\" 0",
        ":0\r\n",
        &["set z 1"],
    );
}

#[test]
fn apply_effect_replays_a_master_and_active_expiry() {
    let mut master = RedisNode::new();
    let mut aof = Vec::new();
    for cmd in [
        "set a 1 px 100",
        "set b 2",
        "hset h f 1",
        "pexpire h 1000",
        "eval \"redis.call('incr','c'); return redis.call('set','d','x','ex','10')\" 0",
        "getset b 3",
    ] {
        aof.extend(master.execute(&args(cmd), T0).effects);
    }
    // A replica (or a restart replaying the AOF long after) applies every
    // effect, even for keys already expired on its clock.
    let mut replica = RedisNode::new();
    replica.set_role(Role::Replica);
    for effect in &aof {
        replica.apply_effect(effect, T0 + 50_000);
    }
    assert_eq!(replica.dump(), master.dump());
    assert_eq!(replica.next_expiry_ms(), Some(T0 + 100));
    assert_eq!(master.expiry_of(b"d"), Some(T0 + 10_000));
    assert_eq!(master.active_expire(T0 + 100), Vec::<Vec<Vec<u8>>>::new());
    assert_eq!(
        master.active_expire(T0 + 1001),
        vec![args("DEL a"), args("DEL h")]
    );
    assert_eq!(master.len(), 3);
    let mut hash = BTreeMap::new();
    hash.insert(b"f".to_vec(), b"1".to_vec());
    assert_eq!(replica.peek(b"h", T0 + 1000), Some(&Value::Hash(hash)));
}

#[test]
fn dump_and_load_skip_keys_already_expired() {
    let mut n = RedisNode::new();
    n.execute(&args("set gone v pxat 1700000000999"), T0);
    n.execute(&args("set edge v pxat 1700000001000"), T0);
    n.execute(&args("set kept v"), T0);
    let dump = n.dump();
    assert_eq!(dump.len(), 3);
    // Redis skips keys with expiry < now when loading as a master.
    let loaded = RedisNode::load(dump, T0 + 1000);
    assert_eq!(
        loaded
            .dump()
            .into_iter()
            .map(|(k, _, _)| k)
            .collect::<Vec<_>>(),
        vec![b"edge".to_vec(), b"kept".to_vec()]
    );
    assert_eq!(loaded.role(), Role::Master);
}

/// Output of `redis-cli --no-raw` for the same lines read from a pipe.
#[test]
fn shell_prints_like_redis_cli() {
    let input = "set k \"a\\\"b\\n\"\nget k\nincr n\nget nokey\nfoo\n\
        eval \"return {1,{2,{3,\\\"x\\\"}},{},false,{ok=\\\"st\\\"},{err=\\\"E r\\\"}}\" 0\n\
        eval \"return {1,2,3,4,5,6,7,8,9,10,11,{1,2}}\" 0\nping\nset\n\
        set q \"abc\nset q \"a\"b\nset q 'it\\'s'\nget q\nset q \"\\x41\\x4g\\t\"\nget q\n   \n\n\
        3 ping\n0 ping\n2\nquit\nping\n";
    let mut out = Vec::new();
    run_shell(input.as_bytes(), &mut out, false).unwrap();
    let want = "OK\n\"a\\\"b\\n\"\n(integer) 1\n(nil)\n\
        (error) ERR unknown command 'foo', with args beginning with: \n\
        1) (integer) 1\n2) 1) (integer) 2\n   2) 1) (integer) 3\n      2) \"x\"\n3) (empty array)\n4) (nil)\n5) st\n6) (error) E r\n \
        1) (integer) 1\n 2) (integer) 2\n 3) (integer) 3\n 4) (integer) 4\n 5) (integer) 5\n 6) (integer) 6\n \
        7) (integer) 7\n 8) (integer) 8\n 9) (integer) 9\n10) (integer) 10\n11) (integer) 11\n12) 1) (integer) 1\n    2) (integer) 2\n\
        PONG\n(error) ERR wrong number of arguments for 'set' command\n\
        Invalid argument(s)\nInvalid argument(s)\nOK\n\"it's\"\nOK\n\"Ax4g\\t\"\n\
        PONG\nPONG\nPONG\nInvalid redis-cli repeat command option value.\n\
        (error) ERR unknown command '2', with args beginning with: \n";
    assert_eq!(String::from_utf8(out).unwrap(), want);
}

#[test]
fn shell_sleep_advances_the_clock_and_expires() {
    let input = "set k v px 100\npttl k\nSLEEP 40\npttl k\nSLEEP 60\nget k\nSLEEP 1\nget k\ndbsize\nsleep x\n";
    let mut out = Vec::new();
    run_shell(input.as_bytes(), &mut out, true).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "+OK\r\n:100\r\n:60\r\n$1\r\nv\r\n$-1\r\n:0\r\n-ERR SLEEP takes one argument: milliseconds >= 0\r\n"
    );
}
