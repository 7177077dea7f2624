//! One reconcile of an HPA (`reconcileAutoscaler` in `horizontal.go`).
//!
//! Owns combining metrics (max wins, invalid-metric handling), the min/max and
//! zero-replica rules, and choosing between the legacy normalization (no behavior:
//! 5-minute downscale stabilization and the `scaleUpLimitFactor` limit) and the
//! behavior normalization. It does not fetch anything: callers pass the pods and one
//! [`MetricReading`] per [`MetricSpec`].

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::behavior::{
    convert_desired_replicas_with_rules, Behavior, LimitReason, ScalingHistory,
    SlidingRecommendations, DEFAULT_DOWNSCALE_STABILIZATION_S, SCALE_UP_LIMIT_FACTOR,
    SCALE_UP_LIMIT_MINIMUM,
};
use super::rate_decisions::RateDecisions;
use super::replica::{
    average_value_replicas, plain_metric_replicas, resource_utilization_replicas,
    resource_utilization_replicas_runs, value_replicas, PodReading, PodRun, PodState, PodTiming,
    ReplicaCalcError, Tolerances, DEFAULT_CPU_INITIALIZATION_PERIOD_MS,
    DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS_MS,
};

/// Where a metric comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum MetricSource {
    /// A resource of the pods (`Resource`), or of one container (`ContainerResource`).
    Resource {
        /// Resource name, e.g. `cpu`.
        name: String,
        /// Container name for `ContainerResource`, `None` for the whole pod.
        #[serde(default)]
        container: Option<String>,
    },
    /// A per-pod custom metric.
    Pods {
        /// Metric name.
        name: String,
    },
    /// A metric describing another Kubernetes object.
    Object {
        /// Metric name.
        name: String,
    },
    /// A metric from outside the cluster (KEDA triggers are External metrics).
    External {
        /// Metric name.
        name: String,
    },
}

/// The target of a metric, in milli-units or percent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "value")]
pub enum MetricTarget {
    /// Average utilization, percent of request (Resource metrics only).
    Utilization(i32),
    /// Average value per pod, milli-units.
    AverageValue(i64),
    /// Total value, milli-units (Object and External metrics).
    Value(i64),
}

/// One entry of `spec.metrics`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricSpec {
    /// The source.
    pub source: MetricSource,
    /// The target.
    pub target: MetricTarget,
}

impl MetricSpec {
    /// A CPU utilization target of `pct` percent of request.
    pub fn cpu_utilization(pct: i32) -> Self {
        MetricSpec {
            source: MetricSource::Resource {
                name: "cpu".into(),
                container: None,
            },
            target: MetricTarget::Utilization(pct),
        }
    }

    fn name(&self) -> &str {
        match &self.source {
            MetricSource::Resource { name, .. }
            | MetricSource::Pods { name }
            | MetricSource::Object { name }
            | MetricSource::External { name } => name,
        }
    }
}

/// What the metric APIs returned for one metric spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MetricReading {
    /// Per-pod samples (Resource and Pods metrics): one reading per pod of the input,
    /// plus samples for pods that are not in the list.
    PerPod {
        /// One reading per pod, aligned with [`ReconcileInput::pods`].
        readings: Vec<PodReading>,
        /// Samples for unknown pods, milli-units.
        unmatched: Vec<i64>,
    },
    /// The object's value, milli-units.
    Object(i64),
    /// The external metric's values, milli-units; they are summed.
    External(Vec<i64>),
    /// The fetch failed with this message.
    Unavailable(String),
}

/// Everything one reconcile looks at, besides the spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileInput {
    /// `scale.spec.replicas` (the "current replicas").
    pub spec_replicas: i32,
    /// `scale.status.replicas` (used by per-pod Object/External targets).
    pub status_replicas: i32,
    /// Pods matched by the selector.
    pub pods: Vec<PodState>,
    /// One reading per entry of [`HpaSpec::metrics`].
    pub metrics: Vec<MetricReading>,
    /// Controller time, ms since the epoch.
    pub now_ms: i64,
}

/// The parts of an HPA spec the controller uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaSpec {
    /// minReplicas (0 only with the HPAScaleToZero feature, or under KEDA).
    pub min_replicas: i32,
    /// maxReplicas.
    pub max_replicas: i32,
    /// Metrics; the largest proposal wins.
    pub metrics: Vec<MetricSpec>,
    /// `spec.behavior`; `None` selects the legacy normalization.
    #[serde(default)]
    pub behavior: Option<Behavior>,
}

