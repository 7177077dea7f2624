//! The snapshot: one or many workloads, each with its autoscaler configuration
//! and metric history. It is what `stepscale analyze` reads, what the operator
//! builds from the cluster each tick, and what rules see through the
//! `workload` interface. Its JSON form is documented by the JSON Schema in
//! `docs/snapshot.schema.json` (generated from these types by
//! `stepscale snapshot-schema`).
//!
//! This module owns parsing and validation only; it never talks to a cluster.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use stepscale_hpa::limits::{self, printable};

/// The `apiVersion` every snapshot file carries.
pub const SNAPSHOT_API_VERSION: &str = "stepscale.io/snapshot/v1";

/// A set of workloads to analyze.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshot {
    /// Always `stepscale.io/snapshot/v1`.
    pub api_version: String,
    /// The workloads, each with its own autoscaler and history.
    pub workloads: Vec<WorkloadSnapshot>,
}

/// One autoscaled workload: who scales what, how, and what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSnapshot {
    /// The HPA or ScaledObject.
    pub autoscaler: AutoscalerRef,
    /// The object it scales (anything with a `/scale` subresource).
    pub target: ScaleTargetRef,
    /// The autoscaling configuration in force.
    pub config: AutoscalingConfig,
    /// Requests of the target's pod template containers.
    #[serde(default)]
    pub containers: Vec<ContainerResources>,
    /// Metric history at a fixed step.
    pub history: MetricHistory,
    /// Where the history came from (free text shown with the
    /// recommendation), e.g. `Prometheus backfill` or a trace file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Kind of autoscaler object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AutoscalerKind {
    /// autoscaling/v2 HorizontalPodAutoscaler.
    HorizontalPodAutoscaler,
    /// keda.sh/v1alpha1 ScaledObject.
    ScaledObject,
}

/// Identity of an autoscaler object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoscalerRef {
    /// `HorizontalPodAutoscaler` or `ScaledObject`.
    pub kind: AutoscalerKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// The object an autoscaler scales (`scaleTargetRef`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleTargetRef {
    /// API version, e.g. `apps/v1`.
    pub api_version: String,
    /// Kind, e.g. `Deployment`, `StatefulSet`, or a custom resource kind.
    pub kind: String,
    /// Name, in the autoscaler's namespace.
    pub name: String,
}

/// Autoscaling configuration, normalized over HPA and ScaledObject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoscalingConfig {
    /// Replica floor; 0 only for ScaledObjects.
    pub min_replicas: u32,
    /// Replica ceiling; >= minReplicas and > 0.
    pub max_replicas: u32,
    /// Target average CPU utilization, percent of request (1..=1000), if the
    /// autoscaler scales on CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_target_percent: Option<u32>,
    /// Target average memory utilization, percent of request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_target_percent: Option<u32>,
    /// `behavior.scaleUp`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<ScalingRules>,
    /// `behavior.scaleDown`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScalingRules>,
    /// KEDA settings; required for ScaledObjects, absent for HPAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keda: Option<KedaConfig>,
}

/// HPA behavior for one direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingRules {
    /// Stabilization window, seconds (0..=3600); absent = Kubernetes default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stabilization_window_seconds: Option<u32>,
    /// `Max` (default), `Min` or `Disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<SelectPolicy>,
    /// Policies; empty = Kubernetes defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<ScalingPolicy>,
}

/// `selectPolicy` of HPA behavior.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SelectPolicy {
    /// The policy allowing the largest change.
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One HPA behavior policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingPolicy {
    /// `Pods` or `Percent`.
    #[serde(rename = "type")]
    pub kind: PolicyKind,
    /// Pods or percent per period (> 0).
    pub value: u32,
    /// Period, seconds (1..=1800).
    pub period_seconds: u32,
}

impl ScalingPolicy {
    /// At most `value` % of the current pods per `period_seconds`.
    pub fn percent(value: u32, period_seconds: u32) -> ScalingPolicy {
        ScalingPolicy {
            kind: PolicyKind::Percent,
            value,
            period_seconds,
        }
    }
}

