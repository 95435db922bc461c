//! Bad scenario files: every error names the exact line and column of the
//! offending key or value, says what is wrong and hints at the fix. No
//! input, however broken, makes the parser panic.

use locksim::scenario::{load_scenario, parse_scenario, parse_scenario_unchecked, ScenarioError};
use proptest::prelude::*;
use std::path::Path;

/// A valid start: 4 lines, so appended text starts on line 5.
const HEAD: &str = "name = \"t\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"set-nx-px\"\n";

fn head(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

#[track_caller]
fn check_err(e: ScenarioError, line: usize, col: usize, msg: &str, hint: Option<&str>) {
    assert_eq!((e.line, e.col), (line, col), "position of: {e}");
    assert!(
        e.message.contains(msg),
        "message {:?} lacks {msg:?}",
        e.message
    );
    let h = e.hint.as_deref().unwrap_or_else(|| panic!("no hint: {e}"));
    if let Some(want) = hint {
        assert!(h.contains(want), "hint {h:?} lacks {want:?}");
    }
    assert_eq!(e.file, "t.toml");
}

/// `text` fails `parse_scenario` at `line:col`.
#[track_caller]
fn check(text: &str, line: usize, col: usize, msg: &str, hint: Option<&str>) {
    let e = parse_scenario(text, "t.toml").expect_err("must be rejected");
    check_err(e, line, col, msg, hint);
}

/// `text` fails even without the support gate.
#[track_caller]
fn check_unchecked(text: &str, line: usize, col: usize, msg: &str, hint: Option<&str>) {
    let e = parse_scenario_unchecked(text, "t.toml").expect_err("must be rejected");
    check_err(e, line, col, msg, hint);
}

// ------------------------------------------------------------------ keys

#[test]
fn unknown_top_level_key() {
    check(
        "nme = \"t\"\nexpect = \"safe\"\n",
        1,
        1,
        "unknown top-level key `nme`",
        Some("did you mean `name`?"),
    );
}

#[test]
fn unknown_key_in_lock_suggests_the_closest() {
    check(
        &head("ttl = 5000\n"),
        5,
        1,
        "unknown key `ttl` in [lock]",
        Some("did you mean `ttl_ms`?"),
    );
    check(
        &head("retry_cont = 2\n"),
        5,
        1,
        "unknown key `retry_cont` in [lock]",
        Some("did you mean `retry_count`?"),
    );
}

#[test]
fn unknown_key_lists_the_valid_ones() {
    check(
        &head("[network]\nzzz = 1\n"),
        6,
        1,
        "unknown key `zzz` in [network]",
        Some("valid keys: latency_ms, loss"),
    );
}

#[test]
fn top_level_key_after_a_header() {
    check(
        &head("[redis]\nseed = 3\n"),
        6,
        1,
        "unknown key `seed` in [redis]",
        Some("is a top-level key"),
    );
}

#[test]
fn key_in_the_wrong_section() {
    check(
        &head("[redis]\nttl_ms = 5\n"),
        6,
        1,
        "unknown key `ttl_ms` in [redis]",
        Some("belongs in [lock]"),
    );
}

#[test]
fn unknown_key_in_an_inline_table() {
    check(
        &head("[nemesis]\npause = { rate = 0.0, len = [1, 2] }\n"),
        6,
        23,
        "unknown key `len` in `nemesis.pause`",
        Some("rate, ms"),
    );
}

#[test]
fn missing_expect() {
    check(
        "name = \"t\"\n[lock]\nalgorithm = \"set-nx-px\"\n",
        1,
        1,
        "missing required key `expect`",
        Some("violation"),
    );
}

#[test]
fn missing_lock_section() {
    check(
        "name = \"t\"\nexpect = \"safe\"\n",
        1,
        1,
        "missing [lock] section",
        Some("algorithm"),
    );
}

#[test]
fn missing_algorithm_points_at_the_header() {
    check(
        "name = \"t\"\nexpect = \"safe\"\n\n[lock]\nttl_ms = 5\n",
        4,
        1,
        "missing required key `lock.algorithm`",
        Some("redlock"),
    );
}

// ------------------------------------------------------------------ types and values

#[test]
fn wrong_type() {
    check(
        &head("ttl_ms = \"5000\"\n"),
        5,
        10,
        "`lock.ttl_ms` must be a non-negative integer, found a string",
        Some("remove the quotes"),
    );
    check(
        &head("validity_check = \"yes\"\n"),
        5,
        18,
        "must be a boolean",
        None,
    );
    check(
        &head("ttl_ms = 1.5\n"),
        5,
        10,
        "found a float",
        Some("whole number"),
    );
}

#[test]
fn section_of_the_wrong_type() {
    check(
        "name = \"t\"\nexpect = \"safe\"\nlock = 5\n",
        3,
        8,
        "`lock` must be a table, found an integer",
        None,
    );
}

#[test]
fn ttl_zero() {
    // set-nx-px may take a lock without a TTL (redis-py's default); the
    // watchdog may not; a negative TTL is never one.
    let s = parse_scenario(&head("ttl_ms = 0\n"), "t.toml").expect("ttl_ms = 0 is no TTL");
    assert_eq!(s.lock.ttl_ms, 0);
    check(
        "name = \"t\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"watchdog\"\nttl_ms = 0\n",
        5,
        10,
        "`lock.ttl_ms` must be greater than 0, found 0",
        Some("positive integer"),
    );
    check(
        &head("ttl_ms = -1\n"),
        5,
        10,
        "`lock.ttl_ms` must not be negative, found -1",
        None,
    );
}

#[test]
fn negative_seed() {
    check(
        &format!("seed = -1\n{HEAD}"),
        1,
        8,
        "`seed` must not be negative",
        None,
    );
}

#[test]
fn unknown_algorithm_lists_them() {
    check(
        "name = \"t\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"paxos\"\n",
        4,
        13,
        "unknown algorithm `paxos`",
        Some("setnx, setnx-expire, setnx-getset, set-nx-px, watchdog, redlock"),
    );
    check(
        "name = \"t\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"set-nx\"\n",
        4,
        13,
        "unknown algorithm",
        Some("did you mean `set-nx-px`?"),
    );
}

#[test]
fn enum_typo() {
    check(
        &head("[redis]\npersistence = \"aof-every-sec\"\n"),
        6,
        15,
        "unknown persistence mode `aof-every-sec`",
        Some("did you mean `aof-everysec`?"),
    );
    check(
        "name = \"t\"\nexpect = \"unsafe\"\n",
        2,
        10,
        "unknown verdict `unsafe`",
        Some("violation, liveness, safe"),
    );
}

#[test]
fn too_many_clients() {
    check(
        &head("[clients]\ncount = 17\n"),
        6,
        9,
        "more clients than allowed",
        Some("1 to 16"),
    );
}

#[test]
fn empty_range() {
    check(
        &head("[clients]\nwork_ms = [5, 1]\n"),
        6,
        11,
        "`clients.work_ms` is an empty range [5, 1]",
        Some("work_ms = [1, 5]"),
    );
}

#[test]
fn range_of_three() {
    check(
        &head("[network]\nlatency_ms = [1, 2, 3]\n"),
        6,
        14,
        "exactly 2 elements",
        Some("[lo, hi]"),
    );
}

#[test]
fn negative_in_an_unsigned_range() {
    check(
        &head("[network]\nlatency_ms = [-1, 5]\n"),
        6,
        15,
        "`network.latency_ms` must not be negative, found -1",
        None,
    );
}

#[test]
fn range_that_is_not_an_array() {
    check(
        &head("[clients]\ndrift_ppm = 5\n"),
        6,
        13,
        "must be a range [lo, hi], found an integer",
        None,
    );
}

#[test]
fn heal_at_above_one() {
    check(
        "name = \"t\"\nexpect = \"safe\"\nheal_at = 1.5\n",
        3,
        11,
        "`heal_at` must be in (0, 1]",
        Some("fraction"),
    );
}

#[test]
fn loss_of_one() {
    check(
        &head("[network]\nloss = 1.0\n"),
        6,
        8,
        "`network.loss` must be in [0, 1)",
        Some("partition"),
    );
}

#[test]
fn drift_factor_of_one() {
    check(
        &head("drift_factor = 1\n"),
        5,
        16,
        "`lock.drift_factor` must be in [0, 1)",
        None,
    );
}

#[test]
fn uppercase_name() {
    check(
        "name = \"My-Test\"\nexpect = \"safe\"\n",
        1,
        8,
        "invalid scenario name",
        Some("try name = \"my-test\""),
    );
}

#[test]
fn lock_key_equal_to_fence_key() {
    check(
        &head("key = \"k\"\nfence_key = \"k\"\n"),
        6,
        13,
        "both \"k\"",
        Some("different keys"),
    );
}

// ------------------------------------------------------------------ combinations

#[test]
fn fencing_with_redlock() {
    check(
        "name = \"t\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"redlock\"\nfencing = true\n",
        5,
        11,
        "cannot be used with algorithm = \"redlock\"",
        Some("Kleppmann 2016"),
    );
}

#[test]
fn single_topology_with_three_nodes() {
    check(
        &head("[redis]\ntopology = \"single\"\nnodes = 3\n"),
        7,
        9,
        "impossible with topology = \"single\"",
        Some("independent"),
    );
    // The default topology of set-nx-px is single, and the message says so.
    check(
        &head("[redis]\nnodes = 3\n"),
        6,
        9,
        "(the default for set-nx-px)",
        None,
    );
}

#[test]
fn too_many_nodes() {
    check(
        &head("[redis]\ntopology = \"independent\"\nnodes = 10\n"),
        7,
        9,
        "at most 9",
        None,
    );
}

#[test]
fn watchdog_renewal_not_shorter_than_ttl() {
    let text = "name = \"t\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"watchdog\"\nttl_ms = 1000\nrenew_every_ms = 1000\n";
    check_unchecked(
        text,
        6,
        18,
        "must be greater than 0 and less than ttl_ms = 1000",
        Some("before it expires"),
    );
}

// ------------------------------------------------------------------ faults

#[test]
fn unknown_node_name() {
    check(
        &head("[[faults]]\nat_ms = 1000\nkind = \"kill\"\nnode = \"redis-x\"\n"),
        8,
        8,
        "unknown node `redis-x`",
        Some("valid nodes: redis-0, client-0, client-1, client-2, resource"),
    );
}

#[test]
fn client_three_of_three() {
    check(
        &head("[[faults]]\nat_ms = 1000\nkind = \"pause\"\nnode = \"client-3\"\nfor_ms = 100\n"),
        8,
        8,
        "count = 3 makes client-0 .. client-2",
        Some("client-2, resource"),
    );
}

#[test]
fn both_at_ms_and_on() {
    check(
        &head("[[faults]]\nat_ms = 1000\non = \"acquired:client-0\"\nkind = \"kill\"\nnode = \"redis-0\"\n"),
        7,
        1,
        "both `at_ms` and `on`",
        Some("not both"),
    );
}

#[test]
fn neither_at_ms_nor_on() {
    check(
        &head("\n[[faults]]\nkind = \"kill\"\nnode = \"redis-0\"\n"),
        6,
        1,
        "needs `at_ms` or `on`",
        Some("at_ms = 3000"),
    );
}

#[test]
fn bad_trigger_syntax() {
    let f = |on: &str| {
        head(&format!(
            "[[faults]]\non = \"{on}\"\nkind = \"kill\"\nnode = \"redis-0\"\n"
        ))
    };
    check(
        &f("aquired:client-0"),
        6,
        6,
        "unknown event `aquired`",
        Some("did you mean `acquired`?"),
    );
    check(
        &f("replyed:client-0"),
        6,
        6,
        "unknown event `replyed`",
        Some("did you mean `replied`?"),
    );
    check(
        &f("granted:client-0"),
        6,
        6,
        "expected granted:redis-<j>:client-<i>",
        Some("triggers:"),
    );
    check(
        &f("acquired:client-0:x"),
        6,
        6,
        "expected <event>:client-<i>",
        None,
    );
    // Inside the string: the column of the bad part.
    check(
        &f("acquired:client-7"),
        6,
        16,
        "count = 3 makes client-0 .. client-2",
        Some("valid clients: client-0, client-1, client-2"),
    );
    check(
        &f("granted:client-0:redis-0"),
        6,
        15,
        "is not a Redis node name",
        Some("comes first: granted:redis-0:client-0"),
    );
    check(
        &f("granted:redis-1:client-0"),
        6,
        15,
        "unknown node `redis-1`",
        None,
    );
    check(&f("released:resource"), 6, 16, "is not a client name", None);
}

#[test]
fn nth_zero() {
    check(
        &head("[[faults]]\non = \"acquired:client-0\"\nnth = 0\nkind = \"kill\"\nnode = \"redis-0\"\n"),
        7,
        7,
        "`faults[0].nth` must be greater than 0",
        None,
    );
}

#[test]
fn nth_with_at_ms() {
    check(
        &head("[[faults]]\nat_ms = 5\nnth = 2\nkind = \"kill\"\nnode = \"redis-0\"\n"),
        7,
        1,
        "`nth` only applies",
        Some("remove `nth`"),
    );
}

#[test]
fn at_ms_after_the_final_heal() {
    // duration 60000 * heal_at 0.8 = 48000
    check(
        &head("[[faults]]\nat_ms = 50000\nkind = \"kill\"\nnode = \"redis-0\"\n"),
        6,
        9,
        "after the final heal at 48000 ms",
        None,
    );
    check(
        &head("[[faults]]\nat_ms = 60000\nkind = \"kill\"\nnode = \"redis-0\"\n"),
        6,
        9,
        "not before the end of the run",
        None,
    );
}

#[test]
fn missing_kind() {
    check(
        &head("[[faults]]\nat_ms = 5\nnode = \"redis-0\"\n"),
        5,
        1,
        "missing required key `faults[0].kind`",
        Some("clock-drift"),
    );
}

#[test]
fn second_fault_is_named() {
    let text = head("[[faults]]\nat_ms = 5\nkind = \"kill\"\nnode = \"redis-0\"\n[[faults]]\nat_ms = 5\nkind = \"kil\"\n");
    check(
        &text,
        11,
        8,
        "unknown fault kind `kil` for `faults[1].kind`",
        Some("did you mean `kill`?"),
    );
}

#[test]
fn pause_without_for_ms() {
    check(
        &head("[[faults]]\nat_ms = 10\nkind = \"pause\"\nnode = \"client-0\"\n"),
        7,
        8,
        "a pause fault needs `for_ms`",
        Some("for_ms = 15000"),
    );
}

#[test]
fn pause_without_node() {
    check(
        &head("[[faults]]\nat_ms = 10\nkind = \"pause\"\nfor_ms = 10\n"),
        7,
        8,
        "a pause fault needs `node`",
        Some("redis-0, client-0"),
    );
}

#[test]
fn by_ms_on_a_pause() {
    check(
        &head("[[faults]]\nat_ms = 10\nkind = \"pause\"\nnode = \"client-0\"\nfor_ms = 100\nby_ms = 5\n"),
        10,
        1,
        "`by_ms` does not apply to a pause fault",
        Some("a pause fault takes: node, for_ms"),
    );
}

#[test]
fn node_on_a_heal() {
    check_unchecked(
        &head("[[faults]]\nat_ms = 10\nkind = \"heal\"\nnode = \"redis-0\"\n"),
        8,
        1,
        "`node` does not apply to a heal fault",
        None,
    );
}

#[test]
fn partition_with_one_group() {
    check_unchecked(
        &head("[[faults]]\nat_ms = 10\nkind = \"partition\"\ngroups = [[\"redis-0\", \"client-0\"]]\n"),
        8,
        10,
        "at least two groups, found 1",
        Some("groups = [["),
    );
}

#[test]
fn node_in_two_groups() {
    check_unchecked(
        &head("[[faults]]\nat_ms = 10\nkind = \"partition\"\ngroups = [[\"redis-0\", \"client-0\"], [\"client-0\"]]\n"),
        8,
        37,
        "node `client-0` is in two groups",
        Some("at most one group"),
    );
}

#[test]
fn empty_group_and_bad_member() {
    let f = |g: &str| {
        head(&format!(
            "[[faults]]\nat_ms = 10\nkind = \"partition\"\ngroups = {g}\n"
        ))
    };
    check_unchecked(&f("[[\"redis-0\"], []]"), 8, 24, "empty group", None);
    check_unchecked(
        &f("[[\"redis-0\"], [\"client-9\"]]"),
        8,
        25,
        "unknown node `client-9`",
        Some("valid nodes"),
    );
    check_unchecked(
        &f("[[\"redis-0\"], [1]]"),
        8,
        25,
        "must be a node name (a string), found an integer",
        None,
    );
}

#[test]
fn clock_faults() {
    let f = |rest: &str| {
        head(&format!(
            "[[faults]]\nat_ms = 10\nkind = \"clock-jump\"\n{rest}"
        ))
    };
    check_unchecked(
        &f("node = \"redis-0\"\nby_ms = 0\n"),
        9,
        9,
        "a clock jump of zero does nothing",
        None,
    );
    check_unchecked(
        &f("node = \"resource\"\nby_ms = 5\n"),
        8,
        8,
        "cannot target `resource`",
        None,
    );
    check_unchecked(
        &f("node = \"redis-0\"\n"),
        7,
        8,
        "a clock-jump fault needs `by_ms`",
        None,
    );
    let d =
        head("[[faults]]\nat_ms = 10\nkind = \"clock-drift\"\nnode = \"client-1\"\nppm = 2e6\n");
    check_unchecked(&d, 9, 7, "out of range", Some("-1000000"));
}

#[test]
fn faults_not_an_array_of_tables() {
    check(
        &format!("faults = 3\n{HEAD}"),
        1,
        10,
        "`faults` must be an array of tables",
        Some("[[faults]]"),
    );
    check(
        &format!("faults = [1]\n{HEAD}"),
        1,
        11,
        "`faults[0]` must be a table",
        None,
    );
    // After [lock], `faults = 3` is a key of [lock]: the hint says where it belongs.
    check(
        &head("faults = 3\n"),
        5,
        1,
        "unknown key `faults` in [lock]",
        Some("top-level key"),
    );
}

// ------------------------------------------------------------------ support gate

/// Every fault kind, algorithm, topology and persistence mode the format can
/// name is simulated now: none is refused by the support gate, and the
/// combinations the algorithms cannot honour are refused at the `[lock]` key.
#[test]
fn everything_the_format_names_is_simulated() {
    let faults =
        "[[faults]]\nat_ms = 10\nkind = \"clock-jump\"\nnode = \"redis-0\"\nby_ms = 5000\n";
    assert!(parse_scenario(&head(faults), "t.toml").is_ok());
    let redlock = "name = \"t\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"redlock\"\n";
    assert!(parse_scenario(redlock, "t.toml").is_ok());
    assert!(parse_scenario(&head("[redis]\ntopology = \"sentinel\"\n"), "t.toml").is_ok());
    assert!(parse_scenario(&head("[redis]\npersistence = \"rdb\"\n"), "t.toml").is_ok());
    let e = parse_scenario(
        "name = \"t\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"set-nx-px\"\nsequential = true\n",
        "t.toml",
    )
    .expect_err("sequential is redlock's");
    assert_eq!((e.line, e.col), (4, 13), "{e}");
    assert!(
        e.message
            .contains("`sequential` has no effect with algorithm `set-nx-px`"),
        "{e}"
    );
    assert!(
        e.hint
            .as_deref()
            .is_some_and(|h| h.contains("pick an algorithm that uses it")),
        "{e}"
    );
}

// ------------------------------------------------------------------ syntax and I/O

#[test]
fn invalid_toml_syntax() {
    check(
        "name = \"t\"\nexpect = = \"safe\"\n",
        2,
        10,
        "invalid TOML",
        Some("not valid TOML"),
    );
    check("name = \"t\"\n[lock\n", 2, 6, "invalid TOML", None);
    check(
        "name = \"t\nexpect = \"safe\"\n",
        1,
        10,
        "invalid TOML",
        None,
    );
}

#[test]
fn duplicate_key_is_a_syntax_error() {
    check("name = \"t\"\nname = \"u\"\n", 2, 1, "duplicate key", None);
}

#[test]
fn huge_integer() {
    check(
        "seed = 18446744073709551615\n",
        1,
        8,
        "invalid TOML",
        Some("as a string"),
    );
}

#[test]
fn io_errors() {
    let e = load_scenario(Path::new("/nonexistent/dir/x.toml")).expect_err("no such file");
    assert_eq!((e.line, e.col), (1, 1));
    assert!(e.message.contains("cannot read"), "{e}");
    assert_eq!(e.file, "/nonexistent/dir/x.toml");

    let dir = std::env::temp_dir().join(format!("locksim-scenario-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("latin1.toml");
    std::fs::write(&p, b"name = \"t\"\nabout = \"caf\xe9\"\n").unwrap();
    let e = load_scenario(&p).expect_err("not UTF-8");
    assert_eq!((e.line, e.col), (2, 13), "{e}");
    assert!(e.message.contains("not valid UTF-8"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn display_format() {
    let e = parse_scenario(&head("ttl = 5000\n"), "scenarios/x.toml").unwrap_err();
    let s = e.to_string();
    assert!(s.starts_with("scenarios/x.toml:5:1: error: unknown key `ttl` in [lock]\n  hint: did you mean `ttl_ms`?"), "{s}");
}

// ------------------------------------------------ min-replicas, client retries

#[test]
fn min_replicas_needs_a_master_with_replicas() {
    check(
        &head("[redis]\nmin_replicas_to_write = 1\n"),
        6,
        25,
        "`redis.min_replicas_to_write` has no effect with topology = \"single\"",
        Some("topology = \"sentinel\""),
    );
    check(
        &head("[redis]\ntopology = \"independent\"\nmin_replicas_max_lag_s = 5\n"),
        7,
        26,
        "`redis.min_replicas_max_lag_s` has no effect with topology = \"independent\"",
        None,
    );
    // The defaults, written out, are fine anywhere (to_toml writes them).
    let ok = head("[redis]\nmin_replicas_to_write = 0\nmin_replicas_max_lag_s = 10\n");
    parse_scenario(&ok, "t.toml").expect("defaults are accepted");
}

#[test]
fn min_replicas_on_a_cluster_counts_each_shard_masters_replicas() {
    let cluster = "[redis]\ntopology = \"cluster\"\n";
    check(
        &head(&format!("{cluster}replicas_per_shard = 1\nmin_replicas_to_write = 2\n")),
        8,
        25,
        "`redis.min_replicas_to_write` = 2 but a master has only 1 replica(s) (replicas_per_shard = 1)",
        Some("raise replicas_per_shard"),
    );
    check(
        &head(&format!(
            "{cluster}replicas_per_shard = 0\nmin_replicas_to_write = 1\n"
        )),
        8,
        25,
        "`redis.min_replicas_to_write` has no effect with topology = \"cluster\"",
        Some("replicas_per_shard >= 1"),
    );
    let ok = head(&format!(
        "{cluster}replicas_per_shard = 2\nmin_replicas_to_write = 2\n"
    ));
    let s = parse_scenario(&ok, "t.toml").expect("two replicas per shard master");
    assert_eq!((s.redis.replicas_per_master(), s.redis.nodes), (2, 9));
}

#[test]
fn min_replicas_cannot_exceed_the_replicas() {
    check(
        &head("[redis]\ntopology = \"sentinel\"\nnodes = 3\nmin_replicas_to_write = 3\n"),
        8,
        25,
        "`redis.min_replicas_to_write` = 3 but a master has only 2 replica(s)",
        Some("NOREPLICAS"),
    );
    check(
        &head("[redis]\ntopology = \"sentinel\"\nmin_replicas_to_write = -1\n"),
        7,
        25,
        "min_replicas_to_write",
        None,
    );
}

#[test]
fn client_retries_is_a_small_count() {
    check(
        &head("client_retries = -1\n"),
        5,
        18,
        "client_retries",
        None,
    );
    check(
        &head("client_retries = 101\n"),
        5,
        18,
        "client_retries",
        None,
    );
    check(
        &head("client_retries = \"1\"\n"),
        5,
        18,
        "client_retries",
        None,
    );
}

// ------------------------------------------------------------------ never panic

const VALID: &str = include_str!("data/everything.toml");

// ------------------------------------------------------- Redis Cluster

#[test]
fn cluster_nodes_must_agree_with_the_layout() {
    check(
        &head("[redis]\ntopology = \"cluster\"\nnodes = 5\n"),
        7,
        9,
        "disagrees with the cluster layout: shards = 3 x (1 master + 1 replicas) = 6 nodes",
        Some("write nodes = 6"),
    );
    // Given after the layout it changes, too.
    check(
        &head("[redis]\ntopology = \"cluster\"\nnodes = 6\nreplicas_per_shard = 2\n"),
        7,
        9,
        "= 9 nodes",
        Some("nodes = 9"),
    );
    let s = parse_scenario(
        &head("[redis]\ntopology = \"cluster\"\nnodes = 9\nreplicas_per_shard = 2\n"),
        "t.toml",
    )
    .unwrap();
    assert_eq!((s.redis.nodes, s.redis.shards), (9, 3));
}

#[test]
fn cluster_larger_than_nine_nodes() {
    check(
        &head("[redis]\ntopology = \"cluster\"\nshards = 4\nreplicas_per_shard = 2\n"),
        8,
        22,
        "shards = 4 x (1 master + 2 replicas) = 12 nodes is more than the 9",
        Some("3 x 2 = 9"),
    );
    check(
        &head("[redis]\ntopology = \"cluster\"\nshards = 0\n"),
        7,
        10,
        "must be greater than 0",
        None,
    );
}

#[test]
fn cluster_keys_need_the_cluster_topology() {
    check(
        &head("[redis]\ntopology = \"sentinel\"\ncluster_node_timeout_ms = 2000\n"),
        7,
        27,
        "`redis.cluster_node_timeout_ms` applies only to topology = \"cluster\" (this is \"sentinel\")",
        Some("set topology = \"cluster\""),
    );
    check(
        &head("[redis]\nshards = 2\n"),
        6,
        10,
        "applies only to topology = \"cluster\" (this is \"single\")",
        None,
    );
}

#[test]
fn a_fenced_acquire_script_needs_one_slot_on_a_cluster() {
    check(
        &head("fencing = true\n[redis]\ntopology = \"cluster\"\n"),
        5,
        11,
        "`lock` (slot 8718) and `lock:fence` (slot 2992) hash to different slots",
        Some("fence_key = \"{lock}:fence\""),
    );
    let ok = head("fencing = true\nkey = \"{lock}\"\nfence_key = \"{lock}:fence\"\n[redis]\ntopology = \"cluster\"\n");
    assert!(parse_scenario(&ok, "t.toml").is_ok());
}

#[test]
fn redlock_keys_are_for_redlock_on_a_cluster() {
    let redlock = "name = \"t\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"redlock\"\n";
    check(
        &format!("{redlock}keys = [\"{{a}}lock\", \"{{b}}lock\"]\n"),
        5,
        8,
        "`lock.keys` applies only to topology = \"cluster\" (this is \"independent\")",
        Some("remove `keys`"),
    );
    check(
        &head("keys = [\"{a}lock\"]\n[redis]\ntopology = \"cluster\"\n"),
        5,
        8,
        "`lock.keys` has no effect with algorithm = \"set-nx-px\"",
        None,
    );
    let cluster = |keys: &str| format!("{redlock}keys = {keys}\n[redis]\ntopology = \"cluster\"\n");
    check(&cluster("[]"), 5, 8, "must not be empty", Some("{b}lock"));
    check(&cluster("[\"a\", \"a\"]"), 5, 14, "names \"a\" twice", None);
    check(
        &cluster("[\"a\", 3]"),
        5,
        14,
        "must hold strings, found an integer",
        None,
    );
    check(&cluster("\"a\""), 5, 8, "must be an array of strings", None);
    // Without `keys`, one key per shard.
    let s = parse_scenario(
        &format!("{redlock}[redis]\ntopology = \"cluster\"\n"),
        "t.toml",
    )
    .unwrap();
    assert_eq!(s.lock.keys, ["{b}lock", "{c}lock", "{a}lock"]);
    assert_eq!(s.redis.nodes, 6);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn garbage_never_panics(text in any::<String>()) {
        let _ = parse_scenario(&text, "g.toml");
    }

    #[test]
    fn toml_like_garbage_never_panics(text in "([a-z_]{1,8} = (\"[a-z0-9:-]{0,10}\"|-?[0-9]{1,12}|[0-9]\\.[0-9]|\\[[0-9, \\[\\]\"a-z-]{0,20}\\]|\\{ [a-z]+ = [0-9] \\}|true)\n|\\[\\[?[a-z]{1,8}\\]\\]?\n){0,30}") {
        let _ = parse_scenario_unchecked(&format!("{HEAD}{text}"), "g.toml");
        let _ = parse_scenario(&text, "g.toml");
    }

    #[test]
    fn truncated_and_mutated_files_never_panic(cut in 0..VALID.len(), at in 0..VALID.len(), byte in 0u8..128) {
        let cut = (0..=cut).rev().find(|&i| VALID.is_char_boundary(i)).unwrap_or(0);
        let truncated = &VALID[..cut];
        if let Err(e) = parse_scenario_unchecked(truncated, "g.toml") {
            prop_assert!(e.line >= 1 && e.line <= truncated.lines().count() + 1, "{}", e);
        }
        let mut bytes = VALID.as_bytes().to_vec();
        bytes[at] = byte;
        if let Ok(mutated) = String::from_utf8(bytes) {
            if let Err(e) = parse_scenario_unchecked(&mutated, "g.toml") {
                prop_assert!(e.line >= 1 && e.line <= mutated.lines().count() + 1, "{}", e);
            }
        }
    }
}

// ------------------------------------------------------------------ memory (maxmemory, memory pressure)

#[test]
fn maxmemory_policy_typo_suggests_the_name() {
    check(
        &head("[redis]\nmaxmemory_bytes = 2097152\nmaxmemory_policy = \"volatile_lru\"\n"),
        7,
        20,
        "unknown maxmemory policy `volatile_lru` for `redis.maxmemory_policy`",
        Some("volatile-lru"),
    );
}

#[test]
fn maxmemory_below_one_megabyte() {
    check(
        &head("[redis]\nmaxmemory_bytes = 500000\n"),
        6,
        19,
        "`redis.maxmemory_bytes` = 500000 is below 1 MB",
        Some("an empty Redis 7.0 server already uses about 0.9 MB"),
    );
}

#[test]
fn a_policy_without_maxmemory_does_nothing() {
    check(
        &head("[redis]\nmaxmemory_policy = \"allkeys-lru\"\n"),
        6,
        20,
        "`redis.maxmemory_policy` has no effect without `redis.maxmemory_bytes`",
        Some("Redis evicts only above maxmemory"),
    );
    check(
        &head("[redis]\nmaxmemory_samples = 10\n"),
        6,
        21,
        "`redis.maxmemory_samples` has no effect",
        None,
    );
    check(
        &head("[redis]\nmaxmemory_bytes = 2097152\nmaxmemory_samples = 0\n"),
        7,
        21,
        "`redis.maxmemory_samples` must be greater than 0",
        None,
    );
}

#[test]
fn memory_pressure_needs_a_limit_a_redis_node_and_bytes() {
    let fault = |body: &str| {
        head(&format!(
            "[[faults]]\nat_ms = 100\nkind = \"memory-pressure\"\n{body}"
        ))
    };
    check(
        &fault("node = \"redis-0\"\nbytes = 100\n"),
        7,
        8,
        "a memory-pressure fault needs `redis.maxmemory_bytes`",
        Some("add [redis] maxmemory_bytes"),
    );
    let limited = |body: &str| {
        head(&format!(
            "[redis]\nmaxmemory_bytes = 2097152\n[[faults]]\nat_ms = 100\nkind = \"memory-pressure\"\n{body}"
        ))
    };
    check(
        &limited("node = \"client-0\"\nbytes = 100\n"),
        10,
        8,
        "a memory-pressure fault cannot target `client-0`",
        Some("redis-<i>"),
    );
    check(
        &limited("node = \"redis-0\"\n"),
        9,
        8,
        "a memory-pressure fault needs `bytes`",
        Some("bytes = 1048576"),
    );
    check(
        &limited("node = \"redis-0\"\nbytes = 100000000\n"),
        11,
        9,
        "more than locksim writes in one fault",
        Some("scale maxmemory_bytes and bytes down together"),
    );
    check(
        &limited("node = \"redis-0\"\nbytes = 100\nby_ms = 5\n"),
        12,
        1,
        "`by_ms` does not apply to a memory-pressure fault",
        Some("node, bytes, ttl_ms, for_ms"),
    );
    check(
        &limited("node = \"redis-0\"\nbytes = 100\nttl_ms = 0\n"),
        12,
        10,
        "`faults[0].ttl_ms` must be greater than 0",
        None,
    );
}

#[test]
fn nemesis_memory_pressure_needs_a_limit_and_its_shape() {
    check(
        &head("[nemesis]\nmemory_pressure = { rate = 0.1 }\n"),
        6,
        19,
        "`nemesis.memory_pressure` needs `redis.maxmemory_bytes`",
        Some("maxmemory_policy"),
    );
    check(
        &head("[redis]\nmaxmemory_bytes = 2097152\n[nemesis]\nmemory_pressure = 0.1\n"),
        8,
        19,
        "`nemesis.memory_pressure` must be an inline table { rate = ..., bytes = [lo, hi] }",
        Some("memory_pressure = { rate = 0.1, bytes = [65536, 1048576] }"),
    );
    check(
        &head("[redis]\nmaxmemory_bytes = 2097152\n[nemesis]\nmemory_pressure = { rate = 0.1, len = [1, 2] }\n"),
        8,
        33,
        "unknown key `len` in `nemesis.memory_pressure`",
        Some("rate, bytes, ms"),
    );
    check(
        &head("[redis]\nmaxmemory_bytes = 2097152\n[nemesis]\nmemory_pressure = { rate = 0.1, bytes = [0, 5] }\n"),
        8,
        42,
        "`nemesis.memory_pressure.bytes` must be at least 1",
        None,
    );
}
