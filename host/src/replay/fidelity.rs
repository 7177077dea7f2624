//! Fidelity: does a replay of today's config reproduce the history it was
//! given? A replay that cannot reproduce what the cluster recorded cannot be
//! trusted to judge a change, so every recommendation states the comparison
//! and a workload whose replay misses it gets no change.
//!
//! Compared, per day over the whole analyzed history, at the history's
//! sample resolution on both sides (so the replay's 15 s syncs do not count
//! scale events a sample could not show):
//! - replica-hours (the recorded `currentReplicas` vs the replay's pods);
//! - ready pods per sample (mean absolute difference);
//! - scale events and direction changes (changes of the replica count
//!   between samples);
//! - minutes the recorded utilization sat at its cap (censored samples)
//!   vs the replay's saturated minutes: a replay that saturates more than
//!   the history ever sat at its cap invents saturation.

use serde::{Deserialize, Serialize};
use stepscale_engine::snapshot::WorkloadSnapshot;
use stepscale_hpa::simulate::SimReport;

use super::{DemandHistory, Mechanics};

/// Replica-hours may differ from the recorded ones by this much, percent,
/// for the replay to count as reproducing the history.
pub const MAX_REPLICA_HOURS_ERROR_PERCENT: f64 = 10.0;
/// The replay may show this many saturated minutes/day more than the
/// history sat at its cap (or [`MAX_SATURATION_EXCESS_SHARE`] of them,
/// whichever is larger).
pub const MAX_SATURATION_EXCESS_MINUTES_PER_DAY: f64 = 2.0;
/// Share of the recorded at-cap minutes the replay may exceed them by.
pub const MAX_SATURATION_EXCESS_SHARE: f64 = 0.25;

/// One side of the comparison, per day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryFigures {
    /// Replica-hours per day.
    pub replica_hours_per_day: f64,
    /// Scale events per day, between samples.
    pub scale_events_per_day: f64,
    /// Scale direction changes per day, between samples.
    pub direction_changes_per_day: f64,
    /// Recorded: minutes per day the utilization sat at its cap. Replayed:
    /// saturated minutes per day (demand above ready capacity).
    pub capped_minutes_per_day: f64,
}

/// Today's config replayed over the analyzed history, against what the
/// history recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Fidelity {
    /// Days compared.
    pub days: f64,
    /// What the history recorded.
    pub recorded: HistoryFigures,
    /// What the replay of today's config shows.
    pub replayed: HistoryFigures,
    /// Mean absolute difference of ready pods per sample.
    pub ready_pods_mean_error: f64,
    /// Mean recorded ready pods (what the error compares with).
    pub ready_pods_mean: f64,
    /// The mechanics the replay used.
    pub mechanics: Mechanics,
    /// True when the replay reproduces the history within the bounds
    /// (replica-hours within 10 % of the recorded ones; saturated minutes
    /// no more than 2 a day, or 25 % of the recorded at-cap minutes, above
    /// them); a change is proposed only then.
    pub reproduces: bool,
    /// Why not, in words (empty when it reproduces).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl Fidelity {
    /// Compare `report` (today's config replayed over `history`, with a
    /// trajectory) with what `w` recorded.
    pub fn of(w: &WorkloadSnapshot, history: &DemandHistory, report: &SimReport) -> Fidelity {
        let h = &w.history;
        let days = history.days().max(1.0 / 1440.0);
        let step_minutes = history.series.step_s as f64 / 60.0;
        let current = super::forward_fill(&h.replicas_current);
        let ready = super::forward_fill(h.ready());
        let traj = report.trajectory.as_deref().unwrap_or_default();
        let replayed_counts: Vec<f64> = traj.iter().map(|p| f64::from(p.replicas)).collect();
        let (events, turns) = scale_events(&current);
        let (r_events, r_turns) = scale_events(&replayed_counts);
        let censored = history.censored.iter().filter(|c| **c).count();
        let recorded = HistoryFigures {
            replica_hours_per_day: current.iter().sum::<f64>() * step_minutes / 60.0 / days,
            scale_events_per_day: events as f64 / days,
            direction_changes_per_day: turns as f64 / days,
            capped_minutes_per_day: censored as f64 * step_minutes / days,
        };
        let replayed = HistoryFigures {
            replica_hours_per_day: report.replica_hours / days,
            scale_events_per_day: r_events as f64 / days,
            direction_changes_per_day: r_turns as f64 / days,
            capped_minutes_per_day: report.minutes_saturated / days,
        };
        let n = traj.len().min(ready.len());
        let ready_pods_mean_error = if n > 0 {
            traj.iter()
                .zip(&ready)
                .map(|(p, r)| (f64::from(p.ready) - r).abs())
                .sum::<f64>()
                / n as f64
        } else {
            0.0
        };
        let ready_pods_mean = if ready.is_empty() {
            0.0
        } else {
            ready.iter().sum::<f64>() / ready.len() as f64
        };
        let mut why = Vec::new();
        let rh_error = percent_error(
            replayed.replica_hours_per_day,
            recorded.replica_hours_per_day,
        );
        if rh_error.abs() > MAX_REPLICA_HOURS_ERROR_PERCENT {
            why.push(format!(
                "its replica-hours differ from the recorded ones by {rh_error:+.1} % (at most ±{MAX_REPLICA_HOURS_ERROR_PERCENT} %)"
            ));
        }
        let excess = replayed.capped_minutes_per_day - recorded.capped_minutes_per_day;
        let allowed = (recorded.capped_minutes_per_day * MAX_SATURATION_EXCESS_SHARE)
            .max(MAX_SATURATION_EXCESS_MINUTES_PER_DAY);
        if excess > allowed {
            why.push(format!(
                "it shows {:.1} saturated min/day where the history sat at its cap for {:.1} (at most {allowed:.1} more)",
                replayed.capped_minutes_per_day, recorded.capped_minutes_per_day
            ));
        }
        Fidelity {
            days: (days * 10.0).round() / 10.0,
            recorded,
            replayed,
            ready_pods_mean_error,
            ready_pods_mean,
            mechanics: history.mechanics.clone(),
            reproduces: why.is_empty(),
            reason: why.join("; "),
        }
    }

    /// The comparison in one line, for the report.
    pub fn line(&self) -> String {
        let (r, p) = (&self.recorded, &self.replayed);
        format!(
            "today's config replayed over the {:.1} analyzed day(s) vs recorded: replica-h/day {:.1} vs {:.1} ({:+.1} %), ready pods off by {:.2} of {:.1} on average, scale events/day {:.1} vs {:.1}, direction changes/day {:.1} vs {:.1}, saturated {:.1} min/day vs {:.1} at the cap; {}{}",
            self.days,
            p.replica_hours_per_day,
            r.replica_hours_per_day,
            percent_error(p.replica_hours_per_day, r.replica_hours_per_day),
            self.ready_pods_mean_error,
            self.ready_pods_mean,
            p.scale_events_per_day,
            r.scale_events_per_day,
            p.direction_changes_per_day,
            r.direction_changes_per_day,
            p.capped_minutes_per_day,
            r.capped_minutes_per_day,
            self.mechanics.source,
            if self.reproduces {
                " — reproduces the history".to_string()
            } else {
                format!(" — does not reproduce the history: {}", self.reason)
            }
        )
    }
}

