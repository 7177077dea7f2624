//! The objective a recommendation is chosen by, and the replay figures it is
//! judged on.
//!
//! **Minimize replica-hours** subject to guardrails measured by replaying the
//! history through the HPA model ([`crate::replay`]):
//! - saturated minutes per day (demand above ready capacity) and minutes per
//!   day over the CPU target no worse than today's plus a small tolerance
//!   ([`Objective::saturation_tolerance_minutes_per_day`],
//!   [`Objective::over_target_tolerance_minutes_per_day`]);
//! - within an absolute budget ([`Objective::max_saturation_minutes_per_day`],
//!   [`Objective::max_over_target_minutes_per_day`]), or no worse than today
//!   when today already breaks it;
//! - scale direction changes per day no worse than today's plus
//!   [`Objective::direction_change_tolerance_per_day`];
//! - where the history's demand is censored (the pods were at their CPU cap,
//!   so the true demand is only estimated: see
//!   [`crate::replay::DemandHistory`]), fewer ready pods than today's config
//!   count as saturated minutes on top of the replay's, within the same
//!   tolerance ([`Objective::charged_saturation`]); `balanced` outside the
//!   budget and `reliability` never take capacity away there.
//!
//! The modes ([`Mode`]) say what to do with that: `savings` (the default)
//! never accepts a config worse than today and saves as much as it can;
//! `balanced` brings a workload that breaks the budget inside it at the
//! least cost; `reliability` buys the fewest saturated minutes, cost second.
//!
//! The search ([`search`]) scores candidates on the earlier part of the
//! history and confirms the choice on the held-out later part.

pub mod search;

use serde::{Deserialize, Serialize};

use crate::replay::Figures;

/// What the search optimizes for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// Never worse than today (within the tolerances), as cheap as possible.
    #[default]
    Savings,
    /// A workload that breaks the budget is brought inside it at the least
    /// cost; one inside it is treated as in `savings`.
    Balanced,
    /// The fewest saturated minutes, then the fewest over target, then the
    /// least cost (at most [`Objective::max_extra_cost_percent`] more).
    Reliability,
}

impl Mode {
    /// Lowercase name, as in values and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Savings => "savings",
            Mode::Balanced => "balanced",
            Mode::Reliability => "reliability",
        }
    }
}

/// Default saturation tolerance, minutes/day: one minute a day is below what
/// a 1-minute metric can resolve reliably, and below what users notice.
pub const DEFAULT_SATURATION_TOLERANCE: f64 = 1.0;
/// Default over-target tolerance, minutes/day: running over the target (but
/// below saturation) is spending headroom, not failing requests; 10 minutes a
/// day is under 1 % of the day.
pub const DEFAULT_OVER_TARGET_TOLERANCE: f64 = 10.0;
/// Default saturation budget, minutes/day (about 99.7 % of minutes with
/// enough ready capacity).
pub const DEFAULT_MAX_SATURATION: f64 = 5.0;
/// Default over-target budget, minutes/day (one hour: 96 % of the day within
/// target).
pub const DEFAULT_MAX_OVER_TARGET: f64 = 60.0;
/// Default tolerance on scale direction changes, per day: following a daily
/// cycle (down at night, up in the morning) costs 2 a day, and one more swing
/// in each direction is allowed; thrashing is tens a day.
pub const DEFAULT_DIRECTION_CHANGE_TOLERANCE: f64 = 4.0;
/// Default smallest saving worth a change, percent of replica-hours: below
/// this the change is churn for the reviewer, not savings.
pub const DEFAULT_MIN_SAVINGS_PERCENT: f64 = 3.0;
/// Default most a `reliability` (or `balanced`) change may add, percent of
/// today's replica-hours.
pub const DEFAULT_MAX_EXTRA_COST_PERCENT: f64 = 50.0;

