//! Example detector `weekend-idle`: the replica floor is sized for weekday
//! traffic, but on Saturdays and Sundays the load needs far fewer replicas and
//! the workload sits on its floor. None of the builtin rules sees this: they
//! group by hour of day, where five busy weekdays hide two quiet days.
//!
//! # Method
//! Demand is CPU utilization × current replicas / 100 (pods at 100 % of
//! their CPU request), grouped into weekdays and weekend days (local time).
//! With at least [`MIN_DAYS`] of history and [`MIN_WEEKEND_SAMPLES_FRACTION`]
//! of a weekend observed, the rule reports when
//! - the weekend's p99 demand is at most [`QUIET_RATIO`] of the weekdays' p95
//!   demand (the weekend is markedly quieter), and
//! - replicas sit at `minReplicas` in at least [`PINNED_FRACTION`] of the
//!   weekend samples, and
//! - the weekend's p99 demand needs fewer replicas than `minReplicas` at the
//!   CPU target (80 % when the autoscaler has none).
//!
//! It proposes that need (at least 1) as the new `minReplicas`; stepscale's
//! replay then decides whether the lower floor holds on weekdays too.
//!
//! Parameters (`WorkloadData::param`): `quietRatio` ([`QUIET_RATIO`]) and
//! `pinnedFraction` ([`PINNED_FRACTION`]).
use stepscale_rules_sdk::input::WorkloadData;
use stepscale_rules_sdk::stats;
use stepscale_rules_sdk::types::{ConfigChange, Evidence, Finding, FindingKind, RuleInfo};

/// The rule id.
pub const RULE_ID: &str = "weekend-idle";
/// Days of history needed: one whole week.
pub const MIN_DAYS: f64 = 7.0;
/// Share of one weekend's samples that must be present.
pub const MIN_WEEKEND_SAMPLES_FRACTION: f64 = 0.8;
/// Weekend p99 demand at most this share of the weekdays' p95 demand.
pub const QUIET_RATIO: f64 = 0.5;
/// Share of weekend samples at `minReplicas` for the floor to be pinned.
pub const PINNED_FRACTION: f64 = 0.8;
/// CPU target assumed when the autoscaler scales on something else.
pub const DEFAULT_TARGET_PERCENT: f64 = 80.0;

/// The rule's static description.
pub fn rule_info() -> RuleInfo {
    RuleInfo {
        id: RULE_ID.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "a replica floor sized for weekdays that weekends do not need".into(),
    }
}

fn evidence(label: &str, value: f64, unit: &str) -> Evidence {
    Evidence {
        label: label.into(),
        value: (value * 100.0).round() / 100.0,
        unit: unit.into(),
    }
}

/// Analyze one workload; see the crate docs for the method.
pub fn analyze(w: &WorkloadData) -> Vec<Finding> {
    // Thresholds are parameters (`rules.params.weekend-idle.<name>` in the
    // chart, `--param weekend-idle.<name>=<value>` offline).
    let quiet_ratio = w.param("quietRatio", QUIET_RATIO).clamp(0.0, 1.0);
    let pinned_fraction = w.param("pinnedFraction", PINNED_FRACTION).clamp(0.0, 1.0);
    let min = w.config.min_replicas;
    if w.observed_days() < MIN_DAYS || min <= 1 {
        return Vec::new();
    }
    let grid = w.time_grid();
    let demand = w.demand_pods();
    let replicas = w.replicas();
    let weekend = |i: usize| grid.day_of_week(i) >= 5;
    let mut week_demand = Vec::new();
    let mut end_demand = Vec::new();
    let (mut end_samples, mut end_pinned) = (0usize, 0usize);
    for (i, d) in demand.iter().enumerate() {
        if !d.is_finite() {
            continue;
        }
        if weekend(i) {
            end_demand.push(*d);
            if let Some(r) = replicas.get(i).filter(|r| r.is_finite()) {
                end_samples += 1;
                if *r <= f64::from(min) + 1e-9 {
                    end_pinned += 1;
                }
            }
        } else {
            week_demand.push(*d);
        }
    }
    let weekend_samples = 2 * grid.samples_per_day();
    if (end_demand.len() as f64) < MIN_WEEKEND_SAMPLES_FRACTION * weekend_samples as f64 {
        return Vec::new();
    }
    let (Some(week_p95), Some(end_p99)) = (
        stats::percentile(&week_demand, 0.95),
        stats::percentile(&end_demand, 0.99),
    ) else {
        return Vec::new();
    };
    let pinned = end_pinned as f64 / end_samples.max(1) as f64;
    let target = w
        .config
        .cpu_target_percent
        .map_or(DEFAULT_TARGET_PERCENT, f64::from);
    let need = stats::replicas_needed(end_p99, target).max(1.0);
    if !(end_p99 <= quiet_ratio * week_p95 && pinned >= pinned_fraction && need < f64::from(min)) {
        return Vec::new();
    }
    let proposed = need as u32;
    let weekends = end_demand.len() as f64 / weekend_samples as f64;
    let saved = f64::from(min - proposed) * 48.0;
    let confidence = (0.5 + 0.2 * weekends.min(2.0)).min(0.9);
    vec![Finding {
        kind: FindingKind::IdleWindow,
        confidence: (confidence * 100.0).round() / 100.0,
        summary: format!(
            "On weekends the load needs at most {proposed} replicas (p99 {end_p99:.1} pods at 100 % of request, \
             {:.0} % of the weekdays' p95) while the floor holds {min} for {:.0} % of the time; \
             a floor of {proposed} frees up to {saved:.0} replica-hours a week.",
            100.0 * end_p99 / week_p95.max(1e-9),
            100.0 * pinned
        ),
        proposal: ConfigChange {
            min_replicas: Some(proposed),
            max_replicas: None,
            cpu_target_percent: None,
            scale_down_stabilization_seconds: None,
            scale_up_stabilization_seconds: None,
            cooldown_period_seconds: None,
        },
        evidence: vec![
            evidence("weekday p95 demand", week_p95, "pods"),
            evidence("weekend p99 demand", end_p99, "pods"),
            evidence("weekend samples at minReplicas", 100.0 * pinned, "%"),
            evidence("weekends observed", weekends, "weekends"),
            evidence("floor replica-hours freed", saved, "replica-h/week"),
        ],
    }]
}

// The component glue (wasm32 only; natively this crate is a plain library).
stepscale_rules_sdk::detector_rule!(rule_info, analyze);
