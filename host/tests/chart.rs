//! The Helm chart (`charts/stepscale-autoscaler`): SPEC §6 defaults, `helm lint`,
//! `helm template` with default and non-default values validated offline by
//! `kubernetes-validate -k 1.25.0 --strict`, least-privilege RBAC (the
//! rendered Roles grant exactly the expected verbs and nothing else), the
//! Deployment's security settings, and that the operator accepts the values
//! file the chart mounts.
//!
//! helm and kubernetes-validate come from `bash .ci/tools.sh up`. Without
//! them the tests that need them say they were skipped and why; in CI
//! (`CI=true`) a missing tool is a failure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

mod common;
use common::tool;

fn chart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/stepscale-autoscaler")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stepscale-chart-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Non-default values: namespaced mode, Prometheus, a license, an LLM,
/// custom rules, an extra scalable kind, two replicas.
const CUSTOM_VALUES: &str = r#"
replicaCount: 2
intervalSeconds: 120
namespaces: [shop, rides]
leaderElection:
  leaseName: my-lease
prometheus:
  url: http://prometheus.monitoring:9090/prom
  stepSeconds: 60
  queries:
    cpuUtilization: 'avg(my_cpu{namespace="{namespace}", pod=~"{pod_regex}"})'
forecasting:
  enabled: false
  timezone: America/New_York
  namespaceTimezones:
    shop: Europe/Berlin
llm:
  provider: anthropic
  model: claude-3-5-haiku-latest
  maxCallsPerTick: 7
  secretName: llm-key
license:
  secretName: stepscale-license
  publicKey: 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
safety:
  probationWindowMinutes: 2880
  healthCpuMargin: 12.5
rules:
  namespaces: [rule-authors]
  trustedKeys: [11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=, qcS5RhkJz6epXtVw7z40d0oaCBKypFE0Olrw13lji2I=]
  enabled:
    thrashing: false
    my-rule: false
  replaceBuiltins: [idle-windows]
rbac:
  extraScaleTargets:
    - apiGroup: zookeeper.stackable.tech
      resource: stackablescalers
networkPolicy:
  enabled: true
  apiServer:
    cidrs: [10.96.0.1/32, 172.18.0.2/32]
  prometheus:
    to:
      - namespaceSelector:
          matchLabels:
            kubernetes.io/metadata.name: monitoring
  llm:
    cidrs: [160.79.104.0/23]
"#;

/// A fresh copy of [`CUSTOM_VALUES`] per call: tests run in parallel, and
/// one shared file rewritten by one test while helm reads it for another
/// rendered the defaults now and then.
fn custom_values_file() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = temp_dir("values").join(format!("custom-{n}.yaml"));
    std::fs::write(&p, CUSTOM_VALUES).expect("values file");
    p
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("the tool runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn helm_template(helm: &Path, values: Option<&Path>, extra: &[&str]) -> (bool, String, String) {
    let mut c = Command::new(helm);
    c.args(["template", "rel", "--namespace", "ops", "--include-crds"])
        .arg(chart_dir());
    if let Some(v) = values {
        c.arg("-f").arg(v);
    }
    c.args(extra);
    run(&mut c)
}

fn render(helm: &Path, values: Option<&Path>) -> String {
    let (ok, out, err) = helm_template(helm, values, &[]);
    assert!(ok, "helm template failed:\n{err}");
    out
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).expect("rendered YAML parses"))
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize as _;

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("")
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str, namespace: &str) -> &'a Value {
    docs.iter()
        .find(|d| {
            s(d, &["kind"]) == kind
                && s(d, &["metadata", "name"]) == name
                && s(d, &["metadata", "namespace"]) == namespace
        })
        .unwrap_or_else(|| panic!("no {kind} {namespace}/{name} rendered"))
}

/// (apiGroup, resource, verb, resourceName or "") of every grant of a role.
type Grant = (String, String, String, String);

