//! Runs the shared conformance file through `run_file` and checks that every case was
//! evaluated and none failed. The case count is taken from the JSON independently of
//! the runner.

use std::path::PathBuf;

use stepscale_hpa_conformance::run_file;

fn shared_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/hpa/hpa_conformance_cases.json")
}

/// Counts cases as the file's own structure lays them out.
fn count_cases(doc: &serde_json::Value) -> usize {
    let mut n = 0;
    for (key, v) in doc.as_object().expect("the shared file is a JSON object") {
        if matches!(key.as_str(), "provenance" | "constants" | "formula_notes") {
            continue;
        }
        match v {
            serde_json::Value::Array(a) => n += a.len(),
            serde_json::Value::Object(o) => {
                for (k, sub) in o {
                    if k == "cases" || k.ends_with("_cases") {
                        n += sub.as_array().map_or(0, Vec::len);
                    }
                }
            }
            _ => {}
        }
    }
    n
}

#[test]
fn shared_conformance_file_passes() {
    let path = shared_file();
    assert!(
        path.exists(),
        "conformance file not found at {} (expected ../../shared/data/hpa/ relative to the crate)",
        path.display()
    );
    let text = std::fs::read_to_string(&path).expect("conformance file is readable");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("conformance file is JSON");
    let expected_cases = count_cases(&doc);
    let report = run_file(&path).expect("conformance file evaluates");
    for line in report.lines() {
        println!("{line}");
    }
    assert_eq!(
        report.total(),
        expected_cases,
        "every case in the file must be evaluated or reported as skipped"
    );
    assert_eq!(
        report.failed(),
        0,
        "failing cases:\n{}",
        report
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("FAIL"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(report.all_passed());
}

#[test]
fn subset_and_errors() {
    // A subset with one section evaluates only that section.
    let doc = serde_json::json!({
        "convert_desired_replicas_with_rules_legacy": [
            {"current": 5, "desired": 7, "min": 3, "max": 8, "expected": 7, "condition": "DesiredWithinRange"},
            {"current": 5, "desired": 7, "min": 3, "max": 8, "expected": 6}
        ]
    });
    let report = stepscale_hpa_conformance::run_value(&doc).expect("valid subset");
    assert_eq!(report.summary(), "1 passed, 1 failed");
    assert!(
        report.lines()[1].starts_with("FAIL convert_desired_replicas_with_rules_legacy/"),
        "{:?}",
        report.lines()
    );

    // A wrong field type is an ERROR naming section, case and field; the
    // case after it is still evaluated.
    let bad = serde_json::json!({"scaling_with_rules": [
        {"name": "x", "current_replicas": "five", "prenormalized_desired_replicas": 3, "min_replicas": 1, "max_replicas": 5},
    ], "convert_desired_replicas_with_rules_legacy": [
        {"current": 5, "desired": 7, "min": 3, "max": 8, "expected": 7, "condition": "DesiredWithinRange"}
    ]});
    let report = stepscale_hpa_conformance::run_value(&bad).expect("a document of sections");
    let lines = report.lines();
    let error = lines
        .iter()
        .find(|l| l.starts_with("ERROR scaling_with_rules/x#0: "))
        .unwrap_or_else(|| panic!("no ERROR line: {lines:?}"));
    assert!(error.contains("current_replicas"), "{error}");
    assert_eq!(report.passed(), 1, "{lines:?}");
    assert!(!report.all_passed());
    assert_eq!(report.summary(), "1 passed, 0 failed, 1 errors");

    // An unknown section is an ERROR for that section; the others run.
    let doc = serde_json::json!({"mystery": [], "convert_desired_replicas_with_rules_legacy": [
        {"current": 5, "desired": 7, "min": 3, "max": 8, "expected": 7, "condition": "DesiredWithinRange"}
    ]});
    let report = stepscale_hpa_conformance::run_value(&doc).expect("a document of sections");
    assert_eq!(
        (report.passed(), report.errors()),
        (1, 1),
        "{:?}",
        report.lines()
    );
    assert!(
        report
            .lines()
            .iter()
            .any(|l| l.starts_with("ERROR mystery: unknown section")),
        "{:?}",
        report.lines()
    );
}

#[test]
fn extreme_values_are_evaluated_without_panicking() {
    // Upstream case 2 of replica_calculator_cases with requests and usage at
    // the ends of i64: the runner used to panic on a division overflow.
    for (request, usage) in [
        (-9.2e15, i64::MIN),
        (-1.0, i64::MIN),
        (9.2e15, i64::MAX),
        (0.0, 0),
        (-9.2e15, -1),
    ] {
        let doc = serde_json::json!({"replica_calculator_cases": [
            {"test": "hostile", "current_replicas": 3, "expected_replicas": 4,
             "pod_start": ["hot", "cool", "cool"], "metric": "resource_cpu_utilization",
             "target_utilization_pct": 30, "pod_cpu_request_cores_per_container": [request, 1.0, 1.0],
             "usage_millicores_per_container": [[usage, usage], [0, 500], [usage, 700]],
             "containers_per_pod": 2},
            {"test": "TestReplicaCalcScaleUpContainerHotCpuLessScale", "current_replicas": 3, "expected_replicas": 4,
             "pod_start": ["hot", "cool", "cool"], "metric": "resource_cpu_utilization",
             "target_utilization_pct": 30, "pod_cpu_request_cores_per_container": [1.0, 1.0, 1.0],
             "usage_millicores_per_container": [[0, 300], [0, 500], [0, 700]], "containers_per_pod": 2,
             "container": "container2", "expected_utilization_pct": 60, "expected_raw_value_milli": 600}
        ]});
        let report = stepscale_hpa_conformance::run_value(&doc).expect("a document of sections");
        assert_eq!(report.total(), 2, "{:?}", report.lines());
        assert_eq!(
            report.results[1].outcome,
            stepscale_hpa_conformance::Outcome::Pass,
            "{:?}",
            report.lines()
        );
    }
}

/// A request so large that it overflows once multiplied by the containers,
/// and a container count out of range, are errors of their case (found by
/// the `conformance` fuzz target: the multiplication used to overflow).
#[test]
fn a_request_or_container_count_out_of_range_is_an_error_of_its_case() {
    for (request, containers, field) in [
        (1.8e130, 2, "pod_cpu_request_cores_per_container"),
        (1.0, 1_000_000_000_000_000_000_i64, "containers_per_pod"),
        (1.0, 0, "containers_per_pod"),
    ] {
        let doc = serde_json::json!({"replica_calculator_cases": [
            {"test": "hostile", "current_replicas": 3, "expected_replicas": null,
             "expected_error": "no metrics returned matched known pods",
             "metric": "resource_cpu_utilization", "target_utilization_pct": 100,
             "pod_cpu_request_cores_per_container": [request],
             "usage_millicores_per_container": [[1, 0, 100]],
             "containers_per_pod": containers}
        ]});
        let report = stepscale_hpa_conformance::run_value(&doc).expect("a document of sections");
        assert_eq!(report.errors(), 1, "{:?}", report.lines());
        let line = report.lines().join("\n");
        assert!(line.contains(field), "{line}");
    }
}

/// Replica counts past the model's limit (150,000) are errors of their
/// case, named, without a pod per replica: `current_replicas` at i32::MAX
/// used to allocate 4 GiB and abort the runner.
#[test]
fn a_replica_count_past_the_models_limit_is_an_error_of_its_case() {
    for (section, case) in [
        (
            "replica_calculator_cases",
            serde_json::json!({"test": "huge", "current_replicas": i32::MAX, "expected_replicas": 4,
             "metric": "resource_cpu_utilization", "target_utilization_pct": 30,
             "pod_cpu_request_cores_per_container": [1.0], "usage_millicores_per_container": [[0, 300]],
             "containers_per_pod": 1}),
        ),
        (
            "controller_cases",
            serde_json::json!({"test": "huge", "min_replicas": 1, "max_replicas": 5, "spec_replicas": 3,
             "status_replicas": 150_001, "metric": "resource_cpu_utilization",
             "target_utilization_pct": 30, "expected_replicas": 3}),
        ),
    ] {
        let doc = serde_json::json!({ section: [case] });
        let report = stepscale_hpa_conformance::run_value(&doc).expect("a document of sections");
        assert_eq!(report.errors(), 1, "{:?}", report.lines());
        let line = report.lines().join("\n");
        assert!(
            line.starts_with("ERROR") && line.contains("over the model's limit of 150000"),
            "{line}"
        );
    }
}

#[test]
fn missing_file_is_an_error() {
    assert!(run_file("/nonexistent/hpa_conformance_cases.json").is_err());
}

/// The shared file converted to structured fields, kept in the repository.
fn structured_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/hpa_conformance_cases.structured.json")
}

#[test]
fn the_committed_structured_file_is_the_shared_file_converted() {
    let text = std::fs::read_to_string(shared_file()).expect("shared conformance file");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let converted = stepscale_hpa_conformance::structured(&doc).expect("every case converts");
    let want = serde_json::to_string_pretty(&converted).expect("serializes") + "\n";
    let path = structured_file();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != want {
        // Regenerate it, and fail so that the change is seen and committed.
        std::fs::write(&path, &want).expect("write the structured file");
        panic!(
            "{} was stale and has been regenerated from the shared file; commit it",
            path.display()
        );
    }
}

/// Remove the word fields that have a structured replacement.
fn strip_words(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            if o.contains_key("failing_metrics") {
                o.remove("note");
            }
            if o.contains_key("at_unix_seconds") {
                o.remove("at");
            }
            if o.contains_key("metadata") {
                o.remove("metadata_ref");
            }
            o.remove("description");
            for (_, child) in o.iter_mut() {
                strip_words(child);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_words),
        _ => {}
    }
}

#[test]
fn the_structured_file_passes_on_its_structured_fields_alone() {
    let text = std::fs::read_to_string(structured_file()).expect("structured file");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let expected_cases = count_cases(&doc);
    strip_words(&mut doc);
    let report = stepscale_hpa_conformance::run_value(&doc).expect("a document of sections");
    let bad: Vec<String> = report
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("FAIL") || l.starts_with("ERROR"))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(report.total(), expected_cases);
    assert!(report.passed() > 0);
}

#[test]
fn the_schema_documents_every_section_and_structured_field() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/conformance-cases.schema.json");
    let text = std::fs::read_to_string(&path).expect("the schema is committed");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    let props = schema["properties"]
        .as_object()
        .expect("top-level properties");
    for section in stepscale_hpa_conformance::SECTIONS {
        assert!(
            props.contains_key(section),
            "section {section} is not documented"
        );
    }
    for field in [
        "failing_metrics",
        "at_unix_seconds",
        "min_replicas",
        "max_replicas",
        "expected_name",
        "trigger_index",
        "metadata",
    ] {
        assert!(
            text.contains(&format!("\"{field}\"")),
            "{field} is not documented"
        );
    }
}
