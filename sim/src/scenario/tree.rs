//! A TOML document as a tree that remembers where every key and value is.
//!
//! `toml` 0.8 only hands out positions through `toml::Spanned`. Every node
//! here asks for one the way `Spanned` does (same struct name and fields),
//! and also accepts a plain value, because implicit tables (`[a.b]` without
//! `[a]`) and arrays of tables have no position of their own. Reading the
//! document can then only fail on TOML syntax; every other check happens on
//! this tree, with exact positions.

use super::error::Loc;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// The struct name and fields `toml::Spanned` deserializes through
/// (`serde_spanned`'s protocol; checked by a test below).
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";
static SPANNED_FIELDS: [&str; 3] = [SPANNED_START, SPANNED_END, SPANNED_VALUE];
/// The single key a TOML date-time arrives as (`toml_datetime`'s protocol).
const DATETIME_PREFIX: &str = "$__toml_private_";

/// A value and where it is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub loc: Loc,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

/// One `key = value` of a table, in file order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_loc: Loc,
    pub node: Node,
}

impl Value {
    /// "a string", "an integer", ...: for "expected X, found Y".
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// Parses `text` into a tree. The error is `toml`'s syntax error.
pub(crate) fn parse_tree(text: &str) -> Result<Node, toml::de::Error> {
    toml::from_str::<Node>(text)
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_struct(SPANNED_NAME, &SPANNED_FIELDS, NodeVisitor { spanned: true })
    }
}

/// Deserializes a value that is not wrapped in a span (the inside of one).
struct Plain;

impl<'de> DeserializeSeed<'de> for Plain {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor { spanned: false })
    }
}

struct NodeVisitor {
    /// Whether a map may be `Spanned`'s (start, end, value).
    spanned: bool,
}

fn plain(value: Value) -> Node {
    Node { loc: None, value }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(plain(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(plain(Value::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        match i64::try_from(v) {
            Ok(v) => Ok(plain(Value::Int(v))),
            Err(_) => Ok(plain(Value::Float(v as f64))),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(plain(Value::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(plain(Value::Str(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(plain(Value::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(plain(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let Some(first) = map.next_key_seed(KeySeed)? else {
            return Ok(plain(Value::Table(Vec::new())));
        };
        if self.spanned && first.key == SPANNED_START {
            let mut start: Option<usize> = Some(map.next_value()?);
            let mut end: Option<usize> = None;
            let mut value: Option<Node> = None;
            while let Some(k) = map.next_key_seed(KeySeed)? {
                match k.key.as_str() {
                    SPANNED_START => start = Some(map.next_value()?),
                    SPANNED_END => end = Some(map.next_value()?),
                    SPANNED_VALUE => value = Some(map.next_value_seed(Plain)?),
                    _ => map.next_value::<de::IgnoredAny>().map(drop)?,
                }
            }
            let mut node = value.ok_or_else(|| de::Error::missing_field(SPANNED_VALUE))?;
            if let (Some(s), Some(e)) = (start, end) {
                node.loc = Some(s..e.max(s));
            }
            return Ok(node);
        }
        if first.key.starts_with(DATETIME_PREFIX) {
            let s: String = map.next_value()?;
            while map.next_key::<de::IgnoredAny>()?.is_some() {
                map.next_value::<de::IgnoredAny>()?;
            }
            return Ok(plain(Value::Datetime(s)));
        }
        let mut entries = Vec::new();
        let mut key = Some(first);
        while let Some(k) = key {
            let node: Node = map.next_value()?;
            entries.push(Entry {
                key: k.key,
                key_loc: k.loc,
                node,
            });
            key = map.next_key_seed(KeySeed)?;
        }
        Ok(plain(Value::Table(entries)))
    }
}

/// A table key and where it is.
struct Key {
    key: String,
    loc: Loc,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_struct(SPANNED_NAME, &SPANNED_FIELDS, KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key {
            key: v.to_string(),
            loc: None,
        })
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
        Ok(Key { key: v, loc: None })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let (mut start, mut end, mut key) = (None::<usize>, None::<usize>, None::<String>);
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                SPANNED_START => start = Some(map.next_value()?),
                SPANNED_END => end = Some(map.next_value()?),
                SPANNED_VALUE => key = Some(map.next_value()?),
                _ => map.next_value::<de::IgnoredAny>().map(drop)?,
            }
        }
        let key = key.ok_or_else(|| de::Error::missing_field(SPANNED_VALUE))?;
        let loc = match (start, end) {
            (Some(s), Some(e)) => Some(s..e.max(s)),
            _ => None,
        };
        Ok(Key { key, loc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what `toml::Spanned` asks a deserializer for.
    struct Probe<'a>(&'a mut Option<(&'static str, &'static [&'static str])>);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("probe"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = Some((name, fields));
            Err(de::Error::custom("probe"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    #[test]
    fn spanned_protocol_matches_toml() {
        let mut seen = None;
        let _ = toml::Spanned::<i64>::deserialize(Probe(&mut seen));
        let (name, fields) = seen.expect("Spanned deserializes through a struct");
        assert_eq!(name, SPANNED_NAME);
        assert_eq!(fields, &SPANNED_FIELDS[..]);
    }

    #[test]
    fn positions_everywhere() {
        let text =
            "a = 1\n[t]\nb = [1, 'x']\n[u.v]\nc = 2\n[[f]]\nd = { e = 1.5 }\nw = 1979-05-27\n";
        let root = parse_tree(text).unwrap();
        let Value::Table(top) = &root.value else {
            panic!()
        };
        let keys: Vec<&str> = top.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "t", "u", "f"]);
        assert_eq!(&text[top[0].key_loc.clone().unwrap()], "a");
        assert_eq!(&text[top[0].node.loc.clone().unwrap()], "1");
        let Value::Table(t) = &top[1].node.value else {
            panic!()
        };
        assert_eq!(&text[t[0].node.loc.clone().unwrap()], "[1, 'x']");
        let Value::Array(items) = &t[0].node.value else {
            panic!()
        };
        assert_eq!(&text[items[1].loc.clone().unwrap()], "'x'");
        let Value::Table(u) = &top[2].node.value else {
            panic!()
        };
        let Value::Table(v) = &u[0].node.value else {
            panic!()
        };
        assert_eq!(&text[v[0].node.loc.clone().unwrap()], "2");
        let Value::Array(f) = &top[3].node.value else {
            panic!()
        };
        assert!(f[0].loc.is_some());
        let Value::Table(f0) = &f[0].value else {
            panic!()
        };
        let Value::Table(d) = &f0[0].node.value else {
            panic!()
        };
        assert_eq!(d[0].node.value, Value::Float(1.5));
        assert!(matches!(f0[1].node.value, Value::Datetime(_)));
    }
}
