//! Host checks for the misconfigurations of the "Common Pitfalls" of HPA and
//! KEDA (seeds/003): they need no metric analysis, or a view across
//! workloads (two autoscalers on one target), so they run in the host rather
//! than as rules. Their findings look like rule findings, with rule ids
//! prefixed `check/`.

use std::collections::BTreeMap;
use std::sync::Arc;

use stepscale_engine::snapshot::{AutoscalerKind, WorkloadSnapshot};
use stepscale_engine::{ConfigChange, Evidence, Finding, FindingKind};

/// Rule id: CPU-utilization target on containers without CPU requests.
pub const CPU_TARGET_WITHOUT_REQUESTS: &str = "check/cpu-target-without-requests";
/// Rule id: more than one autoscaler on the same target.
pub const COMPETING_AUTOSCALERS: &str = "check/competing-autoscalers";
/// Rule id: memory-only HPA that cannot scale down.
pub const MEMORY_ONLY_NO_SCALE_DOWN: &str = "check/memory-only-no-scale-down";
/// Rule id: scale to zero on a stateful workload.
pub const SCALE_TO_ZERO_STATEFUL: &str = "check/scale-to-zero-stateful";

fn finding(
    rule_id: &str,
    summary: String,
    proposal: ConfigChange,
    evidence: Vec<Evidence>,
) -> Finding {
    Finding {
        rule_id: rule_id.to_string(),
        rule_version: None,
        rule_source: None,
        kind: FindingKind::Misconfiguration,
        confidence: 1.0,
        summary,
        proposal,
        evidence,
    }
}

fn evidence(label: &str, value: f64, unit: &str) -> Evidence {
    Evidence {
        label: label.to_string(),
        value,
        unit: unit.to_string(),
    }
}

/// Run every check; the result has one entry per workload, in order.
pub fn misconfigurations(workloads: &[Arc<WorkloadSnapshot>]) -> Vec<Vec<Finding>> {
    let mut by_target: BTreeMap<(String, String, String), Vec<usize>> = BTreeMap::new();
    for (i, w) in workloads.iter().enumerate() {
        by_target
            .entry((
                w.autoscaler.namespace.clone(),
                w.target.kind.clone(),
                w.target.name.clone(),
            ))
            .or_default()
            .push(i);
    }
    let mut out: Vec<Vec<Finding>> = workloads.iter().map(|w| single(w)).collect();
    for ((ns, kind, name), idx) in by_target {
        if idx.len() < 2 {
            continue;
        }
        let names: Vec<String> = idx
            .iter()
            .map(|&i| {
                let a = &workloads[i].autoscaler;
                format!("{:?} {}", a.kind, a.name)
            })
            .collect();
        let keda = idx
            .iter()
            .any(|&i| workloads[i].autoscaler.kind == AutoscalerKind::ScaledObject);
        for &i in &idx {
            let why = if keda {
                "KEDA already drives its own HPA for this target, so a second HPA fights it"
            } else {
                "the HPAs overwrite each other's replica count"
            };
            out[i].push(finding(
                COMPETING_AUTOSCALERS,
                format!(
                    "{} autoscalers scale {kind} {ns}/{name} ({}); {why} — keep exactly one",
                    idx.len(),
                    names.join(", ")
                ),
                ConfigChange::default(),
                vec![evidence("autoscalers on this target", idx.len() as f64, "")],
            ));
        }
    }
    out
}

