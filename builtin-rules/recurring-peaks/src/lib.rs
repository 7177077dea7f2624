//! Builtin detector `recurring-peaks`: demand peaks that recur at the same
//! time of day (or of week) and saturate the workload because scale-up lags
//! behind them.
//!
//! # Method
//! Demand is CPU utilization × current replicas / 100. With a CPU target and
//! at least [`MIN_DAYS`] of history the rule measures the seasonality
//! strength (see `stats::seasonality_strength`) at the daily period, and at
//! the weekly one with at least 14 days; the weekly cycle is used when it is
//! stronger by more than 0.1. Below [`MIN_STRENGTH`] there is no finding.
//!
//! Per slot (hour of day, or hour of week) the *recurring level* is the
//! median over days (weeks) of that hour's maximum demand: a level reached
//! on at least half of them. Peak slots have a level at least [`PEAK_RATIO`]
//! × the median level and need more replicas than `minReplicas`; consecutive
//! peak slots form the peak windows reported as evidence. The claim must hold
//! on the held-out last third of the periods (at least one): at least
//! [`MIN_HELD_OUT_SHARE`] of the peak cells there reach the peak level, or
//! there is no finding. Seasonality strength needs three whole periods
//! (`stats::MIN_SEASONAL_PERIODS`), so a weekly cycle needs 21 days.
//!
//! When at least [`MIN_SATURATED_SHARE`] of the peak-slot samples run above
//! the target plus `max(10, 15 % of target)` points, the rule proposes raising
//! `minReplicas` to the replicas the highest recurring peak needs (capped at
//! `maxReplicas`). It never proposes lowering `minReplicas`; without
//! saturation the finding is informational (no proposal) so a predictive
//! schedule can still use the windows.
use stepscale_rules_sdk::input::WorkloadData;
use stepscale_rules_sdk::stats;
use stepscale_rules_sdk::types::{ConfigChange, Evidence, Finding, FindingKind, RuleInfo};

/// The rule id.
pub const RULE_ID: &str = "recurring-peaks";
/// Days of history needed.
pub const MIN_DAYS: f64 = 3.0;
/// Seasonality strength needed for a finding.
pub const MIN_STRENGTH: f64 = 0.3;
/// A slot's recurring level over the median level that makes it a peak.
pub const PEAK_RATIO: f64 = 1.3;
/// Share of the peak cells of the held-out last third of the periods that
/// must reach the peak level: a recurring peak that stopped recurring is not
/// claimed.
pub const MIN_HELD_OUT_SHARE: f64 = 0.5;
/// Share of peak-slot samples above target + margin that calls for a floor.
pub const MIN_SATURATED_SHARE: f64 = 0.05;

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// The rule's static description.
pub fn rule_info() -> RuleInfo {
    RuleInfo {
        id: RULE_ID.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "demand peaks recurring at the same time of day or week that saturate".into(),
    }
}

fn evidence(label: impl Into<String>, value: f64, unit: &str) -> Evidence {
    Evidence {
        label: label.into(),
        value: (value * 100.0).round() / 100.0,
        unit: unit.into(),
    }
}

/// Circular runs of `true`: (first slot, length), in slot order.
fn runs(flags: &[bool]) -> Vec<(usize, usize)> {
    let n = flags.len();
    if flags.iter().all(|b| *b) {
        return vec![(0, n)];
    }
    let first_off = flags.iter().position(|b| !*b).unwrap_or(0);
    let mut out = Vec::new();
    let mut run: Option<(usize, usize)> = None;
    for k in 1..=n {
        let s = (first_off + k) % n;
        if flags[s] {
            run = Some(run.map_or((s, 1), |(a, l)| (a, l + 1)));
        } else if let Some(r) = run.take() {
            out.push(r);
        }
    }
    out.sort();
    out
}

