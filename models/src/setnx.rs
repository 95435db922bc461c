//! `SETNX key value`: the oldest Redis lock, with no expiry.
//!
//! Source: the old `SETNX` command page, redis.io/commands/setnx, section
//! "Design pattern: Locking with SETNX" (now deprecated there in favour of
//! `SET ... NX PX` and the distlock page).
//!
//! - Plain mode (`stale_recovery = false`): the value is a random token,
//!   `SETNX key token` acquires (reply `1`), release is the configured one
//!   ([`release_single`]; the classic and the default is `release = "del"`).
//!   Nothing ever expires the key: a holder that crashes keeps the lock
//!   forever (GROUND-TRUTH row 1). No deadline.
//! - Stale recovery (`stale_recovery = true`): the value is a Unix time in
//!   ms on the client's *wall* clock, `now_wall + ttl_ms + 1`, the moment the
//!   lock is considered timed out. When `SETNX` fails the client `GET`s the
//!   value; if it is a timestamp older than its own `now_wall` it runs
//!   `DEL key` then `SETNX key <fresh timestamp>`. This is exactly the
//!   recipe the page warns against: two clients can both see the stale
//!   value, both `DEL` and both `SETNX` successfully (row 3). Deadline:
//!   `Wall(timestamp)`.
//!
//! No Lua scripts are used (`script_acquire`/`script_renew` are refused by
//! [`LockConfig::validate`]); `script_release` replaces the compare-and-
//! delete script when `release = "lua"` (KEYS\[1\] = key, ARGV\[1\] = value).
//!
//! With `fencing = true` the holder takes a token with `INCR fence_key` on
//! node 0 right after `SETNX` succeeds: not atomic with the grant.

use crate::config::LockConfig;
use crate::env::{Env, Note};
use crate::lease::Grant;
use crate::lock::{
    attempts, parse_timestamp, retry_pause, take_fence_token, AcquireError, Deadline, Lease,
    LockAlgorithm, ReleaseOutcome,
};
use crate::protocol::{argv, Reply};
use crate::set_nx_px::release_single;

/// The setnx lock of one client.
#[derive(Clone, Debug)]
pub struct Setnx {
    cfg: LockConfig,
}

/// `SETNX key value`: true when granted (`:1`).
pub(crate) async fn setnx<E: Env>(env: &E, cfg: &LockConfig, value: &[u8]) -> bool {
    let cmd = argv([b"SETNX".as_slice(), cfg.key.as_bytes(), value]);
    matches!(
        env.call_acquire(0, cmd, cfg.request_timeout_ms, Grant::Truthy)
            .await,
        Ok(Reply::Int(1))
    )
}

/// `GET key`: the value, `None` when missing or unanswered.
pub(crate) async fn get<E: Env>(env: &E, cfg: &LockConfig) -> Option<Vec<u8>> {
    match env
        .call(0, argv(["GET", &cfg.key]), cfg.request_timeout_ms)
        .await
    {
        Ok(Reply::Bulk(Some(v))) => Some(v),
        _ => None,
    }
}

/// Finishes a grant: takes the fencing token when configured. `None` when
/// the token could not be taken (the lock is then released again).
pub(crate) async fn finish_grant<E: Env>(
    env: &E,
    cfg: &LockConfig,
    value: Vec<u8>,
    deadline: Option<Deadline>,
) -> Option<Lease> {
    let mut lease = Lease {
        value,
        fencing_token: None,
        deadline,
        nodes: vec![0],
    };
    if cfg.fencing {
        match take_fence_token(env, cfg).await {
            Some(t) => lease.fencing_token = Some(t),
            None => {
                release_single(env, cfg, 0, &lease).await;
                return None;
            }
        }
    }
    Some(lease)
}

impl Setnx {
    pub fn new(cfg: LockConfig) -> Setnx {
        Setnx { cfg }
    }

    fn timestamp<E: Env>(&self, env: &E) -> i64 {
        env.wall_ms() + self.cfg.ttl_ms as i64 + 1
    }