fn grants(role: &Value) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    let strs = |v: &Value| -> Vec<String> {
        v.as_sequence()
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    for rule in role["rules"].as_sequence().expect("rules") {
        assert!(
            rule["nonResourceURLs"].is_null(),
            "non-resource grant: {rule:?}"
        );
        let names = strs(&rule["resourceNames"]);
        let names = if names.is_empty() {
            vec![String::new()]
        } else {
            names
        };
        for g in strs(&rule["apiGroups"]) {
            for r in strs(&rule["resources"]) {
                for v in strs(&rule["verbs"]) {
                    for n in &names {
                        out.insert((g.clone(), r.clone(), v.clone(), n.clone()));
                    }
                }
            }
        }
    }
    out
}

fn expect(list: &[(&str, &[&str], &[&str], &str)]) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for (group, resources, verbs, name) in list {
        for r in *resources {
            for v in *verbs {
                out.insert((
                    group.to_string(),
                    r.to_string(),
                    v.to_string(),
                    name.to_string(),
                ));
            }
        }
    }
    out
}

/// What the operator may do where it watches workloads: each verb is one a
/// step uses (list to read, get to re-read one object or a target, patch to
/// apply and roll back; watch only on recommendations, which the run loop
/// watches; recommendation status is only patched).
fn workload_grants() -> BTreeSet<Grant> {
    expect(&[
        (
            "autoscaling",
            &["horizontalpodautoscalers"],
            &["get", "list", "patch"],
            "",
        ),
        ("keda.sh", &["scaledobjects"], &["get", "list", "patch"], ""),
        ("apps", &["deployments", "statefulsets"], &["list"], ""),
        (
            "stepscale.io",
            &["scalingrecommendations"],
            &["list", "watch", "create", "patch", "delete"],
            "",
        ),
        (
            "stepscale.io",
            &["scalingrecommendations/status"],
            &["patch"],
            "",
        ),
        ("events.k8s.io", &["events"], &["create", "patch"], ""),
    ])
}

/// What it may do in its own namespace.
fn self_grants(lease: &str) -> BTreeSet<Grant> {
    // The license Secret is mounted as a volume (read by the kubelet), so
    // the operator needs no grant on Secrets, whatever the license values.
    expect(&[
        ("coordination.k8s.io", &["leases"], &["create"], ""),
        (
            "coordination.k8s.io",
            &["leases"],
            &["get", "update"],
            lease,
        ),
        ("", &["configmaps"], &["list", "watch"], ""),
        ("events.k8s.io", &["events"], &["create", "patch"], ""),
    ])
}

/// The grants of `role` are exactly `want`: names what is extra or missing.
fn assert_grants(role: &Value, want: &BTreeSet<Grant>, what: &str) {
    let got = grants(role);
    let extra: Vec<_> = got.difference(want).collect();
    let missing: Vec<_> = want.difference(&got).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{what}: grants beyond the operator's needs: {extra:?}; needed but missing: {missing:?}"
    );
}

fn kinds(docs: &[Value], kind: &str) -> usize {
    docs.iter().filter(|d| s(d, &["kind"]) == kind).count()
}

