//! The evaluation harness: do recommendations pay for themselves on days
//! their analysis never saw?
//!
//! For each NAB series in `../shared/data/traces/nab/` and each of three
//! hand-set configs ([`HandConfig`]):
//! 1. the series becomes demand in pods: `value / peak of the analysis part ×
//!    10` pods at 100 % of a 500m request (so every series peaks at 10 pods
//!    during the analysis part; the later part may go higher);
//! 2. the **analysis part** (the first [`ANALYSIS_DAYS`] days) is replayed
//!    through the HPA model under the hand-set config, and the snapshot is
//!    what a cluster would have recorded: replicas and ready pods from the
//!    replay, CPU utilization capped at what the ready pods could use
//!    (censored at saturation, as a real metric is);
//! 3. `stepscale`'s analyzer (builtin rules, search, held-out confirmation)
//!    recommends a change from that snapshot alone;
//! 4. the **judged part** (the next up to [`JUDGED_DAYS`] days) is replayed
//!    with the true, uncensored demand under the hand-set and the
//!    recommended config, and the figures are compared.
//!
//! A trivial baseline rule (floor = the 10th percentile of demand at a 70 %
//! target) is judged the same way, for comparison.

use std::path::Path;
use std::sync::Arc;

use stepscale_engine::snapshot::{AutoscalingConfig, WorkloadSnapshot};
use stepscale_engine::ConfigChange;
use stepscale_hpa::simulate::{simulate, AutoscalerConfig, DemandSeries, SimOptions, SimReport};
use stepscale_operator::analysis::Analyzer;
use stepscale_operator::change::{describe_change, CurrentConfig};
use stepscale_operator::objective::search::{self, Knobs, PolicyRoom};
use stepscale_operator::recommendation::Recommendation;
use stepscale_operator::replay::{self, model_config};
use stepscale_operator::schedule::size::with_schedule;
use stepscale_operator::schedule::PredictiveSchedule;
use stepscale_rules_sdk::harness::traces::{self, Trace};
use stepscale_rules_sdk::stats;

/// Days of each series the analyzer sees.
pub const ANALYSIS_DAYS: usize = 7;
/// Days after the analysis part on which recommendations are judged (fewer
/// when the series ends sooner).
pub const JUDGED_DAYS: usize = 7;
/// Peak demand of the analysis part, pods at 100 % of request.
pub const PEAK_PODS: f64 = 10.0;
/// CPU request of one pod, cores.
pub const REQUEST_CORES: f64 = 0.5;

/// The three hand-set configs every series is run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandConfig {
    /// A 50 % CPU target and a floor that carries the 90th percentile of
    /// demand at that target.
    Generous,
    /// A 70 % target and a floor at the 10th percentile of demand (at least
    /// 2).
    Typical,
    /// An 80 % target and a floor of 2.
    Lean,
}

impl HandConfig {
    /// All three, in table order.
    pub const ALL: [HandConfig; 3] = [HandConfig::Generous, HandConfig::Typical, HandConfig::Lean];

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            HandConfig::Generous => "generous",
            HandConfig::Typical => "typical",
            HandConfig::Lean => "lean",
        }
    }

    /// The config for a demand series (pods at 100 %): the floor as above,
    /// the ceiling 1.5 × the peak's need at the target; Kubernetes default
    /// behavior.
    pub fn config(self, demand_pods: &[f64]) -> AutoscalingConfig {
        let (target, floor) = match self {
            HandConfig::Generous => (50, (quantile(demand_pods, 0.9) / 0.5).ceil() as u32),
            HandConfig::Typical => (
                70,
                ((quantile(demand_pods, 0.1) / 0.7).ceil() as u32).max(2),
            ),
            HandConfig::Lean => (80, 2),
        };
        let peak = demand_pods.iter().copied().fold(0.0, f64::max);
        let max = ((peak / (f64::from(target) / 100.0) * 1.5).ceil() as u32).max(floor + 2);
        traces::hpa_config(floor.max(1), max, target)
    }
}

fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return 0.0;
    }
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}