impl std::fmt::Display for ScalingPolicy {
    /// "400 % of the pods per 15 s" or "4 pods per 60 s".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            PolicyKind::Percent => write!(
                f,
                "{} % of the pods per {} s",
                self.value, self.period_seconds
            ),
            PolicyKind::Pods => write!(f, "{} pods per {} s", self.value, self.period_seconds),
        }
    }
}

/// Unit of a scaling policy's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PolicyKind {
    /// A number of pods.
    Pods,
    /// A percentage of current replicas.
    Percent,
}

/// KEDA ScaledObject settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KedaConfig {
    /// `cooldownPeriod`, seconds (KEDA default 300).
    #[serde(default = "default_cooldown")]
    pub cooldown_period_seconds: u32,
    /// `pollingInterval`, seconds (KEDA default 30).
    #[serde(default = "default_polling")]
    pub polling_interval_seconds: u32,
    /// `idleReplicaCount`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_replica_count: Option<u32>,
    /// Triggers.
    #[serde(default)]
    pub triggers: Vec<KedaTrigger>,
}

fn default_cooldown() -> u32 {
    300
}
fn default_polling() -> u32 {
    30
}

/// One KEDA trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KedaTrigger {
    /// Trigger type, e.g. `cpu`, `cron`, `prometheus`.
    #[serde(rename = "type")]
    pub trigger_type: String,
    /// Trigger metadata.
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// Requests of one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerResources {
    /// Container name.
    pub name: String,
    /// CPU request, millicores; absent = no CPU request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_request_millicores: Option<u32>,
    /// Memory request, bytes; absent = no memory request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_request_bytes: Option<u64>,
}

/// Aligned metric series at a fixed step. Every series present has the same
/// length as `cpuUtilization`; `null` marks a missing sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricHistory {
    /// Unix time (seconds, UTC) of the first sample.
    pub start_unix_seconds: i64,
    /// Seconds between samples (10..=3600).
    pub step_seconds: u32,
    /// Local time offset from UTC in minutes, for time-of-day analysis.
    /// Rules see this fixed offset; when `timezone` is set, it is that
    /// zone's offset at the last sample ([`MetricHistory::set_timezone`]).
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// IANA time zone of the workload (`Europe/Berlin`), for predictive
    /// schedules: their windows are sized and applied in this zone's local
    /// time, daylight-saving correct. Absent = UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Average CPU utilization of the pods, percent of request.
    #[serde(with = "nan_as_null")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub cpu_utilization: Vec<f64>,
    /// `status.desiredReplicas` per sample.
    #[serde(with = "nan_as_null")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub replicas_desired: Vec<f64>,
    /// `status.currentReplicas` per sample.
    #[serde(with = "nan_as_null")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub replicas_current: Vec<f64>,
    /// Ready replicas per sample; absent = same as current.
    #[serde(
        default,
        with = "nan_as_null_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub replicas_ready: Option<Vec<f64>>,
    /// Requests per second, if known.
    #[serde(
        default,
        with = "nan_as_null_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub request_rate: Option<Vec<f64>>,
}

impl MetricHistory {
    /// Set the IANA zone of the workload and, from it, the fixed offset
    /// rules see (`utc_offset_minutes`: the zone's offset at the last
    /// sample). A zone that does not load is kept as given and the offset
    /// left alone; validation names it.
    pub fn set_timezone(&mut self, name: String) {
        if let Ok(tz) = stepscale_hpa::tz::TimeZone::load(&name) {
            let last = self.start_unix_seconds.saturating_add(
                i64::from(self.step_seconds).saturating_mul(self.len().saturating_sub(1) as i64),
            );
            self.utc_offset_minutes = tz.offset_at(last) / 60;
        }
        self.timezone = Some(name);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.cpu_utilization.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.cpu_utilization.is_empty()
    }

    /// Ready replicas, falling back to current replicas.
    pub fn ready(&self) -> &[f64] {
        self.replicas_ready
            .as_deref()
            .unwrap_or(&self.replicas_current)
    }
}

