//! Absurd autoscalers next to normal ones: the tick completes, the normal
//! ones get their recommendations, and each absurd one is skipped with an
//! `AutoscalerSkipped` Event that names the field and the limit.

use std::sync::Arc;
use std::time::Instant;

use kube::api::{DynamicObject, PostParams};
use serde_json::json;

use crate::common::{
    cluster, dynamic, install_keda_and_scaler_crds, operator, week, SeriesSource, TestNamespace,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_autoscalers_are_skipped_with_an_event_and_the_others_are_analyzed() {
    let Some(client) = cluster("hostile").await else {
        return;
    };
    install_keda_and_scaler_crds(&client).await;
    let ns = TestNamespace::new(client, "hostile").await;
    ns.deployment("web", 4).await;
    ns.deployment("other", 1).await;
    ns.hpa("web", "web", 4, 20, 60).await;
    ns.hpa("huge", "other", 1, i32::MAX, 60).await;

    let scalers = dynamic(&ns, "test.stepscale.io/v1", "Scaler", "scalers");
    for name in ["workers", "spare"] {
        let scaler: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "test.stepscale.io/v1", "kind": "Scaler",
            "metadata": {"name": name}, "spec": {"replicas": 4}
        }))
        .expect("scaler");
        scalers
            .create(&PostParams::default(), &scaler)
            .await
            .expect("create the Scaler");
    }
    let sos = dynamic(&ns, "keda.sh/v1alpha1", "ScaledObject", "scaledobjects");
    for (name, target, spec) in [
        (
            "worker",
            "workers",
            json!({"minReplicaCount": 4, "maxReplicaCount": 20}),
        ),
        (
            "absurd",
            "spare",
            json!({"minReplicaCount": 100_000, "maxReplicaCount": 2_147_483_647_i64,
                   "cooldownPeriod": 2_147_483_647_i64, "pollingInterval": 1}),
        ),
    ] {
        let mut body = json!({
            "scaleTargetRef": {"apiVersion": "test.stepscale.io/v1", "kind": "Scaler", "name": target},
            "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}}]
        });
        for (k, v) in spec.as_object().expect("object") {
            body[k] = v.clone();
        }
        let so: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": name}, "spec": body
        }))
        .expect("scaled object");
        sos.create(&PostParams::default(), &so)
            .await
            .expect("create the ScaledObject");
    }

    let source = Arc::new(
        SeriesSource::default()
            .with_history("web", week(), 4.0)
            .with_history("huge", week(), 4.0)
            .with_history("worker", week(), 4.0)
            .with_history("absurd", week(), 4.0),
    );
    let op = operator(&ns, "op-a", source, 6, 600);
    let started = Instant::now();
    let report = op
        .tick()
        .await
        .expect("the tick survives absurd autoscalers");
    // A figure, not an assertion: the tick's time with the absurd objects.
    println!(
        "tick with 2 absurd and 2 normal autoscalers: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(report.autoscalers, 4, "{report:?}");
    assert_eq!(report.analyzed, 2, "{report:?}");
    assert_eq!(report.skipped, 2, "{report:?}");
    assert_eq!(report.pass.workload_writes, 0);
    for name in ["web-hpa", "worker-so"] {
        assert!(
            ns.recs().get_opt(name).await.expect("get").is_some(),
            "{name} was not recommended"
        );
    }
    for name in ["huge-hpa", "absurd-so"] {
        assert!(
            ns.recs().get_opt(name).await.expect("get").is_none(),
            "{name} must not be recommended"
        );
    }
    for (kind, object, field) in [
        ("HorizontalPodAutoscaler", "huge", "maxReplicas"),
        ("ScaledObject", "absurd", "maxReplicas"),
    ] {
        let notes = ns.event_notes(kind, object, "AutoscalerSkipped").await;
        assert!(
            notes
                .iter()
                .any(|n| n.contains(field) && n.contains("150000")),
            "{kind} {object}: no AutoscalerSkipped Event naming {field} and the limit: {notes:?}"
        );
    }
    ns.cleanup().await;
}
