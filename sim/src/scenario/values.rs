//! Reading the values of a scenario file's tree: typed getters that report
//! a wrong type, a value out of range or an unknown key at its position,
//! with a hint.

use super::error::{suggest, Loc, ScenarioError};
use super::schema::{MAX_MS, SECTIONS};
use super::tree::{Entry, Node, Value};
use crate::model::Span;

/// The file being parsed: turns positions into errors.
pub(crate) struct Cx<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Cx<'_> {
    pub fn err(
        &self,
        loc: &Loc,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ScenarioError {
        let offset = loc.as_ref().map_or(0, |r| r.start);
        ScenarioError::at_offset(self.file, self.text, offset, message).with_hint(hint)
    }
}

/// A table of the file being read: its dotted path, where it starts, its
/// entries (already checked to be known keys).
pub(crate) struct Sect<'t> {
    /// "" (top level), "lock", "nemesis.pause", "faults[2]".
    pub path: String,
    pub loc: Loc,
    pub entries: &'t [Entry],
}

impl<'t> Sect<'t> {
    /// The name of `key` in messages: `lock.ttl_ms`.
    pub fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn get(&self, key: &str) -> Option<&'t Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// How the table is called in messages: "[lock]", "the top level".
    pub fn title(&self) -> String {
        if self.path.is_empty() {
            "the top level".to_string()
        } else if self.path.starts_with("faults[") {
            format!("[[faults]] entry {}", &self.path["faults".len()..])
        } else {
            format!("`{}`", self.path)
        }
    }
}

/// Where a value is, or its key when the value has no position.
pub(crate) fn loc_of(e: &Entry) -> Loc {
    e.node.loc.clone().or_else(|| e.key_loc.clone())
}

/// `node` as a table whose keys are all in `allowed`.
pub(crate) fn section<'t>(
    cx: &Cx,
    path: &str,
    at: &Loc,
    node: &'t Node,
    allowed: &[&str],
) -> Result<Sect<'t>, ScenarioError> {
    let Value::Table(entries) = &node.value else {
        return Err(cx.err(
            &node.loc.clone().or_else(|| at.clone()),
            format!("`{path}` must be a table, found {}", node.value.type_name()),
            format!("write it as a [{path}] section, or an inline table {{ ... }}"),
        ));
    };
    let sect = Sect {
        path: path.to_string(),
        loc: node.loc.clone().or_else(|| at.clone()),
        entries,
    };
    for e in entries {
        if !allowed.contains(&e.key.as_str()) {
            return Err(unknown_key(cx, &sect, e, allowed));
        }
    }
    Ok(sect)
}

pub(crate) fn unknown_key(cx: &Cx, sect: &Sect, e: &Entry, allowed: &[&str]) -> ScenarioError {
    let msg = if sect.path.is_empty() {
        format!("unknown top-level key `{}`", e.key)
    } else if sect.path.starts_with("faults[") {
        format!("unknown key `{}` in a [[faults]] entry", e.key)
    } else if sect.path.contains('.') {
        format!("unknown key `{}` in `{}`", e.key, sect.path)
    } else {
        format!("unknown key `{}` in [{}]", e.key, sect.path)
    };
    let section_of = |p: &str| p.split(['.', '[']).next().unwrap_or("").to_string();
    let here = section_of(&sect.path);
    let elsewhere = SECTIONS
        .iter()
        .find(|(s, keys)| *s != here && keys.contains(&e.key.as_str()));
    let hint = match elsewhere {
        Some(("", _)) => format!(
            "`{}` is a top-level key: move it above the first [section] header (keys after a header belong to that section)",
            e.key
        ),
        Some(("faults", _)) => format!("`{}` belongs in a [[faults]] entry", e.key),
        Some((s, _)) => format!("`{}` belongs in [{s}]", e.key),
        None => suggest(&e.key, "keys", allowed),
    };
    cx.err(&e.key_loc.clone().or_else(|| loc_of(e)), msg, hint)
}

