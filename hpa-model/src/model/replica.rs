//! Per-metric replica proposals, as `replica_calculator.go` computes them.
//!
//! This module owns the arithmetic of one metric: grouping pods (ready, unready,
//! missing metric, ignored), the usage ratio against the target, the tolerance,
//! the fill-in of missing and unready pods and the recomputation after it. It does
//! not combine metrics, clamp to min/max or apply behaviors; that is
//! [`crate::model::controller`].
//!
//! All quantities are integer milli-units, as the upstream controller uses
//! `MilliValue()`, and utilization percentages are truncated to integers before the
//! ratio is taken, exactly like `GetResourceUtilizationRatio`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Default scale tolerance of the HPA controller (`--horizontal-pod-autoscaler-tolerance`).
pub const DEFAULT_TOLERANCE: f64 = 0.1;
/// Default CPU initialization period, in milliseconds (2 minutes).
pub const DEFAULT_CPU_INITIALIZATION_PERIOD_MS: i64 = 120_000;
/// Default delay of the initial readiness status, in milliseconds (10 seconds).
pub const DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS_MS: i64 = 10_000;

/// Scale-down and scale-up tolerances around a usage ratio of 1.0.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tolerances {
    /// Ratios down to `1 - scale_down` are considered "no change".
    pub scale_down: f64,
    /// Ratios up to `1 + scale_up` are considered "no change".
    pub scale_up: f64,
}

impl Tolerances {
    /// The same tolerance in both directions.
    pub fn symmetric(tolerance: f64) -> Self {
        Tolerances {
            scale_down: tolerance,
            scale_up: tolerance,
        }
    }

    /// Whether `usage_ratio` is close enough to 1.0 that the controller keeps the
    /// current replica count (inclusive bounds, like upstream `isWithin`).
    pub fn is_within(&self, usage_ratio: f64) -> bool {
        (1.0 - self.scale_down) <= usage_ratio && usage_ratio <= (1.0 + self.scale_up)
    }
}

impl Default for Tolerances {
    /// The symmetric default of 0.1.
    fn default() -> Self {
        Tolerances::symmetric(DEFAULT_TOLERANCE)
    }
}

/// Lifecycle phase of a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    /// Not yet scheduled or still starting; treated like an unready pod.
    Pending,
    /// Running (possibly not ready).
    Running,
    /// Terminated successfully.
    Succeeded,
    /// Terminated in failure; ignored entirely.
    Failed,
    /// Unknown state.
    Unknown,
}

/// What the controller knows about one pod, independent of any metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodState {
    /// Pod phase.
    pub phase: PodPhase,
    /// Whether the pod has a deletion timestamp (terminating); ignored entirely.
    pub deleting: bool,
    /// The Ready condition: `None` when the pod has no Ready condition at all.
    pub ready: Option<bool>,
    /// `status.startTime`, in milliseconds since the epoch; `None` if not started.
    pub start_time_ms: Option<i64>,
    /// `lastTransitionTime` of the Ready condition, in milliseconds since the epoch.
    pub ready_transition_ms: i64,
}

impl PodState {
    /// A running, ready pod that started long ago (outside any initialization period).
    pub fn running_ready() -> Self {
        PodState {
            phase: PodPhase::Running,
            deleting: false,
            ready: Some(true),
            start_time_ms: Some(0),
            ready_transition_ms: 0,
        }
    }

    /// A pod still pending (scheduled or starting, not ready, no start time).
    pub fn pending() -> Self {
        PodState {
            phase: PodPhase::Pending,
            deleting: false,
            ready: Some(false),
            start_time_ms: None,
            ready_transition_ms: 0,
        }
    }

    /// Whether the pod counts for `getReadyPodsCount` (Running and Ready).
    pub fn is_running_and_ready(&self) -> bool {
        self.phase == PodPhase::Running && self.ready == Some(true)
    }
}

/// One metric sample for a pod as the metrics API returns it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricSample {
    /// The value, in milli-units (millicores for CPU).
    pub value_milli: i64,
    /// When the sample was taken, in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The window the sample averages over, in milliseconds.
    pub window_ms: i64,
}

/// A metric-specific view of one pod: its request for the metric's resource and its sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodReading {
    /// Sum of the requests of the selected containers, in milli-units; `None` when a
    /// selected container has no request (an error for utilization targets).
    pub request_milli: Option<i64>,
    /// The pod's sample, or `None` when the metrics API returned nothing for it.
    pub sample: Option<MetricSample>,
}

/// Timing parameters used to decide whether a CPU sample can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTiming {
    /// The controller's "now", in milliseconds since the epoch.
    pub now_ms: i64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`, milliseconds (default 120 000).
    pub cpu_initialization_period_ms: i64,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`, milliseconds (default 10 000).
    pub delay_of_initial_readiness_ms: i64,
}

impl PodTiming {
    /// Upstream default periods at the given instant.
    pub fn at(now_ms: i64) -> Self {
        PodTiming {
            now_ms,
            cpu_initialization_period_ms: DEFAULT_CPU_INITIALIZATION_PERIOD_MS,
            delay_of_initial_readiness_ms: DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS_MS,
        }
    }
}

