//! Prometheus range-query backfill: one `/api/v1/query_range` request per
//! series (CPU utilization, desired replicas, current replicas, optionally
//! request rate), run concurrently, each answer aligned onto one fixed grid.
//!
//! This module owns the HTTP call, the PromQL templates and the parsing of
//! Prometheus' JSON. It does not decide what to do when Prometheus fails:
//! [`super::history_for`] logs the warning and falls back to HPA status.
//!
//! # The grid
//! The window ends at `now` rounded down to a multiple of `step_seconds`
//! (so consecutive ticks see the same grid) and reaches back
//! `lookback_seconds`. Every query is evaluated by Prometheus at exactly those
//! points; a point where a series has no value is a gap (`NaN`). Grid points
//! at the start or end where *every* series is a gap (a workload younger than
//! the window) are trimmed.
//!
//! # Errors never leak credentials
//! A URL with `user:password@` works (basic auth), but messages only ever name
//! the endpoint as `scheme://host:port/path`, never the user info or query.

use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use stepscale_engine::snapshot::MetricHistory;

use super::HistoryKey;

/// Default look-back window: 7 days, in seconds.
pub const DEFAULT_LOOKBACK_SECONDS: u32 = 7 * 24 * 3600;
/// Default query step: 5 minutes, in seconds.
pub const DEFAULT_STEP_SECONDS: u32 = 300;
/// Default per-request timeout, in seconds.
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 10;
/// Prometheus refuses range queries of more than 11,000 points per series.
pub const MAX_POINTS: u32 = 11_000;

/// Default PromQL for CPU utilization, percent of the pods' CPU request:
/// CPU seconds used per second (cAdvisor) over the cores requested
/// (kube-state-metrics), over the target's pods.
pub const DEFAULT_CPU_QUERY: &str = concat!(
    "100 * sum(rate(container_cpu_usage_seconds_total{namespace=\"{namespace}\", ",
    "pod=~\"{pod_regex}\", container!=\"\", container!=\"POD\"}[5m])) / ",
    "sum(kube_pod_container_resource_requests{namespace=\"{namespace}\", ",
    "pod=~\"{pod_regex}\", resource=\"cpu\"})"
);

/// Default PromQL for desired replicas: the HPA's
/// `status.desiredReplicas` from kube-state-metrics; for a KEDA ScaledObject
/// the HPA KEDA creates for it (`keda-hpa-<name>`).
pub const DEFAULT_DESIRED_REPLICAS_QUERY: &str = concat!(
    "max(kube_horizontalpodautoscaler_status_desired_replicas{namespace=\"{namespace}\", ",
    "horizontalpodautoscaler=\"{autoscaler}\"}) or ",
    "max(kube_horizontalpodautoscaler_status_desired_replicas{namespace=\"{namespace}\", ",
    "horizontalpodautoscaler=\"keda-hpa-{autoscaler}\"})"
);

/// Default PromQL for current replicas: the HPA's `status.currentReplicas`
/// (or KEDA's HPA), else the target's `status.replicas`
/// (`kube_deployment_status_replicas`, `kube_statefulset_status_replicas`).
pub const DEFAULT_CURRENT_REPLICAS_QUERY: &str = concat!(
    "max(kube_horizontalpodautoscaler_status_current_replicas{namespace=\"{namespace}\", ",
    "horizontalpodautoscaler=\"{autoscaler}\"}) or ",
    "max(kube_horizontalpodautoscaler_status_current_replicas{namespace=\"{namespace}\", ",
    "horizontalpodautoscaler=\"keda-hpa-{autoscaler}\"}) or ",
    "max(kube_{target_kind}_status_replicas{namespace=\"{namespace}\", ",
    "{target_kind}=\"{target}\"})"
);

/// The PromQL templates, one per series. Each must return **one** series
/// (aggregate with `sum`/`max`); a query returning several is rejected.
///
/// Placeholders, replaced for each autoscaler:
/// - `{namespace}`: the namespace;
/// - `{autoscaler}`: the HPA or ScaledObject name;
/// - `{target}`: the scaled object's name;
/// - `{target_kind}`: its kind in lower case (`deployment`, `statefulset`),
///   as kube-state-metrics spells it in metric and label names;
/// - `{pod_regex}`: a regex matching the target's pod names:
///   `<target>-[a-z0-9]+-[a-z0-9]+` for a Deployment, `<target>-[0-9]+` for a
///   StatefulSet, `<target>-.+` otherwise.
///
/// Values are escaped for a PromQL double-quoted string (and, in
/// `{pod_regex}`, for the regex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queries {
    /// CPU utilization, percent of request (default [`DEFAULT_CPU_QUERY`]).
    pub cpu_utilization: String,
    /// Desired replicas (default [`DEFAULT_DESIRED_REPLICAS_QUERY`]).
    pub replicas_desired: String,
    /// Current replicas (default [`DEFAULT_CURRENT_REPLICAS_QUERY`]).
    pub replicas_current: String,
    /// Requests per second, if wanted (default none: not queried).
    pub request_rate: Option<String>,
}

