//! Library profiles (`[lock] library = "NAME@VERSION"`): resolution and
//! its errors, `locksim libraries`, and stories where a version's own
//! behaviour decides the verdict, shown by the run's history rather than
//! by a label.

use locksim::history::{CallEnd, EventKind, History};
use locksim::model::{Scenario, Verdict};
use locksim::scenario::{load_scenario, parse_scenario};
use locksim::world::run::run;
use locksim_models::library;
use std::path::Path;
use std::process::Command;

fn scenario(name: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    load_scenario(&p).unwrap_or_else(|e| panic!("{e}"))
}

/// The commands client `client` sent whose first word is `word`, with how
/// each call ended.
fn calls(h: &History, client: usize, word: &str) -> Vec<CallEnd> {
    let mut sent = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for e in &h.events {
        match &e.kind {
            EventKind::CallInvoke {
                client: c, id, cmd, ..
            } if *c == client && cmd[0].eq_ignore_ascii_case(word.as_bytes()) => {
                sent.insert(*id, ());
            }
            EventKind::CallDone {
                client: c, id, end, ..
            } if *c == client && sent.contains_key(id) => out.push(end.clone()),
            _ => {}
        }
    }
    out
}

#[test]
fn the_ten_libraries_resolve_at_their_current_version() {
    let names: Vec<&str> = library::all().iter().map(|p| p.name).collect();
    for want in [
        "redisson",
        "redisson-fenced",
        "redisson-redlock",
        "redsync",
        "node-redlock",
        "redlock-rb",
        "redlock-py",
        "pottery",
        "redis-py",
        "python-redis-lock",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for p in library::all() {
        let first = library::resolve(&format!("{}@{}", p.name, p.first)).unwrap();
        let current = library::resolve(&format!("{}@{}", p.name, p.current)).unwrap();
        assert!(first.config.validate().is_ok(), "{}@{}", p.name, p.first);
        assert!(
            current.config.validate().is_ok(),
            "{}@{}",
            p.name,
            p.current
        );
        // Changes are listed oldest first (a profile that starts later,
        // such as RFencedLock at 3.19.0, inherits the earlier ones).
        for w in p.changes.windows(2) {
            let (a, b) = (w[0].since, w[1].since);
            assert!(
                library::Version::parse(a).unwrap() < library::Version::parse(b).unwrap(),
                "{}: {a} listed before {b}",
                p.name
            );
        }
        for c in p.changes {
            assert!(!c.source.is_empty() && !c.what.is_empty());
        }
    }
}

#[test]
fn a_version_gets_every_change_at_or_before_it() {
    use locksim_models::{OnUnsynced, RenewOnError, SyncReplicas};
    let at = |v: &str| library::resolve(&format!("redisson@{v}")).unwrap().config;
    assert_eq!(at("3.11.0").sync_replicas, SyncReplicas::None);
    assert_eq!(at("3.12.5").sync_replicas, SyncReplicas::Unawaited);
    assert_eq!(at("3.13").sync_replicas, SyncReplicas::Unawaited);
    assert_eq!(at("3.16.7").sync_replicas, SyncReplicas::All);
    assert_eq!(at("3.17.5").sync_replicas, SyncReplicas::Any);
    assert_eq!(at("3.20.0").on_unsynced, OnUnsynced::Unlock);
    assert_eq!(
        at("3.27.0").on_unsynced,
        OnUnsynced::Keep,
        "the 3.25 regression"
    );
    assert_eq!(at("3.43.0").renew_on_error, RenewOnError::Stop);
    assert_eq!(at("3.44.0").renew_on_error, RenewOnError::Retry);
    assert_eq!(at("3.47.0").on_unsynced, OnUnsynced::Unlock);
    let nr = |v: &str| {
        library::resolve(&format!("node-redlock@{v}"))
            .unwrap()
            .config
    };
    assert!(nr("4.2.0").validity_check && !nr("4.2.0").keep_partial);
    assert!(!nr("5.0.0-beta.2").validity_check && nr("5.0.0-beta.2").keep_partial);
    assert!(
        nr("5.0.0-alpha.0").start_once,
        "a pre-release gets its own change"
    );
}

#[test]
fn unknown_names_and_early_versions_are_errors_with_a_hint() {
    let text =
        |lib: &str| format!("name = \"t\"\nexpect = \"safe\"\n[lock]\nlibrary = \"{lib}\"\n");
    let e = parse_scenario(&text("redison@3.27.0"), "t.toml").unwrap_err();
    assert_eq!((e.line, e.col), (4, 11), "{e}");
    assert!(e.message.contains("unknown library \"redison\""), "{e}");
    let hint = e.hint.unwrap();
    assert!(
        hint.contains("redisson") && hint.contains("python-redis-lock"),
        "{hint}"
    );
    let e = parse_scenario(&text("redisson@2.0"), "t.toml").unwrap_err();
    assert!(e.message.contains("before the first release"), "{e}");
    let e = parse_scenario(&text("redisson"), "t.toml").unwrap_err();
    assert!(e.hint.unwrap().contains("NAME@VERSION"));
    let e = parse_scenario(&text("redisson@latest"), "t.toml").unwrap_err();
    assert!(e.message.contains("not a version"), "{e}");
    let bad = "name = \"t\"\nexpect = \"safe\"\n[lock]\nlibrary = \"redsync@4.17.0\"\nalgorithm = \"watchdog\"\n";
    let e = parse_scenario(bad, "t.toml").unwrap_err();
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("contradicts"), "{e}");
}