/// Replay figures per day of one config over the judged part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    /// Replica-hours per day.
    pub replica_hours_per_day: f64,
    /// Saturated minutes per day.
    pub saturated_minutes_per_day: f64,
    /// Minutes per day over target.
    pub over_target_minutes_per_day: f64,
    /// Direction changes per day.
    pub direction_changes_per_day: f64,
}

impl Judged {
    fn of(r: &SimReport) -> Judged {
        let days = r.duration_minutes / 1440.0;
        Judged {
            replica_hours_per_day: r.replica_hours / days,
            saturated_minutes_per_day: r.minutes_saturated / days,
            over_target_minutes_per_day: r.minutes_over_target / days,
            direction_changes_per_day: r.direction_changes as f64 / days,
        }
    }
}

/// One row of the evaluation.
#[derive(Debug, Clone)]
pub struct Row {
    /// Series file stem.
    pub series: String,
    /// The hand-set config.
    pub config: HandConfig,
    /// The recommendation (from the analysis part only).
    pub recommendation: Recommendation,
    /// The snapshot the analyzer saw.
    pub snapshot: WorkloadSnapshot,
    /// The change in words ("none" when nothing is proposed).
    pub change: String,
    /// Days judged.
    pub judged_days: f64,
    /// The hand-set config on the judged part.
    pub before: Judged,
    /// The recommended config on the judged part.
    pub after: Judged,
    /// The trivial baseline rule on the judged part.
    pub trivial: Judged,
    /// With a predictive schedule: the recommended config without it on
    /// the judged part (what the schedule saved or cost).
    pub without_schedule: Option<Judged>,
    /// Today's config replayed over the analysis part from the snapshot
    /// (the demand the analyzer reconstructs).
    pub fidelity_snapshot: Judged,
    /// Today's config replayed over the analysis part with the true demand.
    pub fidelity_true: Judged,
    /// The cheapest config of the search's own grid on the judged part
    /// with at most [`HINDSIGHT_SATURATION_MINUTES`] more saturated
    /// minutes/day than today's: its change and figures.
    pub hindsight: (ConfigChange, Judged),
}

/// Saturated minutes/day over today's a hindsight config may add.
pub const HINDSIGHT_SATURATION_MINUTES: f64 = 2.0;

impl Row {
    /// Replica-hours change, percent (negative = saves).
    pub fn delta_percent(&self) -> f64 {
        pct(&self.after, &self.before)
    }

    /// Replica-hours change of the trivial rule, percent.
    pub fn trivial_delta_percent(&self) -> f64 {
        pct(&self.trivial, &self.before)
    }

    /// Replica-hours the best config in hindsight saves, percent.
    pub fn hindsight_saving_percent(&self) -> f64 {
        -pct(&self.hindsight.1, &self.before)
    }

    /// Our saving ÷ the hindsight saving, percent (`None` when hindsight
    /// saves nothing).
    pub fn capture_percent(&self) -> Option<f64> {
        let h = self.hindsight_saving_percent();
        (h > 1e-9).then(|| -self.delta_percent() / h * 100.0)
    }
}

fn pct(a: &Judged, b: &Judged) -> f64 {
    if b.replica_hours_per_day > 0.0 {
        (a.replica_hours_per_day - b.replica_hours_per_day) / b.replica_hours_per_day * 100.0
    } else {
        0.0
    }
}

/// Demand in pods (at 100 % of request) of a trace, normalized so the first
/// `analysis` samples peak at [`PEAK_PODS`]; gaps hold the previous value.
pub fn demand_pods(t: &Trace, analysis: usize) -> Vec<f64> {
    let peak = t.values[..analysis.min(t.values.len())]
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let scale = if peak > 0.0 { PEAK_PODS / peak } else { 0.0 };
    let mut last = 0.0;
    t.values
        .iter()
        .map(|v| {
            if v.is_finite() {
                last = v.max(0.0) * scale;
            }
            last
        })
        .collect()
}

