//! Fleet benchmark: operator ticks over N autoscalers on a real API server.
//!
//! ```sh
//! KUBECONFIG=... cargo bench -p stepscale-tests --bench fleet          # N = 1,000
//! STEPSCALE_FLEET_N=10000 KUBECONFIG=... cargo bench -p stepscale-tests --bench fleet
//! STEPSCALE_FLEET_N=10000 STEPSCALE_FLEET_TICKS=5 KUBECONFIG=... cargo bench -p stepscale-tests --bench fleet
//! # history from a real Prometheus holding N weeks:
//! bash .ci/fleet_prometheus.sh up 1000     # prints STEPSCALE_FLEET_PROMETHEUS_URL=...
//! STEPSCALE_FLEET_PROMETHEUS_URL=http://127.0.0.1:19091 KUBECONFIG=... cargo bench -p stepscale-tests --bench fleet
//! ```
//!
//! Creates N Deployments (0 replicas: no pods) and N HPAs in N/100
//! namespaces, then runs the operator's tick in-process, twice or
//! `STEPSCALE_FLEET_TICKS` times: the first creates the ScalingRecommendations
//! (as many as the mutating pass's time budget allows: at 10,000 it takes
//! several ticks), the ones after create the rest, then find nothing to
//! change.
//! Each tick prints its time and split (reads, analysis, writes), the API
//! requests it made by method, the history calls (or the Prometheus range
//! queries and megabytes read), the process's RSS, and the CPU seconds the
//! operator and, where they run on this machine, the API server, etcd and
//! Prometheus spent in it. After the ticks, a second table gives each
//! tick's API requests by method and resource.
//!
//! History: every autoscaler gets a week of a real NAB CPU series at 5
//! minutes (which series and where it starts vary with the autoscaler),
//! from an in-process source, or with `STEPSCALE_FLEET_PROMETHEUS_URL` from
//! a real Prometheus backfilled by `.ci/fleet_openmetrics.py` in the metric
//! names the default PromQL reads (cAdvisor's CPU counter, kube-state-metrics'
//! requests and HPA replicas), read with the operator's default queries;
//! the second tick fetches only each window's tail. The fixture names the
//! namespaces, so in this mode they are `ss-fleet-prom-<i>` (an earlier
//! run's must be gone).
//! Without `KUBECONFIG` it says so and exits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;
use stepscale_engine::snapshot::AutoscalingConfig;
use stepscale_engine::EngineConfig;
use stepscale_operator::analysis::Analyzer;
use stepscale_operator::history::source::HistorySource;
use stepscale_operator::history::{HistoryKey, MetricsSource, SourcedHistory};
use stepscale_operator::license::LicenseState;
use stepscale_operator::operator::config::Values;
use stepscale_operator::operator::controller::Operator;
use stepscale_rules_sdk::harness::traces;
use stepscale_tests::workload;

/// Autoscalers per namespace.
const PER_NAMESPACE: usize = 100;
/// Namespaces of the Prometheus mode, as `.ci/fleet_openmetrics.py` names
/// them (with its 100 autoscalers a namespace).
const PROMETHEUS_NAMESPACE_PREFIX: &str = "ss-fleet-prom-";
/// Objects created at once while setting up.
const SETUP_CONCURRENCY: usize = 16;

const SERIES: [&str; 6] = [
    "ec2_cpu_utilization_5f5533",
    "ec2_cpu_utilization_24ae8d",
    "ec2_cpu_utilization_77c1ca",
    "ec2_cpu_utilization_53ea38",
    "ec2_cpu_utilization_ac20cd",
    "rds_cpu_utilization_cc0c53",
];

/// A week at 5 minutes for every autoscaler, ending now; counts its calls.
struct FleetHistory {
    series: Vec<Vec<f64>>,
    calls: AtomicU64,
    end: i64,
}

impl FleetHistory {
    fn new() -> Self {
        FleetHistory {
            series: SERIES
                .iter()
                .map(|name| traces::load_nab(env!("CARGO_MANIFEST_DIR"), name).values)
                .collect(),
            calls: AtomicU64::new(0),
            end: jiff::Timestamp::now().as_second(),
        }
    }

