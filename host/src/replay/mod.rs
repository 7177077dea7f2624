//! Replay of a workload's history through the HPA model (`stepscale-hpa`):
//! the demand reconstructed from the history, split into the part a choice
//! is made on and the held-out part it is confirmed on, and the replay of
//! one config over one part ([`replay_figures`]).
//!
//! **Demand** is reconstructed as `CPU utilization × ready replicas × CPU
//! request` per sample: the HPA averages utilization over the pods that are
//! ready and report metrics, so pods still starting do not inflate it (a
//! missing request counts as 1 core: savings are in replica-hours, so the
//! unit cancels out). A missing sample holds the previous value.
//!
//! **Censoring.** Utilization cannot exceed what the pods could use, so at
//! samples where the pods were at their cap the true demand is unknown: it is
//! at least what was seen. A sample is *censored* when the history's
//! utilization there is within [`CENSOR_MARGIN`] of the highest utilization
//! the history shows, and that highest value is at least
//! [`CENSOR_MIN_UTILIZATION_PERCENT`] (pods at their limit). A replay cannot
//! tell how a leaner config would fare there, so the objective requires every
//! candidate to keep at least today's ready pods at every censored sample
//! ([`Figures::censored_shortfall_minutes_per_day`]):
//! censored demand can never reward a leaner config.

use stepscale_engine::snapshot::{
    AutoscalingConfig, PolicyKind, ScalingPolicy, ScalingRules, SelectPolicy, WorkloadSnapshot,
};
use stepscale_engine::ConfigChange;
use stepscale_hpa::model::behavior as hpa;
use stepscale_hpa::model::RateDecisions;
use stepscale_hpa::simulate::fast::simulate_runs_bounded;
use stepscale_hpa::simulate::{
    simulate, AutoscalerConfig, Bounded, CronFloor, DemandSeries, KedaConfig, Progress, SimError,
    SimOptions, SimReport,
};

pub mod fidelity;
pub mod figures;
pub mod mechanics;

pub use fidelity::Fidelity;
pub use figures::Figures;
pub use mechanics::Mechanics;

/// A sample is censored when its utilization is within this fraction of the
/// history's highest utilization (see the module docs).
pub const CENSOR_MARGIN: f64 = 0.03;
/// The highest utilization must reach this (percent of request) for any
/// sample to count as censored: below it the pods were not at a cap.
pub const CENSOR_MIN_UTILIZATION_PERCENT: f64 = 95.0;
/// The replay mechanics of `history`, as stated in every recommendation.
pub fn method(history: &DemandHistory) -> String {
    format!(
        "replay of the history through the HPA model (15 s sync, {} s metric window, {} s pod start-up)",
        history.mechanics.metric_window_seconds, history.mechanics.pod_startup_seconds
    )
}

/// CPU request of one pod, cores (sum over containers; 1 when unknown).
pub fn request_cores(w: &WorkloadSnapshot) -> f64 {
    let m: u32 = w
        .containers
        .iter()
        .filter_map(|c| c.cpu_request_millicores)
        .sum();
    if m == 0 {
        1.0
    } else {
        f64::from(m) / 1000.0
    }
}

/// Hold the last finite value over gaps (leading gaps take the first finite
/// value; an all-missing series is zeros).
fn forward_fill(v: &[f64]) -> Vec<f64> {
    let first = v.iter().copied().find(|x| x.is_finite()).unwrap_or(0.0);
    let mut last = first;
    v.iter()
        .map(|x| {
            if x.is_finite() {
                last = *x;
            }
            last
        })
        .collect()
}

/// CPU demand in cores per sample of the history, from the pods that were
/// ready (see the module docs).
pub fn demand(w: &WorkloadSnapshot) -> DemandSeries {
    demand_history(w).series
}

