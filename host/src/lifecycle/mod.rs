//! The lifecycle of approved recommendations: decide ([`phase`]), apply
//! ([`apply`]), verify on probation ([`verify`]), roll back ([`rollback`]),
//! and keep the recommendations in step with the analysis ([`publish`]).
//!
//! [`Lifecycle::reconcile`] is the one entry point per recommendation: it
//! gathers the observation (drift, time, license), asks
//! [`Phase::next_action`] what to do, and carries it out. Every write
//! goes through a [`WriteGate`] first, which re-checks leadership and the
//! pass's time budget, and every write to a recommendation or autoscaler
//! carries the `resourceVersion` it was computed from, so a stale writer
//! gets a conflict instead of overwriting.

pub mod apply;
pub mod checkpoint;
pub mod events;
pub mod patch;
pub mod publish;
pub mod rollback;
pub mod schedule;
pub mod verify;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};
use stepscale_engine::snapshot::AutoscalerKind;

use crate::cluster::{kind_from_name, kind_name, ClusterError, ClusterReader};
use crate::crd::cache::Written;
use crate::crd::phase::{self, Action, Observation, Phase};
use crate::crd::{Condition, ScalingRecommendation, ScalingRecommendationStatus, RETRY_ANNOTATION};
use crate::license::LicenseState;
use crate::telemetry::metrics::Metrics;
use events::{reason, Notifier};
use verify::{HealthRule, HealthSource};

pub use apply::FIELD_MANAGER;

/// Logged when a degraded change was reverted (SPEC §5).
pub const LOG_AUTO_REVERTED: &str = "auto-reverted degraded recommendation";
/// Logged when a change was applied (SPEC §5).
pub const LOG_APPLIED: &str = "applied recommendation";

/// Why a lifecycle step stopped. The recommendation is left as it was and
/// retried on the next pass.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Leadership was lost (or could not be confirmed) before a write.
    #[error("not leader any more; write skipped")]
    NotLeader,
    /// The pass's time budget ran out before a write.
    #[error("the mutating pass ran out of its time budget; write skipped")]
    OutOfTime,
    /// Someone else changed the object since it was read.
    #[error("{what} changed since it was read; retrying on the next pass")]
    Conflict {
        /// The object.
        what: String,
    },
    /// A read failed.
    #[error(transparent)]
    Read(#[from] ClusterError),
    /// A write failed for a reason that may pass (server error, network).
    #[error("writing {what} failed: {}", crate::cluster::api_message(.source))]
    Write {
        /// The object.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

impl LifecycleError {
    /// Low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            LifecycleError::NotLeader => "not_leader",
            LifecycleError::OutOfTime => "out_of_time",
            LifecycleError::Conflict { .. } => "conflict",
            LifecycleError::Read(e) => e.metric_label(),
            LifecycleError::Write { .. } => "write",
        }
    }
}

/// Safety settings of apply and verify.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SafetyConfig {
    /// How long a change stays on probation before health is judged.
    pub probation_window: Duration,
    /// Percentage points above the CPU target that still count as healthy.
    pub health_cpu_margin: f64,
    /// Time budget of one mutating pass.
    pub mutating_pass_budget: Duration,
}

/// Whether this instance still holds the leader's lease: asked before
/// every write.
pub trait Leadership: Send + Sync {
    /// True while no other instance can hold the lease.
    fn holds_lease(&self) -> bool;
}

/// Checks before every write: still leader, still within the time budget.
/// Also counts the writes made through it.
pub struct WriteGate {
    deadline: Instant,
    leader: Option<Arc<dyn Leadership>>,
    writes: AtomicUsize,
    /// The recommendations written through this gate, with the
    /// resourceVersion each write left (`None`: deleted).
    written: std::sync::Mutex<Vec<Written>>,
}

