//! Your own lock algorithm in a run: a [`CustomLock`] is a name plus the
//! code that builds one lock per client from the scenario's `[lock]`
//! table (a [`LockConfig`]).
//!
//! A scenario carries it in
//! [`Scenario::custom_lock`](crate::model::Scenario::custom_lock): every
//! client of a run then runs that code instead of the built-in algorithm,
//! and so does everything that runs the scenario (a hunt and its shrinker,
//! a check, its suggested mitigations).
//! `[lock] algorithm` still sets the defaults and the checks of the other
//! `[lock]` keys; the custom code reads whichever of them it wants.
//!
//! In a file, `[lock] custom = "NAME"` names a lock [`register`]ed in this
//! process: the lock is Rust code, so only a program that registers it can
//! load such a file (the `locksim` binary registers none, and says so at
//! the key).
//! [`Scenario::with_custom_lock`](crate::model::Scenario::with_custom_lock)
//! attaches a lock in code and
//! registers it, so that files written from that scenario (a hunt's
//! `minimal.toml`) load again in the same process.
//!
//! Determinism holds as long as the lock draws randomness and time only
//! from its [`Env`](locksim_models::Env), as the built-in algorithms do.

use locksim_models::dynlock::BoxLock;
use locksim_models::{LockAlgorithm, LockConfig};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

/// Builds one client's lock from the scenario's `[lock]` table.
pub type LockFactory = dyn Fn(&LockConfig) -> Result<BoxLock, String> + Send + Sync;

/// A lock algorithm that is not built in: a name and a factory.
#[derive(Clone)]
pub struct CustomLock {
    name: String,
    factory: Arc<LockFactory>,
}

impl CustomLock {
    /// A lock named `name` (lowercase letters, digits, `-` and `_`), built
    /// for each client by `make` from the scenario's `[lock]` table.
    ///
    /// Panics on a name outside `[a-z0-9_-]+`: names are written into
    /// scenario files.
    pub fn new<L, F>(name: &str, make: F) -> CustomLock
    where
        L: LockAlgorithm + 'static,
        F: Fn(&LockConfig) -> L + Send + Sync + 'static,
    {
        CustomLock::try_new(name, move |cfg| Ok(make(cfg)))
    }

    /// As [`CustomLock::new`], for a factory that can refuse a
    /// configuration (the message is reported at `[lock]` when a file is
    /// loaded, and by [`CustomLock::build`]).
    pub fn try_new<L, F>(name: &str, make: F) -> CustomLock
    where
        L: LockAlgorithm + 'static,
        F: Fn(&LockConfig) -> Result<L, String> + Send + Sync + 'static,
    {
        if let Err(why) = check_name(name) {
            panic!("CustomLock::new: {why}");
        }
        CustomLock {
            name: name.to_string(),
            factory: Arc::new(move |cfg| make(cfg).map(|l| Box::new(l) as BoxLock)),
        }
    }

    /// The name a scenario file gives it (`[lock] custom = "NAME"`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One client's lock, or why `cfg` cannot be honoured.
    pub fn build(&self, cfg: &LockConfig) -> Result<BoxLock, String> {
        (self.factory)(cfg)
    }
}

/// Custom locks are equal when their names are (the code cannot be compared).
impl PartialEq for CustomLock {
    fn eq(&self, other: &CustomLock) -> bool {
        self.name == other.name
    }
}

impl fmt::Debug for CustomLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomLock({:?})", self.name)
    }
}

/// Whether `name` can name a custom lock: `[a-z0-9_-]+`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if name.is_empty() || !name.chars().all(ok) {
        return Err(format!(
            "invalid custom lock name {name:?}: must match [a-z0-9_-]+"
        ));
    }
    Ok(())
}

static REGISTRY: RwLock<BTreeMap<String, CustomLock>> = RwLock::new(BTreeMap::new());

/// Makes `lock` known to this process under its name, so that scenario
/// files saying `[lock] custom = "NAME"` load. A lock registered under the
/// same name before is replaced.
pub fn register(lock: CustomLock) {
    let mut r = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    r.insert(lock.name.clone(), lock);
}

/// The lock registered as `name`, if any.
pub fn registered(name: &str) -> Option<CustomLock> {
    let r = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    r.get(name).cloned()
}

/// The names registered in this process, sorted.
pub fn registered_names() -> Vec<String> {
    let r = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    r.keys().cloned().collect()
}