/// The demand of a workload and which samples of it are censored.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandHistory {
    /// Demand in cores per sample.
    pub series: DemandSeries,
    /// True where the pods were at their cap (demand is a lower bound).
    pub censored: Vec<bool>,
    /// The replay mechanics of this workload.
    pub mechanics: Mechanics,
}

impl DemandHistory {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.series.cores.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.series.cores.is_empty()
    }

    /// Days covered.
    pub fn days(&self) -> f64 {
        self.len() as f64 * self.series.step_s as f64 / 86_400.0
    }

    /// Samples `range` of the history, as a history of its own.
    pub fn part(&self, range: std::ops::Range<usize>) -> DemandHistory {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        DemandHistory {
            series: DemandSeries {
                start_s: self.series.start_s + start as i64 * self.series.step_s,
                step_s: self.series.step_s,
                cores: self.series.cores[start..end].to_vec(),
            },
            censored: self.censored[start..end].to_vec(),
            mechanics: self.mechanics.clone(),
        }
    }
}

/// Demand at censored samples, from the controller's own reaction: while
/// the pods are at their cap the HPA keeps scaling up until the utilization
/// falls below the cap, and then settles at the pods the demand needs at the
/// target. The desired replicas at the first sample after a run of censored
/// samples (or the next sample, if higher) show where it settled: `n` pods
/// at the target carry demand in `((n - 1) × per_pod, n × per_pod]`, so the
/// estimate is the middle, `(n - 0.5) × per_pod`. It only ever raises a
/// censored sample above the lower bound the utilization gives.
fn estimate_censored(cores: &mut [f64], censored: &[bool], desired: &[f64], per_pod: f64) {
    let n = cores.len();
    let settled = |i: usize| {
        desired
            .get(i)
            .filter(|d| d.is_finite())
            .map_or(0.0, |d| (d - 0.5).max(0.0) * per_pod)
    };
    let mut i = 0;
    while i < n {
        if !censored[i] {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < n && censored[end] {
            end += 1;
        }
        let after = settled(end);
        for (k, c) in cores.iter_mut().enumerate().take(end).skip(i) {
            *c = c.max(after).max(settled(k + 1));
        }
        i = end;
    }
}

/// Reconstruct demand and censoring from a workload's history.
pub fn demand_history(w: &WorkloadSnapshot) -> DemandHistory {
    let req = request_cores(w);
    let h = &w.history;
    let util = forward_fill(&h.cpu_utilization);
    let ready = forward_fill(h.ready());
    let mut cores: Vec<f64> = util
        .iter()
        .zip(&ready)
        .map(|(u, r)| u / 100.0 * r * req)
        .collect();
    let peak = util.iter().copied().fold(0.0_f64, f64::max);
    let censored = if peak >= CENSOR_MIN_UTILIZATION_PERCENT {
        util.iter()
            .map(|u| *u >= peak * (1.0 - CENSOR_MARGIN))
            .collect()
    } else {
        vec![false; util.len()]
    };
    if let Some(target) = w.config.cpu_target_percent {
        let desired = forward_fill(&h.replicas_desired);
        estimate_censored(
            &mut cores,
            &censored,
            &desired,
            req * f64::from(target) / 100.0,
        );
    }
    DemandHistory {
        series: DemandSeries::from_cpu_cores(
            h.start_unix_seconds,
            i64::from(h.step_seconds),
            cores,
        ),
        censored,
        mechanics: Mechanics::calibrate(w),
    }
}

/// The split of a history into the part a config is chosen on and the
/// held-out part it is confirmed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Samples in the fit part (the first ones).
    pub fit_samples: usize,
    /// Whole days held out at the end (0 = too short to hold out).
    pub holdout_days: usize,
}

/// Least history, days, for a held-out confirmation.
pub const MIN_DAYS_FOR_HOLDOUT: f64 = 3.0;

