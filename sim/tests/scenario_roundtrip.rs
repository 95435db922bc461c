//! parse -> to_toml -> parse gives an identical scenario, for hand-written
//! files and for arbitrary valid scenarios (every fault kind, trigger and
//! nemesis setting).

use locksim::model::{
    ClientsConfig, Fault, FaultSpec, MaxmemoryPolicy, Nemesis, NetworkConfig, NodeRef, Persistence,
    RateBytes, RateSpan, RedisConfig, Scenario, Span, Topology, Trigger, Verdict, When,
};

use locksim::scenario::{
    load_scenario, load_scenario_unchecked, parse_scenario, parse_scenario_unchecked, MAX_CLIENTS,
    MAX_CLIENT_RETRIES, MAX_MS, MAX_NODES, MAX_PRESSURE_BYTES, MIN_MAXMEMORY_BYTES,
};
use locksim_models::{
    Algorithm, LockConfig, OnExtendFail, OnUnsynced, Release, RenewOnError, SyncReplicas, Timing,
};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// `s` written and read back is `s`, and writing is a fixed point.
fn assert_roundtrip(s: &Scenario) {
    let text = s.to_toml();
    let back = parse_scenario_unchecked(&text, "roundtrip.toml")
        .unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    assert_eq!(&back, s, "---\n{text}");
    assert_eq!(back.to_toml(), text);
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn minimal_file_is_all_defaults() {
    let s = load_scenario(&data("minimal.toml")).unwrap();
    assert_eq!(
        s,
        Scenario::with_defaults("minimal", Verdict::Safe, Algorithm::SetNxPx)
    );
    assert_eq!(s.seed, 1);
    assert_eq!(s.duration_ms, 60_000);
    assert_eq!(s.heal_at, 0.8);
    assert_eq!(s.lock, LockConfig::defaults(Algorithm::SetNxPx));
    assert_eq!(s.redis.topology, Topology::Single);
    assert_eq!(s.redis.nodes, 1);
    assert_eq!(s.redis.replication_lag_ms, Span::new(1, 50));
    assert_eq!(s.network.latency_ms, Span::new(1, 5));
    assert_eq!(s.clients.count, 3);
    assert_eq!(s.clients.work_ms, Span::new(100, 2000));
    assert_eq!(s.clients.writes, 3);
    assert_eq!(s.clients.drift_ppm, Span::new(-100, 100));
    assert_eq!(s.nemesis.pause.ms, Span::new(100, 30_000));
    assert_eq!(s.nemesis.clock_jump.ms, Span::new(-10_000, 30_000));
    assert_eq!(s.nemesis.partition.ms, Span::new(100, 10_000));
    assert!(s.nemesis.is_quiet());
    assert!(s.faults.is_empty());
    assert_roundtrip(&s);
}

#[test]
fn redlock_defaults_follow_the_algorithm() {
    let s = parse_scenario_unchecked(
        "name = \"r\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"redlock\"\n",
        "r",
    )
    .unwrap();
    assert_eq!(s.redis.topology, Topology::Independent);
    assert_eq!(s.redis.nodes, 5);
    assert!(s.lock.validity_check);
    let s = parse_scenario_unchecked(
        "name = \"w\"\nexpect = \"safe\"\n[lock]\nalgorithm = \"watchdog\"\nttl_ms = 9000\n[redis]\ntopology = \"sentinel\"\n",
        "w",
    )
    .unwrap();
    assert_eq!(s.lock.renew_every_ms, 3000, "ttl_ms / 3, after ttl_ms");
    assert_eq!(s.redis.nodes, 3);
}

#[test]
fn gc_pause_file() {
    let s = load_scenario(&data("gc-pause.toml")).unwrap();
    assert_eq!(s.expect, Verdict::Violation);
    assert_eq!(s.seed, 7);
    assert_eq!(s.lock.ttl_ms, 5000);
    assert_eq!(s.lock.renew_every_ms, 1666);
    assert_eq!(
        s.faults,
        vec![FaultSpec {
            when: When::On {
                trigger: Trigger::Acquired { client: 0 },
                nth: 1,
                delay_ms: 100
            },
            fault: Fault::Pause {
                node: NodeRef::Client(0),
                for_ms: 15000
            },
        }]
    );
    assert_roundtrip(&s);
}

#[test]
fn everything_file() {
    let path = data("everything.toml");
    assert!(
        load_scenario(&path).is_ok(),
        "every feature it uses is supported now"
    );
    let s = load_scenario_unchecked(&path).unwrap();
    assert_eq!(s.seed, u64::MAX, "large seeds are accepted as strings");
    assert_eq!(s.about, "multi\nline \"about\" with a tab\t");
    assert_eq!(s.lock.client_retries, 2);
    assert!(s
        .lock
        .script_release
        .as_deref()
        .unwrap()
        .starts_with("if redis.call"));
    let kinds: Vec<&str> = s.faults.iter().map(|f| f.fault.kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "kill",
            "power-loss",
            "restart",
            "partition",
            "heal",
            "clock-jump",
            "clock-drift",
            "pause",
            "memory-pressure"
        ],
        "file order"
    );
    assert_eq!(
        s.faults[8].fault,
        Fault::MemoryPressure {
            node: NodeRef::Redis(4),
            bytes: 3_000_000,
            ttl_ms: Some(60_000),
            for_ms: Some(2500)
        }
    );
    assert_eq!(s.redis.maxmemory_policy, MaxmemoryPolicy::VolatileTtl);
    assert_eq!(s.redis.maxmemory_samples, 10);
    assert_eq!(
        s.nemesis.memory_pressure.ms,
        Some(Span::new(500, 1000)),
        "rate and bytes given, ms too"
    );
    assert_eq!(
        s.faults[1].when,
        When::On {
            trigger: Trigger::Granted { node: 2, client: 0 },
            nth: 2,
            delay_ms: 5
        }
    );
    assert_eq!(
        s.faults[0].fault,
        Fault::Kill {
            node: NodeRef::Redis(1),
            for_ms: None
        }
    );
    assert_eq!(
        s.nemesis.partition,
        RateSpan {
            rate: 0.05,
            ms: Span::new(100, 10_000)
        }
    );
    assert_roundtrip(&s);
}

