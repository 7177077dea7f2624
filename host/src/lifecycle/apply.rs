//! Apply an approved recommendation: save the previous config in the
//! status first, then patch only the changed fields of the live HPA (served
//! version) or ScaledObject with [`FIELD_MANAGER`], then mark it applied
//! with `probationUntil`.
//!
//! # Crash safety
//! The previous config is written before the autoscaler is touched. If the
//! operator dies between the two writes, the next leader finds the saved
//! config, keeps it (it never re-captures from an already patched object),
//! recomputes the patch from the live object, and sends nothing when the
//! live object already has the change: there is never a double apply, and
//! the rollback target stays the original config.

use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};

use super::events::reason;
use super::{
    patch, rfc3339, set_condition, target_kind, Lifecycle, LifecycleError, PassReport, LOG_APPLIED,
};
use crate::change::{describe_change, CurrentConfig};
use crate::cluster::autoscaler::config_of;
use crate::cluster::{kind_name, Autoscaler};
use crate::crd::phase::Phase;
use crate::crd::{SavedConfig, ScalingRecommendation};
use crate::lifecycle::schedule;

/// The field manager of every write the operator makes to an autoscaler.
pub const FIELD_MANAGER: &str = "stepscale";

/// The config of `live` as saved in the status (verbatim fields and a
/// readable summary).
pub fn saved_config(live: &Autoscaler) -> SavedConfig {
    let summary = config_of(live.kind, &live.spec)
        .map(|c| CurrentConfig::of_config(&c))
        .unwrap_or(CurrentConfig {
            min_replicas: 0,
            max_replicas: 0,
            cpu_target_percent: None,
            scale_down_stabilization_seconds: 0,
            scale_up_stabilization_seconds: 0,
            cooldown_period_seconds: None,
        });
    SavedConfig {
        summary,
        fields: patch::touched(live.kind, &live.spec),
        resource_version: live.resource_version.clone(),
    }
}

/// Patch the autoscaler's spec with `spec_patch`, guarded by the
/// resourceVersion it was computed from. Returns the object as written.
///
/// # Errors
/// `Ok(Err(message))` when the API rejects the patch (4xx other than
/// conflict: the recommendation fails with the API's message);
/// [`LifecycleError`] for conflicts, gate refusals and transient errors.
pub async fn patch_autoscaler(
    lc: &Lifecycle<'_>,
    live: &Autoscaler,
    spec_patch: Value,
) -> Result<Result<Autoscaler, String>, LifecycleError> {
    patch_autoscaler_with(lc, live, spec_patch, None).await
}

/// [`patch_autoscaler`], also merging `annotations` (a JSON object; `null`
/// values remove) into the autoscaler's metadata in the same write.
///
/// # Errors
/// As [`patch_autoscaler`].
pub async fn patch_autoscaler_with(
    lc: &Lifecycle<'_>,
    live: &Autoscaler,
    spec_patch: Value,
    annotations: Option<Value>,
) -> Result<Result<Autoscaler, String>, LifecycleError> {
    lc.gate.check()?;
    let mut body = json!({
        "metadata": {"resourceVersion": live.resource_version},
        "spec": spec_patch,
    });
    if let Some(a) = annotations {
        body["metadata"]["annotations"] = a;
    }
    let pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let what = format!("{} {}", live.kind_name(), live.display_name());
    match lc
        .reader
        .api(&live.resource, &live.namespace)
        .patch(&live.name, &pp, &Patch::Merge(&body))
        .await
    {
        Ok(obj) => {
            let data = obj.data;
            Ok(Ok(Autoscaler {
                annotations: obj.metadata.annotations.unwrap_or_default(),
                resource_version: obj.metadata.resource_version,
                spec: data.get("spec").cloned().unwrap_or(Value::Null),
                status: data.get("status").cloned().unwrap_or(Value::Null),
                ..live.clone()
            }))
        }
        Err(kube::Error::Api(s)) if s.is_conflict() => Err(LifecycleError::Conflict { what }),
        Err(kube::Error::Api(s)) if (400..500).contains(&s.code) => Ok(Err(format!(
            "{what} rejected the patch: {}",
            if s.message.is_empty() {
                s.reason.clone()
            } else {
                s.message.clone()
            }
        ))),
        Err(e) => Err(LifecycleError::Write { what, source: e }),
    }
}

