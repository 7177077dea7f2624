//! Pure JSON edits of an autoscaler's spec: which fields an apply may touch,
//! the spec with a [`ConfigChange`] applied, the JSON merge patch between two
//! specs, and the first field where two specs differ (drift).
//!
//! HPAs (autoscaling/v2 and v2beta2 share this structure) and KEDA
//! ScaledObjects are edited as JSON so the operator never drops a field it
//! does not model, and a rollback can restore the saved fields byte for byte.

use serde_json::{Map, Value};
use stepscale_engine::snapshot::{AutoscalerKind, PolicyKind, ScalingPolicy};
use stepscale_engine::ConfigChange;

/// Why a change cannot be expressed on an autoscaler.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// The autoscaler has no CPU utilization target to change.
    #[error("{kind} has no CPU utilization target to change; add one or drop cpuTargetPercent from the proposal")]
    NoCpuTarget {
        /// Autoscaler kind.
        kind: &'static str,
    },
    /// The field does not exist on this kind of autoscaler.
    #[error("{kind} has no {field}; the proposal cannot be applied to it")]
    Unsupported {
        /// Autoscaler kind.
        kind: &'static str,
        /// The proposal field.
        field: &'static str,
    },
    /// The spec is not a JSON object.
    #[error("the autoscaler spec is not an object")]
    NotAnObject,
}

/// Top-level spec fields of an HPA that an apply may touch.
pub const HPA_FIELDS: [&str; 4] = ["minReplicas", "maxReplicas", "metrics", "behavior"];
/// Top-level spec fields of a ScaledObject that an apply may touch.
pub const SCALED_OBJECT_FIELDS: [&str; 5] = [
    "minReplicaCount",
    "maxReplicaCount",
    "cooldownPeriod",
    "triggers",
    "advanced",
];

/// The spec fields an apply may touch on this kind of autoscaler.
pub fn touched_fields(kind: AutoscalerKind) -> &'static [&'static str] {
    match kind {
        AutoscalerKind::HorizontalPodAutoscaler => &HPA_FIELDS,
        AutoscalerKind::ScaledObject => &SCALED_OBJECT_FIELDS,
    }
}

fn kind_name(kind: AutoscalerKind) -> &'static str {
    match kind {
        AutoscalerKind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
        AutoscalerKind::ScaledObject => "ScaledObject",
    }
}

/// The touchable fields present in `spec`, verbatim.
pub fn touched(kind: AutoscalerKind, spec: &Value) -> Map<String, Value> {
    touched_fields(kind)
        .iter()
        .filter_map(|f| spec.get(*f).map(|v| ((*f).to_string(), v.clone())))
        .collect()
}

/// `obj[key]` as an object, created (replacing a non-object) if needed.
fn object_at<'a>(obj: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = obj
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("just made an object")
}

fn set_stabilization(behavior: &mut Map<String, Value>, direction: &str, seconds: u32) {
    object_at(behavior, direction)
        .insert("stabilizationWindowSeconds".into(), Value::from(seconds));
}

/// Replace `behavior.<direction>.policies` with `policy` alone (the
/// direction's `selectPolicy` and window are kept).
fn set_policy(behavior: &mut Map<String, Value>, direction: &str, policy: &ScalingPolicy) {
    let kind = match policy.kind {
        PolicyKind::Pods => "Pods",
        PolicyKind::Percent => "Percent",
    };
    object_at(behavior, direction).insert(
        "policies".into(),
        serde_json::json!([{
            "type": kind,
            "value": policy.value,
            "periodSeconds": policy.period_seconds,
        }]),
    );
}

/// Set the behavior fields of `change` (windows and policies, both
/// directions) in `behavior`.
fn set_behavior(behavior: &mut Map<String, Value>, change: &ConfigChange) {
    for (dir, window, policy) in [
        (
            "scaleDown",
            change.scale_down_stabilization_seconds,
            change.scale_down_policy,
        ),
        (
            "scaleUp",
            change.scale_up_stabilization_seconds,
            change.scale_up_policy,
        ),
    ] {
        if let Some(s) = window {
            set_stabilization(behavior, dir, s);
        }
        if let Some(p) = policy {
            set_policy(behavior, dir, &p);
        }
    }
}

