//! The fast replay: the same mechanics and the same controller as
//! [`crate::simulate::simulate_reference`], with the pods held as runs of
//! pods the controller cannot tell apart.
//!
//! Pods created in the same sync become ready together and report the same
//! metric, so they form a run (ready time, count). A run whose pods have been
//! ready for a whole metric window reads exactly like every other such run
//! from then on (the controller groups them the same way, inside the CPU
//! initialization period or not, and their mean share covers the same
//! samples), so such runs merge into one. A reconcile then costs the number
//! of runs (a handful) instead of the number of pods, and no allocation.
//! The controller's arithmetic over runs
//! ([`crate::model::HorizontalController::compute_replicas_for_runs`]) sums
//! integer milli-units, so grouping changes no result: tests compare both
//! replays on real series.

use crate::window::Window;

use crate::model::replica::{settled_utilization_replicas, SettledBand};
use crate::model::{MetricTarget, PodRun};
use crate::simulate::{
    AutoscalerConfig, Bounded, DemandSeries, Progress, Replay, SimError, SimOptions, SimReport,
};

/// Replayed time between two questions to a bounded replay's `stop`,
/// seconds (an hour: 240 syncs, so asking costs nothing measurable).
pub const CHECK_EVERY_S: i64 = 3600;

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
    match simulate_runs_bounded(series, config, options, &mut |_| false)? {
        Bounded::Complete { report, .. } => Ok(report),
        // The check above never stops the replay.
        Bounded::Stopped { .. } => Err(SimError::InvalidConfig(
            "the replay stopped without being asked to".into(),
        )),
    }
}

