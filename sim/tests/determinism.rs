//! Same scenario + same seed = byte-identical history: twice in a row,
//! after a hundred other runs on the same thread, and on another thread.

use locksim::model::Scenario;
use locksim::world::run::run;

use locksim::scenario::load_scenario;
use std::path::Path;

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    load_scenario(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn fingerprint(s: &Scenario, seed: u64) -> (String, String) {
    let o = run(s, seed);
    (o.hash(), o.history.to_jsonl())
}

#[test]
fn the_same_seed_twice_gives_the_same_history() {
    let s = scenario("set-nx-px-restart-without-persistence");
    let (h1, j1) = fingerprint(&s, 3);
    let (h2, j2) = fingerprint(&s, 3);
    assert_eq!(h1, h2);
    assert_eq!(j1, j2);
    let (h3, _) = fingerprint(&s, 4);
    assert_ne!(h1, h3, "another seed gives another history");
}

#[test]
fn the_same_seed_after_100_other_runs_on_this_thread_gives_the_same_history() {
    let s = scenario("set-nx-px-release-del");
    let first = fingerprint(&s, 7);
    let other = scenario("bench-five-masters");
    for seed in 100..200 {
        let _ = run(&other, seed);
    }
    assert_eq!(first, fingerprint(&s, 7));
}

#[test]
fn the_same_seed_on_another_thread_gives_the_same_history() {
    let s = scenario("set-nx-px-pause-past-ttl");
    let here = fingerprint(&s, 11);
    let s2 = s.clone();
    let there = std::thread::spawn(move || fingerprint(&s2, 11))
        .join()
        .expect("thread");
    assert_eq!(here, there);
}

#[test]
fn a_written_scenario_replays_to_the_same_hash() {
    let s = scenario("set-nx-px-release-del");
    let text = s.to_toml();
    let again =
        locksim::scenario::parse_scenario(&text, "written.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run(&s, 5).hash(), run(&again, 5).hash());
}

#[test]
fn a_history_reads_back_from_its_json_lines() {
    let s = scenario("set-nx-px-restart-without-persistence");
    let o = run(&s, 2);
    let text = o.history.to_jsonl();
    let back = locksim::history::History::from_jsonl(&text).expect("parses");
    assert_eq!(back, o.history);
    assert!(
        text.contains("\"at\":\"redis-0\""),
        "events name their node"
    );
}
