//! A rule that loops, allocates without bound, traps, reaches for WASI
//! capabilities, or was built against a wrong interface is stopped and
//! reported, while the other rules' findings still come back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stepscale_engine::snapshot::{AutoscalingConfig, WorkloadSnapshot};
use stepscale_engine::{EngineConfig, LoadError, RuleEngine, RuleFailure};
use stepscale_tests::test_rules::component;
use stepscale_tests::workload;

const DEADLINE: Duration = Duration::from_millis(300);
const MEMORY_CAP: usize = 32 << 20;

fn engine() -> RuleEngine {
    RuleEngine::new(
        EngineConfig::default()
            .with_deadline(DEADLINE)
            .with_memory_limit(MEMORY_CAP)
            .with_cache_dir(None),
    )
    .expect("engine starts")
}

/// Two days at 5-minute steps of a daily cycle: 10 % at night, 70 % at noon,
/// on 4 replicas with a 60 % CPU target.
fn daily_cycle_workload() -> Arc<WorkloadSnapshot> {
    let n = 2 * 288;
    let cpu: Vec<f64> = (0..n)
        .map(|i| {
            let hour = (i % 288) as f64 / 12.0;
            40.0 - 30.0 * (2.0 * std::f64::consts::PI * hour / 24.0).cos()
        })
        .collect();
    let config = AutoscalingConfig {
        min_replicas: 4,
        max_replicas: 20,
        cpu_target_percent: Some(60),
        ..AutoscalingConfig::default()
    };
    Arc::new(workload::hpa(
        config,
        Some(256 << 20),
        1_700_000_000,
        300,
        cpu,
        4.0,
    ))
}

#[test]
fn a_rule_that_loops_forever_is_stopped_at_its_deadline() {
    let engine = engine();
    let rule = engine
        .load(
            "spin-forever",
            component("stepscale-test-rule-spin-forever"),
        )
        .expect("loads");
    let started = Instant::now();
    let run = engine.evaluate(&rule, &daily_cycle_workload());
    let took = started.elapsed();
    assert_eq!(
        run.result,
        Err(RuleFailure::TimedOut {
            deadline_ms: DEADLINE.as_millis() as u64
        }),
        "took {took:?}"
    );
}

#[test]
fn a_rule_that_allocates_without_bound_is_stopped_at_the_memory_cap() {
    let engine = engine();
    let rule = engine
        .load(
            "allocate-forever",
            component("stepscale-test-rule-allocate-forever"),
        )
        .expect("loads");
    let run = engine.evaluate(&rule, &daily_cycle_workload());
    assert_eq!(
        run.result,
        Err(RuleFailure::OutOfMemory {
            limit_bytes: MEMORY_CAP as u64
        })
    );
}

#[test]
fn a_rule_that_panics_is_reported_with_its_panic_message() {
    let engine = engine();
    let rule = engine
        .load("panic-trap", component("stepscale-test-rule-panic-trap"))
        .expect("loads");
    let run = engine.evaluate(&rule, &daily_cycle_workload());
    match run.result {
        Err(RuleFailure::Trapped { message }) => assert!(
            message.contains("deliberate panic from the panic-trap test rule"),
            "trap message lacks the panic text: {message}"
        ),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_rule_returning_output_outside_the_bounds_is_dropped_and_reported() {
    let engine = engine();
    let rule = engine
        .load(
            "invalid-output",
            component("stepscale-test-rule-invalid-output"),
        )
        .expect("loads");
    let run = engine.evaluate(&rule, &daily_cycle_workload());
    match run.result {
        Err(RuleFailure::InvalidOutput { message }) => {
            assert!(message.contains("confidence is 2"), "{message}");
        }
        other => panic!("expected invalid output, got {other:?}"),
    }
    // The engine goes on: another rule on the same engine still runs.
    let other = engine
        .load("panic-trap", component("stepscale-test-rule-panic-trap"))
        .expect("loads");
    assert!(matches!(
        engine.evaluate(&other, &daily_cycle_workload()).result,
        Err(RuleFailure::Trapped { .. })
    ));
}

#[test]
fn a_rule_gets_no_files_environment_or_clock() {
    let engine = engine();
    let rule = engine
        .load(
            "reach-outside",
            component("stepscale-test-rule-reach-outside"),
        )
        .expect("loads");
    let run = engine.evaluate(&rule, &daily_cycle_workload());
    assert!(
        matches!(run.result, Err(RuleFailure::Trapped { .. })),
        "a WASI call must trap, got {:?}",
        run.result
    );
}

#[test]
fn a_rule_built_for_another_abi_series_is_rejected_with_both_versions() {
    let engine = engine();
    let err = engine
        .load(
            "wrong-abi-version.wasm",
            component("stepscale-test-rule-wrong-abi-version"),
        )
        .expect_err("must not load");
    assert!(matches!(err, LoadError::Abi { .. }), "{err:?}");
    let message = err.to_string();
    for needle in [
        "wrong-abi-version.wasm",
        "stepscale:rules@0.2.0",
        "0.1.x",
        "rebuild",
    ] {
        assert!(
            message.contains(needle),
            "message {message:?} lacks {needle:?}"
        );
    }
}

#[test]
fn a_rule_with_mismatched_signatures_is_rejected_at_load() {
    let engine = engine();
    let err = engine
        .load(
            "wrong-signature.wasm",
            component("stepscale-test-rule-wrong-signature"),
        )
        .expect_err("must not load");
    assert!(matches!(err, LoadError::Link { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("does not match the stepscale:rules@0.1.1 interface"),
        "{err}"
    );
}

#[test]
fn bytes_that_are_not_a_component_are_rejected() {
    let engine = engine();
    let err = engine
        .load("garbage", b"not wasm at all")
        .expect_err("must not load");
    assert!(matches!(err, LoadError::Compile { .. }), "{err:?}");
}

#[test]
fn hostile_rules_do_not_stop_the_builtin_rules_from_reporting() {
    let engine = engine();
    let workload = daily_cycle_workload();
    let hostile: Vec<_> = [
        "stepscale-test-rule-spin-forever",
        "stepscale-test-rule-allocate-forever",
        "stepscale-test-rule-panic-trap",
    ]
    .iter()
    .map(|n| engine.load(n, component(n)).expect("hostile rules load"))
    .collect();
    let builtins: Vec<_> = stepscale_operator::analysis::builtin::load_all(&engine)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("builtin rules load");
    assert!(!builtins.is_empty());
    // Interleave: hostile, builtin, hostile, builtin, ... twice over.
    for _ in 0..2 {
        for h in &hostile {
            assert!(engine.evaluate(h, &workload).result.is_err());
            for b in &builtins {
                let ok = match b.kind {
                    stepscale_engine::RuleKind::Detector => {
                        engine.evaluate(b, &workload).result.map(|_| ())
                    }
                    stepscale_engine::RuleKind::Forecaster => {
                        engine.predict(b, &workload, 288).result.map(|_| ())
                    }
                };
                assert_eq!(ok, Ok(()), "builtin {} failed after {}", b.id, h.id);
            }
        }
    }
}