/// Why a single metric produced no proposal.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ReplicaCalcError {
    /// The metrics API returned no items at all.
    #[error("unable to get metrics for resource {resource}: no metrics returned from resource metrics API")]
    NoResourceMetrics {
        /// The resource name, e.g. `cpu`.
        resource: String,
    },
    /// The custom or external metrics API returned no items.
    #[error("unable to get metric {metric}: no metrics returned from {api} metrics API")]
    NoMetrics {
        /// The metric name.
        metric: String,
        /// `custom` or `external`.
        api: &'static str,
    },
    /// The metric could not be fetched at all.
    #[error("unable to fetch metric {metric}: {reason}")]
    FetchFailed {
        /// The metric name.
        metric: String,
        /// Why, as reported by the source.
        reason: String,
    },
    /// The pod selector matched no pods.
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    /// Every sample belonged to an ignored or unready pod.
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoUsableMetrics,
    /// A container selected by the metric has no request for the resource.
    #[error("missing request for {resource} in pod #{pod}")]
    MissingRequest {
        /// The resource name.
        resource: String,
        /// Index of the pod in the pod list.
        pod: usize,
    },
    /// No sample matched a pod that has a request.
    #[error("no metrics returned matched known pods")]
    NoMatchingPods,
    /// The pod list and the readings have different lengths.
    #[error("{readings} metric readings for {pods} pods; give one reading per pod")]
    ReadingsMismatch {
        /// Number of pods.
        pods: usize,
        /// Number of readings.
        readings: usize,
    },
    /// The target is zero or negative.
    #[error("metric target must be positive, got {0}")]
    InvalidTarget(i64),
}

/// The grouping `groupPods` assigns to a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    Ready,
    Unready,
    Missing,
    Ignored,
}

/// Groups one pod the way upstream `groupPods` does. Readiness only matters for CPU.
fn group_pod(
    pod: &PodState,
    sample: Option<&MetricSample>,
    is_cpu: bool,
    timing: &PodTiming,
) -> Group {
    if pod.deleting || pod.phase == PodPhase::Failed {
        return Group::Ignored;
    }
    if pod.phase == PodPhase::Pending {
        return Group::Unready;
    }
    let Some(sample) = sample else {
        return Group::Missing;
    };
    if is_cpu {
        let unready = match (pod.ready, pod.start_time_ms) {
            (None, _) | (_, None) => true,
            (Some(ready), Some(start)) => {
                if start.saturating_add(timing.cpu_initialization_period_ms) > timing.now_ms {
                    // Within the initialization period: distrust the sample unless a full
                    // metric window was collected after the last readiness transition.
                    !ready
                        || sample.timestamp_ms
                            < pod.ready_transition_ms.saturating_add(sample.window_ms)
                } else {
                    // Afterwards: ignore it only if it is unready and has never been ready.
                    !ready
                        && start.saturating_add(timing.delay_of_initial_readiness_ms)
                            > pod.ready_transition_ms
                }
            }
        };
        if unready {
            return Group::Unready;
        }
    }
    Group::Ready
}

fn ceil_to_i32(x: f64) -> i32 {
    // Inside i32's range the truncation is exact, and the ceiling is one
    // more when it dropped a fraction above zero: the same result without
    // the library call (the baseline x86-64 target has no rounding
    // instruction, and a replay takes this path every reconcile).
    if x > i32::MIN as f64 - 1.0 && x < i32::MAX as f64 {
        let t = x as i64;
        let c = if (t as f64) < x { t + 1 } else { t };
        return c as i32;
    }
    library_ceil_to_i32(x)
}

/// The library's ceiling of `x`, bounded to i32 (NaN gives 0): what
/// [`ceil_to_i32`] gives everywhere, by a library call.
fn library_ceil_to_i32(x: f64) -> i32 {
    let c = x.ceil();
    if c >= i32::MAX as f64 {
        i32::MAX
    } else if c <= i32::MIN as f64 {
        i32::MIN
    } else {
        c as i32
    }
}

/// Result of a utilization-target computation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UtilizationProposal {
    /// Proposed replica count.
    pub replicas: i32,
    /// Current utilization, integer percent of request (before fill-in).
    pub utilization_pct: i32,
    /// Average raw value per pod with a sample, in milli-units.
    pub raw_average_milli: i64,
}

/// [`resource_utilization_replicas_runs`] for the replay's commonest case,
/// without building pod views: `count` pods, all ready past the CPU
/// initialization period, each reading `value_milli` against a request of
/// `request_milli` (both positive, `target_pct` positive). The same
/// arithmetic, so the same proposal; a test compares the two.
pub fn settled_utilization_replicas(
    current_replicas: i32,
    target_pct: i32,
    value_milli: i64,
    request_milli: i64,
    count: i64,
    tolerances: &Tolerances,
) -> UtilizationProposal {
    let (replicas, utilization) = settled_replicas(
        current_replicas,
        target_pct,
        value_milli,
        request_milli,
        count,
        tolerances,
    );
    // The mean of `count` equal readings is the reading, unless their sum
    // saturated (or there is no pod).
    let raw_average_milli = if count >= 1 && value_milli.checked_mul(count).is_some() {
        value_milli
    } else {
        value_milli.saturating_mul(count) / count.max(1)
    };
    UtilizationProposal {
        replicas,
        utilization_pct: utilization,
        raw_average_milli,
    }
}

