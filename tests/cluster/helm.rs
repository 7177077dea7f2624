//! The chart as an SRE installs it: real `helm install`, `helm upgrade` and
//! `helm uninstall` (helm from `PATH`; `bash .ci/tools.sh up` provides it)
//! into the real kube-apiserver. The API server has no kubelet, so the
//! operator's pod stays Pending: these tests check what Helm and the API
//! server do with the chart's objects, and that an upgrade or uninstall never
//! touches the CRD or the recommendations.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};

use crate::common::{cluster, operator, week, SeriesSource, TestNamespace};

pub(crate) fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/stepscale-autoscaler")
}

/// `helm` from PATH; skipped (or failed under CI=true) without it.
pub(crate) fn helm(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("helm"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: CI=true but helm is not on PATH; `bash .ci/tools.sh up` provides it"
        );
        eprintln!("{test}: skipped: helm is not on PATH (`bash .ci/tools.sh up`)");
    }
    found
}

pub(crate) fn run(helm: &Path, args: &[&str]) -> String {
    let out = Command::new(helm).args(args).output().expect("helm runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "helm {args:?} failed:\n{text}");
    text
}

/// The chart copied with another version, as a new release of it would be.
fn changed_chart(dir: &Path) -> PathBuf {
    let copy = dir.join("stepscale-autoscaler");
    let status = Command::new("cp")
        .arg("-r")
        .arg(chart())
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success());
    let manifest = copy.join("Chart.yaml");
    let text = std::fs::read_to_string(&manifest).expect("Chart.yaml");
    std::fs::write(&manifest, text.replace("version: 0.1.0", "version: 0.1.1")).expect("write");
    copy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_upgrade_and_uninstall_keep_the_crd_and_the_recommendations() {
    let test = "install_upgrade_and_uninstall_keep_the_crd_and_the_recommendations";
    let Some(client) = cluster("helm").await else {
        return;
    };
    let Some(helm) = helm(test) else {
        return;
    };
    let ns = TestNamespace::new(client.clone(), "helm").await;
    let release = format!("h{}", &ns.name[ns.name.len() - 6..]);
    let full = format!("{release}-stepscale-autoscaler");
    let chart_path = chart();
    let chart = chart_path.to_str().expect("utf-8");

    // Default values: cluster-wide RBAC, one replica.
    run(
        &helm,
        &["install", &release, chart, "--namespace", &ns.name],
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let dep = deployments.get(&full).await.expect("the Deployment");
    assert_eq!(dep.spec.replicas, Some(1));
    Api::<ServiceAccount>::namespaced(client.clone(), &ns.name)
        .get(&full)
        .await
        .expect("the ServiceAccount");
    Api::<ConfigMap>::namespaced(client.clone(), &ns.name)
        .get(&format!("{full}-config"))
        .await
        .expect("the values ConfigMap");
    Api::<ClusterRole>::all(client.clone())
        .get(&full)
        .await
        .expect("the ClusterRole");
    Api::<Role>::namespaced(client.clone(), &ns.name)
        .get(&format!("{full}-self"))
        .await
        .expect("the release namespace Role");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.get("scalingrecommendations.stepscale.io")
        .await
        .expect("the CRD is installed");

    // A recommendation, approved by a person (not yet applied).
    ns.deployment("web", 4).await;
    ns.hpa("web", "web", 4, 20, 60).await;
    let source = Arc::new(SeriesSource::default().with_history("web", week(), 4.0));
    operator(&ns, "op-helm", source, 6, 600)
        .tick()
        .await
        .expect("tick");
    ns.approve("web-hpa").await;
    let before = ns.rec("web-hpa").await;
    assert!(before.spec.approved);

    // The manual's upgrade, to a changed chart: two replicas get a PDB; the
    // recommendation keeps its approval and status.
    let dir = std::env::temp_dir().join(format!("stepscale-helm-{}", ns.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let next = changed_chart(&dir);
    run(
        &helm,
        &[
            "upgrade",
            &release,
            next.to_str().expect("utf-8"),
            "--namespace",
            &ns.name,
            "--reuse-values",
            "--set",
            "replicaCount=2",
        ],
    );
    let dep = deployments.get(&full).await.expect("the Deployment");
    assert_eq!(dep.spec.replicas, Some(2));
    assert_eq!(
        dep.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("helm.sh/chart"))
            .map(String::as_str),
        Some("stepscale-autoscaler-0.1.1")
    );
    let gvk = GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget");
    let pdbs: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns.name,
        &ApiResource::from_gvk_with_plural(&gvk, "poddisruptionbudgets"),
    );
    let pdb = pdbs.get(&full).await.expect("a PDB with two replicas");
    assert_eq!(pdb.data["spec"]["maxUnavailable"], 1);
    let after = ns.rec("web-hpa").await;
    assert_eq!(after.spec, before.spec, "the upgrade left the spec alone");
    assert_eq!(after.status, before.status, "and the status");

    // Uninstall: the operator's objects go; the CRD and the recommendations
    // stay (Helm never deletes CRDs).
    run(&helm, &["uninstall", &release, "--namespace", &ns.name]);
    assert!(deployments.get_opt(&full).await.expect("get").is_none());
    assert!(Api::<ClusterRole>::all(client.clone())
        .get_opt(&full)
        .await
        .expect("get")
        .is_none());
    crds.get("scalingrecommendations.stepscale.io")
        .await
        .expect("the CRD stays");
    let kept = ns.rec("web-hpa").await;
    assert!(kept.spec.approved, "the recommendation stays, approved");
    assert_eq!(kept.status, before.status);

    let _ = std::fs::remove_dir_all(&dir);
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_option_installs() {
    let test = "every_documented_option_installs";
    let Some(client) = cluster("helm-all").await else {
        return;
    };
    let Some(helm) = helm(test) else {
        return;
    };
    let ns = TestNamespace::new(client.clone(), "helm-all").await;
    let release = format!("a{}", &ns.name[ns.name.len() - 6..]);
    let full = format!("{release}-stepscale-autoscaler");
    let values = format!(
        r#"
replicaCount: 2
intervalSeconds: 120
namespaces: [{ns}]
leaderElection: {{leaseName: my-lease}}
prometheus:
  url: http://prometheus.monitoring:9090
  stepSeconds: 60
  queries: {{cpuUtilization: 'avg(my_cpu{{namespace="{{namespace}}"}})'}}
forecasting: {{enabled: false}}
llm: {{provider: anthropic, model: claude-3-5-haiku-latest, baseUrl: "https://llm-gateway.internal/v1", timeoutSeconds: 20, maxTokens: 500, temperature: 0.2, maxCallsPerTick: 5, concurrency: 1, budgetSeconds: 60, secretName: llm-key}}
license:
  secretName: stepscale-license
  publicKey: 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
safety: {{probationWindowMinutes: 2880, healthCpuMargin: 12.5}}
objective: {{mode: balanced}}
rules:
  namespaces: [{ns}]
  trustedKeys: [11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=]
  enabled: {{thrashing: false}}
  replaceBuiltins: [idle-windows]
  params: {{scale-lag: {{minEpisodes: 5}}}}
rbac:
  extraScaleTargets: [{{apiGroup: zookeeper.stackable.tech, resource: stackablescalers}}]
metrics:
  serviceMonitor: {{enabled: false}}
networkPolicy:
  enabled: true
  apiServer: {{cidrs: [127.0.0.1/32]}}
  prometheus: {{to: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: monitoring}}}}}}]}}
  llm: {{cidrs: [160.79.104.0/23]}}