/// The lead's canonical scenarios must parse and round-trip too.
#[test]
fn canonical_scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
    {
        let s = load_scenario_unchecked(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_roundtrip(&s);
    }
}

#[test]
fn to_toml_is_explicit() {
    let s = Scenario::with_defaults("x", Verdict::Safe, Algorithm::SetNxPx);
    let t = s.to_toml();
    for key in [
        "seed = 1",
        "heal_at = 0.8",
        "renew_every_ms = 3333",
        "request_timeout_ms = 50",
        "replication_lag_ms = [1, 50]",
        "loss = 0.0",
        "offset_ms = [0, 0]",
        "clock_jump = { rate = 0.0, ms = [-10000, 30000] }",
    ] {
        assert!(t.contains(key), "{key} missing from\n{t}");
    }
    assert_eq!(parse_scenario(&t, "x").unwrap(), s);
}

// ------------------------------------------------------------- proptest

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Safe),
        Just(Verdict::Liveness),
        Just(Verdict::Violation)
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[ -~\n\t']{0,40}", Just(String::new())]
}

fn script() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
        "return redis\\.call\\('[a-z]{1,8}', KEYS\\[1\\]\\)\n[ -~\n]{0,30}",
    ])
}

fn span_u64(max: u64) -> impl Strategy<Value = Span<u64>> {
    (0..=max, 0..=max).prop_map(|(a, b)| Span::new(a.min(b), a.max(b)))
}

fn span_i64(min: i64, max: i64) -> impl Strategy<Value = Span<i64>> {
    (min..=max, min..=max).prop_map(|(a, b)| Span::new(a.min(b), a.max(b)))
}

