//! The operator's side of an approved predictive schedule (leader only, in
//! the mutating pass).
//!
//! - **ScaledObject**: the apply adds one KEDA `cron` trigger per window,
//!   named [`OWN_TRIGGER_PREFIX`]`N` so the user's triggers are never
//!   touched; KEDA raises and restores the floor. Rollback restores the
//!   saved triggers (without ours), and a ScaledObject that carries our
//!   triggers while no applied recommendation does (the recommendation was
//!   deleted) loses exactly them ([`orphaned_schedule_cleanup`]).
//! - **HPA**: the operator moves `minReplicas` itself: to a window's floor
//!   at its start (the window already opens `leadMinutes` early) and back
//!   to the baseline at its end. `status.schedule.floor` records what it
//!   set. Each pass compares the floor the schedule wants now
//!   ([`crate::schedule::windows::floor_at`]) with that record:
//!   - equal: nothing to write (a restart or failover inside a window
//!     raises nothing twice);
//!   - different and the live minReplicas is the recorded floor: one patch,
//!     then the record (a transition missed while no leader was up is
//!     caught up on the first pass);
//!   - different and the live minReplicas already is the wanted floor: the
//!     patch was made by an operator that stopped before recording it; only
//!     the record is written;
//!   - anything else is a person's change: drift, reported and left alone
//!     (see [`expected_fields`]).
//!
//!   While raised, the HPA carries [`FLOOR_ANNOTATION`] (written in the same
//!   patch), so a floor left raised by a recommendation that was deleted or
//!   reopened mid-window is restored ([`orphaned_schedule_cleanup`]).
//!
//! Every transition is logged ([`LOG_SCHEDULE_TRANSITION`]) and emits an
//! Event on the recommendation and the autoscaler.

use serde_json::{json, Map, Value};
use stepscale_engine::snapshot::AutoscalerKind;

use crate::cluster::Autoscaler;
use crate::crd::{ScalingRecommendation, ScalingRecommendationStatus, ScheduleStatus};
use crate::lifecycle::apply::{patch_autoscaler_with, saved_config};
use crate::lifecycle::events::reason;
use crate::lifecycle::{rfc3339, target_kind, Lifecycle, LifecycleError, PassReport};
use crate::schedule::windows::{
    cron_metadata, describe_window, floor_at, triggers, FloorAt, ScheduleError,
};
use crate::schedule::PredictiveSchedule;

/// Name prefix of the cron triggers the operator owns on a ScaledObject.
pub const OWN_TRIGGER_PREFIX: &str = "stepscale-schedule-";
/// Annotation the operator keeps on an HPA while a schedule holds its floor
/// above the baseline (`{"baseline":2,"floor":6}`), written in the same patch
/// as minReplicas: if the recommendation goes away mid-window, the next pass
/// restores the baseline from it.
pub const FLOOR_ANNOTATION: &str = "stepscale.io/schedule-floor";
/// Logged at each floor transition.
pub const LOG_SCHEDULE_TRANSITION: &str = "schedule transition";

/// True for a trigger the operator added (by its name).
pub fn is_own_trigger(trigger: &Value) -> bool {
    trigger
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| n.starts_with(OWN_TRIGGER_PREFIX))
}

/// A ScaledObject spec with the operator's cron triggers replaced by one
/// per window of `schedule` (the user's triggers kept, in order, first).
///
/// # Errors
/// [`ScheduleError`] for an invalid window.
pub fn with_own_triggers(
    spec: &Value,
    schedule: &PredictiveSchedule,
) -> Result<Value, ScheduleError> {
    let mut spec = without_own_triggers(spec);
    let mut own = Vec::new();
    for (i, w) in schedule.windows.iter().enumerate() {
        let meta = cron_metadata(&schedule.timezone, i, w)?;
        own.push(json!({
            "type": "cron",
            "name": format!("{OWN_TRIGGER_PREFIX}{i}"),
            "metadata": meta,
        }));
    }
    if let Some(obj) = spec.as_object_mut() {
        let list = obj
            .entry("triggers")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(a) = list.as_array_mut() {
            a.extend(own);
        }
    }
    Ok(spec)
}

