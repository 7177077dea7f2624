//! From findings to one recommendation per workload: the merged config diff
//! ([`merge`]), its risk level, a one-sentence summary, the evidence per rule,
//! the forecast, and the rule failures. Replay then decides
//! ([`decide()`]): the proposal, the predictive schedule
//! (sized to the deficit), the projected savings and the risk.
//! [`Recommendation`] is the spec of the ScalingRecommendation resource.

pub mod decide;
pub mod merge;
pub mod render;

use serde::{Deserialize, Serialize};
use stepscale_engine::snapshot::{AutoscalerKind, PolicyKind, ScalingPolicy, WorkloadSnapshot};
use stepscale_engine::{ConfigChange, Finding, FindingKind, Forecast, RuleFailure};

use crate::change::{phrases, CurrentConfig};
use crate::objective::search::{Choice, FAST_SCALE_UP_PERCENT, SCALE_UP_POLICY_PERIOD_S};
use crate::schedule::PredictiveSchedule;

pub use decide::{decide, SPEND_RISK_PERCENT};
pub use merge::Decision;

/// The autoscaler and the object it scales.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    /// `HorizontalPodAutoscaler` or `ScaledObject`.
    pub autoscaler_kind: String,
    /// Namespace of both.
    pub namespace: String,
    /// Autoscaler name.
    pub autoscaler_name: String,
    /// API version of the scaled object.
    pub api_version: String,
    /// Kind of the scaled object.
    pub kind: String,
    /// Name of the scaled object.
    pub name: String,
}

/// How much could go wrong if the diff is applied.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum RiskLevel {
    /// Adds capacity or slows scale-down only.
    Low,
    /// Removes capacity within what the history supports.
    Medium,
    /// Removes a large share of capacity, conflicts with a peak or lag
    /// finding, or sits on a misconfigured autoscaler.
    High,
}

impl RiskLevel {
    /// Lowercase name, as in the resource.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }
}

/// A rule that gave no result for this workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleFailureReport {
    /// Rule id.
    pub rule: String,
    /// `timed-out`, `out-of-memory`, `trapped`, `error`, `host-error`.
    pub reason: String,
    /// The full message.
    pub detail: String,
}

impl RuleFailureReport {
    /// True when the host, not the rule, failed (see
    /// `RuleFailure::is_host_error`).
    pub fn is_host_error(&self) -> bool {
        self.reason == stepscale_engine::outcome::HOST_ERROR_LABEL
    }
}

/// Replica-hours saved by the proposal, from replaying the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectedSavings {
    /// Replica-hours per week saved (negative = costs more).
    pub replica_hours_per_week: f64,
    /// Percent of current replica-hours.
    pub percent: f64,
    /// How it was computed.
    pub method: String,
}

/// One recommendation for one autoscaler: the spec of a
/// ScalingRecommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// The autoscaler and its target.
    pub target: TargetRef,
    /// Where the analyzed history came from, if the snapshot says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_source: Option<String>,
    /// The config in force.
    pub current: CurrentConfig,
    /// The proposed diff (only changed fields).
    pub proposed: ConfigChange,
    /// Risk of applying `proposed`.
    pub risk_level: RiskLevel,
    /// One sentence for the reviewer.
    pub summary: String,
    /// Findings of every rule and check, with their evidence.
    pub findings: Vec<Finding>,
    /// Conflicts the merge resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<Decision>,
    /// Replica-hours saved, from replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected_savings: Option<ProjectedSavings>,
    /// Pre-scaling windows, sized to what the autoscaler cannot provision in
    /// time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictive_schedule: Option<PredictiveSchedule>,
    /// How the proposal was chosen: the objective, the replay figures on
    /// the fit and held-out parts of the history, and the alternatives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Choice>,
    /// The forecaster's per-step forecast and its back-test evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
    /// Rules that failed on this workload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_failures: Vec<RuleFailureReport>,
    /// The optional LLM pass's second opinion, kept beside the engine's
    /// (absent with `llm.provider=none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_review: Option<LlmReview>,
}

/// What the LLM said of a candidate.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum LlmVerdict {
    /// The change is sensible for this workload.
    Agree,
    /// Sensible, with a caution for the reviewer (risk at least medium).
    Caution,
    /// Not sensible: the change stays visible, marked not recommended
    /// (risk high).
    Reject,
}

