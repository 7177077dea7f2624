//! Rule parameters through the ABI (`workload.param`, since 0.1.1): a rule
//! built against 0.1.0 still loads and runs; the builtins read their
//! thresholds as parameters whose documented defaults are their own
//! constants; a parameter set on the host changes what the component finds.

use std::collections::BTreeMap;
use std::sync::Arc;

use stepscale_engine::{EngineConfig, RuleEngine};
use stepscale_operator::analysis::builtin::PARAMS;
use stepscale_operator::analysis::Analyzer;
use stepscale_tests::test_rules::component;

fn demo() -> Vec<Arc<stepscale_engine::WorkloadSnapshot>> {
    stepscale_engine::Snapshot::from_json(stepscale_operator::cli::demo::DEMO_SNAPSHOT_JSON)
        .expect("demo")
        .workloads
        .into_iter()
        .map(Arc::new)
        .collect()
}

#[test]
fn a_rule_built_against_abi_0_1_0_loads_and_runs_on_this_host() {
    assert_eq!(stepscale_engine::ABI_VERSION.to_string(), "0.1.1");
    let engine = RuleEngine::new(EngineConfig::default().with_cache_dir(None)).expect("engine");
    let rule = engine
        .load("abi-0-1-0", component("stepscale-test-rule-abi-0-1-0"))
        .expect("a 0.1.0 rule loads on a 0.1.1 host");
    assert_eq!(rule.abi_version.to_string(), "0.1.0");
    let w = &demo()[0];
    let found = engine.evaluate(&rule, w).result.expect("it runs");
    assert_eq!(
        found[0].summary,
        format!("{} CPU samples", w.history.cpu_utilization.len())
    );
}

#[test]
fn the_documented_parameter_defaults_are_the_rules_own_constants() {
    let consts: BTreeMap<(&str, &str), f64> = [
        (
            ("idle-windows", "minDays"),
            stepscale_rule_idle_windows::MIN_DAYS,
        ),
        (
            ("idle-windows", "nearZeroCpuPercent"),
            stepscale_rule_idle_windows::NEAR_ZERO_CPU_PERCENT,
        ),
        (
            ("idle-windows", "pinnedFraction"),
            stepscale_rule_idle_windows::PINNED_FRACTION,
        ),
        (
            ("idle-windows", "minIdleHours"),
            stepscale_rule_idle_windows::MIN_IDLE_HOURS as f64,
        ),
        (
            ("idle-windows", "zeroFloorCpuPercent"),
            stepscale_rule_idle_windows::ZERO_FLOOR_CPU_PERCENT,
        ),
        (
            ("over-provisioning", "minDays"),
            stepscale_rule_over_provisioning::MIN_DAYS,
        ),
        (
            ("over-provisioning", "maxTargetPercent"),
            f64::from(stepscale_rule_over_provisioning::MAX_TARGET_PERCENT),
        ),
        (
            ("over-provisioning", "minSavings"),
            stepscale_rule_over_provisioning::MIN_SAVINGS,
        ),
        (
            ("over-provisioning", "headroomFactor"),
            stepscale_rule_over_provisioning::HEADROOM_FACTOR,
        ),
        (("scale-lag", "minDays"), stepscale_rule_scale_lag::MIN_DAYS),
        (
            ("scale-lag", "minEpisodes"),
            stepscale_rule_scale_lag::MIN_EPISODES as f64,
        ),
        (
            ("thrashing", "minHours"),
            stepscale_rule_thrashing::MIN_HOURS,
        ),
        (
            ("thrashing", "minChangesPerDay"),
            stepscale_rule_thrashing::MIN_CHANGES_PER_DAY,
        ),
        (
            ("thrashing", "maxStabilizationSeconds"),
            f64::from(stepscale_rule_thrashing::MAX_STABILIZATION_SECONDS),
        ),
        (
            ("recurring-peaks", "minDays"),
            stepscale_rule_recurring_peaks::MIN_DAYS,
        ),
        (
            ("recurring-peaks", "minStrength"),
            stepscale_rule_recurring_peaks::MIN_STRENGTH,
        ),
        (
            ("recurring-peaks", "peakRatio"),
            stepscale_rule_recurring_peaks::PEAK_RATIO,
        ),
        (
            ("recurring-peaks", "minSaturatedShare"),
            stepscale_rule_recurring_peaks::MIN_SATURATED_SHARE,
        ),
    ]
    .into_iter()
    .collect();
    let documented: BTreeMap<(&str, &str), f64> =
        PARAMS.iter().map(|(r, n, d, _)| ((*r, *n), *d)).collect();
    assert_eq!(documented, consts);
}

#[test]
fn a_parameter_set_on_the_host_changes_what_the_component_finds() {
    let analyzer = || {
        Analyzer::with_builtin_rules(EngineConfig::default().with_cache_dir(None))
            .expect("engine")
            .with_forecasting(false)
    };
    let thrashing_on = |a: &Analyzer| -> Vec<String> {
        demo()
            .iter()
            .filter(|w| {
                a.evaluate(w)
                    .findings
                    .iter()
                    .any(|f| f.rule_id == "thrashing")
            })
            .map(|w| w.display_name())
            .collect()
    };
    let by_default = thrashing_on(&analyzer());
    assert!(!by_default.is_empty(), "the demo has thrashing workloads");
    // The first one's direction changes a day (evidence, rounded to 0.1):
    // with the threshold just below it is still reported, just above not.
    let a = analyzer();
    let w = demo()
        .into_iter()
        .find(|w| w.display_name() == by_default[0])
        .expect("workload");
    let per_day = a
        .evaluate(&w)
        .findings
        .iter()
        .find(|f| f.rule_id == "thrashing")
        .and_then(|f| {
            f.evidence
                .iter()
                .find(|e| e.unit.contains("/day") || e.label.contains("per day"))
                .map(|e| e.value)
        })
        .expect("the finding states its changes per day");
    let with = |threshold: f64| {
        let p = BTreeMap::from([(
            "thrashing".to_string(),
            BTreeMap::from([("minChangesPerDay".to_string(), threshold)]),
        )]);
        let a = analyzer().with_params(p);
        a.evaluate(&w)
            .findings
            .iter()
            .any(|f| f.rule_id == "thrashing")
    };
    assert!(
        with((per_day - 0.5).max(1.0)),
        "below {per_day} changes/day"
    );
    assert!(!with(per_day + 0.5), "above {per_day} changes/day");
}
