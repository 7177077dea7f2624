//! Native tests of [`analyze`] on hand-built cases and real NAB series.
use super::*;
use stepscale_rules_sdk::harness::snapshot::{AutoscalingConfig, WorkloadSnapshot};
use stepscale_rules_sdk::harness::traces::{self, hpa_config, keda_config};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// `days` days of hourly CPU samples: `idle_cpu` in hours `0..idle_until`,
/// `busy_cpu` otherwise.
fn hourly(days: usize, idle_until: usize, idle_cpu: f64, busy_cpu: f64) -> Vec<f64> {
    (0..days * 24)
        .map(|i| {
            if i % 24 < idle_until {
                idle_cpu
            } else {
                busy_cpu
            }
        })
        .collect()
}

/// A workload at fixed `replicas` starting Monday 1970-01-05 00:00 UTC.
fn fixed(cpu: Vec<f64>, replicas: f64, config: AutoscalingConfig) -> WorkloadSnapshot {
    let r = vec![replicas; cpu.len()];
    traces::snapshot("app", config, 4 * 86_400, 3600, cpu, r)
}

fn run(w: &WorkloadSnapshot) -> Vec<Finding> {
    analyze(&traces::workload_data(w))
}

use traces::evidence_value as ev;

#[test]
fn floor_pinned_night_hours_lower_min_replicas() {
    // 4 replicas at 5 % CPU from 00:00 to 06:00: demand 4 × 0.05 = 0.2 pods,
    // ceil(0.2 / 0.6) = 1 replica at the 60 % target; busy hours at 50 %
    // need ceil(2 / 0.6) = 4 = the floor, so only the 6 night hours are idle.
    let w = fixed(hourly(3, 6, 5.0, 50.0), 4.0, hpa_config(4, 10, 60));
    let f = run(&w);
    assert_eq!(f.len(), 1, "{f:?}");
    let f = &f[0];
    assert_eq!(f.kind, FindingKind::IdleWindow);
    assert_eq!(f.proposal.min_replicas, Some(1));
    assert_eq!(f.proposal.cpu_target_percent, None);
    assert_eq!(ev(f, "idle hours per day"), 6.0);
    assert_eq!(ev(f, "p95 CPU utilization in idle hours"), 5.0);
    // (4 - 1) replicas × 6 h.
    assert_eq!(ev(f, "floor replica-hours saved"), 18.0);
    assert_eq!(ev(f, "idle window 00:00–06:00 local"), 6.0);
    // Every night fits the new floor: 0.45 + 0.35 + 0.15 × 3/7 = 0.864.
    assert_eq!(f.confidence, 0.86);
    assert!(f.summary.contains("00:00–06:00"), "{}", f.summary);
    assert!(f.summary.contains("from 4 to 1"), "{}", f.summary);
}

#[test]
fn window_across_midnight_is_one_window() {
    // Idle 22:00–04:00: hours 22, 23, 0, 1, 2, 3.
    let cpu: Vec<f64> = (0..72)
        .map(|i| {
            if i % 24 >= 22 || i % 24 < 4 {
                2.0
            } else {
                50.0
            }
        })
        .collect();
    let f = run(&fixed(cpu, 4.0, hpa_config(4, 10, 60)));
    assert_eq!(f.len(), 1);
    assert_eq!(ev(&f[0], "idle window 22:00–04:00 local"), 6.0);
}

#[test]
fn busy_all_day_or_short_history_gives_nothing() {
    assert!(run(&fixed(hourly(3, 0, 0.0, 50.0), 4.0, hpa_config(4, 10, 60))).is_empty());
    // One day only.
    assert!(run(&fixed(hourly(1, 12, 1.0, 50.0), 4.0, hpa_config(4, 10, 60))).is_empty());
    // Already at the lowest floor.
    assert!(run(&fixed(hourly(3, 12, 1.0, 50.0), 1.0, hpa_config(1, 10, 60))).is_empty());
}

