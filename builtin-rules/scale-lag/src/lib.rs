//! Builtin detector `scale-lag`: the workload saturates while the autoscaler
//! is still adding replicas, i.e. scale-up comes too late for the ramps.
//!
//! # Method
//! A sample is *saturated during a ramp* when CPU utilization is above the
//! target plus a margin (`max(10, 15 % of target)` points), replicas are below
//! `maxReplicas` (at the ceiling it is a capacity problem, not lag), and the
//! replicas are still rising: desired above current, or current rising within
//! the next 15 minutes. Consecutive such samples form an episode. With at
//! least [`MIN_EPISODES`] episodes in at least [`MIN_DAYS`] of history the
//! rule proposes
//! - `minReplicas` = the median, over episodes, of the replicas the demand
//!   needed at the first saturated sample (capped at the p95 need and at
//!   `maxReplicas`), when that is above the current floor: every ramp that
//!   starts below it then starts with more capacity (the share of episodes
//!   starting at the floor is reported as evidence);
//! - a scale-up stabilization of 0 s (the Kubernetes default) when a longer
//!   one is configured.
//!
//! When neither applies (ramps need no more than the floor at their start and
//! there is no scale-up window), the finding carries no proposal and a lower
//! confidence.
use stepscale_rules_sdk::input::WorkloadData;
use stepscale_rules_sdk::stats;
use stepscale_rules_sdk::types::{ConfigChange, Evidence, Finding, FindingKind, RuleInfo};

/// The rule id.
pub const RULE_ID: &str = "scale-lag";
/// Days of history needed.
pub const MIN_DAYS: f64 = 1.0;
/// Saturation episodes needed for a finding.
pub const MIN_EPISODES: usize = 3;

/// The rule's static description.
pub fn rule_info() -> RuleInfo {
    RuleInfo {
        id: RULE_ID.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "CPU above target while replicas are still scaling up (late scale-up)".into(),
    }
}

fn evidence(label: &str, value: f64, unit: &str) -> Evidence {
    Evidence {
        label: label.into(),
        value: (value * 10.0).round() / 10.0,
        unit: unit.into(),
    }
}

/// Saturation episodes during ramps (see the crate docs), as index ranges.
pub fn lag_episodes(w: &WorkloadData, target: f64) -> Vec<stats::Episode> {
    let margin = (0.15 * target).max(10.0);
    let k = (900 / w.info.step_seconds.max(1)).max(1) as usize;
    let current = w.replicas();
    let max = f64::from(w.config.max_replicas);
    let n = w.len();
    let flag: Vec<f64> = (0..n)
        .map(|t| {
            let c = current[t];
            let hot = w.cpu[t] > target + margin;
            // Cheapest tests first; the look-ahead only when still needed.
            let flagged = hot
                && c < max
                && (w.desired.get(t).is_some_and(|d| *d > c)
                    || current[t + 1..(t + 1 + k).min(n)].iter().any(|r| *r > c));
            f64::from(u8::from(flagged))
        })
        .collect();
    stats::runs_above(&flag, 0.5, 1)
}