/// The count and the utilization (integer percent) that
/// [`settled_utilization_replicas`] proposes: the same arithmetic, without
/// the raw average the replay never reads, and inlined into its loops.
#[inline(always)]
pub fn settled_replicas(
    current_replicas: i32,
    target_pct: i32,
    value_milli: i64,
    request_milli: i64,
    count: i64,
    tolerances: &Tolerances,
) -> (i32, i32) {
    let utilization = percent_of(
        value_milli.saturating_mul(count),
        request_milli.saturating_mul(count),
    );
    let usage_ratio = utilization as f64 / target_pct as f64;
    let replicas = if tolerances.is_within(usage_ratio) {
        current_replicas
    } else {
        ceil_to_i32(usage_ratio * count as f64)
    };
    (replicas, utilization)
}

/// [`resource_utilization_replicas_runs`] for the replay's commonest case
/// after a scale-up: `ready` settled pods, each reading `value_milli`
/// against a request of `request_milli` (both positive, `target_pct`
/// positive), and `unready` pods the controller counts unready (pending, or
/// ready too recently for a full metric window inside the CPU
/// initialization period), each with the same request. The same
/// arithmetic, so the same proposal; a test compares the two.
pub fn settled_with_unready_replicas(
    current_replicas: i32,
    target_pct: i32,
    value_milli: i64,
    request_milli: i64,
    ready: i64,
    unready: i64,
    tolerances: &Tolerances,
) -> UtilizationProposal {
    let settled = settled_utilization_replicas(
        current_replicas,
        target_pct,
        value_milli,
        request_milli,
        ready,
        tolerances,
    );
    let usage_ratio = settled.utilization_pct as f64 / target_pct as f64;
    if unready <= 0 || usage_ratio <= 1.0 {
        return settled;
    }
    // Scaling up with unready pods: they count as using nothing.
    let metrics_total = value_milli.saturating_mul(ready);
    let requests_total = request_milli
        .saturating_mul(ready)
        .saturating_add(request_milli.saturating_mul(unready));
    let new_ratio = percent_of(metrics_total, requests_total) as f64 / target_pct as f64;
    let current = UtilizationProposal {
        replicas: current_replicas,
        ..settled
    };
    if tolerances.is_within(new_ratio) || new_ratio < 1.0 {
        return current;
    }
    let new_replicas = ceil_to_i32(new_ratio * (ready + unready) as f64);
    if new_ratio > 1.0 && new_replicas < current_replicas {
        return current;
    }
    UtilizationProposal {
        replicas: new_replicas,
        ..settled
    }
}

/// The readings (milli-units per pod) for which settled pods propose no
/// change: [`settled_utilization_replicas`] returns the current count
/// exactly when the reading is inside, so a replay can skip its division
/// there. Computed once per replay from the target, the request and the
/// tolerances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettledBand {
    lo: i64,
    hi: i64,
}

impl SettledBand {
    /// The band for `target_pct` and `request_milli` (both positive), or
    /// `None` when the tolerances leave no band (or are not finite).
    pub fn new(target_pct: i32, request_milli: i64, tolerances: &Tolerances) -> Option<Self> {
        if target_pct <= 0
            || request_milli <= 0
            || !tolerances.scale_down.is_finite()
            || !tolerances.scale_up.is_finite()
        {
            return None;
        }
        let within = |u: i64| tolerances.is_within(u as f64 / f64::from(target_pct));
        let target = f64::from(target_pct);
        // The utilizations inside form one interval (the ratio grows with
        // them); find its ends by the controller's own test.
        let lo_guess = ((target * (1.0 - tolerances.scale_down)).floor() as i64 - 2).max(0);
        let hi_guess = (target * (1.0 + tolerances.scale_up)).ceil() as i64 + 2;
        if hi_guess < lo_guess || hi_guess - lo_guess > 1_000_000 {
            return None;
        }
        let u_lo = (lo_guess..=hi_guess).find(|u| within(*u))?;
        let u_hi = (u_lo..=hi_guess).rev().find(|u| within(*u))?;
        if u_lo == lo_guess && u_lo > 0 || u_hi == hi_guess {
            return None;
        }
        // floor(100 v / r) >= u_lo  <=>  v >= ceil(u_lo r / 100);
        // floor(100 v / r) <= u_hi  <=>  v < (u_hi + 1) r / 100.
        let r = i128::from(request_milli);
        let ceil_div = |a: i128| (a + 99).div_euclid(100);
        let lo = ceil_div(i128::from(u_lo) * r);
        let hi = ceil_div(i128::from(u_hi + 1) * r) - 1;
        Some(SettledBand {
            lo: i64::try_from(lo).ok()?,
            hi: i64::try_from(hi).ok()?,
        })
    }

    /// The lowest and highest reading inside the band, milli-units.
    pub fn range(&self) -> (i64, i64) {
        (self.lo, self.hi)
    }

    /// Whether `count` settled pods reading `value_milli` each (against the
    /// band's request) propose the current count.
    pub fn holds(&self, value_milli: i64, request_milli: i64, count: i64) -> bool {
        value_milli >= self.lo
            && value_milli <= self.hi
            && value_milli.checked_mul(count).is_some()
            && request_milli.checked_mul(count).is_some()
    }
}

/// `metrics × 100 / requests` as an integer percentage, computed without
/// overflow for any input (Go's int64 arithmetic would wrap; hostile or
/// mistyped inputs must not panic or wrap here) and clamped to `i32`.
fn percent_of(metrics: i64, requests: i64) -> i32 {
    // 64-bit division when `metrics * 100` fits (always, in practice): the
    // same truncated quotient as the 128-bit one, at a fraction of the cost.
    let p = match metrics
        .checked_mul(100)
        .and_then(|m| m.checked_div(requests))
    {
        Some(p) => i128::from(p),
        None => i128::from(metrics) * 100 / i128::from(requests),
    };
    p.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
}