impl LlmVerdict {
    /// `agree`, `caution` or `reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            LlmVerdict::Agree => "agree",
            LlmVerdict::Caution => "caution",
            LlmVerdict::Reject => "reject",
        }
    }
}

/// The LLM pass's judgment of one recommendation, labelled apart from the
/// engine's. It can only add caution: the recommendation's `riskLevel` is
/// the higher of the engine's and the LLM's, the proposed change and the
/// schedule are the engine's, and nothing here approves anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmReview {
    /// `openai` or `anthropic` (the wire format).
    pub provider: String,
    /// The model asked.
    pub model: String,
    /// When it answered (RFC 3339), or when the review failed.
    pub reviewed_at: String,
    /// SHA-256 (hex) of the payload judged: what `analyze --llm-dry-run`
    /// prints as `payloadSha256`.
    pub payload_sha256: String,
    /// The engine's own risk level, before the LLM's.
    pub engine_risk_level: RiskLevel,
    /// The LLM's verdict; absent when the review was unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<LlmVerdict>,
    /// The LLM's risk level; absent when the review was unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_level: Option<RiskLevel>,
    /// True when the LLM rejected the change: it stays visible, not
    /// recommended.
    #[serde(default)]
    pub not_recommended: bool,
    /// The LLM's summary, a few sentences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The LLM's reasons, citing the evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Set when there is no review: `LLM review unavailable: <reason>`; the
    /// engine's recommendation stands as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

impl Recommendation {
    /// True when there is something to apply or something to fix.
    pub fn is_actionable(&self) -> bool {
        !self.proposed.is_empty() || self.predictive_schedule.is_some() || !self.findings.is_empty()
    }
}

/// Everything the engine and host checks said about one workload.
#[derive(Debug, Clone, Default)]
pub struct WorkloadFindings {
    /// Findings of detectors and host checks.
    pub findings: Vec<Finding>,
    /// The forecaster's output, if it ran.
    pub forecast: Option<Forecast>,
    /// Rules that failed: (rule id, failure).
    pub failures: Vec<(String, RuleFailure)>,
}

/// Build the recommendation for `workload` from what was found.
pub fn recommend(workload: &WorkloadSnapshot, found: WorkloadFindings) -> Recommendation {
    let current = CurrentConfig::of(workload);
    let (proposed, decisions) = merge::merge(&current, &found.findings);
    let risk_level = risk(&current, &proposed, &found.findings);
    let summary = summarize(&current, &proposed, &found.findings);
    Recommendation {
        target: TargetRef {
            autoscaler_kind: match workload.autoscaler.kind {
                AutoscalerKind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler".into(),
                AutoscalerKind::ScaledObject => "ScaledObject".into(),
            },
            namespace: workload.autoscaler.namespace.clone(),
            autoscaler_name: workload.autoscaler.name.clone(),
            api_version: workload.target.api_version.clone(),
            kind: workload.target.kind.clone(),
            name: workload.target.name.clone(),
        },
        history_source: workload.source.clone(),
        current,
        proposed,
        risk_level,
        summary,
        findings: found.findings,
        decisions,
        projected_savings: None,
        predictive_schedule: None,
        choice: None,
        forecast: found.forecast.map(finite_forecast),
        rule_failures: found
            .failures
            .into_iter()
            .map(|(rule, f)| RuleFailureReport {
                rule,
                reason: f.label().to_string(),
                detail: f.to_string(),
            })
            .collect(),
        llm_review: None,
    }
}

/// The forecast with every value finite, so it serializes (JSON has no NaN):
/// a missing step holds the previous value (0 before the first), and
/// evidence that is not a number is left out.
fn finite_forecast(mut f: Forecast) -> Forecast {
    let mut last = 0.0;
    for v in &mut f.replicas_needed {
        if v.is_finite() {
            last = *v;
        } else {
            *v = last;
        }
    }
    f.evidence.retain(|e| e.value.is_finite());
    f
}

