//! The `stepscale-hpa-conformance` binary as a user runs it: its exit status
//! and what it prints for the shared file, a failing case, a malformed file
//! and `--structured`.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepscale-hpa-conformance"));
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run stepscale-hpa-conformance");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait")
}

fn shared_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/hpa/hpa_conformance_cases.json")
}

#[test]
fn the_shared_file_passes_every_case_with_exit_status_zero() {
    let file = shared_file();
    let out = run(&[file.to_str().expect("utf-8 path")], None);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = text.lines().last().expect("a summary line");
    assert!(last.contains(" passed, 0 failed"), "summary: {last}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("readable")).expect("json");
    let passed: usize = last
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("N passed");
    let skipped = text.lines().filter(|l| l.starts_with("SKIP ")).count();
    // Every case of the file is reported: count list entries of every case
    // section independently of the command.
    let cases: usize = doc
        .as_object()
        .expect("object")
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "provenance" | "constants" | "formula_notes"))
        .map(|(_, v)| match v {
            serde_json::Value::Array(a) => a.len(),
            serde_json::Value::Object(o) => {
                o.values().filter_map(|x| x.as_array()).map(Vec::len).sum()
            }
            _ => 0,
        })
        .sum();
    assert_eq!(
        passed + skipped,
        cases,
        "every case must be evaluated or reported skipped"
    );
}

#[test]
fn a_failing_case_is_named_with_exit_status_one() {
    // A real case with its expected replica count moved up by 3: the model
    // must disagree with it.
    let file = shared_file();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("readable")).expect("json");
    let mut case = doc["replica_calculator_cases"]
        .as_array()
        .expect("section")
        .iter()
        .find(|c| c["expected_replicas"].is_number())
        .expect("a case with expected replicas")
        .clone();
    let right = case["expected_replicas"].as_i64().expect("number");
    case["expected_replicas"] = serde_json::json!(right + 3);
    let subset = serde_json::json!({ "replica_calculator_cases": [case] });
    let out = run(&["-"], Some(&subset.to_string()));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("FAIL replica_calculator_cases/")
            && text.contains(&format!("expected replicas={}", right + 3)),
        "{text}"
    );
    assert!(text.trim_end().ends_with("0 passed, 1 failed"), "{text}");
}

#[test]
fn a_case_past_the_models_limits_is_an_error_line_and_exit_status_one() {
    // The replica count that once made the runner allocate per replica.
    let doc = r#"{"replica_calculator_cases": [{"name": "huge",
        "current_replicas": 2147483647, "expected_replicas": 1,
        "resource": {"name": "cpu", "target_utilization": 50,
                     "levels": [10], "requests": [1000]}}]}"#;
    let out = run(&["-"], Some(doc));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ERROR ") && l.contains("huge") && l.contains("limit")),
        "{stdout}"
    );
}

#[test]
fn a_malformed_file_is_exit_status_two_with_the_reason() {
    let out = run(&["-"], Some("{ not json"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not valid JSON"), "{stderr}");
}

#[test]
fn an_endless_input_stops_at_its_size_limit() {
    let out = run(&["/dev/zero"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("limit of 16777216 bytes"),
        "{stderr}"
    );
}

#[test]
fn the_conformance_runner_reports_an_unreadable_case_and_goes_on() {
    let doc = json!({
        "scaling_with_rules": [
            {"name": "words the runner does not know", "current_replicas": "five",
             "prenormalized_desired_replicas": 3, "min_replicas": 1, "max_replicas": 5}
        ],
        "convert_desired_replicas_with_rules_legacy": [
            {"current": 5, "desired": 7, "min": 3, "max": 8, "expected": 7, "condition": "DesiredWithinRange"}
        ],
        "no_such_section": []
    });
    let out = run(&["-"], Some(&doc.to_string()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.lines().any(|l| l
            .starts_with("ERROR scaling_with_rules/words the runner does not know#0: ")
            && l.contains("current_replicas")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("ERROR no_such_section: ")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("PASS convert_desired_replicas_with_rules_legacy/")),
        "{text}"
    );
    assert!(text.contains("1 passed, 0 failed, 2 errors"), "{text}");
}

#[test]
fn the_conformance_converter_writes_structured_fields_the_runner_passes_on() {
    let doc = json!({
        "keda_cron_scaler": {
            "activity_cases": [
                {"metadata_ref": "Thu 00:00-23:59 UTC, desiredReplicas 10", "at": "any Thursday (UTC)",
                 "expected_active": true, "expected_metric": 10}
            ],
            "metric_name_cases": [["s0-cron-Etc-UTC-00xxThu-5923xxThu", "trigger 0, Thu window"]]
        }
    });
    let out = run(&["-", "--structured"], Some(&doc.to_string()));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut converted: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let activity = &mut converted["keda_cron_scaler"]["activity_cases"][0];
    assert_eq!(activity["metadata"]["start"], json!("0 0 * * Thu"));
    assert_eq!(
        activity["at_unix_seconds"].as_array().map(Vec::len),
        Some(4 * 48)
    );
    // The words are no longer needed: drop them and run the structured form.
    activity
        .as_object_mut()
        .expect("object")
        .remove("metadata_ref");
    activity.as_object_mut().expect("object").remove("at");
    let name_case = &converted["keda_cron_scaler"]["metric_name_cases"][0];
    assert_eq!(name_case["trigger_index"], json!(0));
    let out = run(&["-"], Some(&converted.to_string()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("2 passed, 0 failed"), "{text}");
}
