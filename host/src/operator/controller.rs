//! The operator's reconcile loop: wiring only, the work is done by
//! [`crate::cluster`] (reads), [`crate::analysis`] (rules),
//! [`crate::lifecycle`] (writes) and [`crate::operator::leader`].
//!
//! Each tick ([`Operator::tick`], every `intervalSeconds`):
//! 1. acquire or renew the leader lease; log `reconcile tick` (license=…,
//!    leader=…);
//! 2. read the HPAs / ScaledObjects of the watched namespaces and their
//!    targets, record one HPA-status sample each, build the metric history
//!    (Prometheus backfill or the HPA-status fallback), and make one
//!    snapshot per workload;
//! 3. run the rules (merge, risk, replay) on all workloads;
//! 4. leader only, after a fresh leadership check and within a time budget:
//!    create / update / reopen / remove recommendations, then reconcile each
//!    recommendation's lifecycle (apply, verify, roll back, retry).
//!    Followers log `not leader; skipping mutating pass`.
//!
//! Between ticks a watch on ScalingRecommendations wakes the loop so an
//! approval is acted on within seconds; the loop also wakes at the next end
//! of a probation.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PartialObjectMeta};
use kube::core::ApiResource;
use kube::runtime::watcher;
use kube::Client;
use stepscale_engine::snapshot::{AutoscalerKind, AutoscalerRef, ScaleTargetRef, WorkloadSnapshot};

use crate::analysis::Analyzer;
use crate::cluster::autoscaler::{config_of, scale_target, status_sample};
use crate::cluster::targets::ListedTargets;
use crate::cluster::{kind_name, Autoscaler, ClusterError, ClusterReader};
use crate::crd::cache::{RecommendationCache, Watched};
use crate::crd::ScalingRecommendation;
use crate::history::source::{ClusterHistory, HistorySource};
use crate::history::{HistoryKey, MetricsSource, PrometheusMiss, LOG_HPA_STATUS, LOG_PROMETHEUS};
use crate::license::LicenseState;
use crate::lifecycle::events::{reason, Notifier};
use crate::lifecycle::publish::{name_of, Analyzed, PublishReport};
use crate::lifecycle::verify::{HealthSource, HistoryHealth};
use crate::lifecycle::{unix_seconds, Leadership, Lifecycle, PassReport, WriteGate};
use crate::operator::config::OperatorConfig;
use crate::operator::leader::LeaderElector;
use crate::operator::memory;
use crate::operator::spread::{Plan, Spreader, ANALYSIS_SHARE};
use crate::review::Reviewer;
use crate::telemetry::metrics::Metrics;

/// Logged at startup (SPEC §5).
pub const LOG_STARTING: &str = "operator starting";
/// Logged at every tick (SPEC §5).
pub const LOG_TICK: &str = "reconcile tick";
/// Logged after each tick's analysis, with the counts: analyzed, with a
/// change or finding, nothing to propose, waiting for history (the first
/// few named), skipped for their spec.
pub const LOG_ANALYSIS: &str = "analysis";
/// Logged by followers (SPEC §5).
pub const LOG_NOT_LEADER: &str = "not leader; skipping mutating pass";
/// Logged at the end of a leader tick, with where its time went.
pub const LOG_TICK_DONE: &str = "tick done";
/// Autoscalers read and analyzed together: a tick holds at most this many
/// histories at once.
pub const ANALYSIS_CHUNK: usize = 250;
/// Logged when a tick analyzes only part of the autoscalers to stay inside
/// its interval.
pub const LOG_SPREAD: &str = "analysis spread over ticks";
/// Autoscalers whose target and history are read at once in a tick.
pub const READ_CONCURRENCY: usize = 8;
/// How long a pass waits for the watch to deliver this instance's own
/// recommendation writes before it lists the recommendations instead.
pub const WATCH_DELIVERY_WAIT: Duration = Duration::from_secs(5);
/// Logged after the LLM pass of a tick, with its counts (no payload, no key).
pub const LOG_LLM_PASS: &str = "llm pass";
/// Logged (debug) each tick when the API server does not serve KEDA's
/// ScaledObject.
pub const LOG_NO_KEDA: &str =
    "KEDA is not installed (keda.sh/v1alpha1 ScaledObject is not served): HorizontalPodAutoscalers only";

/// Why a tick or the loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// Reading the cluster failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The ScalingRecommendation CRD is not installed.
    #[error("the ScalingRecommendation CRD is not installed (listing stepscale.io/v1alpha1 scalingrecommendations failed: {}); install it with `stepscale crd | kubectl apply -f -` or the Helm chart", crate::cluster::api_message(.0))]
    CrdMissing(#[source] kube::Error),
    /// Listing recommendations failed.
    #[error("listing ScalingRecommendations failed: {}", crate::cluster::api_message(.0))]
    ListRecommendations(#[source] kube::Error),
    /// The HTTP endpoints could not start.
    #[error("cannot serve the HTTP endpoints on {address}: {source}")]
    Http {
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl ControllerError {
    /// Low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ControllerError::Cluster(e) => e.metric_label(),
            ControllerError::CrdMissing(_) => "crd_missing",
            ControllerError::ListRecommendations(_) => "list_recommendations",
            ControllerError::Http { .. } => "http",
        }
    }
}

/// What one tick did (for logs and tests).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickReport {
    /// This instance led the tick.
    pub leader: bool,
    /// Autoscalers seen.
    pub autoscalers: usize,
    /// Workloads analyzed (those with enough history).
    pub analyzed: usize,
    /// Autoscalers skipped for an unreadable or out-of-limit spec (each got
    /// an `AutoscalerSkipped` Event from the leader).
    pub skipped: usize,
    /// Autoscalers not analyzed yet: their history is too short.
    pub waiting_for_history: usize,
    /// Of those not analyzed for want of history: Prometheus matched no
    /// data for them.
    pub prometheus_no_data: usize,
    /// … or Prometheus failed for them (unreachable, timeout, a rejected
    /// or ambiguous query).
    pub prometheus_error: usize,
    /// Autoscalers not analyzed: their scale target could not be read.
    pub target_unreadable: usize,
    /// Analyzed workloads with a change or a finding to publish.
    pub actionable: usize,
    /// What publishing recommendations did.
    pub published: PublishReport,
    /// What the lifecycle pass did.
    pub pass: PassReport,
    /// Writes this instance made to the API server this tick (recommendations
    /// and autoscalers; Events and the lease excluded).
    pub writes: usize,
    /// HPA-status histories saved into recommendations' status.
    pub checkpoints: usize,
    /// Autoscalers not analyzed this tick to keep it inside its interval
    /// (analyzed on a later one; see [`crate::operator::spread`]).
    pub deferred: usize,
    /// Range queries sent to Prometheus this tick.
    pub prometheus_requests: u64,
    /// Bytes of Prometheus answers read this tick.
    pub prometheus_bytes: u64,
    /// Recommendations malformed beyond reading (skipped).
    pub malformed: usize,
    /// What loading rule ConfigMaps did.
    pub rules: crate::rules::sync::SyncReport,
    /// Where the tick's time went.
    pub timings: TickTimings,
}