    /// Which series and offset autoscaler `name` (`w<k>`) gets.
    fn week(&self, name: &str) -> Vec<f64> {
        let k: usize = name.trim_start_matches('w').parse().unwrap_or(0);
        let s = &self.series[k % self.series.len()];
        let offset = (k / self.series.len()) % 8 * 144;
        s.iter().skip(offset).take(2016).copied().collect()
    }
}

impl HistorySource for FleetHistory {
    fn history<'a>(
        &'a self,
        key: &'a HistoryKey,
        _now: i64,
    ) -> BoxFuture<'a, Option<SourcedHistory>> {
        Box::pin(async move {
            let cpu = self.week(&key.autoscaler);
            let start = self.end - 300 * cpu.len() as i64;
            self.calls.fetch_add(1, Ordering::Relaxed);
            Some(SourcedHistory {
                history: workload::hpa(AutoscalingConfig::default(), None, start, 300, cpu, 4.0)
                    .history,
                source: MetricsSource::HpaStatus,
            })
        })
    }
}

/// API requests by method and resource (`GET deployments`, …).
#[derive(Default)]
struct Requests(Mutex<BTreeMap<String, u64>>);

impl Requests {
    fn count(&self, method: &str, path: &str) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(format!("{method} {}", resource_of(path)))
                .or_default() += 1;
        }
    }

    /// The counts since the last call: by method, and by method and resource.
    fn take(&self) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
        let by_resource = self
            .0
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        let mut by_method = BTreeMap::new();
        for (what, c) in &by_resource {
            let method = what.split(' ').next().unwrap_or_default().to_string();
            *by_method.entry(method).or_default() += c;
        }
        (by_method, by_resource)
    }
}

/// The resource an API path names (`deployments`, `scalingrecommendations/status`,
/// …), or `discovery` for a group or version document.
fn resource_of(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('?')
        .next()
        .unwrap_or_default()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    // /api/v1/… or /apis/<group>/<version>/…
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..),
        Some(&"apis") => segments.get(3..),
        _ => None,
    }
    .unwrap_or_default();
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    match rest {
        [] => "discovery".to_string(),
        [resource] | [resource, _] => resource.to_string(),
        [resource, _, sub, ..] => format!("{resource}/{sub}"),
    }
}

/// CPU seconds (user + system) a process has used so far, from
/// `/proc/<pid>/stat` (fields 14 and 15, in the kernel's USER_HZ, which is
/// 100 on every Linux architecture this runs on).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<f64>().ok();
    Some((ticks(14)? + ticks(15)?) / 100.0)
}

/// The processes whose CPU each tick reports, by label: this one, and the
/// API server, etcd and Prometheus (every instance) when they run on this
/// machine (found by their command name in `/proc`; elsewhere, e.g. kind,
/// they are not).
fn watched_processes() -> Vec<(&'static str, Vec<String>)> {
    let mut found: Vec<(&'static str, Vec<String>)> = vec![("operator", vec!["self".into()])];
    for label in ["API server", "etcd", "Prometheus"] {
        found.push((label, Vec::new()));
    }
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let pid = entry.file_name().to_string_lossy().to_string();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            let label = match comm.trim() {
                "kube-apiserver" => "API server",
                "etcd" => "etcd",
                "prometheus" => "Prometheus",
                _ => continue,
            };
            if let Some((_, pids)) = found.iter_mut().find(|(l, _)| *l == label) {
                pids.push(pid);
            }
        }
    }
    found.retain(|(_, pids)| !pids.is_empty());
    found
}

/// The CPU seconds of `pids` together; `None` if one cannot be read.
fn cpu_of(pids: &[String]) -> Option<f64> {
    pids.iter().map(|p| cpu_seconds(p)).sum()
}

/// `VmRSS` and `VmHWM` of this process, MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

fn hpa_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("autoscaling", "v2beta2", "HorizontalPodAutoscaler"),
        "horizontalpodautoscalers",
    )
}

