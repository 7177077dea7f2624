//! Sizing a predictive schedule to the deficit: floors only where, and
//! only as high as, the replay shows the autoscaler cannot provision in time.
//!
//! 1. The chosen config is replayed over the fit part; a sample is short when
//!    demand exceeds the ready pods' capacity.
//! 2. The day is cut into [`BIN_MINUTES`] bins of local time in the
//!    workload's IANA time zone (so a 09:00 peak stays in the 09:00 bin
//!    across daylight-saving changes). A bin recurs when it is short on at
//!    least [`RECUR_FRACTION`] of the fit part's whole days (at least
//!    [`MIN_DAYS`] of them).
//! 3. Adjacent recurring bins form a window, which opens [`lead_minutes`]
//!    early: the workload's observed scale-up delay (how long the history's
//!    ready pods took to reach a raised desired count, 90th percentile;
//!    [`DEFAULT_STARTUP_SECONDS`] when it shows no scale-up) plus the
//!    autoscaler's reaction ([`REACTION_SECONDS`]), rounded up to 5
//!    minutes. Its floor is the pods the demand needed at 100 % of request
//!    in the window (the upper quartile over the short days): enough to
//!    carry the demand until the HPA catches up, not the whole peak at the
//!    target. A floor never exceeds maxReplicas; when the demand needs more,
//!    the schedule says so in `maxReplicasNeeded`.
//!    A window bound that falls in a daylight-saving gap moves to the first
//!    minute after it ([`super::windows::outside_gaps`]).
//! 4. At most [`MAX_WINDOWS`] windows, the most often short first, and at
//!    most [`MAX_FLOOR_HOURS_PER_DAY`] window-hours a day.
//!
//! The schedule then passes the same objective and held-out confirmation as
//! the config (the schedule pass of [`crate::recommendation::decide()`]): it is
//! sized for the search's choice and for cheaper configs that only run
//! short, and kept only if it removes at least [`MIN_SATURATION_REMOVED`]
//! saturated minutes a day on the fit part, wins under the objective there
//! (in `savings` mode: cheaper than the plain choice), and keeps the
//! guardrails and removes saturation on the held-out days too.

use std::collections::BTreeSet;

use stepscale_engine::snapshot::MetricHistory;
use stepscale_hpa::simulate::{AutoscalerConfig, CronFloor, KedaConfig};
use stepscale_hpa::tz::TimeZone;

use super::windows::{cron_metadata, outside_gaps};
use super::{PredictiveSchedule, ScheduleWindow};
use crate::replay::{self, DemandHistory};

/// Width of a time-of-day bin, minutes.
pub const BIN_MINUTES: u32 = 15;
/// Share of whole days a bin must be short on to recur.
pub const RECUR_FRACTION: f64 = 0.5;
/// Least whole days in the fit part for a schedule.
pub const MIN_DAYS: usize = 3;
/// Pod start-up assumed when the history shows no scale-up, seconds (the
/// replay's start-up delay).
pub const DEFAULT_STARTUP_SECONDS: u32 = 45;
/// The autoscaler's reaction before pods are created, seconds: the 60 s
/// metric window and a 15 s sync.
pub const REACTION_SECONDS: u32 = 75;
/// Longest scale-up delay counted, seconds (a rise not met within it is a
/// capped scale-up, not a slow one).
pub const MAX_OBSERVED_DELAY_SECONDS: u32 = 1800;
/// Most windows per day.
pub const MAX_WINDOWS: usize = 4;
/// Most window-hours per day.
pub const MAX_FLOOR_HOURS_PER_DAY: f64 = 6.0;
/// Least saturated minutes per day (fit part) a schedule must remove.
pub const MIN_SATURATION_REMOVED: f64 = 1.0;

fn hhmm(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60 % 24, minute % 60)
}

