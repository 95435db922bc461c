//! `SET key token NX PX ttl`, released by a compare-and-delete script.
//!
//! The single-instance algorithm of the Redis distlock page: a random value
//! per acquisition so that only its owner can delete it, and a TTL so that a
//! crashed holder does not keep it forever. With `fencing = true` the SET
//! and an `INCR` of the fence counter run in one script, so each grant
//! carries a monotonically increasing token (Kleppmann 2016).
//!
//! What the single-instance libraries add (their profiles set it):
//! - `ttl_ms = 0`: no TTL at all, `SET key token NX` (redis-py's `Lock`
//!   with its default `timeout=None`, python-redis-lock's `expire=None`);
//!   the lease has no deadline and a crashed holder keeps it forever;
//! - `retry_count = 0`: poll without end (redis-py `blocking_timeout=None`);
//! - `timing = "wall"`: the holder's deadline is on its wall clock;
//! - `extend_every_ms`: the holder extends its lease with the
//!   compare-and-`PEXPIRE` script ([`EXTEND_SCRIPT`], or `script_renew`:
//!   KEYS\[1\] = key, ARGV\[1\] = value, ARGV\[2\] = ttl ms, `1` =
//!   extended) by the rules of [`crate::extend`]. python-redis-lock's own
//!   script takes seconds and answers `0` for success; its effect on the
//!   key is the same owner check and TTL reset;
//! - `shared_token = true`: every client uses one lock object and so one
//!   token slot, as asyncio tasks sharing a redis-py `Lock` do
//!   (`threading.local` is per thread, and tasks share the thread). A
//!   grant stores its token there; a release uses whatever token is
//!   stored last, and raises without sending anything when the slot is
//!   empty;
//! - `clears_token_first`: the token is forgotten before the release is
//!   sent (redis-py's sync `Lock` up to 8.1: `expected_token =
//!   self.local.token; self.local.token = None`), so a release that got no
//!   answer cannot be retried; from 8.2.0 it is cleared only after an
//!   answer, and only if it is still the same;
//! - `release_retries`: the application calls `release()` again after one
//!   that got no answer (which only helps where the token was kept).

use crate::config::{LockConfig, Release, Timing};
use crate::env::{Env, Note};
use crate::extend::{self, Extension};
use crate::lease::Grant;
use crate::lock::{
    attempts, retry_pause, AcquireError, Deadline, Lease, LockAlgorithm, ReleaseOutcome,
};
use crate::protocol::{argv, Reply};
use std::rc::Rc;

/// The distlock page's release script.
pub const RELEASE_SCRIPT: &str = "if redis.call(\"get\",KEYS[1]) == ARGV[1] then\n    return redis.call(\"del\",KEYS[1])\nelse\n    return 0\nend";

/// SET NX PX plus INCR of the fence counter, atomically.
pub const FENCED_ACQUIRE_SCRIPT: &str = "if redis.call(\"set\",KEYS[1],ARGV[1],\"NX\",\"PX\",ARGV[2]) then\n    return redis.call(\"incr\",KEYS[2])\nelse\n    return false\nend";

/// The compare-and-extend script (the distlock page's, as redsync's
/// `touchScript` and pottery's `_extend_script` ship it).
pub const EXTEND_SCRIPT: &str = "if redis.call(\"get\",KEYS[1]) == ARGV[1] then\n    return redis.call(\"pexpire\",KEYS[1],ARGV[2])\nelse\n    return 0\nend";

/// redsync's `touchWithSetNXScript` (v4.12.0, `WithSetNXOnExtend`): a
/// key that is gone is created again.
pub const EXTEND_SETNX_SCRIPT: &str = "if redis.call(\"GET\", KEYS[1]) == ARGV[1] then\n\treturn redis.call(\"PEXPIRE\", KEYS[1], ARGV[2])\nelseif redis.call(\"SET\", KEYS[1], ARGV[1], \"PX\", ARGV[2], \"NX\") then\n\treturn 1\nelse\n\treturn 0\nend";

/// The set-nx-px lock of one client.
#[derive(Clone)]
pub struct SetNxPx {
    cfg: LockConfig,
    /// The running extension loop, if any.
    extender: Option<Rc<dyn crate::env::TaskHandle>>,
}

