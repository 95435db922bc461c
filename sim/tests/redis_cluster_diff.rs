//! Differential test of the Redis Cluster model against a real cluster of
//! redis-server 7.0 processes that the test starts itself on 127.0.0.1:
//! three masters with one replica each, laid out exactly as locksim lays
//! out `topology = "cluster"` (shard s's master is node s, its replica node
//! 3 + s; the slot ranges of `redis-cli --cluster create`), with
//! `cluster-node-timeout 2000`.
//!
//! What it pins, in order:
//! 1. **Slots**: `CLUSTER KEYSLOT` of 600 keys (fixed ones with every kind
//!    of hash tag, and random byte strings full of braces) equals
//!    `key_hash_slot`.
//! 2. **Routing**: the exact reply of every node to keyed commands (MOVED
//!    with the right slot and address from masters and replicas, CROSSSLOT,
//!    scripts touching non-local or cross-slot keys, `no-cluster` scripts,
//!    CLUSTER subcommands, CLUSTER SLOTS' shape) equals the model node's
//!    reply (the model's `10.0.0.<i+1>:6379` addresses and ids mapped to the
//!    real ones).
//! 3. **Minority**: with both other masters stopped (SIGSTOP), a master
//!    answers `CLUSTERDOWN The cluster is down` to writes and reads after
//!    the node timeout; the model's window is `[timeout, 1.5 x timeout]`.
//!    Once the others run again it stays down for the rejoin delay
//!    (`clamp(timeout, 500, 5000)`).
//! 4. **Failover**: a master killed with SIGKILL is replaced by its replica
//!    within the model's window `[timeout + 500 ms, 2 x timeout + 1 s]`
//!    (PFAIL after `timeout + U[0, timeout/2]`, the other master's report
//!    up to `timeout/2` later, the election `500 + U[0, 500)` ms after FAIL)
//!    plus [`SLACK_MS`] for what the model folds into zero (the 100 ms
//!    cron, round trips, polling). The killed master, restarted with its
//!    nodes.conf, rejoins as a replica of the new master.
//! 5. **Lost writes**: a write the old master took that never reached its
//!    replica (the replica was stopped and its link cut) is in the old
//!    master's AOF when it crashes (`appendfsync always`), and is gone once
//!    it has rejoined as a replica of the elected one (full resync), as the
//!    model's demoted master loses it.
//!
//! The whole test takes about 15 s. Every process it starts is killed when
//! the test ends, panics or not (a `Drop` guard; the children also die
//! with the test process). Without `redis-server` on PATH it prints one
//! line and passes, unless `LOCKSIM_REQUIRE_REDIS=1`.

use locksim::live::sys::{die_with_parent, signal, Signal};
use locksim::model::slots::{key_hash_slot, slot_ranges};
use locksim::redis::cluster::{ClusterGate, GateShard};
use locksim::redis::{RedisNode, Role};
use locksim_models::Reply;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TIMEOUT_MS: u64 = 2_000;
/// What the model folds into zero: the 100 ms cron that notices timers,
/// the round trips of FAIL and of the votes, and this test's polling.
const SLACK_MS: u64 = 300;
const NODES: usize = 6;
const SHARDS: usize = 3;