/// What a cluster would have recorded for `demand_pods` under `config`:
/// the HPA model's replay, with CPU utilization capped at what the ready
/// pods could use.
///
/// # Errors
/// The replay fails.
pub fn recorded_snapshot(
    name: &str,
    start: i64,
    step: u32,
    demand_pods: &[f64],
    config: AutoscalingConfig,
) -> Result<WorkloadSnapshot, String> {
    let cores: Vec<f64> = demand_pods.iter().map(|d| d * REQUEST_CORES).collect();
    let series = DemandSeries::from_cpu_cores(start, i64::from(step), cores.clone());
    let cfg = model_config(&config, &ConfigChange::default(), REQUEST_CORES)
        .ok_or("the config has no CPU target")?;
    let opts = SimOptions {
        record_trajectory: true,
        ..SimOptions::default()
    };
    let report = simulate(&series, &cfg, &opts).map_err(|e| e.to_string())?;
    let traj = report.trajectory.unwrap_or_default();
    let replicas: Vec<f64> = traj.iter().map(|p| f64::from(p.replicas)).collect();
    let ready: Vec<f64> = traj.iter().map(|p| f64::from(p.ready)).collect();
    let util: Vec<f64> = traj
        .iter()
        .map(|p| {
            if p.ready > 0 {
                let cap = f64::from(p.ready) * REQUEST_CORES;
                p.demand_cores.min(cap) / cap * 100.0
            } else {
                0.0
            }
        })
        .collect();
    let mut w = traces::snapshot(name, config, start, step, util, replicas);
    w.history.replicas_ready = Some(ready);
    Ok(w)
}

fn judge(
    demand_pods: &[f64],
    start: i64,
    step: u32,
    base: &AutoscalingConfig,
    change: &ConfigChange,
    schedule: Option<&PredictiveSchedule>,
) -> Result<Judged, String> {
    let cores: Vec<f64> = demand_pods.iter().map(|d| d * REQUEST_CORES).collect();
    let series = DemandSeries::from_cpu_cores(start, i64::from(step), cores);
    let mut cfg: AutoscalerConfig =
        model_config(base, change, REQUEST_CORES).ok_or("the config has no CPU target")?;
    if let Some(s) = schedule {
        // The snapshots are in UTC (offset 0).
        cfg = with_schedule(&cfg, s).ok_or("the schedule cannot be replayed")?;
    }
    let r = simulate(&series, &cfg, &SimOptions::default()).map_err(|e| e.to_string())?;
    Ok(Judged::of(&r))
}

/// The series the evaluation runs on: every NAB file with at least
/// [`ANALYSIS_DAYS`] + 2 days.
///
/// # Errors
/// The directory cannot be read.
pub fn series_names(nab_dir: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = std::fs::read_dir(nab_dir)
        .map_err(|e| format!("{}: {e}", nab_dir.display()))?
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "csv").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    Ok(names)
}

/// One workload of the evaluation before analysis.
struct Case {
    series: String,
    hand: HandConfig,
    /// Demand of the analysis part, pods.
    analyzed: Vec<f64>,
    /// Demand of the judged part, pods.
    judged: Vec<f64>,
    /// Start of the judged part, seconds since the epoch.
    judged_start: i64,
    step: u32,
    snapshot: WorkloadSnapshot,
}

