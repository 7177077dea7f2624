//! Hostile and careless input to every CLI input path: each case from the
//! issue "Hostile input" answers with exit 2, nothing on stdout and one
//! message naming the field or line and the fix — or, where the input is
//! legal, completes without stalling. The limits are in
//! `stepscale_hpa::limits` and the README's "Input limits".

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn stepscale(args: &[&str]) -> Output {
    let cache = std::env::temp_dir().join(format!(
        "stepscale-hostile-test-cache-{}",
        std::process::id()
    ));
    Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(args)
        .env("STEPSCALE_CACHE_DIR", cache)
        .stdin(Stdio::null())
        .output()
        .expect("the stepscale binary runs")
}

/// A file of its own for every call (tests run in parallel).
fn temp_file(name: &str, text: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("stepscale-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(format!("{n}-{name}"));
    std::fs::write(&p, text).expect("temp file");
    p
}

/// Exit 2, empty stdout, a short stderr containing every needle.
fn refused(out: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "bad input must exit 2: {err}");
    assert!(
        out.stdout.is_empty(),
        "nothing may be printed on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        err.len() < 2000,
        "one short message, not {} bytes",
        err.len()
    );
    assert!(
        !err.contains('\u{1b}'),
        "raw escape sequence in the message: {err:?}"
    );
    for n in needles {
        assert!(err.contains(n), "error {err:?} lacks {n:?}");
    }
    err
}

/// A valid one-workload snapshot with a day of history at 5 minutes.
fn workload(ns: &str, name: &str) -> Value {
    let n: u32 = 288;
    let samples = n as usize;
    json!({
        "autoscaler": {"kind": "HorizontalPodAutoscaler", "namespace": ns, "name": name},
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "config": {"minReplicas": 2, "maxReplicas": 10, "cpuTargetPercent": 60},
        "containers": [{"name": "app", "cpuRequestMillicores": 500}],
        "history": {"startUnixSeconds": 1_700_000_000, "stepSeconds": 300,
            "cpuUtilization": (0..n).map(|i| 30.0 + f64::from(i % 48)).collect::<Vec<_>>(),
            "replicasDesired": vec![3.0; samples], "replicasCurrent": vec![3.0; samples]}
    })
}

fn snapshot(workloads: Vec<Value>) -> String {
    json!({"apiVersion": "stepscale.io/snapshot/v1", "workloads": workloads}).to_string()
}

