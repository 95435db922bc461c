//! The Redlock libraries: node-redlock, redsync, redlock-rb, redlock-py
//! and pottery.
//!
//! Each was read from its own repository at the tags it names:
//! - node-redlock (github.com/mike-marcacci/node-redlock): `redlock.js`
//!   at v4.2.0 (validity re-checked with `Date.now()` after all replies,
//!   a failed attempt unlocks, `retryCount: 10` = 11 attempts at
//!   `200 ± 100` ms, drift `round(0.01 * ttl) + 2`), `src/index.ts` at
//!   v5.0.0-beta.2 (`const start = Date.now();` once before all retries,
//!   no re-check, partial keys kept between attempts and released after
//!   the last, `using` extends `automaticExtensionThreshold` = 500 ms
//!   before the end and raises the abort signal when it cannot);
//! - redsync (github.com/go-redsync/redsync): `mutex.go`, `redsync.go`
//!   at v4.0.0-v4.17.0 (`until = now + expiry - elapsed - expiry *
//!   driftFactor`, no +2 ms, Go's monotonic reading; 32 tries; 500 ms apart
//!   before v4.3.0, `rand.Intn(200) + 50` from v4.3.0; per-try timeout
//!   `expiry * 0.05` from v4.5.0; `Extend` with `touchScript`, and
//!   `WithSetNXOnExtend` from v4.12.0, opt-in: `extend_setnx = true`);
//! - redlock-rb (github.com/leandromoreira/redlock-rb):
//!   `lib/redlock/client.rb` at 0.0.1, 1.0.0 and 2.0.6 (sequential, drift
//!   `(ttl * 0.01).to_i + 2`, `Time.now` before 1.0.0 and
//!   `CLOCK_MONOTONIC` from 1.0.0, 4 tries at `200 + rand(50)` ms from
//!   1.0.0, a failed extension unlocks everywhere);
//! - redlock-py (github.com/SPSCommerce/redlock-py): `redlock/__init__.py`
//!   at the `setup.py` bumps 1.0.4 (commit 1ab1090, validity `ttl -
//!   elapsed - drift` on `time.time()`) and 1.0.8 (commit 42ef491: a
//!   quorum with a node's `RedisError` raises `MultipleRedlockException`
//!   without unlocking); sequential, 3 tries, a fixed 0.2 s;
//! - pottery (github.com/brainix/pottery): `pottery/redlock.py` at v1.0.0,
//!   v1.2.0 and v3.0.1 (parallel, validity `auto_release_time - drift -
//!   elapsed` on `timeit.default_timer`; from 0.47 to 1.1.x the drift was
//!   added, fixed in v1.2.0 (e8aed29, #394); `acquire()` blocks forever
//!   with `uniform(0, 0.2)` s pauses; `extend` capped at 3).
//!
//! Simplifications: node-redlock's acquire script (`exists` on each key,
//! then `set ... PX`) refuses an existing key whoever owns it, exactly as
//! `SET NX PX` does, so the model sends `SET NX PX`. Drift rounding
//! (`round` vs `int`) differs by under 1 ms and is `round` throughout.
//! Extension scripts are the compare-and-`PEXPIRE` one.

use super::{Change, Profile};
use crate::config::{Algorithm, LockConfig, OnExtendFail, Timing};

fn node_redlock() -> LockConfig {
    let mut c = LockConfig::defaults(Algorithm::Redlock);
    c.timing = Timing::Wall; // Date.now()
    c.drift_factor = 0.01;
    c.drift_extra_ms = 2;
    c.retry_count = 4; // v0.2.0-v2.x: retryCount 3 = 4 attempts
    c.retry_delay_ms = 200;
    c.retry_jitter_ms = 0;
    // No per-command timeout in the library or in ioredis's defaults (no
    // `commandTimeout`): a stand-in longer than any default TTL.
    c.request_timeout_ms = 10_000;
    c.on_extend_fail = OnExtendFail::Unlock; // extend() unlocks on failure
    c
}

pub static NODE_REDLOCK: Profile = Profile {
    name: "node-redlock",
    about: "node-redlock (npm `redlock`), JavaScript: Redlock timed on Date.now()",
    repo: "github.com/mike-marcacci/node-redlock",
    first: "0.2.0",
    current: "5.0.0-beta.2",
    base: node_redlock,
    changes: &[
        Change {
            since: "3.0.0",
            what: "retryCount 10 (11 attempts), 200 ms ± retryJitter 100",
            source: "node-redlock v3.0.0 redlock.js",
            apply: |c| {
                c.retry_count = 11;
                c.retry_delay_ms = 100;
                c.retry_jitter_ms = 199;
            },
        },
        Change {
            since: "5.0.0-alpha.0",
            what: "no validity re-check after the quorum; start read once before all retries; partial keys kept between attempts; `using` raises an abort signal when extension fails",
            source: "node-redlock v5.0.0-beta.2 src/index.ts (acquire lines 305-341, using lines 685-762)",
            apply: |c| {
                c.validity_check = false;
                c.start_once = true;
                c.keep_partial = true;
                c.on_extend_fail = OnExtendFail::Abort;
            },
        },
    ],
};

