//! Locks and environments behind `dyn`, for lock code that is not one of
//! the built-in algorithms: your own [`LockAlgorithm`], chosen at run time.
//!
//! [`LockAlgorithm`] and [`Env`] are generic (`acquire<E: Env>`), so that the
//! built-in algorithms compile to direct calls in the simulator's hot loop.
//! That makes them impossible to store as trait objects. This module adds
//! the two object-safe mirrors a harness needs to hold "some lock":
//!
//! - [`DynEnv`] / [`BoxEnv`]: any [`Env`] behind an `Rc<dyn DynEnv>`;
//!   [`BoxEnv`] itself implements [`Env`], so a generic algorithm runs on
//!   it unchanged;
//! - [`DynLock`] / [`BoxLock`]: any [`LockAlgorithm`] behind a `Box`, with
//!   its futures boxed; [`BoxLock`] itself implements [`LockAlgorithm`]
//!   for every environment (it wraps the environment in a [`BoxEnv`]).
//!
//! Both are blanket-implemented: a type implementing [`LockAlgorithm`] is
//! a [`DynLock`] with no extra code.
//!
//! ```
//! use locksim_models::dynlock::BoxLock;
//! use locksim_models::{scripted::ScriptedEnv, Algorithm, AnyLock, LockAlgorithm, LockConfig, Reply};
//! let mut lock: BoxLock = Box::new(AnyLock::new(LockConfig::defaults(Algorithm::SetNxPx)).unwrap());
//! let env = ScriptedEnv::new(1, 7, |_node, _argv, _now| Ok(Reply::ok()));
//! let lease = env.block_on(lock.acquire(&env)).unwrap();
//! assert_eq!(lease.nodes, vec![0]);
//! ```

use crate::env::{CallError, Env, LocalTask, Note, TaskHandle};
use crate::lease::{AcquireError, Grant, Lease, ReleaseOutcome};
use crate::lock::LockAlgorithm;
use crate::protocol::{Argv, Reply};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// A boxed future that borrows for `'a` and stays on its thread.
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// [`Env`] in object-safe form: every future boxed, the task handle boxed.
/// Implemented for every [`Env`]; use it through [`BoxEnv`].
pub trait DynEnv {
    fn dyn_nodes(&self) -> usize;
    fn dyn_request<'a>(
        &'a self,
        node: usize,
        argv: Argv,
        timeout_ms: u64,
        grant: Option<Grant>,
    ) -> LocalBoxFuture<'a, Result<Reply, CallError>>;
    fn dyn_mono_ms(&self) -> u64;
    fn dyn_wall_ms(&self) -> i64;
    fn dyn_sleep<'a>(&'a self, ms: u64) -> LocalBoxFuture<'a, ()>;
    fn dyn_random_u64(&self) -> u64;
    fn dyn_spawn(&self, task: LocalTask) -> Box<dyn TaskHandle>;
    fn dyn_note(&self, note: Note);
}

impl<E: Env> DynEnv for E {
    fn dyn_nodes(&self) -> usize {
        self.nodes()
    }

    fn dyn_request<'a>(
        &'a self,
        node: usize,
        argv: Argv,
        timeout_ms: u64,
        grant: Option<Grant>,
    ) -> LocalBoxFuture<'a, Result<Reply, CallError>> {
        Box::pin(self.request(node, argv, timeout_ms, grant))
    }

    fn dyn_mono_ms(&self) -> u64 {
        self.mono_ms()
    }

    fn dyn_wall_ms(&self) -> i64 {
        self.wall_ms()
    }

    fn dyn_sleep<'a>(&'a self, ms: u64) -> LocalBoxFuture<'a, ()> {
        Box::pin(self.sleep(ms))
    }

    fn dyn_random_u64(&self) -> u64 {
        self.random_u64()
    }

    fn dyn_spawn(&self, task: LocalTask) -> Box<dyn TaskHandle> {
        Box::new(self.spawn(task))
    }

    fn dyn_note(&self, note: Note) {
        self.note(note)
    }
}

impl TaskHandle for Box<dyn TaskHandle> {
    fn abort(&self) {
        (**self).abort()
    }
}

/// Any [`Env`], type-erased. Cheap to clone (an `Rc`).
#[derive(Clone)]
pub struct BoxEnv(Rc<dyn DynEnv>);

impl BoxEnv {
    /// Wraps `env`.
    pub fn new<E: Env>(env: E) -> BoxEnv {
        BoxEnv(Rc::new(env))
    }
}

impl Env for BoxEnv {
    type Task = Box<dyn TaskHandle>;

    fn nodes(&self) -> usize {
        self.0.dyn_nodes()
    }

    fn request(
        &self,
        node: usize,
        argv: Argv,
        timeout_ms: u64,
        grant: Option<Grant>,
    ) -> impl Future<Output = Result<Reply, CallError>> {
        self.0.dyn_request(node, argv, timeout_ms, grant)
    }

    fn mono_ms(&self) -> u64 {
        self.0.dyn_mono_ms()
    }

    fn wall_ms(&self) -> i64 {
        self.0.dyn_wall_ms()
    }

    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        self.0.dyn_sleep(ms)
    }

    fn random_u64(&self) -> u64 {
        self.0.dyn_random_u64()
    }

    fn spawn(&self, task: LocalTask) -> Box<dyn TaskHandle> {
        self.0.dyn_spawn(task)
    }

    fn note(&self, note: Note) {
        self.0.dyn_note(note)
    }
}

/// [`LockAlgorithm`] in object-safe form, on a [`BoxEnv`]. Implemented for
/// every [`LockAlgorithm`]; use it through [`BoxLock`].
pub trait DynLock {
    fn dyn_acquire<'a>(
        &'a mut self,
        env: &'a BoxEnv,
    ) -> LocalBoxFuture<'a, Result<Lease, AcquireError>>;
    fn dyn_release<'a>(
        &'a mut self,
        env: &'a BoxEnv,
        lease: &'a Lease,
    ) -> LocalBoxFuture<'a, ReleaseOutcome>;
}

impl<L: LockAlgorithm> DynLock for L {
    fn dyn_acquire<'a>(
        &'a mut self,
        env: &'a BoxEnv,
    ) -> LocalBoxFuture<'a, Result<Lease, AcquireError>> {
        Box::pin(self.acquire(env))
    }

    fn dyn_release<'a>(
        &'a mut self,
        env: &'a BoxEnv,
        lease: &'a Lease,
    ) -> LocalBoxFuture<'a, ReleaseOutcome> {
        Box::pin(self.release(env, lease))
    }
}

/// Any lock algorithm, type-erased.
pub type BoxLock = Box<dyn DynLock>;

impl LockAlgorithm for BoxLock {
    async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
        let env = BoxEnv::new(env.clone());
        (**self).dyn_acquire(&env).await
    }

    async fn release<E: Env>(&mut self, env: &E, lease: &Lease) -> ReleaseOutcome {
        let env = BoxEnv::new(env.clone());
        (**self).dyn_release(&env, lease).await
    }
}
