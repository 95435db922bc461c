"""The locksim client protocol (version 1) for Python client programs.

`locksim live FILE --client "python3 PROGRAM.py"` starts PROGRAM.py as
every client process; this module reads what locksim put in the
environment and speaks the line protocol to the resource (see
sim/src/live/PROTOCOL.md). A program only has to take and release the
lock with its library and say what happened:

    res = Resource()                          # connects, HELLO, waits for GO
    for _ in range(res.cycles):
        res.send("ACQUIRING")
        ...library acquire...                 # on failure: res.send("FAILED why")
        res.send("ACQUIRED")                  # or "ACQUIRED 42 valid_ms=9800"
        res.critical_section()                # BEGIN, WRITE x LOCKSIM_WRITES, END
        res.send("RELEASING")
        ...library release...
        res.send("RELEASED")                  # or "RELEASED not-held" / "unknown"
        res.think()
    res.send("DONE")
"""

import os
import random
import socket
import time


def env_int(name, default=None):
    v = os.environ.get(name)
    if v is None or v == "":
        if default is None:
            raise SystemExit(f"{name} is not set: run me with `locksim live FILE --client ...`")
        return default
    return int(v)


def env_float(name, default):
    v = os.environ.get(name)
    return default if v in (None, "") else float(v)


def env_str(name, default=None):
    v = os.environ.get(name)
    if v is None:
        if default is None:
            raise SystemExit(f"{name} is not set: run me with `locksim live FILE --client ...`")
        return default
    return v


class Resource:
    """One connection to locksim's resource; every line waits for its reply."""

    def __init__(self):
        self.client = env_int("LOCKSIM_CLIENT")
        self.cycles = env_int("LOCKSIM_CYCLES")
        self.key = env_str("LOCKSIM_KEY")
        self.ttl_ms = env_int("LOCKSIM_TTL_MS")
        self.retry_count = env_int("LOCKSIM_RETRY_COUNT", 3)
        self.retry_delay_ms = env_int("LOCKSIM_RETRY_DELAY_MS", 200)
        self.retry_jitter_ms = env_int("LOCKSIM_RETRY_JITTER_MS", 0)
        self.request_timeout_ms = env_int("LOCKSIM_REQUEST_TIMEOUT_MS", 1000)
        self.drift_factor = env_float("LOCKSIM_DRIFT_FACTOR", 0.01)
        self.writes = env_int("LOCKSIM_WRITES", 3)
        self.work_ms = (env_int("LOCKSIM_WORK_MS_MIN", 100), env_int("LOCKSIM_WORK_MS_MAX", 100))
        self.think_ms = (env_int("LOCKSIM_THINK_MS_MIN", 0), env_int("LOCKSIM_THINK_MS_MAX", 0))
        self.redis = [
            (h, int(p))
            for h, p in (e.rsplit(":", 1) for e in env_str("LOCKSIM_REDIS").split(","))
        ]
        seed = env_int("LOCKSIM_SEED", 0)
        incarnation = env_int("LOCKSIM_INCARNATION", 0)
        self.rng = random.Random(seed * 1_000_003 + self.client * 1009 + incarnation)
        host, port = env_str("LOCKSIM_RESOURCE").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("r", encoding="ascii", newline="\n")
        reply = self.send(f"HELLO 1 {self.client}")
        if reply != "GO":
            raise SystemExit(f"locksim answered HELLO with {reply!r}")

    def send(self, line):
        """Sends one line and returns locksim's reply (OK, FENCED, GO)."""
        self.sock.sendall((line.replace("\n", " ") + "\n").encode("ascii", "replace"))
        reply = self.rfile.readline().rstrip("\n")
        if reply.startswith("ERR") or reply == "":
            raise SystemExit(f"locksim refused {line!r}: {reply or 'connection closed'}")
        return reply

    def critical_section(self):
        """BEGIN, LOCKSIM_WRITES writes spread over the work time, END."""
        work_ms = self.rng.randint(*self.work_ms)
        self.send("BEGIN")
        for _ in range(self.writes):
            time.sleep(work_ms / max(self.writes, 1) / 1000)
            self.send("WRITE")
        self.send("END")

    def think(self):
        time.sleep(self.rng.randint(*self.think_ms) / 1000)

    def retry_pause(self):
        jitter = self.rng.randint(0, self.retry_jitter_ms) if self.retry_jitter_ms > 0 else 0
        time.sleep((self.retry_delay_ms + jitter) / 1000)


def failed(exc):
    """A one-line reason for FAILED."""
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:200] or "error"