/// The split of a history of `samples` samples at `step_s`: with 14 days or
/// more the last 7 are held out (a whole weekly cycle), with 7 to 14 the last
/// 2, with 3 to 7 the last 1; with less, nothing is held out.
pub fn split(samples: usize, step_s: i64) -> Split {
    let per_day = (86_400 / step_s.max(1)).max(1) as usize;
    let days = samples as f64 / per_day as f64;
    let holdout_days = if days >= 14.0 {
        7
    } else if days >= 7.0 {
        2
    } else if days >= MIN_DAYS_FOR_HOLDOUT {
        1
    } else {
        0
    };
    Split {
        fit_samples: samples - (holdout_days * per_day).min(samples),
        holdout_days,
    }
}

/// Replay `part` under `config` and sum up the figures per day.
/// `today_ready` (the ready pods per sample of today's config over the same
/// part) is what the censored-demand shortfall is measured against; the
/// returned vector is this config's ready pods per sample.
///
/// # Errors
/// The simulator rejects the series or the config.
pub fn replay_figures(
    part: &DemandHistory,
    config: &AutoscalerConfig,
    today_ready: Option<&[i32]>,
) -> Result<(Figures, Vec<i32>), SimError> {
    let report = simulate(&part.series, config, &part.mechanics.options())?;
    Ok(summarize(part, &report, today_ready))
}

/// The default replay mechanics ([`Mechanics::default`]), recording the ready
/// pods per sample: what the policy check reads the controller's flags from.
fn replay_options() -> SimOptions {
    Mechanics::default().options()
}

/// Today's config `today` replayed over the whole `history` of `w`,
/// compared with what the history recorded ([`Fidelity`]).
///
/// # Errors
/// The simulator rejects the series or the config.
pub fn fidelity(
    w: &WorkloadSnapshot,
    history: &DemandHistory,
    today: &AutoscalerConfig,
) -> Result<Fidelity, SimError> {
    let report = simulate(&history.series, today, &history.mechanics.options())?;
    Ok(Fidelity::of(w, history, &report))
}

/// Whether `other` replays a part exactly as `replayed` did, pod for pod,
/// as the rate decisions of `replayed`'s complete bounded replay show
/// ([`stepscale_hpa::simulate::same_replay_with_policies`]): two HPAs whose
/// behaviors differ only in their scaling policies (or `replayed` has none
/// and `other` the legacy controller's windows), and `other`'s policies
/// decide the same count wherever `replayed`'s could act.
pub fn same_replay_with_policies(
    replayed: &AutoscalerConfig,
    decisions: &RateDecisions,
    other: &AutoscalerConfig,
) -> bool {
    stepscale_hpa::simulate::same_replay_with_policies(
        replayed,
        decisions,
        other,
        &replay_options(),
    )
}

/// What a bounded replay ([`replay_figures_bounded`]) produced.
#[derive(Debug, Clone, PartialEq)]
pub enum BoundedFigures {
    /// It ran to the end.
    Complete {
        /// Its figures, as [`replay_figures`] gives them.
        figures: Figures,
        /// Its ready pods per sample.
        ready: Vec<i32>,
        /// The lowest and highest count its floor and ceiling were compared
        /// with (`None` under KEDA): a floor below and a ceiling above it
        /// never acted, so any other floor and ceiling outside it replay the
        /// same (see `HorizontalController::counts_bounded`).
        counts_bounded: Option<(i32, i32)>,
        /// Where its rate limits could act, for a plain HPA: other scaling
        /// policies are checked against it ([`same_replay_with_policies`]).
        rate_decisions: Option<RateDecisions>,
    },
    /// It was stopped: its figures so far, per day of the whole part, the
    /// replica-hours with the config's floor counted for the rest of the
    /// part. Each is a lower bound on the figure a whole replay would give
    /// (the peak is left at 0).
    Stopped(Figures),
}

