//! The real `recurring-peaks` component, run in the operator's engine, agrees
//! with the native `analyze` on real series.
use stepscale_rule_recurring_peaks::{analyze, RULE_ID};
use stepscale_rules_sdk::harness::traces::{self, hpa_config};
use stepscale_rules_sdk::harness::{FindingKind, TestRule};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn component_matches_native_on_nab_series() {
    let rule = TestRule::build(DIR);
    assert_eq!(rule.id(), RULE_ID);
    let t = traces::load_nab(DIR, "nyc_taxi");
    let demand: Vec<f64> = t.values.iter().map(|v| v / 3000.0).collect();
    let taxi = traces::snapshot_from_demand(
        "nyc-taxi",
        t.start_unix_seconds,
        t.step_seconds,
        &demand,
        hpa_config(2, 40, 60),
        2,
    );
    // Same demand with a floor already above the peak: never lowered.
    let high = traces::snapshot_from_demand(
        "nyc-taxi-high",
        t.start_unix_seconds,
        t.step_seconds,
        &demand,
        hpa_config(30, 40, 60),
        2,
    );
    let a = traces::load_nab(DIR, "cpu_utilization_asg_misconfiguration");
    let asg = traces::snapshot_from_utilization(&a, hpa_config(10, 20, 60), 10);
    for (w, expect_finding) in [(&taxi, true), (&high, false), (&asg, false)] {
        let got = rule.evaluate_matching_native(w, analyze);
        assert_eq!(
            !got.is_empty(),
            expect_finding,
            "{}: {got:?}",
            w.display_name()
        );
        for f in &got {
            assert_eq!(f.kind, FindingKind::RecurringPeak);
            assert!(f
                .proposal
                .min_replicas
                .is_none_or(|m| m > w.config.min_replicas));
            assert!(f
                .evidence
                .iter()
                .any(|e| e.label.starts_with("peak window ")));
        }
    }
}
