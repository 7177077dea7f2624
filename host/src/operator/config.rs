//! The operator's configuration: Helm values (a YAML file with the chart's
//! `values.yaml` shape), overridden by flags and environment variables in
//! `stepscale operator`, validated into an [`OperatorConfig`].
//!
//! Defaults and units:
//! - `intervalSeconds`: 300 (seconds between reconcile ticks);
//! - `leaderElection.enabled`: true; `.leaseName`:
//!   `stepscale-autoscaler-leader`; `.namespace`: `$POD_NAMESPACE`, else
//!   `default`; `.leaseDurationSeconds`: 45 (kept by its own task, see
//!   [`crate::operator::leader`]);
//! - `namespaces`: `[]` (all namespaces);
//! - `prometheus.url`: `""` (off: HPA-status fallback); `.lookbackSeconds`
//!   604800 (7 days); `.stepSeconds` 300; `.timeoutSeconds` 10;
//! - `forecasting.enabled`: true; `.timezone`: `UTC` (IANA zone of
//!   predictive schedules); `.namespaceTimezones`: `{}` (namespace → zone;
//!   an autoscaler's `stepscale.io/timezone` annotation wins, see
//!   [`crate::schedule::timezone`]);
//! - `llm.provider`: `none`;
//! - `safety.probationWindowMinutes`: 1440 (one day: the probation must
//!   contain a whole daily load cycle, peak included, before a change is
//!   called healthy); `.probationWindowSeconds` overrides it when set (for
//!   tests); `.healthCpuMargin`: 10 (percentage points above the CPU target
//!   still healthy); `.mutatingPassBudgetSeconds`: 60 (time budget of one
//!   mutating pass, also capped by the remaining lease);
//! - `objective.mode`: `savings` (`balanced`, `reliability`; see
//!   [`crate::objective`]); `.minSavingsPercent` 3; `.maxExtraCostPercent` 50;
//! - `safety.maxSaturationMinutesPerDay` 5, `.maxOverTargetMinutesPerDay` 60
//!   (the absolute budget), `.saturationToleranceMinutesPerDay` 1,
//!   `.overTargetToleranceMinutesPerDay` 10, `.directionChangeTolerancePerDay`
//!   2 (what a change may add to today's); the reasons for each default are in
//!   [`crate::objective`];
//! - `http.address`: `0.0.0.0:8080` (`/metrics`, `/healthz`, `/readyz`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::history::prometheus::{PrometheusConfig, Queries};
use crate::lifecycle::SafetyConfig;
use crate::operator::leader::DEFAULT_LEASE_NAME;
use crate::review::{self, ApiKey, LlmConfig, Provider};
use crate::rules::RulesConfig;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The values file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The values file is not valid YAML of the expected shape.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: serde_yaml::Error,
    },
    /// The Prometheus settings are unusable.
    #[error("prometheus: {0}")]
    Prometheus(#[source] crate::history::prometheus::PrometheusError),
    /// A configured time zone does not load.
    #[error("{field}: {problem}; use an IANA time zone name such as Europe/Berlin or UTC")]
    InvalidZone {
        /// The values path.
        field: String,
        /// Why.
        problem: String,
    },
    /// A value is out of range.
    #[error("{field}: {problem}; {fix}")]
    Invalid {
        /// The values path, e.g. `intervalSeconds`.
        field: &'static str,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: &'static str,
    },
}

/// Helm values as read from a file (every field optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Values {
    /// `intervalSeconds`.
    pub interval_seconds: Option<u64>,
    /// `leaderElection`.
    pub leader_election: LeaderElectionValues,
    /// `namespaces`.
    pub namespaces: Option<Vec<String>>,
    /// `prometheus`.
    pub prometheus: PrometheusValues,
    /// `forecasting`.
    pub forecasting: ForecastingValues,
    /// `llm`.
    pub llm: LlmValues,
    /// `safety`.
    pub safety: SafetyValues,
    /// `objective`.
    pub objective: ObjectiveValues,
    /// `rules`.
    pub rules: RulesValues,
    /// `http`.
    pub http: HttpValues,
}

