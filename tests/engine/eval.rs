//! The evaluation harness on one real series: every hand-set config is
//! analyzed on the first week and judged on the next, and the judgement is
//! consistent (no change judges equal; a proposed change was confirmed on
//! held-out days before it was proposed).

use stepscale_engine::EngineConfig;
use stepscale_operator::analysis::Analyzer;
use stepscale_tests::eval::{self, HandConfig};

#[test]
fn the_harness_judges_every_config_on_days_the_analysis_never_saw() {
    let analyzer = Analyzer::with_builtin_rules(EngineConfig::default()).expect("engine");
    let nab = stepscale_tests::demo::nab_dir();
    let rows = eval::evaluate(&analyzer, &nab, &["ec2_cpu_utilization_5f5533".to_string()])
        .expect("evaluate");
    assert_eq!(rows.len(), HandConfig::ALL.len());
    for r in &rows {
        assert!(r.judged_days >= 6.9, "{} days judged", r.judged_days);
        if r.recommendation.proposed.is_empty() {
            assert_eq!(
                r.before, r.after,
                "{}: no change must judge equal",
                r.change
            );
        } else {
            let c = r
                .recommendation
                .choice
                .as_ref()
                .expect("chosen by the search");
            assert!(c.confirmed, "{}", c.verdict);
            assert!(c.holdout.is_some());
        }
    }
    // The generous config (floor at the 90th percentile, 50 % target) on
    // this steady series has room: the recommendation saves on the judged
    // week without adding saturation beyond the tolerance.
    let generous = rows
        .iter()
        .find(|r| r.config == HandConfig::Generous)
        .expect("generous row");
    assert!(generous.delta_percent() < -10.0, "{}", eval::table(&rows));
    assert!(
        generous.after.saturated_minutes_per_day <= generous.before.saturated_minutes_per_day + 1.0,
        "{}",
        eval::table(&rows)
    );
    let table = eval::table(&rows);
    assert!(table.contains("median replica-hour saving"), "{table}");
}

#[test]
fn the_builtin_forecaster_reports_the_back_test_that_schedules_are_gated_on() {
    let analyzer = Analyzer::with_builtin_rules(EngineConfig::default()).expect("engine");
    let nab = stepscale_tests::demo::nab_dir();
    let rows = eval::evaluate(&analyzer, &nab, &["nyc_taxi".to_string()]).expect("evaluate");
    for r in &rows {
        let f = r
            .recommendation
            .forecast
            .as_ref()
            .expect("a daily series gets a forecast");
        // Ok or Err, the gate found the figures it compares (the host and
        // the forecaster agree on the evidence labels).
        let said = match stepscale_operator::schedule::size::forecast_earns_a_schedule(f) {
            Ok(s) | Err(s) => s,
        };
        assert!(
            said.contains("back-test error on the last season"),
            "{said}"
        );
        assert!(said.contains("(daily seasonal naive)"), "{said}");
    }
}
