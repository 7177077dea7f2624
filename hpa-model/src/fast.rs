//! The fast replay: the same mechanics and the same controller as
//! [`crate::simulate::simulate_reference`], with the pods held as runs of
//! pods the controller cannot tell apart.
//!
//! Pods created in the same sync become ready together and report the same
//! metric, so they form a run (ready time, count). A run whose pods have been
//! ready for longer than both the CPU initialization period and the metric
//! window reads exactly like every other such run from then on (the
//! controller groups them the same way and their mean share covers the same
//! samples), so such runs merge into one. A reconcile then costs the number
//! of runs (a handful) instead of the number of pods, and no allocation.
//! The controller's arithmetic over runs
//! ([`crate::model::HorizontalController::compute_replicas_for_runs`]) sums
//! integer milli-units, so grouping changes no result: tests compare both
//! replays on real series.

use std::collections::VecDeque;

use crate::keda::{Activation, ScaleExecutor, ScaledObjectSettings};
use crate::model::{
    HorizontalController, HpaSpec, MetricSample, MetricSource, MetricSpec, MetricTarget, PodPhase,
    PodReading, PodRun, PodState,
};
use crate::simulate::{
    cron_triggers, AutoscalerConfig, DemandSeries, SimError, SimOptions, SimReport, TrajectoryPoint,
};

