//! What rules produce, as host types: findings, forecasts and per-rule
//! failures. These are plain serde types; the conversion from the generated
//! WIT types happens here, so nothing downstream depends on wasmtime.

use serde::{Deserialize, Serialize};

use crate::bindings::wit;
use crate::snapshot::{AutoscalingConfig, ScalingPolicy};
use stepscale_hpa::limits::printable;

/// What a finding is about (mirrors `finding-kind` of the ABI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FindingKind {
    /// Recurring periods with little or no load.
    IdleWindow,
    /// Capacity well above what the load needs.
    OverProvisioning,
    /// Demand above capacity while the autoscaler catches up.
    ScaleLag,
    /// Frequent direction changes.
    Thrashing,
    /// A peak that recurs at the same time of day or week.
    RecurringPeak,
    /// A configuration error.
    Misconfiguration,
    /// Anything else.
    Other,
}

/// A proposed configuration change; only the fields to change are set.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ConfigChange {
    /// New replica floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<u32>,
    /// New replica ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<u32>,
    /// New CPU target, percent of request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_target_percent: Option<u32>,
    /// New scale-down stabilization window, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_stabilization_seconds: Option<u32>,
    /// New scale-up stabilization window, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up_stabilization_seconds: Option<u32>,
    /// New KEDA cooldown period, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_period_seconds: Option<u32>,
    /// New scale-up rate limit: replaces `behavior.scaleUp.policies` with
    /// this one policy. Chosen by the replay search (rules cannot propose
    /// policies through the ABI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up_policy: Option<ScalingPolicy>,
    /// New scale-down rate limit: replaces `behavior.scaleDown.policies`
    /// with this one policy. Chosen by the replay search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_policy: Option<ScalingPolicy>,
}

impl ConfigChange {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == ConfigChange::default()
    }

    /// `config` with this change's fields set (stabilization windows create
    /// the behavior section they belong to; a cooldown only applies to a
    /// ScaledObject's KEDA settings).
    pub fn applied_to(&self, config: &AutoscalingConfig) -> AutoscalingConfig {
        let mut out = config.clone();
        if let Some(v) = self.min_replicas {
            out.min_replicas = v;
        }
        if let Some(v) = self.max_replicas {
            out.max_replicas = v;
        }
        if let Some(v) = self.cpu_target_percent {
            out.cpu_target_percent = Some(v);
        }
        if let Some(v) = self.scale_up_stabilization_seconds {
            out.scale_up
                .get_or_insert_with(Default::default)
                .stabilization_window_seconds = Some(v);
        }
        if let Some(v) = self.scale_down_stabilization_seconds {
            out.scale_down
                .get_or_insert_with(Default::default)
                .stabilization_window_seconds = Some(v);
        }
        if let Some(p) = self.scale_up_policy {
            out.scale_up.get_or_insert_with(Default::default).policies = vec![p];
        }
        if let Some(p) = self.scale_down_policy {
            out.scale_down.get_or_insert_with(Default::default).policies = vec![p];
        }
        if let (Some(v), Some(k)) = (self.cooldown_period_seconds, out.keda.as_mut()) {
            k.cooldown_period_seconds = v;
        }
        out
    }
}

/// One number behind a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evidence {
    /// What was measured.
    pub label: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: String,
}

/// One finding, tagged with the rule that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Id of the rule (or host check) that made it.
    pub rule_id: String,
    /// Version of the rule, from its `info()` (absent for host checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_version: Option<String>,
    /// Where the rule came from: `builtin`, `configmap NAMESPACE/NAME` or
    /// `file PATH` (absent for host checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_source: Option<String>,
    /// What it is about.
    pub kind: FindingKind,
    /// 0.0..=1.0.
    pub confidence: f64,
    /// One sentence for the user.
    pub summary: String,
    /// Proposed change (may be empty).
    pub proposal: ConfigChange,
    /// The numbers behind it.
    pub evidence: Vec<Evidence>,
}

/// A recurring window that needs a higher replica floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeakWindow {
    /// 0 = Monday .. 6 = Sunday (local time); absent = every day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_week: Option<u8>,
    /// Start, minutes after local midnight.
    pub start_minute: u32,
    /// End, minutes after local midnight.
    pub end_minute: u32,
    /// Replicas needed in the window.
    pub replicas: u32,
}

/// A forecaster's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Forecast {
    /// Id of the forecaster.
    pub rule_id: String,
    /// Unix time of the first forecast step.
    pub start_unix_seconds: i64,
    /// Seconds between steps.
    pub step_seconds: u32,
    /// Replicas needed per step at the current CPU target.
    pub replicas_needed: Vec<f64>,
    /// Recurring peak windows.
    pub peak_windows: Vec<PeakWindow>,
    /// Numbers behind the forecast.
    pub evidence: Vec<Evidence>,
}