/// True when `change` sets a behavior field (a window or a policy).
fn changes_behavior(change: &ConfigChange) -> bool {
    change.scale_down_stabilization_seconds.is_some()
        || change.scale_up_stabilization_seconds.is_some()
        || change.scale_down_policy.is_some()
        || change.scale_up_policy.is_some()
}

/// `spec` with `change` applied: only the fields in the change are set.
///
/// # Errors
/// - [`PatchError::NoCpuTarget`]: a CPU target change on an autoscaler
///   without a CPU utilization metric/trigger.
/// - [`PatchError::Unsupported`]: a cooldown change on an HPA.
/// - [`PatchError::NotAnObject`]: the spec is not an object.
pub fn with_change(
    kind: AutoscalerKind,
    spec: &Value,
    change: &ConfigChange,
) -> Result<Value, PatchError> {
    let mut spec = spec.clone();
    let obj = spec.as_object_mut().ok_or(PatchError::NotAnObject)?;
    match kind {
        AutoscalerKind::HorizontalPodAutoscaler => {
            if let Some(n) = change.min_replicas {
                obj.insert("minReplicas".into(), Value::from(n));
            }
            if let Some(n) = change.max_replicas {
                obj.insert("maxReplicas".into(), Value::from(n));
            }
            if let Some(t) = change.cpu_target_percent {
                let metric = obj
                    .get_mut("metrics")
                    .and_then(Value::as_array_mut)
                    .and_then(|ms| ms.iter_mut().find(|m| is_cpu_utilization_metric(m)))
                    .ok_or(PatchError::NoCpuTarget {
                        kind: kind_name(kind),
                    })?;
                if let Some(target) = metric.pointer_mut("/resource/target") {
                    target["averageUtilization"] = Value::from(t);
                }
            }
            if changes_behavior(change) {
                set_behavior(object_at(obj, "behavior"), change);
            }
            if change.cooldown_period_seconds.is_some() {
                return Err(PatchError::Unsupported {
                    kind: kind_name(kind),
                    field: "cooldownPeriod",
                });
            }
        }
        AutoscalerKind::ScaledObject => {
            if let Some(n) = change.min_replicas {
                obj.insert("minReplicaCount".into(), Value::from(n));
            }
            if let Some(n) = change.max_replicas {
                obj.insert("maxReplicaCount".into(), Value::from(n));
            }
            if let Some(c) = change.cooldown_period_seconds {
                obj.insert("cooldownPeriod".into(), Value::from(c));
            }
            if let Some(t) = change.cpu_target_percent {
                let trigger = obj
                    .get_mut("triggers")
                    .and_then(Value::as_array_mut)
                    .and_then(|ts| {
                        ts.iter_mut()
                            .find(|t| t.get("type").and_then(Value::as_str) == Some("cpu"))
                    })
                    .ok_or(PatchError::NoCpuTarget {
                        kind: kind_name(kind),
                    })?;
                let tobj = trigger.as_object_mut().ok_or(PatchError::NoCpuTarget {
                    kind: kind_name(kind),
                })?;
                object_at(tobj, "metadata").insert("value".into(), Value::from(t.to_string()));
            }
            if changes_behavior(change) {
                let advanced = object_at(obj, "advanced");
                let hpa = object_at(advanced, "horizontalPodAutoscalerConfig");
                set_behavior(object_at(hpa, "behavior"), change);
            }
        }
    }
    Ok(spec)
}

/// True for `{type: Resource, resource: {name: cpu, target: {type: Utilization}}}`.
pub fn is_cpu_utilization_metric(m: &Value) -> bool {
    m.get("type").and_then(Value::as_str) == Some("Resource")
        && m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
        && m.pointer("/resource/target/type").and_then(Value::as_str) == Some("Utilization")
}

