//! The JSON Lines form of a history: readable by a person, exact enough to
//! read back, and the bytes the run's fingerprint is taken over.
//!
//! ```text
//! {"script":"8b1d6c51","source":"if redis.call(\"get\",KEYS[1]) == ARGV[1] then ..."}
//! {"t_us":1204,"at":"client-0","mono_ms":1,"wall_ms":1700000000001,"type":"call-invoke","client":0,"node":0,"id":2,"cmd":["SET","lock","5f3a..","NX","PX","10000"]}
//! {"t_us":3391,"at":"redis-0","mono_ms":3,"wall_ms":1700000000003,"type":"command","node":0,"client":0,"cmd":["SET","lock","5f3a..","NX","PX","10000"],"reply":"+OK"}
//! {"t_us":3391,"at":"redis-0",...,"type":"key-changed","node":0,"key":"lock","owner":"5f3a..","expires_ms":1700000010003,"cause":"command"}
//! {"t_us":3391,"at":"redis-0",...,"type":"granted","node":0,"client":0}
//! ```
//!
//! - Every line but a script line is one [`super::Event`]: `t_us` (true
//!   time, µs), `at` (the node it happened on, absent for the world
//!   itself), that node's `mono_ms` and `wall_ms`, `type` (kebab-case
//!   [`super::EventKind`]) and the kind's fields.
//! - A command (`cmd`) is an array of its arguments: a string for UTF-8
//!   bytes, `{"hex":"00ff"}` for others, and `{"script":"<id>"}` for the
//!   source of an `EVAL` or `SCRIPT LOAD` longer than 40 bytes. The id is
//!   the FNV-1a 32 of the source, in hex, as the reports name scripts.
//! - A script's source is written once, on a `{"script":id,"source":..}`
//!   line just before the first event that uses it. (Outside a history
//!   file, as on live mode's pipe from a client process, an event carries
//!   its scripts inline.)
//! - A reply is typed by its first character as redis-cli shows types:
//!   `"+OK"` (status), `"-ERR ..."` (error), `"$text"` (bulk string; a
//!   non-UTF-8 bulk is `{"hex":..}`), an integer, `null` (nil bulk),
//!   `"*nil"` (nil array), or an array of replies.

use super::{Event, EventKind};
use locksim_models::protocol::script_id;
use locksim_models::{Argv, Reply};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserializer, Serializer};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

/// Scripts shorter than this are written inline.
const INLINE_SCRIPT_MAX: usize = 40;

/// The argument index that holds a script's source, if `argv` has one.
fn script_index(argv: &[Vec<u8>]) -> Option<usize> {
    let first = argv.first()?;
    let at = if first.eq_ignore_ascii_case(b"EVAL") {
        1
    } else if first.eq_ignore_ascii_case(b"SCRIPT")
        && argv.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"LOAD"))
    {
        2
    } else {
        return None;
    };
    argv.get(at)
        .is_some_and(|s| s.len() > INLINE_SCRIPT_MAX)
        .then_some(at)
}

/// The name a history gives a script: FNV-1a 32 of its source, in hex.
pub fn script_name(source: &[u8]) -> String {
    format!("{:08x}", script_id(source))
}

/// The command an event carries, if any.
pub fn command_of(kind: &EventKind) -> Option<&Argv> {
    match kind {
        EventKind::CallInvoke { cmd, .. } | EventKind::Command { cmd, .. } => Some(cmd),
        _ => None,
    }
}

/// Writes `events` as JSON Lines (see the module docs).
pub fn to_jsonl(events: &[Event]) -> String {
    COMPACT.with(|c| c.set(true));
    let out = write_jsonl(events);
    COMPACT.with(|c| c.set(false));
    out
}

fn write_jsonl(events: &[Event]) -> String {
    let mut out = String::with_capacity(events.len() * 140);
    let mut written: Vec<u32> = Vec::new();
    for e in events {
        if let Some(argv) = command_of(&e.kind) {
            if let Some(i) = script_index(argv) {
                let id = script_id(&argv[i]);
                if !written.contains(&id) {
                    written.push(id);
                    let line = serde_json::json!({
                        "script": script_name(&argv[i]),
                        "source": String::from_utf8_lossy(&argv[i]),
                    });
                    out.push_str(&line.to_string());
                    out.push('\n');
                }
            }
        }
        out.push_str(&serde_json::to_string(e).expect("events serialize"));
        out.push('\n');
    }
    out
}

thread_local! {
    /// Set while [`to_jsonl`] writes: scripts become references to their
    /// source line. Any other serialization (live mode's pipe from a
    /// client process) carries the source inline.
    static COMPACT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The scripts of the history being read: name -> source.
    static SCRIPTS: RefCell<BTreeMap<String, Vec<u8>>> = const { RefCell::new(BTreeMap::new()) };
}

