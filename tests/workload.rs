//! A plain HPA workload built from a CPU series, for tests that only vary
//! the series and the autoscaler's bounds.

use stepscale_engine::snapshot::{
    AutoscalerKind, AutoscalerRef, AutoscalingConfig, ContainerResources, MetricHistory,
    ScaleTargetRef, WorkloadSnapshot,
};

/// HPA `shop/web` on Deployment `web`, one container `app` with a 500m CPU
/// request (and `memory_request_bytes`), `config`'s bounds and target, and
/// `cpu` (% of request) at `step_seconds` from `start_unix_seconds` on a
/// constant `replicas` pods, in UTC.
pub fn hpa(
    config: AutoscalingConfig,
    memory_request_bytes: Option<u64>,
    start_unix_seconds: i64,
    step_seconds: u32,
    cpu: Vec<f64>,
    replicas: f64,
) -> WorkloadSnapshot {
    let n = cpu.len();
    WorkloadSnapshot {
        autoscaler: AutoscalerRef {
            kind: AutoscalerKind::HorizontalPodAutoscaler,
            namespace: "shop".into(),
            name: "web".into(),
        },
        target: ScaleTargetRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
        },
        config,
        containers: vec![ContainerResources {
            name: "app".into(),
            cpu_request_millicores: Some(500),
            memory_request_bytes,
        }],
        history: MetricHistory {
            start_unix_seconds,
            step_seconds,
            utc_offset_minutes: 0,
            timezone: None,
            cpu_utilization: cpu,
            replicas_desired: vec![replicas; n],
            replicas_current: vec![replicas; n],
            replicas_ready: None,
            request_rate: None,
        },
        source: None,
    }
}
