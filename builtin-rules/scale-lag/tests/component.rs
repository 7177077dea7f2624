//! The real `scale-lag` component, run in the operator's engine, agrees with
//! the native `analyze` on real series.
use stepscale_rule_scale_lag::{analyze, RULE_ID};
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
    let r = traces::load_nab(DIR, "rds_cpu_utilization_cc0c53");
    let rds = traces::snapshot_from_utilization(&r, hpa_config(2, 10, 10), 2);
    for (w, expect_finding) in [(&taxi, true), (&rds, false)] {
        let got = rule.evaluate_matching_native(w, analyze);
        assert_eq!(!got.is_empty(), expect_finding, "{}", w.display_name());
        for f in &got {
            assert_eq!(f.kind, FindingKind::ScaleLag);
            assert!(f
                .proposal
                .min_replicas
                .is_some_and(|m| m > w.config.min_replicas && m <= w.config.max_replicas));
            assert!(f.proposal.cpu_target_percent.is_none());
        }
    }
}
