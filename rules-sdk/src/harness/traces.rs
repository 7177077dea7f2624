//! Real metric traces for rule tests: a loader for the NAB CSV series
//! (`timestamp,value`) and builders that turn a series into the engine's
//! [`WorkloadSnapshot`] (what the component sees through the `workload`
//! interface) or into a native [`WorkloadData`] (what a rule's pure
//! `analyze` takes).
//!
//! The NAB files (numenta/NAB, MIT) live outside the workspace, in
//! `shared/data/traces/nab/`; [`load_nab`] finds them from a crate's
//! `CARGO_MANIFEST_DIR` and fails the test with the path it tried when a file
//! is missing.
//!
//! Two ways to make a workload out of a series, both documented in the test
//! that uses them:
//! - [`snapshot_from_utilization`]: the series *is* the pods' CPU utilization
//!   (% of request) at a fixed replica count (e.g. the `ec2_cpu_utilization_*`
//!   and `cpu_utilization_asg_misconfiguration` files);
//! - [`snapshot_from_demand`]: the series is a demand in pod-equivalents (e.g.
//!   `nyc_taxi` passengers / 2,000 per pod) and [`simulate_hpa`] plays a crude
//!   HPA over it to produce replicas and the utilization they would see.
//!
//! This module is test support: it is native only and its loaders panic with
//! a clear message instead of returning errors where a test could do nothing
//! but fail.

use std::path::{Path, PathBuf};

use stepscale_engine::snapshot::{
    AutoscalerKind, AutoscalerRef, AutoscalingConfig, ContainerResources, KedaConfig, KedaTrigger,
    MetricHistory, ScaleTargetRef, ScalingRules, WorkloadSnapshot,
};

use crate::input::WorkloadData;
use crate::stats;
use crate::types;

/// A series on a fixed time grid, as loaded from a CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// File stem, e.g. `nyc_taxi`.
    pub name: String,
    /// Unix time (seconds, UTC) of sample 0.
    pub start_unix_seconds: i64,
    /// Seconds between samples.
    pub step_seconds: u32,
    /// Values; NaN where the file has no sample for a grid point.
    pub values: Vec<f64>,
}

impl Trace {
    /// Samples per day (at least 1).
    pub fn samples_per_day(&self) -> usize {
        (86_400 / self.step_seconds.max(1)).max(1) as usize
    }

    /// Days covered by the grid.
    pub fn days(&self) -> f64 {
        self.values.len() as f64 * f64::from(self.step_seconds) / 86_400.0
    }

    /// The same trace with every value multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> Trace {
        Trace {
            values: self.values.iter().map(|v| v * factor).collect(),
            ..self.clone()
        }
    }

    /// The first `samples` samples (all if fewer).
    pub fn head(&self, samples: usize) -> Trace {
        Trace {
            values: self.values[..samples.min(self.values.len())].to_vec(),
            ..self.clone()
        }
    }

    /// Split off the last `days` whole days: returns (training trace, the
    /// held-back values). For forecaster back-tests.
    pub fn split_last_days(&self, days: usize) -> (Trace, Vec<f64>) {
        let held = (days * self.samples_per_day()).min(self.values.len());
        let cut = self.values.len() - held;
        (self.head(cut), self.values[cut..].to_vec())
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parse a NAB timestamp `YYYY-MM-DD HH:MM:SS` (UTC) into Unix seconds.
///
/// # Errors
/// A message naming the text when it does not have that shape.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let bad = || format!("timestamp {text:?}: expected YYYY-MM-DD HH:MM:SS");
    let (date, time) = text.trim().split_once(' ').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse::<i64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse::<i64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3 || t.len() != 3 || !(1..=12).contains(&d[1]) || !(1..=31).contains(&d[2]) {
        return Err(bad());
    }
    Ok(days_from_civil(d[0], d[1], d[2]) * 86_400 + t[0] * 3600 + t[1] * 60 + t[2])
}

