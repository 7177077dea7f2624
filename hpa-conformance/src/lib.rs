//! Conformance runner for files in the format of `hpa_conformance_cases.json`.
//!
//! Owns reading such a file (any subset of its sections, same field names),
//! turning each transcribed upstream test case into model inputs, evaluating
//! it with [`stepscale_hpa::model`] and [`stepscale_hpa::keda`], and reporting
//! one result per case. It never compares against anything but the file's own
//! expectations. The model library (`stepscale-hpa`) does not depend on it.
//!
//! # How the transcribed fixtures are rebuilt
//! - Pods are named `pod-<i>`; samples are taken "now" with a 60 s window. A `hot` pod
//!   started now, a `cool` pod three minutes ago, any other pod long ago; the Ready
//!   condition last changed at the start time (as the upstream fixtures do).
//! - `replica_calculator_cases`: the pod count is `max(current_replicas,
//!   len(pod_phase))`; every pod has `containers_per_pod` containers.
//! - `controller_cases`: the pod count is `len(pod_cpu_request_cores)` when given,
//!   else `status_replicas`; request and usage are split evenly (integer shares) over
//!   `containers_per_pod` containers (default 2, `container1` and `container2`, as
//!   upstream).
//! - The legacy scale-up limit factor and minimum come from
//!   `constants.horizontal_test_init` ("overridden to 8", "scaleUpLimitMinimum 4").
//! - Controller cases whose upstream fixture had a second metric that fails to fetch
//!   carry it as `failing_metrics: N`, or, in the shared file, only in `note` ("...
//!   metric errors" / "... metric fetch fails"); either adds that many External metrics
//!   whose fetch fails.
//! - KEDA activity and metric-name cases describe their trigger in words
//!   (`metadata_ref`, `at`); the grammar accepted is documented on
//!   [`describe_trigger`] and [`sample_instants`]. Structured `metadata` and RFC 3339
//!   `at` values are accepted too.

#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

use stepscale_hpa::keda::CronTrigger;
use stepscale_hpa::model::behavior::{
    calculate_scale_up_limit, convert_desired_replicas_with_rules, replicas_change_per_period,
    scale_down_limit_with_rules, scale_up_limit_with_rules, Behavior, NormalizationArg, PolicyType,
    Recommendation, ScaleEvent, ScalingHistory, ScalingPolicy, ScalingRules, SelectPolicy,
};
use stepscale_hpa::model::controller::{
    ControllerConfig, HorizontalController, HpaSpec, MetricReading, MetricSource, MetricSpec,
    MetricTarget, ReconcileInput,
};
use stepscale_hpa::model::replica::{
    average_value_replicas, plain_metric_replicas, resource_utilization_replicas, value_replicas,
    MetricSample, PodPhase, PodReading, PodState, PodTiming, Tolerances,
};
use stepscale_hpa::tz::{days_from_civil, parse_timestamp};

/// The controller's "now" used for every fixture, ms since the epoch (2023-11-14).
const NOW_MS: i64 = 1_700_000_000_000;
/// Metric window used for every sample, ms.
const WINDOW_MS: i64 = 60_000;
/// Top-level keys that describe the file rather than hold cases.
const METADATA_KEYS: [&str; 3] = ["provenance", "constants", "formula_notes"];
/// Sections this runner understands.
pub const SECTIONS: [&str; 9] = [
    "replica_calculator_cases",
    "controller_cases",
    "convert_desired_replicas_with_rules_legacy",
    "scale_limit_functions",
    "normalize_desired_replicas_legacy_stabilization_5min",
    "scaling_with_rules",
    "store_scale_events",
    "normalize_desired_replicas_with_behavior",
    "keda_cron_scaler",
];

/// A file could not be evaluated.
#[derive(Debug, Error)]
pub enum ConformanceError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path}: not valid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The top level is not an object, or a section is unknown.
    #[error("{0}")]
    Shape(String),
    /// A case has a missing or ill-typed field.
    #[error("section {section}, case {case}: field {field:?}: {what}")]
    Field {
        /// The section.
        section: String,
        /// The case (index and name).
        case: String,
        /// The field.
        field: String,
        /// What is wrong.
        what: String,
    },
}

/// The result of one case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum Outcome {
    /// The model agrees with the expectation.
    Pass,
    /// The model disagrees.
    Fail {
        /// What the file expects.
        expected: String,
        /// What the model produced.
        got: String,
    },
    /// Not evaluated (marked skipped upstream).
    Skipped {
        /// Why.
        reason: String,
    },
    /// The case (or its whole section) could not be read; the other cases
    /// are still evaluated.
    Error {
        /// What is wrong and where.
        why: String,
    },
}

/// One evaluated case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseResult {
    /// Unique readable name: `section/test#index`.
    pub name: String,
    /// The outcome.
    pub outcome: Outcome,
}

/// All results of a file, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// One entry per case.
    pub results: Vec<CaseResult>,
}

