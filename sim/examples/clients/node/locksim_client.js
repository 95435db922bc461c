// The locksim client protocol (version 1) for Node client programs: read
// what locksim put in the environment, speak the line protocol to the
// resource (sim/src/live/PROTOCOL.md). Every line waits for its reply.
"use strict";

const net = require("net");

function env(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === "") {
    if (fallback === undefined) {
      console.error(`${name} is not set: run me with \`locksim live FILE --client ...\``);
      process.exit(2);
    }
    return fallback;
  }
  return v;
}

const envInt = (name, fallback) => parseInt(env(name, fallback === undefined ? undefined : String(fallback)), 10);
const envFloat = (name, fallback) => parseFloat(env(name, String(fallback)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A small seeded generator (mulberry32): the program's own random choices.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Resource {
  constructor() {
    this.client = envInt("LOCKSIM_CLIENT");
    this.cycles = envInt("LOCKSIM_CYCLES");
    this.key = env("LOCKSIM_KEY");
    this.ttlMs = envInt("LOCKSIM_TTL_MS");
    this.retryCount = envInt("LOCKSIM_RETRY_COUNT", 3);
    this.retryDelayMs = envInt("LOCKSIM_RETRY_DELAY_MS", 200);
    this.retryJitterMs = envInt("LOCKSIM_RETRY_JITTER_MS", 0);
    this.requestTimeoutMs = envInt("LOCKSIM_REQUEST_TIMEOUT_MS", 1000);
    this.driftFactor = envFloat("LOCKSIM_DRIFT_FACTOR", 0.01);
    this.writes = envInt("LOCKSIM_WRITES", 3);
    this.workMs = [envInt("LOCKSIM_WORK_MS_MIN", 100), envInt("LOCKSIM_WORK_MS_MAX", 100)];
    this.thinkMs = [envInt("LOCKSIM_THINK_MS_MIN", 0), envInt("LOCKSIM_THINK_MS_MAX", 0)];
    this.redis = env("LOCKSIM_REDIS")
      .split(",")
      .map((e) => {
        const i = e.lastIndexOf(":");
        return { host: e.slice(0, i), port: parseInt(e.slice(i + 1), 10) };
      });
    const seed = envInt("LOCKSIM_SEED", 0) * 1000003 + this.client * 1009 + envInt("LOCKSIM_INCARNATION", 0);
    this.random = rng(seed);
    this.buffer = "";
    this.waiting = [];
    this.replies = [];
  }

  // Connects, says HELLO and waits for GO.
  async connect() {
    const [host, port] = env("LOCKSIM_RESOURCE").split(":");
    this.sock = net.createConnection({ host, port: parseInt(port, 10) });
    this.sock.setNoDelay(true);
    this.sock.setEncoding("ascii");
    this.sock.on("data", (chunk) => {
      this.buffer += chunk;
      let i;
      while ((i = this.buffer.indexOf("\n")) >= 0) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 1);
        const w = this.waiting.shift();
        if (w) w(line);
        else this.replies.push(line);
      }
    });
    this.sock.on("close", () => {
      for (const w of this.waiting.splice(0)) w("");
    });
    await new Promise((resolve, reject) => {
      this.sock.once("connect", resolve);
      this.sock.once("error", reject);
    });
    const go = await this.send(`HELLO 1 ${this.client}`);
    if (go !== "GO") throw new Error(`locksim answered HELLO with ${go}`);
  }

  // Sends one line; resolves to locksim's reply (OK, FENCED, GO).
  send(line) {
    const reply = new Promise((resolve) => {
      const r = this.replies.shift();
      if (r !== undefined) resolve(r);
      else this.waiting.push(resolve);
    });
    this.sock.write(line.replace(/\n/g, " ") + "\n");
    return reply.then((r) => {
      if (r === "" || r.startsWith("ERR")) {
        console.error(`locksim refused ${JSON.stringify(line)}: ${r || "connection closed"}`);
        process.exit(2);
      }
      return r;
    });
  }

  between([lo, hi]) {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  // BEGIN, LOCKSIM_WRITES writes spread over the work time, END.
  async criticalSection() {
    const workMs = this.between(this.workMs);
    await this.send("BEGIN");
    for (let i = 0; i < this.writes; i++) {
      await sleep(workMs / Math.max(this.writes, 1));
      await this.send("WRITE");
    }
    await this.send("END");
  }

  think() {
    return sleep(this.between(this.thinkMs));
  }

  retryPause() {
    return sleep(this.retryDelayMs + this.between([0, this.retryJitterMs]));
  }

  close() {
    this.sock.end();
  }
}

const failed = (e) => `${(e && e.name) || "Error"}: ${(e && e.message) || e}`.replace(/\n/g, " ").slice(0, 200);

module.exports = { Resource, env, envInt, envFloat, sleep, failed };