#[test]
fn values_have_the_documented_defaults() {
    let text = std::fs::read_to_string(chart_dir().join("values.yaml")).expect("values.yaml");
    let v: Value = serde_yaml::from_str(&text).expect("values.yaml parses");
    assert_eq!(v["replicaCount"].as_u64(), Some(1));
    assert_eq!(v["intervalSeconds"].as_u64(), Some(300));
    assert_eq!(v["leaderElection"]["enabled"].as_bool(), Some(true));
    assert_eq!(
        s(&v, &["leaderElection", "leaseName"]),
        "stepscale-autoscaler-leader"
    );
    assert_eq!(v["namespaces"].as_sequence().map(Vec::len), Some(0));
    assert_eq!(v["prometheus"]["url"].as_str(), Some(""));
    assert_eq!(v["forecasting"]["enabled"].as_bool(), Some(true));
    assert_eq!(s(&v, &["llm", "provider"]), "none");
    // The LLM pass's defaults are the operator's.
    use stepscale_operator::review;
    assert_eq!(
        v["llm"]["timeoutSeconds"].as_u64(),
        Some(review::DEFAULT_TIMEOUT_SECONDS)
    );
    assert_eq!(
        v["llm"]["maxTokens"].as_u64(),
        Some(u64::from(review::DEFAULT_MAX_TOKENS))
    );
    assert_eq!(
        v["llm"]["maxCallsPerTick"].as_u64(),
        Some(review::DEFAULT_MAX_CALLS_PER_TICK as u64)
    );
    assert_eq!(
        v["llm"]["concurrency"].as_u64(),
        Some(review::DEFAULT_CONCURRENCY as u64)
    );
    assert_eq!(
        v["llm"]["budgetSeconds"].as_u64(),
        Some(review::DEFAULT_BUDGET_SECONDS)
    );
    assert_eq!(v["llm"]["temperature"].as_f64(), Some(0.0));
    assert_eq!(v["license"]["secretName"].as_str(), Some(""));
    assert_eq!(v["license"]["publicKey"].as_str(), Some(""));
    assert_eq!(v["safety"]["probationWindowMinutes"].as_u64(), Some(1440));
    assert!(v["safety"]["healthCpuMargin"].as_f64().is_some());
    assert!(v["rules"]["configMapSelector"].is_string());
    assert!(v["rules"]["trustedKeys"].is_sequence());
    for rule in [
        "idle-windows",
        "over-provisioning",
        "scale-lag",
        "thrashing",
        "recurring-peaks",
    ] {
        assert_eq!(v["rules"]["enabled"][rule].as_bool(), Some(true), "{rule}");
    }
    assert_eq!(v["rbac"]["create"].as_bool(), Some(true));
    // The README's values table covers every top-level value.
    let readme = std::fs::read_to_string(chart_dir().join("README.md")).expect("README.md");
    for key in v.as_mapping().expect("mapping").keys() {
        let key = key.as_str().expect("string key");
        assert!(
            readme.contains(&format!("`{key}")),
            "README.md does not document `{key}`"
        );
    }
}

#[test]
fn helm_lint_passes_with_default_and_custom_values() {
    let Some(helm) = tool("helm", "helm_lint_passes_with_default_and_custom_values") else {
        return;
    };
    let custom = custom_values_file();
    for values in [None, Some(custom.as_path())] {
        let mut c = Command::new(&helm);
        c.args(["lint", "--strict"]).arg(chart_dir());
        if let Some(v) = values {
            c.arg("-f").arg(v);
        }
        let (ok, out, err) = run(&mut c);
        assert!(ok, "helm lint ({values:?}) failed:\n{out}\n{err}");
    }
}

#[test]
fn rendered_manifests_validate_against_kubernetes_1_25() {
    let test = "rendered_manifests_validate_against_kubernetes_1_25";
    let Some(helm) = tool("helm", test) else {
        return;
    };
    let Some(validate) = tool("kubernetes-validate", test) else {
        return;
    };
    let dir = temp_dir("validate");
    let custom = custom_values_file();
    for (name, values) in [("default", None), ("custom", Some(custom.as_path()))] {
        let manifest = dir.join(format!("{name}.yaml"));
        std::fs::write(&manifest, render(&helm, values)).expect("write manifest");
        let (ok, out, err) = run(Command::new(&validate)
            .args(["-k", "1.25.0", "--strict", "--quiet"])
            .arg(&manifest));
        assert!(
            ok && !out.contains("ERROR") && !err.contains("ERROR"),
            "{name} values: kubernetes-validate failed:\n{out}\n{err}"
        );
    }
}

#[test]
fn rbac_grants_exactly_what_the_operator_needs_cluster_wide_by_default() {
    let Some(helm) = tool(
        "helm",
        "rbac_grants_exactly_what_the_operator_needs_cluster_wide_by_default",
    ) else {
        return;
    };
    let docs = documents(&render(&helm, None));
    let cluster_role = find(&docs, "ClusterRole", "rel-stepscale-autoscaler", "");
    assert_grants(cluster_role, &workload_grants(), "ClusterRole");
    let own = find(&docs, "Role", "rel-stepscale-autoscaler-self", "ops");
    assert_grants(own, &self_grants("stepscale-autoscaler-leader"), "own Role");
    assert_eq!(kinds(&docs, "ClusterRole"), 1);
    assert_eq!(
        kinds(&docs, "Role"),
        1,
        "no namespaced workload Roles when watching all"
    );
    // Both bindings bind the chart's ServiceAccount to its own role.
    let crb = find(&docs, "ClusterRoleBinding", "rel-stepscale-autoscaler", "");
    assert_eq!(s(crb, &["roleRef", "name"]), "rel-stepscale-autoscaler");
    assert_eq!(
        s(&crb["subjects"][0], &["name"]),
        "rel-stepscale-autoscaler"
    );
    assert_eq!(s(&crb["subjects"][0], &["namespace"]), "ops");
    let rb = find(&docs, "RoleBinding", "rel-stepscale-autoscaler-self", "ops");
    assert_eq!(s(rb, &["roleRef", "name"]), "rel-stepscale-autoscaler-self");
    find(&docs, "ServiceAccount", "rel-stepscale-autoscaler", "ops");
}

