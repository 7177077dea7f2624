//! Replay simulator: a demand series through the HPA model with realistic mechanics.
//!
//! Owns the replay clock and the pods it creates; every scaling decision comes from
//! [`crate::model::HorizontalController::reconcile`] (and, for KEDA, from
//! [`crate::keda::ScaleExecutor`]), so the simulator adds mechanics, never policy.
//!
//! # Mechanics (defaults in [`SimOptions`])
//! - The controller syncs every `sync_period_s` (15 s). Demand is held between series
//!   samples (sample-and-hold at the series step).
//! - New pods are `Pending` for `pod_startup_s` (45 s: scheduling, image pull, start,
//!   readiness probe), then Running and Ready. Scale-down removes not-yet-ready pods
//!   first, then the newest ready pods.
//! - Ready pods share the served demand equally; a pod serves at most
//!   `pod_cpu_limit_cores` (default: its request). The metric a pod reports is the mean
//!   of its share over the last `metric_window_s` (60 s) while it was ready, stamped
//!   "now" with a 60 s window, so the HPA sees demand with a lag, and the model's CPU
//!   initialization rules treat a pod as unready for the first window after it
//!   becomes ready.
//! - Accounting is per sync interval, on the true (not lagged) demand: an interval is
//!   "over target" when demand / (ready × request) exceeds target × (1 + tolerance)
//!   and "saturated" when demand exceeds ready × limit. Replica-hours count all pods,
//!   starting or ready.
//! - KEDA (optional): every sync the scale executor sees "active" when demand exceeds
//!   `activation_cores` or a cron floor is inside its window; with
//!   `minReplicaCount: 0` the target goes to zero after `cooldown_period_s` of
//!   inactivity. Cron floors feed the HPA as External AverageValue metrics with a
//!   target of 1, as KEDA's cron scaler does, so they act as a replica floor.
//!
//! Replays are deterministic: no clock, no randomness.

use std::collections::BTreeMap;

use crate::window::{reading_since, Window};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::keda::{
    Activation, CronCursor, CronError, CronTrigger, ScaleExecutor, ScaledObjectSettings,
    DEFAULT_COOLDOWN_PERIOD_S,
};
use crate::model::{
    Behavior, ControllerConfig, HorizontalController, HpaSpec, MetricReading, MetricSample,
    MetricSource, MetricSpec, MetricTarget, PodPhase, PodReading, PodState, RateDecisions,
    ReconcileInput,
};

/// The simulation could not run.
#[derive(Debug, Error)]
pub enum SimError {
    /// The series has no samples.
    #[error("demand series is empty")]
    EmptySeries,
    /// A configuration value is out of range.
    #[error("autoscaler config: {0}")]
    InvalidConfig(String),
    /// A cron floor is invalid.
    #[error("cron floor #{index}: {source}")]
    Cron {
        /// Index in `keda.cron_floors`.
        index: usize,
        /// The cron error.
        #[source]
        source: CronError,
    },
}

/// Demand in CPU cores at a fixed step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DemandSeries {
    /// Time of the first sample, seconds since the epoch.
    pub start_s: i64,
    /// Step between samples, seconds.
    pub step_s: i64,
    /// Cores needed per sample.
    pub cores: Vec<f64>,
}

impl DemandSeries {
    /// Demand given directly in cores.
    pub fn from_cpu_cores(start_s: i64, step_s: i64, cores: Vec<f64>) -> Self {
        DemandSeries {
            start_s,
            step_s,
            cores: cores
                .into_iter()
                .map(|c| if c.is_finite() { c.max(0.0) } else { 0.0 })
                .collect(),
        }
    }

    /// Demand from utilization (% of request) measured at a known replica count:
    /// `util / 100 × replicas × request_cores`.
    pub fn from_utilization(
        start_s: i64,
        step_s: i64,
        utilization_pct: &[f64],
        measured_replicas: f64,
        request_cores: f64,
    ) -> Self {
        Self::from_cpu_cores(
            start_s,
            step_s,
            utilization_pct
                .iter()
                .map(|u| u / 100.0 * measured_replicas * request_cores)
                .collect(),
        )
    }