/// `rules.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RulesValues {
    /// `configMapSelector`: label selector of the rule ConfigMaps.
    pub config_map_selector: Option<String>,
    /// `namespaces`: more namespaces to load rule ConfigMaps from (the
    /// release namespace is always one).
    pub namespaces: Option<Vec<String>>,
    /// `trustedKeys`: ed25519 public keys (base64) of trusted signers.
    pub trusted_keys: Option<Vec<String>>,
    /// `enabled`: per-rule switch by id; a rule not listed is enabled.
    pub enabled: Option<std::collections::BTreeMap<String, bool>>,
    /// `replaceBuiltins`: builtin rule ids a custom rule may replace.
    pub replace_builtins: Option<Vec<String>>,
    /// `params`: numeric parameters by rule id and name.
    pub params: Option<std::collections::BTreeMap<String, stepscale_engine::RuleParams>>,
}

/// `leaderElection.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LeaderElectionValues {
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `leaseName`.
    pub lease_name: Option<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `leaseDurationSeconds`.
    pub lease_duration_seconds: Option<u64>,
}

/// `prometheus.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PrometheusValues {
    /// `url`.
    pub url: Option<String>,
    /// `lookbackSeconds`.
    pub lookback_seconds: Option<u32>,
    /// `stepSeconds`.
    pub step_seconds: Option<u32>,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<u32>,
    /// `queries` (PromQL templates; defaults in [`crate::history::prometheus`]).
    pub queries: QueryValues,
}

/// `prometheus.queries.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryValues {
    /// `cpuUtilization`.
    pub cpu_utilization: Option<String>,
    /// `desiredReplicas` (alias `replicasDesired`).
    #[serde(alias = "desiredReplicas")]
    pub replicas_desired: Option<String>,
    /// `currentReplicas` (alias `replicasCurrent`).
    #[serde(alias = "currentReplicas")]
    pub replicas_current: Option<String>,
    /// `requestRate`.
    pub request_rate: Option<String>,
}

impl QueryValues {
    /// The PromQL templates: each override that is set and not blank, the
    /// documented default for the rest (`requestRate` is only queried when
    /// set).
    pub fn into_queries(self) -> Queries {
        let set = |v: Option<String>| v.filter(|q| !q.trim().is_empty());
        let defaults = Queries::default();
        Queries {
            cpu_utilization: set(self.cpu_utilization).unwrap_or(defaults.cpu_utilization),
            replicas_desired: set(self.replicas_desired).unwrap_or(defaults.replicas_desired),
            replicas_current: set(self.replicas_current).unwrap_or(defaults.replicas_current),
            request_rate: set(self.request_rate),
        }
    }
}

/// `forecasting.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ForecastingValues {
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `timezone`.
    pub timezone: Option<String>,
    /// `namespaceTimezones`.
    pub namespace_timezones: Option<std::collections::BTreeMap<String, String>>,
}

/// `llm.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LlmValues {
    /// `provider`.
    pub provider: Option<String>,
    /// `baseUrl`.
    pub base_url: Option<String>,
    /// `model`.
    pub model: Option<String>,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<u64>,
    /// `maxTokens`.
    pub max_tokens: Option<u32>,
    /// `temperature`.
    pub temperature: Option<f64>,
    /// `maxCallsPerTick`.
    pub max_calls_per_tick: Option<usize>,
    /// `concurrency`.
    pub concurrency: Option<usize>,
    /// `budgetSeconds`.
    pub budget_seconds: Option<u64>,
}

