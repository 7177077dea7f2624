//! The rule author's path end to end against the real apiserver: the example
//! rule (examples/weekend-idle, built by this crate's build script as its
//! author builds it) is signed and turned into a ConfigMap with the
//! documented `stepscale rules` commands, and the running operator admits it
//! with no restart; a new version replaces it; a tampered update and an
//! untrusted signer are rejected with a `RuleRejected` Event while the last
//! admitted version and the builtins keep running; deleting the ConfigMap
//! unloads it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use stepscale_engine::EngineConfig;
use stepscale_operator::analysis::Analyzer;
use stepscale_operator::cli::{Cli, Command};
use stepscale_operator::license::LicenseState;
use stepscale_operator::operator::controller::Operator;
use stepscale_tests::test_rules;

use crate::common::{cluster, nab, SeriesSource, TestNamespace};

const WEEK: i64 = 7 * 86_400;

/// Run `stepscale ARGS…` in-process (the same parser and code as the
/// binary); panics with the error when the command fails.
fn stepscale(args: &[&str]) {
    let cli = Cli::try_parse_from(std::iter::once("stepscale").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("stepscale {args:?}: {e}"));
    let Command::Rules(rules) = cli.command else {
        panic!("not a rules command: {args:?}");
    };
    let ok = stepscale_operator::cli::rules::run(rules)
        .unwrap_or_else(|e| panic!("stepscale {args:?}: {e:#}"));
    assert!(ok, "stepscale {args:?} reported a failed check");
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The example crate with its version set to `version`, built to a
/// component as its author would after bumping the version.
fn build_example_at(version: &str, dir: &Path) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/weekend-idle");
    let crate_dir = dir.join(format!("weekend-idle-{version}"));
    std::fs::create_dir_all(crate_dir.join("src")).expect("crate dir");
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rules-sdk")
        .canonicalize()
        .expect("the SDK");
    let manifest = std::fs::read_to_string(example.join("Cargo.toml"))
        .expect("example manifest")
        .replace("version = \"0.1.0\"", &format!("version = \"{version}\""))
        // Its own package name, so the build does not overwrite the
        // example's component in the shared target directory (the rule's id
        // is in its code, not its package name).
        .replace("name = \"weekend-idle\"", "name = \"weekend-idle-next\"")
        .replace("../../rules-sdk", s(&sdk))
        + "\n[workspace]\n";
    std::fs::write(crate_dir.join("Cargo.toml"), manifest).expect("manifest");
    std::fs::copy(example.join("src/lib.rs"), crate_dir.join("src/lib.rs")).expect("source");
    // Same dependency versions as the workspace.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .expect("lock file");
    stepscale_rule_build::build_components(
        &[crate_dir.join("Cargo.toml")],
        &stepscale_rules_sdk::harness::wasm_target_dir(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .remove(0)
}

/// `stepscale rules sign` then `stepscale rules configmap`, as YAML parsed
/// back into the ConfigMap a user would `kubectl apply`.
fn signed_configmap(rule: &Path, key: &Path, name: &str, ns: &str) -> ConfigMap {
    let sig = PathBuf::from(format!("{}.sig", rule.display()));
    stepscale(&["rules", "sign", s(rule), "--key", s(key), "--out", s(&sig)]);
    let yaml = stepscale_operator::cli::rules::configmap_yaml(
        rule,
        &sig,
        name,
        ns,
        stepscale_operator::rules::configmap::DEFAULT_SELECTOR,
    )
    .expect("rules configmap");
    serde_yaml::from_str(&yaml).expect("the manifest is a ConfigMap")
}

async fn apply(api: &Api<ConfigMap>, cm: &ConfigMap) {
    let name = cm.metadata.name.clone().expect("name");
    let mut cm = cm.clone();
    cm.metadata.managed_fields = None;
    api.patch(
        &name,
        &PatchParams::apply("kubectl").force(),
        &Patch::Apply(&cm),
    )
    .await
    .expect("apply the ConfigMap");
}

/// (rule id, version, source) of the weekend-idle findings in the
/// recommendation.
async fn weekend_findings(ns: &TestNamespace) -> Vec<(String, String)> {
    ns.rec("db-hpa")
        .await
        .spec
        .recommendation
        .findings
        .into_iter()
        .filter(|f| f.rule_id == "weekend-idle")
        .map(|f| {
            (
                f.rule_version.unwrap_or_default(),
                f.rule_source.unwrap_or_default(),
            )
        })
        .collect()
}

/// The CSV's first timestamp, Unix seconds.
fn first_timestamp(file: &str) -> i64 {
    let path = format!(
        "{}/../../shared/data/traces/nab/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let first = text
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').next())
        .expect("a data row");
    stepscale_rules_sdk::harness::traces::parse_timestamp(first).expect("a timestamp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_rule_configmap_is_admitted_replaced_rejected_and_unloaded_without_a_restart() {
    let Some(client) = cluster("rules").await else {
        return;
    };
    let ns = TestNamespace::new(client.clone(), "rules").await;
    let dir = std::env::temp_dir().join(format!("stepscale-cluster-rules-{}", ns.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");

    // A database whose floor of 6 is sized for weekdays: the real RDS CPU
    // series (two weeks, quiet weekends) as demand of up to ~3 pods, on 6
    // replicas, starting a whole number of weeks after the series' own
    // start so its weekends stay weekends.
    ns.deployment("db", 6).await;
    ns.hpa("db", "db", 6, 40, 70).await;
    let file = "rds_cpu_utilization_cc0c53.csv";
    let cpu: Vec<f64> = nab(file).iter().map(|v| v * 20.0 / 6.0).collect();
    let span = 300 * cpu.len() as i64;
    let first = first_timestamp(file);
    let latest = jiff::Timestamp::now().as_second() - span;
    let start = first + (latest - first).div_euclid(WEEK) * WEEK;
    let source = Arc::new(SeriesSource::default().with_history_from("db", cpu, 6.0, start));

    // The author's keys, and a stranger's.
    let keys = dir.join("keys");
    let stranger = dir.join("stranger");
    stepscale(&["rules", "keygen", "--out", s(&keys)]);
    stepscale(&["rules", "keygen", "--out", s(&stranger)]);
    let public = std::fs::read_to_string(keys.join("rule-signing.pub")).expect("public key");

    // The operator trusts the author's key; its analyzer is its own (custom
    // rules must not leak into the other tests' shared analyzer).
    let mut config = ns.config("op-rules", 30, 600);
    config.rules.trusted_keys =
        vec![stepscale_operator::rules::signing::parse_public_key(public.trim()).expect("key")];
    let analyzer = Arc::new(
        Analyzer::with_builtin_rules(EngineConfig::default())
            .expect("engine")
            .with_forecasting(false),
    );
    let op = Operator::new(
        client.clone(),
        config,
        analyzer.clone(),
        LicenseState::Licensed,
    )
    .with_history(source.clone())
    .with_health(source);
    let builtins = analyzer.rules().len();

    // 1. The example, as built, signed and wrapped by the documented commands.
    let v1 = dir.join("weekend_idle.wasm");
    std::fs::copy(test_rules::WEEKEND_IDLE_WASM, &v1).expect("the example component");
    let cm = signed_configmap(
        &v1,
        &keys.join("rule-signing.key"),
        "weekend-idle",
        &ns.name,
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create the rule ConfigMap");
    let report = op.tick().await.expect("tick");
    assert_eq!(report.rules.admitted, 1, "{:?}", report.rules);
    assert_eq!(analyzer.rules().len(), builtins + 1);
    let source_label = format!("configmap {}/weekend-idle", ns.name);
    assert_eq!(
        weekend_findings(&ns).await,
        [("0.1.0".to_string(), source_label.clone())],
        "the example's finding names its version and ConfigMap"
    );
    let admitted = ns
        .event_notes("ConfigMap", "weekend-idle", "RuleAdmitted")
        .await;
    assert!(
        admitted.iter().any(|n| n.contains("weekend-idle 0.1.0")),
        "{admitted:?}"
    );
    let metrics = op.context().metrics.encode();
    assert!(
        metrics.contains("stepscale_rules_loaded{source=\"configmap\"} 1"),
        "{metrics}"
    );

    // 2. Version 0.2.0 of the same rule replaces it, with no restart.
    let v2 = build_example_at("0.2.0", &dir);
    let cm2 = signed_configmap(
        &v2,
        &keys.join("rule-signing.key"),
        "weekend-idle",
        &ns.name,
    );
    apply(&cms, &cm2).await;
    let report = op.tick().await.expect("tick");
    assert_eq!(report.rules.admitted, 1, "{:?}", report.rules);
    assert_eq!(
        weekend_findings(&ns).await,
        [("0.2.0".to_string(), source_label.clone())]
    );

    // 3. A tampered update (one byte of the component) is rejected; 0.2.0
    //    keeps running.
    let mut tampered = cm2.clone();
    if let Some(b) = tampered
        .binary_data
        .as_mut()
        .and_then(|d| d.get_mut("rule.wasm"))
    {
        let mid = b.0.len() / 2;
        b.0[mid] ^= 0x01;
    }
    apply(&cms, &tampered).await;
    // And a second ConfigMap signed by a key the operator does not trust.
    let stranger_rule = dir.join("stranger.wasm");
    std::fs::copy(test_rules::WEEKEND_IDLE_WASM, &stranger_rule).expect("component");
    let untrusted = signed_configmap(
        &stranger_rule,
        &stranger.join("rule-signing.key"),
        "weekend-idle-stranger",
        &ns.name,
    );
    cms.create(&PostParams::default(), &untrusted)
        .await
        .expect("create");
    let report = op.tick().await.expect("tick");
    assert_eq!(report.rules.rejected, 2, "{:?}", report.rules);
    assert_eq!(analyzer.rules().len(), builtins + 1, "nothing else changed");
    assert_eq!(
        weekend_findings(&ns).await,
        [("0.2.0".to_string(), source_label.clone())],
        "the last admitted version keeps running"
    );
    let rejected = ns
        .event_notes("ConfigMap", "weekend-idle", "RuleRejected")
        .await;
    assert!(
        rejected.iter().any(|n| n.contains("[digest-mismatch]")
            && n.contains("re-sign")
            && n.contains("weekend-idle 0.2.0")),
        "{rejected:?}"
    );
    let rejected = ns
        .event_notes("ConfigMap", "weekend-idle-stranger", "RuleRejected")
        .await;
    assert!(
        rejected
            .iter()
            .any(|n| n.contains("[untrusted-signer]") && n.contains("trusted keys")),
        "{rejected:?}"
    );
    let metrics = op.context().metrics.encode();
    for reason in ["digest-mismatch", "untrusted-signer"] {
        assert!(
            metrics.contains(&format!(
                "stepscale_rule_rejections_total{{reason=\"{reason}\"}} 1"
            )),
            "{metrics}"
        );
    }
    // The builtins' findings are still there.
    let rec = ns.rec("db-hpa").await;
    assert!(
        rec.spec
            .recommendation
            .findings
            .iter()
            .any(|f| f.rule_source.as_deref() == Some("builtin")),
        "{:?}",
        rec.spec.recommendation.findings
    );

    // 4. Deleting the ConfigMap unloads the rule.
    for name in ["weekend-idle", "weekend-idle-stranger"] {
        cms.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    let report = op.tick().await.expect("tick");
    assert_eq!(report.rules.unloaded, 1, "{:?}", report.rules);
    assert_eq!(analyzer.rules().len(), builtins);
    assert!(weekend_findings(&ns).await.is_empty());

    let _ = std::fs::remove_dir_all(&dir);
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_loop_admits_a_new_rule_configmap_at_once_not_at_the_next_tick() {
    let Some(client) = cluster("rules-watch").await else {
        return;
    };
    let ns = TestNamespace::new(client.clone(), "rules-watch").await;
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let mut config = ns.config("op-watch", 90, 600);
    // Ticks far apart: only the ConfigMap watch can bring the rule in soon.
    config.interval = std::time::Duration::from_secs(120);
    config.rules.trusted_keys = vec![key.verifying_key()];
    let analyzer = Arc::new(
        Analyzer::with_builtin_rules(EngineConfig::default())
            .expect("engine")
            .with_forecasting(false),
    );
    let source = Arc::new(SeriesSource::default());
    let op = Operator::new(
        client.clone(),
        config,
        analyzer.clone(),
        LicenseState::Licensed,
    )
    .with_history(source.clone())
    .with_health(source);
    let ready = op.context().ready.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(op.run(async {
        let _ = stopped.await;
    }));
    let waited = std::time::Instant::now();
    while !ready.load(std::sync::atomic::Ordering::Relaxed) {
        assert!(waited.elapsed().as_secs() < 60, "no first tick");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let builtins = analyzer.rules().len();

    let component = test_rules::component("weekend-idle");
    let meta = stepscale_operator::rules::signing::SignedRule::describing(
        "weekend-idle",
        "0.1.0",
        "detector",
        &stepscale_engine::ABI_VERSION.to_string(),
    );
    let envelope =
        stepscale_operator::rules::signing::sign(component, &meta, &key, "2026-12-01T00:00:00Z");
    let cm = stepscale_operator::rules::configmap::manifest(
        "weekend-idle",
        &ns.name,
        stepscale_operator::rules::configmap::DEFAULT_SELECTOR,
        component,
        envelope.as_bytes(),
        &meta,
    )
    .expect("fits");
    let created = std::time::Instant::now();
    Api::<ConfigMap>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    while analyzer.rules().len() == builtins {
        assert!(
            created.elapsed().as_secs() < 30,
            "not admitted within 30 s of a 120 s interval"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(analyzer.rules().iter().any(|r| r.rule.id == "weekend-idle"));
    let _ = stop.send(());
    running.await.expect("the loop ends").expect("cleanly");
    ns.cleanup().await;
}