async fn setup(client: &kube::Client, namespaces: &[String], n: usize) {
    for ns in namespaces {
        let obj: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
        match Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &obj)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => panic!(
                "namespace {ns} exists already (an earlier run's, still being deleted?): \
                 delete it (kubectl delete ns {ns}) and run again"
            ),
            Err(e) => panic!("create namespace {ns}: {e}"),
        }
    }
    let creates: Vec<_> = (0..n)
        .map(|k| {
            let client = client.clone();
            let ns = namespaces[k / PER_NAMESPACE].clone();
            async move {
                let name = format!("w{k}");
                let d: Deployment = serde_json::from_value(json!({
                    "metadata": {"name": name},
                    "spec": {
                        "replicas": 0,
                        "selector": {"matchLabels": {"app": name}},
                        "template": {
                            "metadata": {"labels": {"app": name}},
                            "spec": {"containers": [{
                                "name": "app", "image": "registry.invalid/app:1",
                                "resources": {"requests": {"cpu": "500m"}}
                            }]}
                        }
                    }
                }))
                .expect("deployment");
                Api::<Deployment>::namespaced(client.clone(), &ns)
                    .create(&PostParams::default(), &d)
                    .await
                    .expect("create deployment");
                let hpa: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler",
                    "metadata": {"name": name},
                    "spec": {
                        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                        "minReplicas": 4, "maxReplicas": 20,
                        "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 60}}}]
                    }
                }))
                .expect("hpa");
                Api::<DynamicObject>::namespaced_with(client, &ns, &hpa_resource())
                    .create(&PostParams::default(), &hpa)
                    .await
                    .expect("create hpa");
            }
        })
        .collect();
    futures::stream::iter(creates)
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
}

fn main() {
    if std::env::var("KUBECONFIG").map_or(true, |k| k.is_empty()) {
        println!(
            "fleet: skipped: KUBECONFIG is not set (bash .ci/k8s.sh up starts a test API server)"
        );
        return;
    }
    // The operator's log lines when RUST_LOG asks for them.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let n: usize = std::env::var("STEPSCALE_FLEET_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ticks: u32 = std::env::var("STEPSCALE_FLEET_TICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|t| *t >= 1)
        .unwrap_or(2);
    rt.block_on(run(n, ticks));
}

