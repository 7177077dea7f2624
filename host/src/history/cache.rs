//! Prometheus history kept between ticks: the first tick of an autoscaler
//! fetches its whole look-back window, later ticks fetch only the points
//! since, plus the last [`REFETCH_POINTS`] again (a point near "now" may
//! have been evaluated before its last scrape arrived), and move the window
//! forward. The history the tick sees is the same as a full backfill would
//! give, as long as Prometheus does not rewrite points older than that.
//!
//! # Memory
//! One window per autoscaler: `lookback / step + 1` points of 3 series (4
//! with a request-rate query) as 8-byte floats — with the defaults (7 days,
//! 5 minutes) 2,017 points, 48.4 KB (64.5 KB with request rate). Windows
//! of autoscalers that are gone are dropped each tick.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use futures::StreamExt;
use stepscale_engine::snapshot::MetricHistory;

use super::batch::{fetch_windows, worth_splitting, MAX_BATCH, MAX_BATCHED_POINTS};
use super::prometheus::{fetch_window, Grid, PrometheusConfig, PrometheusError, Traffic, Window};
use super::HistoryKey;

/// Points fetched again on each tick, the newest the last tick had.
pub const REFETCH_POINTS: i64 = 3;

/// Batched queries of one prefetch in flight at once.
pub const PREFETCH_CONCURRENCY: usize = 4;

/// The windows of every autoscaler, and the traffic they cost.
#[derive(Debug, Default)]
pub struct PrometheusCache {
    windows: Mutex<HashMap<HistoryKey, Kept>>,
    traffic: Traffic,
}

/// A kept window, and the `now` a prefetch brought it up to, until the
/// tick's [`PrometheusCache::backfill`] takes it as it is.
#[derive(Debug)]
struct Kept {
    window: Window,
    prefetched_for: Option<i64>,
}

/// What one [`PrometheusCache::prefetch`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Prefetched {
    /// Autoscalers whose windows a batched query brought up to date.
    pub autoscalers: usize,
    /// Batched queries that failed and were asked again in two halves.
    pub split: usize,
    /// Autoscalers left to their own queries (a batch Prometheus did not
    /// answer, or an autoscaler whose own query is at fault).
    pub left_alone: usize,
}

impl PrometheusCache {
    /// The history of `key` ending at `now_unix_seconds`, as
    /// [`super::prometheus::backfill`] gives it, fetching only what the
    /// window kept from the last call lacks.
    ///
    /// # Errors
    /// As [`super::prometheus::backfill`]. A failed fetch leaves the kept
    /// window as it was.
    pub async fn backfill(
        &self,
        config: &PrometheusConfig,
        key: &HistoryKey,
        now_unix_seconds: i64,
    ) -> Result<MetricHistory, PrometheusError> {
        let grid = config.grid_ending_at(now_unix_seconds);
        let kept = self.windows.lock().ok().and_then(|mut w| w.remove(key));
        let window = match (lacks(kept.as_ref(), grid, now_unix_seconds), kept) {
            (Lacks::Nothing, Some(k)) => k.window,
            (Lacks::Tail(points), Some(k)) => {
                let old = k.window;
                match fetch_window(config, key, points, &self.traffic).await {
                    Ok(fresh) => moved(&old, &fresh, grid),
                    Err(e) => {
                        self.keep(key, old, None);
                        return Err(e);
                    }
                }
            }
            _ => fetch_window(config, key, grid, &self.traffic).await?,
        };
        let history = window.history();
        self.keep(key, window, None);
        history
    }