impl Report {
    /// Number of passing cases.
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Pass)
            .count()
    }

    /// Number of failing cases.
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail { .. }))
            .count()
    }

    /// Number of skipped cases.
    pub fn skipped(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skipped { .. }))
            .count()
    }

    /// Number of cases that could not be read.
    pub fn errors(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Error { .. }))
            .count()
    }

    /// Number of cases seen (passed + failed + skipped + errors).
    pub fn total(&self) -> usize {
        self.results.len()
    }

    /// True when no case failed and every case could be read.
    pub fn all_passed(&self) -> bool {
        self.failed() == 0 && self.errors() == 0
    }

    /// `N passed, M failed` with `, K skipped` and `, E errors` appended
    /// when not zero.
    pub fn summary(&self) -> String {
        let mut s = format!("{} passed, {} failed", self.passed(), self.failed());
        if self.skipped() > 0 {
            s.push_str(&format!(", {} skipped", self.skipped()));
        }
        if self.errors() > 0 {
            s.push_str(&format!(", {} errors", self.errors()));
        }
        s
    }

    fn error(&mut self, name: String, e: ConformanceError) {
        self.results.push(CaseResult {
            name,
            outcome: Outcome::Error { why: e.to_string() },
        });
    }

    /// One line per case (`PASS name`, `FAIL name: expected X, got Y`,
    /// `SKIP name: reason`, `ERROR name: why`) followed by the summary line.
    /// Text from the file is escaped ([`stepscale_hpa::limits::printable`]).
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .results
            .iter()
            .map(|r| {
                let line = match &r.outcome {
                    Outcome::Pass => format!("PASS {}", r.name),
                    Outcome::Fail { expected, got } => {
                        format!("FAIL {}: expected {}, got {}", r.name, expected, got)
                    }
                    Outcome::Skipped { reason } => format!("SKIP {}: {}", r.name, reason),
                    Outcome::Error { why } => format!("ERROR {}: {}", r.name, why),
                };
                stepscale_hpa::limits::printable(&line, 1000)
            })
            .collect();
        out.push(self.summary());
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in self.lines() {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

/// Reads and evaluates a conformance file of at most
/// [`stepscale_hpa::limits::MAX_CASES_BYTES`].
///
/// # Errors
/// [`ConformanceError`] when the file cannot be read, is not JSON, or its top
/// level is not an object. A case (or section) that cannot be read is an
/// [`Outcome::Error`] naming the section, case and field, and the other cases
/// are still evaluated; a case whose model result differs is a `Fail`.
///
/// # Examples
/// ```no_run
/// let report = stepscale_hpa_conformance::run_file("hpa_conformance_cases.json")?;
/// for line in report.lines() {
///     println!("{line}");
/// }
/// std::process::exit(if report.all_passed() { 0 } else { 1 });
/// # Ok::<(), stepscale_hpa_conformance::ConformanceError>(())
/// ```
pub fn run_file(path: impl AsRef<Path>) -> Result<Report, ConformanceError> {
    let path = path.as_ref();
    let text = stepscale_hpa::limits::read_text_file(path, stepscale_hpa::limits::MAX_CASES_BYTES)
        .map_err(|source| ConformanceError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    let value: Value = serde_json::from_str(&text).map_err(|source| ConformanceError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    run_value(&value)
}

/// Evaluates an already parsed conformance document.
///
/// # Errors
/// [`ConformanceError::Shape`] when the top level is not an object; every
/// other problem is reported per case (see [`run_file`]).
pub fn run_value(doc: &Value) -> Result<Report, ConformanceError> {
    let top = doc.as_object().ok_or_else(|| {
        ConformanceError::Shape("the top level must be a JSON object of sections".into())
    })?;
    let consts = Constants::from_doc(top);
    let mut report = Report::default();
    for (key, section) in top {
        if METADATA_KEYS.contains(&key.as_str()) {
            continue;
        }
        let result = match key.as_str() {
            "replica_calculator_cases" => each_case(key, section, &mut report, |c| {
                replica_calculator_case(c, &consts)
            }),
            "controller_cases" => {
                each_case(key, section, &mut report, |c| controller_case(c, &consts))
            }
            "convert_desired_replicas_with_rules_legacy" => {
                each_case(key, section, &mut report, |c| {
                    legacy_convert_case(c, &consts)
                })
            }
            "scale_limit_functions" => each_case(key, section, &mut report, scale_limit_case),
            "normalize_desired_replicas_legacy_stabilization_5min" => {
                each_case(key, section, &mut report, |c| {
                    legacy_stabilization_case(c, &consts)
                })
            }
            "scaling_with_rules" => each_case(key, section, &mut report, scaling_with_rules_case),
            "store_scale_events" => cases_of(key, section)
                .and_then(|cases| each_case(key, cases, &mut report, store_scale_events_case)),
            "normalize_desired_replicas_with_behavior" => cases_of(key, section)
                .and_then(|cases| each_case(key, cases, &mut report, behavior_stabilization_case)),
            "keda_cron_scaler" => keda_section(key, section, &mut report),
            _ => Err(ConformanceError::Shape(format!(
                "unknown section; known sections are {}",
                SECTIONS.join(", ")
            ))),
        };
        if let Err(e) = result {
            report.error(key.clone(), e);
        }
    }
    Ok(report)
}

/// The document with every setup that older files give only in words
/// rewritten as the structured fields of `docs/conformance-cases.schema.json`,
/// using the same grammar the runner falls back to:
/// - `controller_cases`: `failing_metrics` (from the `note`) and
///   `containers_per_pod` (the upstream fixture's two);
/// - `keda_cron_scaler.activity_cases`: `metadata`, `min_replicas`,
///   `max_replicas` (from `metadata_ref`) and `at_unix_seconds` (from `at`);
/// - `keda_cron_scaler.metric_name_cases`: `[name, description]` pairs become
///   objects with `expected_name`, `trigger_index`, `metadata`.
///
/// The words are kept as descriptions (`note`, `metadata_ref`, `at`,
/// `description`); a structured field, when present, always wins.
///
/// # Errors
/// [`ConformanceError::Field`] naming a case whose words the grammar does not
/// know.
pub fn structured(doc: &Value) -> Result<Value, ConformanceError> {
    let mut out = doc.clone();
    let err = |section: &str, i: usize, field: &str, what: String| ConformanceError::Field {
        section: section.into(),
        case: format!("#{i}"),
        field: field.into(),
        what,
    };
    if let Some(cases) = out
        .get_mut("controller_cases")
        .and_then(Value::as_array_mut)
    {
        for case in cases.iter_mut().filter_map(Value::as_object_mut) {
            if !case.contains_key("failing_metrics") {
                let note = case.get("note").and_then(Value::as_str).unwrap_or("");
                let n = failing_metrics_in_words(note);
                case.insert("failing_metrics".into(), Value::from(n));
            }
            // The fixture's pod layout, which older files leave implicit.
            case.entry("containers_per_pod").or_insert(Value::from(2));
        }
    }
    let Some(keda) = out.get_mut("keda_cron_scaler") else {
        return Ok(out);
    };
    let section = "keda_cron_scaler.activity_cases";
    if let Some(cases) = keda.get_mut("activity_cases").and_then(Value::as_array_mut) {
        for (i, case) in cases.iter_mut().enumerate() {
            let Some(case) = case.as_object_mut() else {
                continue;
            };
            if !case.contains_key("metadata") {
                if let Some(words) = case.get("metadata_ref").and_then(Value::as_str) {
                    let d =
                        describe_trigger(words).map_err(|e| err(section, i, "metadata_ref", e))?;
                    case.insert("metadata".into(), serde_json::json!(d.metadata));
                    case.insert("min_replicas".into(), d.min_replica_count.into());
                    case.insert("max_replicas".into(), d.max_replica_count.into());
                }
            }
            if !case.contains_key("at_unix_seconds") {
                if let Some(words) = case.get("at").and_then(Value::as_str) {
                    let at = sample_instants(words).map_err(|e| err(section, i, "at", e))?;
                    case.insert("at_unix_seconds".into(), serde_json::json!(at));
                }
            }
        }
    }
    let section = "keda_cron_scaler.metric_name_cases";
    if let Some(cases) = keda
        .get_mut("metric_name_cases")
        .and_then(Value::as_array_mut)
    {
        for (i, case) in cases.iter_mut().enumerate() {
            let Some([name, words]) = case.as_array().map(Vec::as_slice) else {
                continue;
            };
            let (Some(name), Some(words)) = (name.as_str(), words.as_str()) else {
                continue;
            };
            let index = int_after(words, "trigger")
                .ok_or_else(|| err(section, i, "[1]", "expected \"trigger <index>\"".into()))?;
            let d = describe_trigger(words).map_err(|e| err(section, i, "[1]", e))?;
            *case = serde_json::json!({
                "expected_name": name,
                "trigger_index": index,
                "metadata": d.metadata,
                "description": words,
            });
        }
    }
    Ok(out)
}

fn cases_of<'a>(section: &str, v: &'a Value) -> Result<&'a Value, ConformanceError> {
    v.get("cases").ok_or_else(|| ConformanceError::Field {
        section: section.into(),
        case: "-".into(),
        field: "cases".into(),
        what: "missing (this section is an object with a \"cases\" array)".into(),
    })
}

/// Constants from the file's `constants` object, with production defaults.
struct Constants {
    tolerance: f64,
    cpu_init_ms: i64,
    readiness_delay_ms: i64,
    scale_up_limit_factor: f64,
    scale_up_limit_minimum: f64,
}

fn number_after(text: &str, marker: &str) -> Option<f64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let rest = rest.trim_start_matches([' ', '=', ':']);
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.trim_end_matches('.').parse().ok()
}

impl Constants {
    fn from_doc(top: &Map<String, Value>) -> Self {
        let c = top.get("constants");
        let num = |k: &str| c.and_then(|c| c.get(k)).and_then(Value::as_f64);
        let init = c
            .and_then(|c| c.get("horizontal_test_init"))
            .and_then(Value::as_str)
            .unwrap_or("");
        Constants {
            tolerance: num("tolerance").unwrap_or(stepscale_hpa::model::replica::DEFAULT_TOLERANCE),
            cpu_init_ms: num("cpu_initialization_period_s")
                .map(|s| (s * 1000.0) as i64)
                .unwrap_or(stepscale_hpa::model::replica::DEFAULT_CPU_INITIALIZATION_PERIOD_MS),
            readiness_delay_ms: num("delay_of_initial_readiness_status_s")
                .map(|s| (s * 1000.0) as i64)
                .unwrap_or(
                    stepscale_hpa::model::replica::DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS_MS,
                ),
            scale_up_limit_factor: number_after(init, "overridden to")
                .unwrap_or(stepscale_hpa::model::behavior::SCALE_UP_LIMIT_FACTOR),
            scale_up_limit_minimum: number_after(init, "scaleUpLimitMinimum")
                .unwrap_or(stepscale_hpa::model::behavior::SCALE_UP_LIMIT_MINIMUM),
        }
    }

    fn tolerances(&self) -> Tolerances {
        Tolerances::symmetric(self.tolerance)
    }

    fn timing(&self) -> PodTiming {
        PodTiming {
            now_ms: NOW_MS,
            cpu_initialization_period_ms: self.cpu_init_ms,
            delay_of_initial_readiness_ms: self.readiness_delay_ms,
        }
    }

