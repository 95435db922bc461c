//! What every command shares: the error texts a command body can reply
//! with and the argument parsers, byte-exact with redis-server 7.0.15.
//!
//! This is the bottom of the command layer. The command bodies
//! (`strings.rs`, `keys.rs`, `hash.rs`) and the dispatcher (`commands.rs`)
//! take from here and from the keyspace, never from each other, so the
//! command table can name every body without an import cycle.

use super::keyspace::Value;
use locksim_models::protocol::Reply;

pub(crate) const SYNTAX_ERR: &str = "ERR syntax error";
pub(crate) const NOT_INT_ERR: &str = "ERR value is not an integer or out of range";
pub(crate) const WRONGTYPE_ERR: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
pub(crate) const OVERFLOW_ERR: &str = "ERR increment or decrement would overflow";

/// `ERR invalid expire time in 'set' command`.
pub(crate) fn invalid_expire(name: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{name}' command"))
}

/// An error line as Redis emits it: `\r` and `\n` become spaces. Non-UTF-8
/// bytes are replaced (a `Reply::Error` is a `String`).
pub(crate) fn error_line(bytes: &[u8]) -> Reply {
    let clean: Vec<u8> = bytes
        .iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect();
    Reply::Error(String::from_utf8_lossy(&clean).into_owned())
}

/// Redis's `string2ll`: no sign but `-`, no leading zeros, no spaces, at
/// most 20 bytes, no overflow.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// `parse_i64` or the standard error reply.
pub(crate) fn int_arg(s: &[u8]) -> Result<i64, Reply> {
    parse_i64(s).ok_or_else(|| Reply::error(NOT_INT_ERR))
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub(crate) fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// The string value of a looked-up entry, or the WRONGTYPE error.
pub(crate) fn as_str(value: &Value) -> Result<&Vec<u8>, Reply> {
    match value {
        Value::Str(s) => Ok(s),
        Value::Hash(_) => Err(Reply::error(WRONGTYPE_ERR)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_is_strict() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"1e3",
            b"0x10",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"000000000000000000001",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn error_lines_lose_their_line_breaks() {
        assert_eq!(
            error_line(b"ERR a\r\nb"),
            Reply::Error("ERR a  b".to_string())
        );
    }
}