impl HpaSpec {
    /// The target, percent of request, of a spec whose first metric is the
    /// pods' resource utilization and whose others are all External
    /// `AverageValue` metrics (a CPU HPA, with one per KEDA cron trigger):
    /// the shape [`HorizontalController::compute_replicas_for_runs`] takes.
    pub fn utilization_then_external(&self) -> Option<i32> {
        let (first, rest) = self.metrics.split_first()?;
        let external = rest.iter().all(|m| {
            matches!(
                (&m.source, m.target),
                (MetricSource::External { .. }, MetricTarget::AverageValue(_))
            )
        });
        match (&first.source, first.target) {
            (MetricSource::Resource { .. }, MetricTarget::Utilization(pct)) if external => {
                Some(pct)
            }
            _ => None,
        }
    }
}

/// Controller flags.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerConfig {
    /// Tolerances (default 0.1 both ways).
    pub tolerances: Tolerances,
    /// CPU initialization period, ms (default 120 000).
    pub cpu_initialization_period_ms: i64,
    /// Initial readiness delay, ms (default 10 000).
    pub delay_of_initial_readiness_ms: i64,
    /// Downscale stabilization window, seconds (default 300).
    pub downscale_stabilization_s: i64,
    /// Legacy scale-up limit factor (default 2.0; upstream tests use 8).
    pub scale_up_limit_factor: f64,
    /// Legacy scale-up limit minimum (default 4).
    pub scale_up_limit_minimum: f64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            tolerances: Tolerances::default(),
            cpu_initialization_period_ms: DEFAULT_CPU_INITIALIZATION_PERIOD_MS,
            delay_of_initial_readiness_ms: DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS_MS,
            downscale_stabilization_s: DEFAULT_DOWNSCALE_STABILIZATION_S,
            scale_up_limit_factor: SCALE_UP_LIMIT_FACTOR,
            scale_up_limit_minimum: SCALE_UP_LIMIT_MINIMUM,
        }
    }
}

/// Why a reconcile could not compute a desired count.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ReconcileError {
    /// The spec and the input disagree on the number of metrics.
    #[error("{specs} metric specs but {readings} metric readings")]
    MetricCountMismatch {
        /// Number of specs.
        specs: usize,
        /// Number of readings.
        readings: usize,
    },
    /// A metric's reading does not fit its source or target.
    #[error("metric #{index} ({name}): {what}")]
    InvalidMetric {
        /// Index in `spec.metrics`.
        index: usize,
        /// Metric name.
        name: String,
        /// What is wrong.
        what: String,
    },
    /// All metrics failed, or some failed and the rest would scale down.
    #[error("invalid metrics ({invalid} invalid out of {total}), first error is: {first}")]
    MetricsFailed {
        /// How many failed.
        invalid: usize,
        /// How many there are.
        total: usize,
        /// The first failure.
        first: String,
    },
}

/// Outcome of one reconcile.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciliation {
    /// Desired replicas written to the status (the current count on error).
    pub desired_replicas: i32,
    /// Whether the target is rescaled.
    pub rescale: bool,
    /// Largest metric proposal before normalization, if metrics were evaluated.
    pub metric_proposal: Option<i32>,
    /// Current utilization of the first Utilization metric, percent.
    pub utilization_pct: Option<i32>,
    /// `AbleToScale` reason, when normalization ran.
    pub able_to_scale: Option<&'static str>,
    /// `ScalingLimited` reason, when normalization ran.
    pub limit: Option<LimitReason>,
    /// Set when autoscaling is disabled (`spec.replicas` is 0 and minReplicas is not).
    pub scaling_disabled: bool,
    /// The error that stopped the computation, if any (message form).
    pub error: Option<String>,
}

