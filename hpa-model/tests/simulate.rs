//! Property tests of the simulator on real NAB traces.
//!
//! How each trace becomes demand (documented so the numbers can be checked by hand):
//! - `nyc_taxi.csv` (passengers per 30 min, ~10k-30k with a daily cycle): demand in
//!   cores = passengers / 2000, so a 0.25-core pod handles 500 passengers per 30 min
//!   at 100% of request; peaks need ~15 cores.
//! - `cpu_utilization_asg_misconfiguration.csv` (CPU % of an auto-scaling group,
//!   5-minute samples): utilization measured at a fixed 8 replicas of 0.5 core, so
//!   demand = util/100 × 8 × 0.5 cores.
//! - `elb_request_count_8c0756.csv` (requests per 5 minutes): request rate with a
//!   per-pod capacity of 50 requests per 5 minutes at 100% of a 0.25-core request.
//!
//! Expected relations come from the mechanics, never from earlier runs: a higher
//! floor only adds ready capacity, a longer scale-down window only delays scale-downs.

use std::path::PathBuf;

use stepscale_hpa::model::{Behavior, ScalingRules};
use stepscale_hpa::series::load_csv_series;
use stepscale_hpa::simulate::{
    compare_configs, simulate, AutoscalerConfig, DemandSeries, SimOptions,
};

fn trace(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/traces/nab")
        .join(name);
    assert!(p.exists(), "trace {} not found", p.display());
    p
}

fn taxi() -> DemandSeries {
    let s = load_csv_series(trace("nyc_taxi.csv")).expect("nyc_taxi parses");
    let step = s.typical_step_s();
    let (start, values) = s.regular(step);
    // Two weeks keep the test fast while covering 14 daily cycles.
    let n = values.len().min((14 * 86_400 / step) as usize);
    DemandSeries::from_cpu_cores(
        start,
        step,
        values[..n].iter().map(|p| p / 2000.0).collect(),
    )
}

fn asg() -> DemandSeries {
    let s = load_csv_series(trace("cpu_utilization_asg_misconfiguration.csv")).expect("asg parses");
    let step = s.typical_step_s();
    let (start, values) = s.regular(step);
    let n = values.len().min((14 * 86_400 / step) as usize);
    DemandSeries::from_utilization(start, step, &values[..n], 8.0, 0.5)
}

fn elb() -> DemandSeries {
    let s = load_csv_series(trace("elb_request_count_8c0756.csv")).expect("elb parses");
    let step = s.typical_step_s();
    let (start, values) = s.regular(step);
    DemandSeries::from_request_rate(start, step, &values, 50.0, 0.25)
}

fn all() -> Vec<(&'static str, DemandSeries, AutoscalerConfig)> {
    vec![
        ("nyc_taxi", taxi(), AutoscalerConfig::cpu(1, 100, 70, 0.25)),
        ("asg", asg(), AutoscalerConfig::cpu(1, 20, 60, 0.5)),
        ("elb", elb(), AutoscalerConfig::cpu(1, 30, 70, 0.25)),
    ]
}

fn with_down_window(cfg: &AutoscalerConfig, seconds: i32) -> AutoscalerConfig {
    let mut c = cfg.clone();
    c.behavior = Some(Behavior {
        scale_up: None,
        scale_down: Some(ScalingRules {
            stabilization_window_seconds: Some(seconds),
            ..ScalingRules::default_scale_down()
        }),
    });
    c
}

#[test]
fn demand_is_nontrivial() {
    for (name, series, _) in all() {
        let max = series.cores.iter().cloned().fold(0.0, f64::max);
        let min = series.cores.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(series.cores.len() > 500, "{name}: too few samples");
        assert!(
            max > 2.0 * min.max(0.01),
            "{name}: demand must vary (min {min}, max {max})"
        );
    }
}

#[test]
fn higher_floor_never_reduces_saturation() {
    let opts = SimOptions::default();
    for (name, series, cfg) in all() {
        let mut prev: Option<f64> = None;
        for floor in [1, 2, 4, 8, 12] {
            let mut c = cfg.clone();
            c.min_replicas = floor;
            let r = simulate(&series, &c, &opts).expect("simulates");
            if let Some(p) = prev {
                assert!(
                    r.minutes_saturated <= p + 1e-9,
                    "{name}: floor {floor} saturated {} min, lower floor {p} min",
                    r.minutes_saturated
                );
            }
            prev = Some(r.minutes_saturated);
        }
    }
}

#[test]
fn longer_scale_down_stabilization_never_adds_scale_events() {
    let opts = SimOptions::default();
    for (name, series, cfg) in all() {
        let mut prev: Option<u64> = None;
        for window in [0, 60, 300, 900, 1800] {
            let r = simulate(&series, &with_down_window(&cfg, window), &opts).expect("simulates");
            if let Some(p) = prev {
                assert!(
                    r.scale_events <= p,
                    "{name}: window {window}s gave {} scale events, shorter window {p}",
                    r.scale_events
                );
            }
            prev = Some(r.scale_events);
        }
    }
}

