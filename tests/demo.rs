//! The demo snapshot generator: builds `host/data/demo-snapshot.json` from
//! real NAB series (numenta/NAB, MIT; see `host/data/README.md`). Each
//! workload documents how its series was rescaled into demand, utilization or
//! request rate, and which pitfall or finding it is meant to show.
//!
//! Replicas come from the SDK's documented HPA emulation
//! ([`traces::simulate_hpa`]) under each workload's config, so replicas and
//! utilization are consistent with each other.

use std::path::Path;

use stepscale_engine::snapshot::{
    AutoscalerKind, ContainerResources, KedaTrigger, Snapshot, WorkloadSnapshot,
    SNAPSHOT_API_VERSION,
};
use stepscale_rules_sdk::harness::traces::{self, Trace};

const GATEWAY_SOURCE: &str = "elb_request_count_8c0756.csv, first 7 days; rate = count / 5 req/s; demand = rate / 25 req/s per pod; replicas from the HPA emulation";

/// Days of history per demo workload.
pub const DEMO_DAYS: usize = 7;

fn load(nab_dir: &Path, name: &str) -> Result<Trace, String> {
    load_days(nab_dir, name, 0)
}

/// [`DEMO_DAYS`] days of a series, starting `skip_days` after its start.
fn load_days(nab_dir: &Path, name: &str, skip_days: usize) -> Result<Trace, String> {
    let t = traces::read_csv(&nab_dir.join(format!("{name}.csv")))?;
    let per_day = t.samples_per_day();
    let (skip, n) = (skip_days * per_day, DEMO_DAYS * per_day);
    if t.values.len() < skip + n {
        return Err(format!(
            "{name}: fewer than {} days of samples",
            skip_days + DEMO_DAYS
        ));
    }
    Ok(Trace {
        start_unix_seconds: t.start_unix_seconds + (skip as i64) * i64::from(t.step_seconds),
        values: t.values[skip..skip + n].to_vec(),
        ..t
    })
}

/// Linear interpolation of a trace onto a finer step (`step` divides the
/// trace's step).
fn resample(t: &Trace, step: u32) -> Trace {
    let k = (t.step_seconds / step).max(1) as usize;
    let mut values = Vec::with_capacity(t.values.len() * k);
    for (i, &v) in t.values.iter().enumerate() {
        let next = t.values.get(i + 1).copied().unwrap_or(v);
        for j in 0..k {
            values.push(v + (next - v) * j as f64 / k as f64);
        }
    }
    Trace {
        step_seconds: step,
        values,
        ..t.clone()
    }
}

fn place(mut w: WorkloadSnapshot, ns: &str, name: &str, source: &str) -> WorkloadSnapshot {
    w.source = Some(format!("NAB {source}"));
    w.autoscaler.namespace = ns.into();
    w.autoscaler.name = name.into();
    w.target.name = name.into();
    w
}

