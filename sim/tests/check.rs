//! `locksim check`: bounded, systematic placement of faults.

use locksim::scenario::load_scenario;
use locksim::search::check::space::Kind;
use locksim::search::check::{Check, Verdict};
use std::path::Path;

fn load(rel: &str) -> locksim::model::Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    load_scenario(&p).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn smoke() {
    let s = load("tests/hunt-scenarios/row-15-sentinel-failover.toml");
    let r = Check::new(s)
        .faults(1)
        .alphabet(vec![Kind::Kill])
        .jobs(2)
        .run();
    println!("{}", r.summary());
    let s = load("../scenarios/set-nx-px-aof-always-crash.toml");
    let r = Check::new(s)
        .faults(1)
        .alphabet(vec![Kind::Kill, Kind::PowerLoss])
        .jobs(2)
        .run();
    println!("{} in {:?}", r.summary(), r.wall);
    assert!(matches!(r.verdict, Verdict::Certified));
}
