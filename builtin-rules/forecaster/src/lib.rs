//! Builtin forecaster: replicas needed at the current CPU target for the
//! steps after the history, from a daily or weekly seasonal profile, plus the
//! recurring peak windows a predictive schedule can pre-scale for.
//!
//! # Model
//! Demand is CPU utilization × current replicas / 100 (pods at 100 % of
//! request). The season is a day, or a week when the weekly seasonality
//! strength exceeds the daily one by more than 0.05 (see
//! `stats::seasonality_strength`) and the weekly model forecasts each day of
//! the last week (from the data before that day) better than the daily model
//! (so at least
//! [`WEEKLY_CONFIRM_DAYS`] days are needed). With `P` samples per season:
//! - the *level* at each sample is the trailing mean of the last `P`
//!   samples (one full season, so the cycle averages out);
//! - the *profile* of each slot of the season (sample position in the local
//!   day or week) is the median, over the last [`PROFILE_SEASONS_DAILY`] days
//!   or [`PROFILE_SEASONS_WEEKLY`] weeks, of demand / level at that slot:
//!   multiplicative, and robust to a holiday or an outage in one season;
//! - the seasonal *shape* at a slot is [`PROFILE_WEIGHT`] × profile plus the
//!   rest × the last season's demand / latest level (seasonal naive): the
//!   robust profile blended with what happened most recently;
//! - the forecast level is [`LEVEL_RECENT_WEIGHT`] × the latest level plus
//!   the rest × the median of the levels at the ends of those seasons, and
//!   the forecast at step `h` is level × shape(slot of `h`);
//! - replicas needed = forecast demand / (target / 100), not rounded, so a
//!   consumer can round up where it needs whole pods.
//!
//! Peak windows come from one season of the forecast by local hour: hours
//! whose forecast demand is at least [`PEAK_RATIO`] × the season's median and
//! whose need (rounded up) exceeds `minReplicas`, merged into runs and cut at
//! local midnight; each carries the highest need in it.
use stepscale_rules_sdk::input::WorkloadData;
use stepscale_rules_sdk::stats::{self, TimeGrid, DAY_SECONDS, WEEK_SECONDS};
use stepscale_rules_sdk::types::{Evidence, Forecast, PeakWindow, RuleInfo};

/// The rule id.
pub const RULE_ID: &str = "forecaster";
/// Days of history needed.
pub const MIN_DAYS: usize = 2;
/// Days of history a weekly season needs: two weeks to fit and one to
/// confirm it on.
pub const WEEKLY_CONFIRM_DAYS: usize = 21;
/// Seasons the daily profile is taken over.
pub const PROFILE_SEASONS_DAILY: usize = 7;
/// Seasons the weekly profile is taken over.
pub const PROFILE_SEASONS_WEEKLY: usize = 4;
/// An hour's forecast over the season's median that makes it a peak.
pub const PEAK_RATIO: f64 = 1.3;
/// Weight of the latest level against the robust level of past seasons.
pub const LEVEL_RECENT_WEIGHT: f64 = 0.5;
/// Weight of the seasonal profile forecast against the seasonal-naive one
/// (the last season repeated, rescaled to the forecast level).
pub const PROFILE_WEIGHT: f64 = 0.7;
/// Longest horizon served, steps.
pub const MAX_HORIZON_STEPS: u32 = 100_000;

/// The forecaster's static description.
pub fn rule_info() -> RuleInfo {
    RuleInfo {
        id: RULE_ID.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "daily/weekly seasonal forecast of replicas needed, with peak windows".into(),
    }
}

/// Evidence label: mean absolute error of the forecaster on the held-out
/// last season, pods.
pub const BACKTEST_MAE: &str = "back-test MAE on the last season";
/// Evidence label: the same for the daily seasonal-naive forecast.
pub const NAIVE_DAILY_MAE: &str = "back-test MAE of the daily seasonal-naive forecast";
/// Evidence label: the same for the weekly seasonal-naive forecast (at
/// least a week before the held-out season).
pub const NAIVE_WEEKLY_MAE: &str = "back-test MAE of the weekly seasonal-naive forecast";

