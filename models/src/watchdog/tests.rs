//! Watchdog tests against the scripted env. The reply closure plays a
//! Redis that holds one lock hash; it tells the three scripts apart by
//! their source (the test knows what it sent).

use super::*;
use crate::config::Algorithm;
use crate::env::CallError;
use crate::scripted::ScriptedEnv;
use std::cell::RefCell;

/// The lock hash: the field that holds it and its counter.
type Hash = Rc<RefCell<Option<(Vec<u8>, i64)>>>;

fn cfg() -> LockConfig {
    LockConfig::defaults(Algorithm::Watchdog)
}

/// A Redis holding one Redisson lock. `renew_fails(now)` makes renewals
/// time out.
fn server(hash: Hash, renew_fails: impl Fn(u64) -> bool + 'static) -> ScriptedEnv {
    let env = ScriptedEnv::new(1, 99, move |_, a, now| {
        let mut h = hash.borrow_mut();
        if a[0] == b"INCR" {
            return Ok(Reply::Int(5));
        }
        assert_eq!(a[0], b"EVAL");
        let src = std::str::from_utf8(&a[1]).unwrap();
        let ours = |h: &Option<(Vec<u8>, i64)>, f: &[u8]| h.as_ref().is_some_and(|(hf, _)| hf == f);
        match src {
            FENCED_ACQUIRE_SCRIPT => {
                assert_eq!(a[2], b"2", "RFencedLock's script takes the token key");
                let field = &a[6];
                if h.is_none() || ours(&h, field) {
                    let count = h.as_ref().map_or(0, |x| x.1) + 1;
                    *h = Some((field.clone(), count));
                    Ok(Reply::Array(Some(vec![Reply::Int(-1), Reply::Int(7)])))
                } else {
                    Ok(Reply::Array(Some(vec![Reply::Int(25_000), Reply::Int(-1)])))
                }
            }
            ACQUIRE_SCRIPT | "ACQ" => {
                let field = &a[5];
                if h.is_none() || ours(&h, field) {
                    let count = h.as_ref().map_or(0, |x| x.1) + 1;
                    *h = Some((field.clone(), count));
                    Ok(Reply::nil())
                } else {
                    Ok(Reply::Int(25_000))
                }
            }
            RENEW_SCRIPT | "REN" if renew_fails(now) => Err(CallError::Timeout),
            RENEW_SCRIPT | "REN" => Ok(Reply::Int(ours(&h, &a[5]) as i64)),
            UNLOCK_SCRIPT | "UNL" => {
                assert_eq!(a[2], b"2");
                if !ours(&h, &a[7]) {
                    return Ok(Reply::nil());
                }
                let entry = h.as_mut().unwrap();
                entry.1 -= 1;
                if entry.1 > 0 {
                    return Ok(Reply::Int(0));
                }
                *h = None;
                Ok(Reply::Int(1))
            }
            other => panic!("unexpected script {other}"),
        }
    });
    env.label(ACQUIRE_SCRIPT, "acquire");
    env.label(RENEW_SCRIPT, "renew");
    env.label(UNLOCK_SCRIPT, "unlock");
    env
}

fn empty() -> Hash {
    Rc::new(RefCell::new(None))
}

fn renew_times(env: &ScriptedEnv) -> Vec<u64> {
    env.summary()
        .iter()
        .zip(env.sent())
        .filter(|(l, _)| l.contains("<renew>"))
        .map(|(_, s)| s.at_ms)
        .collect()
}