/// Replays `series` under `config`, holding pods as runs; the same report as
/// [`crate::simulate::simulate_reference`].
///
/// # Errors
/// [`SimError`] for an empty series, an invalid config or an invalid cron floor.
pub fn simulate_runs(
    series: &DemandSeries,
    config: &AutoscalerConfig,
    options: &SimOptions,
) -> Result<SimReport, SimError> {
    config.validate()?;
    if series.cores.is_empty() || series.step_s <= 0 {
        return Err(SimError::EmptySeries);
    }
    if options.sync_period_s <= 0 || options.metric_window_s < 0 || options.pod_startup_s < 0 {
        return Err(SimError::InvalidConfig(
            "sync period must be positive; window and start-up delay must not be negative".into(),
        ));
    }
    let crons = cron_triggers(config)?;
    let sync = options.sync_period_s;
    let request = config.cpu_request_cores;
    let limit = options
        .pod_cpu_limit_cores
        .filter(|l| *l > 0.0)
        .unwrap_or(request);
    let request_milli = (request * 1000.0).round() as i64;
    let tol = options.controller.tolerances.scale_up;
    let hpa_min = match &config.keda {
        Some(k) => k.min_replica_count.max(1),
        None => config.min_replicas,
    };
    let mut metrics = vec![MetricSpec::cpu_utilization(config.cpu_target_pct)];
    for (i, c) in crons.iter().enumerate() {
        metrics.push(MetricSpec {
            source: MetricSource::External {
                name: c.metric_name(i),
            },
            target: MetricTarget::AverageValue(1000),
        });
    }
    let spec = HpaSpec {
        min_replicas: hpa_min,
        max_replicas: config.max_replicas,
        metrics,
        behavior: config.behavior.clone(),
    };
    let settings = config.keda.as_ref().map(|k| ScaledObjectSettings {
        min_replica_count: k.min_replica_count,
        max_replica_count: config.max_replicas,
        cooldown_period_s: k.cooldown_period_s,
    });
    let mut executor = ScaleExecutor::default();
    let mut controller = HorizontalController::new(options.controller);
    // A run that has been ready this long reads like every older run.
    let settle_s = (options.controller.cpu_initialization_period_ms + 999) / 1000;
    let settle_s = settle_s.max(options.metric_window_s);

    let start = series.start_s;
    let end = series.end_s();
    let d0 = series.at(start);
    let initial = options.initial_replicas.unwrap_or_else(|| {
        let need = (d0 / (request * f64::from(config.cpu_target_pct) / 100.0)).ceil() as i32;
        let floor = match &config.keda {
            Some(k) if k.min_replica_count == 0 && d0 <= k.activation_cores => 0,
            _ => hpa_min,
        };
        need.clamp(floor, config.max_replicas)
    });
    // Runs of pods in creation (= readiness) order: (ready at, count).
    let mut runs: Vec<(i64, u32)> = Vec::new();
    if initial > 0 {
        runs.push((start - options.pod_startup_s, initial as u32));
    }
    let mut total: i64 = i64::from(initial.max(0));
    let mut shares: VecDeque<(i64, f64)> = VecDeque::new();
    let mut pod_runs: Vec<PodRun> = Vec::new();
    let mut cron_values: Vec<i64> = Vec::with_capacity(crons.len());
    let mut cron_totals: Vec<i64> = Vec::with_capacity(crons.len());

    let mut report = SimReport {
        syncs: 0,
        duration_minutes: 0.0,
        replica_hours: 0.0,
        mean_replicas: 0.0,
        minutes_over_target: 0.0,
        minutes_saturated: 0.0,
        scale_events: 0,
        scale_ups: 0,
        scale_downs: 0,
        direction_changes: 0,
        peak_replicas: total as i32,
        trajectory: options.record_trajectory.then(Vec::new),
    };
    let mut replica_seconds: f64 = 0.0;
    let mut over_s: i64 = 0;
    let mut saturated_s: i64 = 0;
    let mut last_direction: i32 = 0;
    let mut next_sample = start;

    let mut t = start;
    while t < end {
        // Merge the settled runs at the front into one.
        while runs.len() >= 2 && runs[1].0 <= t - settle_s {
            let merged = runs[0].1 + runs[1].1;
            runs.remove(1);
            runs[0].1 = merged;
        }
        let demand = series.at(t);
        let ready: i64 = runs
            .iter()
            .take_while(|(r, _)| *r <= t)
            .map(|(_, n)| i64::from(*n))
            .sum();
        let capacity = ready as f64 * limit;
        let served = demand.min(capacity);
        let share = if ready > 0 {
            served / ready as f64
        } else {
            0.0
        };
        shares.push_back((t, share));
        while shares
            .front()
            .is_some_and(|(ts, _)| *ts <= t - options.metric_window_s)
        {
            shares.pop_front();
        }
        if let Some(traj) = report.trajectory.as_mut() {
            while next_sample <= t {
                traj.push(TrajectoryPoint {
                    t: next_sample,
                    replicas: total as i32,
                    ready: ready as i32,
                    demand_cores: series.at(next_sample),
                });
                next_sample += series.step_s;
            }
        }
        let dt = sync.min(end - t);
        replica_seconds += total as f64 * dt as f64;
        if demand > capacity + 1e-9 {
            saturated_s += dt;
        }
        let util_pct = if ready > 0 {
            demand / (ready as f64 * request) * 100.0
        } else if demand > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        if util_pct > f64::from(config.cpu_target_pct) * (1.0 + tol) + 1e-9 {
            over_s += dt;
        }

        // KEDA's executor first, then the HPA.
        let current = total as i32;
        let mut run_hpa = true;
        let mut desired = current;
        cron_values.clear();
        let mut cron_active = false;
        for c in &crons {
            let (v, a) = c
                .metric_and_activity(t, 0, i64::from(config.max_replicas))
                .map_err(|source| SimError::Cron {
                    index: cron_values.len(),
                    source,
                })?;
            cron_values.push(v);
            cron_active |= a;
        }
        if let (Some(s), Some(k)) = (&settings, &config.keda) {
            let active = demand > k.activation_cores || cron_active;
            match executor.poll(s, current, active, t) {
                Activation::HpaControls => {}
                Activation::Activate(n) | Activation::RaiseToMin(n) => {
                    desired = n;
                    run_hpa = false;
                }
                Activation::ScaleToZero => {
                    desired = 0;
                    run_hpa = false;
                }
                Activation::StayAtZero => run_hpa = false,
            }
        }
        if run_hpa {
            pod_runs.clear();
            for &(ready_at, count) in &runs {
                if ready_at <= t {
                    let (sum, n) = shares
                        .iter()
                        .filter(|(ts, _)| *ts >= ready_at)
                        .fold((0.0, 0u32), |(s, n), (_, v)| (s + v, n + 1));
                    let mean = if n > 0 { sum / f64::from(n) } else { 0.0 };
                    pod_runs.push(PodRun {
                        pod: PodState {
                            phase: PodPhase::Running,
                            deleting: false,
                            ready: Some(true),
                            start_time_ms: Some(ready_at * 1000),
                            ready_transition_ms: ready_at * 1000,
                        },
                        reading: PodReading {
                            request_milli: Some(request_milli),
                            sample: Some(MetricSample {
                                value_milli: (mean * 1000.0).round() as i64,
                                timestamp_ms: t * 1000,
                                window_ms: options.metric_window_s * 1000,
                            }),
                        },
                        count,
                    });
                } else {
                    pod_runs.push(PodRun {
                        pod: PodState {
                            phase: PodPhase::Pending,
                            deleting: false,
                            ready: Some(false),
                            start_time_ms: None,
                            ready_transition_ms: 0,
                        },
                        reading: PodReading {
                            request_milli: Some(request_milli),
                            sample: None,
                        },
                        count,
                    });
                }
            }
            cron_totals.clear();
            cron_totals.extend(cron_values.iter().map(|v| v * 1000));
            let now_ms = t * 1000;
            desired = controller
                .reconcile_with(&spec, current, now_ms, |c| {
                    c.compute_replicas_for_runs(
                        &spec,
                        &pod_runs,
                        &cron_totals,
                        current,
                        current,
                        now_ms,
                    )
                })
                .desired_replicas;
        }
        if desired != current {
            let direction = if desired > current { 1 } else { -1 };
            report.scale_events += 1;
            if direction > 0 {
                report.scale_ups += 1;
            } else {
                report.scale_downs += 1;
            }
            if last_direction != 0 && direction != last_direction {
                report.direction_changes += 1;
            }
            last_direction = direction;
            if desired > current {
                runs.push((t + options.pod_startup_s, (desired - current) as u32));
            } else {
                // Scale-down removes the newest pods first.
                let mut remove = i64::from(current) - i64::from(desired.max(0));
                while remove > 0 {
                    let Some(last) = runs.last_mut() else { break };
                    let take = remove.min(i64::from(last.1));
                    last.1 -= take as u32;
                    remove -= take;
                    if last.1 == 0 {
                        runs.pop();
                    }
                }
            }
            total = runs.iter().map(|(_, n)| i64::from(*n)).sum();
            report.peak_replicas = report.peak_replicas.max(total as i32);
        }
        report.syncs += 1;
        t += sync;
    }
    let duration_s = (end - start) as f64;
    report.duration_minutes = duration_s / 60.0;
    report.replica_hours = replica_seconds / 3600.0;
    report.mean_replicas = if duration_s > 0.0 {
        replica_seconds / duration_s
    } else {
        0.0
    };
    report.minutes_over_target = over_s as f64 / 60.0;
    report.minutes_saturated = saturated_s as f64 / 60.0;
    Ok(report)
}