/// The workload's observed scale-up delay, seconds: for each rise of
/// `replicasDesired`, the time until the ready (else current) replicas
/// reached it; the 90th percentile. `None` when the history shows none.
pub fn observed_scale_up_delay_seconds(h: &MetricHistory) -> Option<u32> {
    let step = h.step_seconds.max(1);
    let ready = h.ready();
    let max_steps = (MAX_OBSERVED_DELAY_SECONDS / step) as usize;
    let mut delays: Vec<u32> = Vec::new();
    for i in 1..h.replicas_desired.len() {
        let (prev, now) = (h.replicas_desired[i - 1], h.replicas_desired[i]);
        if !(prev.is_finite() && now.is_finite() && now > prev) {
            continue;
        }
        if ready.get(i).is_some_and(|r| *r >= now) {
            continue;
        }
        let end = (i + max_steps).min(ready.len().saturating_sub(1));
        if let Some(j) = (i + 1..=end).find(|&j| ready.get(j).is_some_and(|r| *r >= now)) {
            delays.push((j - i) as u32 * step);
        }
    }
    if delays.is_empty() {
        return None;
    }
    delays.sort_unstable();
    delays
        .get(((delays.len() - 1) as f64 * 0.9).round() as usize)
        .copied()
}

/// How early a window opens, minutes: observed scale-up delay (or
/// [`DEFAULT_STARTUP_SECONDS`]) plus [`REACTION_SECONDS`], rounded up to 5
/// minutes.
pub fn lead_minutes(h: &MetricHistory) -> u32 {
    let delay = observed_scale_up_delay_seconds(h).unwrap_or(DEFAULT_STARTUP_SECONDS);
    (delay + REACTION_SECONDS).div_ceil(300).max(1) * 5
}

/// Forecast evidence label of the forecaster's back-test error (the
/// builtin forecaster's `BACKTEST_MAE`; a custom forecaster reports the same
/// labels to earn schedules).
pub const BACKTEST_MAE: &str = "back-test MAE on the last season";
/// Evidence label of the daily seasonal-naive forecast's error.
pub const NAIVE_DAILY_MAE: &str = "back-test MAE of the daily seasonal-naive forecast";
/// Evidence label of the weekly seasonal-naive forecast's error.
pub const NAIVE_WEEKLY_MAE: &str = "back-test MAE of the weekly seasonal-naive forecast";

/// Whether the workload's forecast earns a schedule: on the held-out last
/// season of the workload's own history, the forecaster's error is below
/// the daily seasonal-naive forecast's and, when the history has a week
/// before it, the weekly one's (equal only when both are 0: a history that
/// repeats exactly). `Ok` says the figures for the reviewer; `Err` why no
/// schedule is proposed.
///
/// # Errors
/// The reason, with the figures, when the forecaster does not beat them or
/// reported no back-test.
pub fn forecast_earns_a_schedule(forecast: &stepscale_engine::Forecast) -> Result<String, String> {
    let get = |label: &str| {
        forecast
            .evidence
            .iter()
            .find(|e| e.label == label)
            .map(|e| e.value)
    };
    let (Some(ours), Some(daily)) = (get(BACKTEST_MAE), get(NAIVE_DAILY_MAE)) else {
        return Err(format!(
            "the forecaster {:?} reported no back-test against the seasonal-naive forecast",
            forecast.rule_id
        ));
    };
    let weekly = get(NAIVE_WEEKLY_MAE);
    let beats = |naive: f64| ours < naive || ours == 0.0;
    let figures = match weekly {
        Some(w) => format!(
            "back-test error on the last season {ours:.3} pods vs {daily:.3} (daily seasonal naive) and {w:.3} (weekly)"
        ),
        None => format!(
            "back-test error on the last season {ours:.3} pods vs {daily:.3} (daily seasonal naive)"
        ),
    };
    if beats(daily) && weekly.is_none_or(beats) {
        Ok(figures)
    } else {
        Err(format!(
            "the forecaster does not beat the seasonal-naive forecast ({figures})"
        ))
    }
}

