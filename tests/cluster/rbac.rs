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
use stepscale_operator::crd::phase::Phase;
use stepscale_operator::license::LicenseState;
use stepscale_operator::operator::controller::Operator;
use stepscale_operator::rules::configmap::{manifest, DEFAULT_SELECTOR};
use stepscale_operator::rules::signing::{self, SignedRule};
use stepscale_tests::test_rules;

use crate::common::{cluster, degraded, logs, week, SeriesSource, TestNamespace};

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
) -> stepscale_operator::operator::config::OperatorConfig {
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

/// The cluster, the chart's identity (token, release namespace) and the
/// release lock, with release `rel` uninstalled: a test starts without the
/// chart (and without a Role an interrupted run edited, which would conflict
/// with Helm's apply). `None` when the cluster or identity is missing.
async fn without_release(
    test: &str,
    label: &str,
) -> Option<(Client, String, String, tokio::sync::MutexGuard<'static, ()>)> {
    let admin = cluster(label).await?;
    let (token, release_ns) = identity(test)?;
    let guard = RELEASE.lock().await;
    ensure_namespace(&admin, &release_ns).await;
    run_helm(&[
        "uninstall",
        "rel",
        "--namespace",
        &release_ns,
        "--ignore-not-found",
    ]);
    Some((admin, token, release_ns, guard))
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
    let Some((admin, token, release_ns, _release)) = without_release(test, "rbac").await else {
        return;
    };
    // The RBAC is really on: without the chart, the identity may do nothing.
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
    /// Ticks that ran as follower because leader election failed.
    leader_failures: usize,
    /// Rule namespaces whose ConfigMaps could not be listed.
    rules_unlisted: usize,
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

    /// The operator said what failed: a failed tick or counted errors name
    /// the denial, an autoscaler was skipped, leader election failed, or the
    /// recommendation's status names it.
    fn reported(&self) -> bool {
        self.tick_error
            .as_deref()
            .is_some_and(|e| e.contains("403"))
            || self.errors > 0
            || self.skipped > 0
            || self.leader_failures > 0
            || self
                .status
                .as_deref()
                .is_some_and(|s| s.contains("forbidden") || s.contains("403"))
    }
}

fn record(
    r: Result<
        stepscale_operator::operator::controller::TickReport,
        stepscale_operator::operator::controller::ControllerError,
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
            out.rules_unlisted += r.rules.unlisted;
        }
        Err(e) => out.tick_error = Some(e.to_string()),
    }
}

/// The operator of the grant tests: the chart's ServiceAccount, the test
/// namespace watched, the lease and rule ConfigMaps in the release namespace.
fn grant_operator(ns: &TestNamespace, sa: &Client, release_ns: &str, lease: &str) -> Operator {
    let source = Arc::new(
        SeriesSource::default()
            .with_history("web", week(), 4.0)
            .with_health("web", degraded()),
    );
    Operator::new(
        sa.clone(),
        sa_config(ns, "op-grant", release_ns, lease),
        crate::common::analyzer(),
        LicenseState::Licensed,
    )
    .with_history(source.clone())
    .with_health(source)
}

