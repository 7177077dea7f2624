//! The real `idle-windows` component, built to wasm32-wasip2 and run in the
//! operator's engine, agrees with the native `analyze` on real series.
use stepscale_rule_idle_windows::{analyze, RULE_ID};
use stepscale_rules_sdk::harness::traces::{self, hpa_config, keda_config};
use stepscale_rules_sdk::harness::{FindingKind, TestRule};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn component_matches_native_on_nab_series() {
    let rule = TestRule::build(DIR);
    assert_eq!(rule.id(), RULE_ID);

    // nyc_taxi as demand (3,000 passengers per pod) under a floor of 10.
    let t = traces::load_nab(DIR, "nyc_taxi");
    let demand: Vec<f64> = t.values.iter().map(|v| v / 3000.0).collect();
    let taxi = traces::snapshot_from_demand(
        "nyc-taxi",
        t.start_unix_seconds,
        t.step_seconds,
        &demand,
        hpa_config(10, 40, 70),
        1,
    );
    // A near-idle EC2 instance as a KEDA workload that may scale to zero.
    let e = traces::load_nab(DIR, "ec2_cpu_utilization_c6585a");
    let ec2 = traces::snapshot_from_utilization(&e, keda_config(3, 10, 60, &["prometheus"]), 3);
    // A busy one: no finding.
    let b = traces::load_nab(DIR, "ec2_cpu_utilization_5f5533");
    let busy = traces::snapshot_from_utilization(&b, hpa_config(4, 10, 60), 4);

    for (w, expect_finding) in [(&taxi, true), (&ec2, true), (&busy, false)] {
        let got = rule.evaluate_matching_native(w, analyze);
        assert_eq!(!got.is_empty(), expect_finding, "{}", w.display_name());
        for f in &got {
            assert_eq!(f.kind, FindingKind::IdleWindow);
            assert!(f
                .proposal
                .min_replicas
                .is_some_and(|m| m < w.config.min_replicas));
            assert!(f.proposal.max_replicas.is_none() && f.proposal.cpu_target_percent.is_none());
            assert!((0.0..=1.0).contains(&f.confidence));
            assert!(f
                .evidence
                .iter()
                .any(|e| e.label.starts_with("idle window ")));
        }
    }
}