#[test]
fn other_lock_keys_override_one_default_and_round_trip() {
    let s = parse_scenario(
        "name = \"t\"\nexpect = \"safe\"\n[lock]\nlibrary = \"redis-py@8.1.0\"\nttl_ms = 2000\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(s.lock.ttl_ms, 2000);
    assert_eq!(s.lock.retry_delay_ms, 100, "the rest is the profile's");
    assert_eq!(s.lock.library.as_deref(), Some("redis-py@8.1.0"));
    let again = parse_scenario(&s.to_toml(), "t.toml").unwrap();
    assert_eq!(again, s);
}

#[test]
fn locksim_libraries_lists_every_profile_with_its_changes() {
    let out = Command::new(env!("CARGO_BIN_EXE_locksim"))
        .args(["libraries", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), library::all().len());
    let redisson = list.iter().find(|p| p["name"] == "redisson").unwrap();
    assert_eq!(redisson["algorithm"], "watchdog");
    assert!(redisson["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["since"] == "3.12.5"));
    let text = Command::new(env!("CARGO_BIN_EXE_locksim"))
        .arg("libraries")
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("node-redlock") && text.contains("5.0.0-alpha.0"));
}

/// Row 36 and its counterpart: on Sentinel, with the master killed right
/// after it granted client-0's lock, Redisson 3.27.0 fails the acquire
/// because its `WAIT` is never answered, and stays safe; 3.11.0 sends no
/// `WAIT`, takes the grant and violates.
#[test]
fn redisson_3_27_waits_for_replicas_where_3_11_violates() {
    let new = scenario("redisson-3-27-0-sentinel-kill-after-grant");
    let old = scenario("redisson-3-11-0-sentinel-kill-after-grant");
    for seed in 1..=10 {
        let o = run(&new, seed);
        assert_eq!(o.verdict(), Verdict::Safe, "3.27.0 seed {seed}");
        let waits = calls(&o.history, 0, "WAIT");
        assert_eq!(
            waits.first(),
            Some(&CallEnd::Timeout),
            "seed {seed}: client-0's first WAIT goes to the dead master"
        );
        let o = run(&old, seed);
        assert_eq!(o.verdict(), Verdict::Violation, "3.11.0 seed {seed}");
        assert!(
            calls(&o.history, 0, "WAIT").is_empty(),
            "3.11.0 sends no WAIT"
        );
    }
    // The same 3.27.0 without its replica check violates: the WAIT, not
    // the label, is what keeps it safe.
    let mut no_wait = new.clone();
    no_wait.lock.sync_replicas = locksim_models::SyncReplicas::None;
    assert_eq!(run(&no_wait, 1).verdict(), Verdict::Violation);
}

/// The values `client` acquired with, in order.
fn acquired_values(h: &History, client: usize) -> Vec<String> {
    h.events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AcquireOk {
                client: c, value, ..
            } if *c == client => Some(value.clone()),
            _ => None,
        })
        .collect()
}

/// Row 34 and its fix: on 3.11.0 the overlap is in client-0's second hold,
/// the one the stale renewal entry left unrenewed; 3.14.0 renews that hold.
#[test]
fn redisson_3_11_leaves_the_next_hold_unrenewed_where_3_14_renews_it() {
    let entry = |v: &str| {
        library::resolve(&format!("redisson@{v}"))
            .unwrap()
            .config
            .stale_renewal_entry
    };
    assert!(entry("3.11.0") && entry("3.12.0") && !entry("3.12.1") && !entry("3.14.0"));
    let old = scenario("redisson-3-11-0-renewal-timeout-poisons-later-holds");
    let new = scenario("redisson-3-14-0-renewal-timeout-poisons-later-holds");
    for seed in 1..=5 {
        let o = run(&old, seed);
        let v = &o.check.violations[0];
        let w = o
            .check
            .windows
            .iter()
            .find(|w| w.client == 0 && w.start_us <= v.from_us && v.from_us < w.end_us)
            .expect("client-0's window in the overlap");
        assert_eq!(w.cycle, 1, "seed {seed}: the second hold, not the first");
        let renewed_in_second_hold = |o: &locksim::world::run::Outcome| {
            o.history.events.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::Renewal {
                        client: 0,
                        ok: true
                    }
                ) && o.check.windows.iter().any(|w| {
                    w.client == 0 && w.cycle == 1 && w.start_us < e.t_us && e.t_us < w.end_us
                })
            })
        };
        assert!(!renewed_in_second_hold(&o), "seed {seed}: 3.11.0");
        let o = run(&new, seed);
        assert_eq!(o.verdict(), Verdict::Safe, "3.14.0 seed {seed}");
        assert!(renewed_in_second_hold(&o), "seed {seed}: 3.14.0");
    }
}