impl WriteGate {
    /// A gate open until `deadline`, and only while `leader` (if any) holds
    /// its lease.
    pub fn new(deadline: Instant, leader: Option<Arc<dyn Leadership>>) -> Self {
        WriteGate {
            deadline,
            leader,
            writes: AtomicUsize::new(0),
            written: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Allow one write, or say why not.
    ///
    /// # Errors
    /// [`LifecycleError::NotLeader`] or [`LifecycleError::OutOfTime`].
    pub fn check(&self) -> Result<(), LifecycleError> {
        if self.leader.as_ref().is_some_and(|l| !l.holds_lease()) {
            return Err(LifecycleError::NotLeader);
        }
        if Instant::now() >= self.deadline {
            return Err(LifecycleError::OutOfTime);
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes allowed so far.
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::Relaxed)
    }

    /// Note a recommendation as a write left it (the object the API
    /// returned).
    pub fn wrote(&self, rec: &ScalingRecommendation) {
        self.note(rec, rec.metadata.resource_version.clone());
    }

    /// Note a recommendation this pass deleted.
    pub fn deleted(&self, rec: &ScalingRecommendation) {
        self.note(rec, None);
    }

    fn note(&self, rec: &ScalingRecommendation, resource_version: Option<String>) {
        let key = (
            rec.metadata.namespace.clone().unwrap_or_default(),
            rec.metadata.name.clone().unwrap_or_default(),
        );
        if let Ok(mut w) = self.written.lock() {
            w.push((key, resource_version));
        }
    }

    /// The recommendation writes noted since the last call, oldest first.
    pub fn take_written(&self) -> Vec<Written> {
        self.written
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }
}

/// What one mutating pass did (for logs, metrics and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Changes applied to autoscalers.
    pub applied: usize,
    /// Recommendations verified.
    pub verified: usize,
    /// Changes rolled back.
    pub rolled_back: usize,
    /// Recommendations marked failed.
    pub failed: usize,
    /// Recommendations marked blocked.
    pub blocked: usize,
    /// Recommendations marked degraded (drift).
    pub drifted: usize,
    /// Retries started.
    pub retried: usize,
    /// Steps stopped by an error (retried next pass).
    pub errors: usize,
    /// Patches sent to autoscalers (apply and rollback).
    pub workload_writes: usize,
}

/// Everything a lifecycle step needs.
pub struct Lifecycle<'a> {
    /// Cluster reads.
    pub reader: &'a ClusterReader,
    /// License state.
    pub license: &'a LicenseState,
    /// Probation health.
    pub health: &'a dyn HealthSource,
    /// Safety settings.
    pub safety: SafetyConfig,
    /// Events.
    pub notifier: &'a Notifier,
    /// Metrics.
    pub metrics: &'a Metrics,
    /// Leadership and time budget.
    pub gate: &'a WriteGate,
    /// Now, Unix seconds.
    pub now: i64,
}

/// Unix seconds as RFC 3339.
pub fn rfc3339(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// RFC 3339 as Unix seconds; `None` when unparseable.
pub fn unix_seconds(rfc3339: &str) -> Option<i64> {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

/// Set condition `type_` (keeping its transition time when the status does
/// not change).
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: i64,
) {
    let status = if status { "True" } else { "False" };
    let time = match conditions.iter().find(|c| c.type_ == type_) {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => rfc3339(now),
    };
    conditions.retain(|c| c.type_ != type_);
    conditions.push(Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        last_transition_time: time,
    });
}