#[test]
fn identical_config_gives_zero_difference() {
    let opts = SimOptions::default();
    for (name, series, cfg) in all() {
        let c = compare_configs(&series, &cfg, &cfg.clone(), &opts).expect("simulates");
        let d = &c.difference;
        assert_eq!(
            (d.replica_hours, d.minutes_over_target, d.minutes_saturated),
            (0.0, 0.0, 0.0),
            "{name}"
        );
        assert_eq!(
            (d.scale_events, d.direction_changes, d.peak_replicas),
            (0, 0, 0),
            "{name}"
        );
    }
}

#[test]
fn replays_are_deterministic() {
    let opts = SimOptions {
        record_trajectory: true,
        ..SimOptions::default()
    };
    for (name, series, cfg) in all() {
        let a = simulate(&series, &with_down_window(&cfg, 120), &opts).expect("simulates");
        let b = simulate(&series, &with_down_window(&cfg, 120), &opts).expect("simulates");
        assert_eq!(a, b, "{name}");
        let json_a = serde_json::to_string(&a).expect("serializes");
        assert_eq!(json_a, serde_json::to_string(&b).expect("serializes"));
        assert!(json_a.contains("\"replicaHours\""), "camelCase fields");
    }
}

#[test]
fn autoscaler_tracks_the_daily_cycle() {
    // The daily taxi cycle must make the HPA scale both ways, and replica-hours must lie
    // between what the floor alone and the ceiling alone would cost.
    let series = taxi();
    let cfg = AutoscalerConfig::cpu(1, 100, 70, 0.25);
    let r = simulate(&series, &cfg, &SimOptions::default()).expect("simulates");
    println!("{}", serde_json::to_string(&r).expect("serializes"));
    let hours = r.duration_minutes / 60.0;
    assert!(r.scale_ups > 14 && r.scale_downs > 14, "{r:?}");
    assert!(
        r.replica_hours > hours && r.replica_hours < 100.0 * hours,
        "{r:?}"
    );
}

#[test]
fn keda_scales_to_zero_only_after_cooldown() {
    use stepscale_hpa::simulate::KedaConfig;
    // 10 minutes of load, then 20 minutes of nothing, at 60 s samples.
    let mut cores = vec![1.0; 10];
    cores.extend(vec![0.0; 20]);
    let series = DemandSeries::from_cpu_cores(0, 60, cores);
    let mut cfg = AutoscalerConfig::cpu(1, 10, 50, 0.5);
    cfg.keda = Some(KedaConfig {
        min_replica_count: 0,
        cooldown_period_s: 300,
        activation_cores: 0.0,
        cron_floors: vec![],
    });
    let opts = SimOptions {
        record_trajectory: true,
        ..SimOptions::default()
    };
    let r = simulate(&series, &cfg, &opts).expect("simulates");
    let traj = r.trajectory.expect("recorded");
    // Last active sample is at 9 min (540 s); the cooldown ends at 840 s.
    assert!(
        traj.iter().filter(|p| p.t < 840).all(|p| p.replicas > 0),
        "{traj:?}"
    );
    assert!(
        traj.iter().filter(|p| p.t >= 900).all(|p| p.replicas == 0),
        "{traj:?}"
    );
}

#[test]
fn cron_floor_holds_replicas_inside_window() {
    use stepscale_hpa::simulate::{CronFloor, KedaConfig};
    // Constant small demand for a day from 2024-01-01 00:00 UTC, 5-minute samples.
    let start = 1_704_067_200;
    let series = DemandSeries::from_cpu_cores(start, 300, vec![0.2; 288]);
    let mut cfg = AutoscalerConfig::cpu(1, 20, 70, 0.5);
    cfg.keda = Some(KedaConfig {
        min_replica_count: 1,
        cooldown_period_s: 300,
        activation_cores: 0.0,
        cron_floors: vec![CronFloor {
            timezone: "Asia/Kolkata".into(),
            start: "0 9 * * *".into(),
            end: "0 17 * * *".into(),
            desired_replicas: 6,
        }],
    });
    let r = simulate(
        &series,
        &cfg,
        &SimOptions {
            record_trajectory: true,
            ..SimOptions::default()
        },
    )
    .expect("simulates");
    let traj = r.trajectory.expect("recorded");
    // 09:00-17:00 IST is 03:30-11:30 UTC; allow 15 minutes for the controller and start-up.
    let inside = |p: &&stepscale_hpa::simulate::TrajectoryPoint| {
        p.t >= start + 3 * 3600 + 45 * 60 && p.t < start + 11 * 3600 + 30 * 60
    };
    assert!(
        traj.iter().filter(inside).all(|p| p.replicas >= 6),
        "floor not held"
    );
    assert!(
        traj.iter()
            .filter(|p| p.t < start + 3 * 3600)
            .all(|p| p.replicas < 6),
        "floor applied outside the window"
    );
}