#[test]
fn rbac_is_namespaced_when_namespaces_are_set() {
    let Some(helm) = tool("helm", "rbac_is_namespaced_when_namespaces_are_set") else {
        return;
    };
    let docs = documents(&render(&helm, Some(&custom_values_file())));
    assert_eq!(kinds(&docs, "ClusterRole"), 0, "no cluster-wide grants");
    assert_eq!(kinds(&docs, "ClusterRoleBinding"), 0);
    let mut want = workload_grants();
    want.extend(expect(&[(
        "zookeeper.stackable.tech",
        &["stackablescalers", "stackablescalers/scale"],
        &["get"],
        "",
    )]));
    for ns in ["shop", "rides"] {
        let role = find(&docs, "Role", "rel-stepscale-autoscaler", ns);
        assert_grants(role, &want, &format!("Role in {ns}"));
        let rb = find(&docs, "RoleBinding", "rel-stepscale-autoscaler", ns);
        assert_eq!(s(rb, &["roleRef", "kind"]), "Role");
        assert_eq!(s(&rb["subjects"][0], &["namespace"]), "ops");
    }
    let own = find(&docs, "Role", "rel-stepscale-autoscaler-self", "ops");
    assert_grants(own, &self_grants("my-lease"), "own Role");
    // rules.namespaces: rule ConfigMaps and their Events there, nothing else.
    let rules_role = find(
        &docs,
        "Role",
        "rel-stepscale-autoscaler-rules",
        "rule-authors",
    );
    assert_grants(
        rules_role,
        &expect(&[
            ("", &["configmaps"], &["list", "watch"], ""),
            ("events.k8s.io", &["events"], &["create", "patch"], ""),
        ]),
        "rules Role",
    );
    let rb = find(
        &docs,
        "RoleBinding",
        "rel-stepscale-autoscaler-rules",
        "rule-authors",
    );
    assert_eq!(
        s(rb, &["roleRef", "name"]),
        "rel-stepscale-autoscaler-rules"
    );
    assert_eq!(s(&rb["subjects"][0], &["namespace"]), "ops");
    assert_eq!(kinds(&docs, "Role"), 4);
}

fn env_of(container: &Value) -> Vec<(String, Value)> {
    container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| (s(e, &["name"]).to_string(), e["value"].clone()))
        .collect()
}

fn env_value(env: &[(String, Value)], name: &str) -> Option<String> {
    env.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str().unwrap_or("").to_string())
}

