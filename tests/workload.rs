//! A plain HPA workload built from a CPU series, for tests that only vary
//! the series and the autoscaler's bounds.

use stepscale_engine::snapshot::{AutoscalingConfig, WorkloadSnapshot};
use stepscale_rules_sdk::harness::traces;

/// HPA `shop/web` on Deployment `web`, one container `app` with a 500m CPU
/// request (and `memory_request_bytes`), `config`'s bounds and target, and
/// `cpu` (% of request) at `step_seconds` from `start_unix_seconds` on a
/// constant `replicas` pods, in UTC: the SDK's trace snapshot, in namespace
/// `shop`.
pub fn hpa(
    config: AutoscalingConfig,
    memory_request_bytes: Option<u64>,
    start_unix_seconds: i64,
    step_seconds: u32,
    cpu: Vec<f64>,
    replicas: f64,
) -> WorkloadSnapshot {
    let n = cpu.len();
    let mut w = traces::snapshot(
        "web",
        config,
        start_unix_seconds,
        step_seconds,
        cpu,
        vec![replicas; n],
    );
    w.autoscaler.namespace = "shop".into();
    for c in &mut w.containers {
        c.memory_request_bytes = memory_request_bytes;
    }
    w
}