impl Default for Queries {
    fn default() -> Self {
        Queries {
            cpu_utilization: DEFAULT_CPU_QUERY.to_owned(),
            replicas_desired: DEFAULT_DESIRED_REPLICAS_QUERY.to_owned(),
            replicas_current: DEFAULT_CURRENT_REPLICAS_QUERY.to_owned(),
            request_rate: None,
        }
    }
}

impl Queries {
    /// Fill the placeholders of `template` for `key` (see [`Queries`]).
    ///
    /// # Examples
    /// ```
    /// use stepscale_operator::history::HistoryKey;
    /// use stepscale_operator::history::prometheus::Queries;
    /// let key = HistoryKey {
    ///     namespace: "shop".into(),
    ///     autoscaler: "web".into(),
    ///     target_kind: "Deployment".into(),
    ///     target_name: "web".into(),
    /// };
    /// assert_eq!(
    ///     Queries::render("up{namespace=\"{namespace}\", pod=~\"{pod_regex}\"}", &key),
    ///     "up{namespace=\"shop\", pod=~\"web-[a-z0-9]+-[a-z0-9]+\"}"
    /// );
    /// ```
    pub fn render(template: &str, key: &HistoryKey) -> String {
        let kind: String = key
            .target_kind
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let name_re = regex_escape(&key.target_name);
        let pod_regex = match kind.as_str() {
            "deployment" => format!("{name_re}-[a-z0-9]+-[a-z0-9]+"),
            "statefulset" => format!("{name_re}-[0-9]+"),
            _ => format!("{name_re}-.+"),
        };
        template
            .replace("{namespace}", &promql_escape(&key.namespace))
            .replace("{autoscaler}", &promql_escape(&key.autoscaler))
            .replace("{target_kind}", &kind)
            .replace("{target}", &promql_escape(&key.target_name))
            .replace("{pod_regex}", &promql_escape(&pod_regex))
    }
}

/// Escape a value for a PromQL double-quoted string.
fn promql_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Escape regex metacharacters (Kubernetes names only have `.` and `-`).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Prometheus settings (from Helm values `prometheus.*`).
///
/// Build it with [`PrometheusConfig::new`] and adjust fields (the operator
/// builds it from the values and the chart's `STEPSCALE_PROMETHEUS_*`
/// variables); the defaults are stated on each field.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusConfig {
    /// Base URL, e.g. `http://prometheus.monitoring:9090` (a path prefix such
    /// as `/prometheus` is kept; `user:password@` is sent as basic auth).
    pub url: String,
    /// Look-back window, seconds (default 7 days).
    pub lookback_seconds: u32,
    /// Query step, seconds (default 300; 10..=3600).
    pub step_seconds: u32,
    /// Per-request timeout, seconds (default 10; at least 1).
    pub timeout_seconds: u32,
    /// The PromQL templates (default [`Queries::default`]).
    pub queries: Queries,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            url: String::new(),
            lookback_seconds: DEFAULT_LOOKBACK_SECONDS,
            step_seconds: DEFAULT_STEP_SECONDS,
            timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            queries: Queries::default(),
        }
    }
}

/// Environment variable: base URL (`prometheus.url`); empty or unset means
/// no Prometheus (HPA-status fallback).
pub const ENV_URL: &str = "STEPSCALE_PROMETHEUS_URL";
/// Environment variable: look-back window, seconds.
pub const ENV_LOOKBACK_SECONDS: &str = "STEPSCALE_PROMETHEUS_LOOKBACK_SECONDS";
/// Environment variable: query step, seconds.
pub const ENV_STEP_SECONDS: &str = "STEPSCALE_PROMETHEUS_STEP_SECONDS";
/// Environment variable: per-request timeout, seconds.
pub const ENV_TIMEOUT_SECONDS: &str = "STEPSCALE_PROMETHEUS_TIMEOUT_SECONDS";
/// Environment variable: CPU utilization query template.
pub const ENV_QUERY_CPU: &str = "STEPSCALE_PROMETHEUS_QUERY_CPU";
/// Environment variable: desired replicas query template.
pub const ENV_QUERY_DESIRED: &str = "STEPSCALE_PROMETHEUS_QUERY_DESIRED_REPLICAS";
/// Environment variable: current replicas query template.
pub const ENV_QUERY_CURRENT: &str = "STEPSCALE_PROMETHEUS_QUERY_CURRENT_REPLICAS";
/// Environment variable: request rate query template (optional).
pub const ENV_QUERY_REQUEST_RATE: &str = "STEPSCALE_PROMETHEUS_QUERY_REQUEST_RATE";