/// `GetResourceUtilizationRatio`: entries are `(request, value)`; entries without a
/// request are superfluous samples and skipped.
fn utilization_ratio(
    entries: &[(Option<i64>, i64)],
    target_pct: i32,
) -> Result<(f64, i32, i64), ReplicaCalcError> {
    let mut metrics_total: i64 = 0;
    let mut requests_total: i64 = 0;
    let mut n: i64 = 0;
    for (request, value) in entries {
        if let Some(request) = request {
            metrics_total = metrics_total.saturating_add(*value);
            requests_total = requests_total.saturating_add(*request);
            n += 1;
        }
    }
    if requests_total == 0 {
        return Err(ReplicaCalcError::NoMatchingPods);
    }
    let utilization = percent_of(metrics_total, requests_total);
    Ok((
        utilization as f64 / target_pct as f64,
        utilization,
        metrics_total / n,
    ))
}

fn check_lengths(pods: &[PodState], readings: &[PodReading]) -> Result<(), ReplicaCalcError> {
    if pods.len() != readings.len() {
        return Err(ReplicaCalcError::ReadingsMismatch {
            pods: pods.len(),
            readings: readings.len(),
        });
    }
    Ok(())
}

/// Replica proposal for a resource metric with a `Utilization` target
/// (`GetResourceReplicas`).
///
/// `readings[i]` belongs to `pods[i]`; `unmatched` are samples the metrics API returned
/// for pods that are not in the list (they count as metric entries but have no request).
/// `resource` names the resource for messages; readiness rules apply only to `cpu`.
///
/// # Errors
/// Every [`ReplicaCalcError`] the upstream function can return: no samples at all, no
/// pods, only unusable samples, a missing request, samples disjoint from the pods.
#[allow(clippy::too_many_arguments)]
pub fn resource_utilization_replicas(
    current_replicas: i32,
    target_pct: i32,
    resource: &str,
    pods: &[PodState],
    readings: &[PodReading],
    unmatched: &[i64],
    tolerances: &Tolerances,
    timing: &PodTiming,
) -> Result<UtilizationProposal, ReplicaCalcError> {
    check_lengths(pods, readings)?;
    if target_pct <= 0 {
        return Err(ReplicaCalcError::InvalidTarget(target_pct as i64));
    }
    if unmatched.is_empty() && readings.iter().all(|r| r.sample.is_none()) {
        return Err(ReplicaCalcError::NoResourceMetrics {
            resource: resource.to_string(),
        });
    }
    if pods.is_empty() {
        return Err(ReplicaCalcError::NoPods);
    }
    let is_cpu = resource == "cpu";
    let groups: Vec<Group> = pods
        .iter()
        .zip(readings)
        .map(|(p, r)| group_pod(p, r.sample.as_ref(), is_cpu, timing))
        .collect();
    let ready_count = groups.iter().filter(|g| **g == Group::Ready).count();
    let unready_count = groups.iter().filter(|g| **g == Group::Unready).count();
    let missing_count = groups.iter().filter(|g| **g == Group::Missing).count();

    // The metric map after removing ignored and unready pods.
    let mut entries: Vec<(Option<i64>, i64)> = Vec::with_capacity(pods.len() + unmatched.len());
    for (g, r) in groups.iter().zip(readings) {
        if *g == Group::Ready {
            if let Some(s) = r.sample {
                entries.push((r.request_milli, s.value_milli));
            }
        }
    }
    entries.extend(unmatched.iter().map(|v| (None, *v)));
    if entries.is_empty() {
        return Err(ReplicaCalcError::NoUsableMetrics);
    }
    // calculateRequests fails on any pod whose selected containers lack a request.
    let mut requests = Vec::with_capacity(pods.len());
    for (i, r) in readings.iter().enumerate() {
        match r.request_milli {
            Some(v) => requests.push(v),
            None => {
                return Err(ReplicaCalcError::MissingRequest {
                    resource: resource.to_string(),
                    pod: i,
                })
            }
        }
    }
    let (usage_ratio, utilization, raw) = utilization_ratio(&entries, target_pct)?;
    let proposal = |replicas| UtilizationProposal {
        replicas,
        utilization_pct: utilization,
        raw_average_milli: raw,
    };

    let scale_up_with_unready = unready_count > 0 && usage_ratio > 1.0;
    if !scale_up_with_unready && missing_count == 0 {
        if tolerances.is_within(usage_ratio) {
            return Ok(proposal(current_replicas));
        }
        return Ok(proposal(ceil_to_i32(usage_ratio * ready_count as f64)));
    }

    for (i, g) in groups.iter().enumerate() {
        match g {
            Group::Missing if usage_ratio < 1.0 => {
                // Scale down: assume 100% of request, or the target when it is above 100%.
                let fallback = i64::from(target_pct.max(100));
                entries.push((
                    Some(requests[i]),
                    requests[i].saturating_mul(fallback) / 100,
                ));
            }
            Group::Missing if usage_ratio > 1.0 => entries.push((Some(requests[i]), 0)),
            Group::Unready if scale_up_with_unready => entries.push((Some(requests[i]), 0)),
            _ => {}
        }
    }
    let (new_ratio, _, _) = utilization_ratio(&entries, target_pct)?;
    if tolerances.is_within(new_ratio)
        || (usage_ratio < 1.0 && new_ratio > 1.0)
        || (usage_ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(proposal(current_replicas));
    }
    let new_replicas = ceil_to_i32(new_ratio * entries.len() as f64);
    if (new_ratio < 1.0 && new_replicas > current_replicas)
        || (new_ratio > 1.0 && new_replicas < current_replicas)
    {
        return Ok(proposal(current_replicas));
    }
    Ok(proposal(new_replicas))
}