/// Why a rule gave no result for a workload. The other rules are unaffected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum RuleFailure {
    /// The rule ran past its deadline and was interrupted.
    #[error("stopped after its {deadline_ms} ms deadline")]
    TimedOut {
        /// The deadline, milliseconds.
        deadline_ms: u64,
    },
    /// The rule tried to grow its memory past the cap.
    #[error("stopped: tried to use more than its {limit_bytes} byte memory cap")]
    OutOfMemory {
        /// The cap, bytes.
        limit_bytes: u64,
    },
    /// The rule trapped (a panic, an unreachable, a call to an import the
    /// host does not grant, …).
    #[error("trapped: {message}")]
    Trapped {
        /// The trap and, if the rule logged one, its panic message.
        message: String,
    },
    /// The rule returned an error of its own.
    #[error("returned an error: {message}")]
    Returned {
        /// The rule's message.
        message: String,
    },
    /// The rule returned output outside the documented bounds (see
    /// [`validate_findings`]); all of this call's output is dropped.
    #[error("returned invalid output: {message}; fix the rule (its output was dropped)")]
    InvalidOutput {
        /// The first violation.
        message: String,
    },
    /// The host could not run the rule (e.g. no free instance slot).
    #[error("could not be run: {message}")]
    Host {
        /// What went wrong.
        message: String,
    },
}

/// [`RuleFailure::label`] of a failure of the host itself.
pub const HOST_ERROR_LABEL: &str = "host-error";

impl RuleFailure {
    /// True when the host, not the rule, failed (the rule never ran to a
    /// result): a bug or a resource problem of ours, which the CLI turns into
    /// a non-zero exit and the operator counts as an operator error.
    pub fn is_host_error(&self) -> bool {
        matches!(self, RuleFailure::Host { .. })
    }

    /// A short, low-cardinality label (for metrics and tables).
    pub fn label(&self) -> &'static str {
        match self {
            RuleFailure::TimedOut { .. } => "timed-out",
            RuleFailure::OutOfMemory { .. } => "out-of-memory",
            RuleFailure::Trapped { .. } => "trapped",
            RuleFailure::Returned { .. } => "error",
            RuleFailure::InvalidOutput { .. } => "invalid-output",
            RuleFailure::Host { .. } => HOST_ERROR_LABEL,
        }
    }
}

impl From<wit::FindingKind> for FindingKind {
    fn from(k: wit::FindingKind) -> Self {
        match k {
            wit::FindingKind::IdleWindow => FindingKind::IdleWindow,
            wit::FindingKind::OverProvisioning => FindingKind::OverProvisioning,
            wit::FindingKind::ScaleLag => FindingKind::ScaleLag,
            wit::FindingKind::Thrashing => FindingKind::Thrashing,
            wit::FindingKind::RecurringPeak => FindingKind::RecurringPeak,
            wit::FindingKind::Misconfiguration => FindingKind::Misconfiguration,
            wit::FindingKind::Other => FindingKind::Other,
        }
    }
}

impl From<wit::ConfigChange> for ConfigChange {
    fn from(c: wit::ConfigChange) -> Self {
        ConfigChange {
            min_replicas: c.min_replicas,
            max_replicas: c.max_replicas,
            cpu_target_percent: c.cpu_target_percent,
            scale_down_stabilization_seconds: c.scale_down_stabilization_seconds,
            scale_up_stabilization_seconds: c.scale_up_stabilization_seconds,
            cooldown_period_seconds: c.cooldown_period_seconds,
            scale_up_policy: None,
            scale_down_policy: None,
        }
    }
}

impl From<wit::Evidence> for Evidence {
    fn from(e: wit::Evidence) -> Self {
        Evidence {
            label: e.label,
            value: e.value,
            unit: e.unit,
        }
    }
}

/// Most findings one rule call may return.
pub const MAX_FINDINGS_PER_RULE: usize = 64;
/// Most evidence entries per finding.
pub const MAX_EVIDENCE_PER_FINDING: usize = 32;
/// Longest finding summary, bytes.
pub const MAX_SUMMARY_BYTES: usize = 1000;
/// Longest evidence label or unit, bytes.
pub const MAX_LABEL_BYTES: usize = 120;
/// Largest stabilization window a proposal may name, seconds (Kubernetes'
/// limit).
pub const MAX_WINDOW_SECONDS: u32 = 3600;
/// Largest KEDA cooldown a proposal may name, seconds (one week).
pub const MAX_COOLDOWN_SECONDS: u32 = 7 * 86_400;

