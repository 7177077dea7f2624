//! Health during probation: where it comes from ([`HealthSource`]) and the
//! documented rule that judges it ([`judge`]).
//!
//! # The health rule
//! Over the samples taken between `appliedAt` and the end of probation, with
//! the config the operator applied in force:
//! - **over target**: more than [`HealthRule::max_over_target_share`] (10 %)
//!   of CPU samples above the CPU target + `safety.healthCpuMargin`
//!   (percentage points, default 10) → degraded;
//! - **saturation**: more than [`HealthRule::max_saturated_share`] (5 %) of
//!   CPU samples at or above 100 % of the pods' CPU request → degraded;
//! - **pinned at max**: more than [`HealthRule::max_pinned_share`] (5 %) of
//!   samples with current replicas at `maxReplicas` while CPU is above the
//!   target (the ceiling, not the load, decides) → degraded;
//! - fewer than [`HealthRule::min_samples`] (3) usable samples →
//!   inconclusive (the lifecycle waits up to one more window, then rolls
//!   back to be safe);
//! - otherwise healthy.
//!
//! The production source reads the same history as the tick (Prometheus or
//! accumulated HPA status); tests inject real series because the test API
//! server has no metrics pipeline.

use std::sync::Arc;

use futures::future::BoxFuture;
use stepscale_engine::snapshot::MetricHistory;

use crate::crd::phase::Verdict;
use crate::history::source::{window, HistorySource};
use crate::history::HistoryKey;

/// Where probation health comes from.
pub trait HealthSource: Send + Sync {
    /// The samples of `key` between `from` and `to` (Unix seconds);
    /// `None` when there are none.
    fn probation_health<'a>(
        &'a self,
        key: &'a HistoryKey,
        from: i64,
        to: i64,
    ) -> BoxFuture<'a, Option<MetricHistory>>;
}

/// The production health source: the probation window of the tick's history.
pub struct HistoryHealth {
    history: Arc<dyn HistorySource>,
}

impl HistoryHealth {
    /// Health read from `history`.
    pub fn new(history: Arc<dyn HistorySource>) -> Self {
        HistoryHealth { history }
    }
}

impl HealthSource for HistoryHealth {
    fn probation_health<'a>(
        &'a self,
        key: &'a HistoryKey,
        from: i64,
        to: i64,
    ) -> BoxFuture<'a, Option<MetricHistory>> {
        Box::pin(async move {
            let h = self.history.history(key, to).await?;
            window(&h.history, from, to)
        })
    }
}

/// The limits of the health rule (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthRule {
    /// Percentage points above the CPU target that still count as healthy
    /// (`safety.healthCpuMargin`, default 10).
    pub cpu_margin: f64,
    /// Share of samples allowed above target + margin (default 0.10).
    pub max_over_target_share: f64,
    /// Share of samples allowed at or above 100 % CPU (default 0.05).
    pub max_saturated_share: f64,
    /// Share of samples allowed at maxReplicas with CPU above target
    /// (default 0.05).
    pub max_pinned_share: f64,
    /// Fewest usable samples for a verdict (default 3).
    pub min_samples: usize,
}

impl Default for HealthRule {
    fn default() -> Self {
        HealthRule {
            cpu_margin: 10.0,
            max_over_target_share: 0.10,
            max_saturated_share: 0.05,
            max_pinned_share: 0.05,
            min_samples: 3,
        }
    }
}

impl HealthRule {
    /// Set the CPU margin, percentage points.
    pub fn with_cpu_margin(mut self, margin: f64) -> Self {
        self.cpu_margin = margin;
        self
    }
}

fn share(hits: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        hits as f64 / of as f64
    }
}