/// A ScaledObject spec without the operator's cron triggers.
pub fn without_own_triggers(spec: &Value) -> Value {
    let mut spec = spec.clone();
    if let Some(a) = spec.get_mut("triggers").and_then(Value::as_array_mut) {
        a.retain(|t| !is_own_trigger(t));
    }
    spec
}

/// Names of the operator's triggers in a ScaledObject spec.
pub fn own_trigger_names(spec: &Value) -> Vec<String> {
    spec.get("triggers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| is_own_trigger(t))
        .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// What the schedule wants at `now` over `baseline`, capped at
/// `max_replicas`.
///
/// # Errors
/// [`ScheduleError`] for an invalid schedule.
pub fn wanted(
    schedule: &PredictiveSchedule,
    baseline: u32,
    max_replicas: u32,
    now: i64,
) -> Result<FloorAt, ScheduleError> {
    let tr = triggers(schedule)?;
    let mut at = floor_at(schedule, &tr, baseline, now)?;
    at.floor = at.floor.min(max_replicas.max(baseline));
    Ok(at)
}

/// The status for a schedule at `at` (`last_transition` kept unless given).
pub fn status_at(
    schedule: &PredictiveSchedule,
    baseline: u32,
    at: &FloorAt,
    last_transition: Option<String>,
    triggers: Vec<String>,
) -> ScheduleStatus {
    ScheduleStatus {
        timezone: schedule.timezone.clone(),
        baseline,
        floor: at.floor,
        active_window: at.window.and_then(|i| describe_window(schedule, i)),
        next_transition: at.next_transition.map(rfc3339),
        last_transition,
        triggers,
    }
}

/// The spec an apply writes for a recommendation with `schedule` (on top
/// of the config change already in `desired`), and the schedule status it
/// starts with: a ScaledObject gains the operator's cron triggers; an HPA's
/// minReplicas is the floor the schedule wants at `now` (the baseline
/// outside windows).
///
/// # Errors
/// [`ScheduleError`] for an invalid schedule.
pub fn with_schedule(
    kind: AutoscalerKind,
    desired: Value,
    schedule: &PredictiveSchedule,
    now: i64,
) -> Result<(Value, Option<ScheduleStatus>), ScheduleError> {
    match kind {
        AutoscalerKind::ScaledObject => {
            let spec = with_own_triggers(&desired, schedule)?;
            let (baseline, ceiling) = floor_bounds(kind, &spec);
            let at = wanted(schedule, baseline, ceiling, now)?;
            let names = own_trigger_names(&spec);
            Ok((spec, Some(status_at(schedule, baseline, &at, None, names))))
        }
        AutoscalerKind::HorizontalPodAutoscaler => {
            let (baseline, ceiling) = floor_bounds(kind, &desired);
            let at = wanted(schedule, baseline, ceiling, now)?;
            let mut spec = desired;
            if let Some(obj) = spec.as_object_mut() {
                obj.insert("minReplicas".into(), Value::from(at.floor));
            }
            let last = (at.floor != baseline).then(|| rfc3339(now));
            Ok((
                spec,
                Some(status_at(schedule, baseline, &at, last, Vec::new())),
            ))
        }
    }
}

/// The annotation patch for an HPA floor at `floor` over `baseline`: the
/// marker when raised, its removal at the baseline.
pub fn floor_marker(baseline: u32, floor: u32) -> Option<Value> {
    let value = if floor > baseline {
        Value::String(json!({"baseline": baseline, "floor": floor}).to_string())
    } else {
        Value::Null
    };
    Some(json!({ FLOOR_ANNOTATION: value }))
}

/// The (baseline, floor) an HPA's [`FLOOR_ANNOTATION`] records.
fn marked_floor(annotations: &std::collections::BTreeMap<String, String>) -> Option<(u32, u32)> {
    let v: Value = serde_json::from_str(annotations.get(FLOOR_ANNOTATION)?).ok()?;
    let get = |k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    Some((get("baseline")?, get("floor")?))
}

fn u32_field(spec: &Value, key: &str) -> Option<u32> {
    spec.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// The floor a schedule raises from and the most it may raise it to: an
/// HPA's minReplicas (default 1) and maxReplicas; a ScaledObject's
/// minReplicaCount (default 0) and no cap (KEDA caps at maxReplicaCount).
fn floor_bounds(kind: AutoscalerKind, spec: &Value) -> (u32, u32) {
    match kind {
        AutoscalerKind::HorizontalPodAutoscaler => (
            u32_field(spec, "minReplicas").unwrap_or(1),
            u32_field(spec, "maxReplicas").unwrap_or(u32::MAX),
        ),
        AutoscalerKind::ScaledObject => (u32_field(spec, "minReplicaCount").unwrap_or(0), u32::MAX),
    }
}

fn min_replicas(spec: &Value) -> u32 {
    floor_bounds(AutoscalerKind::HorizontalPodAutoscaler, spec).0
}

/// The applied fields a live HPA is compared with for drift: the saved
/// ones, except that `minReplicas` may be the recorded floor or the floor
/// the schedule wants at `now` (a transition this operator, or one that
/// stopped before recording it, made). Any other value is a person's.
pub fn expected_fields(
    rec: &ScalingRecommendation,
    status: &ScalingRecommendationStatus,
    applied: &Map<String, Value>,
    live_spec: &Value,
    now: i64,
) -> Map<String, Value> {
    let mut fields = applied.clone();
    let (Some(schedule), Some(s)) = (
        &rec.spec.recommendation.predictive_schedule,
        &status.schedule,
    ) else {
        return fields;
    };
    if target_kind(rec) != Ok(AutoscalerKind::HorizontalPodAutoscaler) {
        return fields;
    }
    let live = min_replicas(live_spec);
    let (_, ceiling) = floor_bounds(AutoscalerKind::HorizontalPodAutoscaler, live_spec);
    let want = wanted(schedule, s.baseline, ceiling, now).map(|a| a.floor);
    if live == s.floor || want == Ok(live) {
        fields.insert("minReplicas".into(), Value::from(live));
    }
    fields
}

/// One pass of an applied schedule: move an HPA's floor when a window
/// starts or ends, or record where a ScaledObject's schedule stands. Returns
/// the recommendation as written.
///
/// # Errors
/// A [`LifecycleError`] when the step must be retried on the next pass.
pub async fn step(
    lc: &Lifecycle<'_>,
    rec: &ScalingRecommendation,
    report: &mut PassReport,
) -> Result<ScalingRecommendation, LifecycleError> {
    let Some(schedule) = &rec.spec.recommendation.predictive_schedule else {
        return Ok(rec.clone());
    };
    let Ok(kind) = target_kind(rec) else {
        return Ok(rec.clone());
    };
    let mut status = rec.status.clone().unwrap_or_default();
    let t = &rec.spec.recommendation.target;
    let Some(live) = lc
        .reader
        .autoscaler(kind, &t.namespace, &t.autoscaler_name)
        .await?
    else {
        return Ok(rec.clone());
    };
    let recorded = status.schedule.clone();
    let (live_baseline, ceiling) = floor_bounds(kind, &live.spec);
    let baseline = recorded.as_ref().map_or(live_baseline, |s| s.baseline);
    let at = match wanted(schedule, baseline, ceiling, lc.now) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(namespace = %t.namespace, autoscaler = %t.autoscaler_name, "schedule not evaluated: {e}");
            return Ok(rec.clone());
        }
    };
    let recorded_floor = recorded.as_ref().map_or(baseline, |s| s.floor);
    let triggers = own_trigger_names(&live.spec);
    if at.floor == recorded_floor {
        // No transition; keep the displayed window and next transition current.
        let s = status_at(
            schedule,
            baseline,
            &at,
            recorded.as_ref().and_then(|s| s.last_transition.clone()),
            triggers,
        );
        if recorded.as_ref() != Some(&s) {
            status.schedule = Some(s);
            return lc.write_status(rec, status).await;
        }
        return Ok(rec.clone());
    }
    let mut written = live.clone();
    if kind == AutoscalerKind::HorizontalPodAutoscaler {
        let live_floor = min_replicas(&live.spec);
        if live_floor != at.floor {
            if live_floor != recorded_floor {
                // A person's value: drift, reported (an applied
                // recommendation's drift check has usually said so already)
                // and left in place.
                lc.report_drift(rec, "spec.minReplicas", report).await?;
                return Ok(rec.clone());
            }
            let marker = floor_marker(baseline, at.floor);
            match patch_autoscaler_with(lc, &live, json!({"minReplicas": at.floor}), marker).await?
            {
                Ok(w) => {
                    report.workload_writes += 1;
                    written = w;
                }
                Err(message) => {
                    tracing::warn!(namespace = %t.namespace, autoscaler = %t.autoscaler_name, "schedule transition refused: {message}");
                    return Ok(rec.clone());
                }
            }
        }
        status.applied_config = Some(saved_config(&written));
    }
    let raised = at.floor > recorded_floor;
    let detail = match at.window.and_then(|i| describe_window(schedule, i)) {
        Some(w) if raised => format!(
            "schedule window {w} ({}) started: floor {recorded_floor} → {}",
            schedule.timezone, at.floor
        ),
        Some(w) => format!(
            "schedule window {w} ({}) in force: floor {recorded_floor} → {}",
            schedule.timezone, at.floor
        ),
        None => format!(
            "schedule window ended: floor {recorded_floor} → baseline {}",
            at.floor
        ),
    };
    status.schedule = Some(status_at(
        schedule,
        baseline,
        &at,
        Some(rfc3339(lc.now)),
        triggers,
    ));
    let rec = lc.write_status(rec, status).await?;
    tracing::info!(
        namespace = %t.namespace, autoscaler = %t.autoscaler_name, kind = live.kind_name(),
        from = recorded_floor, to = at.floor,
        next_transition = at.next_transition.map(rfc3339).unwrap_or_default(),
        "{LOG_SCHEDULE_TRANSITION}: {detail}"
    );
    lc.notifier
        .notify(
            &rec,
            lc.autoscaler_ref(&rec),
            false,
            if raised {
                reason::SCHEDULE_RAISED
            } else {
                reason::SCHEDULE_RESTORED
            },
            &detail,
        )
        .await;
    Ok(rec)
}

/// Undo what a schedule left on an autoscaler whose recommendation no
/// longer holds it (deleted, or reopened for a new proposal): no applied,
/// verified or degraded recommendation with a schedule targets it. A
/// ScaledObject loses the operator's cron triggers (only those); an HPA
/// marked with [`FLOOR_ANNOTATION`] gets its baseline back when minReplicas
/// is still the floor the operator set (else the marker alone goes: a
/// person's value stays). Returns how many autoscalers were cleaned.
///
/// `listed` are the autoscalers the tick read, if this pass is part of a
/// tick: the autoscalers are read again only when one of those carries an
/// orphaned schedule.
///
/// # Errors
/// A [`LifecycleError`] for a failed read or write (retried next pass).
pub async fn orphaned_schedule_cleanup(
    lc: &Lifecycle<'_>,
    recs: &[std::sync::Arc<ScalingRecommendation>],
    listed: Option<&[Autoscaler]>,
    report: &mut PassReport,
) -> Result<usize, LifecycleError> {
    use crate::crd::phase::Phase;
    let owned: std::collections::HashSet<(String, String, String)> = recs
        .iter()
        .filter(|r| {
            matches!(
                r.phase(),
                Phase::Applied | Phase::Verified | Phase::Degraded
            )
        })
        .filter(|r| r.spec.recommendation.predictive_schedule.is_some())
        .map(|r| {
            let t = &r.spec.recommendation.target;
            (
                t.autoscaler_kind.clone(),
                t.namespace.clone(),
                t.autoscaler_name.clone(),
            )
        })
        .collect();
    let orphaned = |a: &Autoscaler| {
        let carries = match a.kind {
            AutoscalerKind::ScaledObject => !own_trigger_names(&a.spec).is_empty(),
            AutoscalerKind::HorizontalPodAutoscaler => marked_floor(&a.annotations).is_some(),
        };
        carries
            && !owned.contains(&(
                a.kind_name().to_string(),
                a.namespace.clone(),
                a.name.clone(),
            ))
    };
    // What a schedule leaves is the operator's own: an autoscaler the tick
    // listed without it gets it only from a recommendation that holds it.
    // So when none of those carries an orphaned schedule, there is nothing
    // to undo and no second list; else they are read again, fresh for the
    // writes.
    if listed.is_some_and(|l| !l.iter().any(orphaned)) {
        return Ok(0);
    }
    let mut cleaned = 0;
    for a in lc.reader.autoscalers().await? {
        if !orphaned(&a) {
            continue;
        }
        let (spec_patch, marker) = match a.kind {
            AutoscalerKind::ScaledObject => {
                if own_trigger_names(&a.spec).is_empty() {
                    continue;
                }
                let Some(p) =
                    crate::lifecycle::patch::merge_patch(&a.spec, &without_own_triggers(&a.spec))
                else {
                    continue;
                };
                (p, None)
            }
            AutoscalerKind::HorizontalPodAutoscaler => {
                let Some((baseline, floor)) = marked_floor(&a.annotations) else {
                    continue;
                };
                let spec = if min_replicas(&a.spec) == floor {
                    json!({"minReplicas": baseline})
                } else {
                    json!({})
                };
                (spec, Some(json!({ FLOOR_ANNOTATION: null })))
            }
        };
        match patch_autoscaler_with(lc, &a, spec_patch, marker).await? {
            Ok(_) => {
                report.workload_writes += 1;
                cleaned += 1;
                tracing::info!(namespace = %a.namespace, autoscaler = %a.name, kind = a.kind_name(), "{LOG_SCHEDULE_TRANSITION}: undid the schedule of a recommendation that no longer holds it (cron triggers removed, or the floor back at its baseline)");
            }
            Err(message) => {
                tracing::warn!(namespace = %a.namespace, autoscaler = %a.name, "undoing a schedule failed: {message}");
            }
        }
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleWindow;

    fn schedule() -> PredictiveSchedule {
        PredictiveSchedule {
            timezone: "Europe/Berlin".into(),
            lead_minutes: 5,
            max_replicas_needed: None,
            history: None,
            windows: vec![
                ScheduleWindow {
                    day_of_week: None,
                    start: "08:55".into(),
                    end: "10:00".into(),
                    replica_floor: 6,
                },
                ScheduleWindow {
                    day_of_week: Some(4),
                    start: "17:00".into(),
                    end: "19:00".into(),
                    replica_floor: 4,
                },
            ],
        }
    }

    #[test]
    fn own_triggers_are_added_after_the_users_and_replaced_not_duplicated() {
        let spec = json!({"minReplicaCount": 1, "triggers": [
            {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}},
            {"type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *", "end": "0 9 * * *", "desiredReplicas": "3"}}
        ]});
        let once = with_own_triggers(&spec, &schedule()).expect("valid");
        let twice = with_own_triggers(&once, &schedule()).expect("valid");
        assert_eq!(once, twice);
        let list = once["triggers"].as_array().expect("triggers");
        assert_eq!(list.len(), 4);
        assert_eq!(
            list[..2],
            spec["triggers"].as_array().expect("triggers")[..]
        );
        assert_eq!(list[2]["name"], "stepscale-schedule-0");
        assert_eq!(list[2]["metadata"]["timezone"], "Europe/Berlin");
        assert_eq!(list[2]["metadata"]["start"], "55 8 * * *");
        assert_eq!(list[2]["metadata"]["desiredReplicas"], "6");
        // Friday (4) is 5 in cron's Sunday-first numbering.
        assert_eq!(list[3]["metadata"]["start"], "0 17 * * 5");
        assert_eq!(
            own_trigger_names(&once),
            ["stepscale-schedule-0", "stepscale-schedule-1"]
        );
        assert_eq!(without_own_triggers(&once), spec);
    }

    #[test]
    fn the_wanted_floor_never_exceeds_max_replicas_nor_drops_below_the_baseline() {
        // 2026-06-01 09:00 Berlin (UTC+2) = 07:00 UTC, inside the 6-floor window.
        let at = 1_780_297_200;
        assert_eq!(wanted(&schedule(), 2, 20, at).expect("valid").floor, 6);
        assert_eq!(wanted(&schedule(), 2, 5, at).expect("valid").floor, 5);
        assert_eq!(wanted(&schedule(), 8, 20, at).expect("valid").floor, 8);
        assert_eq!(
            wanted(&schedule(), 2, 20, at + 3 * 3600)
                .expect("valid")
                .floor,
            2
        );
    }
}
