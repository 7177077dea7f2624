//! Shared setup of the cluster tests: the gate on `KUBECONFIG`, a namespace
//! per test, the CRD, a Deployment + autoscaling/v2beta2 HPA, and an
//! in-process operator whose history and probation health come from real
//! NAB series (the test API server has no metrics pipeline).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::{Client, CustomResourceExt};
use serde_json::{json, Value};
use stepscale_engine::snapshot::MetricHistory;
use stepscale_engine::EngineConfig;
use stepscale_operator::analysis::Analyzer;
use stepscale_operator::crd::ScalingRecommendation;
use stepscale_operator::history::source::HistorySource;
use stepscale_operator::history::{HistoryKey, MetricsSource, SourcedHistory};
use stepscale_operator::license::LicenseState;
use stepscale_operator::lifecycle::verify::HealthSource;
use stepscale_operator::operator::config::{OperatorConfig, Values};
use stepscale_operator::operator::controller::Operator;

/// The cluster to test against, or `None` (after saying why) when the test
/// must be skipped. With `CI=true` a missing cluster is a failure.
pub async fn cluster(test: &str) -> Option<Client> {
    init_logs();
    let kubeconfig = std::env::var("KUBECONFIG").ok().filter(|k| !k.is_empty());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Some(_) = kubeconfig else {
        assert!(
            !ci,
            "{test}: CI=true but KUBECONFIG is not set; provision the API server with `bash .ci/k8s.sh up` and export the KUBECONFIG it prints"
        );
        // Straight to stderr: libtest captures eprintln! of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "{test}: skipped: KUBECONFIG is not set (start a test API server with `bash .ci/k8s.sh up` and export the KUBECONFIG line it prints)"
        );
        return None;
    };
    match Client::try_default().await {
        Ok(c) => Some(c),
        Err(e) => panic!("{test}: KUBECONFIG is set but no client can be built from it: {e}"),
    }
}

/// Poll `f` every 250 ms until it holds; panic naming `what` after
/// `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: std::time::Duration, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    if !within(timeout, f).await {
        panic!("{what}: not within {timeout:?}");
    }
}

/// Poll `f` every 250 ms until it holds (true) or `timeout` passes (false),
/// for a caller that says more than [`eventually`] when it does not.
pub async fn within<F, Fut>(timeout: std::time::Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    false
}

/// Every log line of the process, for the checks on the manual's lines.
pub fn logs() -> String {
    String::from_utf8_lossy(
        &LOGS
            .get_or_init(Default::default)
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default(),
    )
    .into_owned()
}

static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut l) = LOGS.get_or_init(Default::default).lock() {
            l.extend_from_slice(buf);
        }
        std::io::stderr().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,stepscale_operator=debug,kube_client=error",
            ))
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
    });
}

/// A namespace of its own for one test.
pub struct TestNamespace {
    /// The client.
    pub client: Client,
    /// Its name.
    pub name: String,
}

impl TestNamespace {
    /// Create `stepscale-<test>-<random>`, and install the CRD if needed.
    pub async fn new(client: Client, test: &str) -> TestNamespace {
        install_crd(&client).await;
        let suffix = format!("{:x}", (u64::from(std::process::id()) << 32) ^ nanos());
        let name = format!("ss-{test}-{}", &suffix[suffix.len().saturating_sub(6)..]);
        let ns = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create the test namespace");
        // The apiserver needs the default service account before pods are
        // created; we create no pods, so no need to wait for it.
        TestNamespace { client, name }
    }

    /// The namespace `name` exactly (a fixture's history is labelled with
    /// it), created afresh: one left by an earlier run is deleted first.
    pub async fn named(client: Client, name: &str) -> TestNamespace {
        install_crd(&client).await;
        let api = Api::<Namespace>::all(client.clone());
        let _ = api.delete(name, &DeleteParams::default()).await;
        eventually(
            &format!("namespace {name} from an earlier run is gone"),
            std::time::Duration::from_secs(120),
            || {
                let api = api.clone();
                async move { api.get_opt(name).await.is_ok_and(|n| n.is_none()) }
            },
        )
        .await;
        let ns = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        api.create(&PostParams::default(), &ns)
            .await
            .expect("create the test namespace");
        TestNamespace {
            client,
            name: name.to_string(),
        }
    }

    /// Delete the namespace (best effort).
    pub async fn cleanup(self) {
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(&self.name, &DeleteParams::default())
            .await;
    }

    /// The recommendations API of this namespace.
    pub fn recs(&self) -> Api<ScalingRecommendation> {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// The v2beta2 HPA API of this namespace.
    pub fn hpas(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.name, &hpa_resource())
    }

