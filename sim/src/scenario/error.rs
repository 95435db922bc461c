//! The one error type of scenario files: a position (file, 1-based line and
//! column), a message and an optional hint, printed the way compilers do:
//!
//! ```text
//! scenarios/x.toml:12:1: error: unknown key `ttl` in [lock]
//!   hint: did you mean `ttl_ms`? valid keys: algorithm, key, ...
//! ```

use std::fmt;
use std::ops::Range;

/// A scenario file that cannot be read, parsed or validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file as the user named it (or `<input>` for text).
    pub file: String,
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// 1-based column (in characters) of the offending key or value.
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl ScenarioError {
    /// An error at `line:col` (1-based).
    pub fn new(file: &str, line: usize, col: usize, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: file.to_string(),
            line: line.max(1),
            col: col.max(1),
            message: message.into(),
            hint: None,
        }
    }

    /// An error at byte offset `offset` of `text`.
    pub fn at_offset(
        file: &str,
        text: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, col) = line_col(text, offset);
        ScenarioError::new(file, line, col, message)
    }

    /// Adds (or replaces) the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> ScenarioError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.col, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// 1-based line and column (in characters) of byte `offset` in `text`.
/// Offsets past the end, or inside a UTF-8 sequence, are clamped.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Where something is in the file: a byte range, or nowhere (1:1).
pub(crate) type Loc = Option<Range<usize>>;

/// The closest of `candidates` to `word` when it looks like a typo of it:
/// same words with `-`/`_` swapped or different case, a small edit distance,
/// or a prefix (`ttl` for `ttl_ms`).
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let w = norm(word);
    if w.is_empty() {
        return None;
    }
    // Best: smallest distance, then longest common prefix ("set-nx" is
    // closer to "set-nx-px" than to "setnx").
    let common = |c: &str| w.chars().zip(c.chars()).take_while(|(a, b)| a == b).count();
    let mut best: Option<(usize, usize, &'a str)> = None;
    for &c in candidates {
        let cn = norm(c);
        let d = if cn == w {
            0
        } else if w.len() >= 3 && (cn.starts_with(&w) || w.starts_with(&cn)) {
            1
        } else {
            let d = edit_distance(&w, &cn);
            let limit = 1 + w.chars().count().max(cn.chars().count()) / 4;
            if d > limit {
                continue;
            }
            d
        };
        let p = common(&cn);
        if best.is_none_or(|(bd, bp, _)| d < bd || (d == bd && p > bp)) {
            best = Some((d, p, c));
        }
    }
    best.map(|(_, _, c)| c)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// "did you mean `x`? valid ...: a, b, c" (or just the list).
pub(crate) fn suggest(word: &str, what: &str, candidates: &[&str]) -> String {
    let list = candidates.join(", ");
    match closest(word, candidates) {
        Some(c) => format!("did you mean `{c}`? valid {what}: {list}"),
        None => format!("valid {what}: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let t = "ab\nc\u{e9}d\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 2), (1, 3));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 6), (2, 3)); // after the two-byte char
        assert_eq!(line_col(t, 5), (2, 2)); // inside it: clamped
        assert_eq!(line_col(t, 999), (3, 1));
    }

    #[test]
    fn typos() {
        let keys = [
            "ttl_ms",
            "retry_count",
            "retry_delay_ms",
            "key",
            "fence_key",
        ];
        assert_eq!(closest("ttl", &keys), Some("ttl_ms"));
        assert_eq!(closest("ttl-ms", &keys), Some("ttl_ms"));
        assert_eq!(closest("retry_cont", &keys), Some("retry_count"));
        assert_eq!(closest("retry_delay", &keys), Some("retry_delay_ms"));
        assert_eq!(closest("zzzzzz", &keys), None);
        assert_eq!(
            closest("set-nx", &["setnx", "set-nx-px"]),
            Some("set-nx-px")
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