/// Mean absolute error over the samples where both are finite.
fn mae(actual: &[f64], forecast: &[f64]) -> Option<f64> {
    let err: Vec<f64> = actual
        .iter()
        .zip(forecast)
        .filter(|(a, f)| a.is_finite() && f.is_finite())
        .map(|(a, f)| (a - f).abs())
        .collect();
    stats::mean(&err)
}

fn evidence(label: &str, value: f64, unit: &str) -> Evidence {
    Evidence {
        label: label.into(),
        value: (value * 1000.0).round() / 1000.0,
        unit: unit.into(),
    }
}

/// A fitted seasonal model of a demand series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonalModel {
    /// Samples per season.
    pub season: usize,
    /// Seconds per season (a day or a week).
    pub season_seconds: i64,
    /// Multiplicative profile per slot of the season (slot 0 = local midnight,
    /// Monday midnight for a weekly season); 1.0 where unknown.
    pub profile: Vec<f64>,
    /// Forecast level, demand units.
    pub level: f64,
    /// The last season of demand divided by its level (the seasonal-naive
    /// shape), indexed by slot; NaN where missing.
    pub last_season: Vec<f64>,
}

impl SeasonalModel {
    /// Fit the model to `demand` on `grid` with a season of `season_seconds`
    /// (which the step must divide), using the last `seasons` seasons for
    /// the profile. `None` without two full seasons of data or any level.
    pub fn fit(
        demand: &[f64],
        grid: &TimeGrid,
        season_seconds: i64,
        seasons: usize,
    ) -> Option<Self> {
        let step = i64::from(grid.step_seconds.max(1));
        if season_seconds % step != 0 {
            return None;
        }
        let season = (season_seconds / step) as usize;
        let n = demand.len();
        if n < 2 * season {
            return None;
        }
        let level = stats::rolling_mean(demand, season);
        let from = n.saturating_sub(seasons * season).max(season - 1);
        // Samples one season apart share a slot: gather each slot's ratios
        // (in sample order) from the first season of the window on.
        let mut profile = vec![1.0; season];
        let mut ratios = Vec::with_capacity(seasons + 1);
        for j in from..(from + season).min(n) {
            ratios.clear();
            for i in (j..n).step_by(season) {
                // Against the mean of its own season, counted back from the
                // end of the history (a day ending at the last sample, the
                // one before it, …): the slot's share of its day, not of a
                // trailing window that spans two days.
                let end = n - (n - 1 - i) / season * season;
                let l = if end >= season {
                    level[end - 1]
                } else {
                    f64::NAN
                };
                let d = demand[i];
                if d.is_finite() && l.is_finite() && l > 0.0 {
                    ratios.push(d / l);
                }
            }
            if let Some(m) = stats::percentile_in_place(&mut ratios, 0.5) {
                profile[grid.slot(j, step, season_seconds)] = m;
            }
        }
        let ends: Vec<f64> = (0..seasons)
            .filter_map(|k| n.checked_sub(1 + k * season))
            .filter(|&i| i + 1 >= season)
            .map(|i| level[i])
            .collect();
        let recent = level[n - 1];
        let robust = stats::median(&ends)?;
        let level = if recent.is_finite() {
            LEVEL_RECENT_WEIGHT * recent + (1.0 - LEVEL_RECENT_WEIGHT) * robust
        } else {
            robust
        };
        let mut last_season = vec![f64::NAN; season];
        for (d, t) in demand[n - season..]
            .iter()
            .zip(grid.local_times(n - season))
        {
            if d.is_finite() && recent > 0.0 {
                last_season[t.slot(step, season_seconds)] = d / recent;
            }
        }
        Some(SeasonalModel {
            season,
            season_seconds,
            profile,
            level,
            last_season,
        })
    }

    /// Forecast demand for `horizon` steps after sample `n - 1` of `grid`
    /// (i.e. for samples `n..n + horizon`).
    pub fn forecast(&self, grid: &TimeGrid, n: usize, horizon: usize) -> Vec<f64> {
        let step = i64::from(grid.step_seconds.max(1));
        grid.local_times(n)
            .take(horizon)
            .map(|t| {
                let slot = t.slot(step, self.season_seconds) % self.season;
                let naive = self.last_season[slot];
                let shape = if naive.is_finite() {
                    PROFILE_WEIGHT * self.profile[slot] + (1.0 - PROFILE_WEIGHT) * naive
                } else {
                    self.profile[slot]
                };
                stats::max2(self.level * shape, 0.0)
            })
            .collect()
    }
}