/// A run of pods the controller cannot tell apart: the same state and the
/// same reading, `count` times. The replay groups its pods into runs so that
/// a reconcile costs the number of runs, not the number of pods.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PodRun {
    /// State of every pod of the run.
    pub pod: PodState,
    /// Reading of every pod of the run.
    pub reading: PodReading,
    /// Pods in the run.
    pub count: u32,
}

/// [`resource_utilization_replicas`] over runs of identical pods, with no
/// unmatched samples: the same result as expanding every run into `count`
/// pods (the sums are integer milli-units, so grouping changes nothing).
///
/// # Errors
/// As [`resource_utilization_replicas`].
pub fn resource_utilization_replicas_runs(
    current_replicas: i32,
    target_pct: i32,
    resource: &str,
    runs: &[PodRun],
    tolerances: &Tolerances,
    timing: &PodTiming,
) -> Result<UtilizationProposal, ReplicaCalcError> {
    if target_pct <= 0 {
        return Err(ReplicaCalcError::InvalidTarget(target_pct as i64));
    }
    if runs
        .iter()
        .all(|r| r.count == 0 || r.reading.sample.is_none())
    {
        return Err(ReplicaCalcError::NoResourceMetrics {
            resource: resource.to_string(),
        });
    }
    let is_cpu = resource == "cpu";
    let mut ready_count: i64 = 0;
    let mut unready_count: i64 = 0;
    let mut missing_count: i64 = 0;
    // Sums over the ready pods with samples (and a request).
    let (mut metrics_total, mut requests_total, mut entries): (i64, i64, i64) = (0, 0, 0);
    let mut sampled_ready = 0i64;
    let mut missing_request: Option<usize> = None;
    let mut pod_index = 0usize;
    for r in runs {
        let n = i64::from(r.count);
        if n == 0 {
            continue;
        }
        if r.reading.request_milli.is_none() && missing_request.is_none() {
            missing_request = Some(pod_index);
        }
        pod_index += r.count as usize;
        match group_pod(&r.pod, r.reading.sample.as_ref(), is_cpu, timing) {
            Group::Ready => {
                ready_count += n;
                if let Some(s) = r.reading.sample {
                    sampled_ready += n;
                    if let Some(request) = r.reading.request_milli {
                        metrics_total =
                            metrics_total.saturating_add(s.value_milli.saturating_mul(n));
                        requests_total = requests_total.saturating_add(request.saturating_mul(n));
                        entries += n;
                    }
                }
            }
            Group::Unready => unready_count += n,
            Group::Missing => missing_count += n,
            Group::Ignored => {}
        }
    }
    if sampled_ready == 0 {
        return Err(ReplicaCalcError::NoUsableMetrics);
    }
    if let Some(pod) = missing_request {
        return Err(ReplicaCalcError::MissingRequest {
            resource: resource.to_string(),
            pod,
        });
    }
    let ratio = |metrics: i64, requests: i64| -> Result<(f64, i32), ReplicaCalcError> {
        if requests == 0 {
            return Err(ReplicaCalcError::NoMatchingPods);
        }
        let utilization = percent_of(metrics, requests);
        Ok((utilization as f64 / target_pct as f64, utilization))
    };
    let (usage_ratio, utilization) = ratio(metrics_total, requests_total)?;
    let raw_average_milli = metrics_total / entries.max(1);
    let proposal = |replicas| UtilizationProposal {
        replicas,
        utilization_pct: utilization,
        raw_average_milli,
    };
    let scale_up_with_unready = unready_count > 0 && usage_ratio > 1.0;
    if !scale_up_with_unready && missing_count == 0 {
        if tolerances.is_within(usage_ratio) {
            return Ok(proposal(current_replicas));
        }
        return Ok(proposal(ceil_to_i32(usage_ratio * ready_count as f64)));
    }
    for r in runs {
        let n = i64::from(r.count);
        let Some(request) = r.reading.request_milli else {
            continue;
        };
        match group_pod(&r.pod, r.reading.sample.as_ref(), is_cpu, timing) {
            Group::Missing if usage_ratio < 1.0 => {
                let fallback = i64::from(target_pct.max(100));
                metrics_total = metrics_total
                    .saturating_add((request.saturating_mul(fallback) / 100).saturating_mul(n));
                requests_total = requests_total.saturating_add(request.saturating_mul(n));
                entries += n;
            }
            Group::Missing if usage_ratio > 1.0 => {
                requests_total = requests_total.saturating_add(request.saturating_mul(n));
                entries += n;
            }
            Group::Unready if scale_up_with_unready => {
                requests_total = requests_total.saturating_add(request.saturating_mul(n));
                entries += n;
            }
            _ => {}
        }
    }
    let (new_ratio, _) = ratio(metrics_total, requests_total)?;
    if tolerances.is_within(new_ratio)
        || (usage_ratio < 1.0 && new_ratio > 1.0)
        || (usage_ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(proposal(current_replicas));
    }
    let new_replicas = ceil_to_i32(new_ratio * entries as f64);
    if (new_ratio < 1.0 && new_replicas > current_replicas)
        || (new_ratio > 1.0 && new_replicas < current_replicas)
    {
        return Ok(proposal(current_replicas));
    }
    Ok(proposal(new_replicas))
}

