//! Builtin detector `thrashing`: the replica count keeps reversing direction
//! (scale up, scale down, scale up again), which churns pods and caches.
//!
//! # Method
//! Over at least [`MIN_HOURS`] of history, the rule counts direction changes
//! of the replica count (current replicas, desired where current is missing;
//! flat steps ignored). At [`MIN_CHANGES_PER_DAY`] or more per day it
//! measures, for every scale-down, the time until the next scale-up (the
//! reversal gap): a scale-down stabilization window longer than the gap would
//! have held the replicas instead. It proposes a scale-down stabilization of
//! the p75 reversal gap plus one step, rounded up to a minute, at least twice
//! the current window when that is not longer, capped at 3600 s (the
//! Kubernetes maximum). For a KEDA ScaledObject with a floor of 0 it proposes
//! the same value as `cooldownPeriod` when that is longer than the current
//! cooldown, since KEDA's cooldown governs the last step to zero.
use stepscale_rules_sdk::input::WorkloadData;
use stepscale_rules_sdk::stats;
use stepscale_rules_sdk::types::{ConfigChange, Evidence, Finding, FindingKind, RuleInfo};

/// The rule id.
pub const RULE_ID: &str = "thrashing";
/// Hours of history needed.
pub const MIN_HOURS: f64 = 6.0;
/// Direction changes per day at which replicas count as thrashing.
pub const MIN_CHANGES_PER_DAY: f64 = 12.0;
/// Longest stabilization window Kubernetes accepts, seconds.
pub const MAX_STABILIZATION_SECONDS: u32 = 3600;

/// The rule's static description.
pub fn rule_info() -> RuleInfo {
    RuleInfo {
        id: RULE_ID.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "frequent scale-up/scale-down reversals of the replica count".into(),
    }
}

fn evidence(label: &str, value: f64, unit: &str) -> Evidence {
    Evidence {
        label: label.into(),
        value: (value * 10.0).round() / 10.0,
        unit: unit.into(),
    }
}

/// Seconds from each scale-down to the next scale-up in `replicas` sampled
/// every `step_seconds` (NaN skipped).
pub fn reversal_gaps(replicas: &[f64], step_seconds: u32) -> Vec<f64> {
    let mut gaps = Vec::new();
    let mut prev: Option<f64> = None;
    let mut last_down: Option<usize> = None;
    for (i, &r) in replicas.iter().enumerate() {
        if !r.is_finite() {
            continue;
        }
        if let Some(p) = prev {
            if r < p {
                last_down = Some(i);
            } else if r > p {
                if let Some(d) = last_down.take() {
                    gaps.push(((i - d) as f64) * f64::from(step_seconds));
                }
            }
        }
        prev = Some(r);
    }
    gaps
}

/// Analyze one workload; see the crate docs for the method and thresholds.
pub fn analyze(w: &WorkloadData) -> Vec<Finding> {
    // Thresholds: values `rules.params.thrashing.<name>` override the defaults.
    let min_hours = w.param("minHours", MIN_HOURS).max(0.0);
    let min_changes = w
        .param("minChangesPerDay", MIN_CHANGES_PER_DAY)
        .clamp(1.0, 10_000.0);
    let max_stabilization = w
        .param(
            "maxStabilizationSeconds",
            f64::from(MAX_STABILIZATION_SECONDS),
        )
        .clamp(0.0, 3600.0) as u32;

    let replicas = w.replicas();
    let step = w.info.step_seconds.max(1);
    let days = stats::count_finite(&replicas) as f64 * f64::from(step) / 86_400.0;
    if days * 24.0 < min_hours {
        return Vec::new();
    }
    let changes = stats::direction_changes(&replicas) as f64;
    let per_day = changes / days;
    if per_day < min_changes {
        return Vec::new();
    }
    let steps: Vec<f64> = {
        let f = stats::finite(&replicas);
        f.windows(2)
            .map(|p| (p[1] - p[0]).abs())
            .filter(|d| *d > 0.0)
            .collect()
    };
    let events_per_day = steps.len() as f64 / days;
    let swing = stats::median(&steps).unwrap_or(0.0);
    let gaps = reversal_gaps(&replicas, step);
    let p75_gap = stats::percentile(&gaps, 0.75).unwrap_or(f64::from(step));
    let current = w.scale_down_stabilization_seconds();
    let cover = ((p75_gap + f64::from(step)) / 60.0).ceil() as u32 * 60;
    let proposed = if cover > current {
        cover
    } else {
        current.saturating_mul(2).max(60)
    }
    .min(max_stabilization);
    let stabilization = (proposed > current).then_some(proposed);
    let cooldown = w.config.keda.as_ref().and_then(|k| {
        (w.config.min_replicas == 0 && proposed > k.cooldown_period_seconds).then_some(proposed)
    });
    let confidence =
        (0.5 + 0.3 * (per_day / min_changes - 1.0).min(1.0) + 0.15 * (days / 3.0).min(1.0))
            .min(0.95);
    let confidence = (confidence * 100.0).round() / 100.0;
    let action = match (stabilization, cooldown) {
        (Some(s), Some(_)) => format!(
            "raising the scale-down stabilization window and KEDA cooldownPeriod to {s} s"
        ),
        (Some(s), None) => format!("raising the scale-down stabilization window from {current} s to {s} s"),
        _ => "the stabilization window is already at its maximum; check for a second autoscaler on the target".into(),
    };
    let summary = format!(
        "Replicas reverse direction {per_day:.1} times a day (median swing {swing:.0}, p75 scale-down \
         to scale-up gap {:.0} min); {action} would hold them through the dips.",
        p75_gap / 60.0
    );
    vec![Finding {
        kind: FindingKind::Thrashing,
        confidence,
        summary,
        proposal: ConfigChange {
            min_replicas: None,
            max_replicas: None,
            cpu_target_percent: None,
            scale_down_stabilization_seconds: stabilization,
            scale_up_stabilization_seconds: None,
            cooldown_period_seconds: cooldown,
        },
        evidence: vec![
            evidence("direction changes", per_day, "events/day"),
            evidence("scale events", events_per_day, "events/day"),
            evidence("median replica swing", swing, "replicas"),
            evidence("p75 scale-down to scale-up gap", p75_gap / 60.0, "minutes"),
            evidence("current scale-down stabilization", f64::from(current), "s"),
            evidence("days observed", days, "days"),
        ],
    }]
}

// The component glue (wasm32 only; natively this crate is a plain library).
stepscale_rules_sdk::detector_rule!(rule_info, analyze);

#[cfg(test)]
mod tests;
