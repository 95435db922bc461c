#!/usr/bin/env python3
"""locksim --client over pottery's Redlock (`pottery.Redlock`).

    locksim live sim/tests/live/client-pause-past-ttl.toml \
        --client "python3 sim/examples/clients/pottery_redlock.py"

Redlock over every node in LOCKSIM_REDIS (one node: a quorum of one). The
key is pottery's own, `redlock:` + LOCKSIM_KEY. After an acquire it reports
`locked()`, pottery's remaining lease (the shortest TTL of its quorum), as
`valid_ms`, so `[lock] validity_check = true` ends the lease there. No
fencing token. The library's parameters come from the environment
(defaults from the scenario's [lock] table):

    POTTERY_AUTO_RELEASE_TIME  the lease in s               [LOCKSIM_TTL_MS / 1000]
    POTTERY_TIMEOUT            s a blocking acquire tries    [LOCKSIM_RETRY_COUNT *
                               (pottery waits a random 0-0.2 s between tries)
                                                             LOCKSIM_RETRY_DELAY_MS / 1000]
    POTTERY_NUM_EXTENSIONS     extensions allowed            [3, pottery's default]
"""

import os

import redis
from pottery import Redlock
from pottery.exceptions import PotteryError, ReleaseUnlockedLock
from redis.exceptions import RedisError

from locksim_client import Resource, failed


def number(name, default):
    v = os.environ.get(name, "")
    return default if v == "" else float(v)


def main():
    res = Resource()
    timeout_s = res.request_timeout_ms / 1000
    masters = {
        redis.Redis(host=h, port=p, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        for h, p in res.redis
    }
    lock = Redlock(
        key=res.key,
        masters=masters,
        auto_release_time=number("POTTERY_AUTO_RELEASE_TIME", res.ttl_ms / 1000),
        num_extensions=int(number("POTTERY_NUM_EXTENSIONS", 3)),
    )
    timeout = number("POTTERY_TIMEOUT", res.retry_count * res.retry_delay_ms / 1000)
    done = 0
    while done < res.cycles:
        res.send("ACQUIRING")
        try:
            got = lock.acquire(blocking=True, timeout=timeout)
        except (RedisError, PotteryError) as e:
            res.send(f"FAILED {failed(e)}")
            res.retry_pause()
            continue
        if not got:
            res.send("FAILED busy: no quorum within the timeout")
            res.retry_pause()
            continue
        try:
            valid_ms = int(lock.locked() * 1000)
        except (RedisError, PotteryError):
            valid_ms = None
        res.send("ACQUIRED -" + (f" valid_ms={valid_ms}" if valid_ms else ""))
        res.critical_section()
        res.send("RELEASING")
        try:
            lock.release()
            res.send("RELEASED")
        except ReleaseUnlockedLock:  # no longer ours on a quorum
            res.send("RELEASED not-held")
        except (RedisError, PotteryError) as e:
            res.send("NOTE release: " + failed(e))
            res.send("RELEASED unknown")
        done += 1
        res.think()
    res.send("DONE")


if __name__ == "__main__":
    main()