impl LlmValues {
    /// The validated settings; `None` for `provider: none`. The API key is
    /// left empty: the caller reads it from the environment
    /// ([`crate::review::ENV_API_KEY`]).
    ///
    /// # Errors
    /// A value out of range, named with its fix.
    pub fn into_config(self) -> Result<Option<LlmConfig>, ConfigError> {
        let name = self.provider.unwrap_or_else(|| "none".into());
        let provider = match Provider::parse(&name) {
            Ok(None) => return Ok(None),
            Ok(Some(p)) => p,
            Err(got) => {
                return Err(ConfigError::Invalid {
                    field: "llm.provider",
                    problem: format!("is {got}"),
                    fix: "use none, openai or anthropic",
                })
            }
        };
        let model = self.model.filter(|m| !m.trim().is_empty()).ok_or(ConfigError::Invalid {
            field: "llm.model",
            problem: "is not set".into(),
            fix: "name the model to ask (e.g. gpt-4o-mini for openai, claude-3-5-haiku-latest for anthropic, or the model your OpenAI-compatible server serves)",
        })?;
        let base_url = match self.base_url.filter(|u| !u.trim().is_empty()) {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => u,
            Some(u) => return Err(ConfigError::Invalid {
                field: "llm.baseUrl",
                problem: format!("is {u:?}"),
                fix:
                    "give the API's base URL with http:// or https://, e.g. http://vllm.llm:8000/v1",
            }),
            None => provider.default_base_url().to_string(),
        };
        let timeout = within(
            "llm.timeoutSeconds",
            self.timeout_seconds
                .unwrap_or(review::DEFAULT_TIMEOUT_SECONDS),
            1..=600,
            "use 1 to 600 seconds",
        )?;
        let max_tokens = within(
            "llm.maxTokens",
            self.max_tokens.unwrap_or(review::DEFAULT_MAX_TOKENS),
            64..=8192,
            "use 64 to 8192 (the answer is a short JSON object)",
        )?;
        let temperature = within(
            "llm.temperature",
            self.temperature.unwrap_or(0.0),
            0.0..=2.0,
            "use 0 to 2 (0 gives the most repeatable answers)",
        )?;
        let max_calls = within(
            "llm.maxCallsPerTick",
            self.max_calls_per_tick
                .unwrap_or(review::DEFAULT_MAX_CALLS_PER_TICK),
            1..=10_000,
            "use 1 to 10000 (set llm.provider=none to make no calls)",
        )?;
        let concurrency = within(
            "llm.concurrency",
            self.concurrency.unwrap_or(review::DEFAULT_CONCURRENCY),
            1..=32,
            "use 1 to 32",
        )?;
        let budget = within(
            "llm.budgetSeconds",
            self.budget_seconds
                .unwrap_or(review::DEFAULT_BUDGET_SECONDS),
            1..=3600,
            "use 1 to 3600 seconds",
        )?;
        Ok(Some(LlmConfig {
            provider,
            base_url,
            model,
            timeout: Duration::from_secs(timeout),
            max_tokens,
            temperature,
            max_calls_per_tick: max_calls,
            concurrency,
            budget: Duration::from_secs(budget),
            api_key: ApiKey::new(""),
        }))
    }
}

/// `safety.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SafetyValues {
    /// `probationWindowMinutes`.
    pub probation_window_minutes: Option<u64>,
    /// `probationWindowSeconds` (overrides the minutes; for tests).
    pub probation_window_seconds: Option<u64>,
    /// `healthCpuMargin`.
    pub health_cpu_margin: Option<f64>,
    /// `mutatingPassBudgetSeconds`.
    pub mutating_pass_budget_seconds: Option<u64>,
    /// `maxSaturationMinutesPerDay`.
    pub max_saturation_minutes_per_day: Option<f64>,
    /// `maxOverTargetMinutesPerDay`.
    pub max_over_target_minutes_per_day: Option<f64>,
    /// `saturationToleranceMinutesPerDay`.
    pub saturation_tolerance_minutes_per_day: Option<f64>,
    /// `overTargetToleranceMinutesPerDay`.
    pub over_target_tolerance_minutes_per_day: Option<f64>,
    /// `directionChangeTolerancePerDay`.
    pub direction_change_tolerance_per_day: Option<f64>,
}

