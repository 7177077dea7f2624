//! Verifying a schedule on probation: did it help at the peaks it covered,
//! and did it cost more outside them?
//!
//! When the recommendation is made, the replay of today's config over the
//! analyzed history gives, inside the schedule's windows, the minutes per
//! day over the CPU target and saturated, and outside them the replica-hours
//! per day ([`WindowFigures`], kept in the schedule as `history`). After
//! probation the same figures are taken from the probation samples
//! ([`measured`]) and [`judge`] compares them:
//! - **hurt or did not help**: inside the windows, the minutes over target
//!   or the saturated minutes per day are above the history's, or neither
//!   is below it → rolled back;
//! - **cost more outside**: replica-hours per day outside the windows above
//!   the history's by more than [`OUTSIDE_COST_TOLERANCE`] → rolled back;
//! - no probation sample inside a window → no schedule verdict (the general
//!   health rule decides alone), said in the detail.
//!
//! The numbers go into `status.detail` either way.

use serde::{Deserialize, Serialize};
use stepscale_engine::snapshot::MetricHistory;

use super::windows::active_intervals;
use super::PredictiveSchedule;

/// Share by which replica-hours per day outside the windows may exceed the
/// history's before the schedule counts as costing more (10 %: the
/// baseline's own day-to-day spread).
pub const OUTSIDE_COST_TOLERANCE: f64 = 0.10;

/// Figures inside and outside a schedule's windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowFigures {
    /// Minutes per day over the CPU target, inside the windows.
    pub over_target_minutes_per_day: f64,
    /// Minutes per day saturated (at or above 100 % of request), inside the
    /// windows.
    pub saturated_minutes_per_day: f64,
    /// Replica-hours per day outside the windows.
    pub replica_hours_per_day_outside: f64,
}

/// The figures of samples at `start + i × step` with `utilization` (% of
/// request), `replicas` and a CPU `target`, inside and outside `schedule`'s
/// windows; `None` without samples or when the schedule is invalid.
pub fn figures(
    schedule: &PredictiveSchedule,
    start: i64,
    step: u32,
    utilization: &[f64],
    replicas: &[f64],
    target: f64,
) -> Option<WindowFigures> {
    split(schedule, start, step, utilization, replicas, target).map(|(f, _)| f)
}

/// [`figures`], and how many samples fell inside a window.
fn split(
    schedule: &PredictiveSchedule,
    start: i64,
    step: u32,
    utilization: &[f64],
    replicas: &[f64],
    target: f64,
) -> Option<(WindowFigures, usize)> {
    let n = utilization.len().min(replicas.len());
    if n == 0 {
        return None;
    }
    let step_i = i64::from(step.max(1));
    let end = start + n as i64 * step_i;
    let intervals = active_intervals(schedule, start, end).ok()?;
    let inside = |t: i64| intervals.iter().any(|(a, b)| t >= *a && t < *b);
    let minutes = f64::from(step) / 60.0;
    let days = (n as f64 * f64::from(step) / 86_400.0).max(1e-9);
    let mut inside_samples = 0;
    let mut f = WindowFigures {
        over_target_minutes_per_day: 0.0,
        saturated_minutes_per_day: 0.0,
        replica_hours_per_day_outside: 0.0,
    };
    for i in 0..n {
        let t = start + i as i64 * step_i;
        let (u, r) = (utilization[i], replicas[i]);
        if inside(t) {
            inside_samples += 1;
            if u.is_finite() && u > target {
                f.over_target_minutes_per_day += minutes;
            }
            if u.is_finite() && u >= 100.0 {
                f.saturated_minutes_per_day += minutes;
            }
        } else if r.is_finite() {
            f.replica_hours_per_day_outside += r * minutes / 60.0;
        }
    }
    f.over_target_minutes_per_day /= days;
    f.saturated_minutes_per_day /= days;
    f.replica_hours_per_day_outside /= days;
    Some((f, inside_samples))
}

/// The figures of today's config replayed over the history: `demand`
/// (cores per sample from `start` at `step` seconds) carried by `ready`
/// pods of `request_cores` each, at the CPU `target`.
pub fn replayed(
    schedule: &PredictiveSchedule,
    start: i64,
    step: u32,
    demand: &[f64],
    ready: &[i32],
    request_cores: f64,
    target: f64,
) -> Option<WindowFigures> {
    let utilization: Vec<f64> = demand
        .iter()
        .zip(ready)
        .map(|(d, r)| {
            if *r > 0 {
                d / (f64::from(*r) * request_cores) * 100.0
            } else {
                f64::NAN
            }
        })
        .collect();
    let replicas: Vec<f64> = ready.iter().map(|r| f64::from(*r)).collect();
    figures(schedule, start, step, &utilization, &replicas, target)
}