    /// Demand from a request rate and the rate one pod serves at 100% of its request:
    /// `rate / per_pod_capacity × request_cores`.
    pub fn from_request_rate(
        start_s: i64,
        step_s: i64,
        rate: &[f64],
        per_pod_capacity: f64,
        request_cores: f64,
    ) -> Self {
        let cap = if per_pod_capacity > 0.0 {
            per_pod_capacity
        } else {
            f64::INFINITY
        };
        Self::from_cpu_cores(
            start_s,
            step_s,
            rate.iter().map(|r| r / cap * request_cores).collect(),
        )
    }

    /// Demand at `t_s` (sample-and-hold; 0 outside the series).
    pub fn at(&self, t_s: i64) -> f64 {
        if t_s < self.start_s || self.step_s <= 0 {
            return 0.0;
        }
        self.cores
            .get(((t_s - self.start_s) / self.step_s) as usize)
            .copied()
            .unwrap_or(0.0)
    }

    /// End of the series (exclusive), seconds since the epoch.
    pub fn end_s(&self) -> i64 {
        self.start_s + self.step_s * self.cores.len() as i64
    }
}

/// A KEDA cron trigger used as a replica floor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronFloor {
    /// IANA time zone.
    pub timezone: String,
    /// Start cron expression.
    pub start: String,
    /// End cron expression.
    pub end: String,
    /// Replicas inside the window.
    pub desired_replicas: i64,
}

/// KEDA ScaledObject settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KedaConfig {
    /// minReplicaCount; 0 enables scale to zero.
    pub min_replica_count: i32,
    /// cooldownPeriod, seconds (KEDA default 300).
    #[serde(default = "default_cooldown")]
    pub cooldown_period_s: i64,
    /// Demand (cores) above which the workload's own trigger counts as active (default 0).
    #[serde(default)]
    pub activation_cores: f64,
    /// Cron floors.
    #[serde(default)]
    pub cron_floors: Vec<CronFloor>,
}

fn default_cooldown() -> i64 {
    DEFAULT_COOLDOWN_PERIOD_S
}

/// The autoscaler configuration being replayed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerConfig {
    /// HPA minReplicas (ignored under KEDA, which uses `max(minReplicaCount, 1)`).
    pub min_replicas: i32,
    /// maxReplicas.
    pub max_replicas: i32,
    /// CPU target, percent of request.
    pub cpu_target_pct: i32,
    /// CPU request per pod, cores.
    pub cpu_request_cores: f64,
    /// HPA behavior; `None` is the legacy controller behavior (5-minute downscale
    /// stabilization, scale-up limit `max(2 × current, 4)`).
    #[serde(default)]
    pub behavior: Option<Behavior>,
    /// KEDA settings, when the workload is a ScaledObject.
    #[serde(default)]
    pub keda: Option<KedaConfig>,
}

impl AutoscalerConfig {
    /// A plain CPU HPA without behavior or KEDA.
    pub fn cpu(
        min_replicas: i32,
        max_replicas: i32,
        cpu_target_pct: i32,
        cpu_request_cores: f64,
    ) -> Self {
        AutoscalerConfig {
            min_replicas,
            max_replicas,
            cpu_target_pct,
            cpu_request_cores,
            behavior: None,
            keda: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::InvalidConfig(m));
        if self.max_replicas < 1 {
            return bad(format!(
                "maxReplicas {} must be at least 1",
                self.max_replicas
            ));
        }
        if let Err(e) = crate::limits::check_replicas(i64::from(self.max_replicas)) {
            return bad(format!("maxReplicas {e}"));
        }
        if self.min_replicas < 0 || self.min_replicas > self.max_replicas {
            return bad(format!(
                "minReplicas {} must be between 0 and maxReplicas {}",
                self.min_replicas, self.max_replicas
            ));
        }
        if !(1..=1000).contains(&self.cpu_target_pct) {
            return bad(format!(
                "CPU target {}% must be between 1 and 1000",
                self.cpu_target_pct
            ));
        }
        if !(self.cpu_request_cores > 0.0 && self.cpu_request_cores.is_finite()) {
            return bad(format!(
                "CPU request {} cores must be positive",
                self.cpu_request_cores
            ));
        }
        if let Some(k) = &self.keda {
            if k.min_replica_count < 0 || k.min_replica_count > self.max_replicas {
                return bad(format!(
                    "KEDA minReplicaCount {} must be between 0 and maxReplicas",
                    k.min_replica_count
                ));
            }
            if !(0..=86_400 * 7).contains(&k.cooldown_period_s) {
                return bad(format!(
                    "KEDA cooldownPeriod {} s must be between 0 and one week",
                    k.cooldown_period_s
                ));
            }
            if !(k.activation_cores >= 0.0 && k.activation_cores.is_finite()) {
                return bad(format!(
                    "KEDA activation {} cores must be finite and not negative",
                    k.activation_cores
                ));
            }
            for (i, f) in k.cron_floors.iter().enumerate() {
                if let Err(e) = crate::limits::check_replicas(f.desired_replicas) {
                    return bad(format!("cron floor #{i}: desiredReplicas {e}"));
                }
            }
        }
        Ok(())
    }
}

