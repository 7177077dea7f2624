//! Runs the shared conformance file through `run_file` and checks that every case was
//! evaluated and none failed. The case count is taken from the JSON independently of
//! the runner.

use std::path::PathBuf;

use stepscale_hpa::conformance::run_file;

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
    let report = stepscale_hpa::conformance::run_value(&doc).expect("valid subset");
    assert_eq!(report.summary(), "1 passed, 1 failed");
    assert!(
        report.lines()[1].starts_with("FAIL convert_desired_replicas_with_rules_legacy/"),
        "{:?}",
        report.lines()
    );

    // A wrong field type names section, case and field.
    let bad = serde_json::json!({"scaling_with_rules": [{"name": "x", "current_replicas": "five", "prenormalized_desired_replicas": 3, "min_replicas": 1, "max_replicas": 5}]});
    let err = stepscale_hpa::conformance::run_value(&bad).expect_err("ill-typed field");
    let msg = err.to_string();
    assert!(
        msg.contains("scaling_with_rules")
            && msg.contains("#0 x")
            && msg.contains("current_replicas"),
        "{msg}"
    );

    // Unknown sections are rejected.
    assert!(stepscale_hpa::conformance::run_value(&serde_json::json!({"mystery": []})).is_err());
}

#[test]
fn missing_file_is_an_error() {
    assert!(run_file("/nonexistent/hpa_conformance_cases.json").is_err());
}