/// `a` against `b`, percent (0 when `b` is 0).
fn percent_error(a: f64, b: f64) -> f64 {
    if b.abs() > 0.0 {
        (a - b) / b * 100.0
    } else {
        0.0
    }
}

/// Scale events (changes of the count between samples) and direction
/// changes (an event the other way from the one before).
fn scale_events(counts: &[f64]) -> (u64, u64) {
    let mut events = 0;
    let mut turns = 0;
    let mut last_up: Option<bool> = None;
    for pair in counts.windows(2) {
        let d = pair[1] - pair[0];
        if d.abs() < 0.5 {
            continue;
        }
        events += 1;
        let up = d > 0.0;
        if last_up.is_some_and(|l| l != up) {
            turns += 1;
        }
        last_up = Some(up);
    }
    (events, turns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_events_count_changes_and_turns_between_samples() {
        let (e, t) = scale_events(&[2.0, 2.0, 4.0, 5.0, 3.0, 3.0, 6.0]);
        assert_eq!((e, t), (4, 2));
        assert_eq!(scale_events(&[3.0; 5]), (0, 0));
    }
}

#[cfg(test)]
mod replay_tests {
    use stepscale_engine::ConfigChange;

    use crate::fixtures::workload;
    use crate::objective::Objective;
    use crate::recommendation::{decide, recommend, WorkloadFindings};
    use crate::replay;

    /// Four days at 5 minutes, 40 % of 500m on each recorded pod.
    fn four_days(recorded_pods: f64) -> stepscale_engine::WorkloadSnapshot {
        let mut w = workload();
        let n = 4 * 288;
        w.history.cpu_utilization = vec![40.0; n];
        w.history.replicas_current = vec![recorded_pods; n];
        w.history.replicas_desired = vec![recorded_pods; n];
        w
    }

    #[test]
    fn a_replay_that_keeps_the_recorded_pods_reproduces_the_history() {
        // 3 pods at 40 % of 500m is 0.6 cores; at a 60 % target the HPA
        // keeps 2 (0.6 / 0.3), the floor: record what it would keep.
        let w = four_days(2.0);
        let h = replay::demand_history(&w);
        let today =
            replay::model_config(&w.config, &ConfigChange::default(), 0.5).expect("cpu target");
        let f = replay::fidelity(&w, &h, &today).expect("replay");
        assert!(f.reproduces, "{}", f.line());
        assert!(
            (f.replayed.replica_hours_per_day - 48.0).abs() < 0.5,
            "{}",
            f.line()
        );
        assert!(f.line().contains("reproduces the history"), "{}", f.line());
    }

    #[test]
    fn a_workload_whose_replay_misses_its_own_history_gets_no_change() {
        // 8 pods recorded at 40 %: 1.6 cores, which the HPA at a 60 % target
        // carries with 6 pods, not 8. Something the replay does not model
        // (another controller, a manual scale) holds the count up: the
        // replay cannot judge a change to it.
        let w = four_days(8.0);
        let mut rec = recommend(&w, WorkloadFindings::default());
        decide(&mut rec, &w, &Objective::default());
        let choice = rec.choice.as_ref().expect("a choice");
        let f = choice.fidelity.as_ref().expect("fidelity");
        assert!(!f.reproduces, "{}", f.line());
        assert!(f.reason.contains("replica-hours differ"), "{}", f.reason);
        assert!(rec.proposed.is_empty(), "{}", rec.summary);
        assert!(rec.predictive_schedule.is_none());
        // The search did find a cheaper config; the gate withheld it.
        assert!(!choice.best.is_empty(), "{}", choice.verdict);
        assert!(
            choice.verdict.contains("does not reproduce"),
            "{}",
            choice.verdict
        );
    }
}