/// The figures of probation samples `h` (CPU utilization, current
/// replicas), and whether any sample fell inside a window.
pub fn measured(
    schedule: &PredictiveSchedule,
    h: &MetricHistory,
    target: f64,
) -> Option<(WindowFigures, bool)> {
    let (f, inside) = split(
        schedule,
        h.start_unix_seconds,
        h.step_seconds,
        &h.cpu_utilization,
        &h.replicas_current,
        target,
    )?;
    Some((f, inside > 0))
}

/// The schedule's verdict: `Ok(summary)` when it helped at its peaks and
/// did not cost more outside them, `Err(reason)` otherwise (both with the
/// numbers).
///
/// # Errors
/// The reason for a rollback.
pub fn judge(history: &WindowFigures, probation: &WindowFigures) -> Result<String, String> {
    let numbers = format!(
        "inside its windows {:.1} min/day over target and {:.1} saturated on probation vs {:.1} and {:.1} in the history; outside them {:.1} replica-hours/day vs {:.1}",
        probation.over_target_minutes_per_day,
        probation.saturated_minutes_per_day,
        history.over_target_minutes_per_day,
        history.saturated_minutes_per_day,
        probation.replica_hours_per_day_outside,
        history.replica_hours_per_day_outside
    );
    let (over, sat) = (
        probation.over_target_minutes_per_day - history.over_target_minutes_per_day,
        probation.saturated_minutes_per_day - history.saturated_minutes_per_day,
    );
    if over > 0.0 || sat > 0.0 {
        return Err(format!("the schedule hurt at its peaks: {numbers}"));
    }
    if over == 0.0 && sat == 0.0 {
        return Err(format!("the schedule did not help at its peaks: {numbers}"));
    }
    if probation.replica_hours_per_day_outside
        > history.replica_hours_per_day_outside * (1.0 + OUTSIDE_COST_TOLERANCE)
    {
        return Err(format!(
            "the schedule cost more outside its windows (more than {:.0} % above the history): {numbers}",
            OUTSIDE_COST_TOLERANCE * 100.0
        ));
    }
    Ok(format!("the schedule helped at its peaks: {numbers}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleWindow;

    fn schedule() -> PredictiveSchedule {
        PredictiveSchedule {
            timezone: "UTC".into(),
            lead_minutes: 5,
            max_replicas_needed: None,
            history: None,
            windows: vec![ScheduleWindow {
                day_of_week: None,
                start: "09:00".into(),
                end: "10:00".into(),
                replica_floor: 6,
            }],
        }
    }

    #[test]
    fn figures_split_minutes_inside_the_windows_from_replica_hours_outside() {
        // Two days at 15 minutes from midnight UTC: 90 % CPU in 09:00-10:00,
        // 40 % elsewhere; 6 replicas in the window, 2 outside.
        let n = 2 * 96;
        let util: Vec<f64> = (0..n)
            .map(|i| {
                if (36..40).contains(&(i % 96)) {
                    90.0
                } else {
                    40.0
                }
            })
            .collect();
        let reps: Vec<f64> = (0..n)
            .map(|i| {
                if (36..40).contains(&(i % 96)) {
                    6.0
                } else {
                    2.0
                }
            })
            .collect();
        let f = figures(&schedule(), 0, 900, &util, &reps, 70.0).expect("figures");
        assert_eq!(f.over_target_minutes_per_day, 60.0);
        assert_eq!(f.saturated_minutes_per_day, 0.0);
        assert_eq!(f.replica_hours_per_day_outside, 2.0 * 23.0);
    }

    #[test]
    fn a_schedule_that_hurt_did_not_help_or_cost_more_outside_is_rolled_back() {
        let history = WindowFigures {
            over_target_minutes_per_day: 40.0,
            saturated_minutes_per_day: 10.0,
            replica_hours_per_day_outside: 48.0,
        };
        let helped = WindowFigures {
            over_target_minutes_per_day: 5.0,
            saturated_minutes_per_day: 0.0,
            replica_hours_per_day_outside: 50.0,
        };
        let ok = judge(&history, &helped).expect("helped");
        assert!(ok.contains("5.0 min/day over target"), "{ok}");
        let same = WindowFigures {
            over_target_minutes_per_day: 40.0,
            saturated_minutes_per_day: 10.0,
            ..helped
        };
        let e = judge(&history, &same).expect_err("did not help");
        assert!(
            e.contains("did not help") && e.contains("40.0 and 10.0"),
            "{e}"
        );
        let worse = WindowFigures {
            over_target_minutes_per_day: 60.0,
            saturated_minutes_per_day: 0.0,
            ..helped
        };
        let e = judge(&history, &worse).expect_err("hurt");
        assert!(e.contains("hurt at its peaks"), "{e}");
        let costly = WindowFigures {
            replica_hours_per_day_outside: 60.0,
            ..helped
        };
        let e = judge(&history, &costly).expect_err("cost more");
        assert!(e.contains("cost more outside"), "{e}");
    }
}