/// Read a `timestamp,value` CSV (header line first) onto a fixed grid.
///
/// The step is the median spacing of the timestamps; each sample goes to the
/// nearest grid point from the first timestamp, several samples on one point
/// are averaged, and grid points without a sample are NaN.
///
/// # Errors
/// - the file cannot be read (the message names the path);
/// - a line has no comma, a bad timestamp or a non-numeric value (the
///   message names the line);
/// - fewer than two samples, or a step outside 10..=3600 seconds.
pub fn read_csv(path: &Path) -> Result<Trace, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read trace: {e}", path.display()))?;
    let mut points = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}: line {}", path.display(), n + 1);
        let (ts, value) = line
            .split_once(',')
            .ok_or_else(|| format!("{}: expected `timestamp,value`", at()))?;
        let t = parse_timestamp(ts).map_err(|e| format!("{}: {e}", at()))?;
        let v: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("{}: value {value:?} is not a number", at()))?;
        points.push((t, v));
    }
    if points.len() < 2 {
        return Err(format!(
            "{}: has {} samples, need at least 2",
            path.display(),
            points.len()
        ));
    }
    points.sort_by_key(|p| p.0);
    let gaps: Vec<f64> = points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) as f64)
        .filter(|g| *g > 0.0)
        .collect();
    let step = stats::median(&gaps).unwrap_or(0.0).round() as i64;
    if !(10..=3600).contains(&step) {
        return Err(format!(
            "{}: median sample spacing is {step} s, need 10..=3600",
            path.display()
        ));
    }
    let t0 = points[0].0;
    let last = points[points.len() - 1].0;
    let len = ((last - t0) as f64 / step as f64).round() as usize + 1;
    let mut sum = vec![0.0; len];
    let mut count = vec![0u32; len];
    for (t, v) in points {
        let i = (((t - t0) as f64 / step as f64).round() as usize).min(len - 1);
        sum[i] += v;
        count[i] += 1;
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Trace {
        name,
        start_unix_seconds: t0,
        step_seconds: step as u32,
        values: sum
            .iter()
            .zip(&count)
            .map(|(s, c)| if *c > 0 { s / f64::from(*c) } else { f64::NAN })
            .collect(),
    })
}

/// Where the NAB file `name` (without `.csv`) should be, for a crate at
/// `manifest_dir`: the first ancestor of `manifest_dir` holding
/// `shared/data/traces/nab/`; for the builtin rules that is
/// `manifest_dir/../../../shared/data/traces/nab/<name>.csv`.
pub fn nab_path(manifest_dir: &str, name: &str) -> PathBuf {
    let file = format!("{name}.csv");
    let rel = Path::new("shared").join("data").join("traces").join("nab");
    Path::new(manifest_dir)
        .ancestors()
        .map(|a| a.join(&rel))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| Path::new(manifest_dir).join("../../..").join(&rel))
        .join(file)
}

/// Load the NAB series `name` (e.g. `nyc_taxi`) for a test in the crate at
/// `manifest_dir` (pass `env!("CARGO_MANIFEST_DIR")`).
///
/// # Panics
/// When the file is missing or malformed, with the path tried and the cause,
/// so the test fails with a message that says what to restore.
pub fn load_nab(manifest_dir: &str, name: &str) -> Trace {
    let path = nab_path(manifest_dir, name);
    match read_csv(&path) {
        Ok(t) => t,
        Err(e) => panic!(
            "NAB trace {name:?} not usable ({e}); the rule tests need the numenta/NAB series \
             in shared/data/traces/nab/ next to the workspace"
        ),
    }
}

/// An HPA configuration with a CPU target and Kubernetes default behavior.
pub fn hpa_config(
    min_replicas: u32,
    max_replicas: u32,
    cpu_target_percent: u32,
) -> AutoscalingConfig {
    AutoscalingConfig {
        min_replicas,
        max_replicas,
        cpu_target_percent: Some(cpu_target_percent),
        ..AutoscalingConfig::default()
    }
}

/// A ScaledObject configuration with a CPU target, KEDA default cooldown and
/// polling, and the given trigger types (e.g. `["cpu", "prometheus"]`).
pub fn keda_config(
    min_replicas: u32,
    max_replicas: u32,
    cpu_target_percent: u32,
    trigger_types: &[&str],
) -> AutoscalingConfig {
    AutoscalingConfig {
        keda: Some(KedaConfig {
            cooldown_period_seconds: 300,
            polling_interval_seconds: 30,
            idle_replica_count: None,
            triggers: trigger_types
                .iter()
                .map(|t| KedaTrigger {
                    trigger_type: (*t).to_string(),
                    metadata: Default::default(),
                })
                .collect(),
        }),
        ..hpa_config(min_replicas, max_replicas, cpu_target_percent)
    }
}

/// Set the scale-down (and optionally scale-up) stabilization windows of a
/// configuration, seconds.
pub fn with_stabilization(
    mut config: AutoscalingConfig,
    scale_down_seconds: u32,
    scale_up_seconds: Option<u32>,
) -> AutoscalingConfig {
    config.scale_down = Some(ScalingRules {
        stabilization_window_seconds: Some(scale_down_seconds),
        ..ScalingRules::default()
    });
    if let Some(up) = scale_up_seconds {
        config.scale_up = Some(ScalingRules {
            stabilization_window_seconds: Some(up),
            ..ScalingRules::default()
        });
    }
    config
}