impl std::fmt::Debug for SetNxPx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetNxPx")
            .field("cfg", &self.cfg)
            .field("extending", &self.extender.is_some())
            .finish()
    }
}

/// The extension script the configuration asks for.
pub fn extend_script(cfg: &LockConfig) -> &str {
    match (&cfg.script_renew, cfg.extend_setnx) {
        (Some(src), _) => src,
        (None, true) => EXTEND_SETNX_SCRIPT,
        (None, false) => EXTEND_SCRIPT,
    }
}

/// The deadline of a lease taken at `mono`/`wall` for `ttl_ms`, on the
/// configured clock (none without a TTL).
pub fn deadline_of(cfg: &LockConfig, mono: u64, wall: i64, ttl_ms: u64) -> Option<Deadline> {
    if ttl_ms == 0 {
        return None;
    }
    Some(match cfg.timing {
        Timing::Mono => Deadline::Mono(mono + ttl_ms),
        Timing::Wall => Deadline::Wall(wall + ttl_ms as i64),
    })
}

/// One set-nx-px lease's extension: the script on node 0.
struct Single {
    cfg: LockConfig,
    value: Vec<u8>,
}

impl<E: Env> Extension<E> for Single {
    async fn once(&mut self, env: &E) -> Option<Deadline> {
        let cfg = &self.cfg;
        let ttl = cfg.ttl_ms.to_string();
        let (mono, wall) = (env.mono_ms(), env.wall_ms());
        let cmd = argv([
            b"EVAL".as_slice(),
            extend_script(cfg).as_bytes(),
            b"1",
            cfg.key.as_bytes(),
            &self.value,
            ttl.as_bytes(),
        ]);
        match env.call(0, cmd, cfg.request_timeout_ms).await {
            Ok(Reply::Int(n)) if n > 0 => {
                let d = deadline_of(cfg, mono, wall, cfg.ttl_ms)?;
                env.note(Note::Extended { deadline: d });
                Some(d)
            }
            _ => None,
        }
    }

    async fn unlock(&mut self, env: &E) {
        let lease = Lease {
            value: self.value.clone(),
            fencing_token: None,
            deadline: None,
            nodes: vec![0],
        };
        release_single(env, &self.cfg, 0, &lease).await;
    }
}

impl SetNxPx {
    pub fn new(cfg: LockConfig) -> SetNxPx {
        SetNxPx {
            cfg,
            extender: None,
        }
    }

    async fn attempt<E: Env>(&self, env: &E, value: &str) -> Option<Option<i64>> {
        let cfg = &self.cfg;
        let ttl = cfg.ttl_ms.to_string();
        let script = match (&cfg.script_acquire, cfg.fencing) {
            (Some(src), _) => Some(src.as_str()),
            (None, true) => Some(FENCED_ACQUIRE_SCRIPT),
            (None, false) => None,
        };
        let cmd = match script {
            Some(src) => argv(["EVAL", src, "2", &cfg.key, &cfg.fence_key, value, &ttl]),
            None if cfg.ttl_ms == 0 => argv(["SET", &cfg.key, value, "NX"]),
            None => argv(["SET", &cfg.key, value, "NX", "PX", &ttl]),
        };
        match env
            .call_acquire(0, cmd, cfg.request_timeout_ms, Grant::Truthy)
            .await
        {
            Ok(Reply::Status(s)) if s == "OK" => Some(None),
            Ok(Reply::Int(i)) if script.is_some() && i != 0 => Some(cfg.fencing.then_some(i)),
            Ok(Reply::Bulk(Some(_))) if script.is_some() => Some(None),
            Ok(Reply::Error(e)) => {
                env.note(Note::Info(format!("acquire error: {e}")));
                None
            }
            _ => None,
        }
    }

    fn stop_extending(&mut self) {
        if let Some(t) = self.extender.take() {
            t.abort();
        }
    }
}