impl PrometheusConfig {
    /// Defaults with this base URL.
    pub fn new(url: impl Into<String>) -> Self {
        PrometheusConfig {
            url: url.into(),
            ..PrometheusConfig::default()
        }
    }

    /// Check the settings before any request.
    ///
    /// # Errors
    /// - [`PrometheusError::Config`] when the URL is empty, not an
    ///   `http`/`https` URL, the step is outside 10..=3600 s, the timeout is
    ///   0, the look-back is shorter than two steps, or the window has more
    ///   than [`MAX_POINTS`] points.
    pub fn validate(&self) -> Result<(), PrometheusError> {
        self.endpoint()?;
        if !(10..=3600).contains(&self.step_seconds) {
            return Err(PrometheusError::Config(format!(
                "prometheus step is {} s; use 10 to 3600 s",
                self.step_seconds
            )));
        }
        if self.timeout_seconds == 0 {
            return Err(PrometheusError::Config(
                "prometheus timeout is 0 s; use at least 1 s".into(),
            ));
        }
        if self.lookback_seconds < 2 * self.step_seconds {
            return Err(PrometheusError::Config(format!(
                "prometheus look-back is {} s, shorter than two steps of {} s",
                self.lookback_seconds, self.step_seconds
            )));
        }
        let points = self.lookback_seconds / self.step_seconds + 1;
        if points > MAX_POINTS {
            return Err(PrometheusError::Config(format!(
                "prometheus look-back of {} s at a {} s step is {points} points; \
                 Prometheus allows {MAX_POINTS}: raise the step or shorten the look-back",
                self.lookback_seconds, self.step_seconds
            )));
        }
        Ok(())
    }

    /// The grid of the look-back window ending at `now_unix_seconds`.
    pub fn grid_ending_at(&self, now_unix_seconds: i64) -> Grid {
        Grid::ending_at(now_unix_seconds, self.lookback_seconds, self.step_seconds)
    }

    /// The validated settings' `/api/v1/query_range` URL and the base URL's
    /// printable (credential-free) form.
    pub(super) fn query_range_endpoint(&self) -> Result<(reqwest::Url, String), PrometheusError> {
        self.validate()?;
        let (mut url, endpoint) = self.endpoint()?;
        url.path_segments_mut()
            .map_err(|()| PrometheusError::Config("prometheus.url cannot be a base URL".into()))?
            .pop_if_empty()
            .extend(["api", "v1", "query_range"]);
        Ok((url, endpoint))
    }

    /// The parsed base URL and its printable (credential-free) form.
    fn endpoint(&self) -> Result<(reqwest::Url, String), PrometheusError> {
        let url = self.url.trim();
        if url.is_empty() {
            return Err(PrometheusError::Config("prometheus.url is empty".into()));
        }
        // The URL itself is not echoed: it may carry a password.
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            PrometheusError::Config(format!("prometheus.url is not a valid URL ({e})"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(PrometheusError::Config(format!(
                "prometheus.url must start with http:// or https://, not {}://",
                parsed.scheme()
            )));
        }
        let printable = redact(&parsed);
        Ok((parsed, printable))
    }
}

/// `scheme://host[:port]/path` without user info, query or fragment.
fn redact(url: &reqwest::Url) -> String {
    let mut s = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        s.push_str(&format!(":{port}"));
    }
    s.push_str(url.path().trim_end_matches('/'));
    s
}

/// Why a backfill failed (the operator then falls back to HPA status). No
/// message carries credentials or the query string of the URL.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// The settings are unusable; nothing was sent.
    #[error("prometheus configuration: {0}")]
    Config(String),
    /// The connection failed (DNS, refused, TLS).
    #[error("cannot reach Prometheus at {endpoint}: {message}")]
    Unreachable {
        /// Credential-free `scheme://host:port/path`.
        endpoint: String,
        /// The cause chain.
        message: String,
    },
    /// No answer within the timeout.
    #[error("Prometheus at {endpoint} did not answer the {series} query within {seconds} s")]
    Timeout {
        /// Credential-free `scheme://host:port/path`.
        endpoint: String,
        /// Which series was being queried.
        series: &'static str,
        /// The timeout, seconds.
        seconds: u32,
    },
    /// Prometheus answered with an HTTP error and no usable error body.
    #[error("Prometheus at {endpoint} answered HTTP {status} to the {series} query: {message}")]
    Http {
        /// Credential-free `scheme://host:port/path`.
        endpoint: String,
        /// Which series was being queried.
        series: &'static str,
        /// The HTTP status code.
        status: u16,
        /// The start of the body.
        message: String,
    },
    /// Prometheus rejected the query (`"status": "error"`), e.g. bad PromQL.
    #[error("Prometheus rejected the {series} query ({error_type}): {message}")]
    Query {
        /// Which series was being queried.
        series: &'static str,
        /// Prometheus' `errorType`, e.g. `bad_data`.
        error_type: String,
        /// Prometheus' `error`.
        message: String,
    },
    /// The answer is not the JSON of a range query.
    #[error("unexpected answer from Prometheus to the {series} query: {message}")]
    BadResponse {
        /// Which series was being queried.
        series: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The query matched nothing in the window.
    #[error("the {series} query returned no data in the look-back window; check that the exporters (cAdvisor, kube-state-metrics) are scraped or override the query")]
    NoData {
        /// Which series was being queried.
        series: &'static str,
    },
    /// The query returned several series where one was needed.
    #[error("the {series} query returned {count} series; it must return one (aggregate it, e.g. with max() or sum())")]
    Ambiguous {
        /// Which series was being queried.
        series: &'static str,
        /// How many series came back.
        count: usize,
    },
}

