//! Test builders shared by the host's unit tests.

use stepscale_engine::snapshot::{
    AutoscalerKind, AutoscalerRef, AutoscalingConfig, ContainerResources, MetricHistory,
    ScaleTargetRef, WorkloadSnapshot,
};

/// A well-configured HPA on Deployment shop/web: 2..10 replicas, 60 % CPU
/// target, one container with a 500m request, a day of flat 40 % CPU on 3
/// replicas at a 5-minute step.
pub fn workload() -> WorkloadSnapshot {
    let n = 288;
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
        config: AutoscalingConfig {
            min_replicas: 2,
            max_replicas: 10,
            cpu_target_percent: Some(60),
            ..AutoscalingConfig::default()
        },
        containers: vec![ContainerResources {
            name: "app".into(),
            cpu_request_millicores: Some(500),
            memory_request_bytes: None,
        }],
        history: MetricHistory {
            start_unix_seconds: 1_700_000_000,
            step_seconds: 300,
            utc_offset_minutes: 0,
            timezone: None,
            cpu_utilization: vec![40.0; n],
            replicas_desired: vec![3.0; n],
            replicas_current: vec![3.0; n],
            replicas_ready: None,
            request_rate: None,
        },
        source: None,
    }
}

/// A history key: Deployment `d` scaled by `a` in namespace `n`.
pub fn history_key() -> crate::history::HistoryKey {
    crate::history::HistoryKey {
        namespace: "n".into(),
        autoscaler: "a".into(),
        target_kind: "Deployment".into(),
        target_name: "d".into(),
    }
}