fn lock() -> impl Strategy<Value = LockConfig> {
    let algorithm = prop::sample::select(Algorithm::ALL.to_vec());
    let keys = ("[a-z:{}]{1,12}", "[a-z:{}]{1,12}").prop_filter("distinct", |(a, b)| a != b);
    let release = prop_oneof![
        Just(Release::Lua),
        Just(Release::Del),
        Just(Release::GetThenDel)
    ];
    let on_error = prop_oneof![Just(RenewOnError::Stop), Just(RenewOnError::Retry)];
    (
        (
            algorithm,
            keys,
            2..=MAX_MS,
            release,
            any::<bool>(),
            1..=u32::MAX,
        ),
        (
            0..=MAX_MS,
            0..=MAX_MS,
            0.0..1.0f64,
            any::<u64>(),
            on_error,
            any::<bool>(),
        ),
        (
            1..=MAX_MS,
            any::<bool>(),
            any::<bool>(),
            1..=u32::MAX,
            script(),
            script(),
            script(),
            0..=MAX_CLIENT_RETRIES,
        ),
    )
        .prop_map(|(a, b, c)| {
            let (algorithm, (key, fence_key), ttl_ms, release, validity_check, retry_count) = a;
            let (retry_delay_ms, retry_jitter_ms, drift_factor, renew, renew_on_error, fencing) = b;
            let (
                request_timeout_ms,
                sequential,
                stale_recovery,
                reentrant_depth,
                sa,
                sr,
                sn,
                retries,
            ) = c;
            LockConfig {
                algorithm,
                key,
                fence_key,
                ttl_ms,
                release,
                validity_check,
                retry_count,
                retry_delay_ms,
                retry_jitter_ms,
                drift_factor,
                // Watchdog: 0 < renew < ttl; the others take any value.
                renew_every_ms: if algorithm == Algorithm::Watchdog {
                    1 + renew % (ttl_ms - 1)
                } else {
                    renew % MAX_MS
                },
                renew_on_error,
                fencing: fencing && algorithm != Algorithm::Redlock,
                request_timeout_ms,
                sequential,
                stale_recovery,
                reentrant_depth,
                script_acquire: sa,
                script_release: sr,
                script_renew: sn,
                client_retries: retries,
                ..LockConfig::defaults(algorithm)
            }
        })
        .prop_flat_map(|base| (Just(base), behaviour()))
        .prop_map(|(mut c, b)| {
            use Algorithm::*;
            let alg = c.algorithm;
            let (timing, extra, start_once, keep_partial, fail_on_error, sync) = b.0;
            let (wait_ms, on_unsynced, extend_ms, on_fail, setnx, max_ext) = b.1;
            let (checks_abort, shared, stale_entry, no_resend, clears, release_retries) = b.2;
            if matches!(alg, SetNxPx | Redlock) {
                c.timing = timing;
                c.extend_every_ms = extend_ms;
            }
            if alg == Redlock {
                c.drift_extra_ms = extra;
                c.start_once = start_once;
                c.keep_partial = keep_partial;
                c.fail_on_node_error = fail_on_error;
            }
            if alg == Watchdog {
                c.sync_replicas = sync;
                c.stale_renewal_entry = stale_entry;
                c.single_server_no_resend = no_resend;
            }
            c.shared_token = shared && alg == SetNxPx;
            if alg == SetNxPx {
                c.clears_token_first = clears;
                c.release_retries = release_retries;
            }
            c.wait_timeout_ms = wait_ms;
            c.on_unsynced = on_unsynced;
            c.on_extend_fail = on_fail;
            c.extend_setnx = setnx;
            c.max_extensions = max_ext;
            c.checks_abort = checks_abort;
            c
        })
}

/// The keys in which the libraries differ, drawn independently (the lock
/// strategy keeps those an algorithm cannot honour at their defaults).
#[allow(clippy::type_complexity)]
fn behaviour() -> impl Strategy<
    Value = (
        (Timing, u64, bool, bool, bool, SyncReplicas),
        (u64, OnUnsynced, u64, OnExtendFail, bool, u32),
        (bool, bool, bool, bool, bool, u32),
    ),