/// A snapshot that failed validation: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnapshotError {
    /// The text is not valid JSON/YAML of the snapshot shape.
    #[error("{path}: {message}")]
    Parse {
        /// Where in the document (`line L column C`, or a field path).
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A field has a value outside its valid range.
    #[error("{field}: {problem}; {fix}")]
    Invalid {
        /// Path of the field, e.g. `workloads[2].config.maxReplicas`.
        field: String,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },
}

fn invalid(field: String, problem: impl Into<String>, fix: impl Into<String>) -> SnapshotError {
    SnapshotError::Invalid {
        field,
        problem: problem.into(),
        fix: fix.into(),
    }
}

impl Snapshot {
    /// Parse a snapshot from JSON text and validate it.
    ///
    /// # Errors
    /// - [`SnapshotError::Parse`] with the line and column of a syntax error,
    ///   an unknown or missing field, or a value of the wrong type;
    /// - [`SnapshotError::Invalid`] naming the first field that fails
    ///   [`Snapshot::validate`].
    pub fn from_json(text: &str) -> Result<Snapshot, SnapshotError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let snapshot: Snapshot = serde_json::from_str(text).map_err(|e| SnapshotError::Parse {
            path: format!("line {} column {}", e.line(), e.column()),
            // The message may quote the input: escape it and keep it short.
            message: printable(&e.to_string(), 300),
        })?;
        snapshot.validate()?;
        let mut snapshot = snapshot;
        for w in &mut snapshot.workloads {
            if let Some(zone) = w.history.timezone.take() {
                w.history.set_timezone(zone);
            }
        }
        Ok(snapshot)
    }

    /// Check every value a rule or the simulator relies on.
    ///
    /// # Errors
    /// [`SnapshotError::Invalid`] naming the first offending field, what is
    /// wrong with it and how to fix it.
    pub fn validate(&self) -> Result<(), SnapshotError> {
        if self.api_version != SNAPSHOT_API_VERSION {
            return Err(invalid(
                "apiVersion".into(),
                format!("is {:?}", self.api_version),
                format!("set it to {SNAPSHOT_API_VERSION:?}"),
            ));
        }
        if self.workloads.len() > limits::MAX_WORKLOADS {
            return Err(invalid(
                "workloads".into(),
                format!(
                    "has {} entries, above the limit of {}",
                    self.workloads.len(),
                    limits::MAX_WORKLOADS
                ),
                "split the snapshot into several files",
            ));
        }
        let mut seen = std::collections::HashMap::new();
        for (i, w) in self.workloads.iter().enumerate() {
            w.validate(&format!("workloads[{i}]"))?;
            let key = (
                w.autoscaler.kind,
                &w.autoscaler.namespace,
                &w.autoscaler.name,
            );
            if let Some(first) = seen.insert(key, i) {
                return Err(invalid(
                    format!("workloads[{i}].autoscaler"),
                    format!(
                        "{} {} is also workloads[{first}]",
                        w.autoscaler.kind.name(),
                        w.display_name()
                    ),
                    "give each autoscaler once (merge or drop the duplicate)",
                ));
            }
        }
        Ok(())
    }
}

impl AutoscalerKind {
    /// `HorizontalPodAutoscaler` or `ScaledObject`.
    pub fn name(self) -> &'static str {
        match self {
            AutoscalerKind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            AutoscalerKind::ScaledObject => "ScaledObject",
        }
    }
}

/// Check free text (a kind, an API version, trigger metadata, `source`):
/// at most [`limits::MAX_TEXT_LEN`] bytes, no control characters.
fn check_text(field: String, s: &str) -> Result<(), SnapshotError> {
    if s.len() > limits::MAX_TEXT_LEN {
        return Err(invalid(
            field,
            format!(
                "is {} bytes long, above the limit of {}",
                s.len(),
                limits::MAX_TEXT_LEN
            ),
            "shorten it",
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("contains control characters ({})", printable(s, 60)),
            "remove them (escape sequences and newlines are not allowed)",
        ));
    }
    Ok(())
}

