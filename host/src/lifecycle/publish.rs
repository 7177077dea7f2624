//! Keep the ScalingRecommendations in step with the analysis: one per
//! autoscaler (named `<autoscaler>-hpa` or `<autoscaler>-so`, labelled with
//! the autoscaler and target, owned by the autoscaler so it is
//! garbage-collected with it), created or updated in place, never
//! duplicated.
//!
//! # Rules
//! - No recommendation yet and the analysis has something to say (a change
//!   or a finding) → create it, pending, `approved: false`; log
//!   `created ScalingRecommendation`.
//! - Pending or blocked and not approved → refresh the spec in place.
//!   Approved → leave the spec alone: the approval is for that exact
//!   content.
//! - Verified, rolled back or degraded, and the analysis now proposes a
//!   different non-empty change → reopen it: new spec, `approved: false`,
//!   status back to pending.
//! - Applied (on probation) or failed → leave it alone.
//! - **Stale**: when the engine no longer supports a recommendation (its
//!   autoscaler was analyzed and nothing is proposed or found any more, or
//!   the autoscaler is gone) and it is pending/blocked and not approved, it
//!   is **deleted** — nothing was acted on, so nothing is lost. A
//!   recommendation that was approved or acted on is kept as the record.
//!   Deletes carry the resourceVersion as a precondition, so a
//!   recommendation approved a moment earlier is never deleted.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::stream::FuturesUnordered;
use futures::StreamExt;

use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;

use super::events::reason;
use super::{patch, set_condition, write_error, Lifecycle, LifecycleError, FIELD_MANAGER};
use crate::cluster::{kind_name, Autoscaler};
use crate::crd::phase::Phase;
use crate::crd::{
    ScalingRecommendation, ScalingRecommendationSpec, LABEL_AUTOSCALER_KIND, LABEL_AUTOSCALER_NAME,
    LABEL_MANAGED_BY, LABEL_TARGET_KIND, LABEL_TARGET_NAME, MANAGED_BY,
};
use crate::recommendation::{render, Recommendation};
use stepscale_engine::snapshot::AutoscalerKind;

/// Logged when a recommendation is created (SPEC §5).
pub const LOG_CREATED: &str = "created ScalingRecommendation";

/// Writes of the publish step in flight at once: each recommendation is its
/// own object, and the API server serves them in parallel.
pub const WRITE_CONCURRENCY: usize = 8;

/// What a publish step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Recommendations created.
    pub created: usize,
    /// Specs refreshed in place.
    pub updated: usize,
    /// Terminal recommendations reopened with a new proposal.
    pub reopened: usize,
    /// Stale recommendations deleted.
    pub removed: usize,
    /// Steps that failed (retried next tick).
    pub errors: usize,
}

impl PublishReport {
    /// The sum of two reports.
    pub fn plus(&self, o: &PublishReport) -> PublishReport {
        PublishReport {
            created: self.created + o.created,
            updated: self.updated + o.updated,
            reopened: self.reopened + o.reopened,
            removed: self.removed + o.removed,
            errors: self.errors + o.errors,
        }
    }
}

/// The resource name of the recommendation for an autoscaler (as
/// [`render::resource_name`]).
pub fn recommendation_name(kind: AutoscalerKind, autoscaler: &str) -> String {
    match kind {
        AutoscalerKind::HorizontalPodAutoscaler => format!("{autoscaler}-hpa"),
        AutoscalerKind::ScaledObject => format!("{autoscaler}-so"),
    }
}

/// True for a valid label value (≤ 63 characters of `[A-Za-z0-9._-]`,
/// alphanumeric at both ends).
fn valid_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && v.chars().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && v.chars().last().is_none_or(|c| c.is_ascii_alphanumeric())
}

/// The labels linking a recommendation to its autoscaler and target.
pub fn labels(r: &Recommendation) -> BTreeMap<String, String> {
    let t = &r.target;
    [
        (LABEL_MANAGED_BY, MANAGED_BY),
        (LABEL_AUTOSCALER_KIND, t.autoscaler_kind.as_str()),
        (LABEL_AUTOSCALER_NAME, t.autoscaler_name.as_str()),
        (LABEL_TARGET_KIND, t.kind.as_str()),
        (LABEL_TARGET_NAME, t.name.as_str()),
    ]
    .into_iter()
    .filter(|(_, v)| valid_label_value(v))
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// True when the operator created (and so manages) this recommendation.
pub fn is_managed(rec: &ScalingRecommendation) -> bool {
    rec.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_MANAGED_BY))
        .is_some_and(|v| v == MANAGED_BY)
}

