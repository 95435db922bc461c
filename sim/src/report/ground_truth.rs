//! The ground-truth table (`GROUND-TRUTH.md` of the project brief): what
//! the literature says each lock does under each fault. A scenario names
//! the row it reproduces in its `about` line ("Row 25 (...): ..."); the
//! report quotes that row.

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub n: u32,
    pub algorithm: &'static str,
    pub faults: &'static str,
    pub expected: &'static str,
    pub source: &'static str,
}

/// The rows this build reproduces, in order: 1-48, then the production
/// Redis and Redis Cluster rows as they land.
pub const ROWS: &[Row] = &[
    Row {
        n: 1,
        algorithm: "setnx + DEL",
        faults: "holder crashes",
        expected: "liveness (stuck forever)",
        source: "old SETNX docs",
    },
    Row {
        n: 2,
        algorithm: "setnx-expire (SETNX then EXPIRE)",
        faults: "client dies between the two",
        expected: "liveness",
        source: "redis-py #818",
    },
    Row {
        n: 3,
        algorithm: "setnx with DEL-then-SETNX stale recovery",
        faults: "two clients recover the same stale lock",
        expected: "L",
        source: "old SETNX docs",
    },
    Row {
        n: 4,
        algorithm: "any TTL lock released by plain DEL",
        faults: "A pauses past TTL, B acquires, A DELs, C acquires",
        expected: "L (B,C) and R",
        source: "Redis distlock page",
    },
    Row {
        n: 5,
        algorithm: "get-then-del release",
        faults: "key expires between GET and DEL, B acquires, A deletes B's lock",
        expected: "L",
        source: "distlock page",
    },
    Row {
        n: 6,
        algorithm: "setnx-getset",
        faults: "holder crashes",
        expected: "safe, takeover after timeout",
        source: "old SETNX docs",
    },
    Row {
        n: 7,
        algorithm: "setnx-getset",
        faults: "two clients GETSET the same stale lock",
        expected: "safe (loser sees a live value)",
        source: "old SETNX docs",
    },
    Row {
        n: 8,
        algorithm: "setnx-getset",
        faults: "client wall clocks differ by more than the remaining lifetime",
        expected: "L",
        source: "follows from the design",
    },
    Row {
        n: 9,
        algorithm: "setnx-getset",
        faults: "holder pauses past timeout, then DELs",
        expected: "L",
        source: "old SETNX docs note",
    },
    Row {
        n: 10,
        algorithm: "set-nx-px + lua",
        faults: "holder crashes",
        expected: "liveness bounded by TTL, then safe",
        source: "distlock page",
    },
    Row {
        n: 11,
        algorithm: "set-nx-px + lua",
        faults: "pause after acquire longer than TTL",
        expected: "R (safe with fencing)",
        source: "Kleppmann 2016",
    },
    Row {
        n: 12,
        algorithm: "set-nx-px + lua, no validity check",
        faults: "pause between sending SET and reading the reply",
        expected: "L",
        source: "antirez 2016",
    },
    Row {
        n: 13,
        algorithm: "set-nx-px + lua",
        faults: "release after expiry",
        expected: "safe (script deletes nothing)",
        source: "distlock page",
    },
    Row {
        n: 14,
        algorithm: "set-nx-px",
        faults: "server wall clock jumps forward by at least the remaining TTL",
        expected: "L",
        source: "expire docs, distlock disclaimer",
    },
    Row {
        n: 15,
        algorithm: "set-nx-px, sentinel",
        faults: "ack, master crashes before replicating, replica promoted",
        expected: "L",
        source: "distlock page",
    },
    Row {
        n: 16,
        algorithm: "set-nx-px, sentinel",
        faults: "partition isolates old master with A, majority promotes, B acquires",
        expected: "L (split brain)",
        source: "Jepsen: Redis (2013)",
    },
    Row {
        n: 17,
        algorithm: "set-nx-px",
        faults: "restart with no persistence, or RDB older than the lock",
        expected: "L",
        source: "distlock page",
    },
    Row {
        n: 18,
        algorithm: "set-nx-px, aof-everysec",
        faults: "process kill only",
        expected: "safe (data was written before the reply)",
        source: "Redis aof.c",
    },
    Row {
        n: 19,
        algorithm: "set-nx-px, aof-everysec",
        faults: "power loss within ~1 s of acquiring",
        expected: "L",
        source: "distlock page",
    },
    Row {
        n: 20,
        algorithm: "set-nx-px, aof-always",
        faults: "any crash",
        expected: "safe",
        source: "distlock page",
    },
    Row {
        n: 21,
        algorithm: "watchdog",
        faults: "holder crashes",
        expected: "liveness bounded by TTL",
        source: "Redisson docs",
    },
    Row {
        n: 22,
        algorithm: "watchdog",
        faults: "stop-the-world pause of the whole client longer than TTL",
        expected: "L",
        source: "redisson #2665",
    },
    Row {
        n: 23,
        algorithm: "watchdog",
        faults: "client partitioned from Redis longer than TTL",
        expected: "L (holder not told)",
        source: "redisson #3636",
    },
    Row {
        n: 24,
        algorithm: "watchdog, sentinel",
        faults: "failover loses the key",
        expected: "L",
        source: "distlock page",
    },
    Row {
        n: 25,
        algorithm: "redlock N=5",
        faults: "A holds {0,1,2}; node 2 clock jumps; B gets {2,3,4}",
        expected: "L",
        source: "Kleppmann 2016",
    },
    Row {
        n: 26,
        algorithm: "redlock",
        faults: "pause while replies wait, validity re-checked on a monotonic clock",
        expected: "safe",
        source: "antirez 2016",
    },
    Row {
        n: 27,
        algorithm: "redlock, validity not re-checked",
        faults: "same",
        expected: "L",
        source: "node-redlock #296",
    },
    Row {
        n: 28,
        algorithm: "redlock",
        faults: "pause after acquiring longer than validity",
        expected: "R (fencing impossible: no monotonic token)",
        source: "Kleppmann / antirez",
    },
    Row {
        n: 29,
        algorithm: "redlock",
        faults: "a majority node restarts at once with none / rdb / everysec+power loss",
        expected: "L",
        source: "distlock page, redsync #186",
    },
    Row {
        n: 30,
        algorithm: "redlock + delayed restart >= max TTL",
        faults: "same crashes",
        expected: "safe",
        source: "distlock page",
    },
    Row {
        n: 31,
        algorithm: "redlock + aof-always",
        faults: "any crash",
        expected: "safe",
        source: "distlock page",
    },
    Row {
        n: 32,
        algorithm: "redlock",
        faults: "client clock drift within drift_factor / beyond it",
        expected: "safe / L",
        source: "antirez 2016",
    },
    Row {
        n: 33,
        algorithm: "redlock",
        faults: "client partitioned after acquire; split vote under contention",
        expected: "liveness only",
        source: "distlock page",
    },
    Row {
        n: 34,
        algorithm: "redisson RLock (before 3.14)",
        faults: "one renewal times out",
        expected: "the watchdog never renews that lock again; it expires mid-work: L",
        source: "redisson #3194, #3712",
    },
    Row {
        n: 35,
        algorithm: "redisson RLock (3.14-3.43 vs 3.44+)",
        faults: "renewal fails for a while shorter than the lease (partition, Redis restart with AOF)",
        expected: "up to 3.43 renewal stops and the lock expires under a live holder: L; from 3.44 it tries again next period: safe",
        source: "Redisson `RenewalTask` / `LockTask`, 3.44.0 change",
    },
    Row {
        n: 36,
        algorithm: "redisson RLock (3.20+, `checkLockSyncedSlaves` default) on sentinel",
        faults: "master dies right after granting, before any replica has it",
        expected: "WAIT sees 0 synced replicas, the acquire fails and unlocks: safe (availability cost)",
        source: "Redisson `CommandAsyncService.syncedEval`, `handleNoSync`",
    },
    Row {
        n: 37,
        algorithm: "redisson RLock (3.12.5+) on sentinel with 2 replicas",
        faults: "WAIT counted one replica, the other one is promoted",
        expected: "L: WAIT is not consensus",
        source: "Redis WAIT docs; Redisson `syncedEval` (any synced replica suffices)",
    },
    Row {
        n: 38,
        algorithm: "redisson RLock (3.17-3.19)",
        faults: "failover with no synced replica",
        expected: "acquire throws \"None of slaves were synced\" but leaves the lock behind; only its owner can lock again until it expires",
        source: "redisson #4822, #4706 (fixed 3.20.0)",
    },
    Row {
        n: 39,
        algorithm: "redisson RLock",
        faults: "a timed-out acquire is re-sent and both copies run",
        expected: "hold count 2; one unlock leaves it held: liveness until the lease ends (forever while the watchdog renews)",
        source: "redisson #7367",
    },
    Row {
        n: 40,
        algorithm: "node-redlock 5.0.0-beta.2",
        faults: "pause while quorum replies wait (row 26's story)",
        expected: "L: v5 never re-checks validity (v4.2 did: safe)",
        source: "node-redlock `src/index.ts`, #299, #169",
    },
    Row {
        n: 41,
        algorithm: "node-redlock 5.0.0-beta.2",
        faults: "contention splits the vote",
        expected: "its own partial keys block its next attempts until they expire: liveness",
        source: "node-redlock #306, PR #369",
    },
    Row {
        n: 42,
        algorithm: "node-redlock `using` (auto-extension)",
        faults: "extension fails (holder cut off or paused past the threshold)",
        expected: "the routine keeps running after the abort signal unless it checks it: L",
        source: "node-redlock `using`, #299",
    },
    Row {
        n: 43,
        algorithm: "redsync v4 `Extend`, nodes without persistence",
        faults: "nodes restart one at a time while the holder keeps extending",
        expected: "each restart drops a copy `Extend` cannot restore; the quorum of copies erodes and a second client gets in: L; with `WithSetNXOnExtend`: safe",
        source: "redsync #147, PR #149",
    },
    Row {
        n: 44,
        algorithm: "redis-py `Lock` (default `timeout=None`)",
        faults: "holder crashes",
        expected: "the key never expires: liveness forever",
        source: "redis-py `redis/lock.py`",
    },
    Row {
        n: 45,
        algorithm: "redis-py `Lock` instance shared by two tasks of one client",
        faults: "task A's lease expires, task B acquires, A releases",
        expected: "the shared token lets A delete B's lock, C gets in: L",
        source: "redis-py #416, aredis #119",
    },
    Row {
        n: 46,
        algorithm: "redis-py `Lock` (before the fix)",
        faults: "release fails on a connection error",
        expected: "the token is cleared, the release cannot be retried: held until TTL (forever with no timeout)",
        source: "redis-py #4258",
    },
    Row {
        n: 47,
        algorithm: "python-redis-lock (auto_renewal)",
        faults: "one renewal raises (timeout)",
        expected: "the renewal thread dies, the lock expires mid-task: L",
        source: "python-redis-lock #85",
    },
    Row {
        n: 48,
        algorithm: "redlock-py",
        faults: "quorum reached while another node errored",
        expected: "it raises without unlocking: keys linger until TTL, liveness",
        source: "redlock-py `redlock/__init__.py`",
    },
    Row {
        n: 49,
        algorithm: "set-nx-px, `maxmemory_policy = \"volatile-lru\"` (or `volatile-ttl`, `volatile-random`)",
        faults: "memory pressure from keys without TTL",
        expected: "the held lock is the only eviction candidate and is evicted: L",
        source: "Redis eviction docs; seeds: data eviction",
    },
    Row {
        n: 50,
        algorithm: "set-nx-px, `allkeys-lru`",
        faults: "memory pressure",
        expected: "the lock can be evicted: L (rate depends on sampling)",
        source: "Redis eviction docs",
    },
    Row {
        n: 51,
        algorithm: "set-nx-px, `noeviction`",
        faults: "memory pressure",
        expected: "new locks are refused with the OOM error: liveness until the pressure ends, never L",
        source: "Redis eviction docs",
    },
    Row {
        n: 52,
        algorithm: "set-nx-px, sentinel, `min_replicas_to_write = 1`",
        faults: "master dies right after granting (row 15)",
        expected: "rate of L lower than without, but above 0 under the same nemesis: it narrows, it does not close",
        source: "Redis replication docs; Jepsen Redis 2013",
    },
    Row {
        n: 53,
        algorithm: "set-nx-px on Redis Cluster",
        faults: "shard master dies before replicating, replica elected",
        expected: "L (row 15 on Cluster)",
        source: "Redis Cluster spec",
    },
    Row {
        n: 54,
        algorithm: "set-nx-px on Redis Cluster",
        faults: "a partition isolates a shard master with A",
        expected: "A keeps the lock on the minority master until `cluster_node_timeout_ms`, then writes are refused there; the majority elects a replica and B gets the lock: L during the overlap",
        source: "Redis Cluster spec",
    },
    Row {
        n: 55,
        algorithm: "set-nx-px, `client_retries = 1`",
        faults: "the reply to `SET NX` is lost, the client re-sends",
        expected: "the re-sent SET returns nil: the client thinks it failed while its first SET holds the lock (phantom holder): liveness until TTL",
        source: "redis-py #977, redis-rb #668",
    },
    Row {
        n: 56,
        algorithm: "set-nx-px with `release = \"del\"`, `client_retries = 1`",
        faults: "a DEL's reply is lost and re-sent after the lock changed hands",
        expected: "the second DEL frees the next holder's lock: L",
        source: "redis-client #92, redlock-rb PR #126",
    },
];

