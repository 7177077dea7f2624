//! With the recommendations watched (as `Operator::run` does), a pass reads
//! them from memory: no LIST of recommendations per tick, a pass right
//! after its own writes sees them, and a change a person makes reaches the
//! next pass.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stepscale_operator::license::LicenseState;
use stepscale_operator::operator::controller::Operator;

use crate::common::{analyzer, cluster, eventually, TestNamespace};

const N: usize = 3;

/// Requests to recommendations this client sent, by kind: `list` (a GET of
/// the collection without `watch`), `watch`, `get`, `write`.
#[derive(Default)]
struct RecommendationRequests(Mutex<BTreeMap<&'static str, u64>>);

impl RecommendationRequests {
    fn count(&self, method: &str, uri: &http::Uri) {
        let path = uri.path();
        if !path.contains("/scalingrecommendations") {
            return;
        }
        let collection = path.ends_with("/scalingrecommendations");
        let watch = uri.query().is_some_and(|q| q.contains("watch=true"));
        let kind = match (method, collection, watch) {
            ("GET", true, true) => "watch",
            ("GET", true, false) => "list",
            ("GET", false, _) => "get",
            _ => "write",
        };
        if let Ok(mut m) = self.0.lock() {
            *m.entry(kind).or_default() += 1;
        }
    }

    fn take(&self) -> BTreeMap<&'static str, u64> {
        self.0
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_operator_reads_recommendations_from_memory_and_sees_its_own_writes() {
    let Some(client) = cluster("watched").await else {
        return;
    };
    let ns = TestNamespace::new(client, "watched").await;
    let names: Vec<String> = (0..N).map(|i| format!("w{i}")).collect();
    let series = Arc::new(ns.healthy_workloads(&names).await);
    let requests = Arc::new(RecommendationRequests::default());
    let counted = requests.clone();
    let counting =
        kube::client::ClientBuilder::try_from(kube::Config::infer().await.expect("kubeconfig"))
            .expect("client")
            .with_layer(&tower::util::MapRequestLayer::new(
                move |req: http::Request<kube::client::Body>| {
                    counted.count(req.method().as_str(), req.uri());
                    req
                },
            ))
            .build();
    let op = Operator::new(
        counting,
        ns.config("op", 30, 600),
        analyzer(),
        LicenseState::Licensed,
    )
    .with_history(series.clone())
    .with_health(series);
    assert!(!op.recommendations_watched(), "nothing watched yet");
    let watches = op.watch_recommendations(Arc::new(tokio::sync::Notify::new()));
    eventually("the watch lists once", Duration::from_secs(20), || async {
        op.recommendations_watched()
    })
    .await;
    requests.take();

    let report = op.tick().await.expect("tick 1");
    assert_eq!(report.published.created, N, "{report:?}");
    assert_eq!(report.pass.errors, 0, "{report:?}");
    let sent = requests.take();
    assert_eq!(sent.get("list"), None, "tick 1 listed: {sent:?}");
    // The pass's count per phase is read after its writes: it waited for
    // the watch to deliver the N creates.
    let metrics = op.context().metrics.encode();
    assert!(
        metrics.contains(&format!(
            "stepscale_recommendations{{phase=\"pending\"}} {N}"
        )),
        "phase counts after tick 1:\n{}",
        metrics
            .lines()
            .filter(|l| l.starts_with("stepscale_recommendations{"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // At once: the next tick finds every recommendation it just created
    // (no create again, which the API would refuse) and lists nothing.
    let report = op.tick().await.expect("tick 2");
    assert_eq!(report.published.created, 0, "{report:?}");
    assert_eq!(report.published.updated, 0, "{report:?}");
    assert_eq!(report.pass.errors, 0, "{report:?}");
    let sent = requests.take();
    assert_eq!(sent.get("list"), None, "tick 2 listed: {sent:?}");
    assert_eq!(sent.get("write"), None, "tick 2 wrote: {sent:?}");

    // A person approves one; a pass applies it from what the watch
    // delivered (in `run`, the watch's event wakes that pass).
    ns.approve("w0-hpa").await;
    let applied = Mutex::new(0);
    eventually(
        "a pass applies the approval",
        Duration::from_secs(20),
        || async {
            let report = op.reconcile_recommendations().await.expect("pass");
            assert_eq!(report.pass.errors, 0, "{report:?}");
            *applied.lock().expect("count") += report.pass.applied;
            report.pass.applied > 0
        },
    )
    .await;
    assert_eq!(*applied.lock().expect("count"), 1);
    assert_eq!(
        requests.take().get("list"),
        None,
        "the passes read the approval from the watch"
    );
    assert_eq!(
        ns.rec("w0-hpa").await.phase(),
        stepscale_operator::crd::phase::Phase::Applied
    );
    drop(watches);
    ns.cleanup().await;
}
