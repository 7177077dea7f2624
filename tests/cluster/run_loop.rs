//! The operator's run loop as deployed: HTTP endpoints, the first tick, an
//! approval acted on between ticks (through the watch), and a clean
//! shutdown that releases the lease.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stepscale_operator::crd::phase::Phase;
use stepscale_operator::license::LicenseState;
use stepscale_operator::operator::controller::Operator;
use stepscale_operator::operator::http::{self, HttpState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{analyzer, cluster, eventually, healthy, week, SeriesSource, TestNamespace};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return String::new();
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_loop_serves_health_and_applies_an_approval_between_ticks() {
    let Some(client) = cluster("run-loop").await else {
        return;
    };
    let ns = TestNamespace::new(client, "runloop").await;
    ns.deployment("web", 4).await;
    ns.hpa("web", "web", 4, 20, 60).await;
    let source = Arc::new(
        SeriesSource::default()
            .with_history("web", week(), 4.0)
            .with_health("web", healthy()),
    );
    let mut config = ns.config("op-a", 90, 600);
    // Ticks far apart: only the watch can make the approval take effect soon.
    config.interval = Duration::from_secs(30);
    let op = Operator::new(
        ns.client.clone(),
        config,
        analyzer(),
        LicenseState::Licensed,
    )
    .with_history(source.clone())
    .with_health(source);
    let state = HttpState {
        metrics: op.context().metrics.clone(),
        ready: op.context().ready.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(http::serve(listener, state));
    assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(op.run(async {
        let _ = stopped.await;
    }));
    eventually(
        "/readyz after the first tick",
        Duration::from_secs(60),
        || async { get(addr, "/readyz").await.starts_with("HTTP/1.1 200") },
    )
    .await;
    eventually("the recommendation", Duration::from_secs(30), || async {
        ns.recs().get_opt("web-hpa").await.ok().flatten().is_some()
    })
    .await;
    let approved_at = Instant::now();
    ns.approve("web-hpa").await;
    eventually(
        "the apply after approval",
        Duration::from_secs(20),
        || async { ns.rec("web-hpa").await.phase() == Phase::Applied },
    )
    .await;
    assert!(
        approved_at.elapsed() < Duration::from_secs(25),
        "acted on before the next tick"
    );
    // The phase gauge is set after the pass that wrote the status, so the
    // scrape may briefly lag the recommendation it counts: wait for it.
    eventually(
        "the metrics to count the apply",
        Duration::from_secs(10),
        || async {
            let m = get(addr, "/metrics").await;
            m.contains("stepscale_applies_total{result=\"ok\"} 1")
                && m.contains("stepscale_recommendations{phase=\"applied\"} 1")
        },
    )
    .await;
    let metrics = get(addr, "/metrics").await;
    assert!(
        metrics.contains("stepscale_rule_evaluation_seconds_count"),
        "{metrics}"
    );

    let _ = stop.send(());
    running.await.expect("the loop ends").expect("cleanly");
    server.abort();
    let lease: k8s_openapi::api::coordination::v1::Lease =
        kube::Api::namespaced(ns.client.clone(), &ns.name)
            .get("stepscale-autoscaler-leader")
            .await
            .expect("lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        None,
        "released on shutdown"
    );
    ns.cleanup().await;
}
