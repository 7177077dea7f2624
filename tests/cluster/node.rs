//! The chart as users run it: its Pods on a real node (containerd, runc,
//! kubelet), with the image `.ci/image.sh` built loaded into the node, in
//! their in-cluster identity, read through `kubectl logs`.
//!
//! Needs the node from `bash .ci/k8s.sh up` (`CONTAINERD_ADDRESS`), the
//! image (`STEPSCALE_TEST_IMAGE`), `helm`, `kubectl` and `ctr` on PATH.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use stepscale_operator::operator::leader::DEFAULT_LEASE_NAME;

use crate::common::{cluster, eventually, within, TestNamespace};
use crate::helm::{chart, helm, run};

/// The node's containerd socket and the image's OCI archive with its tag;
/// skipped (failed under CI=true) without them.
pub(crate) fn node_and_image(test: &str) -> Option<(String, PathBuf, String)> {
    let containerd = std::env::var("CONTAINERD_ADDRESS").ok();
    let image = std::env::var("STEPSCALE_TEST_IMAGE").ok();
    match (containerd, image) {
        (Some(c), Some(i)) if i.contains(':') => {
            let (dir, tag) = i.rsplit_once(':').expect("DIR:TAG");
            let archive = Path::new(dir)
                .parent()
                .expect("the layout's parent")
                .join(format!("stepscale-{tag}.oci.tar"));
            Some((c, archive, tag.to_string()))
        }
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: CI=true but CONTAINERD_ADDRESS or STEPSCALE_TEST_IMAGE is not set; `bash .ci/k8s.sh up` starts the node and `bash .ci/image.sh` builds the image"
            );
            eprintln!(
                "{test}: skipped: no node (CONTAINERD_ADDRESS) or no image (STEPSCALE_TEST_IMAGE)"
            );
            None
        }
    }
}

/// The repository the image is loaded into the node under.
pub(crate) const IMAGE_REPOSITORY: &str = "local.test/stepscale-autoscaler";

/// Load the image's OCI archive into the node (no registry: as the tools
/// README shows) and return its repository.
pub(crate) fn import_image(containerd: &str, archive: &Path) -> &'static str {
    let (ok, out) = ctr(
        containerd,
        &[
            "images",
            "import",
            "--base-name",
            IMAGE_REPOSITORY,
            "--digests",
            &archive.to_string_lossy(),
        ],
    );
    assert!(ok, "ctr images import: {out}");
    IMAGE_REPOSITORY
}

/// Run a command from PATH and return its output (stdout then stderr).
pub(crate) fn sh(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} runs: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

pub(crate) fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// `ctr` against the node's containerd, in the kubelet's namespace.
pub(crate) fn ctr(containerd: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["--address", containerd, "-n", "k8s.io"];
    all.extend_from_slice(args);
    sh("ctr", &all)
}

/// The containerd id of a pod's (only) container, once the kubelet has
/// reported it.
pub(crate) fn container_id(pod: &Pod) -> Option<String> {
    let id = pod
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .container_id
        .clone()?;
    Some(id.trim_start_matches("containerd://").to_string())
}

/// The operator's Lease in `ns` (the chart's default name): its holder and
/// last renew time, `None` for what it does not hold yet.
pub(crate) async fn lease(
    client: &kube::Client,
    ns: &str,
) -> (Option<String>, Option<k8s_openapi::jiff::Timestamp>) {
    Api::<Lease>::namespaced(client.clone(), ns)
        .get_opt(DEFAULT_LEASE_NAME)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .map(|s| (s.holder_identity, s.renew_time.map(|t| t.0)))
        .unwrap_or((None, None))
}