/// `objective.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectiveValues {
    /// `mode`: savings | balanced | reliability.
    pub mode: Option<crate::objective::Mode>,
    /// `minSavingsPercent`.
    pub min_savings_percent: Option<f64>,
    /// `maxExtraCostPercent`.
    pub max_extra_cost_percent: Option<f64>,
}

/// `http.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpValues {
    /// `address`.
    pub address: Option<String>,
}

/// Leader election settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderElectionConfig {
    /// Whether to elect a leader (off = this instance always leads).
    pub enabled: bool,
    /// Lease name.
    pub lease_name: String,
    /// Lease namespace.
    pub namespace: String,
    /// Lease duration.
    pub lease_duration: Duration,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorConfig {
    /// Seconds between reconcile ticks.
    pub interval: Duration,
    /// Leader election.
    pub leader_election: LeaderElectionConfig,
    /// Watched namespaces; empty = all.
    pub namespaces: Vec<String>,
    /// Prometheus backfill, when a URL is set.
    pub prometheus: Option<PrometheusConfig>,
    /// Run the forecaster (predictive schedules).
    pub forecasting: bool,
    /// Time zones of predictive schedules.
    pub timezones: crate::schedule::timezone::TimezoneConfig,
    /// LLM provider (`none`, `openai`, `anthropic`).
    pub llm_provider: String,
    /// The LLM pass; `None` with `llm.provider=none`.
    pub llm: Option<LlmConfig>,
    /// Safety settings.
    pub safety: SafetyConfig,
    /// The objective recommendations are chosen by.
    pub objective: crate::objective::Objective,
    /// Custom rules.
    pub rules: RulesConfig,
    /// Address of the HTTP endpoints.
    pub http_address: SocketAddr,
    /// This instance's identity in the leader election (pod name).
    pub identity: String,
}

/// Default tick interval, seconds.
pub const DEFAULT_INTERVAL_SECONDS: u64 = 300;
/// Default probation window, minutes (one day: a whole daily cycle).
pub const DEFAULT_PROBATION_WINDOW_MINUTES: u64 = 1440;
/// Default health CPU margin, percentage points.
pub const DEFAULT_HEALTH_CPU_MARGIN: f64 = 10.0;
/// Default mutating pass budget, seconds.
pub const DEFAULT_MUTATING_PASS_BUDGET_SECONDS: u64 = 60;
/// Default address of the HTTP endpoints.
pub const DEFAULT_HTTP_ADDRESS: &str = "0.0.0.0:8080";

