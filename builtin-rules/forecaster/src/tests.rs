//! Native tests of [`predict`] on hand-built cases.
use super::*;
use stepscale_rules_sdk::harness::snapshot::WorkloadSnapshot;
use stepscale_rules_sdk::harness::traces::{self, hpa_config};

fn data(w: &WorkloadSnapshot) -> WorkloadData {
    traces::workload_data(w)
}

/// Hourly CPU samples from Monday 1970-01-05 00:00 UTC at 10 fixed replicas
/// (HPA 2-20 at 50 %).
fn hourly(cpu: Vec<f64>) -> WorkloadSnapshot {
    let n = cpu.len();
    traces::snapshot(
        "app",
        hpa_config(2, 20, 50),
        4 * 86_400,
        3600,
        cpu,
        vec![10.0; n],
    )
}

/// `days` days of hourly samples from Monday 1970-01-05 00:00 UTC at 10 fixed
/// replicas; demand 2 pods, 6 pods from 18:00 to 21:00 (CPU % = demand × 10).
fn evening(days: usize) -> WorkloadSnapshot {
    let cpu: Vec<f64> = (0..days * 24)
        .map(|i| {
            if (18..21).contains(&(i % 24)) {
                60.0
            } else {
                20.0
            }
        })
        .collect();
    hourly(cpu)
}

#[test]
fn repeating_day_is_forecast_exactly_with_its_peak_window() {
    // Daily mean demand = (21 × 2 + 3 × 6) / 24 = 2.5 pods; profile 0.8 and
    // 2.4; level 2.5 -> forecast 2 and 6 pods = 4 and 12 replicas at 50 %.
    let f = predict(&data(&evening(7)), 48).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.start_unix_seconds, 4 * 86_400 + 7 * 86_400);
    assert_eq!(f.step_seconds, 3600);
    assert_eq!(f.replicas_needed.len(), 48);
    for (h, r) in f.replicas_needed.iter().enumerate() {
        let want = if (18..21).contains(&(h % 24)) {
            12.0
        } else {
            4.0
        };
        assert!((r - want).abs() < 1e-9, "hour {h}: {r} vs {want}");
    }
    assert_eq!(f.peak_windows.len(), 1, "{:?}", f.peak_windows);
    let p = &f.peak_windows[0];
    assert_eq!(
        (p.day_of_week, p.start_minute, p.end_minute, p.replicas),
        (None, 1080, 1260, 12)
    );
    let season = f
        .evidence
        .iter()
        .find(|e| e.label == "season length")
        .map(|e| e.value);
    assert_eq!(season, Some(24.0));
    let mase = f
        .evidence
        .iter()
        .find(|e| e.label == "back-test MASE on the last season");
    // A perfect repeat has no in-sample naive error: MASE undefined, omitted.
    assert!(mase.is_none());
}

/// `days` days of hourly samples in which only Mondays have the evening peak.
fn mondays(days: usize) -> WorkloadSnapshot {
    let cpu: Vec<f64> = (0..days * 24)
        .map(|i| {
            if i / 24 % 7 == 0 && (18..21).contains(&(i % 24)) {
                60.0
            } else {
                20.0
            }
        })
        .collect();
    hourly(cpu)
}

#[test]
fn a_weekly_season_is_claimed_only_with_a_week_to_confirm_it_on() {
    let season = |days: usize| {
        let f = predict(&data(&mondays(days)), 24).unwrap_or_else(|e| panic!("{e}"));
        evidence_of(&f, "season length")
    };
    // 20 days: two weeks to fit, no whole week left to confirm on.
    assert_eq!(season(WEEKLY_CONFIRM_DAYS - 1), Some(24.0));
    // 21 days: the weekly model forecasts each day of the last week better.
    assert_eq!(season(WEEKLY_CONFIRM_DAYS), Some(168.0));
}

#[test]
fn weekly_pattern_gets_per_day_windows() {
    // 21 days; only Mondays have the evening peak: weekly season.
    let w = mondays(21);
    let f = predict(&data(&w), 168).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.peak_windows.len(), 1, "{:?}", f.peak_windows);
    assert_eq!(f.peak_windows[0].day_of_week, Some(0));
    assert_eq!(
        (f.peak_windows[0].start_minute, f.peak_windows[0].end_minute),
        (1080, 1260)
    );
    // Peak 6 pods at 50 % = 12 replicas.
    assert_eq!(f.peak_windows[0].replicas, 12);
    // Monday 18:00 of the next week is step 18.
    assert!(
        (f.replicas_needed[18] - 12.0).abs() < 1e-9,
        "{}",
        f.replicas_needed[18]
    );
    assert!((f.replicas_needed[18 + 24] - 4.0).abs() < 1e-9);
}

