//! Redis's conversion rules between Lua values and RESP replies, and the
//! number formats involved.
//!
//! Redis -> Lua (`redis.call` results, pushed by `luacall.rs`): integer ->
//! number, bulk -> string, nil bulk / nil array -> false, array -> table,
//! status -> `{ok=...}`, error -> `{err=...}`.
//!
//! Lua -> Redis (script results): number -> integer (C truncation), string
//! -> bulk, true -> 1, false / nil -> nil bulk, `{err=...}` -> error,
//! `{ok=...}` -> status, `{double=...}`, `{big_number=...}`,
//! `{verbatim_string=...}`, `{map=...}`, `{set=...}` as RESP2 renders them,
//! any other table -> array up to the first nil.

use super::commands::error_line;
use locksim_models::protocol::Reply;
use mlua::{Lua, Table, Value as LuaValue};

/// C's `%.17g`, as Redis formats Lua numbers passed to `redis.call` and
/// RESP2 doubles.
pub(crate) fn fmt_g17(x: f64) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{x:.16e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent digits");
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip_zeros(mantissa), exp.abs())
    } else {
        let prec = usize::try_from(16 - exp).expect("precision");
        strip_zeros(&format!("{x:.prec$}")).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// C's `(long long)` cast of a double on x86-64: truncation, and
/// `LLONG_MIN` for NaN and out-of-range values.
pub(crate) fn c_cast_i64(x: f64) -> i64 {
    // 2^63 as a double: the first value a long long cannot hold.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() || !(-LIMIT..LIMIT).contains(&x) {
        i64::MIN
    } else {
        x as i64
    }
}

/// Redis's `luaPushErrorBuff`: `-CODE msg` keeps its code, anything else
/// gets `ERR`; surrounding CR/LF are trimmed.
pub(crate) fn error_text(buf: &[u8]) -> Vec<u8> {
    let (code, msg): (&[u8], &[u8]) = match buf.split_first() {
        Some((b'-', rest)) => match rest.iter().position(|&b| b == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        },
        _ => (b"ERR", buf),
    };
    let is_crlf = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = msg.iter().position(|b| !is_crlf(b)).unwrap_or(msg.len());
    let end = msg
        .iter()
        .rposition(|b| !is_crlf(b))
        .map_or(start, |e| e + 1);
    let mut out = code.to_vec();
    out.push(b' ');
    out.extend_from_slice(&msg[start..end]);
    out
}

/// The `{err=...}` table for an error buffer.
pub(crate) fn error_table(lua: &Lua, buf: &[u8], from_command: bool) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 2)?;
    t.raw_set("err", lua.create_string(error_text(buf))?)?;
    if from_command {
        t.raw_set("ignore_error_stats_update", true)?;
    }
    Ok(t)
}

/// A `redis.call` argument: strings as they are, numbers as `%.17g`.
pub(crate) fn lua_arg_bytes(v: &LuaValue) -> Option<Vec<u8>> {
    match v {
        LuaValue::String(s) => Some(s.as_bytes().to_vec()),
        LuaValue::Integer(i) => Some(fmt_g17(*i as f64).into_bytes()),
        LuaValue::Number(n) => Some(fmt_g17(*n).into_bytes()),
        _ => None,
    }
}

