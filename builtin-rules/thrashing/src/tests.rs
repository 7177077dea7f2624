//! Native tests of [`analyze`] on hand-built cases and real NAB series.
use super::*;
use stepscale_rules_sdk::harness::snapshot::WorkloadSnapshot;
use stepscale_rules_sdk::harness::traces::{self, hpa_config, keda_config, with_stabilization};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

fn run(w: &WorkloadSnapshot) -> Vec<Finding> {
    analyze(&traces::workload_data(w))
}

use traces::evidence_value as ev;

/// Two days of 5-minute samples with replicas 4, 4, 6, 6, 4, 4, ...
fn sawtooth() -> Vec<f64> {
    (0..576)
        .map(|i| if i % 4 < 2 { 4.0 } else { 6.0 })
        .collect()
}

#[test]
fn sawtooth_replicas_get_a_longer_scale_down_window() {
    // 576 samples change value 287 times, alternating up/down: 286 direction
    // changes over 2 days = 143/day. Every scale-down is followed by a
    // scale-up 2 steps (600 s) later; 600 + 300 s step = 900 s.
    let r = sawtooth();
    let w = traces::snapshot("app", hpa_config(2, 10, 60), 0, 300, vec![50.0; 576], r);
    let f = run(&w);
    assert_eq!(f.len(), 1, "{f:?}");
    let f = &f[0];
    assert_eq!(f.kind, FindingKind::Thrashing);
    assert_eq!(ev(f, "direction changes"), 143.0);
    assert_eq!(ev(f, "scale events"), 143.5);
    assert_eq!(ev(f, "median replica swing"), 2.0);
    assert_eq!(ev(f, "p75 scale-down to scale-up gap"), 10.0);
    assert_eq!(f.proposal.scale_down_stabilization_seconds, Some(900));
    assert_eq!(f.proposal.cooldown_period_seconds, None);
    assert_eq!(f.proposal.min_replicas, None);
    // 0.5 + 0.3 + 0.15 × 2/3 = 0.9.
    assert_eq!(f.confidence, 0.9);
}

#[test]
fn keda_scale_to_zero_also_gets_a_longer_cooldown() {
    let r: Vec<f64> = (0..576)
        .map(|i| if i % 4 < 2 { 0.0 } else { 2.0 })
        .collect();
    let w = traces::snapshot(
        "app",
        keda_config(0, 10, 60, &["prometheus"]),
        0,
        300,
        vec![50.0; 576],
        r,
    );
    let f = run(&w);
    assert_eq!(f[0].proposal.cooldown_period_seconds, Some(900));
}

#[test]
fn steady_or_short_histories_are_not_thrashing() {
    // One scale-up and one scale-down a day.
    let r: Vec<f64> = (0..576)
        .map(|i| {
            if (100..200).contains(&(i % 288)) {
                6.0
            } else {
                3.0
            }
        })
        .collect();
    let w = traces::snapshot("app", hpa_config(2, 10, 60), 0, 300, vec![50.0; 576], r);
    assert!(run(&w).is_empty());
    // 5 hours of sawtooth: too short to judge.
    let w = traces::snapshot(
        "app",
        hpa_config(2, 10, 60),
        0,
        300,
        vec![50.0; 60],
        sawtooth()[..60].to_vec(),
    );
    assert!(run(&w).is_empty());
    assert_eq!(
        reversal_gaps(&[3.0, 2.0, 2.0, 3.0, 4.0, 1.0, f64::NAN, 2.0], 60),
        vec![120.0, 120.0]
    );
}

/// ec2_cpu_utilization_fe7f93 (NAB): a bursty instance (p50 2.6 %, p99 64 %).
/// Rescaled as the demand of a service worth 20 such instances (demand = CPU %
/// × 20 / 100 pods), scaled by the crude HPA model with target 60 % and NO
/// scale-down stabilization: the replicas follow every burst down and up.
/// Replaying with the proposed window must cut the reversals at least in half.
#[test]
fn bursty_ec2_series_thrashes_without_stabilization_and_the_proposal_calms_it() {
    let t = traces::load_nab(DIR, "ec2_cpu_utilization_fe7f93");
    let demand: Vec<f64> = t.values.iter().map(|v| v * 20.0 / 100.0).collect();
    let config = with_stabilization(hpa_config(1, 30, 60), 0, None);
    let w = traces::snapshot_from_demand(
        "fe7f93",
        t.start_unix_seconds,
        t.step_seconds,
        &demand,
        config.clone(),
        1,
    );
    let f = run(&w);
    assert_eq!(f.len(), 1, "{f:?}");
    let before = ev(&f[0], "direction changes");
    assert!(before >= MIN_CHANGES_PER_DAY, "{f:?}");
    let window = f[0].proposal.scale_down_stabilization_seconds.unwrap_or(0);
    assert!((300..=3600).contains(&window), "{f:?}");
    let calmer = with_stabilization(config, window, None);
    let w2 = traces::snapshot_from_demand(
        "fe7f93",
        t.start_unix_seconds,
        t.step_seconds,
        &demand,
        calmer,
        1,
    );
    let replicas = &w2.history.replicas_current;
    let after = stats::direction_changes(replicas) as f64 / (replicas.len() as f64 / 288.0);
    assert!(
        after <= before / 2.0,
        "before {before}/day, after {after}/day"
    );
}

/// nyc_taxi (NAB) as demand (3,000 passengers per pod) under the crude HPA
/// model with the default 300 s window at 30-minute samples: replicas follow
/// the daily cycle with a few reversals a day, below the threshold.
#[test]
fn nyc_taxi_daily_cycle_is_not_thrashing() {
    let t = traces::load_nab(DIR, "nyc_taxi");
    let demand: Vec<f64> = t.values.iter().map(|v| v / 3000.0).collect();
    let w = traces::snapshot_from_demand(
        "nyc-taxi",
        t.start_unix_seconds,
        t.step_seconds,
        &demand,
        hpa_config(1, 60, 70),
        1,
    );
    assert!(run(&w).is_empty(), "{:?}", run(&w));
}