// ---------------------------------------------------------------- values

/// "a positive integer", "an integer from 1 to 16": for hints.
fn describe_uint(min: u64, max: u64) -> String {
    match (min, max) {
        (0, MAX_MS) | (0, u64::MAX) => "a non-negative integer".to_string(),
        (1, MAX_MS) | (1, u64::MAX) => "a positive integer".to_string(),
        (lo, hi) if hi == MAX_MS || hi == u64::MAX => format!("an integer >= {lo}"),
        (lo, hi) => format!("an integer from {lo} to {hi}"),
    }
}

fn type_error(cx: &Cx, s: &Sect, e: &Entry, expected: &str) -> ScenarioError {
    let name = s.name(&e.key);
    let msg = format!(
        "`{name}` must be {expected}, found {}",
        e.node.value.type_name()
    );
    let hint = match &e.node.value {
        Value::Str(v)
            if !v.is_empty() && (v.parse::<f64>().is_ok() || v == "true" || v == "false") =>
        {
            format!("remove the quotes: {} = {v}", e.key)
        }
        Value::Float(v) if expected.contains("integer") => {
            format!(
                "write a whole number, e.g. {} = {}",
                e.key,
                v.trunc().max(0.0) as i64
            )
        }
        _ => format!("`{name}` takes {expected}"),
    };
    cx.err(&loc_of(e), msg, hint)
}

pub(crate) fn int(cx: &Cx, s: &Sect, e: &Entry) -> Result<i64, ScenarioError> {
    match e.node.value {
        Value::Int(v) => Ok(v),
        _ => Err(type_error(cx, s, e, "an integer")),
    }
}

/// An integer in `min..=max`.
pub(crate) fn uint(cx: &Cx, s: &Sect, e: &Entry, min: u64, max: u64) -> Result<u64, ScenarioError> {
    let what = describe_uint(min, max);
    let Value::Int(v) = e.node.value else {
        return Err(type_error(cx, s, e, &what));
    };
    let name = s.name(&e.key);
    let hint = format!("`{name}` takes {what}");
    if v < 0 {
        return Err(cx.err(
            &loc_of(e),
            format!("`{name}` must not be negative, found {v}"),
            hint,
        ));
    }
    let u = v as u64;
    if u < min {
        let msg = if min == 1 {
            format!("`{name}` must be greater than 0, found {u}")
        } else {
            format!("`{name}` must be at least {min}, found {u}")
        };
        return Err(cx.err(&loc_of(e), msg, hint));
    }
    if u > max {
        return Err(cx.err(
            &loc_of(e),
            format!("`{name}` must be at most {max}, found {u}"),
            hint,
        ));
    }
    Ok(u)
}

/// A finite number (an integer is accepted for a float).
pub(crate) fn float(cx: &Cx, s: &Sect, e: &Entry) -> Result<f64, ScenarioError> {
    let v = match e.node.value {
        Value::Float(v) => v,
        Value::Int(v) => v as f64,
        _ => return Err(type_error(cx, s, e, "a number")),
    };
    if !v.is_finite() {
        let name = s.name(&e.key);
        return Err(cx.err(
            &loc_of(e),
            format!("`{name}` must be a finite number, found {v}"),
            format!("`{name}` takes a number"),
        ));
    }
    Ok(v)
}

pub(crate) fn boolean(cx: &Cx, s: &Sect, e: &Entry) -> Result<bool, ScenarioError> {
    match e.node.value {
        Value::Bool(v) => Ok(v),
        _ => Err(type_error(cx, s, e, "a boolean (true or false)")),
    }
}

pub(crate) fn string<'t>(cx: &Cx, s: &Sect, e: &'t Entry) -> Result<&'t str, ScenarioError> {
    match &e.node.value {
        Value::Str(v) => Ok(v),
        _ => Err(type_error(cx, s, e, "a string")),
    }
}

