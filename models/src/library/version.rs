//! Library version strings, compared the way their release tags sort.
//!
//! A version is dot-separated numbers, optionally prefixed with `v` and
//! optionally followed by a pre-release (`5.0.0-beta.2`) or build suffix.
//! Missing numbers are zero (`3.12` = `3.12.0`). A pre-release sorts before
//! its release (`5.0.0-beta.2 < 5.0.0`), and pre-releases compare by their
//! dot-separated identifiers, numbers numerically (SemVer 2.0 §11). Build
//! metadata (`+...`) is ignored.

use std::cmp::Ordering;
use std::fmt;

/// A parsed version string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// As written (without a leading `v`).
    text: String,
    numbers: Vec<u64>,
    pre: Vec<Ident>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ident {
    // Numeric identifiers sort before alphanumeric ones (SemVer 2.0).
    Num(u64),
    Alpha(String),
}

impl Version {
    /// Parses `3.27.0`, `v4.2`, `5.0.0-beta.2`. Refuses anything else with
    /// a reason.
    pub fn parse(text: &str) -> Result<Version, String> {
        let t = text.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let t = t.split('+').next().unwrap_or_default();
        let (core, pre) = match t.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (t, None),
        };
        if core.is_empty() {
            return Err(format!("{text:?} is not a version (expected e.g. 3.27.0)"));
        }
        let numbers = core
            .split('.')
            .map(|n| {
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "{text:?} is not a version: {n:?} is not a number (expected e.g. 3.27.0)"
                    ));
                }
                n.parse::<u64>()
                    .map_err(|_| format!("{text:?} is not a version: {n:?} is too large"))
            })
            .collect::<Result<Vec<u64>, String>>()?;
        let pre = match pre {
            None => Vec::new(),
            Some("") => return Err(format!("{text:?} is not a version: empty pre-release")),
            Some(p) => p
                .split('.')
                .map(|id| match id.parse::<u64>() {
                    Ok(n) if id.bytes().all(|b| b.is_ascii_digit()) => Ident::Num(n),
                    _ => Ident::Alpha(id.to_string()),
                })
                .collect(),
        };
        Ok(Version {
            text: t.to_string(),
            numbers,
            pre,
        })
    }

    /// The version as written, without a leading `v`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for a pre-release (`5.0.0-beta.2`).
    pub fn is_pre_release(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.numbers.len().max(other.numbers.len());
        for i in 0..len {
            let a = self.numbers.get(i).copied().unwrap_or(0);
            let b = other.numbers.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => self.pre.cmp(&other.pre),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn releases_sort_numerically() {
        assert!(v("3.12.5") > v("3.12.4"));
        assert!(v("3.12.5") < v("3.13"));
        assert!(v("3.9.0") < v("3.10.0"), "not as strings");
        assert_eq!(v("3.12").cmp(&v("3.12.0")), Ordering::Equal);
        assert_eq!(v("v4.2.0"), v("4.2.0"));
    }

    #[test]
    fn pre_releases_come_before_their_release() {
        assert!(v("5.0.0-beta.2") < v("5.0.0"));
        assert!(v("5.0.0-beta.2") > v("5.0.0-beta.1"));
        assert!(v("5.0.0-alpha.9") < v("5.0.0-beta.1"));
        assert!(v("5.0.0-beta.10") > v("5.0.0-beta.2"), "numerically");
        assert!(v("5.0.0-beta.2") > v("4.2.0"));
        assert!(v("5.0.0-beta.2").is_pre_release());
        assert_eq!(v("1.2.3+build.7"), v("1.2.3"));
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        for bad in ["", "latest", "3..1", "3.x", "-beta", "1.0-"] {
            let e = Version::parse(bad).unwrap_err();
            assert!(e.contains("not a version"), "{bad}: {e}");
        }
    }
}