/// [`simulate_runs`] that asks `stop` once per [`CHECK_EVERY_S`] of replayed
/// time how far the replay has come, and stops when it says so.
///
/// Every figure of a [`Progress`] only grows as the replay goes on, so a
/// caller that only needs to know whether the final report could beat
/// another can stop a replay as soon as its figures so far cannot.
///
/// # Errors
/// [`SimError`] for an empty series, an invalid config or an invalid cron floor.
pub fn simulate_runs_bounded(
    series: &DemandSeries,
    config: &AutoscalerConfig,
    options: &SimOptions,
    stop: &mut dyn FnMut(&Progress<'_>) -> bool,
) -> Result<Bounded, SimError> {
    let mut r = Replay::new(series, config, options)?;
    let mut next_check = r.start.saturating_add(CHECK_EVERY_S);
    r.controller = std::mem::take(&mut r.controller).with_sliding_windows();
    // A run that has been ready for a whole metric window reads like every
    // older run: the controller counts it ready even inside the CPU
    // initialization period (its sample covers a full window after the
    // readiness change), and its mean share covers the same samples.
    let settle_s = options.metric_window_s;
    // Runs of pods in creation (= readiness) order: (ready at, count).
    let mut runs: Vec<(i64, u32)> = Vec::new();
    if r.initial > 0 {
        runs.push((r.start - options.pod_startup_s, r.initial as u32));
    }
    let mut total: i64 = i64::from(r.initial.max(0));
    let mut shares: Window<(i64, f64)> = Window::default();
    let mut pod_runs: Vec<PodRun> = Vec::new();
    let mut cron_totals: Vec<i64> = Vec::new();
    // The shortcut for one settled run applies when CPU is the only metric.
    let cpu_only_target = match r.spec.metrics.as_slice() {
        [m] => match m.target {
            MetricTarget::Utilization(pct) if pct > 0 && r.request_milli() > 0 => Some(pct),
            _ => None,
        },
        _ => None,
    };
    let band = cpu_only_target.and_then(|target| {
        SettledBand::new(target, r.request_milli(), &r.controller.config.tolerances)
    });
    let hpa_only = r.hpa_only();
    let mut t = r.start;
    while t < r.end {
        if t >= next_check {
            next_check = t.saturating_add(CHECK_EVERY_S);
            if stop(&r.progress(t)) {
                return Ok(Bounded::Stopped(r.progress(t).owned()));
            }
        }
        // Merge the settled runs at the front into one.
        while runs.len() >= 2 && runs[1].0 <= t - settle_s {
            let merged = runs[0].1 + runs[1].1;
            runs.remove(1);
            runs[0].1 = merged;
        }
        let ready: i64 = runs
            .iter()
            .take_while(|(at, _)| *at <= t)
            .map(|(_, n)| i64::from(*n))
            .sum();
        let (demand, share) = r.account(t, total, ready);
        shares.push_back((t, share));
        while shares
            .front()
            .is_some_and(|(ts, _)| *ts <= t - options.metric_window_s)
        {
            shares.pop_front();
        }
        // KEDA's executor first, then the HPA.
        let current = total as i32;
        let keda = if hpa_only {
            None
        } else {
            r.keda(t, current, demand)?
        };
        let desired = match keda {
            Some(d) => d,
            None => match cpu_only_target {
                Some(target) if runs.len() == 1 && runs[0].0 <= t - settle_s => {
                    // Every pod is ready and settled: each reads the mean share
                    // of the whole window (what `pod_view` computes for it).
                    let (sum, n) = shares
                        .as_slice()
                        .iter()
                        .fold((0.0, 0u32), |(s, n), (_, v)| (s + v, n + 1));
                    let mean = if n > 0 { sum / f64::from(n) } else { 0.0 };
                    let value_milli = round_to_milli(mean);
                    let request_milli = r.request_milli();
                    let count = i64::from(runs[0].1);
                    let now_ms = t * 1000;
                    let tolerances = r.controller.config.tolerances;
                    let spec = &r.spec;
                    // Inside the band the proposal is the current count; the
                    // replay never reads the utilization, so it is not computed.
                    if band.is_some_and(|b| b.holds(value_milli, request_milli, count))
                        && r.controller.keep_count(spec, current, current, now_ms)
                    {
                        current
                    } else {
                        let p = settled_utilization_replicas(
                            current,
                            target,
                            value_milli,
                            request_milli,
                            count,
                            &tolerances,
                        );
                        if r.controller.keep_count(spec, current, p.replicas, now_ms) {
                            current
                        } else {
                            r.controller
                                .reconcile_with(spec, current, now_ms, |_| {
                                    Ok((p.replicas, Some(p.utilization_pct)))
                                })
                                .desired_replicas
                        }
                    }
                }
                _ => {
                    pod_runs.clear();
                    for &(ready_at, count) in &runs {
                        let (pod, reading) = r.pod_view(ready_at, t, &shares);
                        pod_runs.push(PodRun {
                            pod,
                            reading,
                            count,
                        });
                    }
                    cron_totals.clear();
                    cron_totals.extend(r.cron_values.iter().map(|v| v * 1000));
                    let now_ms = t * 1000;
                    let spec = &r.spec;
                    r.controller
                        .reconcile_with(spec, current, now_ms, |c| {
                            c.compute_replicas_for_runs(
                                spec,
                                &pod_runs,
                                &cron_totals,
                                current,
                                current,
                                now_ms,
                            )
                        })
                        .desired_replicas
                }
            },
        };
        if desired != current {
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
            r.scaled(current, desired, total);
        }
        t = r.next_sync(t);
    }
    let counts_bounded = if hpa_only {
        r.controller.counts_bounded()
    } else {
        None
    };
    Ok(Bounded::Complete {
        report: r.finish(),
        counts_bounded,
    })
}

/// `(x * 1000.0).round() as i64` (what `Replay::pod_view` reports), with
/// the rounding done by a truncating conversion where that is exact: the
/// baseline x86-64 target has no rounding instruction, and the library call
/// was a tenth of a replay.
fn round_to_milli(x: f64) -> i64 {
    let m = x * 1000.0;
    // Below 2^52 every non-negative double's fractional part is exact.
    if (0.0..4_503_599_627_370_496.0).contains(&m) {
        let whole = m as i64;
        if m - whole as f64 >= 0.5 {
            whole + 1
        } else {
            whole
        }
    } else {
        m.round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::round_to_milli;

    #[test]
    fn rounding_to_milli_units_matches_the_library_round() {
        let mut values = vec![
            0.0,
            -0.0,
            0.0005,
            0.0004999999999999999,
            0.0015,
            0.0025,
            0.49999999999999994,
            1.0e-320,
            4.503599627370495e12,
            4.503599627370497e12,
            1.0e300,
            -0.0015,
            -2.5,
            f64::INFINITY,
            f64::NAN,
        ];
        // Every half-milli boundary below 10 cores, and its neighbours.
        for k in 0..20_000u32 {
            let v = f64::from(k) / 2000.0;
            values.extend([v, v.next_up(), v.next_down()]);
        }
        for x in values {
            assert_eq!(round_to_milli(x), (x * 1000.0).round() as i64, "{x:e}");
        }
    }
}