/// Check a Kubernetes name with `check` (label or subdomain rules).
fn check_name(
    field: String,
    s: &str,
    check: fn(&str) -> Result<(), String>,
) -> Result<(), SnapshotError> {
    check(s).map_err(|problem| invalid(field, problem, "use the object's Kubernetes name"))
}

impl AutoscalingConfig {
    /// Validate a configuration of an autoscaler of `kind`; `at` is its
    /// path in the document (or the flag it came from).
    ///
    /// # Errors
    /// [`SnapshotError::Invalid`] naming the first offending field.
    pub fn validate(&self, at: &str, kind: AutoscalerKind) -> Result<(), SnapshotError> {
        let c = self;
        let is_keda = kind == AutoscalerKind::ScaledObject;
        for (field, v) in [
            ("maxReplicas", Some(c.max_replicas)),
            ("minReplicas", Some(c.min_replicas)),
            (
                "keda.idleReplicaCount",
                c.keda.as_ref().and_then(|k| k.idle_replica_count),
            ),
        ] {
            let Some(v) = v else { continue };
            if let Err(problem) = limits::check_replicas(i64::from(v)) {
                return Err(invalid(
                    format!("{at}.{field}"),
                    problem,
                    format!("use at most {} replicas", limits::MAX_REPLICAS),
                ));
            }
        }
        if c.max_replicas == 0 {
            return Err(invalid(
                format!("{at}.maxReplicas"),
                "is 0",
                "set maxReplicas to at least 1",
            ));
        }
        if c.min_replicas > c.max_replicas {
            return Err(invalid(
                format!("{at}.minReplicas"),
                format!(
                    "({}) is above maxReplicas ({})",
                    c.min_replicas, c.max_replicas
                ),
                "make minReplicas <= maxReplicas",
            ));
        }
        if c.min_replicas == 0 && !is_keda {
            return Err(invalid(
                format!("{at}.minReplicas"),
                "is 0 on a HorizontalPodAutoscaler",
                "use at least 1 (scale to zero needs KEDA)",
            ));
        }
        if is_keda != c.keda.is_some() {
            let problem = if is_keda {
                "is missing for a ScaledObject"
            } else {
                "is set on a HorizontalPodAutoscaler"
            };
            return Err(invalid(
                format!("{at}.keda"),
                problem,
                "set config.keda exactly when autoscaler.kind is ScaledObject",
            ));
        }
        if let Some(t) = c.cpu_target_percent {
            if !(1..=1000).contains(&t) {
                return Err(invalid(
                    format!("{at}.cpuTargetPercent"),
                    format!("is {t}"),
                    "use a percentage of the CPU request between 1 and 1000",
                ));
            }
        }
        for (dir, rules) in [("scaleUp", &c.scale_up), ("scaleDown", &c.scale_down)] {
            let Some(rules) = rules else { continue };
            if let Some(w) = rules.stabilization_window_seconds {
                if w > 3600 {
                    return Err(invalid(
                        format!("{at}.{dir}.stabilizationWindowSeconds"),
                        format!("is {w}"),
                        "use 0..=3600 seconds, as Kubernetes does",
                    ));
                }
            }
            for (j, p) in rules.policies.iter().enumerate() {
                if p.value == 0 || !(1..=1800).contains(&p.period_seconds) {
                    return Err(invalid(
                        format!("{at}.{dir}.policies[{j}]"),
                        format!(
                            "has value {} and periodSeconds {}",
                            p.value, p.period_seconds
                        ),
                        "use value > 0 and periodSeconds 1..=1800",
                    ));
                }
            }
        }
        if let Some(t) = c.memory_target_percent {
            if !(1..=1000).contains(&t) {
                return Err(invalid(
                    format!("{at}.memoryTargetPercent"),
                    format!("is {t}"),
                    "use a percentage of the memory request between 1 and 1000",
                ));
            }
        }
        if let Some(k) = &c.keda {
            if k.cooldown_period_seconds > 7 * 86_400
                || !(1..=3600).contains(&k.polling_interval_seconds)
            {
                return Err(invalid(
                    format!("{at}.keda"),
                    format!(
                        "has cooldownPeriodSeconds {} and pollingIntervalSeconds {}",
                        k.cooldown_period_seconds, k.polling_interval_seconds
                    ),
                    "use a cooldown of at most one week (604800 s) and a polling interval of 1..=3600 s",
                ));
            }
            if k.triggers.len() > limits::MAX_ITEMS {
                return Err(invalid(
                    format!("{at}.keda.triggers"),
                    format!(
                        "has {} entries, above the limit of {}",
                        k.triggers.len(),
                        limits::MAX_ITEMS
                    ),
                    "keep the triggers the ScaledObject has",
                ));
            }
            for (j, t) in k.triggers.iter().enumerate() {
                check_text(format!("{at}.keda.triggers[{j}].type"), &t.trigger_type)?;
                if t.metadata.len() > limits::MAX_ITEMS {
                    return Err(invalid(
                        format!("{at}.keda.triggers[{j}].metadata"),
                        format!(
                            "has {} entries, above the limit of {}",
                            t.metadata.len(),
                            limits::MAX_ITEMS
                        ),
                        "keep the trigger's own metadata",
                    ));
                }
                for (key, value) in &t.metadata {
                    check_text(format!("{at}.keda.triggers[{j}].metadata"), key)?;
                    check_text(
                        format!("{at}.keda.triggers[{j}].metadata.{}", printable(key, 40)),
                        value,
                    )?;
                }
            }
        }
        Ok(())
    }
}