/// Evaluate `names` under every hand-set config with `analyzer`.
///
/// # Errors
/// A series cannot be read or replayed.
pub fn evaluate(analyzer: &Analyzer, nab_dir: &Path, names: &[String]) -> Result<Vec<Row>, String> {
    let mut cases: Vec<Case> = Vec::new();
    for name in names {
        let t = traces::read_csv(&nab_dir.join(format!("{name}.csv")))?;
        let per_day = t.samples_per_day();
        let analysis = ANALYSIS_DAYS * per_day;
        if t.values.len() < analysis + 2 * per_day {
            continue;
        }
        let judged_end = (analysis + JUDGED_DAYS * per_day).min(t.values.len() / per_day * per_day);
        let demand = demand_pods(&t, analysis);
        for hand in HandConfig::ALL {
            let cfg = hand.config(&demand[..analysis]);
            let mut w = recorded_snapshot(
                &format!("{}-{}", name.replace('_', "-"), hand.name()),
                t.start_unix_seconds,
                t.step_seconds,
                &demand[..analysis],
                cfg,
            )?;
            w.source = Some(format!(
                "NAB {name}.csv, days 1-{ANALYSIS_DAYS}, {} config",
                hand.name()
            ));
            let judged_start = t.start_unix_seconds + analysis as i64 * i64::from(t.step_seconds);
            cases.push(Case {
                series: name.clone(),
                hand,
                analyzed: demand[..analysis].to_vec(),
                judged: demand[analysis..judged_end].to_vec(),
                judged_start,
                step: t.step_seconds,
                snapshot: w,
            });
        }
    }
    let workloads: Vec<Arc<WorkloadSnapshot>> =
        cases.iter().map(|c| Arc::new(c.snapshot.clone())).collect();
    let recs = analyzer.analyze(&workloads, 0);
    let mut rows = Vec::new();
    for (c, rec) in cases.into_iter().zip(recs) {
        let Case {
            series: name,
            hand,
            analyzed,
            judged: later,
            judged_start: start,
            step,
            snapshot: w,
        } = c;
        let fidelity_true = judge(
            &analyzed,
            w.history.start_unix_seconds,
            step,
            &w.config,
            &ConfigChange::default(),
            None,
        )?;
        let fidelity_snapshot = {
            let cfg = model_config(&w.config, &ConfigChange::default(), REQUEST_CORES)
                .ok_or("the config has no CPU target")?;
            let history = replay::demand_history(&w);
            let r = simulate(&history.series, &cfg, &history.mechanics.options())
                .map_err(|e| e.to_string())?;
            Judged::of(&r)
        };
        let before = judge(
            &later,
            start,
            step,
            &w.config,
            &ConfigChange::default(),
            None,
        )?;
        let after = judge(
            &later,
            start,
            step,
            &w.config,
            &rec.proposed,
            rec.predictive_schedule.as_ref(),
        )?;
        let without_schedule = match rec.predictive_schedule {
            Some(_) => Some(judge(&later, start, step, &w.config, &rec.proposed, None)?),
            None => None,
        };
        let hindsight = hindsight(&later, start, step, &w, &before)?;
        let seen = recorded_demand(&w);
        let trivial_floor =
            ((quantile(&seen, 0.1) / 0.7).ceil() as u32).clamp(1, w.config.max_replicas);
        let trivial = judge(
            &later,
            start,
            step,
            &w.config,
            &ConfigChange {
                min_replicas: Some(trivial_floor),
                cpu_target_percent: Some(70),
                ..ConfigChange::default()
            },
            None,
        )?;
        rows.push(Row {
            series: name,
            config: hand,
            change: {
                let mut c = describe_change(&CurrentConfig::of(&w), &rec.proposed);
                if let Some(s) = &rec.predictive_schedule {
                    let windows: Vec<String> = s
                        .windows
                        .iter()
                        .map(|x| format!("{}–{} ≥{}", x.start, x.end, x.replica_floor))
                        .collect();
                    if !c.is_empty() {
                        c.push_str(", ");
                    }
                    c.push_str(&format!("schedule {}", windows.join(" ")));
                }
                if c.is_empty() {
                    "none".into()
                } else {
                    c
                }
            },
            recommendation: rec,
            snapshot: w,
            judged_days: later.len() as f64 * f64::from(step) / 86_400.0,
            before,
            after,
            trivial,
            without_schedule,
            fidelity_snapshot,
            fidelity_true,
            hindsight,
        });
    }
    Ok(rows)
}

/// The best config in hindsight: every combination of the values the
/// search tries for the CPU target, the floor and the scale-down window
/// ([`search::values_for`], from today's config and the snapshot's demand),
/// replayed on the judged part with the true demand; the cheapest with at
/// most [`HINDSIGHT_SATURATION_MINUTES`] more saturated minutes/day than
/// `today` (today's config when none is cheaper).
fn hindsight(
    judged: &[f64],
    start: i64,
    step: u32,
    w: &WorkloadSnapshot,
    today: &Judged,
) -> Result<(ConfigChange, Judged), String> {
    let current = CurrentConfig::of(w);
    let base = Knobs::of(&current).ok_or("the config has no CPU target")?;
    let mut demand: Vec<f64> = replay::demand(w).cores;
    demand.sort_by(f64::total_cmp);
    let room = PolicyRoom::of(&w.config);
    let grid = |knob: usize, k: &Knobs| {
        let mut v = vec![*k];
        v.extend(search::values_for(
            knob,
            k,
            &base,
            &[],
            &demand,
            REQUEST_CORES,
            room,
        ));
        v
    };
    let mut best = (ConfigChange::default(), *today);
    let mut seen = std::collections::HashSet::new();
    for t in grid(0, &base) {
        for f in grid(1, &t) {
            for d in grid(2, &f) {
                if !seen.insert(d) {
                    continue;
                }
                let change = d.change_from(&base);
                let j = judge(judged, start, step, &w.config, &change, None)?;
                if j.saturated_minutes_per_day
                    <= today.saturated_minutes_per_day + HINDSIGHT_SATURATION_MINUTES
                    && j.replica_hours_per_day < best.1.replica_hours_per_day
                {
                    best = (change, j);
                }
            }
        }
    }
    Ok(best)
}