/// The documented risk rule:
/// - high: the floor drops by more than half, or capacity is removed while a
///   scale-lag finding (or a recurring-peak finding that asks for more
///   capacity) says the workload already runs short,
///   or the diff tunes an autoscaler with a misconfiguration that has no
///   automatic fix (e.g. two autoscalers on one target);
/// - medium: any capacity is removed (lower floor or ceiling, higher CPU
///   target, longer scale-up or shorter scale-down stabilization/cooldown,
///   a scale-up policy that may add pods more slowly or a scale-down policy
///   that may remove them faster than Kubernetes' defaults);
/// - low: otherwise.
pub fn risk(current: &CurrentConfig, p: &ConfigChange, findings: &[Finding]) -> RiskLevel {
    let lower = |new: Option<u32>, old: u32| new.is_some_and(|n| n < old);
    let higher = |new: Option<u32>, old: u32| new.is_some_and(|n| n > old);
    let removes_capacity = lower(p.min_replicas, current.min_replicas)
        || lower(p.max_replicas, current.max_replicas)
        || current
            .cpu_target_percent
            .is_some_and(|t| higher(p.cpu_target_percent, t))
        || higher(
            p.scale_up_stabilization_seconds,
            current.scale_up_stabilization_seconds,
        )
        || lower(
            p.scale_down_stabilization_seconds,
            current.scale_down_stabilization_seconds,
        )
        || current
            .cooldown_period_seconds
            .is_some_and(|c| lower(p.cooldown_period_seconds, c))
        || p.scale_up_policy
            .is_some_and(|x| !policy_at_least_default_up(&x))
        || p.scale_down_policy
            .is_some_and(|x| !policy_at_most_default_down(&x));
    // Scale lag always means the workload ran short; a recurring peak only
    // when its rule asks for more capacity (otherwise it is informational).
    let runs_short = findings.iter().any(|f| {
        f.kind == FindingKind::ScaleLag
            || f.kind == FindingKind::RecurringPeak && !f.proposal.is_empty()
    });
    // A misconfiguration with no fix of its own (e.g. competing autoscalers)
    // makes any tuning of this autoscaler unreliable; one that proposes its
    // own fix (a floor of 1 instead of scale-to-zero) does not.
    let misconfigured = findings
        .iter()
        .any(|f| f.kind == FindingKind::Misconfiguration && f.proposal.is_empty());
    let halves_floor = p
        .min_replicas
        .is_some_and(|m| (m as f64) < current.min_replicas as f64 / 2.0);
    if !p.is_empty() && misconfigured || removes_capacity && (runs_short || halves_floor) {
        RiskLevel::High
    } else if removes_capacity {
        RiskLevel::Medium
    } else {
        RiskLevel::Low
    }
}

/// True when `p` alone adds pods at least as fast as Kubernetes' default
/// scale-up (the larger of 100 % and 4 pods per 15 s) at every count n ≥ 1:
/// a percent policy of at least 400 % (5n ≥ max(2n, n + 4)) per 15 s or less.
fn policy_at_least_default_up(p: &ScalingPolicy) -> bool {
    p.kind == PolicyKind::Percent
        && p.value >= FAST_SCALE_UP_PERCENT
        && p.period_seconds <= SCALE_UP_POLICY_PERIOD_S
}

/// True when `p` alone removes pods no faster than Kubernetes' default
/// scale-down (100 % per 15 s): any policy of at most 100 % per 15 s or
/// longer, or of pods per 15 s or longer (never more than all of them).
fn policy_at_most_default_down(p: &ScalingPolicy) -> bool {
    p.period_seconds >= 15 && (p.kind == PolicyKind::Pods || p.value <= 100)
}

