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

/// The rows, in order.
pub const ROWS: [Row; 35] = [
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
        let numbers: Vec<u32> = ROWS.iter().map(|r| r.n).collect();
        assert_eq!(numbers[..33], (1..=33).collect::<Vec<_>>());
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in order");
        assert!(numbers.contains(&53) && numbers.contains(&54));
    }
}