impl WorkloadSnapshot {
    /// `namespace/name` of the autoscaler, for messages.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.autoscaler.namespace, self.autoscaler.name)
    }

    /// Validate one workload; `at` is its path in the document.
    ///
    /// # Errors
    /// [`SnapshotError::Invalid`] naming the first offending field.
    pub fn validate(&self, at: &str) -> Result<(), SnapshotError> {
        check_name(
            format!("{at}.autoscaler.namespace"),
            &self.autoscaler.namespace,
            limits::check_dns_label,
        )?;
        check_name(
            format!("{at}.autoscaler.name"),
            &self.autoscaler.name,
            limits::check_dns_subdomain,
        )?;
        check_name(
            format!("{at}.target.name"),
            &self.target.name,
            limits::check_dns_subdomain,
        )?;
        check_text(format!("{at}.target.kind"), &self.target.kind)?;
        check_text(format!("{at}.target.apiVersion"), &self.target.api_version)?;
        if let Some(src) = &self.source {
            check_text(format!("{at}.source"), src)?;
        }
        self.config
            .validate(&format!("{at}.config"), self.autoscaler.kind)?;
        if self.containers.len() > limits::MAX_ITEMS {
            return Err(invalid(
                format!("{at}.containers"),
                format!(
                    "has {} entries, above the limit of {}",
                    self.containers.len(),
                    limits::MAX_ITEMS
                ),
                "keep the pod template's containers",
            ));
        }
        for (j, ct) in self.containers.iter().enumerate() {
            check_name(
                format!("{at}.containers[{j}].name"),
                &ct.name,
                limits::check_dns_label,
            )?;
        }
        self.history.validate(&format!("{at}.history"))
    }
}