/// Leader-election failures the operator counted (`stepscale_errors_total`).
fn leader_failures(op: &Operator) -> usize {
    op.context()
        .metrics
        .encode()
        .lines()
        .find(|l| l.starts_with("stepscale_errors_total{") && l.contains("leader_election"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map_or(0, |v| v as usize)
}

async fn flow_once(ns: &TestNamespace, sa: &Client, release_ns: &str, lease: &str) -> FlowOutcome {
    let mut out = FlowOutcome::default();
    let op = grant_operator(ns, sa, release_ns, lease);
    record(op.tick().await, &mut out);
    if ns.recs().get_opt("web-hpa").await.ok().flatten().is_some() {
        ns.approve("web-hpa").await;
        record(op.tick().await, &mut out);
        tokio::time::sleep(Duration::from_secs(3)).await;
        record(op.tick().await, &mut out);
    }
    out.leader_failures = leader_failures(&op);
    if let Ok(Some(rec)) = ns.recs().get_opt("web-hpa").await {
        out.status = Some(format!(
            "{:?}: {}",
            rec.phase(),
            rec.status.and_then(|s| s.detail).unwrap_or_default()
        ));
    }
    out
}

/// Which of the chart's Roles a grant is taken from.
#[derive(Debug, Clone, Copy)]
enum ChartRole {
    /// `rel-stepscale-autoscaler` in the watched (test) namespace.
    Workload,
    /// `rel-stepscale-autoscaler-self` in the release namespace.
    SelfRole,
}

/// The step that needs a grant, and how its absence shows.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The main flow stops, reported, with the HPA as it was.
    Flow,
    /// Refreshing a pending recommendation whose spec no longer matches the
    /// analysis (here: a person edited it) fails, counted, and the
    /// recommendation keeps the edit.
    Refresh,
    /// Removing the recommendation of an HPA deleted with its dependents
    /// orphaned fails, counted, and the recommendation stays.
    RemoveStale,
    /// The run loop's watch (of recommendations, or of rule ConfigMaps)
    /// fails and the operator warns with the watch's name.
    Watch(&'static str),
    /// The flow completes (Events are best effort) and the operator warns
    /// once that it cannot publish Events; none is published.
    Events,
    /// A repeated Event (same reason on the same object) updates the first
    /// one's series count: that patch fails and the operator warns.
    RepeatedEvent,
    /// Listing rule ConfigMaps fails; the tick counts the namespace as
    /// unlisted (and logs which grant to add); the flow itself completes.
    RuleList,
}

/// The chart installed watching `ns` only, with `verb` on `resource`
/// removed from one of its Roles. Returns the lease name and the Role as
/// the chart made it (to put back).
async fn chart_without(
    admin: &Client,
    ns: &TestNamespace,
    release_ns: &str,
    role: ChartRole,
    resource: &str,
    verb: &str,
) -> (
    String,
    Api<k8s_openapi::api::rbac::v1::Role>,
    k8s_openapi::api::rbac::v1::Role,
) {
    let lease = format!("lease-{}", &ns.name[ns.name.len() - 6..]);
    let chart = crate::helm::chart();
    run_helm(&[
        "upgrade",
        "--install",
        "rel",
        chart.to_str().expect("utf-8"),
        "--namespace",
        release_ns,
        "--set",
        &format!("namespaces={{{}}}", ns.name),
        "--set",
        &format!("leaderElection.leaseName={lease}"),
    ]);
    let (role_ns, role_name) = match role {
        ChartRole::Workload => (ns.name.as_str(), "rel-stepscale-autoscaler"),
        ChartRole::SelfRole => (release_ns, "rel-stepscale-autoscaler-self"),
    };
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(admin.clone(), role_ns);
    let original = roles.get(role_name).await.expect("the chart's Role");
    let mut role = original.clone();
    let mut removed = false;
    let mut rules = role.rules.take().unwrap_or_default();
    for rule in &mut rules {
        if rule
            .resources
            .as_ref()
            .is_some_and(|r| r.iter().any(|x| x == resource))
            && rule.verbs.iter().any(|v| v == verb)
        {
            rule.verbs.retain(|v| v != verb);
            removed = true;
        }
    }
    assert!(
        removed,
        "the chart grants {verb} on {resource} in {role_name}"
    );
    rules.retain(|r| !r.verbs.is_empty());
    role.rules = Some(rules);
    role.metadata.managed_fields = None;
    roles
        .replace(role_name, &PostParams::default(), &role)
        .await
        .expect("replace the Role");
    (lease, roles, original)
}

/// Run `step` under the chart's RBAC less one grant and check that its
/// absence shows as the step says.
async fn check_needed(
    ns: &TestNamespace,
    sa: &Client,
    release_ns: &str,
    lease: &str,
    step: Step,
    what: &str,
) {
    ns.deployment("web", 4).await;
    let before = ns.hpa("web", "web", 4, 20, 60).await;
    // The log lines of this step only, about this namespace where they name one.
    let mark = logs().len();
    let new_logs = || logs().get(mark..).unwrap_or_default().to_string();
    match step {
        Step::Flow => {
            let out = flow_once(ns, sa, release_ns, lease).await;
            let after = ns.hpa_spec("web").await;
            eprintln!("without {what}: {out:?}");
            assert!(
                !out.completed(),
                "without {what} the flow still completed: the grant is not needed ({out:?})"
            );
            assert!(out.reported(), "without {what}: not reported: {out:?}");
            // Never half a change: the HPA is as it was, or rolled back to it.
            assert_eq!(after, before, "without {what}: the HPA was left changed");
        }
        Step::Refresh | Step::RemoveStale => {
            let op = grant_operator(ns, sa, release_ns, lease);
            let first = op.tick().await.expect("tick");
            assert_eq!(first.published.created, 1, "{first:?}");
            if matches!(step, Step::Refresh) {
                ns.edit_rec(
                    "web-hpa",
                    serde_json::json!({"spec": {"proposed": {"minReplicas": 7}}}),
                )
                .await;
            } else {
                // Orphaned: the garbage collector would otherwise delete the
                // recommendation with its owner before the operator looks.
                ns.hpas()
                    .delete("web", &DeleteParams::orphan())
                    .await
                    .expect("delete the HPA");
                // The garbage collector clears the orphan finalizer.
                for _ in 0..50 {
                    if ns.hpas().get_opt("web").await.expect("get").is_none() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            let second = op.tick().await.expect("tick");
            eprintln!("without {what}: {second:?}");
            assert!(second.published.errors > 0, "without {what}: {second:?}");
            let rec = ns.recs().get_opt("web-hpa").await.expect("get");
            let rec = rec.expect("the recommendation is still there");
            if matches!(step, Step::Refresh) {
                assert_eq!(rec.spec.recommendation.proposed.min_replicas, Some(7));
            }
            assert!(
                new_logs().lines().any(|l| l.contains(&ns.name)
                    && l.contains("recommendation=web-hpa")
                    && l.contains("403")),
                "without {what}: no warning naming the recommendation and the 403"
            );
        }
        Step::Watch(watched) => {
            let op = grant_operator(ns, sa, release_ns, lease);
            let run = tokio::spawn(op.run(tokio::time::sleep(Duration::from_secs(5))));
            run.await.expect("join").expect("the run loop ends cleanly");
            let want = if watched.starts_with("rule") {
                format!("{watched} {release_ns}")
            } else {
                format!("{watched} {}", ns.name)
            };
            let line = new_logs()
                .lines()
                .find(|l| {
                    l.contains(stepscale_operator::operator::controller::LOG_WATCH_FAILED)
                        && l.contains(&want)
                })
                .map(str::to_string);
            eprintln!("without {what}: {line:?}");
            let line = line
                .unwrap_or_else(|| panic!("without {what}: no warning about the watch of {want}"));
            assert!(line.contains("403") || line.contains("forbidden"), "{line}");
        }
        Step::Events => {
            let out = flow_once(ns, sa, release_ns, lease).await;
            eprintln!("without {what}: {out:?}");
            assert!(out.completed(), "Events are best effort: {out:?}");
            assert!(
                new_logs().contains(stepscale_operator::lifecycle::events::LOG_EVENTS_FORBIDDEN),
                "without {what}: no warning about Events"
            );
            assert!(ns.event_reasons("ScalingRecommendation").await.is_empty());
        }
        Step::RepeatedEvent => {
            let notifier =
                stepscale_operator::lifecycle::events::Notifier::new(sa.clone(), "op-grant");
            let target = k8s_openapi::api::core::v1::ObjectReference {
                api_version: Some("autoscaling/v2".into()),
                kind: Some("HorizontalPodAutoscaler".into()),
                name: Some("web".into()),
                namespace: Some(ns.name.clone()),
                ..Default::default()
            };
            for _ in 0..2 {
                notifier
                    .warn_autoscaler(&target, "AutoscalerSkipped", "test")
                    .await;
            }
            let notes = ns
                .event_notes("HorizontalPodAutoscaler", "web", "AutoscalerSkipped")
                .await;
            assert_eq!(notes.len(), 1, "the first Event was created: {notes:?}");
            assert!(
                new_logs().contains(stepscale_operator::lifecycle::events::LOG_EVENTS_FORBIDDEN),
                "without {what}: no warning about Events"
            );
        }
        Step::RuleList => {
            let out = flow_once(ns, sa, release_ns, lease).await;
            eprintln!("without {what}: {out:?}");
            assert!(out.rules_unlisted > 0, "without {what}: {out:?}");
            assert!(
                new_logs().contains("cannot list rule ConfigMaps"),
                "without {what}: no warning naming the grant"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_grant_the_chart_gives_is_needed() {
    let test = "each_grant_the_chart_gives_is_needed";
    let Some((admin, token, release_ns, _release)) = without_release(test, "rbac-grants").await
    else {
        return;
    };
    let sa = operator_client(&token).await;
    use ChartRole::{SelfRole, Workload};
    // Every (Role, resource, verb) the chart renders for one watched
    // namespace, with the step that needs it. ScaledObjects and
    // StatefulSets share their rules with HPAs and Deployments (one rule
    // each); rule ConfigMaps in `rules.namespaces` use the same two grants
    // as the release namespace.
    let removals = [
        (Workload, "horizontalpodautoscalers", "list", Step::Flow),
        (Workload, "horizontalpodautoscalers", "get", Step::Flow),
        (Workload, "horizontalpodautoscalers", "patch", Step::Flow),
        (Workload, "deployments", "list", Step::Flow),
        (Workload, "scalingrecommendations", "list", Step::Flow),
        (Workload, "scalingrecommendations", "create", Step::Flow),
        (
            Workload,
            "scalingrecommendations/status",
            "patch",
            Step::Flow,
        ),
        (Workload, "scalingrecommendations", "patch", Step::Refresh),
        (
            Workload,
            "scalingrecommendations",
            "delete",
            Step::RemoveStale,
        ),
        (
            Workload,
            "scalingrecommendations",
            "watch",
            Step::Watch("ScalingRecommendations in namespace"),
        ),
        (Workload, "events", "create", Step::Events),
        (Workload, "events", "patch", Step::RepeatedEvent),
        (SelfRole, "leases", "create", Step::Flow),
        (SelfRole, "leases", "get", Step::Flow),
        (SelfRole, "leases", "update", Step::Flow),
        (SelfRole, "configmaps", "list", Step::RuleList),
        (
            SelfRole,
            "configmaps",
            "watch",
            Step::Watch("rule ConfigMaps in namespace"),
        ),
    ];
    let mut report = Vec::new();
    for (role, resource, verb, step) in removals {
        let what = format!("{verb} on {resource}");
        let ns = TestNamespace::new(admin.clone(), "rbac-grant").await;
        let (lease, roles, original) =
            chart_without(&admin, &ns, &release_ns, role, resource, verb).await;
        check_needed(&ns, &sa, &release_ns, &lease, step, &what).await;
        report.push(what);
        // Delete the edited Role: the next `helm upgrade` creates it again
        // as the chart makes it (an edit by another field manager would
        // conflict with Helm's server-side apply).
        let name = original.metadata.name.clone().unwrap_or_default();
        let _ = roles.delete(&name, &DeleteParams::default()).await;
        ns.cleanup().await;
    }
    run_helm(&["uninstall", "rel", "--namespace", &release_ns]);
    eprintln!("each needed: {report:?}");
}
