//! Pure conversions from what the API server returns to the engine's types:
//! an HPA or ScaledObject spec to [`AutoscalingConfig`], an HPA status to a
//! [`StatusSample`], a pod template to [`ContainerResources`], and resource
//! quantities to numbers. Nothing here talks to the cluster.

use serde_json::Value;
use stepscale_engine::snapshot::{
    AutoscalerKind, AutoscalingConfig, ContainerResources, KedaConfig, KedaTrigger, PolicyKind,
    ScaleTargetRef, ScalingPolicy, ScalingRules, SelectPolicy,
};

/// One sample read from an HPA's status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatusSample {
    /// Unix seconds when it was read.
    pub at_unix_seconds: i64,
    /// `status.currentMetrics[cpu].resource.current.averageUtilization`, if any.
    pub cpu_utilization: Option<f64>,
    /// `status.desiredReplicas`.
    pub desired_replicas: f64,
    /// `status.currentReplicas`.
    pub current_replicas: f64,
}

/// Why an autoscaler's spec cannot be read; the autoscaler is skipped for
/// this tick and nothing is written to it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    /// A field is missing or has the wrong type or range.
    #[error("{field}: {problem}")]
    Field {
        /// JSON path, e.g. `spec.maxReplicas`.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

fn field(field: &str, problem: impl Into<String>) -> ReadError {
    ReadError::Field {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// A non-negative integer at `spec[key]`, or `default` when absent.
fn count(spec: &Value, key: &str, path: &str, default: Option<u32>) -> Result<u32, ReadError> {
    match spec.get(key) {
        None | Some(Value::Null) => default.ok_or_else(|| field(path, "is missing")),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| field(path, format!("is {v}, not a non-negative integer"))),
    }
}

fn opt_count(v: Option<&Value>, path: &str) -> Result<Option<u32>, ReadError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| field(path, format!("is {v}, not a non-negative integer"))),
    }
}

/// The `scaleTargetRef` of an autoscaler spec.
///
/// # Errors
/// [`ReadError::Field`] when the name or kind is missing.
pub fn scale_target(kind: AutoscalerKind, spec: &Value) -> Result<ScaleTargetRef, ReadError> {
    let r = spec
        .get("scaleTargetRef")
        .ok_or_else(|| field("spec.scaleTargetRef", "is missing"))?;
    let name = r
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| field("spec.scaleTargetRef.name", "is missing"))?;
    // KEDA defaults the target to an apps/v1 Deployment.
    let default_kind = matches!(kind, AutoscalerKind::ScaledObject).then_some("Deployment");
    let target_kind = r
        .get("kind")
        .and_then(Value::as_str)
        .or(default_kind)
        .ok_or_else(|| field("spec.scaleTargetRef.kind", "is missing"))?;
    let api_version = r.get("apiVersion").and_then(Value::as_str).unwrap_or(
        if target_kind == "Deployment" || target_kind == "StatefulSet" {
            "apps/v1"
        } else {
            ""
        },
    );
    Ok(ScaleTargetRef {
        api_version: api_version.to_string(),
        kind: target_kind.to_string(),
        name: name.to_string(),
    })
}

fn rules(v: Option<&Value>, path: &str) -> Result<Option<ScalingRules>, ReadError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let stabilization_window_seconds = opt_count(
        v.get("stabilizationWindowSeconds"),
        &format!("{path}.stabilizationWindowSeconds"),
    )?;
    let select_policy = match v.get("selectPolicy").and_then(Value::as_str) {
        None => None,
        Some("Max") => Some(SelectPolicy::Max),
        Some("Min") => Some(SelectPolicy::Min),
        Some("Disabled") => Some(SelectPolicy::Disabled),
        Some(other) => {
            return Err(field(
                &format!("{path}.selectPolicy"),
                format!("is {other:?}, not Max, Min or Disabled"),
            ))
        }
    };
    let mut policies = Vec::new();
    for (i, p) in v
        .get("policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("{path}.policies[{i}]");
        let kind = match p.get("type").and_then(Value::as_str) {
            Some("Pods") => PolicyKind::Pods,
            Some("Percent") => PolicyKind::Percent,
            other => {
                return Err(field(
                    &format!("{at}.type"),
                    format!("is {other:?}, not Pods or Percent"),
                ))
            }
        };
        policies.push(ScalingPolicy {
            kind,
            value: count(p, "value", &format!("{at}.value"), None)?,
            period_seconds: count(p, "periodSeconds", &format!("{at}.periodSeconds"), None)?,
        });
    }
    Ok(Some(ScalingRules {
        stabilization_window_seconds,
        select_policy,
        policies,
    }))
}