fn single(w: &WorkloadSnapshot) -> Vec<Finding> {
    let mut found = Vec::new();
    let c = &w.config;
    if let Some(target) = c.cpu_target_percent {
        let missing: Vec<&str> = w
            .containers
            .iter()
            .filter(|ct| ct.cpu_request_millicores.unwrap_or(0) == 0)
            .map(|ct| ct.name.as_str())
            .collect();
        if !missing.is_empty() {
            found.push(finding(
                CPU_TARGET_WITHOUT_REQUESTS,
                format!(
                    "targets {target} % CPU utilization but container(s) {} have no CPU request, so utilization cannot be computed and the autoscaler does not scale on CPU — set CPU requests",
                    missing.join(", ")
                ),
                ConfigChange::default(),
                vec![
                    evidence("containers without CPU request", missing.len() as f64, ""),
                    evidence("CPU target", target as f64, "%"),
                ],
            ));
        }
    }
    if c.memory_target_percent.is_some() && c.cpu_target_percent.is_none() {
        let current = &w.history.replicas_current;
        let decreases = current
            .windows(2)
            .filter(|p| p[1].is_finite() && p[0].is_finite() && p[1] < p[0])
            .count();
        let peak = current
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        if decreases == 0 && peak > c.min_replicas as f64 {
            found.push(finding(
                MEMORY_ONLY_NO_SCALE_DOWN,
                format!(
                    "scales on memory only and never scaled down in the history (peak {peak} replicas, floor {}); most runtimes do not return memory, so replicas only ever grow — scale on CPU or requests instead",
                    c.min_replicas
                ),
                ConfigChange::default(),
                vec![
                    evidence("scale-down events in history", 0.0, ""),
                    evidence("peak replicas", peak, "replicas"),
                ],
            ));
        }
    }
    let zero_floor =
        c.min_replicas == 0 || c.keda.as_ref().and_then(|k| k.idle_replica_count) == Some(0);
    if w.autoscaler.kind == AutoscalerKind::ScaledObject
        && zero_floor
        && w.target.kind == "StatefulSet"
    {
        found.push(finding(
            SCALE_TO_ZERO_STATEFUL,
            format!(
                "scales StatefulSet {} to zero; each wake-up pays the stateful start-up (volume attach, replication catch-up) on the request path — keep a floor of 1",
                w.target.name
            ),
            ConfigChange {
                min_replicas: Some(1),
                ..ConfigChange::default()
            },
            vec![evidence("replica floor", 0.0, "replicas")],
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::workload;
    use stepscale_engine::snapshot::{ContainerResources, KedaConfig};

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.rule_id.as_str()).collect()
    }

    #[test]
    fn a_cpu_target_on_a_container_without_request_is_reported() {
        let mut w = workload();
        w.containers.push(ContainerResources {
            name: "sidecar".into(),
            cpu_request_millicores: None,
            memory_request_bytes: None,
        });
        let out = misconfigurations(&[Arc::new(w)]);
        assert_eq!(ids(&out[0]), [CPU_TARGET_WITHOUT_REQUESTS]);
        assert!(out[0][0].summary.contains("sidecar"));
    }

    #[test]
    fn a_well_configured_hpa_has_no_misconfiguration() {
        let out = misconfigurations(&[Arc::new(workload())]);
        assert!(out[0].is_empty(), "{:?}", out[0]);
    }

    #[test]
    fn an_hpa_beside_a_scaled_object_on_one_target_is_reported_on_both() {
        let hpa = workload();
        let mut so = workload();
        so.autoscaler.kind = AutoscalerKind::ScaledObject;
        so.autoscaler.name = "web-keda".into();
        so.config.keda = Some(KedaConfig {
            cooldown_period_seconds: 300,
            polling_interval_seconds: 30,
            idle_replica_count: None,
            triggers: vec![],
        });
        let mut other = workload();
        other.target.name = "other".into();
        let out = misconfigurations(&[Arc::new(hpa), Arc::new(so), Arc::new(other)]);
        assert_eq!(ids(&out[0]), [COMPETING_AUTOSCALERS]);
        assert_eq!(ids(&out[1]), [COMPETING_AUTOSCALERS]);
        assert!(out[2].is_empty());
        assert!(out[0][0].summary.contains("KEDA"));
    }

    #[test]
    fn a_memory_only_hpa_that_never_scaled_down_is_reported() {
        let mut w = workload();
        w.config.cpu_target_percent = None;
        w.config.memory_target_percent = Some(80);
        let n = w.history.len();
        w.history.replicas_current = (0..n).map(|i| (2 + i * 6 / n) as f64).collect();
        let out = misconfigurations(&[Arc::new(w.clone())]);
        assert_eq!(ids(&out[0]), [MEMORY_ONLY_NO_SCALE_DOWN]);
        // One scale-down in the history clears it.
        w.history.replicas_current[n - 1] = 2.0;
        assert!(misconfigurations(&[Arc::new(w)])[0].is_empty());
    }

    #[test]
    fn scale_to_zero_on_a_statefulset_proposes_a_floor_of_one() {
        let mut w = workload();
        w.autoscaler.kind = AutoscalerKind::ScaledObject;
        w.target.kind = "StatefulSet".into();
        w.config.min_replicas = 0;
        w.config.keda = Some(KedaConfig {
            cooldown_period_seconds: 300,
            polling_interval_seconds: 30,
            idle_replica_count: None,
            triggers: vec![],
        });
        let out = misconfigurations(&[Arc::new(w.clone())]);
        assert_eq!(ids(&out[0]), [SCALE_TO_ZERO_STATEFUL]);
        assert_eq!(out[0][0].proposal.min_replicas, Some(1));
        // The same on a Deployment is fine.
        w.target.kind = "Deployment".into();
        assert!(misconfigurations(&[Arc::new(w)])[0].is_empty());
    }
}