> {
    let timing = prop_oneof![Just(Timing::Mono), Just(Timing::Wall)];
    let sync = prop::sample::select(vec![
        SyncReplicas::None,
        SyncReplicas::Unawaited,
        SyncReplicas::Awaited,
        SyncReplicas::All,
        SyncReplicas::Any,
    ]);
    let unsynced = prop_oneof![Just(OnUnsynced::Keep), Just(OnUnsynced::Unlock)];
    let on_fail = prop::sample::select(vec![
        OnExtendFail::Stop,
        OnExtendFail::Retry,
        OnExtendFail::Abort,
        OnExtendFail::Unlock,
    ]);
    (
        (
            timing,
            0..=MAX_MS,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            sync,
        ),
        (
            1..=MAX_MS,
            unsynced,
            0..=MAX_MS,
            on_fail,
            any::<bool>(),
            any::<u32>(),
        ),
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<u32>(),
        ),
    )
}

fn redis() -> impl Strategy<Value = RedisConfig> {
    let topology = prop_oneof![
        Just(Topology::Single),
        Just(Topology::Independent),
        Just(Topology::Sentinel),
        Just(Topology::Cluster)
    ];
    let persistence = prop_oneof![
        Just(Persistence::None),
        Just(Persistence::Rdb),
        Just(Persistence::AofEverysec),
        Just(Persistence::AofAlways)
    ];
    let policy = prop::sample::select(MaxmemoryPolicy::ALL.to_vec());
    let memory = prop_oneof![
        Just((0, MaxmemoryPolicy::NoEviction, 5)),
        (
            MIN_MAXMEMORY_BYTES..=i64::MAX as u64,
            policy,
            1..=i32::MAX as u32
        ),
    ];
    (
        topology,
        1..=MAX_NODES,
        persistence,
        1..=MAX_MS,
        0..=MAX_MS,
        span_u64(MAX_MS),
        0..=MAX_MS,
        (1..=MAX_NODES, any::<usize>(), 1..=MAX_MS),
        (0..=MAX_NODES as u32, 0..=MAX_MS / 1000),
        memory,
    )
        .prop_map(
            |(
                topology,
                n,
                persistence,
                rdb,
                restart,
                lag,
                failover,
                cluster,
                (to_write, max_lag),
                memory,
            )| {
                // Cluster keys are written (and accepted) for clusters only.
                let (shards, per, timeout) = match topology {
                    Topology::Cluster => {
                        (cluster.0, cluster.1 % (MAX_NODES / cluster.0), cluster.2)
                    }
                    _ => (3, 1, 15_000),
                };
                let nodes = match topology {
                    Topology::Single => 1,
                    Topology::Independent => n,
                    Topology::Sentinel => n.max(2),
                    Topology::Cluster => RedisConfig::cluster_nodes(shards, per),
                };
                // min-replicas only where masters have replicas, and at
                // most as many as there are.
                let replicas = match topology {
                    Topology::Sentinel => nodes as u32 - 1,
                    Topology::Cluster => per as u32,
                    Topology::Single | Topology::Independent => 0,
                };
                let replicated = replicas > 0;
                RedisConfig {
                    topology,
                    nodes,
                    persistence,
                    rdb_save_every_ms: rdb,
                    restart_delay_ms: restart,
                    replication_lag_ms: lag,
                    failover_after_ms: failover,
                    min_replicas_to_write: if replicated {
                        to_write % (replicas + 1)
                    } else {
                        0
                    },
                    min_replicas_max_lag_s: if replicated { max_lag } else { 10 },
                    shards,
                    replicas_per_shard: per,
                    cluster_node_timeout_ms: timeout,
                    maxmemory_bytes: memory.0,
                    maxmemory_policy: memory.1,
                    maxmemory_samples: memory.2,
                }
            },
        )
}

fn network() -> impl Strategy<Value = NetworkConfig> {
    (span_u64(10_000), prop_oneof![Just(0.0), 0.0..1.0f64])
        .prop_map(|(latency_ms, loss)| NetworkConfig { latency_ms, loss })
}

