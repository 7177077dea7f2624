//! Prometheus history backfill against a real Prometheus, and the fallback
//! to HPA status when Prometheus is unreachable or silent.
//!
//! The real server is provisioned by `bash .ci/prometheus.sh up` (Debian's
//! prometheus, backfilled from a real NAB series by `.ci/nab_openmetrics.py`),
//! which prints `STEPSCALE_TEST_PROMETHEUS_URL`. Without it these tests say
//! they were skipped and why; in CI (`CI=true`) a missing server is a
//! failure. Expected values are computed here from the NAB CSV and the
//! fixture's description in `.ci/nab_openmetrics.py`, never from the code
//! under test. The fallback tests need no server and always run.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stepscale_operator::history::cache::PrometheusCache;
use stepscale_operator::history::hpa_status::{StatusSample, StatusStore};
use stepscale_operator::history::prometheus::{backfill, PrometheusConfig, PrometheusError};
use stepscale_operator::history::{
    history_for, HistoryKey, MetricsSource, LOG_HPA_STATUS, LOG_PROMETHEUS,
};

/// The fixture, as `.ci/nab_openmetrics.py` documents it.
const NAB_CSV: &str = "cpu_utilization_asg_misconfiguration.csv";
const ROWS: usize = 576;
/// 522 weeks (weekday and time of day kept) + 60 s onto the 5-minute grid.
const SHIFT_SECONDS: i64 = 522 * 7 * 86_400 + 60;

fn prometheus_url(test: &str) -> Option<String> {
    match std::env::var("STEPSCALE_TEST_PROMETHEUS_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "{test}: CI=true but STEPSCALE_TEST_PROMETHEUS_URL is not set; \
             .ci/run provisions it with `bash .ci/prometheus.sh up`"
        ),
        _ => {
            eprintln!(
                "{test}: SKIPPED: STEPSCALE_TEST_PROMETHEUS_URL is not set (no real Prometheus). \
                 Run `bash .ci/prometheus.sh up` and export the line it prints to run it."
            );
            None
        }
    }
}

/// The NAB rows of the fixture: (shifted unix seconds, CPU utilization %).
fn nab_rows() -> Vec<(i64, f64)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/traces/nab")
        .join(NAB_CSV);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (shared/ must sit beside the checkout)",
            path.display()
        )
    });
    text.lines()
        .skip(1)
        .take(ROWS)
        .map(|line| {
            let (ts, v) = line.split_once(',').expect("timestamp,value");
            let dt: jiff::civil::DateTime = ts.replace(' ', "T").parse().expect("NAB timestamp");
            let t = dt
                .to_zoned(jiff::tz::TimeZone::UTC)
                .expect("UTC")
                .timestamp()
                .as_second();
            (t + SHIFT_SECONDS, v.parse().expect("NAB value"))
        })
        .collect()
}

/// The defaults, looking one day back (289 points at 5 minutes).
fn one_day(url: String) -> PrometheusConfig {
    PrometheusConfig {
        lookback_seconds: 86_400,
        ..PrometheusConfig::new(url)
    }
}

fn key(namespace: &str) -> HistoryKey {
    HistoryKey {
        namespace: namespace.into(),
        autoscaler: "checkout".into(),
        target_kind: "Deployment".into(),
        target_name: "checkout".into(),
    }
}

/// Log lines written while a future runs on a current-thread runtime.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// One runtime for every test here: the operator's HTTP client is one per
/// process and keeps connections alive, and a connection lives on the
/// runtime that opened it (as in the operator, which has one runtime).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn run_logged<F: std::future::Future>(f: F) -> (F::Output, String) {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, || runtime().block_on(f));
    let text = String::from_utf8_lossy(&logs.0.lock().expect("log buffer")).into_owned();
    (out, text)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    run_logged(f).0
}