/// Check a detector's output before any of it reaches a recommendation:
/// at most [`MAX_FINDINGS_PER_RULE`] findings, each with a finite confidence
/// in 0..=1, a summary of at most [`MAX_SUMMARY_BYTES`], at most
/// [`MAX_EVIDENCE_PER_FINDING`] evidence entries with finite values and
/// short labels, and a proposal within the autoscaler's valid ranges
/// (floor 0..=150,000, ceiling 1..=150,000, min ≤ max, CPU target 1..=100 %, windows
/// ≤ 3600 s, cooldown ≤ one week).
///
/// # Errors
/// The first violation, naming the finding and the field.
pub(crate) fn validate_findings(findings: &[wit::Finding]) -> Result<(), String> {
    if findings.len() > MAX_FINDINGS_PER_RULE {
        return Err(format!(
            "{} findings, above the limit of {MAX_FINDINGS_PER_RULE}",
            findings.len()
        ));
    }
    let max_replicas = stepscale_hpa::limits::MAX_REPLICAS;
    for (i, f) in findings.iter().enumerate() {
        let at = |field: &str| format!("finding {i}: {field}");
        if !(f.confidence.is_finite() && (0.0..=1.0).contains(&f.confidence)) {
            return Err(format!(
                "{} is {}, not in 0..=1",
                at("confidence"),
                f.confidence
            ));
        }
        if f.summary.len() > MAX_SUMMARY_BYTES {
            return Err(format!(
                "{} is {} bytes, above {MAX_SUMMARY_BYTES}",
                at("summary"),
                f.summary.len()
            ));
        }
        if f.evidence.len() > MAX_EVIDENCE_PER_FINDING {
            return Err(format!(
                "{} has {} entries, above {MAX_EVIDENCE_PER_FINDING}",
                at("evidence"),
                f.evidence.len()
            ));
        }
        for e in &f.evidence {
            if e.label.len() > MAX_LABEL_BYTES || e.unit.len() > MAX_LABEL_BYTES {
                return Err(format!(
                    "{} label or unit is above {MAX_LABEL_BYTES} bytes",
                    at("evidence")
                ));
            }
            if !e.value.is_finite() {
                return Err(format!("{} value is {}", at("evidence"), e.value));
            }
        }
        let p = &f.proposal;
        // A floor of 0 is scale to zero (ScaledObjects); a ceiling is >= 1.
        for (field, v, low) in [
            ("min-replicas", p.min_replicas, 0),
            ("max-replicas", p.max_replicas, 1),
        ] {
            if let Some(v) = v {
                if !(low..=max_replicas).contains(&v) {
                    return Err(format!(
                        "{} is {v}, not in {low}..={max_replicas}",
                        at(field)
                    ));
                }
            }
        }
        if let (Some(min), Some(max)) = (p.min_replicas, p.max_replicas) {
            if min > max {
                return Err(format!(
                    "{} {min} is above max-replicas {max}",
                    at("min-replicas")
                ));
            }
        }
        if let Some(t) = p.cpu_target_percent {
            if !(1..=100).contains(&t) {
                return Err(format!(
                    "{} is {t}, not in 1..=100",
                    at("cpu-target-percent")
                ));
            }
        }
        for (field, v) in [
            (
                "scale-down-stabilization-seconds",
                p.scale_down_stabilization_seconds,
            ),
            (
                "scale-up-stabilization-seconds",
                p.scale_up_stabilization_seconds,
            ),
        ] {
            if let Some(v) = v.filter(|v| *v > MAX_WINDOW_SECONDS) {
                return Err(format!("{} is {v}, above {MAX_WINDOW_SECONDS}", at(field)));
            }
        }
        if let Some(v) = p
            .cooldown_period_seconds
            .filter(|v| *v > MAX_COOLDOWN_SECONDS)
        {
            return Err(format!(
                "{} is {v}, above {MAX_COOLDOWN_SECONDS}",
                at("cooldown-period-seconds")
            ));
        }
    }
    Ok(())
}

/// Longest finding summary kept after escaping, characters.
const MAX_SUMMARY_CHARS: usize = MAX_SUMMARY_BYTES;
/// Longest evidence label or unit kept after escaping, characters.
const MAX_LABEL_CHARS: usize = MAX_LABEL_BYTES;