fn analyze_snapshot(name: &str, text: &str, extra: &[&str]) -> Output {
    let path = temp_file(name, text);
    let mut args = vec!["analyze", path.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    stepscale(&args)
}

#[test]
fn a_huge_max_replicas_is_refused_with_the_field_and_the_limit() {
    for max in [2_147_483_647u64, 150_001, 4_294_967_295] {
        let mut w = workload("shop", "web");
        w["config"]["maxReplicas"] = json!(max);
        let out = analyze_snapshot("max.json", &snapshot(vec![w]), &[]);
        refused(&out, &["workloads[0].config.maxReplicas", "150000"]);
    }
}

#[test]
fn a_large_but_legal_replica_count_is_analyzed_in_the_time_of_its_history() {
    // 100000 replicas is under the limit: the replay's cost follows the
    // history, not the replica count (this used to hang or abort).
    let mut w = workload("shop", "web");
    w["config"]["minReplicas"] = json!(100_000);
    w["config"]["maxReplicas"] = json!(150_000);
    let out = analyze_snapshot("big.json", &snapshot(vec![w]), &["-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs: Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(recs.as_array().map(Vec::len), Some(1));
}

#[test]
fn endless_inputs_stop_at_their_size_limit() {
    let out = stepscale(&["analyze", "/dev/zero"]);
    refused(&out, &["/dev/zero", "limit of 268435456 bytes"]);
    let out = stepscale(&[
        "simulate",
        "--csv",
        "/dev/zero",
        "--current",
        "min=1,max=4,target=70",
        "--proposed",
        "min=2",
    ]);
    refused(&out, &["/dev/zero", "limit of 67108864 bytes"]);
}

#[test]
fn a_huge_name_is_refused_without_echoing_it() {
    let name = "a".repeat(1 << 20);
    let out = analyze_snapshot("name.json", &snapshot(vec![workload("shop", &name)]), &[]);
    refused(
        &out,
        &["workloads[0].autoscaler.name", "1048576 bytes", "253"],
    );
}

#[test]
fn names_with_control_characters_are_refused_and_never_printed_raw() {
    for (field, ns, name) in [
        ("autoscaler.name", "shop", "web\u{1b}[2J\u{1b}[31mowned"),
        ("autoscaler.namespace", "shop\nevil", "web"),
        ("autoscaler.name", "shop", "Web"),
    ] {
        let out = analyze_snapshot("ctl.json", &snapshot(vec![workload(ns, name)]), &[]);
        refused(&out, &[&format!("workloads[0].{field}"), "Kubernetes"]);
    }
    // Free text gets the same treatment.
    let mut w = workload("shop", "web");
    w["source"] = json!("trace \u{1b}]0;pwned\u{7}");
    let out = analyze_snapshot("src.json", &snapshot(vec![w]), &[]);
    refused(&out, &["workloads[0].source", "control characters"]);
}

#[test]
fn a_duplicate_workload_names_both_entries() {
    let text = snapshot(vec![
        workload("shop", "web"),
        workload("shop", "api"),
        workload("shop", "web"),
    ]);
    let out = analyze_snapshot("dup.json", &text, &["-o", "yaml"]);
    refused(
        &out,
        &[
            "workloads[2]",
            "workloads[0]",
            "shop/web",
            "give each autoscaler once",
        ],
    );
}

#[test]
fn a_byte_order_mark_is_read_past() {
    let text = format!("\u{feff}{}", snapshot(vec![workload("shop", "web")]));
    let out = analyze_snapshot("bom.json", &text, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("shop/web"));
}

#[test]
fn an_unknown_enum_value_is_quoted_escaped_and_short() {
    let mut w = workload("shop", "web");
    w["autoscaler"]["kind"] = json!(format!("\u{1b}[2J{}", "x".repeat(100_000)));
    let out = analyze_snapshot("kind.json", &snapshot(vec![w]), &[]);
    refused(&out, &["line 1 column"]);
}

#[test]
fn more_threads_than_engine_slots_still_run_every_rule() {
    // 80 workloads and 100000 requested threads: more workers than the
    // engine's 64 instance slots used to make rule calls fail with a
    // pool-limit error while the command exited 0.
    let workloads: Vec<Value> = (0..80)
        .map(|i| workload("load", &format!("web-{i}")))
        .collect();
    let out = analyze_snapshot(
        "threads.json",
        &snapshot(workloads),
        &["--threads", "100000", "-o", "json", "--no-forecast"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let recs: Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let recs = recs.as_array().expect("an array");
    assert_eq!(recs.len(), 80);
    for r in recs {
        assert_eq!(
            r["ruleFailures"].as_array().map(Vec::len).unwrap_or(0),
            0,
            "a rule failed: {}",
            r["ruleFailures"]
        );
    }
}

const CSV_OK: &str = "timestamp,value\n2014-01-01 00:00:00,50\n2014-01-01 00:05:00,50\n\
                      2014-01-01 00:10:00,60\n2014-01-01 00:15:00,50\n";

fn simulate_csv(csv: &str, extra: &[&str]) -> Output {
    let path = temp_file("series.csv", csv);
    let mut args = vec!["simulate", "--csv", path.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    stepscale(&args)
}

#[test]
fn simulate_refuses_a_series_with_a_huge_gap_or_extreme_timestamps() {
    let cfg = ["--current", "min=2,max=10,target=70", "--proposed", "min=3"];
    let gap = "timestamp,value\n2014-01-01 00:00:00,50\n2014-01-01 00:05:00,50\n\
               2014-01-01 00:10:00,60\n9999-01-01 00:00:00,50\n";
    refused(&simulate_csv(gap, &cfg), &["400 days", "gap"]);
    let extreme = "timestamp,value\n0,1\n9223372036854775807,2\n";
    refused(&simulate_csv(extreme, &cfg), &["line 3", "9999-12-31"]);
    let negative_epoch = "timestamp,value\n-9223372036854775808,1\n0,2\n";
    refused(&simulate_csv(negative_epoch, &cfg), &["line 2"]);
}

#[test]
fn simulate_refuses_impossible_configs_and_demand() {
    let cases: [(&[&str], &[&str]); 8] = [
        (
            &["--current", "min=5,max=2,target=70"],
            &["--current.minReplicas", "maxReplicas"],
        ),
        (
            &["--current", "min=1,max=0,target=70"],
            &["--current.maxReplicas", "at least 1"],
        ),
        (
            &["--current", "min=1,max=2147483647,target=70"],
            &["--current.maxReplicas", "150000"],
        ),
        (
            &["--current", "min=1,max=4,target=70", "--replicas", "-3"],
            &["--replicas", "-3"],
        ),
        (
            &["--current", "min=1,max=4,target=70", "--replicas", "NaN"],
            &["--replicas", "NaN"],
        ),
        (
            &[
                "--current",
                "min=1,max=4,target=70",
                "--demand",
                "request-rate",
                "--capacity",
                "0",
            ],
            &["--capacity", "above 0"],
        ),
        (
            &["--current", "min=1,max=4,target=0"],
            &["cpuTargetPercent", "between 1 and 1000"],
        ),
        (
            &["--current", "min=1,max=4,target=70,min=-1"],
            &["\"-1\" is not a whole number"],
        ),
    ];
    for (args, needles) in cases {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--proposed", "min=2"]);
        refused(&simulate_csv(CSV_OK, &all), needles);
    }
    // A proposal over the limit is named as the proposal.
    refused(
        &simulate_csv(
            CSV_OK,
            &[
                "--current",
                "min=1,max=4,target=70",
                "--proposed",
                "max=150001",
            ],
        ),
        &["--proposed.maxReplicas", "150000"],
    );
    let negative = CSV_OK.replace("00:10:00,60", "00:10:00,-60");
    refused(
        &simulate_csv(
            &negative,
            &["--current", "min=1,max=4,target=70", "--proposed", "min=2"],
        ),
        &["sample 3", "cannot be negative"],
    );
}
