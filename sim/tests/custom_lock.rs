//! A lock of one's own (`locksim::model::custom`): a scenario carries it
//! to every client of a run, deterministically; files name it with
//! `[lock] custom = "NAME"`, which round-trips and is an error at the key
//! when nothing registered it; a scenario built in code is checked like a
//! file; live mode refuses it with a reason.

use locksim::model::custom::{self, CustomLock};
use locksim::model::{Fault, FaultSpec, NodeRef, Scenario, Trigger, Verdict};
use locksim::scenario::parse_scenario;
use locksim::world;
use locksim_models::{Algorithm, AnyLock, Release};

/// set-nx-px, but released with a plain DEL whatever the file says: the
/// custom code, not the `[lock]` table, decides.
fn del_release() -> CustomLock {
    CustomLock::new("test-del-release", |cfg| {
        let mut c = cfg.clone();
        c.release = Release::Del;
        AnyLock::new(c).expect("a valid set-nx-px config")
    })
}

/// Row 4's story: client-0 pauses past its TTL, client-1 takes the lock,
/// client-0 wakes and releases. The compare-and-delete release of
/// set-nx-px deletes nothing; a plain DEL frees client-1's lock and
/// client-2 gets in while client-1 still works.
fn row_4() -> Scenario {
    let mut s = Scenario::with_defaults("custom-row-4", Verdict::Safe, Algorithm::SetNxPx);
    s.duration_ms = 20_000;
    s.lock.ttl_ms = 1_000;
    s.lock.validity_check = true;
    s.clients.cycles = 2;
    s.clients.work_ms = locksim::model::Span::new(400, 400);
    s.faults.push(FaultSpec::on(
        Trigger::Released { client: 0 },
        Fault::Pause {
            node: NodeRef::Client(0),
            for_ms: 1_500,
        },
    ));
    s.validated().expect("a valid scenario")
}

fn commands(s: &Scenario) -> String {
    world::run(s, s.seed).history.to_jsonl()
}

#[test]
fn every_client_runs_the_custom_lock_and_the_run_is_deterministic() {
    let builtin = row_4();
    let custom = row_4().with_custom_lock(del_release());
    let b = commands(&builtin);
    let c = commands(&custom);
    assert!(
        b.contains("\"EVAL\"") && !b.contains("\"DEL\""),
        "built-in: Lua release"
    );
    assert!(
        c.contains("\"DEL\"") && !c.contains("\"EVAL\""),
        "custom: plain DEL"
    );
    assert_eq!(
        world::run(&custom, 3).hash(),
        world::run(&custom, 3).hash(),
        "same scenario and seed, same history"
    );
}

#[test]
fn the_custom_lock_changes_the_verdict_of_the_same_story() {
    let seeds = 0..20;
    let builtin = row_4();
    let custom = row_4().with_custom_lock(del_release());
    let l = |s: &Scenario, seed| {
        world::run(s, seed)
            .check
            .violations
            .iter()
            .any(|v| v.kind == locksim::oracle::ViolationKind::L)
    };
    let builtin_l = seeds.clone().filter(|&seed| l(&builtin, seed)).count();
    let custom_l = seeds.clone().filter(|&seed| l(&custom, seed)).count();
    assert_eq!(
        builtin_l, 0,
        "compare-and-delete never frees another's lock"
    );
    assert!(custom_l > 0, "a plain DEL does, on some seed of 20");
}

#[test]
fn a_file_names_the_custom_lock_and_round_trips() {
    let s = row_4().with_custom_lock(del_release());
    let text = s.to_toml();
    assert!(text.contains("custom = \"test-del-release\""), "{text}");
    let back = parse_scenario(&text, "t.toml").unwrap();
    assert_eq!(back, s);
    assert_eq!(back.custom_lock, Some(del_release()));
    assert_eq!(
        back.algorithm_label(),
        "custom \"test-del-release\" (defaults of set-nx-px)"
    );
    let md = locksim::report::markdown::render(&back, "t.toml", &world::run(&back, 1));
    assert!(md.contains("custom \"test-del-release\""), "{md}");
}

#[test]
fn an_unregistered_custom_lock_is_an_error_at_the_key() {
    let text = "name = \"t\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"set-nx-px\"\ncustom = \"nobody-registered-this\"\n";
    let e = parse_scenario(text, "t.toml").unwrap_err();
    assert_eq!((e.line, e.col), (5, 10), "{e}");
    assert!(
        e.message
            .contains("no custom lock named \"nobody-registered-this\" is registered"),
        "{e}"
    );
    let hint = e.hint.unwrap_or_default();
    assert!(
        hint.contains("registered in this process") || hint.contains("Rust code"),
        "{hint}"
    );
}

#[test]
fn a_configuration_the_custom_lock_refuses_is_an_error_at_the_key() {
    custom::register(CustomLock::try_new("test-short-ttl-only", |cfg| {
        if cfg.ttl_ms > 5_000 {
            return Err(format!("ttl_ms = {} is over 5000", cfg.ttl_ms));
        }
        AnyLock::new(cfg.clone())
    }));
    let text = "name = \"t\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"set-nx-px\"\nttl_ms = 9000\ncustom = \"test-short-ttl-only\"\n";
    let e = parse_scenario(text, "t.toml").unwrap_err();
    assert_eq!((e.line, e.col), (6, 10), "{e}");
    assert!(e.message.contains("ttl_ms = 9000 is over 5000"), "{e}");
    assert!(parse_scenario(&text.replace("9000", "1000"), "t.toml").is_ok());
}

#[test]
fn a_scenario_built_in_code_is_checked_like_a_file() {
    let mut s = row_4();
    s.faults.push(FaultSpec::at(
        5,
        Fault::Kill {
            node: NodeRef::Redis(4),
            for_ms: None,
        },
    ));
    let e = s.validated().unwrap_err();
    assert!(e.message.contains("redis-4"), "{e}");
    assert!(e.message.contains("(at `node = \"redis-4\"`)"), "{e}");
    let with_trigger = FaultSpec::on(
        Trigger::Acquired { client: 1 },
        Fault::Pause {
            node: NodeRef::Client(1),
            for_ms: 10,
        },
    )
    .nth(2)
    .delay_ms(7);
    let mut s = row_4();
    s.faults.push(with_trigger.clone());
    let text = s.validated().unwrap().to_toml();
    assert!(
        text.contains("on = \"acquired:client-1\"\nnth = 2\ndelay_ms = 7"),
        "{text}"
    );
}

#[test]
fn live_mode_refuses_a_custom_rust_lock() {
    let s = row_4().with_custom_lock(del_release());
    let why = locksim::live::refusal(&s).expect("refused");
    assert!(why.contains("custom lock \"test-del-release\""), "{why}");
    assert!(why.contains("--client"), "{why}");
}

#[test]
fn custom_lock_names_are_checked() {
    assert!(custom::check_name("my-lock_2").is_ok());
    for bad in ["", "My-Lock", "a b", "x\"y"] {
        assert!(custom::check_name(bad).is_err(), "{bad:?}");
    }
    let panicked = std::panic::catch_unwind(|| del_release_named("Bad Name"));
    assert!(panicked.is_err());
}

fn del_release_named(name: &str) -> CustomLock {
    CustomLock::new(name, |cfg| AnyLock::new(cfg.clone()).unwrap())
}
