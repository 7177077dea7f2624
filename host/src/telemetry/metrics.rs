//! The operator's Prometheus metric families, served on `/metrics` by
//! [`crate::operator::http`]. Labels are low-cardinality (phase, result, error kind);
//! no object names.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::crd::phase::{Phase, ALL_PHASES};

/// Label set: a list of `(name, value)` pairs.
pub type Labels = Vec<(String, String)>;

/// The metric families.
pub struct Metrics {
    registry: Registry,
    /// `stepscale_reconcile_ticks_total{leader}`: reconcile ticks run.
    pub ticks: Family<Labels, Counter>,
    /// `stepscale_recommendations{phase}`: recommendations per phase, as of
    /// the last leader tick.
    pub recommendations: Family<Labels, Gauge<i64, std::sync::atomic::AtomicI64>>,
    /// `stepscale_autoscalers{state}`: autoscalers by what the last tick's
    /// analysis did with them ([`AUTOSCALER_STATES`]).
    pub autoscalers: Family<Labels, Gauge<i64, std::sync::atomic::AtomicI64>>,
    /// `stepscale_rule_evaluation_seconds`: time to analyze all workloads of
    /// a tick (every rule on every workload).
    pub rule_evaluation_seconds: Histogram,
    /// `stepscale_applies_total{result}`: applies, `ok` or `failed`.
    pub applies: Family<Labels, Counter>,
    /// `stepscale_rollbacks_total`: automatic rollbacks.
    pub rollbacks: Counter<u64, AtomicU64>,
    /// `stepscale_verifications_total`: recommendations verified.
    pub verifications: Counter<u64, AtomicU64>,
    /// `stepscale_errors_total{error}`: errors of the tick by kind.
    pub errors: Family<Labels, Counter>,
    /// `stepscale_rules_loaded{source}`: rules analyses run, `builtin` or
    /// `configmap`.
    pub rules_loaded: Family<Labels, Gauge<i64, std::sync::atomic::AtomicI64>>,
    /// `stepscale_rule_rejections_total{reason}`: rule ConfigMaps rejected,
    /// by reason (see `rules::admission::REJECTION_REASONS`).
    pub rule_rejections: Family<Labels, Counter>,
    /// `stepscale_llm_calls_total`: LLM calls made (each call once, however
    /// many retries it took).
    pub llm_calls: Counter<u64, AtomicU64>,
    /// `stepscale_llm_failures_total{reason}`: LLM reviews that failed, by
    /// reason (`review::client::CallError::reason`, and `schema`,
    /// `too_large`, `malformed` for answers, `call_limit`).
    pub llm_failures: Family<Labels, Counter>,
    /// `stepscale_llm_tokens_total{direction}`: tokens, `in` and `out`, as
    /// the provider counts them.
    pub llm_tokens: Family<Labels, Counter>,
    /// `stepscale_llm_cache_hits_total`: unchanged candidates not judged
    /// again.
    pub llm_cache_hits: Counter<u64, AtomicU64>,
    /// `stepscale_tick_duration_seconds`: a tick from listing the
    /// autoscalers to its last write.
    pub tick_duration_seconds: Histogram,
    /// `stepscale_analysis_backlog_ticks`: the most ticks an autoscaler
    /// left for later has gone without analysis (0 when all fit).
    pub analysis_backlog_ticks: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// `stepscale_prometheus_requests_total`: range queries sent.
    pub prometheus_requests: Counter<u64, AtomicU64>,
    /// `stepscale_prometheus_response_bytes_total`: bytes of answers read.
    pub prometheus_bytes: Counter<u64, AtomicU64>,
}