/// Names of the series, used in errors.
pub(super) const CPU: &str = "CPU utilization";
const DESIRED: &str = "desired replicas";
const CURRENT: &str = "current replicas";
const REQUEST_RATE: &str = "request rate";

/// The JSON of `/api/v1/query_range` (success and error share it).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Option<ApiData>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiData {
    result_type: String,
    result: Vec<ApiSeries>,
}

/// One series of a range-query answer: its labels and its samples.
#[derive(Debug, Deserialize)]
pub(super) struct ApiSeries {
    /// The series' labels (a batched query tags each autoscaler's series).
    #[serde(default)]
    pub(super) metric: std::collections::HashMap<String, String>,
    /// `(unix seconds, value)` pairs, the value as Prometheus spells it.
    #[serde(default)]
    pub(super) values: Vec<(f64, String)>,
}

/// The grid every series is aligned to: `len` points `step` seconds
/// apart from `start` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// The first point, Unix seconds.
    pub start: i64,
    /// Seconds between points.
    pub step: i64,
    /// Points.
    pub len: usize,
}

impl Grid {
    /// The window ending at `now` rounded down to the step.
    pub fn ending_at(now_unix_seconds: i64, lookback_seconds: u32, step_seconds: u32) -> Grid {
        let step = i64::from(step_seconds.max(1));
        let end = now_unix_seconds.div_euclid(step) * step;
        let intervals = i64::from(lookback_seconds) / step;
        Grid {
            start: end - intervals * step,
            step,
            len: intervals as usize + 1,
        }
    }

    /// The last point, Unix seconds.
    pub fn end(&self) -> i64 {
        self.start + (self.len as i64 - 1) * self.step
    }
}

/// The series of one workload on a [`Grid`], untrimmed: a point without a
/// value is `NaN`.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The grid the series are on.
    pub grid: Grid,
    /// CPU utilization, percent of request.
    pub cpu: Vec<f64>,
    /// Desired replicas.
    pub desired: Vec<f64>,
    /// Current replicas.
    pub current: Vec<f64>,
    /// Requests per second, when a query is set and it returned data.
    pub rate: Option<Vec<f64>>,
}

impl Window {
    /// Bytes the series hold (the bound of what a cached window costs).
    pub fn bytes(&self) -> usize {
        let series = 3 + usize::from(self.rate.is_some());
        series * self.grid.len * std::mem::size_of::<f64>()
    }

    /// The history: the points at both ends where every series is a gap
    /// are trimmed.
    ///
    /// # Errors
    /// [`PrometheusError::NoData`] when a required series (CPU, desired or
    /// current replicas) has no value in the window, or fewer than two
    /// points remain.
    pub fn history(&self) -> Result<MetricHistory, PrometheusError> {
        for (v, series) in [
            (&self.cpu, CPU),
            (&self.desired, DESIRED),
            (&self.current, CURRENT),
        ] {
            if v.iter().all(|x| x.is_nan()) {
                return Err(PrometheusError::NoData { series });
            }
        }
        let (mut cpu, mut desired, mut current) =
            (self.cpu.clone(), self.desired.clone(), self.current.clone());
        let mut rate = self.rate.clone().filter(|r| r.iter().any(|x| !x.is_nan()));
        let grid = trim(
            self.grid,
            [&mut cpu, &mut desired, &mut current],
            rate.as_mut(),
        )
        .ok_or(PrometheusError::NoData {
            series: "all series",
        })?;
        Ok(MetricHistory {
            start_unix_seconds: grid.start,
            step_seconds: u32::try_from(grid.step).unwrap_or(u32::MAX),
            utc_offset_minutes: 0,
            timezone: None,
            cpu_utilization: cpu,
            replicas_desired: desired,
            replicas_current: current,
            replicas_ready: None,
            request_rate: rate,
        })
    }
}