/// The largest of the metrics' proposals, as `computeReplicasForMetrics`
/// combines them: an error when every metric failed, or when some failed and
/// the others would scale below `spec_replicas`. The utilization is the
/// first one reported.
fn combine_proposals(
    results: impl Iterator<Item = Result<(i32, Option<i32>), String>>,
    total: usize,
    spec_replicas: i32,
) -> Result<(i32, Option<i32>), ReconcileError> {
    let mut replicas = 0;
    let mut utilization = None;
    let mut invalid = 0;
    let mut first_error = None;
    for result in results {
        match result {
            Ok((proposal, util)) => {
                if utilization.is_none() {
                    utilization = util;
                }
                if replicas == 0 || proposal > replicas {
                    replicas = proposal;
                }
            }
            Err(e) => {
                if first_error.is_none() {
                    first_error = Some(e);
                }
                invalid += 1;
            }
        }
    }
    if invalid >= total || (invalid > 0 && replicas < spec_replicas) {
        return Err(ReconcileError::MetricsFailed {
            invalid,
            total,
            first: first_error.unwrap_or_else(|| "no metrics are specified".to_string()),
        });
    }
    Ok((replicas, utilization))
}

/// A model of the HPA controller for one HPA: flags plus its memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HorizontalController {
    /// Controller flags.
    pub config: ControllerConfig,
    /// Recommendations and scale events remembered between reconciles.
    pub history: ScalingHistory,
    /// The last behavior's resolved rules, so a replay of thousands of
    /// reconciles does not resolve (and allocate) them every time.
    resolved: Option<ResolvedRules>,
    /// Set by [`HorizontalController::with_sliding_windows`]: the
    /// recommendations live here instead of in `history`.
    sliding: Option<SlidingRecommendations>,
    /// The lowest and highest count the floor and ceiling were applied to
    /// (see [`HorizontalController::counts_bounded`]).
    bounded: Option<(i32, i32)>,
    /// Set by [`HorizontalController::with_rate_decisions`]: the reconciles
    /// where the rate limits or the bounds could change the count.
    rate_decisions: Option<RateDecisions>,
}

/// Widen `range` to hold `count`.
fn widen(range: &mut Option<(i32, i32)>, count: i32) {
    *range = Some(match *range {
        Some((lo, hi)) => (lo.min(count), hi.max(count)),
        None => (count, count),
    });
}

/// A behavior with its resolved scale-up and scale-down rules.
#[derive(Clone, Debug, PartialEq)]
struct ResolvedRules {
    behavior: Behavior,
    downscale_window_s: i64,
    up: super::behavior::ScalingRules,
    down: super::behavior::ScalingRules,
}

/// What the sliding windows must show for a proposal to be held: the
/// recommendations after a cutoff, ms.
#[derive(Clone, Copy)]
enum HoldCheck {
    /// With a behavior, a lower proposal: their maximum reaches the count.
    MaxReaches(i64),
    /// Without one, a lower proposal: their maximum is the count.
    MaxIs(i64),
    /// With a behavior, a higher proposal: their minimum reaches down to
    /// the count.
    MinReaches(i64),
}

impl HoldCheck {
    /// The cutoff, and whether the check reads the windows' maximum (else
    /// their minimum).
    fn reads(self) -> (i64, bool) {
        match self {
            HoldCheck::MaxReaches(cutoff) | HoldCheck::MaxIs(cutoff) => (cutoff, true),
            HoldCheck::MinReaches(cutoff) => (cutoff, false),
        }
    }

    /// Whether `window` (the maximum or minimum the check reads) holds
    /// `current`.
    fn holds(self, current: i32, window: Option<i32>) -> bool {
        match self {
            HoldCheck::MaxReaches(_) => window.is_some_and(|m| m >= current),
            HoldCheck::MaxIs(_) => window == Some(current),
            HoldCheck::MinReaches(_) => window.is_some_and(|m| m <= current),
        }
    }
}

impl HorizontalController {
    /// A controller with the given flags and no history.
    pub fn new(config: ControllerConfig) -> Self {
        HorizontalController {
            config,
            history: ScalingHistory::default(),
            resolved: None,
            sliding: None,
            bounded: None,
            rate_decisions: None,
        }
    }

    /// The lowest and highest count the floor and ceiling (`minReplicas`,
    /// `maxReplicas`) were compared with in the reconciles so far: every
    /// current count and every stabilized recommendation; `None` before the
    /// first reconcile. Those are the only values the floor and ceiling
    /// touch (recommendations are remembered before they are bounded), so a
    /// floor below and a ceiling above this range never acted: any other
    /// floor and ceiling outside it give the same reconciles.
    pub fn counts_bounded(&self) -> Option<(i32, i32)> {
        self.bounded
    }