    fn controller(&self) -> ControllerConfig {
        ControllerConfig {
            tolerances: self.tolerances(),
            cpu_initialization_period_ms: self.cpu_init_ms,
            delay_of_initial_readiness_ms: self.readiness_delay_ms,
            scale_up_limit_factor: self.scale_up_limit_factor,
            scale_up_limit_minimum: self.scale_up_limit_minimum,
            ..ControllerConfig::default()
        }
    }
}

/// One case being read: field accessors that produce [`ConformanceError::Field`].
struct Case<'a> {
    section: &'a str,
    id: String,
    obj: Option<&'a Map<String, Value>>,
    raw: &'a Value,
}

impl<'a> Case<'a> {
    fn err(&self, field: &str, what: impl Into<String>) -> ConformanceError {
        ConformanceError::Field {
            section: self.section.into(),
            case: self.id.clone(),
            field: field.into(),
            what: what.into(),
        }
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.obj.and_then(|o| o.get(field)).filter(|v| !v.is_null())
    }

    fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    fn req(&self, field: &str) -> Result<&'a Value, ConformanceError> {
        self.get(field).ok_or_else(|| self.err(field, "missing"))
    }

    fn i64(&self, field: &str) -> Result<i64, ConformanceError> {
        self.req(field)?
            .as_i64()
            .ok_or_else(|| self.err(field, "expected an integer"))
    }

    fn i32(&self, field: &str) -> Result<i32, ConformanceError> {
        i32::try_from(self.i64(field)?).map_err(|_| self.err(field, "out of range for int32"))
    }

    /// A replica count: an int32 no larger than [`stepscale_hpa::limits::MAX_REPLICAS`], so
    /// no case makes the runner allocate per replica beyond the model's
    /// limit (negative counts are kept: some cases test them).
    fn replicas(&self, field: &str) -> Result<i32, ConformanceError> {
        let v = self.i32(field)?;
        if i64::from(v) > i64::from(stepscale_hpa::limits::MAX_REPLICAS) {
            return Err(self.err(
                field,
                format!(
                    "{v} replicas is over the model's limit of {}",
                    stepscale_hpa::limits::MAX_REPLICAS
                ),
            ));
        }
        Ok(v)
    }

    /// [`Case::replicas`] of an optional field.
    fn opt_replicas(&self, field: &str) -> Result<Option<i32>, ConformanceError> {
        if self.get(field).is_none() {
            return Ok(None);
        }
        self.replicas(field).map(Some)
    }

    fn opt_i64(&self, field: &str) -> Result<Option<i64>, ConformanceError> {
        self.get(field)
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| self.err(field, "expected an integer"))
            })
            .transpose()
    }

    fn str(&self, field: &str) -> Result<&'a str, ConformanceError> {
        self.req(field)?
            .as_str()
            .ok_or_else(|| self.err(field, "expected a string"))
    }

    fn opt_str(&self, field: &str) -> Result<Option<&'a str>, ConformanceError> {
        self.get(field)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| self.err(field, "expected a string"))
            })
            .transpose()
    }

    fn bool(&self, field: &str) -> Result<Option<bool>, ConformanceError> {
        self.get(field)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| self.err(field, "expected true or false"))
            })
            .transpose()
    }

    fn array(&self, field: &str) -> Result<Option<&'a Vec<Value>>, ConformanceError> {
        self.get(field)
            .map(|v| {
                v.as_array()
                    .ok_or_else(|| self.err(field, "expected an array"))
            })
            .transpose()
    }

    fn list<T>(
        &self,
        field: &str,
        what: &str,
        f: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<Vec<T>>, ConformanceError> {
        match self.array(field)? {
            None => Ok(None),
            Some(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    f(v).ok_or_else(|| self.err(field, format!("element {i}: expected {what}")))
                })
                .collect::<Result<Vec<T>, _>>()
                .map(Some),
        }
    }

    fn i64_list(&self, field: &str) -> Result<Option<Vec<i64>>, ConformanceError> {
        self.list(field, "an integer", Value::as_i64)
    }

    fn f64_list(&self, field: &str) -> Result<Option<Vec<f64>>, ConformanceError> {
        self.list(field, "a number", Value::as_f64)
    }

    fn bool_list(&self, field: &str) -> Result<Option<Vec<bool>>, ConformanceError> {
        self.list(field, "true or false", Value::as_bool)
    }

    fn str_list(&self, field: &str) -> Result<Option<Vec<String>>, ConformanceError> {
        self.list(field, "a string", |v| v.as_str().map(str::to_string))
    }

    fn rules(&self, field: &str) -> Result<Option<ScalingRules>, ConformanceError> {
        let Some(v) = self.get(field) else {
            return Ok(None);
        };
        parse_rules(v)
            .map(Some)
            .map_err(|what| self.err(field, what))
    }
}

fn parse_rules(v: &Value) -> Result<ScalingRules, String> {
    let o = v
        .as_object()
        .ok_or("expected an object with stabilizationWindowSeconds, selectPolicy, policies")?;
    for k in o.keys() {
        if !matches!(
            k.as_str(),
            "stabilizationWindowSeconds" | "selectPolicy" | "policies" | "default"
        ) {
            return Err(format!("unknown key {k:?} in scaling rules"));
        }
    }
    let window = match o.get("stabilizationWindowSeconds") {
        None | Some(Value::Null) => None,
        Some(w) => Some(
            w.as_i64()
                .and_then(|w| i32::try_from(w).ok())
                .ok_or("stabilizationWindowSeconds: expected an integer")?,
        ),
    };
    let select = match o.get("selectPolicy").and_then(Value::as_str) {
        None => None,
        Some("Max") => Some(SelectPolicy::Max),
        Some("Min") => Some(SelectPolicy::Min),
        Some("Disabled") => Some(SelectPolicy::Disabled),
        Some(other) => {
            return Err(format!(
                "selectPolicy {other:?}: expected Max, Min or Disabled"
            ))
        }
    };
    let mut policies = Vec::new();
    for (i, p) in o
        .get("policies")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let kind = match p.get("type").and_then(Value::as_str) {
            Some("Pods") => PolicyType::Pods,
            Some("Percent") => PolicyType::Percent,
            other => {
                return Err(format!(
                    "policies[{i}].type {other:?}: expected Pods or Percent"
                ))
            }
        };
        let int = |k: &str| {
            p.get(k)
                .and_then(Value::as_i64)
                .and_then(|v| i32::try_from(v).ok())
                .ok_or(format!("policies[{i}].{k}: expected an integer"))
        };
        policies.push(ScalingPolicy {
            kind,
            value: int("value")?,
            period_seconds: int("periodSeconds")?,
        });
    }
    Ok(ScalingRules {
        stabilization_window_seconds: window,
        select_policy: select,
        policies,
    })
}

fn each_case(
    section: &str,
    v: &Value,
    report: &mut Report,
    mut eval: impl FnMut(&Case) -> Result<Outcome, ConformanceError>,
) -> Result<(), ConformanceError> {
    let cases = v.as_array().ok_or_else(|| {
        ConformanceError::Shape(format!("section {section}: expected an array of cases"))
    })?;
    for (i, raw) in cases.iter().enumerate() {
        let obj = raw.as_object();
        let label = obj
            .and_then(|o| o.get("test").or_else(|| o.get("name")))
            .and_then(Value::as_str)
            .map(|s| s.split(" [").next().unwrap_or(s).to_string());
        let label = label.unwrap_or_else(|| describe_unnamed(raw));
        let case = Case {
            section,
            id: format!("#{i} {label}"),
            obj,
            raw,
        };
        let name = format!("{section}/{label}#{i}");
        // A case the runner cannot read is an error result; the rest go on.
        let outcome = eval(&case).unwrap_or_else(|e| Outcome::Error { why: e.to_string() });
        report.results.push(CaseResult { name, outcome });
    }
    Ok(())
}