/// Result of a plain (average value) metric computation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueProposal {
    /// Proposed replica count.
    pub replicas: i32,
    /// The usage the status reports (per-pod average or total), milli-units.
    pub usage_milli: i64,
}

fn metric_usage_ratio(values: &[i64], target: i64) -> (f64, i64) {
    let total: i64 = values.iter().fold(0i64, |a, v| a.saturating_add(*v));
    let usage = total / values.len() as i64;
    (usage as f64 / target as f64, usage)
}

/// Replica proposal for a per-pod `AverageValue` target: Pods metrics and resource
/// metrics with an `AverageValue` target (`calcPlainMetricReplicas`).
///
/// `is_cpu` enables the CPU readiness rules (resource `cpu` with an AverageValue
/// target); Pods metrics pass `false`.
///
/// # Errors
/// [`ReplicaCalcError::NoPods`], [`ReplicaCalcError::NoUsableMetrics`],
/// [`ReplicaCalcError::InvalidTarget`] or a length mismatch.
#[allow(clippy::too_many_arguments)]
pub fn plain_metric_replicas(
    current_replicas: i32,
    target_average_milli: i64,
    is_cpu: bool,
    pods: &[PodState],
    readings: &[PodReading],
    unmatched: &[i64],
    tolerances: &Tolerances,
    timing: &PodTiming,
) -> Result<ValueProposal, ReplicaCalcError> {
    check_lengths(pods, readings)?;
    if target_average_milli <= 0 {
        return Err(ReplicaCalcError::InvalidTarget(target_average_milli));
    }
    if pods.is_empty() {
        return Err(ReplicaCalcError::NoPods);
    }
    let groups: Vec<Group> = pods
        .iter()
        .zip(readings)
        .map(|(p, r)| group_pod(p, r.sample.as_ref(), is_cpu, timing))
        .collect();
    let ready_count = groups.iter().filter(|g| **g == Group::Ready).count();
    let unready_count = groups.iter().filter(|g| **g == Group::Unready).count();
    let missing_count = groups.iter().filter(|g| **g == Group::Missing).count();
    let mut values: Vec<i64> = groups
        .iter()
        .zip(readings)
        .filter(|(g, _)| **g == Group::Ready)
        .filter_map(|(_, r)| r.sample.map(|s| s.value_milli))
        .collect();
    values.extend_from_slice(unmatched);
    if values.is_empty() {
        return Err(ReplicaCalcError::NoUsableMetrics);
    }
    let (usage_ratio, usage) = metric_usage_ratio(&values, target_average_milli);
    let proposal = |replicas| ValueProposal {
        replicas,
        usage_milli: usage,
    };
    let scale_up_with_unready = unready_count > 0 && usage_ratio > 1.0;
    if !scale_up_with_unready && missing_count == 0 {
        if tolerances.is_within(usage_ratio) {
            return Ok(proposal(current_replicas));
        }
        return Ok(proposal(ceil_to_i32(usage_ratio * ready_count as f64)));
    }
    for g in &groups {
        match g {
            Group::Missing if usage_ratio < 1.0 => values.push(target_average_milli),
            Group::Missing if usage_ratio > 1.0 => values.push(0),
            Group::Unready if scale_up_with_unready => values.push(0),
            _ => {}
        }
    }
    let (new_ratio, _) = metric_usage_ratio(&values, target_average_milli);
    if tolerances.is_within(new_ratio)
        || (usage_ratio < 1.0 && new_ratio > 1.0)
        || (usage_ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(proposal(current_replicas));
    }
    let new_replicas = ceil_to_i32(new_ratio * values.len() as f64);
    if (new_ratio < 1.0 && new_replicas > current_replicas)
        || (new_ratio > 1.0 && new_replicas < current_replicas)
    {
        return Ok(proposal(current_replicas));
    }
    Ok(proposal(new_replicas))
}

/// Number of pods that are Running and Ready (`getReadyPodsCount`).
///
/// # Errors
/// [`ReplicaCalcError::NoPods`] when the list is empty.
pub fn ready_pods_count(pods: &[PodState]) -> Result<i64, ReplicaCalcError> {
    if pods.is_empty() {
        return Err(ReplicaCalcError::NoPods);
    }
    Ok(pods.iter().filter(|p| p.is_running_and_ready()).count() as i64)
}

