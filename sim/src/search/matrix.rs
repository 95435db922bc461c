//! The safety matrix: every algorithm under every fault class (crossed with
//! the persistence modes that apply), each cell a generated scenario whose
//! nemesis injects that class only.
//!
//! For each cell it measures, over seeds `0..N`: the violation rate with a
//! 95% Wilson interval, the L and R rates separately, the liveness-loss
//! rate (runs where some client did not finish), and the median number of
//! runs and of wall time to the first violation (the gaps between
//! consecutive violating seeds: each gap is one hunt that starts fresh). It
//! then compares the cell with the ground-truth row that speaks about it.
//!
//! Every cell starts from [`base`]: 3 clients x 10 cycles of 100-800 ms
//! critical sections under a 2 s TTL, 40 s of simulated time with every
//! fault healed at 20 s (so a client that cannot finish in the second half
//! is stuck, not slow). [`FaultClass::apply`] says what each class adds.

use crate::model::slots::redlock_keys;
use crate::model::{Persistence, RedisConfig, Scenario, Span, Topology, Verdict};
use crate::world::nemesis::rate_span;
use crate::world::run::run;

use crate::scenario::{support_gap_fault, support_gap_scenario};
use crate::search::sweep::sweep;
use locksim_models::Algorithm;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// A column of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultClass {
    /// No faults: the control every other cell is read against.
    None,
    Pause,
    ClockJump,
    ClientDrift,
    Kill,
    PowerLoss,
    /// Kills and power losses of a node that then stays down for the TTL:
    /// the delayed-restart mitigation.
    DelayedRestart,
    Failover,
    /// The failover column on Redis Cluster: the cluster's own failure
    /// detection and election instead of Sentinel's.
    ClusterFailover,
    Partition,
    /// Memory pressure under `maxmemory` with `volatile-lru`.
    Eviction,
}

