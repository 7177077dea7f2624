//! Replays one year of 1-minute samples (525,600 steps) under an HPA, and under the same
//! HPA as a ScaledObject with cron floors, with the fast replay and with the reference
//! replay; prints the elapsed time and throughput of each and whether their reports are
//! equal. Run with `cargo bench -p stepscale-hpa`.

use std::time::Instant;

use stepscale_hpa::model::{Behavior, ScalingRules};
use stepscale_hpa::simulate::{
    simulate, simulate_reference, AutoscalerConfig, CronFloor, DemandSeries, KedaConfig, SimOptions,
};

fn main() {
    const STEPS: usize = 525_600;
    // A deterministic daily and weekly cycle with a fast wobble: 1 to ~12 cores.
    let cores: Vec<f64> = (0..STEPS)
        .map(|i| {
            let day = (i as f64 / 1440.0) * std::f64::consts::TAU;
            let week = (i as f64 / (7.0 * 1440.0)) * std::f64::consts::TAU;
            let wobble = ((i * 7919) % 101) as f64 / 100.0 - 0.5;
            (6.0 + 4.5 * day.sin() + 1.0 * week.cos() + wobble).max(0.5)
        })
        .collect();
    let series = DemandSeries::from_cpu_cores(1_704_067_200, 60, cores);
    let mut config = AutoscalerConfig::cpu(2, 50, 70, 0.5);
    config.behavior = Some(Behavior {
        scale_up: None,
        scale_down: Some(ScalingRules {
            stabilization_window_seconds: Some(300),
            ..ScalingRules::default_scale_down()
        }),
    });
    let options = SimOptions::default();
    let fast_only = std::env::var_os("STEPSCALE_BENCH_FAST_ONLY").is_some();
    run("HPA", &series, &config, &options, fast_only);
    // The same HPA as a ScaledObject with two cron floors (weekday office
    // hours, and a nightly batch window): KEDA's executor and the cron
    // metrics take part in every sync, and the fast replay fast-forwards
    // the kept syncs between the floors' starts and ends.
    let mut keda = config.clone();
    keda.keda = Some(KedaConfig {
        min_replica_count: 2,
        cooldown_period_s: 300,
        activation_cores: 0.0,
        cron_floors: vec![
            CronFloor {
                timezone: "UTC".into(),
                start: "0 8 * * 1-5".into(),
                end: "0 18 * * 1-5".into(),
                desired_replicas: 12,
            },
            CronFloor {
                timezone: "UTC".into(),
                start: "30 1 * * *".into(),
                end: "0 3 * * *".into(),
                desired_replicas: 8,
            },
        ],
    });
    run(
        "ScaledObject with two cron floors",
        &series,
        &keda,
        &options,
        fast_only,
    );
}

/// Replays `series` under `config` with the fast replay (best of five) and,
/// unless `fast_only`, once with the reference replay; prints both and
/// whether their reports are equal.
fn run(
    name: &str,
    series: &DemandSeries,
    config: &AutoscalerConfig,
    options: &SimOptions,
    fast_only: bool,
) {
    // The best of five runs: the machine is a shared VM.
    let mut best: Option<(std::time::Duration, _)> = None;
    for _ in 0..5 {
        let started = Instant::now();
        let report = match simulate(series, config, options) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{name}: replay failed: {e}");
                std::process::exit(1);
            }
        };
        let elapsed = started.elapsed();
        if best.as_ref().is_none_or(|(b, _)| elapsed < *b) {
            best = Some((elapsed, report));
        }
    }
    let Some((elapsed, report)) = best else {
        return;
    };
    let secs = elapsed.as_secs_f64();
    println!("== {name}");
    if fast_only {
        println!("elapsed (best of 5): {secs:.3} s");
        return;
    }
    println!(
        "replay: {} one-minute steps ({} controller syncs at 15 s)",
        series.cores.len(),
        report.syncs
    );
    println!("elapsed (best of 5): {secs:.3} s");
    println!(
        "throughput: {:.0} steps/s ({:.0} syncs/s)",
        series.cores.len() as f64 / secs,
        report.syncs as f64 / secs
    );
    let started = Instant::now();
    let reference = match simulate_reference(series, config, options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: reference replay failed: {e}");
            std::process::exit(1);
        }
    };
    let ref_secs = started.elapsed().as_secs_f64();
    println!(
        "reference replay (one pod at a time): {ref_secs:.3} s ({:.1}× the fast replay's time); reports equal: {}",
        ref_secs / secs,
        reference == report
    );
    println!(
        "result: {:.0} replica-hours, peak {} replicas, {} scale events, {} direction changes, {:.0} min over target, {:.0} min saturated",
        report.replica_hours, report.peak_replicas, report.scale_events, report.direction_changes, report.minutes_over_target, report.minutes_saturated
    );
}