/// Build the demo snapshot from the NAB directory.
///
/// # Errors
/// A series file is missing, malformed or too short.
pub fn build_demo_snapshot(nab_dir: &Path) -> Result<Snapshot, String> {
    let mut workloads = Vec::new();

    // shop/checkout — nyc_taxi, third week (days 14-21), interpolated to
    // 5 min; demand = passengers / 1,500 pods. A floor of 20 at a 70 %
    // target holds 20 pods through nights that need 3: idle windows and
    // over-provisioning.
    let t = resample(&load_days(nab_dir, "nyc_taxi", 14)?, 300);
    let demand: Vec<f64> = t.values.iter().map(|v| v / 1500.0).collect();
    let cfg = traces::hpa_config(20, 40, 70);
    workloads.push(place(
        traces::snapshot_from_demand("checkout", t.start_unix_seconds, t.step_seconds, &demand, cfg, 1),
        "shop",
        "checkout",
        "nyc_taxi.csv, days 14-21 at 5 min (interpolated); demand = passengers / 1,500 pods; replicas from the HPA emulation",
    ));

    // rides/dispatch — nyc_taxi passengers per 30 min, interpolated to 5 min;
    // demand = passengers / 1,500 pods. A slow scale-up (10 min
    // stabilization, 2 steps of metric lag) on a recurring daily peak:
    // scale lag and recurring peaks; the forecaster's peak windows.
    let t = resample(&load(nab_dir, "nyc_taxi")?, 300);
    let demand: Vec<f64> = t.values.iter().map(|v| v / 1500.0).collect();
    let cfg = traces::with_stabilization(traces::hpa_config(4, 40, 70), 300, Some(600));
    workloads.push(place(
        traces::snapshot_from_demand(
            "dispatch",
            t.start_unix_seconds,
            t.step_seconds,
            &demand,
            cfg,
            2,
        ),
        "rides",
        "dispatch",
        "nyc_taxi.csv, first 7 days at 5 min (interpolated); demand = passengers / 1,500 pods; replicas from the HPA emulation",
    ));

    // web/storefront — nyc_taxi, first 7 days at its own 30-minute step;
    // demand normalized to peak at 10 pods of 500m. The floor carries the
    // median demand at a 70 % target, and a 5-minute scale-up stabilization
    // lets the morning rise outrun the pods: the floor is held up by a
    // recurring daily peak, which a lower floor with a predictive schedule
    // carries for less. The history is the HPA model's replay (what a
    // cluster would have recorded, utilization capped at the pods' limit).
    let t = load(nab_dir, "nyc_taxi")?;
    let n = 7 * t.samples_per_day();
    let demand = crate::eval::demand_pods(&t, n);
    let demand = &demand[..n.min(demand.len())];
    let mut sorted = demand.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let floor = ((median / 0.7).ceil() as u32).max(1);
    let cfg = traces::with_stabilization(traces::hpa_config(floor, 30, 70), 300, Some(300));
    workloads.push(place(
        crate::eval::recorded_snapshot("storefront", t.start_unix_seconds, t.step_seconds, demand, cfg)?,
        "web",
        "storefront",
        "nyc_taxi.csv, first 7 days at 30 min; demand = passengers normalized to a 10-pod peak; replicas from the HPA model's replay",
    ));

    // batch/ingest — ec2_cpu_utilization_ac20cd (bursty): demand = value % of
    // 8 pods. No scale-down stabilization: replicas flap with every burst.
    let t = load(nab_dir, "ec2_cpu_utilization_ac20cd")?;
    let demand: Vec<f64> = t.values.iter().map(|v| v / 100.0 * 8.0).collect();
    let cfg = traces::with_stabilization(traces::hpa_config(2, 20, 60), 0, None);
    workloads.push(place(
        traces::snapshot_from_demand(
            "ingest",
            t.start_unix_seconds,
            t.step_seconds,
            &demand,
            cfg,
            1,
        ),
        "batch",
        "ingest",
        "ec2_cpu_utilization_ac20cd.csv, first 7 days; demand = value % of 8 pods; replicas from the HPA emulation",
    ));

    // api/gateway — elb_request_count_8c0756 (requests per 5 min): request
    // rate = count / 300 × 60 (a 60× busier gateway) req/s; demand = rate /
    // 25 req/s per pod. A KEDA ScaledObject (prometheus trigger) AND a
    // manual HPA on the same Deployment: competing autoscalers.
    let t = load(nab_dir, "elb_request_count_8c0756")?;
    let rps: Vec<f64> = t.values.iter().map(|v| v / 300.0 * 60.0).collect();
    let demand: Vec<f64> = rps.iter().map(|r| r / 25.0).collect();
    let mut so = traces::snapshot_from_demand(
        "gateway",
        t.start_unix_seconds,
        t.step_seconds,
        &demand,
        traces::keda_config(2, 12, 70, &["prometheus"]),
        1,
    );
    if let Some(k) = so.config.keda.as_mut() {
        k.triggers = vec![KedaTrigger {
            trigger_type: "prometheus".into(),
            metadata: [
                (
                    "query".to_string(),
                    "sum(rate(http_requests_total{app=\"gateway\"}[1m]))".to_string(),
                ),
                ("threshold".to_string(), "25".to_string()),
            ]
            .into_iter()
            .collect(),
        }];
    }
    so.history.request_rate = Some(rps);
    let mut manual = so.clone();
    manual.autoscaler.kind = AutoscalerKind::HorizontalPodAutoscaler;
    manual.autoscaler.name = "gateway-cpu".into();
    manual.config.keda = None;
    let mut so = place(so, "api", "gateway", GATEWAY_SOURCE);
    so.autoscaler.name = "gateway".into();
    let mut manual = place(manual, "api", "gateway", GATEWAY_SOURCE);
    manual.autoscaler.name = "gateway-cpu".into();
    workloads.push(so);
    workloads.push(manual);

    // db/pg-replica — rds_cpu_utilization_cc0c53 (5-25 % CPU): utilization
    // at 2 replicas. A ScaledObject with minReplicaCount 0 on a StatefulSet:
    // scale to zero on a stateful workload.
    let t = load(nab_dir, "rds_cpu_utilization_cc0c53")?;
    let mut w = traces::snapshot_from_utilization(&t, traces::keda_config(0, 4, 70, &["cpu"]), 2);
    w.target.kind = "StatefulSet".into();
    w.autoscaler.kind = AutoscalerKind::ScaledObject;
    workloads.push(place(
        w,
        "db",
        "pg-replica",
        "rds_cpu_utilization_cc0c53.csv, first 7 days; CPU % at 2 replicas",
    ));

    // ml/embedder — ec2_cpu_utilization_5f5533 (35-68 %): utilization at 3
    // replicas; a CPU-target HPA whose model-loader sidecar has no CPU
    // request.
    let t = load(nab_dir, "ec2_cpu_utilization_5f5533")?;
    let mut w = traces::snapshot_from_utilization(&t, traces::hpa_config(3, 12, 60), 3);
    w.containers.push(ContainerResources {
        name: "model-loader".into(),
        cpu_request_millicores: None,
        memory_request_bytes: Some(1 << 30),
    });
    workloads.push(place(
        w,
        "ml",
        "embedder",
        "ec2_cpu_utilization_5f5533.csv, first 7 days; CPU % at 3 replicas",
    ));

    // cache/sessions — ec2_cpu_utilization_c6585a (CPU near 0.07 %): a
    // memory-only HPA (75 % of request) whose replicas went 2 → 5 in steps
    // and never came down.
    let t = load(nab_dir, "ec2_cpu_utilization_c6585a")?;
    let mut cfg = traces::hpa_config(2, 8, 75);
    cfg.cpu_target_percent = None;
    cfg.memory_target_percent = Some(75);
    let mut w = traces::snapshot_from_utilization(&t, cfg, 2);
    let n = w.history.len();
    let steps: Vec<f64> = (0..n).map(|i| (2 + 4 * i / n) as f64).collect();
    w.history.replicas_current = steps.clone();
    w.history.replicas_desired = steps;
    workloads.push(place(
        w,
        "cache",
        "sessions",
        "ec2_cpu_utilization_c6585a.csv, first 7 days; CPU % with replicas stepping 2 to 5",
    ));

    let snapshot = Snapshot {
        api_version: SNAPSHOT_API_VERSION.to_string(),
        workloads,
    };
    snapshot.validate().map_err(|e| e.to_string())?;
    Ok(snapshot)
}

/// The demo snapshot as the committed file holds it: pretty JSON, values
/// rounded to 3 decimals, trailing newline.
///
/// # Errors
/// As [`build_demo_snapshot`].
pub fn demo_snapshot_json(nab_dir: &Path) -> Result<String, String> {
    let mut s = build_demo_snapshot(nab_dir)?;
    let round = |v: &mut Vec<f64>| {
        for x in v.iter_mut() {
            *x = (*x * 1000.0).round() / 1000.0;
        }
    };
    for w in &mut s.workloads {
        let h = &mut w.history;
        round(&mut h.cpu_utilization);
        round(&mut h.replicas_desired);
        round(&mut h.replicas_current);
        if let Some(r) = h.replicas_ready.as_mut() {
            round(r);
        }
        if let Some(r) = h.request_rate.as_mut() {
            round(r);
        }
    }
    let json = serde_json::to_string(&s).map_err(|e| e.to_string())?;
    Ok(json + "\n")
}

/// The NAB directory next to the workspace (`../shared/data/traces/nab`).
pub fn nab_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/traces/nab")
}