/// The `state` values of `stepscale_autoscalers`: analyzed with a change
/// or a finding to publish; analyzed with nothing to propose; waiting for
/// enough history; not analyzed because Prometheus matched no data for it,
/// or failed for it (and the HPA-status fallback is still too short);
/// target unreadable; skipped for its spec; left for a later tick to keep
/// the tick inside its interval.
pub const AUTOSCALER_STATES: [&str; 8] = [
    "with_change_or_finding",
    "nothing_to_propose",
    "waiting_for_history",
    "prometheus_no_data",
    "prometheus_error",
    "target_unreadable",
    "skipped_for_spec",
    "deferred",
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Create and register every family.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("stepscale");
        let ticks = Family::<Labels, Counter>::default();
        let recommendations = Family::default();
        let autoscalers = Family::default();
        let rule_evaluation_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        let applies = Family::<Labels, Counter>::default();
        let rollbacks = Counter::default();
        let verifications = Counter::default();
        let errors = Family::<Labels, Counter>::default();
        let rules_loaded = Family::default();
        let rule_rejections = Family::<Labels, Counter>::default();
        let llm_calls = Counter::default();
        let llm_failures = Family::<Labels, Counter>::default();
        let llm_tokens = Family::<Labels, Counter>::default();
        let llm_cache_hits = Counter::default();
        let tick_duration_seconds = Histogram::new(exponential_buckets(0.05, 2.0, 14));
        let analysis_backlog_ticks = Gauge::default();
        let prometheus_requests = Counter::default();
        let prometheus_bytes = Counter::default();
        registry.register(
            "prometheus_requests",
            "Prometheus range queries sent",
            prometheus_requests.clone(),
        );
        registry.register(
            "prometheus_response_bytes",
            "Bytes of Prometheus answers read",
            prometheus_bytes.clone(),
        );
        registry.register(
            "tick_duration_seconds",
            "Reconcile tick duration, from listing the autoscalers to the last write",
            tick_duration_seconds.clone(),
        );
        registry.register(
            "analysis_backlog_ticks",
            "The most ticks an autoscaler left for later has gone without analysis",
            analysis_backlog_ticks.clone(),
        );
        registry.register("llm_calls", "LLM review calls made", llm_calls.clone());
        registry.register(
            "llm_failures",
            "LLM reviews that failed, by reason",
            llm_failures.clone(),
        );
        registry.register(
            "llm_tokens",
            "LLM tokens, by direction (in, out)",
            llm_tokens.clone(),
        );
        registry.register(
            "llm_cache_hits",
            "Unchanged candidates not judged again",
            llm_cache_hits.clone(),
        );
        registry.register("reconcile_ticks", "Reconcile ticks run", ticks.clone());
        registry.register(
            "recommendations",
            "ScalingRecommendations per phase",
            recommendations.clone(),
        );
        registry.register(
            "autoscalers",
            "Autoscalers by what the last tick's analysis did with them",
            autoscalers.clone(),
        );
        registry.register(
            "rule_evaluation_seconds",
            "Time to run the rules on all workloads of a tick",
            rule_evaluation_seconds.clone(),
        );
        registry.register(
            "applies",
            "Recommendations applied, by result",
            applies.clone(),
        );
        registry.register("rollbacks", "Automatic rollbacks", rollbacks.clone());
        registry.register(
            "verifications",
            "Recommendations verified after probation",
            verifications.clone(),
        );
        registry.register(
            "errors",
            "Errors of the reconcile tick, by kind",
            errors.clone(),
        );
        registry.register(
            "rules_loaded",
            "Rules analyses run, by source (builtin, configmap)",
            rules_loaded.clone(),
        );
        registry.register(
            "rule_rejections",
            "Rule ConfigMaps rejected, by reason",
            rule_rejections.clone(),
        );
        Metrics {
            registry,
            ticks,
            recommendations,
            autoscalers,
            rule_evaluation_seconds,
            applies,
            rollbacks,
            verifications,
            errors,
            rules_loaded,
            rule_rejections,
            llm_calls,
            llm_failures,
            llm_tokens,
            llm_cache_hits,
            tick_duration_seconds,
            analysis_backlog_ticks,
            prometheus_requests,
            prometheus_bytes,
        }
    }

    /// Count Prometheus range queries and the bytes of their answers.
    pub fn prometheus_traffic(&self, requests: u64, bytes: u64) {
        self.prometheus_requests.inc_by(requests);
        self.prometheus_bytes.inc_by(bytes);
    }

    /// Set the analysis backlog: the most ticks an autoscaler left for
    /// later has waited (the deferred count is a state of
    /// `stepscale_autoscalers`).
    pub fn set_backlog(&self, deferred: usize, backlog_ticks: u64) {
        let ticks = if deferred == 0 { 0 } else { backlog_ticks };
        self.analysis_backlog_ticks
            .set(i64::try_from(ticks).unwrap_or(i64::MAX));
    }

    /// Set the number of rules loaded per source.
    pub fn set_rules_loaded(&self, builtin: usize, configmap: usize) {
        for (source, n) in [("builtin", builtin), ("configmap", configmap)] {
            self.rules_loaded
                .get_or_create(&vec![("source".into(), source.into())])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Count a rejected rule ConfigMap.
    pub fn rule_rejected(&self, reason: &str) {
        self.rule_rejections
            .get_or_create(&vec![("reason".into(), reason.into())])
            .inc();
    }

    /// Set the autoscalers per state after a tick's analysis: one count for
    /// each of [`AUTOSCALER_STATES`], in its order.
    pub fn set_autoscalers(&self, counts: [usize; AUTOSCALER_STATES.len()]) {
        for (state, n) in AUTOSCALER_STATES.iter().zip(counts) {
            self.autoscalers
                .get_or_create(&vec![("state".into(), (*state).into())])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Count a tick.
    pub fn tick(&self, leader: bool) {
        self.ticks
            .get_or_create(&vec![("leader".into(), leader.to_string())])
            .inc();
    }

    /// Count an apply, `ok` or `failed`.
    pub fn apply(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.applies
            .get_or_create(&vec![("result".into(), result.into())])
            .inc();
    }

    /// Count an error by its label.
    pub fn error(&self, label: &str) {
        self.errors
            .get_or_create(&vec![("error".into(), label.into())])
            .inc();
    }

    /// Set the per-phase recommendation counts (phases not listed are 0).
    pub fn set_phase_counts(&self, counts: &[(Phase, i64)]) {
        for p in ALL_PHASES {
            let n = counts.iter().filter(|(q, _)| *q == p).map(|(_, n)| n).sum();
            self.recommendations
                .get_or_create(&vec![("phase".into(), p.as_str().into())])
                .set(n);
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_families_are_exposed() {
        let m = Metrics::new();
        m.tick(true);
        m.apply(true);
        m.rollbacks.inc();
        m.set_phase_counts(&[(Phase::Applied, 2)]);
        m.rule_evaluation_seconds.observe(0.2);
        m.set_rules_loaded(6, 1);
        m.rule_rejected("bad-signature");
        m.set_autoscalers([3, 2, 1, 5, 6, 0, 4, 7]);
        m.set_backlog(7, 3);
        m.tick_duration_seconds.observe(1.5);
        m.prometheus_traffic(3, 1200);
        let text = m.encode();
        for needle in [
            "stepscale_reconcile_ticks_total{leader=\"true\"} 1",
            "stepscale_applies_total{result=\"ok\"} 1",
            "stepscale_rollbacks_total 1",
            "stepscale_recommendations{phase=\"applied\"} 2",
            "stepscale_recommendations{phase=\"pending\"} 0",
            "stepscale_rule_evaluation_seconds_count 1",
            "stepscale_rules_loaded{source=\"configmap\"} 1",
            "stepscale_rule_rejections_total{reason=\"bad-signature\"} 1",
            "stepscale_autoscalers{state=\"with_change_or_finding\"} 3",
            "stepscale_autoscalers{state=\"nothing_to_propose\"} 2",
            "stepscale_autoscalers{state=\"waiting_for_history\"} 1",
            "stepscale_autoscalers{state=\"prometheus_no_data\"} 5",
            "stepscale_autoscalers{state=\"prometheus_error\"} 6",
            "stepscale_autoscalers{state=\"target_unreadable\"} 0",
            "stepscale_autoscalers{state=\"skipped_for_spec\"} 4",
            "stepscale_autoscalers{state=\"deferred\"} 7",
            "stepscale_analysis_backlog_ticks 3",
            "stepscale_tick_duration_seconds_count 1",
            "stepscale_prometheus_requests_total 3",
            "stepscale_prometheus_response_bytes_total 1200",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