/// Parse a `query_range` body into its one series' samples; `Ok(None)` when
/// the result is empty.
#[cfg(test)]
fn parse_matrix(
    body: &str,
    series: &'static str,
) -> Result<Option<Vec<(f64, String)>>, PrometheusError> {
    one_series(parse_result(body, series)?, series)
}

/// The samples of a result that must hold at most one series.
fn one_series(
    result: Vec<ApiSeries>,
    series: &'static str,
) -> Result<Option<Vec<(f64, String)>>, PrometheusError> {
    match result.len() {
        0 => Ok(None),
        1 => Ok(result.into_iter().next().map(|s| s.values)),
        count => Err(PrometheusError::Ambiguous { series, count }),
    }
}

/// Parse a `query_range` body into its series.
fn parse_result(body: &str, series: &'static str) -> Result<Vec<ApiSeries>, PrometheusError> {
    let resp: ApiResponse =
        serde_json::from_str(body).map_err(|e| PrometheusError::BadResponse {
            series,
            message: format!("not the JSON of a range query ({e})"),
        })?;
    if resp.status != "success" {
        return Err(PrometheusError::Query {
            series,
            error_type: resp.error_type.unwrap_or_else(|| "unknown".into()),
            message: resp.error.unwrap_or_else(|| "no message".into()),
        });
    }
    let data = resp.data.ok_or(PrometheusError::BadResponse {
        series,
        message: "no \"data\" in a successful answer".into(),
    })?;
    if data.result_type != "matrix" {
        return Err(PrometheusError::BadResponse {
            series,
            message: format!("resultType is {:?}, expected \"matrix\"", data.result_type),
        });
    }
    Ok(data.result)
}

/// Place samples on the grid: each sample goes to the nearest grid point
/// (within half a step); points without a sample, and non-finite values
/// (`NaN`, `±Inf` from a division by a zero request), are gaps (`NaN`).
pub(super) fn align(
    samples: &[(f64, String)],
    grid: Grid,
    series: &'static str,
) -> Result<Vec<f64>, PrometheusError> {
    let mut out = vec![f64::NAN; grid.len];
    let step = grid.step as f64;
    for (t, v) in samples {
        let value: f64 = v.parse().map_err(|_| PrometheusError::BadResponse {
            series,
            message: format!("sample value {v:?} is not a number"),
        })?;
        let offset = (t - grid.start as f64) / step;
        let i = offset.round();
        if !(0.0..grid.len as f64).contains(&i) {
            continue;
        }
        if value.is_finite() {
            out[i as usize] = value;
        }
    }
    Ok(out)
}

/// Trim grid points at both ends where every series is a gap; `None` when
/// fewer than two points remain.
fn trim(grid: Grid, series: [&mut Vec<f64>; 3], extra: Option<&mut Vec<f64>>) -> Option<Grid> {
    let n = grid.len;
    let has = |i: usize, s: &[&mut Vec<f64>; 3]| s.iter().any(|v| v[i].is_finite());
    let first = (0..n).find(|&i| has(i, &series))?;
    let last = (0..n).rev().find(|&i| has(i, &series))?;
    if last <= first {
        return None;
    }
    let mut all = series.into_iter().collect::<Vec<_>>();
    if let Some(e) = extra {
        all.push(e);
    }
    for v in all {
        v.truncate(last + 1);
        v.drain(..first);
    }
    Some(Grid {
        start: grid.start + first as i64 * grid.step,
        step: grid.step,
        len: last + 1 - first,
    })
}

/// One HTTP client for the process (connection pooling); timeouts are set
/// per request.
fn client() -> Result<reqwest::Client, PrometheusError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let c = reqwest::Client::builder()
        .user_agent(concat!("stepscale/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| PrometheusError::Config(format!("cannot build the HTTP client: {e}")))?;
    Ok(CLIENT.get_or_init(|| c).clone())
}

/// Everything one request needs.
pub(super) struct Request<'a> {
    client: reqwest::Client,
    /// The `query_range` endpoint.
    url: reqwest::Url,
    /// The endpoint as errors name it (no credentials).
    endpoint: String,
    grid: Grid,
    timeout_seconds: u32,
    /// Requests and bytes, summed.
    traffic: &'a Traffic,
}

/// Requests sent to Prometheus and bytes of answers read, summed.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Range queries sent.
    pub requests: std::sync::atomic::AtomicU64,
    /// Bytes of answers read.
    pub bytes: std::sync::atomic::AtomicU64,
}

impl Traffic {
    /// Requests and bytes so far.
    pub fn totals(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.requests.load(Relaxed), self.bytes.load(Relaxed))
    }
}