/// Analyze one workload; see the crate docs for the method and thresholds.
pub fn analyze(w: &WorkloadData) -> Vec<Finding> {
    // Thresholds: values `rules.params.scale-lag.<name>` override the defaults.
    let min_days = w.param("minDays", MIN_DAYS).max(0.0);
    let min_episodes = w
        .param("minEpisodes", MIN_EPISODES as f64)
        .clamp(1.0, 10_000.0) as usize;

    let Some(target) = w.config.cpu_target_percent.map(f64::from) else {
        return Vec::new();
    };
    let days = w.observed_days();
    if days < min_days || target <= 0.0 {
        return Vec::new();
    }
    let episodes = lag_episodes(w, target);
    if episodes.len() < min_episodes {
        return Vec::new();
    }
    let min = w.config.min_replicas;
    let max = w.config.max_replicas;
    let demand = w.demand_pods();
    let current = w.replicas();
    let need: Vec<f64> = demand
        .iter()
        .map(|d| stats::replicas_needed(*d, target))
        .collect();
    let need_p95 = stats::percentile(&need, 0.95).unwrap_or(0.0);
    let step_min = f64::from(w.info.step_seconds) / 60.0;
    let sat_minutes = episodes.iter().map(|e| e.len() as f64).sum::<f64>() * step_min / days;
    let per_day = episodes.len() as f64 / days;
    let peak_cpu: Vec<f64> = episodes
        .iter()
        .map(|e| stats::max(&w.cpu[e.start..e.end]).unwrap_or(f64::NAN))
        .collect();
    let deficits: Vec<f64> = episodes
        .iter()
        .map(|e| {
            (e.start..e.end)
                .map(|t| need[t] - current[t])
                .filter(|d| d.is_finite())
                .fold(0.0, stats::max2)
        })
        .collect();
    let start_need: Vec<f64> = episodes.iter().map(|e| need[e.start]).collect();
    let at_floor = episodes
        .iter()
        .filter(|e| current[e.start] <= f64::from(min) + 1e-9)
        .count() as f64
        / episodes.len() as f64;
    let floor = stats::median(&start_need)
        .unwrap_or(0.0)
        .min(need_p95)
        .min(f64::from(max))
        .ceil() as u32;
    let new_min = (floor > min).then_some(floor);
    let up = w.scale_up_stabilization_seconds();
    let new_up = (up > 0).then_some(0);
    let proposes = new_min.is_some() || new_up.is_some();
    let mut confidence = 0.45 + 0.3 * (per_day / 2.0).min(1.0) + 0.15 * (days / 7.0).min(1.0);
    if !proposes {
        confidence *= 0.6;
    }
    let confidence = (confidence.min(0.95) * 100.0).round() / 100.0;
    let peak_median = stats::median(&peak_cpu).unwrap_or(0.0);
    let deficit_median = stats::median(&deficits).unwrap_or(0.0);
    let mut actions = Vec::new();
    if let Some(m) = new_min {
        actions.push(format!("raise minReplicas from {min} to {m}"));
    }
    if new_up.is_some() {
        actions.push(format!("drop the {up} s scale-up stabilization window"));
    }
    let action = if actions.is_empty() {
        "the floor already covers ramp starts, so scale-up speed (policies, pod start time) is the lever"
            .to_string()
    } else {
        actions.join(" and ")
    };
    let summary = format!(
        "CPU ran above the {target:.0} % target while replicas were still rising {per_day:.1} times \
         a day ({sat_minutes:.0} min/day, median peak {peak_median:.0} %, median shortfall \
         {deficit_median:.0} replicas); {action}."
    );
    vec![Finding {
        kind: FindingKind::ScaleLag,
        confidence,
        summary,
        proposal: ConfigChange {
            min_replicas: new_min,
            max_replicas: None,
            cpu_target_percent: None,
            scale_down_stabilization_seconds: None,
            scale_up_stabilization_seconds: new_up,
            cooldown_period_seconds: None,
        },
        evidence: vec![
            evidence("saturation episodes during scale-up", per_day, "events/day"),
            evidence("saturated time during scale-up", sat_minutes, "min/day"),
            evidence("median peak CPU utilization in episodes", peak_median, "%"),
            evidence("CPU target", target, "%"),
            evidence(
                "median replica shortfall in episodes",
                deficit_median,
                "replicas",
            ),
            evidence("episodes starting at minReplicas", at_floor * 100.0, "%"),
            evidence("current scale-up stabilization", f64::from(up), "s"),
            evidence("days observed", days, "days"),
        ],
    }]
}

// The component glue (wasm32 only; natively this crate is a plain library).
stepscale_rules_sdk::detector_rule!(rule_info, analyze);

#[cfg(test)]
mod tests;
