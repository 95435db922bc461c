//! Redlock tests against the scripted env: five (or N) nodes, each holding
//! at most one value under the lock key, played by the reply closure.

use super::*;
use crate::config::{Algorithm, Release};
use crate::env::CallError;
use crate::scripted::ScriptedEnv;
use std::cell::RefCell;
use std::rc::Rc;

type Keys = Rc<RefCell<Vec<Option<Vec<u8>>>>>;

fn cfg() -> LockConfig {
    LockConfig::defaults(Algorithm::Redlock)
}

/// `n` nodes; `held` hold another client's value; `silent` never answer.
fn cluster(n: usize, held: &[usize], silent: &[usize]) -> (ScriptedEnv, Keys) {
    let keys: Keys = Rc::new(RefCell::new(
        (0..n)
            .map(|i| held.contains(&i).then(|| b"other".to_vec()))
            .collect(),
    ));
    let silent = silent.to_vec();
    let k = keys.clone();
    let env = ScriptedEnv::new(n, 21, move |node, a, _| {
        if silent.contains(&node) {
            return Err(CallError::Timeout);
        }
        let mut keys = k.borrow_mut();
        let slot = &mut keys[node];
        let ours = |slot: &Option<Vec<u8>>, v: &[u8]| slot.as_deref() == Some(v);
        match (a[0].as_slice(), a.get(1).map(|s| s.as_slice())) {
            (b"SET", _) => {
                assert_eq!(a[3..5], [b"NX".to_vec(), b"PX".to_vec()]);
                if slot.is_some() {
                    return Ok(Reply::nil());
                }
                *slot = Some(a[2].clone());
                Ok(Reply::ok())
            }
            (b"EVAL", Some(b"ACQ")) => {
                if slot.is_some() {
                    return Ok(Reply::nil());
                }
                *slot = Some(a[5].clone());
                Ok(Reply::Int(1))
            }
            (b"EVAL", Some(s)) if s == RELEASE_SCRIPT.as_bytes() => {
                if ours(slot, &a[4]) {
                    *slot = None;
                    return Ok(Reply::Int(1));
                }
                Ok(Reply::Int(0))
            }
            (b"EVAL", Some(s)) if s == EXTEND_SCRIPT.as_bytes() || s == b"EXT" => {
                Ok(Reply::Int(ours(slot, &a[4]) as i64))
            }
            (b"DEL", _) => Ok(Reply::Int(slot.take().is_some() as i64)),
            _ => panic!("unexpected {a:?}"),
        }
    });
    env.label(RELEASE_SCRIPT, "release");
    env.label(EXTEND_SCRIPT, "extend");
    (env, keys)
}

fn verbs(env: &ScriptedEnv) -> Vec<String> {
    env.summary()
        .iter()
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect()
}