/// Demand in pods as the snapshot shows it (utilization × ready pods).
fn recorded_demand(w: &WorkloadSnapshot) -> Vec<f64> {
    w.history
        .cpu_utilization
        .iter()
        .zip(w.history.ready())
        .map(|(u, r)| u / 100.0 * r)
        .collect()
}

/// The median of `v` (0 when empty).
pub fn median(v: &[f64]) -> f64 {
    stats::median(v).unwrap_or(0.0)
}

/// The evaluation table (Markdown) with the medians and the targets.
pub fn table(rows: &[Row]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| series | config | change | replica-h Δ | saturated min/day | over target min/day | direction changes/day | schedule: replica-h Δ, sat. Δ | hindsight Δ, sat. | capture | trivial rule Δ, sat. |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:+.1} % | {:.1} → {:.1} | {:.1} → {:.1} | {:.1} → {:.1} | {} | {:+.1} %, {:.1} | {} | {:+.1} %, {:.1} |",
            r.series,
            r.config.name(),
            r.change,
            r.delta_percent(),
            r.before.saturated_minutes_per_day,
            r.after.saturated_minutes_per_day,
            r.before.over_target_minutes_per_day,
            r.after.over_target_minutes_per_day,
            r.before.direction_changes_per_day,
            r.after.direction_changes_per_day,
            r.without_schedule.map_or("none".to_string(), |w| format!(
                "{:+.1} %, {:+.1}",
                pct(&r.after, &w),
                r.after.saturated_minutes_per_day - w.saturated_minutes_per_day
            )),
            -r.hindsight_saving_percent(),
            r.hindsight.1.saturated_minutes_per_day,
            r.capture_percent().map_or("—".to_string(), |c| format!(
                "{:.0} %",
                if c.abs() < 0.5 { 0.0 } else { c }
            )),
            r.trivial_delta_percent(),
            r.trivial.saturated_minutes_per_day,
        );
    }
    let saving = |rs: &[&Row]| median(&rs.iter().map(|r| -r.delta_percent()).collect::<Vec<_>>());
    let all: Vec<&Row> = rows.iter().collect();
    let generous: Vec<&Row> = rows
        .iter()
        .filter(|r| r.config == HandConfig::Generous)
        .collect();
    let worst = rows
        .iter()
        .map(|r| r.after.saturated_minutes_per_day - r.before.saturated_minutes_per_day)
        .fold(f64::NEG_INFINITY, f64::max);
    let trivial_worse = rows
        .iter()
        .filter(|r| r.trivial.saturated_minutes_per_day > r.before.saturated_minutes_per_day + 2.0)
        .count();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- median replica-hour saving, all {} workloads: {:.1} % (target ≥ 25 %)",
        all.len(),
        saving(&all)
    );
    let _ = writeln!(
        out,
        "- median replica-hour saving, generous configs: {:.1} % (target ≥ 35 %)",
        saving(&generous)
    );
    let _ = writeln!(
        out,
        "- most saturation added on the judged days: {worst:+.1} min/day (target ≤ +2)"
    );
    let capture = |rs: &[&Row]| {
        let v: Vec<f64> = rs.iter().filter_map(|r| r.capture_percent()).collect();
        (median(&v), v.len())
    };
    let (c_generous, n_generous) = capture(&generous);
    let worth: Vec<&Row> = rows
        .iter()
        .filter(|r| r.hindsight_saving_percent() >= 5.0)
        .collect();
    let (c_worth, n_worth) = capture(&worth);
    let _ = writeln!(
        out,
        "- hindsight: median saving {:.1} % over all, {:.1} % over the generous configs",
        median(
            &rows
                .iter()
                .map(Row::hindsight_saving_percent)
                .collect::<Vec<_>>()
        ),
        median(
            &generous
                .iter()
                .map(|r| r.hindsight_saving_percent())
                .collect::<Vec<_>>()
        ),
    );
    let _ = writeln!(
        out,
        "- median capture, generous configs: {c_generous:.0} % of {n_generous} (target ≥ 60 %)"
    );
    let _ = writeln!(
        out,
        "- median capture, workloads whose hindsight saves ≥ 5 %: {c_worth:.0} % of {n_worth} (target ≥ 50 %)"
    );
    let _ = writeln!(
        out,
        "- changes that cost more on the judged days: {}; schedules proposed: {}",
        rows.iter().filter(|r| r.delta_percent() > 0.05).count(),
        rows.iter().filter(|r| r.without_schedule.is_some()).count()
    );
    let _ = writeln!(
        out,
        "- changes proposed: {} of {}; trivial rule: median saving {:.1} %, {} workload(s) more than 2 saturated min/day worse",
        rows.iter().filter(|r| r.change != "none").count(),
        rows.len(),
        median(&rows.iter().map(|r| -r.trivial_delta_percent()).collect::<Vec<_>>()),
        trivial_worse
    );
    out
}

