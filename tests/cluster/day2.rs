//! The manual's day-2 flow run by the chart's Pod on the real node: history
//! from a real Prometheus, a person approves, the Pod applies, probation
//! verifies one change and rolls back the other (its metrics stopped), while
//! `helm upgrade` rolls
//! the pods mid-probation; then `helm rollback` and uninstall. The kubelet's
//! stats give the operator pod's memory and CPU under this use.
//!
//! Needs what `node` needs, plus the test Prometheus on the node's bridge
//! (`bash .ci/prometheus.sh up` after `bash .ci/k8s.sh up`:
//! `STEPSCALE_TEST_PROMETHEUS_URL=http://10.244.0.1:19090`), which holds the
//! day-2 workloads' week and the three hours after it
//! (`.ci/day2_openmetrics.py` says what each series is).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams, PostParams};
use kube::Client;
use serde_json::{json, Value};
use stepscale_operator::crd::phase::Phase;
use stepscale_operator::crd::ScalingRecommendation;

use crate::common::{eventually, TestNamespace};
use crate::helm::{chart, helm, run};
use crate::node::{ctr, import_image, lease, node_and_image, ready, sh};

/// The namespace the fixture's series are labelled with.
const WORKLOADS: &str = "stepscale-day2";
/// The probation set by values, minutes (the chart's smallest unit): long
/// enough that rolling both pods to a new tag fits inside it on a loaded
/// 2-core machine (three rolls together took 128 s there), short enough to keep the
/// test's waits (one window for shop, two for cart) in minutes.
const PROBATION_MINUTES: u64 = 3;

/// The test Prometheus, reachable from pods on the node; skipped (failed
/// under CI=true) without it.
fn prometheus_for_pods(test: &str) -> Option<String> {
    let url = std::env::var("STEPSCALE_TEST_PROMETHEUS_URL").ok();
    match url {
        Some(u) if !u.contains("127.0.0.1") && !u.contains("localhost") => Some(u),
        other => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: CI=true but STEPSCALE_TEST_PROMETHEUS_URL ({other:?}) is not reachable from pods; start the node first (`bash .ci/k8s.sh up`), then `bash .ci/prometheus.sh up` serves on its bridge"
            );
            eprintln!("{test}: skipped: no Prometheus on the node's bridge ({other:?})");
            None
        }
    }
}

/// A Deployment of four pods (the node's pause image, 50m CPU each) and
/// its HPA: minReplicas 4, maxReplicas 20, CPU target 60 %, as the
/// fixture's history was recorded under. Returns the HPA's spec.
async fn workload(ns: &TestNamespace, name: &str) -> Value {
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app", "image": "local.test/pause:3.2",
                    "imagePullPolicy": "Never",
                    "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}}
                }]}
            }
        }
    }))
    .expect("deployment manifest");
    Api::<Deployment>::namespaced(ns.client.clone(), &ns.name)
        .create(&PostParams::default(), &d)
        .await
        .expect("create the deployment");
    ns.hpa(name, name, 4, 20, 60).await
}

/// A license for this run, signed with a key made here, and its public key.
fn license() -> (String, String) {
    let key = SigningKey::from_bytes(&[42; 32]);
    let now = jiff::Timestamp::now();
    let day = jiff::SignedDuration::from_hours(24);
    let payload = json!({
        "licensee": "day-2 test",
        "issued": now.checked_sub(day).expect("a date").to_string(),
        "expires": now.checked_add(day * 30).expect("a date").to_string(),
        "features": ["apply"],
    })
    .to_string();
    let file = json!({
        "format": "stepscale-license/v1",
        "payload": BASE64.encode(&payload),
        "signature": BASE64.encode(key.sign(payload.as_bytes()).to_bytes()),
    })
    .to_string();
    (file, BASE64.encode(key.verifying_key().to_bytes()))
}