/// `Mon 08:00–11:00` (weekly) or `08:00–11:00` (daily) for a run of hour
/// slots.
fn window_label(start: usize, len: usize, weekly: bool) -> String {
    let end = start + len;
    let hm = |slot: usize| stats::format_minute(((slot % 24) * 60) as u32);
    let end_text = if end.is_multiple_of(24) {
        "24:00".to_string()
    } else {
        hm(end)
    };
    if weekly {
        format!("{} {}–{}", DAYS[(start / 24) % 7], hm(start), end_text)
    } else {
        format!("{}–{}", hm(start), end_text)
    }
}

/// Analyze one workload; see the crate docs for the method and thresholds.
pub fn analyze(w: &WorkloadData) -> Vec<Finding> {
    // Thresholds: values `rules.params.recurring-peaks.<name>` override the defaults.
    let min_days = w.param("minDays", MIN_DAYS).max(0.0);
    let min_strength = w.param("minStrength", MIN_STRENGTH).clamp(0.0, 1.0);
    let peak_ratio = w.param("peakRatio", PEAK_RATIO).clamp(1.0, 100.0);
    let min_saturated_share = w
        .param("minSaturatedShare", MIN_SATURATED_SHARE)
        .clamp(0.0, 1.0);

    let Some(target) = w.config.cpu_target_percent.map(f64::from) else {
        return Vec::new();
    };
    let days = w.observed_days();
    if days < min_days || target <= 0.0 {
        return Vec::new();
    }
    let grid = w.time_grid();
    let spd = grid.samples_per_day();
    let demand = w.demand_pods();
    let daily = stats::seasonality_strength(&demand, spd).unwrap_or(0.0);
    let weekly = if days >= 14.0 {
        stats::seasonality_strength(&demand, 7 * spd)
    } else {
        None
    };
    let use_weekly = weekly.is_some_and(|s| s > daily + 0.1);
    let strength = if use_weekly {
        weekly.unwrap_or(0.0)
    } else {
        daily
    };
    if strength < min_strength {
        return Vec::new();
    }
    let slots = if use_weekly { 168 } else { 24 };
    // Samples' local times come from `grid.local_times`, stepped forward
    // without a division per sample.
    let slot_of = |t: &stats::LocalTime| {
        if use_weekly {
            t.hour_of_week()
        } else {
            t.hour_of_day()
        }
    };
    let period_of = |t: &stats::LocalTime| {
        let day = t.day_index;
        if use_weekly {
            // Weeks starting Monday (day 4 after the epoch was a Monday).
            (day - 4).div_euclid(7)
        } else {
            day
        }
    };
    // Hourly max per (period, slot), in (period, slot) order; NaN = no
    // finite sample in the cell. Periods only grow with the sample index.
    let at = |i: usize| grid.local_times(i).next().unwrap_or_default();
    let first_period = period_of(&at(0));
    let periods = demand
        .len()
        .checked_sub(1)
        .map_or(0, |last| (period_of(&at(last)) - first_period) as usize + 1);
    let mut cell_max = vec![f64::NAN; periods * slots];
    for (d, t) in demand.iter().zip(grid.local_times(0)) {
        if d.is_finite() {
            let c = &mut cell_max[(period_of(&t) - first_period) as usize * slots + slot_of(&t)];
            *c = stats::max2(*c, *d);
        }
    }
    let cells_by_slot = || {
        cell_max
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.is_nan())
            .map(|(k, m)| (k % slots, *m))
    };
    let mut per_slot = vec![Vec::new(); slots];
    for (s, m) in cells_by_slot() {
        per_slot[s].push(m);
    }
    let level: Vec<f64> = per_slot
        .iter()
        .map(|v| stats::median(v).unwrap_or(f64::NAN))
        .collect();
    let Some(base) = stats::median(&level) else {
        return Vec::new();
    };
    let min = w.config.min_replicas;
    let need: Vec<f64> = level
        .iter()
        .map(|l| stats::replicas_needed(*l, target))
        .collect();
    let peak: Vec<bool> = (0..slots)
        .map(|s| level[s] >= peak_ratio * base && need[s] > f64::from(min))
        .collect();
    let windows = runs(&peak);
    if windows.is_empty() || base <= 0.0 {
        return Vec::new();
    }
    // Share of periods showing the peak, overall and over the held-out last
    // third of the periods (at least one): a claim must hold there too.
    let held_out = (periods / 3).max(1);
    let first_held = periods.saturating_sub(held_out);
    let (mut shown, mut cells, mut shown_late, mut cells_late) = (0usize, 0usize, 0usize, 0usize);
    for (k, m) in cell_max.iter().enumerate().filter(|(_, m)| !m.is_nan()) {
        let s = k % slots;
        if peak[s] {
            let late = k / slots >= first_held;
            cells += 1;
            cells_late += usize::from(late);
            if *m >= peak_ratio * base {
                shown += 1;
                shown_late += usize::from(late);
            }
        }
    }
    let shown_late_share = shown_late as f64 / cells_late.max(1) as f64;
    if shown_late_share < MIN_HELD_OUT_SHARE {
        return Vec::new();
    }
    let margin = (0.15 * target).max(10.0);
    let peak_cpu: Vec<f64> = w
        .cpu
        .iter()
        .zip(grid.local_times(0))
        .filter(|(c, t)| peak[slot_of(t)] && c.is_finite())
        .map(|(c, _)| *c)
        .collect();
    let saturated = peak_cpu.iter().filter(|c| **c > target + margin).count() as f64
        / peak_cpu.len().max(1) as f64;
    let peak_need = (0..slots)
        .filter(|s| peak[*s])
        .map(|s| need[s])
        .fold(0.0, f64::max)
        .min(f64::from(w.config.max_replicas));
    let new_min = (saturated >= min_saturated_share && peak_need > f64::from(min))
        .then_some(peak_need as u32);
    let mut confidence = 0.4 + 0.4 * strength + 0.15 * (days / 14.0).min(1.0);
    if new_min.is_none() {
        confidence *= 0.7;
    }
    let confidence = (confidence.min(0.95) * 100.0).round() / 100.0;

    let cycle = if use_weekly { "weekly" } else { "daily" };
    let labels: Vec<String> = windows
        .iter()
        .map(|(s, l)| window_label(*s, *l, use_weekly))
        .collect();
    let shown_text = labels
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let action = match new_min {
        Some(m) => format!(
            "raise minReplicas from {min} to {m} (or pre-scale only for these windows with a predictive schedule)"
        ),
        None => "scale-up keeps up, so no floor change is needed; a predictive schedule could pre-scale".into(),
    };
    let summary = format!(
        "Demand peaks {cycle} at {shown_text} local (seasonality strength {strength:.2}), needing \
         {peak_need:.0} replicas at the {target:.0} % target; {:.0} % of peak samples ran above \
         target + {margin:.0} points, so {action}.",
        saturated * 100.0
    );
    let mut ev = vec![
        evidence("daily seasonality strength", daily, "ratio"),
        evidence(
            format!("{cycle} peak windows"),
            windows.len() as f64,
            "windows",
        ),
        evidence(
            "replicas needed at the recurring peak",
            peak_need,
            "replicas",
        ),
        evidence("median demand level", base, "pods"),
        evidence("peak samples above target + margin", saturated * 100.0, "%"),
        evidence(
            "periods showing the peak",
            shown as f64 / cells.max(1) as f64 * 100.0,
            "%",
        ),
        evidence(
            format!(
                "periods showing the peak, last {held_out} {}",
                if use_weekly { "week(s)" } else { "day(s)" }
            ),
            shown_late_share * 100.0,
            "%",
        ),
        evidence("current minReplicas", f64::from(min), "replicas"),
        evidence("days observed", days, "days"),
    ];
    if let Some(s) = weekly {
        ev.insert(1, evidence("weekly seasonality strength", s, "ratio"));
    }
    for ((s, l), label) in windows.iter().zip(&labels).take(8) {
        let need_w = (*s..s + l).map(|k| need[k % slots]).fold(0.0, f64::max);
        ev.push(evidence(
            format!("peak window {label} local"),
            need_w,
            "replicas",
        ));
    }
    vec![Finding {
        kind: FindingKind::RecurringPeak,
        confidence,
        summary,
        proposal: ConfigChange {
            min_replicas: new_min,
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
