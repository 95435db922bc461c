//! Real redis-server processes for the differential tests that need more
//! than one (a master and its replica): each on 127.0.0.1 with a free port
//! and its own temporary directory, no persistence, `DEBUG` allowed from
//! localhost, stopped by PID when dropped. [`RealServer::start`] returns
//! `None` (after one loud line on stderr) when `redis-server` is not on
//! PATH, and panics instead when `LOCKSIM_REQUIRE_REDIS=1`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One redis-server process.
pub struct RealServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl Drop for RealServer {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `redis-server` runs here; `test` names the test for the skip line.
pub fn available(test: &str) -> bool {
    let required = std::env::var("LOCKSIM_REQUIRE_REDIS").is_ok_and(|v| v == "1");
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    assert!(
        !required,
        "LOCKSIM_REQUIRE_REDIS=1 but redis-server is not on PATH"
    );
    // Straight to stderr so that a passing test still shows it.
    let _ = writeln!(
        std::io::stderr(),
        "!!! SKIPPED {test}: redis-server is not on PATH, the model was NOT compared with Redis; \
         install redis-server 7.0 and rerun (LOCKSIM_REQUIRE_REDIS=1 turns this skip into a failure)"
    );
    false
}

impl RealServer {
    /// Starts a server with `extra` arguments (`--replicaof 127.0.0.1 P`)
    /// and waits until it answers PING.
    pub fn start(extra: &[&str]) -> RealServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("locksim-real-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--enable-debug-command", "local"])
            .args(["--repl-diskless-sync-delay", "0"])
            .args(extra)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let server = RealServer {
            child: Some(child),
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut c) = server.connect() {
                if c.call(&["PING"]) == b"+PONG\r\n" {
                    return server;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {port} did not start");
    }

    pub fn connect(&self) -> std::io::Result<Conn> {
        Conn::connect(self.port)
    }

    /// SIGKILL: the process dies, its kernel closes its sockets.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits until this master's `INFO replication` shows `n` replicas
    /// online, and they answer a `WAIT` (after a diskless full resync the
    /// master holds the stream back until the replica's first ACK).
    pub fn wait_for_replicas(&self, n: usize) {
        let mut c = self.connect().expect("connect");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let info = String::from_utf8_lossy(&c.call(&["INFO", "replication"])).into_owned();
            let want = format!(":{n}\r\n").into_bytes();
            if info.matches("state=online").count() >= n
                && c.call(&["WAIT", &n.to_string(), "1000"]) == want
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no {n} replicas online on port {}", self.port);
    }
}

/// A raw RESP2 connection: replies as the exact bytes the server sent.
pub struct Conn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn connect(port: u16) -> std::io::Result<Conn> {
        let writer = TcpStream::connect(("127.0.0.1", port))?;
        writer.set_read_timeout(Some(Duration::from_secs(30)))?;
        let reader = BufReader::new(writer.try_clone()?);
        Ok(Conn { writer, reader })
    }

    /// Sends one command without reading its reply.
    pub fn send(&mut self, args: &[&str]) {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&req).expect("send");
    }

    /// Reads the raw bytes of one reply.
    pub fn read(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        read_reply(&mut self.reader, &mut out);
        out
    }

    /// Sends one command, returns the raw bytes of its reply.
    pub fn call(&mut self, args: &[&str]) -> Vec<u8> {
        self.send(args);
        self.read()
    }
}

/// Reads one RESP2 value, appending its raw bytes to `out`.
fn read_reply(r: &mut impl BufRead, out: &mut Vec<u8>) {
    let start = out.len();
    r.read_until(b'\n', out).expect("reply line");
    let line = &out[start..];
    assert!(line.len() >= 3, "a RESP line: {line:?}");
    let n: i64 = std::str::from_utf8(&line[1..line.len() - 2])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match line[0] {
        b'$' if n >= 0 => {
            let mut buf = vec![0; n as usize + 2];
            r.read_exact(&mut buf).expect("bulk");
            out.extend_from_slice(&buf);
        }
        b'*' => {
            for _ in 0..n.max(0) {
                read_reply(r, out);
            }
        }
        _ => {}
    }
}