/// [`replay_figures`] that shows `stop` the figures so far once per replayed
/// hour ([`stepscale_hpa::simulate::fast::CHECK_EVERY_S`]) and stops when it
/// says so: for a search that only needs to know whether a config could still beat
/// another. Every figure only grows as a replay goes on, so one that cannot
/// beat it so far never will.
///
/// # Errors
/// The simulator rejects the series or the config.
pub fn replay_figures_bounded(
    part: &DemandHistory,
    config: &AutoscalerConfig,
    today_ready: Option<&[i32]>,
    mut stop: impl FnMut(&Figures) -> bool,
) -> Result<BoundedFigures, SimError> {
    let options = part.mechanics.options();
    let days = part_days(part);
    let step_minutes = part.series.step_s as f64 / 60.0;
    let end = part.series.end_s();
    let floor = fewest_pods(config);
    // The shortfall so far, counted once per sample as the trajectory grows.
    let mut counted = 0usize;
    let mut short = 0usize;
    // Figures so far; the pods the config can never go below count for the
    // rest of the part too (replica-seconds are whole numbers, so the sum
    // is exact).
    let so_far = |p: &Progress<'_>, short: usize| {
        let rest = (end - p.at_s).max(0) as f64;
        figures(
            Totals {
                replica_hours: (p.replica_seconds + floor * rest) / 3600.0,
                minutes_saturated: p.seconds_saturated as f64 / 60.0,
                minutes_over_target: p.seconds_over_target as f64 / 60.0,
                direction_changes: p.direction_changes,
                peak_replicas: 0,
            },
            days,
            short as f64 * step_minutes,
        )
    };
    let mut ask = |p: &Progress<'_>| {
        let ready = p.trajectory.iter().map(|q| q.ready);
        if let Some(today) = today_ready {
            short += shortfall(&part.censored, counted, ready.skip(counted), today);
        }
        counted = p.trajectory.len();
        stop(&so_far(p, short))
    };
    Ok(
        match simulate_runs_bounded(&part.series, config, &options, &mut ask)? {
            Bounded::Complete {
                report,
                counts_bounded,
                rate_decisions,
            } => {
                let (figures, ready) = summarize(part, &report, today_ready);
                BoundedFigures::Complete {
                    figures,
                    ready,
                    counts_bounded,
                    rate_decisions,
                }
            }
            Bounded::Stopped(p) => BoundedFigures::Stopped(so_far(&p, short)),
        },
    )
}

/// The fewest pods a replay of `config` ever runs: the floor, or none when
/// KEDA may scale to zero.
fn fewest_pods(config: &AutoscalerConfig) -> f64 {
    match &config.keda {
        Some(k) if k.min_replica_count <= 0 => 0.0,
        Some(k) => f64::from(k.min_replica_count),
        None => f64::from(config.min_replicas.max(0)),
    }
}

/// Days `part` covers, as the figures divide by (at least one minute).
fn part_days(part: &DemandHistory) -> f64 {
    let duration_minutes = (part.series.end_s() - part.series.start_s) as f64 / 60.0;
    (duration_minutes / 1440.0).max(1.0 / 1440.0)
}

/// Samples from `from` on where the history's demand is censored and
/// `ready` (this config's ready pods, from sample `from`) is below
/// `today_ready`.
fn shortfall(
    censored: &[bool],
    from: usize,
    ready: impl Iterator<Item = i32>,
    today_ready: &[i32],
) -> usize {
    censored
        .iter()
        .skip(from)
        .zip(ready.zip(today_ready.iter().skip(from)))
        .filter(|(c, (mine, theirs))| **c && mine < *theirs)
        .count()
}

