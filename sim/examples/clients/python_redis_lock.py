#!/usr/bin/env python3
"""locksim --client over python-redis-lock (`redis_lock.Lock`).

    locksim live sim/tests/live/client-pause-past-ttl.toml \
        --client "python3 sim/examples/clients/python_redis_lock.py"

`SET lock:NAME id NX EX expire`, waiting on a signal list (BLPOP) while
busy, released by a script that deletes the key and signals the list. Its
key is `lock:` + LOCKSIM_KEY. No validity, no fencing token. The library's
parameters come from the environment (defaults from the scenario):

    PRL_EXPIRE        the lease in whole s (it takes no ms)   [LOCKSIM_TTL_MS / 1000, at least 1]
    PRL_TIMEOUT       s a blocking acquire waits, or "none" (until it gets
                      the lock; the library's default)       [none]
    PRL_AUTO_RENEWAL  1: a thread renews the lock every expire * 2/3 s [0]
"""

import os

import redis
import redis_lock
from redis.exceptions import RedisError

from locksim_client import Resource, failed


def main():
    res = Resource()
    host, port = res.redis[0]
    expire = int(os.environ.get("PRL_EXPIRE", "") or max(1, round(res.ttl_ms / 1000)))
    timeout = os.environ.get("PRL_TIMEOUT", "none")
    timeout = None if timeout.lower() == "none" else int(timeout)
    auto_renewal = os.environ.get("PRL_AUTO_RENEWAL", "0") == "1"
    # The library blocks in BLPOP for up to `expire` s: the socket must wait longer.
    socket_timeout = max(res.request_timeout_ms / 1000, expire + 1)
    r = redis.Redis(host=host, port=port, socket_timeout=socket_timeout)
    done = 0
    while done < res.cycles:
        res.send("ACQUIRING")
        lock = redis_lock.Lock(r, res.key, expire=expire, auto_renewal=auto_renewal)
        try:
            got = lock.acquire(blocking=True, timeout=timeout)
        except RedisError as e:
            res.send(f"FAILED {failed(e)}")
            res.retry_pause()
            continue
        if not got:
            res.send("FAILED busy: timed out")
            continue
        res.send("ACQUIRED")
        res.critical_section()
        res.send("RELEASING")
        try:
            lock.release()
            res.send("RELEASED")
        except redis_lock.NotAcquired:
            res.send("RELEASED not-held")
        except RedisError as e:
            res.send("NOTE release: " + failed(e))
            res.send("RELEASED unknown")
        done += 1
        res.think()
    res.send("DONE")


if __name__ == "__main__":
    main()
