//! A `redis-cli`-like shell on one simulated node.
//!
//! Lines are split with redis-cli's rules (`sdssplitargs`); replies print
//! as `redis-cli --no-raw` prints them ([`Reply::to_cli`]) or as raw RESP2.
//! The node's wall clock is virtual: it starts at [`SHELL_EPOCH_MS`] and
//! only `SLEEP <ms>` (a shell command, not a Redis one) advances it, running
//! active expiry. `N command` repeats a command N times and `quit` / `exit`
//! end the session, as in redis-cli.

use super::node::RedisNode;
use locksim_models::protocol::{Argv, Reply};
use std::io::{BufRead, Write};

/// The shell's wall clock at start, in Unix ms.
pub const SHELL_EPOCH_MS: i64 = 1_700_000_000_000;

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// C's `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Redis's `sdssplitargs`: `None` on unbalanced quotes or a closing quote
/// not followed by a space.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut out = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) && line[p] != 0 {
            p += 1;
        }
        if at(p) == 0 {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' && is_hex(at(p + 2)) && is_hex(at(p + 3)) {
                    cur.push(hex_val(at(p + 2)) * 16 + hex_val(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => cur.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        out.push(cur);
    }
}

/// redis-cli's repeat prefix: `Some(n)` for a leading count, `Err` for an
/// invalid one (`0`, negative, out of range), `None` when there is none.
fn repeat_count(argv: &[Vec<u8>]) -> Option<Result<u64, ()>> {
    if argv.len() < 2 {
        return None;
    }
    let first = std::str::from_utf8(&argv[0]).ok()?;
    if first.is_empty() {
        return Some(Err(()));
    }
    let digits = first.strip_prefix('+').unwrap_or(first);
    let body = digits.strip_prefix('-').unwrap_or(digits);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match first.parse::<i64>() {
        Ok(n) if n > 0 => Some(Ok(n as u64)),
        _ => Some(Err(())),
    }
}

/// Runs the shell: one command per line, replies to `out`.
pub fn run_shell(input: impl BufRead, out: &mut impl Write, resp: bool) -> std::io::Result<()> {
    let mut node = RedisNode::new();
    let mut now = SHELL_EPOCH_MS;
    for line in input.split(b'\n') {
        let line = line?;
        let Some(argv) = split_args(&line) else {
            writeln!(out, "Invalid argument(s)")?;
            continue;
        };
        if argv.is_empty() {
            continue;
        }
        let (times, argv): (u64, Argv) = match repeat_count(&argv) {
            None => (1, argv),
            Some(Ok(n)) => (n, argv[1..].to_vec()),
            Some(Err(())) => {
                writeln!(out, "Invalid redis-cli repeat command option value.")?;
                continue;
            }
        };
        if argv[0].eq_ignore_ascii_case(b"quit") || argv[0].eq_ignore_ascii_case(b"exit") {
            break;
        }
        for _ in 0..times {
            if argv[0].eq_ignore_ascii_case(b"sleep") {
                match sleep_ms(&argv) {
                    Some(ms) => {
                        now += ms;
                        node.active_expire(now);
                    }
                    None => print_reply(out, &Reply::error(SLEEP_USAGE), resp)?,
                }
                continue;
            }
            let exec = node.execute(&argv, now);
            print_reply(out, &exec.reply, resp)?;
        }
    }
    out.flush()
}

const SLEEP_USAGE: &str = "ERR SLEEP takes one argument: milliseconds >= 0";

fn print_reply(out: &mut impl Write, reply: &Reply, resp: bool) -> std::io::Result<()> {
    if resp {
        out.write_all(&reply.to_resp())
    } else {
        writeln!(out, "{}", reply.to_cli())
    }
}

fn sleep_ms(argv: &[Vec<u8>]) -> Option<i64> {
    if argv.len() != 2 {
        return None;
    }
    std::str::from_utf8(&argv[1])
        .ok()?
        .parse::<i64>()
        .ok()
        .filter(|ms| *ms >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Option<Vec<String>> {
        split_args(s.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn sdssplitargs_rules() {
        assert_eq!(
            split("set k v"),
            Some(vec!["set".into(), "k".into(), "v".into()])
        );
        assert_eq!(split("  set   k  "), Some(vec!["set".into(), "k".into()]));
        assert_eq!(split(""), Some(vec![]));
        assert_eq!(split(r#"set q "a\"b\n""#).unwrap()[2], "a\"b\n");
        assert_eq!(split(r#"set q "\x41\x4g\t""#).unwrap()[2], "Ax4g\t");
        assert_eq!(split(r"set q 'it\'s'").unwrap()[2], "it's");
        assert_eq!(split(r"set q 'a\nb'").unwrap()[2], "a\\nb");
        assert_eq!(split(r#"echo "x\y""#).unwrap()[1], "xy");
        assert_eq!(split(r#"set q """#).unwrap()[2], "");
        assert_eq!(split(r#"a"b c"d"#), None);
        assert_eq!(split(r#"a"b c" d"#).unwrap()[0], "ab c");
        assert_eq!(split(r#"set q "abc"#), None);
        assert_eq!(split(r#"set q "a"b"#), None);
        assert_eq!(split("set q 'abc"), None);
    }

    #[test]
    fn shell_transcript() {
        let input = b"set k v PX 100\nget k\nSLEEP 100\nget k\nSLEEP 1\nget k\n\n3 incr n\n0 ping\nset q \"x\nquit\nping\n";
        let mut out = Vec::new();
        run_shell(&input[..], &mut out, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "OK\n\"v\"\n\"v\"\n(nil)\n(integer) 1\n(integer) 2\n(integer) 3\n\
             Invalid redis-cli repeat command option value.\nInvalid argument(s)\n"
        );
    }

    #[test]
    fn shell_resp_mode() {
        let mut out = Vec::new();
        run_shell(&b"ping\nget x\n"[..], &mut out, true).unwrap();
        assert_eq!(out, b"+PONG\r\n$-1\r\n");
    }
}
