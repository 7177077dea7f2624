//! Leader election between operator instances: only the leader writes, and
//! a standby that takes over from a killed leader does not apply twice.

use std::sync::Arc;
use std::time::Duration;

use stepscale_operator::crd::phase::Phase;

use crate::common::{cluster, healthy, logs, operator, week, SeriesSource, TestNamespace};

fn source() -> Arc<SeriesSource> {
    Arc::new(
        SeriesSource::default()
            .with_history("web", week(), 4.0)
            .with_health("web", healthy()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_both_write() {
    let Some(client) = cluster("two-leaders").await else {
        return;
    };
    let ns = TestNamespace::new(client, "leaders").await;
    ns.deployment("web", 4).await;
    ns.hpa("web", "web", 4, 20, 60).await;
    let a = operator(&ns, "op-a", source(), 6, 600);
    let b = operator(&ns, "op-b", source(), 6, 600);
    let (mut writes_a, mut writes_b, mut applied) = (0, 0, 0);
    for round in 0..4 {
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        let (ra, rb) = (ra.expect("tick a"), rb.expect("tick b"));
        assert!(
            !(ra.leader && rb.leader),
            "round {round}: both instances led"
        );
        writes_a += ra.writes;
        writes_b += rb.writes;
        applied += ra.pass.applied + rb.pass.applied;
        if round == 1 {
            ns.approve("web-hpa").await;
        }
    }
    assert!(
        (writes_a == 0) != (writes_b == 0),
        "exactly one instance writes: a wrote {writes_a}, b wrote {writes_b}"
    );
    assert_eq!(applied, 1, "the change was applied exactly once");
    assert_eq!(ns.rec("web-hpa").await.phase(), Phase::Applied);
    assert!(logs().contains("not leader; skipping mutating pass"));
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_from_a_killed_leader_without_a_double_apply() {
    let Some(client) = cluster("takeover").await else {
        return;
    };
    let ns = TestNamespace::new(client, "takeover").await;
    ns.deployment("web", 4).await;
    ns.hpa("web", "web", 4, 20, 60).await;
    let lease = 4;
    let a = operator(&ns, "op-a", source(), lease, 6);
    let b = operator(&ns, "op-b", source(), lease, 6);
    assert!(a.tick().await.expect("tick a").leader);
    ns.approve("web-hpa").await;
    let ra = a.tick().await.expect("apply tick");
    assert_eq!(ra.pass.applied, 1);
    let version_after_apply = ns.hpa_version("web").await;
    // The leader dies without releasing its lease.
    drop(a);

    let rb = b.tick().await.expect("standby tick");
    assert!(!rb.leader, "the lease has not expired yet");
    assert_eq!(rb.writes, 0);
    let mut took_over = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rb = b.tick().await.expect("standby tick");
        assert_eq!(rb.pass.applied, 0, "the standby must not apply again");
        if rb.leader {
            took_over = true;
            break;
        }
    }
    assert!(took_over, "the standby took over after the lease expired");
    assert_eq!(
        ns.hpa_version("web").await,
        version_after_apply,
        "no second write to the HPA"
    );
    assert_eq!(ns.rec("web-hpa").await.phase(), Phase::Applied);

    // The new leader carries on with verification.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let rb = b.tick().await.expect("verify tick");
    assert_eq!(rb.pass.verified, 1, "{rb:?}");
    assert_eq!(rb.pass.applied, 0);
    assert_eq!(ns.hpa_version("web").await, version_after_apply);
    ns.cleanup().await;
}

/// The Lease's holder, if any.
async fn holder(ns: &TestNamespace) -> Option<String> {
    let api: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(ns.client.clone(), &ns.name);
    api.get_opt("stepscale-autoscaler-leader")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

/// How long until `who` holds the Lease (`None` past `limit`).
async fn time_until_held_by(ns: &TestNamespace, who: &str, limit: Duration) -> Option<Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if holder(ns).await.as_deref() == Some(who) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Run an operator's loop until the returned sender fires (a graceful
/// shutdown) or its task is aborted (a crash: nothing is released).
fn run(
    ns: &TestNamespace,
    identity: &str,
    lease_seconds: u64,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), stepscale_operator::operator::controller::ControllerError>>,
) {
    let mut config = ns.config(identity, lease_seconds, 600);
    // Ticks far apart: a takeover must not wait for one.
    config.interval = Duration::from_secs(300);
    let src = source();
    let op = stepscale_operator::operator::controller::Operator::new(
        ns.client.clone(),
        config,
        crate::common::analyzer(),
        stepscale_operator::license::LicenseState::Licensed,
    )
    .with_history(src.clone())
    .with_health(src);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(op.run(async {
        let _ = stopped.await;
    }));
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_the_lease_within_seconds_of_a_release_and_a_lease_after_a_crash() {
    let Some(client) = cluster("failover").await else {
        return;
    };
    let ns = TestNamespace::new(client, "failover").await;
    ns.deployment("web", 4).await;
    ns.hpa("web", "web", 4, 20, 60).await;
    let lease = 6;
    let (stop_a, a) = run(&ns, "op-a", lease);
    assert!(
        time_until_held_by(&ns, "op-a", Duration::from_secs(30))
            .await
            .is_some(),
        "op-a leads"
    );
    let (stop_b, b) = run(&ns, "op-b", lease);
    // Give op-b its first tick; it stays a follower while op-a renews.
    tokio::time::sleep(Duration::from_secs(u64::from(lease as u32) + 2)).await;
    assert_eq!(
        holder(&ns).await.as_deref(),
        Some("op-a"),
        "op-a renews on its own"
    );

    // Graceful: op-a releases the lease on shutdown; op-b takes it within
    // its retry period, not at its next tick (300 s away).
    let released = std::time::Instant::now();
    let _ = stop_a.send(());
    a.await.expect("op-a ends").expect("cleanly");
    let graceful = time_until_held_by(&ns, "op-b", Duration::from_secs(20))
        .await
        .map(|_| released.elapsed())
        .expect("op-b takes the released lease");
    println!(
        "failover after a graceful shutdown: {:.1} s",
        graceful.as_secs_f64()
    );
    assert!(graceful < Duration::from_secs(5), "{graceful:?}");

    // Crash: op-b's task is aborted without releasing; a third candidate
    // takes over once the record has stood still for a lease duration.
    let (stop_c, c) = run(&ns, "op-c", lease);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(holder(&ns).await.as_deref(), Some("op-b"));
    let crashed = std::time::Instant::now();
    b.abort();
    let _ = stop_b;
    let crash = time_until_held_by(&ns, "op-c", Duration::from_secs(60))
        .await
        .map(|_| crashed.elapsed())
        .expect("op-c takes the expired lease");
    println!(
        "failover after a crash: {:.1} s (lease {lease} s)",
        crash.as_secs_f64()
    );
    assert!(
        crash <= Duration::from_secs(lease + 4),
        "within a lease duration and a retry: {crash:?}"
    );
    let _ = stop_c.send(());
    c.await.expect("op-c ends").expect("cleanly");
    ns.cleanup().await;
}