/// Replay mechanics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimOptions {
    /// Controller sync period, seconds (default 15).
    pub sync_period_s: i64,
    /// Metric window, seconds (default 60).
    pub metric_window_s: i64,
    /// Time from pod creation to Ready, seconds (default 45).
    pub pod_startup_s: i64,
    /// Most CPU a pod can use, cores; default its request.
    #[serde(default)]
    pub pod_cpu_limit_cores: Option<f64>,
    /// Replicas at the start (all ready); default what the first sample needs at the
    /// target, clamped to the bounds.
    #[serde(default)]
    pub initial_replicas: Option<i32>,
    /// Record the replica count at every series sample.
    #[serde(default)]
    pub record_trajectory: bool,
    /// Controller flags.
    #[serde(skip, default)]
    pub controller: ControllerConfig,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            sync_period_s: 15,
            metric_window_s: 60,
            pod_startup_s: 45,
            pod_cpu_limit_cores: None,
            initial_replicas: None,
            record_trajectory: false,
            controller: ControllerConfig::default(),
        }
    }
}

/// Replica count at one series sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrajectoryPoint {
    /// Seconds since the epoch.
    pub t: i64,
    /// Pods (starting or ready).
    pub replicas: i32,
    /// Ready pods.
    pub ready: i32,
    /// Demand, cores.
    pub demand_cores: f64,
}

/// What a replay produced.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimReport {
    /// Controller syncs simulated.
    pub syncs: u64,
    /// Simulated duration, minutes.
    pub duration_minutes: f64,
    /// Pod-hours, starting pods included.
    pub replica_hours: f64,
    /// Average pod count.
    pub mean_replicas: f64,
    /// Minutes with utilization above target × (1 + tolerance).
    pub minutes_over_target: f64,
    /// Minutes with demand above ready capacity.
    pub minutes_saturated: f64,
    /// Number of scale operations.
    pub scale_events: u64,
    /// Scale-ups among them.
    pub scale_ups: u64,
    /// Scale-downs among them.
    pub scale_downs: u64,
    /// Times a scale went the other way from the previous one (thrashing).
    pub direction_changes: u64,
    /// Largest pod count.
    pub peak_replicas: i32,
    /// Replica count per series sample, when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<Vec<TrajectoryPoint>>,
}

/// How far a replay has come: the running totals of its report. Each only
/// grows as the replay goes on, so each is a lower bound on the final
/// report's (converted the same way: hours = seconds / 3600, minutes =
/// seconds / 60).
#[derive(Clone, Debug, PartialEq)]
pub struct Progress<'a> {
    /// The sync the replay is at (not yet replayed), seconds since the epoch.
    pub at_s: i64,
    /// Pod-seconds so far (a whole number).
    pub replica_seconds: f64,
    /// Seconds over target so far.
    pub seconds_over_target: i64,
    /// Saturated seconds so far.
    pub seconds_saturated: i64,
    /// Direction changes so far.
    pub direction_changes: u64,
    /// The trajectory so far, when one is recorded.
    pub trajectory: &'a [TrajectoryPoint],
}

impl Progress<'_> {
    /// The totals without the trajectory.
    pub fn owned(&self) -> Progress<'static> {
        Progress {
            trajectory: &[],
            ..*self
        }
    }
}

/// What a bounded replay ([`super::fast::simulate_runs_bounded`]) produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Bounded {
    /// It ran to the end.
    Complete {
        /// The report, as [`super::simulate`] gives it.
        report: SimReport,
        /// The lowest and highest count the floor and ceiling were compared
        /// with ([`HorizontalController::counts_bounded`]); `None` for a
        /// KEDA ScaledObject, whose executor also reads the floor.
        counts_bounded: Option<(i32, i32)>,
        /// Where the rate limits or the bounds could change the count, for
        /// a plain HPA (`None` for a KEDA ScaledObject): what
        /// [`same_replay_with_policies`] checks another config's policies
        /// against.
        rate_decisions: Option<RateDecisions>,
    },
    /// Its caller stopped it; the totals up to then.
    Stopped(Progress<'static>),
}

