//! Metric history for the operator's tick: Prometheus range-query backfill
//! when a URL is configured, else samples accumulated from HPA status on each
//! tick. The result is the snapshot's [`MetricHistory`], so the engine sees
//! the same shape whether it runs offline or in the cluster.
//!
//! Required log lines (SPEC §5): [`LOG_PROMETHEUS`] when the history comes
//! from Prometheus, [`LOG_HPA_STATUS`] when it comes from the fallback.
//! Prometheus errors or timeouts degrade to the fallback with a warning and
//! never stop the tick.

pub mod hpa_status;
pub mod prometheus;

use stepscale_engine::snapshot::MetricHistory;

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

/// A history and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcedHistory {
    /// The series.
    pub history: MetricHistory,
    /// Their source.
    pub source: MetricsSource,
}