    /// Bring the windows of `keys` up to `now_unix_seconds` in batched
    /// queries ([`super::batch`]): the autoscalers of a namespace that need
    /// the same tail share one query per series. The tick's
    /// [`PrometheusCache::backfill`] for the same `now` then takes a
    /// prefetched window as it is. Windows longer than
    /// [`MAX_BATCHED_POINTS`] (an autoscaler's first) are left to
    /// [`PrometheusCache::backfill`], one autoscaler at a time.
    ///
    /// A batch Prometheus refuses is asked again in two halves, down to
    /// single autoscalers; one it still refuses is left to its own
    /// [`PrometheusCache::backfill`] (so it reports its own error and falls
    /// back as before), as are the autoscalers of a batch Prometheus did not
    /// answer at all. Each failed batch is logged with its namespace.
    pub async fn prefetch(
        &self,
        config: &PrometheusConfig,
        keys: &[HistoryKey],
        now_unix_seconds: i64,
    ) -> Prefetched {
        let grid = config.grid_ending_at(now_unix_seconds);
        // Group by namespace and the points each needs.
        let mut groups: BTreeMap<(&str, i64, usize), Vec<HistoryKey>> = BTreeMap::new();
        if let Ok(windows) = self.windows.lock() {
            for key in keys {
                let points = match lacks(windows.get(key), grid, now_unix_seconds) {
                    Lacks::Nothing => continue,
                    Lacks::Tail(points) => points,
                    Lacks::Whole => grid,
                };
                if points.len > MAX_BATCHED_POINTS {
                    // A whole window: cheaper for Prometheus asked alone.
                    continue;
                }
                groups
                    .entry((key.namespace.as_str(), points.start, points.len))
                    .or_default()
                    .push(key.clone());
            }
        }
        let batches: Vec<(Grid, Vec<HistoryKey>)> = groups
            .into_iter()
            .flat_map(|((_, start, len), keys)| {
                let points = Grid {
                    start,
                    step: grid.step,
                    len,
                };
                keys.chunks(MAX_BATCH)
                    .map(|c| (points, c.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let fetching: Vec<_> = batches
            .into_iter()
            .map(|(points, keys)| self.fetch_batch(config, keys, points))
            .collect();
        let fetched: Vec<_> = futures::stream::iter(fetching)
            .buffer_unordered(PREFETCH_CONCURRENCY)
            .collect()
            .await;
        let mut done = Prefetched::default();
        for (windows, report) in fetched {
            done.split += report.split;
            done.left_alone += report.left_alone;
            for (key, fresh) in windows {
                let old = self.windows.lock().ok().and_then(|mut w| w.remove(&key));
                let window = match old {
                    _ if fresh.grid == grid => fresh,
                    Some(k) => moved(&k.window, &fresh, grid),
                    // A tail without the window it continues (dropped
                    // meanwhile): the autoscaler's own backfill fetches
                    // the whole window.
                    None => {
                        done.left_alone += 1;
                        continue;
                    }
                };
                self.keep(&key, window, Some(now_unix_seconds));
                done.autoscalers += 1;
            }
        }
        done
    }

    /// One batch's windows on `points`, asked again in halves while
    /// Prometheus refuses it; what is left out is counted in the report.
    async fn fetch_batch(
        &self,
        config: &PrometheusConfig,
        keys: Vec<HistoryKey>,
        points: Grid,
    ) -> (Vec<(HistoryKey, Window)>, Prefetched) {
        let mut out = Vec::new();
        let mut report = Prefetched::default();
        let mut queue = vec![keys];
        while let Some(keys) = queue.pop() {
            match fetch_windows(config, &keys, points, &self.traffic).await {
                Ok(windows) => {
                    for (key, window) in keys.into_iter().zip(windows) {
                        match window {
                            Ok(w) => out.push((key, w)),
                            Err(_) => report.left_alone += 1,
                        }
                    }
                }
                Err(e) if worth_splitting(&e) && keys.len() > 1 => {
                    tracing::warn!(
                        namespace = %keys[0].namespace,
                        autoscalers = keys.len(),
                        error = %e,
                        "a batched Prometheus query failed; asking again in two halves"
                    );
                    report.split += 1;
                    let second = keys[keys.len() / 2..].to_vec();
                    let mut first = keys;
                    first.truncate(first.len() / 2);
                    queue.push(second);
                    queue.push(first);
                }
                Err(e) => {
                    // One autoscaler's failure is reported by its own query.
                    if keys.len() > 1 {
                        tracing::warn!(
                            namespace = %keys[0].namespace,
                            autoscalers = keys.len(),
                            error = %e,
                            "a batched Prometheus query failed; asking for each autoscaler alone"
                        );
                    }
                    report.left_alone += keys.len();
                }
            }
        }
        (out, report)
    }

    fn keep(&self, key: &HistoryKey, window: Window, prefetched_for: Option<i64>) {
        if let Ok(mut w) = self.windows.lock() {
            w.insert(
                key.clone(),
                Kept {
                    window,
                    prefetched_for,
                },
            );
        }
    }

    /// Drop the windows of autoscalers `keep` says no.
    pub fn retain(&self, keep: &dyn Fn(&HistoryKey) -> bool) {
        if let Ok(mut w) = self.windows.lock() {
            w.retain(|k, _| keep(k));
        }
    }

    /// Requests sent and bytes read so far.
    pub fn traffic(&self) -> (u64, u64) {
        self.traffic.totals()
    }

    /// Bytes the kept windows hold.
    pub fn bytes_kept(&self) -> usize {
        self.windows
            .lock()
            .map(|w| w.values().map(|k| k.window.bytes()).sum())
            .unwrap_or(0)
    }
}

/// What a kept window lacks for the tick at `now` (window on `grid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lacks {
    /// Nothing: a prefetch for this tick brought it up to date.
    Nothing,
    /// Only these points: the window continues onto `grid`.
    Tail(Grid),
    /// The whole window: none kept, or one `grid` does not continue.
    Whole,
}

/// What `kept` lacks for the tick at `now`, whose window is on `grid`; the
/// one decision of both [`PrometheusCache::backfill`] and
/// [`PrometheusCache::prefetch`].
fn lacks(kept: Option<&Kept>, grid: Grid, now: i64) -> Lacks {
    match kept {
        Some(k) if k.prefetched_for == Some(now) && k.window.grid == grid => Lacks::Nothing,
        Some(k) if continues(k.window.grid, grid) => Lacks::Tail(tail(k.window.grid, grid)),
        _ => Lacks::Whole,
    }
}

/// The points of `grid` a window on `old` lacks, with the last
/// [`REFETCH_POINTS`] of `old` again.
fn tail(old: Grid, grid: Grid) -> Grid {
    let from = (old.end() - (REFETCH_POINTS - 1) * grid.step).max(grid.start);
    Grid {
        start: from,
        step: grid.step,
        len: ((grid.end() - from) / grid.step + 1) as usize,
    }
}

/// True when `new` continues `old`: same step, same phase, and `old` ends
/// inside `new` (so only a tail is missing).
fn continues(old: Grid, new: Grid) -> bool {
    old.step == new.step
        && (new.start - old.start).rem_euclid(new.step) == 0
        && old.end() >= new.start
        && old.end() <= new.end()
}

/// `old` moved onto `grid`, with the points of `fresh` laid over it.
fn moved(old: &Window, fresh: &Window, grid: Grid) -> Window {
    let lay = |old_v: &[f64], fresh_v: &[f64]| -> Vec<f64> {
        let mut out = vec![f64::NAN; grid.len];
        for (src, g) in [(old_v, old.grid), (fresh_v, fresh.grid)] {
            let offset = (g.start - grid.start) / grid.step;
            for (i, v) in src.iter().enumerate() {
                let j = offset + i as i64;
                if (0..grid.len as i64).contains(&j) {
                    out[j as usize] = *v;
                }
            }
        }
        out
    };
    let rate = match (&old.rate, &fresh.rate) {
        (Some(o), Some(f)) => Some(lay(o, f)),
        (None, Some(f)) => Some(lay(&[], f)),
        (Some(o), None) => Some(lay(o, &[])),
        (None, None) => None,
    };
    Window {
        grid,
        cpu: lay(&old.cpu, &fresh.cpu),
        desired: lay(&old.desired, &fresh.desired),
        current: lay(&old.current, &fresh.current),
        rate,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    fn window(start: i64, values: &[f64]) -> Window {
        Window {
            grid: Grid {
                start,
                step: 60,
                len: values.len(),
            },
            cpu: values.to_vec(),
            desired: values.to_vec(),
            current: values.to_vec(),
            rate: None,
        }
    }

    /// A stand-in for a Prometheus that refuses any batched query of more
    /// than `max_parts` autoscalers (as one does past its sample limit) and
    /// answers the rest with two samples per autoscaler. A real Prometheus
    /// cannot be made to refuse by batch size alone without restarting it
    /// with other limits, so this double serves the splitting test; the
    /// answers themselves are checked against a real one in
    /// `host/tests/prometheus.rs`.
    async fn refusing_prometheus(max_parts: usize) -> (String, Arc<AtomicUsize>) {
        use axum::routing::post;
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        let app = axum::Router::new().route(
            "/api/v1/query_range",
            post(move |body: String| {
                counted.fetch_add(1, Ordering::Relaxed);
                async move {
                    let form: Vec<(String, String)> =
                        serde_urlencoded::from_str(&body).expect("a form body");
                    let query = &form.iter().find(|(k, _)| k == "query").expect("query").1;
                    let start: i64 = form
                        .iter()
                        .find(|(k, _)| k == "start")
                        .and_then(|(_, v)| v.parse().ok())
                        .expect("start");
                    let tag = "\"stepscale_batch\", \"";
                    let parts: Vec<&str> = query
                        .match_indices(tag)
                        .map(|(i, _)| {
                            let rest = &query[i + tag.len()..];
                            &rest[..rest.find('"').expect("closing quote")]
                        })
                        .collect();
                    if parts.len() > max_parts {
                        return (
                            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                            r#"{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory"}"#.to_owned(),
                        );
                    }
                    let series: Vec<String> = parts
                        .iter()
                        .map(|p| format!(r#"{{"metric":{{"stepscale_batch":"{p}"}},"values":[[{start},"50"],[{},"50"]]}}"#, start + 60))
                        .collect();
                    (
                        axum::http::StatusCode::OK,
                        format!(
                            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{}]}}}}"#,
                            series.join(",")
                        ),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, requests)
    }

    /// Ten minutes back at one-minute steps (11 points: a batched tail).
    fn ten_minutes_at(url: String) -> PrometheusConfig {
        PrometheusConfig {
            lookback_seconds: 600,
            step_seconds: 60,
            ..PrometheusConfig::new(url)
        }
    }

    fn keys(n: usize) -> Vec<HistoryKey> {
        (0..n)
            .map(|i| HistoryKey {
                namespace: "shop".into(),
                autoscaler: format!("w{i}"),
                target_kind: "Deployment".into(),
                target_name: format!("w{i}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_refused_batch_is_asked_again_in_halves_and_every_autoscaler_is_served() {
        let (url, requests) = refusing_prometheus(2).await;
        let config = ten_minutes_at(url);
        let cache = PrometheusCache::default();
        let keys = keys(5);
        let done = cache.prefetch(&config, &keys, 6_000).await;
        // 5 is refused, then 2 (served) and 3 (refused), then 1 and 2.
        assert_eq!(
            done,
            Prefetched {
                autoscalers: 5,
                split: 2,
                left_alone: 0
            }
        );
        assert_eq!(
            requests.load(Ordering::Relaxed),
            3 * 5,
            "5 batches a series"
        );
        for key in &keys {
            let h = cache.backfill(&config, key, 6_000).await.expect("history");
            assert_eq!(h.cpu_utilization, vec![50.0, 50.0], "{}", key.autoscaler);
        }
        assert_eq!(
            requests.load(Ordering::Relaxed),
            15,
            "the tick's backfills take the prefetched windows as they are"
        );
    }

    #[tokio::test]
    async fn autoscalers_prometheus_refuses_even_alone_are_left_to_their_own_queries() {
        let (url, requests) = refusing_prometheus(0).await;
        let config = ten_minutes_at(url);
        let cache = PrometheusCache::default();
        let done = cache.prefetch(&config, &keys(4), 6_000).await;
        // 4, then 2 and 2, then four of 1: seven batches a series.
        assert_eq!(
            done,
            Prefetched {
                autoscalers: 0,
                split: 3,
                left_alone: 4
            }
        );
        assert_eq!(requests.load(Ordering::Relaxed), 3 * 7);
        assert_eq!(cache.bytes_kept(), 0, "nothing kept from a refused batch");
    }

    #[test]
    fn a_window_moves_forward_and_the_fresh_tail_wins() {
        let old = window(0, &[1.0, 2.0, 3.0, 4.0]);
        // Re-fetched 120 and 180, new 240 and 300.
        let fresh = window(120, &[30.0, 40.0, 50.0, f64::NAN]);
        let grid = Grid {
            start: 120,
            step: 60,
            len: 4,
        };
        let w = moved(&old, &fresh, grid);
        assert_eq!(w.cpu[..3], [30.0, 40.0, 50.0]);
        assert!(w.cpu[3].is_nan());
        assert_eq!(w.bytes(), 3 * 4 * 8);
    }

    #[test]
    fn only_a_window_that_ends_inside_the_new_one_is_continued() {
        let g = |start, len| Grid {
            start,
            step: 60,
            len,
        };
        assert!(continues(g(0, 10), g(120, 10)));
        assert!(continues(g(0, 10), g(0, 10)), "the same tick again");
        assert!(
            !continues(g(0, 10), g(600, 10)),
            "a gap longer than the window"
        );
        assert!(!continues(g(0, 10), g(30, 10)), "another phase");
        assert!(!continues(g(600, 10), g(0, 10)), "the clock went back");
        let other_step = Grid {
            start: 0,
            step: 30,
            len: 10,
        };
        assert!(!continues(g(0, 10), other_step));
    }
}
