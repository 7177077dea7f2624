//! Back-tests of the forecaster against seasonal-naive baselines on held-back
//! days of real NAB series, scored by MASE (mean absolute scaled error; the
//! scale is the in-sample MAE of the daily seasonal-naive forecast on the
//! training part, so every method's MASE shares one denominator).
//!
//! Run with `cargo test -p stepscale-rule-forecaster --test backtest --
//! --nocapture` to see the figures.
use stepscale_rule_forecaster::predict;
use stepscale_rules_sdk::harness::traces::{self, hpa_config, Trace};
use stepscale_rules_sdk::stats;

const DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The CPU target of the back-test workloads, %.
const TARGET: f64 = 60.0;
/// Fixed replicas of the back-test workloads (demand = CPU % × 10 / 100).
const REPLICAS: f64 = 10.0;

/// MASE of the forecaster and of the daily / weekly seasonal-naive baselines.
#[derive(Debug, Clone, Copy)]
struct Scores {
    forecaster: f64,
    daily_naive: f64,
    weekly_naive: f64,
}

/// Train on `demand[..cut]`, forecast `horizon` steps, score on what follows.
fn score(trace: &Trace, demand: &[f64], cut: usize, horizon: usize) -> Scores {
    let spd = trace.samples_per_day();
    let train = &demand[..cut];
    let actual: Vec<f64> = demand[cut..cut + horizon]
        .iter()
        .map(|d| d / (TARGET / 100.0))
        .collect();
    let train_r: Vec<f64> = train.iter().map(|d| d / (TARGET / 100.0)).collect();
    let cpu: Vec<f64> = train.iter().map(|d| d / REPLICAS * 100.0).collect();
    let w = traces::snapshot(
        &trace.name.replace('_', "-"),
        hpa_config(1, 100, TARGET as u32),
        trace.start_unix_seconds,
        trace.step_seconds,
        cpu,
        vec![REPLICAS; cut],
    );
    let f = predict(&traces::workload_data(&w), horizon as u32)
        .unwrap_or_else(|e| panic!("{}: {e}", trace.name));
    if std::env::var("FC_DEBUG").is_ok() {
        println!(
            "  evidence {:?}",
            f.evidence
                .iter()
                .map(|e| (e.label.as_str(), e.value))
                .collect::<Vec<_>>()
        );
    }
    let m = |fc: &[f64]| stats::mase(&actual, fc, &train_r, spd).unwrap_or(f64::NAN);
    Scores {
        forecaster: m(&f.replicas_needed),
        daily_naive: m(&stats::seasonal_naive(&train_r, spd, horizon)),
        weekly_naive: m(&stats::seasonal_naive(&train_r, 7 * spd, horizon)),
    }
}

/// Score 7-day forecasts from origins 28, 21, 14 and 7 days before the end;
/// print them and return (last-7-days scores, mean over origins).
fn backtest(trace: &Trace, demand: &[f64]) -> (Scores, Scores) {
    let spd = trace.samples_per_day();
    let n = demand.len() - demand.len() % spd;
    let mut all = Vec::new();
    for back in [28, 21, 14, 7] {
        let cut = n - back * spd;
        let s = score(trace, demand, cut, 7 * spd);
        println!(
            "{}: train {} days, forecast days {}..{} before end: MASE forecaster {:.3}, daily naive {:.3}, weekly naive {:.3}",
            trace.name,
            cut / spd,
            back,
            back - 7,
            s.forecaster,
            s.daily_naive,
            s.weekly_naive
        );
        all.push(s);
    }
    let mean = |f: fn(&Scores) -> f64| all.iter().map(f).sum::<f64>() / all.len() as f64;
    let avg = Scores {
        forecaster: mean(|s| s.forecaster),
        daily_naive: mean(|s| s.daily_naive),
        weekly_naive: mean(|s| s.weekly_naive),
    };
    println!(
        "{}: mean MASE over 4 origins: forecaster {:.3}, daily naive {:.3}, weekly naive {:.3}",
        trace.name, avg.forecaster, avg.daily_naive, avg.weekly_naive
    );
    (all[3], avg)
}

/// nyc_taxi (NAB): passengers per 30 minutes, as demand at 3,000 per pod.
#[test]
fn nyc_taxi_forecast_beats_seasonal_naive() {
    let t = traces::load_nab(DIR, "nyc_taxi");
    let demand: Vec<f64> = t.values.iter().map(|v| v / 3000.0).collect();
    let (last, avg) = backtest(&t, &demand);
    let best = |s: &Scores| s.daily_naive.min(s.weekly_naive);
    // Margin: at least 3 % better than the better seasonal-naive baseline on
    // average, and within 2 % of it on the last week (which holds the
    // January 2015 blizzard).
    assert!(avg.forecaster <= 0.97 * best(&avg), "{avg:?}");
    assert!(last.forecaster <= 1.02 * best(&last), "{last:?}");
}

/// cpu_utilization_asg_misconfiguration (NAB): 5-minute CPU % of an
/// auto-scaling group, as the utilization of 10 replicas (demand = CPU / 10).
#[test]
fn asg_forecast_beats_seasonal_naive() {
    let t = traces::load_nab(DIR, "cpu_utilization_asg_misconfiguration");
    let demand: Vec<f64> = t.values.iter().map(|v| v * REPLICAS / 100.0).collect();
    let (last, avg) = backtest(&t, &demand);
    let best = |s: &Scores| s.daily_naive.min(s.weekly_naive);
    // Margin: within 2 % of the better seasonal-naive baseline on average
    // (the series has little daily shape beyond its drifting level), at least
    // 10 % better than the weekly one, and no worse than the better one on the
    // last week (which holds the misconfiguration incident).
    assert!(avg.forecaster <= 1.02 * best(&avg), "{avg:?}");
    assert!(avg.forecaster <= 0.9 * avg.weekly_naive, "{avg:?}");
    assert!(last.forecaster <= best(&last), "{last:?}");
}
