//! The GETSET algorithm of the old `SETNX` page.
//!
//! Source: redis.io/commands/setnx (deprecated section "Design pattern:
//! Locking with SETNX", subsection "Handling deadlocks"). The value is the
//! Unix time in ms at which the lock times out, read on the client's *wall*
//! clock: `now_wall + ttl_ms + 1`.
//!
//! 1. `SETNX key <value>`; `:1` means the lock is ours.
//! 2. Otherwise `GET key`. If the value is a live timestamp
//!    (`>= now_wall`) the lock is held: retry later. If the key vanished in
//!    between, retry later too.
//! 3. If it is stale (`< now_wall`, or not a timestamp at all),
//!    `GETSET key <now_wall + ttl_ms + 1>`. The old value GETSET returns
//!    decides: still stale (or missing) means we own the lock; a live
//!    timestamp means another client won the race (its timestamp is
//!    overwritten by ours, a few ms later, which the page accepts) and we
//!    retry.
//!
//! Deadline: `Wall(value written)`. Release, as the page says: "the holder
//! checks its timeout before DEL": if `now_wall < value` it releases the
//! configured way (default `del`; `release = "lua"` uses the compare-and-
//! delete script, overridable by `script_release` with KEYS\[1\] = key,
//! ARGV\[1\] = value), otherwise it sends nothing and reports `NotHeld`. A
//! pause between that check and the DEL deletes a successor's lock (row 9);
//! clocks that differ by more than the lifetime let two clients in (row 8).
//!
//! With `fencing = true` the holder takes a token with `INCR fence_key` on
//! node 0 right after acquiring: not atomic with the grant.

use crate::config::LockConfig;
use crate::env::{Env, Note};
use crate::lease::Grant;
use crate::lock::{
    attempts, parse_timestamp, retry_pause, AcquireError, Deadline, Lease, LockAlgorithm,
    ReleaseOutcome,
};
use crate::protocol::{argv, Reply};
use crate::set_nx_px::release_single;
use crate::setnx::{finish_grant, get, setnx};

/// The setnx-getset lock of one client.
#[derive(Clone, Debug)]
pub struct SetnxGetset {
    cfg: LockConfig,
}

impl SetnxGetset {
    pub fn new(cfg: LockConfig) -> SetnxGetset {
        SetnxGetset { cfg }
    }

    /// One attempt: the timestamp written when the lock is ours.
    async fn attempt<E: Env>(&self, env: &E) -> Option<i64> {
        let cfg = &self.cfg;
        let ttl = cfg.ttl_ms as i64;
        let ts = env.wall_ms() + ttl + 1;
        if setnx(env, cfg, ts.to_string().as_bytes()).await {
            return Some(ts);
        }
        let current = get(env, cfg).await?;
        let now = env.wall_ms();
        if parse_timestamp(&current).is_some_and(|t| t >= now) {
            return None;
        }
        let ts = now + ttl + 1;
        let cmd = argv([
            "GETSET".as_bytes(),
            cfg.key.as_bytes(),
            ts.to_string().as_bytes(),
        ]);
        let grant = Grant::StaleBefore { now_ms: now };
        match env
            .call_acquire(0, cmd, cfg.request_timeout_ms, grant)
            .await
        {
            Ok(Reply::Bulk(None)) => Some(ts),
            Ok(Reply::Bulk(Some(old))) => match parse_timestamp(&old) {
                Some(t) if t >= now => {
                    env.note(Note::Info(format!("GETSET lost the race to {t}")));
                    None
                }
                _ => Some(ts),
            },
            _ => None,
        }
    }
}