    /// This controller logging the reconciles where the rate limits or the
    /// bounds could change the count ([`RateDecisions`]), so that other
    /// scaling policies can be checked against its replay.
    pub fn with_rate_decisions(mut self) -> Self {
        self.rate_decisions = Some(RateDecisions::default());
        self
    }

    /// The log [`HorizontalController::with_rate_decisions`] asked for,
    /// taken out of the controller (which logs no more).
    pub fn take_rate_decisions(&mut self) -> Option<RateDecisions> {
        self.rate_decisions.take()
    }

    /// This controller with its recommendations held as sliding windows
    /// ([`SlidingRecommendations`]): the same results at O(1) per
    /// reconcile, for a replay whose time only moves forward and whose
    /// stabilization windows do not change. `history.recommendations` then
    /// stays empty.
    pub fn with_sliding_windows(mut self) -> Self {
        self.sliding = Some(SlidingRecommendations::default());
        self
    }

    fn timing(&self, now_ms: i64) -> PodTiming {
        PodTiming {
            now_ms,
            cpu_initialization_period_ms: self.config.cpu_initialization_period_ms,
            delay_of_initial_readiness_ms: self.config.delay_of_initial_readiness_ms,
        }
    }

    /// Proposal of one metric (`computeReplicasForMetric`), with the utilization for
    /// Utilization targets.
    ///
    /// # Errors
    /// The metric's failure, as a message.
    pub fn compute_replicas_for_metric(
        &self,
        index: usize,
        spec: &MetricSpec,
        reading: &MetricReading,
        input: &ReconcileInput,
    ) -> Result<(i32, Option<i32>), String> {
        let tol = &self.config.tolerances;
        let timing = self.timing(input.now_ms);
        let current = input.spec_replicas;
        let invalid = |what: &str| {
            ReconcileError::InvalidMetric {
                index,
                name: spec.name().to_string(),
                what: what.to_string(),
            }
            .to_string()
        };
        let calc = |e: ReplicaCalcError| e.to_string();
        match (&spec.source, spec.target, reading) {
            (_, _, MetricReading::Unavailable(reason)) => Err(ReplicaCalcError::FetchFailed {
                metric: spec.name().to_string(),
                reason: reason.clone(),
            }
            .to_string()),
            (
                MetricSource::Resource { name, .. },
                MetricTarget::Utilization(pct),
                MetricReading::PerPod {
                    readings,
                    unmatched,
                },
            ) => {
                let p = resource_utilization_replicas(
                    current,
                    pct,
                    name,
                    &input.pods,
                    readings,
                    unmatched,
                    tol,
                    &timing,
                )
                .map_err(calc)?;
                Ok((p.replicas, Some(p.utilization_pct)))
            }
            (
                MetricSource::Resource { name, .. },
                MetricTarget::AverageValue(avg),
                MetricReading::PerPod {
                    readings,
                    unmatched,
                },
            ) => {
                if unmatched.is_empty() && readings.iter().all(|r| r.sample.is_none()) {
                    return Err(ReplicaCalcError::NoResourceMetrics {
                        resource: name.clone(),
                    }
                    .to_string());
                }
                let p = plain_metric_replicas(
                    current,
                    avg,
                    name == "cpu",
                    &input.pods,
                    readings,
                    unmatched,
                    tol,
                    &timing,
                )
                .map_err(calc)?;
                Ok((p.replicas, None))
            }
            (
                MetricSource::Pods { name },
                MetricTarget::AverageValue(avg),
                MetricReading::PerPod {
                    readings,
                    unmatched,
                },
            ) => {
                if unmatched.is_empty() && readings.iter().all(|r| r.sample.is_none()) {
                    return Err(ReplicaCalcError::NoMetrics {
                        metric: name.clone(),
                        api: "custom",
                    }
                    .to_string());
                }
                let p = plain_metric_replicas(
                    current,
                    avg,
                    false,
                    &input.pods,
                    readings,
                    unmatched,
                    tol,
                    &timing,
                )
                .map_err(calc)?;
                Ok((p.replicas, None))
            }
            (MetricSource::Object { .. }, MetricTarget::Value(t), MetricReading::Object(v)) => {
                Ok((
                    value_replicas(current, *v, t, &input.pods, tol)
                        .map_err(calc)?
                        .replicas,
                    None,
                ))
            }
            (
                MetricSource::Object { .. },
                MetricTarget::AverageValue(t),
                MetricReading::Object(v),
            ) => Ok((
                average_value_replicas(input.status_replicas, *v, t, tol)
                    .map_err(calc)?
                    .replicas,
                None,
            )),
            (MetricSource::External { name }, target, MetricReading::External(values)) => {
                if values.is_empty() {
                    return Err(ReplicaCalcError::NoMetrics {
                        metric: name.clone(),
                        api: "external",
                    }
                    .to_string());
                }
                let total: i64 = values.iter().fold(0i64, |a, v| a.saturating_add(*v));
                match target {
                    MetricTarget::Value(t) => Ok((
                        value_replicas(current, total, t, &input.pods, tol)
                            .map_err(calc)?
                            .replicas,
                        None,
                    )),
                    MetricTarget::AverageValue(t) => Ok((
                        average_value_replicas(input.status_replicas, total, t, tol)
                            .map_err(calc)?
                            .replicas,
                        None,
                    )),
                    MetricTarget::Utilization(_) => Err(invalid(
                        "external metrics take Value or AverageValue targets",
                    )),
                }
            }
            _ => Err(invalid(
                "the reading does not match the metric source and target type",
            )),
        }
    }