/// The objective with its guardrails; stated in every recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Objective {
    /// What to optimize for.
    pub mode: Mode,
    /// Saturated minutes/day a change may add to today's.
    pub saturation_tolerance_minutes_per_day: f64,
    /// Minutes/day over target a change may add to today's.
    pub over_target_tolerance_minutes_per_day: f64,
    /// Absolute budget of saturated minutes/day.
    pub max_saturation_minutes_per_day: f64,
    /// Absolute budget of minutes/day over target.
    pub max_over_target_minutes_per_day: f64,
    /// Scale direction changes/day a change may add to today's.
    pub direction_change_tolerance_per_day: f64,
    /// Smallest saving, percent, that is worth proposing in `savings` mode.
    pub min_savings_percent: f64,
    /// Most a `balanced` or `reliability` change may add to today's cost,
    /// percent.
    pub max_extra_cost_percent: f64,
}

impl Default for Objective {
    fn default() -> Self {
        Objective {
            mode: Mode::Savings,
            saturation_tolerance_minutes_per_day: DEFAULT_SATURATION_TOLERANCE,
            over_target_tolerance_minutes_per_day: DEFAULT_OVER_TARGET_TOLERANCE,
            max_saturation_minutes_per_day: DEFAULT_MAX_SATURATION,
            max_over_target_minutes_per_day: DEFAULT_MAX_OVER_TARGET,
            direction_change_tolerance_per_day: DEFAULT_DIRECTION_CHANGE_TOLERANCE,
            min_savings_percent: DEFAULT_MIN_SAVINGS_PERCENT,
            max_extra_cost_percent: DEFAULT_MAX_EXTRA_COST_PERCENT,
        }
    }
}

/// An objective value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("objective: {field} is {value}; {fix}")]
pub struct ObjectiveError {
    /// The field, as in values.
    pub field: &'static str,
    /// The value given.
    pub value: f64,
    /// What to set instead.
    pub fix: &'static str,
}

impl Objective {
    /// Check every value.
    ///
    /// # Errors
    /// A negative, NaN or infinite tolerance or budget.
    pub fn validate(&self) -> Result<(), ObjectiveError> {
        let fields = [
            (
                "safety.saturationToleranceMinutesPerDay",
                self.saturation_tolerance_minutes_per_day,
            ),
            (
                "safety.overTargetToleranceMinutesPerDay",
                self.over_target_tolerance_minutes_per_day,
            ),
            (
                "safety.maxSaturationMinutesPerDay",
                self.max_saturation_minutes_per_day,
            ),
            (
                "safety.maxOverTargetMinutesPerDay",
                self.max_over_target_minutes_per_day,
            ),
            (
                "safety.directionChangeTolerancePerDay",
                self.direction_change_tolerance_per_day,
            ),
            ("objective.minSavingsPercent", self.min_savings_percent),
            ("objective.maxExtraCostPercent", self.max_extra_cost_percent),
        ];
        for (field, value) in fields {
            if !(value.is_finite() && (0.0..=1440.0).contains(&value)) {
                return Err(ObjectiveError {
                    field,
                    value,
                    fix: "use a number between 0 and 1440",
                });
            }
        }
        Ok(())
    }

    /// The same objective with every tolerance multiplied by `factor` (the
    /// budgets unchanged). When the search's first choice does not hold on
    /// the held-out part, it chooses again under [`search::SELECTION_MARGIN`]
    /// of the tolerances, so that a choice made at the edge of the tolerance
    /// on the fit part and failing confirmation by a hair is followed by one
    /// with room to spare; the schedule pass chooses under that share too.
    pub fn with_tolerances_scaled(&self, factor: f64) -> Objective {
        Objective {
            saturation_tolerance_minutes_per_day: self.saturation_tolerance_minutes_per_day
                * factor,
            over_target_tolerance_minutes_per_day: self.over_target_tolerance_minutes_per_day
                * factor,
            direction_change_tolerance_per_day: self.direction_change_tolerance_per_day * factor,
            ..*self
        }
    }

