//! The wire protocol between a lock algorithm and a Redis node: an argv in,
//! a RESP2 reply out, exactly what a Redis client sends and receives.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One command as a Redis client sends it: the command name and its
/// arguments, each a binary-safe string.
pub type Argv = Vec<Vec<u8>>;

/// Builds an [`Argv`] from anything that looks like bytes.
///
/// ```
/// use locksim_models::protocol::argv;
/// let a = argv(["SET", "lock", "tok", "NX", "PX", "30000"]);
/// assert_eq!(a[0], b"SET");
/// ```
pub fn argv<I, S>(parts: I) -> Argv
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    parts.into_iter().map(|p| p.as_ref().to_vec()).collect()
}

/// A RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// `+OK\r\n`
    Status(String),
    /// `-ERR ...\r\n`: the full error line without the leading `-`.
    Error(String),
    /// `:1\r\n`
    Int(i64),
    /// `$3\r\nfoo\r\n`, or `$-1\r\n` for `None`.
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...`, or `*-1\r\n` for `None`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Status("OK".into())
    }

    /// A bulk string reply.
    pub fn bulk(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::Bulk(Some(bytes.into()))
    }

    /// `$-1`.
    pub fn nil() -> Reply {
        Reply::Bulk(None)
    }

    /// An error reply; `text` is the whole line, e.g. `ERR syntax error`.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    /// True for `-...` replies.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// True for a null bulk or null array.
    pub fn is_nil(&self) -> bool {
        matches!(self, Reply::Bulk(None) | Reply::Array(None))
    }

    /// The integer of an `Int` reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The bytes of a non-null bulk reply.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(b)) => Some(b),
            _ => None,
        }
    }

    /// Encodes the reply as RESP2 bytes.
    pub fn to_resp(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_resp(&mut out);
        out
    }

    fn write_resp(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Status(s) => {
                out.push(b'+');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Error(s) => {
                out.push(b'-');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Int(i) => out.extend_from_slice(format!(":{i}\r\n").as_bytes()),
            Reply::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Reply::Bulk(Some(b)) => {
                out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Array(None) => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(Some(items)) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for item in items {
                    item.write_resp(out);
                }
            }
        }
    }

    /// Renders the reply as `redis-cli` prints it on a terminal-less pipe
    /// with `--no-raw`: `OK`, `(integer) 1`, `"value"`, `(nil)`,
    /// `(error) ERR ...`, numbered array items.
    pub fn to_cli(&self) -> String {
        let mut out = String::new();
        self.write_cli(&mut out, 0);
        out
    }

    fn write_cli(&self, out: &mut String, indent: usize) {
        match self {
            Reply::Status(s) => out.push_str(s),
            Reply::Error(s) => {
                let _ = write!(out, "(error) {s}");
            }
            Reply::Int(i) => {
                let _ = write!(out, "(integer) {i}");
            }
            Reply::Bulk(None) | Reply::Array(None) => out.push_str("(nil)"),
            Reply::Bulk(Some(b)) => out.push_str(&quote_cli(b)),
            Reply::Array(Some(items)) if items.is_empty() => out.push_str("(empty array)"),
            Reply::Array(Some(items)) => {
                let width = items.len().to_string().len();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                        out.push_str(&" ".repeat(indent));
                    }
                    let label = format!("{:>width$}) ", i + 1);
                    out.push_str(&label);
                    item.write_cli(out, indent + label.len());
                }
            }
        }
    }
}

/// Quotes bytes the way `redis-cli` does (`sdscatrepr`).
pub fn quote_cli(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x07 => s.push_str("\\a"),
            0x08 => s.push_str("\\b"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    s
}

/// Renders an argv for logs and histories: printable arguments as text,
/// the rest quoted. A Lua script (the source argument of `EVAL` or
/// `SCRIPT LOAD`) longer than 40 bytes is shown by name,
/// `<script 1a2b3c4d>` (FNV-1a 32 of its source), so histories stay short
/// and the same script always reads the same.
pub fn argv_display(argv: &[Vec<u8>]) -> String {
    let script_at = match argv.first() {
        Some(c) if c.eq_ignore_ascii_case(b"EVAL") => Some(1),
        Some(c) if c.eq_ignore_ascii_case(b"SCRIPT") => Some(2),
        _ => None,
    };
    let mut out = String::with_capacity(argv.iter().map(|a| a.len() + 1).sum());
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if Some(i) == script_at && a.len() > 40 {
            let _ = write!(out, "<script {:08x}>", script_id(a));
        } else if !a.is_empty() && a.iter().all(|b| b.is_ascii_graphic()) {
            out.push_str(std::str::from_utf8(a).expect("ASCII is UTF-8"));
        } else {
            out.push_str(&quote_cli(a));
        }
    }
    out
}

/// FNV-1a 32 of a script's source: the name histories give it.
pub fn script_id(source: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in source {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_encoding_matches_redis() {
        assert_eq!(Reply::ok().to_resp(), b"+OK\r\n");
        assert_eq!(Reply::Int(-3).to_resp(), b":-3\r\n");
        assert_eq!(Reply::nil().to_resp(), b"$-1\r\n");
        assert_eq!(Reply::bulk("ab").to_resp(), b"$2\r\nab\r\n");
        let arr = Reply::Array(Some(vec![Reply::Int(1), Reply::nil()]));
        assert_eq!(arr.to_resp(), b"*2\r\n:1\r\n$-1\r\n");
        assert_eq!(Reply::Array(None).to_resp(), b"*-1\r\n");
        assert_eq!(
            Reply::error("ERR syntax error").to_resp(),
            b"-ERR syntax error\r\n"
        );
    }

    #[test]
    fn argv_display_names_scripts_and_quotes_the_rest() {
        let src = "if redis.call(\"get\",KEYS[1]) == ARGV[1] then return 1 end";
        let a = argv(["EVAL", src, "1", "lock", "a b"]);
        let shown = argv_display(&a);
        assert!(shown.starts_with("EVAL <script "), "{shown}");
        assert!(shown.ends_with(" 1 lock \"a b\""), "{shown}");
        assert_eq!(
            argv_display(&argv(["SET", "k", "v", "PX", "10"])),
            "SET k v PX 10"
        );
        assert_eq!(
            argv_display(&argv(["EVAL", "return 1", "0"])),
            "EVAL \"return 1\" 0"
        );
    }

    #[test]
    fn cli_rendering_matches_redis_cli() {
        assert_eq!(Reply::ok().to_cli(), "OK");
        assert_eq!(Reply::Int(5).to_cli(), "(integer) 5");
        assert_eq!(Reply::nil().to_cli(), "(nil)");
        assert_eq!(Reply::bulk("a\"b\n").to_cli(), "\"a\\\"b\\n\"");
        let arr = Reply::Array(Some(vec![Reply::bulk("x"), Reply::Int(2)]));
        assert_eq!(arr.to_cli(), "1) \"x\"\n2) (integer) 2");
        assert_eq!(Reply::Array(Some(vec![])).to_cli(), "(empty array)");
    }
}