/// Bytes up to the first NUL (C string semantics).
fn c_str(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// `\r` and `\n` become spaces (`sdsmapchars`).
fn map_crlf(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect()
}

fn field(t: &Table, name: &str) -> LuaValue {
    t.raw_get(name).unwrap_or(LuaValue::Nil)
}

/// Converts a script's return value into the client's reply.
pub(crate) fn lua_to_reply(v: &LuaValue) -> Reply {
    match v {
        LuaValue::String(s) => Reply::bulk(s.as_bytes().to_vec()),
        LuaValue::Boolean(true) => Reply::Int(1),
        LuaValue::Integer(i) => Reply::Int(*i),
        LuaValue::Number(n) => Reply::Int(c_cast_i64(*n)),
        LuaValue::Table(t) => table_to_reply(t),
        _ => Reply::nil(),
    }
}

fn table_to_reply(t: &Table) -> Reply {
    if let LuaValue::String(e) = field(t, "err") {
        return error_line(c_str(&e.as_bytes()));
    }
    if let LuaValue::String(s) = field(t, "ok") {
        let s = map_crlf(c_str(&s.as_bytes()));
        return Reply::Status(String::from_utf8_lossy(&s).into_owned());
    }
    match field(t, "double") {
        LuaValue::Number(d) => return Reply::bulk(fmt_g17(d)),
        LuaValue::Integer(d) => return Reply::bulk(fmt_g17(d as f64)),
        _ => {}
    }
    if let LuaValue::String(s) = field(t, "big_number") {
        return Reply::bulk(map_crlf(&s.as_bytes()));
    }
    if let LuaValue::Table(v) = field(t, "verbatim_string") {
        if let (LuaValue::String(_), LuaValue::String(s)) =
            (field(&v, "format"), field(&v, "string"))
        {
            return Reply::bulk(s.as_bytes().to_vec());
        }
    }
    if let LuaValue::Table(m) = field(t, "map") {
        let mut items = Vec::new();
        for (k, v) in m.pairs::<LuaValue, LuaValue>().flatten() {
            items.push(lua_to_reply(&k));
            items.push(lua_to_reply(&v));
        }
        return Reply::Array(Some(items));
    }
    if let LuaValue::Table(s) = field(t, "set") {
        let items = s
            .pairs::<LuaValue, LuaValue>()
            .flatten()
            .map(|(k, _)| lua_to_reply(&k))
            .collect();
        return Reply::Array(Some(items));
    }
    let mut items = Vec::new();
    for j in 1.. {
        match t.raw_get::<LuaValue>(j) {
            Ok(LuaValue::Nil) | Err(_) => break,
            Ok(v) => items.push(lua_to_reply(&v)),
        }
    }
    Reply::Array(Some(items))
}

/// A Lua value as `lua_tostring` would give it, for error fields.
fn lua_string(v: &LuaValue) -> Option<Vec<u8>> {
    match v {
        LuaValue::String(s) => Some(c_str(&s.as_bytes()).to_vec()),
        LuaValue::Integer(i) => Some(i.to_string().into_bytes()),
        LuaValue::Number(n) => Some(fmt_g14(*n).into_bytes()),
        _ => None,
    }
}

/// Lua 5.1's `%.14g` number formatting (`tostring`).
fn fmt_g14(x: f64) -> String {
    if x.is_finite() && x != 0.0 {
        let sci = format!("{x:.13e}");
        let (mantissa, exp) = sci.split_once('e').expect("exponent");
        let exp: i32 = exp.parse().expect("exponent digits");
        if !(-4..14).contains(&exp) {
            let sign = if exp < 0 { '-' } else { '+' };
            return format!("{}e{sign}{:02}", strip_zeros(mantissa), exp.abs());
        }
        let prec = usize::try_from(13 - exp).expect("precision");
        return strip_zeros(&format!("{x:.prec$}")).to_string();
    }
    fmt_g17(x)
}

/// The reply for a script that raised: `-<err> script: <sha>, on <source>:<line>.`
pub(crate) fn script_error(err: &LuaValue, sha: &str) -> Reply {
    let LuaValue::Table(t) = err else {
        let msg = match err {
            LuaValue::String(s) => s.to_string_lossy(),
            _ => "execution failure".into(),
        };
        let msg: String = msg.chars().take(100).collect();
        return error_line(format!("ERR Error running script {sha}, {msg}\n").as_bytes());
    };
    let msg = lua_string(&field(t, "err")).unwrap_or_else(|| b"ERR unknown error".to_vec());
    let mut line = msg;
    if let (Some(src), Some(ln)) = (
        lua_string(&field(t, "source")),
        lua_string(&field(t, "line")),
    ) {
        line.extend_from_slice(format!(" script: {sha}, on ").as_bytes());
        line.extend_from_slice(&src);
        line.push(b':');
        line.extend_from_slice(&ln);
        line.push(b'.');
    }
    error_line(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_c_printf() {
        // Values checked against redis-server 7.0.15 (redis.call('set', k, n)).
        assert_eq!(fmt_g17(0.1), "0.10000000000000001");
        assert_eq!(fmt_g17(1e20), "1e+20");
        assert_eq!(fmt_g17(9007199254740992.0), "9007199254740992");
        assert_eq!(fmt_g17(-0.0), "-0");
        assert_eq!(fmt_g17(f64::INFINITY), "inf");
        assert_eq!(fmt_g17(f64::NEG_INFINITY), "-inf");
        assert_eq!(fmt_g17(123456789012.0), "123456789012");
        assert_eq!(fmt_g17(1e-5), "1.0000000000000001e-05");
        assert_eq!(fmt_g17(1e16), "10000000000000000");
        assert_eq!(fmt_g17(1e17), "1e+17");
        assert_eq!(fmt_g17(1.5), "1.5");
        assert_eq!(fmt_g17(3.0), "3");
        assert_eq!(fmt_g17(0.0001), "0.0001");
    }

    #[test]
    fn g14_matches_lua_tostring() {
        assert_eq!(fmt_g14(1e15), "1e+15");
        assert_eq!(fmt_g14(0.1), "0.1");
        assert_eq!(fmt_g14(12.5), "12.5");
    }

    #[test]
    fn double_to_long_long_cast() {
        assert_eq!(c_cast_i64(1.9), 1);
        assert_eq!(c_cast_i64(-1.9), -1);
        assert_eq!(c_cast_i64(1e300), i64::MIN);
        assert_eq!(c_cast_i64(-1e300), i64::MIN);
        assert_eq!(c_cast_i64(f64::NAN), i64::MIN);
        assert_eq!(c_cast_i64(9.223_372_036_854_776e18), i64::MIN);
        assert_eq!(c_cast_i64(-9.223_372_036_854_776e18), i64::MIN);
        assert_eq!(c_cast_i64(4611686018427387904.0), 4611686018427387904);
    }

    #[test]
    fn push_error_buff_rules() {
        assert_eq!(error_text(b"x"), b"ERR x");
        assert_eq!(error_text(b"-x"), b"ERR x");
        assert_eq!(error_text(b"-MY x y"), b"MY x y");
        assert_eq!(error_text(b"-ERR x\r\n"), b"ERR x");
        assert_eq!(error_text(b"-READONLY You can't"), b"READONLY You can't");
    }
}
