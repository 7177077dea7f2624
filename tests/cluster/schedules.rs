//! Approved predictive schedules applied by the operator, on the real API
//! server, with an injected clock (no test sleeps through a window):
//! an HPA's floor goes up at a window's start and back at its end, across
//! an operator restart and a leader failover, with no double write; a
//! person's change during a window is drift, left alone; Berlin's
//! daylight-saving change moves the UTC instants; a ScaledObject gains one
//! cron trigger per window and loses exactly those on rollback and when its
//! recommendation is deleted.
//!
//! The recommendations are created here as the operator publishes them
//! (schedule-only proposals), and only the mutating pass runs
//! (`reconcile_recommendations`), so the schedule under test is exactly the
//! one written below.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use stepscale_operator::crd::phase::Phase;
use stepscale_operator::crd::ScalingRecommendation;
use stepscale_operator::operator::controller::Operator;

use crate::common::{
    cluster, degraded, dynamic, healthy, install_keda_and_scaler_crds, logs, operator,
    SeriesSource, TestNamespace,
};

/// A settable clock for the operator.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn at(rfc3339: &str) -> TestClock {
        let c = TestClock(Arc::new(AtomicI64::new(0)));
        c.set(rfc3339);
        c
    }

    fn set(&self, rfc3339: &str) {
        let t = rfc3339
            .parse::<jiff::Timestamp>()
            .expect("timestamp")
            .as_second();
        self.0.store(t, Ordering::SeqCst);
    }

    fn clock(&self) -> stepscale_operator::operator::controller::Clock {
        let c = self.0.clone();
        Arc::new(move || c.load(Ordering::SeqCst))
    }
}

fn source(name: &str, health: Vec<f64>) -> Arc<SeriesSource> {
    Arc::new(SeriesSource::default().with_health(name, health))
}

/// An approved, schedule-only recommendation for `kind` `name` (min
/// `min`, max 20) with `windows` in `timezone`.
async fn scheduled_rec(
    ns: &TestNamespace,
    rec_name: &str,
    kind: &str,
    name: &str,
    min: u32,
    timezone: &str,
    windows: Value,
) {
    scheduled_rec_with_history(
        ns,
        rec_name,
        kind,
        name,
        min,
        timezone,
        windows,
        Value::Null,
    )
    .await;
}

/// As [`scheduled_rec`], with the schedule's `history` figures (what
/// probation is compared with).
#[allow(clippy::too_many_arguments)]
async fn scheduled_rec_with_history(
    ns: &TestNamespace,
    rec_name: &str,
    kind: &str,
    name: &str,
    min: u32,
    timezone: &str,
    windows: Value,
    history: Value,
) {
    let (api_version, target_kind, target) = if kind == "ScaledObject" {
        ("test.stepscale.io/v1", "Scaler", "workers")
    } else {
        ("apps/v1", "Deployment", name)
    };
    let rec: ScalingRecommendation = serde_json::from_value(json!({
        "apiVersion": "stepscale.io/v1alpha1", "kind": "ScalingRecommendation",
        "metadata": {"name": rec_name, "labels": {"app.kubernetes.io/managed-by": "stepscale"}},
        "spec": {
            "target": {"autoscalerKind": kind, "namespace": ns.name, "autoscalerName": name,
                "apiVersion": api_version, "kind": target_kind, "name": target},
            "current": {"minReplicas": min, "maxReplicas": 20, "cpuTargetPercent": 60,
                "scaleDownStabilizationSeconds": 300, "scaleUpStabilizationSeconds": 0},
            "proposed": {},
            "riskLevel": "low",
            "summary": "add a predictive schedule",
            "findings": [],
            "predictiveSchedule": {"timezone": timezone, "leadMinutes": 5, "windows": windows, "history": history},
            "approved": true
        }
    }))
    .expect("recommendation");
    ns.recs()
        .create(&PostParams::default(), &rec)
        .await
        .expect("create the recommendation");
}

fn window(start: &str, end: &str, floor: u32) -> Value {
    json!({"start": start, "end": end, "replicaFloor": floor})
}

async fn min_replicas(ns: &TestNamespace, hpa: &str) -> u64 {
    ns.hpa_spec(hpa).await["minReplicas"]
        .as_u64()
        .expect("minReplicas")
}

/// One mutating pass at the clock's time; returns the HPA writes made.
async fn pass(op: &Operator) -> usize {
    let r = op.reconcile_recommendations().await.expect("mutating pass");
    assert_eq!(r.pass.errors, 0, "{r:?}");
    r.pass.workload_writes
}

