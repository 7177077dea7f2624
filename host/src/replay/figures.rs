//! The figures of one replay: what the objective judges a config by.

use serde::{Deserialize, Serialize};

/// What one replay of one config over one period shows, per day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    /// Replica-hours per day, starting pods included.
    pub replica_hours_per_day: f64,
    /// Minutes per day with demand above ready capacity.
    pub saturated_minutes_per_day: f64,
    /// Minutes per day over the CPU target (+ the HPA's tolerance).
    pub over_target_minutes_per_day: f64,
    /// Scale direction changes per day.
    pub direction_changes_per_day: f64,
    /// Minutes per day at which demand was censored in the history and this
    /// config had fewer ready pods than today's config.
    pub censored_shortfall_minutes_per_day: f64,
    /// Largest replica count.
    pub peak_replicas: i32,
}

impl Figures {
    /// The same figures rounded for display and storage (0.1).
    pub fn rounded(self) -> Figures {
        let r = |v: f64| (v * 10.0).round() / 10.0;
        Figures {
            replica_hours_per_day: r(self.replica_hours_per_day),
            saturated_minutes_per_day: r(self.saturated_minutes_per_day),
            over_target_minutes_per_day: r(self.over_target_minutes_per_day),
            direction_changes_per_day: r(self.direction_changes_per_day),
            censored_shortfall_minutes_per_day: r(self.censored_shortfall_minutes_per_day),
            peak_replicas: self.peak_replicas,
        }
    }

    /// Percent of replica-hours `self` saves against `today` (negative =
    /// costs more).
    pub fn savings_percent(&self, today: &Figures) -> f64 {
        if today.replica_hours_per_day > 0.0 {
            (today.replica_hours_per_day - self.replica_hours_per_day) / today.replica_hours_per_day
                * 100.0
        } else {
            0.0
        }
    }
}