/// Whether a replay under `other` gives, pod for pod, the replay a bounded
/// run under `replayed` completed with `decisions` (its
/// [`Bounded::Complete::rate_decisions`]), on the same series with the same
/// `options`: true when the two are plain HPAs, `other` with a behavior,
/// that differ only in their scaling policies and policy selection (or
/// `replayed` has no behavior and `other`'s windows are the legacy
/// controller's: none up, the downscale flag's down), and `other`'s rate
/// limits decide the same count at every reconcile the log holds
/// ([`RateDecisions::same_under`]). False otherwise, which says nothing
/// either way.
pub fn same_replay_with_policies(
    replayed: &AutoscalerConfig,
    decisions: &RateDecisions,
    other: &AutoscalerConfig,
    options: &SimOptions,
) -> bool {
    let Some(b) = &other.behavior else {
        return false;
    };
    let downscale_window_s = options.controller.downscale_stabilization_s;
    let (up_window_s, down_window_s) = match &replayed.behavior {
        Some(a) => (
            a.scale_up_window_s(),
            i64::from(a.scale_down_window_s(downscale_window_s)),
        ),
        None => (0, downscale_window_s),
    };
    let same_rest = replayed.keda.is_none()
        && other.keda.is_none()
        && replayed.min_replicas == other.min_replicas
        && replayed.max_replicas == other.max_replicas
        && replayed.cpu_target_pct == other.cpu_target_pct
        && replayed.cpu_request_cores.to_bits() == other.cpu_request_cores.to_bits()
        && b.scale_up_window_s() == up_window_s
        && i64::from(b.scale_down_window_s(downscale_window_s)) == down_window_s
        && decisions.is_legacy() == replayed.behavior.is_none();
    same_rest
        && decisions.same_under(
            b,
            downscale_window_s,
            other.min_replicas,
            other.max_replicas,
        )
}

/// The reference replay: one [`PodState`] and one reading per pod every
/// sync, exactly as the controller sees a real cluster. Slower than
/// [`super::simulate`], which must give the same report; tests compare the two on
/// real series.
///
/// # Errors
/// [`SimError`] for an empty series, an invalid config or an invalid cron floor.
pub fn simulate_reference(
    series: &DemandSeries,
    config: &AutoscalerConfig,
    options: &SimOptions,
) -> Result<SimReport, SimError> {
    let mut r = Replay::new(series, config, options)?;
    // Pods by readiness time; creation order equals readiness order.
    let mut pods: Vec<i64> = vec![r.start - options.pod_startup_s; r.initial.max(0) as usize];
    let mut shares: Window<(i64, f64)> = Window::default();
    let mut input = ReconcileInput {
        spec_replicas: 0,
        status_replicas: 0,
        pods: vec![],
        metrics: vec![],
        now_ms: 0,
    };
    let mut t = r.start;
    while t < r.end {
        let ready = pods.iter().filter(|p| **p <= t).count();
        let (demand, share) = r.account(t, pods.len() as i64, ready as i64);
        shares.push_back((t, share));
        while shares
            .front()
            .is_some_and(|(ts, _)| *ts <= t - options.metric_window_s)
        {
            shares.pop_front();
        }
        // KEDA's executor first, then the HPA.
        let current = pods.len() as i32;
        let desired = match r.keda(t, current, demand)? {
            Some(d) => d,
            None => {
                input.spec_replicas = current;
                input.status_replicas = current;
                input.now_ms = t * 1000;
                input.pods.clear();
                let mut readings = match input.metrics.first_mut() {
                    Some(MetricReading::PerPod { readings, .. }) => std::mem::take(readings),
                    _ => Vec::new(),
                };
                readings.clear();
                for &ready_at in &pods {
                    let (pod, reading) = r.pod_view(ready_at, t, &shares);
                    input.pods.push(pod);
                    readings.push(reading);
                }
                input.metrics.clear();
                input.metrics.push(MetricReading::PerPod {
                    readings,
                    unmatched: Vec::new(),
                });
                for total in &r.cron_totals {
                    input.metrics.push(MetricReading::External(vec![*total]));
                }
                r.controller.reconcile(&r.spec, &input).desired_replicas
            }
        };
        if desired != current {
            if desired > current {
                pods.extend(std::iter::repeat_n(
                    t + options.pod_startup_s,
                    (desired - current) as usize,
                ));
            } else {
                pods.truncate(desired.max(0) as usize);
            }
            r.scaled(current, desired, pods.len() as i64);
        }
        t = r.next_sync(t);
    }
    Ok(r.finish())
}

