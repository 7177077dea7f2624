//! Where the tick gets metric history: [`HistorySource`], and its production
//! implementation [`ClusterHistory`] — Prometheus range-query backfill when
//! `prometheus.url` is set, degrading to the HPA-status samples the operator
//! accumulates each tick on any error or timeout, with a warning.
//!
//! Tests inject their own source (e.g. seeded from a real NAB series), since
//! the test API server has no metrics pipeline.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::future::BoxFuture;
use stepscale_engine::snapshot::MetricHistory;

use crate::history::cache::PrometheusCache;
use crate::history::hpa_status::{StatusSample, StatusStore};
use crate::history::prometheus::PrometheusConfig;
use crate::history::{history_or_miss, HistoryKey, PrometheusMiss, SourcedHistory};

/// A source of metric history for one workload.
pub trait HistorySource: Send + Sync {
    /// The history of `key` up to `now_unix_seconds`; `None` when there is
    /// not enough yet. Never fails: a source that errors degrades (and
    /// logs) instead.
    fn history<'a>(
        &'a self,
        key: &'a HistoryKey,
        now_unix_seconds: i64,
    ) -> BoxFuture<'a, Option<SourcedHistory>>;

    /// Fetch the histories of `keys` ahead of this tick's
    /// [`HistorySource::history`] calls for the same `now_unix_seconds`,
    /// in as few requests as the source can. Sources that fetch nothing,
    /// or nothing in bulk, do nothing.
    fn prefetch<'a>(&'a self, keys: &'a [HistoryKey], now_unix_seconds: i64) -> BoxFuture<'a, ()> {
        let _ = (keys, now_unix_seconds);
        Box::pin(async {})
    }

    /// Record one sample read from the autoscaler's status this tick.
    /// Sources that do not accumulate ignore it.
    fn record(&self, key: &HistoryKey, sample: StatusSample) {
        let _ = (key, sample);
    }

    /// Forget workloads that no longer exist.
    fn retain(&self, keep: &dyn Fn(&HistoryKey) -> bool) {
        let _ = keep;
    }

    /// The status samples accumulated for `key`, oldest first, to be
    /// checkpointed. Sources that do not accumulate say none.
    fn samples(&self, key: &HistoryKey) -> Vec<StatusSample> {
        let _ = key;
        Vec::new()
    }

    /// Put back status samples a previous operator checkpointed (see
    /// [`crate::history::hpa_status::StatusStore::restore`]). Sources that
    /// do not accumulate ignore them.
    fn restore(&self, key: &HistoryKey, samples: Vec<StatusSample>) {
        let _ = (key, samples);
    }

    /// Why Prometheus gave nothing usable for `key` at the last request,
    /// if it did not. Sources without Prometheus say `None`.
    fn prometheus_miss(&self, key: &HistoryKey) -> Option<PrometheusMiss> {
        let _ = key;
        None
    }

    /// Range queries sent to Prometheus and bytes of answers read so far,
    /// for sources that ask Prometheus.
    fn prometheus_traffic(&self) -> Option<(u64, u64)> {
        None
    }
}

/// The production source: Prometheus backfill if configured, else (and on
/// any Prometheus failure) the in-memory HPA-status store.
pub struct ClusterHistory {
    prometheus: Option<PrometheusConfig>,
    /// The Prometheus windows kept between ticks.
    cache: PrometheusCache,
    store: Mutex<StatusStore>,
    step_seconds: u32,
    /// The last request's miss per workload (absent after a success).
    misses: Mutex<HashMap<HistoryKey, PrometheusMiss>>,
}

impl ClusterHistory {
    /// A source that accumulates one status sample per tick on a grid of
    /// `tick_seconds` (clamped to 10..=3600, the snapshot's valid steps), and
    /// asks Prometheus first when `prometheus` is set.
    pub fn new(prometheus: Option<PrometheusConfig>, tick_seconds: u32) -> Self {
        ClusterHistory {
            prometheus,
            cache: PrometheusCache::default(),
            store: Mutex::new(StatusStore::default()),
            step_seconds: tick_seconds.clamp(10, 3600),
            misses: Mutex::default(),
        }
    }
}