impl Values {
    /// Read a values file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`], naming the file.
    pub fn from_file(path: &Path) -> Result<Values, ConfigError> {
        let text =
            stepscale_hpa::limits::read_text_file(path, stepscale_hpa::limits::MAX_VALUES_BYTES)
                .map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
        if text.trim().is_empty() {
            return Ok(Values::default());
        }
        serde_yaml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// Validate and fill in defaults. `identity` names this instance;
    /// `pod_namespace` is the default lease namespace.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first bad value and the fix.
    pub fn into_config(
        self,
        identity: String,
        pod_namespace: Option<String>,
    ) -> Result<OperatorConfig, ConfigError> {
        let interval = self.interval_seconds.unwrap_or(DEFAULT_INTERVAL_SECONDS);
        if interval == 0 {
            return Err(ConfigError::Invalid {
                field: "intervalSeconds",
                problem: "is 0".into(),
                fix: "use at least 1 second (default 300)",
            });
        }
        let lease_seconds = self
            .leader_election
            .lease_duration_seconds
            .unwrap_or(crate::operator::leader::DEFAULT_LEASE_SECONDS);
        if lease_seconds < 3 {
            return Err(ConfigError::Invalid {
                field: "leaderElection.leaseDurationSeconds",
                problem: format!("is {lease_seconds}"),
                fix: "use at least 3 seconds (default 45)",
            });
        }
        let probation = match (
            self.safety.probation_window_seconds,
            self.safety.probation_window_minutes,
        ) {
            (Some(s), _) => s,
            (None, Some(m)) => m.saturating_mul(60),
            (None, None) => DEFAULT_PROBATION_WINDOW_MINUTES * 60,
        };
        let margin = within(
            "safety.healthCpuMargin",
            self.safety
                .health_cpu_margin
                .unwrap_or(DEFAULT_HEALTH_CPU_MARGIN),
            0.0..=1000.0,
            "use percentage points between 0 and 1000 (default 10)",
        )?;
        let d = crate::objective::Objective::default();
        let objective = crate::objective::Objective {
            mode: self.objective.mode.unwrap_or(d.mode),
            min_savings_percent: self
                .objective
                .min_savings_percent
                .unwrap_or(d.min_savings_percent),
            max_extra_cost_percent: self
                .objective
                .max_extra_cost_percent
                .unwrap_or(d.max_extra_cost_percent),
            max_saturation_minutes_per_day: self
                .safety
                .max_saturation_minutes_per_day
                .unwrap_or(d.max_saturation_minutes_per_day),
            max_over_target_minutes_per_day: self
                .safety
                .max_over_target_minutes_per_day
                .unwrap_or(d.max_over_target_minutes_per_day),
            saturation_tolerance_minutes_per_day: self
                .safety
                .saturation_tolerance_minutes_per_day
                .unwrap_or(d.saturation_tolerance_minutes_per_day),
            over_target_tolerance_minutes_per_day: self
                .safety
                .over_target_tolerance_minutes_per_day
                .unwrap_or(d.over_target_tolerance_minutes_per_day),
            direction_change_tolerance_per_day: self
                .safety
                .direction_change_tolerance_per_day
                .unwrap_or(d.direction_change_tolerance_per_day),
        };
        if let Err(e) = objective.validate() {
            return Err(ConfigError::Invalid {
                field: e.field,
                problem: format!("is {}", e.value),
                fix: e.fix,
            });
        }
        let llm = self.llm.into_config()?;
        let provider = llm
            .as_ref()
            .map_or("none", |l| l.provider.as_str())
            .to_string();
        let address = self
            .http
            .address
            .unwrap_or_else(|| DEFAULT_HTTP_ADDRESS.into());
        let http_address = address.parse().map_err(|_| ConfigError::Invalid {
            field: "http.address",
            problem: format!("is {address:?}"),
            fix: "use host:port, e.g. 0.0.0.0:8080",
        })?;
        let prometheus = match self.prometheus.url.filter(|u| !u.trim().is_empty()) {
            None => None,
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError::Invalid {
                        field: "prometheus.url",
                        problem: format!("is {url:?}"),
                        fix:
                            "use an http:// or https:// URL, or \"\" to use the HPA-status fallback",
                    });
                }
                Some(PrometheusConfig {
                    url,
                    lookback_seconds: self.prometheus.lookback_seconds.unwrap_or(7 * 86_400),
                    step_seconds: self.prometheus.step_seconds.unwrap_or(300),
                    timeout_seconds: self.prometheus.timeout_seconds.unwrap_or(10),
                    queries: self.prometheus.queries.into_queries(),
                })
            }
        };
        let release_namespace = self
            .leader_election
            .namespace
            .clone()
            .or(pod_namespace)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        let rules = rules_config(self.rules, &release_namespace)?;
        let timezones = crate::schedule::timezone::TimezoneConfig {
            default: self
                .forecasting
                .timezone
                .clone()
                .filter(|z| !z.trim().is_empty())
                .unwrap_or_else(|| crate::schedule::timezone::DEFAULT_TIMEZONE.into()),
            by_namespace: self
                .forecasting
                .namespace_timezones
                .clone()
                .unwrap_or_default(),
        };
        if let Err((field, problem)) = timezones.validate() {
            return Err(ConfigError::InvalidZone { field, problem });
        }
        Ok(OperatorConfig {
            interval: Duration::from_secs(interval),
            leader_election: LeaderElectionConfig {
                enabled: self.leader_election.enabled.unwrap_or(true),
                lease_name: self
                    .leader_election
                    .lease_name
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| DEFAULT_LEASE_NAME.into()),
                namespace: release_namespace,
                lease_duration: Duration::from_secs(lease_seconds),
            },
            namespaces: self
                .namespaces
                .unwrap_or_default()
                .into_iter()
                .filter(|n| !n.trim().is_empty())
                .collect(),
            prometheus,
            forecasting: self.forecasting.enabled.unwrap_or(true),
            timezones,
            llm_provider: provider,
            llm,
            safety: SafetyConfig {
                probation_window: Duration::from_secs(probation),
                health_cpu_margin: margin,
                mutating_pass_budget: Duration::from_secs(
                    self.safety
                        .mutating_pass_budget_seconds
                        .unwrap_or(DEFAULT_MUTATING_PASS_BUDGET_SECONDS)
                        .max(1),
                ),
            },
            objective,
            rules,
            http_address,
            identity,
        })
    }
}