/// A workload named `name` in namespace `traces`: an HPA (or a ScaledObject
/// when `config.keda` is set) scaling the Deployment `name`, one container
/// `app` requesting 500m CPU, and the given series.
pub fn snapshot(
    name: &str,
    config: AutoscalingConfig,
    start_unix_seconds: i64,
    step_seconds: u32,
    cpu_utilization: Vec<f64>,
    replicas: Vec<f64>,
) -> WorkloadSnapshot {
    let kind = if config.keda.is_some() {
        AutoscalerKind::ScaledObject
    } else {
        AutoscalerKind::HorizontalPodAutoscaler
    };
    WorkloadSnapshot {
        autoscaler: AutoscalerRef {
            kind,
            namespace: "traces".into(),
            name: name.into(),
        },
        target: ScaleTargetRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: name.into(),
        },
        config,
        containers: vec![ContainerResources {
            name: "app".into(),
            cpu_request_millicores: Some(500),
            memory_request_bytes: Some(512 << 20),
        }],
        history: MetricHistory {
            start_unix_seconds,
            step_seconds,
            utc_offset_minutes: 0,
            timezone: None,
            cpu_utilization,
            replicas_desired: replicas.clone(),
            replicas_ready: None,
            replicas_current: replicas,
            request_rate: None,
        },
        source: None,
    }
}

/// A workload whose pods' CPU utilization (% of request) is the trace, at a
/// fixed `replicas` (desired = current = `replicas` wherever the trace has a
/// sample).
pub fn snapshot_from_utilization(
    trace: &Trace,
    config: AutoscalingConfig,
    replicas: u32,
) -> WorkloadSnapshot {
    let r: Vec<f64> = trace
        .values
        .iter()
        .map(|v| {
            if v.is_finite() {
                f64::from(replicas)
            } else {
                f64::NAN
            }
        })
        .collect();
    snapshot(
        &trace.name.replace('_', "-"),
        config,
        trace.start_unix_seconds,
        trace.step_seconds,
        trace.values.clone(),
        r,
    )
}

/// Replicas of a crude HPA model over a demand series (pods at 100 % of
/// request), for tests. Per step: the raw recommendation is
/// `clamp(ceil(demand / (target / 100)), min, max)` of the demand
/// `reaction_steps` steps earlier (metrics and controller delay); a scale up
/// takes the smallest raw value over the scale-up stabilization window, a
/// scale down the largest over the scale-down window (as Kubernetes does);
/// current replicas follow desired one step later (pod start). Missing
/// demand keeps the previous recommendation. Returns (desired, current).
/// The CPU target defaults to 80 % when the configuration has none.
pub fn simulate_hpa(
    demand: &[f64],
    config: &AutoscalingConfig,
    step_seconds: u32,
    reaction_steps: usize,
) -> (Vec<f64>, Vec<f64>) {
    let target = f64::from(config.cpu_target_percent.unwrap_or(80));
    let lo = f64::from(config.min_replicas.max(1));
    let hi = f64::from(config.max_replicas.max(config.min_replicas.max(1)));
    let window = |rules: &Option<ScalingRules>, default: u32| {
        let secs = rules
            .as_ref()
            .and_then(|r| r.stabilization_window_seconds)
            .unwrap_or(default);
        (secs / step_seconds.max(1)) as usize + 1
    };
    let up_w = window(&config.scale_up, 0);
    let down_w = window(&config.scale_down, 300);
    let mut raw = Vec::with_capacity(demand.len());
    let mut desired = Vec::with_capacity(demand.len());
    let mut prev = lo;
    for t in 0..demand.len() {
        let d = if t >= reaction_steps {
            demand[t - reaction_steps]
        } else {
            f64::NAN
        };
        let r = if d.is_finite() {
            stats::replicas_needed(d, target).clamp(lo, hi)
        } else {
            raw.last().copied().unwrap_or(prev)
        };
        raw.push(r);
        let next = if r > prev {
            let from = raw.len().saturating_sub(up_w);
            raw[from..]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
                .max(prev)
        } else if r < prev {
            let from = raw.len().saturating_sub(down_w);
            raw[from..].iter().copied().fold(0.0, f64::max).min(prev)
        } else {
            prev
        };
        desired.push(next);
        prev = next;
    }
    let mut current = Vec::with_capacity(desired.len());
    current.push(desired.first().copied().unwrap_or(lo));
    current.extend_from_slice(&desired[..desired.len().saturating_sub(1)]);
    (desired, current)
}

