//! Builtin detector `idle-windows`: recurring hours of the day in which the
//! workload has near-zero load or sits on its replica floor with far fewer
//! replicas needed, so `minReplicas` could be lowered.
//!
//! # Method
//! Demand is CPU utilization × current replicas / 100 (pods at 100 % of their
//! CPU request). The series is grouped by local hour of day. An hour is idle
//! when it has samples on at least [`MIN_DAYS`] days and either
//! - its p95 CPU utilization is below [`NEAR_ZERO_CPU_PERCENT`], or
//! - replicas sit at `minReplicas` in at least [`PINNED_FRACTION`] of its
//!   samples while the p99 of its demand needs fewer replicas at the CPU
//!   target (80 % when the autoscaler has no CPU target).
//!
//! With at least [`MIN_IDLE_HOURS`] idle hours a day, the rule proposes the
//! replicas the p99 demand of the idle hours needs as the new `minReplicas`
//! (at least 1). It proposes 0 only for a KEDA ScaledObject that has a
//! non-resource trigger (KEDA cannot wake from zero on CPU alone), when the
//! target is not a StatefulSet and the idle hours' p99 CPU is below
//! [`ZERO_FLOOR_CPU_PERCENT`]. It reports nothing when the floor would not
//! drop.
use stepscale_rules_sdk::input::WorkloadData;
use stepscale_rules_sdk::stats;
use stepscale_rules_sdk::types::{ConfigChange, Evidence, Finding, FindingKind, RuleInfo};

/// The rule id.
pub const RULE_ID: &str = "idle-windows";
/// Days of history the rule needs before it says anything.
pub const MIN_DAYS: f64 = 2.0;
/// p95 CPU utilization (% of request) below which an hour counts as idle.
pub const NEAR_ZERO_CPU_PERCENT: f64 = 5.0;
/// Share of an hour's samples at `minReplicas` for the hour to be floor-pinned.
pub const PINNED_FRACTION: f64 = 0.9;
/// Idle hours per day needed for a finding.
pub const MIN_IDLE_HOURS: usize = 3;
/// p99 CPU utilization (%) in the idle hours below which a KEDA floor of 0 may
/// be proposed.
pub const ZERO_FLOOR_CPU_PERCENT: f64 = 1.0;
/// CPU target assumed when the autoscaler scales on something else.
pub const DEFAULT_TARGET_PERCENT: f64 = 80.0;

/// The rule's static description.
pub fn rule_info() -> RuleInfo {
    RuleInfo {
        id: RULE_ID.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "recurring idle hours of the day in which minReplicas could be lower".into(),
    }
}

fn evidence(label: impl Into<String>, value: f64, unit: &str) -> Evidence {
    Evidence {
        label: label.into(),
        value: (value * 10.0).round() / 10.0,
        unit: unit.into(),
    }
}

