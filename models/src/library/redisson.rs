//! Redisson (Java): `RLock`, `RFencedLock` and `RedissonRedLock`.
//!
//! Read in github.com/redisson/redisson with `git show <tag>:<path>`, at
//! the tags each change names (`P` = `redisson/src/main/java/org/redisson`):
//! - acquire, unlock and renewal scripts: `P/RedissonLock.java` (3.11.0),
//!   `P/RedissonBaseLock.java` (3.15.0 onwards), `P/renewal/LockTask.java`
//!   (3.44.0 onwards);
//! - `WAIT` after lock writes: `P/command/CommandBatchService.java`
//!   (3.12.5), `RedissonLock.evalWriteAsync` (3.12.5, 3.14.1),
//!   `RedissonBaseLock` (3.16.7, 3.17.0, 3.17.5),
//!   `P/command/CommandAsyncService.java` `syncedEval` and `handleNoSync`
//!   (3.20.0, 3.27.0, 3.47.0);
//! - the watchdog: `RedissonLock.renewExpiration` (3.11.0-3.43.0),
//!   `P/renewal/RenewalTask.java` (3.44.0: "Fixed - lock watchdog doesn't
//!   renew RLock if an expection has been thrown");
//! - defaults: `P/config/Config.java` (`lockWatchdogTimeout` 30 000 ms,
//!   `checkLockSyncedSlaves` true from 3.17.0, `slavesSyncTimeout` 1000),
//!   `P/config/BaseConfig.java` (`timeout` 3000 ms, `retryAttempts` 3,
//!   `retryInterval` 1500 ms; 4 attempts and a 1-2 s jitter from 3.48.0);
//! - `RFencedLock`: `P/RedissonFencedLock.java` (3.19.0 onwards);
//! - `RedissonRedLock` / `RedissonMultiLock`: `P/RedissonRedLock.java`,
//!   `P/RedissonMultiLock.java` (3.11.0 and 4.7.0).
//!
//! What the model keeps, and where it simplifies:
//! - the lock is the watchdog algorithm ([`crate::watchdog`]) with
//!   Redisson's three scripts; waiting for a held lock polls instead of
//!   subscribing to the unlock channel;
//! - `WAIT <replicas> 1000` follows the acquire by the rule of each
//!   version ([`crate::synced`]); a master that dies after the grant never
//!   answers it, so from 3.14.1 the acquire fails (row 36);
//! - a failed replica check leaves the key (3.16.7-3.19, 3.25-3.46: the
//!   3.25.0 message change made `handleNoSync`'s `equals` test dead code)
//!   or unlocks it (3.20-3.24, 3.47 onwards);
//! - a renewal that fails stops the watchdog up to 3.43; from 3.44 the
//!   next period tries again;
//! - Redisson's command timeout is 3000 ms (`request_timeout_ms`); lock
//!   writes that carry `WAIT` get the `WAIT` timeout on top; a command
//!   that gets no reply is re-sent `retryAttempts` times
//!   (`client_retries`), at once (the 1.5 s `retryInterval` of 3.15.2-3.47
//!   and the jitter of 3.48 are not modelled); the acquire script and its
//!   `WAIT` are one batch with one timeout (`request_timeout_ms +
//!   wait_timeout_ms`), which a re-send repeats whole; both copies of a
//!   re-sent acquire can run, and the second takes the re-entrant branch
//!   (hold count 2, row 39, #7367: open, no fixed release); from 3.37.0
//!   a single server (a master without replicas) never re-sends the
//!   acquire or unlock (`single_server_no_resend`);
//! - `redisson-redlock` is modelled as Redlock with `SET NX PX` per node,
//!   sequential, with no validity check and no drift allowance, which is
//!   what decides its verdicts; each member `RLock`'s own hash, watchdog
//!   and `WAIT` are not modelled (the lease is the whole TTL);
//! - up to 3.12.0 a renewal that fails leaves its entry in
//!   `EXPIRATION_RENEWAL_MAP` and an unlock that finds the lock gone keeps
//!   it: that client's later holds are never renewed
//!   (`stale_renewal_entry`, redisson #3194, #3712). 3.12.1 clears it at
//!   every unlock, 3.14.0 at the failed renewal itself; since a client's
//!   next hold always follows its unlock here, 3.12.1 already ends it;
//! - not modelled: the unlock latch of 3.24, the `WAITAOF` window of
//!   3.46-3.52.

use super::{Change, Profile};
use crate::config::{Algorithm, LockConfig, OnUnsynced, RenewOnError, SyncReplicas};

fn rlock() -> LockConfig {
    let mut c = LockConfig::defaults(Algorithm::Watchdog);
    c.ttl_ms = 30_000; // lockWatchdogTimeout
    c.renew_every_ms = 10_000; // internalLockLeaseTime / 3
    c.renew_on_error = RenewOnError::Stop;
    c.request_timeout_ms = 3_000; // BaseConfig.timeout
    c.client_retries = 3; // BaseConfig.retryAttempts: 4 sends in all
    c.retry_count = 0; // lock() blocks until it gets the lock
    c.retry_delay_ms = 100;
    c.retry_jitter_ms = 0;
    c.wait_timeout_ms = 1_000; // syncSlaves(availableSlaves, 1, SECONDS)
    c.stale_renewal_entry = true; // EXPIRATION_RENEWAL_MAP, 3.11.0
    c
}