/// The recommendation with every number finite: the CRD schema has no
/// `null` numbers, so a NaN would make the API server reject the write.
pub fn sanitized(r: &Recommendation) -> Recommendation {
    let mut r = r.clone();
    for f in &mut r.findings {
        if !f.confidence.is_finite() {
            f.confidence = 0.0;
        }
        f.evidence.retain(|e| e.value.is_finite());
    }
    if r.projected_savings
        .as_ref()
        .is_some_and(|s| !s.replica_hours_per_week.is_finite() || !s.percent.is_finite())
    {
        r.projected_savings = None;
    }
    r
}

/// What publishing does with one analyzed autoscaler (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Create the recommendation.
    Create,
    /// Refresh the spec in place.
    Refresh,
    /// Replace the proposal, reset the approval, back to pending.
    Reopen,
    /// Delete it: stale and never acted on.
    Remove,
    /// Leave it alone.
    Leave,
}

/// The parts of an existing recommendation that [`decide`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct Existing<'a> {
    /// Its phase.
    pub phase: Phase,
    /// `spec.approved`.
    pub approved: bool,
    /// Its current proposal.
    pub proposed: &'a stepscale_engine::ConfigChange,
}

impl<'a> Existing<'a> {
    /// The decision inputs of `rec`.
    pub fn of(rec: &'a ScalingRecommendation) -> Self {
        Existing {
            phase: rec.phase(),
            approved: rec.spec.approved,
            proposed: &rec.spec.recommendation.proposed,
        }
    }
}

/// Decide what to do with the analysis `r` of an autoscaler whose
/// recommendation is `existing` (module docs). Pure.
pub fn decide(existing: Option<Existing<'_>>, r: &Recommendation) -> Decision {
    let Some(ex) = existing else {
        return if r.is_actionable() {
            Decision::Create
        } else {
            Decision::Leave
        };
    };
    let open_unapproved = ex.phase.is_open() && !ex.approved;
    if !r.is_actionable() {
        return if open_unapproved {
            Decision::Remove
        } else {
            Decision::Leave
        };
    }
    if ex.phase.is_open() {
        return if ex.approved {
            Decision::Leave
        } else {
            Decision::Refresh
        };
    }
    let new_change = !r.proposed.is_empty() && r.proposed != *ex.proposed;
    if ex.phase.accepts_new_proposal() && new_change {
        Decision::Reopen
    } else {
        Decision::Leave
    }
}

/// One analyzed autoscaler.
pub struct Analyzed<'a> {
    /// The engine's recommendation.
    pub recommendation: Recommendation,
    /// The live autoscaler it is about.
    pub autoscaler: &'a Autoscaler,
}