impl FaultClass {
    pub const ALL: [FaultClass; 11] = [
        FaultClass::None,
        FaultClass::Pause,
        FaultClass::ClockJump,
        FaultClass::ClientDrift,
        FaultClass::Kill,
        FaultClass::PowerLoss,
        FaultClass::DelayedRestart,
        FaultClass::Failover,
        FaultClass::ClusterFailover,
        FaultClass::Partition,
        FaultClass::Eviction,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultClass::None => "no faults",
            FaultClass::Pause => "pause",
            FaultClass::ClockJump => "clock jump",
            FaultClass::ClientDrift => "client drift",
            FaultClass::Kill => "kill",
            FaultClass::PowerLoss => "power loss",
            FaultClass::DelayedRestart => "delayed restart",
            FaultClass::Failover => "failover",
            FaultClass::Partition => "partition",
            FaultClass::Eviction => "eviction",
            FaultClass::ClusterFailover => "cluster failover",
        }
    }

    /// What the class injects, in one sentence (for `matrix.md`).
    pub fn describe(self) -> &'static str {
        match self {
            FaultClass::None => "nothing: the control",
            FaultClass::Pause => "pauses of a random client or Redis node, 0.25/s, 100 ms-4 s",
            FaultClass::ClockJump => "wall-clock jumps of a random Redis node or client, 1/s, -2 s..+6 s",
            FaultClass::ClientDrift => "client clocks off by up to ±10% (ten times Redlock's 1% drift factor), holders using 90-95% of the TTL by their own clock (validity_check): exact clocks stay inside the lease, slow ones overstay",
            FaultClass::Kill => "process kills of a random Redis node, 0.5/s, restarted at once",
            FaultClass::PowerLoss => "power loss of a random Redis node, 0.5/s, restarted at once",
            FaultClass::DelayedRestart => "kills and power losses of a random Redis node, 0.25/s each, without persistence; a crashed node stays down for the TTL before it restarts (`restart_delay_ms`, the distlock page's mitigation)",
            FaultClass::Failover => "sentinel topology (master + 2 replicas lagging 10-500 ms, failover after 300 ms down, while a holder may still work): kills of a random Redis node, 0.25/s, down 3 s",
            FaultClass::Partition => "random two-way partitions of all nodes, 0.25/s, 100 ms-5 s",
            FaultClass::Eviction => "memory pressure on a random Redis node with `maxmemory` 2 MiB and `maxmemory-policy volatile-lru` (ElastiCache's default): filler keys without a TTL, 0.25/s, 0.5-2x the room under the limit, each gone after 100 ms-2 s",
            FaultClass::ClusterFailover => "Redis Cluster topology (3 shards, each master with 1 replica lagging 10-500 ms, cluster_node_timeout_ms = 250: a replica is elected 0.75-1.5 s after its master dies; critical sections of 50-90% of the TTL, 4 cycles, so a holder may still work; Redlock locks one key per shard): kills of a random Redis node, 0.25/s, down 3 s",
        }
    }

    /// The persistence modes the class is crossed with.
    pub fn persistences(self) -> &'static [Persistence] {
        match self {
            FaultClass::Kill
            | FaultClass::PowerLoss
            | FaultClass::Failover
            | FaultClass::ClusterFailover => &Persistence::ALL,
            _ => &[Persistence::None],
        }
    }

    /// Whether the class means anything for `alg` (failover needs a
    /// replicated topology; Redlock runs on independent masters, or on a
    /// cluster's shards).
    pub fn applies_to(self, alg: Algorithm) -> bool {
        !(self == FaultClass::Failover && alg == Algorithm::Redlock)
    }

    /// Turns `base` into this class's cell.
    pub fn apply(self, s: &mut Scenario, p: Persistence) {
        let alg = s.lock.algorithm;
        s.redis.persistence = p;
        s.redis.rdb_save_every_ms = 5_000;
        match self {
            FaultClass::None => {}
            FaultClass::Pause => s.nemesis.pause = rate_span(0.25, 100, 4_000),
            FaultClass::ClockJump => s.nemesis.clock_jump = rate_span(1.0, -2_000, 6_000),
            FaultClass::ClientDrift => {
                s.clients.drift_ppm = Span::new(-100_000, 100_000);
                s.lock.validity_check = alg != Algorithm::Setnx;
                let ttl = s.lock.ttl_ms;
                s.clients.work_ms = Span::new(ttl * 9 / 10, ttl * 95 / 100);
                s.clients.cycles = 4; // 12 leases of ~2 s fit in the run
            }
            FaultClass::Kill => s.nemesis.kill = 0.5,
            FaultClass::PowerLoss => s.nemesis.power_loss = 0.5,
            FaultClass::DelayedRestart => {
                s.nemesis.kill = 0.25;
                s.nemesis.power_loss = 0.25;
                s.redis.restart_delay_ms = s.lock.ttl_ms;
            }
            FaultClass::Failover => {
                s.redis.topology = Topology::Sentinel;
                s.redis.nodes = 3;
                s.redis.failover_after_ms = 300;
                s.redis.restart_delay_ms = 3_000;
                s.redis.replication_lag_ms = Span::new(10, 500);
                s.nemesis.kill = 0.25;
            }
            FaultClass::Partition => s.nemesis.partition = rate_span(0.25, 100, 5_000),
            FaultClass::Eviction => {
                s.redis.maxmemory_bytes = 2 << 20;
                s.redis.maxmemory_policy = crate::model::MaxmemoryPolicy::VolatileLru;
                let room = s.redis.maxmemory_bytes
                    - crate::redis::MemoryConfig::of(&s.redis, s.clients.count).baseline_bytes;
                s.nemesis.memory_pressure = crate::model::RateBytes {
                    rate: 0.25,
                    bytes: Span::new(room / 2, 2 * room),
                    ms: Some(Span::new(100, 2_000)),
                };
            }
            FaultClass::ClusterFailover => {
                let r = &mut s.redis;
                r.topology = Topology::Cluster;
                r.shards = 3;
                r.replicas_per_shard = 1;
                r.nodes = RedisConfig::cluster_nodes(3, 1);
                r.cluster_node_timeout_ms = 250;
                r.restart_delay_ms = 3_000;
                r.replication_lag_ms = Span::new(10, 500);
                s.nemesis.kill = 0.25;
                // The election alone takes 0.5-1 s: critical sections
                // long enough to still run when it ends.
                let ttl = s.lock.ttl_ms;
                s.clients.work_ms = Span::new(ttl / 2, ttl * 9 / 10);
                s.clients.cycles = 4;
                if alg == Algorithm::Redlock {
                    s.lock.keys = redlock_keys(&s.lock.key, 3);
                }
            }
        }
    }
}

