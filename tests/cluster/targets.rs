//! Reading a scale target: the replicas `/scale` reports and the pod
//! template's requests, for the apps/v1 kinds from the object itself (the
//! API server serves their `/scale` from it), both as the tick reads them
//! (Deployments and StatefulSets listed once per namespace and kind) and
//! with one GET, and a clear error for a target that is not there.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::{Api, PostParams};
use serde_json::json;
use stepscale_engine::snapshot::ScaleTargetRef;
use stepscale_operator::cluster::{ClusterReader, TargetState};

use crate::common::{cluster, eventually, TestNamespace};

fn target(kind: &str, name: &str) -> ScaleTargetRef {
    ScaleTargetRef {
        api_version: "apps/v1".into(),
        kind: kind.into(),
        name: name.into(),
    }
}

#[tokio::test]
async fn a_targets_replicas_are_what_its_scale_says_and_its_requests_are_read() {
    let Some(client) = cluster("targets").await else {
        return;
    };
    let ns = TestNamespace::new(client.clone(), "targets").await;
    // Pods that no node may run (a node selector nothing matches): the
    // controllers still count them, and the test node stays free.
    let spec = |name: &str, replicas: i32, cpu: &str| {
        json!({
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {"stepscale.io/test-no-such-node": "true"},
                    "containers": [{
                        "name": name, "image": "registry.invalid/app:1",
                        "resources": {"requests": {"cpu": cpu}}
                    }]
                }
            }
        })
    };
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns.name);
    for (name, replicas) in [("web", 3), ("idle", 0)] {
        let d: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name},
            "spec": spec(name, replicas, "500m"),
        }))
        .expect("deployment manifest");
        deployments
            .create(&PostParams::default(), &d)
            .await
            .expect("create the Deployment");
    }
    let mut sts_spec = spec("db", 2, "250m");
    sts_spec["serviceName"] = json!("db");
    // Both pods at once (the default waits for each to be Ready).
    sts_spec["podManagementPolicy"] = json!("Parallel");
    let sts: StatefulSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": sts_spec,
    }))
    .expect("statefulset manifest");
    let statefulsets = Api::<StatefulSet>::namespaced(client.clone(), &ns.name);
    statefulsets
        .create(&PostParams::default(), &sts)
        .await
        .expect("create the StatefulSet");
    let reader = ClusterReader::discover(client.clone(), vec![ns.name.clone()])
        .await
        .expect("discovery");
    // Both ways the reader has: the listing the tick uses, and one GET.
    let both = |t: ScaleTargetRef| {
        let (reader, namespace) = (&reader, ns.name.clone());
        async move {
            let listed = reader.list_targets([(namespace.as_str(), &t)]).await;
            assert_eq!(listed.lists(), 1, "{} {}: listed", t.kind, t.name);
            let from_list = reader.listed_target_state(&listed, &namespace, &t).await;
            let alone = reader.target_state(&namespace, &t).await;
            (from_list, alone)
        }
    };
    let read = |t: ScaleTargetRef| {
        let both = &both;
        async move {
            let (from_list, alone) = both(t.clone()).await;
            let from_list: TargetState = from_list.expect("target read from the list");
            assert_eq!(
                Ok(&from_list),
                alone.as_ref().map_err(|e| e.to_string()),
                "{} {}: the list and a GET read the same",
                t.kind,
                t.name
            );
            from_list
        }
    };

    for (kind, name, spec, cpu) in [
        ("Deployment", "web", 3, 500),
        ("Deployment", "idle", 0, 500),
        ("StatefulSet", "db", 2, 250),
    ] {
        let t = target(kind, name);
        // The status moves as the controllers work (the list and the GET
        // are two reads, so they may see two counts meanwhile): compare
        // once /scale counts every pod, and the strict check after.
        let (both, deployments, statefulsets, t) = (&both, &deployments, &statefulsets, &t);
        eventually(
            &format!("{kind} {name}: the read replicas match /scale"),
            Duration::from_secs(60),
            || async move {
                let scale = match kind {
                    "Deployment" => deployments.get_scale(name).await,
                    _ => statefulsets.get_scale(name).await,
                }
                .expect("/scale");
                let (Ok(read), Ok(alone)) = both(t.clone()).await else {
                    return false;
                };
                // Settled: the controller has counted every pod. The API
                // omits a count of 0 from /scale.
                let settled = scale.status.as_ref().map_or(0, |s| s.replicas) == spec;
                settled
                    && read == alone
                    && read.spec_replicas == Some(scale.spec.and_then(|s| s.replicas).unwrap_or(0))
                    && read.status_replicas == Some(scale.status.map_or(0, |s| s.replicas))
            },
        )
        .await;
        let read = read(t.clone()).await;
        assert_eq!(read.spec_replicas, Some(spec), "{kind} {name}");
        assert_eq!(read.containers.len(), 1, "{kind} {name}");
        assert_eq!(
            read.containers[0].cpu_request_millicores,
            Some(cpu),
            "{kind} {name}: the template's CPU request"
        );
    }
    let idle = read(target("Deployment", "idle")).await;
    assert_eq!(
        (idle.spec_replicas, idle.status_replicas),
        (Some(0), Some(0)),
        "a Deployment at 0 (the API omits the counts)"
    );

    let (from_list, alone) = both(target("Deployment", "gone")).await;
    for missing in [from_list, alone] {
        let message = missing
            .expect_err("a missing target is an error")
            .to_string();
        assert!(
            message.contains("Deployment") && message.contains("gone"),
            "the error names the target: {message}"
        );
    }
    ns.cleanup().await;
}