/// The changes `RLock` and `RFencedLock` share.
const RLOCK_CHANGES: &[Change] = &[
    Change {
        since: "3.12.1",
        what: "unlock always cancels the renewal entry, so the entry a failed renewal left no longer outlives the hold",
        source: "redisson 3.12.1 RedissonLock.unlockAsync (commit 2464e0661, #2515)",
        apply: |c| c.stale_renewal_entry = false,
    },
    Change {
        since: "3.12.5",
        what: "every lock write on a master with replicas is followed by WAIT <replicas> 1000, but the acquire returns on the script's reply",
        source: "redisson 3.12.5 CommandBatchService.executeAsync, RedissonLock.evalWriteAsync",
        apply: |c| c.sync_replicas = SyncReplicas::Unawaited,
    },
    Change {
        since: "3.14.1",
        what: "the acquire waits for WAIT's reply (its count still ignored): a master that dies after the grant fails the acquire",
        source: "redisson 3.14.1 RedissonLock.evalWriteAsync (commit 4f1a5c364, #3253)",
        apply: |c| c.sync_replicas = SyncReplicas::Awaited,
    },
    Change {
        since: "3.16.7",
        what: "the acquire fails unless every replica acknowledged (\"Only X of Y slaves were synced\"), leaving its key behind",
        source: "redisson 3.16.7 RedissonBaseLock (commit e2b3973c3, #3994)",
        apply: |c| c.sync_replicas = SyncReplicas::All,
    },
    Change {
        since: "3.17.5",
        what: "one acknowledging replica is enough; none fails the acquire (\"None of slaves were synced\"), leaving its key behind",
        source: "redisson 3.17.5 RedissonBaseLock (commit 12af11867)",
        apply: |c| c.sync_replicas = SyncReplicas::Any,
    },
    Change {
        since: "3.20.0",
        what: "an acquire that failed the replica check unlocks its key (handleNoSync)",
        source: "redisson 3.20.0 RedissonBaseLock.handleNoSync (commits ec2e41ab3, 6862f75ef, #4822)",
        apply: |c| c.on_unsynced = OnUnsynced::Unlock,
    },
    Change {
        since: "3.25.0",
        what: "regression: the longer NoSync message no longer matches handleNoSync's equals test, so the key is left behind again",
        source: "redisson 3.27.0 CommandAsyncService.handleNoSync (commits 279cb9b3c, 35ff1edac)",
        apply: |c| c.on_unsynced = OnUnsynced::Keep,
    },
    Change {
        since: "3.37.0",
        what: "single-server mode: the acquire and unlock scripts are never re-sent after a timeout (a master with replicas still re-sends them, #7367)",
        source: "redisson 3.37.0 RedissonBaseLock.evalWriteNoRetryAsync, CommandAsyncService.syncedEval @4.7.0",
        apply: |c| c.single_server_no_resend = true,
    },
    Change {
        since: "3.44.0",
        what: "a failed renewal no longer stops the watchdog: the next period tries again",
        source: "redisson 3.44.0 renewal/RenewalTask.java (commit 597d604a3, #6303)",
        apply: |c| c.renew_on_error = RenewOnError::Retry,
    },
    Change {
        since: "3.47.0",
        what: "NoSyncedSlavesException: a failed replica check unlocks again",
        source: "redisson 3.47.0 CommandAsyncService.handleNoSync (commit f2b6ad849)",
        apply: |c| c.on_unsynced = OnUnsynced::Unlock,
    },
    Change {
        since: "3.48.0",
        what: "retryAttempts 4: a command is sent up to 5 times",
        source: "redisson 3.48.0 config/BaseConfig.java",
        apply: |c| c.client_retries = 4,
    },
];

pub static REDISSON: Profile = Profile {
    name: "redisson",
    about: "Redisson RLock, Java: a hash with a hold count, kept alive by a watchdog",
    repo: "github.com/redisson/redisson",
    first: "3.11.0",
    current: "4.7.0",
    base: rlock,
    changes: RLOCK_CHANGES,
};

fn fenced() -> LockConfig {
    let mut c = rlock();
    c.fencing = true;
    c.fence_key = "redisson_lock_token:{lock}".into();
    c
}

pub static REDISSON_FENCED: Profile = Profile {
    name: "redisson-fenced",
    about: "Redisson RFencedLock, Java: RLock whose acquire script INCRs a token",
    repo: "github.com/redisson/redisson",
    first: "3.19.0",
    current: "4.7.0",
    base: fenced,
    changes: RLOCK_CHANGES,
};

fn redlock() -> LockConfig {
    let mut c = LockConfig::defaults(Algorithm::Redlock);
    // RedissonMultiLock.tryLock: one lock after another, quorum N/2 + 1,
    // no validity computed and no drift allowance.
    c.sequential = true;
    c.validity_check = false;
    c.drift_factor = 0.0;
    c.drift_extra_ms = 0;
    c.ttl_ms = 30_000;
    c.request_timeout_ms = 3_000;
    c.client_retries = 3;
    c.retry_count = 0;
    c.retry_delay_ms = 100;
    c.retry_jitter_ms = 0;
    c
}

pub static REDISSON_REDLOCK: Profile = Profile {
    name: "redisson-redlock",
    about: "Redisson RedissonRedLock (deprecated), Java: RLocks on N masters, N/2+1 of them, no validity check",
    repo: "github.com/redisson/redisson",
    first: "3.11.0",
    current: "4.7.0",
    base: redlock,
    changes: &[Change {
        since: "3.25.0",
        what: "the class is deprecated (getRedLock since 3.12.5): RLock with replica sync is the advice",
        source: "redisson 3.25.0 RedissonRedLock.java (commit 8b6a5bfcf)",
        apply: |_| {},
    }],
};