fn describe_unnamed(raw: &Value) -> String {
    if let Some(desc) = raw
        .as_array()
        .and_then(|a| a.get(1))
        .and_then(Value::as_str)
    {
        return desc.to_string();
    }
    match raw.as_object() {
        Some(o) if o.contains_key("description") => o
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        Some(o) if o.contains_key("metadata_ref") => {
            let r = o.get("metadata_ref").and_then(Value::as_str).unwrap_or("");
            let at = o.get("at").and_then(Value::as_str).unwrap_or("");
            format!("{r} @ {at}")
        }
        Some(o) if o.contains_key("metadata") => format!(
            "metadata {}",
            o.get("metadata").map(Value::to_string).unwrap_or_default()
        ),
        Some(o) => {
            let keys = ["current", "desired", "min", "max"];
            let parts: Vec<String> = keys
                .iter()
                .filter_map(|k| {
                    o.get(*k)
                        .and_then(Value::as_i64)
                        .map(|v| format!("{k}={v}"))
                })
                .collect();
            if parts.is_empty() {
                "case".into()
            } else {
                parts.join(",")
            }
        }
        None => "case".into(),
    }
}

fn verdict(expected: Vec<String>, got: Vec<String>) -> Outcome {
    if expected == got {
        Outcome::Pass
    } else {
        Outcome::Fail {
            expected: expected.join(" "),
            got: got.join(" "),
        }
    }
}

fn pod_state(
    case: &Case,
    i: usize,
    phases: &Option<Vec<String>>,
    ready: &Option<Vec<bool>>,
    deleting: &Option<Vec<bool>>,
    starts: &Option<Vec<String>>,
) -> Result<PodState, ConformanceError> {
    let phase = match phases.as_ref().and_then(|p| p.get(i)).map(String::as_str) {
        None | Some("Running") => PodPhase::Running,
        Some("Pending") => PodPhase::Pending,
        Some("Failed") => PodPhase::Failed,
        Some("Succeeded") => PodPhase::Succeeded,
        Some("Unknown") => PodPhase::Unknown,
        Some(other) => {
            return Err(case.err("pod_phase", format!("element {i}: unknown phase {other:?}")))
        }
    };
    let start = match starts.as_ref().and_then(|s| s.get(i)).map(String::as_str) {
        None => 0,
        Some("hot") => NOW_MS,
        Some("cool") => NOW_MS - 3 * 60_000,
        Some(other) => {
            return Err(case.err(
                "pod_start",
                format!("element {i}: expected \"hot\" or \"cool\", got {other:?}"),
            ))
        }
    };
    Ok(PodState {
        phase,
        deleting: deleting
            .as_ref()
            .and_then(|d| d.get(i))
            .copied()
            .unwrap_or(false),
        ready: Some(
            ready
                .as_ref()
                .and_then(|r| r.get(i))
                .copied()
                .unwrap_or(true),
        ),
        start_time_ms: Some(start),
        ready_transition_ms: start,
    })
}

fn sample(v: i64) -> MetricSample {
    MetricSample {
        value_milli: v,
        timestamp_ms: NOW_MS,
        window_ms: WINDOW_MS,
    }
}

/// One reading per pod from per-pod metric levels (no requests), and the
/// levels past the last pod (they match no pod).
fn per_pod_levels(levels: &[i64], pod_count: usize) -> (Vec<PodReading>, Vec<i64>) {
    let mut readings = vec![
        PodReading {
            request_milli: None,
            sample: None
        };
        pod_count
    ];
    let mut unmatched = Vec::new();
    for (k, v) in levels.iter().enumerate() {
        match readings.get_mut(k) {
            Some(r) => r.sample = Some(sample(*v)),
            None => unmatched.push(*v),
        }
    }
    (readings, unmatched)
}

fn milli(cores: f64) -> i64 {
    (cores * 1000.0).round() as i64
}

fn container_index(case: &Case, name: &str) -> Result<usize, ConformanceError> {
    name.strip_prefix("container")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .map(|n| n - 1)
        .ok_or_else(|| {
            case.err(
                "container",
                format!("expected container1, container2, ...; got {name:?}"),
            )
        })
}

fn pods_for(case: &Case, count: usize) -> Result<Vec<PodState>, ConformanceError> {
    let phases = case.str_list("pod_phase")?;
    let ready = case.bool_list("pod_ready")?;
    let deleting = case.bool_list("pod_deleting")?;
    let starts = case.str_list("pod_start")?;
    (0..count)
        .map(|i| pod_state(case, i, &phases, &ready, &deleting, &starts))
        .collect()
}

fn replica_calculator_case(case: &Case, consts: &Constants) -> Result<Outcome, ConformanceError> {
    let current = case.replicas("current_replicas")?;
    let metric = case.str("metric")?;
    let phases = case.str_list("pod_phase")?.map(|p| p.len()).unwrap_or(0);
    let pod_count = (current.max(0) as usize).max(phases);
    let pods = pods_for(case, pod_count)?;
    let tol = consts.tolerances();
    let timing = consts.timing();

    let mut expected = Vec::new();
    if let Some(r) = case.opt_i64("expected_replicas")? {
        expected.push(format!("replicas={r}"));
    }
    let expected_error = case.opt_str("expected_error")?;
    if let Some(e) = expected_error {
        expected.push(format!("error={e:?}"));
    }
    let want_util = case.opt_i64("expected_utilization_pct")?;
    let want_raw = case.opt_i64("expected_raw_value_milli")?;
    let want_usage = case.opt_i64("expected_usage_milli")?;
    if let Some(u) = want_util {
        expected.push(format!("utilization={u}%"));
    }
    if let Some(r) = want_raw {
        expected.push(format!("raw={r}m"));
    }
    if let Some(u) = want_usage {
        expected.push(format!("usage={u}m"));
    }

    let render_err = |e: String, got: &mut Vec<String>| {
        // An expected error passes when the model's message contains it.
        match expected_error {
            Some(want) if e.contains(want) => got.push(format!("error={want:?}")),
            _ => got.push(format!("error={e:?}")),
        }
    };
    let mut got = Vec::new();
    match metric {
        "resource_cpu_utilization" => {
            let target = i32::try_from(case.i64("target_utilization_pct")?)
                .map_err(|_| case.err("target_utilization_pct", "out of range"))?;
            let per_container = case
                .f64_list("pod_cpu_request_cores_per_container")?
                .unwrap_or_default();
            let containers = case.opt_i64("containers_per_pod")?.unwrap_or(1);
            if !(1..=100).contains(&containers) {
                return Err(case.err("containers_per_pod", "expected 1 to 100"));
            }
            let only = case
                .opt_str("container")?
                .map(|c| container_index(case, c))
                .transpose()?;
            let usage = case
                .array("usage_millicores_per_container")?
                .cloned()
                .unwrap_or_default();
            let names = case.str_list("pod_names_in_metrics")?;
            let mut readings: Vec<PodReading> = Vec::with_capacity(pod_count);
            for i in 0..pod_count {
                let request_milli = match per_container.get(i) {
                    None => None,
                    Some(c) if only.is_some() => Some(milli(*c)),
                    Some(c) => Some(milli(*c).checked_mul(containers).ok_or_else(|| {
                        case.err(
                            "pod_cpu_request_cores_per_container",
                            format!(
                                "element {i}: {c} cores × {containers} containers is out of range"
                            ),
                        )
                    })?),
                };
                readings.push(PodReading {
                    request_milli,
                    sample: None,
                });
            }
            let mut unmatched = Vec::new();
            for (k, u) in usage.iter().enumerate() {
                let levels: Vec<i64> = u
                    .as_array()
                    .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<i64>>>())
                    .ok_or_else(|| {
                        case.err(
                            "usage_millicores_per_container",
                            format!("element {k}: expected an array of integers"),
                        )
                    })?;
                let value = match only {
                    Some(c) => *levels.get(c).ok_or_else(|| {
                        case.err(
                            "usage_millicores_per_container",
                            format!("element {k}: no container #{}", c + 1),
                        )
                    })?,
                    None => levels.iter().fold(0i64, |a, v| a.saturating_add(*v)),
                };
                let name = names
                    .as_ref()
                    .and_then(|n| n.get(k).cloned())
                    .unwrap_or_else(|| format!("pod-{k}"));
                match name
                    .strip_prefix("pod-")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n < pod_count)
                {
                    Some(p) => readings[p].sample = Some(sample(value)),
                    None => unmatched.push(value),
                }
            }
            match resource_utilization_replicas(
                current, target, "cpu", &pods, &readings, &unmatched, &tol, &timing,
            ) {
                Ok(p) => {
                    got.push(format!("replicas={}", p.replicas));
                    if want_util.is_some() {
                        got.push(format!("utilization={}%", p.utilization_pct));
                    }
                    if want_raw.is_some() {
                        got.push(format!("raw={}m", p.raw_average_milli));
                    }
                }
                Err(e) => render_err(e.to_string(), &mut got),
            }
        }
        "pods" => {
            let target = case.i64("target_milli")?;
            let levels = case
                .i64_list("metric_levels_milli")?
                .ok_or_else(|| case.err("metric_levels_milli", "missing"))?;
            let (readings, unmatched) = per_pod_levels(&levels, pod_count);
            match plain_metric_replicas(
                current, target, false, &pods, &readings, &unmatched, &tol, &timing,
            ) {
                Ok(p) => {
                    got.push(format!("replicas={}", p.replicas));
                    if want_usage.is_some() {
                        got.push(format!("usage={}m", p.usage_milli));
                    }
                }
                Err(e) => render_err(e.to_string(), &mut got),
            }
        }
        "object_value" | "external_value" | "object_average_value" | "external_average_value" => {
            let levels = case
                .i64_list("metric_levels_milli")?
                .ok_or_else(|| case.err("metric_levels_milli", "missing"))?;
            let total: i64 = if metric.starts_with("object") {
                *levels.first().ok_or_else(|| {
                    case.err("metric_levels_milli", "an object metric needs one value")
                })?
            } else {
                levels.iter().fold(0i64, |a, v| a.saturating_add(*v))
            };
            let result = if metric.ends_with("average_value") {
                let t = if case.has("per_pod_target_milli") {
                    case.i64("per_pod_target_milli")?
                } else {
                    case.i64("target_milli")?
                };
                average_value_replicas(current, total, t, &tol)
            } else {
                value_replicas(current, total, case.i64("target_milli")?, &pods, &tol)
            };
            match result {
                Ok(p) => {
                    got.push(format!("replicas={}", p.replicas));
                    if want_usage.is_some() {
                        got.push(format!("usage={}m", p.usage_milli));
                    }
                }
                Err(e) => render_err(e.to_string(), &mut got),
            }
        }
        other => return Err(case.err("metric", format!("unknown metric kind {other:?}"))),
    }
    Ok(verdict(expected, got))
}