#[test]
fn the_deployment_runs_the_operator_locked_down() {
    let Some(helm) = tool("helm", "the_deployment_runs_the_operator_locked_down") else {
        return;
    };
    let docs = documents(&render(&helm, None));
    let dep = find(&docs, "Deployment", "rel-stepscale-autoscaler", "ops");
    assert_eq!(dep["spec"]["replicas"].as_u64(), Some(1));
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(s(pod, &["serviceAccountName"]), "rel-stepscale-autoscaler");
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let c = &pod["containers"][0];
    assert_eq!(c["args"][0].as_str(), Some("operator"));
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"));
    assert_eq!(s(c, &["livenessProbe", "httpGet", "path"]), "/healthz");
    assert_eq!(s(c, &["readinessProbe", "httpGet", "path"]), "/readyz");
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(8080));
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    let env = env_of(c);
    for (name, want) in [
        ("STEPSCALE_INTERVAL_SECONDS", "300"),
        ("STEPSCALE_LEASE_NAME", "stepscale-autoscaler-leader"),
        ("STEPSCALE_PROBATION_WINDOW_MINUTES", "1440"),
        ("STEPSCALE_FORECASTING", "true"),
        ("STEPSCALE_LLM_PROVIDER", "none"),
        ("STEPSCALE_HTTP_ADDRESS", "0.0.0.0:8080"),
        ("STEPSCALE_VALUES", "/etc/stepscale/config/values.yaml"),
    ] {
        assert_eq!(env_value(&env, name).as_deref(), Some(want), "{name}");
    }
    // Defaults: all namespaces, no Prometheus, no license, no LLM key.
    for absent in [
        "STEPSCALE_NAMESPACES",
        "STEPSCALE_PROMETHEUS_URL",
        "STEPSCALE_LICENSE_FILE",
        "STEPSCALE_LICENSE_PUBLIC_KEY",
        "STEPSCALE_LLM_API_KEY",
        "STEPSCALE_NO_LEADER_ELECTION",
    ] {
        assert!(env_value(&env, absent).is_none(), "{absent} set by default");
    }
}