#[test]
fn acquire_runs_redissons_script_with_uuid_thread_field() {
    let env = server(empty(), |_| false);
    let mut lock = Watchdog::new(cfg());
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    let field = String::from_utf8(lease.value.clone()).unwrap();
    assert_eq!(
        env.summary(),
        vec![format!("0 EVAL <acquire> 1 lock 30000 {field}")]
    );
    let (uuid, thread) = field.split_once(':').unwrap();
    assert_eq!(thread, "1");
    assert_eq!(uuid.len(), 36);
    assert_eq!([8, 13, 18, 23].map(|i| uuid.as_bytes()[i]), [b'-'; 4]);
    assert_eq!(uuid.as_bytes()[14], b'4', "version 4 layout");
    assert_eq!(lease.deadline, Some(Deadline::Mono(30_000)));
    assert_eq!(lease.fencing_token, None);
    assert_eq!(env.live_tasks(), 1, "the watchdog runs");
    // The client keeps its UUID across acquisitions.
    env.block_on(lock.release(&env, &lease));
    let again = env.block_on(lock.acquire(&env)).unwrap();
    assert_eq!(again.value, lease.value);
}

#[test]
fn renews_every_third_of_the_ttl_and_extends_the_deadline() {
    let hash = empty();
    let env = server(hash, |_| false);
    assert_eq!(cfg().renew_every_ms, 10_000);
    let mut lock = Watchdog::new(cfg());
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    env.run_until(45_000);
    // Acquire done at 1; each renewal takes 1 ms, the next is scheduled
    // 10 s after the previous one completed.
    assert_eq!(renew_times(&env), vec![10_001, 20_002, 30_003, 40_004]);
    let field = String::from_utf8(lease.value).unwrap();
    assert_eq!(
        env.summary()[1],
        format!("0 EVAL <renew> 1 lock 30000 {field}")
    );
    let notes: Vec<Note> = env.notes().into_iter().map(|n| n.1).collect();
    assert_eq!(notes.len(), 8);
    assert_eq!(notes[0], Note::Renewed { ok: true });
    assert_eq!(
        notes[1],
        Note::Extended {
            deadline: Deadline::Mono(40_001)
        }
    );
    assert_eq!(
        notes[7],
        Note::Extended {
            deadline: Deadline::Mono(70_004)
        }
    );
}

#[test]
fn a_failed_renewal_stops_the_watchdog_silently_by_default() {
    let env = server(empty(), |now| (15_000..25_000).contains(&now));
    let mut lock = Watchdog::new(cfg());
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    env.run_until(100_000);
    assert_eq!(renew_times(&env), vec![10_001, 20_002]);
    let notes: Vec<Note> = env.notes().into_iter().map(|n| n.1).collect();
    assert_eq!(
        notes[2..],
        [Note::Renewed { ok: false }, Note::WatchdogStopped]
    );
    assert_eq!(env.live_tasks(), 0);
    // The holder still has its lease: nobody told it (row 23).
    assert_eq!(lease.deadline, Some(Deadline::Mono(30_000)));
}

#[test]
fn with_retry_the_watchdog_keeps_going_after_a_timeout() {
    let env = server(empty(), |now| (15_000..25_000).contains(&now));
    let mut c = cfg();
    c.renew_on_error = RenewOnError::Retry;
    let mut lock = Watchdog::new(c);
    env.block_on(lock.acquire(&env)).unwrap();
    env.run_until(45_000);
    // The timed-out renewal waits the 50 ms request timeout.
    assert_eq!(renew_times(&env), vec![10_001, 20_002, 30_052, 40_053]);
    assert!(!env.notes().iter().any(|n| n.1 == Note::WatchdogStopped));
    assert_eq!(
        env.notes()
            .iter()
            .filter(|n| n.1 == Note::Renewed { ok: false })
            .count(),
        1
    );
}

#[test]
fn a_renewal_that_finds_the_lock_gone_stops_even_with_retry() {
    let hash = empty();
    let env = server(hash.clone(), |_| false);
    let mut c = cfg();
    c.renew_on_error = RenewOnError::Retry;
    let mut lock = Watchdog::new(c);
    env.block_on(lock.acquire(&env)).unwrap();
    env.run_until(15_000);
    *hash.borrow_mut() = Some((b"other-client:1".to_vec(), 1));
    env.run_until(60_000);
    assert_eq!(renew_times(&env), vec![10_001, 20_002]);
    assert_eq!(env.notes().last().unwrap().1, Note::WatchdogStopped);
}