    /// One attempt: the value written and its deadline when granted.
    async fn attempt<E: Env>(&self, env: &E) -> Option<(Vec<u8>, Option<Deadline>)> {
        let cfg = &self.cfg;
        if !cfg.stale_recovery {
            let token = env.random_token().into_bytes();
            return setnx(env, cfg, &token).await.then_some((token, None));
        }
        let ts = self.timestamp(env);
        if setnx(env, cfg, ts.to_string().as_bytes()).await {
            return Some((ts.to_string().into_bytes(), Some(Deadline::Wall(ts))));
        }
        let current = get(env, cfg).await?;
        let stale = parse_timestamp(&current).is_some_and(|t| t < env.wall_ms());
        if !stale {
            return None;
        }
        env.note(Note::Info(format!(
            "stale lock {}: DEL then SETNX",
            String::from_utf8_lossy(&current)
        )));
        let _ = env
            .call(0, argv(["DEL", &cfg.key]), cfg.request_timeout_ms)
            .await;
        let ts = self.timestamp(env);
        setnx(env, cfg, ts.to_string().as_bytes())
            .await
            .then(|| (ts.to_string().into_bytes(), Some(Deadline::Wall(ts))))
    }
}

impl LockAlgorithm for Setnx {
    async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
        let n = attempts(&self.cfg);
        for attempt in 0..n {
            if let Some((value, deadline)) = self.attempt(env).await {
                if let Some(lease) = finish_grant(env, &self.cfg, value, deadline).await {
                    return Ok(lease);
                }
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

    const WALL0: i64 = 1_700_000_000_000;

    fn cfg() -> LockConfig {
        LockConfig::defaults(Algorithm::Setnx)
    }

    /// A one-key store driven by the test: SETNX / GET / DEL / INCR.
    fn store(key: Rc<RefCell<Option<Vec<u8>>>>) -> ScriptedEnv {
        ScriptedEnv::new(1, 7, move |_, a, _| {
            let mut k = key.borrow_mut();
            Ok(match a[0].as_slice() {
                b"SETNX" if k.is_none() => {
                    *k = Some(a[2].clone());
                    Reply::Int(1)
                }
                b"SETNX" => Reply::Int(0),
                b"GET" => Reply::Bulk(k.clone()),
                b"DEL" => Reply::Int(k.take().is_some() as i64),
                b"INCR" => Reply::Int(42),
                b"EVAL" => Reply::Int(0),
                _ => Reply::error("ERR unexpected"),
            })
        })
    }

    #[test]
    fn defaults_release_with_del() {
        assert_eq!(cfg().release, Release::Del);
        assert!(cfg().validate().is_ok());
    }

    #[test]
    fn plain_acquire_is_one_setnx_and_release_is_del() {
        let key = Rc::new(RefCell::new(None));
        let env = store(key.clone());
        let mut lock = Setnx::new(cfg());
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        assert_eq!(lease.deadline, None);
        assert_eq!(lease.value.len(), 32);
        assert_eq!(key.borrow().as_deref(), Some(lease.value.as_slice()));
        assert_eq!(
            env.block_on(lock.release(&env, &lease)),
            ReleaseOutcome::Released
        );
        let tok = String::from_utf8(lease.value).unwrap();
        assert_eq!(
            env.summary(),
            vec![format!("0 SETNX lock {tok}"), "0 DEL lock".into()]
        );
    }

    #[test]
    fn held_lock_retries_with_bounded_delays_and_never_expires() {
        let key = Rc::new(RefCell::new(Some(b"crashed-holder".to_vec())));
        let env = store(key.clone());
        let mut c = cfg();
        c.retry_count = 5;
        let mut lock = Setnx::new(c.clone());
        assert_eq!(env.block_on(lock.acquire(&env)), Err(AcquireError::Busy));
        assert_eq!(env.sent().len(), 5);
        assert!(env.summary().iter().all(|l| l.starts_with("0 SETNX lock ")));
        let sleeps = env.sleeps();
        assert_eq!(sleeps.len(), 4);
        assert!(
            sleeps.iter().all(|&(_, ms)| (200..=300).contains(&ms)),
            "{sleeps:?}"
        );
        // Hours later the crashed holder's key is still there (row 1).
        env.run_until(3_600_000);
        assert_eq!(env.block_on(lock.acquire(&env)), Err(AcquireError::Busy));
    }

    #[test]
    fn stolen_lock_del_deletes_it_lua_does_not() {
        let key = Rc::new(RefCell::new(None));
        let env = store(key.clone());
        env.label(RELEASE_SCRIPT, "release");
        let mut lock = Setnx::new(cfg());
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        *key.borrow_mut() = Some(b"someone-else".to_vec());
        assert_eq!(
            env.block_on(lock.release(&env, &lease)),
            ReleaseOutcome::Released
        );
        assert_eq!(
            *key.borrow(),
            None,
            "plain DEL deletes the other client's lock"
        );

        let mut c = cfg();
        c.release = Release::Lua;
        let mut lua = Setnx::new(c);
        *key.borrow_mut() = Some(b"someone-else".to_vec());
        assert_eq!(
            env.block_on(lua.release(&env, &lease)),
            ReleaseOutcome::NotHeld
        );
        let last = env.summary().pop().unwrap();
        assert_eq!(
            last,
            format!(
                "0 EVAL <release> 1 lock {}",
                String::from_utf8_lossy(&lease.value)
            )
        );
    }

    #[test]
    fn stale_recovery_dels_then_setnx_with_wall_deadline() {
        let stale = WALL0 - 5;
        let key = Rc::new(RefCell::new(Some(stale.to_string().into_bytes())));
        let env = store(key.clone()).with_latency(2);
        let mut c = cfg();
        c.stale_recovery = true;
        c.ttl_ms = 10_000;
        let mut lock = Setnx::new(c);
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        // SETNX at t=0, GET at t=2, DEL at t=4, SETNX at t=6.
        let ts = WALL0 + 6 + 10_000 + 1;
        assert_eq!(
            env.summary(),
            vec![
                format!("0 SETNX lock {}", WALL0 + 10_001),
                "0 GET lock".to_string(),
                "0 DEL lock".to_string(),
                format!("0 SETNX lock {ts}"),
            ]
        );
        assert_eq!(lease.deadline, Some(Deadline::Wall(ts)));
        assert_eq!(lease.value, ts.to_string().into_bytes());
    }

    #[test]
    fn stale_recovery_leaves_live_and_foreign_values_alone() {
        for held in [(WALL0 + 60_000).to_string(), "not-a-timestamp".to_string()] {
            let key = Rc::new(RefCell::new(Some(held.into_bytes())));
            let env = store(key.clone());
            let mut c = cfg();
            c.stale_recovery = true;
            c.retry_count = 2;
            let mut lock = Setnx::new(c);
            assert_eq!(env.block_on(lock.acquire(&env)), Err(AcquireError::Busy));
            assert!(
                env.summary().iter().all(|l| !l.contains("DEL")),
                "{:?}",
                env.summary()
            );
            assert_eq!(env.sent().len(), 4);
        }
    }

    #[test]
    fn two_clients_both_recover_the_same_stale_lock() {
        // Row 3, the page's interleaving: both GET the stale value, then A
        // DELs and SETNXes, then B DELs (A's fresh lock) and SETNXes.
        let key = Rc::new(RefCell::new(Some((WALL0 - 1).to_string().into_bytes())));
        let lat = [1, 2, 2, 3, 1, 1, 1, 1];
        let i = Rc::new(std::cell::Cell::new(0));
        let env = store(key).with_latency_fn(move |_, _| {
            i.set(i.get() + 1);
            lat[i.get() - 1]
        });
        let mut c = cfg();
        c.stale_recovery = true;
        c.retry_count = 1;
        let (mut a, mut b) = (Setnx::new(c.clone()), Setnx::new(c));
        let out = env.block_on(crate::join::join_all(vec![
            a.acquire(&env),
            b.acquire(&env),
        ]));
        let cmds: Vec<String> = env
            .summary()
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
            .collect();
        assert_eq!(
            cmds,
            vec!["SETNX", "SETNX", "GET", "GET", "DEL", "SETNX", "DEL", "SETNX"]
        );
        assert!(
            out.iter().all(|r| r.is_ok()),
            "both clients think they hold the lock: {out:?}"
        );
    }

    #[test]
    fn fencing_token_comes_from_incr_after_the_grant() {
        let key = Rc::new(RefCell::new(None));
        let env = store(key);
        let mut c = cfg();
        c.fencing = true;
        let lease = env.block_on(Setnx::new(c).acquire(&env)).unwrap();
        assert_eq!(lease.fencing_token, Some(42));
        assert_eq!(env.summary()[1], "0 INCR lock:fence");
    }

    #[test]
    fn failed_incr_gives_the_lock_back_and_retries() {
        let env = ScriptedEnv::new(1, 3, |_, a, _| match a[0].as_slice() {
            b"INCR" => Err(CallError::Timeout),
            b"SETNX" => Ok(Reply::Int(1)),
            _ => Ok(Reply::Int(1)),
        });
        let mut c = cfg();
        c.fencing = true;
        c.retry_count = 2;
        assert_eq!(
            env.block_on(Setnx::new(c).acquire(&env)),
            Err(AcquireError::Busy)
        );
        let cmds: Vec<String> = env
            .summary()
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
            .collect();
        assert_eq!(cmds, vec!["SETNX", "INCR", "DEL", "SETNX", "INCR", "DEL"]);
    }
}
