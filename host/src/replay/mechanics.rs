//! The replay mechanics of one workload: pod start-up and the metric
//! window, calibrated from the history where it can tell them, Kubernetes'
//! usual values where it cannot, and always stated.
//!
//! **Start-up** (created → ready). Every pod a scale-up adds is counted in
//! `currentReplicas` but not in the ready replicas for its start-up time, so
//! over a history the pod-time spent starting is `pods added × start-up`.
//! Sampled every `step`, the samples see `Σ (current − ready) × step` of it
//! (unbiased when scale-ups fall at random within a sample), so
//! `start-up ≈ step × Σ (current − ready) / pods added`. It needs the ready
//! replicas (not only current), samples at most
//! [`MAX_STEP_FOR_STARTUP_SECONDS`] apart and at least [`MIN_PODS_ADDED`]
//! pods added; the estimate is rounded to the controller's 15 s sync.
//!
//! **Metric window.** Telling how utilization lags demand needs demand
//! measured independently of the utilization, which a snapshot does not
//! have; the window stays at the metrics pipeline's usual 60 s.

use serde::{Deserialize, Serialize};
use stepscale_engine::snapshot::WorkloadSnapshot;
use stepscale_hpa::simulate::SimOptions;

/// Longest sample step a start-up estimate is made at, seconds: at longer
/// steps most scale-ups finish between two samples, and where demand
/// changes at the sample boundaries (as in a replayed or resampled series)
/// none is seen starting at all.
pub const MAX_STEP_FOR_STARTUP_SECONDS: i64 = 120;
/// Least pods added over the history for a start-up estimate.
pub const MIN_PODS_ADDED: f64 = 10.0;
/// Longest start-up the calibration accepts, seconds (longer ones are
/// clamped: a pod that takes longer is likely failing, not starting).
pub const MAX_STARTUP_SECONDS: i64 = 600;
/// Start-up used when the history cannot tell, seconds.
pub const DEFAULT_STARTUP_SECONDS: i64 = 45;
/// Metric window, seconds.
pub const DEFAULT_METRIC_WINDOW_SECONDS: i64 = 60;

/// The replay mechanics a workload's replay uses, and where each value
/// came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mechanics {
    /// Pod start-up (created → ready), seconds.
    pub pod_startup_seconds: i64,
    /// Metric window, seconds.
    pub metric_window_seconds: i64,
    /// Where the values came from, in words.
    pub source: String,
}

impl Default for Mechanics {
    fn default() -> Self {
        Mechanics {
            pod_startup_seconds: DEFAULT_STARTUP_SECONDS,
            metric_window_seconds: DEFAULT_METRIC_WINDOW_SECONDS,
            source: "defaults".into(),
        }
    }
}

impl Mechanics {
    /// The mechanics calibrated from `w`'s history (see the module docs).
    pub fn calibrate(w: &WorkloadSnapshot) -> Mechanics {
        let h = &w.history;
        let window = format!("metric window {DEFAULT_METRIC_WINDOW_SECONDS} s (default)");
        if i64::from(h.step_seconds) > MAX_STEP_FOR_STARTUP_SECONDS {
            return Mechanics {
                source: format!(
                    "start-up {DEFAULT_STARTUP_SECONDS} s (default: samples {} s apart cannot resolve it), {window}",
                    h.step_seconds
                ),
                ..Mechanics::default()
            };
        }
        let Some(ready) = h.replicas_ready.as_deref() else {
            return Mechanics {
                source: format!(
                    "start-up {DEFAULT_STARTUP_SECONDS} s (default: the history has no ready replicas), {window}"
                ),
                ..Mechanics::default()
            };
        };
        let current = super::forward_fill(&h.replicas_current);
        let ready = super::forward_fill(ready);
        let added: f64 = current.windows(2).map(|p| (p[1] - p[0]).max(0.0)).sum();
        if added < MIN_PODS_ADDED {
            return Mechanics {
                source: format!(
                    "start-up {DEFAULT_STARTUP_SECONDS} s (default: {added:.0} pods added, {MIN_PODS_ADDED} needed to calibrate), {window}"
                ),
                ..Mechanics::default()
            };
        }
        let starting: f64 = current
            .iter()
            .zip(&ready)
            .map(|(c, r)| (c - r).max(0.0))
            .sum();
        let estimate = f64::from(h.step_seconds) * starting / added;
        let startup = ((estimate / 15.0).round() as i64 * 15).clamp(0, MAX_STARTUP_SECONDS);
        Mechanics {
            pod_startup_seconds: startup,
            metric_window_seconds: DEFAULT_METRIC_WINDOW_SECONDS,
            source: format!(
                "start-up {startup} s calibrated from {added:.0} pods added (current vs ready replicas), {window}"
            ),
        }
    }

    /// Replay options with these mechanics (trajectory recorded).
    pub fn options(&self) -> SimOptions {
        SimOptions {
            pod_startup_s: self.pod_startup_seconds,
            metric_window_s: self.metric_window_seconds,
            record_trajectory: true,
            ..SimOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::workload;

    #[test]
    fn start_up_is_read_from_pods_counted_but_not_ready() {
        // Every 10 samples of 60 s the count rises by 4 pods; each time one
        // sample shows 2 of them not yet ready (2 pod-samples × 60 s over 4
        // pods = 30 s each).
        let mut w = workload();
        w.history.step_seconds = 60;
        let n = w.history.len();
        let mut current = Vec::with_capacity(n);
        let mut ready = Vec::with_capacity(n);
        let mut c = 2.0;
        for i in 0..n {
            let rising = i % 10 == 0 && i > 0 && c < 200.0;
            if rising {
                c += 4.0;
            }
            current.push(c);
            ready.push(if rising { c - 2.0 } else { c });
        }
        w.history.replicas_current = current;
        w.history.replicas_ready = Some(ready);
        let m = Mechanics::calibrate(&w);
        assert_eq!(m.pod_startup_seconds, 30, "{}", m.source);
        assert!(m.source.contains("calibrated"), "{}", m.source);
    }

    #[test]
    fn without_ready_replicas_the_default_is_used_and_said() {
        let mut w = workload();
        w.history.step_seconds = 60;
        w.history.replicas_ready = None;
        let m = Mechanics::calibrate(&w);
        assert_eq!(m.pod_startup_seconds, DEFAULT_STARTUP_SECONDS);
        assert!(m.source.contains("no ready replicas"), "{}", m.source);
        // Samples 5 minutes apart cannot resolve a start-up of seconds.
        w.history.step_seconds = 300;
        let m = Mechanics::calibrate(&w);
        assert!(m.source.contains("cannot resolve"), "{}", m.source);
    }
}
