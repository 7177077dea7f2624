//! Builtin detector `over-provisioning`: replicas well above what the demand
//! needs at the CPU target, because the replica floor is too high or the CPU
//! target is too low.
//!
//! # Method
//! Demand is CPU utilization × current replicas / 100 (pods at 100 % of their
//! CPU request); the workload needs `ceil(demand / (target / 100))` replicas.
//! With at least [`MIN_DAYS`] of history and a CPU target, the rule proposes
//! - a higher CPU target when the current one is more than 10 points below
//!   [`MAX_TARGET_PERCENT`]: `100 / (burst × 1.15)` rounded down to a multiple
//!   of 5, capped at [`MAX_TARGET_PERCENT`], proposed only if at least 10
//!   points above the current target. `burst` is the p99, over samples at or
//!   above the median demand, of the demand growth within the next 5 minutes
//!   (at least one step): the headroom a scale-up must absorb;
//! - a lower `minReplicas` when the floor is above what the p99 demand needs
//!   at the (new) target; the new floor is exactly that need (at least 1), so
//!   it never drops below what p99 demand needs.
//!
//! It reports a finding when at least one change is proposed and a replay of
//! the history under the proposal (replicas = max(floor, need) per sample)
//! saves at least [`MIN_SAVINGS`] of the replica-hours.
use stepscale_rules_sdk::input::WorkloadData;
use stepscale_rules_sdk::stats;
use stepscale_rules_sdk::types::{ConfigChange, Evidence, Finding, FindingKind, RuleInfo};

/// The rule id.
pub const RULE_ID: &str = "over-provisioning";
/// Days of history needed.
pub const MIN_DAYS: f64 = 1.0;
/// Highest CPU target the rule proposes, % of request.
pub const MAX_TARGET_PERCENT: u32 = 80;
/// Smallest share of replica-hours a proposal must save.
pub const MIN_SAVINGS: f64 = 0.15;
/// Safety factor on the burst headroom when choosing a target.
pub const HEADROOM_FACTOR: f64 = 1.15;

/// The rule's static description.
pub fn rule_info() -> RuleInfo {
    RuleInfo {
        id: RULE_ID.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "replicas well above what p95/p99 demand needs at the CPU target".into(),
    }
}

fn evidence(label: &str, value: f64, unit: &str) -> Evidence {
    Evidence {
        label: label.into(),
        value: (value * 100.0).round() / 100.0,
        unit: unit.into(),
    }
}

/// p99 over samples at or above the median demand of the largest relative
/// demand growth within the next `k` samples; at least 1.
pub fn burst_factor(demand: &[f64], k: usize) -> f64 {
    let Some(med) = stats::median(demand) else {
        return 1.0;
    };
    let ratios: Vec<f64> = (0..demand.len())
        .filter(|&i| demand[i].is_finite() && demand[i] >= med && demand[i] > 0.0)
        .filter_map(|i| {
            let ahead = &demand[i + 1..(i + 1 + k).min(demand.len())];
            stats::max(ahead).map(|m| m / demand[i])
        })
        .collect();
    stats::percentile(&ratios, 0.99).unwrap_or(1.0).max(1.0)
}