impl Lifecycle<'_> {
    fn recs_api(&self, namespace: &str) -> Api<ScalingRecommendation> {
        Api::namespaced(self.reader.client().clone(), namespace)
    }

    /// The autoscaler of a recommendation, as a reference for Events.
    pub fn autoscaler_ref(&self, rec: &ScalingRecommendation) -> Option<ObjectReference> {
        let t = &rec.spec.recommendation.target;
        let kind = kind_from_name(&t.autoscaler_kind)?;
        let resource = self.reader.resource_of(kind)?;
        Some(ObjectReference {
            api_version: Some(resource.api_version.clone()),
            kind: Some(resource.kind.clone()),
            name: Some(t.autoscaler_name.clone()),
            namespace: Some(t.namespace.clone()),
            ..ObjectReference::default()
        })
    }

    /// Replace the status with `status` (as a merge patch of the
    /// difference, guarded by the resourceVersion) and return the updated
    /// recommendation.
    ///
    /// # Errors
    /// Gate refusals, [`LifecycleError::Conflict`], [`LifecycleError::Write`].
    pub async fn write_status(
        &self,
        rec: &ScalingRecommendation,
        mut status: ScalingRecommendationStatus,
    ) -> Result<ScalingRecommendation, LifecycleError> {
        status.observed_generation = rec.metadata.generation;
        let old =
            serde_json::to_value(rec.status.clone().unwrap_or_default()).unwrap_or(Value::Null);
        let new = serde_json::to_value(&status).unwrap_or(Value::Null);
        let Some(diff) = patch::merge_patch(&old, &new) else {
            return Ok(rec.clone());
        };
        let name = rec.metadata.name.clone().unwrap_or_default();
        let ns = rec.metadata.namespace.clone().unwrap_or_default();
        self.gate.check()?;
        let body = json!({
            "metadata": {"resourceVersion": rec.metadata.resource_version},
            "status": diff,
        });
        let written = self
            .recs_api(&ns)
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .map_err(|e| write_error(format!("ScalingRecommendation {ns}/{name} status"), e))?;
        self.gate.wrote(&written);
        Ok(written)
    }

    /// Decide and act on one recommendation.
    ///
    /// # Errors
    /// A [`LifecycleError`]; the recommendation is left as it was.
    pub async fn reconcile(
        &self,
        rec: &ScalingRecommendation,
        report: &mut PassReport,
    ) -> Result<(), LifecycleError> {
        let phase = rec.phase();
        let status = rec.status.clone().unwrap_or_default();
        let drifted_field = if phase.is_active() {
            self.drift(rec, &status).await?
        } else {
            None
        };
        // A schedule in force moves its floor before anything else happens.
        let stepped;
        let rec = if drifted_field.is_none()
            && matches!(phase, Phase::Applied | Phase::Verified)
            && rec.spec.recommendation.predictive_schedule.is_some()
        {
            stepped = crate::lifecycle::schedule::step(self, rec, report).await?;
            &stepped
        } else {
            rec
        };
        let status = rec.status.clone().unwrap_or_default();
        let observation = Observation {
            approved: rec.spec.approved,
            retry_requested: rec.retry_requested(),
            proposal_is_empty: rec.spec.recommendation.proposed.is_empty()
                && rec.spec.recommendation.predictive_schedule.is_none(),
            license: self.license,
            now: self.now,
            probation_until: status.probation_until.as_deref().and_then(unix_seconds),
            drifted_field,
        };
        match phase.next_action(&observation) {
            Action::Wait => Ok(()),
            Action::Retry => self.retry(rec, report).await,
            Action::Block { detail } => self.block(rec, detail, report).await,
            Action::Apply => apply::apply(self, rec, report).await,
            Action::ReportDrift { field } => self.report_drift(rec, &field, report).await,
            Action::Verify => self.verify(rec, report).await,
            // Only returned by after_probation.
            Action::MarkVerified { .. } | Action::Rollback { .. } => Ok(()),
        }
    }

    /// The first field of the live autoscaler that differs from what we
    /// applied; `None` when it is as we left it.
    async fn drift(
        &self,
        rec: &ScalingRecommendation,
        status: &ScalingRecommendationStatus,
    ) -> Result<Option<String>, LifecycleError> {
        if status.applied_config.is_none() {
            return Ok(None);
        }
        let t = &rec.spec.recommendation.target;
        let Some(kind) = kind_from_name(&t.autoscaler_kind) else {
            return Ok(None);
        };
        let live = self
            .reader
            .autoscaler(kind, &t.namespace, &t.autoscaler_name)
            .await?;
        Ok(match live {
            None => Some(format!("the {} itself (it was deleted)", kind_name(kind))),
            Some(live) => self.drifted_field(rec, status, kind, &live.spec),
        })
    }

    /// The first touchable field of `live_spec` that differs from what the
    /// operator applied (a schedule's own floor transitions excepted).
    pub(crate) fn drifted_field(
        &self,
        rec: &ScalingRecommendation,
        status: &ScalingRecommendationStatus,
        kind: AutoscalerKind,
        live_spec: &Value,
    ) -> Option<String> {
        let applied = status.applied_config.as_ref()?;
        let expected = crate::lifecycle::schedule::expected_fields(
            rec,
            status,
            &applied.fields,
            live_spec,
            self.now,
        );
        patch::first_difference(
            "spec",
            &Value::Object(expected),
            &Value::Object(patch::touched(kind, live_spec)),
        )
    }

    async fn retry(
        &self,
        rec: &ScalingRecommendation,
        report: &mut PassReport,
    ) -> Result<(), LifecycleError> {
        let mut status = rec.status.clone().unwrap_or_default();
        status.phase = Phase::Pending;
        status.detail = Some(format!(
            "retry requested with annotation {RETRY_ANNOTATION}; starting over from pending"
        ));
        status.previous_config = None;
        status.applied_config = None;
        status.applied_at = None;
        status.probation_until = None;
        status.schedule = None;
        set_condition(
            &mut status.conditions,
            "Applied",
            false,
            "Retried",
            "retry requested",
            self.now,
        );
        let rec = self.write_status(rec, status).await?;
        let name = rec.metadata.name.clone().unwrap_or_default();
        let ns = rec.metadata.namespace.clone().unwrap_or_default();
        self.gate.check()?;
        let body = json!({"metadata": {"annotations": {RETRY_ANNOTATION: null}}});
        let written = self
            .recs_api(&ns)
            .patch(&name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .map_err(|e| write_error(format!("ScalingRecommendation {ns}/{name}"), e))?;
        self.gate.wrote(&written);
        tracing::info!(namespace = %ns, recommendation = %name, "retry requested; recommendation starts over");
        self.notifier
            .notify(
                &rec,
                None,
                false,
                reason::RETRIED,
                "retry requested; starting over from pending",
            )
            .await;
        report.retried += 1;
        Ok(())
    }

    async fn block(
        &self,
        rec: &ScalingRecommendation,
        detail: String,
        report: &mut PassReport,
    ) -> Result<(), LifecycleError> {
        let mut status = rec.status.clone().unwrap_or_default();
        if status.phase == Phase::Blocked && status.detail.as_deref() == Some(detail.as_str()) {
            return Ok(());
        }
        status.phase = Phase::Blocked;
        status.detail = Some(detail.clone());
        set_condition(
            &mut status.conditions,
            "Applied",
            false,
            "Unlicensed",
            &detail,
            self.now,
        );
        let rec = self.write_status(rec, status).await?;
        tracing::warn!(
            namespace = rec.metadata.namespace.as_deref().unwrap_or_default(),
            recommendation = rec.metadata.name.as_deref().unwrap_or_default(),
            "approved recommendation blocked: {detail}"
        );
        self.notifier
            .notify(
                &rec,
                self.autoscaler_ref(&rec),
                true,
                reason::BLOCKED,
                &detail,
            )
            .await;
        report.blocked += 1;
        Ok(())
    }

    pub(crate) async fn report_drift(
        &self,
        rec: &ScalingRecommendation,
        field: &str,
        report: &mut PassReport,
    ) -> Result<(), LifecycleError> {
        let t = &rec.spec.recommendation.target;
        let detail = format!(
            "{} {}/{}: {field} was changed by someone else after the apply; left their change in place and stopped verifying",
            t.autoscaler_kind, t.namespace, t.autoscaler_name
        );
        let mut status = rec.status.clone().unwrap_or_default();
        status.phase = Phase::Degraded;
        status.detail = Some(detail.clone());
        set_condition(
            &mut status.conditions,
            "Drifted",
            true,
            "ChangedByOthers",
            &detail,
            self.now,
        );
        let rec = self.write_status(rec, status).await?;
        tracing::warn!(namespace = %t.namespace, autoscaler = %t.autoscaler_name, field, "drift: {detail}");
        self.notifier
            .notify(
                &rec,
                self.autoscaler_ref(&rec),
                true,
                reason::DRIFTED,
                &detail,
            )
            .await;
        report.drifted += 1;
        Ok(())
    }

    async fn verify(
        &self,
        rec: &ScalingRecommendation,
        report: &mut PassReport,
    ) -> Result<(), LifecycleError> {
        let status = rec.status.clone().unwrap_or_default();
        let r = &rec.spec.recommendation;
        let t = &r.target;
        let until = status
            .probation_until
            .as_deref()
            .and_then(unix_seconds)
            .unwrap_or(self.now);
        let window = i64::try_from(self.safety.probation_window.as_secs()).unwrap_or(i64::MAX);
        let from = status
            .applied_at
            .as_deref()
            .and_then(unix_seconds)
            .unwrap_or(until.saturating_sub(window));
        let key = rec.history_key();
        let cpu_target = r
            .proposed
            .cpu_target_percent
            .or(r.current.cpu_target_percent);
        let max_replicas = r.proposed.max_replicas.unwrap_or(r.current.max_replicas);
        let rule = HealthRule::default().with_cpu_margin(self.safety.health_cpu_margin);
        let verdict = match self.health.probation_health(&key, from, self.now).await {
            Some(h) => {
                let v = verify::judge(&h, cpu_target, max_replicas, &rule);
                match (&r.predictive_schedule, v) {
                    (Some(s), phase::Verdict::Healthy { summary }) => {
                        schedule_verdict(s, &h, cpu_target, summary)
                    }
                    (_, v) => v,
                }
            }
            None => phase::Verdict::Inconclusive {
                reason: "no health samples during probation".into(),
            },
        };
        match rec
            .phase()
            .after_probation(verdict, self.now, until, window)
        {
            Action::MarkVerified { detail } => {
                let mut status = status;
                status.phase = Phase::Verified;
                status.detail = Some(detail.clone());
                set_condition(
                    &mut status.conditions,
                    "Verified",
                    true,
                    "Healthy",
                    &detail,
                    self.now,
                );
                let rec = self.write_status(rec, status).await?;
                tracing::info!(namespace = %t.namespace, autoscaler = %t.autoscaler_name, "verified recommendation: {detail}");
                self.metrics.verifications.inc();
                self.notifier
                    .notify(
                        &rec,
                        self.autoscaler_ref(&rec),
                        false,
                        reason::VERIFIED,
                        &detail,
                    )
                    .await;
                report.verified += 1;
                Ok(())
            }
            Action::Rollback { reason } => rollback::rollback(self, rec, &reason, report).await,
            _ => {
                tracing::debug!(namespace = %t.namespace, autoscaler = %t.autoscaler_name, "probation over but health is inconclusive; waiting for samples");
                Ok(())
            }
        }
    }
}