    /// A Deployment `name` with `replicas` and one container requesting 500m CPU.
    pub async fn deployment(&self, name: &str, replicas: i32) {
        let d: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{
                        "name": "app", "image": "registry.invalid/app:1",
                        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}
                    }]}
                }
            }
        }))
        .expect("deployment manifest");
        Api::<Deployment>::namespaced(self.client.clone(), &self.name)
            .create(&PostParams::default(), &d)
            .await
            .expect("create the deployment");
    }

    /// An autoscaling/v2beta2 HPA `name` on Deployment `target`.
    pub async fn hpa(&self, name: &str, target: &str, min: i32, max: i32, cpu: i32) -> Value {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": min, "maxReplicas": max,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": cpu}}}]
            }
        }))
        .expect("hpa manifest");
        let created = self
            .hpas()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create the HPA");
        created.data["spec"].clone()
    }

    /// For each name, a Deployment (4 replicas) and an HPA on it (4–20,
    /// CPU 60 %), with a real week of history and healthy probation
    /// samples in the returned source.
    pub async fn healthy_workloads(&self, names: &[String]) -> SeriesSource {
        let mut series = SeriesSource::default();
        for name in names {
            self.deployment(name, 4).await;
            self.hpa(name, name, 4, 20, 60).await;
            series = series
                .with_history(name, week(), 4.0)
                .with_health(name, healthy());
        }
        series
    }

    /// The HPA's spec as served (autoscaling/v2beta2).
    pub async fn hpa_spec(&self, name: &str) -> Value {
        self.hpas().get(name).await.expect("get the HPA").data["spec"].clone()
    }

    /// The HPA's resourceVersion.
    pub async fn hpa_version(&self, name: &str) -> String {
        self.hpas()
            .get(name)
            .await
            .expect("get the HPA")
            .metadata
            .resource_version
            .unwrap_or_default()
    }

    /// Field managers of the HPA.
    pub async fn hpa_managers(&self, name: &str) -> Vec<String> {
        self.hpas()
            .get(name)
            .await
            .expect("get the HPA")
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.manager)
            .collect()
    }

    /// Patch the recommendation's spec as a user would (kubectl).
    pub async fn edit_rec(&self, name: &str, patch: Value) {
        self.recs()
            .patch(
                name,
                &PatchParams {
                    field_manager: Some("kubectl-edit".into()),
                    ..Default::default()
                },
                &Patch::Merge(&patch),
            )
            .await
            .expect("edit the recommendation");
    }

    /// The Events the operator published in this namespace about `kind`
    /// objects.
    async fn operator_events(&self, kind: &str) -> Vec<k8s_openapi::api::events::v1::Event> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), &self.name);
        api.list(&Default::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .filter(|e| e.reporting_controller.as_deref() == Some("stepscale-operator"))
            .filter(|e| e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some(kind))
            .collect()
    }

    /// Reasons of the Events the operator published in this namespace
    /// about `kind` objects.
    pub async fn event_reasons(&self, kind: &str) -> Vec<String> {
        self.operator_events(kind)
            .await
            .into_iter()
            .filter_map(|e| e.reason)
            .collect()
    }

    /// Notes of the Events with `reason` the operator published about the
    /// `kind` object `name`.
    pub async fn event_notes(&self, kind: &str, name: &str, reason: &str) -> Vec<String> {
        self.operator_events(kind)
            .await
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter(|e| e.reason.as_deref() == Some(reason))
            .filter_map(|e| e.note)
            .collect()
    }

    /// Approve the recommendation.
    pub async fn approve(&self, name: &str) {
        self.edit_rec(name, json!({"spec": {"approved": true}}))
            .await;
    }

    /// The recommendation.
    pub async fn rec(&self, name: &str) -> ScalingRecommendation {
        self.recs().get(name).await.expect("get the recommendation")
    }

    /// The operator's config for tests in this namespace: 2 s ticks, lease
    /// in this namespace lasting `lease_seconds`, probation `probation_seconds`.
    pub fn config(
        &self,
        identity: &str,
        lease_seconds: u64,
        probation_seconds: u64,
    ) -> OperatorConfig {
        let values: Values = serde_yaml::from_value(
            serde_yaml::to_value(json!({
                "intervalSeconds": 2,
                "namespaces": [self.name],
                "leaderElection": {"namespace": self.name, "leaseDurationSeconds": lease_seconds},
                "safety": {"probationWindowSeconds": probation_seconds},
                "http": {"address": "127.0.0.1:0"}
            }))
            .expect("values"),
        )
        .expect("values");
        values
            .into_config(identity.to_string(), None)
            .expect("valid config")
    }
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The autoscaling/v2beta2 HPA resource (the only v2-shaped version 1.20 serves).
pub fn hpa_resource() -> ApiResource {
    ApiResource {
        group: "autoscaling".into(),
        version: "v2beta2".into(),
        api_version: "autoscaling/v2beta2".into(),
        kind: "HorizontalPodAutoscaler".into(),
        plural: "horizontalpodautoscalers".into(),
    }
}

