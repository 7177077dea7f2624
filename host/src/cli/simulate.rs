//! `stepscale simulate`: replay a series through the HPA model under the
//! current and a proposed config, side by side.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use stepscale_engine::snapshot::{AutoscalerKind, AutoscalingConfig, ScalingPolicy};
use stepscale_engine::{ConfigChange, Snapshot};
use stepscale_hpa::simulate::{compare_configs, Comparison, DemandSeries, SimOptions};

use crate::objective::search::{SCALE_DOWN_POLICY_PERIOD_S, SCALE_UP_POLICY_PERIOD_S};
use crate::replay;

/// What the CSV values are.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DemandKind {
    /// CPU cores needed.
    Cores,
    /// CPU utilization, % of request, measured at `--replicas`.
    Utilization,
    /// Requests per second; one pod serves `--capacity` at 100 % of request.
    RequestRate,
}

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    /// Side by side, for people.
    Table,
    /// The comparison as JSON.
    Json,
}

/// Arguments of `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// A `timestamp,value` CSV series (e.g. a NAB trace).
    #[arg(
        long,
        conflicts_with = "snapshot",
        required_unless_present = "snapshot"
    )]
    pub csv: Option<PathBuf>,
    /// How to read the CSV values as demand.
    #[arg(long, value_enum, default_value = "utilization")]
    pub demand: DemandKind,
    /// Replicas at which utilization was measured (`--demand utilization`).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub replicas: f64,
    /// Requests per second one pod serves at 100 % of its request
    /// (`--demand request-rate`).
    #[arg(long, default_value_t = 100.0, allow_negative_numbers = true)]
    pub capacity: f64,
    /// A snapshot file; replays the history of `--workload`.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// `namespace/name` of the autoscaler in `--snapshot`.
    #[arg(long, requires = "snapshot")]
    pub workload: Option<String>,
    /// Current config as `min=2,max=10,target=70[,down=300][,up=0][,request=0.5]`
    /// (required with --csv; with --snapshot it overrides the workload's);
    /// also `cooldown=` (ScaledObjects), `up-percent=` (scale-up policy: at
    /// most that % of the pods added per 15 s) and `down-percent=`
    /// (scale-down policy: at most that % removed per 60 s).
    #[arg(long)]
    pub current: Option<String>,
    /// Proposed config: the keys of --current to change, e.g. `min=4,down=600`.
    #[arg(long)]
    pub proposed: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

/// A parsed `key=value,...` config spec.
#[derive(Debug, Default, PartialEq)]
pub struct ConfigSpec {
    /// Fields to set.
    pub change: ConfigChange,
    /// CPU request per pod, cores.
    pub request_cores: Option<f64>,
}

/// Parse `min=2,max=10,target=70,down=300,up=0,cooldown=300,request=0.5`.
///
/// # Errors
/// An unknown key or a value that is not a number, naming both.
pub fn parse_spec(spec: &str) -> anyhow::Result<ConfigSpec> {
    let mut out = ConfigSpec::default();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .with_context(|| format!("config {part:?}: expected key=value, e.g. min=2"))?;
        if key == "request" {
            let v: f64 = value
                .parse()
                .ok()
                .filter(|v: &f64| *v > 0.0 && v.is_finite())
                .with_context(|| {
                    format!("config {part:?}: request must be cores > 0, e.g. request=0.5")
                })?;
            out.request_cores = Some(v);
            continue;
        }
        let v: u32 = value
            .parse()
            .with_context(|| format!("config {part:?}: {value:?} is not a whole number"))?;
        let c = &mut out.change;
        match key {
            "min" => c.min_replicas = Some(v),
            "max" => c.max_replicas = Some(v),
            "target" => c.cpu_target_percent = Some(v),
            "down" => c.scale_down_stabilization_seconds = Some(v),
            "up" => c.scale_up_stabilization_seconds = Some(v),
            "cooldown" => c.cooldown_period_seconds = Some(v),
            "up-percent" | "down-percent" if v == 0 => {
                bail!("config {part:?}: a rate limit of 0 % stops scaling; give a percent above 0")
            }
            "up-percent" => c.scale_up_policy = Some(ScalingPolicy::percent(v, SCALE_UP_POLICY_PERIOD_S)),
            "down-percent" => {
                c.scale_down_policy = Some(ScalingPolicy::percent(v, SCALE_DOWN_POLICY_PERIOD_S));
            }
            _ => bail!("config {part:?}: unknown key {key:?}; use min, max, target, down, up, cooldown, up-percent, down-percent or request"),
        }
    }
    Ok(out)
}