impl Row {
    /// Whether the replay of today's config from the snapshot reproduces
    /// the true-demand replay of the same config over the analysis part:
    /// replica-hours within ±3 % and saturated minutes/day within ±1 or
    /// ±25 %, whichever is larger.
    pub fn replay_is_faithful(&self) -> bool {
        let (s, t) = (&self.fidelity_snapshot, &self.fidelity_true);
        let rh = pct(s, t).abs() <= 3.0;
        let sat_tol = (t.saturated_minutes_per_day * 0.25).max(1.0);
        let sat = (s.saturated_minutes_per_day - t.saturated_minutes_per_day).abs() <= sat_tol;
        rh && sat
    }
}

/// The fidelity table (Markdown): today's config replayed over the analysis
/// part from the snapshot vs with the true demand, per workload, and how
/// many reproduce it.
pub fn fidelity_table(rows: &[Row]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| series | config | replica-h/day snapshot vs true | saturated min/day snapshot vs true | over target min/day snapshot vs true | within ±3 % and ±1 (or ±25 %) |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---|");
    for r in rows {
        let (s, t) = (&r.fidelity_snapshot, &r.fidelity_true);
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} vs {:.1} ({:+.1} %) | {:.1} vs {:.1} | {:.1} vs {:.1} | {} |",
            r.series,
            r.config.name(),
            s.replica_hours_per_day,
            t.replica_hours_per_day,
            pct(s, t),
            s.saturated_minutes_per_day,
            t.saturated_minutes_per_day,
            s.over_target_minutes_per_day,
            t.over_target_minutes_per_day,
            if r.replay_is_faithful() { "yes" } else { "no" },
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- replays from the snapshot that reproduce the true-demand replay: {} of {} (target ≥ 32 of 36)",
        rows.iter().filter(|r| r.replay_is_faithful()).count(),
        rows.len()
    );
    out
}

/// The best config in hindsight per workload (Markdown): its change, its
/// replica-hours against today's and its saturation on the judged part.
pub fn hindsight_table(rows: &[Row]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| series | config | best in hindsight | replica-h Δ | saturated min/day |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|");
    for r in rows {
        let change = describe_change(&r.recommendation.current, &r.hindsight.0);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:+.1} % | {:.1} → {:.1} |",
            r.series,
            r.config.name(),
            if change.is_empty() {
                "today's config"
            } else {
                &change
            },
            -r.hindsight_saving_percent(),
            r.before.saturated_minutes_per_day,
            r.hindsight.1.saturated_minutes_per_day,
        );
    }
    out
}
