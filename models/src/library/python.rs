//! The single-instance Python locks: redis-py's `Lock` and
//! python-redis-lock.
//!
//! - redis-py (github.com/redis/redis-py), `redis/lock.py` at 2.10.0,
//!   2.10.2, 3.0.0 and v8.1.0, `redis/asyncio/lock.py` at v4.2.0 and
//!   v8.1.0, `redis/_defaults.py` at v8.0.0:
//!   - `do_acquire`: `SET name token NX PX timeout`, and with the default
//!     `timeout=None` **no PX at all**: the key never expires;
//!   - `acquire` polls every `sleep = 0.1` s, forever with the default
//!     `blocking_timeout=None`;
//!   - `release`: `expected_token = self.local.token; self.local.token =
//!     None; self.do_release(expected_token)` with `LUA_RELEASE_SCRIPT`
//!     up to 8.1.0 (`clears_token_first`), so a release that raised
//!     cannot be retried (row 46); 8.2.0 (`redis/lock.py` of the released
//!     wheel, PR #4258) clears the token only after the script answered,
//!     and only if it is still the same;
//!   - the token lives in `threading.local()` (2.10.2 onwards): per thread,
//!     so asyncio tasks, which share a thread, share it (row 45:
//!     `shared_token = true` for a `Lock` used by several tasks); 2.10.0
//!     and 2.10.1 kept it in a plain attribute, shared by every user;
//!   - the socket timeout is `None` before 8.0 and 5 s from 8.0; the
//!     client re-sends a command after a timeout or connection error 3
//!     times from 6.0 and 10 times from 8.0 (`client_retries`; the
//!     exponential backoff between them is not modelled).
//! - python-redis-lock (github.com/ionelmc/python-redis-lock),
//!   `src/redis_lock/__init__.py` at v3.0.0 and v4.0.1: `SET name id NX
//!   EX expire` (no TTL with the default `expire=None`), released by a
//!   compare-and-delete script that also signals a list; `auto_renewal`
//!   extends every `expire * 2 / 3` from a thread that dies on any
//!   exception (set `extend_every_ms` to two thirds of `ttl_ms`;
//!   `on_extend_fail = "stop"`). In 2.2.0-2.3.0 the renewal was `SET name
//!   id XX EX`, which overwrites another owner's key: not modelled (the
//!   profile starts at 3.0.0).
//!
//! Simplifications: waiting is polling (python-redis-lock waits with
//! `BLPOP` on its signal list, woken by the release); python-redis-lock's
//! `EX` seconds are the TTL in ms, and its extend script (seconds, `0` =
//! done) is modelled by the compare-and-`PEXPIRE` one, with the same
//! effect on the key.

use super::{Change, Profile};
use crate::config::{Algorithm, LockConfig, OnExtendFail};

/// redis-py's `LUA_RELEASE_SCRIPT` (v8.1.0 `redis/lock.py`).
pub const REDIS_PY_RELEASE_SCRIPT: &str = "\nlocal token = redis.call('get', KEYS[1])\nif not token or token ~= ARGV[1] then\n    return 0\nend\nredis.call('del', KEYS[1])\nreturn 1\n";

fn redis_py() -> LockConfig {
    let mut c = LockConfig::defaults(Algorithm::SetNxPx);
    c.ttl_ms = 0; // timeout=None
    c.retry_count = 0; // blocking_timeout=None
    c.retry_delay_ms = 100; // sleep=0.1
    c.retry_jitter_ms = 0;
    c.script_release = Some(REDIS_PY_RELEASE_SCRIPT.into());
    // socket_timeout=None: a stand-in longer than any default TTL.
    c.request_timeout_ms = 10_000;
    c.shared_token = true; // 2.10.0-2.10.1: `self.token`
    c.clears_token_first = true; // release(): `self.local.token = None` first
    c.on_extend_fail = OnExtendFail::Stop; // extend() raises LockNotOwnedError
    c
}

pub static REDIS_PY: Profile = Profile {
    name: "redis-py",
    about: "redis-py Lock, Python: SET NX with no TTL by default, polled every 0.1 s",
    repo: "github.com/redis/redis-py",
    first: "2.10.0",
    current: "8.2.0",
    base: redis_py,
    changes: &[
        Change {
            since: "2.10.2",
            what: "the token lives in threading.local(): threads no longer share it (asyncio tasks still do: shared_token = true)",
            source: "redis-py 2.10.2 redis/lock.py (a3d8aad6, b010f4fc; #416, #490)",
            apply: |c| c.shared_token = false,
        },
        Change {
            since: "6.0.0",
            what: "the client retries a command 3 times after a connection error or timeout (Retry(ExponentialWithJitterBackoff, 3))",
            source: "redis-py v6.0.0 redis/client.py",
            apply: |c| c.client_retries = 3,
        },
        Change {
            since: "8.0.0",
            what: "client socket_timeout defaults to 5 s, and commands are retried 10 times",
            source: "redis-py v8.0.0 redis/_defaults.py",
            apply: |c| {
                c.request_timeout_ms = 5_000;
                c.client_retries = 10;
            },
        },
        Change {
            since: "8.2.0",
            what: "release() keeps the token when the release fails with a connection error or timeout, so the caller can retry it (PR #4258)",
            source: "redis-py 8.2.0 redis/lock.py Lock.release (the installed wheel; v8.1.0 clears it first)",
            apply: |c| c.clears_token_first = false,
        },
    ],
};

fn python_redis_lock() -> LockConfig {
    let mut c = LockConfig::defaults(Algorithm::SetNxPx);
    c.ttl_ms = 0; // expire=None
    c.retry_count = 0; // blocking=True, timeout=None
    c.retry_delay_ms = 100;
    c.retry_jitter_ms = 0;
    c.request_timeout_ms = 10_000; // the redis client's own (None)
    c.on_extend_fail = OnExtendFail::Stop; // the renewal thread dies
    c
}

pub static PYTHON_REDIS_LOCK: Profile = Profile {
    name: "python-redis-lock",
    about:
        "python-redis-lock, Python: SET NX EX, auto_renewal from a thread that dies on any error",
    repo: "github.com/ionelmc/python-redis-lock",
    first: "3.0.0",
    current: "4.0.1",
    base: python_redis_lock,
    changes: &[],
};
