//! Library profiles: the locks people run, at the version they run.
//!
//! A scenario's `[lock] library = "NAME@VERSION"` picks a [`Profile`]: the
//! algorithm the library implements, its defaults, and the behaviour of
//! that version. A profile is its first release's configuration plus a
//! list of [`Change`]s, each dated by the release that made it; VERSION
//! gets every change at or before it (the newest change wins where two
//! touch the same field). Any other `[lock]` key then overrides one field.
//!
//! Every profile is written from the library's own source at the releases
//! it names; each module cites the files and tags it was read from.
//!
//! ```
//! use locksim_models::library;
//! let r = library::resolve("redis-py@5.0.0").unwrap();
//! assert_eq!(r.profile.name, "redis-py");
//! assert_eq!(r.config.ttl_ms, 0, "redis-py's Lock has no TTL by default");
//! assert!(library::resolve("redis-py@0.1").is_err(), "before its first release");
//! assert!(library::resolve("no-such-lib@1.0").unwrap_err().hint.contains("redisson"));
//! ```

pub mod python;
pub mod redisson;
pub mod redlocks;
pub mod version;

use crate::config::LockConfig;
pub use version::Version;

/// One behaviour change of a library, dated by the release that made it.
#[derive(Debug)]
pub struct Change {
    /// The first release with the change.
    pub since: &'static str,
    /// What changed, in one line.
    pub what: &'static str,
    /// Where it was read: repository, file and tag.
    pub source: &'static str,
    /// Applies the change to the configuration of the releases before it.
    pub apply: fn(&mut LockConfig),
}

/// A library's lock, as locksim models it.
#[derive(Debug)]
pub struct Profile {
    /// The scenario-file name (`redisson`, `node-redlock`, ...).
    pub name: &'static str,
    /// What it is: library, class, language.
    pub about: &'static str,
    /// The repository the profile was read from.
    pub repo: &'static str,
    /// The first release the profile covers.
    pub first: &'static str,
    /// The version `locksim matrix --libraries` runs: what a package
    /// manager installs today.
    pub current: &'static str,
    /// The configuration at `first`, with its source.
    pub base: fn() -> LockConfig,
    /// Behaviour changes, oldest first.
    pub changes: &'static [Change],
}

impl Profile {
    /// The configuration of this library at `version`: the base plus every
    /// change at or before it.
    pub fn at(&self, version: &Version) -> LockConfig {
        let mut cfg = (self.base)();
        for c in self.changes {
            if Version::parse(c.since).expect("profile versions parse") <= *version {
                (c.apply)(&mut cfg);
            }
        }
        cfg.library = Some(format!("{}@{}", self.name, version));
        cfg
    }

    /// The changes in effect at `version`.
    pub fn changes_at(&self, version: &Version) -> Vec<&Change> {
        self.changes
            .iter()
            .filter(|c| Version::parse(c.since).expect("profile versions parse") <= *version)
            .collect()
    }
}

/// Every profile, in the order `locksim libraries` lists them.
pub fn all() -> Vec<&'static Profile> {
    vec![
        &redisson::REDISSON,
        &redisson::REDISSON_FENCED,
        &redisson::REDISSON_REDLOCK,
        &redlocks::REDSYNC,
        &redlocks::NODE_REDLOCK,
        &redlocks::REDLOCK_RB,
        &redlocks::REDLOCK_PY,
        &redlocks::POTTERY,
        &python::REDIS_PY,
        &python::PYTHON_REDIS_LOCK,
    ]
}

/// The profile called `name`.
pub fn find(name: &str) -> Option<&'static Profile> {
    all().into_iter().find(|p| p.name == name)
}

/// A `library = "NAME@VERSION"` that names no profile or no version of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryError {
    pub message: String,
    pub hint: String,
}

/// What `NAME@VERSION` resolves to.
#[derive(Debug)]
pub struct Resolved {
    pub profile: &'static Profile,
    pub version: Version,
    pub config: LockConfig,
}

/// Resolves `NAME@VERSION` to its profile and configuration.
pub fn resolve(spec: &str) -> Result<Resolved, LibraryError> {
    let names: Vec<&str> = all().iter().map(|p| p.name).collect();
    let known = format!("known libraries: {}", names.join(", "));
    let Some((name, ver)) = spec.split_once('@') else {
        return Err(LibraryError {
            message: format!("`library = {spec:?}` names no version"),
            hint: format!("write NAME@VERSION, e.g. \"redisson@3.27.0\"; {known}"),
        });
    };
    let Some(profile) = find(name) else {
        return Err(LibraryError {
            message: format!("unknown library {name:?}"),
            hint: known,
        });
    };
    let version = Version::parse(ver).map_err(|e| LibraryError {
        message: format!("bad version in `library = {spec:?}`: {e}"),
        hint: format!(
            "{} releases run from {} to {} (today's)",
            profile.name, profile.first, profile.current
        ),
    })?;
    let first = Version::parse(profile.first).expect("profile versions parse");
    if version < first {
        return Err(LibraryError {
            message: format!(
                "{} {} is before the first release this profile models, {}",
                profile.name, version, profile.first
            ),
            hint: format!(
                "use a version from {} on (today's is {})",
                profile.first, profile.current
            ),
        });
    }
    let config = profile.at(&version);
    Ok(Resolved {
        profile,
        version,
        config,
    })
}