async fn run(n: usize, ticks: u32) {
    let requests = Arc::new(Requests::default());
    let counted = requests.clone();
    let config = kube::Config::infer().await.expect("kubeconfig");
    let client = kube::client::ClientBuilder::try_from(config)
        .expect("client")
        .with_layer(&tower::util::MapRequestLayer::new(
            move |req: http::Request<kube::client::Body>| {
                counted.count(req.method().as_str(), req.uri().path());
                req
            },
        ))
        .build();
    let prometheus = std::env::var("STEPSCALE_FLEET_PROMETHEUS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    // With Prometheus, the namespaces `.ci/fleet_openmetrics.py` wrote the
    // series in; else names of this run's own.
    let prefix = match &prometheus {
        Some(_) => PROMETHEUS_NAMESPACE_PREFIX.to_string(),
        None => format!(
            "ss-fleet-{:x}-",
            jiff::Timestamp::now().as_millisecond() % 0xffffff
        ),
    };
    let namespaces: Vec<String> = (0..n.div_ceil(PER_NAMESPACE))
        .map(|i| format!("{prefix}{i}"))
        .collect();
    println!(
        "fleet: {n} HPAs on Deployments in {} namespaces; history: a week at 5 min per autoscaler from NAB series, {}",
        namespaces.len(),
        match &prometheus {
            Some(url) => format!("from a real Prometheus at {url} (.ci/fleet_openmetrics.py; cAdvisor and kube-state-metrics names, the default queries)"),
            None => "in-process (no Prometheus)".to_string(),
        }
    );
    // The CRD, as the chart installs it.
    let crd = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../charts/stepscale-autoscaler/crds/scalingrecommendation.yaml"
    );
    let kubectl = |args: &[&str]| {
        let out = std::process::Command::new("kubectl")
            .args(args)
            .output()
            .expect("kubectl runs (bash .ci/tools.sh up puts it on PATH)");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    kubectl(&["apply", "-f", crd]);
    let established = r#"jsonpath={.status.conditions[?(@.type=="Established")].status}"#;
    for _ in 0..100 {
        let got = kubectl(&[
            "get",
            "crd",
            "scalingrecommendations.stepscale.io",
            "-o",
            established,
        ]);
        if got.trim() == "True" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    setup(&client, &namespaces, n).await;
    println!(
        "setup: {:.1} s ({} API requests)",
        started.elapsed().as_secs_f64(),
        requests.take().0.values().sum::<u64>()
    );

    let mut values = json!({
        "intervalSeconds": 300,
        "namespaces": namespaces,
        "leaderElection": {"enabled": false},
        "http": {"address": "127.0.0.1:0"}
    });
    if let Some(url) = &prometheus {
        values["prometheus"] = json!({ "url": url });
    }
    let values: Values =
        serde_yaml::from_value(serde_yaml::to_value(values).expect("values")).expect("values");
    let config = values
        .into_config("fleet-bench".into(), None)
        .expect("config");
    let analyzer = Arc::new(
        Analyzer::with_builtin_rules(EngineConfig::default())
            .expect("the rule engine starts")
            .with_objective(config.objective),
    );
    let history = Arc::new(FleetHistory::new());
    let mut op = Operator::new(client.clone(), config, analyzer, LicenseState::Licensed);
    if prometheus.is_none() {
        op = op.with_history(history.clone());
    }
    // As `Operator::run` does: the passes read the recommendations from a
    // watch once it has listed.
    let _watches = op.watch_recommendations(Arc::new(tokio::sync::Notify::new()));
    let listed = Instant::now();
    while !op.recommendations_watched() && listed.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        op.recommendations_watched(),
        "the recommendation watch did not list within 60 s"
    );
    requests.take();
    let (rss, _) = rss_mib();
    println!("before the first tick (rule engine started, cluster set up, recommendations watched): RSS {rss:.0} MiB");
    // CPU seconds each tick, of this process and of the API server, etcd
    // and Prometheus where they run here: where a tick's time goes.
    let processes = watched_processes();
    let cpu_header: Vec<&str> = processes.iter().map(|(label, _)| *label).collect();
    println!("| tick | total s | reads s | analysis s | writes s | created | updated | API requests (by method) | history calls or Prometheus requests (MB) | RSS MiB (peak) | CPU s ({}) |", cpu_header.join(" / "));
    println!("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|");
    let mut resources = Vec::new();
    for tick in 1..=ticks {
        history.calls.store(0, Ordering::Relaxed);
        let cpu_before: Vec<Option<f64>> = processes.iter().map(|(_, p)| cpu_of(p)).collect();
        let r = op.tick().await.expect("tick");
        let cpu: Vec<String> = processes
            .iter()
            .zip(&cpu_before)
            .map(|((_, p), before)| match (before, cpu_of(p)) {
                (Some(b), Some(a)) => format!("{:.1}", a - b),
                _ => "–".to_string(),
            })
            .collect();
        let (by_method, by_resource) = requests.take();
        resources.push((tick, by_resource));
        let total: u64 = by_method.values().sum();
        let methods: Vec<String> = by_method.iter().map(|(m, c)| format!("{m} {c}")).collect();
        let (rss, hwm) = rss_mib();
        println!(
            "| {tick} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {total} ({}) | {} | {rss:.0} ({hwm:.0}) | {} |",
            r.timings.total,
            r.timings.read,
            r.timings.analysis,
            r.timings.writes,
            r.published.created,
            r.published.updated,
            methods.join(", "),
            if prometheus.is_some() {
                format!(
                    "{} ({:.1})",
                    r.prometheus_requests,
                    r.prometheus_bytes as f64 / 1e6
                )
            } else {
                history.calls.load(Ordering::Relaxed).to_string()
            },
            cpu.join(" / "),
        );
        if prometheus.is_some() {
            assert_eq!(
                r.analyzed + r.deferred,
                n,
                "every autoscaler has its history from Prometheus: {r:?}"
            );
        }
        assert_eq!(r.autoscalers, n, "every autoscaler listed");
    }
    println!();
    println!("| tick | API requests by method and resource |");
    println!("|---|---|");
    for (tick, by_resource) in resources {
        let each: Vec<String> = by_resource
            .iter()
            .map(|(what, c)| format!("{what} {c}"))
            .collect();
        println!("| {tick} | {} |", each.join(", "));
    }
    let started = Instant::now();
    for ns in &namespaces {
        let _ = Api::<Namespace>::all(client.clone())
            .delete(ns, &DeleteParams::default())
            .await;
    }
    // Wait until they are gone, so a run after this one does not share the
    // API server with their garbage collection.
    let api = Api::<Namespace>::all(client.clone());
    for _ in 0..600 {
        let mut left = 0;
        for ns in &namespaces {
            if api.get_opt(ns).await.ok().flatten().is_some() {
                left += 1;
            }
        }
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "cleanup: namespaces deleted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