/// Circular runs of `true` in the 24 hours: (start hour, length), longest
/// first.
fn idle_windows(idle: &[bool; 24]) -> Vec<(usize, usize)> {
    if idle.iter().all(|b| *b) {
        return vec![(0, 24)];
    }
    // Start scanning right after a non-idle hour so no run is split at
    // midnight.
    let first_busy = idle.iter().position(|b| !*b).unwrap_or(0);
    let mut out = Vec::new();
    let mut run: Option<(usize, usize)> = None;
    for k in 1..=24 {
        let h = (first_busy + k) % 24;
        if idle[h] {
            run = Some(match run {
                Some((s, l)) => (s, l + 1),
                None => (h, 1),
            });
        } else if let Some(r) = run.take() {
            out.push(r);
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// Analyze one workload; see the crate docs for the method and thresholds.
pub fn analyze(w: &WorkloadData) -> Vec<Finding> {
    // Thresholds: values `rules.params.idle-windows.<name>` override the defaults.
    let min_days = w.param("minDays", MIN_DAYS).max(0.0);
    let near_zero_cpu = w
        .param("nearZeroCpuPercent", NEAR_ZERO_CPU_PERCENT)
        .clamp(0.0, 100.0);
    let pinned_fraction = w.param("pinnedFraction", PINNED_FRACTION).clamp(0.0, 1.0);
    let min_idle_hours = w
        .param("minIdleHours", MIN_IDLE_HOURS as f64)
        .clamp(1.0, 24.0) as usize;
    let zero_floor_cpu = w
        .param("zeroFloorCpuPercent", ZERO_FLOOR_CPU_PERCENT)
        .clamp(0.0, 100.0);

    let days = w.observed_days();
    let min = w.config.min_replicas;
    if days < min_days || min == 0 {
        return Vec::new();
    }
    let target = w
        .config
        .cpu_target_percent
        .map_or(DEFAULT_TARGET_PERCENT, f64::from);
    let grid = w.time_grid();
    let demand = w.demand_pods();
    let replicas = w.replicas();
    // Local hour of each sample, computed once for the three groupings.
    let hours: Vec<u8> = grid
        .local_times(0)
        .take(w.len())
        .map(|t| t.hour_of_day() as u8)
        .collect();
    let hour = |i: usize| hours.get(i).map_or(24, |h| usize::from(*h));
    let demand_h = stats::group_by(&demand, 24, hour);
    let cpu_h = stats::group_by(&w.cpu, 24, hour);
    let repl_h = stats::group_by(&replicas, 24, hour);
    let min_samples = (min_days as usize * grid.samples_per_hour()).max(2);

    let mut idle = [false; 24];
    let mut need = [0.0f64; 24];
    for h in 0..24 {
        if demand_h[h].len() < min_samples {
            continue;
        }
        let cpu_p95 = stats::percentile(&cpu_h[h], 0.95).unwrap_or(f64::NAN);
        let demand_p99 = stats::percentile(&demand_h[h], 0.99).unwrap_or(f64::NAN);
        need[h] = stats::replicas_needed(demand_p99, target);
        let at_floor = repl_h[h]
            .iter()
            .filter(|r| **r <= f64::from(min) + 1e-9)
            .count() as f64
            / repl_h[h].len().max(1) as f64;
        let pinned = at_floor >= pinned_fraction && need[h] < f64::from(min);
        idle[h] = cpu_p95 < near_zero_cpu || pinned;
    }
    let idle_hours: Vec<usize> = (0..24).filter(|h| idle[*h]).collect();
    if idle_hours.len() < min_idle_hours {
        return Vec::new();
    }
    let idle_cpu: Vec<f64> = idle_hours
        .iter()
        .flat_map(|h| cpu_h[*h].iter().copied())
        .collect();
    let cpu_p95 = stats::percentile(&idle_cpu, 0.95).unwrap_or(0.0);
    let cpu_p99 = stats::percentile(&idle_cpu, 0.99).unwrap_or(0.0);
    let need_idle = idle_hours.iter().map(|h| need[*h]).fold(0.0, f64::max);
    let zero_ok =
        w.is_keda() && w.can_scale_to_zero() && !w.is_stateful() && cpu_p99 < zero_floor_cpu;
    let proposed = if zero_ok {
        0
    } else {
        (need_idle.max(1.0)) as u32
    };
    if proposed >= min {
        return Vec::new();
    }

    // Consistency: share of (day, idle hour) cells whose peak demand fits the
    // proposed floor at the target.
    let capacity = f64::from(proposed.max(1)) * target / 100.0;
    let mut cells = std::collections::BTreeMap::<(i64, usize), f64>::new();
    for (d, t) in demand.iter().zip(grid.local_times(0)) {
        let h = t.hour_of_day();
        if d.is_finite() && idle[h] {
            let cell = cells.entry((t.day_index, h)).or_insert(0.0);
            *cell = stats::max2(*cell, *d);
        }
    }
    let fit = cells.values().filter(|d| **d <= capacity + 1e-9).count() as f64
        / cells.len().max(1) as f64;
    let confidence = (0.45 + 0.35 * fit + 0.15 * (days / 7.0).min(1.0)).min(0.95);
    let confidence = (confidence * 100.0).round() / 100.0;

    let windows = idle_windows(&idle);
    let hours = idle_hours.len() as f64;
    let saved = f64::from(min - proposed) * hours;
    let (ws, wl) = windows.first().copied().unwrap_or((0, 0));
    let window_text = |s: usize, l: usize| {
        format!(
            "{}–{}",
            stats::format_minute((s * 60) as u32),
            stats::format_minute((((s + l - 1) % 24 + 1) * 60) as u32)
        )
    };
    let mut ev = vec![
        evidence("idle hours per day", hours, "h/day"),
        evidence("p95 CPU utilization in idle hours", cpu_p95, "%"),
        evidence(
            "replicas needed in idle hours (p99 demand)",
            need_idle,
            "replicas",
        ),
        evidence("current minReplicas", f64::from(min), "replicas"),
        evidence("floor replica-hours saved", saved, "replica-h/day"),
        evidence("days observed", days, "days"),
    ];
    for (s, l) in windows.iter().take(4) {
        ev.push(evidence(
            format!("idle window {} local", window_text(*s, *l)),
            *l as f64,
            "h",
        ));
    }
    // Say which idle it is: near-zero load, or replicas pinned at a floor
    // the load does not need (then the CPU is not low and must not read so).
    let state = if cpu_p95 < near_zero_cpu {
        format!("Load is near zero {hours:.0} h/day")
    } else {
        format!("Replicas sit at the floor of {min} for {hours:.0} h/day while the load needs at most {proposed}")
    };
    let summary = format!(
        "{state} (longest window {} local, p95 CPU {cpu_p95:.1} %); \
         lowering minReplicas from {min} to {proposed} saves about {saved:.0} replica-hours a day.",
        window_text(ws, wl)
    );
    vec![Finding {
        kind: FindingKind::IdleWindow,
        confidence,
        summary,
        proposal: ConfigChange {
            min_replicas: Some(proposed),
            max_replicas: None,
            cpu_target_percent: None,
            scale_down_stabilization_seconds: None,
            scale_up_stabilization_seconds: None,
            cooldown_period_seconds: None,
        },
        evidence: ev,
    }]
}

// The component glue (wasm32 only; natively this crate is a plain library).
stepscale_rules_sdk::detector_rule!(rule_info, analyze);

#[cfg(test)]
mod tests;
