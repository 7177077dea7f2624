//! Predictive schedules sized to the deficit: floors only where, and only as
//! high as, the replay shows the autoscaler cannot provision in time.
//!
//! 1. The chosen config is replayed over the fit part; a sample is short when
//!    demand exceeds the ready pods' capacity.
//! 2. The day is cut into [`BIN_MINUTES`] bins of local time. A bin recurs
//!    when it is short on at least [`RECUR_FRACTION`] of the fit part's whole
//!    days (at least [`MIN_DAYS`] of them).
//! 3. Adjacent recurring bins form a window, which opens [`LEAD_MINUTES`]
//!    early (pod start-up, the metric window and a sync, rounded up). Its
//!    floor is the pods the demand needed at 100 % of request in the window
//!    (the upper quartile over the short days): enough to carry the demand
//!    until the HPA catches up, not the whole peak at the target.
//! 4. At most [`MAX_WINDOWS`] windows, the most often short first, and at
//!    most [`MAX_FLOOR_HOURS_PER_DAY`] window-hours a day.
//!
//! The schedule then passes the same objective and held-out confirmation as
//! the config (the schedule pass of [`super::decide`]): it is sized for the
//! search's choice and for cheaper configs that only run short, and kept
//! only if it removes at least [`MIN_SATURATION_REMOVED`] saturated minutes a
//! day on the fit part, wins under the objective there (in `savings` mode:
//! cheaper than the plain choice), and keeps the guardrails and removes
//! saturation on the held-out days too.

use stepscale_hpa::simulate::{AutoscalerConfig, CronFloor, KedaConfig};

use crate::recommendation::{PredictiveSchedule, ScheduleWindow};
use crate::replay::{self, DemandHistory};

/// Width of a time-of-day bin, minutes.
pub const BIN_MINUTES: u32 = 15;
/// Share of whole days a bin must be short on to recur.
pub const RECUR_FRACTION: f64 = 0.5;
/// Least whole days in the fit part for a schedule.
pub const MIN_DAYS: usize = 3;
/// How early a window opens before the first short bin, minutes: 45 s pod
/// start-up + 60 s metric window + 15 s sync, rounded up to 5 minutes.
pub const LEAD_MINUTES: u32 = 5;
/// Most windows per day.
pub const MAX_WINDOWS: usize = 4;
/// Most window-hours per day.
pub const MAX_FLOOR_HOURS_PER_DAY: f64 = 6.0;
/// Least saturated minutes per day (fit part) a schedule must remove.
pub const MIN_SATURATION_REMOVED: f64 = 1.0;

fn hhmm(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60 % 24, minute % 60)
}

/// The schedule the replay of `config` over `fit` calls for, or `None` when
/// nothing recurs. `offset_minutes` is local time's offset from UTC;
/// `floor` the config's minReplicas; `ceiling` its maxReplicas.
pub fn size(
    fit: &DemandHistory,
    config: &AutoscalerConfig,
    offset_minutes: i32,
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
    // Per bin: on how many days it was short, and the pods needed then.
    let mut short_days = vec![0usize; bins];
    let mut needs: Vec<Vec<f64>> = vec![Vec::new(); bins];
    let per_pod = config.cpu_request_cores;
    for d in 0..days {
        let mut day_need = vec![0.0_f64; bins];
        for i in d * per_day..(d + 1) * per_day {
            let demand = fit.series.cores[i];
            let capacity = f64::from(ready.get(i).copied().unwrap_or(0)) * per_pod;
            if demand > capacity + 1e-9 {
                let t = fit.series.start_s + i as i64 * step + i64::from(offset_minutes) * 60;
                let minute = (t.rem_euclid(86_400) / 60) as u32;
                let b = (minute / BIN_MINUTES) as usize;
                day_need[b] = day_need[b].max((demand / per_pod).ceil());
            }
        }
        for b in 0..bins {
            if day_need[b] > 0.0 {
                short_days[b] += 1;
                needs[b].push(day_need[b]);
            }
        }
    }
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
        let need = (q as u32).min(ceiling);
        let score = short_days[start..b].iter().sum();
        if need > floor {
            windows.push((start, b, score, need));
        }
    }
    windows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let mut kept = Vec::new();
    let mut hours = 0.0;
    for w in windows.into_iter().take(MAX_WINDOWS) {
        let h = f64::from((w.1 - w.0) as u32 * BIN_MINUTES + LEAD_MINUTES) / 60.0;
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
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    Some(PredictiveSchedule {
        timezone: format!(
            "UTC{sign}{:02}:{:02}",
            offset_minutes.abs() / 60,
            offset_minutes.abs() % 60
        ),
        windows: kept
            .iter()
            .map(|&(start, end, _, need)| {
                let open = (start as u32 * BIN_MINUTES + 1440 - LEAD_MINUTES) % 1440;
                ScheduleWindow {
                    day_of_week: None,
                    start: hhmm(open),
                    end: hhmm(end as u32 * BIN_MINUTES),
                    replica_floor: need,
                }
            })
            .collect(),
    })
}