/// What both replays share: the setup, the per-sync accounting, the KEDA
/// step, and a pod's state and reading as the controller sees them. Each
/// replay only keeps its own pods.
pub(crate) struct Replay<'a> {
    series: &'a DemandSeries,
    config: &'a AutoscalerConfig,
    options: &'a SimOptions,
    crons: Vec<CronTrigger>,
    limit: f64,
    request_milli: i64,
    /// The HPA the controller reconciles (CPU plus one External metric per
    /// cron floor).
    pub(crate) spec: HpaSpec,
    settings: Option<ScaledObjectSettings>,
    executor: ScaleExecutor,
    /// The controller and its history.
    pub(crate) controller: HorizontalController,
    /// First and end (exclusive) second of the replay.
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// Pods at the start, all ready.
    pub(crate) initial: i32,
    /// This sync's cron metric totals as the HPA reads them (the replicas
    /// each floor asks for, milli-units), one per cron floor.
    pub(crate) cron_totals: Vec<i64>,
    /// Each cron floor's next start and end (sync times never go back).
    cron_cursors: Vec<CronCursor>,
    report: SimReport,
    replica_seconds: f64,
    over_s: i64,
    saturated_s: i64,
    last_direction: i32,
    next_sample: i64,
    /// The sample that holds at the last accounted sync, and when the next
    /// one starts (syncs only move forward, so no division per sync).
    sample_index: usize,
    sample_ends: i64,
    /// The last accounted (sample, ready pods) and their load.
    last_load: Option<(usize, i64, SyncLoad)>,
}

/// One sync's demand against its ready pods.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SyncLoad {
    /// Each ready pod's share of the served demand, cores.
    pub(crate) share: f64,
    /// Demand above what the ready pods can use.
    pub(crate) saturated: bool,
    /// Utilization above the target and its tolerance.
    pub(crate) over_target: bool,
}

impl<'a> Replay<'a> {
    /// Validate the inputs and set the replay up.
    pub(crate) fn new(
        series: &'a DemandSeries,
        config: &'a AutoscalerConfig,
        options: &'a SimOptions,
    ) -> Result<Self, SimError> {
        config.validate()?;
        if series.cores.is_empty() || series.step_s <= 0 {
            return Err(SimError::EmptySeries);
        }
        let span = (series.cores.len() as i64).saturating_mul(series.step_s);
        if series.cores.len() > crate::limits::MAX_SAMPLES || span > crate::limits::MAX_SPAN_SECONDS
        {
            return Err(SimError::InvalidConfig(format!(
                "demand series of {} samples at a {} s step: the limits are {} samples and {} s (400 days)",
                series.cores.len(),
                series.step_s,
                crate::limits::MAX_SAMPLES,
                crate::limits::MAX_SPAN_SECONDS
            )));
        }
        if let Err(e) = crate::limits::check_unix_seconds(series.start_s) {
            return Err(SimError::InvalidConfig(format!("series start {e}")));
        }
        if options.sync_period_s <= 0 || options.metric_window_s < 0 || options.pod_startup_s < 0 {
            return Err(SimError::InvalidConfig(
                "sync period must be positive; window and start-up delay must not be negative"
                    .into(),
            ));
        }
        let crons = cron_triggers(config)?;
        let request = config.cpu_request_cores;
        let hpa_min = match &config.keda {
            Some(k) => k.min_replica_count.max(1),
            None => config.min_replicas,
        };
        let mut metrics = vec![MetricSpec::cpu_utilization(config.cpu_target_pct)];
        for (i, c) in crons.iter().enumerate() {
            metrics.push(MetricSpec {
                source: MetricSource::External {
                    name: c.metric_name(i),
                },
                target: MetricTarget::AverageValue(1000),
            });
        }
        let start = series.start_s;
        let d0 = series.at(start);
        let initial = options.initial_replicas.unwrap_or_else(|| {
            let need = (d0 / (request * f64::from(config.cpu_target_pct) / 100.0)).ceil() as i32;
            let floor = match &config.keda {
                Some(k) if k.min_replica_count == 0 && d0 <= k.activation_cores => 0,
                _ => hpa_min,
            };
            need.clamp(floor, config.max_replicas)
        });
        Ok(Replay {
            series,
            config,
            options,
            cron_totals: Vec::with_capacity(crons.len()),
            cron_cursors: vec![CronCursor::default(); crons.len()],
            crons,
            limit: options
                .pod_cpu_limit_cores
                .filter(|l| *l > 0.0)
                .unwrap_or(request),
            request_milli: (request * 1000.0).round() as i64,
            spec: HpaSpec {
                min_replicas: hpa_min,
                max_replicas: config.max_replicas,
                metrics,
                behavior: config.behavior.clone(),
            },
            settings: config.keda.as_ref().map(|k| ScaledObjectSettings {
                min_replica_count: k.min_replica_count,
                max_replica_count: config.max_replicas,
                cooldown_period_s: k.cooldown_period_s,
            }),
            executor: ScaleExecutor::default(),
            controller: HorizontalController::new(options.controller),
            start,
            end: series.end_s(),
            initial,
            report: SimReport {
                syncs: 0,
                duration_minutes: 0.0,
                replica_hours: 0.0,
                mean_replicas: 0.0,
                minutes_over_target: 0.0,
                minutes_saturated: 0.0,
                scale_events: 0,
                scale_ups: 0,
                scale_downs: 0,
                direction_changes: 0,
                peak_replicas: initial.max(0),
                trajectory: options
                    .record_trajectory
                    .then(|| Vec::with_capacity(series.cores.len())),
            },
            replica_seconds: 0.0,
            over_s: 0,
            saturated_s: 0,
            last_direction: 0,
            next_sample: start,
            sample_index: 0,
            sample_ends: start.saturating_add(series.step_s),
            last_load: None,
        })
    }