fn schedule_status(rec: &ScalingRecommendation) -> stepscale_operator::crd::ScheduleStatus {
    rec.status
        .as_ref()
        .and_then(|s| s.schedule.clone())
        .expect("status.schedule")
}

/// A namespace with Deployment + HPA `web` (min 2, max 20, 60 %), an
/// approved schedule-only recommendation `web-hpa` with `windows` in
/// `timezone`, and an operator (`op-a`, healthy probation of 10 days) on a
/// clock set to `now`.
async fn hpa_with_schedule(
    client: kube::Client,
    test: &str,
    timezone: &str,
    windows: Value,
    now: &str,
) -> (TestNamespace, TestClock, Operator) {
    let ns = TestNamespace::new(client, test).await;
    ns.deployment("web", 2).await;
    ns.hpa("web", "web", 2, 20, 60).await;
    scheduled_rec(
        &ns,
        "web-hpa",
        "HorizontalPodAutoscaler",
        "web",
        2,
        timezone,
        windows,
    )
    .await;
    let clock = TestClock::at(now);
    let op = operator(&ns, "op-a", source("web", healthy()), 4, 864_000).with_clock(clock.clock());
    (ns, clock, op)
}

/// Set the HPA's minReplicas as someone other than the operator.
async fn set_min_replicas(ns: &TestNamespace, hpa: &str, n: u32) {
    ns.hpas()
        .patch(
            hpa,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"minReplicas": n}})),
        )
        .await
        .expect("patch minReplicas");
}