/// The scenario every cell of `alg` starts from.
pub fn base(alg: Algorithm) -> Scenario {
    let mut s = Scenario::with_defaults(&format!("matrix-{}", alg.name()), Verdict::Safe, alg);
    s.about = "Generated by locksim matrix".into();
    s.duration_ms = 40_000;
    s.heal_at = 0.5;
    s.lock.ttl_ms = 2_000;
    s.lock.renew_every_ms = 2_000 / 3;
    s.clients.count = 3;
    s.clients.cycles = 10;
    s.clients.work_ms = Span::new(100, 800);
    s.clients.writes = 2;
    s
}

/// One cell to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellSpec {
    pub algorithm: Algorithm,
    pub class: FaultClass,
    pub persistence: Persistence,
}

impl CellSpec {
    /// The cell's generated scenario.
    pub fn scenario(self) -> Scenario {
        let mut s = base(self.algorithm);
        self.class.apply(&mut s, self.persistence);
        s.name = format!(
            "matrix-{}-{}-{}",
            self.algorithm.name(),
            self.class.name().replace(' ', "-"),
            self.persistence.name()
        );
        s
    }

    /// Why this build cannot run the cell, if it cannot.
    pub fn unavailable(self) -> Option<String> {
        let s = self.scenario();
        if let Some((_, why)) = support_gap_scenario(&s).into_iter().next() {
            return Some(why);
        }
        let probe = match self.class {
            FaultClass::Kill
            | FaultClass::DelayedRestart
            | FaultClass::Failover
            | FaultClass::ClusterFailover => Some(crate::model::Fault::Kill {
                node: crate::model::NodeRef::Redis(0),
                for_ms: None,
            }),
            FaultClass::PowerLoss => Some(crate::model::Fault::PowerLoss {
                node: crate::model::NodeRef::Redis(0),
                for_ms: None,
            }),
            _ => None,
        };
        probe.and_then(|f| support_gap_fault(&f, &s))
    }
}

/// Every cell, in table order.
pub fn cells() -> Vec<CellSpec> {
    let mut v = Vec::new();
    for algorithm in Algorithm::ALL {
        for class in FaultClass::ALL {
            if !class.applies_to(algorithm) {
                continue;
            }
            for &persistence in class.persistences() {
                v.push(CellSpec {
                    algorithm,
                    class,
                    persistence,
                });
            }
        }
    }
    v
}

/// What the ground truth says about a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Lock-level violations occur.
    L,
    /// No violation of any kind.
    Safe,
    /// No lock-level violation (resource-level ones may occur).
    NoL,
    /// No lock-level violation, but resource-level ones occur.
    NoLButR,
}

impl Expect {
    pub fn text(self) -> &'static str {
        match self {
            Expect::L => "L",
            Expect::Safe => "safe",
            Expect::NoL => "no L",
            Expect::NoLButR => "R, no L",
        }
    }

    fn holds(self, c: &MatrixCell) -> bool {
        match self {
            Expect::L => c.l > 0,
            Expect::Safe => c.violations == 0,
            Expect::NoL => c.l == 0,
            Expect::NoLButR => c.l == 0 && c.r > 0,
        }
    }
}

/// The ground-truth rows that speak about a cell, and what they say.
pub fn ground_truth(cell: CellSpec) -> Option<(&'static [u32], Expect)> {
    use Algorithm::*;
    use FaultClass as F;
    use Persistence as P;
    Some(match (cell.algorithm, cell.class, cell.persistence) {
        (_, F::None, _) => (&[], Expect::Safe),
        (SetnxExpire, F::Pause, _) => (&[4], Expect::L),
        (SetnxGetset, F::Pause, _) => (&[9], Expect::L),
        (SetnxGetset, F::ClockJump | F::ClientDrift, _) => (&[8], Expect::L),
        (SetNxPx, F::Pause, _) => (&[11, 12], Expect::L),
        (SetNxPx, F::ClockJump, _) => (&[14], Expect::L),
        (SetNxPx, F::Kill | F::PowerLoss, P::None | P::Rdb) => (&[17], Expect::L),
        (SetNxPx, F::Kill, P::AofEverysec) => (&[18], Expect::Safe),
        (SetNxPx, F::PowerLoss, P::AofEverysec) => (&[19], Expect::L),
        (SetNxPx, F::Kill | F::PowerLoss, P::AofAlways) => (&[20], Expect::Safe),
        (SetNxPx, F::Failover, _) => (&[15], Expect::L),
        (SetNxPx, F::ClusterFailover, _) => (&[53], Expect::L),
        (Watchdog, F::Pause, _) => (&[22], Expect::L),
        (Watchdog, F::Partition, _) => (&[23], Expect::L),
        (Watchdog, F::Failover, _) => (&[24], Expect::L),
        (Redlock, F::Pause, _) => (&[26, 28], Expect::NoLButR),
        (Redlock, F::ClockJump, _) => (&[25], Expect::L),
        (Redlock, F::ClientDrift, _) => (&[32], Expect::L),
        (Redlock, F::Kill, P::None | P::Rdb) => (&[29], Expect::L),
        (Redlock, F::PowerLoss, P::None | P::Rdb | P::AofEverysec) => (&[29], Expect::L),
        (Redlock, F::Kill | F::PowerLoss, P::AofAlways) => (&[31], Expect::Safe),
        (Redlock, F::DelayedRestart, _) => (&[30], Expect::Safe),
        (Redlock, F::Partition, _) => (&[33], Expect::NoL),
        (SetNxPx, F::Eviction, _) => (&[49], Expect::L),
        _ => return None,
    })
}

