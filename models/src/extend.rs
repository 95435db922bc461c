//! Lease extension by the holder, as the libraries do it.
//!
//! Redisson's watchdog has its own loop (the `watchdog` module). The other
//! libraries extend in one of two ways, and both are the same loop here:
//!
//! - **periodically, in the background**: node-redlock's `using` (it
//!   extends when the lease is `automaticExtensionThreshold` from its end),
//!   python-redis-lock's `auto_renewal` thread (every `2/3` of the expiry);
//! - **on demand, from the routine**: redsync's `Extend`, pottery's
//!   `extend` (capped at `num_extensions`), redis-py's `extend`. A routine
//!   that extends every so often while it works is the same schedule.
//!
//! Every `extend_every_ms` (of the holder's monotonic clock) the loop runs
//! the algorithm's extension once ([`Extension::once`]). After
//! `max_extensions` successful ones (pottery's cap) it stops, as
//! `TooManyExtensions` stops the routine's extending. When an extension
//! fails, `on_extend_fail` decides, by the library's rule:
//!
//! - `stop`: stop extending and tell nobody (python-redis-lock: the renewal
//!   thread dies on any exception);
//! - `retry`: try again at the next period;
//! - `abort`: retry at once while the lease is still valid, then raise the
//!   abort signal ([`Note::Aborted`]) and stop (node-redlock `using`). The
//!   routine stops only if it checks the signal (`checks_abort`);
//! - `unlock`: unlock everywhere and stop (redlock-rb's failed extension,
//!   node-redlock v4's `extend`).
//!
//! The holder is never told otherwise: its deadline stays where the last
//! successful extension put it.

use crate::config::{LockConfig, OnExtendFail};
use crate::env::{Env, Note};
use crate::lease::Deadline;
use std::future::Future;

/// One algorithm's way to extend the lease it holds.
pub trait Extension<E: Env>: 'static {
    /// Extends once; the new deadline (already noted as
    /// [`Note::Extended`]), or `None` when it failed.
    fn once(&mut self, env: &E) -> impl Future<Output = Option<Deadline>>;
    /// Deletes the lock everywhere (for `on_extend_fail = "unlock"`).
    fn unlock(&mut self, env: &E) -> impl Future<Output = ()>;
}

/// Whether `deadline` has passed on the env's clocks.
pub fn passed<E: Env>(env: &E, deadline: Deadline) -> bool {
    match deadline {
        Deadline::Mono(d) => env.mono_ms() >= d,
        Deadline::Wall(d) => env.wall_ms() >= d,
    }
}

/// The extension loop: runs until the holder's release aborts it, or it
/// stops by the rules above. `deadline` is the lease's current end.
pub async fn run<E: Env, X: Extension<E>>(
    env: E,
    cfg: LockConfig,
    mut x: X,
    mut deadline: Option<Deadline>,
) {
    let mut done = 0u32;
    loop {
        env.sleep(cfg.extend_every_ms).await;
        if cfg.max_extensions > 0 && done >= cfg.max_extensions {
            env.note(Note::Info(format!(
                "extension refused: {done} of at most {} done (TooManyExtensions)",
                cfg.max_extensions
            )));
            env.note(Note::WatchdogStopped);
            return;
        }
        if let Some(d) = x.once(&env).await {
            done += 1;
            deadline = Some(d);
            env.note(Note::Renewed { ok: true });
            continue;
        }
        env.note(Note::Renewed { ok: false });
        match cfg.on_extend_fail {
            OnExtendFail::Retry => continue,
            OnExtendFail::Stop => {
                env.note(Note::WatchdogStopped);
                return;
            }
            OnExtendFail::Unlock => {
                x.unlock(&env).await;
                env.note(Note::Info("extension failed: unlocked everywhere".into()));
                env.note(Note::WatchdogStopped);
                return;
            }
            OnExtendFail::Abort => {
                // node-redlock `using`: `if (lock.expiration > Date.now())
                // return (extension = extend());` then abort.
                while deadline.is_some_and(|d| !passed(&env, d)) {
                    env.sleep(cfg.retry_delay_ms.max(1)).await;
                    if let Some(d) = x.once(&env).await {
                        done += 1;
                        deadline = Some(d);
                        env.note(Note::Renewed { ok: true });
                        break;
                    }
                    env.note(Note::Renewed { ok: false });
                }
                if deadline.is_some_and(|d| !passed(&env, d)) {
                    continue;
                }
                env.note(Note::Aborted);
                return;
            }
        }
    }
}
