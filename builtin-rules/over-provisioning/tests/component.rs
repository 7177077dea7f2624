//! The real `over-provisioning` component, run in the operator's engine,
//! agrees with the native `analyze` on real series.
use stepscale_rule_over_provisioning::{analyze, RULE_ID};
use stepscale_rules_sdk::harness::traces::{self, hpa_config};
use stepscale_rules_sdk::harness::{FindingKind, TestRule};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn component_matches_native_on_nab_series() {
    let rule = TestRule::build(DIR);
    assert_eq!(rule.id(), RULE_ID);
    let rds = traces::load_nab(DIR, "rds_cpu_utilization_cc0c53");
    let ec2 = traces::load_nab(DIR, "ec2_cpu_utilization_825cc2");
    let workloads = [
        (
            traces::snapshot_from_utilization(&rds, hpa_config(6, 12, 60), 6),
            true,
        ),
        (
            traces::snapshot_from_utilization(&ec2, hpa_config(4, 10, 70), 4),
            false,
        ),
    ];
    for (w, expect_finding) in &workloads {
        let got = rule.evaluate_matching_native(w, analyze);
        assert_eq!(!got.is_empty(), *expect_finding, "{}", w.display_name());
        for f in &got {
            assert_eq!(f.kind, FindingKind::OverProvisioning);
            assert!(f.proposal.cpu_target_percent.is_none_or(|t| t <= 80));
            assert!(f
                .proposal
                .min_replicas
                .is_none_or(|m| m >= 1 && m < w.config.min_replicas));
            assert!(f.proposal.max_replicas.is_none());
            assert!(f.evidence.iter().any(|e| e.label == "p95 CPU utilization"));
        }
    }
}
