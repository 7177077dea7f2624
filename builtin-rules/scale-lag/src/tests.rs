//! Native tests of [`analyze`] on hand-built cases and real NAB series.
use super::*;
use stepscale_rules_sdk::harness::snapshot::{AutoscalingConfig, WorkloadSnapshot};
use stepscale_rules_sdk::harness::traces::{self, hpa_config, with_stabilization};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

fn run(w: &WorkloadSnapshot) -> Vec<Finding> {
    analyze(&traces::workload_data(w))
}

use traces::evidence_value as ev;

/// 3 days of 5-minute samples: 2 pods of demand, 8 pods from 09:00 to 11:00.
fn step_peak_demand() -> Vec<f64> {
    (0..3 * 288)
        .map(|i| {
            if (108..132).contains(&(i % 288)) {
                8.0
            } else {
                2.0
            }
        })
        .collect()
}

fn simulated(config: AutoscalingConfig, reaction_steps: usize) -> WorkloadSnapshot {
    traces::snapshot_from_demand("app", 0, 300, &step_peak_demand(), config, reaction_steps)
}

#[test]
fn daily_step_peak_with_a_slow_hpa_raises_the_floor() {
    // Target 50 %: 2 pods need 4 (= the floor), 8 pods need 16. The model
    // reacts 2 steps late and pods start 1 step later, so each morning the 4
    // replicas run at 8 / 4 = 200 % for 3 samples (15 min) while desired
    // rises to 16: one episode a day, starting at the floor, needing 16 at
    // its first sample; 16 is also the p95 need (2 h of 24 = 8.3 %).
    let f = run(&simulated(hpa_config(4, 20, 50), 2));
    assert_eq!(f.len(), 1, "{f:?}");
    let f = &f[0];
    assert_eq!(f.kind, FindingKind::ScaleLag);
    assert_eq!(ev(f, "saturation episodes during scale-up"), 1.0);
    assert_eq!(ev(f, "saturated time during scale-up"), 15.0);
    assert_eq!(ev(f, "median peak CPU utilization in episodes"), 200.0);
    assert_eq!(ev(f, "median replica shortfall in episodes"), 12.0);
    assert_eq!(ev(f, "episodes starting at minReplicas"), 100.0);
    assert_eq!(f.proposal.min_replicas, Some(16));
    assert_eq!(f.proposal.scale_up_stabilization_seconds, None);
    // 0.45 + 0.3 × 1/2 + 0.15 × 3/7 = 0.664.
    assert_eq!(f.confidence, 0.66);
}

#[test]
fn a_scale_up_window_is_proposed_away() {
    let config = with_stabilization(hpa_config(4, 20, 50), 300, Some(600));
    let f = run(&simulated(config, 2));
    assert_eq!(f[0].proposal.scale_up_stabilization_seconds, Some(0));
}

#[test]
fn no_lag_when_fast_or_when_pinned_at_max() {
    // A ceiling-bound workload (max 4) cannot scale at all: saturation is a
    // capacity problem, not lag.
    assert!(run(&simulated(hpa_config(4, 4, 50), 2)).is_empty());
    // Fixed replicas never rise: no ramp, no lag.
    let w = traces::snapshot(
        "app",
        hpa_config(4, 20, 50),
        0,
        300,
        vec![90.0; 864],
        vec![6.0; 864],
    );
    assert!(run(&w).is_empty());
}

/// nyc_taxi (NAB) as demand (3,000 passengers per pod) under a slow crude HPA
/// (reacting 2 samples = 1 hour late, floor 2, target 60 %): the morning ramp
/// saturates every day. Replaying with the proposed floor cuts the saturated
/// samples.
#[test]
fn nyc_taxi_with_a_slow_hpa_lags_and_a_higher_floor_helps() {
    let t = traces::load_nab(DIR, "nyc_taxi");
    let demand: Vec<f64> = t.values.iter().map(|v| v / 3000.0).collect();
    let sim = |config| {
        traces::snapshot_from_demand(
            "nyc-taxi",
            t.start_unix_seconds,
            t.step_seconds,
            &demand,
            config,
            2,
        )
    };
    let w = sim(hpa_config(2, 40, 60));
    let f = run(&w);
    assert_eq!(f.len(), 1, "{f:?}");
    let new_min = f[0].proposal.min_replicas.unwrap_or(0);
    assert!(new_min > 2, "{f:?}");
    assert!(
        ev(&f[0], "saturation episodes during scale-up") >= 0.5,
        "{f:?}"
    );
    let hot = |w: &WorkloadSnapshot| {
        w.history
            .cpu_utilization
            .iter()
            .filter(|c| **c > 70.0)
            .count()
    };
    let after = sim(hpa_config(new_min, 40, 60));
    assert!(hot(&after) < hot(&w), "{} vs {}", hot(&after), hot(&w));
}

/// rds_cpu_utilization_cc0c53 (NAB) as utilization at fixed replicas: no
/// autoscaling activity, so no scale lag.
#[test]
fn rds_series_at_fixed_replicas_has_no_lag() {
    let t = traces::load_nab(DIR, "rds_cpu_utilization_cc0c53");
    let w = traces::snapshot_from_utilization(&t, hpa_config(2, 10, 10), 2);
    assert!(run(&w).is_empty());
}