#[test]
fn release_aborts_the_watchdog_then_unlocks() {
    let hash = empty();
    let env = server(hash.clone(), |_| false);
    let mut lock = Watchdog::new(cfg());
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    env.run_until(12_000);
    assert_eq!(
        env.block_on(lock.release(&env, &lease)),
        ReleaseOutcome::Released
    );
    assert_eq!(env.live_tasks(), 0);
    let field = String::from_utf8(lease.value).unwrap();
    assert_eq!(
        env.summary().last().unwrap(),
        &format!("0 EVAL <unlock> 2 lock redisson_lock__channel:{{lock}} 0 30000 {field}")
    );
    let sent = env.sent().len();
    env.run_until(100_000);
    assert_eq!(env.sent().len(), sent, "no renewal after release");
    assert!(hash.borrow().is_none());
}

#[test]
fn reentrancy_needs_one_unlock_per_entry() {
    let hash = empty();
    let env = server(hash.clone(), |_| false);
    let mut c = cfg();
    c.reentrant_depth = 2;
    let mut lock = Watchdog::new(c);
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    assert_eq!(
        env.summary()
            .iter()
            .filter(|l| l.contains("<acquire>"))
            .count(),
        2
    );
    assert_eq!(hash.borrow().as_ref().unwrap().1, 2);
    assert_eq!(
        env.block_on(lock.release(&env, &lease)),
        ReleaseOutcome::Released
    );
    let unlocks: Vec<_> = env
        .sent()
        .into_iter()
        .filter(|s| s.argv[1] == UNLOCK_SCRIPT.as_bytes())
        .collect();
    assert_eq!(unlocks.len(), 2);
    assert_eq!(
        unlocks[0].result,
        Ok(Reply::Int(0)),
        "the first unlock only decrements"
    );
    assert_eq!(unlocks[1].result, Ok(Reply::Int(1)));
    assert!(hash.borrow().is_none());
}

#[test]
fn releasing_a_stolen_lock_deletes_nothing() {
    let hash = empty();
    let env = server(hash.clone(), |_| false);
    let mut c = cfg();
    c.reentrant_depth = 2;
    let mut lock = Watchdog::new(c);
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    *hash.borrow_mut() = Some((b"thief:1".to_vec(), 1));
    let before = env.sent().len();
    assert_eq!(
        env.block_on(lock.release(&env, &lease)),
        ReleaseOutcome::NotHeld
    );
    assert_eq!(env.sent().len(), before + 1, "nil stops the unlocking");
    assert_eq!(*hash.borrow(), Some((b"thief:1".to_vec(), 1)));
}

#[test]
fn a_held_lock_is_polled_with_bounded_delays() {
    let hash: Hash = Rc::new(RefCell::new(Some((b"other:1".to_vec(), 1))));
    let env = server(hash, |_| false);
    let mut c = cfg();
    c.retry_count = 4;
    c.retry_delay_ms = 100;
    c.retry_jitter_ms = 30;
    let mut lock = Watchdog::new(c);
    assert_eq!(env.block_on(lock.acquire(&env)), Err(AcquireError::Busy));
    assert_eq!(env.sent().len(), 4);
    assert_eq!(env.sent()[0].result, Ok(Reply::Int(25_000)));
    let sleeps = env.sleeps();
    assert_eq!(sleeps.len(), 3);
    assert!(
        sleeps.iter().all(|&(_, ms)| (100..=130).contains(&ms)),
        "{sleeps:?}"
    );
    assert_eq!(env.live_tasks(), 0);
}

