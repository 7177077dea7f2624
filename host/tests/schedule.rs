//! Predictive schedules on a real series: windows sit where the autoscaler
//! runs short, and remove that saturation.
//!
//! nyc_taxi (NAB, passengers per 30 min) has a strong daily cycle with a
//! steep morning ramp and an evening peak. Demand = passengers / 1,500 pods
//! of 0.5 cores at 100 % of request; a lean HPA (floor 2, 80 % target) runs
//! short where demand rises faster than it can add pods, and the schedule is
//! sized from the replay of it — to the deficit, so its windows cover the
//! ramp, not the whole peak. (That peak windows sit where demand is high is
//! checked on the forecaster's windows, on a weekday-peaking series.)

use std::path::PathBuf;

use stepscale_hpa::series::load_csv_series;
use stepscale_hpa::simulate::{AutoscalerConfig, DemandSeries};
use stepscale_hpa::tz::TimeZone;
use stepscale_operator::replay::{replay_figures, DemandHistory};
use stepscale_operator::schedule::size::{self as schedule, with_schedule};

fn taxi_week() -> DemandHistory {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/traces/nab/nyc_taxi.csv");
    let s = load_csv_series(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let step = s.typical_step_s();
    let (start, values) = s.regular(step);
    let n = (7 * 86_400 / step) as usize;
    let cores: Vec<f64> = values[..n].iter().map(|v| v / 1500.0 * 0.5).collect();
    DemandHistory {
        censored: vec![false; cores.len()],
        series: DemandSeries::from_cpu_cores(start, step, cores),
        mechanics: Default::default(),
    }
}

fn minute(hhmm: &str) -> u32 {
    stepscale_operator::schedule::parse_hhmm(hhmm).expect("HH:MM")
}

#[test]
fn schedule_windows_cover_where_the_autoscaler_runs_short_and_remove_it() {
    let week = taxi_week();
    let cfg = AutoscalerConfig::cpu(2, 40, 80, 0.5);
    let s = schedule::size(&week, &cfg, &TimeZone::utc(), 5, 2, 40)
        .expect("the ramps recur: a schedule");
    assert!(s.windows.len() <= schedule::MAX_WINDOWS);
    // Where the lean config runs short (UTC, as sized); demand rises
    // through each window (a ramp).
    let (_, ready) = replay_figures(&week, &cfg, None).expect("replay");
    let at = |i: usize| week.series.start_s + i as i64 * week.series.step_s;
    let short: Vec<usize> = (0..week.len())
        .filter(|&i| week.series.cores[i] > f64::from(ready[i]) * 0.5 + 1e-9)
        .collect();
    // Every window holds short samples (the deficit it was sized for).
    for w in &s.windows {
        let (a, b) = (minute(&w.start), minute(&w.end));
        assert!(
            short
                .iter()
                .any(|&i| ((at(i).rem_euclid(86_400) / 60) as u32) >= a
                    && ((at(i).rem_euclid(86_400) / 60) as u32) < b),
            "{w:?} holds no short sample"
        );
    }
    for w in &s.windows {
        let (a, b) = (minute(&w.start), minute(&w.end));
        let mean_at = |m: u32| {
            let v: Vec<f64> = (0..week.len())
                .filter(|&i| (at(i).rem_euclid(86_400) / 60) as u32 / 30 == m / 30)
                .map(|i| week.series.cores[i])
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        assert!(mean_at(b) > mean_at(a), "{w:?} is not on a ramp");
    }
    // And the schedule does what it was sized for.
    let with = with_schedule(&cfg, &s).expect("cron floors");
    let (before, _) = replay_figures(&week, &cfg, None).expect("replay");
    assert!(!short.is_empty());
    let (after, _) = replay_figures(&week, &with, None).expect("replay");
    assert!(
        after.saturated_minutes_per_day < before.saturated_minutes_per_day,
        "{before:?} → {after:?}"
    );
}
