//! Rules see the workload's local time: the offset of the zone a history is
//! set to reaches the sandboxed rules, so a daily peak is reported at the
//! local hour a person in that zone reads on their clock.

use std::sync::Arc;

use stepscale_engine::snapshot::{AutoscalingConfig, WorkloadSnapshot};
use stepscale_engine::EngineConfig;
use stepscale_operator::analysis::Analyzer;
use stepscale_tests::workload;

/// Two weeks at a 5-minute step from Monday 2026-01-05 00:00 UTC (winter:
/// Berlin is UTC+1 throughout), 4 pods at 20 % CPU except 09:00–11:00 UTC
/// every day, at 95 %.
fn daily_peak_at_nine_utc() -> WorkloadSnapshot {
    let start = 1_767_571_200; // 2026-01-05T00:00:00Z
    let step = 300u32;
    let n = 14 * 288;
    let cpu: Vec<f64> = (0..n)
        .map(|i| {
            let minute_of_day = (i * 5) % 1440;
            if (540..660).contains(&minute_of_day) {
                95.0
            } else {
                20.0
            }
        })
        .collect();
    let config = AutoscalingConfig {
        min_replicas: 2,
        max_replicas: 20,
        cpu_target_percent: Some(70),
        ..AutoscalingConfig::default()
    };
    workload::hpa(config, None, start, step, cpu, 4.0)
}

/// The recurring-peaks rule's peak-window labels for `w`.
fn peak_labels(analyzer: &Analyzer, w: WorkloadSnapshot) -> Vec<String> {
    analyzer
        .evaluate(&Arc::new(w))
        .findings
        .iter()
        .filter(|f| f.rule_id == "recurring-peaks")
        .flat_map(|f| f.evidence.iter().map(|e| e.label.clone()))
        .filter(|l| l.starts_with("peak window"))
        .collect()
}

#[test]
fn a_daily_peak_is_reported_at_the_local_hour_of_the_history_zone() {
    let analyzer = Analyzer::with_builtin_rules(EngineConfig::default().with_cache_dir(None))
        .expect("engine")
        .with_forecasting(false);
    let utc = peak_labels(&analyzer, daily_peak_at_nine_utc());
    assert!(
        utc.iter().any(|l| l.contains("09:00")),
        "in UTC the peak starts at 09:00: {utc:?}"
    );

    let mut berlin = daily_peak_at_nine_utc();
    berlin.history.set_timezone("Europe/Berlin".into());
    assert_eq!(berlin.history.utc_offset_minutes, 60, "CET in January");
    let local = peak_labels(&analyzer, berlin);
    assert!(
        local.iter().any(|l| l.contains("10:00")) && !local.iter().any(|l| l.contains("09:00")),
        "in Berlin the same peak starts at 10:00 local: {local:?}"
    );
}