pub(crate) fn summarize(current: &CurrentConfig, p: &ConfigChange, findings: &[Finding]) -> String {
    let changes = phrases(current, p);
    let strongest = findings
        .iter()
        .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
    let because = strongest
        .map(|f| format!(" — {}: {}", f.rule_id, f.summary))
        .unwrap_or_default();
    let mut rules: Vec<&str> = findings.iter().map(|f| f.rule_id.as_str()).collect();
    rules.dedup();
    if changes.is_empty() {
        if findings.is_empty() {
            "no change recommended: no rule found a problem".to_string()
        } else {
            format!(
                "no config change; review {} finding(s){because}",
                findings.len()
            )
        }
    } else {
        format!(
            "{} ({} finding(s) from {}){because}",
            changes.join(", "),
            findings.len(),
            rules.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::describe_change;

    fn current() -> CurrentConfig {
        CurrentConfig {
            min_replicas: 8,
            max_replicas: 20,
            cpu_target_percent: Some(50),
            scale_down_stabilization_seconds: 300,
            scale_up_stabilization_seconds: 0,
            cooldown_period_seconds: None,
        }
    }

    fn finding(kind: FindingKind) -> Finding {
        Finding {
            rule_id: "r".into(),
            rule_version: None,
            rule_source: None,
            kind,
            confidence: 0.8,
            summary: "s".into(),
            proposal: ConfigChange::default(),
            evidence: vec![],
        }
    }

    #[test]
    fn raising_the_floor_is_low_risk() {
        let p = ConfigChange {
            min_replicas: Some(10),
            ..Default::default()
        };
        assert_eq!(
            risk(&current(), &p, &[finding(FindingKind::RecurringPeak)]),
            RiskLevel::Low
        );
    }

    #[test]
    fn lowering_the_floor_a_little_is_medium_and_by_more_than_half_is_high() {
        let a = ConfigChange {
            min_replicas: Some(5),
            ..Default::default()
        };
        let b = ConfigChange {
            min_replicas: Some(3),
            ..Default::default()
        };
        assert_eq!(risk(&current(), &a, &[]), RiskLevel::Medium);
        assert_eq!(risk(&current(), &b, &[]), RiskLevel::High);
    }

    #[test]
    fn the_fix_a_misconfiguration_proposes_is_low_risk_but_tuning_around_one_is_high() {
        let mut fix = finding(FindingKind::Misconfiguration);
        fix.proposal.min_replicas = Some(9);
        let raise = ConfigChange {
            min_replicas: Some(9),
            ..Default::default()
        };
        assert_eq!(
            risk(&current(), &raise, std::slice::from_ref(&fix)),
            RiskLevel::Low
        );
        let unfixable = finding(FindingKind::Misconfiguration);
        assert_eq!(risk(&current(), &raise, &[unfixable]), RiskLevel::High);
    }

    #[test]
    fn an_informational_recurring_peak_does_not_make_a_small_cut_high_risk() {
        let p = ConfigChange {
            min_replicas: Some(7),
            ..Default::default()
        };
        let info = finding(FindingKind::RecurringPeak);
        assert_eq!(
            risk(&current(), &p, std::slice::from_ref(&info)),
            RiskLevel::Medium
        );
        let mut wants_more = info;
        wants_more.proposal.min_replicas = Some(12);
        assert_eq!(risk(&current(), &p, &[wants_more]), RiskLevel::High);
    }

    #[test]
    fn a_faster_scale_up_or_slower_scale_down_policy_is_low_risk_and_the_reverse_is_not() {
        let lag = [finding(FindingKind::ScaleLag)];
        let with = |up: Option<ScalingPolicy>, down: Option<ScalingPolicy>| ConfigChange {
            scale_up_policy: up,
            scale_down_policy: down,
            ..Default::default()
        };
        let fast_up = with(Some(ScalingPolicy::percent(400, 15)), None);
        let slow_down = with(None, Some(ScalingPolicy::percent(25, 60)));
        assert_eq!(risk(&current(), &fast_up, &lag), RiskLevel::Low);
        assert_eq!(risk(&current(), &slow_down, &lag), RiskLevel::Low);
        // 200 % per 15 s adds fewer pods than the default's 4 at one pod.
        let slower_up = with(Some(ScalingPolicy::percent(200, 15)), None);
        let faster_down = with(None, Some(ScalingPolicy::percent(100, 5)));
        assert_eq!(risk(&current(), &slower_up, &[]), RiskLevel::Medium);
        assert_eq!(risk(&current(), &faster_down, &lag), RiskLevel::High);
        assert_eq!(
            describe_change(&current(), &with(fast_up.scale_up_policy, slow_down.scale_down_policy)),
            "limit scale-down to 25 % of the pods per 60 s, allow scale-up of 400 % of the pods per 15 s"
        );
    }

    #[test]
    fn removing_capacity_beside_a_scale_lag_finding_is_high() {
        let p = ConfigChange {
            cpu_target_percent: Some(70),
            ..Default::default()
        };
        assert_eq!(
            risk(&current(), &p, &[finding(FindingKind::ScaleLag)]),
            RiskLevel::High
        );
    }

    #[test]
    fn the_summary_names_each_change_with_old_and_new_values() {
        let p = ConfigChange {
            min_replicas: Some(4),
            cpu_target_percent: Some(65),
            ..Default::default()
        };
        let s = summarize(&current(), &p, &[finding(FindingKind::IdleWindow)]);
        assert!(
            s.starts_with("lower minReplicas 8 → 4, raise CPU target 50 % → 65 %"),
            "{s}"
        );
    }
}