/// Validate `rules.*`: a selector, DNS-1123 namespaces, parseable keys.
/// `value`, or the error naming `field`, the value and `fix` when it is
/// outside `range`.
fn within<T: PartialOrd + std::fmt::Display>(
    field: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
    fix: &'static str,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            field,
            problem: format!("is {value}"),
            fix,
        })
    }
}

fn rules_config(v: RulesValues, release_namespace: &str) -> Result<RulesConfig, ConfigError> {
    let selector = v
        .config_map_selector
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| crate::rules::configmap::DEFAULT_SELECTOR.into());
    if selector.is_empty() {
        return Err(ConfigError::Invalid {
            field: "rules.configMapSelector",
            problem: "is empty (it would load every ConfigMap)".into(),
            fix: "use a label selector, e.g. stepscale.io/rule=true (the default)",
        });
    }
    let mut namespaces = vec![release_namespace.to_string()];
    for ns in v.namespaces.unwrap_or_default() {
        if stepscale_hpa::limits::check_dns_label(&ns).is_err() {
            return Err(ConfigError::Invalid {
                field: "rules.namespaces",
                problem: format!(
                    "has {:?}, which is not a namespace name",
                    stepscale_hpa::limits::printable(&ns, 64)
                ),
                fix: "list namespace names (lowercase letters, digits and dashes)",
            });
        }
        if !namespaces.contains(&ns) {
            namespaces.push(ns);
        }
    }
    let trusted_keys = v
        .trusted_keys
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, k)| {
            crate::rules::signing::parse_public_key(k).map_err(|e| ConfigError::Invalid {
                field: "rules.trustedKeys",
                problem: format!("entry {i} is unusable: {e}"),
                fix: "give the base64 public key `stepscale rules keygen` wrote (rule-signing.pub)",
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let params = v.params.unwrap_or_default();
    if let Err(problem) = crate::analysis::builtin::check_params(&params) {
        return Err(ConfigError::Invalid {
            field: "rules.params",
            problem,
            fix: "use the parameter names and values in docs/rules.md's table of rule parameters",
        });
    }
    Ok(RulesConfig {
        params,
        selector,
        namespaces,
        trusted_keys,
        disabled: v
            .enabled
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, on)| !on)
            .map(|(id, _)| id)
            .collect(),
        replace_builtins: v.replace_builtins.unwrap_or_default().into_iter().collect(),
    })
}