/// Whether a controller case's note says a further metric fails to fetch.
fn failing_metrics(case: &Case) -> Result<usize, ConformanceError> {
    if let Some(n) = case.opt_i64("failing_metrics")? {
        return usize::try_from(n)
            .map_err(|_| case.err("failing_metrics", "expected a non-negative integer"));
    }
    Ok(failing_metrics_in_words(
        case.opt_str("note")?.unwrap_or(""),
    ))
}

/// The old-file fallback: 1 when a note says a further metric fails to
/// fetch ("... metric errors", "... fetch fails"), else 0.
fn failing_metrics_in_words(note: &str) -> usize {
    let note = note.to_ascii_lowercase();
    let mentions_metric = note.contains("metric");
    let fails = note.contains("metric errors")
        || note.contains("fetch fails")
        || note.contains("metric fails");
    usize::from(mentions_metric && fails)
}

fn controller_case(case: &Case, consts: &Constants) -> Result<Outcome, ConformanceError> {
    let min = case.replicas("min_replicas")?;
    let max = case.replicas("max_replicas")?;
    let spec_replicas = case.replicas("spec_replicas")?;
    let status_replicas = case
        .opt_replicas("status_replicas")?
        .unwrap_or(spec_replicas);
    let metric = case.str("metric")?;
    let requests = case.f64_list("pod_cpu_request_cores")?;
    let pod_count = match &requests {
        Some(r) if metric.contains("resource") => r.len(),
        _ => status_replicas.max(0) as usize,
    };
    let pods = pods_for(case, pod_count)?;
    let (spec, reading) = match metric {
        "resource_cpu_utilization" | "container_resource_cpu_utilization" => {
            let target = case.i32("target_utilization_pct")?;
            let container = case.opt_str("container")?.map(str::to_string);
            if container.is_none() && metric.starts_with("container") {
                return Err(case.err("container", "missing for a container resource metric"));
            }
            let requests = requests.unwrap_or_default();
            let usage = case.i64_list("pod_usage_millicores")?.unwrap_or_default();
            // `containers_per_pod` containers per pod (the upstream fixture
            // has two), each with an equal integer share of the request and
            // the usage; a container metric sees one share, a pod metric the
            // sum of the shares.
            let containers = case.opt_i64("containers_per_pod")?.unwrap_or(2);
            if !(1..=100).contains(&containers) {
                return Err(case.err("containers_per_pod", "expected 1 to 100"));
            }
            let per_pod = |total: i64| {
                if container.is_some() {
                    total / containers
                } else {
                    containers * (total / containers)
                }
            };
            let mut readings: Vec<PodReading> = (0..pod_count)
                .map(|i| PodReading {
                    request_milli: requests.get(i).map(|c| per_pod(milli(*c))),
                    sample: None,
                })
                .collect();
            let mut unmatched = Vec::new();
            for (k, u) in usage.iter().enumerate() {
                match readings.get_mut(k) {
                    Some(r) => r.sample = Some(sample(per_pod(*u))),
                    None => unmatched.push(per_pod(*u)),
                }
            }
            (
                MetricSpec {
                    source: MetricSource::Resource {
                        name: "cpu".into(),
                        container,
                    },
                    target: MetricTarget::Utilization(target),
                },
                MetricReading::PerPod {
                    readings,
                    unmatched,
                },
            )
        }
        "pods_average_value" => {
            let levels = case
                .i64_list("metric_levels_milli")?
                .ok_or_else(|| case.err("metric_levels_milli", "missing"))?;
            let (readings, unmatched) = per_pod_levels(&levels, pod_count);
            (
                MetricSpec {
                    source: MetricSource::Pods { name: "qps".into() },
                    target: MetricTarget::AverageValue(case.i64("target_milli")?),
                },
                MetricReading::PerPod {
                    readings,
                    unmatched,
                },
            )
        }
        "external_value" | "external_average_value" | "object_value" | "object_average_value" => {
            let levels = case
                .i64_list("metric_levels_milli")?
                .ok_or_else(|| case.err("metric_levels_milli", "missing"))?;
            let t = case.i64("target_milli")?;
            let target = if metric.ends_with("average_value") {
                MetricTarget::AverageValue(t)
            } else {
                MetricTarget::Value(t)
            };
            if metric.starts_with("object") {
                let v = *levels.first().ok_or_else(|| {
                    case.err("metric_levels_milli", "an object metric needs one value")
                })?;
                (
                    MetricSpec {
                        source: MetricSource::Object { name: "qps".into() },
                        target,
                    },
                    MetricReading::Object(v),
                )
            } else {
                (
                    MetricSpec {
                        source: MetricSource::External { name: "qps".into() },
                        target,
                    },
                    MetricReading::External(levels),
                )
            }
        }
        other => return Err(case.err("metric", format!("unknown metric kind {other:?}"))),
    };
    let mut metrics = vec![spec];
    let mut readings = vec![reading];
    for k in 0..failing_metrics(case)? {
        metrics.push(MetricSpec {
            source: MetricSource::External {
                name: format!("failing-{k}"),
            },
            target: MetricTarget::AverageValue(1000),
        });
        readings.push(MetricReading::Unavailable(
            "the external metrics API returned an error".into(),
        ));
    }
    let behavior = match (
        case.rules("scale_up_rules")?,
        case.rules("scale_down_rules")?,
    ) {
        (None, None) => None,
        (up, down) => Some(Behavior {
            scale_up: up,
            scale_down: down,
        }),
    };
    let hpa = HpaSpec {
        min_replicas: min,
        max_replicas: max,
        metrics,
        behavior,
    };
    let mut controller = HorizontalController::new(consts.controller());
    if let Some(recs) = case.array("recommendations")? {
        for (k, r) in recs.iter().enumerate() {
            let replicas = r.get("replicas").and_then(Value::as_i64);
            let age = r.get("age_s").and_then(Value::as_i64);
            match (replicas, age) {
                (Some(replicas), Some(age)) => {
                    controller.history.recommendations.push(Recommendation {
                        replicas: replicas as i32,
                        timestamp_ms: NOW_MS.saturating_sub(age.saturating_mul(1000)),
                    })
                }
                _ => {
                    return Err(case.err(
                        "recommendations",
                        format!("element {k}: expected {{\"replicas\": int, \"age_s\": int}}"),
                    ))
                }
            }
        }
    }
    let input = ReconcileInput {
        spec_replicas,
        status_replicas,
        pods,
        metrics: readings,
        now_ms: NOW_MS,
    };
    let out = controller.reconcile(&hpa, &input);
    let mut expected = vec![format!(
        "desired={}",
        case.i64("expected_desired_replicas")?
    )];
    let mut got = vec![format!("desired={}", out.desired_replicas)];
    if let Some(u) = case.opt_i64("expected_current_utilization_pct")? {
        expected.push(format!("utilization={u}%"));
        got.push(match out.utilization_pct {
            Some(g) => format!("utilization={g}%"),
            None => format!(
                "utilization=none ({})",
                out.error.as_deref().unwrap_or("no utilization metric")
            ),
        });
    }
    Ok(verdict(expected, got))
}