impl LockAlgorithm for SetNxPx {
    async fn acquire<E: Env>(&mut self, env: &E) -> Result<Lease, AcquireError> {
        let attempts = attempts(&self.cfg);
        for attempt in 0..attempts {
            let value = env.random_token();
            let (mono, wall) = (env.mono_ms(), env.wall_ms());
            if let Some(fencing_token) = self.attempt(env, &value).await {
                if let Some(slot) = self.cfg.shared_token.then(|| env.shared_token()).flatten() {
                    *slot.lock().expect("token slot") = Some(value.clone().into_bytes());
                }
                let deadline = deadline_of(&self.cfg, mono, wall, self.cfg.ttl_ms);
                self.stop_extending();
                if self.cfg.extend_every_ms > 0 {
                    let x = Single {
                        cfg: self.cfg.clone(),
                        value: value.clone().into_bytes(),
                    };
                    let task = extend::run(env.clone(), self.cfg.clone(), x, deadline);
                    self.extender = Some(Rc::new(env.spawn(Box::pin(task))));
                }
                return Ok(Lease {
                    value: value.into_bytes(),
                    fencing_token,
                    deadline,
                    nodes: vec![0],
                });
            }
            if attempt + 1 < attempts {
                retry_pause(env, &self.cfg).await;
            }
        }
        Err(AcquireError::Busy)
    }

    async fn release<E: Env>(&mut self, env: &E, lease: &Lease) -> ReleaseOutcome {
        self.stop_extending();
        let mut outcome = self.release_once(env, lease).await;
        let mut tries = 0;
        while outcome == ReleaseOutcome::Unknown && tries < self.cfg.release_retries {
            tries += 1;
            if self.cfg.clears_token_first {
                env.note(Note::Info(
                    "release() raised with the token already cleared: a retried release() raises LockError (not owned)"
                        .into(),
                ));
                break;
            }
            env.note(Note::Info(format!(
                "the application retries release() ({tries}/{})",
                self.cfg.release_retries
            )));
            outcome = self.release_once(env, lease).await;
        }
        outcome
    }
}

impl SetNxPx {
    /// One `release()` call. With `shared_token`, the token comes from the
    /// shared slot (redis-py: `expected_token = self.local.token`): taken
    /// out of it first with `clears_token_first`, else cleared after an
    /// answer, and only if it is still this one (redis-py 8.2.0).
    async fn release_once<E: Env>(&self, env: &E, lease: &Lease) -> ReleaseOutcome {
        let slot = match env.shared_token() {
            Some(slot) if self.cfg.shared_token => slot,
            _ => return release_single(env, &self.cfg, 0, lease).await,
        };
        let expected = if self.cfg.clears_token_first {
            slot.lock().expect("token slot").take()
        } else {
            slot.lock().expect("token slot").clone()
        };
        let Some(token) = expected else {
            env.note(Note::Info(
                "LockError: cannot release a lock that's not owned or is already unlocked".into(),
            ));
            return ReleaseOutcome::NotHeld;
        };
        let shared = Lease {
            value: token.clone(),
            ..lease.clone()
        };
        let outcome = release_single(env, &self.cfg, 0, &shared).await;
        if outcome != ReleaseOutcome::Unknown {
            let mut s = slot.lock().expect("token slot");
            if s.as_ref() == Some(&token) {
                *s = None;
            }
        }
        outcome
    }
}