/// Largest `--replicas`, as a float.
const MAX_REPLICAS_F: f64 = stepscale_hpa::limits::MAX_REPLICAS as f64;

/// Check a numeric flag: finite, above 0 and at most `max` when given.
fn positive(flag: &str, v: f64, max: Option<f64>) -> anyhow::Result<()> {
    if v.is_finite() && v > 0.0 && max.is_none_or(|m| v <= m) {
        return Ok(());
    }
    match max {
        Some(m) => bail!("{flag} is {v}; give a number above 0 and at most {m}"),
        None => bail!("{flag} is {v}; give a finite number above 0"),
    }
}

fn overlay(base: &ConfigChange, top: &ConfigChange) -> ConfigChange {
    ConfigChange {
        min_replicas: top.min_replicas.or(base.min_replicas),
        max_replicas: top.max_replicas.or(base.max_replicas),
        cpu_target_percent: top.cpu_target_percent.or(base.cpu_target_percent),
        scale_down_stabilization_seconds: top
            .scale_down_stabilization_seconds
            .or(base.scale_down_stabilization_seconds),
        scale_up_stabilization_seconds: top
            .scale_up_stabilization_seconds
            .or(base.scale_up_stabilization_seconds),
        cooldown_period_seconds: top.cooldown_period_seconds.or(base.cooldown_period_seconds),
        scale_up_policy: top.scale_up_policy.or(base.scale_up_policy),
        scale_down_policy: top.scale_down_policy.or(base.scale_down_policy),
    }
}

/// Run the comparison and print it.
///
/// # Errors
/// Unreadable input, a bad config spec, or a config the model rejects.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let current = args.current.as_deref().map(parse_spec).transpose()?;
    let proposed = parse_spec(&args.proposed)?;
    let (series, base, request) = if let Some(csv) = &args.csv {
        let Some(cur) = current.as_ref() else {
            bail!("--current is required with --csv, e.g. --current min=2,max=10,target=70");
        };
        let (Some(min), Some(max), Some(target)) = (
            cur.change.min_replicas,
            cur.change.max_replicas,
            cur.change.cpu_target_percent,
        ) else {
            bail!("--current needs min, max and target, e.g. --current min=2,max=10,target=70");
        };
        let request = cur.request_cores.unwrap_or(1.0);
        match args.demand {
            DemandKind::Utilization => positive("--replicas", args.replicas, Some(MAX_REPLICAS_F))?,
            DemandKind::RequestRate => positive("--capacity", args.capacity, None)?,
            DemandKind::Cores => {}
        }
        let s = if csv.as_os_str() == "-" {
            let text = super::read_input(csv, stepscale_hpa::limits::MAX_CSV_BYTES)?;
            stepscale_hpa::series::parse_csv_series(&text, std::path::Path::new("<stdin>"))
        } else {
            stepscale_hpa::series::load_csv_series(csv)
        }
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(i) = s.values.iter().position(|v| *v < 0.0) {
            bail!(
                "{}: sample {} (at {} s since the epoch) is {}; demand cannot be negative",
                csv.display(),
                i + 1,
                s.timestamps[i],
                s.values[i]
            );
        }
        let step = s.typical_step_s();
        let (start, values) = s.regular(step);
        let series = match args.demand {
            DemandKind::Cores => DemandSeries::from_cpu_cores(start, step, values),
            DemandKind::Utilization => {
                DemandSeries::from_utilization(start, step, &values, args.replicas, request)
            }
            DemandKind::RequestRate => {
                DemandSeries::from_request_rate(start, step, &values, args.capacity, request)
            }
        };
        let base = AutoscalingConfig {
            min_replicas: min,
            max_replicas: max,
            cpu_target_percent: Some(target),
            ..AutoscalingConfig::default()
        };
        (series, base, request)
    } else {
        let path = args.snapshot.as_ref().context("give --csv or --snapshot")?;
        let text = super::read_input(path, stepscale_hpa::limits::MAX_SNAPSHOT_BYTES)?;
        let snap =
            Snapshot::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let wanted = args
            .workload
            .as_deref()
            .context("--workload NAMESPACE/NAME is required with --snapshot")?;
        let w = snap
            .workloads
            .iter()
            .find(|w| w.display_name() == wanted)
            .with_context(|| {
                format!(
                    "{}: no workload {:?}; give --workload NAMESPACE/NAME of one of its autoscalers",
                    path.display(),
                    stepscale_hpa::limits::printable(wanted, 300)
                )
            })?;
        let request = current
            .as_ref()
            .and_then(|c| c.request_cores)
            .unwrap_or_else(|| replay::request_cores(w));
        (replay::demand(w), w.config.clone(), request)
    };
    let cur_change = current.map(|c| c.change).unwrap_or_default();
    let new_change = overlay(&cur_change, &proposed.change);
    let kind = if base.keda.is_some() {
        AutoscalerKind::ScaledObject
    } else {
        AutoscalerKind::HorizontalPodAutoscaler
    };
    for (flag, change) in [("--current", &cur_change), ("--proposed", &new_change)] {
        change
            .applied_to(&base)
            .validate(flag, kind)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let model = |change: &ConfigChange| {
        replay::model_config(&base, change, request)
            .context("the autoscaler has no CPU target; give target=N")
    };
    let cur_cfg = model(&cur_change)?;
    let new_cfg = model(&new_change)?;
    let cmp = compare_configs(&series, &cur_cfg, &new_cfg, &SimOptions::default())?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&cmp)?),
        Output::Table => print!("{}", table(&cmp)),
    }
    Ok(())
}

