//! Engine benchmarks (a bench binary that prints figures; no assertions):
//!
//! 1. wasm vs native: the builtin rule set on one 7-day, 1-minute history
//!    (10,080 samples), deadlines on, fresh instance per call;
//! 2. per-call engine overhead: store + instantiate (a rule that reads
//!    nothing) and instantiate + marshal every series (a rule that reads
//!    everything and computes nothing);
//! 3. throughput: the builtin rules over 10,000 workloads of 7-day, 1-minute
//!    histories on every core, with peak RSS; and the full `analyze`
//!    pipeline (checks, merge, replay) over a subset;
//! 4. cold start: a new engine loading every builtin rule from the
//!    precompiled cache, and without it.
//!
//! Run: `cargo bench -p stepscale-tests --bench engine`.
//!
//! With `STEPSCALE_BENCH_PERF_MAP=1` it writes `/tmp/perf-<pid>.map`, naming
//! the rules' compiled functions, so that `perf record -g` of the bench
//! attributes time inside the sandbox to the rule's own functions.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stepscale_engine::{EngineConfig, RuleEngine, RuleKind, WorkloadSnapshot};
use stepscale_operator::analysis::Analyzer;
use stepscale_rules_sdk::harness::traces;
use stepscale_tests::test_rules;

const SAMPLES: usize = 7 * 1440;
/// Workloads of the throughput run (`STEPSCALE_BENCH_WORKLOADS`, default 10,000).
fn workloads() -> usize {
    std::env::var("STEPSCALE_BENCH_WORKLOADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Median of `runs` timings of `f`, after 3 warm-up runs.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    for _ in 0..3 {
        std::hint::black_box(f());
    }
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            std::hint::black_box(f());
            s.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A 7-day, 1-minute workload from the real `cpu_utilization_asg_misconfiguration`
/// series (5-minute samples interpolated to 1 minute, rotated by `shift`
/// samples): demand = value % of 12 pods; replicas from the SDK's HPA
/// emulation at a 50 % target.
fn workload(nab: &traces::Trace, shift: usize) -> WorkloadSnapshot {
    let src = &nab.values;
    let demand: Vec<f64> = (0..SAMPLES)
        .map(|i| {
            let pos = (i + shift) as f64 / 5.0;
            let k = pos.floor() as usize % src.len();
            let next = src[(k + 1) % src.len()];
            let v = src[k] + (next - src[k]) * pos.fract();
            v / 100.0 * 12.0
        })
        .collect();
    // A name of its own, so the host's competing-autoscaler check does not
    // see every bench workload as scaling the same Deployment.
    traces::snapshot_from_demand(
        &format!("bench-{shift}"),
        nab.start_unix_seconds,
        60,
        &demand,
        traces::hpa_config(2, 40, 50),
        2,
    )
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// The full `analyze` pipeline (rules, checks, merge, replay search, schedule
/// pass) over `subset` workloads drawn from `pool`, on every core.
fn full_analyze(analyzer: &Analyzer, pool: &[Arc<WorkloadSnapshot>], subset: usize) {
    // Each workload of the batch scales a Deployment of its own (the
    // competing-autoscaler check would otherwise hold every one back).
    let batch: Vec<Arc<WorkloadSnapshot>> = (0..subset)
        .map(|i| {
            let mut w = (*pool[i % pool.len()]).clone();
            w.autoscaler.name = format!("bench-{i}");
            w.target.name = format!("bench-{i}");
            Arc::new(w)
        })
        .collect();
    let started = Instant::now();
    let recs = analyzer.analyze(&batch, 0);
    let took = started.elapsed();
    let searched = recs.iter().filter(|r| r.choice.is_some()).count();
    let replays: u32 = recs
        .iter()
        .filter_map(|r| r.choice.as_ref())
        .map(|c| c.candidates_replayed + 2)
        .sum();
    let stopped: u32 = recs
        .iter()
        .filter_map(|r| r.choice.as_ref())
        .map(|c| c.candidates_stopped_early)
        .sum();
    let reused: u32 = recs
        .iter()
        .filter_map(|r| r.choice.as_ref())
        .map(|c| c.candidates_reused)
        .sum();
    println!(
        "full analyze (rules + checks + merge + replay search on {searched}/{subset} workloads, {:.1} replays each, {:.1} of them stopped early, {:.1} reused): {:.1} workloads/s, peak RSS {:.0} MiB",
        f64::from(replays) / searched.max(1) as f64,
        f64::from(stopped) / searched.max(1) as f64,
        f64::from(reused) / searched.max(1) as f64,
        subset as f64 / took.as_secs_f64(),
        peak_rss_mib()
    );
}

/// `/tmp/perf-<pid>.map`: one `{address:x} {len:x} {name} [wasm rule]` line
/// per compiled function of `rules` (the format perf reads for JIT code).
fn write_perf_map(rules: &[stepscale_engine::LoadedRule]) {
    let path = format!("/tmp/perf-{}.map", std::process::id());
    let lines: String = rules
        .iter()
        .flat_map(|r| {
            r.compiled_functions().into_iter().map(move |f| {
                format!(
                    "{:x} {:x} {:#} [wasm {}]\n",
                    f.address,
                    f.len,
                    rustc_demangle::demangle(&f.name),
                    r.id
                )
            })
        })
        .collect();
    std::fs::write(&path, lines).unwrap_or_else(|e| panic!("{path}: {e}"));
    println!("perf map: {path}");
}

fn main() {
    let nab_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/traces/nab/cpu_utilization_asg_misconfiguration.csv");
    let nab = traces::read_csv(&nab_path).unwrap_or_else(|e| panic!("{}: {e}", nab_path.display()));
    // The model name alone ("AMD EPYC" on a VM) does not tell CPU
    // generations apart; family and model do.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(key, _)| key.trim() == name)
            .map_or("", |(_, value)| value.trim())
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "machine: {}, cpu family {}, model {}, {cores} cores",
        field("model name"),
        field("cpu family"),
        field("model")
    );

    // `STEPSCALE_BENCH_ONLY=analyze`: only the full `analyze` figure, over
    // `STEPSCALE_BENCH_WORKLOADS` workloads (default 100).
    if std::env::var("STEPSCALE_BENCH_ONLY").as_deref() == Ok("analyze") {
        let pool: Vec<Arc<WorkloadSnapshot>> =
            (0..50).map(|i| Arc::new(workload(&nab, i * 577))).collect();
        let analyzer = Analyzer::with_builtin_rules(EngineConfig::default()).expect("analyzer");
        full_analyze(
            &analyzer,
            &pool,
            std::env::var("STEPSCALE_BENCH_WORKLOADS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(100),
        );
        return;
    }
    let w = Arc::new(workload(&nab, 0));
    let data = traces::workload_data(&w);
    let horizon = 1440;

    // 1. wasm vs native, per rule.
    let engine = RuleEngine::new(EngineConfig::default().with_cache_dir(None)).expect("engine");
    let rules: Vec<_> = stepscale_operator::analysis::builtin::load_all(&engine)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("builtin rules load");
    if std::env::var_os("STEPSCALE_BENCH_PERF_MAP").is_some() {
        write_perf_map(&rules);
    }
    println!("\n== wasm vs native: builtin rules on one 7-day 1-minute history ({SAMPLES} samples), 2 s deadline on, fresh instance per call");
    println!(
        "{:<20}{:>14}{:>14}{:>8}",
        "rule", "native µs", "wasm µs", "ratio"
    );
    let mut native_total = 0.0;
    let mut wasm_total = 0.0;
    for rule in &rules {
        let native = match rule.id.as_str() {
            "idle-windows" => median(30, || stepscale_rule_idle_windows::analyze(&data).len()),
            "over-provisioning" => median(30, || {
                stepscale_rule_over_provisioning::analyze(&data).len()
            }),
            "scale-lag" => median(30, || stepscale_rule_scale_lag::analyze(&data).len()),
            "thrashing" => median(30, || stepscale_rule_thrashing::analyze(&data).len()),
            "recurring-peaks" => {
                median(30, || stepscale_rule_recurring_peaks::analyze(&data).len())
            }
            "forecaster" => median(30, || {
                stepscale_rule_forecaster::predict(&data, horizon).is_ok() as usize
            }),
            other => panic!("no native twin for rule {other}"),
        };
        let wasm = match rule.kind {
            RuleKind::Detector => median(30, || {
                engine
                    .evaluate(rule, &w)
                    .result
                    .map(|f| f.len())
                    .unwrap_or(0)
            }),
            RuleKind::Forecaster => median(30, || {
                engine.predict(rule, &w, horizon).result.is_ok() as usize
            }),
        };
        native_total += us(native);
        wasm_total += us(wasm);
        println!(
            "{:<20}{:>14.1}{:>14.1}{:>8.2}",
            rule.id,
            us(native),
            us(wasm),
            us(wasm) / us(native)
        );
    }
    println!(
        "{:<20}{:>14.1}{:>14.1}{:>8.2}",
        "all six",
        native_total,
        wasm_total,
        wasm_total / native_total
    );

    // 2. overhead.
    let load_test = |name: &str| {
        let bytes = test_rules::COMPONENTS
            .iter()
            .find(|(n, _)| *n == name)
            .expect("bench rule built")
            .1;
        engine.load(name, bytes).expect("bench rule loads")
    };
    let inst = load_test("stepscale-test-rule-instantiate-noop");
    let read = load_test("stepscale-test-rule-read-all-noop");
    let t_inst = median(200, || engine.evaluate(&inst, &w).result.is_ok());
    let t_read = median(200, || engine.evaluate(&read, &w).result.is_ok());
    // The floor under the difference of those two: the bytes of the series
    // the host serves (`data` holds exactly those) copied into a rule's
    // memory (the one copy the component model requires) and zeroed again
    // for the next call (the slot's reset), as two plain memory passes in
    // the bench's own process.
    let series: Vec<&[f64]> = [&data.cpu, &data.desired, &data.current, &data.ready]
        .into_iter()
        .chain(data.request_rate.as_ref())
        .map(Vec::as_slice)
        .collect();
    let mut guest = vec![0f64; series.iter().map(|s| s.len()).sum()];
    let kb = guest.len() * 8 / 1000;
    let t_floor = median(200, || {
        let mut at = 0;
        for s in &series {
            guest[at..at + s.len()].copy_from_slice(s);
            at += s.len();
        }
        std::hint::black_box(&mut guest);
        guest.fill(0.0);
        std::hint::black_box(&mut guest);
    });
    println!("\n== engine overhead per call (10,080-sample workload)");
    println!(
        "store + instantiate + call, no input read: {:.1} µs",
        us(t_inst)
    );
    println!(
        "store + instantiate + call, reading every series ({} × {SAMPLES} f64, {kb} KB): {:.1} µs",
        series.len(),
        us(t_read)
    );
    println!(
        "copy floor: the same {kb} KB copied into a buffer and zeroed again, natively: {:.1} µs",
        us(t_floor)
    );
    println!(
        "per workload, six rules: wasm − native = {:.1} µs ({:.1} µs per rule call)",
        wasm_total - native_total,
        (wasm_total - native_total) / rules.len() as f64
    );

    // 3. throughput over 10,000 workloads (a pool of 50 distinct rotations of
    // the real series, each workload an Arc to one of them: the engine caches
    // nothing between calls, so every call does the full work).
    let pool: Vec<Arc<WorkloadSnapshot>> =
        (0..50).map(|i| Arc::new(workload(&nab, i * 577))).collect();
    let analyzer = Analyzer::with_builtin_rules(EngineConfig::default()).expect("analyzer");
    let total = workloads();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                std::hint::black_box(analyzer.evaluate(&pool[i % pool.len()]));
            });
        }
    });
    let took = started.elapsed();
    println!("\n== throughput: six builtin rules over {total} workloads × {SAMPLES} samples, {cores} threads");
    println!(
        "{:.2} s, {:.0} workloads/s, peak RSS {:.0} MiB",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64(),
        peak_rss_mib()
    );
    full_analyze(&analyzer, &pool, (total / 20).clamp(10, 500));

    // 4. cold start.
    let cache = std::env::temp_dir().join(format!("stepscale-bench-cache-{}", std::process::id()));
    let load_all = |cache: Option<std::path::PathBuf>| {
        let started = Instant::now();
        let e = RuleEngine::new(EngineConfig::default().with_cache_dir(cache)).expect("engine");
        let n = stepscale_operator::analysis::builtin::load_all(&e)
            .into_iter()
            .filter(|r| r.is_ok())
            .count();
        (started.elapsed(), n)
    };
    let (uncached, n) = load_all(None);
    let _ = load_all(Some(cache.clone()));
    let mut cached: Vec<Duration> = (0..5).map(|_| load_all(Some(cache.clone())).0).collect();
    cached.sort();
    println!("\n== cold start: new engine + load {n} builtin rules");
    println!(
        "from the precompiled cache: {:.1} ms (median of 5)",
        cached[2].as_secs_f64() * 1e3
    );
    println!(
        "compiling (no cache):       {:.1} ms",
        uncached.as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&cache);
}