/// Where a tick's time went, seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TickTimings {
    /// Listing the autoscalers, reading their targets and their history.
    pub read: f64,
    /// The rules, the search and the replays.
    pub analysis: f64,
    /// The LLM pass (0 when off).
    pub review: f64,
    /// Publishing recommendations and the lifecycle pass (leader only).
    pub writes: f64,
    /// The whole tick.
    pub total: f64,
}

/// What a tick gathered from the cluster for the analysis.
#[derive(Default)]
struct Gathered {
    /// One snapshot per workload to analyze.
    workloads: Vec<Arc<WorkloadSnapshot>>,
    /// The autoscaler (index into the tick's list) of each snapshot.
    index: Vec<usize>,
    /// Autoscalers not analyzed this tick, by (namespace, name).
    unanalyzed: HashSet<(String, String)>,
    /// Autoscalers skipped for their spec, with why (index, reason).
    skipped: Vec<(usize, String)>,
    /// Autoscalers whose history is too short yet (index), with why
    /// Prometheus gave none when it was asked.
    waiting: Vec<(usize, Option<PrometheusMiss>)>,
    /// Autoscalers whose scale target could not be read.
    unreadable: usize,
    /// History keys of the workloads analyzed from HPA-status samples.
    from_status: HashSet<HistoryKey>,
    /// Autoscalers whose target and history were read this tick.
    read: usize,
    /// Autoscalers left for a later tick to stay inside the interval.
    deferred: usize,
    /// Workloads whose history came from Prometheus (those from HPA
    /// status are `from_status`).
    from_prometheus: usize,
    /// History keys of every autoscaler read (the history source keeps
    /// only these).
    keys: Vec<HistoryKey>,
}

impl Gathered {
    /// Add what the next chunk of the same tick gathered (its workloads
    /// excepted: they go to the analysis). Chunks come in the autoscalers'
    /// order, so the lists stay in it.
    fn absorb(&mut self, other: Gathered) {
        self.index.extend(other.index);
        self.unanalyzed.extend(other.unanalyzed);
        self.skipped.extend(other.skipped);
        self.waiting.extend(other.waiting);
        self.unreadable += other.unreadable;
        self.from_status.extend(other.from_status);
        self.read += other.read;
        self.deferred += other.deferred;
        self.from_prometheus += other.from_prometheus;
        self.keys.extend(other.keys);
    }
}

/// The note of the `WaitingForHistory` Event on an autoscaler not analyzed
/// yet.
pub const NOTE_WAITING_FOR_HISTORY: &str = "not analyzed yet: not enough metric history (Prometheus, when set, returned none for it, and the operator has fewer than 2 HPA-status samples, one a tick); it is analyzed from the first tick with enough";

/// Most autoscalers named in the analysis line's list of those waiting for
/// history.
const WAITING_NAMED: usize = 5;