    /// Account the sync at `t` with `total` pods of which `ready` are ready
    /// (trajectory, replica-seconds, saturation, time over target); returns
    /// the demand and each ready pod's share of the served demand.
    pub(crate) fn account(&mut self, t: i64, total: i64, ready: i64) -> (f64, f64) {
        // `series.at(t)` for a `t` at or after the last one.
        while self.sample_ends <= t {
            self.sample_index += 1;
            self.sample_ends = self.sample_ends.saturating_add(self.series.step_s);
        }
        let demand = self
            .series
            .cores
            .get(self.sample_index)
            .copied()
            .unwrap_or(0.0);
        // Within a sample the demand holds, so while the ready count does
        // too, the share and both flags are the last sync's.
        let load = match self.last_load {
            Some((index, r, load)) if index == self.sample_index && r == ready => load,
            _ => {
                let load = self.load(demand, ready);
                self.last_load = Some((self.sample_index, ready, load));
                load
            }
        };
        self.trace_through(t, total, ready);
        let dt = self.options.sync_period_s.min(self.end - t);
        self.replica_seconds += total as f64 * dt as f64;
        if load.saturated {
            self.saturated_s += dt;
        }
        if load.over_target {
            self.over_s += dt;
        }
        let share = load.share;
        (demand, share)
    }

    /// Account syncs that [`Replay::account`] was not called for (their
    /// trajectory recorded with [`Replay::trace_through`]), all with `total`
    /// pods: `syncs` of them, `seconds` long in all, of which
    /// `seconds_over` over the target and `seconds_saturated` saturated.
    pub(crate) fn account_unseen(
        &mut self,
        syncs: u64,
        total: i64,
        seconds: i64,
        seconds_over: i64,
        seconds_saturated: i64,
    ) {
        // Whole replica-seconds: exact in any order below 2^53.
        self.replica_seconds += (total * seconds) as f64;
        self.over_s += seconds_over;
        self.saturated_s += seconds_saturated;
        self.report.syncs += syncs;
    }

    /// Record the trajectory's points for the samples that began by the
    /// sync at `at` (not accounted by [`Replay::account`]), with `total`
    /// pods of which `ready` are ready, as [`Replay::account`] would.
    pub(crate) fn trace_through(&mut self, at: i64, total: i64, ready: i64) {
        if let Some(traj) = self.report.trajectory.as_mut() {
            while self.next_sample <= at {
                traj.push(TrajectoryPoint {
                    t: self.next_sample,
                    replicas: total as i32,
                    ready: ready as i32,
                    demand_cores: self.series.cores.get(traj.len()).copied().unwrap_or(0.0),
                });
                self.next_sample += self.series.step_s;
            }
        }
    }