    /// Max proposal over all metrics (`computeReplicasForMetrics`).
    ///
    /// # Errors
    /// [`ReconcileError::MetricsFailed`] when every metric failed, or some failed and
    /// the valid ones would scale below `spec.replicas`.
    pub fn compute_replicas_for_metrics(
        &self,
        spec: &HpaSpec,
        input: &ReconcileInput,
    ) -> Result<(i32, Option<i32>), ReconcileError> {
        if spec.metrics.len() != input.metrics.len() {
            return Err(ReconcileError::MetricCountMismatch {
                specs: spec.metrics.len(),
                readings: input.metrics.len(),
            });
        }
        combine_proposals(
            spec.metrics
                .iter()
                .zip(&input.metrics)
                .enumerate()
                .map(|(i, (m, r))| self.compute_replicas_for_metric(i, m, r, input)),
            spec.metrics.len(),
            input.spec_replicas,
        )
    }

    /// [`HorizontalController::compute_replicas_for_metrics`] for a spec whose
    /// first metric is CPU utilization of the pods, given as runs of
    /// identical pods, and whose other metrics are External `AverageValue`
    /// metrics with the given totals (KEDA's cron triggers). The result
    /// equals the per-pod computation.
    ///
    /// # Errors
    /// As [`HorizontalController::compute_replicas_for_metrics`]; a spec of
    /// another shape is [`ReconcileError::MetricCountMismatch`].
    pub fn compute_replicas_for_runs(
        &self,
        spec: &HpaSpec,
        runs: &[PodRun],
        external_totals: &[i64],
        spec_replicas: i32,
        status_replicas: i32,
        now_ms: i64,
    ) -> Result<(i32, Option<i32>), ReconcileError> {
        let cpu = match spec.metrics.first() {
            Some(MetricSpec {
                source,
                target: MetricTarget::Utilization(pct),
            }) => {
                let name = match source {
                    MetricSource::Resource { name, .. } => name.as_str(),
                    _ => "cpu",
                };
                let timing = self.timing(now_ms);
                let tol = &self.config.tolerances;
                resource_utilization_replicas_runs(spec_replicas, *pct, name, runs, tol, &timing)
                    .map(|p| (p.replicas, Some(p.utilization_pct)))
                    .map_err(|e| e.to_string())
            }
            _ => Err("not a CPU or cron metric".to_string()),
        };
        self.with_external_proposals(spec, cpu, external_totals, spec_replicas, status_replicas)
    }

    /// The proposal [`HorizontalController::compute_replicas_for_runs`]
    /// returns when its first metric (CPU utilization) proposes `cpu`:
    /// `cpu` combined, as the controller combines metrics, with the
    /// proposals of the External `AverageValue` metrics after it for
    /// `external_totals` (KEDA's cron triggers; none for a plain CPU HPA).
    /// A replay that knows the CPU proposal without pod views takes it here.
    ///
    /// # Errors
    /// As [`HorizontalController::compute_replicas_for_runs`].
    pub fn with_external_proposals(
        &self,
        spec: &HpaSpec,
        cpu: Result<(i32, Option<i32>), String>,
        external_totals: &[i64],
        spec_replicas: i32,
        status_replicas: i32,
    ) -> Result<(i32, Option<i32>), ReconcileError> {
        if spec.metrics.len() != external_totals.len() + 1
            || spec.utilization_then_external().is_none()
        {
            return Err(ReconcileError::MetricCountMismatch {
                specs: spec.metrics.len(),
                readings: external_totals.len() + 1,
            });
        }
        combine_proposals(
            std::iter::once(cpu).chain(self.external_proposals(
                spec,
                external_totals,
                status_replicas,
            )),
            spec.metrics.len(),
            spec_replicas,
        )
    }