/// Choose the season for `demand` (see the crate docs): (season seconds,
/// daily strength, weekly strength if measured).
pub fn choose_season(demand: &[f64], grid: &TimeGrid) -> (i64, f64, Option<f64>) {
    let spd = grid.samples_per_day();
    let daily = stats::seasonality_strength(demand, spd).unwrap_or(0.0);
    let weekly = (demand.len() >= 14 * spd)
        .then(|| stats::seasonality_strength(demand, 7 * spd))
        .flatten();
    let season = if weekly.is_some_and(|w| w > daily + 0.05) && weekly_holds(demand, grid) {
        WEEK_SECONDS
    } else {
        DAY_SECONDS
    };
    (season, daily, weekly)
}

/// A weekly season must also hold on the last week: forecasting each of its
/// days from everything before that day, the weekly model makes less error
/// than the daily one. It needs [`WEEKLY_CONFIRM_DAYS`] of history (two
/// weeks to fit, one to confirm).
fn weekly_holds(demand: &[f64], grid: &TimeGrid) -> bool {
    let spd = grid.samples_per_day();
    let n = demand.len();
    if n < WEEKLY_CONFIRM_DAYS * spd {
        return false;
    }
    // Day-ahead forecasts from each of the last seven days' starts, the
    // way the forecast is used.
    let error = |season: i64| -> Option<f64> {
        let mut sum = 0.0;
        for k in 1..=7 {
            let cut = n - k * spd;
            let fc = fit_season(&demand[..cut], grid, season)?.forecast(grid, cut, spd);
            sum += mae(&demand[cut..cut + spd], &fc)?;
        }
        Some(sum)
    };
    match (error(WEEK_SECONDS), error(DAY_SECONDS)) {
        (Some(w), Some(d)) => w < d,
        _ => false,
    }
}

/// Fit the model the forecaster uses on `demand` (season chosen by
/// [`choose_season`]).
pub fn fit(demand: &[f64], grid: &TimeGrid) -> Option<SeasonalModel> {
    let (season, _, _) = choose_season(demand, grid);
    fit_season(demand, grid, season)
}

/// Fit the model with the season already chosen by [`choose_season`].
fn fit_season(demand: &[f64], grid: &TimeGrid, season: i64) -> Option<SeasonalModel> {
    let seasons = if season == WEEK_SECONDS {
        PROFILE_SEASONS_WEEKLY
    } else {
        PROFILE_SEASONS_DAILY
    };
    SeasonalModel::fit(demand, grid, season, seasons)
}

/// Peak windows from one season of forecast (see the crate docs).
fn peak_windows(
    model: &SeasonalModel,
    grid: &TimeGrid,
    n: usize,
    target: f64,
    min: u32,
) -> Vec<PeakWindow> {
    let season_fc = model.forecast(grid, n, model.season);
    let weekly = model.season_seconds == WEEK_SECONDS;
    let hours = if weekly { 168 } else { 24 };
    // Highest forecast per local hour slot of the season.
    let mut hourly = vec![f64::NAN; hours];
    for (d, t) in season_fc.iter().zip(grid.local_times(n)) {
        let h = if weekly {
            t.hour_of_week()
        } else {
            t.hour_of_day()
        };
        hourly[h] = stats::max2(hourly[h], *d);
    }
    let Some(median) = stats::median(&season_fc) else {
        return Vec::new();
    };
    let need: Vec<f64> = hourly
        .iter()
        .map(|d| stats::replicas_needed(*d, target))
        .collect();
    let peak: Vec<bool> = (0..hours)
        .map(|h| hourly[h] >= PEAK_RATIO * median && need[h] > f64::from(min))
        .collect();
    let mut out = Vec::new();
    let mut h = 0;
    while h < hours {
        if !peak[h] {
            h += 1;
            continue;
        }
        let start = h;
        // Runs stop at local midnight so each window lies within one day.
        while h < hours && peak[h] && (h == start || h % 24 != 0) {
            h += 1;
        }
        let replicas = need[start..h].iter().copied().fold(0.0, f64::max) as u32;
        out.push(PeakWindow {
            day_of_week: weekly.then_some((start / 24) as u8),
            start_minute: (start % 24) as u32 * 60,
            end_minute: ((h - 1) % 24 + 1) as u32 * 60,
            replicas,
        });
    }
    out
}

