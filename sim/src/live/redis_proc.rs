//! The redis-server processes of a live run.
//!
//! Each node gets a free port on 127.0.0.1 and its own directory, and is
//! started with the scenario's persistence:
//!
//! | persistence | arguments |
//! |---|---|
//! | `none` | `--save "" --appendonly no` |
//! | `rdb` | `--save "<s> 1" --appendonly no` (`s` = `rdb_save_every_ms` in whole seconds) |
//! | `aof-everysec` | `--save "" --appendonly yes --appendfsync everysec` |
//! | `aof-always` | `--save "" --appendonly yes --appendfsync always` |
//!
//! With `maxmemory_bytes` > 0 the node also gets `--maxmemory`,
//! `--maxmemory-policy` and `--maxmemory-samples`.
//!
//! A kill is SIGKILL; the restart runs the same command line on the same
//! port and directory, so the server reloads whatever its persistence left
//! there. Every process is `kill_on_drop` and dies with the coordinator
//! (`PR_SET_PDEATHSIG`), so none outlives a run, whatever ends it.

use super::sys::{self, Signal};
use crate::model::{Persistence, Scenario};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// The redis-server binary live mode runs (`LOCKSIM_REDIS_SERVER`
/// overrides the one on PATH).
pub fn server_binary() -> String {
    std::env::var("LOCKSIM_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

/// `redis-server --version`, or why it cannot run.
pub fn server_version() -> Result<String, String> {
    let bin = server_binary();
    match std::process::Command::new(&bin).arg("--version").output() {
        Ok(out) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        Ok(out) => Err(format!("`{bin} --version` exited with {}", out.status)),
        Err(e) => Err(format!("cannot run `{bin}`: {e}")),
    }
}

/// A free TCP port on 127.0.0.1 (the kernel's choice, released at once).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The persistence arguments of `s`.
pub fn persistence_args(s: &Scenario) -> Vec<String> {
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match s.redis.persistence {
        Persistence::None => v(&["--save", "", "--appendonly", "no"]),
        Persistence::Rdb => {
            let secs = super::rdb_save_secs(s.redis.rdb_save_every_ms);
            vec![
                "--save".into(),
                format!("{secs} 1"),
                "--appendonly".into(),
                "no".into(),
            ]
        }
        Persistence::AofEverysec => v(&[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
        ]),
        Persistence::AofAlways => v(&[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ]),
    }
}

/// `--maxmemory`, `--maxmemory-policy`, `--maxmemory-samples` when the
/// scenario sets a limit (none otherwise).
pub fn memory_args(s: &Scenario) -> Vec<String> {
    let r = &s.redis;
    if r.maxmemory_bytes == 0 {
        return Vec::new();
    }
    vec![
        "--maxmemory".into(),
        r.maxmemory_bytes.to_string(),
        "--maxmemory-policy".into(),
        r.maxmemory_policy.name().into(),
        "--maxmemory-samples".into(),
        r.maxmemory_samples.to_string(),
    ]
}

/// One Redis node: its port, directory and current process.
pub struct RedisProc {
    pub idx: usize,
    pub port: u16,
    pub dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    /// Bumped at every start, so a readiness report of an older process
    /// is recognised as stale.
    pub generation: u64,
}

impl RedisProc {
    /// A node that will run in `dir` (created) on `port`.
    pub fn new(idx: usize, port: u16, dir: PathBuf, s: &Scenario) -> std::io::Result<RedisProc> {
        std::fs::create_dir_all(&dir)?;
        let dir = dir.canonicalize()?;
        let mut args = vec![
            "--port".to_string(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--daemonize".into(),
            "no".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--logfile".into(),
            dir.join("redis.log").display().to_string(),
        ];
        args.extend(persistence_args(s));
        args.extend(memory_args(s));
        Ok(RedisProc {
            idx,
            port,
            dir,
            args,
            child: None,
            generation: 0,
        })
    }

    /// The command line (without the binary), for logs and `live.txt`.
    pub fn command_line(&self) -> String {
        self.args
            .iter()
            .map(|a| {
                if a.is_empty() {
                    "\"\"".into()
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts the server process (not waiting for it to listen).
    pub fn start(&mut self) -> std::io::Result<()> {
        let mut cmd = Command::new(server_binary());
        cmd.args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Own process group: a terminal's Ctrl-C reaches only the
            // coordinator, which then stops everything in order.
            .process_group(0);
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(sys::die_with_parent);
        }
        self.child = Some(cmd.spawn()?);
        self.generation += 1;
        Ok(())
    }

    /// The pid of the running process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Whether a process is running (started and not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGSTOP / SIGCONT.
    pub fn signal(&self, sig: Signal) -> std::io::Result<()> {
        match self.pid() {
            Some(pid) => sys::signal(pid, sig),
            None => Err(std::io::ErrorKind::NotFound.into()),
        }
    }

    /// SIGKILL and reap.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// The server's log (for error messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Waits until the server on `port` answers `PING` with `+PONG`.
pub async fn wait_ready(port: u16, limit: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = String::from("never answered");
    while tokio::time::Instant::now() < deadline {
        match super::env::Conn::connect(port).await {
            Ok(mut c) => {
                let ping = vec![b"PING".to_vec()];
                match tokio::time::timeout(Duration::from_millis(500), c.call(&ping)).await {
                    Ok(Ok(r)) if r == locksim_models::Reply::Status("PONG".into()) => return Ok(()),
                    Ok(Ok(r)) => last = format!("answered {r:?}"),
                    Ok(Err(e)) => last = e.to_string(),
                    Err(_) => last = "PING timed out".into(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err(format!(
        "redis-server on 127.0.0.1:{port} did not answer PING within {} ms ({last})",
        limit.as_millis()
    ))
}

/// Removes a directory tree, ignoring errors (best-effort cleanup).
pub fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