fn pct(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

/// Judge probation health by the documented rule (module docs), with the
/// applied config's CPU target (if any) and replica ceiling.
pub fn judge(
    h: &MetricHistory,
    cpu_target: Option<u32>,
    max_replicas: u32,
    rule: &HealthRule,
) -> Verdict {
    let cpu: Vec<f64> = h
        .cpu_utilization
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let replicas: Vec<(f64, f64)> = h
        .replicas_current
        .iter()
        .zip(&h.cpu_utilization)
        .filter(|(r, _)| r.is_finite())
        .map(|(r, c)| (*r, *c))
        .collect();
    let usable = cpu.len().max(replicas.len());
    if usable < rule.min_samples {
        return Verdict::Inconclusive {
            reason: format!(
                "only {usable} usable health sample(s) during probation (need {})",
                rule.min_samples
            ),
        };
    }
    let peak = cpu.iter().copied().fold(f64::NAN, f64::max);
    if let Some(target) = cpu_target.map(f64::from) {
        let limit = target + rule.cpu_margin;
        let over = share(cpu.iter().filter(|v| **v > limit).count(), cpu.len());
        if over > rule.max_over_target_share {
            return Verdict::Degraded {
                reason: format!(
                    "CPU was above the {target:.0} % target + {:.0} margin on {} of probation samples (limit {}), peak {peak:.0} %",
                    rule.cpu_margin,
                    pct(over),
                    pct(rule.max_over_target_share)
                ),
            };
        }
    }
    let saturated = share(cpu.iter().filter(|v| **v >= 100.0).count(), cpu.len());
    if saturated > rule.max_saturated_share {
        return Verdict::Degraded {
            reason: format!(
                "pods were saturated (CPU at or above 100 % of request) on {} of probation samples (limit {}), peak {peak:.0} %",
                pct(saturated),
                pct(rule.max_saturated_share)
            ),
        };
    }
    let max = f64::from(max_replicas);
    let pinned = share(
        replicas
            .iter()
            .filter(|(r, c)| {
                *r >= max && cpu_target.is_none_or(|t| c.is_finite() && *c > f64::from(t))
            })
            .count(),
        replicas.len(),
    );
    if pinned > rule.max_pinned_share {
        return Verdict::Degraded {
            reason: format!(
                "replicas were pinned at maxReplicas {max_replicas} under load on {} of probation samples (limit {})",
                pct(pinned),
                pct(rule.max_pinned_share)
            ),
        };
    }
    let target = cpu_target
        .map(|t| format!(" vs target {t} % + {:.0}", rule.cpu_margin))
        .unwrap_or_default();
    Verdict::Healthy {
        summary: format!(
            "healthy during probation: {usable} samples, peak CPU {peak:.0} %{target}, never pinned at maxReplicas {max_replicas} under load"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(cpu: Vec<f64>, replicas: f64) -> MetricHistory {
        let n = cpu.len();
        MetricHistory {
            start_unix_seconds: 0,
            step_seconds: 60,
            utc_offset_minutes: 0,
            timezone: None,
            cpu_utilization: cpu,
            replicas_desired: vec![replicas; n],
            replicas_current: vec![replicas; n],
            replicas_ready: None,
            request_rate: None,
        }
    }

    #[test]
    fn cpu_within_target_and_margin_is_healthy() {
        let h = history(vec![50.0, 65.0, 69.0, 40.0], 3.0);
        assert!(matches!(
            judge(&h, Some(60), 10, &HealthRule::default()),
            Verdict::Healthy { .. }
        ));
    }

    #[test]
    fn sustained_cpu_above_target_plus_margin_is_degraded() {
        let h = history(vec![85.0, 88.0, 50.0, 90.0], 3.0);
        match judge(&h, Some(60), 10, &HealthRule::default()) {
            Verdict::Degraded { reason } => assert!(reason.contains("75 %"), "{reason}"),
            other => panic!("expected degraded, got {other:?}"),
        }
    }

    #[test]
    fn saturation_is_degraded_even_without_a_cpu_target() {
        let h = history(vec![100.0, 120.0, 50.0, 40.0], 3.0);
        assert!(matches!(
            judge(&h, None, 10, &HealthRule::default()),
            Verdict::Degraded { .. }
        ));
    }

    #[test]
    fn pinned_at_max_under_load_is_degraded() {
        let h = history(vec![65.0, 66.0, 67.0, 68.0], 10.0);
        match judge(&h, Some(60), 10, &HealthRule::default()) {
            Verdict::Degraded { reason } => assert!(reason.contains("pinned"), "{reason}"),
            other => panic!("expected degraded, got {other:?}"),
        }
        // at max but idle is fine
        let h = history(vec![20.0; 4], 10.0);
        assert!(matches!(
            judge(&h, Some(60), 10, &HealthRule::default()),
            Verdict::Healthy { .. }
        ));
    }

    #[test]
    fn too_few_samples_is_inconclusive() {
        let h = history(vec![f64::NAN, 50.0], f64::NAN);
        assert!(matches!(
            judge(&h, Some(60), 10, &HealthRule::default()),
            Verdict::Inconclusive { .. }
        ));
    }
}
