//! The operator held to the chart's own RBAC. `.ci/k8s.sh` starts the API
//! server with RBAC authorization and a static token for the chart's
//! ServiceAccount identity (`system:serviceaccount:<ns>:rel-stepscale-autoscaler`,
//! given to the tests as `STEPSCALE_TEST_OPERATOR_TOKEN` and
//! `STEPSCALE_TEST_OPERATOR_NAMESPACE`). The chart is installed with real helm
//! as release `rel` there, once cluster-wide and once namespaced, and the
//! operator runs with that token only: recommend, approve → apply,
//! degrade → roll back, Events, leader election between two replicas, and a
//! signed rule ConfigMap — with no request refused.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, PostParams};
use kube::Client;
use stepscale_engine::EngineConfig;
use stepscale_operator::analysis::Analyzer;
use stepscale_operator::controller::Operator;
use stepscale_operator::license::LicenseState;
use stepscale_operator::lifecycle::phase::Phase;
use stepscale_operator::rules::configmap::{manifest, DEFAULT_SELECTOR};
use stepscale_operator::rules::signing::{self, SignedRule};
use stepscale_tests::test_rules;

use crate::common::{cluster, degraded, week, SeriesSource, TestNamespace};

/// The tests here share one Helm release (`rel`, the identity's
/// ServiceAccount): one at a time.
static RELEASE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The chart's ServiceAccount token and release namespace, from `.ci/k8s.sh`.
fn identity(test: &str) -> Option<(String, String)> {
    let token = std::env::var("STEPSCALE_TEST_OPERATOR_TOKEN").ok();
    let ns = std::env::var("STEPSCALE_TEST_OPERATOR_NAMESPACE").ok();
    match (token, ns) {
        (Some(t), Some(n)) if !t.is_empty() && !n.is_empty() => Some((t, n)),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: CI=true but STEPSCALE_TEST_OPERATOR_TOKEN/_NAMESPACE are not set; `bash .ci/k8s.sh up` starts the API server with RBAC and prints them"
            );
            eprintln!("{test}: skipped: no operator identity (STEPSCALE_TEST_OPERATOR_TOKEN); `bash .ci/k8s.sh up` provides one");
            None
        }
    }
}

fn run_helm(args: &[&str]) {
    let helm = crate::helm::helm("rbac").expect("helm on PATH (`bash .ci/tools.sh up`)");
    crate::helm::run(&helm, args);
}

/// The operator's settings for a run as the chart's ServiceAccount: the
/// test namespace watched, the lease and rule ConfigMaps in the release
/// namespace (where the chart grants them), probation 2 s.
fn sa_config(
    ns: &TestNamespace,
    identity: &str,
    release_ns: &str,
    lease: &str,
) -> stepscale_operator::config::OperatorConfig {
    let mut config = ns.config(identity, 6, 2);
    config.namespaces = vec![ns.name.clone()];
    config.leader_election.namespace = release_ns.to_string();
    config.leader_election.lease_name = lease.to_string();
    config.rules.namespaces = vec![release_ns.to_string()];
    config
}

/// A client that authenticates as the chart's ServiceAccount.
async fn operator_client(token: &str) -> Client {
    let mut config = kube::Config::infer().await.expect("kubeconfig");
    config.auth_info.token = Some(token.to_string().into());
    config.auth_info.token_file = None;
    Client::try_from(config).expect("client")
}

async fn ensure_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await.expect("get namespace").is_none() {
        let ns = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let _ = api.create(&PostParams::default(), &ns).await;
    }
}

