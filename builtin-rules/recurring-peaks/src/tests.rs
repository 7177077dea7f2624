//! Native tests of [`analyze`] on hand-built cases and real NAB series.
use super::*;
use stepscale_rules_sdk::harness::snapshot::{AutoscalingConfig, WorkloadSnapshot};
use stepscale_rules_sdk::harness::traces::{self, hpa_config};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

fn run(w: &WorkloadSnapshot) -> Vec<Finding> {
    analyze(&traces::workload_data(w))
}

use traces::evidence_value as ev;

/// 7 days of hourly demand from Monday 1970-01-05: 2 pods, 8 from 18:00 to
/// 21:00, replicas from the crude HPA reacting one hour late.
fn evening_peaks(config: AutoscalingConfig) -> WorkloadSnapshot {
    let demand: Vec<f64> = (0..7 * 24)
        .map(|i| {
            if (18..21).contains(&(i % 24)) {
                8.0
            } else {
                2.0
            }
        })
        .collect();
    traces::snapshot_from_demand("app", 4 * 86_400, 3600, &demand, config, 1)
}

#[test]
fn evening_peak_that_saturates_raises_the_floor() {
    // Target 50 %: the peak needs ceil(8 / 0.5) = 16 replicas, the base 4.
    // The HPA sees the peak an hour late and pods start an hour after that,
    // so 18:00 and 19:00 run 4 replicas at 200 %: 2 of 3 peak samples = 66.67 %
    // above 60 %. A pure daily cycle has strength 1.
    let f = run(&evening_peaks(hpa_config(4, 20, 50)));
    assert_eq!(f.len(), 1, "{f:?}");
    let f = &f[0];
    assert_eq!(f.kind, FindingKind::RecurringPeak);
    assert_eq!(ev(f, "daily seasonality strength"), 1.0);
    assert_eq!(ev(f, "peak window 18:00–21:00 local"), 16.0);
    assert_eq!(ev(f, "peak samples above target + margin"), 66.67);
    assert_eq!(ev(f, "periods showing the peak"), 100.0);
    assert_eq!(ev(f, "median demand level"), 2.0);
    assert_eq!(f.proposal.min_replicas, Some(16));
    // 0.4 + 0.4 × 1 + 0.15 × 7/14 = 0.875, rounded half away from zero.
    assert_eq!(f.confidence, 0.88);
}

#[test]
fn never_lowers_the_floor_and_caps_at_max() {
    // A floor of 18 already covers the peak: no peak slot needs more.
    let f = run(&evening_peaks(hpa_config(18, 20, 50)));
    assert!(
        f.iter()
            .all(|f| f.proposal.min_replicas.is_none_or(|m| m >= 18)),
        "{f:?}"
    );
    // Max 12: the proposal is capped at 12.
    let f = run(&evening_peaks(hpa_config(4, 12, 50)));
    assert_eq!(f[0].proposal.min_replicas, Some(12));
}

#[test]
fn flat_or_short_series_have_no_recurring_peak() {
    let flat = traces::snapshot(
        "app",
        hpa_config(2, 10, 50),
        0,
        3600,
        vec![40.0; 168],
        vec![4.0; 168],
    );
    assert!(run(&flat).is_empty());
    let mut short = evening_peaks(hpa_config(4, 20, 50));
    short.history.cpu_utilization.truncate(48);
    short.history.replicas_current.truncate(48);
    short.history.replicas_desired.truncate(48);
    assert!(run(&short).is_empty());
}

/// nyc_taxi (NAB) as demand (3,000 passengers per pod), scaled by a slow crude
/// HPA (one hour late, floor 2, target 60 %): strong daily/weekly cycle, and
/// the evening peaks saturate. The proposal covers the recurring peak need,
/// which the test derives from the data independently: the largest, over
/// hours of the day, median across days of the hourly maximum demand.
#[test]
fn nyc_taxi_recurring_peaks_raise_the_floor_to_the_peak_need() {
    let t = traces::load_nab(DIR, "nyc_taxi");
    let demand: Vec<f64> = t.values.iter().map(|v| v / 3000.0).collect();
    let w = traces::snapshot_from_demand(
        "nyc-taxi",
        t.start_unix_seconds,
        t.step_seconds,
        &demand,
        hpa_config(2, 40, 60),
        2,
    );
    let f = run(&w);
    assert_eq!(f.len(), 1, "{f:?}");
    let f = &f[0];
    assert!(ev(f, "daily seasonality strength") >= 0.5, "{f:?}");
    let m = f.proposal.min_replicas.unwrap_or(0);
    assert!(m > 2 && m <= 40, "{f:?}");
    assert!(
        f.evidence
            .iter()
            .any(|e| e.label.starts_with("peak window ")),
        "{f:?}"
    );
    // Independent bound: no recurring level exceeds the overall p99 demand.
    let p99 = stats::percentile(&demand, 0.99).unwrap_or(f64::NAN);
    assert!(
        f64::from(m) <= stats::replicas_needed(p99, 60.0),
        "{m} vs p99 {p99}"
    );
    // The daily maximum demand median across days needs about m replicas.
    let grid = stats::TimeGrid::new(t.start_unix_seconds, t.step_seconds, 0);
    let mut daily_max = std::collections::BTreeMap::<i64, f64>::new();
    for (i, d) in demand.iter().enumerate() {
        let e = daily_max.entry(grid.day_index(i)).or_insert(0.0);
        *e = e.max(*d);
    }
    let typical_peak =
        stats::median(&daily_max.values().copied().collect::<Vec<_>>()).unwrap_or(0.0);
    let need = stats::replicas_needed(typical_peak, 60.0);
    assert!(
        (f64::from(m) - need).abs() <= 3.0,
        "proposed {m}, typical daily peak needs {need}"
    );
}

/// cpu_utilization_asg_misconfiguration (NAB) as utilization at 10 fixed
/// replicas: its level drifts over weeks but there is no usable daily cycle
/// once detrended, so no recurring peak is reported.
#[test]
fn asg_series_has_no_recurring_peak() {
    let t = traces::load_nab(DIR, "cpu_utilization_asg_misconfiguration");
    let w = traces::snapshot_from_utilization(&t, hpa_config(10, 20, 60), 10);
    assert!(run(&w).is_empty(), "{:?}", run(&w));
}

#[test]
fn a_peak_that_stopped_recurring_in_the_last_days_is_not_claimed() {
    // 9 days of hourly demand: an evening peak on the first 6 days only.
    let demand: Vec<f64> = (0..9 * 24)
        .map(|i| {
            if i < 6 * 24 && (18..21).contains(&(i % 24)) {
                8.0
            } else {
                2.0
            }
        })
        .collect();
    let w =
        traces::snapshot_from_demand("app", 4 * 86_400, 3600, &demand, hpa_config(4, 20, 50), 1);
    assert!(run(&w).is_empty(), "{:?}", run(&w));
    // The same peak on every day is claimed, with the held-out evidence.
    let f = run(&evening_peaks(hpa_config(4, 20, 50)));
    assert_eq!(ev(&f[0], "periods showing the peak, last 2 day(s)"), 100.0);
}
