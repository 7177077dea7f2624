//! The `stepscale` binary as a user runs it: the README's main command on the
//! embedded demo, output formats, and errors on bad snapshots.

use std::path::PathBuf;
use std::process::{Command, Output};

fn stepscale(args: &[&str]) -> Output {
    let cache =
        std::env::temp_dir().join(format!("stepscale-cli-test-cache-{}", std::process::id()));
    Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(args)
        .env("STEPSCALE_CACHE_DIR", cache)
        .output()
        .expect("the stepscale binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stepscale-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("temp file");
    p
}

const DEMO_WORKLOADS: [&str; 9] = [
    "shop/checkout",
    "rides/dispatch",
    "web/storefront",
    "batch/ingest",
    "api/gateway ",
    "api/gateway-cpu",
    "db/pg-replica",
    "ml/embedder",
    "cache/sessions",
];

#[test]
fn analyze_without_a_file_reports_every_demo_workload_with_its_real_source() {
    let out = stepscale(&["analyze"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    for w in DEMO_WORKLOADS {
        assert!(text.contains(w), "no block for {w:?} in:\n{text}");
    }
    for series in [
        "nyc_taxi.csv",
        "ec2_cpu_utilization_ac20cd.csv",
        "elb_request_count_8c0756.csv",
    ] {
        assert!(text.contains(series), "history source {series} not cited");
    }
    assert!(text.contains("9 workload(s) analyzed"), "{text}");
    assert!(
        !stderr(&out).contains("warning"),
        "builtin rules must all load: {}",
        stderr(&out)
    );
}

#[test]
fn the_demo_proposes_a_predictive_schedule_confirmed_on_held_out_days_with_its_fidelity() {
    let out = stepscale(&["analyze", "-o", "json"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let recs: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("-o json prints JSON");
    let recs = recs.as_array().expect("an array");
    let scheduled: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| r.get("predictiveSchedule").is_some())
        .collect();
    assert!(!scheduled.is_empty(), "no demo workload has a schedule");
    for r in scheduled {
        // The schedule pays on days the choice did not see, and the replay
        // it was judged by reproduces the workload's own history.
        let saved = r["projectedSavings"]["percent"].as_f64().unwrap_or(0.0);
        assert!(saved > 0.0, "{r}");
        let method = r["projectedSavings"]["method"].as_str().unwrap_or("");
        assert!(method.contains("with its schedule"), "{method}");
        assert_eq!(r["choice"]["fidelity"]["reproduces"], true, "{r}");
    }
    // Every replayed workload states its fidelity in the text report.
    let text = stdout(&stepscale(&["analyze"]));
    assert!(
        text.contains("  fidelity: today's config replayed over"),
        "{text}"
    );
}

#[test]
fn analyze_reports_the_four_misconfiguration_pitfalls_on_the_demo() {
    let out = stepscale(&["analyze", "-o", "json"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let recs: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("-o json prints JSON");
    let recs = recs.as_array().expect("an array");
    assert_eq!(recs.len(), DEMO_WORKLOADS.len());
    let rules_of = |name: &str| -> Vec<String> {
        recs.iter()
            .find(|r| r["target"]["autoscalerName"] == name)
            .unwrap_or_else(|| panic!("no recommendation for {name}"))["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["ruleId"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert!(rules_of("gateway").contains(&"check/competing-autoscalers".to_string()));
    assert!(rules_of("gateway-cpu").contains(&"check/competing-autoscalers".to_string()));
    assert!(rules_of("pg-replica").contains(&"check/scale-to-zero-stateful".to_string()));
    assert!(rules_of("embedder").contains(&"check/cpu-target-without-requests".to_string()));
    assert!(rules_of("sessions").contains(&"check/memory-only-no-scale-down".to_string()));
}

#[test]
fn analyze_yaml_prints_one_unapproved_manifest_per_workload() {
    let out = stepscale(&["analyze", "-o", "yaml"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.matches("kind: ScalingRecommendation").count(),
        DEMO_WORKLOADS.len()
    );
    assert_eq!(
        text.matches("apiVersion: stepscale.io/v1alpha1").count(),
        DEMO_WORKLOADS.len()
    );
    assert_eq!(
        text.matches("approved: false").count(),
        DEMO_WORKLOADS.len()
    );
}

fn bad_snapshot(name: &str, text: &str, needles: &[&str]) {
    let path = temp_file(name, text);
    let out = stepscale(&["analyze", path.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2), "bad input must exit 2");
    assert!(
        stdout(&out).is_empty(),
        "nothing may be printed on stdout: {}",
        stdout(&out)
    );
    let err = stderr(&out);
    for n in needles {
        assert!(err.contains(n), "error {err:?} lacks {n:?}");
    }
}

const VALID: &str = r#"{"apiVersion":"stepscale.io/snapshot/v1","workloads":[{
 "autoscaler":{"kind":"HorizontalPodAutoscaler","namespace":"a","name":"web"},
 "target":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},
 "config":{"minReplicas":2,"maxReplicas":6,"cpuTargetPercent":60},
 "containers":[{"name":"app","cpuRequestMillicores":250}],
 "history":{"startUnixSeconds":1700000000,"stepSeconds":60,
   "cpuUtilization":[40,null,42,41],"replicasDesired":[2,2,2,2],"replicasCurrent":[2,2,2,2]}}]}"#;

#[test]
fn a_valid_small_snapshot_with_gaps_is_analyzed() {
    let path = temp_file("valid.json", VALID);
    let out = stepscale(&["analyze", path.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(stdout(&out).contains("a/web"));
}

#[test]
fn a_max_below_min_names_the_field_and_the_fix() {
    bad_snapshot(
        "min-above-max.json",
        &VALID.replace(r#""minReplicas":2"#, r#""minReplicas":9"#),
        &[
            "workloads[0].config.minReplicas",
            "above maxReplicas (6)",
            "make minReplicas <= maxReplicas",
        ],
    );
}

#[test]
fn series_of_different_lengths_name_the_series() {
    bad_snapshot(
        "short-series.json",
        &VALID.replace(
            r#""replicasCurrent":[2,2,2,2]"#,
            r#""replicasCurrent":[2,2]"#,
        ),
        &[
            "workloads[0].history.replicasCurrent",
            "has 2 samples but cpuUtilization has 4",
        ],
    );
}

#[test]
fn a_misspelt_field_is_named_with_its_position() {
    bad_snapshot(
        "typo.json",
        &VALID.replace("maxReplicas", "maxReplica"),
        &["unknown field `maxReplica`", "line 4"],
    );
}

#[test]
fn malformed_json_gives_line_and_column() {
    bad_snapshot(
        "broken.json",
        "{\"apiVersion\": ",
        &["broken.json", "line 1 column"],
    );
}

#[test]
fn a_missing_file_is_named() {
    let out = stepscale(&["analyze", "/nonexistent/snapshot.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/snapshot.json: cannot read"));
}

#[test]
fn the_committed_snapshot_schema_is_what_the_binary_prints() {
    let out = stepscale(&["snapshot-schema"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/snapshot.schema.json"
    ))
    .expect("docs/snapshot.schema.json is committed");
    assert_eq!(
        stdout(&out),
        committed,
        "docs/snapshot.schema.json is stale: run `cargo run --bin stepscale -- snapshot-schema > docs/snapshot.schema.json`"
    );
}

fn shared(rel: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: the tests need ../shared/ beside the repo",
        p.display()
    );
    p.to_str().expect("utf-8 path").to_string()
}

#[test]
fn simulate_with_the_same_config_twice_shows_no_difference() {
    let csv = shared("data/traces/nab/cpu_utilization_asg_misconfiguration.csv");
    let out = stepscale(&[
        "simulate",
        "--csv",
        &csv,
        "--demand",
        "utilization",
        "--replicas",
        "10",
        "--current",
        "min=2,max=30,target=60",
        "--proposed",
        "min=2",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cmp: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(cmp["current"], cmp["proposed"]);
    assert_eq!(cmp["difference"]["replicaHours"], 0.0);
}

#[test]
fn simulate_a_higher_floor_on_a_daily_cycle_costs_replica_hours_and_cuts_saturation() {
    let csv = shared("data/traces/nab/nyc_taxi.csv");
    let out = stepscale(&[
        "simulate",
        "--csv",
        &csv,
        "--demand",
        "request-rate",
        "--capacity",
        "1500",
        "--current",
        "min=2,max=40,target=70",
        "--proposed",
        "min=20",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cmp: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let f = |side: &str, k: &str| cmp[side][k].as_f64().expect("number");
    assert!(f("proposed", "replicaHours") > f("current", "replicaHours"));
    assert!(f("proposed", "minutesSaturated") <= f("current", "minutesSaturated"));
    let table = stepscale(&[
        "simulate",
        "--csv",
        &csv,
        "--demand",
        "request-rate",
        "--capacity",
        "1500",
        "--current",
        "min=2,max=40,target=70",
        "--proposed",
        "min=20",
    ]);
    let text = stdout(&table);
    assert!(
        text.contains("current") && text.contains("proposed") && text.contains("difference"),
        "{text}"
    );
}

#[test]
fn analyze_shows_replay_savings_on_the_demo() {
    let out = stepscale(&["analyze", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let with_change: Vec<&serde_json::Value> = recs
        .as_array()
        .expect("array")
        .iter()
        .filter(|r| {
            r["proposed"].as_object().is_some_and(|o| !o.is_empty())
                && r["current"]["cpuTargetPercent"].is_number()
        })
        .collect();
    assert!(!with_change.is_empty());
    for r in with_change {
        let s = &r["projectedSavings"];
        assert!(
            s["method"].as_str().is_some_and(|m| m.contains("replay")),
            "{r}"
        );
        assert!(s["replicaHoursPerWeek"].is_number());
    }
}

#[test]
fn savings_mode_never_spends_and_reliability_says_what_it_buys() {
    let recs = |mode: &str| -> Vec<serde_json::Value> {
        let out = stepscale(&["analyze", "-o", "json", "--mode", mode]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        v.as_array().expect("array").clone()
    };
    // Savings: every searched proposal saves on the held-out days, and
    // states the objective it was chosen by.
    for r in recs("savings") {
        if r["choice"].is_object() && !r["proposed"].as_object().is_some_and(|o| o.is_empty()) {
            assert!(
                r["projectedSavings"]["replicaHoursPerWeek"]
                    .as_f64()
                    .is_some_and(|v| v > 0.0),
                "{r}"
            );
            assert_eq!(r["choice"]["objective"]["mode"], "savings");
            assert_eq!(r["choice"]["confirmed"], true);
        }
    }
    // Reliability buys: a change that costs more says what for.
    let spending: Vec<serde_json::Value> = recs("reliability")
        .into_iter()
        .filter(|r| {
            r["projectedSavings"]["replicaHoursPerWeek"]
                .as_f64()
                .is_some_and(|v| v < 0.0)
        })
        .collect();
    assert!(
        !spending.is_empty(),
        "reliability mode buys something on the demo"
    );
    for r in spending {
        let summary = r["summary"].as_str().unwrap_or_default();
        assert!(
            summary.contains("costs +") && summary.contains("fewer"),
            "{summary}"
        );
        assert_ne!(r["riskLevel"], "low", "{r}");
    }
}

#[test]
fn an_objective_value_out_of_range_is_refused_with_the_field() {
    let out = stepscale(&["analyze", "--max-saturation-minutes-per-day=-3"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--max-saturation-minutes-per-day"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}

/// Ids of the rules behind the findings of each workload of the demo.
fn finding_rules(out: &Output) -> Vec<(String, Vec<String>)> {
    let v: serde_json::Value = serde_json::from_str(&stdout(out)).expect("JSON");
    let recs = v
        .get("recommendations")
        .and_then(|r| r.as_array())
        .or_else(|| v.as_array())
        .expect("recommendations");
    recs.iter()
        .map(|r| {
            (
                r["target"]["autoscalerName"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                r["findings"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(|f| f["ruleId"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn analyze_param_reaches_the_rule_and_typos_are_refused() {
    let default = stepscale(&["analyze", "-o", "json", "--no-forecast"]);
    assert!(default.status.success(), "{}", stderr(&default));
    let thrashing = |o: &Output| {
        finding_rules(o)
            .into_iter()
            .filter(|(_, rules)| rules.iter().any(|r| r == "thrashing"))
            .count()
    };
    assert!(thrashing(&default) > 0, "the demo has thrashing workloads");
    let raised = stepscale(&[
        "analyze",
        "-o",
        "json",
        "--no-forecast",
        "--param",
        "thrashing.minChangesPerDay=100000",
    ]);
    assert!(raised.status.success(), "{}", stderr(&raised));
    assert_eq!(thrashing(&raised), 0, "the threshold reached the rule");

    let typo = stepscale(&["analyze", "--param", "thrashing.minChangesPerDy=5"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        stderr(&typo).contains("no parameter \"minChangesPerDy\"")
            && stderr(&typo).contains("minChangesPerDay"),
        "{}",
        stderr(&typo)
    );
    let unknown = stepscale(&["analyze", "--param", "no-such-rule.x=1"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("no loaded rule"),
        "{}",
        stderr(&unknown)
    );
    let nan = stepscale(&["analyze", "--param", "thrashing.minHours=NaN"]);
    assert_eq!(nan.status.code(), Some(2));
    assert!(stderr(&nan).contains("finite"), "{}", stderr(&nan));
}
