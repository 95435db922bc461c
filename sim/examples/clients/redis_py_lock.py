#!/usr/bin/env python3
"""locksim --client over redis-py's Lock (`redis.lock.Lock`).

    locksim live sim/tests/live/client-pause-past-ttl.toml \
        --client "python3 sim/examples/clients/redis_py_lock.py"

`SET key token NX PX` with a random token, released by a compare-and-delete
script; no fencing token, no validity: the lease is the library's word.
The library's parameters come from the environment (defaults from the
scenario's [lock] table, as locksim passes it):

    REDIS_PY_TIMEOUT           lock timeout in s, or "none" (the library's
                               default: no expiry)      [LOCKSIM_TTL_MS / 1000]
    REDIS_PY_SLEEP             s between tries of a blocking acquire
                                                        [LOCKSIM_RETRY_DELAY_MS / 1000]
    REDIS_PY_BLOCKING_TIMEOUT  s a blocking acquire tries before giving up
                               [LOCKSIM_RETRY_COUNT * LOCKSIM_RETRY_DELAY_MS / 1000]
"""

import os

import redis
from redis.exceptions import LockError, LockNotOwnedError, RedisError

from locksim_client import Resource, failed


def seconds(name, default):
    v = os.environ.get(name, "")
    if v == "":
        return default
    return None if v.lower() == "none" else float(v)


def main():
    res = Resource()
    host, port = res.redis[0]
    timeout_s = res.request_timeout_ms / 1000
    r = redis.Redis(host=host, port=port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    lock_timeout = seconds("REDIS_PY_TIMEOUT", res.ttl_ms / 1000)
    sleep = seconds("REDIS_PY_SLEEP", res.retry_delay_ms / 1000)
    blocking_timeout = seconds(
        "REDIS_PY_BLOCKING_TIMEOUT", res.retry_count * res.retry_delay_ms / 1000
    )
    done = 0
    while done < res.cycles:
        res.send("ACQUIRING")
        lock = r.lock(
            res.key, timeout=lock_timeout, sleep=sleep, blocking_timeout=blocking_timeout
        )
        try:
            got = lock.acquire(blocking=True)
        except (RedisError, LockError) as e:
            res.send(f"FAILED {failed(e)}")
            res.retry_pause()
            continue
        if not got:
            res.send("FAILED busy")
            res.retry_pause()
            continue
        res.send("ACQUIRED")
        res.critical_section()
        res.send("RELEASING")
        try:
            lock.release()
            res.send("RELEASED")
        except LockNotOwnedError:
            res.send("RELEASED not-held")
        except (RedisError, LockError) as e:
            res.send("NOTE release: " + failed(e))
            res.send("RELEASED unknown")
        done += 1
        res.think()
    res.send("DONE")


if __name__ == "__main__":
    main()
