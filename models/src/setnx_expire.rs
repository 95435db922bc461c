//! `SETNX key token` then `EXPIRE key seconds`: two commands, not one.
//!
//! Source: the pattern of the redis-py era before `SET ... NX PX` (Redis
//! 2.6.12), discussed in redis-py issue #818 and countless blog posts:
//!
//! ```text
//! if redis.setnx(key, token):
//!     redis.expire(key, ceil(ttl / 1000))
//! ```
//!
//! `EXPIRE` takes whole seconds, so the TTL is rounded up. A client that
//! dies (or whose `EXPIRE` is lost) between the two commands leaves a key
//! that never expires: every other client is locked out for good
//! (GROUND-TRUTH row 2). When the `EXPIRE` gets no `:1` the library raised
//! an exception, so the caller does not think it holds the lock: this model
//! counts the attempt as failed and leaves the key as it is.
//!
//! Deadline: `Mono(start + ttl_ms)`, `start` read before the `SETNX`.
//! Release: the configured one (default `del`, the pattern's own; with
//! `release = "lua"`, `script_release` replaces the compare-and-delete
//! script, KEYS\[1\] = key, ARGV\[1\] = token). No other script is used.
//!
//! With `fencing = true` the holder takes a token with `INCR fence_key` on
//! node 0 after the `EXPIRE`: not atomic with the grant.

use crate::config::LockConfig;
use crate::env::{Env, Note};
use crate::lock::{
    attempts, retry_pause, AcquireError, Deadline, Lease, LockAlgorithm, ReleaseOutcome,
};
use crate::protocol::{argv, Reply};
use crate::set_nx_px::release_single;
use crate::setnx::{finish_grant, setnx};

/// The setnx-expire lock of one client.
#[derive(Clone, Debug)]
pub struct SetnxExpire {
    cfg: LockConfig,
}

impl SetnxExpire {
    pub fn new(cfg: LockConfig) -> SetnxExpire {
        SetnxExpire { cfg }
    }

    /// The `EXPIRE` argument: the TTL in seconds, rounded up.
    pub fn expire_seconds(ttl_ms: u64) -> u64 {
        ttl_ms.div_ceil(1000)
    }

    async fn attempt<E: Env>(&self, env: &E) -> Option<Lease> {
        let cfg = &self.cfg;
        let token = env.random_token().into_bytes();
        let start = env.mono_ms();
        if !setnx(env, cfg, &token).await {
            return None;
        }
        let secs = SetnxExpire::expire_seconds(cfg.ttl_ms).to_string();
        match env
            .call(0, argv(["EXPIRE", &cfg.key, &secs]), cfg.request_timeout_ms)
            .await
        {
            Ok(Reply::Int(1)) => {}
            other => {
                env.note(Note::Info(format!(
                    "EXPIRE failed ({other:?}): the lock has no TTL"
                )));
                return None;
            }
        }
        finish_grant(env, cfg, token, Some(Deadline::Mono(start + cfg.ttl_ms))).await
    }
}