/// Replica proposal for a `Value` target on an Object or External metric
/// (`getUsageRatioReplicaCount`): `ceil(ratio × ready pods)`, or `ceil(ratio)` from zero.
///
/// # Errors
/// [`ReplicaCalcError::InvalidTarget`], or [`ReplicaCalcError::NoPods`] when the
/// current count is not zero and the pod list is empty.
pub fn value_replicas(
    current_replicas: i32,
    usage_milli: i64,
    target_milli: i64,
    pods: &[PodState],
    tolerances: &Tolerances,
) -> Result<ValueProposal, ReplicaCalcError> {
    if target_milli <= 0 {
        return Err(ReplicaCalcError::InvalidTarget(target_milli));
    }
    let ratio = usage_milli as f64 / target_milli as f64;
    let replicas = if current_replicas != 0 {
        if tolerances.is_within(ratio) {
            current_replicas
        } else {
            ceil_to_i32(ratio * ready_pods_count(pods)? as f64)
        }
    } else {
        ceil_to_i32(ratio)
    };
    Ok(ValueProposal {
        replicas,
        usage_milli,
    })
}

/// Replica proposal for an `AverageValue` target on an Object or External metric
/// (`GetObjectPerPodMetricReplicas` / `GetExternalPerPodMetricReplicas`):
/// `ceil(total / per-pod target)` unless `total / (target × status replicas)` is within
/// tolerance. The reported usage is `ceil(total / status replicas)`.
///
/// # Errors
/// [`ReplicaCalcError::InvalidTarget`] for a non-positive target.
pub fn average_value_replicas(
    status_replicas: i32,
    total_milli: i64,
    target_average_milli: i64,
    tolerances: &Tolerances,
) -> Result<ValueProposal, ReplicaCalcError> {
    if target_average_milli <= 0 {
        return Err(ReplicaCalcError::InvalidTarget(target_average_milli));
    }
    let mut replicas = status_replicas;
    let ratio = total_milli as f64 / (target_average_milli as f64 * status_replicas as f64);
    if !tolerances.is_within(ratio) {
        replicas = ceil_to_i32(total_milli as f64 / target_average_milli as f64);
    }
    let usage_milli = if status_replicas == 0 {
        total_milli
    } else {
        (total_milli as f64 / status_replicas as f64).ceil() as i64
    };
    Ok(ValueProposal {
        replicas,
        usage_milli,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_matches_the_library_ceil() {
        let mut values = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            1e-300,
            -1e-300,
            f64::EPSILON,
            i32::MAX as f64,
            i32::MAX as f64 - 0.5,
            i32::MIN as f64,
            i32::MIN as f64 - 0.5,
            i32::MIN as f64 - 1.0,
            1e300,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for k in -4000..4000 {
            let v = f64::from(k) / 16.0;
            values.extend([v, v.next_up(), v.next_down()]);
        }
        for x in values {
            assert_eq!(ceil_to_i32(x), library_ceil_to_i32(x), "{x:e}");
        }
    }

    #[test]
    fn the_settled_band_holds_exactly_where_the_controller_keeps_the_count() {
        let tolerances = [
            Tolerances::default(),
            Tolerances::symmetric(0.0),
            Tolerances {
                scale_down: 0.25,
                scale_up: 0.05,
            },
        ];
        let mut inside = 0;
        let mut outside = 0;
        for tol in &tolerances {
            for target in [1, 37, 50, 70, 85, 100, 250] {
                for request in [1, 3, 250, 333, 500, 1000, 4000] {
                    let band = SettledBand::new(target, request, tol).expect("a band");
                    for count in [1i64, 3, 40] {
                        let current = count as i32 + 5;
                        for value in 0..(request * 4 * i64::from(target) / 100 + 50) {
                            let p = settled_utilization_replicas(
                                current, target, value, request, count, tol,
                            );
                            let holds = band.holds(value, request, count);
                            let within =
                                tol.is_within(f64::from(p.utilization_pct) / f64::from(target));
                            assert_eq!(
                                holds, within,
                                "{value} of {request} x{count}, target {target}, {tol:?}"
                            );
                            if holds {
                                assert_eq!(p.replicas, current);
                            }
                            if holds {
                                inside += 1;
                            } else {
                                outside += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(
            inside > 1000 && outside > 1000,
            "{inside} inside, {outside} outside"
        );
    }

    #[test]
    fn the_settled_shortcut_proposes_what_the_pod_runs_path_proposes() {
        // One run of ready pods, settled past the initialization period.
        let pod = PodState {
            phase: PodPhase::Running,
            deleting: false,
            ready: Some(true),
            start_time_ms: Some(0),
            ready_transition_ms: 0,
        };
        let timing = PodTiming::at(3_600_000);
        let tolerances = [Tolerances::default(), Tolerances::symmetric(0.0)];
        let mut compared = 0;
        for tol in &tolerances {
            for target in [1, 50, 70, 85, 100, 250] {
                for request in [1, 250, 500, 1000, 4000] {
                    for count in [1u32, 2, 7, 40, 1000] {
                        for current in [1, count as i32, count as i32 + 3] {
                            for value in [0, 1, 120, 349, 350, 351, 499, 1000, 3999, i64::MAX / 2] {
                                let run = PodRun {
                                    pod,
                                    reading: cpu(value, request),
                                    count,
                                };
                                let want = resource_utilization_replicas_runs(
                                    current,
                                    target,
                                    "cpu",
                                    &[run],
                                    tol,
                                    &timing,
                                )
                                .expect("one ready sampled run");
                                let got = settled_utilization_replicas(
                                    current,
                                    target,
                                    value,
                                    request,
                                    i64::from(count),
                                    tol,
                                );
                                assert_eq!(
                                    got, want,
                                    "{value} of {request} x{count}, target {target}"
                                );
                                assert_eq!(
                                    settled_replicas(
                                        current,
                                        target,
                                        value,
                                        request,
                                        i64::from(count),
                                        tol,
                                    ),
                                    (want.replicas, want.utilization_pct),
                                    "count alone: {value} of {request} x{count}, target {target}"
                                );
                                compared += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(compared > 4000);
    }

    #[test]
    fn settled_pods_with_unready_ones_propose_what_the_pod_runs_path_proposes() {
        // Settled pods ready for an hour, and new pods either still pending
        // or ready for 30 s (inside the CPU initialization period, so their
        // first sample does not cover a whole window yet).
        let now_ms = 3_600_000;
        let settled = PodState::running_ready();
        let pending = (
            PodState::pending(),
            PodReading {
                request_milli: None,
                sample: None,
            },
        );
        let warming = (
            PodState {
                phase: PodPhase::Running,
                deleting: false,
                ready: Some(true),
                start_time_ms: Some(now_ms - 30_000),
                ready_transition_ms: now_ms - 30_000,
            },
            PodReading {
                request_milli: None,
                sample: Some(MetricSample {
                    value_milli: 77,
                    timestamp_ms: now_ms,
                    window_ms: 60_000,
                }),
            },
        );
        let timing = PodTiming::at(now_ms);
        let tolerances = [Tolerances::default(), Tolerances::symmetric(0.0)];
        let (mut compared, mut moved) = (0, 0);
        for tol in &tolerances {
            for target in [1, 50, 70, 85, 100, 250] {
                for request in [1, 250, 500, 1000] {
                    for (ready, unready) in [(1u32, 1u32), (2, 2), (7, 1), (7, 9), (40, 40)] {
                        for current in [ready as i32 + unready as i32, ready as i32 + 3] {
                            for value in [0, 1, 120, 349, 350, 351, 499, 700, 1000, 3999] {
                                for (pod, mut reading) in [pending, warming] {
                                    reading.request_milli = Some(request);
                                    let runs = [
                                        PodRun {
                                            pod: settled,
                                            reading: cpu(value, request),
                                            count: ready,
                                        },
                                        PodRun {
                                            pod,
                                            reading,
                                            count: unready,
                                        },
                                    ];
                                    let want = resource_utilization_replicas_runs(
                                        current, target, "cpu", &runs, tol, &timing,
                                    )
                                    .expect("ready sampled pods");
                                    let got = settled_with_unready_replicas(
                                        current,
                                        target,
                                        value,
                                        request,
                                        i64::from(ready),
                                        i64::from(unready),
                                        tol,
                                    );
                                    assert_eq!(
                                        got, want,
                                        "{value} of {request}, {ready} ready + {unready}, target {target}"
                                    );
                                    compared += 1;
                                    if got.replicas != current {
                                        moved += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(
            compared > 4000 && moved > 1000,
            "{compared} compared, {moved} moved"
        );
    }

    fn cpu(v: i64, req: i64) -> PodReading {
        PodReading {
            request_milli: Some(req),
            sample: Some(MetricSample {
                value_milli: v,
                timestamp_ms: 1_000_000,
                window_ms: 60_000,
            }),
        }
    }

    #[test]
    fn scale_up_is_ceil_of_ratio_times_ready_pods() {
        let pods = vec![PodState::running_ready(); 3];
        let readings = vec![cpu(300, 1000), cpu(500, 1000), cpu(700, 1000)];
        let p = resource_utilization_replicas(
            3,
            30,
            "cpu",
            &pods,
            &readings,
            &[],
            &Tolerances::default(),
            &PodTiming::at(1_000_000),
        )
        .expect("valid input");
        // 1500/3000 = 50% vs 30% -> ratio 1.667 -> ceil(5.0) = 5
        assert_eq!(p.replicas, 5);
        assert_eq!(p.utilization_pct, 50);
    }

    #[test]
    fn within_tolerance_keeps_current() {
        let pods = vec![PodState::running_ready(); 2];
        let readings = vec![cpu(1050, 1000), cpu(1050, 1000)];
        let p = resource_utilization_replicas(
            2,
            100,
            "cpu",
            &pods,
            &readings,
            &[],
            &Tolerances::default(),
            &PodTiming::at(1_000_000),
        )
        .expect("valid input");
        assert_eq!(p.replicas, 2);
    }

    #[test]
    fn missing_metric_counts_as_full_request_on_scale_down() {
        let pods = vec![PodState::running_ready(); 2];
        let readings = vec![
            cpu(100, 1000),
            PodReading {
                request_milli: Some(1000),
                sample: None,
            },
        ];
        // 10% vs 50%: ratio 0.2; fill missing with 1000 -> 1100/2000 = 55% -> ratio 1.1: flips -> keep 2
        let p = resource_utilization_replicas(
            2,
            50,
            "cpu",
            &pods,
            &readings,
            &[],
            &Tolerances::default(),
            &PodTiming::at(1_000_000),
        )
        .expect("valid input");
        assert_eq!(p.replicas, 2);
    }

    #[test]
    fn per_pod_average_value_uses_total_over_target() {
        let p =
            average_value_replicas(5, 6000, 2000, &Tolerances::default()).expect("positive target");
        assert_eq!((p.replicas, p.usage_milli), (3, 1200));
    }

    #[test]
    fn zero_target_is_an_error_not_a_panic() {
        assert!(value_replicas(1, 10, 0, &[], &Tolerances::default()).is_err());
    }
}