    /// The objective in one sentence, for the report.
    pub fn statement(&self) -> String {
        let what = match self.mode {
            Mode::Savings => "minimize replica-hours",
            Mode::Balanced => "stay within the budget at the least replica-hours",
            Mode::Reliability => "minimize saturated minutes, then replica-hours",
        };
        format!(
            "{} ({}): saturation ≤ today +{} min/day and ≤ {} min/day (or no worse than today), over target ≤ today +{} min/day and ≤ {} min/day, direction changes ≤ today +{}/day, fewer ready pods than today where demand was censored count as saturated",
            self.mode.as_str(),
            what,
            self.saturation_tolerance_minutes_per_day,
            self.max_saturation_minutes_per_day,
            self.over_target_tolerance_minutes_per_day,
            self.max_over_target_minutes_per_day,
            self.direction_change_tolerance_per_day,
        )
    }

    /// Whether `f` keeps the guardrails against the baseline `today`
    /// (savings semantics: never meaningfully worse than today).
    pub fn keeps_guardrails(&self, f: &Figures, today: &Figures) -> bool {
        let eps = 1e-9;
        let charged = Figures {
            saturated_minutes_per_day: Self::charged_saturation(f),
            ..*f
        };
        let sat = charged.saturated_minutes_per_day;
        let no_worse = sat
            <= today.saturated_minutes_per_day + self.saturation_tolerance_minutes_per_day + eps
            && f.over_target_minutes_per_day
                <= today.over_target_minutes_per_day
                    + self.over_target_tolerance_minutes_per_day
                    + eps;
        let budget = self.within_budget(&charged)
            || sat <= today.saturated_minutes_per_day + eps
                && f.over_target_minutes_per_day <= today.over_target_minutes_per_day + eps;
        no_worse && budget && self.keeps_churn(f, today)
    }

    /// Saturated minutes per day the guardrails charge `f` with: the
    /// replay's, plus every censored sample at which `f` has fewer ready pods
    /// than today's config (the demand there is only estimated, so fewer pods
    /// are taken to saturate for the whole sample).
    pub fn charged_saturation(f: &Figures) -> f64 {
        f.saturated_minutes_per_day + f.censored_shortfall_minutes_per_day
    }

    /// Direction changes no worse than today's plus the tolerance.
    fn keeps_churn(&self, f: &Figures, today: &Figures) -> bool {
        f.direction_changes_per_day
            <= today.direction_changes_per_day + self.direction_change_tolerance_per_day + 1e-9
    }

    /// Direction changes and censored-demand capacity no worse than today.
    pub fn keeps_churn_and_censoring(&self, f: &Figures, today: &Figures) -> bool {
        self.keeps_churn(f, today) && f.censored_shortfall_minutes_per_day <= 1e-9
    }

