//! The real `thrashing` component, run in the operator's engine, agrees with
//! the native `analyze` on real series.
use stepscale_rule_thrashing::{analyze, RULE_ID};
use stepscale_rules_sdk::harness::traces::{self, hpa_config, with_stabilization};
use stepscale_rules_sdk::harness::{FindingKind, TestRule};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn component_matches_native_on_nab_series() {
    let rule = TestRule::build(DIR);
    assert_eq!(rule.id(), RULE_ID);
    // Bursty EC2 CPU as the demand of 20 instances, no scale-down window.
    let t = traces::load_nab(DIR, "ec2_cpu_utilization_fe7f93");
    let demand: Vec<f64> = t.values.iter().map(|v| v * 20.0 / 100.0).collect();
    let config = with_stabilization(hpa_config(1, 30, 60), 0, None);
    let bursty = traces::snapshot_from_demand(
        "fe7f93",
        t.start_unix_seconds,
        t.step_seconds,
        &demand,
        config,
        1,
    );
    // nyc_taxi as demand with default behavior: not thrashing.
    let n = traces::load_nab(DIR, "nyc_taxi");
    let demand: Vec<f64> = n.values.iter().map(|v| v / 3000.0).collect();
    let taxi = traces::snapshot_from_demand(
        "nyc-taxi",
        n.start_unix_seconds,
        n.step_seconds,
        &demand,
        hpa_config(1, 60, 70),
        1,
    );
    for (w, expect_finding) in [(&bursty, true), (&taxi, false)] {
        let got = rule.evaluate_matching_native(w, analyze);
        assert_eq!(!got.is_empty(), expect_finding, "{}", w.display_name());
        for f in &got {
            assert_eq!(f.kind, FindingKind::Thrashing);
            assert!(f
                .proposal
                .scale_down_stabilization_seconds
                .is_some_and(|s| s <= 3600));
            assert!(f.proposal.min_replicas.is_none() && f.proposal.cpu_target_percent.is_none());
            assert!(f
                .evidence
                .iter()
                .any(|e| e.label == "direction changes" && e.value >= 12.0));
        }
    }
}
