//! Leader election between operator instances: only the leader writes, and
//! a standby that takes over from a killed leader does not apply twice.

use std::sync::Arc;
use std::time::Duration;

use stepscale_operator::lifecycle::phase::Phase;

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