/// The release's pods.
async fn pods_of(client: &Client, ns: &str, release: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={release}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

/// Wait until the release runs exactly `n` pods, all Ready, all on `tag`.
async fn rolled_out(client: &Client, ns: &str, release: &str, n: usize, tag: &str) {
    eventually(
        &format!("{n} Ready operator pod(s) on tag {tag}"),
        Duration::from_secs(180),
        || async move {
            let pods = pods_of(client, ns, release).await;
            pods.len() == n
                && pods.iter().all(|p| {
                    ready(p)
                        && p.metadata.deletion_timestamp.is_none()
                        && p.spec.as_ref().is_some_and(|s| {
                            s.containers[0]
                                .image
                                .as_deref()
                                .is_some_and(|i| i.ends_with(&format!(":{tag}")))
                        })
                })
        },
    )
    .await;
}

/// A counter's value (summed over its labels) from a pod's /metrics.
async fn counter(client: &Client, ns: &str, pod: &str, name: &str) -> f64 {
    let ip = Api::<Pod>::namespaced(client.clone(), ns)
        .get(pod)
        .await
        .ok()
        .and_then(|p| p.status?.pod_ip)
        .expect("the pod's IP");
    let (ok, text) = sh("curl", &["-sf", &format!("http://{ip}:8080/metrics")]);
    assert!(ok, "GET /metrics of {pod}: {text}");
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// How many Events with `reason` the operator published about `rec`.
async fn events(ns: &TestNamespace, rec: &str, reason: &str) -> usize {
    ns.event_notes("ScalingRecommendation", rec, reason)
        .await
        .len()
}

/// One reading of the kubelet's stats: per operator pod, memory working set
/// (bytes) and CPU (nanocores).
fn kubelet_stats(ns: &str) -> BTreeMap<String, (u64, u64)> {
    let (ok, raw) = sh(
        "kubectl",
        &["get", "--raw", "/api/v1/nodes/node1/proxy/stats/summary"],
    );
    assert!(ok, "kubelet stats: {raw}");
    let v: Value = serde_json::from_str(&raw).expect("stats JSON");
    let mut out = BTreeMap::new();
    for p in v["pods"].as_array().into_iter().flatten() {
        if p["podRef"]["namespace"] != ns {
            continue;
        }
        let name = p["podRef"]["name"].as_str().unwrap_or_default().to_string();
        for c in p["containers"].as_array().into_iter().flatten() {
            if c["name"] != "operator" {
                continue;
            }
            let mem = c["memory"]["workingSetBytes"].as_u64();
            let cpu = c["cpu"]["usageNanoCores"].as_u64();
            if let (Some(mem), Some(cpu)) = (mem, cpu) {
                out.insert(name.clone(), (mem, cpu));
            }
        }
    }
    out
}

/// The kubelet's readings (memory working set, CPU) of the operator pods,
/// taken every second in the background while the flow runs.
#[derive(Default)]
struct Usage {
    samples: Vec<(u64, u64)>,
}

impl Usage {
    fn summary(&self) -> String {
        let mut mem: Vec<u64> = self.samples.iter().map(|s| s.0).collect();
        let mut cpu: Vec<u64> = self.samples.iter().map(|s| s.1).collect();
        mem.sort_unstable();
        cpu.sort_unstable();
        let mib = |b: u64| b as f64 / 1_048_576.0;
        let milli = |n: u64| n as f64 / 1e6;
        format!(
            "{} readings: memory working set min {:.1} MiB, median {:.1} MiB, max {:.1} MiB; CPU min {:.0}m, median {:.0}m, max {:.0}m",
            mem.len(),
            mib(mem[0]),
            mib(mem[mem.len() / 2]),
            mib(mem[mem.len() - 1]),
            milli(cpu[0]),
            milli(cpu[cpu.len() / 2]),
            milli(cpu[cpu.len() - 1]),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manuals_day_2_flow_runs_from_the_pod_through_upgrades_and_rollback() {
    let test = "day-2-on-node";
    let Some(client) = crate::common::cluster(test).await else {
        return;
    };
    let Some((containerd, archive, tag)) = node_and_image(test) else {
        return;
    };
    let Some(helm) = helm(test) else {
        return;
    };
    let Some(prometheus) = prometheus_for_pods(test) else {
        return;
    };
    let repo = import_image(&containerd, &archive);
    // A second tag of the same image, as a new release would be pushed.
    let next = format!("{tag}-next");
    let (ok, out) = ctr(
        &containerd,
        &[
            "images",
            "tag",
            "--force",
            &format!("{repo}:{tag}"),
            &format!("{repo}:{next}"),
        ],
    );
    assert!(ok, "ctr images tag: {out}");

    let work = TestNamespace::named(client.clone(), WORKLOADS).await;
    let ns = TestNamespace::new(client.clone(), "day2").await;
    let shop_before = workload(&work, "shop").await;
    let cart_before = workload(&work, "cart").await;

    let (license, public_key) = license();
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "stepscale-license"},
        "stringData": {"license.json": license},
    }))
    .expect("secret manifest");
    Api::<Secret>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the license Secret");

    // The kubelet's view of the operator pods, read every second.
    let usage = std::sync::Arc::new(std::sync::Mutex::new(Usage::default()));
    let sampler = {
        let usage = usage.clone();
        let ns = ns.name.clone();
        tokio::spawn(async move {
            loop {
                let ns = ns.clone();
                let s = tokio::task::spawn_blocking(move || kubelet_stats(&ns))
                    .await
                    .unwrap_or_default();
                usage.lock().expect("usage").samples.extend(s.into_values());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    let release = format!("d{}", &ns.name[ns.name.len() - 6..]);
    let chart = chart();
    let chart = chart.to_string_lossy();
    run(
        &helm,
        &[
            "install",
            &release,
            &chart,
            "--namespace",
            &ns.name,
            "--set",
            &format!("image.repository={repo}"),
            "--set",
            &format!("image.tag={tag}"),
            "--set",
            &format!("namespaces={{{WORKLOADS}}}"),
            "--set",
            &format!("prometheus.url={prometheus}"),
            "--set",
            // Six or more health samples in three minutes of probation, and
            // the most history Prometheus serves at that step (11,000 points).
            "prometheus.stepSeconds=30",
            "--set",
            "prometheus.lookbackSeconds=320000",
            "--set",
            "license.secretName=stepscale-license",
            "--set",
            &format!("license.publicKey={public_key}"),
            "--set",
            &format!("safety.probationWindowMinutes={PROBATION_MINUTES}"),
            "--set",
            "intervalSeconds=5",
        ],
    );
    rolled_out(&client, &ns.name, &release, 1, &tag).await;
    let deploy = format!("deploy/{release}-stepscale-autoscaler");
    let upgrade_with = |set: &str| {
        run(
            &helm,
            &[
                "upgrade",
                &release,
                &chart,
                "--namespace",
                &ns.name,
                "--reuse-values",
                "--set",
                set,
            ],
        )
    };

    // A recommendation for each workload, from the Prometheus history.
    let recs = work.recs();
    let current = |name: &'static str| {
        let recs = recs.clone();
        async move { recs.get_opt(name).await.ok().flatten() }
    };
    for name in ["shop-hpa", "cart-hpa"] {
        eventually(
            &format!("{name}: a recommendation with a change"),
            Duration::from_secs(180),
            || async move {
                current(name)
                    .await
                    .is_some_and(|r| !r.spec.recommendation.proposed.is_empty())
            },
        )
        .await;
    }
    let (ok, logs) = sh("kubectl", &["logs", "-n", &ns.name, &deploy]);
    assert!(ok, "kubectl logs: {logs}");
    assert!(
        logs.contains("metrics source: Prometheus"),
        "the Pod reads Prometheus: {logs}"
    );
    assert!(
        logs.contains("license=licensed"),
        "the Pod read the license: {logs}"
    );

    // A standby for the leader: scale the release to two replicas.
    upgrade_with("replicaCount=2");
    rolled_out(&client, &ns.name, &release, 2, &tag).await;

    // A person approves both, with the manual's command.
    for name in ["shop-hpa", "cart-hpa"] {
        let (ok, out) = sh(
            "kubectl",
            &[
                "patch",
                "scalerec",
                name,
                "-n",
                WORKLOADS,
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"approved":true}}"#,
            ],
        );
        assert!(ok, "kubectl patch: {out}");
    }
    let phase = |name: &'static str| async move {
        current(name)
            .await
            .map(|r: ScalingRecommendation| r.phase())
    };
    for name in ["shop-hpa", "cart-hpa"] {
        eventually(
            &format!("{name} applied"),
            Duration::from_secs(60),
            || async move { phase(name).await == Some(Phase::Applied) },
        )
        .await;
    }
    let mut applied: BTreeMap<&str, ScalingRecommendation> = BTreeMap::new();
    for name in ["shop-hpa", "cart-hpa"] {
        applied.insert(name, work.rec(name).await);
    }
    for (name, rec) in &applied {
        let hpa = work.hpa_spec(name.trim_end_matches("-hpa")).await;
        let p = &rec.spec.recommendation.proposed;
        if let Some(min) = p.min_replicas {
            assert_eq!(hpa["minReplicas"], json!(min), "{name}: applied");
        }
        if let Some(cpu) = p.cpu_target_percent {
            assert_eq!(
                hpa["metrics"][0]["resource"]["target"]["averageUtilization"],
                json!(cpu),
                "{name}: applied"
            );
        }
    }
    let first = lease(&client, &ns.name).await.0.expect("a leader");
    assert_eq!(
        counter(&client, &ns.name, &first, "stepscale_applies_total").await,
        2.0,
        "the Pod counts its two applies"
    );

    // Mid-probation: move the release to a new image tag. Both pods roll,
    // the leader among them; the changes stay on probation.
    let upgrade = Instant::now();
    upgrade_with(&format!("image.tag={next}"));
    rolled_out(&client, &ns.name, &release, 2, &next).await;
    println!(
        "helm upgrade of 2 pods to a new tag rolled out in {:.1} s",
        upgrade.elapsed().as_secs_f64()
    );
    let now = jiff::Timestamp::now();
    for (name, before) in &applied {
        let rec = work.rec(name).await;
        let status = rec.status.clone().expect("status");
        let until: jiff::Timestamp = status
            .probation_until
            .as_deref()
            .and_then(|t| t.parse().ok())
            .expect("probationUntil");
        assert!(
            now < until,
            "{name}: the upgrades outlasted the probation ({PROBATION_MINUTES} min); the test cannot show it continuing"
        );
        assert_eq!(rec.phase(), Phase::Applied, "{name}: still on probation");
        let was = before.status.as_ref().expect("status");
        assert_eq!(status.applied_at, was.applied_at, "{name}: appliedAt kept");
        assert_eq!(
            status.previous_config, was.previous_config,
            "{name}: the saved config kept"
        );
    }

    // Probation ends under the new pods: shop's samples are healthy; cart
    // has none (its metrics stopped), so after one more window the operator
    // rolls it back to be safe.
    for (name, want, windows) in [
        ("shop-hpa", Phase::Verified, 1),
        ("cart-hpa", Phase::RolledBack, 2),
    ] {
        eventually(
            &format!("{name}: {want:?} after probation"),
            Duration::from_secs(windows * PROBATION_MINUTES * 60 + 120),
            || async move { phase(name).await == Some(want) },
        )
        .await;
    }
    let why = work
        .event_notes("ScalingRecommendation", "cart-hpa", "RolledBack")
        .await;
    assert!(
        why.iter()
            .any(|n| n.contains("no health samples during probation")),
        "the rollback says why: {why:?}"
    );
    assert_eq!(
        work.hpa_spec("cart").await,
        cart_before,
        "cart's HPA is back as it was"
    );
    assert_ne!(
        work.hpa_spec("shop").await,
        shop_before,
        "shop keeps its change"
    );
    for name in ["shop-hpa", "cart-hpa"] {
        assert_eq!(
            events(&work, name, "Applied").await,
            1,
            "{name}: applied once, not again by the upgraded pods"
        );
    }
    assert_eq!(events(&work, "shop-hpa", "Verified").await, 1);
    assert_eq!(events(&work, "cart-hpa", "RolledBack").await, 1);
    let now_leader = lease(&client, &ns.name).await.0.expect("a leader");
    assert_eq!(
        counter(
            &client,
            &ns.name,
            &now_leader,
            "stepscale_verifications_total"
        )
        .await,
        1.0,
        "the new leader verified shop's change"
    );
    assert_eq!(
        counter(&client, &ns.name, &now_leader, "stepscale_rollbacks_total").await,
        1.0,
        "and rolled back cart's"
    );
    assert_eq!(
        counter(&client, &ns.name, &now_leader, "stepscale_applies_total").await,
        0.0,
        "the upgraded pods applied nothing again"
    );

    // helm rollback to the first revision: one pod on the first tag, which
    // leads and leaves the recommendations as they are.
    run(
        &helm,
        &["rollback", &release, "1", "--namespace", &ns.name, "--wait"],
    );
    rolled_out(&client, &ns.name, &release, 1, &tag).await;
    let pods = pods_of(&client, &ns.name, &release).await;
    let only = pods[0].metadata.name.clone().expect("a name");
    eventually("the rolled-back pod leads", Duration::from_secs(60), || {
        let only = only.clone();
        let client = client.clone();
        let ns = ns.name.clone();
        async move { lease(&client, &ns).await.0 == Some(only) }
    })
    .await;
    assert_eq!(phase("shop-hpa").await, Some(Phase::Verified));
    assert_eq!(phase("cart-hpa").await, Some(Phase::RolledBack));

    sampler.abort();
    let usage = std::mem::take(&mut *usage.lock().expect("usage"));
    assert!(
        !usage.samples.is_empty(),
        "the kubelet reported the operator pods' stats"
    );
    println!(
        "operator pods on the node (kubelet stats, ticks every 5 s over 2 autoscalers with 3.7 days of Prometheus history at 30 s): {}",
        usage.summary()
    );
    let peak = usage.samples.iter().map(|s| s.0).max().unwrap_or(0);
    assert!(
        peak < 512 * 1_048_576,
        "the operator stays under the chart's 512Mi memory limit: {peak} bytes"
    );

    // Uninstall keeps the CRD and the recommendations, as the chart README says.
    run(&helm, &["uninstall", &release, "--namespace", &ns.name]);
    assert_eq!(phase("shop-hpa").await, Some(Phase::Verified));
    assert_eq!(phase("cart-hpa").await, Some(Phase::RolledBack));
    ns.cleanup().await;
    work.cleanup().await;
}