/// Whether a cell ran.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", content = "why", rename_all = "kebab-case")]
pub enum CellStatus {
    Measured,
    /// The build cannot simulate it yet (persistence, sentinel...).
    NotAvailableYet(String),
}

/// One measured cell (`matrix.json`, and the input of the SVG).
#[derive(Clone, Debug, Serialize)]
pub struct MatrixCell {
    pub algorithm: String,
    pub class: String,
    pub persistence: String,
    pub status: CellStatus,
    pub runs: u64,
    /// Runs with any violation.
    pub violations: u64,
    /// Runs with a lock-level (L) violation.
    pub l: u64,
    /// Runs with a resource-level (R) violation.
    pub r: u64,
    /// Runs where some client did not finish (whatever else happened).
    pub liveness: u64,
    pub violation_rate: f64,
    /// 95% Wilson score interval of the violation rate.
    pub wilson_lo: f64,
    pub wilson_hi: f64,
    pub liveness_rate: f64,
    /// Median runs until the first violation (gaps between violating seeds).
    pub median_runs_to_first: Option<f64>,
    /// Median wall time (ms, one thread) until the first violation.
    pub median_ms_to_first: Option<f64>,
    /// The lowest violating seed.
    pub first_seed: Option<u64>,
    /// Ground-truth rows about this cell.
    pub rows: Vec<u32>,
    pub expect: Option<Expect>,
    /// Whether the measurement agrees with the ground truth.
    pub agrees: Option<bool>,
}

/// 95% Wilson score interval of `k` successes in `n`.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.959_963_984_540_054);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let center = (p + z * z / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((center - half).max(0.0), (center + half).min(1.0))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// What one run contributes to a cell (here and in the library matrix).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct RunStat {
    pub violation: bool,
    pub l: bool,
    pub r: bool,
    /// Some client did not finish.
    pub unfinished: bool,
    /// Wall time of the run (ms, one thread).
    pub wall_ms: f64,
}

impl RunStat {
    /// Runs `s` with `seed` and reads the verdict's kinds.
    pub fn measure(s: &Scenario, seed: u64) -> RunStat {
        use crate::oracle::ViolationKind;
        let start = Instant::now();
        let o = run(s, seed);
        let wall_ms = start.elapsed().as_secs_f64() * 1e3;
        let has = |k| o.check.violations.iter().any(|v| v.kind == k);
        RunStat {
            violation: o.verdict() == Verdict::Violation,
            l: has(ViolationKind::L),
            r: has(ViolationKind::R),
            unfinished: !o.check.unfinished.is_empty(),
            wall_ms,
        }
    }
}

