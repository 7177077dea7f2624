//! KEDA ScaledObjects (read as dynamic objects) scaling a custom resource
//! through its `/scale` subresource.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{DynamicObject, PostParams};
use serde_json::json;
use stepscale_operator::crd::phase::Phase;

use crate::common::{
    cluster, degraded, dynamic, install_keda_and_scaler_crds, operator, week, SeriesSource,
    TestNamespace,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaled_object_on_a_custom_resource_is_recommended_applied_and_rolled_back() {
    let Some(client) = cluster("keda").await else {
        return;
    };
    install_keda_and_scaler_crds(&client).await;
    let ns = TestNamespace::new(client, "keda").await;
    let scalers = dynamic(&ns, "test.stepscale.io/v1", "Scaler", "scalers");
    let scaler: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.stepscale.io/v1", "kind": "Scaler",
        "metadata": {"name": "workers"}, "spec": {"replicas": 4}
    }))
    .expect("scaler");
    scalers
        .create(&PostParams::default(), &scaler)
        .await
        .expect("create the Scaler");
    let sos = dynamic(&ns, "keda.sh/v1alpha1", "ScaledObject", "scaledobjects");
    let so: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "worker"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "test.stepscale.io/v1", "kind": "Scaler", "name": "workers"},
            "minReplicaCount": 4, "maxReplicaCount": 20,
            "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}}]
        }
    }))
    .expect("scaled object");
    let before = sos
        .create(&PostParams::default(), &so)
        .await
        .expect("create the ScaledObject")
        .data["spec"]
        .clone();

    let source = Arc::new(
        SeriesSource::default()
            .with_history("worker", week(), 4.0)
            .with_health("worker", degraded()),
    );
    let op = operator(&ns, "op-a", source, 6, 2);
    let report = op.tick().await.expect("tick");
    assert_eq!(report.published.created, 1, "{report:?}");
    let rec = ns.rec("worker-so").await;
    let r = &rec.spec.recommendation;
    assert_eq!(r.target.autoscaler_kind, "ScaledObject");
    assert_eq!(
        (r.target.kind.as_str(), r.target.name.as_str()),
        ("Scaler", "workers")
    );
    assert!(!r.proposed.is_empty(), "{}", r.summary);

    ns.approve("worker-so").await;
    let report = op.tick().await.expect("apply tick");
    assert_eq!(report.pass.applied, 1, "{report:?}");
    let applied = sos.get("worker").await.expect("get").data["spec"].clone();
    if let Some(min) = r.proposed.min_replicas {
        assert_eq!(applied["minReplicaCount"], json!(min));
    }
    if let Some(cpu) = r.proposed.cpu_target_percent {
        assert_eq!(
            applied["triggers"][0]["metadata"]["value"],
            json!(cpu.to_string())
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = op.tick().await.expect("verify tick");
    assert_eq!(report.pass.rolled_back, 1, "{report:?}");
    assert_eq!(ns.rec("worker-so").await.phase(), Phase::RolledBack);
    assert_eq!(
        sos.get("worker").await.expect("get").data["spec"],
        before,
        "exact previous spec"
    );
    ns.cleanup().await;
}