impl<'a> Request<'a> {
    /// Range queries on `grid` with `config`'s endpoint and timeout, their
    /// requests and bytes added to `traffic`.
    ///
    /// # Errors
    /// [`PrometheusError::Config`]: unusable settings.
    pub(super) fn new(
        config: &PrometheusConfig,
        grid: Grid,
        traffic: &'a Traffic,
    ) -> Result<Self, PrometheusError> {
        let (url, endpoint) = config.query_range_endpoint()?;
        Ok(Request {
            client: client()?,
            url,
            endpoint,
            grid,
            timeout_seconds: config.timeout_seconds,
            traffic,
        })
    }

    /// Run one range query and align its series (all `NaN` if empty).
    async fn fetch(&self, query: &str, series: &'static str) -> Result<Vec<f64>, PrometheusError> {
        let samples = one_series(self.query(query, series, false).await?, series)?;
        align(&samples.unwrap_or_default(), self.grid, series)
    }

    /// Run one range query and return the series of its answer: a GET, or
    /// with `post` a form POST (a batched query can be longer than a URL
    /// may be).
    pub(super) async fn query(
        &self,
        query: &str,
        series: &'static str,
        post: bool,
    ) -> Result<Vec<ApiSeries>, PrometheusError> {
        let start = self.grid.start.to_string();
        let end = self.grid.end().to_string();
        let step = self.grid.step.to_string();
        let seconds = self.timeout_seconds;
        let err = |e: reqwest::Error| {
            if e.is_timeout() {
                PrometheusError::Timeout {
                    endpoint: self.endpoint.to_owned(),
                    series,
                    seconds,
                }
            } else {
                PrometheusError::Unreachable {
                    endpoint: self.endpoint.to_owned(),
                    message: cause_chain(&e.without_url()),
                }
            }
        };
        let params = [
            ("query", query),
            ("start", &start),
            ("end", &end),
            ("step", &step),
        ];
        let request = if post {
            self.client.post(self.url.clone()).form(&params)
        } else {
            self.client.get(self.url.clone()).query(&params)
        };
        let resp = request
            .timeout(Duration::from_secs(u64::from(seconds)))
            .send()
            .await
            .map_err(err)?;
        let status = resp.status();
        let body = resp.text().await.map_err(err)?;
        self.traffic
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.traffic.bytes.fetch_add(
            u64::try_from(body.len()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        // Prometheus answers 400/422/503 with an error JSON body: prefer its
        // message; anything else (a proxy's HTML page) is an HTTP error.
        match parse_result(&body, series) {
            Err(PrometheusError::BadResponse { .. }) if !status.is_success() => {
                Err(PrometheusError::Http {
                    endpoint: self.endpoint.to_owned(),
                    series,
                    status: status.as_u16(),
                    message: body.chars().take(200).collect::<String>().trim().to_owned(),
                })
            }
            other => other,
        }
    }
}

/// An error and its sources, joined with `: `.
fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// Backfill the history of `key` ending at `now_unix_seconds`: one range
/// query per series over `lookback_seconds` at `step_seconds`, all aligned to
/// one grid (see the module docs), gaps as `NaN`, timestamps in UTC
/// (`utc_offset_minutes` 0).
///
/// # Errors
/// - [`PrometheusError::Config`]: unusable settings (nothing sent);
/// - [`PrometheusError::Unreachable`] / [`PrometheusError::Timeout`]: no
///   answer;
/// - [`PrometheusError::Http`], [`PrometheusError::Query`],
///   [`PrometheusError::BadResponse`]: an answer that is not a range-query
///   result;
/// - [`PrometheusError::NoData`]: a required series (CPU, desired or current
///   replicas) is empty in the window (an optional request-rate query that
///   is empty just leaves `request_rate` unset);
/// - [`PrometheusError::Ambiguous`]: a query returned several series.
///
/// # Examples
/// ```no_run
/// # async fn f() -> Result<(), stepscale_operator::history::prometheus::PrometheusError> {
/// use stepscale_operator::history::HistoryKey;
/// use stepscale_operator::history::prometheus::{backfill, PrometheusConfig};
/// let config = PrometheusConfig::new("http://prometheus.monitoring:9090");
/// let key = HistoryKey {
///     namespace: "shop".into(),
///     autoscaler: "web".into(),
///     target_kind: "Deployment".into(),
///     target_name: "web".into(),
/// };
/// let history = backfill(&config, &key, 1_700_000_000).await?;
/// println!("{} samples", history.len());
/// # Ok(()) }
/// ```
pub async fn backfill(
    config: &PrometheusConfig,
    key: &HistoryKey,
    now_unix_seconds: i64,
) -> Result<MetricHistory, PrometheusError> {
    let grid = config.grid_ending_at(now_unix_seconds);
    fetch_window(config, key, grid, &Traffic::default())
        .await?
        .history()
}

/// The series of `key` on `grid`, one range query per series, run
/// concurrently; untrimmed, and with no check that any series has data
/// (see [`Window::history`]). Requests and bytes are added to `traffic`.
///
/// # Errors
/// As [`backfill`], except [`PrometheusError::NoData`].
pub async fn fetch_window(
    config: &PrometheusConfig,
    key: &HistoryKey,
    grid: Grid,
    traffic: &Traffic,
) -> Result<Window, PrometheusError> {
    let req = Request::new(config, grid, traffic)?;
    let req = &req;
    let (cpu, desired, current, rate) = each_series(&config.queries, |template, series| {
        let query = Queries::render(template, key);
        async move { req.fetch(&query, series).await }
    })
    .await;
    Ok(Window {
        grid,
        cpu: cpu?,
        desired: desired?,
        current: current?,
        rate: rate.transpose()?,
    })
}

/// `fetch(template, series name)` for each series of `queries`, run
/// concurrently: CPU utilization, desired and current replicas, and the
/// request rate when its query is set.
pub(super) async fn each_series<T, F, Fut>(queries: &Queries, fetch: F) -> (T, T, T, Option<T>)
where
    F: Fn(&str, &'static str) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    tokio::join!(
        fetch(&queries.cpu_utilization, CPU),
        fetch(&queries.replicas_desired, DESIRED),
        fetch(&queries.replicas_current, CURRENT),
        async {
            match &queries.request_rate {
                Some(t) => Some(fetch(t, REQUEST_RATE).await),
                None => None,
            }
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &str) -> HistoryKey {
        HistoryKey {
            namespace: "shop".into(),
            autoscaler: "web-hpa".into(),
            target_kind: kind.into(),
            target_name: "web.v2".into(),
        }
    }

    /// A real `query_range` answer shape (Prometheus 2.42), two samples.
    const ONE_SERIES: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{},"values":[[1700000000,"12.5"],[1700000300,"NaN"],[1700000600,"+Inf"],[1700000900,"40"]]}]}}"#;

    #[test]
    fn a_matrix_with_one_series_is_aligned_with_gaps() {
        let samples = parse_matrix(ONE_SERIES, CPU)
            .expect("parses")
            .expect("one series");
        let grid = Grid {
            start: 1_699_999_700,
            step: 300,
            len: 6,
        };
        let v = align(&samples, grid, CPU).expect("aligns");
        assert!(v[0].is_nan(), "before the first sample");
        assert_eq!(v[1], 12.5);
        assert!(v[2].is_nan(), "NaN from Prometheus is a gap");
        assert!(v[3].is_nan(), "+Inf is a gap");
        assert_eq!(v[4], 40.0);
        assert!(v[5].is_nan(), "after the last sample");
    }

    #[test]
    fn samples_off_the_grid_go_to_the_nearest_point_and_outside_ones_are_dropped() {
        let samples = vec![
            (1_000.4, "1".to_string()),
            (1_299.0, "2".to_string()),
            (100.0, "9".to_string()),
            (99_999.0, "9".to_string()),
        ];
        let grid = Grid {
            start: 1_000,
            step: 300,
            len: 3,
        };
        let v = align(&samples, grid, CPU).expect("aligns");
        assert_eq!(v[0], 1.0);
        assert_eq!(v[1], 2.0);
        assert!(v[2].is_nan());
    }

    #[test]
    fn an_empty_result_is_none_and_several_series_are_ambiguous() {
        let empty = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(parse_matrix(empty, DESIRED).expect("parses").is_none());
        let two = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"pod":"a"},"values":[[1,"1"]]},{"metric":{"pod":"b"},"values":[[1,"2"]]}]}}"#;
        let e = parse_matrix(two, DESIRED).expect_err("two series");
        assert!(matches!(e, PrometheusError::Ambiguous { count: 2, .. }));
        assert!(e.to_string().contains("aggregate"), "{e}");
    }

    #[test]
    fn a_prometheus_error_body_becomes_a_query_error_with_its_message() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#;
        let e = parse_matrix(body, CPU).expect_err("error body");
        assert_eq!(
            e.to_string(),
            "Prometheus rejected the CPU utilization query (bad_data): 1:5: parse error: unexpected end of input"
        );
    }

    #[test]
    fn wrong_shapes_are_bad_responses() {
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(matches!(
            parse_matrix(vector, CPU),
            Err(PrometheusError::BadResponse { .. })
        ));
        assert!(matches!(
            parse_matrix("<html>502</html>", CPU),
            Err(PrometheusError::BadResponse { .. })
        ));
        let bad_value = vec![(0.0, "twelve".to_string())];
        let grid = Grid {
            start: 0,
            step: 60,
            len: 1,
        };
        let e = align(&bad_value, grid, CPU).expect_err("not a number");
        assert!(e.to_string().contains("\"twelve\""), "{e}");
    }

    #[test]
    fn the_grid_ends_at_now_rounded_down_to_the_step() {
        let g = Grid::ending_at(1_000_123, 3_600, 300);
        assert_eq!(g.end(), 999_900);
        assert_eq!(g.start, 999_900 - 3_600);
        assert_eq!(g.len, 13);
    }

    #[test]
    fn leading_and_trailing_all_gap_points_are_trimmed() {
        let n = f64::NAN;
        let mut a = vec![n, n, 1.0, n, 3.0, n];
        let mut b = vec![n, n, n, 2.0, n, n];
        let mut c = vec![n, n, 5.0, 5.0, 5.0, n];
        let mut r = vec![7.0, 7.0, 7.0, 7.0, 7.0, 7.0];
        let g = Grid {
            start: 0,
            step: 60,
            len: 6,
        };
        let t = trim(g, [&mut a, &mut b, &mut c], Some(&mut r)).expect("trimmed");
        assert_eq!((t.start, t.len), (120, 3));
        assert_eq!(a.len(), 3);
        assert_eq!(c, vec![5.0, 5.0, 5.0]);
        assert_eq!(r.len(), 3, "the optional series follows the grid");
        let mut only = vec![n, 1.0, n];
        let (mut x, mut y) = (vec![n; 3], vec![n; 3]);
        let g3 = Grid {
            start: 0,
            step: 60,
            len: 3,
        };
        assert!(trim(g3, [&mut only, &mut x, &mut y], None).is_none());
    }

    #[test]
    fn placeholders_are_filled_and_escaped() {
        let q = Queries::render(
            "{namespace}/{autoscaler}/{target}/{target_kind}/{pod_regex}",
            &key("Deployment"),
        );
        assert_eq!(
            q,
            r"shop/web-hpa/web.v2/deployment/web\\.v2-[a-z0-9]+-[a-z0-9]+"
        );
        let s = Queries::render("{pod_regex}", &key("StatefulSet"));
        assert_eq!(s, r"web\\.v2-[0-9]+");
        let other = Queries::render("{pod_regex} {target_kind}", &key("Stackable.Scaler"));
        assert_eq!(other, r"web\\.v2-.+ stackablescaler");
        let mut quoted = key("Deployment");
        quoted.namespace = "a\"b".into();
        assert_eq!(Queries::render("{namespace}", &quoted), "a\\\"b");
    }

    #[test]
    fn default_queries_render_without_placeholders_left() {
        let q = Queries::default();
        for t in [&q.cpu_utilization, &q.replicas_desired, &q.replicas_current] {
            let r = Queries::render(t, &key("Deployment"));
            for p in [
                "{namespace}",
                "{autoscaler}",
                "{target}",
                "{pod_regex}",
                "{target_kind}",
            ] {
                assert!(!r.contains(p), "{p} left in {r}");
            }
        }
        let cur = Queries::render(&q.replicas_current, &key("StatefulSet"));
        assert!(
            cur.contains(
                "kube_statefulset_status_replicas{namespace=\"shop\", statefulset=\"web.v2\"}"
            ),
            "{cur}"
        );
    }

    #[test]
    fn settings_are_validated_and_errors_hide_credentials() {
        let ok =
            PrometheusConfig::new("https://user:s3cret@prom.example:9443/prometheus/?token=t0k");
        ok.validate().expect("valid");
        let (_, printable) = ok.endpoint().expect("endpoint");
        assert_eq!(printable, "https://prom.example:9443/prometheus");
        for (c, needle) in [
            (PrometheusConfig::new(""), "empty"),
            (PrometheusConfig::new("ftp://user:s3cret@x"), "http://"),
            (PrometheusConfig::new("not a url s3cret"), "not a valid URL"),
            (
                PrometheusConfig {
                    step_seconds: 5,
                    ..PrometheusConfig::new("http://p")
                },
                "10 to 3600",
            ),
            (
                PrometheusConfig {
                    step_seconds: 10,
                    lookback_seconds: 30 * 86_400,
                    ..PrometheusConfig::new("http://p")
                },
                "11000",
            ),
            (
                PrometheusConfig {
                    timeout_seconds: 0,
                    ..PrometheusConfig::new("http://p")
                },
                "timeout",
            ),
        ] {
            let e = c.validate().expect_err("invalid").to_string();
            assert!(e.contains(needle), "{e} lacks {needle}");
            assert!(!e.contains("s3cret"), "{e} leaks the password");
        }
    }
}