/// Mark the recommendation failed with `detail` (the API's message or the
/// reason the change cannot be expressed).
///
/// # Errors
/// As [`Lifecycle::write_status`].
pub async fn fail(
    lc: &Lifecycle<'_>,
    rec: &ScalingRecommendation,
    detail: String,
    report: &mut PassReport,
) -> Result<(), LifecycleError> {
    let mut status = rec.status.clone().unwrap_or_default();
    status.phase = Phase::Failed;
    let detail =
        format!("{detail}; fix it, then set annotation stepscale.io/retry=true to try again");
    status.detail = Some(detail.clone());
    set_condition(
        &mut status.conditions,
        "Applied",
        false,
        "ApplyFailed",
        &detail,
        lc.now,
    );
    let rec = lc.write_status(rec, status).await?;
    tracing::warn!(
        namespace = rec.metadata.namespace.as_deref().unwrap_or_default(),
        recommendation = rec.metadata.name.as_deref().unwrap_or_default(),
        "apply failed: {detail}"
    );
    lc.metrics.apply(false);
    lc.notifier
        .notify(
            &rec,
            lc.autoscaler_ref(&rec),
            true,
            reason::APPLY_FAILED,
            &detail,
        )
        .await;
    report.failed += 1;
    Ok(())
}

/// Apply an approved recommendation (see the module docs for the order of
/// writes).
///
/// # Errors
/// A [`LifecycleError`] when the step must be retried on the next pass;
/// permanent problems mark the recommendation failed instead.
pub async fn apply(
    lc: &Lifecycle<'_>,
    rec: &ScalingRecommendation,
    report: &mut PassReport,
) -> Result<(), LifecycleError> {
    let r = &rec.spec.recommendation;
    let t = &r.target;
    let kind = match target_kind(rec) {
        Ok(k) => k,
        Err(message) => return fail(lc, rec, message, report).await,
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
            format!("{what} not found (deleted, renamed, or KEDA not installed)"),
            report,
        )
        .await;
    };
    let desired = match patch::with_change(kind, &live.spec, &r.proposed) {
        Ok(d) => d,
        Err(e) => return fail(lc, rec, format!("{what}: {e}"), report).await,
    };
    // A predictive schedule: cron triggers on a ScaledObject; on an HPA the
    // floor the schedule wants now (raised at once inside a window).
    let (desired, schedule) = match &r.predictive_schedule {
        None => (desired, None),
        Some(s) => match schedule::with_schedule(kind, desired, s, lc.now) {
            Ok(d) => d,
            Err(e) => return fail(lc, rec, format!("{what}: {e}"), report).await,
        },
    };
    // 1. Save the previous config before any write (kept if already saved
    //    by an attempt that was interrupted).
    let mut status = rec.status.clone().unwrap_or_default();
    let rec = if status.previous_config.is_none() {
        status.previous_config = Some(saved_config(&live));
        status.detail = Some(format!(
            "applying: {}",
            describe_change(&r.current, &r.proposed)
        ));
        lc.write_status(rec, status).await?
    } else {
        rec.clone()
    };
    // 2. Patch only the changed fields (an HPA floor raised at once by its
    //    schedule is marked on the HPA in the same write).
    let marker = schedule
        .as_ref()
        .filter(|_| kind == stepscale_engine::snapshot::AutoscalerKind::HorizontalPodAutoscaler)
        .and_then(|s| schedule::floor_marker(s.baseline, s.floor));
    let written = match patch::merge_patch(&live.spec, &desired) {
        None => live,
        Some(p) => match patch_autoscaler_with(lc, &live, p, marker).await? {
            Ok(w) => {
                report.workload_writes += 1;
                w
            }
            Err(message) => return fail(lc, &rec, message, report).await,
        },
    };
    // 3. Applied, on probation.
    let probation = i64::try_from(lc.safety.probation_window.as_secs()).unwrap_or(i64::MAX);
    let until = lc.now.saturating_add(probation);
    let mut change = describe_change(&r.current, &r.proposed);
    if let Some(s) = &r.predictive_schedule {
        change = format!(
            "{}a predictive schedule of {} window(s) in {}",
            if r.proposed.is_empty() {
                String::new()
            } else {
                format!("{change}, and ")
            },
            s.windows.len(),
            s.timezone
        );
    }
    let detail = format!("applied: {change}; on probation until {}", rfc3339(until));
    let mut status = rec.status.clone().unwrap_or_default();
    status.phase = Phase::Applied;
    status.detail = Some(detail.clone());
    status.applied_at = Some(rfc3339(lc.now));
    status.probation_until = Some(rfc3339(until));
    status.applied_config = Some(saved_config(&written));
    status.schedule = schedule;
    set_condition(
        &mut status.conditions,
        "Applied",
        true,
        "Applied",
        &detail,
        lc.now,
    );
    let rec = lc.write_status(&rec, status).await?;
    tracing::info!(
        namespace = %t.namespace, autoscaler = %t.autoscaler_name, kind = kind_name(kind),
        change = %change, probation_until = %rfc3339(until),
        "{LOG_APPLIED}"
    );
    lc.metrics.apply(true);
    lc.notifier
        .notify(
            &rec,
            lc.autoscaler_ref(&rec),
            false,
            reason::APPLIED,
            &detail,
        )
        .await;
    report.applied += 1;
    Ok(())
}
