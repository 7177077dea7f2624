//! The `weekend-idle` component, built to wasm32-wasip2 and run in the
//! operator's engine, on real NAB series: it agrees with the native
//! `analyze`, finds the quiet weekends of an RDS instance's CPU and stays
//! silent where weekends are as busy as weekdays.
use stepscale_rules_sdk::harness::snapshot::WorkloadSnapshot;
use stepscale_rules_sdk::harness::traces::{self, hpa_config};
use stepscale_rules_sdk::harness::{Finding, FindingKind, TestRule};
use weekend_idle::{analyze, RULE_ID};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// `name` as demand: each value % of `pods` pods, under an HPA with
/// `min` replicas, at most 40, a 70 % CPU target.
fn workload(name: &str, pods: f64, min: u32) -> WorkloadSnapshot {
    let t = traces::load_nab(DIR, name);
    let demand: Vec<f64> = t.values.iter().map(|v| v / 100.0 * pods).collect();
    traces::snapshot_from_demand(
        name,
        t.start_unix_seconds,
        t.step_seconds,
        &demand,
        hpa_config(min, 40, 70),
        1,
    )
}

/// The value of the evidence labelled `label`.
fn evidence(f: &Finding, label: &str) -> f64 {
    f.evidence
        .iter()
        .find(|e| e.label == label)
        .map(|e| e.value)
        .unwrap_or_else(|| panic!("no evidence {label:?} in {:?}", f.evidence))
}

#[test]
fn quiet_weekends_under_a_weekday_floor_are_found() {
    let rule = TestRule::build(DIR);
    assert_eq!(rule.id(), RULE_ID);
    // rds_cpu_utilization_cc0c53: two weeks whose weekend p99 CPU is under
    // half the weekdays' p95. At 20 pods per 100 %, weekdays peak near 3 pods
    // and weekends need 3 replicas at 70 %; a floor of 6 sits idle there.
    let w = workload("rds_cpu_utilization_cc0c53", 20.0, 6);
    let found = rule.evaluate_matching_native(&w, analyze);
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f.kind, FindingKind::IdleWindow);
    let proposed = f.proposal.min_replicas.expect("a floor");
    assert!((1..6).contains(&proposed), "floor {proposed}");
    let weekend = evidence(f, "weekend p99 demand");
    let weekday = evidence(f, "weekday p95 demand");
    assert!(weekend <= 0.5 * weekday, "{weekend} vs {weekday}");
    // The proposed floor covers the weekend's p99 at the target.
    assert!(
        f64::from(proposed) * 0.7 >= weekend,
        "{proposed} < {weekend}"
    );
}

#[test]
fn busy_weekends_and_short_histories_give_nothing() {
    let rule = TestRule::build(DIR);
    // nyc_taxi: weekends are as busy as weekdays.
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
    // ec2_cpu_utilization_5f5533: busy every day.
    let busy = workload("ec2_cpu_utilization_5f5533", 8.0, 4);
    // The quiet RDS series cut to 5 days: less than a week says nothing.
    let mut short = workload("rds_cpu_utilization_cc0c53", 20.0, 6);
    let keep = 5 * 288;
    let h = &mut short.history;
    h.cpu_utilization.truncate(keep);
    h.replicas_desired.truncate(keep);
    h.replicas_current.truncate(keep);
    for w in [&taxi, &busy, &short] {
        let found = rule.evaluate_matching_native(w, analyze);
        assert!(found.is_empty(), "{}: {found:?}", w.display_name());
    }
}

#[test]
fn the_quiet_ratio_is_a_parameter() {
    // Natively, parameters are set on the workload data; in the operator
    // they come from `rules.params.weekend-idle.quietRatio`.
    let w = workload("rds_cpu_utilization_cc0c53", 20.0, 6);
    let mut data = traces::workload_data(&w);
    assert_eq!(analyze(&data).len(), 1, "found at the default ratio");
    data.params = Some([("quietRatio".to_string(), 0.1)].into_iter().collect());
    assert!(analyze(&data).is_empty(), "a stricter ratio finds nothing");
}