/// The analysis line of a tick ([`LOG_ANALYSIS`]): how many autoscalers
/// were seen, analyzed, have something to publish, have nothing to propose,
/// wait for history (the first few named) or were skipped for their spec.
fn log_analysis(report: &TickReport, waiting: &[String]) {
    let mut named = waiting
        .iter()
        .take(WAITING_NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if waiting.len() > WAITING_NAMED {
        named.push_str(&format!(", … {} more", waiting.len() - WAITING_NAMED));
    }
    tracing::info!(
        autoscalers = report.autoscalers,
        analyzed = report.analyzed,
        with_change_or_finding = report.actionable,
        nothing_to_propose = report.analyzed.saturating_sub(report.actionable),
        waiting_for_history = report.waiting_for_history,
        prometheus_no_data = report.prometheus_no_data,
        prometheus_error = report.prometheus_error,
        target_unreadable = report.target_unreadable,
        skipped_for_spec = report.skipped,
        deferred = report.deferred,
        waiting = %named,
        "{}",
        LOG_ANALYSIS
    );
}

/// Shared state of the operator (the web server reads `metrics` and `ready`).
pub struct Context {
    /// API client.
    pub client: Client,
    /// Validated configuration.
    pub config: OperatorConfig,
    /// The rule engine with its rules.
    pub analyzer: Arc<Analyzer>,
    /// Custom rules loaded from ConfigMaps.
    pub rules: crate::rules::loader::RuleLoader,
    /// Metric history of the tick.
    pub history: Arc<dyn HistorySource>,
    /// Health during probation.
    pub health: Arc<dyn HealthSource>,
    /// License state at startup (analysis-only when it does not allow apply).
    pub license: LicenseState,
    /// Re-evaluates the license at each tick (expiry, grace), given Unix
    /// seconds; `None` keeps [`Context::license`].
    pub license_source: Option<LicenseSource>,
    /// Leader election; `None` when disabled (this instance always leads).
    pub leader: Option<Arc<LeaderElector>>,
    /// Kubernetes Events.
    pub notifier: Notifier,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Set after the first successful tick (`/readyz`).
    pub ready: Arc<AtomicBool>,
    /// The LLM pass; `None` with `llm.provider=none` (no external call).
    pub reviewer: Option<Arc<Reviewer>>,
}

/// A function giving the license state at a time (Unix seconds).
pub type LicenseSource = Box<dyn Fn(i64) -> LicenseState + Send + Sync>;

/// The operator.
pub struct Operator {
    ctx: Context,
    clock: Clock,
    /// Set once the checkpointed HPA-status histories have been read back
    /// (the first tick whose recommendation list succeeds).
    restored: AtomicBool,
    /// Which autoscalers each tick analyzes when not all fit.
    spreader: std::sync::Mutex<Spreader>,
    /// Prometheus requests and bytes as of the last tick.
    prometheus_seen: std::sync::Mutex<(u64, u64)>,
    /// The recommendations as the watch keeps them, once
    /// [`Operator::watch_recommendations`] runs; passes list until then.
    cache: RecommendationCache,
}

/// A clock: now, Unix seconds. The operator reads every decision's time
/// (probation, schedule transitions, license) from it; tests inject one.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// `licensed`, `grace (N days left)` or `unlicensed`, for logs.
pub fn license_label(l: &LicenseState) -> String {
    match l {
        LicenseState::Licensed => "licensed".into(),
        LicenseState::Grace { days_left } => format!("grace ({days_left} days left)"),
        LicenseState::Unlicensed { .. } => "unlicensed".into(),
    }
}

impl Operator {
    /// An operator with the production history (Prometheus or HPA status)
    /// and health sources, Events on, and leader election as configured.
    pub fn new(
        client: Client,
        config: OperatorConfig,
        analyzer: Arc<Analyzer>,
        license: LicenseState,
    ) -> Self {
        let tick_seconds = u32::try_from(config.interval.as_secs()).unwrap_or(u32::MAX);
        let history: Arc<dyn HistorySource> =
            Arc::new(ClusterHistory::new(config.prometheus.clone(), tick_seconds));
        let health: Arc<dyn HealthSource> = Arc::new(HistoryHealth::new(history.clone()));
        let leader = config.leader_election.enabled.then(|| {
            Arc::new(LeaderElector::new(
                client.clone(),
                &config.leader_election.namespace,
                &config.leader_election.lease_name,
                &config.identity,
                config.leader_election.lease_duration,
            ))
        });
        let notifier = Notifier::new(client.clone(), &config.identity);
        let rules =
            crate::rules::loader::RuleLoader::new(crate::rules::admission::AdmissionPolicy {
                trusted: config.rules.trusted_keys.clone(),
                replace_builtins: config.rules.replace_builtins.clone(),
            });
        let metrics = Arc::new(Metrics::new());
        let reviewer = config.llm.clone().and_then(|llm| {
            Reviewer::new(llm, Some(metrics.clone()))
                .map_err(|e| tracing::error!("the LLM pass is off: {e:#}"))
                .ok()
                .map(Arc::new)
        });
        Operator {
            ctx: Context {
                client,
                config,
                analyzer,
                rules,
                history,
                health,
                license,
                license_source: None,
                leader,
                notifier,
                metrics,
                ready: Arc::new(AtomicBool::new(false)),
                reviewer,
            },
            clock: Arc::new(now_unix),
            restored: AtomicBool::new(false),
            spreader: std::sync::Mutex::default(),
            prometheus_seen: std::sync::Mutex::default(),
            cache: RecommendationCache::default(),
        }
    }

    /// Read the time from `clock` instead of the system clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Use another history source (and health from the same source).
    pub fn with_history(mut self, history: Arc<dyn HistorySource>) -> Self {
        self.ctx.health = Arc::new(HistoryHealth::new(history.clone()));
        self.ctx.history = history;
        self
    }

    /// Use another health source.
    pub fn with_health(mut self, health: Arc<dyn HealthSource>) -> Self {
        self.ctx.health = health;
        self
    }

    /// Re-evaluate the license at every tick with `source` (so an expiring
    /// license moves to grace and then analysis-only without a restart).
    pub fn with_license_source(mut self, source: LicenseSource) -> Self {
        self.ctx.license_source = Some(source);
        self
    }

    /// The license state now.
    pub fn license(&self) -> LicenseState {
        match &self.ctx.license_source {
            Some(f) => f(self.now()),
            None => self.ctx.license.clone(),
        }
    }

    /// Publish no Kubernetes Events.
    pub fn without_events(mut self) -> Self {
        self.ctx.notifier = Notifier::disabled();
        self
    }

    /// The shared context.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The leader elector, if election is enabled.
    pub fn leader(&self) -> Option<&Arc<LeaderElector>> {
        self.ctx.leader.as_ref()
    }

    async fn lead(&self) -> bool {
        match &self.ctx.leader {
            None => true,
            Some(l) => match l.try_acquire_or_renew().await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!("leader election failed; acting as follower: {e}");
                    self.ctx.metrics.error("leader_election");
                    false
                }
            },
        }
    }

    /// One reconcile tick (see the module docs). When it ends, the memory
    /// it freed goes back to the operating system ([`memory::release_freed`]).
    ///
    /// # Errors
    /// [`ControllerError`] when the cluster cannot be read; per-workload and
    /// per-recommendation problems are logged and skipped instead.
    pub async fn tick(&self) -> Result<TickReport, ControllerError> {
        let report = self.tick_once().await;
        memory::release_freed();
        report
    }

    async fn tick_once(&self) -> Result<TickReport, ControllerError> {
        let ctx = &self.ctx;
        let now = self.now();
        let leader = self.lead().await;
        tracing::info!(license = %license_label(&self.license()), leader, "{}", LOG_TICK);
        ctx.metrics.tick(leader);
        let mut report = TickReport {
            leader,
            ..TickReport::default()
        };
        // Rule ConfigMaps first, so a rule admitted now runs in this analysis.
        report.rules = crate::rules::sync::sync(
            &ctx.client,
            &ctx.config.rules,
            &ctx.rules,
            &ctx.analyzer,
            &ctx.notifier,
            &ctx.metrics,
            leader,
        )
        .await;
        let tick_started = Instant::now();
        let reader =
            ClusterReader::discover(ctx.client.clone(), ctx.config.namespaces.clone()).await?;
        if !reader.keda_installed() {
            tracing::debug!("{}", LOG_NO_KEDA);
        }
        let autoscalers = reader.autoscalers().await?;
        report.autoscalers = autoscalers.len();
        ctx.notifier.keep_only(
            &autoscalers
                .iter()
                .map(|a| (a.namespace.clone(), a.name.clone()))
                .collect(),
        );
        self.restore_history(&reader).await;
        let plan = {
            let names: Vec<_> = autoscalers
                .iter()
                .filter(|a| keda_owner(a).is_none())
                .map(name_of)
                .collect();
            let budget = ctx.config.interval.as_secs_f64() * ANALYSIS_SHARE;
            self.spreader
                .lock()
                .map_or_else(|_| Plan::everything(), |mut s| s.plan(&names, budget))
        };
        // Read and analyze a chunk at a time: a chunk's histories are
        // dropped once it is analyzed, so a tick holds at most
        // ANALYSIS_CHUNK of them whatever the fleet's size.
        let mut gathered = Gathered::default();
        let mut recs = Vec::new();
        let mut analysis_seconds = 0.0;
        // The Deployments and StatefulSets the selected autoscalers scale,
        // one LIST per namespace and kind for the whole tick (a namespace
        // spans several chunks when it holds more than a chunk).
        let targets: Vec<(&str, ScaleTargetRef)> = autoscalers
            .iter()
            .filter(|a| {
                plan.selected
                    .as_ref()
                    .is_none_or(|s| s.contains(&name_of(a)))
            })
            .filter_map(|a| Some((a.namespace.as_str(), scale_target(a.kind, &a.spec).ok()?)))
            .collect();
        let listed = reader
            .list_targets(targets.iter().map(|(ns, t)| (*ns, t)))
            .await;
        for start in (0..autoscalers.len()).step_by(ANALYSIS_CHUNK) {
            let range = start..(start + ANALYSIS_CHUNK).min(autoscalers.len());
            let mut chunk = self
                .snapshots(
                    &reader,
                    &listed,
                    &autoscalers,
                    range,
                    plan.selected.as_ref(),
                    now,
                )
                .await;
            let started = Instant::now();
            let analyzer = ctx.analyzer.clone();
            let inputs = std::mem::take(&mut chunk.workloads);
            let chunk_recs = tokio::task::spawn_blocking(move || analyzer.analyze(&inputs, 0))
                .await
                .unwrap_or_else(|e| {
                    tracing::error!("the analysis panicked; this chunk's autoscalers are left as they are this tick: {e}");
                    Vec::new()
                });
            analysis_seconds += started.elapsed().as_secs_f64();
            if chunk_recs.len() != chunk.index.len() {
                // A panicked chunk: leave its autoscalers alone this tick.
                for i in &chunk.index {
                    chunk.unanalyzed.insert(name_of(&autoscalers[*i]));
                }
                chunk.index.clear();
            }
            recs.extend(chunk_recs);
            gathered.absorb(chunk);
        }
        let (from_prometheus, from_status_count) =
            (gathered.from_prometheus, gathered.from_status.len());
        if from_prometheus > 0 {
            tracing::info!(workloads = from_prometheus, "{}", LOG_PROMETHEUS);
        }
        if from_status_count > 0 || (from_prometheus == 0 && ctx.config.prometheus.is_none()) {
            tracing::info!(workloads = from_status_count, "{}", LOG_HPA_STATUS);
        }
        let keep: HashSet<HistoryKey> = std::mem::take(&mut gathered.keys).into_iter().collect();
        ctx.history.retain(&|k| keep.contains(k));
        let Gathered {
            index: analyzed_of,
            unanalyzed,
            skipped,
            waiting,
            unreadable,
            from_status,
            read: read_count,
            deferred,
            ..
        } = gathered;
        report.deferred = deferred;
        if deferred > 0 {
            tracing::info!(
                analyzed_this_tick = plan.selected.as_ref().map_or(0, HashSet::len),
                deferred,
                every_ticks = plan.every_ticks,
                backlog_ticks = plan.backlog_ticks,
                "{}",
                LOG_SPREAD
            );
        }
        ctx.metrics.set_backlog(deferred, plan.backlog_ticks);
        if let (Some((requests, bytes)), Ok(mut seen)) = (
            ctx.history.prometheus_traffic(),
            self.prometheus_seen.lock(),
        ) {
            report.prometheus_requests = requests.saturating_sub(seen.0);
            report.prometheus_bytes = bytes.saturating_sub(seen.1);
            *seen = (requests, bytes);
            ctx.metrics
                .prometheus_traffic(report.prometheus_requests, report.prometheus_bytes);
        }
        report.target_unreadable = unreadable;
        report.analyzed = analyzed_of.len();
        report.skipped = skipped.len();
        report.prometheus_no_data = waiting
            .iter()
            .filter(|(_, m)| m.as_ref().is_some_and(|m| m.no_data))
            .count();
        report.prometheus_error = waiting
            .iter()
            .filter(|(_, m)| m.as_ref().is_some_and(|m| !m.no_data))
            .count();
        report.waiting_for_history =
            waiting.len() - report.prometheus_no_data - report.prometheus_error;
        let waiting_names: Vec<String> = waiting
            .iter()
            .map(|(i, _)| autoscalers[*i].display_name())
            .collect();
        if leader {
            for (i, miss) in &waiting {
                let note = match miss {
                    None => NOTE_WAITING_FOR_HISTORY.to_string(),
                    Some(m) => format!(
                        "not analyzed: Prometheus gave no history: {}; and the operator has fewer than 2 HPA-status samples of it yet (one a tick)",
                        m.message
                    ),
                };
                ctx.notifier
                    .explain_autoscaler(&autoscalers[*i].object_ref(), reason::NOT_ANALYZED, &note)
                    .await;
            }
            for (i, why) in &skipped {
                let a = &autoscalers[*i];
                let note = format!(
                    "not analyzed: {why}. Fix the {} spec; it is analyzed again from the next tick.",
                    a.kind_name()
                );
                ctx.notifier
                    .warn_autoscaler(&a.object_ref(), reason::SKIPPED, &note)
                    .await;
            }
        }

        report.timings.analysis = analysis_seconds;
        report.timings.read = tick_started.elapsed().as_secs_f64() - analysis_seconds;
        if let Ok(mut s) = self.spreader.lock() {
            s.observe(
                report.timings.read + report.timings.analysis,
                read_count,
                READ_CONCURRENCY,
            );
        }
        ctx.metrics
            .rule_evaluation_seconds
            .observe(report.timings.analysis);
        report.actionable = recs.iter().filter(|r| r.is_actionable()).count();
        log_analysis(&report, &waiting_names);
        // In the order of metrics::AUTOSCALER_STATES.
        ctx.metrics.set_autoscalers([
            report.actionable,
            report.analyzed.saturating_sub(report.actionable),
            report.waiting_for_history,
            report.prometheus_no_data,
            report.prometheus_error,
            report.target_unreadable,
            report.skipped,
            report.deferred,
        ]);
        // A rule call the host could not run is our failure, not the rule's.
        for f in recs.iter().flat_map(|r| &r.rule_failures) {
            if f.is_host_error() {
                ctx.metrics.error("rule_host_error");
            }
        }

        if !leader {
            tracing::info!("{}", LOG_NOT_LEADER);
            ctx.ready.store(true, Ordering::Relaxed);
            report.timings.total = tick_started.elapsed().as_secs_f64();
            ctx.metrics
                .tick_duration_seconds
                .observe(report.timings.total);
            return Ok(report);
        }
        let review_started = Instant::now();
        if let Some(reviewer) = &ctx.reviewer {
            let r = reviewer
                .review_all(&mut recs, &crate::lifecycle::rfc3339(now))
                .await;
            tracing::info!(
                candidates = r.candidates,
                calls = r.calls,
                cache_hits = r.cache_hits,
                failures = r.failures,
                tokens_in = r.tokens_in,
                tokens_out = r.tokens_out,
                "{}",
                LOG_LLM_PASS
            );
        }
        report.timings.review = review_started.elapsed().as_secs_f64();
        let analyzed: Vec<Analyzed<'_>> = recs
            .into_iter()
            .zip(&analyzed_of)
            .map(|(recommendation, i)| Analyzed {
                recommendation,
                autoscaler: &autoscalers[*i],
            })
            .collect();
        let analysis = Analysis {
            autoscalers: &autoscalers,
            analyzed: &analyzed,
            unanalyzed: &unanalyzed,
            from_status: &from_status,
        };
        let writes_started = Instant::now();
        self.mutating_pass(&reader, Some(analysis), &mut report)
            .await?;
        report.timings.writes = writes_started.elapsed().as_secs_f64();
        report.timings.total = tick_started.elapsed().as_secs_f64();
        ctx.metrics
            .tick_duration_seconds
            .observe(report.timings.total);
        tracing::info!(
            read_s = report.timings.read,
            analysis_s = report.timings.analysis,
            review_s = report.timings.review,
            writes_s = report.timings.writes,
            total_s = report.timings.total,
            prometheus_requests = report.prometheus_requests,
            prometheus_bytes = report.prometheus_bytes,
            "{}",
            LOG_TICK_DONE
        );
        ctx.ready.store(true, Ordering::Relaxed);
        Ok(report)
    }

    /// The lifecycle part of a tick only (no analysis): what the loop runs
    /// when a recommendation changes between ticks. Leader only.
    ///
    /// # Errors
    /// As [`Operator::tick`].
    pub async fn reconcile_recommendations(&self) -> Result<TickReport, ControllerError> {
        let leader = self.lead().await;
        let mut report = TickReport {
            leader,
            ..TickReport::default()
        };
        if !leader {
            tracing::debug!("{}", LOG_NOT_LEADER);
            return Ok(report);
        }
        let reader =
            ClusterReader::discover(self.ctx.client.clone(), self.ctx.config.namespaces.clone())
                .await?;
        self.mutating_pass(&reader, None, &mut report).await?;
        Ok(report)
    }

    async fn mutating_pass(
        &self,
        reader: &ClusterReader,
        analysis: Option<Analysis<'_>>,
        report: &mut TickReport,
    ) -> Result<(), ControllerError> {
        let ctx = &self.ctx;
        // Fresh leadership check right before the pass; the pass ends before
        // the lease could pass to someone else.
        let mut budget = ctx.config.safety.mutating_pass_budget;
        if let Some(l) = &ctx.leader {
            if !self.lead().await {
                tracing::info!("{}", LOG_NOT_LEADER);
                report.leader = false;
                return Ok(());
            }
            budget = budget.min(l.remaining());
        }
        let gate = WriteGate::new(
            Instant::now() + budget,
            ctx.leader.clone().map(|l| l as Arc<dyn Leadership>),
        );
        let license = self.license();
        let lc = Lifecycle {
            reader,
            license: &license,
            health: ctx.health.as_ref(),
            safety: ctx.config.safety,
            notifier: &ctx.notifier,
            metrics: &ctx.metrics,
            gate: &gate,
            now: self.now(),
        };
        let from_status = analysis.as_ref().map(|a| a.from_status);
        let listed_autoscalers = analysis.as_ref().map(|a| a.autoscalers);
        let mut listed = None;
        if let Some(Analysis {
            analyzed,
            unanalyzed,
            ..
        }) = analysis
        {
            let (existing, malformed) = self.recommendations(reader, Some(&gate)).await?;
            report.malformed = malformed;
            let before = gate.writes();
            report.published = lc.publish(analyzed, &existing, unanalyzed).await;
            // Nothing written: the list just read is still the list (no
            // second read of every recommendation).
            if gate.writes() == before {
                listed = Some((existing, malformed));
            }
        }
        let (recs, malformed) = match listed.take() {
            Some(l) => l,
            None => self.recommendations(reader, Some(&gate)).await?,
        };
        report.malformed = report.malformed.max(malformed);
        let before = gate.writes();
        for rec in &recs {
            if let Err(e) = lc.reconcile(rec, &mut report.pass).await {
                report.pass.errors += 1;
                ctx.metrics.error(e.metric_label());
                tracing::warn!(
                    namespace = rec.metadata.namespace.as_deref().unwrap_or_default(),
                    recommendation = rec.metadata.name.as_deref().unwrap_or_default(),
                    phase = %rec.phase(),
                    "reconcile step stopped: {e}"
                );
            }
        }
        // Counts per phase as of the end of the pass (read again only if
        // the pass wrote).
        let (after, malformed_after) = if gate.writes() == before {
            (recs, malformed)
        } else {
            // Not two copies of every recommendation at once.
            drop(recs);
            self.recommendations(reader, Some(&gate)).await?
        };
        // Only when every recommendation could be read: a malformed one
        // may own the triggers.
        if report.malformed == 0 && malformed_after == 0 {
            if let Err(e) = crate::lifecycle::schedule::orphaned_schedule_cleanup(
                &lc,
                &after,
                listed_autoscalers,
                &mut report.pass,
            )
            .await
            {
                report.pass.errors += 1;
                ctx.metrics.error(e.metric_label());
                tracing::warn!("undoing orphaned schedules stopped: {e}");
            }
        }
        if let Some(keys) = from_status.filter(|k| !k.is_empty()) {
            report.checkpoints = lc
                .checkpoint_histories(&after, ctx.history.as_ref(), keys)
                .await;
        }
        let mut counts: Vec<(crate::crd::phase::Phase, i64)> = Vec::new();
        for r in &after {
            counts.push((r.phase(), 1));
        }
        ctx.metrics.set_phase_counts(&counts);
        report.writes += gate.writes();
        // The next pass's reads wait for these too.
        self.cache.expect(gate.take_written());
        Ok(())
    }

    /// The recommendations in the watched namespaces, parsed one by one so
    /// a malformed object is skipped (and counted) instead of failing all:
    /// from the watch when it is current and has delivered this instance's
    /// writes, those made through the pass's `gate` so far included (see
    /// [`RecommendationCache`]), else listed.
    async fn recommendations(
        &self,
        reader: &ClusterReader,
        gate: Option<&WriteGate>,
    ) -> Result<(Vec<Arc<ScalingRecommendation>>, usize), ControllerError> {
        if let Some(gate) = gate {
            self.cache.expect(gate.take_written());
        }
        if let Some(watched) = self.cache.read(WATCH_DELIVERY_WAIT).await {
            return Ok(watched);
        }
        let resource = ApiResource::erase::<ScalingRecommendation>(&());
        let mut malformed = 0;
        let mut recs = Vec::new();
        // Parsed page by page: a recommendation as a JSON tree is several
        // times its typed size.
        reader
            .list_paged(&resource, |o| {
                let name = format!(
                    "{}/{}",
                    o.metadata.namespace.as_deref().unwrap_or_default(),
                    o.metadata.name.as_deref().unwrap_or_default()
                );
                match o.try_parse::<ScalingRecommendation>() {
                    Ok(r) => recs.push(Arc::new(r)),
                    Err(e) => {
                        malformed += 1;
                        tracing::warn!(recommendation = %name, "skipping a malformed ScalingRecommendation: {e}");
                    }
                }
            })
            .await
            .map_err(|e| match e {
                ClusterError::Read { source, .. } => ControllerError::ListRecommendations(source),
                other => ControllerError::Cluster(other),
            })?;
        self.cache.listed();
        Ok((recs, malformed))
    }

    /// One snapshot per autoscaler with enough history, with what was left
    /// out and why ([`Gathered`]).
    async fn snapshots(
        &self,
        reader: &ClusterReader,
        listed: &ListedTargets,
        autoscalers: &[Autoscaler],
        range: std::ops::Range<usize>,
        selected: Option<&HashSet<(String, String)>>,
        now: i64,
    ) -> Gathered {
        let ctx = &self.ctx;
        let mut skipped = Vec::new();
        let mut waiting = Vec::new();
        let mut unreadable = 0;
        let mut workloads = Vec::new();
        let mut index = Vec::new();
        let mut unanalyzed = HashSet::new();
        let mut deferred = 0;
        let mut from_prometheus = 0;
        let mut status_keys = HashSet::new();
        // First the checks that need no IO, in order; then the reads (the
        // target's /scale and pod template, the history) several
        // autoscalers at a time; then the results, in the autoscalers'
        // order, so the analysis sees the same list as a sequential read.
        let mut reads = Vec::new();
        for (i, a) in autoscalers
            .iter()
            .enumerate()
            .skip(range.start)
            .take(range.len())
        {
            // KEDA's own HPA (owned by a ScaledObject) is analyzed as the
            // ScaledObject; its status still feeds the ScaledObject's history.
            let keda_owner = keda_owner(a);
            let target = match scale_target(a.kind, &a.spec) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(autoscaler = %a.display_name(), kind = a.kind_name(), "skipping: {e}");
                    unanalyzed.insert(name_of(a));
                    skipped.push((i, e.to_string()));
                    continue;
                }
            };
            if a.kind == AutoscalerKind::HorizontalPodAutoscaler {
                if let Some(sample) = status_sample(&a.status, now) {
                    let key = match &keda_owner {
                        Some(so) => HistoryKey {
                            autoscaler: so.clone(),
                            ..HistoryKey::of(a, &target)
                        },
                        None => HistoryKey::of(a, &target),
                    };
                    ctx.history.record(&key, sample);
                }
            }
            if keda_owner.is_some() {
                continue;
            }
            let config = match config_of(a.kind, &a.spec) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(autoscaler = %a.display_name(), kind = a.kind_name(), "skipping: {e}");
                    unanalyzed.insert(name_of(a));
                    skipped.push((i, e.to_string()));
                    continue;
                }
            };
            // Check the spec before any further work on it (reading the
            // target, history): an out-of-limit autoscaler costs nothing.
            if let Err(e) = config.validate("spec", a.kind) {
                tracing::warn!(autoscaler = %a.display_name(), kind = a.kind_name(), "skipping: {e}");
                unanalyzed.insert(name_of(a));
                skipped.push((i, e.to_string()));
                continue;
            }
            if let Some(s) = selected {
                let name = name_of(a);
                if !s.contains(&name) {
                    unanalyzed.insert(name);
                    deferred += 1;
                    continue;
                }
            }
            reads.push((i, target, config));
        }
        let read_count = reads.len();
        let keys: Vec<HistoryKey> = reads
            .iter()
            .map(|(i, target, _)| HistoryKey::of(&autoscalers[*i], target))
            .collect();
        // The tails of the chunk's histories, a namespace's in one request
        // a series (the targets were listed for the whole tick before).
        ctx.history.prefetch(&keys, now).await;
        // The futures are made first (not by a stream's `map`), so the
        // tick's future stays `Send`.
        let reading: Vec<_> = reads
            .into_iter()
            .zip(keys.iter())
            .map(|((i, target, config), key)| async move {
                let a = &autoscalers[i];
                let got = match reader
                    .listed_target_state(listed, &a.namespace, &target)
                    .await
                {
                    Err(e) => Err(e),
                    Ok(t) => Ok((t.containers, ctx.history.history(key, now).await)),
                };
                (i, target, config, got)
            })
            .collect();
        let read: Vec<_> = futures::stream::iter(reading)
            .buffered(READ_CONCURRENCY)
            .collect()
            .await;
        for ((i, target, config, got), key) in read.into_iter().zip(&keys) {
            let a = &autoscalers[i];
            let (containers, sourced) = match got {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(autoscaler = %a.display_name(), target = %target.name, "skipping: target unreadable: {e}");
                    unanalyzed.insert(name_of(a));
                    unreadable += 1;
                    continue;
                }
            };
            let Some(sourced) = sourced else {
                tracing::debug!(autoscaler = %a.display_name(), "not enough metric history yet; skipping analysis");
                unanalyzed.insert(name_of(a));
                waiting.push((i, ctx.history.prometheus_miss(key)));
                continue;
            };
            match sourced.source {
                MetricsSource::Prometheus => from_prometheus += 1,
                MetricsSource::HpaStatus => {
                    status_keys.insert(key.clone());
                }
            }
            let mut history = sourced.history;
            let (zone, warning) = ctx.config.timezones.zone_for(&a.namespace, &a.annotations);
            if let Some(w) = warning {
                tracing::warn!(autoscaler = %a.display_name(), "{w}");
            }
            history.set_timezone(zone);
            let w = WorkloadSnapshot {
                autoscaler: AutoscalerRef {
                    kind: a.kind,
                    namespace: a.namespace.clone(),
                    name: a.name.clone(),
                },
                target,
                config,
                containers,
                history,
                source: Some(match sourced.source {
                    MetricsSource::Prometheus => "Prometheus history backfill".to_string(),
                    MetricsSource::HpaStatus => {
                        "HPA status samples accumulated by the operator".to_string()
                    }
                }),
            };
            if let Err(e) = w.validate(&format!("{} {}", kind_name(a.kind), a.display_name())) {
                tracing::warn!(autoscaler = %a.display_name(), "skipping: {e}");
                unanalyzed.insert(name_of(a));
                skipped.push((i, e.to_string()));
                continue;
            }
            workloads.push(Arc::new(w));
            index.push(i);
        }
        skipped.sort_by_key(|(i, _)| *i);
        Gathered {
            workloads,
            index,
            unanalyzed,
            skipped,
            waiting,
            unreadable,
            from_status: status_keys,
            read: read_count,
            deferred,
            from_prometheus,
            keys,
        }
    }

    /// Read the HPA-status histories checkpointed in the recommendations
    /// back into the history source, once per process (retried on the next
    /// tick if the recommendations cannot be listed).
    async fn restore_history(&self, reader: &ClusterReader) {
        if self.restored.load(Ordering::Relaxed) {
            return;
        }
        match self.recommendations(reader, None).await {
            Ok((recs, _)) => {
                let r = crate::lifecycle::checkpoint::restore(&recs, self.ctx.history.as_ref());
                if r.autoscalers > 0 || r.unreadable > 0 {
                    tracing::info!(
                        autoscalers = r.autoscalers,
                        samples = r.samples,
                        unreadable = r.unreadable,
                        "{}",
                        crate::lifecycle::checkpoint::LOG_RESTORED
                    );
                }
                self.restored.store(true, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!("cannot read the saved HPA-status histories yet: {e}"),
        }
    }

    /// Log the startup line (SPEC §5).
    pub fn log_starting(&self) {
        let c = &self.ctx.config;
        tracing::info!(
            provider = %c.llm_provider,
            llm_model = %c.llm.as_ref().map_or("-", |l| l.model.as_str()),
            llm_endpoint = %c.llm.as_ref().map_or("-".to_string(), crate::review::client::endpoint),
            namespaces = %if c.namespaces.is_empty() { "all".to_string() } else { c.namespaces.join(",") },
            prometheus = %c.prometheus.as_ref().map_or("off (HPA-status fallback)".to_string(), |p| p.url.clone()),
            forecasting = c.forecasting,
            licensed = %license_label(&self.license()),
            interval_seconds = c.interval.as_secs(),
            probation_seconds = c.safety.probation_window.as_secs(),
            identity = %c.identity,
            leader_election = c.leader_election.enabled,
            "{}", LOG_STARTING
        );
    }

    /// Check that the CRD is installed.
    ///
    /// # Errors
    /// [`ControllerError::CrdMissing`] with the install command.
    pub async fn check_crd(&self) -> Result<(), ControllerError> {
        // With watched namespaces the operator may only be allowed to list
        // there, so ask in the first one.
        let api: Api<ScalingRecommendation> = match self.ctx.config.namespaces.first() {
            Some(ns) => Api::namespaced(self.ctx.client.clone(), ns),
            None => Api::all(self.ctx.client.clone()),
        };
        match api.list(&ListParams::default().limit(1)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                Err(ControllerError::CrdMissing(kube::Error::Api(s)))
            }
            Err(e) => Err(ControllerError::ListRecommendations(e)),
        }
    }

    /// Run until `shutdown` resolves: a tick every interval, a
    /// recommendations-only pass when a recommendation changes, and a pass
    /// when a probation ends. Releases the lease on the way out.
    ///
    /// # Errors
    /// [`ControllerError::CrdMissing`] at startup; tick errors are logged
    /// and retried at the next tick.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ControllerError> {
        self.log_starting();
        self.check_crd().await?;
        let changed = Arc::new(tokio::sync::Notify::new());
        let watches = self.watch_recommendations(changed.clone());
        // Rule ConfigMaps: a change brings the next tick forward, so a new
        // rule is admitted (or rejected, with its Event) and used at once.
        let rules_changed = Arc::new(tokio::sync::Notify::new());
        let params = watcher::Config::default().labels(&self.ctx.config.rules.selector);
        let rule_watches: Vec<_> = self
            .ctx
            .config
            .rules
            .namespaces
            .iter()
            .map(|ns| {
                let api: Api<PartialObjectMeta<ConfigMap>> =
                    Api::namespaced(self.ctx.client.clone(), ns);
                let changed = rules_changed.clone();
                let params = params.clone();
                let what = format!("rule ConfigMaps in namespace {ns}");
                tokio::spawn(follow(what, watcher::watcher(api, params), move |e| {
                    if matches!(e, Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_))) {
                        changed.notify_one();
                    }
                }))
            })
            .collect();
        // The lease is kept on its own task, so a long tick never lets it
        // lapse and a follower takes over as soon as it may. The task ends
        // with this loop, however the loop ends (dropped with it).
        let became_leader = Arc::new(tokio::sync::Notify::new());
        let lease_keeper = self.ctx.leader.clone().map(|l| {
            tokio_util::task::AbortOnDropHandle::new(tokio::spawn(l.keep(became_leader.clone())))
        });
        tokio::pin!(shutdown);
        let interval = self.ctx.config.interval;
        let mut next_tick = Instant::now();
        loop {
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + interval;
                if let Err(e) = self.tick().await {
                    self.ctx.metrics.error(e.metric_label());
                    tracing::warn!("reconcile tick failed: {e}");
                }
            }
            let wake = next_tick.min(Instant::now() + self.next_probation_end().await);
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep_until(wake.into()) => {
                    if Instant::now() < next_tick {
                        let _ = self.reconcile_recommendations().await;
                    }
                }
                _ = became_leader.notified() => {
                    // Lead now: the mutating pass runs at once, not at the
                    // next analysis tick.
                    if let Err(e) = self.reconcile_recommendations().await {
                        tracing::debug!("recommendation pass failed: {e}");
                    }
                }
                _ = rules_changed.notified() => {
                    // Debounce: an apply often updates a ConfigMap twice.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    next_tick = Instant::now();
                }
                _ = changed.notified() => {
                    // Debounce bursts of watch events (including our own writes).
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    if let Err(e) = self.reconcile_recommendations().await {
                        tracing::debug!("recommendation pass failed: {e}");
                    }
                }
            }
        }
        drop(lease_keeper);
        drop(watches);
        for watch in rule_watches {
            watch.abort();
        }
        if let Some(l) = &self.ctx.leader {
            l.release().await;
        }
        tracing::info!("operator stopped");
        Ok(())
    }

    /// Start watching the recommendations: one watch per watched namespace
    /// (or one cluster-wide; with `namespaces` set the operator's RBAC only
    /// covers those namespaces), kept in memory for the passes to read
    /// ([`RecommendationCache`]). `changed` is notified on each event. The
    /// watches run until the returned handles are dropped (the passes list
    /// again then); a second call replaces the first's.
    pub fn watch_recommendations(
        &self,
        changed: Arc<tokio::sync::Notify>,
    ) -> Vec<tokio_util::task::AbortOnDropHandle<()>> {
        self.cache.clear();
        self.recommendation_apis::<Watched>()
            .into_iter()
            .zip(self.recommendation_scopes())
            .map(|(api, scope)| {
                let changed = changed.clone();
                let mut keep = self.cache.add_scope();
                let what = format!("ScalingRecommendations in {scope}");
                tokio_util::task::AbortOnDropHandle::new(tokio::spawn(follow(
                    what,
                    watcher::watcher(
                        api,
                        watcher::Config::default().page_size(crate::cluster::LIST_PAGE),
                    ),
                    move |e| {
                        keep(e);
                        if e.is_ok() {
                            changed.notify_one();
                        }
                    },
                )))
            })
            .collect()
    }

    /// True while the passes read the recommendations from the watch:
    /// [`Operator::watch_recommendations`] runs, every watch has listed
    /// once, and none is failing.
    pub fn recommendations_watched(&self) -> bool {
        self.cache.is_current()
    }

    /// What each of [`Self::recommendation_apis`] covers, for log lines.
    fn recommendation_scopes(&self) -> Vec<String> {
        let namespaces = &self.ctx.config.namespaces;
        if namespaces.is_empty() {
            vec!["all namespaces".to_string()]
        } else {
            namespaces
                .iter()
                .map(|ns| format!("namespace {ns}"))
                .collect()
        }
    }

    /// One API per watched namespace, or one for all namespaces when none
    /// are configured.
    fn recommendation_apis<K>(&self) -> Vec<Api<K>>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        let namespaces = &self.ctx.config.namespaces;
        if namespaces.is_empty() {
            vec![Api::all(self.ctx.client.clone())]
        } else {
            namespaces
                .iter()
                .map(|ns| Api::namespaced(self.ctx.client.clone(), ns))
                .collect()
        }
    }

    /// Time until the earliest probation end or schedule transition among
    /// applied recommendations (capped at the interval).
    async fn next_probation_end(&self) -> Duration {
        let interval = self.ctx.config.interval;
        let items = match self.cache.read(WATCH_DELIVERY_WAIT).await {
            Some((watched, _)) => watched,
            None => {
                let mut items = Vec::new();
                for api in self.recommendation_apis::<ScalingRecommendation>() {
                    match api.list(&ListParams::default()).await {
                        Ok(list) => items.extend(list.items.into_iter().map(Arc::new)),
                        Err(_) => return interval,
                    }
                }
                self.cache.listed();
                items
            }
        };
        let now = self.now();
        items
            .iter()
            .filter(|r| r.phase().is_active())
            .filter_map(|r| r.status.as_ref())
            .flat_map(|s| {
                [
                    s.probation_until.as_deref(),
                    s.schedule
                        .as_ref()
                        .and_then(|sc| sc.next_transition.as_deref()),
                ]
            })
            .flatten()
            .filter_map(unix_seconds)
            .map(|t| Duration::from_secs(u64::try_from(t - now).unwrap_or(0) + 1))
            .min()
            .unwrap_or(interval)
            .min(interval)
    }
}