impl Lifecycle<'_> {
    fn api(&self, namespace: &str) -> Api<ScalingRecommendation> {
        Api::namespaced(self.reader.client().clone(), namespace)
    }

    /// Create, refresh, reopen or delete recommendations (module docs).
    /// `existing` are the recommendations in the watched namespaces;
    /// `unanalyzed` are `(namespace, name)` of recommendations whose
    /// autoscaler exists but was not analyzed this tick (too little history,
    /// unreadable): they are left alone.
    pub async fn publish(
        &self,
        analyzed: &[Analyzed<'_>],
        existing: &[std::sync::Arc<ScalingRecommendation>],
        unanalyzed: &HashSet<(String, String)>,
    ) -> PublishReport {
        let index: HashMap<(&str, &str), &ScalingRecommendation> = existing
            .iter()
            .filter_map(|e| {
                Some((
                    (
                        e.metadata.namespace.as_deref()?,
                        e.metadata.name.as_deref()?,
                    ),
                    &**e,
                ))
            })
            .collect();
        let mut seen = HashSet::new();
        // Each recommendation is its own object: write several at a time.
        // Each write's future is made when a slot frees: a fleet's worth
        // made up front would hold several kB per autoscaler at once. (A
        // loop rather than a stream's `map`, so the tick's future stays
        // `Send`.)
        let mut report = PublishReport::default();
        let mut next = analyzed.iter();
        let mut writing = FuturesUnordered::new();
        loop {
            while writing.len() < WRITE_CONCURRENCY {
                let Some(a) = next.next() else { break };
                let r = &a.recommendation;
                let name = render::resource_name(r);
                let found = index
                    .get(&(r.target.namespace.as_str(), name.as_str()))
                    .copied();
                seen.insert((r.target.namespace.clone(), name.clone()));
                writing.push(self.publish_one(a, name, found));
            }
            match writing.next().await {
                Some(one) => report = report.plus(&one),
                None => break,
            }
        }
        let stale: Vec<&ScalingRecommendation> = existing
            .iter()
            .filter(|e| is_managed(e))
            .filter(|ex| {
                let key = (
                    ex.metadata.namespace.clone().unwrap_or_default(),
                    ex.metadata.name.clone().unwrap_or_default(),
                );
                // The autoscaler is gone.
                !seen.contains(&key)
                    && !unanalyzed.contains(&key)
                    && ex.phase().is_open()
                    && !ex.spec.approved
            })
            .map(|ex| &**ex)
            .collect();
        let removals: Vec<_> = stale
            .into_iter()
            .map(|ex| async move {
                let mut one = PublishReport::default();
                if let Err(e) = self
                    .remove(ex, "its autoscaler no longer exists", &mut one)
                    .await
                {
                    one.errors += 1;
                    tracing::warn!(
                        namespace = %ex.metadata.namespace.as_deref().unwrap_or_default(),
                        recommendation = %ex.metadata.name.as_deref().unwrap_or_default(),
                        "removing a stale recommendation failed: {e}"
                    );
                }
                one
            })
            .collect();
        let removed: PublishReport = futures::stream::iter(removals)
            .buffer_unordered(WRITE_CONCURRENCY)
            .fold(
                PublishReport::default(),
                |acc, r| async move { acc.plus(&r) },
            )
            .await;
        report = report.plus(&removed);
        report
    }

    /// Publish one analyzed autoscaler's recommendation; `found` is the
    /// existing one of that name, if any.
    async fn publish_one(
        &self,
        a: &Analyzed<'_>,
        name: String,
        found: Option<&ScalingRecommendation>,
    ) -> PublishReport {
        let mut report = PublishReport::default();
        let r = &a.recommendation;
        let ns = &r.target.namespace;
        let result = match found {
            None if r.is_actionable() => self.create(r, a.autoscaler, &name, &mut report).await,
            None => {
                // No recommendation to show it: say why on the autoscaler.
                self.notifier
                    .explain_autoscaler(
                        &a.autoscaler.object_ref(),
                        reason::NOT_RECOMMENDED,
                        &format!("no recommendation: {}", r.summary),
                    )
                    .await;
                Ok(())
            }
            Some(ex) if !is_managed(ex) => {
                tracing::warn!(namespace = %ns, recommendation = %name, "a ScalingRecommendation with this name exists but is not managed by stepscale; leaving it alone");
                Ok(())
            }
            Some(ex) => self.refresh(ex, r, &mut report).await,
        };
        if let Err(e) = result {
            report.errors += 1;
            self.metrics.error(e.metric_label());
            tracing::warn!(namespace = %ns, recommendation = %name, "publishing the recommendation failed: {e}");
        }
        report
    }

    async fn create(
        &self,
        r: &Recommendation,
        autoscaler: &Autoscaler,
        name: &str,
        report: &mut PublishReport,
    ) -> Result<(), LifecycleError> {
        let ns = &r.target.namespace;
        let mut obj = ScalingRecommendation::new(
            name,
            ScalingRecommendationSpec {
                recommendation: sanitized(r),
                approved: false,
            },
        );
        obj.metadata.namespace = Some(ns.clone());
        obj.metadata.labels = Some(labels(r));
        obj.metadata.owner_references = autoscaler.owner_reference().map(|o| vec![o]);
        self.gate.check()?;
        let pp = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        let created = match self.api(ns).create(&pp, &obj).await {
            Ok(c) => {
                self.gate.wrote(&c);
                c
            }
            // Created meanwhile (e.g. by a previous leader): next tick updates it.
            Err(kube::Error::Api(s)) if s.is_already_exists() => return Ok(()),
            Err(e) => return Err(write_error(format!("ScalingRecommendation {ns}/{name}"), e)),
        };
        let mut status = created.status.clone().unwrap_or_default();
        status.phase = Phase::Pending;
        status.detail = Some(if r.proposed.is_empty() {
            "review the findings; there is no config change to approve".into()
        } else {
            "review the proposed change and set spec.approved to true to apply it".into()
        });
        let created = self.write_status(&created, status).await?;
        tracing::info!(
            namespace = %ns, recommendation = %name,
            autoscaler = %format!("{} {}", r.target.autoscaler_kind, r.target.autoscaler_name),
            risk = r.risk_level.as_str(), summary = %r.summary,
            "{LOG_CREATED}"
        );
        self.notifier
            .notify(
                &created,
                Some(autoscaler.object_ref()),
                false,
                reason::CREATED,
                &r.summary,
            )
            .await;
        report.created += 1;
        Ok(())
    }

    async fn refresh(
        &self,
        ex: &ScalingRecommendation,
        r: &Recommendation,
        report: &mut PublishReport,
    ) -> Result<(), LifecycleError> {
        let phase = ex.phase();
        match decide(Some(Existing::of(ex)), r) {
            Decision::Create | Decision::Leave => Ok(()),
            Decision::Remove => {
                self.remove(
                    ex,
                    "the analysis no longer proposes or finds anything",
                    report,
                )
                .await
            }
            Decision::Refresh => {
                if self.write_spec(ex, r, false).await?.is_some() {
                    report.updated += 1;
                }
                Ok(())
            }
            Decision::Reopen => {
                // The spec write's answer carries the new resourceVersion
                // (no re-read, so no `get` grant).
                let fresh = self.write_spec(ex, r, true).await?;
                let fresh = fresh.as_ref().unwrap_or(ex);
                let name = ex.metadata.name.clone().unwrap_or_default();
                let ns = ex.metadata.namespace.clone().unwrap_or_default();
                let mut status = fresh.status.clone().unwrap_or_default();
                let detail = format!(
                    "reopened after {phase}: the analysis proposes a new change; review it and set spec.approved to true to apply it"
                );
                status.phase = Phase::Pending;
                status.detail = Some(detail.clone());
                status.previous_config = None;
                status.applied_config = None;
                status.applied_at = None;
                status.probation_until = None;
                set_condition(
                    &mut status.conditions,
                    "Applied",
                    false,
                    "NewProposal",
                    &detail,
                    self.now,
                );
                self.write_status(fresh, status).await?;
                tracing::info!(namespace = %ns, recommendation = %name, previous_phase = %phase, "reopened ScalingRecommendation with a new proposal");
                report.reopened += 1;
                Ok(())
            }
        }
    }

    /// Write the spec (as a merge patch of the difference, guarded by the
    /// resourceVersion). `reset_approval` sets `approved: false`. Returns
    /// the written object, `None` when nothing changed.
    async fn write_spec(
        &self,
        ex: &ScalingRecommendation,
        r: &Recommendation,
        reset_approval: bool,
    ) -> Result<Option<ScalingRecommendation>, LifecycleError> {
        let new = ScalingRecommendationSpec {
            recommendation: sanitized(r),
            approved: ex.spec.approved && !reset_approval,
        };
        let old = serde_json::to_value(&ex.spec).unwrap_or_default();
        let new = serde_json::to_value(&new).unwrap_or_default();
        let Some(diff) = patch::merge_patch(&old, &new) else {
            return Ok(None);
        };
        let name = ex.metadata.name.clone().unwrap_or_default();
        let ns = ex.metadata.namespace.clone().unwrap_or_default();
        tracing::debug!(
            namespace = %ns, recommendation = %name,
            changed = %diff.to_string().chars().take(400).collect::<String>(),
            "refreshing the spec"
        );
        self.gate.check()?;
        let body =
            json!({"metadata": {"resourceVersion": ex.metadata.resource_version}, "spec": diff});
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        self.api(&ns)
            .patch(&name, &pp, &Patch::Merge(&body))
            .await
            .map(|written| {
                self.gate.wrote(&written);
                Some(written)
            })
            .map_err(|e| write_error(format!("ScalingRecommendation {ns}/{name}"), e))
    }

    async fn remove(
        &self,
        ex: &ScalingRecommendation,
        why: &str,
        report: &mut PublishReport,
    ) -> Result<(), LifecycleError> {
        let name = ex.metadata.name.clone().unwrap_or_default();
        let ns = ex.metadata.namespace.clone().unwrap_or_default();
        self.gate.check()?;
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: ex.metadata.resource_version.clone(),
                uid: ex.metadata.uid.clone(),
            }),
            ..DeleteParams::default()
        };
        match self.api(&ns).delete(&name, &dp).await {
            Ok(_) => self.gate.deleted(ex),
            Err(kube::Error::Api(s)) if s.is_not_found() => return Ok(()),
            Err(e) => return Err(write_error(format!("ScalingRecommendation {ns}/{name}"), e)),
        }
        tracing::info!(namespace = %ns, recommendation = %name, "removed stale ScalingRecommendation: {why}");
        report.removed += 1;
        Ok(())
    }
}