    /// The proposals of `spec`'s metrics after the first, each an External
    /// `AverageValue` metric whose total is in `external_totals`, with
    /// `status_replicas` pods (what
    /// [`HorizontalController::with_external_proposals`] combines).
    pub(crate) fn external_proposals<'s>(
        &'s self,
        spec: &'s HpaSpec,
        external_totals: &'s [i64],
        status_replicas: i32,
    ) -> impl Iterator<Item = Result<(i32, Option<i32>), String>> + 's {
        let tol = &self.config.tolerances;
        spec.metrics
            .iter()
            .skip(1)
            .zip(external_totals)
            .map(move |(m, total)| match m.target {
                MetricTarget::AverageValue(t) => {
                    average_value_replicas(status_replicas, *total, t, tol)
                        .map(|p| (p.replicas, None))
                        .map_err(|e| e.to_string())
                }
                _ => Err("not a CPU or cron metric".to_string()),
            })
    }

    /// A reconcile whose metric proposal (`proposal`) is known to leave the
    /// count at `current`, taken without the normalization: records the
    /// recommendation and returns true. Returns false, having recorded
    /// nothing, when a full reconcile is needed: no sliding windows,
    /// `current` outside the bounds, or a case not covered below.
    ///
    /// Covered: a proposal that minReplicas and maxReplicas bound to the
    /// count (equal to it; lower at minReplicas; higher at maxReplicas).
    /// With a behavior that is enough: both stabilization bounds then lie
    /// on the same side of the count as the proposal, or contain it, and
    /// the rate limits' bounds clamp the result back. Without one, no
    /// recommendation above the count may still be in the window (one
    /// above maxReplicas counts as maxReplicas), and the scale-up limit
    /// must allow the count.
    ///
    /// The recommendation is recorded bounded to `[minReplicas,
    /// maxReplicas]`. That changes no later count: stabilization takes
    /// minima and maxima of recommendations, which commute with any
    /// monotone map such as the bounding, and the normalization bounds its
    /// input to the same range before anything else reads it. So a run of
    /// kept syncs records the count itself, again and again, which
    /// [`SlidingRecommendations`] holds as one entry.
    pub fn keep_count(&mut self, spec: &HpaSpec, current: i32, proposal: i32, now_ms: i64) -> bool {
        // A count kept is the stabilized recommendation too (and one not
        // kept is recorded again by the reconcile that follows).
        widen(&mut self.bounded, current);
        let Some(sliding) = self.sliding.as_mut() else {
            return false;
        };
        if current <= 0 || current < spec.min_replicas || current > spec.max_replicas {
            return false;
        }
        if proposal.max(0).clamp(spec.min_replicas, spec.max_replicas) != current {
            return false;
        }
        if spec.behavior.is_some() {
            sliding.record(current, now_ms);
            return true;
        }
        let window_ms = self.config.downscale_stabilization_s * 1000;
        if sliding
            .max_after(now_ms - window_ms)
            .is_some_and(|m| m.min(spec.max_replicas) > current)
        {
            return false;
        }
        if !Self::legacy_limits_allow(&self.config, spec, current) {
            return false;
        }
        sliding.record_max(current, now_ms);
        true
    }

    /// Whether the legacy normalization (no `behavior`) leaves `current`
    /// unchanged when it is also the stabilized recommendation: within the
    /// bounds and the scale-up limit.
    fn legacy_limits_allow(config: &ControllerConfig, spec: &HpaSpec, current: i32) -> bool {
        let (desired, _) = convert_desired_replicas_with_rules(
            current,
            current,
            spec.min_replicas,
            spec.max_replicas,
            config.scale_up_limit_factor,
            config.scale_up_limit_minimum,
        );
        desired == current
    }

    /// A reconcile whose metric proposal the stabilization holds at
    /// `current`: a proposal below it held by the scale-down window, or one
    /// above it by the scale-up window. Records the recommendation as
    /// [`HorizontalController::reconcile_with`] would and returns true.
    /// Returns false, having recorded nothing, otherwise (see
    /// [`HorizontalController::would_hold`]). Either way it forgets no
    /// recommendation, so a caller may still ask about an earlier time.
    // Inlined into the fast replay's scan (see `Forward::take` there).
    #[inline(always)]
    pub fn hold(&mut self, spec: &HpaSpec, current: i32, proposal: i32, now_ms: i64) -> bool {
        let proposal = proposal.max(0);
        if !self.would_hold(spec, current, proposal, now_ms) {
            return false;
        }
        let Some(sliding) = self.sliding.as_mut() else {
            return false;
        };
        if spec.behavior.is_some() {
            sliding.record(proposal, now_ms);
        } else {
            sliding.record_max(proposal, now_ms);
        }
        widen(&mut self.bounded, current);
        true
    }

    /// Whether [`HorizontalController::hold`] would hold `current` at
    /// `now_ms`, asked without recording anything and without forgetting
    /// the recommendations that have left the windows by then (so it may
    /// look ahead in time).
    ///
    /// A proposal is held when the sliding windows exist, `current` is
    /// within the bounds (and above minReplicas for a lower proposal), and:
    /// - below `current`, with a behavior: the scale-up bound is at most
    ///   the proposal, so the count is held exactly when the scale-down
    ///   bound (the window's maximum) reaches it, and the rate limits
    ///   leave an unchanged count alone; without one, the stabilized
    ///   recommendation is the window's maximum, held when that is the
    ///   count itself and the legacy scale-up limit allows it;
    /// - above `current`, with a behavior: the scale-down bound is at
    ///   least the proposal, so the count is held exactly when the
    ///   scale-up bound (the window's minimum) reaches down to it. The
    ///   legacy controller has no scale-up window.
    pub fn would_hold(&self, spec: &HpaSpec, current: i32, proposal: i32, now_ms: i64) -> bool {
        let (Some(check), Some(sliding)) = (
            self.hold_check(spec, current, proposal.max(0), now_ms),
            self.sliding.as_ref(),
        ) else {
            return false;
        };
        let window = match check.reads() {
            (cutoff, true) => sliding.peek_max_after(cutoff),
            (cutoff, false) => sliding.peek_min_after(cutoff),
        };
        check.holds(current, window)
    }

    /// What the sliding windows must show for `proposal` (not negative) to
    /// be held at `current` at `now_ms`; `None` when nothing could hold it.
    fn hold_check(
        &self,
        spec: &HpaSpec,
        current: i32,
        proposal: i32,
        now_ms: i64,
    ) -> Option<HoldCheck> {
        if self.sliding.is_none()
            || current <= 0
            || current < spec.min_replicas
            || current > spec.max_replicas
        {
            return None;
        }
        if proposal < current {
            if current == spec.min_replicas {
                return None;
            }
            Some(match &spec.behavior {
                Some(b) => {
                    let down = b.scale_down_window_s(self.config.downscale_stabilization_s);
                    HoldCheck::MaxReaches(now_ms - i64::from(down) * 1000)
                }
                None => {
                    if !Self::legacy_limits_allow(&self.config, spec, current) {
                        return None;
                    }
                    HoldCheck::MaxIs(now_ms - self.config.downscale_stabilization_s * 1000)
                }
            })
        } else if proposal > current {
            let up = spec.behavior.as_ref()?.scale_up_window_s();
            Some(HoldCheck::MinReaches(now_ms - i64::from(up) * 1000))
        } else {
            None
        }
    }

    /// The behavior's resolved rules, kept in `resolved` and resolved again
    /// only when the behavior or the downscale window changed.
    fn resolve<'a>(
        resolved: &'a mut Option<ResolvedRules>,
        downscale_window_s: i64,
        b: &Behavior,
    ) -> &'a ResolvedRules {
        let cached = resolved
            .as_ref()
            .is_some_and(|r| r.downscale_window_s == downscale_window_s && r.behavior == *b);
        if !cached {
            *resolved = None;
        }
        resolved.get_or_insert_with(|| ResolvedRules {
            behavior: b.clone(),
            downscale_window_s,
            up: b.scale_up_rules(),
            down: b.scale_down_rules(downscale_window_s),
        })
    }

    /// One reconcile: computes the desired count, normalizes it, and, when it changes
    /// the scale, records the scale event. The caller applies `desired_replicas`.
    pub fn reconcile(&mut self, spec: &HpaSpec, input: &ReconcileInput) -> Reconciliation {
        self.reconcile_with(spec, input.spec_replicas, input.now_ms, |c| {
            c.compute_replicas_for_metrics(spec, input)
        })
    }

    /// [`HorizontalController::reconcile`] with the metric proposal computed
    /// by `proposal` (called only when the current count is within the
    /// bounds, as upstream computes it), for callers that hold the pods in
    /// another form (the replay's runs of identical pods).
    pub fn reconcile_with(
        &mut self,
        spec: &HpaSpec,
        current: i32,
        now: i64,
        proposal: impl FnOnce(&Self) -> Result<(i32, Option<i32>), ReconcileError>,
    ) -> Reconciliation {
        let mut out = Reconciliation {
            desired_replicas: current,
            rescale: false,
            metric_proposal: None,
            utilization_pct: None,
            able_to_scale: None,
            limit: None,
            scaling_disabled: false,
            error: None,
        };
        let desired;
        widen(&mut self.bounded, current);
        if current == 0 && spec.min_replicas != 0 {
            out.desired_replicas = 0;
            out.scaling_disabled = true;
            return out;
        } else if current > spec.max_replicas || current < spec.min_replicas {
            desired = if current > spec.max_replicas {
                spec.max_replicas
            } else {
                spec.min_replicas
            };
            if let Some(log) = self.rate_decisions.as_mut() {
                log.rebounded(now, current, desired);
            }
        } else {
            match proposal(self) {
                Err(e) => {
                    out.error = Some(e.to_string());
                    return out;
                }
                Ok((proposal, util)) => {
                    out.metric_proposal = Some(proposal);
                    out.utilization_pct = util;
                    let proposal = proposal.max(0);
                    let (stabilized, d) = match &spec.behavior {
                        None => {
                            let window_ms = self.config.downscale_stabilization_s * 1000;
                            let stabilized = match self.sliding.as_mut() {
                                Some(s) => s.stabilize_legacy(proposal, window_ms, now),
                                None => self.history.stabilize_legacy(proposal, window_ms, now),
                            };
                            widen(&mut self.bounded, stabilized);
                            out.able_to_scale = Some(if stabilized != proposal {
                                "ScaleDownStabilized"
                            } else {
                                "ReadyForNewScale"
                            });
                            let (d, reason) = convert_desired_replicas_with_rules(
                                current,
                                stabilized,
                                spec.min_replicas,
                                spec.max_replicas,
                                self.config.scale_up_limit_factor,
                                self.config.scale_up_limit_minimum,
                            );
                            out.limit = Some(reason);
                            (stabilized, d)
                        }
                        Some(b) => {
                            let window = self.config.downscale_stabilization_s;
                            let rules = Self::resolve(&mut self.resolved, window, b);
                            let up_window = rules.up.stabilization_window_seconds.unwrap_or(0);
                            let down_window = rules.down.stabilization_window_seconds.unwrap_or(0);
                            let (stabilized, reason) = match self.sliding.as_mut() {
                                Some(s) => s.stabilize_with_behavior(
                                    current,
                                    proposal,
                                    up_window,
                                    down_window,
                                    now,
                                ),
                                None => self.history.stabilize_with_behavior(
                                    current,
                                    proposal,
                                    up_window,
                                    down_window,
                                    now,
                                ),
                            };
                            widen(&mut self.bounded, stabilized);
                            out.able_to_scale = Some(if stabilized != proposal {
                                reason
                            } else {
                                "ReadyForNewScale"
                            });
                            let (d, reason) = self.history.convert_with_rules(
                                &rules.up,
                                &rules.down,
                                spec.min_replicas,
                                spec.max_replicas,
                                current,
                                stabilized,
                                now,
                            );
                            out.limit = Some(reason);
                            (stabilized, d)
                        }
                    };
                    if stabilized != current {
                        if let Some(log) = self.rate_decisions.as_mut() {
                            let legacy = spec.behavior.is_none();
                            log.bounded(legacy, now, current, proposal, stabilized, d);
                        }
                    }
                    desired = d;
                }
            }
        }
        out.desired_replicas = desired;
        out.rescale = desired != current;
        if out.rescale {
            self.history
                .store_scale_event(spec.behavior.as_ref(), current, desired, now);
        }
        out
    }
}