    /// What a pod serves at most, cores.
    pub(crate) fn limit(&self) -> f64 {
        self.limit
    }

    /// What `demand` means for `ready` pods: each one's share of the served
    /// demand, and whether they are saturated or over the target.
    pub(crate) fn load(&self, demand: f64, ready: i64) -> SyncLoad {
        let capacity = ready as f64 * self.limit;
        let share = if ready > 0 {
            demand.min(capacity) / ready as f64
        } else {
            0.0
        };
        let util_pct = if ready > 0 {
            demand / (ready as f64 * self.config.cpu_request_cores) * 100.0
        } else if demand > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        let tol = self.options.controller.tolerances.scale_up;
        SyncLoad {
            share,
            saturated: demand > capacity + 1e-9,
            over_target: util_pct > f64::from(self.config.cpu_target_pct) * (1.0 + tol) + 1e-9,
        }
    }

    /// The cron values of this sync and KEDA's executor: `Some(desired)`
    /// when KEDA sets the count itself, `None` when the HPA decides.
    pub(crate) fn keda(
        &mut self,
        t: i64,
        current: i32,
        demand: f64,
    ) -> Result<Option<i32>, SimError> {
        let cron_active = self.crons_at(t)?;
        let (Some(s), Some(k)) = (&self.settings, &self.config.keda) else {
            return Ok(None);
        };
        let active = demand > k.activation_cores || cron_active;
        Ok(match self.executor.poll(s, current, active, t) {
            Activation::HpaControls => None,
            Activation::Activate(n) | Activation::RaiseToMin(n) => Some(n),
            Activation::ScaleToZero => Some(0),
            Activation::StayAtZero => Some(current),
        })
    }

    /// Evaluates every cron floor at `t` into `cron_totals`; whether any is
    /// active.
    ///
    /// # Errors
    /// [`SimError::Cron`] for a schedule that never fires.
    pub(crate) fn crons_at(&mut self, t: i64) -> Result<bool, SimError> {
        self.cron_totals.clear();
        let mut cron_active = false;
        for (c, cursor) in self.crons.iter().zip(self.cron_cursors.iter_mut()) {
            let (v, a) = c
                .metric_and_activity_at(t, cursor, 0, i64::from(self.config.max_replicas))
                .map_err(|source| SimError::Cron {
                    index: self.cron_totals.len(),
                    source,
                })?;
            self.cron_totals.push(v * 1000);
            cron_active |= a;
        }
        Ok(cron_active)
    }

    /// After [`Replay::crons_at`] at some time: until when every cron
    /// floor's value and activity stay as they were then (no end for a
    /// replay without cron floors).
    pub(crate) fn crons_unchanged_until(&self) -> i64 {
        self.cron_cursors
            .iter()
            .map(|c| c.unchanged_until().unwrap_or(i64::MIN))
            .min()
            .unwrap_or(i64::MAX)
    }

    /// Whether KEDA's executor leaves every sync to the HPA while the
    /// count is at least the HPA's floor: no executor, or one that never
    /// scales to zero (it then only raises a count below its floor, and
    /// its memory of the last activity is read only for scaling to zero).
    pub(crate) fn executor_idle_above_floor(&self) -> bool {
        self.settings
            .as_ref()
            .is_none_or(|s| s.min_replica_count >= 1)
    }

    /// How the controller sees a pod that is ready at `ready_at`, at `t`:
    /// its state, and its mean share of the metric window while ready.
    pub(crate) fn pod_view(
        &self,
        ready_at: i64,
        t: i64,
        shares: &Window<(i64, f64)>,
    ) -> (PodState, PodReading) {
        if ready_at <= t {
            (
                PodState {
                    phase: PodPhase::Running,
                    deleting: false,
                    ready: Some(true),
                    start_time_ms: Some(ready_at * 1000),
                    ready_transition_ms: ready_at * 1000,
                },
                PodReading {
                    request_milli: Some(self.request_milli),
                    sample: Some(MetricSample {
                        value_milli: reading_since(shares, ready_at),
                        timestamp_ms: t * 1000,
                        window_ms: self.options.metric_window_s * 1000,
                    }),
                },
            )
        } else {
            (
                PodState::pending(),
                PodReading {
                    request_milli: Some(self.request_milli),
                    sample: None,
                },
            )
        }
    }

    /// Whether the HPA alone decides (no KEDA executor, no cron floor), so
    /// [`Replay::keda`] would return `None` every sync.
    pub(crate) fn hpa_only(&self) -> bool {
        self.settings.is_none() && self.crons.is_empty()
    }

