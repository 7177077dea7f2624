//! The `ScalingRecommendation` custom resource (`stepscale.io/v1alpha1`,
//! short name `scalerec`): its spec (the engine's [`Recommendation`] plus the
//! `approved` flag a human sets), its status (phase, detail, conditions,
//! timestamps and the configs saved around an apply), and the wire strings
//! that go with it (labels, the retry annotation).
//!
//! This module is the source of `stepscale crd`: the CRD YAML shipped in
//! `charts/stepscale-autoscaler/crds/scalingrecommendation.yaml` is generated from these
//! types, and a test fails when the committed file is stale.
//!
//! Its phases and what each allows next live in [`phase`]; the copy of
//! every recommendation a watch keeps for the passes in [`cache`]; reads
//! and writes live in [`crate::cluster`] and [`crate::lifecycle`].

use kube::CustomResource;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod cache;
pub mod phase;

use crate::change::CurrentConfig;
use crate::history::checkpoint::HistoryCheckpoint;
use crate::history::HistoryKey;
use crate::recommendation::Recommendation;
use phase::Phase;

/// Annotation a user sets to `"true"` to leave the `failed` phase; the
/// operator strips it and starts over from `pending`.
pub const RETRY_ANNOTATION: &str = "stepscale.io/retry";
/// Label naming the autoscaler kind (`HorizontalPodAutoscaler` or `ScaledObject`).
pub const LABEL_AUTOSCALER_KIND: &str = "stepscale.io/autoscaler-kind";
/// Label naming the autoscaler.
pub const LABEL_AUTOSCALER_NAME: &str = "stepscale.io/autoscaler-name";
/// Label naming the kind of the scaled object.
pub const LABEL_TARGET_KIND: &str = "stepscale.io/target-kind";
/// Label naming the scaled object.
pub const LABEL_TARGET_NAME: &str = "stepscale.io/target-name";
/// `app.kubernetes.io/managed-by` label key.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`LABEL_MANAGED_BY`] on every recommendation the operator creates.
pub const MANAGED_BY: &str = "stepscale";
/// The command that regenerates the committed CRD file.
pub const REGENERATE_COMMAND: &str =
    "cargo run -p stepscale-operator --bin stepscale -- crd > charts/stepscale-autoscaler/crds/scalingrecommendation.yaml";

/// Spec of a ScalingRecommendation: written by the operator, except
/// `approved`, which a human sets to `true` to have the change applied.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "stepscale.io",
    version = "v1alpha1",
    kind = "ScalingRecommendation",
    plural = "scalingrecommendations",
    singular = "scalingrecommendation",
    shortname = "scalerec",
    namespaced,
    status = "ScalingRecommendationStatus",
    doc = "A recommended autoscaling change for one HPA or ScaledObject: review it, set spec.approved to true, and the operator applies it, verifies it on probation and rolls it back on degradation.",
    printcolumn = r#"{"name":"Target","type":"string","description":"the HPA or ScaledObject","jsonPath":".spec.target.autoscalerName"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","description":"lifecycle phase","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Risk","type":"string","description":"risk of the change","jsonPath":".spec.riskLevel"}"#,
    printcolumn = r#"{"name":"Savings","type":"number","description":"projected replica-hour savings, percent","jsonPath":".spec.projectedSavings.percent"}"#,
    printcolumn = r#"{"name":"Schedule","type":"string","description":"time zone of the predictive schedule, when the recommendation carries one","jsonPath":".spec.predictiveSchedule.timezone"}"#,
    printcolumn = r#"{"name":"Floor","type":"integer","description":"replica floor the applied schedule holds now","jsonPath":".status.schedule.floor"}"#,
    printcolumn = r#"{"name":"Approved","type":"boolean","description":"set by a human to apply","jsonPath":".spec.approved"}"#,
    printcolumn = r#"{"name":"LLM","type":"string","priority":1,"description":"the optional LLM review's verdict (agree, caution, reject)","jsonPath":".spec.llmReview.verdict"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRecommendationSpec {
    /// The recommendation (target, current config, proposed diff, risk,
    /// summary, findings, savings, schedule), written by the operator.
    #[serde(flatten)]
    pub recommendation: Recommendation,
    /// Set to `true` by a human to have the proposed change applied. The
    /// operator never sets it (it only resets it to `false` when it replaces
    /// the proposal with a new one). Default `false`.
    #[serde(default)]
    pub approved: bool,
}