/// The recommendation name of an autoscaler, for bookkeeping.
pub fn name_of(autoscaler: &Autoscaler) -> (String, String) {
    (
        autoscaler.namespace.clone(),
        recommendation_name(autoscaler.kind, &autoscaler.name),
    )
}

/// `HorizontalPodAutoscaler shop/web`, for messages.
pub fn describe(autoscaler: &Autoscaler) -> String {
    format!(
        "{} {}",
        kind_name(autoscaler.kind),
        autoscaler.display_name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(proposed: stepscale_engine::ConfigChange, findings: bool) -> Recommendation {
        let mut r =
            crate::recommendation::recommend(&crate::fixtures::workload(), Default::default());
        r.proposed = proposed;
        if !findings {
            r.findings.clear();
        }
        r
    }

    fn change(min: u32) -> stepscale_engine::ConfigChange {
        stepscale_engine::ConfigChange {
            min_replicas: Some(min),
            ..Default::default()
        }
    }

    #[test]
    fn publish_decisions() {
        let none = stepscale_engine::ConfigChange::default();
        let a = change(3);
        let b = change(5);
        let ex = |phase, approved, proposed| {
            Some(Existing {
                phase,
                approved,
                proposed,
            })
        };
        // new autoscaler
        assert_eq!(decide(None, &analysis(a, true)), Decision::Create);
        assert_eq!(decide(None, &analysis(none, false)), Decision::Leave);
        // open: refresh unless approved (the approval is for that content)
        assert_eq!(
            decide(ex(Phase::Pending, false, &a), &analysis(b, true)),
            Decision::Refresh
        );
        assert_eq!(
            decide(ex(Phase::Pending, true, &a), &analysis(b, true)),
            Decision::Leave
        );
        assert_eq!(
            decide(ex(Phase::Blocked, true, &a), &analysis(b, true)),
            Decision::Leave
        );
        // stale: removed only when never acted on
        assert_eq!(
            decide(ex(Phase::Pending, false, &a), &analysis(none, false)),
            Decision::Remove
        );
        assert_eq!(
            decide(ex(Phase::Pending, true, &a), &analysis(none, false)),
            Decision::Leave
        );
        assert_eq!(
            decide(ex(Phase::Verified, false, &a), &analysis(none, false)),
            Decision::Leave
        );
        // terminal: reopened only for a different change
        assert_eq!(
            decide(ex(Phase::Verified, true, &a), &analysis(b, true)),
            Decision::Reopen
        );
        assert_eq!(
            decide(ex(Phase::RolledBack, true, &a), &analysis(a, true)),
            Decision::Leave
        );
        // active or failed: never touched
        assert_eq!(
            decide(ex(Phase::Applied, true, &a), &analysis(b, true)),
            Decision::Leave
        );
        assert_eq!(
            decide(ex(Phase::Failed, true, &a), &analysis(b, true)),
            Decision::Leave
        );
    }

    #[test]
    fn names_match_the_rendered_manifests() {
        let rec =
            crate::recommendation::recommend(&crate::fixtures::workload(), Default::default());
        assert_eq!(
            render::resource_name(&rec),
            recommendation_name(AutoscalerKind::HorizontalPodAutoscaler, "web")
        );
    }

    #[test]
    fn label_values_that_kubernetes_would_refuse_are_left_out() {
        assert!(valid_label_value("web-1.a_b"));
        assert!(!valid_label_value("-web"));
        assert!(!valid_label_value(&"x".repeat(64)));
        let rec =
            crate::recommendation::recommend(&crate::fixtures::workload(), Default::default());
        let l = labels(&rec);
        assert_eq!(
            l.get(LABEL_AUTOSCALER_NAME).map(String::as_str),
            Some("web")
        );
        assert_eq!(
            l.get(LABEL_MANAGED_BY).map(String::as_str),
            Some(MANAGED_BY)
        );
    }

    #[test]
    fn non_finite_numbers_are_removed_before_writing() {
        let mut rec =
            crate::recommendation::recommend(&crate::fixtures::workload(), Default::default());
        rec.findings.push(stepscale_engine::Finding {
            rule_id: "r".into(),
            rule_version: None,
            rule_source: None,
            kind: stepscale_engine::FindingKind::IdleWindow,
            confidence: f64::NAN,
            summary: "s".into(),
            proposal: Default::default(),
            evidence: vec![stepscale_engine::Evidence {
                label: "x".into(),
                value: f64::INFINITY,
                unit: "".into(),
            }],
        });
        let s = sanitized(&rec);
        let f = s.findings.last().expect("finding");
        assert_eq!(f.confidence, 0.0);
        assert!(f.evidence.is_empty());
    }
}