/// A healthy probation of a recommendation with a schedule, judged again
/// at the schedule's peaks ([`crate::schedule::verify`]).
fn schedule_verdict(
    s: &crate::schedule::PredictiveSchedule,
    h: &stepscale_engine::snapshot::MetricHistory,
    cpu_target: Option<u32>,
    summary: String,
) -> phase::Verdict {
    use crate::schedule::verify;
    let target = cpu_target.map_or(100.0, f64::from);
    match (&s.history, verify::measured(s, h, target)) {
        (Some(history), Some((probation, true))) => match verify::judge(history, &probation) {
            Ok(said) => phase::Verdict::Healthy {
                summary: format!("{summary}; {said}"),
            },
            Err(reason) => phase::Verdict::Degraded { reason },
        },
        (Some(_), Some((_, false))) => phase::Verdict::Healthy {
            summary: format!(
                "{summary}; no probation sample fell inside a schedule window, so the health rule alone judged it"
            ),
        },
        _ => phase::Verdict::Healthy { summary },
    }
}

/// Map an API error of a write: conflicts are [`LifecycleError::Conflict`].
pub fn write_error(what: String, e: kube::Error) -> LifecycleError {
    match &e {
        kube::Error::Api(s) if s.is_conflict() => LifecycleError::Conflict { what },
        _ => LifecycleError::Write { what, source: e },
    }
}

/// The autoscaler kind of a recommendation's target, or a user-facing
/// message when the spec names an unknown kind.
pub fn target_kind(rec: &ScalingRecommendation) -> Result<AutoscalerKind, String> {
    let t = &rec.spec.recommendation.target;
    kind_from_name(&t.autoscaler_kind).ok_or_else(|| {
        format!(
            "spec.target.autoscalerKind is {:?}; it must be HorizontalPodAutoscaler or ScaledObject",
            t.autoscaler_kind
        )
    })
}
