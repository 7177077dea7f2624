//! The forecaster against seasonal-naive forecasts on every NAB series (a
//! bench binary that prints a table; no assertions).
//!
//! Protocol, the same for every series:
//! - demand = the series' value (CPU % of 10 replicas, or requests), as pods
//!   at 100 % of request (`value / peak × 10`); the forecaster sees it as CPU
//!   utilization of 10 replicas at a 60 % target;
//! - origins: every local midnight with at least 7 days before it (so the
//!   weekly seasonal-naive forecast exists) and a whole day after it, the
//!   last [`MAX_ORIGINS`] of them;
//! - at each origin the forecaster fits on everything before it and
//!   forecasts the next day; so do the daily (same time yesterday) and
//!   weekly (same time a week ago) seasonal-naive forecasts;
//! - each forecast is scored by MASE with one denominator per origin (the
//!   in-sample MAE of the daily seasonal-naive forecast on the training
//!   part), and the table shows the mean over the origins;
//! - "daily cycle" is the forecaster's own daily seasonality strength
//!   (`stats::seasonality_strength`, lag one day) over the whole series, at
//!   least [`DAILY_CYCLE_STRENGTH`].
//!
//! Run: `cargo bench -p stepscale-tests --bench forecast`.

use stepscale_rule_forecaster::predict;
use stepscale_rules_sdk::harness::traces::{self, hpa_config, Trace};
use stepscale_rules_sdk::stats;

const DIR: &str = env!("CARGO_MANIFEST_DIR");
/// Replicas the demand is spread over (CPU % = demand / replicas × 100).
const REPLICAS: f64 = 10.0;
/// The workloads' CPU target, %.
const TARGET: f64 = 60.0;
/// Most origins per series (the last ones).
const MAX_ORIGINS: usize = 28;
/// Daily seasonality strength from which a series counts as having a daily
/// cycle.
const DAILY_CYCLE_STRENGTH: f64 = 0.3;

const SERIES: [&str; 12] = [
    "cpu_utilization_asg_misconfiguration",
    "ec2_cpu_utilization_24ae8d",
    "ec2_cpu_utilization_53ea38",
    "ec2_cpu_utilization_5f5533",
    "ec2_cpu_utilization_77c1ca",
    "ec2_cpu_utilization_825cc2",
    "ec2_cpu_utilization_ac20cd",
    "ec2_cpu_utilization_c6585a",
    "ec2_cpu_utilization_fe7f93",
    "elb_request_count_8c0756",
    "nyc_taxi",
    "rds_cpu_utilization_cc0c53",
];

/// Mean MASE over the origins of the forecaster and both baselines.
struct Row {
    origins: usize,
    forecaster: f64,
    daily: f64,
    weekly: f64,
}

/// Demand in pods (`value / peak × 10`), gaps held at the previous value.
fn demand(t: &Trace) -> Vec<f64> {
    let peak = t
        .values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut last = 0.0;
    t.values
        .iter()
        .map(|v| {
            if v.is_finite() {
                last = v / peak * REPLICAS;
            }
            last
        })
        .collect()
}

/// The first sample at or after a UTC midnight.
fn first_midnight(t: &Trace) -> usize {
    let step = i64::from(t.step_seconds.max(1));
    let into = t.start_unix_seconds.rem_euclid(86_400);
    if into == 0 {
        0
    } else {
        ((86_400 - into + step - 1) / step) as usize
    }
}

fn score(t: &Trace, d: &[f64]) -> Row {
    let spd = t.samples_per_day();
    let first = first_midnight(t);
    let mut cuts: Vec<usize> = (0..)
        .map(|k| first + k * spd)
        .take_while(|c| c + spd <= d.len())
        .filter(|c| *c >= 7 * spd)
        .collect();
    if cuts.len() > MAX_ORIGINS {
        cuts.drain(..cuts.len() - MAX_ORIGINS);
    }
    let (mut f_sum, mut d_sum, mut w_sum, mut n) = (0.0, 0.0, 0.0, 0usize);
    for cut in cuts {
        let train = &d[..cut];
        let actual = &d[cut..cut + spd];
        let cpu: Vec<f64> = train.iter().map(|x| x / REPLICAS * 100.0).collect();
        let w = traces::snapshot(
            &t.name.replace('_', "-"),
            hpa_config(1, 100, TARGET as u32),
            t.start_unix_seconds,
            t.step_seconds,
            cpu,
            vec![REPLICAS; cut],
        );
        let Ok(f) = predict(&traces::workload_data(&w), spd as u32) else {
            continue;
        };
        // Back to pods at 100 % of request.
        let fc: Vec<f64> = f
            .replicas_needed
            .iter()
            .map(|r| r * TARGET / 100.0)
            .collect();
        let m = |x: &[f64]| stats::mase(actual, x, train, spd);
        let (Some(a), Some(b), Some(c)) = (
            m(&fc),
            m(&stats::seasonal_naive(train, spd, spd)),
            m(&stats::seasonal_naive(train, 7 * spd, spd)),
        ) else {
            continue;
        };
        f_sum += a;
        d_sum += b;
        w_sum += c;
        n += 1;
    }
    let k = n.max(1) as f64;
    Row {
        origins: n,
        forecaster: f_sum / k,
        daily: d_sum / k,
        weekly: w_sum / k,
    }
}

fn main() {
    println!(
        "| series | daily strength | daily cycle | origins | forecaster MASE | daily naive | weekly naive | beats both |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---|");
    let (mut cycles, mut wins) = (0, 0);
    for name in SERIES {
        let t = traces::load_nab(DIR, name);
        let d = demand(&t);
        let strength = stats::seasonality_strength(&d, t.samples_per_day()).unwrap_or(0.0);
        let cycle = strength >= DAILY_CYCLE_STRENGTH;
        let r = score(&t, &d);
        let beats = r.forecaster < r.daily && r.forecaster < r.weekly;
        if cycle {
            cycles += 1;
            wins += usize::from(beats);
        }
        println!(
            "| {name} | {strength:.2} | {} | {} | {:.3} | {:.3} | {:.3} | {} |",
            if cycle { "yes" } else { "no" },
            r.origins,
            r.forecaster,
            r.daily,
            r.weekly,
            if beats { "yes" } else { "no" }
        );
    }
    println!(
        "\nseries with a daily cycle (strength ≥ {DAILY_CYCLE_STRENGTH}): {cycles}; the forecaster beats both seasonal-naive forecasts on {wins} of them"
    );
}