    /// Each pod's CPU request, milli-cores.
    pub(crate) fn request_milli(&self) -> i64 {
        self.request_milli
    }

    /// Count a scale from `current` to `desired`, leaving `total` pods.
    pub(crate) fn scaled(&mut self, current: i32, desired: i32, total: i64) {
        let direction = if desired > current { 1 } else { -1 };
        self.report.scale_events += 1;
        if direction > 0 {
            self.report.scale_ups += 1;
        } else {
            self.report.scale_downs += 1;
        }
        if self.last_direction != 0 && direction != self.last_direction {
            self.report.direction_changes += 1;
        }
        self.last_direction = direction;
        self.report.peak_replicas = self.report.peak_replicas.max(total as i32);
    }

    /// Close the sync at `t`; the next sync's time.
    pub(crate) fn next_sync(&mut self, t: i64) -> i64 {
        self.report.syncs += 1;
        t + self.options.sync_period_s
    }

    /// The running totals before the sync at `t`.
    pub(crate) fn progress(&self, t: i64) -> Progress<'_> {
        Progress {
            at_s: t,
            replica_seconds: self.replica_seconds,
            seconds_over_target: self.over_s,
            seconds_saturated: self.saturated_s,
            direction_changes: self.report.direction_changes,
            trajectory: self.report.trajectory.as_deref().unwrap_or_default(),
        }
    }

    /// The report.
    pub(crate) fn finish(mut self) -> SimReport {
        let duration_s = (self.end - self.start) as f64;
        self.report.duration_minutes = duration_s / 60.0;
        self.report.replica_hours = self.replica_seconds / 3600.0;
        self.report.mean_replicas = if duration_s > 0.0 {
            self.replica_seconds / duration_s
        } else {
            0.0
        };
        self.report.minutes_over_target = self.over_s as f64 / 60.0;
        self.report.minutes_saturated = self.saturated_s as f64 / 60.0;
        self.report
    }
}

/// The KEDA cron floors of `config` as triggers.
pub(crate) fn cron_triggers(config: &AutoscalerConfig) -> Result<Vec<CronTrigger>, SimError> {
    Ok(match &config.keda {
        None => vec![],
        Some(k) => k
            .cron_floors
            .iter()
            .enumerate()
            .map(|(index, c)| {
                let meta: BTreeMap<String, String> = [
                    ("timezone", c.timezone.clone()),
                    ("start", c.start.clone()),
                    ("end", c.end.clone()),
                    ("desiredReplicas", c.desired_replicas.to_string()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                CronTrigger::from_metadata(&meta).map_err(|source| SimError::Cron { index, source })
            })
            .collect::<Result<_, _>>()?,
    })
}

/// Differences `proposed - current`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportDelta {
    /// Replica-hours.
    pub replica_hours: f64,
    /// Replica-hours relative to current, percent (0 when current is 0).
    pub replica_hours_pct: f64,
    /// Minutes over target.
    pub minutes_over_target: f64,
    /// Minutes saturated.
    pub minutes_saturated: f64,
    /// Scale events.
    pub scale_events: i64,
    /// Direction changes.
    pub direction_changes: i64,
    /// Peak replicas.
    pub peak_replicas: i64,
}

/// Two replays side by side.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// Under the current config.
    pub current: SimReport,
    /// Under the proposed config.
    pub proposed: SimReport,
    /// `proposed - current`.
    pub difference: ReportDelta,
}

/// Puts two reports side by side with their difference.
pub fn compare(current: SimReport, proposed: SimReport) -> Comparison {
    let difference = ReportDelta {
        replica_hours: proposed.replica_hours - current.replica_hours,
        replica_hours_pct: if current.replica_hours > 0.0 {
            (proposed.replica_hours - current.replica_hours) / current.replica_hours * 100.0
        } else {
            0.0
        },
        minutes_over_target: proposed.minutes_over_target - current.minutes_over_target,
        minutes_saturated: proposed.minutes_saturated - current.minutes_saturated,
        scale_events: proposed.scale_events as i64 - current.scale_events as i64,
        direction_changes: proposed.direction_changes as i64 - current.direction_changes as i64,
        peak_replicas: i64::from(proposed.peak_replicas) - i64::from(current.peak_replicas),
    };
    Comparison {
        current,
        proposed,
        difference,
    }
}
