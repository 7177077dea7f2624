//! Recommend → approve → apply → verify / roll back; retry; drift.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use stepscale_operator::crd::phase::Phase;
use stepscale_operator::crd::{LABEL_AUTOSCALER_NAME, LABEL_MANAGED_BY, RETRY_ANNOTATION};
use stepscale_operator::lifecycle::FIELD_MANAGER;

use crate::common::{
    cluster, degraded, healthy, logs, nab, operator, week, SeriesSource, TestNamespace,
};

async fn setup(
    test: &str,
    health: Vec<f64>,
) -> Option<(TestNamespace, Arc<SeriesSource>, serde_json::Value)> {
    let client = cluster(test).await?;
    let ns = TestNamespace::new(client, test).await;
    ns.deployment("web", 4).await;
    let spec = ns.hpa("web", "web", 4, 20, 60).await;
    let source = Arc::new(
        SeriesSource::default()
            .with_history("web", week(), 4.0)
            .with_health("web", health),
    );
    Some((ns, source, spec))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recommendation_is_created_from_a_real_hpa_and_never_duplicated() {
    let Some((ns, source, _)) = setup("create", healthy()).await else {
        return;
    };
    // A second autoscaler with no history yet: not analyzed, and the
    // analysis line says so by name. A third with an hour of history:
    // analyzed, nothing to propose, so no recommendation.
    ns.deployment("fresh", 2).await;
    ns.hpa("fresh", "fresh", 2, 10, 60).await;
    ns.deployment("young", 2).await;
    ns.hpa("young", "young", 2, 10, 60).await;
    source.set_history("young", healthy(), 2.0);
    let op = operator(&ns, "op-a", source, 6, 600);
    let report = op.tick().await.expect("tick");
    assert!(report.leader);
    assert_eq!(report.analyzed, 2, "{report:?}");
    assert_eq!(report.waiting_for_history, 1, "{report:?}");
    assert_eq!(report.actionable, 1, "{report:?}");
    assert_eq!(report.published.created, 1, "{report:?}");
    let line = logs()
        .lines()
        .find(|l| l.contains(&format!("waiting={}/fresh", ns.name)))
        .map(str::to_string)
        .unwrap_or_default();
    for field in [
        "autoscalers=3",
        "analyzed=2",
        "with_change_or_finding=1",
        "nothing_to_propose=1",
        "waiting_for_history=1",
        "target_unreadable=0",
        "skipped_for_spec=0",
    ] {
        assert!(
            line.contains(field),
            "{field} in the analysis line: {line:?}"
        );
    }

    let rec = ns.rec("web-hpa").await;
    assert_eq!(rec.phase(), Phase::Pending);
    assert!(!rec.spec.approved);
    let r = &rec.spec.recommendation;
    assert_eq!(r.target.autoscaler_name, "web");
    assert_eq!(r.target.kind, "Deployment");
    assert_eq!(r.current.min_replicas, 4);
    assert!(
        !r.proposed.is_empty(),
        "the engine proposes a change: {}",
        r.summary
    );
    let labels = rec.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get(LABEL_AUTOSCALER_NAME).map(String::as_str),
        Some("web")
    );
    assert_eq!(
        labels.get(LABEL_MANAGED_BY).map(String::as_str),
        Some("stepscale")
    );
    let owners = rec.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].kind, "HorizontalPodAutoscaler");
    assert_eq!(
        owners[0].api_version, "autoscaling/v2beta2",
        "discovery fell back to v2beta2"
    );

    // Re-analysis updates in place: still exactly one recommendation.
    let report = op.tick().await.expect("second tick");
    assert_eq!(report.published.created, 0);
    let all = ns.recs().list(&Default::default()).await.expect("list");
    assert_eq!(all.items.len(), 1);
    // Each autoscaler without a recommendation says why on itself, once per
    // reason: the second tick, with the same reasons, added no Event.
    let waiting = ns
        .event_notes("HorizontalPodAutoscaler", "fresh", "WaitingForHistory")
        .await;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(
        waiting[0].contains("not enough metric history"),
        "{waiting:?}"
    );
    let none = ns
        .event_notes("HorizontalPodAutoscaler", "young", "NoRecommendation")
        .await;
    assert_eq!(none.len(), 1, "{none:?}");
    assert!(none[0].starts_with("no recommendation: "), "{none:?}");
    let l = logs();
    for line in [
        "operator starting",
        "reconcile tick",
        "created ScalingRecommendation",
        "metrics source: HPA-status fallback",
    ] {
        if line == "operator starting" {
            op.log_starting();
            assert!(logs().contains(line));
        } else {
            assert!(l.contains(line), "log line {line:?} missing");
        }
    }
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_patches_the_hpa_and_a_healthy_probation_verifies_it() {
    let Some((ns, source, before)) = setup("verify", healthy()).await else {
        return;
    };
    let op = operator(&ns, "op-a", source, 6, 2);
    op.tick().await.expect("tick");
    let proposed = ns.rec("web-hpa").await.spec.recommendation.proposed;
    ns.approve("web-hpa").await;

    let report = op.tick().await.expect("apply tick");
    assert_eq!(report.pass.applied, 1, "{report:?}");
    let rec = ns.rec("web-hpa").await;
    assert_eq!(rec.phase(), Phase::Applied);
    let status = rec.status.clone().expect("status");
    assert!(status.probation_until.is_some() && status.applied_at.is_some());
    let previous = status.previous_config.expect("previous config saved");
    assert_eq!(
        previous.fields.get("minReplicas"),
        before.get("minReplicas")
    );

    let after = ns.hpa_spec("web").await;
    if let Some(min) = proposed.min_replicas {
        assert_eq!(after["minReplicas"], json!(min));
    }
    if let Some(cpu) = proposed.cpu_target_percent {
        assert_eq!(
            after["metrics"][0]["resource"]["target"]["averageUtilization"],
            json!(cpu)
        );
    }
    assert_eq!(
        after["scaleTargetRef"], before["scaleTargetRef"],
        "untouched fields stay"
    );
    assert!(ns
        .hpa_managers("web")
        .await
        .iter()
        .any(|m| m == FIELD_MANAGER));
    assert!(logs().contains("applied recommendation"));

    // Still on probation: nothing happens.
    let report = op.tick().await.expect("tick");
    assert_eq!(report.pass.verified, 0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = op.tick().await.expect("verify tick");
    assert_eq!(report.pass.verified, 1, "{report:?}");
    let rec = ns.rec("web-hpa").await;
    assert_eq!(rec.phase(), Phase::Verified, "{:?}", rec.status);
    assert_eq!(
        ns.hpa_spec("web").await,
        after,
        "verification does not touch the HPA"
    );
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_probation_restores_the_exact_previous_spec() {
    let Some((ns, source, before)) = setup("rollback", degraded()).await else {
        return;
    };
    let op = operator(&ns, "op-a", source, 6, 2);
    op.tick().await.expect("tick");
    // The reviewer approves the proposal with rate-limit policies added (the
    // kind the replay search proposes): the apiserver must accept them.
    ns.edit_rec(
        "web-hpa",
        json!({"spec": {"approved": true, "proposed": {
            "scaleDownPolicy": {"type": "Percent", "value": 25, "periodSeconds": 60},
            "scaleUpPolicy": {"type": "Percent", "value": 400, "periodSeconds": 15}
        }}}),
    )
    .await;
    let report = op.tick().await.expect("apply tick");
    assert_eq!(report.pass.applied, 1, "{report:?}");
    let applied = ns.hpa_spec("web").await;
    assert_ne!(applied, before, "the apply changed the HPA");
    assert_eq!(
        applied["behavior"]["scaleDown"]["policies"],
        json!([{"type": "Percent", "value": 25, "periodSeconds": 60}])
    );
    assert_eq!(
        applied["behavior"]["scaleUp"]["policies"],
        json!([{"type": "Percent", "value": 400, "periodSeconds": 15}])
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    let report = op.tick().await.expect("verify tick");
    assert_eq!(report.pass.rolled_back, 1, "{report:?}");
    let rec = ns.rec("web-hpa").await;
    assert_eq!(rec.phase(), Phase::RolledBack);
    let detail = rec.status.and_then(|s| s.detail).unwrap_or_default();
    assert!(detail.contains("CPU was above"), "{detail}");
    assert_eq!(
        ns.hpa_spec("web").await,
        before,
        "rolled back to the exact previous spec"
    );
    assert!(logs().contains("auto-reverted degraded recommendation"));

    // Terminal: later ticks leave it alone.
    let report = op.tick().await.expect("tick");
    assert_eq!(report.pass.workload_writes, 0);
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_patch_fails_until_the_retry_annotation() {
    let Some((ns, source, _)) = setup("retry", healthy()).await else {
        return;
    };
    let op = operator(&ns, "op-a", source, 6, 600);
    op.tick().await.expect("tick");
    // A reviewer approves an impossible floor (above maxReplicas 20).
    ns.edit_rec(
        "web-hpa",
        json!({"spec": {"approved": true, "proposed": {"minReplicas": 50}}}),
    )
    .await;
    let report = op.tick().await.expect("tick");
    assert_eq!(report.pass.failed, 1, "{report:?}");
    let rec = ns.rec("web-hpa").await;
    assert_eq!(rec.phase(), Phase::Failed);
    let detail = rec.status.and_then(|s| s.detail).unwrap_or_default();
    assert!(
        detail.contains("rejected the patch") && detail.contains("minReplicas"),
        "{detail}"
    );
    assert_eq!(ns.hpa_spec("web").await["minReplicas"], json!(4));

    // Failed is terminal: fixing the spec alone does nothing.
    ns.edit_rec(
        "web-hpa",
        json!({"spec": {"proposed": {"minReplicas": 3, "cpuTargetPercent": null}}}),
    )
    .await;
    let report = op.tick().await.expect("tick");
    assert_eq!(report.pass.applied, 0);
    assert_eq!(ns.rec("web-hpa").await.phase(), Phase::Failed);

    ns.edit_rec(
        "web-hpa",
        json!({"metadata": {"annotations": {RETRY_ANNOTATION: "true"}}}),
    )
    .await;
    let report = op.tick().await.expect("retry tick");
    assert_eq!(report.pass.retried, 1, "{report:?}");
    let rec = ns.rec("web-hpa").await;
    assert_eq!(rec.phase(), Phase::Pending);
    assert!(!rec.retry_requested(), "the operator strips the annotation");
    let report = op.tick().await.expect("apply tick");
    assert_eq!(report.pass.applied, 1, "{report:?}");
    assert_eq!(ns.hpa_spec("web").await["minReplicas"], json!(3));
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_by_someone_else_after_apply_is_reported_not_overwritten() {
    let Some((ns, source, _)) = setup("drift", degraded()).await else {
        return;
    };
    let op = operator(&ns, "op-a", source, 6, 2);
    op.tick().await.expect("tick");
    ns.approve("web-hpa").await;
    op.tick().await.expect("apply tick");
    // Someone edits the HPA by hand.
    ns.hpas()
        .patch(
            "web",
            &kube::api::PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &kube::api::Patch::Merge(&json!({"spec": {"maxReplicas": 30}})),
        )
        .await
        .expect("manual edit");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = op.tick().await.expect("tick");
    assert_eq!(report.pass.drifted, 1, "{report:?}");
    assert_eq!(
        report.pass.rolled_back, 0,
        "no rollback over someone else's change"
    );
    let rec = ns.rec("web-hpa").await;
    assert_eq!(rec.phase(), Phase::Degraded);
    let detail = rec.status.and_then(|s| s.detail).unwrap_or_default();
    assert!(detail.contains("spec.maxReplicas"), "{detail}");
    assert_eq!(ns.hpa_spec("web").await["maxReplicas"], json!(30));
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlicensed_approval_is_blocked_with_the_reason() {
    let Some(client) = cluster("blocked").await else {
        return;
    };
    let ns = TestNamespace::new(client, "blocked").await;
    ns.deployment("web", 4).await;
    let before = ns.hpa("web", "web", 4, 20, 60).await;
    let source = Arc::new(SeriesSource::default().with_history("web", week(), 4.0));
    let op = stepscale_operator::operator::controller::Operator::new(
        ns.client.clone(),
        ns.config("op-a", 6, 600),
        crate::common::analyzer(),
        stepscale_operator::license::LicenseState::Unlicensed {
            reason: "no license file configured".into(),
        },
    )
    .with_history(source);
    op.tick().await.expect("tick");
    ns.approve("web-hpa").await;
    let report = op.tick().await.expect("tick");
    assert_eq!(report.pass.blocked, 1, "{report:?}");
    let rec = ns.rec("web-hpa").await;
    assert_eq!(rec.phase(), Phase::Blocked);
    assert!(rec
        .status
        .and_then(|s| s.detail)
        .unwrap_or_default()
        .contains("no license file configured"));
    assert_eq!(ns.hpa_spec("web").await, before);
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_never_fails_the_tick_nor_writes_to_a_workload() {
    let Some(client) = cluster("bad-input").await else {
        return;
    };
    let ns = TestNamespace::new(client, "badinput").await;
    ns.deployment("web", 4).await;
    let before = ns.hpa("web", "web", 4, 20, 60).await;
    // An HPA whose target does not exist, and one without any metric.
    ns.hpa("orphan", "no-such-deployment", 1, 5, 50).await;
    let bare: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "bare"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 3}
    }))
    .expect("manifest");
    ns.hpas()
        .create(&Default::default(), &bare)
        .await
        .expect("create bare HPA");
    let source = Arc::new(
        SeriesSource::default()
            .with_history("web", week(), 4.0)
            .with_history("orphan", week(), 1.0),
    );
    let op = operator(&ns, "op-a", source, 6, 600);
    let report = op.tick().await.expect("the tick survives bad input");
    assert_eq!(report.autoscalers, 3);
    assert_eq!(
        report.analyzed, 1,
        "only the readable workload with history: {report:?}"
    );

    // A recommendation edited into nonsense, then approved.
    ns.edit_rec(
        "web-hpa",
        json!({"spec": {"approved": true, "target": {"autoscalerKind": "Nonsense"}}}),
    )
    .await;
    let report = op.tick().await.expect("tick");
    assert_eq!(report.pass.failed, 1, "{report:?}");
    assert_eq!(report.pass.workload_writes, 0);
    let rec = ns.rec("web-hpa").await;
    assert_eq!(rec.phase(), Phase::Failed);
    assert!(rec
        .status
        .and_then(|s| s.detail)
        .unwrap_or_default()
        .contains("autoscalerKind"));
    assert_eq!(ns.hpa_spec("web").await, before);
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recommendation_the_engine_no_longer_supports_is_removed_unless_acted_on() {
    let Some((ns, source, _)) = setup("stale", healthy()).await else {
        return;
    };
    let op = operator(&ns, "op-a", source.clone(), 6, 600);
    op.tick().await.expect("tick");
    assert!(ns.recs().get_opt("web-hpa").await.expect("get").is_some());
    // The load changes: a flat, well-sized series needs no change and
    // shows no finding (NAB ec2_cpu_utilization_825cc2 at 4 replicas).
    source.set_history(
        "web",
        nab("ec2_cpu_utilization_825cc2.csv")
            .into_iter()
            .take(2016)
            .collect(),
        4.0,
    );
    let report = op.tick().await.expect("tick");
    assert_eq!(report.published.removed, 1, "{report:?}");
    assert!(ns.recs().get_opt("web-hpa").await.expect("get").is_none());
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_interrupted_after_the_patch_is_completed_without_a_second_write() {
    let Some((ns, source, before)) = setup("resume", degraded()).await else {
        return;
    };
    let op = operator(&ns, "op-a", source, 6, 2);
    op.tick().await.expect("tick");
    let rec = ns.rec("web-hpa").await;
    let proposed = rec.spec.recommendation.proposed;
    // A previous leader saved the previous config, patched the HPA with
    // our field manager, and died before recording `applied`.
    let previous = json!({
        "summary": rec.spec.recommendation.current,
        "fields": {"minReplicas": before["minReplicas"], "maxReplicas": before["maxReplicas"], "metrics": before["metrics"]}
    });
    ns.recs()
        .patch_status(
            "web-hpa",
            &Default::default(),
            &kube::api::Patch::Merge(
                &json!({"status": {"phase": "pending", "previousConfig": previous}}),
            ),
        )
        .await
        .expect("write the saved config");
    let mut metrics = before["metrics"].clone();
    if let Some(cpu) = proposed.cpu_target_percent {
        metrics[0]["resource"]["target"]["averageUtilization"] = json!(cpu);
    }
    let mut patch = json!({"spec": {"metrics": metrics}});
    if let Some(min) = proposed.min_replicas {
        patch["spec"]["minReplicas"] = json!(min);
    }
    ns.hpas()
        .patch(
            "web",
            &kube::api::PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .expect("the interrupted patch");
    let version = ns.hpa_version("web").await;

    ns.approve("web-hpa").await;
    let report = op.tick().await.expect("tick");
    assert_eq!(report.pass.applied, 1, "{report:?}");
    assert_eq!(
        report.pass.workload_writes, 0,
        "the change was already there: no second write"
    );
    assert_eq!(ns.hpa_version("web").await, version);
    let status = ns.rec("web-hpa").await.status.expect("status");
    assert_eq!(
        status
            .previous_config
            .expect("kept")
            .fields
            .get("minReplicas"),
        before.get("minReplicas"),
        "the saved config is the original, not the patched object"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = op.tick().await.expect("tick");
    assert_eq!(report.pass.rolled_back, 1, "{report:?}");
    assert_eq!(
        ns.hpa_spec("web").await,
        before,
        "rolled back to the original"
    );
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_analysis_with_a_forecast_writes_nothing_on_the_next_tick() {
    let Some(client) = cluster("unchanged").await else {
        return;
    };
    let ns = TestNamespace::new(client, "unchanged").await;
    ns.deployment("web", 4).await;
    ns.hpa("web", "web", 4, 20, 60).await;
    let source = Arc::new(SeriesSource::default().with_history("web", week(), 4.0));
    // The forecaster on: its per-step floats are stored in the spec and
    // read back from the API server; they must compare equal to the same
    // analysis' floats, or every tick would rewrite every recommendation.
    let forecasting = Arc::new(
        stepscale_operator::analysis::Analyzer::with_builtin_rules(
            stepscale_engine::EngineConfig::default(),
        )
        .expect("the rule engine starts"),
    );
    let op = stepscale_operator::operator::controller::Operator::new(
        ns.client.clone(),
        ns.config("op-a", 60, 600),
        forecasting,
        stepscale_operator::license::LicenseState::Licensed,
    )
    .with_history(source)
    .without_events();
    let first = op.tick().await.expect("first tick");
    assert_eq!(first.published.created, 1, "{first:?}");
    let rec = ns.rec("web-hpa").await;
    assert!(
        rec.spec.recommendation.forecast.is_some(),
        "the recommendation carries a forecast"
    );
    let second = op.tick().await.expect("second tick");
    assert_eq!(second.published.updated, 0, "{second:?}");
    assert_eq!(second.writes, 0, "{second:?}");
    ns.cleanup().await;
}