/// Releases `lease` on node `node` the configured way (`lua`, `del` or
/// `get-then-del`). Shared by every single-key algorithm.
pub async fn release_single<E: Env>(
    env: &E,
    cfg: &LockConfig,
    node: usize,
    lease: &Lease,
) -> ReleaseOutcome {
    let timeout = cfg.request_timeout_ms;
    let key = cfg.key_for(node);
    let deleted = |r: Result<Reply, _>| match r {
        Ok(Reply::Int(n)) if n > 0 => ReleaseOutcome::Released,
        Ok(Reply::Int(_)) => ReleaseOutcome::NotHeld,
        _ => ReleaseOutcome::Unknown,
    };
    match cfg.release {
        Release::Lua => {
            let src = cfg.script_release.as_deref().unwrap_or(RELEASE_SCRIPT);
            let cmd = argv([
                b"EVAL".as_slice(),
                src.as_bytes(),
                b"1",
                key.as_bytes(),
                &lease.value,
            ]);
            deleted(env.call(node, cmd, timeout).await)
        }
        Release::Del => deleted(env.call(node, argv(["DEL", key]), timeout).await),
        Release::GetThenDel => match env.call(node, argv(["GET", key]), timeout).await {
            Ok(Reply::Bulk(Some(v))) if v == lease.value => {
                deleted(env.call(node, argv(["DEL", key]), timeout).await)
            }
            Ok(_) => ReleaseOutcome::NotHeld,
            Err(_) => ReleaseOutcome::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Algorithm;
    use crate::env::CallError;
    use crate::scripted::ScriptedEnv;
    use std::cell::RefCell;
    use std::rc::Rc;

    type Key = Rc<RefCell<Option<Vec<u8>>>>;

    fn cfg() -> LockConfig {
        LockConfig::defaults(Algorithm::SetNxPx)
    }

    /// One key, no expiry modelled: SET NX PX, GET, DEL, the release and
    /// fenced-acquire scripts (told apart by the test's own sources).
    fn store(key: Key) -> ScriptedEnv {
        let env = ScriptedEnv::new(1, 3, move |_, a, _| {
            let mut k = key.borrow_mut();
            let src = a.get(1).map(|s| s.as_slice()).unwrap_or_default();
            Ok(match a[0].as_slice() {
                b"SET" if k.is_none() => {
                    *k = Some(a[2].clone());
                    Reply::ok()
                }
                b"SET" => Reply::nil(),
                b"GET" => Reply::Bulk(k.clone()),
                b"DEL" => Reply::Int(k.take().is_some() as i64),
                b"EVAL" if src == RELEASE_SCRIPT.as_bytes() => {
                    if k.as_deref() == Some(a[4].as_slice()) {
                        *k = None;
                        Reply::Int(1)
                    } else {
                        Reply::Int(0)
                    }
                }
                b"EVAL" if src == FENCED_ACQUIRE_SCRIPT.as_bytes() && k.is_none() => {
                    *k = Some(a[5].clone());
                    Reply::Int(17)
                }
                b"EVAL" => Reply::nil(),
                _ => Reply::error("ERR unexpected"),
            })
        });
        env.label(RELEASE_SCRIPT, "release");
        env.label(FENCED_ACQUIRE_SCRIPT, "fenced");
        env
    }

    #[test]
    fn defaults_are_the_distlock_page() {
        let c = cfg();
        assert_eq!(c.release, Release::Lua);
        assert!(!c.fencing && c.script_acquire.is_none() && !c.validity_check);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn acquire_is_set_nx_px_with_a_random_value_and_mono_deadline() {
        let key: Key = Rc::new(RefCell::new(None));
        let env = store(key.clone()).with_latency(7);
        env.block_on(env.sleep(100));
        let mut lock = SetNxPx::new(cfg());
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        let v = String::from_utf8(lease.value.clone()).unwrap();
        assert_eq!(v.len(), 32);
        assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(env.summary(), vec![format!("0 SET lock {v} NX PX 10000")]);
        assert_eq!(
            lease.deadline,
            Some(Deadline::Mono(100 + 10_000)),
            "from the send, not the reply"
        );
        assert_eq!(lease.fencing_token, None);
        assert_eq!(
            env.block_on(lock.release(&env, &lease)),
            ReleaseOutcome::Released
        );
        assert_eq!(env.summary()[1], format!("0 EVAL <release> 1 lock {v}"));
        assert!(key.borrow().is_none());
    }

    #[test]
    fn busy_lock_retries_with_delays_in_range() {
        let key: Key = Rc::new(RefCell::new(Some(b"other".to_vec())));
        let env = store(key);
        let mut c = cfg();
        c.retry_count = 6;
        assert_eq!(
            env.block_on(SetNxPx::new(c).acquire(&env)),
            Err(AcquireError::Busy)
        );
        assert_eq!(env.sent().len(), 6);
        let sleeps = env.sleeps();
        assert_eq!(sleeps.len(), 5);
        assert!(
            sleeps.iter().all(|&(_, ms)| (200..=300).contains(&ms)),
            "{sleeps:?}"
        );
    }

    #[test]
    fn releasing_a_stolen_lock_per_release_mode() {
        let key: Key = Rc::new(RefCell::new(None));
        let env = store(key.clone());
        let lease = env.block_on(SetNxPx::new(cfg()).acquire(&env)).unwrap();
        for (release, outcome, deleted) in [
            (Release::Lua, ReleaseOutcome::NotHeld, false),
            (Release::GetThenDel, ReleaseOutcome::NotHeld, false),
            (Release::Del, ReleaseOutcome::Released, true),
        ] {
            *key.borrow_mut() = Some(b"successor".to_vec());
            let mut c = cfg();
            c.release = release;
            assert_eq!(
                env.block_on(SetNxPx::new(c).release(&env, &lease)),
                outcome,
                "{release:?}"
            );
            assert_eq!(key.borrow().is_none(), deleted, "{release:?}");
        }
    }

    #[test]
    fn get_then_del_deletes_a_lock_taken_between_its_two_commands() {
        // Row 5: GET sees our value; before DEL arrives the key expired and
        // B took it; the DEL removes B's lock.
        let key: Key = Rc::new(RefCell::new(None));
        let k = key.clone();
        let env = ScriptedEnv::new(1, 3, move |_, a, _| {
            let mut k = k.borrow_mut();
            Ok(match a[0].as_slice() {
                b"SET" => {
                    *k = Some(a[2].clone());
                    Reply::ok()
                }
                b"GET" => {
                    let mine = k.clone();
                    *k = Some(b"B".to_vec());
                    Reply::Bulk(mine)
                }
                _ => Reply::Int(k.take().is_some() as i64),
            })
        });
        let mut c = cfg();
        c.release = Release::GetThenDel;
        let mut lock = SetNxPx::new(c);
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        assert_eq!(
            env.block_on(lock.release(&env, &lease)),
            ReleaseOutcome::Released
        );
        assert_eq!(
            env.summary()[1..],
            ["0 GET lock".to_string(), "0 DEL lock".to_string()]
        );
        assert!(key.borrow().is_none(), "B's lock is gone");
    }

    #[test]
    fn fencing_uses_one_script_for_the_grant_and_the_token() {
        let key: Key = Rc::new(RefCell::new(None));
        let env = store(key);
        let mut c = cfg();
        c.fencing = true;
        let lease = env.block_on(SetNxPx::new(c).acquire(&env)).unwrap();
        let v = String::from_utf8(lease.value.clone()).unwrap();
        assert_eq!(
            env.summary(),
            vec![format!("0 EVAL <fenced> 2 lock lock:fence {v} 10000")]
        );
        assert_eq!(lease.fencing_token, Some(17));
    }

    #[test]
    fn a_timed_out_set_is_not_a_grant() {
        let env = ScriptedEnv::new(1, 3, |_, _, _| Err(CallError::Timeout));
        let mut c = cfg();
        c.retry_count = 2;
        assert_eq!(
            env.block_on(SetNxPx::new(c).acquire(&env)),
            Err(AcquireError::Busy)
        );
        assert_eq!(env.now(), 50 + env.sleeps()[0].1 + 50);
    }

    /// The first release script gets no answer; `release_retries = 1`
    /// calls `release()` again, which sends only if the token was kept.
    fn release_retried(clears_token_first: bool) -> (ReleaseOutcome, usize, Vec<(u64, Note)>) {
        let key: Key = Rc::new(RefCell::new(None));
        let lost = Rc::new(std::cell::Cell::new(true));
        let env = ScriptedEnv::new(1, 3, move |_, a, _| {
            let mut k = key.borrow_mut();
            match a[0].as_slice() {
                b"SET" if k.is_none() => {
                    *k = Some(a[2].clone());
                    Ok(Reply::ok())
                }
                b"EVAL" if lost.replace(false) => Err(CallError::Timeout),
                b"EVAL" if k.as_deref() == Some(a[4].as_slice()) => {
                    *k = None;
                    Ok(Reply::Int(1))
                }
                _ => Ok(Reply::Int(0)),
            }
        });
        env.label(RELEASE_SCRIPT, "release");
        let mut c = cfg();
        c.release_retries = 1;
        c.clears_token_first = clears_token_first;
        let mut lock = SetNxPx::new(c);
        let lease = env.block_on(lock.acquire(&env)).expect("free");
        let out = env.block_on(lock.release(&env, &lease));
        let evals = env.sent().iter().filter(|s| s.argv[0] == b"EVAL").count();
        (out, evals, env.notes())
    }

    #[test]
    fn a_retried_release_frees_the_lock_only_if_the_token_was_kept() {
        let (out, evals, _) = release_retried(false);
        assert_eq!((out, evals), (ReleaseOutcome::Released, 2));
        let (out, evals, notes) = release_retried(true);
        assert_eq!((out, evals), (ReleaseOutcome::Unknown, 1));
        assert!(notes
            .iter()
            .any(|(_, n)| matches!(n, Note::Info(t) if t.contains("raises LockError"))));
    }
}