/// The analysis results a tick hands to its mutating pass.
struct Analysis<'a> {
    /// Every autoscaler the tick listed.
    autoscalers: &'a [Autoscaler],
    /// One entry per analyzed autoscaler.
    analyzed: &'a [Analyzed<'a>],
    /// Recommendation names of autoscalers that exist but were not analyzed.
    unanalyzed: &'a HashSet<(String, String)>,
    /// History keys of the workloads analyzed from HPA-status samples
    /// (their recommendations carry the samples as a checkpoint).
    from_status: &'a HashSet<HistoryKey>,
}

/// The ScaledObject that owns this HPA (KEDA creates one per
/// ScaledObject), if any.
fn keda_owner(a: &Autoscaler) -> Option<String> {
    if a.kind != AutoscalerKind::HorizontalPodAutoscaler {
        return None;
    }
    a.owners
        .iter()
        .find(|(kind, _)| kind == "ScaledObject")
        .map(|(_, name)| name.clone())
}

/// The warning logged when a watch fails (e.g. RBAC refuses `watch`: 403).
pub const LOG_WATCH_FAILED: &str =
    "watch failed; retrying with backoff (the interval's ticks go on meanwhile)";

/// Follow a watch with kube's default backoff, calling `on_event` for each
/// event. The first error after a working stretch is logged as a warning
/// naming `what` (so a refused `watch` is visible), later ones at debug.
async fn follow<K: Send + 'static>(
    what: String,
    stream: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    mut on_event: impl FnMut(Result<&watcher::Event<K>, &watcher::Error>) + Send,
) {
    use kube::runtime::WatchStreamExt;
    let stream = stream.default_backoff();
    futures::pin_mut!(stream);
    let mut failing = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(e) => {
                failing = false;
                on_event(Ok(&e));
            }
            Err(e) => {
                on_event(Err(&e));
                if failing {
                    tracing::debug!(watch = %what, "watch still failing: {e}");
                } else {
                    failing = true;
                    tracing::warn!(watch = %what, "{LOG_WATCH_FAILED}: {e}");
                }
            }
        }
    }
}