/// The processes of one cluster; every one is killed on drop.
struct Cluster {
    procs: Vec<Option<Child>>,
    ports: Vec<u16>,
    dir: PathBuf,
    ids: Vec<String>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.procs.iter_mut().flatten() {
            let _ = signal(c.id(), Signal::Cont);
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn required() -> bool {
    std::env::var("LOCKSIM_REQUIRE_REDIS").is_ok_and(|v| v == "1")
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

impl Cluster {
    /// Starts six cluster-enabled servers, or explains why the test skips.
    fn start() -> Option<Cluster> {
        if !have("redis-server") {
            assert!(
                !required(),
                "LOCKSIM_REQUIRE_REDIS=1 but redis-server is not on PATH"
            );
            let _ = writeln!(
                std::io::stderr(),
                "!!! SKIPPED: redis-server is not on PATH, the Redis Cluster model was NOT compared with Redis; \
                 install redis-server 7.0 and rerun `cargo test -p locksim --test redis_cluster_diff` \
                 (LOCKSIM_REQUIRE_REDIS=1 turns this skip into a failure)"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!("locksim-cluster-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ports: Vec<u16> = free_ports(NODES);
        let mut c = Cluster {
            procs: (0..NODES).map(|_| None).collect(),
            ports,
            dir,
            ids: Vec::new(),
        };
        for i in 0..NODES {
            c.spawn(i);
        }
        for i in 0..NODES {
            c.wait_up(i);
        }
        c.ids = (0..NODES)
            .map(|i| bulk(&c.call(i, &["CLUSTER", "MYID"])))
            .collect();
        c.form();
        Some(c)
    }

    fn spawn(&mut self, i: usize) {
        let port = self.ports[i].to_string();
        let node_dir = self.dir.join(format!("n{i}"));
        std::fs::create_dir_all(&node_dir).expect("node dir");
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port, "--bind", "127.0.0.1", "--daemonize", "no"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", &TIMEOUT_MS.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            // A full resync starts at once, not after the 5 s a diskless
            // master waits for more replicas.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&node_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(die_with_parent);
        }
        self.procs[i] = Some(cmd.spawn().expect("spawn redis-server"));
    }

    fn wait_up(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut c) = Conn::connect(self.ports[i]) {
                if c.call(&["PING"]) == Reply::Status("PONG".into()) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not start", self.ports[i]);
    }

    /// Slots as `redis-cli --cluster create` splits them, config epochs
    /// 1..3 for the masters, every node met, node 3 + s replicating s.
    fn form(&self) {
        let ranges = slot_ranges(SHARDS);
        for (s, (a, b)) in ranges.iter().enumerate() {
            let (a, b) = (a.to_string(), b.to_string());
            assert_eq!(
                self.call(s, &["CLUSTER", "ADDSLOTSRANGE", &a, &b]),
                Reply::ok()
            );
            let epoch = (s + 1).to_string();
            assert_eq!(
                self.call(s, &["CLUSTER", "SET-CONFIG-EPOCH", &epoch]),
                Reply::ok()
            );
        }
        for j in 1..NODES {
            let port = self.ports[j].to_string();
            assert_eq!(
                self.call(0, &["CLUSTER", "MEET", "127.0.0.1", &port]),
                Reply::ok()
            );
        }
        self.until("every node knows all six", 15_000, |c| {
            (0..NODES).all(|i| {
                let nodes = bulk(&c.call(i, &["CLUSTER", "NODES"]));
                nodes.lines().count() == NODES && !nodes.contains("handshake")
            })
        });
        for s in 0..SHARDS {
            let id = self.ids[s].clone();
            assert_eq!(
                self.call(SHARDS + s, &["CLUSTER", "REPLICATE", &id]),
                Reply::ok()
            );
        }
        self.until("cluster ok and replicas linked", 20_000, |c| {
            (0..NODES).all(|i| c.info(i, "cluster", "cluster_state") == "ok")
                && (SHARDS..NODES).all(|i| c.info(i, "replication", "master_link_status") == "up")
        });
    }

    fn call(&self, i: usize, args: &[&str]) -> Reply {
        Conn::connect(self.ports[i])
            .unwrap_or_else(|e| panic!("connect node {i}: {e}"))
            .call(args)
    }

    /// A field of `INFO <section>` (`CLUSTER INFO` for "cluster") on
    /// node `i` ("" when unreachable).
    fn info(&self, i: usize, section: &str, field: &str) -> String {
        let Ok(mut c) = Conn::connect(self.ports[i]) else {
            return String::new();
        };
        let reply = if section == "cluster" {
            c.call(&["CLUSTER", "INFO"])
        } else {
            c.call(&["INFO", section])
        };
        let text = bulk(&reply);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or("")
            .to_string()
    }

    fn until(&self, what: &str, ms: u64, ok: impl Fn(&Cluster) -> bool) {
        let deadline = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < deadline {
            if ok(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let state: Vec<String> = (0..NODES)
            .map(|i| {
                format!(
                    "node {i}: cluster_state {}, role {}, link {}",
                    self.info(i, "cluster", "cluster_state"),
                    self.info(i, "replication", "role"),
                    self.info(i, "replication", "master_link_status")
                )
            })
            .collect();
        panic!("timed out waiting for: {what}\n{}", state.join("\n"));
    }

    fn pid(&self, i: usize) -> u32 {
        self.procs[i].as_ref().expect("running").id()
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The model node `i` with the view of the formed cluster, and the map
    /// from its addresses and ids to the real ones.
    fn model(&self, i: usize, ok: bool) -> RedisNode {
        let ranges = slot_ranges(SHARDS);
        let gate = ClusterGate {
            me: i,
            shards: (0..SHARDS)
                .map(|s| GateShard {
                    first: ranges[s].0,
                    last: ranges[s].1,
                    master: s,
                    replicas: vec![SHARDS + s],
                })
                .collect(),
            nodes: (0..NODES)
                .map(|j| (format!("10.0.0.{}", j + 1), 6379, format!("{j:040}")))
                .collect(),
            ok,
        };
        let mut n = RedisNode::new();
        n.set_cluster(Some(Arc::new(gate)));
        if i >= SHARDS {
            n.set_role(Role::Replica);
        }
        n
    }

    /// The model's reply with its addresses and ids made the real ones.
    fn to_real(&self, r: Reply) -> Reply {
        match r {
            Reply::Error(e) => {
                let mut e = e;
                for j in 0..NODES {
                    e = e.replace(
                        &format!("10.0.0.{}:6379", j + 1),
                        &format!("127.0.0.1:{}", self.ports[j]),
                    );
                }
                Reply::Error(e)
            }
            Reply::Array(Some(items)) if is_node_entry(&items) => {
                let ip =
                    String::from_utf8(items[0].as_bytes().expect("ip").to_vec()).expect("utf8");
                let j: usize = ip.rsplit('.').next().unwrap().parse::<usize>().unwrap() - 1;
                Reply::Array(Some(vec![
                    Reply::bulk("127.0.0.1"),
                    Reply::Int(i64::from(self.ports[j])),
                    Reply::bulk(self.ids[j].clone()),
                    items[3].clone(),
                ]))
            }
            Reply::Array(Some(items)) => {
                Reply::Array(Some(items.into_iter().map(|x| self.to_real(x)).collect()))
            }
            other => other,
        }
    }
}

fn is_node_entry(items: &[Reply]) -> bool {
    items.len() == 4
        && matches!(&items[0], Reply::Bulk(Some(ip)) if ip.starts_with(b"10.0.0."))
        && matches!(items[1], Reply::Int(6379))
}

fn free_ports(n: usize) -> Vec<u16> {
    // Cluster bus ports are port + 10000: keep both free and below 55536.
    let mut out: Vec<u16> = Vec::new();
    while out.len() < n {
        let l = TcpListener::bind("127.0.0.1:0").expect("free port");
        let p = l.local_addr().expect("addr").port();
        if p < 55_000 && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn bulk(r: &Reply) -> String {
    match r {
        Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("expected a bulk reply, got {other:?}"),
    }
}

struct Conn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn connect(port: u16) -> std::io::Result<Conn> {
        let writer = TcpStream::connect(("127.0.0.1", port))?;
        writer.set_read_timeout(Some(Duration::from_secs(5)))?;
        let reader = BufReader::new(writer.try_clone()?);
        Ok(Conn { writer, reader })
    }

    fn call(&mut self, args: &[&str]) -> Reply {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&req).expect("send");
        read_reply(&mut self.reader)
    }
}

fn read_reply(r: &mut impl BufRead) -> Reply {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).expect("reply line");
    let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
    let n = || body.parse::<i64>().expect("length");
    match line[0] {
        b'+' => Reply::Status(body),
        b'-' => Reply::Error(body),
        b':' => Reply::Int(n()),
        b'$' if n() < 0 => Reply::Bulk(None),
        b'$' => {
            let mut buf = vec![0; n() as usize + 2];
            r.read_exact(&mut buf).expect("bulk");
            buf.truncate(buf.len() - 2);
            Reply::Bulk(Some(buf))
        }
        b'*' if n() < 0 => Reply::Array(None),
        b'*' => Reply::Array(Some((0..n()).map(|_| read_reply(r)).collect())),
        b => panic!("unexpected RESP type {b}"),
    }
}

/// A small xorshift, for the random keys.
fn keys() -> Vec<String> {
    let mut v: Vec<String> = [
        "lock",
        "lock:fence",
        "{lock}:fence",
        "{a}lock",
        "{b}lock",
        "{c}lock",
        "a",
        "b",
        "c",
        "{}",
        "{}a",
        "{}{a}",
        "{a",
        "a}",
        "}{a}",
        "x{a}{b}",
        "{a}}",
        "{{a}}",
        "{ }",
        "",
        "foo",
        "hello",
        "{user1000}.following",
        "{user1000}.followers",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = b"ab{}c{}x}{0";
    while v.len() < 600 {
        let mut k = String::new();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for i in 0..(1 + x % 9) {
            k.push(alphabet[((x >> (i * 5)) % alphabet.len() as u64) as usize] as char);
        }
        v.push(k);
    }
    v
}

fn argv(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

#[test]
fn redis_cluster_model_matches_a_real_cluster() {
    let Some(mut c) = Cluster::start() else {
        return;
    };
    let t0 = Instant::now();

    // 1. Slots.
    for k in keys() {
        let real = c.call((k.len() + 1) % NODES, &["CLUSTER", "KEYSLOT", &k]);
        assert_eq!(
            real,
            Reply::Int(i64::from(key_hash_slot(k.as_bytes()))),
            "CLUSTER KEYSLOT {k:?}"
        );
    }

    // 2. Routing, from every node.
    let noncross = "#!lua\nredis.call('set','b','1')\nreturn redis.call('set','hello','1')";
    let commands: Vec<Vec<&str>> = vec![
        vec!["SET", "lock", "x", "NX", "PX", "10000"],
        vec!["GET", "lock"],
        vec!["GET", "{a}lock"],
        vec!["GET", "{b}lock"],
        vec!["GET", "{c}lock"],
        vec!["DEL", "a", "b"],
        vec!["DEL", "b", "{b}x"],
        vec!["EXISTS", "lock", "{lock}:fence"],
        vec!["INCR", "lock:fence"],
        vec!["HSET", "{c}h", "f", "1"],
        vec!["PING"],
        vec!["GET"],
        vec!["EVAL", "return redis.call('get',KEYS[1])", "1", "lock"],
        vec!["EVAL", "return redis.call('get','lock')", "0"],
        vec!["EVAL", "return redis.pcall('get','lock')", "0"],
        vec![
            "EVAL",
            "redis.call('set','b','1'); return redis.call('set','{b}x','1')",
            "0",
        ],
        vec!["EVAL", noncross, "0"],
        vec!["EVAL", "#!lua flags=no-cluster\nreturn 1", "0"],
        vec!["EVAL", "return 1", "2", "a", "b"],
        vec!["EVAL", "return 1", "1x", "lock"],
        vec!["CLUSTER", "KEYSLOT", "{user1000}.following"],
        vec!["CLUSTER", "KEYSLOT"],
        vec!["CLUSTER", "NOPE"],
    ];
    for i in 0..NODES {
        let mut model = c.model(i, true);
        for cmd in &commands {
            // Keys the masters already hold would make replies differ
            // only by data: start each command from an empty node.
            let _ = c.call(i, &["FLUSHALL"]);
            let want = c.to_real(model.execute(&argv(cmd), 1_700_000_000_000).reply);
            model = c.model(i, true);
            let real = c.call(i, cmd);
            assert_eq!(real, want, "node {i}: {cmd:?}");
        }
    }
    // CLUSTER SLOTS: the ranges and their masters. Replicas are listed
    // once gossip has told a node they applied some of the stream
    // (`isReplicaAvailable`), so only their addresses are compared.
    for i in 0..NODES {
        let want = c.to_real(
            c.model(i, true)
                .execute(&argv(&["CLUSTER", "SLOTS"]), 0)
                .reply,
        );
        let real = c.call(i, &["CLUSTER", "SLOTS"]);
        let (Reply::Array(Some(want)), Reply::Array(Some(real))) = (want, real) else {
            panic!("CLUSTER SLOTS is an array");
        };
        assert_eq!(real.len(), want.len());
        for (r, w) in real.iter().zip(&want) {
            let (Reply::Array(Some(r)), Reply::Array(Some(w))) = (r, w) else {
                panic!("a range is an array");
            };
            assert_eq!(r[..3], w[..3], "node {i}: CLUSTER SLOTS range");
            for replica in &r[3..] {
                assert!(w[3..].contains(replica), "node {i}: replica {replica:?}");
            }
        }
    }
    eprintln!("slots and routing pinned in {:?}", t0.elapsed());

    // 3. A master that cannot reach a majority of the masters refuses
    // keyed commands after the node timeout, reads included.
    assert_eq!(c.call(1, &["SET", "lock", "v"]), Reply::ok());
    for i in [0, 2] {
        signal(c.pid(i), Signal::Stop).expect("SIGSTOP");
    }
    let stopped = Instant::now();
    c.until("redis-1 refuses", 3 * TIMEOUT_MS + SLACK_MS, |c| {
        c.call(1, &["SET", "lock", "w"]) != Reply::ok()
    });
    let down_ms = stopped.elapsed().as_millis() as u64;
    let refusal = c.call(1, &["SET", "lock", "w"]);
    assert_eq!(refusal, Reply::error("CLUSTERDOWN The cluster is down"));
    assert_eq!(
        c.call(1, &["GET", "lock"]),
        Reply::error("CLUSTERDOWN The cluster is down")
    );
    assert_eq!(
        c.model(1, false).execute(&argv(&["GET", "lock"]), 0).reply,
        refusal
    );
    assert!(
        (TIMEOUT_MS..=TIMEOUT_MS * 3 / 2 + SLACK_MS).contains(&down_ms),
        "state fail after {down_ms} ms"
    );
    for i in [0, 2] {
        signal(c.pid(i), Signal::Cont).expect("SIGCONT");
    }
    let resumed = Instant::now();
    c.until("redis-1 serves again", 4 * TIMEOUT_MS, |c| {
        matches!(c.call(1, &["GET", "lock"]), Reply::Bulk(Some(_)))
    });
    let rejoin_ms = resumed.elapsed().as_millis() as u64;
    // The model: the rejoin delay (clamp(timeout, 500, 5000) = 2 s) after
    // it last saw itself in the minority.
    assert!(
        (TIMEOUT_MS - 100..=TIMEOUT_MS + SLACK_MS).contains(&rejoin_ms),
        "served again {rejoin_ms} ms after the others resumed"
    );
    c.until("cluster ok everywhere", 10_000, |c| {
        (0..NODES).all(|i| c.info(i, "cluster", "cluster_state") == "ok")
    });
    eprintln!(
        "minority pinned at {:?}: down after {down_ms} ms, back {rejoin_ms} ms after",
        t0.elapsed()
    );

    // 4. Failover of a killed master.
    let killed = Instant::now();
    c.kill(0);
    c.until("redis-3 is master", 4 * TIMEOUT_MS + SLACK_MS, |c| {
        c.info(3, "replication", "role") == "master"
    });
    let took_ms = killed.elapsed().as_millis() as u64;
    let (lo, hi) = (TIMEOUT_MS + 500, TIMEOUT_MS * 2 + 1000);
    assert!(
        (lo..=hi + SLACK_MS).contains(&took_ms),
        "replica promoted {took_ms} ms after the kill; model: {lo}..{hi} ms (+{SLACK_MS} slack)"
    );
    let port3 = c.ports[3].to_string();
    // The other nodes learn the new owner from its next pong (the model:
    // at once); until then they are still in state fail.
    let moved = Reply::Error(format!("MOVED 3300 127.0.0.1:{port3}"));
    c.until("redis-1 redirects to redis-3", 1_000, |c| {
        c.call(1, &["GET", "b"]) == moved
    });
    c.spawn(0);
    c.wait_up(0);
    c.until("redis-0 replicates redis-3", 10_000, |c| {
        c.info(0, "replication", "role") == "slave"
            && c.info(0, "replication", "master_port") == port3
            && c.info(0, "replication", "master_link_status") == "up"
    });
    eprintln!(
        "failover pinned at {:?}: promoted after {took_ms} ms",
        t0.elapsed()
    );

    // 5. The old master's own write is gone once it rejoins as a replica.
    // Shard 2: master redis-2, replica redis-5.
    c.until("cluster ok everywhere", 10_000, |c| {
        (0..NODES).all(|i| c.info(i, "cluster", "cluster_state") == "ok")
    });
    signal(c.pid(5), Signal::Stop).expect("SIGSTOP replica");
    assert!(matches!(
        c.call(2, &["CLIENT", "KILL", "TYPE", "replica"]),
        Reply::Int(1)
    ));
    assert_eq!(
        c.call(2, &["SET", "{a}lock", "only-on-the-old-master"]),
        Reply::ok()
    );
    c.kill(2);
    let aof_dir = c.dir.join("n2").join("appendonlydir");
    let on_disk = std::fs::read_dir(&aof_dir)
        .expect("AOF dir")
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .any(|bytes| bytes.windows(22).any(|w| w == b"only-on-the-old-master"));
    assert!(on_disk, "the old master's AOF holds its write");
    signal(c.pid(5), Signal::Cont).expect("SIGCONT replica");
    c.until("redis-5 is master", 6 * TIMEOUT_MS + SLACK_MS, |c| {
        c.info(5, "replication", "role") == "master"
    });
    assert_eq!(
        c.call(5, &["GET", "{a}lock"]),
        Reply::Bulk(None),
        "never replicated"
    );
    assert_eq!(c.call(5, &["SET", "{a}lock", "new"]), Reply::ok());
    // Restarted from its AOF, the old master has its write back... until
    // it learns it is a replica and full-resyncs.
    c.spawn(2);
    c.wait_up(2);
    let port5 = c.ports[5].to_string();
    c.until("redis-2 replicates redis-5", 10_000, |c| {
        c.info(2, "replication", "master_port") == port5
            && c.info(2, "replication", "master_link_status") == "up"
    });
    let mut conn = Conn::connect(c.ports[2]).expect("connect");
    assert_eq!(conn.call(&["READONLY"]), Reply::ok());
    assert_eq!(conn.call(&["GET", "{a}lock"]), Reply::bulk("new"));
    eprintln!("lost writes pinned at {:?}", t0.elapsed());
}