/// One run of the flow under the chart's RBAC (`namespaced`: Roles in the
/// test namespace only, else the ClusterRole).
async fn flow(admin: &Client, token: &str, release_ns: &str, namespaced: bool) {
    let label = if namespaced { "rbac-ns" } else { "rbac-cw" };
    let ns = TestNamespace::new(admin.clone(), label).await;
    let lease = format!("lease-{}", &ns.name[ns.name.len() - 6..]);
    let chart = crate::helm::chart();
    let watched = if namespaced {
        format!("namespaces={{{}}}", ns.name)
    } else {
        "namespaces=null".to_string()
    };
    run_helm(&[
        "upgrade",
        "--install",
        "rel",
        chart.to_str().expect("utf-8"),
        "--namespace",
        release_ns,
        "--set",
        &watched,
        "--set",
        &format!("leaderElection.leaseName={lease}"),
    ]);

    // The workload, a signed rule ConfigMap and the history (as an admin).
    ns.deployment("web", 4).await;
    let before = ns.hpa("web", "web", 4, 20, 60).await;
    let source = Arc::new(
        SeriesSource::default()
            .with_history("web", week(), 4.0)
            .with_health("web", degraded()),
    );
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let component = test_rules::component("weekend-idle");
    let meta = SignedRule::describing(
        "weekend-idle",
        "0.1.0",
        "detector",
        &stepscale_engine::ABI_VERSION.to_string(),
    );
    let envelope = signing::sign(component, &meta, &key, "2026-12-01T00:00:00Z");
    let cm_name = format!("rule-{}", &ns.name[ns.name.len() - 6..]);
    let cm = manifest(
        &cm_name,
        release_ns,
        DEFAULT_SELECTOR,
        component,
        envelope.as_bytes(),
        &meta,
    )
    .expect("fits");
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), release_ns);
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create the rule ConfigMap");

    // Two replicas of the operator, both with only the chart's grants.
    let sa = operator_client(token).await;
    let mk = |identity: &str| {
        let mut config = sa_config(&ns, identity, release_ns, &lease);
        config.rules.trusted_keys = vec![key.verifying_key()];
        // Each replica its own analyzer: custom rules must not leak into
        // the other tests' shared one.
        let analyzer = Arc::new(
            Analyzer::with_builtin_rules(EngineConfig::default())
                .expect("engine")
                .with_forecasting(false),
        );
        Operator::new(sa.clone(), config, analyzer, LicenseState::Licensed)
            .with_history(source.clone())
            .with_health(source.clone())
    };
    let a = mk("op-a");
    let b = mk("op-b");
    let ra = a.tick().await.expect("op-a tick");
    let rb = b.tick().await.expect("op-b tick");
    assert!(ra.leader && !rb.leader, "one leader: {ra:?} / {rb:?}");
    for r in [&ra, &rb] {
        assert_eq!(r.rules.unlisted, 0, "rule ConfigMaps listed: {r:?}");
        assert_eq!(r.rules.admitted, 1, "the signed rule admitted: {r:?}");
        assert_eq!(r.skipped, 0, "{r:?}");
    }
    assert_eq!(ra.published.created, 1, "{ra:?}");
    assert_eq!(ra.published.errors, 0, "{ra:?}");

    // Approve → apply; degraded probation → roll back.
    ns.approve("web-hpa").await;
    let r = a.tick().await.expect("apply tick");
    assert_eq!(r.pass.applied, 1, "{r:?}");
    assert_eq!(r.pass.errors, 0, "{r:?}");
    assert_eq!(ns.rec("web-hpa").await.phase(), Phase::Applied);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = a.tick().await.expect("verify tick");
    assert_eq!(r.pass.rolled_back, 1, "{r:?}");
    assert_eq!(r.pass.errors, 0, "{r:?}");
    assert_eq!(ns.hpa_spec("web").await, before, "restored exactly");

    // Events were published under the chart's grants.
    let reasons = ns.event_reasons("ScalingRecommendation").await;
    for want in ["RecommendationCreated", "Applied", "RolledBack"] {
        assert!(reasons.iter().any(|r| r == want), "{want} in {reasons:?}");
    }
    let text = a.context().metrics.encode();
    assert!(
        !text.contains("stepscale_errors_total{"),
        "no errors counted: {text}"
    );

    let _ = cms.delete(&cm_name, &DeleteParams::default()).await;
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_works_under_the_charts_rbac_cluster_wide_and_namespaced() {
    let test = "the_operator_works_under_the_charts_rbac_cluster_wide_and_namespaced";
    let Some(admin) = cluster("rbac").await else {
        return;
    };
    let Some((token, release_ns)) = identity(test) else {
        return;
    };
    let _release = RELEASE.lock().await;
    ensure_namespace(&admin, &release_ns).await;
    // The RBAC is really on: without the chart, the identity may do nothing.
    run_helm(&[
        "uninstall",
        "rel",
        "--namespace",
        &release_ns,
        "--ignore-not-found",
    ]);
    let sa = operator_client(&token).await;
    let denied = Api::<ConfigMap>::namespaced(sa, &release_ns)
        .list(&Default::default())
        .await
        .expect_err("no grant before the chart is installed");
    assert!(
        denied.to_string().contains("403") || denied.to_string().contains("forbidden"),
        "{denied}"
    );
    // What the operator reports when RBAC denies it (the troubleshooting
    // table quotes it): the tick fails with the API server's reason, and
    // nothing is written.
    let ns = TestNamespace::new(admin.clone(), "rbac-none").await;
    ns.deployment("web", 4).await;
    ns.hpa("web", "web", 4, 20, 60).await;
    let mut config = ns.config("op-none", 6, 600);
    config.leader_election.enabled = false;
    config.rules.namespaces = vec![release_ns.clone()];
    let source = Arc::new(SeriesSource::default().with_history("web", week(), 4.0));
    let op = Operator::new(
        operator_client(&token).await,
        config,
        crate::common::analyzer(),
        LicenseState::Licensed,
    )
    .with_history(source.clone())
    .with_health(source);
    let err = op.tick().await.expect_err("a tick without grants fails");
    let text = err.to_string();
    eprintln!("denied tick: {text}");
    assert!(
        text.contains("forbidden") && text.contains("(403)") && text.contains("cannot list"),
        "{text}"
    );
    assert!(
        ns.recs()
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty(),
        "nothing written"
    );
    ns.cleanup().await;

    flow(&admin, &token, &release_ns, false).await;
    flow(&admin, &token, &release_ns, true).await;
    run_helm(&["uninstall", "rel", "--namespace", &release_ns]);
}