/// The host PID of a running container, from containerd's task list.
pub(crate) fn container_pid(containerd: &str, container_id: &str) -> Option<u32> {
    let (ok, out) = ctr(containerd, &["tasks", "ls"]);
    assert!(ok, "ctr tasks ls: {out}");
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&container_id))
        .and_then(|f| f.get(1)?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_runs_two_ready_pods_on_a_node_as_the_readme_installs_it() {
    let test = "chart-on-node";
    let Some(client) = cluster(test).await else {
        return;
    };
    let Some((containerd, archive, tag)) = node_and_image(test) else {
        return;
    };
    let Some(helm) = helm(test) else {
        return;
    };
    let repo = import_image(&containerd, &archive);

    let ns = TestNamespace::new(client.clone(), "node").await;
    let release = format!("n{}", &ns.name[ns.name.len() - 6..]);
    let chart = chart();
    run(
        &helm,
        &[
            "install",
            &release,
            &chart.to_string_lossy(),
            "--namespace",
            &ns.name,
            "--set",
            &format!("image.repository={repo}"),
            "--set",
            &format!("image.tag={tag}"),
            "--set",
            "replicaCount=2",
            // Only this namespace, as the README's fuller example does, so
            // the pods never touch the other tests' namespaces.
            "--set",
            &format!("namespaces={{{}}}", ns.name),
        ],
    );
    let deploy = format!("{release}-stepscale-autoscaler");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let selector = format!("app.kubernetes.io/instance={release}");
    let started = Instant::now();
    eventually("two Ready operator pods", Duration::from_secs(120), || {
        let pods = pods.clone();
        let selector = selector.clone();
        async move {
            pods.list(&ListParams::default().labels(&selector))
                .await
                .is_ok_and(|l| l.items.len() == 2 && l.items.iter().all(ready))
        }
    })
    .await;
    println!(
        "two operator pods Ready through the chart's probes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .expect("pods");

    for pod in &list.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.as_ref().expect("spec");
        // In-cluster config: the chart's ServiceAccount, no kubeconfig.
        assert_eq!(spec.service_account_name.as_deref(), Some(deploy.as_str()));
        let c = &spec.containers[0];
        assert!(
            c.env.iter().flatten().all(|e| e.name != "KUBECONFIG"),
            "{name}: no kubeconfig"
        );
        // Read from the running container: its process's uid and root mount.
        let id = container_id(pod).expect("a container id");
        let pid = container_pid(&containerd, &id).expect("a running task");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let uid = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .expect("Uid line");
        assert!(
            uid.split_whitespace().skip(1).all(|u| u == "65532"),
            "{name}: {uid}"
        );
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
        let root = mounts
            .lines()
            .find(|l| l.split_whitespace().nth(4) == Some("/"))
            .expect("a root mount");
        let options = root.split_whitespace().nth(5).unwrap_or("");
        assert!(options.split(',').any(|o| o == "ro"), "{name}: root {root}");
    }

    // Both took part in the election with their own tokens: one holds the
    // Lease, and it is one of these pods.
    let names: Vec<String> = list
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    eventually("a pod holds the Lease", Duration::from_secs(30), || {
        let names = names.clone();
        let client = client.clone();
        let ns = ns.name.clone();
        async move {
            lease(&client, &ns)
                .await
                .0
                .is_some_and(|h| names.contains(&h))
        }
    })
    .await;

    // The manual's command, and each pod's own log.
    let (ok, logs) = sh(
        "kubectl",
        &["logs", "-n", &ns.name, &format!("deploy/{deploy}")],
    );
    assert!(ok, "kubectl logs: {logs}");
    assert!(logs.contains("operator starting"), "{logs}");
    assert!(logs.contains("reconcile tick"), "{logs}");
    let mut follower_said = false;
    for name in &names {
        let (ok, l) = sh("kubectl", &["logs", "-n", &ns.name, name]);
        assert!(ok, "kubectl logs {name}: {l}");
        follower_said |= l.contains("not leader; skipping mutating pass");
    }
    assert!(
        follower_said,
        "the follower says it skips the mutating pass"
    );

    // Failover on the node. Graceful: `kubectl delete pod` on the leader
    // (SIGTERM: it releases the Lease); the standby takes it at its next
    // look, not at its next tick (or the Deployment's replacement pod, if it
    // starts first).
    let lease_now = || {
        let client = client.clone();
        let ns = ns.name.clone();
        async move { lease(&client, &ns).await }
    };
    let leader = lease_now().await.0.expect("a holder");
    let deleted = Instant::now();
    let (ok, out) = sh(
        "kubectl",
        &["delete", "pod", "-n", &ns.name, &leader, "--wait=false"],
    );
    assert!(ok, "kubectl delete pod: {out}");
    let taken = within(Duration::from_secs(40), || {
        let leader = leader.clone();
        let now = lease_now();
        async move { now.await.0.is_some_and(|h| !h.is_empty() && h != leader) }
    })
    .await;
    if !taken {
        // Say why: who holds the Lease, the pods, and what each logged last
        // (the deleted leader's too, while it terminates).
        let (holder, renewed) = lease_now().await;
        let (_, pods_now) = sh("kubectl", &["get", "pods", "-n", &ns.name, "-o", "wide"]);
        let mut said = String::new();
        for pod in pods_now
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
        {
            let (_, l) = sh("kubectl", &["logs", "-n", &ns.name, pod, "--tail=25"]);
            said.push_str(&format!("--- {pod}\n{l}\n"));
        }
        panic!(
            "another pod takes the Lease: not within 40 s of deleting {leader}; holder {holder:?}, renewed {renewed:?}\n{pods_now}\n{said}"
        );
    }
    let graceful = deleted.elapsed();
    let successor = lease_now().await.0.unwrap_or_default();
    println!(
        "on the node, failover after the leader pod was deleted: {:.1} s (to {})",
        graceful.as_secs_f64(),
        if names.contains(&successor) {
            "the standby"
        } else {
            "the replacement pod"
        }
    );
    assert!(graceful < Duration::from_secs(10), "{graceful:?}");

    // Crash: SIGKILL the new leader's container; it releases nothing.
    // Leadership resumes once a live process renews the Lease: the standby
    // after a lease duration, or the same pod's restarted container (same
    // identity) as soon as it starts.
    // A replacement pod can hold the Lease before the kubelet has reported
    // its container: wait for the id.
    let container_of = |name: String| {
        let pods = pods.clone();
        async move { pods.get(&name).await.ok().as_ref().and_then(container_id) }
    };
    eventually(
        "the new leader's container",
        Duration::from_secs(30),
        || {
            let found = container_of(successor.clone());
            async move { found.await.is_some() }
        },
    )
    .await;
    let id = container_of(successor.clone())
        .await
        .expect("a container id");
    let before = lease_now().await.1;
    let killed = Instant::now();
    let (ok, out) = ctr(&containerd, &["tasks", "kill", "-s", "SIGKILL", &id]);
    assert!(ok, "ctr tasks kill: {out}");
    eventually(
        "a live process renews the Lease",
        Duration::from_secs(60),
        || {
            let now = lease_now();
            async move { now.await.1 != before }
        },
    )
    .await;
    let crash = killed.elapsed();
    let by = lease_now().await.0.unwrap_or_default();
    println!(
        "on the node, leadership resumed {:.1} s after the leader's container was killed (by {by})",
        crash.as_secs_f64()
    );
    assert!(crash < Duration::from_secs(50), "{crash:?}");

    run(&helm, &["uninstall", &release, "--namespace", &ns.name]);
    ns.cleanup().await;
}