#[test]
fn backfill_returns_the_nab_series_it_was_built_from() {
    let Some(url) = prometheus_url("backfill_returns_the_nab_series_it_was_built_from") else {
        return;
    };
    let rows = nab_rows();
    let (first, last) = (rows[0].0, rows[ROWS - 1].0);
    // Three days back from just after the last sample: the first day has no
    // data and must be trimmed; the grid must land on the samples.
    let config = PrometheusConfig {
        lookback_seconds: 3 * 86_400,
        step_seconds: 300,
        timeout_seconds: 10,
        ..PrometheusConfig::new(url)
    };
    let h = block_on(backfill(&config, &key("nab"), last + 299)).expect("backfill");
    assert_eq!(
        h.start_unix_seconds, first,
        "the grid starts at the first sample"
    );
    assert_eq!(h.step_seconds, 300);
    assert_eq!(h.len(), ROWS);
    assert_eq!(h.replicas_desired.len(), ROWS);
    assert_eq!(h.replicas_current.len(), ROWS);
    let desired: Vec<f64> = rows
        .iter()
        .map(|(_, u)| (u / 25.0).ceil().max(1.0))
        .collect();
    for (i, (_, u)) in rows.iter().enumerate() {
        let got = h.cpu_utilization[i];
        assert!(
            (got - u).abs() < 1e-6,
            "cpu[{i}] is {got}, the NAB value is {u}"
        );
        assert_eq!(h.replicas_desired[i], desired[i], "desired[{i}]");
        let current = if i == 0 { desired[0] } else { desired[i - 1] };
        assert_eq!(h.replicas_current[i], current, "current[{i}]");
    }
    assert_eq!(h.request_rate, None);
}

#[test]
fn the_default_queries_select_the_namespace_and_the_targets_pods_only() {
    let Some(url) =
        prometheus_url("the_default_queries_select_the_namespace_and_the_targets_pods_only")
    else {
        return;
    };
    let rows = nab_rows();
    let config = one_day(url);
    // In namespace "other": one pod using 0.2 of its 1.0 core, HPA at 9.
    let h = block_on(backfill(&config, &key("other"), rows[ROWS - 1].0)).expect("backfill");
    assert!(h.cpu_utilization.iter().all(|v| (v - 20.0).abs() < 1e-6));
    assert!(h.replicas_desired.iter().all(|v| *v == 9.0));
}

#[test]
fn query_overrides_from_the_values_are_sent_and_their_answers_read() {
    let Some(url) =
        prometheus_url("query_overrides_from_the_values_are_sent_and_their_answers_read")
    else {
        return;
    };
    // As a user sets them in the chart's values: the CPU from the pod-level
    // cgroup series (container=""), desired replicas from another
    // namespace's HPA (the fixture holds it at 9); currentReplicas left
    // blank keeps the default.
    let values = format!(
        r#"
prometheus:
  url: {url}
  queries:
    cpuUtilization: '50 * sum(rate(container_cpu_usage_seconds_total{{namespace="{{namespace}}", pod=~"{{pod_regex}}", container=""}}[5m])) / 0.25'
    desiredReplicas: 'max(kube_horizontalpodautoscaler_status_desired_replicas{{namespace="other", horizontalpodautoscaler="{{autoscaler}}"}})'
    currentReplicas: ""
"#
    );
    let values: stepscale_operator::operator::config::Values =
        serde_yaml::from_str(&values).expect("values parse");
    let config = values
        .into_config("op".into(), Some("ops".into()))
        .expect("valid values")
        .prometheus
        .expect("Prometheus configured");
    let rows = nab_rows();
    let h = block_on(backfill(&config, &key("nab"), rows[ROWS - 1].0)).expect("backfill");
    // The override's answer: the two pods' pod-level usage, summed and
    // halved over 0.25 cores each, is the NAB value (as the default is).
    let last = h.len() - 1;
    let u = rows[ROWS - 1].1;
    assert!(
        (h.cpu_utilization[last] - u).abs() < 1e-6,
        "cpu {} vs {u}",
        h.cpu_utilization[last]
    );
    assert!(
        h.replicas_desired.iter().all(|v| *v == 9.0),
        "desired replicas come from the overridden query"
    );
    let current = (rows[ROWS - 2].1 / 25.0).ceil().max(1.0);
    assert_eq!(
        h.replicas_current[last], current,
        "a blank override keeps the default query"
    );
}