/// Install (or update) the CRD and wait until it is established.
pub async fn install_crd(client: &Client) {
    static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            let api: Api<CustomResourceDefinition> = Api::all(client.clone());
            let crd = ScalingRecommendation::crd();
            let pp = PatchParams::apply("stepscale-tests").force();
            api.patch(
                "scalingrecommendations.stepscale.io",
                &pp,
                &Patch::Apply(&crd),
            )
            .await
            .expect("install the ScalingRecommendation CRD (generated by `stepscale crd`)");
            for _ in 0..100 {
                let established = api
                    .get("scalingrecommendations.stepscale.io")
                    .await
                    .ok()
                    .and_then(|c| c.status)
                    .and_then(|s| s.conditions)
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                if established {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
}

/// The rule engine with the builtin rules, built once per test binary.
pub fn analyzer() -> Arc<Analyzer> {
    static A: OnceLock<Arc<Analyzer>> = OnceLock::new();
    A.get_or_init(|| {
        Arc::new(
            Analyzer::with_builtin_rules(EngineConfig::default())
                .expect("the rule engine starts")
                .with_forecasting(false),
        )
    })
    .clone()
}

/// A NAB series (`value` column) from ../shared/data/traces/nab/.
pub fn nab(file: &str) -> Vec<f64> {
    let path = format!(
        "{}/../../shared/data/traces/nab/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1)?.trim().parse::<f64>().ok())
        .collect()
}

/// A week of a real EC2 CPU series (NAB ec2_cpu_utilization_5f5533) at 5
/// minutes: the engine proposes a lower floor and a higher CPU target.
pub fn week() -> Vec<f64> {
    nab("ec2_cpu_utilization_5f5533.csv")
        .into_iter()
        .take(2016)
        .collect()
}

/// Probation samples well inside the target (NAB ec2_cpu_utilization_24ae8d).
pub fn healthy() -> Vec<f64> {
    nab("ec2_cpu_utilization_24ae8d.csv")
        .into_iter()
        .take(12)
        .collect()
}

/// Probation samples above any target + margin (NAB ec2_cpu_utilization_825cc2, 92-96 %).
pub fn degraded() -> Vec<f64> {
    nab("ec2_cpu_utilization_825cc2.csv")
        .into_iter()
        .take(12)
        .collect()
}

/// A history and probation health made from real series, per autoscaler.
#[derive(Default)]
pub struct SeriesSource {
    histories: Mutex<BTreeMap<String, MetricHistory>>,
    health: Mutex<BTreeMap<String, Vec<f64>>>,
}

impl SeriesSource {
    /// Analysis history for `autoscaler`: CPU `cpu` (percent of request) on
    /// `replicas` replicas at a 5-minute step, ending now.
    pub fn with_history(self, autoscaler: &str, cpu: Vec<f64>, replicas: f64) -> Self {
        let now = jiff::Timestamp::now().as_second();
        let start = now - 300 * cpu.len() as i64;
        self.with_history_from(autoscaler, cpu, replicas, start)
    }

    /// As [`Self::with_history`], starting at `start_unix_seconds`.
    pub fn with_history_from(
        self,
        autoscaler: &str,
        cpu: Vec<f64>,
        replicas: f64,
        start_unix_seconds: i64,
    ) -> Self {
        let n = cpu.len();
        let h = MetricHistory {
            start_unix_seconds,
            step_seconds: 300,
            utc_offset_minutes: 0,
            timezone: None,
            cpu_utilization: cpu,
            replicas_desired: vec![replicas; n],
            replicas_current: vec![replicas; n],
            replicas_ready: None,
            request_rate: None,
        };
        if let Ok(mut m) = self.histories.lock() {
            m.insert(autoscaler.to_string(), h);
        }
        self
    }

    /// Replace the analysis history of `autoscaler` (as [`Self::with_history`]).
    pub fn set_history(&self, autoscaler: &str, cpu: Vec<f64>, replicas: f64) {
        let fresh = SeriesSource::default().with_history(autoscaler, cpu, replicas);
        let h = fresh
            .histories
            .lock()
            .ok()
            .and_then(|m| m.get(autoscaler).cloned());
        if let (Ok(mut m), Some(h)) = (self.histories.lock(), h) {
            m.insert(autoscaler.to_string(), h);
        }
    }

    /// Probation CPU samples for `autoscaler` (replicas 3).
    pub fn with_health(self, autoscaler: &str, cpu: Vec<f64>) -> Self {
        if let Ok(mut m) = self.health.lock() {
            m.insert(autoscaler.to_string(), cpu);
        }
        self
    }
}

impl HistorySource for SeriesSource {
    fn history<'a>(
        &'a self,
        key: &'a HistoryKey,
        _now: i64,
    ) -> BoxFuture<'a, Option<SourcedHistory>> {
        Box::pin(async move {
            let h = self.histories.lock().ok()?.get(&key.autoscaler)?.clone();
            Some(SourcedHistory {
                history: h,
                source: MetricsSource::HpaStatus,
            })
        })
    }
}

impl HealthSource for SeriesSource {
    fn probation_health<'a>(
        &'a self,
        key: &'a HistoryKey,
        from: i64,
        to: i64,
    ) -> BoxFuture<'a, Option<MetricHistory>> {
        Box::pin(async move {
            let cpu = self.health.lock().ok()?.get(&key.autoscaler)?.clone();
            let n = cpu.len().max(1);
            let step = (((to - from).max(10)) / n as i64).clamp(1, 3600) as u32;
            Some(MetricHistory {
                start_unix_seconds: from,
                step_seconds: step,
                utc_offset_minutes: 0,
                timezone: None,
                replicas_desired: vec![3.0; cpu.len()],
                replicas_current: vec![3.0; cpu.len()],
                cpu_utilization: cpu,
                replicas_ready: None,
                request_rate: None,
            })
        })
    }
}

