//! Containment through the operator's admission path, with real components
//! built during the test run (tests/data/rules/, examples/weekend-idle) and
//! real signatures: every hostile rule ConfigMap is rejected before a byte
//! of it runs, or admitted and then stopped when it misbehaves — each with a
//! message that says what to do — and never affects the other rules.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use k8s_openapi::api::core::v1::ConfigMap;
use stepscale_engine::snapshot::WorkloadSnapshot;
use stepscale_engine::EngineConfig;
use stepscale_operator::analysis::{Analyzer, RuleSource};
use stepscale_operator::rules::admission::{AdmissionPolicy, REJECTION_REASONS};
use stepscale_operator::rules::configmap::{manifest, DEFAULT_SELECTOR};
use stepscale_operator::rules::loader::{Decision, RuleLoader};
use stepscale_operator::rules::signing::{self, SignedRule};
use stepscale_tests::test_rules;

/// The ABI version of components built with the SDK in this workspace.
fn abi() -> String {
    stepscale_engine::ABI_VERSION.to_string()
}

const DEADLINE: Duration = Duration::from_millis(300);
const MEMORY_CAP: usize = 32 << 20;

fn component(name: &str) -> Vec<u8> {
    test_rules::component(name).to_vec()
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// What `stepscale rules sign` would write for a rule with these metadata.
fn envelope(bytes: &[u8], id: &str, version: &str, abi: &str, key: &SigningKey) -> Vec<u8> {
    let meta = SignedRule::describing(id, version, "detector", abi);
    signing::sign(bytes, &meta, key, "2026-12-01T00:00:00Z").into_bytes()
}

fn configmap(name: &str, bytes: &[u8], envelope: &[u8]) -> ConfigMap {
    // Annotations only; the operator reads the signed payload.
    let label = SignedRule::describing(name, "0.0.0", "detector", "0.1.0");
    let mut cm = manifest(name, "rules", DEFAULT_SELECTOR, &[], envelope, &label).expect("fits");
    // The component goes in as given, even when a manifest would refuse it.
    cm.binary_data = Some(BTreeMap::from([(
        "rule.wasm".to_string(),
        k8s_openapi::ByteString(bytes.to_vec()),
    )]));
    cm.metadata.resource_version = Some(name.to_string());
    cm
}

fn analyzer() -> Analyzer {
    Analyzer::with_builtin_rules(
        EngineConfig::default()
            .with_deadline(DEADLINE)
            .with_memory_limit(MEMORY_CAP)
            .with_cache_dir(None),
    )
    .expect("engine")
    .with_forecasting(false)
}

/// The demo's first workload.
fn workload() -> Arc<WorkloadSnapshot> {
    let snapshot =
        stepscale_engine::Snapshot::from_json(stepscale_operator::cli::demo::DEMO_SNAPSHOT_JSON)
            .expect("demo");
    Arc::new(snapshot.workloads.into_iter().next().expect("a workload"))
}

#[test]
fn hostile_rule_configmaps_are_rejected_before_running_with_a_fix() {
    let analyzer = analyzer();
    let trusted = key(1);
    let stranger = key(2);
    let loader = RuleLoader::new(AdmissionPolicy {
        trusted: vec![trusted.verifying_key()],
        replace_builtins: Default::default(),
    });
    let good = component("weekend-idle");
    let good_env = envelope(&good, "weekend-idle", "0.1.0", &abi(), &trusted);
    let mut tampered = good.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    let edited_env = {
        let mut v: serde_json::Value = serde_json::from_slice(&good_env).expect("json");
        // One character of the signature changed: still 64 bytes of base64.
        let mut sig: Vec<char> = v["signature"]
            .as_str()
            .expect("signature")
            .chars()
            .collect();
        sig[10] = if sig[10] == 'A' { 'B' } else { 'A' };
        v["signature"] = sig.into_iter().collect::<String>().into();
        v.to_string().into_bytes()
    };
    let oversize = vec![0u8; signing::MAX_COMPONENT_BYTES + 1];
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let garbage = b"#!/bin/sh\nrm -rf /\n".to_vec();
    let wrong_abi = component("stepscale-test-rule-wrong-abi-version");
    let wrong_sig = component("stepscale-test-rule-wrong-signature");
    let unknown = component("stepscale-test-rule-unknown-import");
    let thrashing = stepscale_operator::analysis::builtin::COMPONENTS
        .iter()
        .find(|(n, _)| *n == "stepscale-rule-thrashing")
        .map(|(_, b)| b.to_vec())
        .expect("builtin");

    // (ConfigMap, expected reason, a phrase of the fix).
    let mut unsigned = configmap("unsigned", &good, &good_env);
    unsigned.data = None;
    let cases: Vec<(ConfigMap, &str, &str)> = vec![
        (unsigned, "malformed-configmap", "stepscale rules sign"),
        (
            configmap(
                "untrusted",
                &good,
                &envelope(&good, "weekend-idle", "0.1.0", &abi(), &stranger),
            ),
            "untrusted-signer",
            "add its public key",
        ),
        (
            configmap("tampered-bytes", &tampered, &good_env),
            "digest-mismatch",
            "re-sign",
        ),
        (
            configmap("tampered-envelope", &good, &edited_env),
            "bad-signature",
            "re-sign",
        ),
        (
            configmap(
                "tampered-metadata",
                &good,
                &envelope(&good, "weekend-idle", "9.9.9", &abi(), &trusted),
            ),
            "metadata-mismatch",
            "re-sign",
        ),
        (
            configmap(
                "wrong-abi",
                &wrong_abi,
                &envelope(&wrong_abi, "wrong-abi-version", "0.0.0", "0.2.0", &trusted),
            ),
            "abi-version",
            "rebuild it",
        ),
        (
            configmap(
                "oversize",
                &oversize,
                &envelope(&oversize, "big", "0.1.0", "0.1.0", &trusted),
            ),
            "too-large",
            "opt-level",
        ),
        (
            configmap(
                "not-a-component",
                &garbage,
                &envelope(&garbage, "x", "0.1.0", "0.1.0", &trusted),
            ),
            "not-a-component",
            "not a valid WebAssembly component",
        ),
        (
            configmap(
                "core-module",
                &core_module,
                &envelope(&core_module, "x", "0.1.0", "0.1.0", &trusted),
            ),
            "not-a-component",
            "not a valid WebAssembly component",
        ),
        (
            configmap(
                "wrong-signature",
                &wrong_sig,
                &envelope(&wrong_sig, "wrong-signature", "0.0.0", "0.1.0", &trusted),
            ),
            "link",
            "rebuild it",
        ),
        (
            configmap(
                "unknown-import",
                &unknown,
                &envelope(&unknown, "unknown-import", "0.0.0", "0.1.0", &trusted),
            ),
            "unknown-import",
            "rebuild it",
        ),
        (
            configmap(
                "builtin-id",
                &thrashing,
                &envelope(&thrashing, "thrashing", "0.1.0", &abi(), &trusted),
            ),
            "replaces-builtin",
            "replaceBuiltins",
        ),
    ];
    let mut all: Vec<ConfigMap> = cases.iter().map(|(cm, _, _)| cm.clone()).collect();
    all.push(configmap("good", &good, &good_env));
    let before = analyzer.rules().len();
    let decisions = loader.sync(&analyzer, &all);
    let mut seen = Vec::new();
    for d in &decisions {
        match d {
            Decision::Rejected {
                configmap,
                rejection,
                kept,
            } => {
                let (_, want, fix) = cases
                    .iter()
                    .find(|(cm, _, _)| cm.metadata.name.as_deref() == Some(configmap.1.as_str()))
                    .unwrap_or_else(|| panic!("{configmap:?} rejected: {rejection}"));
                assert_eq!(rejection.reason(), *want, "{}: {rejection}", configmap.1);
                assert!(REJECTION_REASONS.contains(&rejection.reason()));
                let text = rejection.to_string();
                assert!(
                    text.contains(fix),
                    "{}: no fix {fix:?} in: {text}",
                    configmap.1
                );
                assert!(kept.is_none());
                seen.push(configmap.1.clone());
            }
            Decision::Admitted { configmap, .. } => assert_eq!(configmap.1, "good"),
            Decision::Unloaded { .. } => panic!("nothing was loaded before"),
        }
    }
    assert_eq!(
        seen.len(),
        cases.len(),
        "every hostile case rejected: {seen:?}"
    );
    // Only the good rule joined the builtins, and it runs.
    let rules = analyzer.rules();
    assert_eq!(rules.len(), before + 1);
    assert!(rules.iter().any(|r| r.rule.id == "weekend-idle"
        && r.source
            == RuleSource::ConfigMap {
                namespace: "rules".into(),
                name: "good".into()
            }));
    let found = analyzer.evaluate(&workload());
    assert!(found.failures.is_empty(), "{:?}", found.failures);
}

#[test]
fn admitted_rules_that_misbehave_are_stopped_and_the_others_keep_reporting() {
    let analyzer = analyzer();
    let trusted = key(1);
    let loader = RuleLoader::new(AdmissionPolicy {
        trusted: vec![trusted.verifying_key()],
        replace_builtins: Default::default(),
    });
    // (package, rule id, the failure label it must get).
    let hostile = [
        (
            "stepscale-test-rule-spin-forever",
            "spin-forever",
            "timed-out",
        ),
        (
            "stepscale-test-rule-allocate-forever",
            "allocate-forever",
            "out-of-memory",
        ),
        ("stepscale-test-rule-panic-trap", "panic-trap", "trapped"),
        (
            "stepscale-test-rule-invalid-output",
            "invalid-output",
            "invalid-output",
        ),
        // Reaches for WASI files, env and clock: the host grants none, so
        // the call traps instead of leaking anything.
        (
            "stepscale-test-rule-reach-outside",
            "reach-outside",
            "trapped",
        ),
    ];
    let mut cms: Vec<ConfigMap> = hostile
        .iter()
        .map(|(package, id, _)| {
            let bytes = component(package);
            configmap(id, &bytes, &envelope(&bytes, id, "0.0.0", &abi(), &trusted))
        })
        .collect();
    let good = component("weekend-idle");
    cms.push(configmap(
        "weekend-idle",
        &good,
        &envelope(&good, "weekend-idle", "0.1.0", &abi(), &trusted),
    ));
    let decisions = loader.sync(&analyzer, &cms);
    assert!(
        decisions
            .iter()
            .all(|d| matches!(d, Decision::Admitted { .. })),
        "{decisions:?}"
    );
    let w = workload();
    // The builtins alone, for comparison.
    let baseline = self::analyzer().evaluate(&w);
    let found = analyzer.evaluate(&w);
    let failures: BTreeMap<&str, &str> = found
        .failures
        .iter()
        .map(|(id, f)| (id.as_str(), f.label()))
        .collect();
    for (_, id, label) in hostile {
        assert_eq!(failures.get(id), Some(&label), "{id}: {failures:?}");
    }
    assert_eq!(failures.len(), hostile.len(), "{failures:?}");
    for (id, f) in &found.failures {
        assert!(
            !f.to_string().is_empty(),
            "{id}: a failure says what happened"
        );
    }
    // Every builtin finding is still there, and nothing of the hostile rules.
    let builtin: Vec<_> = found
        .findings
        .iter()
        .filter(|f| f.rule_source.as_deref() == Some("builtin"))
        .cloned()
        .map(|mut f| {
            f.rule_source = None;
            f.rule_version = None;
            f
        })
        .collect();
    let expected: Vec<_> = baseline
        .findings
        .iter()
        .cloned()
        .map(|mut f| {
            f.rule_source = None;
            f.rule_version = None;
            f
        })
        .collect();
    assert_eq!(builtin, expected);
    assert!(found
        .findings
        .iter()
        .all(|f| !hostile.iter().any(|(_, id, _)| f.rule_id == *id)));
}
