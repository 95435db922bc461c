//! A private redis-server for differential tests, and a small RESP client
//! for it (replies as locksim's [`Reply`], error texts exact).
//!
//! [`RealRedis::start`] runs `redis-server` on 127.0.0.1 on a free port in
//! a fresh directory, with the given extra arguments, and waits for PING;
//! the process and the directory go when it is dropped. Without
//! `redis-server` on PATH it prints one line and returns `None` (the test
//! passes), unless `LOCKSIM_REQUIRE_REDIS=1`, which makes it fail.

use locksim::live::env::{encode, parse};
use locksim_models::protocol::{argv, Argv, Reply};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One redis-server process.
pub struct RealRedis {
    child: Child,
    pub port: u16,
    dir: PathBuf,
    /// The connection that saw the first PONG, handed out first (so no
    /// client is closing while a test reads `used_memory`).
    first: Option<Conn>,
}

impl Drop for RealRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RealRedis {
    /// Starts a server with `--save "" --appendonly no` and `args`, or
    /// says (`what` was not compared) why the test is skipped.
    pub fn start(what: &str, args: &[&str]) -> Option<RealRedis> {
        let required = std::env::var("LOCKSIM_REQUIRE_REDIS").is_ok_and(|v| v == "1");
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                !required,
                "LOCKSIM_REQUIRE_REDIS=1 but redis-server is not on PATH"
            );
            let _ = writeln!(
                std::io::stderr(),
                "!!! SKIPPED: redis-server is not on PATH, {what} was NOT compared with Redis \
                 (LOCKSIM_REQUIRE_REDIS=1 turns this skip into a failure)"
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = std::env::temp_dir().join(format!("locksim-real-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(args)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let mut server = RealRedis {
            child,
            port,
            dir,
            first: None,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(mut c) = Conn::connect(server.port) {
                if c.call(&argv(["PING"])) == Reply::Status("PONG".into()) {
                    server.first = Some(c);
                    return Some(server);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start");
    }

    /// A connection: the first one, then new ones.
    pub fn connect(&mut self) -> Conn {
        match self.first.take() {
            Some(c) => c,
            None => Conn::connect(self.port).expect("connect"),
        }
    }
}

/// A connection to a real server.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(port: u16) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends one command, reads its reply.
    pub fn call(&mut self, a: &[Vec<u8>]) -> Reply {
        self.stream.write_all(&encode(a)).expect("send");
        let mut chunk = [0u8; 65_536];
        loop {
            if let Some((reply, used)) = parse(&self.buf).expect("RESP") {
                self.buf.drain(..used);
                return reply;
            }
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "redis-server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A numeric field of `INFO <section>`.
    pub fn info(&mut self, section: &str, field: &str) -> u64 {
        let Reply::Bulk(Some(text)) = self.call(&argv(["INFO", section])) else {
            panic!("INFO")
        };
        String::from_utf8_lossy(&text)
            .lines()
            .find_map(|l| {
                l.strip_prefix(field)?
                    .strip_prefix(':')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("INFO has no {field}"))
    }

    /// `KEYS *`.
    pub fn keys(&mut self) -> BTreeSet<Vec<u8>> {
        match self.call(&argv(["KEYS", "*"])) {
            Reply::Array(Some(items)) => items
                .into_iter()
                .map(|r| match r {
                    Reply::Bulk(Some(k)) => k,
                    other => panic!("KEYS item {other:?}"),
                })
                .collect(),
            other => panic!("KEYS {other:?}"),
        }
    }
}

/// An argv from string parts.
pub fn cmd(parts: &[&str]) -> Argv {
    argv(parts.iter().copied())
}