fn clients() -> impl Strategy<Value = ClientsConfig> {
    (
        1..=MAX_CLIENTS,
        1..=u32::MAX,
        span_u64(MAX_MS),
        1..=u32::MAX,
        span_u64(MAX_MS),
        span_i64(-1_000_000, 1_000_000),
        span_i64(-(MAX_MS as i64), MAX_MS as i64),
    )
        .prop_map(
            |(count, cycles, work_ms, writes, think_ms, drift_ppm, offset_ms)| ClientsConfig {
                count,
                cycles,
                work_ms,
                writes,
                think_ms,
                drift_ppm,
                offset_ms,
            },
        )
}

fn rate() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), 0.0..100.0f64]
}

fn nemesis() -> impl Strategy<Value = Nemesis> {
    let rs = |min: i64| {
        (rate(), span_i64(min, MAX_MS as i64)).prop_map(|(rate, ms)| RateSpan { rate, ms })
    };
    let pressure = (
        rate(),
        span_u64(MAX_PRESSURE_BYTES),
        prop::option::of(span_u64(MAX_MS)),
    )
        .prop_map(|(rate, b, ms)| RateBytes {
            rate,
            bytes: Span::new(b.lo.max(1), b.hi.max(1)),
            ms: ms.map(|ms| Span::new(ms.lo.max(1), ms.hi.max(1))),
        });
    (rate(), rate(), rs(1), rs(-(MAX_MS as i64)), rs(1), pressure).prop_map(
        |(kill, power_loss, pause, clock_jump, partition, memory_pressure)| Nemesis {
            kill,
            power_loss,
            pause,
            clock_jump,
            partition,
            memory_pressure,
        },
    )
}

/// Everything but the faults.
fn base() -> impl Strategy<Value = Scenario> {
    let top = (
        "[a-z0-9][a-z0-9-]{0,24}",
        text(),
        verdict(),
        any::<u64>(),
        1..=10_000_000u64,
        prop_oneof![Just(0.8), Just(1.0), 0.001..=1.0f64],
    );
    let keys = prop::collection::btree_set("[a-z{}:]{1,8}", 1..6);
    (top, lock(), redis(), network(), clients(), nemesis(), keys).prop_map(
        |(
            (name, about, expect, seed, duration_ms, heal_at),
            mut lock,
            redis,
            network,
            clients,
            mut nemesis,
            keys,
        )| {
            if redis.maxmemory_bytes == 0 {
                nemesis.memory_pressure.rate = 0.0;
            }
            let cluster = redis.topology == Topology::Cluster;
            if cluster && lock.algorithm == Algorithm::Redlock {
                lock.keys = keys.into_iter().collect();
            }
            // On a cluster an acquire script's keys must share a slot.
            let script = lock.script_acquire.is_some()
                || (lock.fencing && lock.algorithm == Algorithm::SetNxPx);
            if cluster && script {
                lock.key = "{t}lock".into();
                lock.fence_key = "{t}fence".into();
                lock.keys = lock.keys.iter().map(|k| format!("{{t}}{k}")).collect();
            }
            Scenario {
                name,
                about,
                expect,
                seed,
                duration_ms,
                heal_at,
                lock,
                redis,
                network,
                clients,
                faults: Vec::new(),
                nemesis,
                custom_lock: None,
            }
        },
    )
}

fn node(s: &Scenario, clock: bool) -> BoxedStrategy<NodeRef> {
    let mut all = s.node_refs();
    if clock {
        all.retain(|n| *n != NodeRef::Resource);
    }
    prop::sample::select(all).boxed()
}