/// `live` with its touchable fields replaced by `saved` (a field absent from
/// `saved` is removed): the spec a rollback restores.
pub fn restored(kind: AutoscalerKind, live: &Value, saved: &Map<String, Value>) -> Value {
    let mut spec = live.clone();
    if let Some(obj) = spec.as_object_mut() {
        for f in touched_fields(kind) {
            match saved.get(*f) {
                Some(v) => obj.insert((*f).to_string(), v.clone()),
                None => obj.remove(*f),
            };
        }
    }
    spec
}

/// The RFC 7386 JSON merge patch that turns `from` into `to`; `None` when
/// they are equal. Arrays are replaced whole (merge patch cannot edit them).
pub fn merge_patch(from: &Value, to: &Value) -> Option<Value> {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = Map::new();
            for (k, av) in a {
                match b.get(k) {
                    None => {
                        out.insert(k.clone(), Value::Null);
                    }
                    Some(bv) => {
                        if let Some(p) = merge_patch(av, bv) {
                            out.insert(k.clone(), p);
                        }
                    }
                }
            }
            for (k, bv) in b {
                if !a.contains_key(k) {
                    out.insert(k.clone(), bv.clone());
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (a, b) if a == b => None,
        (_, b) => Some(b.clone()),
    }
}

/// The path of the first field where `a` and `b` differ, e.g.
/// `spec.behavior.scaleDown.stabilizationWindowSeconds`; `None` when equal.
pub fn first_difference(prefix: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let path = format!("{prefix}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(av), Some(bv)) => first_difference(&path, av, bv),
                    _ => Some(path),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (av, bv))| first_difference(&format!("{prefix}[{i}]"), av, bv)),
        (a, b) if a == b => None,
        _ => Some(prefix.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn hpa_spec() -> Value {
        json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 4,
            "maxReplicas": 20,
            "metrics": [
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}
            ]
        })
    }

    #[test]
    fn an_hpa_change_sets_only_the_proposed_fields() {
        let change = ConfigChange {
            min_replicas: Some(2),
            cpu_target_percent: Some(70),
            scale_down_stabilization_seconds: Some(600),
            ..Default::default()
        };
        let new = with_change(
            AutoscalerKind::HorizontalPodAutoscaler,
            &hpa_spec(),
            &change,
        )
        .expect("applies");
        let patch = merge_patch(&hpa_spec(), &new).expect("a change");
        assert_eq!(patch["minReplicas"], 2);
        assert!(patch.get("maxReplicas").is_none());
        assert!(patch.get("scaleTargetRef").is_none());
        // arrays are replaced whole; the memory metric survives untouched
        assert_eq!(patch["metrics"][0], hpa_spec()["metrics"][0]);
        assert_eq!(
            patch["metrics"][1]["resource"]["target"]["averageUtilization"],
            70
        );
        assert_eq!(
            patch["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
            600
        );
    }

    #[test]
    fn a_cpu_change_without_a_cpu_metric_is_refused() {
        let mut spec = hpa_spec();
        spec["metrics"] = json!([]);
        let change = ConfigChange {
            cpu_target_percent: Some(70),
            ..Default::default()
        };
        assert_eq!(
            with_change(AutoscalerKind::HorizontalPodAutoscaler, &spec, &change),
            Err(PatchError::NoCpuTarget {
                kind: "HorizontalPodAutoscaler"
            })
        );
    }

    #[test]
    fn a_scaled_object_change_edits_counts_cooldown_trigger_and_advanced_behavior() {
        let spec = json!({
            "scaleTargetRef": {"name": "web"},
            "minReplicaCount": 1,
            "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "50"}}]
        });
        let change = ConfigChange {
            max_replicas: Some(30),
            cooldown_period_seconds: Some(600),
            cpu_target_percent: Some(65),
            scale_down_stabilization_seconds: Some(900),
            ..Default::default()
        };
        let new = with_change(AutoscalerKind::ScaledObject, &spec, &change).expect("applies");
        assert_eq!(new["maxReplicaCount"], 30);
        assert_eq!(new["cooldownPeriod"], 600);
        assert_eq!(new["triggers"][0]["metadata"]["value"], "65");
        assert_eq!(
            new["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
                ["stabilizationWindowSeconds"],
            900
        );
    }

    #[test]
    fn a_policy_change_replaces_that_directions_policies_and_keeps_the_rest() {
        let mut spec = hpa_spec();
        spec["behavior"] = json!({
            "scaleDown": {
                "stabilizationWindowSeconds": 120,
                "selectPolicy": "Min",
                "policies": [
                    {"type": "Pods", "value": 2, "periodSeconds": 60},
                    {"type": "Percent", "value": 50, "periodSeconds": 60}
                ]
            },
            "scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}
        });
        let change = ConfigChange {
            scale_down_policy: Some(ScalingPolicy::percent(20, 60)),
            ..Default::default()
        };
        let new =
            with_change(AutoscalerKind::HorizontalPodAutoscaler, &spec, &change).expect("applies");
        assert_eq!(
            new["behavior"]["scaleDown"],
            json!({
                "stabilizationWindowSeconds": 120,
                "selectPolicy": "Min",
                "policies": [{"type": "Percent", "value": 20, "periodSeconds": 60}]
            })
        );
        assert_eq!(new["behavior"]["scaleUp"], spec["behavior"]["scaleUp"]);
        // A rollback restores both directions as they were.
        let saved = touched(AutoscalerKind::HorizontalPodAutoscaler, &spec);
        assert_eq!(
            restored(AutoscalerKind::HorizontalPodAutoscaler, &new, &saved),
            spec
        );

        let so = json!({"scaleTargetRef": {"name": "web"}, "triggers": []});
        let change = ConfigChange {
            scale_up_policy: Some(ScalingPolicy::percent(400, 15)),
            ..Default::default()
        };
        let new = with_change(AutoscalerKind::ScaledObject, &so, &change).expect("applies");
        assert_eq!(
            new["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]["policies"],
            json!([{"type": "Percent", "value": 400, "periodSeconds": 15}])
        );
    }

    #[test]
    fn restoring_removes_fields_that_were_absent_before() {
        let before = hpa_spec();
        let saved = touched(AutoscalerKind::HorizontalPodAutoscaler, &before);
        let change = ConfigChange {
            scale_down_stabilization_seconds: Some(600),
            min_replicas: Some(1),
            ..Default::default()
        };
        let after = with_change(AutoscalerKind::HorizontalPodAutoscaler, &before, &change)
            .expect("applies");
        let back = restored(AutoscalerKind::HorizontalPodAutoscaler, &after, &saved);
        assert_eq!(back, before);
        let patch = merge_patch(&after, &back).expect("a change");
        assert_eq!(patch["behavior"], Value::Null);
        assert_eq!(patch["minReplicas"], 4);
    }

    #[test]
    fn first_difference_names_the_field() {
        let a = hpa_spec();
        let mut b = hpa_spec();
        b["metrics"][1]["resource"]["target"]["averageUtilization"] = json!(90);
        assert_eq!(
            first_difference("spec", &a, &b).as_deref(),
            Some("spec.metrics[1].resource.target.averageUtilization")
        );
        b = hpa_spec();
        b["maxReplicas"] = json!(25);
        assert_eq!(
            first_difference("spec", &a, &b).as_deref(),
            Some("spec.maxReplicas")
        );
        assert_eq!(first_difference("spec", &a, &a), None);
    }

    #[test]
    fn equal_values_need_no_patch() {
        assert_eq!(merge_patch(&hpa_spec(), &hpa_spec()), None);
    }
}