impl OperatorConfig {
    /// The defaults (as if from an empty values file), with `identity`.
    pub fn defaults(identity: &str) -> OperatorConfig {
        Values::default()
            .into_config(identity.to_string(), None)
            .expect("the defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let c = OperatorConfig::defaults("pod-0");
        assert_eq!(c.interval, Duration::from_secs(300));
        assert_eq!(c.leader_election.lease_duration, Duration::from_secs(45));
        assert_eq!(c.leader_election.lease_name, "stepscale-autoscaler-leader");
        assert!(c.leader_election.enabled);
        assert!(c.namespaces.is_empty());
        assert_eq!(c.prometheus, None);
        assert_eq!(c.safety.probation_window, Duration::from_secs(86_400));
        assert_eq!(c.safety.health_cpu_margin, 10.0);
        assert_eq!(c.objective, crate::objective::Objective::default());
        assert_eq!(c.llm_provider, "none");
    }

    #[test]
    fn values_override_defaults_and_seconds_win_for_probation() {
        let v: Values = serde_yaml::from_str(
            "intervalSeconds: 2\nnamespaces: [a, b]\nprometheus: {url: 'http://prom:9090'}\nsafety: {probationWindowMinutes: 5, probationWindowSeconds: 3}\n",
        )
        .expect("parses");
        let c = v
            .into_config("x".into(), Some("ops".into()))
            .expect("valid");
        assert_eq!(c.interval, Duration::from_secs(2));
        // The lease does not follow the interval: it is kept on its own.
        assert_eq!(c.leader_election.lease_duration, Duration::from_secs(45));
        assert_eq!(c.leader_election.namespace, "ops");
        assert_eq!(c.namespaces, ["a", "b"]);
        assert_eq!(
            c.prometheus.map(|p| p.url).as_deref(),
            Some("http://prom:9090")
        );
        assert_eq!(c.safety.probation_window, Duration::from_secs(3));
    }

    #[test]
    fn bad_rules_values_are_refused_naming_the_field() {
        for (yaml, field, says) in [
            (
                "rules: {trustedKeys: [not-a-key]}",
                "rules.trustedKeys",
                "entry 0",
            ),
            (
                "rules: {params: {thrashing: {minChangesPerDy: 3}}}",
                "rules.params",
                "minChangesPerDay",
            ),
            (
                "rules: {namespaces: [Bad_NS]}",
                "rules.namespaces",
                "Bad_NS",
            ),
            (
                "rules: {configMapSelector: ' '}",
                "rules.configMapSelector",
                "empty",
            ),
        ] {
            let v: Values = serde_yaml::from_str(yaml).expect("parses");
            match v.into_config("x".into(), Some("ops".into())) {
                Err(ConfigError::Invalid {
                    field: f, problem, ..
                }) => {
                    assert_eq!(f, field, "{yaml}");
                    assert!(problem.contains(says), "{yaml}: {problem}");
                }
                other => panic!("{yaml}: {other:?}"),
            }
        }
        // Parameters of custom rules are not known to the host: accepted.
        let v: Values = serde_yaml::from_str("rules: {params: {weekend-idle: {quietRatio: 0.4}}}")
            .expect("parses");
        let c = v
            .into_config("x".into(), Some("ops".into()))
            .expect("valid");
        assert_eq!(c.rules.params["weekend-idle"]["quietRatio"], 0.4);
        assert_eq!(c.rules.namespaces, ["ops"]);
    }

    #[test]
    fn the_charts_values_file_is_accepted() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../charts/stepscale-autoscaler/values.yaml"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            return; // the chart is not part of this checkout
        };
        let v: Values = serde_yaml::from_str(&text).expect("values.yaml parses as operator values");
        let c = v
            .into_config("x".into(), None)
            .expect("the chart defaults are valid");
        assert_eq!(c.interval, Duration::from_secs(DEFAULT_INTERVAL_SECONDS));
        assert_eq!(c.prometheus, None);
    }

    #[test]
    fn bad_values_name_the_field() {
        let v: Values = serde_yaml::from_str("intervalSeconds: 0").expect("parses");
        let e = v.into_config("x".into(), None).expect_err("invalid");
        assert!(e.to_string().starts_with("intervalSeconds: is 0"), "{e}");
        let v: Values = serde_yaml::from_str("llm: {provider: gpt}").expect("parses");
        let e = v.into_config("x".into(), None).expect_err("invalid");
        assert!(e.to_string().starts_with("llm.provider"), "{e}");
    }
}