fn legacy_convert_case(case: &Case, consts: &Constants) -> Result<Outcome, ConformanceError> {
    let current = case.i32("current")?;
    let expected_value = match case.req("expected")? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| case.err("expected", "expected an integer"))?,
        Value::String(s) => {
            // An upstream expression: calculateScaleUpLimit(N) under the test constants.
            let arg = s
                .strip_prefix("calculateScaleUpLimit(")
                .and_then(|r| r.split_once(')'))
                .and_then(|(n, _)| n.trim().parse::<i32>().ok())
                .ok_or_else(|| {
                    case.err(
                        "expected",
                        "a string expectation must start with calculateScaleUpLimit(<int>)",
                    )
                })?;
            i64::from(calculate_scale_up_limit(
                arg,
                consts.scale_up_limit_factor,
                consts.scale_up_limit_minimum,
            ))
        }
        _ => {
            return Err(case.err(
                "expected",
                "expected an integer or a calculateScaleUpLimit(...) expression",
            ))
        }
    };
    let (got, reason) = convert_desired_replicas_with_rules(
        current,
        case.i32("desired")?,
        case.i32("min")?,
        case.i32("max")?,
        consts.scale_up_limit_factor,
        consts.scale_up_limit_minimum,
    );
    let mut expected = vec![format!("replicas={expected_value}")];
    let mut g = vec![format!("replicas={got}")];
    if let Some(c) = case.opt_str("condition")? {
        expected.push(format!("condition={c}"));
        g.push(format!("condition={}", reason.as_str()));
    }
    Ok(verdict(expected, g))
}

fn events(case: &Case, field: &str, now_ms: i64) -> Result<Vec<ScaleEvent>, ConformanceError> {
    let Some(v) = case.get(field) else {
        return Ok(vec![]);
    };
    if let Some(list) = v.as_array() {
        // [[change, age_s(, outdated)]] or [{replica_change, age_s}]
        return list
            .iter()
            .enumerate()
            .map(|(k, e)| {
                let (change, age, outdated) = match e {
                    Value::Array(a) => (
                        a.first().and_then(Value::as_i64),
                        a.get(1).and_then(Value::as_i64),
                        a.get(2).and_then(Value::as_bool).unwrap_or(false),
                    ),
                    Value::Object(o) => (
                        o.get("replica_change").and_then(Value::as_i64),
                        o.get("age_s").and_then(Value::as_i64),
                        o.get("outdated").and_then(Value::as_bool).unwrap_or(false),
                    ),
                    _ => (None, None, false),
                };
                match (change, age) {
                    (Some(c), Some(a)) => Ok(ScaleEvent {
                        replica_change: c as i32,
                        timestamp_ms: now_ms.saturating_sub(a.saturating_mul(1000)),
                        outdated,
                    }),
                    _ => Err(case.err(
                        field,
                        format!("element {k}: expected [replica_change, age_s(, outdated)]"),
                    )),
                }
            })
            .collect();
    }
    let o = v.as_object().ok_or_else(|| {
        case.err(
            field,
            "expected null, a list of events, or {replica_changes, uniform_over_last_seconds}",
        )
    })?;
    let changes: Vec<i64> = o
        .get("replica_changes")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_i64).collect())
        .ok_or_else(|| case.err(field, "replica_changes: expected an array of integers"))?;
    let period = o
        .get("uniform_over_last_seconds")
        .and_then(Value::as_f64)
        .ok_or_else(|| case.err(field, "uniform_over_last_seconds: expected a number"))?;
    if changes.is_empty() {
        return Ok(vec![]);
    }
    // generateEventsUniformDistribution: event i sits in the middle of its segment; Go
    // truncates the boundary to whole seconds.
    let seg = period / changes.len() as f64;
    Ok(changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let age_s = (period - seg * (i as f64 + 1.0) + seg / 2.0).trunc() as i64;
            ScaleEvent {
                replica_change: *c as i32,
                timestamp_ms: now_ms.saturating_sub(age_s.saturating_mul(1000)),
                outdated: false,
            }
        })
        .collect())
}

fn scale_limit_case(case: &Case) -> Result<Outcome, ConformanceError> {
    let test = case.str("test")?;
    let current = case.i32("current")?;
    let rules = case
        .rules("rules")?
        .ok_or_else(|| case.err("rules", "missing"))?;
    let up = events(case, "scale_up_events", NOW_MS)?;
    let down = events(case, "scale_down_events", NOW_MS)?;
    let got = if test.contains("ScaleUp") {
        scale_up_limit_with_rules(current, &up, &down, &rules, NOW_MS)
    } else if test.contains("ScaleDown") {
        scale_down_limit_with_rules(current, &up, &down, &rules, NOW_MS)
    } else {
        return Err(case.err("test", "must name a ScaleUp or ScaleDown limit function"));
    };
    Ok(verdict(
        vec![format!("limit={}", case.i64("expected_limit")?)],
        vec![format!("limit={got}")],
    ))
}

fn recommendations(case: &Case, field: &str) -> Result<Vec<Recommendation>, ConformanceError> {
    let list = case.array(field)?.cloned().unwrap_or_default();
    list.iter()
        .enumerate()
        .map(|(k, r)| {
            let a = r.as_array();
            let replicas = a.and_then(|a| a.first()).and_then(Value::as_i64);
            let age = a.and_then(|a| a.get(1)).and_then(Value::as_i64);
            match (replicas, age) {
                (Some(replicas), Some(age)) => Ok(Recommendation {
                    replicas: replicas as i32,
                    timestamp_ms: NOW_MS.saturating_sub(age.saturating_mul(1000)),
                }),
                _ => Err(case.err(field, format!("element {k}: expected [replicas, age_s]"))),
            }
        })
        .collect()
}

fn legacy_stabilization_case(case: &Case, consts: &Constants) -> Result<Outcome, ConformanceError> {
    let _ = consts;
    let mut history = ScalingHistory {
        recommendations: recommendations(case, "recs")?,
        ..ScalingHistory::default()
    };
    let got = history.stabilize_legacy(
        case.i32("desired")?,
        stepscale_hpa::model::behavior::DEFAULT_DOWNSCALE_STABILIZATION_S * 1000,
        NOW_MS,
    );
    let mut expected = vec![format!("replicas={}", case.i64("expected")?)];
    let mut g = vec![format!("replicas={got}")];
    if let Some(n) = case.opt_i64("expected_log_len")? {
        expected.push(format!("log_len={n}"));
        g.push(format!("log_len={}", history.recommendations.len()));
    }
    Ok(verdict(expected, g))
}