/// One of `options`, by name.
pub(crate) fn choice<T: Copy>(
    cx: &Cx,
    s: &Sect,
    e: &Entry,
    what: &str,
    options: &[(&str, T)],
) -> Result<T, ScenarioError> {
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let Value::Str(v) = &e.node.value else {
        return Err(type_error(
            cx,
            s,
            e,
            &format!("a string, one of: {}", names.join(", ")),
        ));
    };
    match options.iter().find(|(n, _)| n == v) {
        Some((_, t)) => Ok(*t),
        None => Err(cx.err(
            &loc_of(e),
            format!("unknown {what} `{v}` for `{}`", s.name(&e.key)),
            suggest(v, &format!("{what}s"), &names),
        )),
    }
}

/// `[lo, hi]` of integers in `min..=max`.
pub(crate) fn range(
    cx: &Cx,
    s: &Sect,
    e: &Entry,
    min: i64,
    max: i64,
) -> Result<(i64, i64), ScenarioError> {
    let name = s.name(&e.key);
    let what = if min == 0 {
        "non-negative integers"
    } else {
        "integers"
    };
    let hint = format!(
        "`{name}` takes a range [lo, hi] of two {what} with lo <= hi, e.g. {} = [1, 5]",
        e.key
    );
    let Value::Array(items) = &e.node.value else {
        return Err(cx.err(
            &loc_of(e),
            format!(
                "`{name}` must be a range [lo, hi], found {}",
                e.node.value.type_name()
            ),
            hint,
        ));
    };
    if items.len() != 2 {
        return Err(cx.err(
            &loc_of(e),
            format!(
                "`{name}` must be a range of exactly 2 elements [lo, hi], found {}",
                items.len()
            ),
            hint,
        ));
    }
    let mut bounds = [0i64; 2];
    for (b, item) in bounds.iter_mut().zip(items) {
        let at = item.loc.clone().or_else(|| loc_of(e));
        let Value::Int(v) = item.value else {
            return Err(cx.err(
                &at,
                format!(
                    "`{name}` must hold integers, found {}",
                    item.value.type_name()
                ),
                hint,
            ));
        };
        if v < min {
            let msg = if min == 0 {
                format!("`{name}` must not be negative, found {v}")
            } else {
                format!("`{name}` must be at least {min}, found {v}")
            };
            return Err(cx.err(&at, msg, hint));
        }
        if v > max {
            return Err(cx.err(
                &at,
                format!("`{name}` must be at most {max}, found {v}"),
                hint,
            ));
        }
        *b = v;
    }
    if bounds[0] > bounds[1] {
        return Err(cx.err(
            &loc_of(e),
            format!(
                "`{name}` is an empty range [{}, {}]: lo > hi",
                bounds[0], bounds[1]
            ),
            format!(
                "write the smaller bound first: {} = [{}, {}]",
                e.key, bounds[1], bounds[0]
            ),
        ));
    }
    Ok((bounds[0], bounds[1]))
}

pub(crate) fn range_u64(cx: &Cx, s: &Sect, e: &Entry) -> Result<Span<u64>, ScenarioError> {
    let (lo, hi) = range(cx, s, e, 0, MAX_MS as i64)?;
    Ok(Span::new(lo as u64, hi as u64))
}

/// A non-empty string.
pub(crate) fn nonempty(cx: &Cx, s: &Sect, e: &Entry) -> Result<String, ScenarioError> {
    let v = string(cx, s, e)?;
    if v.is_empty() {
        let name = s.name(&e.key);
        return Err(cx.err(
            &loc_of(e),
            format!("`{name}` must not be empty"),
            format!("remove `{}` to use the default, or give it a value", e.key),
        ));
    }
    Ok(v.to_string())
}

pub(crate) fn missing(cx: &Cx, s: &Sect, key: &str, hint: impl Into<String>) -> ScenarioError {
    cx.err(
        &s.loc,
        format!("missing required key `{}` in {}", s.name(key), s.title()),
        hint,
    )
}