/// An in-process operator for `ns` with licensed apply, history and health
/// from `source`.
pub fn operator(
    ns: &TestNamespace,
    identity: &str,
    source: Arc<SeriesSource>,
    lease_seconds: u64,
    probation_seconds: u64,
) -> Operator {
    Operator::new(
        ns.client.clone(),
        ns.config(identity, lease_seconds, probation_seconds),
        analyzer(),
        LicenseState::Licensed,
    )
    .with_history(source.clone())
    .with_health(source)
}

/// Install two CRDs once: a minimal KEDA `ScaledObject` (keda.sh/v1alpha1,
/// schema left open as KEDA's own is large) and `Scaler`
/// (test.stepscale.io/v1), a custom resource with a `/scale` subresource
/// standing in for a StackableScaler.
pub async fn install_keda_and_scaler_crds(client: &Client) {
    static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            let api: Api<CustomResourceDefinition> = Api::all(client.clone());
            let open = json!({"type": "object", "properties": {
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
            let crds = [
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": "scaledobjects.keda.sh"},
                    "spec": {"group": "keda.sh", "scope": "Namespaced",
                        "names": {"kind": "ScaledObject", "plural": "scaledobjects", "singular": "scaledobject", "shortNames": ["so"]},
                        "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                            "schema": {"openAPIV3Schema": open}, "subresources": {"status": {}}}]}}),
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": "scalers.test.stepscale.io"},
                    "spec": {"group": "test.stepscale.io", "scope": "Namespaced",
                        "names": {"kind": "Scaler", "plural": "scalers", "singular": "scaler"},
                        "versions": [{"name": "v1", "served": true, "storage": true,
                            "schema": {"openAPIV3Schema": open},
                            "subresources": {"status": {}, "scale": {
                                "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}}}]}}),
            ];
            for crd in crds {
                let crd: CustomResourceDefinition = serde_json::from_value(crd).expect("crd");
                let name = crd.metadata.name.clone().unwrap_or_default();
                api.patch(&name, &PatchParams::apply("stepscale-tests").force(), &Patch::Apply(&crd))
                    .await
                    .expect("install a test CRD");
                for _ in 0..100 {
                    let ok = api.get(&name).await.ok().and_then(|c| c.status).and_then(|s| s.conditions)
                        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
                    if ok {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            // Discovery of new groups can lag a moment behind Established.
            tokio::time::sleep(Duration::from_secs(1)).await;
        })
        .await;
}

/// A dynamic API for `api_version`/`kind` (plural given) in the namespace.
pub fn dynamic(
    ns: &TestNamespace,
    api_version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let r = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(ns.client.clone(), &ns.name, &r)
}