/// The schedule the replay of `config` over `fit` calls for, or `None` when
/// nothing recurs. Windows are in `tz`'s local time and open `lead`
/// minutes early; `floor` is the config's minReplicas, `ceiling` its
/// maxReplicas.
pub fn size(
    fit: &DemandHistory,
    config: &AutoscalerConfig,
    tz: &TimeZone,
    lead: u32,
    floor: u32,
    ceiling: u32,
) -> Option<PredictiveSchedule> {
    let (_, ready) = replay::replay_figures(fit, config, None).ok()?;
    let step = fit.series.step_s.max(1);
    let per_day = (86_400 / step).max(1) as usize;
    let days = fit.len() / per_day;
    if days < MIN_DAYS {
        return None;
    }
    let bins = (1440 / BIN_MINUTES) as usize;
    // Per bin: the local days it was short on, and the pods needed then
    // (the most in the bin, per day).
    let mut short: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); bins];
    let mut day_need: Vec<std::collections::BTreeMap<i64, f64>> =
        vec![std::collections::BTreeMap::new(); bins];
    let per_pod = config.cpu_request_cores;
    for i in 0..days * per_day {
        let demand = fit.series.cores[i];
        let capacity = f64::from(ready.get(i).copied().unwrap_or(0)) * per_pod;
        if demand > capacity + 1e-9 {
            let t = fit.series.start_s + i as i64 * step;
            let local = t + i64::from(tz.offset_at(t));
            let minute = (local.rem_euclid(86_400) / 60) as u32;
            let b = (minute / BIN_MINUTES) as usize;
            let day = local.div_euclid(86_400);
            short[b].insert(day);
            let need = day_need[b].entry(day).or_insert(0.0);
            *need = need.max((demand / per_pod).ceil());
        }
    }
    let short_days: Vec<usize> = short.iter().map(BTreeSet::len).collect();
    let needs: Vec<Vec<f64>> = day_need
        .iter()
        .map(|m| m.values().copied().collect())
        .collect();
    let recurs: Vec<bool> = short_days
        .iter()
        .map(|n| *n as f64 >= RECUR_FRACTION * days as f64)
        .collect();
    // Windows of adjacent recurring bins: (first bin, end bin, score, floor).
    let mut windows: Vec<(usize, usize, usize, u32)> = Vec::new();
    let mut b = 0;
    while b < bins {
        if !recurs[b] {
            b += 1;
            continue;
        }
        let start = b;
        while b < bins && recurs[b] {
            b += 1;
        }
        let mut all: Vec<f64> = needs[start..b].iter().flatten().copied().collect();
        all.sort_by(f64::total_cmp);
        let q = all
            .get(((all.len().saturating_sub(1)) as f64 * 0.75).round() as usize)
            .copied()
            .unwrap_or(0.0);
        let need = q as u32;
        let score = short_days[start..b].iter().sum();
        if need.min(ceiling) > floor {
            windows.push((start, b, score, need));
        }
    }
    windows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let mut kept = Vec::new();
    let mut hours = 0.0;
    for w in windows.into_iter().take(MAX_WINDOWS) {
        let h = f64::from((w.1 - w.0) as u32 * BIN_MINUTES + lead) / 60.0;
        if hours + h > MAX_FLOOR_HOURS_PER_DAY {
            continue;
        }
        hours += h;
        kept.push(w);
    }
    if kept.is_empty() {
        return None;
    }
    kept.sort_by_key(|w| w.0);
    let most = kept.iter().map(|w| w.3).max().unwrap_or(0);
    Some(PredictiveSchedule {
        timezone: tz.name.clone(),
        lead_minutes: lead,
        max_replicas_needed: (most > ceiling).then_some(most),
        history: None,
        windows: kept
            .iter()
            .map(|&(start, end, _, need)| {
                let open = (start as u32 * BIN_MINUTES + 1440 - lead % 1440) % 1440;
                let close = end as u32 * BIN_MINUTES;
                // From the history's end: the year the schedule will run in.
                let from = fit.series.start_s + fit.len() as i64 * step;
                ScheduleWindow {
                    day_of_week: None,
                    start: hhmm(outside_gaps(tz, open, from)),
                    end: hhmm(outside_gaps(tz, close, from)),
                    replica_floor: need.min(ceiling),
                }
            })
            .collect(),
    })
}