/// How far the flow (tick → approve → apply tick → probation → rollback
/// tick) got, and what the operator said on the way.
#[derive(Debug, Default)]
struct FlowOutcome {
    /// A tick failed (the error text).
    tick_error: Option<String>,
    /// Steps the reports counted as errors.
    errors: usize,
    /// Autoscalers skipped or left unanalyzed.
    skipped: usize,
    created: bool,
    applied: bool,
    rolled_back: bool,
    /// The recommendation's phase and `status.detail` at the end.
    status: Option<String>,
}

impl FlowOutcome {
    fn completed(&self) -> bool {
        self.tick_error.is_none()
            && self.errors == 0
            && self.created
            && self.applied
            && self.rolled_back
    }
}

fn record(
    r: Result<
        stepscale_operator::controller::TickReport,
        stepscale_operator::controller::ControllerError,
    >,
    out: &mut FlowOutcome,
) {
    match r {
        Ok(r) => {
            out.errors += r.published.errors + r.pass.errors;
            out.skipped += r.skipped + r.autoscalers.saturating_sub(r.analyzed);
            out.applied |= r.pass.applied > 0;
            out.rolled_back |= r.pass.rolled_back > 0;
            out.created |= r.published.created > 0;
        }
        Err(e) => out.tick_error = Some(e.to_string()),
    }
}