/// A whole replay's figures and ready pods per sample.
fn summarize(
    part: &DemandHistory,
    report: &SimReport,
    today_ready: Option<&[i32]>,
) -> (Figures, Vec<i32>) {
    let ready: Vec<i32> = report
        .trajectory
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|p| p.ready)
        .collect();
    let short = today_ready.map_or(0, |today| {
        shortfall(&part.censored, 0, ready.iter().copied(), today)
    });
    let step_minutes = part.series.step_s as f64 / 60.0;
    let totals = Totals {
        replica_hours: report.replica_hours,
        minutes_saturated: report.minutes_saturated,
        minutes_over_target: report.minutes_over_target,
        direction_changes: report.direction_changes,
        peak_replicas: report.peak_replicas,
    };
    (
        figures(totals, part_days(part), short as f64 * step_minutes),
        ready,
    )
}

/// A replay's totals over a part (whole or so far).
struct Totals {
    replica_hours: f64,
    minutes_saturated: f64,
    minutes_over_target: f64,
    direction_changes: u64,
    peak_replicas: i32,
}

fn figures(r: Totals, days: f64, censored_shortfall_minutes: f64) -> Figures {
    Figures {
        replica_hours_per_day: r.replica_hours / days,
        saturated_minutes_per_day: r.minutes_saturated / days,
        over_target_minutes_per_day: r.minutes_over_target / days,
        direction_changes_per_day: r.direction_changes as f64 / days,
        censored_shortfall_minutes_per_day: censored_shortfall_minutes / days,
        peak_replicas: r.peak_replicas,
    }
}

fn saturating_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn rules(
    r: Option<&ScalingRules>,
    window: Option<u32>,
    policy: Option<ScalingPolicy>,
) -> Option<hpa::ScalingRules> {
    if r.is_none() && window.is_none() && policy.is_none() {
        return None;
    }
    let mut base = r.cloned().unwrap_or_default();
    if let Some(p) = policy {
        base.policies = vec![p];
    }
    Some(hpa::ScalingRules {
        stabilization_window_seconds: window
            .or(base.stabilization_window_seconds)
            .map(saturating_i32),
        select_policy: base.select_policy.map(|p| match p {
            SelectPolicy::Max => hpa::SelectPolicy::Max,
            SelectPolicy::Min => hpa::SelectPolicy::Min,
            SelectPolicy::Disabled => hpa::SelectPolicy::Disabled,
        }),
        policies: base
            .policies
            .iter()
            .map(|p| hpa::ScalingPolicy {
                kind: match p.kind {
                    PolicyKind::Pods => hpa::PolicyType::Pods,
                    PolicyKind::Percent => hpa::PolicyType::Percent,
                },
                value: saturating_i32(p.value),
                period_seconds: saturating_i32(p.period_seconds),
            })
            .collect(),
    })
}

