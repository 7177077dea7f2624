//! The LLM pass in the operator's tick: the review lands in the
//! ScalingRecommendation beside the engine's judgment, `kubectl get
//! scalerec -o wide` shows it, and an unchanged candidate is not judged
//! again on the next tick.
//!
//! Test double: the model is a local HTTP server that answers every request
//! with one fixed OpenAI Chat Completions response (no LLM server with a
//! model small enough for CI can be installed here); it counts the calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use stepscale_operator::license::LicenseState;
use stepscale_operator::operator::controller::Operator;
use stepscale_operator::review::{ApiKey, LlmConfig, Provider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{analyzer, cluster, week, SeriesSource, TestNamespace};
use crate::node::sh;

/// Serve one fixed chat completion on a free loopback port; count requests.
async fn model(answer: serde_json::Value) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let calls = Arc::new(AtomicUsize::new(0));
    let body = json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.to_string()}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1500, "completion_tokens": 90}
    })
    .to_string();
    let counted = calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            let counted = counted.clone();
            tokio::spawn(async move {
                // Read the request head and its body (Content-Length).
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (addr, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_is_stored_beside_the_engines_and_an_unchanged_candidate_is_not_judged_again() {
    let Some(client) = cluster("llm").await else {
        return;
    };
    let ns = TestNamespace::new(client, "llm").await;
    ns.deployment("web", 4).await;
    ns.hpa("web", "web", 4, 20, 60).await;
    let (addr, calls) = model(json!({
        "verdict": "caution",
        "riskLevel": "medium",
        "summary": "The floor cut is backed by the idle hours; watch the morning ramp.",
        "reasons": ["idle hours per day", "saturation +0.0 min/day on held-out days"]
    }))
    .await;
    let mut config = ns.config("op-llm", 60, 600);
    config.llm_provider = "openai".into();
    config.llm = Some(LlmConfig {
        provider: Provider::OpenAi,
        base_url: format!("http://{addr}/v1"),
        model: "test-model".into(),
        timeout: Duration::from_secs(10),
        max_tokens: 600,
        temperature: 0.0,
        max_calls_per_tick: 20,
        concurrency: 2,
        budget: Duration::from_secs(30),
        api_key: ApiKey::new("sk-cluster-test-key-0123456789"),
    });
    let source = Arc::new(SeriesSource::default().with_history("web", week(), 4.0));
    let op = Operator::new(
        ns.client.clone(),
        config,
        analyzer(),
        LicenseState::Licensed,
    )
    .with_history(source)
    .without_events();

    op.tick().await.expect("first tick");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one candidate, one call");
    let rec = ns.rec("web-hpa").await;
    let spec = serde_json::to_value(&rec.spec).expect("spec");
    let review = &spec["llmReview"];
    assert_eq!(review["verdict"], "caution");
    assert_eq!(review["provider"], "openai");
    assert_eq!(review["model"], "test-model");
    assert!(review["payloadSha256"]
        .as_str()
        .is_some_and(|s| s.len() == 64));
    // The engine's judgment is kept, labelled; the risk is at least medium.
    let engine_risk = review["engineRiskLevel"].as_str().expect("engine risk");
    assert!(["low", "medium", "high"].contains(&engine_risk));
    assert_ne!(spec["riskLevel"], "low");
    assert_eq!(spec["approved"], false);
    assert!(!spec.to_string().contains("sk-cluster-test-key"));

    // The next tick: the same candidate, answered from the cache.
    op.tick().await.expect("second tick");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "not judged again");
    let metrics = op.context().metrics.encode();
    assert!(metrics.contains("stepscale_llm_calls_total 1"), "{metrics}");
    assert!(
        metrics.contains("stepscale_llm_cache_hits_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("stepscale_llm_tokens_total{direction=\"in\"} 1500"),
        "{metrics}"
    );
    assert!(!metrics.contains("sk-cluster-test-key"));

    // `kubectl get scalerec -o wide` shows the verdict.
    let (ok, out) = sh(
        "kubectl",
        &["get", "scalerec", "-n", &ns.name, "-o", "wide"],
    );
    assert!(ok, "{out}");
    let header = out.lines().next().unwrap_or_default();
    assert!(header.contains("LLM"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("web-hpa") && l.contains("caution")),
        "{out}"
    );
    ns.cleanup().await;
}