impl HistorySource for ClusterHistory {
    fn history<'a>(
        &'a self,
        key: &'a HistoryKey,
        now_unix_seconds: i64,
    ) -> BoxFuture<'a, Option<SourcedHistory>> {
        Box::pin(async move {
            let (history, miss) = history_or_miss(
                self.prometheus.as_ref(),
                Some(&self.cache),
                key,
                now_unix_seconds,
                move || self.store.lock().ok()?.history(key, self.step_seconds),
            )
            .await;
            if let Ok(mut misses) = self.misses.lock() {
                match miss {
                    Some(m) => {
                        misses.insert(key.clone(), m);
                    }
                    None => {
                        misses.remove(key);
                    }
                }
            }
            history
        })
    }

    /// Prometheus' windows in batched queries, one per series for the
    /// autoscalers of a namespace ([`PrometheusCache::prefetch`]).
    fn prefetch<'a>(&'a self, keys: &'a [HistoryKey], now_unix_seconds: i64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(config) = &self.prometheus {
                let done = self.cache.prefetch(config, keys, now_unix_seconds).await;
                tracing::debug!(
                    autoscalers = done.autoscalers,
                    split = done.split,
                    left_alone = done.left_alone,
                    "prefetched Prometheus history in batches"
                );
            }
        })
    }

    fn prometheus_miss(&self, key: &HistoryKey) -> Option<PrometheusMiss> {
        self.misses.lock().ok()?.get(key).cloned()
    }

    fn prometheus_traffic(&self) -> Option<(u64, u64)> {
        self.prometheus.as_ref().map(|_| self.cache.traffic())
    }

    fn record(&self, key: &HistoryKey, sample: StatusSample) {
        if let Ok(mut store) = self.store.lock() {
            store.record(key, sample);
        }
    }

    fn samples(&self, key: &HistoryKey) -> Vec<StatusSample> {
        self.store
            .lock()
            .map(|s| s.samples(key).to_vec())
            .unwrap_or_default()
    }

    fn restore(&self, key: &HistoryKey, samples: Vec<StatusSample>) {
        if let Ok(mut store) = self.store.lock() {
            store.restore(key, samples);
        }
    }

    fn retain(&self, keep: &dyn Fn(&HistoryKey) -> bool) {
        if let Ok(mut store) = self.store.lock() {
            store.retain(keep);
        }
        if let Ok(mut misses) = self.misses.lock() {
            misses.retain(|k, _| keep(k));
        }
        self.cache.retain(keep);
    }
}

/// The samples of `history` whose time lies in `[from, to]` (Unix seconds),
/// as a history of their own; `None` when no sample falls in the window.
pub fn window(history: &MetricHistory, from: i64, to: i64) -> Option<MetricHistory> {
    let step = i64::from(history.step_seconds.max(1));
    let first = ((from - history.start_unix_seconds) + step - 1)
        .div_euclid(step)
        .max(0) as usize;
    let last_excl = ((to - history.start_unix_seconds).div_euclid(step) + 1).max(0) as usize;
    let last_excl = last_excl.min(history.len());
    if first >= last_excl {
        return None;
    }
    let cut = |v: &Vec<f64>| {
        v.get(first..last_excl)
            .map(<[f64]>::to_vec)
            .unwrap_or_default()
    };
    Some(MetricHistory {
        start_unix_seconds: history.start_unix_seconds + first as i64 * step,
        step_seconds: history.step_seconds,
        utc_offset_minutes: history.utc_offset_minutes,
        timezone: history.timezone.clone(),
        cpu_utilization: cut(&history.cpu_utilization),
        replicas_desired: cut(&history.replicas_desired),
        replicas_current: cut(&history.replicas_current),
        replicas_ready: history.replicas_ready.as_ref().map(cut),
        request_rate: history.request_rate.as_ref().map(cut),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::history_key as key;
    use crate::history::MetricsSource;

    #[tokio::test]
    async fn without_prometheus_the_status_samples_are_the_history() {
        let h = ClusterHistory::new(None, 60);
        assert!(h.history(&key(), 0).await.is_none());
        for t in [0, 60, 120] {
            h.record(
                &key(),
                StatusSample {
                    at_unix_seconds: t,
                    cpu_utilization: Some(50.0),
                    desired_replicas: 2.0,
                    current_replicas: 2.0,
                },
            );
        }
        let got = h.history(&key(), 120).await.expect("history");
        assert_eq!(got.source, MetricsSource::HpaStatus);
        assert_eq!(got.history.len(), 3);
    }

    #[tokio::test]
    async fn a_failing_prometheus_degrades_to_the_status_samples() {
        let p = PrometheusConfig {
            url: "http://127.0.0.1:9".into(),
            lookback_seconds: 3600,
            step_seconds: 60,
            timeout_seconds: 1,
            ..PrometheusConfig::default()
        };
        let h = ClusterHistory::new(Some(p), 60);
        for t in [0, 60] {
            h.record(
                &key(),
                StatusSample {
                    at_unix_seconds: t,
                    cpu_utilization: None,
                    desired_replicas: 1.0,
                    current_replicas: 1.0,
                },
            );
        }
        let got = h.history(&key(), 60).await.expect("fallback history");
        assert_eq!(got.source, MetricsSource::HpaStatus);
    }

    #[test]
    fn a_window_keeps_the_samples_inside_it() {
        let h = MetricHistory {
            start_unix_seconds: 1000,
            step_seconds: 10,
            utc_offset_minutes: 0,
            timezone: None,
            cpu_utilization: (0..10).map(f64::from).collect(),
            replicas_desired: vec![1.0; 10],
            replicas_current: vec![1.0; 10],
            replicas_ready: None,
            request_rate: None,
        };
        let w = window(&h, 1015, 1040).expect("window");
        assert_eq!(w.start_unix_seconds, 1020);
        assert_eq!(w.cpu_utilization, vec![2.0, 3.0, 4.0]);
        assert!(window(&h, 2000, 3000).is_none());
    }
}