#[test]
fn script_overrides_replace_all_three_scripts() {
    let env = server(empty(), |_| false);
    env.label("ACQ", "acq");
    env.label("REN", "ren");
    env.label("UNL", "unl");
    let mut c = cfg();
    c.script_acquire = Some("ACQ".into());
    c.script_renew = Some("REN".into());
    c.script_release = Some("UNL".into());
    let mut lock = Watchdog::new(c);
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    env.run_until(10_500);
    env.block_on(lock.release(&env, &lease));
    let names: Vec<String> = env
        .summary()
        .iter()
        .map(|l| l.split(' ').nth(2).unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["<acq>", "<ren>", "<unl>"]);
}

#[test]
fn fencing_takes_the_token_inside_the_acquire_script() {
    let env = server(empty(), |_| false);
    env.label(FENCED_ACQUIRE_SCRIPT, "fenced");
    let mut c = cfg();
    c.fencing = true;
    let mut lock = Watchdog::new(c);
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    assert_eq!(
        lease.fencing_token,
        Some(7),
        "RFencedLock: INCR in the script"
    );
    assert_eq!(
        env.sent().len(),
        1,
        "no second command: atomic with the grant"
    );
    let other = server(Rc::new(RefCell::new(Some((b"x:1".to_vec(), 1)))), |_| false);
    let mut c = cfg();
    c.fencing = true;
    c.retry_count = 1;
    assert!(
        other.block_on(Watchdog::new(c).acquire(&other)).is_err(),
        "{{pttl, -1}} is a refusal"
    );
}

#[test]
fn fencing_with_a_script_of_ones_own_takes_a_token_after_the_grant() {
    let env = server(empty(), |_| false);
    env.label("ACQ", "acq");
    let mut c = cfg();
    c.fencing = true;
    c.script_acquire = Some("ACQ".into());
    let lease = env.block_on(Watchdog::new(c).acquire(&env)).unwrap();
    assert_eq!(lease.fencing_token, Some(5));
    assert_eq!(env.summary()[1], "0 INCR lock:fence");
}

#[test]
fn channel_name_follows_prefix_name() {
    assert_eq!(channel_name("lock"), "redisson_lock__channel:{lock}");
    assert_eq!(channel_name("{a}b"), "redisson_lock__channel:{a}b");
}

/// Redisson 3.11.0-3.12.0: a renewal that times out leaves its entry; the
/// lock expires, the unlock answers nil and keeps the entry, and the next
/// hold arms no timer. With the entry cleared (3.12.1 onwards) the next
/// hold is renewed as usual.
#[test]
fn a_stale_renewal_entry_leaves_the_next_hold_unrenewed() {
    for stale in [true, false] {
        let hash = empty();
        let env = server(hash.clone(), |now| (5_000..15_000).contains(&now));
        let mut c = cfg();
        c.stale_renewal_entry = stale;
        let mut lock = Watchdog::new(c);
        let lease = env.block_on(lock.acquire(&env)).unwrap();
        env.run_until(35_000);
        assert_eq!(renew_times(&env), vec![10_001], "stale = {stale}");
        *hash.borrow_mut() = None; // the key expired at 30 s
        assert_eq!(
            env.block_on(lock.release(&env, &lease)),
            ReleaseOutcome::NotHeld
        );
        env.block_on(lock.acquire(&env)).unwrap();
        env.run_until(80_000);
        let later = renew_times(&env).len() - 1;
        if stale {
            assert_eq!(later, 0, "the second hold is never renewed");
            assert_eq!(env.live_tasks(), 0);
        } else {
            assert_eq!(later, 4, "renewed every 10 s");
        }
    }
    // An unlock that finds the lock clears the entry even on 3.11.
    let hash = empty();
    let env = server(hash.clone(), |now| (5_000..15_000).contains(&now));
    let mut c = cfg();
    c.stale_renewal_entry = true;
    let mut lock = Watchdog::new(c);
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    env.run_until(20_000);
    assert_eq!(
        env.block_on(lock.release(&env, &lease)),
        ReleaseOutcome::Released
    );
    env.block_on(lock.acquire(&env)).unwrap();
    env.run_until(45_000);
    assert_eq!(renew_times(&env).len(), 1 + 2, "renewed again");
}
