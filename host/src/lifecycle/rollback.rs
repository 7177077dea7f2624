//! Roll back a degraded change: restore the config saved before the apply,
//! exactly (fields that were absent are removed again), unless someone else
//! changed the autoscaler since our apply — then their change is left alone
//! and the recommendation is marked degraded.

use super::apply::{fail, patch_autoscaler_with};
use super::events::reason;
use super::phase::Phase;
use super::{
    patch, set_condition, target_kind, Lifecycle, LifecycleError, PassReport, LOG_AUTO_REVERTED,
};
use crate::cluster::kind_name;
use crate::crd::ScalingRecommendation;

/// Restore the saved previous config because of `why` (the health verdict).
///
/// # Errors
/// A [`LifecycleError`] when the step must be retried on the next pass.
pub async fn rollback(
    lc: &Lifecycle<'_>,
    rec: &ScalingRecommendation,
    why: &str,
    report: &mut PassReport,
) -> Result<(), LifecycleError> {
    let t = &rec.spec.recommendation.target;
    let kind = match target_kind(rec) {
        Ok(k) => k,
        Err(message) => return fail(lc, rec, message, report).await,
    };
    let status = rec.status.clone().unwrap_or_default();
    let Some(previous) = status.previous_config.clone() else {
        return fail(
            lc,
            rec,
            "no previous config was saved, so there is nothing to restore".into(),
            report,
        )
        .await;
    };
    let what = format!("{} {}/{}", kind_name(kind), t.namespace, t.autoscaler_name);
    let Some(live) = lc
        .reader
        .autoscaler(kind, &t.namespace, &t.autoscaler_name)
        .await?
    else {
        return fail(
            lc,
            rec,
            format!("{what} not found, so the previous config cannot be restored"),
            report,
        )
        .await;
    };
    if let Some(field) = lc.drifted_field(rec, &status, kind, &live.spec) {
        // Someone else changed it: their change wins over our rollback.
        return lc.report_drift(rec, &field, report).await;
    }
    let restored = patch::restored(kind, &live.spec, &previous.fields);
    // A schedule's floor marker goes with the restore.
    let marker = live
        .annotations
        .contains_key(crate::lifecycle::schedule::FLOOR_ANNOTATION)
        .then(|| serde_json::json!({ crate::lifecycle::schedule::FLOOR_ANNOTATION: null }));
    if let Some(p) = patch::merge_patch(&live.spec, &restored) {
        match patch_autoscaler_with(lc, &live, p, marker).await? {
            Ok(_) => report.workload_writes += 1,
            Err(message) => return fail(lc, rec, message, report).await,
        }
    }
    let detail = format!("auto-reverted: {why}; restored the previous config of {what}");
    let mut status = status;
    status.phase = Phase::RolledBack;
    status.schedule = None;
    status.detail = Some(detail.clone());
    set_condition(
        &mut status.conditions,
        "Verified",
        false,
        "Degraded",
        why,
        lc.now,
    );
    set_condition(
        &mut status.conditions,
        "Applied",
        false,
        "RolledBack",
        &detail,
        lc.now,
    );
    let rec = lc.write_status(rec, status).await?;
    tracing::warn!(namespace = %t.namespace, autoscaler = %t.autoscaler_name, reason = %why, "{LOG_AUTO_REVERTED}");
    lc.metrics.rollbacks.inc();
    lc.notifier
        .notify(
            &rec,
            lc.autoscaler_ref(&rec),
            true,
            reason::ROLLED_BACK,
            &detail,
        )
        .await;
    report.rolled_back += 1;
    Ok(())
}