fn redsync() -> LockConfig {
    let mut c = LockConfig::defaults(Algorithm::Redlock);
    c.ttl_ms = 8_000; // expiry: 8 * time.Second
    c.drift_factor = 0.01;
    c.drift_extra_ms = 0; // no +2 ms since v1.3.1
    c.retry_count = 32;
    c.request_timeout_ms = 3_000; // go-redis ReadTimeout before v4.5.0's per-try bound
    c.retry_delay_ms = 500;
    c.retry_jitter_ms = 0;
    c.on_extend_fail = OnExtendFail::Retry; // Extend returns false; the caller goes on
    c
}

pub static REDSYNC: Profile = Profile {
    name: "redsync",
    about: "redsync, Go: Redlock on Go's monotonic clock, Extend on demand",
    repo: "github.com/go-redsync/redsync",
    first: "4.0.0",
    current: "4.17.0",
    base: redsync,
    changes: &[
        Change {
            since: "4.3.0",
            what: "retry delay rand.Intn(200) + 50 ms (was a fixed 500 ms)",
            source: "redsync v4.3.0 redsync.go (a6bfc68)",
            apply: |c| {
                c.retry_delay_ms = 50;
                c.retry_jitter_ms = 199;
            },
        },
        Change {
            since: "4.5.0",
            what: "each try is bounded by expiry * timeoutFactor (0.05): 400 ms at the default 8 s",
            source: "redsync v4.5.0 mutex.go (62c8209)",
            apply: |c| c.request_timeout_ms = (c.ttl_ms / 20).max(1),
        },
        Change {
            since: "4.12.0",
            what:
                "WithSetNXOnExtend() (opt-in: extend_setnx = true) re-creates lost copies on Extend",
            source: "redsync v4.12.0 mutex.go (PR #149)",
            apply: |_| {},
        },
    ],
};

fn redlock_rb() -> LockConfig {
    let mut c = LockConfig::defaults(Algorithm::Redlock);
    c.sequential = true;
    c.timing = Timing::Wall; // Time.now before 1.0.0
    c.retry_count = 3;
    c.retry_delay_ms = 0;
    c.retry_jitter_ms = 199; // sleep(rand(200) / 1000)
    c.request_timeout_ms = 100; // redis_timeout 0.1 s (URL servers)
    c.extend_setnx = true; // extend re-creates a missing key (LOCK_SCRIPT)
    c.on_extend_fail = OnExtendFail::Unlock;
    c
}

pub static REDLOCK_RB: Profile = Profile {
    name: "redlock-rb",
    about: "redlock-rb, Ruby: sequential Redlock; a failed extension unlocks everywhere",
    repo: "github.com/leandromoreira/redlock-rb",
    first: "0.0.1",
    current: "2.0.6",
    base: redlock_rb,
    changes: &[
        Change {
            since: "0.2.0",
            what: "retry delay 200 ms + rand(50)",
            source: "redlock-rb 0.2.0 lib/redlock/client.rb",
            apply: |c| {
                c.retry_delay_ms = 200;
                c.retry_jitter_ms = 49;
            },
        },
        Change {
            since: "1.0.0",
            what: "CLOCK_MONOTONIC timing; retry_count + 1 = 4 tries",
            source: "redlock-rb 1.0.0 lib/redlock/client.rb (b823334, 8a3ede1)",
            apply: |c| {
                c.timing = Timing::Mono;
                c.retry_count = 4;
            },
        },
    ],
};

fn redlock_py() -> LockConfig {
    let mut c = LockConfig::defaults(Algorithm::Redlock);
    c.sequential = true;
    c.timing = Timing::Wall; // time.time() / datetime.utcnow()
                             // No timeout set: redis-py's socket_timeout=None (a stand-in longer
                             // than any default TTL). A timeout is a RedisError like any other.
    c.request_timeout_ms = 10_000;
    c.retry_count = 3;
    c.retry_delay_ms = 200;
    c.retry_jitter_ms = 0;
    c
}

pub static REDLOCK_PY: Profile = Profile {
    name: "redlock-py",
    about: "redlock-py, Python: sequential Redlock on time.time()",
    repo: "github.com/SPSCommerce/redlock-py",
    first: "1.0.4",
    current: "1.0.8",
    base: redlock_py,
    changes: &[Change {
        since: "1.0.8",
        what:
            "a quorum with another node's error raises MultipleRedlockException without unlocking",
        source: "redlock-py 1.0.8 redlock/__init__.py (commit 42ef491, PR #15)",
        apply: |c| c.fail_on_node_error = true,
    }],
};

fn pottery() -> LockConfig {
    let mut c = LockConfig::defaults(Algorithm::Redlock);
    c.ttl_ms = 10_000; // auto_release_time
    c.retry_count = 0; // acquire(blocking=True, timeout=-1): forever
    c.retry_delay_ms = 0;
    c.retry_jitter_ms = 200; // random.uniform(0, RETRY_DELAY)
    c.request_timeout_ms = 1_000; // default master: socket_timeout=1
    c.drift_extra_ms = 2;
    c.max_extensions = 3; // num_extensions
    c.on_extend_fail = OnExtendFail::Stop; // ExtendUnlockedLock: lock left as is
    c
}

pub static POTTERY: Profile = Profile {
    name: "pottery",
    about: "pottery Redlock, Python: parallel Redlock on perf_counter, extend capped at 3",
    repo: "github.com/brainix/pottery",
    first: "1.2.0",
    current: "3.0.1",
    base: pottery,
    changes: &[],
};