/// Row 42 and its counterpart: both raise the abort signal after the
/// stall; the routine that reads it stops writing (no R), the one that
/// does not writes stale; the stalled leases overlap either way (L).
#[test]
fn node_redlock_using_routine_that_reads_the_signal_stops_writing() {
    let ignores = scenario("node-redlock-5-0-0-beta-2-using-ignores-abort");
    let checks = scenario("node-redlock-5-0-0-beta-2-using-checks-abort");
    for seed in 1..=5 {
        for (s, stale) in [(&ignores, true), (&checks, false)] {
            let o = run(s, seed);
            assert!(
                o.history
                    .events
                    .iter()
                    .any(|e| matches!(e.kind, EventKind::Aborted { client: 0 })),
                "{} seed {seed}: the signal was raised",
                s.name
            );
            let kinds: Vec<_> = o.check.violations.iter().map(|v| v.kind).collect();
            assert!(kinds.contains(&locksim::oracle::ViolationKind::L));
            assert_eq!(
                kinds.contains(&locksim::oracle::ViolationKind::R),
                stale,
                "{} seed {seed}: {kinds:?}",
                s.name
            );
        }
    }
}

/// Row 45 and its counterpart: with the shared slot, task A's release
/// script carries task B's token; with one slot per thread, A's own.
#[test]
fn redis_py_shared_token_release_carries_the_next_holders_token() {
    for (name, shared) in [
        ("redis-py-8-1-0-asyncio-tasks-share-a-token", true),
        ("redis-py-8-1-0-threads-own-their-tokens", false),
    ] {
        let o = run(&scenario(name), 1);
        let a = acquired_values(&o.history, 0)[0].clone();
        let b = acquired_values(&o.history, 1)[0].clone();
        let released_with = o
            .history
            .events
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::CallInvoke { client: 0, cmd, .. } if cmd[0] == b"EVAL" => {
                    Some(String::from_utf8_lossy(&cmd[4]).into_owned())
                }
                _ => None,
            })
            .expect("client-0 released");
        assert_eq!(released_with, if shared { b } else { a }, "{name}");
        let first = &o.check.violations.first().map(|v| v.clients);
        if shared {
            assert_eq!(*first, Some([1, 2]), "B and C overlap");
        } else {
            assert_eq!(o.verdict(), Verdict::Safe);
        }
    }
}

/// Whether client `client`'s library re-sent an `EVAL` (a `client_retries`
/// re-send, noted in the history).
fn resent_eval(h: &History, client: usize) -> bool {
    h.events.iter().any(|e| {
        matches!(&e.kind, EventKind::Note { client: c, text }
            if *c == client && text.starts_with("client library re-sends EVAL"))
    })
}

/// Row 39 (#7367): on a master with replicas Redisson 4.7.0 re-sends the
/// acquire batch that waited out a stall, both copies run and the last
/// unlock leaves the key held; on a single server 3.37.0+ the client
/// library sends it once (the lock loop's own next attempt still follows).
#[test]
fn redisson_4_7_resends_a_stalled_acquire_with_replicas_but_not_on_a_single_server() {
    let sentinel = scenario("redisson-4-7-0-resent-acquire-runs-twice");
    let o = run(&sentinel, 1);
    assert_eq!(o.verdict(), Verdict::Liveness);
    assert!(resent_eval(&o.history, 0));
    let evals = calls(&o.history, 0, "EVAL");
    assert_eq!(
        evals[..2],
        [
            CallEnd::Timeout,
            CallEnd::Ok {
                reply: locksim_models::Reply::nil()
            }
        ],
        "the first copy timed out, the re-sent one was answered"
    );
    let granted = o
        .history
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Granted { client: 0, .. }))
        .count();
    assert_eq!(granted, 2, "both copies ran (hold count 2)");

    // The same stall on a single server: not re-sent from 3.37.0 on, re-sent
    // before.
    let mut single = sentinel.clone();
    single.redis.topology = locksim::model::Topology::Single;
    single.redis.nodes = 1;
    let o = run(&single, 1);
    assert_eq!(
        calls(&o.history, 0, "EVAL").first(),
        Some(&CallEnd::Timeout)
    );
    assert!(!resent_eval(&o.history, 0), "4.7.0 single server");
    single.lock.single_server_no_resend = false;
    assert!(resent_eval(&run(&single, 1).history, 0), "before 3.37.0");
}
