//! The real forecaster component, run in the operator's engine, returns the
//! same forecast as the native `predict` on real series.
use stepscale_rule_forecaster::{predict, RULE_ID};
use stepscale_rules_sdk::harness::traces::{self, hpa_config};
use stepscale_rules_sdk::harness::{RuleFailure, TestRule};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn component_matches_native_on_nab_series() {
    let rule = TestRule::build(DIR);
    assert_eq!(rule.id(), RULE_ID);
    // nyc_taxi as demand at 3,000 passengers per pod, 10 fixed replicas.
    let t = traces::load_nab(DIR, "nyc_taxi");
    let cpu: Vec<f64> = t.values.iter().map(|v| v / 3000.0 * 10.0).collect();
    let n = cpu.len();
    let taxi = traces::snapshot(
        "nyc-taxi",
        hpa_config(2, 40, 60),
        t.start_unix_seconds,
        t.step_seconds,
        cpu,
        vec![10.0; n],
    );
    let a = traces::load_nab(DIR, "cpu_utilization_asg_misconfiguration");
    let asg = traces::snapshot_from_utilization(&a, hpa_config(2, 20, 60), 10);
    for (w, horizon) in [(&taxi, 7 * 48), (&asg, 288)] {
        let got = rule
            .predict(w, horizon)
            .unwrap_or_else(|e| panic!("{}: {e}", w.display_name()));
        let native = predict(&traces::workload_data(w), horizon).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            traces::engine_forecast(RULE_ID, &native),
            "{}",
            w.display_name()
        );
        assert_eq!(got.replicas_needed.len(), horizon as usize);
        assert!(got
            .replicas_needed
            .iter()
            .all(|r| r.is_finite() && *r >= 0.0));
        let h = &w.history;
        assert_eq!(
            got.start_unix_seconds,
            h.start_unix_seconds + h.len() as i64 * i64::from(h.step_seconds)
        );
        for p in &got.peak_windows {
            assert!(
                p.start_minute < p.end_minute && p.end_minute <= 1440,
                "{p:?}"
            );
            assert!(p.replicas > w.config.min_replicas);
        }
    }
    // nyc_taxi has evening peaks a schedule can pre-scale for.
    let f = rule.predict(&taxi, 48).unwrap_or_else(|e| panic!("{e}"));
    assert!(!f.peak_windows.is_empty(), "{f:?}");
    // Too little history is the rule's error, not a trap.
    let mut short = taxi.clone();
    for s in [
        &mut short.history.cpu_utilization,
        &mut short.history.replicas_current,
        &mut short.history.replicas_desired,
    ] {
        s.truncate(48);
    }
    assert!(matches!(
        rule.predict(&short, 10),
        Err(RuleFailure::Returned { .. })
    ));
}