fn when(s: &Scenario) -> BoxedStrategy<When> {
    let (nodes, clients) = (s.redis.nodes, s.clients.count);
    let trigger = prop_oneof![
        (0..clients).prop_map(|client| Trigger::Acquired { client }),
        (0..nodes, 0..clients).prop_map(|(node, client)| Trigger::Granted { node, client }),
        (0..clients).prop_map(|client| Trigger::Released { client }),
        (0..clients).prop_map(|client| Trigger::Renewed { client }),
        (0..clients).prop_map(|client| Trigger::Replied { client }),
    ];
    let on = (trigger, 1..=u32::MAX, 0..=MAX_MS).prop_map(|(trigger, nth, delay_ms)| When::On {
        trigger,
        nth,
        delay_ms,
    });
    let heal = s.heal_ms().min(s.duration_ms);
    if heal == 0 {
        on.boxed()
    } else {
        prop_oneof![(0..heal).prop_map(|at_ms| When::At { at_ms }), on].boxed()
    }
}

fn partition(s: &Scenario) -> BoxedStrategy<Fault> {
    let all = s.node_refs();
    let n = all.len();
    (
        Just(all).prop_shuffle(),
        2..=n,
        prop::collection::vec(any::<prop::sample::Index>(), n),
        prop::option::of(1..=MAX_MS),
    )
        .prop_map(|(nodes, used, cuts, for_ms)| {
            // `used` nodes, split into >= 2 non-empty groups.
            let k = 2 + cuts[0].index(used - 1);
            let k = k.min(used);
            let mut bounds: Vec<usize> = cuts[1..]
                .iter()
                .take(k - 1)
                .map(|c| 1 + c.index(used - 1))
                .collect();
            bounds.sort();
            bounds.dedup();
            let mut groups = Vec::new();
            let mut start = 0;
            for b in bounds.into_iter().chain([used]) {
                if b > start {
                    groups.push(nodes[start..b].to_vec());
                    start = b;
                }
            }
            if groups.len() < 2 {
                groups = vec![nodes[..1].to_vec(), nodes[1..used].to_vec()];
            }
            Fault::Partition { groups, for_ms }
        })
        .boxed()
}

fn fault(s: &Scenario) -> BoxedStrategy<Fault> {
    let down = prop::option::of(0..=MAX_MS);
    let others = prop_oneof![
        (node(s, false), down.clone()).prop_map(|(node, for_ms)| Fault::Kill { node, for_ms }),
        (node(s, false), down).prop_map(|(node, for_ms)| Fault::PowerLoss { node, for_ms }),
        node(s, false).prop_map(|node| Fault::Restart { node }),
        (node(s, false), 1..=MAX_MS).prop_map(|(node, for_ms)| Fault::Pause { node, for_ms }),
        partition(s),
        Just(Fault::Heal),
        (
            node(s, true),
            prop_oneof![-(MAX_MS as i64)..=-1, 1..=MAX_MS as i64]
        )
            .prop_map(|(node, by_ms)| Fault::ClockJump { node, by_ms }),
        (node(s, true), prop_oneof![Just(0.0), -1e6..=1e6f64])
            .prop_map(|(node, ppm)| Fault::ClockDrift { node, ppm }),
    ]
    .boxed();
    if s.redis.maxmemory_bytes == 0 {
        return others;
    }
    let redis = prop::sample::select((0..s.redis.nodes).map(NodeRef::Redis).collect::<Vec<_>>());
    let ms = || prop::option::of(1..=MAX_MS);
    let pressure =
        (redis, 1..=MAX_PRESSURE_BYTES, ms(), ms()).prop_map(|(node, bytes, ttl_ms, for_ms)| {
            Fault::MemoryPressure {
                node,
                bytes,
                ttl_ms,
                for_ms,
            }
        });
    prop_oneof![4 => others, 1 => pressure].boxed()
}

fn scenario() -> impl Strategy<Value = Scenario> {
    base().prop_flat_map(|s| {
        let spec = (when(&s), fault(&s)).prop_map(|(when, fault)| FaultSpec { when, fault });
        (Just(s), prop::collection::vec(spec, 0..8)).prop_map(|(mut s, faults)| {
            s.faults = faults;
            s
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_scenarios_roundtrip(s in scenario()) {
        assert_roundtrip(&s);
    }
}