/// Measures every cell on seeds `0..seeds` with `jobs` threads.
/// Measures every cell on seeds `0..seeds` with `jobs` threads.
pub fn run_matrix(
    seeds: u64,
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<MatrixCell> {
    summarise_all(&measure_cells(seeds, jobs, &|_| true, progress))
        .expect("every cell was measured")
}

/// The raw runs of the cells whose index `select` accepts (a shard of the
/// matrix: `--shard I/N` takes the cells with index mod N = I), in cell
/// order. A cell that is not available yet has no runs.
pub fn measure_cells(
    seeds: u64,
    jobs: usize,
    select: &dyn Fn(usize) -> bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<(usize, Vec<RunStat>)> {
    let specs = cells();
    let available: Vec<bool> = specs.iter().map(|c| c.unavailable().is_none()).collect();
    let scenarios: Vec<Scenario> = specs.iter().map(|c| c.scenario()).collect();
    let chosen: Vec<usize> = (0..specs.len()).filter(|&i| select(i)).collect();
    let measured: Vec<usize> = chosen.iter().copied().filter(|&i| available[i]).collect();
    let mut runs = sweep_cells(&scenarios, &measured, seeds, jobs, progress).into_iter();
    chosen
        .into_iter()
        .map(|i| match available[i] {
            true => (i, runs.next().expect("one per measured cell")),
            false => (i, Vec::new()),
        })
        .collect()
}

/// Seeds `0..seeds` of each scenario `scenarios[i]`, `i` in `cells`, on
/// `jobs` threads: each cell's runs in seed order, in the order of
/// `cells` (the safety matrix and the library matrix alike).
pub fn sweep_cells(
    scenarios: &[Scenario],
    cells: &[usize],
    seeds: u64,
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Vec<RunStat>> {
    if seeds == 0 {
        return vec![Vec::new(); cells.len()];
    }
    let work: Vec<(usize, u64)> = cells
        .iter()
        .flat_map(|&i| (0..seeds).map(move |seed| (i, seed)))
        .collect();
    let total = work.len();
    let stats = sweep(
        &work,
        jobs,
        |&(i, seed)| RunStat::measure(&scenarios[i], seed),
        &|done| progress(done, total),
    );
    stats
        .chunks(seeds as usize)
        .map(<[RunStat]>::to_vec)
        .collect()
}

/// Every cell from its raw runs (from one machine, or merged from
/// shards): an error names a cell index that is missing or given twice.
pub fn summarise_all(raw: &[(usize, Vec<RunStat>)]) -> Result<Vec<MatrixCell>, String> {
    let specs = cells();
    let mut by_index: Vec<Option<&Vec<RunStat>>> = vec![None; specs.len()];
    for (i, runs) in raw {
        let slot = by_index
            .get_mut(*i)
            .ok_or_else(|| format!("cell {i} does not exist (this build has {})", specs.len()))?;
        if slot.is_some() {
            return Err(format!("cell {i} appears twice"));
        }
        *slot = Some(runs);
    }
    specs
        .iter()
        .zip(by_index)
        .enumerate()
        .map(|(i, (spec, runs))| {
            let runs = runs.ok_or_else(|| format!("cell {i} is missing"))?;
            let status = match spec.unavailable() {
                Some(why) => CellStatus::NotAvailableYet(why),
                None => CellStatus::Measured,
            };
            Ok(summarise(*spec, status, runs))
        })
        .collect()
}

fn summarise(spec: CellSpec, status: CellStatus, runs: &[RunStat]) -> MatrixCell {
    let n = runs.len() as u64;
    let count = |f: fn(&RunStat) -> bool| runs.iter().filter(|r| f(r)).count() as u64;
    let violations = count(|r| r.violation);
    let (lo, hi) = wilson(violations, n);
    let mut gaps_runs = Vec::new();
    let mut gaps_ms = Vec::new();
    let (mut since, mut since_ms) = (0u64, 0.0f64);
    for r in runs {
        since += 1;
        since_ms += r.wall_ms;
        if r.violation {
            gaps_runs.push(since as f64);
            gaps_ms.push(since_ms);
            since = 0;
            since_ms = 0.0;
        }
    }
    let gt = ground_truth(spec);
    let mut cell = MatrixCell {
        algorithm: spec.algorithm.name().into(),
        class: spec.class.name().into(),
        persistence: spec.persistence.name().into(),
        status,
        runs: n,
        violations,
        l: count(|r| r.l),
        r: count(|r| r.r),
        liveness: count(|r| r.unfinished),
        violation_rate: if n == 0 {
            0.0
        } else {
            violations as f64 / n as f64
        },
        wilson_lo: lo,
        wilson_hi: hi,
        liveness_rate: if n == 0 {
            0.0
        } else {
            count(|r| r.unfinished) as f64 / n as f64
        },
        median_runs_to_first: median(gaps_runs),
        median_ms_to_first: median(gaps_ms),
        first_seed: runs.iter().position(|r| r.violation).map(|p| p as u64),
        rows: gt.map(|(rows, _)| rows.to_vec()).unwrap_or_default(),
        expect: gt.map(|(_, e)| e),
        agrees: None,
    };
    if cell.status == CellStatus::Measured && n > 0 {
        cell.agrees = cell.expect.map(|e| e.holds(&cell));
    }
    cell
}