fn scaling_with_rules_case(case: &Case) -> Result<Outcome, ConformanceError> {
    if case.bool("skipped_upstream")? == Some(true) {
        return Ok(Outcome::Skipped {
            reason: "skipped upstream (the test returns early)".into(),
        });
    }
    let behavior = Behavior {
        scale_up: case.rules("scale_up_rules")?,
        scale_down: case.rules("scale_down_rules")?,
    };
    let history = ScalingHistory {
        recommendations: vec![],
        scale_up_events: events(case, "scale_up_events", NOW_MS)?,
        scale_down_events: events(case, "scale_down_events", NOW_MS)?,
    };
    let arg = NormalizationArg {
        scale_up: behavior.scale_up_rules(),
        scale_down: behavior
            .scale_down_rules(stepscale_hpa::model::behavior::DEFAULT_DOWNSCALE_STABILIZATION_S),
        min_replicas: case.i32("min_replicas")?,
        max_replicas: case.i32("max_replicas")?,
        current_replicas: case.i32("current_replicas")?,
        desired_replicas: case.i32("prenormalized_desired_replicas")?,
    };
    let (got, reason) = history.convert_with_behavior_rate(&arg, NOW_MS);
    let mut expected = vec![format!("replicas={}", case.i64("expected_replicas")?)];
    let mut g = vec![format!("replicas={got}")];
    if let Some(c) = case.opt_str("expected_condition")? {
        expected.push(format!("condition={c}"));
        g.push(format!("condition={}", reason.as_str()));
    }
    Ok(verdict(expected, g))
}

fn store_scale_events_case(case: &Case) -> Result<Outcome, ConformanceError> {
    let prev = events(case, "prev", NOW_MS)?;
    let change = case.i32("replica_change")?;
    let rules = case.rules("rules")?;
    let behavior = rules.map(|r| Behavior {
        scale_up: Some(r.clone()),
        scale_down: Some(r),
    });
    let mut expected = vec![format!(
        "change_last_60s={}",
        case.i64("expected_change_last_60s")?
    )];
    let mut got = vec![format!(
        "change_last_60s={}",
        replicas_change_per_period(60, &prev, NOW_MS)
    )];
    let want: Vec<(i64, bool)> = case
        .list("new_events", "[replica_change, outdated]", |v| {
            let a = v.as_array()?;
            Some((a.first()?.as_i64()?, a.get(1)?.as_bool()?))
        })?
        .ok_or_else(|| case.err("new_events", "missing"))?;
    let render = |ev: &[(i64, bool)]| {
        ev.iter()
            .map(|(c, o)| format!("[{c},{o}]"))
            .collect::<Vec<_>>()
            .join("")
    };
    for (dir, new) in [("up", 10 + change), ("down", 10 - change)] {
        let mut h = ScalingHistory::default();
        if dir == "up" {
            h.scale_up_events = prev.clone();
        } else {
            h.scale_down_events = prev.clone();
        }
        h.store_scale_event(behavior.as_ref(), 10, new, NOW_MS);
        let list = if dir == "up" {
            &h.scale_up_events
        } else {
            &h.scale_down_events
        };
        let ev: Vec<(i64, bool)> = list
            .iter()
            .map(|e| (i64::from(e.replica_change), e.outdated))
            .collect();
        expected.push(format!("{dir}={}", render(&want)));
        got.push(format!("{dir}={}", render(&ev)));
    }
    Ok(verdict(expected, got))
}

fn behavior_stabilization_case(case: &Case) -> Result<Outcome, ConformanceError> {
    let mut history = ScalingHistory {
        recommendations: recommendations(case, "recommendations_[replicas,age_s]")?,
        ..ScalingHistory::default()
    };
    let (got, _) = history.stabilize_with_behavior(
        case.i32("current_replicas")?,
        case.i32("prenormalized_desired_replicas")?,
        case.i32("scale_up_stabilization_window_s")?,
        case.i32("scale_down_stabilization_window_s")?,
        NOW_MS,
    );
    let mut expected = vec![format!(
        "replicas={}",
        case.i64("expected_stabilized_replicas")?
    )];
    let mut g = vec![format!("replicas={got}")];
    if let Some(log) = case.i64_list("expected_recommendations_log")? {
        expected.push(format!("log={log:?}"));
        g.push(format!(
            "log={:?}",
            history
                .recommendations
                .iter()
                .map(|r| i64::from(r.replicas))
                .collect::<Vec<_>>()
        ));
    }
    Ok(verdict(expected, g))
}

fn keda_section(section: &str, v: &Value, report: &mut Report) -> Result<(), ConformanceError> {
    let o = v.as_object().ok_or_else(|| ConformanceError::Shape(format!("section {section}: expected an object with parse_cases, activity_cases, metric_name_cases")))?;
    for key in o.keys() {
        if !matches!(
            key.as_str(),
            "source"
                | "license"
                | "semantics"
                | "parse_cases"
                | "activity_cases"
                | "metric_name_cases"
        ) {
            return Err(ConformanceError::Shape(format!(
                "section {section}: unknown key {key:?}"
            )));
        }
    }
    let name = |sub: &str| format!("{section}.{sub}");
    if let Some(cases) = o.get("parse_cases") {
        each_case(&name("parse_cases"), cases, report, keda_parse_case)?;
    }
    if let Some(cases) = o.get("activity_cases") {
        each_case(&name("activity_cases"), cases, report, keda_activity_case)?;
    }
    if let Some(cases) = o.get("metric_name_cases") {
        each_case(
            &name("metric_name_cases"),
            cases,
            report,
            keda_metric_name_case,
        )?;
    }
    Ok(())
}

fn metadata_map(
    case: &Case,
    v: &Value,
    field: &str,
) -> Result<BTreeMap<String, String>, ConformanceError> {
    let o = v
        .as_object()
        .ok_or_else(|| case.err(field, "expected an object of strings"))?;
    o.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_string()))
                .ok_or_else(|| case.err(field, format!("{k}: expected a string")))
        })
        .collect()
}

fn keda_parse_case(case: &Case) -> Result<Outcome, ConformanceError> {
    let meta = metadata_map(case, case.req("metadata")?, "metadata")?;
    let want = case
        .bool("is_error")?
        .ok_or_else(|| case.err("is_error", "missing"))?;
    let result = CronTrigger::from_metadata(&meta);
    let got = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("error ({e})"),
    };
    Ok(if result.is_err() == want {
        Outcome::Pass
    } else {
        Outcome::Fail {
            expected: if want { "error".into() } else { "ok".into() },
            got,
        }
    })
}

/// A trigger described in words, with the ScaledObject bounds it assumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedTrigger {
    /// Trigger metadata (`timezone`, `start`, `end`, optional `desiredReplicas`).
    pub metadata: BTreeMap<String, String>,
    /// minReplicaCount named in the text (`min N`), default 0.
    pub min_replica_count: i64,
    /// maxReplicaCount named in the text (`max N`), default 100.
    pub max_replica_count: i64,
}

const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn weekday_in(text: &str) -> Option<usize> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .find_map(|w| {
            let w = w.to_ascii_lowercase();
            let full = [
                "sunday",
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
            ];
            WEEKDAYS
                .iter()
                .position(|d| *d == w)
                .or_else(|| full.iter().position(|d| *d == w))
        })
}

fn int_after(text: &str, word: &str) -> Option<i64> {
    let lower = text.to_ascii_lowercase();
    let mut words = lower.split(|c: char| c.is_whitespace() || c == ',');
    while let Some(w) = words.next() {
        if w == word.to_ascii_lowercase() {
            return words.next()?.parse().ok();
        }
    }
    None
}

fn pad_cron(expr: &str) -> String {
    let mut f: Vec<&str> = expr.split_whitespace().collect();
    while f.len() < 5 {
        f.push("*");
    }
    f.join(" ")
}