"#,
        ns = ns.name
    );
    let dir = std::env::temp_dir().join(format!("stepscale-helm-{}", ns.name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("values.yaml");
    std::fs::write(&file, values).expect("values");
    let chart_path = chart();
    run(
        &helm,
        &[
            "install",
            &release,
            chart_path.to_str().expect("utf-8"),
            "--namespace",
            &ns.name,
            "-f",
            file.to_str().expect("utf-8"),
        ],
    );
    // Namespaced RBAC: a Role here, no ClusterRole.
    Api::<Role>::namespaced(client.clone(), &ns.name)
        .get(&full)
        .await
        .expect("the workload Role");
    assert!(Api::<ClusterRole>::all(client.clone())
        .get_opt(&full)
        .await
        .expect("get")
        .is_none());
    let np = Api::<NetworkPolicy>::namespaced(client.clone(), &ns.name)
        .get(&full)
        .await
        .expect("the NetworkPolicy");
    let egress = np.spec.and_then(|s| s.egress).expect("egress");
    assert_eq!(egress.len(), 4, "DNS, API server, Prometheus, LLM");
    let dep = Api::<Deployment>::namespaced(client.clone(), &ns.name)
        .get(&full)
        .await
        .expect("the Deployment");
    assert_eq!(dep.spec.replicas, Some(2));
    run(&helm, &["uninstall", &release, "--namespace", &ns.name]);
    let _ = std::fs::remove_dir_all(&dir);
    ns.cleanup().await;
}
