//! A `--client` program as the coordinator holds it: the process (in its
//! own process group, so that a wrapper and its workers stop and die
//! together), its output, and its connection to the resource once it has
//! said `HELLO` (see [`super::protocol`]).
//!
//! Its stdout and stderr go to locksim's stderr line by line, prefixed
//! with `client-i:` (unless quiet), and the last lines are kept for error
//! messages. When both close, the process is gone: the coordinator hears
//! [`FromClient::Eof`], as for its own client processes. Dropping an
//! `ExtProc` SIGKILLs its whole process group, whatever ended the run.

use super::client_proc::FromClient;
use super::protocol::{Order, Reply};
use super::sys::{self, Signal};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::rc::Rc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::process::{Child, Command};

/// How many output lines are kept for error messages.
const TAIL_LINES: usize = 12;

/// A running `--client` program.
pub struct ExtProc {
    pub idx: usize,
    pub incarnation: u32,
    child: Child,
    /// Its process group (= its pid), while it may still run.
    pgid: Option<u32>,
    /// Its connection to the resource, once `HELLO` bound it.
    writer: Option<OwnedWriteHalf>,
    /// Where it is in its cycle.
    pub order: Order,
    /// The fencing token of its current lease (`ACQUIRED TOKEN`).
    pub token: Option<i64>,
    /// Whether its current lease has begun a session (counts the cycle).
    pub began: bool,
    /// The last lines it printed.
    tail: Rc<RefCell<VecDeque<String>>>,
}

impl ExtProc {
    /// Starts `argv` with `env` added; its output goes to `forward` as
    /// [`FromClient::Eof`] once it is gone.
    pub fn spawn(
        argv: &[String],
        env: &[(String, String)],
        idx: usize,
        incarnation: u32,
        echo: bool,
        forward: impl Fn(FromClient) + 'static,
    ) -> std::io::Result<ExtProc> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| std::io::Error::other("empty --client command"))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(sys::die_with_parent);
        }
        let mut child = cmd.spawn()?;
        let pgid = child.id();
        let tail = Rc::new(RefCell::new(VecDeque::new()));
        let out = child.stdout.take().expect("stdout is piped");
        let err = child.stderr.take().expect("stderr is piped");
        let (t1, t2) = (tail.clone(), tail.clone());
        tokio::task::spawn_local(async move {
            tokio::join!(
                echo_lines(out, idx, echo, t1),
                echo_lines(err, idx, echo, t2)
            );
            forward(FromClient::Eof);
        });
        Ok(ExtProc {
            idx,
            incarnation,
            child,
            pgid,
            writer: None,
            order: Order::New,
            token: None,
            began: false,
            tail,
        })
    }

    /// Whether a connection said `HELLO` for this process.
    pub fn connected(&self) -> bool {
        self.writer.is_some()
    }

    /// Binds the connection that said `HELLO`.
    pub fn attach(&mut self, writer: OwnedWriteHalf) {
        self.writer = Some(writer);
    }

    /// Writes one reply line (lost if the connection is gone).
    pub async fn reply(&mut self, r: &Reply) {
        let line = format!("{r}\n");
        if let Some(w) = &mut self.writer {
            if w.write_all(line.as_bytes()).await.is_err() {
                self.writer = None;
            }
        }
    }

    /// SIGSTOP / SIGCONT to the whole process group.
    pub fn signal(&self, sig: Signal) -> std::io::Result<()> {
        match self.pgid {
            Some(g) => sys::signal_group(g, sig),
            None => Err(std::io::ErrorKind::NotFound.into()),
        }
    }

    /// SIGKILL to the process group, and reap.
    pub async fn kill(&mut self) {
        self.writer = None;
        if let Some(g) = self.pgid.take() {
            let _ = sys::signal_group(g, Signal::Kill);
        }
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// The exit status once the process is gone (waits for it).
    pub async fn status(&mut self) -> Option<ExitStatus> {
        let s = self.child.wait().await.ok();
        // Reaped: the group may hold stray workers; they die with it.
        if let Some(g) = self.pgid.take() {
            let _ = sys::signal_group(g, Signal::Kill);
        }
        s
    }

    /// The last lines it printed, indented, for an error message.
    pub fn tail(&self) -> String {
        let t = self.tail.borrow();
        if t.is_empty() {
            return "  (it printed nothing)".into();
        }
        t.iter()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for ExtProc {
    fn drop(&mut self) {
        // kill_on_drop reaches the leader only; the group goes too.
        if let Some(g) = self.pgid.take() {
            let _ = sys::signal_group(g, Signal::Kill);
        }
    }
}

async fn echo_lines(
    stream: impl AsyncRead + Unpin,
    idx: usize,
    echo: bool,
    tail: Rc<RefCell<VecDeque<String>>>,
) {
    let mut lines = BufReader::new(stream).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                if echo {
                    eprintln!("client-{idx}: {line}");
                }
                let mut t = tail.borrow_mut();
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
            Ok(None) => break,
            // Not UTF-8: keep reading what follows.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => continue,
            Err(_) => break,
        }
    }
}

/// Splits a `--client` command into words as a POSIX shell does for
/// simple words: blanks separate, single quotes keep everything, double
/// quotes keep everything but `\"` and `\\`, a backslash outside quotes
/// escapes the next character. No variables, globs or pipes: the program
/// runs directly, so that signals reach it and not a shell.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unclosed ' in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("unclosed \" in {s:?}")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(format!("unclosed \" in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err(format!("a trailing backslash in {s:?}")),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err("the --client command is empty".into());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell_splits_simple_words() {
        let ok = |s: &str, want: &[&str]| assert_eq!(split_command(s).unwrap(), want, "{s}");
        ok("python3 client.py", &["python3", "client.py"]);
        ok("  node  a.js  ", &["node", "a.js"]);
        ok("sh -c 'echo hi; exit 3'", &["sh", "-c", "echo hi; exit 3"]);
        ok(r#"x "a \"b\" c" d\ e ''"#, &["x", "a \"b\" c", "d e", ""]);
        ok(r#""a\nb""#, &["a\\nb"]);
        for bad in ["", "   ", "a 'b", "a \"b", "a\\"] {
            assert!(split_command(bad).is_err(), "{bad:?}");
        }
    }
}