impl LockAlgorithm for SetnxGetset {
    async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
        let n = attempts(&self.cfg);
        for attempt in 0..n {
            if let Some(ts) = self.attempt(env).await {
                let value = ts.to_string().into_bytes();
                if let Some(lease) =
                    finish_grant(env, &self.cfg, value, Some(Deadline::Wall(ts))).await
                {
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
        let timeout = match lease.deadline {
            Some(Deadline::Wall(ts)) => Some(ts),
            _ => parse_timestamp(&lease.value),
        };
        match timeout {
            Some(ts) if env.wall_ms() < ts => release_single(env, &self.cfg, 0, lease).await,
            _ => {
                env.note(Note::Info("lock timed out: no DEL".into()));
                ReleaseOutcome::NotHeld
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Algorithm, Release};
    use crate::scripted::ScriptedEnv;
    use std::cell::RefCell;
    use std::rc::Rc;

    const WALL0: i64 = 1_700_000_000_000;
    type Key = Rc<RefCell<Option<Vec<u8>>>>;

    fn cfg() -> LockConfig {
        let mut c = LockConfig::defaults(Algorithm::SetnxGetset);
        c.ttl_ms = 5_000;
        c
    }

    /// One key. `getset_old`, when set, is what GETSET pretends the old
    /// value was (another client slipped in between GET and GETSET).
    fn store(key: Key, getset_old: Option<Vec<u8>>) -> ScriptedEnv {
        ScriptedEnv::new(1, 5, move |_, a, _| {
            let mut k = key.borrow_mut();
            Ok(match a[0].as_slice() {
                b"SETNX" if k.is_none() => {
                    *k = Some(a[2].clone());
                    Reply::Int(1)
                }
                b"SETNX" => Reply::Int(0),
                b"GET" => Reply::Bulk(k.clone()),
                b"GETSET" => {
                    let old = k.replace(a[2].clone());
                    Reply::Bulk(getset_old.clone().or(old))
                }
                b"DEL" => Reply::Int(k.take().is_some() as i64),
                _ => Reply::error("ERR unexpected"),
            })
        })
    }

    fn ts(v: i64) -> Key {
        Rc::new(RefCell::new(Some(v.to_string().into_bytes())))
    }

    #[test]
    fn free_lock_is_one_setnx_with_wall_deadline() {
        let key: Key = Rc::new(RefCell::new(None));
        let env = store(key, None);
        let lease = env.block_on(SetnxGetset::new(cfg()).acquire(&env)).unwrap();
        let want = WALL0 + 5_001;
        assert_eq!(env.summary(), vec![format!("0 SETNX lock {want}")]);
        assert_eq!(lease.deadline, Some(Deadline::Wall(want)));
        assert_eq!(lease.value, want.to_string().into_bytes());
    }

    #[test]
    fn stale_lock_is_taken_over_with_getset() {
        let env = store(ts(WALL0 - 100), None).with_latency(4);
        let lease = env.block_on(SetnxGetset::new(cfg()).acquire(&env)).unwrap();
        // SETNX at 0, GET at 4, GETSET at 8 with the wall time read then.
        let new = WALL0 + 8 + 5_001;
        assert_eq!(
            env.summary(),
            vec![
                format!("0 SETNX lock {}", WALL0 + 5_001),
                "0 GET lock".to_string(),
                format!("0 GETSET lock {new}"),
            ]
        );
        assert_eq!(lease.deadline, Some(Deadline::Wall(new)));
    }

    #[test]
    fn unparsable_value_counts_as_stale() {
        let key: Key = Rc::new(RefCell::new(Some(b"garbage".to_vec())));
        let env = store(key, None);
        assert!(env.block_on(SetnxGetset::new(cfg()).acquire(&env)).is_ok());
        assert!(env.summary()[2].starts_with("0 GETSET lock "));
    }

    #[test]
    fn losing_the_getset_race_is_not_a_grant() {
        // Row 7: between our GET and GETSET another client GETSET a live value.
        let winner = (WALL0 + 4_000).to_string().into_bytes();
        let env = store(ts(WALL0 - 1), Some(winner));
        let mut c = cfg();
        c.retry_count = 2;
        assert_eq!(
            env.block_on(SetnxGetset::new(c).acquire(&env)),
            Err(AcquireError::Busy)
        );
        let cmds: Vec<String> = env
            .summary()
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
            .collect();
        // The loser's GETSET left its own (live) timestamp in the key, so
        // the second attempt sees a live lock and does not GETSET again.
        assert_eq!(cmds, vec!["SETNX", "GET", "GETSET", "SETNX", "GET"]);
        assert!(env
            .notes()
            .iter()
            .any(|(_, n)| matches!(n, Note::Info(s) if s.contains("lost the race"))));
    }

    #[test]
    fn live_lock_is_left_alone_and_retried_within_delays() {
        let env = store(ts(WALL0 + 60_000), None);
        let mut c = cfg();
        c.retry_count = 3;
        assert_eq!(
            env.block_on(SetnxGetset::new(c).acquire(&env)),
            Err(AcquireError::Busy)
        );
        assert!(env.summary().iter().all(|l| !l.contains("GETSET")));
        assert_eq!(env.sent().len(), 6);
        assert!(env
            .sleeps()
            .iter()
            .all(|&(_, ms)| (200..=300).contains(&ms)));
        assert_eq!(env.sleeps().len(), 2);
    }

    #[test]
    fn release_dels_only_before_its_timeout() {
        let key: Key = Rc::new(RefCell::new(None));
        let env = store(key.clone(), None);
        let mut lock = SetnxGetset::new(cfg());
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        assert_eq!(
            env.block_on(lock.release(&env, &lease)),
            ReleaseOutcome::Released
        );
        assert_eq!(env.summary().last().unwrap(), "0 DEL lock");

        // Timed out: someone else's value is in the key; no DEL is sent.
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        env.run_until(env.now() + 5_001);
        *key.borrow_mut() = Some(b"successor".to_vec());
        let before = env.sent().len();
        assert_eq!(
            env.block_on(lock.release(&env, &lease)),
            ReleaseOutcome::NotHeld
        );
        assert_eq!(env.sent().len(), before);
        assert_eq!(key.borrow().as_deref(), Some(b"successor".as_slice()));
    }

    #[test]
    fn release_within_timeout_deletes_a_stolen_lock_with_del_but_not_with_lua() {
        let key: Key = Rc::new(RefCell::new(None));
        let env = store(key.clone(), None);
        let mut lock = SetnxGetset::new(cfg());
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        *key.borrow_mut() = Some(b"thief".to_vec());
        assert_eq!(
            env.block_on(lock.release(&env, &lease)),
            ReleaseOutcome::Released
        );
        assert!(key.borrow().is_none());

        let mut c = cfg();
        c.release = Release::Lua;
        let env = ScriptedEnv::new(1, 1, |_, a, _| {
            assert_eq!(a[0], b"EVAL");
            Ok(Reply::Int(0))
        });
        assert_eq!(
            env.block_on(SetnxGetset::new(c).release(&env, &lease)),
            ReleaseOutcome::NotHeld
        );
    }

    #[test]
    fn a_wall_clock_jump_past_the_timeout_skips_the_del() {
        let key: Key = Rc::new(RefCell::new(None));
        let env = store(key.clone(), None);
        let mut lock = SetnxGetset::new(cfg());
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        env.jump_wall(6_000);
        assert_eq!(
            env.block_on(lock.release(&env, &lease)),
            ReleaseOutcome::NotHeld
        );
        assert!(key.borrow().is_some(), "the key is left to time out");
    }
}