#[test]
fn keda_zero_floor_only_with_wakeable_trigger_and_stateless_target() {
    // 0.5 % CPU at night on 3 replicas: near zero.
    let cpu = hourly(3, 8, 0.5, 50.0);
    let keda = keda_config(3, 10, 60, &["cpu", "prometheus"]);
    let f = run(&fixed(cpu.clone(), 3.0, keda.clone()));
    assert_eq!(f[0].proposal.min_replicas, Some(0));
    // KEDA cannot activate from zero on a CPU trigger alone.
    let cpu_only = keda_config(3, 10, 60, &["cpu"]);
    let f = run(&fixed(cpu.clone(), 3.0, cpu_only));
    assert_eq!(f[0].proposal.min_replicas, Some(1));
    // Never scale a StatefulSet to zero.
    let mut sts = fixed(cpu, 3.0, keda);
    sts.target.kind = "StatefulSet".into();
    let f = run(&sts);
    assert_eq!(f[0].proposal.min_replicas, Some(1));
}

/// nyc_taxi (NAB): taxi passengers per 30 minutes, July 2014 – January 2015.
/// Rescaled to demand with 3,000 passengers per pod (0.6 to 13 pods), scaled
/// by the crude HPA model with minReplicas 10, target 70 %. The p99 demand of
/// 03:00–07:00 over all days (weekend nights included) needs at most 9
/// replicas, so those hours sit on the floor of 10.
#[test]
fn nyc_taxi_nights_are_idle_windows_above_a_floor_of_10() {
    let t = traces::load_nab(DIR, "nyc_taxi");
    let demand: Vec<f64> = t.values.iter().map(|v| v / 3000.0).collect();
    let w = traces::snapshot_from_demand(
        "nyc-taxi",
        t.start_unix_seconds,
        t.step_seconds,
        &demand,
        hpa_config(10, 40, 70),
        1,
    );
    let f = run(&w);
    assert_eq!(f.len(), 1, "{f:?}");
    let f = &f[0];
    let proposed = f.proposal.min_replicas.unwrap_or(99);
    assert!((1..10).contains(&proposed), "{f:?}");
    assert!(ev(f, "idle hours per day") >= 3.0, "{f:?}");
    // Independent check: the p99 demand of 03:00–07:00 (NAB timestamps are
    // New York local time, read as UTC here) fits the proposed floor at 70 %.
    let grid = stats::TimeGrid::new(t.start_unix_seconds, t.step_seconds, 0);
    let night: Vec<f64> = (0..demand.len())
        .filter(|i| (3..7).contains(&grid.hour_of_day(*i)))
        .map(|i| demand[i])
        .collect();
    let p99 = stats::percentile(&night, 0.99).unwrap_or(f64::NAN);
    assert!(
        stats::replicas_needed(p99, 70.0) <= f64::from(proposed),
        "p99 {p99}"
    );
    assert!(f.confidence > 0.6, "{f:?}");
    // Every reported window lies in the night (starts 22:00–06:00).
    for e in f
        .evidence
        .iter()
        .filter(|e| e.label.starts_with("idle window "))
    {
        let start: u32 = e.label[12..14].parse().unwrap_or(99);
        assert!(start >= 22 || start <= 6, "{}", e.label);
    }
}

/// ec2_cpu_utilization_c6585a (NAB): an EC2 instance at 0.07 % CPU for two
/// weeks, used as the pods' utilization at 3 replicas: idle around the clock.
#[test]
fn ec2_near_zero_cpu_is_idle_all_day_and_keda_may_scale_to_zero() {
    let t = traces::load_nab(DIR, "ec2_cpu_utilization_c6585a");
    let w = traces::snapshot_from_utilization(&t, hpa_config(3, 10, 60), 3);
    let f = run(&w);
    assert_eq!(f[0].proposal.min_replicas, Some(1));
    assert_eq!(ev(&f[0], "idle hours per day"), 24.0);
    let w = traces::snapshot_from_utilization(&t, keda_config(3, 10, 60, &["prometheus"]), 3);
    assert_eq!(run(&w)[0].proposal.min_replicas, Some(0));
}

/// ec2_cpu_utilization_5f5533 (NAB): a busy instance at 38–53 % CPU all day,
/// at 4 replicas with a 60 % target it needs its floor: no idle window.
#[test]
fn busy_ec2_series_has_no_idle_window() {
    let t = traces::load_nab(DIR, "ec2_cpu_utilization_5f5533");
    let w = traces::snapshot_from_utilization(&t, hpa_config(4, 10, 60), 4);
    assert!(run(&w).is_empty());
}