fn detail(rec: &ScalingRecommendation) -> String {
    rec.status
        .as_ref()
        .and_then(|s| s.detail.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpa_floor_follows_the_schedule_across_restart_and_failover_without_double_writes() {
    let Some(client) = cluster("schedule-hpa").await else {
        return;
    };
    // 08:55-10:00 in Berlin (UTC+2 in June): 06:55-08:00 UTC.
    let (ns, clock, a) = hpa_with_schedule(
        client,
        "sched-hpa",
        "Europe/Berlin",
        json!([window("08:55", "10:00", 6)]),
        "2026-06-01T06:00:00Z",
    )
    .await;
    let lease = 4;

    // Approved before the window: applied, the floor stays at the baseline.
    assert_eq!(pass(&a).await, 0);
    let rec = ns.rec("web-hpa").await;
    assert_eq!(rec.phase(), Phase::Applied);
    let s = schedule_status(&rec);
    assert_eq!((s.baseline, s.floor), (2, 2));
    assert_eq!(s.timezone, "Europe/Berlin");
    assert_eq!(s.next_transition.as_deref(), Some("2026-06-01T06:55:00Z"));
    assert_eq!(min_replicas(&ns, "web").await, 2);

    // The window starts: one write raises the floor.
    clock.set("2026-06-01T06:55:30Z");
    assert_eq!(pass(&a).await, 1);
    assert_eq!(min_replicas(&ns, "web").await, 6);
    let s = schedule_status(&ns.rec("web-hpa").await);
    assert_eq!(s.floor, 6);
    assert_eq!(s.active_window.as_deref(), Some("08:55–10:00 ≥6"));
    assert_eq!(s.next_transition.as_deref(), Some("2026-06-01T08:00:00Z"));
    assert!(ns
        .event_reasons("ScalingRecommendation")
        .await
        .contains(&"ScheduleFloorRaised".to_string()));
    assert!(logs().contains("schedule transition"));
    let raised_version = ns.hpa_version("web").await;

    // The operator restarts inside the window: nothing is raised twice.
    drop(a);
    let a2 =
        operator(&ns, "op-a", source("web", healthy()), lease, 864_000).with_clock(clock.clock());
    clock.set("2026-06-01T07:30:00Z");
    assert_eq!(pass(&a2).await, 0);
    assert_eq!(
        ns.hpa_version("web").await,
        raised_version,
        "no second write"
    );
    assert_eq!(schedule_status(&ns.rec("web-hpa").await).floor, 6);

    // The leader dies; a standby takes over after the lease expires, after
    // the window ended while no leader was up: it restores the floor once.
    drop(a2);
    let b =
        operator(&ns, "op-b", source("web", healthy()), lease, 864_000).with_clock(clock.clock());
    clock.set("2026-06-01T08:20:00Z");
    let mut restored = 0;
    for _ in 0..20 {
        let r = b.reconcile_recommendations().await.expect("standby pass");
        restored += r.pass.workload_writes;
        if r.leader {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(
        restored, 1,
        "the new leader restores the floor exactly once"
    );
    assert_eq!(min_replicas(&ns, "web").await, 2);
    let s = schedule_status(&ns.rec("web-hpa").await);
    assert_eq!((s.floor, s.active_window.as_deref()), (2, None));
    assert_eq!(s.next_transition.as_deref(), Some("2026-06-02T06:55:00Z"));
    assert!(ns
        .event_reasons("ScalingRecommendation")
        .await
        .contains(&"ScheduleFloorRestored".to_string()));
    let version = ns.hpa_version("web").await;
    assert_eq!(pass(&b).await, 0);
    assert_eq!(ns.hpa_version("web").await, version);

    // An operator that raised the floor and stopped before recording it:
    // the next pass records it without writing again.
    clock.set("2026-06-02T07:00:00Z");
    // (The operator writes the floor and its marker in one patch.)
    ns.hpas()
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&json!({
                "metadata": {"annotations": {"stepscale.io/schedule-floor": "{\"baseline\":2,\"floor\":6}"}},
                "spec": {"minReplicas": 6}
            })),
        )
        .await
        .expect("raise as the stopped operator did");
    let version = ns.hpa_version("web").await;
    assert_eq!(pass(&b).await, 0);
    assert_eq!(ns.hpa_version("web").await, version);
    let rec = ns.rec("web-hpa").await;
    assert_eq!(schedule_status(&rec).floor, 6);
    assert_eq!(
        rec.phase(),
        Phase::Applied,
        "not drift: the schedule's own floor"
    );

    // The recommendation is deleted inside the window: the next tick's
    // pass puts the baseline back (the HPA it listed carried the floor's
    // marker, so it reads the HPA again and undoes it), once.
    assert!(ns
        .hpas()
        .get("web")
        .await
        .expect("get")
        .metadata
        .annotations
        .is_some_and(|a| a.contains_key("stepscale.io/schedule-floor")));
    ns.recs()
        .delete("web-hpa", &DeleteParams::default())
        .await
        .expect("delete the recommendation");
    let r = b.tick().await.expect("tick");
    assert_eq!((r.pass.errors, r.pass.workload_writes), (0, 1), "{r:?}");
    assert_eq!(min_replicas(&ns, "web").await, 2);
    let hpa = ns.hpas().get("web").await.expect("get");
    assert!(!hpa
        .metadata
        .annotations
        .unwrap_or_default()
        .contains_key("stepscale.io/schedule-floor"));
    assert_eq!(pass(&b).await, 0, "nothing left to undo");
    let r = b.tick().await.expect("tick");
    assert_eq!(
        (r.pass.errors, r.pass.workload_writes),
        (0, 0),
        "nothing left to undo: {r:?}"
    );
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_changing_min_replicas_during_a_window_is_drift_and_is_not_overwritten() {
    let Some(client) = cluster("schedule-drift").await else {
        return;
    };
    let (ns, clock, op) = hpa_with_schedule(
        client,
        "sched-drift",
        "UTC",
        json!([window("09:00", "10:00", 5)]),
        "2026-06-01T09:10:00Z",
    )
    .await;
    // Approved inside the window: the floor goes up at once.
    assert_eq!(pass(&op).await, 1);
    assert_eq!(min_replicas(&ns, "web").await, 5);
    set_min_replicas(&ns, "web", 9).await;
    clock.set("2026-06-01T09:20:00Z");
    pass(&op).await;
    let rec = ns.rec("web-hpa").await;
    assert_eq!(rec.phase(), Phase::Degraded);
    assert!(detail(&rec).contains("minReplicas"), "{}", detail(&rec));
    // The window ends: the person's value stays.
    clock.set("2026-06-01T10:05:00Z");
    assert_eq!(pass(&op).await, 0);
    assert_eq!(min_replicas(&ns, "web").await, 9);
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_berlin_window_moves_an_hour_earlier_in_utc_across_the_spring_change() {
    let Some(client) = cluster("schedule-dst").await else {
        return;
    };
    // Berlin goes from UTC+1 to UTC+2 on 2026-03-29 at 01:00 UTC.
    let (ns, clock, op) = hpa_with_schedule(
        client,
        "sched-dst",
        "Europe/Berlin",
        json!([window("08:55", "10:00", 6)]),
        "2026-03-28T07:00:00Z",
    )
    .await;
    let mut seen = Vec::new();
    for (at, floor) in [
        ("2026-03-28T07:00:00Z", 2), // 08:00 CET
        ("2026-03-28T07:56:00Z", 6), // 08:56 CET
        ("2026-03-28T09:01:00Z", 2), // 10:01 CET
        ("2026-03-29T06:54:00Z", 2), // 08:54 CEST
        ("2026-03-29T06:56:00Z", 6), // 08:56 CEST
        ("2026-03-29T07:56:00Z", 6), // 09:56 CEST (08:56 CET would have been the old start)
        ("2026-03-29T08:00:00Z", 2), // 10:00 CEST
    ] {
        clock.set(at);
        pass(&op).await;
        let got = min_replicas(&ns, "web").await;
        seen.push((at, got));
        assert_eq!(got, floor, "at {at}: {seen:?}");
        if at == "2026-03-28T09:01:00Z" {
            let s = schedule_status(&ns.rec("web-hpa").await);
            assert_eq!(s.next_transition.as_deref(), Some("2026-03-29T06:55:00Z"));
        }
    }
    ns.cleanup().await;
}

async fn worker_scaled_object(ns: &TestNamespace, name: &str) -> kube::Api<DynamicObject> {
    let scalers = dynamic(ns, "test.stepscale.io/v1", "Scaler", "scalers");
    if scalers.get_opt("workers").await.ok().flatten().is_none() {
        let scaler: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "test.stepscale.io/v1", "kind": "Scaler",
            "metadata": {"name": "workers"}, "spec": {"replicas": 2}
        }))
        .expect("scaler");
        scalers
            .create(&PostParams::default(), &scaler)
            .await
            .expect("create the Scaler");
    }
    let sos = dynamic(ns, "keda.sh/v1alpha1", "ScaledObject", "scaledobjects");
    let so: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "test.stepscale.io/v1", "kind": "Scaler", "name": "workers"},
            "minReplicaCount": 2, "maxReplicaCount": 20,
            "triggers": [
                {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}},
                {"type": "cron", "name": "nightly-batch", "metadata": {"timezone": "UTC", "start": "0 1 * * *", "end": "0 2 * * *", "desiredReplicas": "8"}}
            ]
        }
    }))
    .expect("scaled object");
    sos.create(&PostParams::default(), &so)
        .await
        .expect("create the ScaledObject");
    sos
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaled_object_gains_one_cron_trigger_per_window_and_loses_exactly_them() {
    let Some(client) = cluster("schedule-keda").await else {
        return;
    };
    install_keda_and_scaler_crds(&client).await;
    let ns = TestNamespace::new(client, "sched-keda").await;
    let sos = worker_scaled_object(&ns, "worker").await;
    let before = sos.get("worker").await.expect("get").data["spec"].clone();
    let windows = json!([window("08:55", "10:00", 6), {"dayOfWeek": 4, "start": "22:00", "end": "01:00", "replicaFloor": 4}]);
    scheduled_rec(
        &ns,
        "worker-so",
        "ScaledObject",
        "worker",
        2,
        "America/New_York",
        windows,
    )
    .await;
    let clock = TestClock::at("2026-06-01T12:00:00Z");
    // Degraded probation health: the schedule is rolled back after probation.
    let op = operator(&ns, "op-a", source("worker", degraded()), 6, 7200).with_clock(clock.clock());
    assert_eq!(pass(&op).await, 1);
    let spec = sos.get("worker").await.expect("get").data["spec"].clone();
    let triggers = spec["triggers"].as_array().expect("triggers").clone();
    assert_eq!(triggers.len(), 4, "{triggers:?}");
    assert_eq!(
        triggers[..2],
        before["triggers"].as_array().expect("triggers")[..],
        "the user's triggers are untouched"
    );
    assert_eq!(triggers[2]["type"], "cron");
    assert_eq!(triggers[2]["name"], "stepscale-schedule-0");
    assert_eq!(
        triggers[2]["metadata"],
        json!({"timezone": "America/New_York", "start": "55 8 * * *", "end": "0 10 * * *", "desiredReplicas": "6"})
    );
    // Friday 22:00 to Saturday 01:00 (cron counts from Sunday = 0).
    assert_eq!(triggers[3]["metadata"]["start"], "0 22 * * 5");
    assert_eq!(triggers[3]["metadata"]["end"], "0 1 * * 6");
    let s = schedule_status(&ns.rec("worker-so").await);
    assert_eq!(s.triggers, ["stepscale-schedule-0", "stepscale-schedule-1"]);
    assert_eq!(s.baseline, 2);
    // 08:55 in New York (UTC-4 in June) is 12:55 UTC.
    assert_eq!(s.next_transition.as_deref(), Some("2026-06-01T12:55:00Z"));
    // KEDA moves the floor; the operator reports the window.
    clock.set("2026-06-01T13:00:00Z");
    assert_eq!(pass(&op).await, 0);
    let s = schedule_status(&ns.rec("worker-so").await);
    assert_eq!(
        (s.floor, s.active_window.as_deref()),
        (6, Some("08:55–10:00 ≥6"))
    );

    // Probation over, degraded: rolled back to exactly the spec before.
    clock.set("2026-06-01T14:00:00Z");
    assert_eq!(pass(&op).await, 1);
    let rec = ns.rec("worker-so").await;
    assert_eq!(rec.phase(), Phase::RolledBack);
    assert!(rec
        .status
        .as_ref()
        .and_then(|s| s.schedule.as_ref())
        .is_none());
    assert_eq!(sos.get("worker").await.expect("get").data["spec"], before);

    // Deleting an applied recommendation removes exactly its triggers.
    let sos = worker_scaled_object(&ns, "batch").await;
    let before = sos.get("batch").await.expect("get").data["spec"].clone();
    scheduled_rec(
        &ns,
        "batch-so",
        "ScaledObject",
        "batch",
        2,
        "UTC",
        json!([window("07:00", "08:00", 3)]),
    )
    .await;
    let op =
        operator(&ns, "op-a", source("batch", healthy()), 6, 864_000).with_clock(clock.clock());
    assert_eq!(pass(&op).await, 1);
    assert_eq!(
        sos.get("batch").await.expect("get").data["spec"]["triggers"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    ns.recs()
        .delete("batch-so", &DeleteParams::default())
        .await
        .expect("delete the recommendation");
    assert_eq!(pass(&op).await, 1);
    assert_eq!(sos.get("batch").await.expect("get").data["spec"], before);
    assert_eq!(pass(&op).await, 0, "nothing left to remove");
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_that_raised_its_peak_is_rolled_back_and_one_that_lowered_it_is_verified() {
    let Some(client) = cluster("schedule-verify").await else {
        return;
    };
    let ns = TestNamespace::new(client, "sched-verify").await;
    // The history (today's config): 30 min/day over target inside 09:00-10:00
    // UTC, 69 replica-hours/day outside.
    let history = json!({"overTargetMinutesPerDay": 30.0, "saturatedMinutesPerDay": 5.0,
        "replicaHoursPerDayOutside": 69.0});
    for name in ["bad", "good"] {
        ns.deployment(name, 2).await;
        ns.hpa(name, name, 2, 20, 70).await;
        scheduled_rec_with_history(
            &ns,
            &format!("{name}-hpa"),
            "HorizontalPodAutoscaler",
            name,
            2,
            "UTC",
            json!([window("09:00", "10:00", 6)]),
            history.clone(),
        )
        .await;
    }
    // One probation day at 15 minutes, 3 replicas. "bad": 90 % CPU for the
    // whole window hour (4 of 96 samples: the general health rule passes),
    // 40 % elsewhere. "good": 50 % all day.
    let bad: Vec<f64> = (0..96)
        .map(|i| if (36..40).contains(&i) { 90.0 } else { 40.0 })
        .collect();
    let source = Arc::new(
        SeriesSource::default()
            .with_health("bad", bad)
            .with_health("good", vec![50.0; 96]),
    );
    let clock = TestClock::at("2026-06-01T00:00:00Z");
    let op = operator(&ns, "op-a", source, 6, 86_400).with_clock(clock.clock());
    assert_eq!(
        pass(&op).await,
        0,
        "approved outside the window: nothing to raise"
    );
    assert_eq!(ns.rec("bad-hpa").await.phase(), Phase::Applied);
    clock.set("2026-06-02T00:00:00Z");
    pass(&op).await;
    let bad = ns.rec("bad-hpa").await;
    assert_eq!(bad.phase(), Phase::RolledBack);
    let said = detail(&bad);
    assert!(
        said.contains("hurt at its peaks")
            && said.contains("60.0 min/day over target")
            && said.contains("vs 30.0 and 5.0 in the history"),
        "{said}"
    );
    assert_eq!(min_replicas(&ns, "bad").await, 2);
    let good = ns.rec("good-hpa").await;
    assert_eq!(good.phase(), Phase::Verified);
    let said = detail(&good);
    assert!(said.contains("the schedule helped at its peaks"), "{said}");
    ns.cleanup().await;
}