async fn flow_once(ns: &TestNamespace, sa: &Client, release_ns: &str, lease: &str) -> FlowOutcome {
    let mut out = FlowOutcome::default();
    let source = Arc::new(
        SeriesSource::default()
            .with_history("web", week(), 4.0)
            .with_health("web", degraded()),
    );
    let config = sa_config(ns, "op-grant", release_ns, lease);
    let op = Operator::new(
        sa.clone(),
        config,
        crate::common::analyzer(),
        LicenseState::Licensed,
    )
    .with_history(source.clone())
    .with_health(source);
    record(op.tick().await, &mut out);
    if ns.recs().get_opt("web-hpa").await.ok().flatten().is_some() {
        ns.approve("web-hpa").await;
        record(op.tick().await, &mut out);
        tokio::time::sleep(Duration::from_secs(3)).await;
        record(op.tick().await, &mut out);
    }
    if let Ok(Some(rec)) = ns.recs().get_opt("web-hpa").await {
        out.status = Some(format!(
            "{:?}: {}",
            rec.phase(),
            rec.status.and_then(|s| s.detail).unwrap_or_default()
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_grant_the_flow_uses_is_needed() {
    let test = "each_grant_the_flow_uses_is_needed";
    let Some(admin) = cluster("rbac-grants").await else {
        return;
    };
    let Some((token, release_ns)) = identity(test) else {
        return;
    };
    let _release = RELEASE.lock().await;
    ensure_namespace(&admin, &release_ns).await;
    let sa = operator_client(&token).await;
    let chart = crate::helm::chart();
    // (resource, verb) of the namespaced Role that this flow needs. The
    // others are used by steps outside it: on recommendations `get` (a
    // create conflict), `patch` (refreshing a pending one's spec, reopening,
    // the retry annotation), `delete` (a stale one) and `watch` (the run
    // loop); `get` on HPAs (drift and verify re-reads) and on Deployments
    // (pod template requests); Events (not fatal by design).
    let removals = [
        ("horizontalpodautoscalers", "list"),
        ("horizontalpodautoscalers", "patch"),
        ("deployments/scale", "get"),
        ("scalingrecommendations", "list"),
        ("scalingrecommendations", "create"),
        ("scalingrecommendations/status", "patch"),
    ];
    let mut report = Vec::new();
    for (resource, verb) in removals {
        let ns = TestNamespace::new(admin.clone(), "rbac-grant").await;
        let lease = format!("lease-{}", &ns.name[ns.name.len() - 6..]);
        run_helm(&[
            "upgrade",
            "--install",
            "rel",
            chart.to_str().expect("utf-8"),
            "--namespace",
            &release_ns,
            "--set",
            &format!("namespaces={{{}}}", ns.name),
            "--set",
            &format!("leaderElection.leaseName={lease}"),
        ]);
        // The chart's Role, less one verb on one resource.
        let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(admin.clone(), &ns.name);
        let mut role = roles
            .get("rel-stepscale-autoscaler")
            .await
            .expect("the chart's Role");
        let mut removed = false;
        let mut rules = role.rules.take().unwrap_or_default();
        for rule in &mut rules {
            if rule
                .resources
                .as_ref()
                .is_some_and(|r| r.iter().any(|x| x == resource))
            {
                rule.verbs.retain(|v| v != verb);
                removed = true;
            }
        }
        assert!(removed, "the chart grants {verb} on {resource}");
        rules.retain(|r| !r.verbs.is_empty());
        role.rules = Some(rules);
        role.metadata.managed_fields = None;
        roles
            .replace("rel-stepscale-autoscaler", &PostParams::default(), &role)
            .await
            .expect("replace the Role");
        ns.deployment("web", 4).await;
        let before = ns.hpa("web", "web", 4, 20, 60).await;
        let out = flow_once(&ns, &sa, &release_ns, &lease).await;
        let after = ns.hpa_spec("web").await;
        eprintln!("without {verb} on {resource}: {out:?}");
        assert!(
            !out.completed(),
            "without {verb} on {resource} the flow still completed: the grant is not needed ({out:?})"
        );
        // Reported, not silent: a failed tick or counted errors name the
        // denial, or the autoscaler was skipped.
        assert!(
            out.tick_error.as_deref().is_some_and(|e| e.contains("403"))
                || out.errors > 0
                || out.skipped > 0
                || out
                    .status
                    .as_deref()
                    .is_some_and(|s| s.contains("forbidden") || s.contains("403")),
            "without {verb} on {resource}: {out:?}"
        );
        // Never half a change: the HPA is as it was, or rolled back to it.
        assert_eq!(
            after, before,
            "without {verb} on {resource}: the HPA was left changed"
        );
        report.push(format!("{verb} {resource}"));
        ns.cleanup().await;
    }
    run_helm(&["uninstall", "rel", "--namespace", &release_ns]);
    eprintln!("each needed: {report:?}");
}