#[test]
fn errors_name_the_missing_input() {
    let mut w = evening(7);
    w.config.cpu_target_percent = None;
    assert!(predict(&data(&w), 10).is_err_and(|e| e.contains("CPU target")));
    assert!(predict(&data(&evening(1)), 10).is_err_and(|e| e.contains("at least 2")));
    assert!(predict(&data(&evening(7)), MAX_HORIZON_STEPS + 1).is_err());
    let mut odd = evening(7);
    odd.history.step_seconds = 7 * 60;
    assert!(predict(&data(&odd), 10).is_err_and(|e| e.contains("divide a day")));
}

/// elb_request_count_8c0756 (NAB, requests per 5 minutes) peaks on weekday
/// US office hours (17:00–21:00 UTC). The forecaster's peak windows must sit
/// where demand is high: mean demand inside them above mean demand outside,
/// on the history and on the held-back last day.
#[test]
fn peak_windows_of_a_weekday_peaking_series_sit_where_demand_is_high() {
    let t = traces::load_nab(env!("CARGO_MANIFEST_DIR"), "elb_request_count_8c0756");
    let (train, _) = t.split_last_days(1);
    // Utilization = requests / 2 % at 4 replicas: demand = requests / 50 pods.
    let w = traces::snapshot_from_utilization(&train.scaled(0.5), hpa_config(2, 40, 70), 4);
    let f = predict(&data(&w), 288).expect("forecast");
    assert!(!f.peak_windows.is_empty(), "{:?}", f.evidence);
    let in_window = |t: i64| {
        let minute = (t.rem_euclid(86_400) / 60) as u32;
        let weekday = ((t.div_euclid(86_400) + 3) % 7) as u8; // 1970-01-01 was a Thursday
        f.peak_windows.iter().any(|p| {
            p.day_of_week.is_none_or(|d| d == weekday)
                && (p.start_minute..p.end_minute).contains(&minute)
        })
    };
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for (i, v) in t.values.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let at = t.start_unix_seconds + i as i64 * i64::from(t.step_seconds);
        if in_window(at) {
            inside.push(*v);
        } else {
            outside.push(*v);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    assert!(
        mean(&inside) > 1.2 * mean(&outside),
        "inside {:.1}, outside {:.1}: {:?}",
        mean(&inside),
        mean(&outside),
        f.peak_windows
    );
}

fn evidence_of(f: &Forecast, label: &str) -> Option<f64> {
    f.evidence
        .iter()
        .find(|e| e.label == label)
        .map(|e| e.value)
}

#[test]
fn the_back_test_reports_the_seasonal_naive_errors_it_is_judged_against() {
    // 10 days: the evening peak, and on day 8 (the day before the held-out
    // one) an outage-like dip the daily naive forecast copies.
    let cpu: Vec<f64> = (0..10 * 24)
        .map(|i| match (i / 24, i % 24) {
            (8, _) => 5.0,
            (_, h) if (18..21).contains(&h) => 60.0,
            _ => 20.0,
        })
        .collect();
    let w = hourly(cpu);
    let f = predict(&data(&w), 24).unwrap_or_else(|e| panic!("{e}"));
    let ours = evidence_of(&f, BACKTEST_MAE).expect("forecaster MAE");
    let daily = evidence_of(&f, NAIVE_DAILY_MAE).expect("daily naive MAE");
    let weekly = evidence_of(&f, NAIVE_WEEKLY_MAE).expect("weekly naive MAE");
    // The weekly naive repeats day 2, a normal day: exact.
    assert_eq!(weekly, 0.0);
    // The daily naive repeats the dip: off by 1.5 pods most hours.
    assert!(daily > 1.0, "{daily}");
    // The robust profile is barely moved by one bad day.
    assert!(ours < daily, "{ours} vs {daily}");
    // With less than a week before the held-out day there is no weekly naive.
    let short = predict(&data(&evening(5)), 24).unwrap_or_else(|e| panic!("{e}"));
    assert!(evidence_of(&short, NAIVE_WEEKLY_MAE).is_none());
    assert_eq!(evidence_of(&short, NAIVE_DAILY_MAE), Some(0.0));
}