/// Reads a trigger description such as `"Thu 00:00-23:59 UTC, desiredReplicas 10"`,
/// `"start 0 */2, end 0 1-23/2 (even hours), desiredReplicas 10"` or
/// `"even hours, no desiredReplicas, min 3 max 9"`.
///
/// Grammar (case-insensitive, comma separated): `start <cron>` and `end <cron>` (fields
/// missing on the right are `*`); or a weekday with `HH:MM-HH:MM` (start at the first,
/// end at the second minute of that day) or `<weekday> window` (00:00-23:59); or
/// `even hours` / `even-hours` (start `0 */2 * * *`, end `0 1-23/2 * * *`). A token
/// containing `/` such as `Asia/Kolkata` names the zone; default `Etc/UTC`.
/// `desiredReplicas N`, `min N`, `max N` set the counts.
///
/// # Errors
/// A message when no window can be recognised.
pub fn describe_trigger(text: &str) -> Result<DescribedTrigger, String> {
    let clean: String = {
        // Drop parenthesised remarks.
        let mut depth = 0;
        text.chars()
            .filter(|c| {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        return false;
                    }
                    _ => {}
                }
                depth == 0
            })
            .collect()
    };
    let mut meta = BTreeMap::new();
    let tz = clean
        .split(|c: char| c.is_whitespace() || c == ',')
        .find(|w| w.contains('/') && w.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
    meta.insert("timezone".to_string(), tz.unwrap_or("Etc/UTC").to_string());
    let parts: Vec<&str> = clean.split(',').map(str::trim).collect();
    let start = parts
        .iter()
        .find_map(|p| p.strip_prefix("start "))
        .map(pad_cron);
    let end = parts
        .iter()
        .find_map(|p| p.strip_prefix("end "))
        .map(pad_cron);
    let lower = clean.to_ascii_lowercase();
    let (start, end) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        _ if lower.contains("even hours") || lower.contains("even-hours") => {
            ("0 */2 * * *".to_string(), "0 1-23/2 * * *".to_string())
        }
        _ => {
            let day = weekday_in(&clean).ok_or_else(|| {
                format!("no window in {text:?}: expected start/end, a weekday, or even hours")
            })?;
            let dname = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][day];
            let range = clean.split_whitespace().find_map(|w| {
                let (a, b) = w.trim_end_matches(',').split_once('-')?;
                let hm = |s: &str| -> Option<(u32, u32)> {
                    let (h, m) = s.split_once(':')?;
                    Some((h.parse().ok()?, m.parse().ok()?))
                };
                Some((hm(a)?, hm(b)?))
            });
            let ((h1, m1), (h2, m2)) = range.unwrap_or(((0, 0), (23, 59)));
            (
                format!("{m1} {h1} * * {dname}"),
                format!("{m2} {h2} * * {dname}"),
            )
        }
    };
    meta.insert("start".into(), start);
    meta.insert("end".into(), end);
    if !lower.contains("no desiredreplicas") {
        if let Some(d) = int_after(&clean, "desiredReplicas") {
            meta.insert("desiredReplicas".into(), d.to_string());
        }
    }
    Ok(DescribedTrigger {
        metadata: meta,
        min_replica_count: int_after(&clean, "min").unwrap_or(0),
        max_replica_count: int_after(&clean, "max").unwrap_or(100),
    })
}

/// Instants (seconds since the epoch) that an `at` description stands for.
///
/// An RFC 3339 / `YYYY-MM-DD HH:MM` value is that instant. `<weekday>` (optionally
/// "any") is every half hour from 00:00 to 23:30 UTC on four consecutive such weekdays
/// from 2024-01-01. `even hour` / `odd hour` is minutes 0, 15, 30, 45 and 58 of every
/// such UTC hour during the week from 2024-01-01.
///
/// # Errors
/// A message when the description is not recognised.
pub fn sample_instants(at: &str) -> Result<Vec<i64>, String> {
    if let Some(t) = parse_timestamp(at) {
        return Ok(vec![t]);
    }
    let base = days_from_civil(2024, 1, 1) * 86_400; // a Monday
    let lower = at.to_ascii_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphabetic()).collect();
    let has = |w: &str| words.contains(&w);
    if (has("even") || has("odd")) && (has("hour") || has("hours")) {
        let parity = i64::from(has("odd"));
        let mut out = Vec::new();
        for h in 0..(7 * 24) {
            if h % 2 == parity {
                for m in [0, 15, 30, 45, 58] {
                    out.push(base + h * 3600 + m * 60);
                }
            }
        }
        return Ok(out);
    }
    if let Some(day) = weekday_in(at) {
        let first = (0..7)
            .find(|d| (days_from_civil(2024, 1, 1) + d + 4).rem_euclid(7) == day as i64)
            .unwrap_or(0);
        let mut out = Vec::new();
        for week in 0..4 {
            for half in 0..48 {
                out.push(base + (first + 7 * week) * 86_400 + half * 1800);
            }
        }
        return Ok(out);
    }
    Err(format!("unrecognised instant description {at:?}"))
}

fn keda_activity_case(case: &Case) -> Result<Outcome, ConformanceError> {
    let described = match case.get("metadata") {
        Some(m) => DescribedTrigger {
            metadata: metadata_map(case, m, "metadata")?,
            min_replica_count: case.opt_i64("min_replicas")?.unwrap_or(0),
            max_replica_count: case.opt_i64("max_replicas")?.unwrap_or(100),
        },
        None => {
            describe_trigger(case.str("metadata_ref")?).map_err(|e| case.err("metadata_ref", e))?
        }
    };
    let trigger = CronTrigger::from_metadata(&described.metadata)
        .map_err(|e| case.err("metadata_ref", e.to_string()))?;
    let instants = match case.get("at_unix_seconds") {
        Some(v) => v
            .as_array()
            .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
            .filter(|a| !a.is_empty() && a.len() <= 10_000)
            .ok_or_else(|| {
                case.err(
                    "at_unix_seconds",
                    "expected 1 to 10000 integers (seconds since the epoch)",
                )
            })?,
        None => sample_instants(case.str("at")?).map_err(|e| case.err("at", e))?,
    };
    let want_active = case.bool("expected_active")?;
    let want_metric = case.opt_i64("expected_metric")?;
    let mut expected = Vec::new();
    if let Some(a) = want_active {
        expected.push(format!("active={a}"));
    }
    if let Some(m) = want_metric {
        expected.push(format!("metric={m}"));
    }
    for t in instants {
        let (metric, active) = trigger
            .metric_and_activity(t, described.min_replica_count, described.max_replica_count)
            .map_err(|e| case.err("metadata_ref", e.to_string()))?;
        let mut got = Vec::new();
        if want_active.is_some() {
            got.push(format!("active={active}"));
        }
        if want_metric.is_some() {
            got.push(format!("metric={metric}"));
        }
        if got != expected {
            got.push(format!("at {t}s since the epoch"));
            return Ok(Outcome::Fail {
                expected: expected.join(" "),
                got: got.join(" "),
            });
        }
    }
    Ok(Outcome::Pass)
}

fn keda_metric_name_case(case: &Case) -> Result<Outcome, ConformanceError> {
    if case.obj.is_some() {
        let want = case.str("expected_name")?;
        let index = usize::try_from(case.i64("trigger_index")?)
            .map_err(|_| case.err("trigger_index", "expected a non-negative integer"))?;
        let meta = metadata_map(case, case.req("metadata")?, "metadata")?;
        let trigger =
            CronTrigger::from_metadata(&meta).map_err(|e| case.err("metadata", e.to_string()))?;
        let got = trigger.metric_name(index);
        return Ok(if got == want {
            Outcome::Pass
        } else {
            Outcome::Fail {
                expected: want.to_string(),
                got,
            }
        });
    }
    let pair = case
        .raw
        .as_array()
        .ok_or_else(|| case.err("[0]", "expected [expected_name, description]"))?;
    let want = pair
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| case.err("[0]", "expected the metric name string"))?;
    let desc = pair
        .get(1)
        .and_then(Value::as_str)
        .ok_or_else(|| case.err("[1]", "expected the trigger description string"))?;
    let index = int_after(desc, "trigger")
        .ok_or_else(|| case.err("[1]", "expected \"trigger <index>\""))?;
    let described = describe_trigger(desc).map_err(|e| case.err("[1]", e))?;
    let trigger = CronTrigger::from_metadata(&described.metadata)
        .map_err(|e| case.err("[1]", e.to_string()))?;
    let got = trigger.metric_name(index as usize);
    Ok(if got == want {
        Outcome::Pass
    } else {
        Outcome::Fail {
            expected: want.to_string(),
            got,
        }
    })
}