/// Observed state of a ScalingRecommendation, written by the operator only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRecommendationStatus {
    /// Lifecycle phase: pending → applied → verified, or rolledBack,
    /// degraded, blocked, failed.
    #[serde(default)]
    pub phase: Phase,
    /// One sentence the user can act on: why the recommendation is in its
    /// phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Conditions, one per type (`Applied`, `Verified`, `Drifted`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// When the change was applied (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    /// When probation ends and health is judged (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probation_until: Option<String>,
    /// The autoscaler's config as it was before the operator wrote anything;
    /// saved before the first write so a rollback is always possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_config: Option<SavedConfig>,
    /// The autoscaler's config as the operator left it after the apply; a
    /// live config that differs from it later is drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_config: Option<SavedConfig>,
    /// The predictive schedule in force, when the applied recommendation
    /// carries one: baseline, current floor, active window, next transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleStatus>,
    /// `metadata.generation` of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The HPA-status samples the operator has accumulated for the
    /// autoscaler (only when its history comes from HPA status, not
    /// Prometheus), refreshed about hourly, so a restarted operator or a
    /// new leader resumes from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryCheckpoint>,
}

/// Where an applied predictive schedule stands (`status.schedule`).
///
/// On an HPA the operator moves `minReplicas` between `baseline` and a
/// window's floor; `floor` is what it last set, so a restarted operator or
/// a new leader knows what is in force. On a ScaledObject KEDA moves the
/// floor through the cron triggers named in `triggers`; the operator only
/// reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleStatus {
    /// IANA time zone of the windows.
    pub timezone: String,
    /// minReplicas outside the windows (the applied config's).
    pub baseline: u32,
    /// The floor in force: a window's floor inside it, else the baseline.
    pub floor: u32,
    /// The window in force (`08:55–10:00 ≥6`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_window: Option<String>,
    /// When a window next starts or ends (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_transition: Option<String>,
    /// When the floor last moved (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition: Option<String>,
    /// Names of the cron triggers the operator added (ScaledObjects).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
}

/// The autoscaler fields a recommendation may change, saved verbatim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedConfig {
    /// The values, defaults filled in, for people to read.
    pub summary: CurrentConfig,
    /// The autoscaler's spec fields that an apply may touch, exactly as they
    /// were (`minReplicas`, `maxReplicas`, `metrics`, `behavior` of an HPA;
    /// `minReplicaCount`, `maxReplicaCount`, `cooldownPeriod`, `triggers`,
    /// `advanced` of a ScaledObject). A field absent here was absent on the
    /// object. Rollback restores exactly these.
    #[schemars(schema_with = "preserve_unknown_object")]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// `metadata.resourceVersion` of the autoscaler when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// A status condition (the usual Kubernetes shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Applied`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason, PascalCase.
    pub reason: String,
    /// One sentence for people.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (RFC 3339).
    pub last_transition_time: String,
}

fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

impl ScalingRecommendation {
    /// The key of its autoscaler's metric history.
    pub fn history_key(&self) -> HistoryKey {
        let t = &self.spec.recommendation.target;
        HistoryKey {
            namespace: t.namespace.clone(),
            autoscaler: t.autoscaler_name.clone(),
            target_kind: t.kind.clone(),
            target_name: t.name.clone(),
        }
    }

    /// The phase (pending when there is no status yet).
    pub fn phase(&self) -> Phase {
        self.status.as_ref().map(|s| s.phase).unwrap_or_default()
    }

    /// True when the user asked to retry (annotation [`RETRY_ANNOTATION`] is `"true"`).
    pub fn retry_requested(&self) -> bool {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RETRY_ANNOTATION))
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }
}

/// The CRD as YAML, as `stepscale crd` prints it.
///
/// # Errors
/// Serialization failure (not expected for these types).
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    let crd = ScalingRecommendation::crd();
    let body = serde_yaml::to_string(&crd)?;
    Ok(format!(
        "# Generated by `stepscale crd` from host/src/crd.rs; do not edit.\n# Regenerate: {REGENERATE_COMMAND}\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crd_has_the_documented_names_columns_and_status_subresource() {
        let crd = ScalingRecommendation::crd();
        assert_eq!(crd.spec.group, "stepscale.io");
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&["scalerec".to_string()][..])
        );
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some());
        let cols: Vec<&str> = v
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            cols,
            ["Target", "Phase", "Risk", "Savings", "Schedule", "Floor", "Approved", "LLM", "Age"]
        );
    }

    #[test]
    fn the_committed_crd_file_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../charts/stepscale-autoscaler/crds/scalingrecommendation.yaml"
        );
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let generated = crd_yaml().expect("the CRD serializes");
        assert!(
            committed == generated,
            "charts/stepscale-autoscaler/crds/scalingrecommendation.yaml is stale or missing; regenerate it with:\n  {REGENERATE_COMMAND}"
        );
    }

    #[test]
    fn approved_defaults_to_false_and_status_to_pending() {
        let rec =
            crate::recommendation::recommend(&crate::fixtures::workload(), Default::default());
        let v = serde_json::to_value(&rec).expect("serializes");
        let spec: ScalingRecommendationSpec =
            serde_json::from_value(v).expect("spec without approved");
        assert!(!spec.approved);
        let s: ScalingRecommendationStatus =
            serde_json::from_value(serde_json::json!({})).expect("empty status");
        assert_eq!(s.phase, Phase::Pending);
    }
}