impl MetricHistory {
    /// Validate the series; `at` is the path of the history in the document.
    ///
    /// # Errors
    /// [`SnapshotError::Invalid`] naming the first offending series or sample.
    pub fn validate(&self, at: &str) -> Result<(), SnapshotError> {
        if !(10..=3600).contains(&self.step_seconds) {
            return Err(invalid(
                format!("{at}.stepSeconds"),
                format!("is {}", self.step_seconds),
                "use a step between 10 and 3600 seconds",
            ));
        }
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err(invalid(
                format!("{at}.utcOffsetMinutes"),
                format!("is {}", self.utc_offset_minutes),
                "use an offset between -840 and 840 minutes",
            ));
        }
        if let Some(tz) = &self.timezone {
            if let Err(e) = stepscale_hpa::tz::TimeZone::load(tz) {
                return Err(invalid(
                    format!("{at}.timezone"),
                    e.to_string(),
                    "use an IANA time zone name such as Europe/Berlin or UTC",
                ));
            }
        }
        if let Err(problem) = limits::check_unix_seconds(self.start_unix_seconds) {
            return Err(invalid(
                format!("{at}.startUnixSeconds"),
                problem,
                "give the time of the first sample in seconds since the epoch",
            ));
        }
        let n = self.len();
        let span = (n as i64).saturating_mul(i64::from(self.step_seconds));
        if n > limits::MAX_SAMPLES || span > limits::MAX_SPAN_SECONDS {
            return Err(invalid(
                format!("{at}.cpuUtilization"),
                format!(
                    "has {n} samples at a {} s step, above the limits of {} samples and 400 days",
                    self.step_seconds,
                    limits::MAX_SAMPLES
                ),
                "cut the history (the analysis uses at most the last weeks)",
            ));
        }
        if n < 2 {
            return Err(invalid(
                format!("{at}.cpuUtilization"),
                format!("has {n} samples"),
                "give at least 2 samples (a day or more for useful findings)",
            ));
        }
        let series: [(&str, Option<&Vec<f64>>); 5] = [
            ("cpuUtilization", Some(&self.cpu_utilization)),
            ("replicasDesired", Some(&self.replicas_desired)),
            ("replicasCurrent", Some(&self.replicas_current)),
            ("replicasReady", self.replicas_ready.as_ref()),
            ("requestRate", self.request_rate.as_ref()),
        ];
        for (name, values) in series {
            let Some(values) = values else { continue };
            if values.len() != n {
                return Err(invalid(
                    format!("{at}.{name}"),
                    format!("has {} samples but cpuUtilization has {n}", values.len()),
                    "give every series the same number of samples, null for a gap",
                ));
            }
            if let Some(i) = values.iter().position(|v| *v < 0.0 || v.is_infinite()) {
                return Err(invalid(
                    format!("{at}.{name}[{i}]"),
                    format!("is {}", values[i]),
                    "samples must be finite and >= 0 (null for a gap)",
                ));
            }
        }
        Ok(())
    }
}

/// `Vec<f64>` with NaN written as JSON `null` and read back from `null`.
mod nan_as_null {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| x.is_finite().then_some(*x)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v: Vec<Option<f64>> = Deserialize::deserialize(d)?;
        Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }
}

/// `Option<Vec<f64>>` with NaN as `null`.
mod nan_as_null_opt {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Vec<f64>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_seq(v.iter().map(|x| x.is_finite().then_some(*x))),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f64>>, D::Error> {
        let v: Option<Vec<Option<f64>>> = Deserialize::deserialize(d)?;
        Ok(v.map(|v| v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect()))
    }
}

/// Generate the JSON Schema of the snapshot format.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Snapshot)).unwrap_or_default()
}

impl WorkloadSnapshot {
    /// A minimal valid workload, served to `info()` calls at load time.
    pub fn placeholder() -> WorkloadSnapshot {
        WorkloadSnapshot {
            autoscaler: AutoscalerRef {
                kind: AutoscalerKind::HorizontalPodAutoscaler,
                namespace: String::new(),
                name: String::new(),
            },
            target: ScaleTargetRef {
                api_version: String::new(),
                kind: String::new(),
                name: String::new(),
            },
            config: AutoscalingConfig {
                min_replicas: 1,
                max_replicas: 1,
                ..AutoscalingConfig::default()
            },
            containers: Vec::new(),
            history: MetricHistory {
                start_unix_seconds: 0,
                step_seconds: 60,
                utc_offset_minutes: 0,
                timezone: None,
                cpu_utilization: Vec::new(),
                replicas_desired: Vec::new(),
                replicas_current: Vec::new(),
                replicas_ready: None,
                request_rate: None,
            },
            source: None,
        }
    }
}
