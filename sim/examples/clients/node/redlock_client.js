#!/usr/bin/env node
// locksim --client over node-redlock (redlock@5.0.0-beta.2) on ioredis.
//
//   (cd sim/examples/clients/node && npm ci)
//   locksim live sim/tests/live/client-pause-past-ttl.toml \
//       --client "node sim/examples/clients/node/redlock_client.js"
//
// Redlock over every node in LOCKSIM_REDIS (one node: a quorum of one).
// After an acquire it reports the lock's own `expiration` (start +
// duration - drift, on Date.now()) as `valid_ms`, so `[lock]
// validity_check = true` ends the lease there; v5 itself never re-checks
// it (row 40). No fencing token. The library's settings come from the
// environment (defaults from the scenario's [lock] table):
//
//   REDLOCK_DURATION_MS    the lease                  [LOCKSIM_TTL_MS]
//   REDLOCK_RETRY_COUNT    tries per acquire           [LOCKSIM_RETRY_COUNT]
//   REDLOCK_RETRY_DELAY    ms between tries            [LOCKSIM_RETRY_DELAY_MS]
//   REDLOCK_RETRY_JITTER   ms of jitter                [LOCKSIM_RETRY_JITTER_MS]
//   REDLOCK_DRIFT_FACTOR   drift factor                [LOCKSIM_DRIFT_FACTOR]
"use strict";

const Redis = require("ioredis");
const { default: Redlock, ExecutionError } = require("redlock");
const { Resource, envInt, envFloat, failed } = require("./locksim_client");

async function main() {
  const res = new Resource();
  await res.connect();
  const clients = res.redis.map(
    ({ host, port }) =>
      new Redis({
        host,
        port,
        connectTimeout: res.requestTimeoutMs,
        maxRetriesPerRequest: 1,
        // Keep trying to reconnect to a restarted server.
        retryStrategy: () => 20,
      })
  );
  for (const c of clients) c.on("error", () => {}); // reconnects are the point
  const redlock = new Redlock(clients, {
    driftFactor: envFloat("REDLOCK_DRIFT_FACTOR", res.driftFactor),
    retryCount: envInt("REDLOCK_RETRY_COUNT", res.retryCount),
    retryDelay: envInt("REDLOCK_RETRY_DELAY", res.retryDelayMs),
    retryJitter: envInt("REDLOCK_RETRY_JITTER", res.retryJitterMs),
  });
  redlock.on("error", () => {}); // failed votes; the acquire says what matters
  const duration = envInt("REDLOCK_DURATION_MS", res.ttlMs);
  let done = 0;
  while (done < res.cycles) {
    await res.send("ACQUIRING");
    let lock;
    try {
      lock = await redlock.acquire([res.key], duration);
    } catch (e) {
      await res.send(`FAILED ${failed(e)}`);
      await res.retryPause();
      continue;
    }
    const validMs = Math.floor(lock.expiration - Date.now());
    await res.send(validMs > 0 ? `ACQUIRED - valid_ms=${validMs}` : "ACQUIRED");
    await res.criticalSection();
    await res.send("RELEASING");
    try {
      await lock.release();
      await res.send("RELEASED");
    } catch (e) {
      // v5 rejects when a quorum did not release: the lock was gone (or
      // the nodes unreachable).
      await res.send(`NOTE release: ${failed(e)}`);
      await res.send(e instanceof ExecutionError ? "RELEASED not-held" : "RELEASED unknown");
    }
    done += 1;
    await res.think();
  }
  await res.send("DONE");
  res.close();
  await Promise.all(clients.map((c) => c.quit().catch(() => {})));
}

main().then(
  () => process.exit(0), // ioredis may keep timers alive: the cycles are done
  (e) => {
    console.error(e);
    process.exit(1);
  }
);