    /// The guardrails `f` breaks against `today`, in words (empty when it
    /// keeps them all).
    pub fn violations(&self, f: &Figures, today: &Figures) -> Vec<String> {
        let mut out = Vec::new();
        let eps = 1e-9;
        // `savings` (and `balanced` inside the budget) charge a censored
        // shortfall as saturation; the other modes refuse it.
        let charged =
            self.mode == Mode::Savings || self.mode == Mode::Balanced && self.within_budget(today);
        let shortfall = f.censored_shortfall_minutes_per_day;
        let sat = if charged {
            Self::charged_saturation(f)
        } else {
            f.saturated_minutes_per_day
        } - today.saturated_minutes_per_day;
        let over = f.over_target_minutes_per_day - today.over_target_minutes_per_day;
        let dir = f.direction_changes_per_day - today.direction_changes_per_day;
        if sat > self.saturation_tolerance_minutes_per_day + eps {
            out.push(format!(
                "saturation {sat:+.1} min/day{} (tolerance {})",
                if charged && shortfall > eps {
                    format!(
                        ", {shortfall:.1} of them where demand was censored and it has fewer ready pods than today"
                    )
                } else {
                    String::new()
                },
                self.saturation_tolerance_minutes_per_day
            ));
        }
        if over > self.over_target_tolerance_minutes_per_day + eps {
            out.push(format!(
                "over target {over:+.1} min/day (tolerance {})",
                self.over_target_tolerance_minutes_per_day
            ));
        }
        if !self.within_budget(f) && (sat > eps || over > eps) {
            out.push(format!(
                "outside the budget ({:.1} saturated min/day, {:.1} min/day over target; budget {} and {})",
                f.saturated_minutes_per_day,
                f.over_target_minutes_per_day,
                self.max_saturation_minutes_per_day,
                self.max_over_target_minutes_per_day
            ));
        }
        if dir > self.direction_change_tolerance_per_day + eps {
            out.push(format!(
                "direction changes {dir:+.1}/day (tolerance {})",
                self.direction_change_tolerance_per_day
            ));
        }
        if !charged && shortfall > eps {
            out.push(format!(
                "fewer ready pods than today for {:.1} min/day where demand was censored",
                f.censored_shortfall_minutes_per_day
            ));
        }
        out
    }

    /// Whether `f` is inside the absolute budget.
    pub fn within_budget(&self, f: &Figures) -> bool {
        f.saturated_minutes_per_day <= self.max_saturation_minutes_per_day + 1e-9
            && f.over_target_minutes_per_day <= self.max_over_target_minutes_per_day + 1e-9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(rh: f64, sat: f64, over: f64, dir: f64) -> Figures {
        Figures {
            replica_hours_per_day: rh,
            saturated_minutes_per_day: sat,
            over_target_minutes_per_day: over,
            direction_changes_per_day: dir,
            censored_shortfall_minutes_per_day: 0.0,
            peak_replicas: 1,
        }
    }

    #[test]
    fn the_guardrails_allow_the_tolerance_and_no_more() {
        let o = Objective::default();
        let today = f(100.0, 2.0, 20.0, 4.0);
        assert!(o.keeps_guardrails(&f(80.0, 3.0, 30.0, 8.0), &today));
        assert!(!o.keeps_guardrails(&f(80.0, 3.5, 20.0, 4.0), &today));
        assert!(!o.keeps_guardrails(&f(80.0, 2.0, 31.0, 4.0), &today));
        assert!(!o.keeps_guardrails(&f(80.0, 2.0, 20.0, 8.5), &today));
        // Fewer ready pods than today where demand was censored count as
        // saturated minutes: within the tolerance with the rest, not beyond.
        let mut censored = f(80.0, 2.0, 20.0, 4.0);
        censored.censored_shortfall_minutes_per_day = 0.5;
        assert!(o.keeps_guardrails(&censored, &today));
        censored.saturated_minutes_per_day = 2.6;
        assert!(!o.keeps_guardrails(&censored, &today));
        let why = o.violations(&censored, &today).join("; ");
        assert!(
            why.contains("+1.1 min/day, 0.5 of them where demand was censored"),
            "{why}"
        );
    }

    #[test]
    fn over_the_budget_a_change_may_not_add_even_the_tolerance() {
        let o = Objective::default();
        // Today breaks the 5 min/day budget: a change may not make it worse.
        let today = f(100.0, 8.0, 20.0, 4.0);
        assert!(!o.keeps_guardrails(&f(80.0, 8.5, 20.0, 4.0), &today));
        assert!(o.keeps_guardrails(&f(80.0, 8.0, 20.0, 4.0), &today));
    }

    #[test]
    fn a_bad_value_names_the_field() {
        let o = Objective {
            max_saturation_minutes_per_day: -1.0,
            ..Objective::default()
        };
        let e = o.validate().expect_err("negative budget");
        assert!(e.to_string().contains("safety.maxSaturationMinutesPerDay"));
    }
}