fn utilization_target(metrics: Option<&Value>, resource: &str) -> Option<u32> {
    metrics?
        .as_array()?
        .iter()
        .filter(|m| m.get("type").and_then(Value::as_str) == Some("Resource"))
        .filter(|m| m.pointer("/resource/name").and_then(Value::as_str) == Some(resource))
        .find_map(|m| m.pointer("/resource/target/averageUtilization")?.as_u64())
        .and_then(|n| u32::try_from(n).ok())
}

/// The autoscaling config of an HPA (autoscaling/v2 or v2beta2) or a KEDA
/// ScaledObject spec, with Kubernetes/KEDA defaults for absent fields.
///
/// # Errors
/// [`ReadError::Field`] naming the first field that is missing or has the
/// wrong type.
pub fn config_of(kind: AutoscalerKind, spec: &Value) -> Result<AutoscalingConfig, ReadError> {
    match kind {
        AutoscalerKind::HorizontalPodAutoscaler => {
            let metrics = spec.get("metrics");
            Ok(AutoscalingConfig {
                min_replicas: count(spec, "minReplicas", "spec.minReplicas", Some(1))?,
                max_replicas: count(spec, "maxReplicas", "spec.maxReplicas", None)?,
                cpu_target_percent: utilization_target(metrics, "cpu"),
                memory_target_percent: utilization_target(metrics, "memory"),
                scale_up: rules(spec.pointer("/behavior/scaleUp"), "spec.behavior.scaleUp")?,
                scale_down: rules(
                    spec.pointer("/behavior/scaleDown"),
                    "spec.behavior.scaleDown",
                )?,
                keda: None,
            })
        }
        AutoscalerKind::ScaledObject => {
            let mut triggers = Vec::new();
            let mut cpu = None;
            let mut memory = None;
            for t in spec
                .get("triggers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let trigger_type = t.get("type").and_then(Value::as_str).unwrap_or_default();
                let metadata: std::collections::BTreeMap<String, String> = t
                    .get("metadata")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                    .collect();
                let value = metadata
                    .get("value")
                    .and_then(|v| v.trim().parse::<u32>().ok());
                let utilization = t
                    .get("metricType")
                    .and_then(Value::as_str)
                    .is_none_or(|m| m == "Utilization");
                match trigger_type {
                    "cpu" if utilization => cpu = cpu.or(value),
                    "memory" if utilization => memory = memory.or(value),
                    _ => {}
                }
                triggers.push(KedaTrigger {
                    trigger_type: trigger_type.to_string(),
                    metadata,
                });
            }
            let behavior = spec.pointer("/advanced/horizontalPodAutoscalerConfig/behavior");
            let base = "spec.advanced.horizontalPodAutoscalerConfig.behavior";
            Ok(AutoscalingConfig {
                min_replicas: count(spec, "minReplicaCount", "spec.minReplicaCount", Some(0))?,
                max_replicas: count(spec, "maxReplicaCount", "spec.maxReplicaCount", Some(100))?,
                cpu_target_percent: cpu,
                memory_target_percent: memory,
                scale_up: rules(
                    behavior.and_then(|b| b.get("scaleUp")),
                    &format!("{base}.scaleUp"),
                )?,
                scale_down: rules(
                    behavior.and_then(|b| b.get("scaleDown")),
                    &format!("{base}.scaleDown"),
                )?,
                keda: Some(KedaConfig {
                    cooldown_period_seconds: count(
                        spec,
                        "cooldownPeriod",
                        "spec.cooldownPeriod",
                        Some(300),
                    )?,
                    polling_interval_seconds: count(
                        spec,
                        "pollingInterval",
                        "spec.pollingInterval",
                        Some(30),
                    )?,
                    idle_replica_count: opt_count(
                        spec.get("idleReplicaCount"),
                        "spec.idleReplicaCount",
                    )?,
                    triggers,
                }),
            })
        }
    }
}

/// One history sample from an HPA's status (autoscaling/v2 or v2beta2):
/// the current CPU utilization (if the HPA has one) and the desired and
/// current replicas. `None` when the status has no replica counts yet.
pub fn status_sample(status: &Value, at_unix_seconds: i64) -> Option<StatusSample> {
    let current = status.get("currentReplicas")?.as_f64()?;
    let desired = status
        .get("desiredReplicas")
        .and_then(Value::as_f64)
        .unwrap_or(current);
    let cpu_utilization = status
        .get("currentMetrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu"))
        .find_map(|m| m.pointer("/resource/current/averageUtilization")?.as_f64());
    Some(StatusSample {
        at_unix_seconds,
        cpu_utilization,
        desired_replicas: desired,
        current_replicas: current,
    })
}