/// Analyze one workload; see the crate docs for the method and thresholds.
pub fn analyze(w: &WorkloadData) -> Vec<Finding> {
    // Thresholds: values `rules.params.over-provisioning.<name>` override the defaults.
    let min_days = w.param("minDays", MIN_DAYS).max(0.0);
    let max_target = w
        .param("maxTargetPercent", f64::from(MAX_TARGET_PERCENT))
        .clamp(1.0, 100.0) as u32;
    let min_savings = w.param("minSavings", MIN_SAVINGS).clamp(0.0, 1.0);
    let headroom = w.param("headroomFactor", HEADROOM_FACTOR).clamp(1.0, 10.0);

    let Some(target) = w.config.cpu_target_percent else {
        return Vec::new();
    };
    let days = w.observed_days();
    if days < min_days || target == 0 {
        return Vec::new();
    }
    let min = w.config.min_replicas;
    let max = w.config.max_replicas.max(1);
    let demand = w.demand_pods();
    let replicas = w.replicas();
    let (Some(p95), Some(p99), Some(cpu_p95), Some(mean_replicas)) = (
        stats::percentile(&demand, 0.95),
        stats::percentile(&demand, 0.99),
        stats::percentile(&w.cpu, 0.95),
        stats::mean(&replicas),
    ) else {
        return Vec::new();
    };
    let k = (300 / w.info.step_seconds.max(1)).max(1) as usize;
    let burst = burst_factor(&demand, k);

    let safe_target = ((100.0 / (burst * headroom) / 5.0).floor() * 5.0) as u32;
    let safe_target = safe_target.min(max_target);
    let new_target =
        (target + 10 <= max_target && safe_target >= target + 10).then_some(safe_target);
    let eff_target = f64::from(new_target.unwrap_or(target));
    let need_p99 = stats::replicas_needed(p99, eff_target).max(1.0);
    let need_p95 = stats::replicas_needed(p95, eff_target).max(1.0);
    let new_min = (need_p99 < f64::from(min)).then_some(need_p99 as u32);
    if new_target.is_none() && new_min.is_none() {
        return Vec::new();
    }

    // Replay: replicas under the proposal versus what ran.
    let floor = f64::from(new_min.unwrap_or(min));
    let (mut used, mut replayed) = (0.0, 0.0);
    for (d, r) in demand.iter().zip(&replicas) {
        if d.is_finite() && r.is_finite() {
            used += r;
            replayed += stats::min2(
                stats::max2(stats::replicas_needed(*d, eff_target), floor),
                stats::max2(f64::from(max), floor),
            );
        }
    }
    let savings = if used > 0.0 {
        1.0 - replayed / used
    } else {
        0.0
    };
    if savings < min_savings {
        return Vec::new();
    }
    let confidence =
        (0.5 + 0.3 * (savings / 0.5).min(1.0) + 0.15 * (days / 7.0).min(1.0)).min(0.95);
    let confidence = (confidence * 100.0).round() / 100.0;

    let mut changes = Vec::new();
    if let Some(m) = new_min {
        changes.push(format!("minReplicas {min} → {m}"));
    }
    if let Some(t) = new_target {
        changes.push(format!("CPU target {target} → {t} %"));
    }
    let summary = format!(
        "Replicas average {mean_replicas:.1} while p95 demand needs {need_p95:.0} at a {eff_target:.0} % \
         target (p95 CPU {cpu_p95:.1} % of request); {} would save about {:.0} % of replica-hours.",
        changes.join(" and "),
        savings * 100.0
    );
    vec![Finding {
        kind: FindingKind::OverProvisioning,
        confidence,
        summary,
        proposal: ConfigChange {
            min_replicas: new_min,
            max_replicas: None,
            cpu_target_percent: new_target,
            scale_down_stabilization_seconds: None,
            scale_up_stabilization_seconds: None,
            cooldown_period_seconds: None,
        },
        evidence: vec![
            evidence("p95 CPU utilization", cpu_p95, "%"),
            evidence("CPU target", f64::from(target), "%"),
            evidence("p95 demand", p95, "pods"),
            evidence("p99 demand", p99, "pods"),
            evidence("replicas needed at p99 demand", need_p99, "replicas"),
            evidence("mean replicas", mean_replicas, "replicas"),
            evidence("current minReplicas", f64::from(min), "replicas"),
            evidence("5-minute demand burst (p99)", burst, "x"),
            evidence("projected replica-hour savings", savings * 100.0, "%"),
            evidence("days observed", days, "days"),
        ],
    }]
}

// The component glue (wasm32 only; natively this crate is a plain library).
stepscale_rules_sdk::detector_rule!(rule_info, analyze);

#[cfg(test)]
mod tests;