/// `config` with the schedule's windows as KEDA cron floors (the same
/// triggers the operator writes), so the HPA model replays them. `None` for
/// a window that is not valid.
pub fn with_schedule(
    config: &AutoscalerConfig,
    schedule: &PredictiveSchedule,
) -> Option<AutoscalerConfig> {
    let mut floors = Vec::new();
    for (i, w) in schedule.windows.iter().enumerate() {
        let meta = cron_metadata(&schedule.timezone, i, w).ok()?;
        floors.push(CronFloor {
            timezone: schedule.timezone.clone(),
            start: meta.get("start")?.clone(),
            end: meta.get("end")?.clone(),
            desired_replicas: i64::from(w.replica_floor),
        });
    }
    let mut c = config.clone();
    let keda = c.keda.get_or_insert_with(|| KedaConfig {
        min_replica_count: config.min_replicas,
        cooldown_period_s: 300,
        activation_cores: 0.0,
        cron_floors: Vec::new(),
    });
    keda.cron_floors.extend(floors);
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stepscale_hpa::simulate::DemandSeries;

    /// `days` days at 1 minute from a UTC midnight: 1 core all day, a jump
    /// to 6 cores at 09:00-10:00 every day (the HPA needs minutes to catch up).
    fn jumpy(days: usize) -> DemandHistory {
        let cores: Vec<f64> = (0..days * 1440)
            .map(|i| {
                if (540..600).contains(&(i % 1440)) {
                    6.0
                } else {
                    1.0
                }
            })
            .collect();
        DemandHistory {
            censored: vec![false; cores.len()],
            series: DemandSeries::from_cpu_cores(1_700_006_400, 60, cores),
            mechanics: Default::default(),
        }
    }

    #[test]
    fn a_recurring_jump_gets_one_window_opening_before_it_and_sized_to_the_jump() {
        let d = jumpy(5);
        let cfg = AutoscalerConfig::cpu(2, 20, 70, 1.0);
        let s = size(&d, &cfg, &TimeZone::utc(), 5, 2, 20).expect("a schedule");
        assert_eq!(s.windows.len(), 1, "{s:?}");
        let w = &s.windows[0];
        assert_eq!(w.start, "08:55");
        // The window ends by 10:00: the HPA has caught up well before then.
        assert!(
            crate::schedule::parse_hhmm(&w.end).expect("hh:mm") <= 600,
            "{w:?}"
        );
        // 6 cores at 1 core/pod: 6 pods carry it; not the 9 pods the peak
        // needs at the 70 % target.
        assert_eq!(w.replica_floor, 6);
    }

    #[test]
    fn the_schedule_removes_the_saturation_it_was_sized_for() {
        let d = jumpy(5);
        let cfg = AutoscalerConfig::cpu(2, 20, 70, 1.0);
        let s = size(&d, &cfg, &TimeZone::utc(), 5, 2, 20).expect("a schedule");
        let with = with_schedule(&cfg, &s).expect("cron floors");
        let (a, _) = replay::replay_figures(&d, &cfg, None).expect("replay");
        let (b, _) = replay::replay_figures(&d, &with, None).expect("replay");
        assert!(a.saturated_minutes_per_day >= 1.0, "{a:?}");
        assert!(
            b.saturated_minutes_per_day < a.saturated_minutes_per_day / 2.0,
            "{a:?} vs {b:?}"
        );
    }

    #[test]
    fn windows_are_binned_and_replayed_in_local_time_across_a_dst_change() {
        // 10 days from 2026-03-24 (Berlin changes to UTC+2 on the 29th): a
        // jump at 09:00-10:00 Berlin time every day, i.e. at 08:00 UTC
        // before the change and 07:00 UTC after it.
        let start = 1_774_310_400; // 2026-03-24T00:00:00Z
        let berlin = TimeZone::load("Europe/Berlin").expect("tz database");
        let cores: Vec<f64> = (0..10 * 1440)
            .map(|i| {
                let t = start + i as i64 * 60;
                let local = (t + i64::from(berlin.offset_at(t))).rem_euclid(86_400) / 60;
                if (540..600).contains(&local) {
                    6.0
                } else {
                    1.0
                }
            })
            .collect();
        let d = DemandHistory {
            censored: vec![false; cores.len()],
            series: DemandSeries::from_cpu_cores(start, 60, cores),
            mechanics: Default::default(),
        };
        let cfg = AutoscalerConfig::cpu(2, 20, 70, 1.0);
        let s = size(&d, &cfg, &berlin, 5, 2, 20).expect("a schedule");
        assert_eq!(s.timezone, "Europe/Berlin");
        assert_eq!(s.windows.len(), 1, "{s:?}");
        assert_eq!(s.windows[0].start, "08:55");
        let with = with_schedule(&cfg, &s).expect("cron floors");
        let (a, _) = replay::replay_figures(&d, &cfg, None).expect("replay");
        let (b, _) = replay::replay_figures(&d, &with, None).expect("replay");
        assert!(
            b.saturated_minutes_per_day < a.saturated_minutes_per_day / 2.0,
            "the floors must meet the jump on both sides of the change: {a:?} vs {b:?}"
        );
    }

    #[test]
    fn a_floor_stops_at_max_replicas_and_says_what_the_peak_needs() {
        let d = jumpy(5);
        let cfg = AutoscalerConfig::cpu(2, 4, 70, 1.0);
        let s = size(&d, &cfg, &TimeZone::utc(), 5, 2, 4).expect("a schedule");
        assert_eq!(s.windows[0].replica_floor, 4);
        assert_eq!(s.max_replicas_needed, Some(6));
    }

    #[test]
    fn the_lead_covers_the_observed_scale_up_delay() {
        let mut w = crate::fixtures::workload();
        let h = &mut w.history;
        let n = h.len();
        // Desired rises from 2 to 6 at sample 100; ready follows 4 steps later.
        h.replicas_desired = (0..n).map(|i| if i >= 100 { 6.0 } else { 2.0 }).collect();
        h.replicas_ready = Some((0..n).map(|i| if i >= 104 { 6.0 } else { 2.0 }).collect());
        let step = h.step_seconds;
        assert_eq!(observed_scale_up_delay_seconds(h), Some(4 * step));
        // 4 steps + 75 s reaction, rounded up to 5 minutes.
        assert_eq!(
            lead_minutes(h),
            (4 * step + REACTION_SECONDS).div_ceil(300) * 5
        );
        h.replicas_desired = vec![2.0; n];
        assert_eq!(observed_scale_up_delay_seconds(h), None);
        assert_eq!(lead_minutes(h), 5, "45 s default + 75 s reaction");
    }

    #[test]
    fn no_schedule_without_recurring_saturation_or_with_too_few_days() {
        let cfg = AutoscalerConfig::cpu(2, 20, 70, 1.0);
        assert!(size(&jumpy(2), &cfg, &TimeZone::utc(), 5, 2, 20).is_none());
        let flat = DemandHistory {
            censored: vec![false; 5 * 1440],
            series: DemandSeries::from_cpu_cores(0, 60, vec![1.0; 5 * 1440]),
            mechanics: Default::default(),
        };
        assert!(size(&flat, &cfg, &TimeZone::utc(), 5, 2, 20).is_none());
    }
}