/// Forecast `horizon` steps after the last sample of `w`.
///
/// # Errors
/// - the autoscaler has no CPU target (needed to turn demand into replicas);
/// - the step does not divide a day, or fewer than [`MIN_DAYS`] days of
///   history, or no finite demand;
/// - `horizon` above [`MAX_HORIZON_STEPS`].
pub fn predict(w: &WorkloadData, horizon: u32) -> Result<Forecast, String> {
    let target = w
        .config
        .cpu_target_percent
        .map(f64::from)
        .filter(|t| *t > 0.0)
        .ok_or(
            "the autoscaler has no CPU target; the forecaster forecasts replicas at the CPU target",
        )?;
    if horizon > MAX_HORIZON_STEPS {
        return Err(format!(
            "horizon of {horizon} steps is above the limit of {MAX_HORIZON_STEPS}"
        ));
    }
    let step = w.info.step_seconds.max(1);
    if DAY_SECONDS % i64::from(step) != 0 {
        return Err(format!(
            "step of {step} s does not divide a day; resample the history"
        ));
    }
    let grid = w.time_grid();
    let demand = w.demand_pods();
    let n = demand.len();
    if n < MIN_DAYS * grid.samples_per_day() {
        return Err(format!(
            "history covers {:.1} days; the forecaster needs at least {MIN_DAYS}",
            n as f64 / grid.samples_per_day() as f64
        ));
    }
    let (season, daily, weekly) = choose_season(&demand, &grid);
    let model = fit_season(&demand, &grid, season)
        .ok_or("no usable demand in the history (all samples missing or zero)")?;
    let replicas_needed: Vec<f64> = model
        .forecast(&grid, n, horizon as usize)
        .iter()
        .map(|d| d / (target / 100.0))
        .collect();
    let peak_windows = peak_windows(&model, &grid, n, target, w.config.min_replicas);

    // Back-test: refit without the last season and forecast it; the same
    // season forecast by the seasonal-naive forecasts is the bar.
    let mut evidence_list = vec![
        evidence("daily seasonality strength", daily, "ratio"),
        evidence("season length", (season / 3600) as f64, "hours"),
        evidence("forecast level", model.level, "pods"),
        evidence("history", n as f64 / grid.samples_per_day() as f64, "days"),
    ];
    if let Some(s) = weekly {
        evidence_list.insert(1, evidence("weekly seasonality strength", s, "ratio"));
    }
    let cut = n - model.season;
    if let Some(m) = fit(&demand[..cut], &grid) {
        let fc = m.forecast(&grid, cut, model.season);
        let spd = grid.samples_per_day();
        if let Some(score) = stats::mase(&demand[cut..], &fc, &demand[..cut], spd) {
            evidence_list.push(evidence(
                "back-test MASE on the last season",
                score,
                "ratio",
            ));
        }
        // The same held-out season forecast by repeating the last day (and
        // the last week) before it: what the forecaster must beat.
        let actual = &demand[cut..];
        if let Some(mae) = mae(actual, &fc) {
            evidence_list.push(evidence(BACKTEST_MAE, mae, "pods"));
        }
        for (label, lag) in [(NAIVE_DAILY_MAE, spd), (NAIVE_WEEKLY_MAE, 7 * spd)] {
            if cut < lag {
                continue;
            }
            let naive: Vec<f64> = (0..actual.len())
                .map(|i| demand[cut - lag + i % lag])
                .collect();
            if let Some(mae) = mae(actual, &naive) {
                evidence_list.push(evidence(label, mae, "pods"));
            }
        }
    }
    Ok(Forecast {
        start_unix_seconds: w.info.start_unix_seconds + n as i64 * i64::from(step),
        step_seconds: step,
        replicas_needed,
        peak_windows,
        evidence: evidence_list,
    })
}

// The component glue (wasm32 only; natively this crate is a plain library).
stepscale_rules_sdk::forecaster_rule!(rule_info, predict);

#[cfg(test)]
mod tests;