/// The comparison side by side.
pub fn table(c: &Comparison) -> String {
    let (a, b) = (&c.current, &c.proposed);
    let rows: [(&str, f64, f64); 7] = [
        ("replica-hours", a.replica_hours, b.replica_hours),
        (
            "minutes over target",
            a.minutes_over_target,
            b.minutes_over_target,
        ),
        (
            "minutes saturated",
            a.minutes_saturated,
            b.minutes_saturated,
        ),
        ("scale events", a.scale_events as f64, b.scale_events as f64),
        (
            "direction changes",
            a.direction_changes as f64,
            b.direction_changes as f64,
        ),
        (
            "peak replicas",
            a.peak_replicas as f64,
            b.peak_replicas as f64,
        ),
        ("mean replicas", a.mean_replicas, b.mean_replicas),
    ];
    let mut out = format!(
        "replay of {:.1} days (15 s sync, 60 s metric window, 45 s pod start-up)\n{:<22}{:>14}{:>14}{:>14}\n",
        a.duration_minutes / 1440.0,
        "",
        "current",
        "proposed",
        "difference"
    );
    for (name, x, y) in rows {
        out.push_str(&format!("{name:<22}{x:>14.1}{y:>14.1}{:>+14.1}\n", y - x));
    }
    out.push_str(&format!(
        "replica-hours change: {:+.1} %\n",
        c.difference.replica_hours_pct
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_sets_only_the_keys_it_names() {
        let s = parse_spec("min=2, target=70,request=0.25").expect("valid");
        assert_eq!(s.change.min_replicas, Some(2));
        assert_eq!(s.change.cpu_target_percent, Some(70));
        assert_eq!(s.change.max_replicas, None);
        assert_eq!(s.request_cores, Some(0.25));
    }

    #[test]
    fn a_spec_with_an_unknown_key_names_it_and_the_valid_ones() {
        let e = parse_spec("mni=2").expect_err("unknown key").to_string();
        assert!(e.contains("\"mni\"") && e.contains("use min, max"), "{e}");
    }
}