/// Minutes after midnight of an `HH:MM` window bound.
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?)
}

/// `config` with the schedule's windows as KEDA-style cron floors, in UTC
/// (local windows shifted by `offset_minutes`), so the HPA model replays
/// them. `None` for a window it cannot parse.
pub fn with_schedule(
    config: &AutoscalerConfig,
    schedule: &PredictiveSchedule,
    offset_minutes: i32,
) -> Option<AutoscalerConfig> {
    let to_utc = |local: u32| (local as i32 - offset_minutes).rem_euclid(1440) as u32;
    let mut floors = Vec::new();
    for w in &schedule.windows {
        let (s, e) = (
            to_utc(parse_hhmm(&w.start)?),
            to_utc(parse_hhmm(&w.end)? % 1440),
        );
        if s == e {
            return None;
        }
        floors.push(CronFloor {
            timezone: "UTC".into(),
            start: format!("{} {} * * *", s % 60, s / 60),
            end: format!("{} {} * * *", e % 60, e / 60),
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
        }
    }

    #[test]
    fn a_recurring_jump_gets_one_window_opening_before_it_and_sized_to_the_jump() {
        let d = jumpy(5);
        let cfg = AutoscalerConfig::cpu(2, 20, 70, 1.0);
        let s = size(&d, &cfg, 0, 2, 20).expect("a schedule");
        assert_eq!(s.windows.len(), 1, "{s:?}");
        let w = &s.windows[0];
        assert_eq!(w.start, "08:55");
        // The window ends by 10:00: the HPA has caught up well before then.
        assert!(parse_hhmm(&w.end).expect("hh:mm") <= 600, "{w:?}");
        // 6 cores at 1 core/pod: 6 pods carry it; not the 9 pods the peak
        // needs at the 70 % target.
        assert_eq!(w.replica_floor, 6);
    }

    #[test]
    fn the_schedule_removes_the_saturation_it_was_sized_for() {
        let d = jumpy(5);
        let cfg = AutoscalerConfig::cpu(2, 20, 70, 1.0);
        let s = size(&d, &cfg, 0, 2, 20).expect("a schedule");
        let with = with_schedule(&cfg, &s, 0).expect("cron floors");
        let (a, _) = replay::replay_figures(&d, &cfg, None).expect("replay");
        let (b, _) = replay::replay_figures(&d, &with, None).expect("replay");
        assert!(a.saturated_minutes_per_day >= 1.0, "{a:?}");
        assert!(
            b.saturated_minutes_per_day < a.saturated_minutes_per_day / 2.0,
            "{a:?} vs {b:?}"
        );
    }

    #[test]
    fn local_windows_are_replayed_at_the_right_utc_time() {
        let s = PredictiveSchedule {
            timezone: "UTC+02:00".into(),
            windows: vec![ScheduleWindow {
                day_of_week: None,
                start: "08:55".into(),
                end: "10:00".into(),
                replica_floor: 6,
            }],
        };
        let c = with_schedule(&AutoscalerConfig::cpu(2, 20, 70, 1.0), &s, 120).expect("ok");
        let keda = c.keda.expect("cron floors");
        let f = &keda.cron_floors[0];
        assert_eq!(
            (f.start.as_str(), f.end.as_str()),
            ("55 6 * * *", "0 8 * * *")
        );
    }

    #[test]
    fn no_schedule_without_recurring_saturation_or_with_too_few_days() {
        let cfg = AutoscalerConfig::cpu(2, 20, 70, 1.0);
        assert!(size(&jumpy(2), &cfg, 0, 2, 20).is_none());
        let flat = DemandHistory {
            censored: vec![false; 5 * 1440],
            series: DemandSeries::from_cpu_cores(0, 60, vec![1.0; 5 * 1440]),
        };
        assert!(size(&flat, &cfg, 0, 2, 20).is_none());
    }
}