#[test]
fn custom_values_reach_the_operator() {
    let Some(helm) = tool("helm", "custom_values_reach_the_operator") else {
        return;
    };
    let docs = documents(&render(&helm, Some(&custom_values_file())));
    let dep = find(&docs, "Deployment", "rel-stepscale-autoscaler", "ops");
    assert_eq!(dep["spec"]["replicas"].as_u64(), Some(2));
    let pod = &dep["spec"]["template"]["spec"];
    let env = env_of(&pod["containers"][0]);
    for (name, want) in [
        ("STEPSCALE_INTERVAL_SECONDS", "120"),
        ("STEPSCALE_NAMESPACES", "shop,rides"),
        ("STEPSCALE_LEASE_NAME", "my-lease"),
        (
            "STEPSCALE_PROMETHEUS_URL",
            "http://prometheus.monitoring:9090/prom",
        ),
        ("STEPSCALE_PROMETHEUS_STEP_SECONDS", "60"),
        (
            "STEPSCALE_PROMETHEUS_QUERY_CPU",
            "avg(my_cpu{namespace=\"{namespace}\", pod=~\"{pod_regex}\"})",
        ),
        ("STEPSCALE_FORECASTING", "false"),
        ("STEPSCALE_LLM_PROVIDER", "anthropic"),
        (
            "STEPSCALE_LICENSE_FILE",
            "/etc/stepscale/license/license.json",
        ),
        (
            "STEPSCALE_LICENSE_PUBLIC_KEY",
            "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        ),
        ("STEPSCALE_PROBATION_WINDOW_MINUTES", "2880"),
        ("STEPSCALE_HEALTH_CPU_MARGIN", "12.5"),
    ] {
        assert_eq!(env_value(&env, name).as_deref(), Some(want), "{name}");
    }
    // The LLM key and the license come from Secrets, never from values.
    let key = pod["containers"][0]["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .find(|e| s(e, &["name"]) == "STEPSCALE_LLM_API_KEY")
        .expect("LLM key env");
    assert_eq!(s(key, &["valueFrom", "secretKeyRef", "name"]), "llm-key");
    let volumes = pod["volumes"].as_sequence().expect("volumes");
    let license = volumes
        .iter()
        .find(|v| s(v, &["name"]) == "license")
        .expect("license volume");
    assert_eq!(s(license, &["secret", "secretName"]), "stepscale-license");
}

#[test]
fn the_operator_accepts_the_values_file_the_chart_mounts() {
    let Some(helm) = tool(
        "helm",
        "the_operator_accepts_the_values_file_the_chart_mounts",
    ) else {
        return;
    };
    for (values, interval, lease, probation_minutes) in [
        (None, 300, "stepscale-autoscaler-leader", 1440),
        (Some(custom_values_file()), 120, "my-lease", 2880),
    ] {
        let docs = documents(&render(&helm, values.as_deref()));
        let cm = find(&docs, "ConfigMap", "rel-stepscale-autoscaler-config", "ops");
        let text = s(cm, &["data", "values.yaml"]);
        let parsed: stepscale_operator::operator::config::Values =
            serde_yaml::from_str(text).expect("the operator parses the mounted values");
        let c = parsed
            .into_config("rel-stepscale-autoscaler-0".into(), Some("ops".into()))
            .expect("the operator accepts the mounted values");
        assert_eq!(c.interval.as_secs(), interval);
        assert_eq!(c.leader_election.lease_name, lease);
        assert_eq!(c.leader_election.namespace, "ops");
        assert_eq!(c.safety.probation_window.as_secs(), probation_minutes * 60);
        // The rules settings reach the operator: the release namespace
        // first, the keys parsed, the switched-off ids.
        assert_eq!(c.rules.namespaces[0], "ops");
        assert_eq!(c.rules.selector, "stepscale.io/rule=true");
        if values.is_some() {
            assert_eq!(c.rules.namespaces, ["ops", "rule-authors"]);
            assert_eq!(c.rules.trusted_keys.len(), 2);
            assert!(c.rules.disabled.contains("thrashing") && c.rules.disabled.contains("my-rule"));
            assert!(c.rules.replace_builtins.contains("idle-windows"));
            // The LLM pass's settings, without the key (that comes from
            // the Secret, never from the values file).
            let llm = c.llm.as_ref().expect("the LLM pass is on");
            assert_eq!(llm.model, "claude-3-5-haiku-latest");
            assert_eq!(llm.base_url, "https://api.anthropic.com/v1");
            assert_eq!(llm.max_calls_per_tick, 7);
            assert!(llm.api_key.is_empty());
            assert!(
                !text.contains("llm-key"),
                "the Secret's name is not in the config"
            );
            // Schedule time zones, validated against the tz database.
            assert_eq!(c.timezones.default, "America/New_York");
            assert_eq!(c.timezones.by_namespace["shop"], "Europe/Berlin");
        } else {
            assert!(c.rules.trusted_keys.is_empty() && c.rules.disabled.is_empty());
            assert!(c.llm.is_none(), "llm.provider=none: no LLM pass");
            assert_eq!(c.timezones.default, "UTC");
        }
    }
}

#[test]
fn unsafe_combinations_are_refused_with_a_reason() {
    let Some(helm) = tool("helm", "unsafe_combinations_are_refused_with_a_reason") else {
        return;
    };
    for (set, want) in [
        (
            "replicaCount=2,leaderElection.enabled=false",
            "replicaCount > 1 needs leaderElection.enabled=true",
        ),
        ("llm.provider=openai", "set llm.secretName"),
        ("llm.provider=openai,llm.secretName=k", "set llm.model"),
        ("llm.baseUrl=vllm:8000", "llm/baseUrl"),
        ("license.secretName=lic", "license.publicKey is empty"),
        ("llm.provider=gpt", "llm/provider"),
        (
            "networkPolicy.enabled=true",
            "needs networkPolicy.apiServer.cidrs",
        ),
        (
            "metrics.serviceMonitor.enabled=true,metrics.service.enabled=false",
            "needs metrics.service.enabled=true",
        ),
    ] {
        let (ok, _, err) = helm_template(&helm, None, &["--set", set]);
        assert!(!ok, "--set {set} rendered");
        assert!(err.contains(want), "--set {set}: {err}");
    }
}

#[test]
fn the_schema_refuses_unknown_keys_and_wrong_types_naming_them() {
    let Some(helm) = tool(
        "helm",
        "the_schema_refuses_unknown_keys_and_wrong_types_naming_them",
    ) else {
        return;
    };
    for (set, want) in [
        (
            "replicaCont=2",
            "additional properties 'replicaCont' not allowed",
        ),
        (
            "safety.healthCpuMarginn=5",
            "at '/safety': additional properties 'healthCpuMarginn' not allowed",
        ),
        (
            "replicaCount=two",
            "at '/replicaCount': got string, want integer",
        ),
        (
            "rules.params.thrashing.minHours=many",
            "/rules/params/thrashing/minHours",
        ),
        (
            "networkPolicy.egress=all",
            "additional properties 'egress' not allowed",
        ),
    ] {
        let (ok, _, err) = helm_template(&helm, None, &["--set", set]);
        assert!(!ok, "--set {set} rendered");
        assert!(err.contains(want), "--set {set}: {err}");
    }
}

#[test]
fn pdb_service_monitor_and_network_policy_render_when_asked() {
    let Some(helm) = tool(
        "helm",
        "pdb_service_monitor_and_network_policy_render_when_asked",
    ) else {
        return;
    };
    let defaults = documents(&render(&helm, None));
    for kind in ["PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor"] {
        assert_eq!(kinds(&defaults, kind), 0, "{kind} is off by default");
    }
    // Two replicas: a PDB that lets a drain take one at a time.
    let docs = documents(&render(&helm, Some(&custom_values_file())));
    let pdb = find(
        &docs,
        "PodDisruptionBudget",
        "rel-stepscale-autoscaler",
        "ops",
    );
    assert_eq!(pdb["spec"]["maxUnavailable"].as_u64(), Some(1));
    assert_eq!(
        s(
            pdb,
            &[
                "spec",
                "selector",
                "matchLabels",
                "app.kubernetes.io/instance"
            ]
        ),
        "rel"
    );
    // Egress: DNS, the API server, Prometheus, the LLM provider; nothing else.
    let egress_to = |docs: &[Value]| -> Vec<String> {
        let np = find(docs, "NetworkPolicy", "rel-stepscale-autoscaler", "ops");
        np["spec"]["egress"]
            .as_sequence()
            .expect("egress")
            .iter()
            .map(|rule| match rule["to"].as_sequence() {
                None => "any:53".to_string(),
                Some(peers) => peers
                    .iter()
                    .map(|p| {
                        p["ipBlock"]["cidr"]
                            .as_str()
                            .map(String::from)
                            .unwrap_or_else(|| "selector".into())
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            })
            .collect()
    };
    assert_eq!(
        egress_to(&docs),
        [
            "any:53",
            "10.96.0.1/32,172.18.0.2/32",
            "selector",
            "160.79.104.0/23"
        ]
    );
    // llm.provider=none: no egress to the LLM, enforced by the cluster.
    let (ok, out, err) = helm_template(
        &helm,
        Some(&custom_values_file()),
        &["--set", "llm.provider=none", "--set", "prometheus.url="],
    );
    assert!(ok, "{err}");
    assert_eq!(
        egress_to(&documents(&out)),
        ["any:53", "10.96.0.1/32,172.18.0.2/32"]
    );
    let (ok, out, err) = helm_template(
        &helm,
        None,
        &[
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.serviceMonitor.labels.release=kube-prometheus",
        ],
    );
    assert!(ok, "{err}");
    let docs = documents(&out);
    let sm = find(&docs, "ServiceMonitor", "rel-stepscale-autoscaler", "ops");
    assert_eq!(s(sm, &["metadata", "labels", "release"]), "kube-prometheus");
    assert_eq!(s(&sm["spec"]["endpoints"][0], &["port"]), "metrics");
    // It selects the metrics Service.
    let svc = find(&docs, "Service", "rel-stepscale-autoscaler-metrics", "ops");
    assert_eq!(s(&svc["spec"]["ports"][0], &["name"]), "metrics");
}

#[test]
fn a_digest_pins_the_image() {
    let Some(helm) = tool("helm", "a_digest_pins_the_image") else {
        return;
    };
    let digest = format!("sha256:{}", "ab".repeat(32));
    let (ok, out, err) = helm_template(
        &helm,
        None,
        &[
            "--set",
            "image.repository=registry.example.com/stepscale/stepscale",
            "--set",
            &format!("image.digest={digest}"),
            "--set",
            "image.tag=ignored",
        ],
    );
    assert!(ok, "{err}");
    let docs = documents(&out);
    let dep = find(&docs, "Deployment", "rel-stepscale-autoscaler", "ops");
    assert_eq!(
        s(
            &dep["spec"]["template"]["spec"]["containers"][0],
            &["image"]
        ),
        format!("registry.example.com/stepscale/stepscale@{digest}")
    );
    let (ok, _, err) = helm_template(&helm, None, &["--set", "image.digest=latest"]);
    assert!(!ok && err.contains("/image/digest"), "{err}");
}