#[test]
fn history_for_logs_the_prometheus_source() {
    let Some(url) = prometheus_url("history_for_logs_the_prometheus_source") else {
        return;
    };
    let rows = nab_rows();
    let config = PrometheusConfig::new(url);
    let store = StatusStore::default();
    let (h, logs) = run_logged(history_for(
        Some(&config),
        &store,
        &key("nab"),
        rows[ROWS - 1].0,
        300,
    ));
    let h = h.expect("a history");
    assert_eq!(h.source, MetricsSource::Prometheus);
    assert_eq!(
        h.history.len(),
        ROWS,
        "7-day window trimmed to the 2 days of data"
    );
    assert!(logs.contains(LOG_PROMETHEUS), "logs:\n{logs}");
    assert!(!logs.contains(LOG_HPA_STATUS), "logs:\n{logs}");
}

#[test]
fn a_query_prometheus_rejects_is_reported_with_its_message() {
    let Some(url) = prometheus_url("a_query_prometheus_rejects_is_reported_with_its_message")
    else {
        return;
    };
    let mut config = PrometheusConfig::new(url);
    config.queries.cpu_utilization = "sum(rate(container_cpu_usage_seconds_total[5m]".into();
    let e =
        block_on(backfill(&config, &key("nab"), nab_rows()[ROWS - 1].0)).expect_err("bad PromQL");
    assert!(matches!(e, PrometheusError::Query { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("CPU utilization") && msg.contains("parse error"),
        "{msg}"
    );
    // A query that matches nothing is "no data", naming the series.
    let mut config =
        PrometheusConfig::new(std::env::var("STEPSCALE_TEST_PROMETHEUS_URL").expect("set"));
    config.queries.replicas_desired = "max(no_such_metric{namespace=\"{namespace}\"})".into();
    let e = block_on(backfill(&config, &key("nab"), nab_rows()[ROWS - 1].0)).expect_err("no data");
    assert!(
        matches!(
            e,
            PrometheusError::NoData {
                series: "desired replicas"
            }
        ),
        "{e:?}"
    );
}

/// A store with two samples, so the fallback has a history to return.
fn store_with_samples() -> StatusStore {
    let mut store = StatusStore::default();
    for (t, cpu) in [(1_000_200, 55.0), (1_000_500, 65.0)] {
        store.record(
            &key("nab"),
            StatusSample {
                at_unix_seconds: t,
                cpu_utilization: Some(cpu),
                desired_replicas: 3.0,
                current_replicas: 3.0,
            },
        );
    }
    store
}

#[test]
fn an_unreachable_prometheus_falls_back_to_hpa_status_with_a_warning() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = PrometheusConfig {
        timeout_seconds: 2,
        ..PrometheusConfig::new(format!("http://scraper:hunter2@127.0.0.1:{port}/prom"))
    };
    let store = store_with_samples();
    let (h, logs) = run_logged(history_for(
        Some(&config),
        &store,
        &key("nab"),
        1_000_600,
        300,
    ));
    let h = h.expect("the fallback history");
    assert_eq!(h.source, MetricsSource::HpaStatus);
    assert_eq!(h.history.cpu_utilization, vec![55.0, 65.0]);
    assert!(logs.contains("WARN"), "logs:\n{logs}");
    assert!(
        logs.contains(&format!(
            "cannot reach Prometheus at http://127.0.0.1:{port}/prom"
        )),
        "logs:\n{logs}"
    );
    assert!(logs.contains(LOG_HPA_STATUS), "logs:\n{logs}");
    assert!(!logs.contains("hunter2"), "the password leaked:\n{logs}");
}

#[test]
fn a_silent_prometheus_times_out_and_falls_back() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("address").port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            keep.lock().expect("streams").push(stream);
        }
    });
    let config = PrometheusConfig {
        timeout_seconds: 1,
        ..PrometheusConfig::new(format!("http://127.0.0.1:{port}"))
    };
    let store = store_with_samples();
    let started = Instant::now();
    let (h, logs) = run_logged(history_for(
        Some(&config),
        &store,
        &key("nab"),
        1_000_600,
        300,
    ));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout did not bound the tick: {:?}",
        started.elapsed()
    );
    assert_eq!(h.expect("fallback").source, MetricsSource::HpaStatus);
    assert!(logs.contains("WARN"), "logs:\n{logs}");
    assert!(logs.contains("did not answer"), "logs:\n{logs}");
    assert!(logs.contains("within 1 s"), "logs:\n{logs}");
    assert!(logs.contains(LOG_HPA_STATUS), "logs:\n{logs}");
}

