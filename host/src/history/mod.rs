//! Metric history for the operator's tick: Prometheus range-query backfill
//! when a URL is configured, else samples accumulated from HPA status on each
//! tick. The result is the snapshot's [`MetricHistory`], so the engine sees
//! the same shape whether it runs offline or in the cluster.
//!
//! Required log lines (SPEC §5): [`LOG_PROMETHEUS`] when the history comes
//! from Prometheus, [`LOG_HPA_STATUS`] when it comes from the fallback.
//! Prometheus errors or timeouts degrade to the fallback with a warning and
//! never stop the tick. [`source`] is what the tick asks: the production
//! source and the trait tests implement.

pub mod batch;
pub mod cache;
pub mod checkpoint;
pub mod hpa_status;
pub mod prometheus;
pub mod source;

use stepscale_engine::snapshot::{MetricHistory, ScaleTargetRef};

use self::hpa_status::StatusStore;
use self::prometheus::PrometheusConfig;
use crate::cluster::Autoscaler;

/// Logged when the history comes from Prometheus.
pub const LOG_PROMETHEUS: &str = "metrics source: Prometheus history backfill";
/// Logged when the history comes from accumulated HPA status.
pub const LOG_HPA_STATUS: &str = "metrics source: HPA-status fallback";

/// Where a history came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsSource {
    /// Prometheus range queries.
    Prometheus,
    /// HPA status samples accumulated by the operator.
    HpaStatus,
}

/// What the history is about: enough to build Prometheus queries and to key
/// the HPA-status store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistoryKey {
    /// Namespace of the autoscaler and target.
    pub namespace: String,
    /// Autoscaler name.
    pub autoscaler: String,
    /// Kind of the scaled object (e.g. `Deployment`).
    pub target_kind: String,
    /// Name of the scaled object.
    pub target_name: String,
}

impl HistoryKey {
    /// The key of the history of `autoscaler`, which scales `target`.
    pub fn of(autoscaler: &Autoscaler, target: &ScaleTargetRef) -> HistoryKey {
        HistoryKey {
            namespace: autoscaler.namespace.clone(),
            autoscaler: autoscaler.name.clone(),
            target_kind: target.kind.clone(),
            target_name: target.name.clone(),
        }
    }
}

/// A history and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcedHistory {
    /// The series.
    pub history: MetricHistory,
    /// Their source.
    pub source: MetricsSource,
}

/// The history of `key` for this tick: Prometheus backfill when `prometheus`
/// is set, else (or when the backfill fails) the samples accumulated in
/// `store` on a `fallback_step_seconds` grid.
///
/// Logs [`LOG_PROMETHEUS`] or [`LOG_HPA_STATUS`] (debug) naming the
/// autoscaler (the operator's tick logs one info line per source with the
/// workload counts); a failed or timed-out backfill is logged as a warning
/// with the reason and never fails the tick. `None` when the fallback has fewer than two samples
/// yet.
///
/// `store` is only read after the Prometheus request: if it sits behind a
/// lock, prefer [`history_or_miss`] so no guard is held across the
/// await.
///
/// # Examples
/// ```no_run
/// # async fn f(store: &stepscale_operator::history::hpa_status::StatusStore,
/// #            key: &stepscale_operator::history::HistoryKey) {
/// use stepscale_operator::history::{history_for, prometheus::PrometheusConfig};
/// let prom = PrometheusConfig::new("http://prometheus.monitoring:9090");
/// if let Some(h) = history_for(Some(&prom), store, key, 1_700_000_000, 300).await {
///     println!("{:?}: {} samples", h.source, h.history.len());
/// }
/// # }
/// ```
pub async fn history_for(
    prometheus: Option<&PrometheusConfig>,
    store: &StatusStore,
    key: &HistoryKey,
    now_unix_seconds: i64,
    fallback_step_seconds: u32,
) -> Option<SourcedHistory> {
    history_or_miss(prometheus, None, key, now_unix_seconds, || {
        store.history(key, fallback_step_seconds)
    })
    .await
    .0
}

/// Why Prometheus gave no usable history for an autoscaler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusMiss {
    /// True when the query matched nothing (exporters not scraped, other
    /// metric names); false for an error (unreachable, timeout, a rejected
    /// or ambiguous query).
    pub no_data: bool,
    /// What went wrong, in words (no credentials).
    pub message: String,
}

/// [`history_for`] with the fallback as a closure, called only when needed
/// and only after the Prometheus request has finished (e.g.
/// `|| store.lock().expect("…").history(&key, 300)`), and why Prometheus
/// (when set) gave nothing usable when it did not. With `cache`, the
/// Prometheus window is kept between calls and only its tail fetched
/// ([`cache::PrometheusCache`]).
pub async fn history_or_miss(
    prometheus: Option<&PrometheusConfig>,
    cache: Option<&cache::PrometheusCache>,
    key: &HistoryKey,
    now_unix_seconds: i64,
    fallback: impl FnOnce() -> Option<MetricHistory>,
) -> (Option<SourcedHistory>, Option<PrometheusMiss>) {
    let mut miss = None;
    if let Some(config) = prometheus {
        // Each request has its own timeout; this bounds the whole backfill
        // (several queries) so a hung Prometheus never stalls a tick.
        let budget = std::time::Duration::from_secs(u64::from(config.timeout_seconds.max(1)) * 3);
        let fetch = async {
            match cache {
                Some(c) => c.backfill(config, key, now_unix_seconds).await,
                None => prometheus::backfill(config, key, now_unix_seconds).await,
            }
        };
        let result = match tokio::time::timeout(budget, fetch).await {
            Ok(result) => result.map_err(|e| PrometheusMiss {
                no_data: matches!(e, prometheus::PrometheusError::NoData { .. }),
                message: e.to_string(),
            }),
            Err(_) => Err(PrometheusMiss {
                no_data: false,
                message: format!("the backfill did not finish within {} s", budget.as_secs()),
            }),
        };
        match result {
            Ok(history) => {
                tracing::debug!(
                    namespace = %key.namespace,
                    autoscaler = %key.autoscaler,
                    samples = history.len(),
                    step_seconds = history.step_seconds,
                    "{LOG_PROMETHEUS}"
                );
                return (
                    Some(SourcedHistory {
                        history,
                        source: MetricsSource::Prometheus,
                    }),
                    None,
                );
            }
            Err(m) => {
                tracing::warn!(
                    namespace = %key.namespace,
                    autoscaler = %key.autoscaler,
                    error = %m.message,
                    "Prometheus backfill failed; using the HPA-status fallback"
                );
                miss = Some(m);
            }
        }
    }
    let history = fallback();
    tracing::debug!(
        namespace = %key.namespace,
        autoscaler = %key.autoscaler,
        samples = history.as_ref().map_or(0, MetricHistory::len),
        "{LOG_HPA_STATUS}"
    );
    (
        history.map(|history| SourcedHistory {
            history,
            source: MetricsSource::HpaStatus,
        }),
        miss,
    )
}