/// A workload whose demand (pods at 100 % of request) is `demand`, scaled by
/// [`simulate_hpa`] under `config`: replicas are the simulated ones and the
/// CPU utilization is `demand / current × 100`.
pub fn snapshot_from_demand(
    name: &str,
    start_unix_seconds: i64,
    step_seconds: u32,
    demand: &[f64],
    config: AutoscalingConfig,
    reaction_steps: usize,
) -> WorkloadSnapshot {
    let (desired, current) = simulate_hpa(demand, &config, step_seconds, reaction_steps);
    let cpu: Vec<f64> = demand
        .iter()
        .zip(&current)
        .map(|(d, c)| d / c * 100.0)
        .collect();
    let mut s = snapshot(name, config, start_unix_seconds, step_seconds, cpu, current);
    s.history.replicas_desired = desired;
    s
}

/// The native [`WorkloadData`] a rule's pure `analyze` takes, with exactly
/// the values the host serves the component for `w` (so native and
/// component results can be compared).
pub fn workload_data(w: &WorkloadSnapshot) -> WorkloadData {
    use stepscale_engine::snapshot as s;
    let kind = match w.autoscaler.kind {
        AutoscalerKind::HorizontalPodAutoscaler => types::AutoscalerKind::HorizontalPodAutoscaler,
        AutoscalerKind::ScaledObject => types::AutoscalerKind::ScaledObject,
    };
    let rules = |r: &Option<ScalingRules>| {
        r.as_ref().map(|r| types::ScalingRules {
            stabilization_window_seconds: r.stabilization_window_seconds,
            select_policy: r.select_policy.map(|p| match p {
                s::SelectPolicy::Max => types::SelectPolicy::Max,
                s::SelectPolicy::Min => types::SelectPolicy::Min,
                s::SelectPolicy::Disabled => types::SelectPolicy::Disabled,
            }),
            policies: r
                .policies
                .iter()
                .map(|p| types::ScalingPolicy {
                    kind: match p.kind {
                        s::PolicyKind::Pods => types::PolicyKind::Pods,
                        s::PolicyKind::Percent => types::PolicyKind::Percent,
                    },
                    value: p.value,
                    period_seconds: p.period_seconds,
                })
                .collect(),
        })
    };
    let c = &w.config;
    let config = types::AutoscalingConfig {
        min_replicas: c.min_replicas,
        max_replicas: c.max_replicas,
        cpu_target_percent: c.cpu_target_percent,
        memory_target_percent: c.memory_target_percent,
        scale_up: rules(&c.scale_up),
        scale_down: rules(&c.scale_down),
        keda: c.keda.as_ref().map(|k| types::KedaConfig {
            cooldown_period_seconds: k.cooldown_period_seconds,
            polling_interval_seconds: k.polling_interval_seconds,
            idle_replica_count: k.idle_replica_count,
            triggers: k
                .triggers
                .iter()
                .map(|t| types::Trigger {
                    trigger_type: t.trigger_type.clone(),
                    metadata: t
                        .metadata
                        .iter()
                        .map(|(a, b)| (a.clone(), b.clone()))
                        .collect(),
                })
                .collect(),
        }),
    };
    let h = &w.history;
    let mut data = WorkloadData::from_parts(
        types::TargetRef {
            namespace: w.autoscaler.namespace.clone(),
            autoscaler_name: w.autoscaler.name.clone(),
            autoscaler_kind: kind,
            target_api_version: w.target.api_version.clone(),
            target_kind: w.target.kind.clone(),
            target_name: w.target.name.clone(),
        },
        config,
        types::SeriesInfo {
            start_unix_seconds: h.start_unix_seconds,
            step_seconds: h.step_seconds,
            len: h.len() as u32,
            utc_offset_minutes: h.utc_offset_minutes,
        },
        h.cpu_utilization.clone(),
        h.replicas_desired.clone(),
        h.replicas_current.clone(),
    );
    data.ready = h.ready().to_vec();
    data.request_rate = h.request_rate.clone();
    data.containers = w
        .containers
        .iter()
        .map(|c| types::ContainerResources {
            name: c.name.clone(),
            cpu_request_millicores: c.cpu_request_millicores,
            memory_request_bytes: c.memory_request_bytes,
        })
        .collect();
    data
}

/// The value of the evidence labelled `label` in a native finding, for
/// tests.
///
/// # Panics
/// When the finding has no such evidence (the message lists what it has).
pub fn evidence_value(f: &types::Finding, label: &str) -> f64 {
    f.evidence
        .iter()
        .find(|e| e.label == label)
        .map(|e| e.value)
        .unwrap_or_else(|| panic!("no evidence {label:?} in {:?}", f.evidence))
}

