//! Prometheus range-query backfill (to be implemented: see the history
//! module docs). Interface fixed here so the operator can call it.

use stepscale_engine::snapshot::MetricHistory;

use super::HistoryKey;

/// Prometheus settings (from Helm values `prometheus.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusConfig {
    /// Base URL, e.g. `http://prometheus.monitoring:9090`.
    pub url: String,
    /// Look-back window, seconds (default 7 days).
    pub lookback_seconds: u32,
    /// Query step, seconds (default 300).
    pub step_seconds: u32,
    /// Per-request timeout, seconds (default 10).
    pub timeout_seconds: u32,
}

/// Why a backfill failed (the operator then falls back to HPA status).
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// Not implemented yet.
    #[error("prometheus backfill is not available: {0}")]
    Unavailable(String),
}

/// Backfill the history of `key` ending at `now_unix_seconds`.
///
/// # Errors
/// Any failure to reach Prometheus or parse its answer.
pub async fn backfill(
    _config: &PrometheusConfig,
    _key: &HistoryKey,
    _now_unix_seconds: i64,
) -> Result<MetricHistory, PrometheusError> {
    Err(PrometheusError::Unavailable("not implemented".into()))
}