#[test]
fn without_prometheus_the_fallback_is_used_without_a_warning() {
    let store = store_with_samples();
    let (h, logs) = run_logged(history_for(None, &store, &key("nab"), 1_000_600, 300));
    assert_eq!(h.expect("fallback").source, MetricsSource::HpaStatus);
    assert!(logs.contains(LOG_HPA_STATUS), "logs:\n{logs}");
    assert!(!logs.contains("WARN"), "logs:\n{logs}");
    // Too few samples yet: no history, still the fallback's log line.
    let (h, logs) = run_logged(history_for(
        None,
        &StatusStore::default(),
        &key("nab"),
        1_000_600,
        300,
    ));
    assert!(h.is_none());
    assert!(logs.contains(LOG_HPA_STATUS), "logs:\n{logs}");
}

#[test]
fn the_source_says_why_prometheus_gave_nothing_no_data_apart_from_errors() {
    use stepscale_operator::history::source::{ClusterHistory, HistorySource};
    let Some(url) =
        prometheus_url("the_source_says_why_prometheus_gave_nothing_no_data_apart_from_errors")
    else {
        return;
    };
    let now = nab_rows()[ROWS - 1].0;
    // A namespace Prometheus has no series for: no data, and no HPA-status
    // samples yet, so no history.
    let source = ClusterHistory::new(Some(PrometheusConfig::new(url.clone())), 300);
    let missing = key("no-such-namespace");
    assert!(block_on(source.history(&missing, now)).is_none());
    let miss = source.prometheus_miss(&missing).expect("a reason");
    assert!(miss.no_data, "{miss:?}");
    assert!(miss.message.contains("returned no data"), "{miss:?}");
    // The fixture's namespace with a query Prometheus rejects: an error.
    let mut config = PrometheusConfig::new(url.clone());
    config.queries.cpu_utilization = "sum(rate(container_cpu_usage_seconds_total[5m]".into();
    let source = ClusterHistory::new(Some(config), 300);
    assert!(block_on(source.history(&key("nab"), now)).is_none());
    let miss = source.prometheus_miss(&key("nab")).expect("a reason");
    assert!(
        !miss.no_data && miss.message.contains("parse error"),
        "{miss:?}"
    );
    // The fixture itself: history, and no reason left over.
    let source = ClusterHistory::new(Some(PrometheusConfig::new(url)), 300);
    let got = block_on(source.history(&key("nab"), now)).expect("history");
    assert_eq!(got.source, MetricsSource::Prometheus);
    assert!(source.prometheus_miss(&key("nab")).is_none());
}

#[test]
fn a_kept_window_fetches_only_the_tail_and_gives_what_a_full_backfill_gives() {
    let Some(url) =
        prometheus_url("a_kept_window_fetches_only_the_tail_and_gives_what_a_full_backfill_gives")
    else {
        return;
    };
    let rows = nab_rows();
    let config = one_day(url);
    let cache = PrometheusCache::default();
    // Ticks 5 minutes apart across the fixture's last day, the last few
    // past its end (the window moves on with nothing new in it).
    let end = rows[ROWS - 1].0;
    let mut bytes_per_tick = Vec::new();
    let mut before = (0, 0);
    for tick in 0..24 {
        let now = end - 20 * 300 + tick * 300 + 7;
        let kept = block_on(cache.backfill(&config, &key("nab"), now));
        assert!(kept.is_ok(), "tick {tick}: {kept:?}");
        let full = block_on(backfill(&config, &key("nab"), now));
        assert_same(&format!("tick {tick}"), &kept, &full);
        let now_traffic = cache.traffic();
        let requests = now_traffic.0 - before.0;
        assert_eq!(requests, 3, "tick {tick}: one query per series");
        bytes_per_tick.push(now_traffic.1 - before.1);
        before = now_traffic;
    }
    // The first tick reads the day (288 points a series); the others only
    // their tail of 4 points.
    let first = bytes_per_tick[0];
    for (tick, b) in bytes_per_tick.iter().enumerate().skip(1) {
        assert!(
            b * 20 < first,
            "tick {tick} read {b} bytes, the first {first}: not just the tail"
        );
    }
    assert_eq!(cache.bytes_kept(), 3 * 289 * 8, "one day of 3 series");
}