/// The row numbers an `about` line names: "Row 11 with fencing" -> `[11]`.
pub fn row_numbers(about: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let mut rest = about;
    while let Some(pos) = rest.find("Row ") {
        let digits: String = rest[pos + 4..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if let Ok(n) = digits.parse::<u32>() {
            if !found.contains(&n) {
                found.push(n);
            }
        }
        rest = &rest[pos + 4..];
    }
    found
}

/// The rows an `about` line names.
pub fn rows_for(about: &str) -> Vec<&'static Row> {
    row_numbers(about)
        .into_iter()
        .filter_map(|n| ROWS.iter().find(|r| r.n == n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_lines_name_their_row() {
        assert_eq!(
            row_numbers("Row 11 with fencing (Kleppmann 2016): ..."),
            vec![11]
        );
        assert_eq!(row_numbers("Baseline: no faults"), Vec::<u32>::new());
        let r = rows_for("Row 25 (Kleppmann 2016): clock jump");
        assert_eq!(r[0].algorithm, "redlock N=5");
        let r = rows_for("Row 43 (redsync v4.17.0 mutex.go): ...");
        assert_eq!(r[0].source, "redsync #147, PR #149");
        let ns: Vec<u32> = ROWS.iter().map(|r| r.n).collect();
        assert_eq!(ns[..48], (1..=48).collect::<Vec<_>>()[..]);
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "in order, once each");
        assert!(ns.contains(&49) && ns.contains(&51));
        assert!(ns.contains(&53) && ns.contains(&54));
    }
}