fn info(env: &ScriptedEnv) -> Vec<String> {
    env.notes()
        .into_iter()
        .filter_map(|(_, n)| match n {
            Note::Info(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn arithmetic_matches_node_redlock() {
    assert_eq!([1, 2, 3, 4, 5, 7].map(quorum), [1, 2, 2, 3, 3, 4]);
    assert_eq!(drift_ms(10_000, 0.01), 102);
    assert_eq!(drift_ms(8_000, 0.01), 82);
    assert_eq!(drift_ms(250, 0.01), 5, "Math.round(2.5) = 3");
    assert_eq!(drift_ms(1_000, 0.0), 2);
    assert_eq!(validity_ms(10_000, 30, 102), 9_868);
    assert_eq!(validity_ms(100, 99, 4), -3);
}

#[test]
fn three_of_five_succeeds_in_parallel() {
    let (env, keys) = cluster(5, &[3, 4], &[]);
    let lease = env.block_on(Redlock::new(cfg()).acquire(&env)).unwrap();
    let v = String::from_utf8(lease.value.clone()).unwrap();
    let want: Vec<String> = (0..5)
        .map(|i| format!("{i} SET lock {v} NX PX 10000"))
        .collect();
    assert_eq!(env.summary(), want);
    assert!(
        env.sent()
            .iter()
            .all(|s| s.at_ms == 0 && s.timeout_ms == 50),
        "sent at once"
    );
    assert_eq!(lease.nodes, vec![0, 1, 2]);
    assert_eq!(lease.deadline, Some(Deadline::Mono(10_000 - 102)));
    assert_eq!(lease.fencing_token, None);
    assert_eq!(
        info(&env),
        vec!["redlock: 3/5 granted (quorum 3), validity 9897 ms"]
    );
    assert_eq!(keys.borrow()[0].as_deref(), Some(lease.value.as_slice()));
}

#[test]
fn two_of_five_fails_and_unlocks_all_five() {
    let (env, keys) = cluster(5, &[2, 3, 4], &[]);
    let mut c = cfg();
    c.retry_count = 1;
    assert_eq!(
        env.block_on(Redlock::new(c).acquire(&env)),
        Err(AcquireError::Busy)
    );
    let v: Vec<String> = verbs(&env);
    assert_eq!(
        v[..5],
        (0..5).map(|i| format!("{i} SET lock")).collect::<Vec<_>>()[..]
    );
    assert_eq!(
        v[5..],
        (0..5)
            .map(|i| format!("{i} EVAL <release>"))
            .collect::<Vec<_>>()[..]
    );
    assert_eq!(
        keys.borrow()[..2],
        [None, None],
        "its own grants are undone"
    );
    assert!(
        keys.borrow()[2..]
            .iter()
            .all(|k| k.as_deref() == Some(b"other".as_slice())),
        "others untouched"
    );
    assert!(info(&env)[0].ends_with(": failed"));
}

#[test]
fn retries_reuse_the_value_with_bounded_delays() {
    let (env, _) = cluster(5, &[0, 1, 2], &[]);
    let mut c = cfg();
    c.retry_count = 4;
    assert_eq!(
        env.block_on(Redlock::new(c).acquire(&env)),
        Err(AcquireError::Busy)
    );
    assert_eq!(env.sent().len(), 4 * 10);
    let values: std::collections::BTreeSet<Vec<u8>> = env
        .sent()
        .iter()
        .filter(|s| s.argv[0] == b"SET")
        .map(|s| s.argv[2].clone())
        .collect();
    assert_eq!(
        values.len(),
        1,
        "one value per acquire, as the libraries do"
    );
    let sleeps = env.sleeps();
    assert_eq!(sleeps.len(), 3);
    assert!(
        sleeps.iter().all(|&(_, ms)| (200..=300).contains(&ms)),
        "{sleeps:?}"
    );
}

#[test]
fn timeouts_count_as_refusals() {
    // Two silent nodes and one held: 2/5, each silent call costs the timeout.
    let (env, _) = cluster(5, &[2], &[3, 4]);
    let mut c = cfg();
    c.retry_count = 1;
    assert_eq!(
        env.block_on(Redlock::new(c.clone()).acquire(&env)),
        Err(AcquireError::Busy)
    );
    assert!(info(&env)[0].starts_with("redlock: 2/5 granted"));
    // Two silent nodes only: 3/5, elapsed is the 50 ms timeout.
    let (env, _) = cluster(5, &[], &[3, 4]);
    let lease = env.block_on(Redlock::new(c).acquire(&env)).unwrap();
    assert_eq!(lease.nodes, vec![0, 1, 2]);
    assert_eq!(
        info(&env)[0],
        "redlock: 3/5 granted (quorum 3), validity 9848 ms"
    );
}

#[test]
fn validity_must_stay_positive() {
    // ttl 200: drift = round(2) + 2 = 4, so 196 ms of latency leaves 0.
    let mut c = cfg();
    c.ttl_ms = 200;
    c.request_timeout_ms = 1_000;
    c.retry_count = 1;
    for (latency, check, ok) in [
        (195, true, true),
        (196, true, false),
        (196, false, true),
        (500, false, true),
    ] {
        let (env, keys) = cluster(5, &[], &[]);
        let env = env.with_latency(latency);
        let mut cc = c.clone();
        cc.validity_check = check;
        let got = env.block_on(Redlock::new(cc).acquire(&env));
        assert_eq!(got.is_ok(), ok, "latency {latency} check {check}");
        if let Ok(lease) = got {
            assert_eq!(lease.deadline, Some(Deadline::Mono(196)));
        } else {
            assert!(
                keys.borrow().iter().all(Option::is_none),
                "unlocked after running out of validity"
            );
        }
    }
}

#[test]
fn no_quorum_fails_even_without_the_validity_check() {
    let (env, _) = cluster(5, &[0, 1, 2], &[]);
    let mut c = cfg();
    c.validity_check = false;
    c.retry_count = 1;
    assert_eq!(
        env.block_on(Redlock::new(c).acquire(&env)),
        Err(AcquireError::Busy)
    );
}

#[test]
fn sequential_mode_locks_one_node_after_another() {
    let (env, _) = cluster(5, &[1], &[]);
    let env = env.with_latency(2);
    let mut c = cfg();
    c.sequential = true;
    let mut lock = Redlock::new(c);
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    let at: Vec<(usize, u64)> = env.sent().iter().map(|s| (s.node, s.at_ms)).collect();
    assert_eq!(at, vec![(0, 0), (1, 2), (2, 4), (3, 6), (4, 8)]);
    assert_eq!(lease.nodes, vec![0, 2, 3, 4]);
    assert_eq!(
        info(&env)[0],
        "redlock: 4/5 granted (quorum 3), validity 9888 ms"
    );
    env.block_on(lock.release(&env, &lease));
    let at: Vec<(usize, u64)> = env.sent()[5..].iter().map(|s| (s.node, s.at_ms)).collect();
    assert_eq!(at, vec![(0, 10), (1, 12), (2, 14), (3, 16), (4, 18)]);
}

#[test]
fn release_compare_and_deletes_on_every_node_in_parallel() {
    let (env, keys) = cluster(5, &[3, 4], &[]);
    let mut lock = Redlock::new(cfg());
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    assert_eq!(
        env.block_on(lock.release(&env, &lease)),
        ReleaseOutcome::Released
    );
    let rel: Vec<_> = env.sent()[5..].to_vec();
    assert_eq!(rel.len(), 5);
    assert!(rel.iter().all(|s| s.at_ms == 1 && s.argv[4] == lease.value));
    assert_eq!(keys.borrow()[..3], [None, None, None]);
    assert_eq!(keys.borrow()[3].as_deref(), Some(b"other".as_slice()));
}

#[test]
fn releasing_a_stolen_lock_deletes_nothing_but_del_would() {
    let (env, keys) = cluster(5, &[], &[]);
    let mut lock = Redlock::new(cfg());
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    for k in keys.borrow_mut().iter_mut() {
        *k = Some(b"next-holder".to_vec());
    }
    assert_eq!(
        env.block_on(lock.release(&env, &lease)),
        ReleaseOutcome::NotHeld
    );
    assert!(keys.borrow().iter().all(|k| k.is_some()));
    let mut c = cfg();
    c.release = Release::Del;
    assert_eq!(
        env.block_on(Redlock::new(c).release(&env, &lease)),
        ReleaseOutcome::Released
    );
    assert!(keys.borrow().iter().all(|k| k.is_none()));
}

#[test]
fn release_without_answers_is_unknown() {
    let (env, _) = cluster(5, &[], &[0, 1, 2]);
    let lease = Lease {
        value: b"v".to_vec(),
        fencing_token: None,
        deadline: None,
        nodes: vec![],
    };
    assert_eq!(
        env.block_on(Redlock::new(cfg()).release(&env, &lease)),
        ReleaseOutcome::Unknown
    );
}

#[test]
fn extend_needs_a_majority_and_notes_the_new_deadline() {
    let (env, keys) = cluster(5, &[4], &[]);
    let mut lock = Redlock::new(cfg());
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    env.run_until(5_000);
    let ext = env.block_on(lock.extend(&env, &lease, 8_000)).unwrap();
    let v = String::from_utf8(lease.value.clone()).unwrap();
    assert_eq!(env.summary()[5], format!("0 EVAL <extend> 1 lock {v} 8000"));
    assert!(env.sent()[5..].iter().all(|s| s.at_ms == 5_000));
    assert_eq!(ext.nodes, vec![0, 1, 2, 3]);
    assert_eq!(ext.deadline, Some(Deadline::Mono(5_000 + 8_000 - 82)));
    assert!(env.notes().contains(&(
        5_001,
        Note::Extended {
            deadline: Deadline::Mono(12_918)
        }
    )));
    // Lost on three nodes: no majority, no extension, nothing unlocked.
    for k in keys.borrow_mut()[..3].iter_mut() {
        *k = None;
    }
    assert_eq!(env.block_on(lock.extend(&env, &lease, 8_000)), None);
    assert_eq!(keys.borrow()[3].as_deref(), Some(lease.value.as_slice()));
}

#[test]
fn script_overrides_for_acquire_and_extend() {
    let (env, _) = cluster(3, &[], &[]);
    env.label("ACQ", "acq");
    env.label("EXT", "ext");
    let mut c = cfg();
    c.script_acquire = Some("ACQ".into());
    c.script_renew = Some("EXT".into());
    let mut lock = Redlock::new(c);
    let lease = env.block_on(lock.acquire(&env)).unwrap();
    let v = String::from_utf8(lease.value.clone()).unwrap();
    assert_eq!(
        env.summary()[0],
        format!("0 EVAL <acq> 2 lock lock:fence {v} 10000")
    );
    assert!(env.block_on(lock.extend(&env, &lease, 1_000)).is_some());
    assert!(env.summary()[3].starts_with("0 EVAL <ext> 1 lock "));
}

#[test]
fn fencing_is_rejected() {
    let mut c = cfg();
    assert!(c.validate().is_ok());
    c.fencing = true;
    assert!(c.validate().unwrap_err().contains("fencing"));
}