/// The engine's form of a finding a native `analyze` returned, as the host
/// would report it for rule `rule_id`: for comparing a component's output
/// with the native result.
pub fn engine_finding(rule_id: &str, f: &types::Finding) -> stepscale_engine::Finding {
    use stepscale_engine::FindingKind as K;
    stepscale_engine::Finding {
        rule_id: rule_id.to_string(),
        rule_version: None,
        rule_source: None,
        kind: match f.kind {
            types::FindingKind::IdleWindow => K::IdleWindow,
            types::FindingKind::OverProvisioning => K::OverProvisioning,
            types::FindingKind::ScaleLag => K::ScaleLag,
            types::FindingKind::Thrashing => K::Thrashing,
            types::FindingKind::RecurringPeak => K::RecurringPeak,
            types::FindingKind::Misconfiguration => K::Misconfiguration,
            types::FindingKind::Other => K::Other,
        },
        confidence: f.confidence,
        summary: f.summary.clone(),
        proposal: stepscale_engine::ConfigChange {
            min_replicas: f.proposal.min_replicas,
            max_replicas: f.proposal.max_replicas,
            cpu_target_percent: f.proposal.cpu_target_percent,
            scale_down_stabilization_seconds: f.proposal.scale_down_stabilization_seconds,
            scale_up_stabilization_seconds: f.proposal.scale_up_stabilization_seconds,
            cooldown_period_seconds: f.proposal.cooldown_period_seconds,
            // Rules cannot propose policies (the ABI has no field for them).
            scale_up_policy: None,
            scale_down_policy: None,
        },
        evidence: f.evidence.iter().map(engine_evidence).collect(),
    }
}

fn engine_evidence(e: &types::Evidence) -> stepscale_engine::Evidence {
    stepscale_engine::Evidence {
        label: e.label.clone(),
        value: e.value,
        unit: e.unit.clone(),
    }
}

/// The engine's form of a forecast a native `predict` returned, as the host
/// would report it for rule `rule_id`.
pub fn engine_forecast(rule_id: &str, f: &types::Forecast) -> stepscale_engine::Forecast {
    stepscale_engine::Forecast {
        rule_id: rule_id.to_string(),
        start_unix_seconds: f.start_unix_seconds,
        step_seconds: f.step_seconds,
        replicas_needed: f.replicas_needed.clone(),
        peak_windows: f
            .peak_windows
            .iter()
            .map(|p| stepscale_engine::PeakWindow {
                day_of_week: p.day_of_week,
                start_minute: p.start_minute,
                end_minute: p.end_minute,
                replicas: p.replicas,
            })
            .collect(),
        evidence: f.evidence.iter().map(engine_evidence).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_to_unix_seconds() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Ok(0));
        assert_eq!(parse_timestamp("2014-07-01 00:00:00"), Ok(1_404_172_800));
        assert_eq!(parse_timestamp("2000-03-01 01:02:03"), Ok(951_872_523));
        assert!(parse_timestamp("2014/07/01").is_err());
    }

    #[test]
    fn nyc_taxi_loads_on_a_half_hour_grid() {
        let t = load_nab(env!("CARGO_MANIFEST_DIR"), "nyc_taxi");
        assert_eq!(t.step_seconds, 1800);
        assert_eq!(t.values.len(), 10_320);
        assert_eq!(t.values[0], 10_844.0);
        assert_eq!(t.start_unix_seconds, 1_404_172_800);
    }

    #[test]
    fn simulated_hpa_follows_demand_with_stabilized_scale_down() {
        // Target 50 %: demand 1 pod -> 2 replicas, 3 pods -> 6.
        let config = hpa_config(1, 10, 50);
        let demand = [1.0, 3.0, 3.0, 1.0, 1.0, 1.0];
        // 5-minute steps, default 300 s scale-down window = 2 samples.
        let (desired, current) = simulate_hpa(&demand, &config, 300, 0);
        assert_eq!(desired, vec![2.0, 6.0, 6.0, 6.0, 2.0, 2.0]);
        assert_eq!(current, vec![2.0, 2.0, 6.0, 6.0, 6.0, 2.0]);
        let w = snapshot_from_demand("x", 0, 300, &demand, config, 0);
        assert_eq!(w.history.cpu_utilization[1], 150.0);
        let data = workload_data(&w);
        assert_eq!(data.info.len, 6);
        assert_eq!(data.config.cpu_target_percent, Some(50));
    }
}