impl Finding {
    /// Convert a rule's finding, sanitizing what a rule could get wrong
    /// (confidence outside 0..=1 or NaN is clamped to 0..=1) or abuse (text
    /// with control characters or escape sequences is escaped, long text and
    /// long evidence lists are cut), so that nothing a rule writes reaches a
    /// terminal, YAML or an Event raw.
    pub(crate) fn from_wit(rule_id: &str, f: wit::Finding) -> Self {
        let confidence = if f.confidence.is_finite() {
            f.confidence.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Finding {
            rule_id: rule_id.to_string(),
            rule_version: None,
            rule_source: None,
            kind: f.kind.into(),
            confidence,
            summary: printable(&f.summary, MAX_SUMMARY_CHARS),
            proposal: f.proposal.into(),
            evidence: f
                .evidence
                .into_iter()
                .take(MAX_EVIDENCE_PER_FINDING)
                .map(|e| Evidence {
                    label: printable(&e.label, MAX_LABEL_CHARS),
                    value: e.value,
                    unit: printable(&e.unit, MAX_LABEL_CHARS),
                })
                .collect(),
        }
    }
}

impl Forecast {
    pub(crate) fn from_wit(rule_id: &str, f: wit::Forecast) -> Self {
        Forecast {
            rule_id: rule_id.to_string(),
            start_unix_seconds: f.start_unix_seconds,
            step_seconds: f.step_seconds,
            replicas_needed: f.replicas_needed,
            peak_windows: f
                .peak_windows
                .into_iter()
                .map(|p| PeakWindow {
                    day_of_week: p.day_of_week,
                    start_minute: p.start_minute,
                    end_minute: p.end_minute,
                    replicas: p.replicas,
                })
                .collect(),
            evidence: f.evidence.into_iter().map(Into::into).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> wit::Finding {
        wit::Finding {
            kind: wit::FindingKind::IdleWindow,
            confidence: 0.8,
            summary: "ok".into(),
            proposal: wit::ConfigChange {
                min_replicas: Some(2),
                max_replicas: Some(10),
                cpu_target_percent: Some(70),
                scale_down_stabilization_seconds: Some(300),
                scale_up_stabilization_seconds: Some(0),
                cooldown_period_seconds: None,
            },
            evidence: vec![wit::Evidence {
                label: "p95".into(),
                value: 1.0,
                unit: "%".into(),
            }],
        }
    }

    #[test]
    fn valid_output_passes_and_each_violation_is_named() {
        assert_eq!(validate_findings(&[finding()]), Ok(()));
        type Breaker = Box<dyn Fn(&mut wit::Finding)>;
        let cases: Vec<(&str, Breaker)> = vec![
            ("confidence", Box::new(|f| f.confidence = f64::NAN)),
            ("confidence", Box::new(|f| f.confidence = 1.01)),
            ("confidence", Box::new(|f| f.confidence = -0.0001)),
            (
                "min-replicas",
                Box::new(|f| f.proposal.min_replicas = Some(11)),
            ),
            (
                "max-replicas",
                Box::new(|f| f.proposal.max_replicas = Some(0)),
            ),
            (
                "max-replicas",
                Box::new(|f| f.proposal.max_replicas = Some(150_001)),
            ),
            (
                "cpu-target-percent",
                Box::new(|f| f.proposal.cpu_target_percent = Some(0)),
            ),
            (
                "cpu-target-percent",
                Box::new(|f| f.proposal.cpu_target_percent = Some(101)),
            ),
            (
                "scale-down-stabilization-seconds",
                Box::new(|f| f.proposal.scale_down_stabilization_seconds = Some(3601)),
            ),
            (
                "cooldown-period-seconds",
                Box::new(|f| f.proposal.cooldown_period_seconds = Some(u32::MAX)),
            ),
            (
                "summary",
                Box::new(|f| f.summary = "x".repeat(MAX_SUMMARY_BYTES + 1)),
            ),
            (
                "evidence",
                Box::new(|f| f.evidence[0].value = f64::INFINITY),
            ),
            (
                "evidence",
                Box::new(|f| {
                    f.evidence = vec![f.evidence[0].clone(); MAX_EVIDENCE_PER_FINDING + 1]
                }),
            ),
        ];
        for (field, break_it) in cases {
            let mut f = finding();
            break_it(&mut f);
            let e = validate_findings(&[finding(), f]).expect_err(field);
            assert!(e.contains("finding 1") && e.contains(field), "{field}: {e}");
        }
        // The boundaries themselves are valid.
        let mut f = finding();
        f.confidence = 1.0;
        f.proposal.min_replicas = Some(150_000);
        f.proposal.max_replicas = Some(150_000);
        f.proposal.cpu_target_percent = Some(100);
        f.proposal.scale_down_stabilization_seconds = Some(3600);
        f.summary = "x".repeat(MAX_SUMMARY_BYTES);
        assert_eq!(validate_findings(&[f]), Ok(()));
        let many = vec![finding(); MAX_FINDINGS_PER_RULE + 1];
        assert!(validate_findings(&many).is_err());
    }
}