/// The day-2 workloads of `.ci/day2_openmetrics.py`, in their namespace.
fn day2_key(name: &str) -> HistoryKey {
    HistoryKey {
        namespace: "stepscale-day2".into(),
        autoscaler: name.into(),
        target_kind: "Deployment".into(),
        target_name: name.into(),
    }
}

/// The history the cache gives equals a full backfill of the same key on
/// its own: the same samples, or the same error.
fn assert_same(
    what: &str,
    kept: &Result<stepscale_engine::snapshot::MetricHistory, PrometheusError>,
    full: &Result<stepscale_engine::snapshot::MetricHistory, PrometheusError>,
) {
    match (kept, full) {
        (Ok(k), Ok(f)) => {
            assert_eq!(k.start_unix_seconds, f.start_unix_seconds, "{what}");
            assert_eq!(k.len(), f.len(), "{what}");
            for (name, a, b) in [
                ("cpu", &k.cpu_utilization, &f.cpu_utilization),
                ("desired", &k.replicas_desired, &f.replicas_desired),
                ("current", &k.replicas_current, &f.replicas_current),
            ] {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        x == y || (x.is_nan() && y.is_nan()),
                        "{what}: {name}[{i}] is {x} from the cache, {y} alone"
                    );
                }
            }
        }
        (Err(k), Err(f)) => assert_eq!(k.to_string(), f.to_string(), "{what}"),
        (k, f) => {
            let said = |r: &Result<stepscale_engine::snapshot::MetricHistory, PrometheusError>| {
                r.as_ref()
                    .map_or_else(|e| e.to_string(), |h| format!("{} samples", h.len()))
            };
            panic!("{what}: {} from the cache, {} alone", said(k), said(f))
        }
    }
}

#[test]
fn batched_queries_give_each_autoscaler_what_its_own_queries_give() {
    let Some(url) =
        prometheus_url("batched_queries_give_each_autoscaler_what_its_own_queries_give")
    else {
        return;
    };
    let rows = nab_rows();
    let config = one_day(url);
    // Two namespaces of the NAB fixture, one autoscaler there with no
    // series at all; then the day-2 namespace, whose week ends now.
    let ghost = HistoryKey {
        autoscaler: "ghost".into(),
        target_name: "ghost".into(),
        ..key("nab")
    };
    let now_day2 = jiff::Timestamp::now().as_second();
    let runs = [
        (
            "NAB",
            vec![key("nab"), ghost, key("other")],
            rows[ROWS - 1].0,
            2,
        ),
        (
            "day-2",
            vec![day2_key("shop"), day2_key("cart")],
            now_day2,
            1,
        ),
    ];
    for (what, keys, end, namespaces) in runs {
        let cache = PrometheusCache::default();
        // Three ticks five minutes apart: each autoscaler's whole window
        // (asked for alone), then two tails (batched).
        for (tick, now) in [end - 600, end - 300, end].into_iter().enumerate() {
            let before = cache.traffic();
            block_on(cache.prefetch(&config, &keys, now));
            let prefetch = cache.traffic();
            let batched = if tick == 0 { 0 } else { 3 * namespaces };
            assert_eq!(
                prefetch.0 - before.0,
                batched,
                "{what} tick {tick}: one query per series and namespace for the tails"
            );
            for key in &keys {
                let kept = block_on(cache.backfill(&config, key, now));
                let full = block_on(backfill(&config, key, now));
                assert_same(
                    &format!("{what} tick {tick} {}/{}", key.namespace, key.autoscaler),
                    &kept,
                    &full,
                );
            }
            let alone = if tick == 0 { 3 * keys.len() as u64 } else { 0 };
            assert_eq!(
                cache.traffic().0 - prefetch.0,
                alone,
                "{what} tick {tick}: a whole window is asked for alone, a prefetched one not again"
            );
        }
    }
}
