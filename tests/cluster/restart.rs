//! HPA-status history across restarts and failovers: without Prometheus the
//! operator's history is the samples it read from HPA status, one a tick.
//! The leader saves them into each recommendation's `status.history`; an
//! operator that starts later (a restarted pod, a standby that takes over)
//! reads them back before its first analysis.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::json;

use stepscale_operator::history::hpa_status::StatusSample;
use stepscale_operator::history::source::{ClusterHistory, HistorySource};
use stepscale_operator::history::HistoryKey;
use stepscale_operator::license::LicenseState;
use stepscale_operator::operator::controller::Operator;

use crate::common::{analyzer, cluster, logs, week, TestNamespace};

/// The tick interval the samples are taken at, seconds.
const TICK: i64 = 300;

/// What an HPA (4..20 replicas, 60 % CPU target) reports on each tick of
/// the first half of a real NAB week: whole-percent CPU as HPA status
/// gives it, and the replicas that utilization asks for.
fn half_week(end: i64) -> Vec<StatusSample> {
    let cpu = week();
    let n = cpu.len() / 2;
    cpu.iter()
        .take(n)
        .enumerate()
        .map(|(i, c)| {
            let replicas = (4.0 * c / 60.0).ceil().clamp(4.0, 20.0);
            StatusSample {
                at_unix_seconds: end - (n - 1 - i) as i64 * TICK,
                cpu_utilization: Some(c.round()),
                desired_replicas: replicas,
                current_replicas: replicas,
            }
        })
        .collect()
}

fn operator(
    ns: &TestNamespace,
    identity: &str,
    history: Arc<ClusterHistory>,
    clock: Arc<AtomicI64>,
    lease_seconds: u64,
) -> Operator {
    Operator::new(
        ns.client.clone(),
        ns.config(identity, lease_seconds, 600),
        analyzer(),
        LicenseState::Licensed,
    )
    .with_history(history)
    .with_clock(Arc::new(move || clock.load(Ordering::SeqCst)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_operator_and_a_standby_that_takes_over_analyze_with_the_history_it_had() {
    let Some(client) = cluster("restart-history").await else {
        return;
    };
    let ns = TestNamespace::new(client, "restart").await;
    ns.deployment("web", 4).await;
    ns.hpa("web", "web", 4, 20, 60).await;
    let key = HistoryKey {
        namespace: ns.name.clone(),
        autoscaler: "web".into(),
        target_kind: "Deployment".into(),
        target_name: "web".into(),
    };

    // The first operator has run for half a week (its samples, one a tick),
    // then ticks: it analyzes, writes the recommendation and saves the
    // samples into it.
    let start = 1_764_547_200 + 3 * 86_400;
    let clock = Arc::new(AtomicI64::new(start));
    let first = Arc::new(ClusterHistory::new(None, TICK as u32));
    for s in half_week(start - TICK) {
        first.record(&key, s);
    }
    let a = operator(&ns, "op-a", first.clone(), clock.clone(), 3);
    let ra = a.tick().await.expect("tick a");
    assert!(ra.leader, "the only instance leads");
    assert_eq!(ra.analyzed, 1, "{ra:?}");
    assert_eq!(ra.published.created, 1, "{ra:?}");
    assert_eq!(ra.checkpoints, 1, "the samples are saved: {ra:?}");
    let had = first.samples(&key);
    let saved = ns.rec("web-hpa").await;
    let checkpoint = saved
        .status
        .as_ref()
        .and_then(|s| s.history.clone())
        .expect("status.history is written");
    assert_eq!(checkpoint.samples as usize, had.len());
    let spec_before = saved.spec.clone();

    // A standby starts now, with nothing in memory: its first (follower)
    // tick reads the samples back and analyzes with them.
    clock.fetch_add(TICK, Ordering::SeqCst);
    let second = Arc::new(ClusterHistory::new(None, TICK as u32));
    let b = operator(&ns, "op-b", second.clone(), clock.clone(), 3);
    let rb = b.tick().await.expect("tick b");
    assert!(!rb.leader, "a leads still");
    assert_eq!(
        rb.analyzed, 1,
        "the standby analyzes on its first tick instead of waiting for history: {rb:?}"
    );
    let restored = second.samples(&key);
    assert!(
        restored.len() > had.len(),
        "the standby holds every saved sample and its own: {} of {}",
        restored.len(),
        had.len()
    );
    assert_eq!(restored[..had.len()], had[..], "the same samples, exactly");
    assert!(logs().contains("restored HPA-status history from recommendations"));

    // The leader goes away; once its lease lapses the standby leads and
    // keeps the recommendation (the same analysis, not a stale one).
    drop(a);
    tokio::time::sleep(Duration::from_secs(4)).await;
    clock.fetch_add(TICK, Ordering::SeqCst);
    let rb = b.tick().await.expect("tick b as leader");
    assert!(rb.leader, "the standby took over: {rb:?}");
    assert_eq!(rb.analyzed, 1, "{rb:?}");
    assert_eq!(rb.published.removed, 0, "nothing deleted as stale: {rb:?}");
    let kept = ns.rec("web-hpa").await;
    assert_eq!(
        kept.spec.recommendation.proposed, spec_before.recommendation.proposed,
        "the same proposal after the failover"
    );

    // A damaged checkpoint (edited by hand, cut short) is reported and
    // ignored: the operator that reads it starts that history afresh, it
    // neither crashes nor writes anything to the HPA.
    drop(b);
    let hpa_version = ns.hpa_version("web").await;
    ns.recs()
        .patch_status(
            "web-hpa",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"history": {"data": "gA=="}}})),
        )
        .await
        .expect("damage the checkpoint");
    tokio::time::sleep(Duration::from_secs(4)).await;
    clock.fetch_add(TICK, Ordering::SeqCst);
    let third = Arc::new(ClusterHistory::new(None, TICK as u32));
    let c = operator(&ns, "op-c", third.clone(), clock.clone(), 3);
    let rc = c
        .tick()
        .await
        .expect("a damaged checkpoint does not fail the tick");
    assert_eq!(
        rc.analyzed, 0,
        "nothing was restored, so the history starts afresh: {rc:?}"
    );
    assert!(third.samples(&key).len() <= 1);
    assert!(logs().contains("ignoring the saved HPA-status history"));
    assert_eq!(
        ns.hpa_version("web").await,
        hpa_version,
        "the HPA is untouched"
    );
    ns.cleanup().await;
}