/// Reads JSON Lines written by [`to_jsonl`].
pub fn from_jsonl(text: &str) -> Result<Vec<Event>, String> {
    SCRIPTS.with(|s| s.borrow_mut().clear());
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |e: serde_json::Error| format!("line {}: {e}", i + 1);
        if line.starts_with("{\"script\":") {
            let v: serde_json::Value = serde_json::from_str(line).map_err(err)?;
            let (Some(name), Some(source)) = (v["script"].as_str(), v["source"].as_str()) else {
                return Err(format!(
                    "line {}: a script line needs `script` and `source`",
                    i + 1
                ));
            };
            let bytes = source.as_bytes().to_vec();
            SCRIPTS.with(|s| s.borrow_mut().insert(name.to_string(), bytes));
            continue;
        }
        events.push(serde_json::from_str(line).map_err(err)?);
    }
    SCRIPTS.with(|s| s.borrow_mut().clear());
    Ok(events)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<E: de::Error>(s: &str) -> Result<Vec<u8>, E> {
    if !s.len().is_multiple_of(2) {
        return Err(E::custom("odd-length hex"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(E::custom))
        .collect()
}

/// Reads `{"hex":..}` or `{"script":..}` into bytes.
fn bytes_from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Vec<u8>, A::Error> {
    let Some((k, v)) = map.next_entry::<String, String>()? else {
        return Err(de::Error::custom("an empty object is not an argument"));
    };
    match k.as_str() {
        "hex" => unhex(&v),
        "script" => SCRIPTS
            .with(|s| s.borrow().get(&v).cloned())
            .ok_or_else(|| de::Error::custom(format!("script {v} has no source line before it"))),
        other => Err(de::Error::custom(format!(
            "unknown argument form `{other}`"
        ))),
    }
}

/// `#[serde(with = "wire::argv")]`: a command as an array of arguments.
pub mod argv {
    use super::*;

    pub fn serialize<S: Serializer>(argv: &Argv, s: S) -> Result<S::Ok, S::Error> {
        let script = script_index(argv).filter(|_| COMPACT.with(|c| c.get()));
        let mut seq = s.serialize_seq(Some(argv.len()))?;
        for (i, a) in argv.iter().enumerate() {
            if Some(i) == script {
                seq.serialize_element(&Tagged("script", &script_name(a)))?;
            } else {
                match std::str::from_utf8(a) {
                    Ok(text) => seq.serialize_element(text)?,
                    Err(_) => seq.serialize_element(&Tagged("hex", &hex(a)))?,
                }
            }
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Argv, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Argv;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Argv, A::Error> {
                let mut out = Vec::new();
                while let Some(Arg(a)) = seq.next_element::<Arg>()? {
                    out.push(a);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }

    struct Arg(Vec<u8>);

    impl<'de> serde::Deserialize<'de> for Arg {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Arg, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Arg;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a string, {\"hex\":..} or {\"script\":..}")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Arg, E> {
                    Ok(Arg(v.as_bytes().to_vec()))
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Arg, A::Error> {
                    bytes_from_map(map).map(Arg)
                }
            }
            d.deserialize_any(V)
        }
    }
}

/// A one-entry JSON object `{tag: value}`.
struct Tagged<'a>(&'static str, &'a str);

impl serde::Serialize for Tagged<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, self.1)?;
        m.end()
    }
}

/// `#[serde(with = "wire::reply")]`: a RESP reply, typed by its first
/// character (see the module docs).
pub mod reply {
    use super::*;

    /// A reply, serialized the history's way.
    pub struct Resp<'a>(pub &'a Reply);

    impl serde::Serialize for Resp<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize(self.0, s)
        }
    }

    pub fn serialize<S: Serializer>(r: &Reply, s: S) -> Result<S::Ok, S::Error> {
        match r {
            Reply::Status(t) => s.serialize_str(&format!("+{t}")),
            Reply::Error(t) => s.serialize_str(&format!("-{t}")),
            Reply::Int(n) => s.serialize_i64(*n),
            Reply::Bulk(None) => s.serialize_none(),
            Reply::Bulk(Some(b)) => match std::str::from_utf8(b) {
                Ok(t) => s.serialize_str(&format!("${t}")),
                Err(_) => Tagged("hex", &hex(b)).serialize(s),
            },
            Reply::Array(None) => s.serialize_str("*nil"),
            Reply::Array(Some(items)) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(&Resp(i))?;
                }
                seq.end()
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Reply, D::Error> {
        d.deserialize_any(ReplyVisitor)
    }

    struct Owned(Reply);

    impl<'de> serde::Deserialize<'de> for Owned {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Owned, D::Error> {
            d.deserialize_any(ReplyVisitor).map(Owned)
        }
    }

    struct ReplyVisitor;

    impl<'de> Visitor<'de> for ReplyVisitor {
        type Value = Reply;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(
                "a reply: \"+..\", \"-..\", \"$..\", an integer, null, \"*nil\" or an array",
            )
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Reply, E> {
            Ok(Reply::Int(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Reply, E> {
            i64::try_from(v).map(Reply::Int).map_err(E::custom)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Reply, E> {
            Ok(Reply::Bulk(None))
        }
        fn visit_none<E: de::Error>(self) -> Result<Reply, E> {
            Ok(Reply::Bulk(None))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Reply, E> {
            let rest = v.get(1..).unwrap_or("");
            match v.as_bytes().first() {
                Some(b'+') => Ok(Reply::Status(rest.into())),
                Some(b'-') => Ok(Reply::Error(rest.into())),
                Some(b'$') => Ok(Reply::Bulk(Some(rest.as_bytes().to_vec()))),
                Some(b'*') if rest == "nil" => Ok(Reply::Array(None)),
                _ => Err(E::custom(format!("not a reply: {v:?}"))),
            }
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Reply, A::Error> {
            bytes_from_map(map).map(|b| Reply::Bulk(Some(b)))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Reply, A::Error> {
            let mut items = Vec::new();
            while let Some(Owned(r)) = seq.next_element::<Owned>()? {
                items.push(r);
            }
            Ok(Reply::Array(Some(items)))
        }
    }

    use serde::Serialize as _;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{CallEnd, History};
    use crate::model::NodeRef;
    use locksim_models::argv as mk;

    fn ev(kind: EventKind) -> Event {
        Event {
            t_us: 7,
            node: Some(NodeRef::Redis(0)),
            mono_ms: Some(1),
            wall_ms: Some(2),
            kind,
        }
    }

    #[test]
    fn commands_replies_and_scripts_round_trip_and_read_well() {
        let src = "if redis.call(\"get\",KEYS[1]) == ARGV[1] then return redis.call(\"del\",KEYS[1]) else return 0 end";
        let mut odd = mk(["SET", "k"]);
        odd.push(vec![0xff, 0x00]);
        let replies = [
            Reply::ok(),
            Reply::error("ERR syntax error"),
            Reply::Int(-3),
            Reply::nil(),
            Reply::bulk("1700000000000"),
            Reply::Bulk(Some(vec![0xfe])),
            Reply::Array(None),
            Reply::Array(Some(vec![Reply::Int(1), Reply::nil(), Reply::bulk("x")])),
        ];
        let mut events = vec![ev(EventKind::CallInvoke {
            client: 0,
            node: 0,
            id: 1,
            cmd: mk(["EVAL", src, "1", "lock", "tok"]),
        })];
        for (i, r) in replies.iter().enumerate() {
            events.push(ev(EventKind::Command {
                node: 0,
                client: 1,
                cmd: if i == 0 {
                    odd.clone()
                } else {
                    mk(["EVAL", src, "1", "lock", "t"])
                },
                reply: r.clone(),
            }));
        }
        events.push(ev(EventKind::CallDone {
            client: 0,
            node: 0,
            id: 1,
            end: CallEnd::Ok {
                reply: Reply::Int(1),
            },
        }));
        let h = History { events };
        let text = h.to_jsonl();
        assert_eq!(
            text.matches("\"source\"").count(),
            1,
            "a script is written once:\n{text}"
        );
        assert!(
            text.lines().next().unwrap().starts_with("{\"script\":"),
            "{text}"
        );
        assert!(text.contains("\"reply\":\"+OK\""), "{text}");
        assert!(text.contains("\"reply\":\"$1700000000000\""), "{text}");
        assert!(text.contains("\"reply\":null"), "{text}");
        assert!(
            text.contains("[\"SET\",\"k\",{\"hex\":\"ff00\"}]"),
            "{text}"
        );
        assert_eq!(History::from_jsonl(&text).unwrap(), h);
    }

    #[test]
    fn a_script_reference_without_its_source_is_an_error() {
        let line = r#"{"t_us":1,"at":null,"mono_ms":null,"wall_ms":null,"type":"call-invoke","client":0,"node":0,"id":1,"cmd":["EVAL",{"script":"00000000"},"0"]}"#;
        let err = History::from_jsonl(line).unwrap_err();
        assert!(
            err.contains("line 1") && err.contains("no source line"),
            "{err}"
        );
    }
}