impl LockAlgorithm for SetnxExpire {
    async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
        let n = attempts(&self.cfg);
        for attempt in 0..n {
            if let Some(lease) = self.attempt(env).await {
                return Ok(lease);
            }
            if attempt + 1 < n {
                retry_pause(env, &self.cfg).await;
            }
        }
        Err(AcquireError::Busy)
    }

    async fn release<E: Env>(&mut self, env: &E, lease: &Lease) -> ReleaseOutcome {
        release_single(env, &self.cfg, 0, lease).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Algorithm, Release};
    use crate::env::CallError;
    use crate::scripted::ScriptedEnv;
    use crate::set_nx_px::RELEASE_SCRIPT;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn cfg() -> LockConfig {
        LockConfig::defaults(Algorithm::SetnxExpire)
    }

    /// A one-key store: the value and its TTL in seconds (None = forever).
    type Key = Rc<RefCell<Option<(Vec<u8>, Option<u64>)>>>;

    fn store(key: Key, expire_works: bool) -> ScriptedEnv {
        ScriptedEnv::new(1, 11, move |_, a, _| {
            let mut k = key.borrow_mut();
            match a[0].as_slice() {
                b"SETNX" if k.is_none() => {
                    *k = Some((a[2].clone(), None));
                    Ok(Reply::Int(1))
                }
                b"SETNX" => Ok(Reply::Int(0)),
                b"EXPIRE" if !expire_works => Err(CallError::Timeout),
                b"EXPIRE" => {
                    let secs = std::str::from_utf8(&a[2]).unwrap().parse().unwrap();
                    k.as_mut().unwrap().1 = Some(secs);
                    Ok(Reply::Int(1))
                }
                b"DEL" => Ok(Reply::Int(k.take().is_some() as i64)),
                b"EVAL" => Ok(Reply::Int(0)),
                b"INCR" => Ok(Reply::Int(7)),
                _ => Ok(Reply::error("ERR unexpected")),
            }
        })
    }

    #[test]
    fn setnx_then_expire_in_whole_seconds() {
        let key: Key = Rc::new(RefCell::new(None));
        let env = store(key.clone(), true).with_latency(3);
        let mut c = cfg();
        c.ttl_ms = 1500;
        let mut lock = SetnxExpire::new(c);
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        let tok = String::from_utf8(lease.value.clone()).unwrap();
        assert_eq!(
            env.summary(),
            vec![format!("0 SETNX lock {tok}"), "0 EXPIRE lock 2".into()]
        );
        assert_eq!(key.borrow().as_ref().unwrap().1, Some(2));
        // Deadline from the start of the SETNX, not from the EXPIRE.
        assert_eq!(lease.deadline, Some(Deadline::Mono(1500)));
        assert_eq!(env.now(), 6);
        assert_eq!(SetnxExpire::expire_seconds(10_000), 10);
        assert_eq!(SetnxExpire::expire_seconds(10_001), 11);
        assert_eq!(SetnxExpire::expire_seconds(1), 1);
    }

    #[test]
    fn lost_expire_leaves_a_key_that_never_expires() {
        let key: Key = Rc::new(RefCell::new(None));
        let env = store(key.clone(), false);
        let mut c = cfg();
        c.retry_count = 3;
        let mut lock = SetnxExpire::new(c);
        assert_eq!(env.block_on(lock.acquire(&env)), Err(AcquireError::Busy));
        assert_eq!(key.borrow().as_ref().unwrap().1, None, "no TTL on the key");
        let cmds: Vec<String> = env
            .summary()
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
            .collect();
        assert_eq!(cmds, vec!["SETNX", "EXPIRE", "SETNX", "SETNX"]);
        assert!(env
            .notes()
            .iter()
            .any(|(_, n)| matches!(n, Note::Info(s) if s.contains("no TTL"))));
    }

    #[test]
    fn busy_lock_retries_with_delays_in_range() {
        let key: Key = Rc::new(RefCell::new(Some((b"other".to_vec(), Some(10)))));
        let env = store(key, true);
        let mut c = cfg();
        c.retry_count = 4;
        c.retry_delay_ms = 50;
        c.retry_jitter_ms = 25;
        let mut lock = SetnxExpire::new(c);
        assert_eq!(env.block_on(lock.acquire(&env)), Err(AcquireError::Busy));
        assert_eq!(env.sent().len(), 4);
        let sleeps = env.sleeps();
        assert_eq!(sleeps.len(), 3);
        assert!(
            sleeps.iter().all(|&(_, ms)| (50..=75).contains(&ms)),
            "{sleeps:?}"
        );
    }

    #[test]
    fn release_of_a_stolen_lock() {
        let key: Key = Rc::new(RefCell::new(None));
        let env = store(key.clone(), true);
        env.label(RELEASE_SCRIPT, "release");
        let mut lock = SetnxExpire::new(cfg());
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        *key.borrow_mut() = Some((b"thief".to_vec(), Some(10)));
        assert_eq!(
            env.block_on(lock.release(&env, &lease)),
            ReleaseOutcome::Released
        );
        assert!(
            key.borrow().is_none(),
            "DEL removed the other holder's lock"
        );

        let mut c = cfg();
        c.release = Release::Lua;
        *key.borrow_mut() = Some((b"thief".to_vec(), Some(10)));
        let out = env.block_on(SetnxExpire::new(c).release(&env, &lease));
        assert_eq!(out, ReleaseOutcome::NotHeld);
        assert!(env
            .summary()
            .last()
            .unwrap()
            .starts_with("0 EVAL <release> 1 lock "));
    }

    #[test]
    fn fencing_incr_follows_expire() {
        let key: Key = Rc::new(RefCell::new(None));
        let env = store(key, true);
        let mut c = cfg();
        c.fencing = true;
        let lease = env.block_on(SetnxExpire::new(c).acquire(&env)).unwrap();
        assert_eq!(lease.fencing_token, Some(7));
        assert_eq!(
            env.summary()[1..],
            [
                "0 EXPIRE lock 10".to_string(),
                "0 INCR lock:fence".to_string()
            ]
        );
    }
}