/// The containers of a workload object's pod template
/// (`spec.template.spec.containers`) with their CPU and memory requests;
/// empty for objects without a pod template (e.g. a custom resource).
pub fn containers_of(object: &Value) -> Vec<ContainerResources> {
    object
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let requests = c.pointer("/resources/requests");
            let q = |name: &str| requests.and_then(|r| r.get(name)).and_then(Value::as_str);
            ContainerResources {
                name: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                cpu_request_millicores: q("cpu")
                    .and_then(parse_quantity)
                    .map(|cores| (cores * 1000.0).round())
                    .filter(|m| (0.0..=u32::MAX as f64).contains(m))
                    .map(|m| m as u32),
                memory_request_bytes: q("memory")
                    .and_then(parse_quantity)
                    .map(|b| b.round())
                    .filter(|b| (0.0..=u64::MAX as f64).contains(b))
                    .map(|b| b as u64),
            }
        })
        .collect()
}

/// A Kubernetes resource quantity (`500m`, `1.5`, `128Mi`, `1G`, `2e3`) as a
/// number of base units; `None` when it cannot be parsed.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(n) = q.strip_suffix(suffix) {
            return n
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|v| v * factor);
        }
    }
    let (n, factor) = if let Some(n) = q.strip_suffix('P') {
        (n, 1e15)
    } else if let Some(n) = q.strip_suffix('E') {
        (n, 1e18)
    } else {
        (q, 1.0)
    };
    n.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v * factor)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_hpa_spec_reads_with_defaults() {
        let spec = json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 600, "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}}
        });
        let c = config_of(AutoscalerKind::HorizontalPodAutoscaler, &spec).expect("reads");
        assert_eq!(c.min_replicas, 1);
        assert_eq!(c.max_replicas, 10);
        assert_eq!(c.cpu_target_percent, Some(60));
        let down = c.scale_down.expect("scaleDown");
        assert_eq!(down.stabilization_window_seconds, Some(600));
        assert_eq!(down.policies[0].kind, PolicyKind::Percent);
        let t = scale_target(AutoscalerKind::HorizontalPodAutoscaler, &spec).expect("target");
        assert_eq!(t.name, "web");
    }

    #[test]
    fn a_malformed_hpa_names_the_field() {
        let spec =
            json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": "ten"});
        assert_eq!(
            config_of(AutoscalerKind::HorizontalPodAutoscaler, &spec),
            Err(ReadError::Field {
                field: "spec.maxReplicas".into(),
                problem: "is \"ten\", not a non-negative integer".into()
            })
        );
    }

    #[test]
    fn a_scaled_object_reads_keda_defaults_and_the_cpu_trigger() {
        let spec = json!({
            "scaleTargetRef": {"name": "worker"},
            "maxReplicaCount": 20,
            "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "55"}},
                         {"type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *", "end": "0 18 * * *", "desiredReplicas": "5"}}]
        });
        let c = config_of(AutoscalerKind::ScaledObject, &spec).expect("reads");
        assert_eq!(c.min_replicas, 0);
        assert_eq!(c.cpu_target_percent, Some(55));
        let k = c.keda.expect("keda");
        assert_eq!(k.cooldown_period_seconds, 300);
        assert_eq!(k.triggers.len(), 2);
        let t = scale_target(AutoscalerKind::ScaledObject, &spec).expect("target");
        assert_eq!(
            (t.api_version.as_str(), t.kind.as_str()),
            ("apps/v1", "Deployment")
        );
    }

    #[test]
    fn status_samples_need_replica_counts_and_take_cpu_when_present() {
        assert_eq!(status_sample(&json!({}), 0), None);
        let s = status_sample(
            &json!({"currentReplicas": 3, "desiredReplicas": 4,
                    "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 72}}}]}),
            100,
        )
        .expect("sample");
        assert_eq!(s.cpu_utilization, Some(72.0));
        assert_eq!(s.desired_replicas, 4.0);
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("128Mi"), Some(134_217_728.0));
        assert_eq!(parse_quantity("1G"), Some(1e9));
        assert_eq!(parse_quantity("lots"), None);
        let c = containers_of(&json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
            {"name": "sidecar"}
        ]}}}}));
        assert_eq!(c[0].cpu_request_millicores, Some(250));
        assert_eq!(c[0].memory_request_bytes, Some(67_108_864));
        assert_eq!(c[1].cpu_request_millicores, None);
    }
}