/// The model's config for `config` with `change` applied. `None` when the
/// autoscaler does not scale on CPU (nothing to replay).
pub fn model_config(
    config: &AutoscalingConfig,
    change: &ConfigChange,
    request_cores: f64,
) -> Option<AutoscalerConfig> {
    let target = change.cpu_target_percent.or(config.cpu_target_percent)?;
    let min = change.min_replicas.unwrap_or(config.min_replicas);
    let max = change
        .max_replicas
        .unwrap_or(config.max_replicas)
        .max(min)
        .max(1);
    let up = rules(
        config.scale_up.as_ref(),
        change.scale_up_stabilization_seconds,
        change.scale_up_policy,
    );
    let down = rules(
        config.scale_down.as_ref(),
        change.scale_down_stabilization_seconds,
        change.scale_down_policy,
    );
    let behavior = (up.is_some() || down.is_some()).then_some(hpa::Behavior {
        scale_up: up,
        scale_down: down,
    });
    let keda = config.keda.as_ref().map(|k| KedaConfig {
        min_replica_count: saturating_i32(min),
        cooldown_period_s: i64::from(
            change
                .cooldown_period_seconds
                .unwrap_or(k.cooldown_period_seconds),
        ),
        activation_cores: 0.0,
        cron_floors: k
            .triggers
            .iter()
            .filter(|t| t.trigger_type == "cron")
            .filter_map(|t| {
                Some(CronFloor {
                    timezone: t.metadata.get("timezone")?.clone(),
                    start: t.metadata.get("start")?.clone(),
                    end: t.metadata.get("end")?.clone(),
                    desired_replicas: t.metadata.get("desiredReplicas")?.parse().ok()?,
                })
            })
            .collect(),
    });
    Some(AutoscalerConfig {
        min_replicas: saturating_i32(min.max(1)),
        max_replicas: saturating_i32(max),
        cpu_target_pct: saturating_i32(target),
        cpu_request_cores: request_cores,
        behavior,
        keda,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::workload;

    #[test]
    fn demand_counts_ready_pods_not_starting_ones() {
        let mut w = workload();
        // 3 pods exist, only 2 are ready and report 60 %: 2 × 0.6 × 0.5 cores.
        let n = w.history.len();
        w.history.cpu_utilization = vec![60.0; n];
        w.history.replicas_ready = Some(vec![2.0; n]);
        let d = demand(&w);
        assert!((d.cores[0] - 0.6).abs() < 1e-9, "{}", d.cores[0]);
    }

    #[test]
    fn a_missing_sample_holds_the_previous_demand() {
        let mut w = workload();
        w.history.cpu_utilization[5] = f64::NAN;
        let d = demand(&w);
        assert_eq!(d.cores[5], d.cores[4]);
    }

    #[test]
    fn samples_at_the_cap_are_censored_and_others_are_not() {
        let mut w = workload();
        w.history.cpu_utilization[10] = 100.0;
        w.history.cpu_utilization[11] = 99.0;
        let d = demand_history(&w);
        assert!(d.censored[10] && d.censored[11]);
        assert_eq!(d.censored.iter().filter(|c| **c).count(), 2);
        // A history that never nears a cap has no censored sample.
        let calm = demand_history(&workload());
        assert!(calm.censored.iter().all(|c| !c));
    }

    #[test]
    fn a_censored_sample_takes_the_demand_the_controller_settled_on() {
        // At sample 10 the 2 ready pods sit at 100 % (1 core, a lower
        // bound); by the next sample the HPA at a 60 % target settled on 6
        // pods: 6 pods at 60 % of 500m carry (5, 6] × 0.3 cores, so the
        // estimate is the middle, 1.65 cores.
        let mut w = workload();
        let n = w.history.len();
        w.history.cpu_utilization = vec![40.0; n];
        w.history.replicas_current = vec![2.0; n];
        w.history.replicas_desired = vec![2.0; n];
        w.history.cpu_utilization[10] = 100.0;
        w.history.replicas_desired[11] = 6.0;
        w.history.replicas_current[11] = 6.0;
        let d = demand_history(&w);
        assert!(d.censored[10]);
        assert!(
            (d.series.cores[10] - 1.65).abs() < 1e-9,
            "{}",
            d.series.cores[10]
        );
        // Uncensored samples keep what the utilization says.
        assert!((d.series.cores[9] - 0.4).abs() < 1e-9);
        // A count that did not rise says nothing more than the bound.
        w.history.replicas_desired[11] = 2.0;
        let d = demand_history(&w);
        assert!(
            (d.series.cores[10] - 1.0).abs() < 1e-9,
            "{}",
            d.series.cores[10]
        );
    }

    #[test]
    fn the_held_out_part_is_the_last_whole_days() {
        let per_day = 288;
        assert_eq!(split(per_day * 2, 300).holdout_days, 0);
        let s = split(per_day * 7, 300);
        assert_eq!((s.fit_samples, s.holdout_days), (per_day * 5, 2));
        let s = split(per_day * 21, 300);
        assert_eq!((s.fit_samples, s.holdout_days), (per_day * 14, 7));
        let s = split(per_day * 4, 300);
        assert_eq!((s.fit_samples, s.holdout_days), (per_day * 3, 1));
    }

    #[test]
    fn fewer_ready_pods_than_today_at_a_censored_sample_is_a_shortfall() {
        let mut w = workload();
        w.history.cpu_utilization = (0..w.history.len())
            .map(|i| if (100..150).contains(&i) { 100.0 } else { 40.0 })
            .collect();
        let d = demand_history(&w);
        let req = request_cores(&w);
        let today = model_config(&w.config, &ConfigChange::default(), req).expect("cpu");
        let leaner = model_config(
            &w.config,
            &ConfigChange {
                cpu_target_percent: Some(90),
                ..ConfigChange::default()
            },
            req,
        )
        .expect("cpu");
        let (_, ready) = replay_figures(&d, &today, None).expect("replay");
        let (f, _) = replay_figures(&d, &leaner, Some(&ready)).expect("replay");
        assert!(f.censored_shortfall_minutes_per_day > 0.0, "{f:?}");
        let (same, _) = replay_figures(&d, &today, Some(&ready)).expect("replay");
        assert_eq!(same.censored_shortfall_minutes_per_day, 0.0);
    }

    #[test]
    fn a_proposed_scale_down_policy_slows_the_descent_in_the_replay() {
        // Every 6 hours, an hour at 40 pods' worth of demand, then a drop to
        // 5: removing at most 10 % of the pods a minute takes ~15 minutes
        // where the default takes one sync after the 300 s window.
        let mut w = workload();
        w.config.max_replicas = 40;
        w.history.cpu_utilization = (0..w.history.len())
            .map(|i| if i % 72 < 12 { 90.0 } else { 10.0 })
            .collect();
        w.history.replicas_current = vec![30.0; w.history.len()];
        let d = demand_history(&w);
        let req = request_cores(&w);
        let figures = |change: ConfigChange| {
            let c = model_config(&w.config, &change, req).expect("cpu");
            replay_figures(&d, &c, None).expect("replay").0
        };
        let default = figures(ConfigChange::default());
        let gentle = figures(ConfigChange {
            scale_down_policy: Some(ScalingPolicy::percent(10, 60)),
            ..ConfigChange::default()
        });
        assert!(
            gentle.replica_hours_per_day > default.replica_hours_per_day * 1.03,
            "10 % per minute: {gentle:?}; default: {default:?}"
        );
    }

    #[test]
    fn a_memory_only_autoscaler_has_no_model_config() {
        let mut w = workload();
        w.config.cpu_target_percent = None;
        w.config.memory_target_percent = Some(70);
        assert!(model_config(&w.config, &ConfigChange::default(), 0.5).is_none());
    }

    #[test]
    fn counts_beyond_i32_saturate_instead_of_turning_negative() {
        // Unvalidated u32 counts (0, 1, i32::MAX, i32::MAX + 1, u32::MAX)
        // reach the model's i32 fields without wrapping negative.
        for v in [0u32, 1, i32::MAX as u32, i32::MAX as u32 + 1, u32::MAX] {
            let mut w = workload();
            w.config.max_replicas = v;
            w.config.scale_down = Some(ScalingRules {
                stabilization_window_seconds: Some(v),
                policies: vec![stepscale_engine::snapshot::ScalingPolicy {
                    kind: PolicyKind::Pods,
                    value: v,
                    period_seconds: v,
                }],
                ..ScalingRules::default()
            });
            let m = model_config(&w.config, &ConfigChange::default(), 0.5).expect("cpu");
            assert!(m.max_replicas >= 1 && m.min_replicas >= 1, "{v}: {m:?}");
            let down = m
                .behavior
                .and_then(|b| b.scale_down)
                .expect("scale-down rules");
            assert!(
                down.stabilization_window_seconds.is_some_and(|s| s >= 0),
                "{v}"
            );
            assert!(
                down.policies
                    .iter()
                    .all(|p| p.value >= 0 && p.period_seconds >= 0),
                "{v}"
            );
        }
    }
}
