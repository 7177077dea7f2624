//! `stepscale operator`: run the operator in the cluster. Settings come
//! from a Helm values file (`--values`), overridden by flags or their
//! environment variables; see [`crate::operator::config`] for defaults and units.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use stepscale_engine::EngineConfig;

use crate::analysis::Analyzer;
use crate::history::prometheus;
use crate::license::LicenseState;
use crate::operator::config::Values;
use crate::operator::controller::Operator;
use crate::operator::http::{self, HttpState};

/// Arguments of `operator`.
#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// Helm values file (YAML, the chart's values.yaml shape).
    #[arg(long, env = "STEPSCALE_VALUES")]
    pub values: Option<PathBuf>,
    /// Seconds between reconcile ticks (default 300).
    #[arg(long, env = "STEPSCALE_INTERVAL_SECONDS")]
    pub interval_seconds: Option<u64>,
    /// Namespace to watch; repeat or separate with commas (default: all).
    #[arg(
        long = "namespace",
        env = "STEPSCALE_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Prometheus base URL for history backfill ("" = HPA-status fallback).
    #[arg(long, env = "STEPSCALE_PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// Disable leader election (this instance always leads).
    #[arg(long, env = "STEPSCALE_NO_LEADER_ELECTION")]
    pub no_leader_election: bool,
    /// Lease name (default stepscale-autoscaler-leader).
    #[arg(long, env = "STEPSCALE_LEASE_NAME")]
    pub lease_name: Option<String>,
    /// Probation window, minutes (default 1440).
    #[arg(long, env = "STEPSCALE_PROBATION_WINDOW_MINUTES")]
    pub probation_window_minutes: Option<u64>,
    /// Probation window, seconds; overrides the minutes (for tests).
    #[arg(long, env = "STEPSCALE_PROBATION_WINDOW_SECONDS")]
    pub probation_window_seconds: Option<u64>,
    /// CPU percentage points above the target that still count as healthy (default 10).
    #[arg(long, env = "STEPSCALE_HEALTH_CPU_MARGIN")]
    pub health_cpu_margin: Option<f64>,
    /// Address of /metrics, /healthz and /readyz (default 0.0.0.0:8080).
    #[arg(long, env = "STEPSCALE_HTTP_ADDRESS")]
    pub http_address: Option<String>,
    /// This instance's identity in the leader election (default: $POD_NAME, else the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Signed license file (verified offline against license.publicKey).
    #[arg(long, env = "STEPSCALE_LICENSE_FILE")]
    pub license_file: Option<PathBuf>,
    /// The vendor's ed25519 public key (base64) the license is verified against.
    #[arg(long, env = "STEPSCALE_LICENSE_PUBLIC_KEY")]
    pub license_public_key: Option<String>,
    /// Run the forecaster (predictive schedules); default true.
    #[arg(long, env = "STEPSCALE_FORECASTING")]
    pub forecasting: Option<bool>,
    /// IANA time zone of predictive schedules (values: forecasting.timezone;
    /// default UTC).
    #[arg(long, env = "STEPSCALE_TIMEZONE")]
    pub timezone: Option<String>,
    /// LLM provider: none, openai or anthropic (default none).
    #[arg(long, env = "STEPSCALE_LLM_PROVIDER")]
    pub llm_provider: Option<String>,
}

impl OperatorArgs {
    fn values(&self) -> anyhow::Result<Values> {
        let mut v = match &self.values {
            Some(p) => Values::from_file(p)?,
            None => Values::default(),
        };
        if self.interval_seconds.is_some() {
            v.interval_seconds = self.interval_seconds;
        }
        if !self.namespaces.is_empty() {
            v.namespaces = Some(self.namespaces.clone());
        }
        if self.prometheus_url.is_some() {
            v.prometheus.url = self.prometheus_url.clone();
        }
        prometheus_env(&mut v, |k| std::env::var(k).ok())?;
        if self.no_leader_election {
            v.leader_election.enabled = Some(false);
        }
        if self.lease_name.is_some() {
            v.leader_election.lease_name = self.lease_name.clone();
        }
        if self.probation_window_minutes.is_some() {
            v.safety.probation_window_minutes = self.probation_window_minutes;
        }
        if self.probation_window_seconds.is_some() {
            v.safety.probation_window_seconds = self.probation_window_seconds;
        }
        if self.health_cpu_margin.is_some() {
            v.safety.health_cpu_margin = self.health_cpu_margin;
        }
        if self.http_address.is_some() {
            v.http.address = self.http_address.clone();
        }
        if self.forecasting.is_some() {
            v.forecasting.enabled = self.forecasting;
        }
        if let Some(z) = self.timezone.clone().filter(|z| !z.is_empty()) {
            v.forecasting.timezone = Some(z);
        }
        if let Some(p) = self.llm_provider.clone().filter(|p| !p.is_empty()) {
            v.llm.provider = Some(p);
        }
        Ok(v)
    }
}

/// Apply the `STEPSCALE_PROMETHEUS_*` variables the chart sets (read
/// through `get`) to `v`: look-back, step, timeout and the query
/// templates. Unset or blank variables leave the values as they are.
///
/// # Errors
/// A number that is not a whole number of seconds, naming the variable.
fn prometheus_env(v: &mut Values, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    let env = |k: &str| get(k).filter(|s| !s.trim().is_empty());
    let num = |k: &str| -> anyhow::Result<Option<u32>> {
        env(k)
            .map(|s| {
                s.trim()
                    .parse::<u32>()
                    .with_context(|| format!("{k}: {s:?} is not a whole number of seconds"))
            })
            .transpose()
    };
    if let Some(n) = num(prometheus::ENV_LOOKBACK_SECONDS)? {
        v.prometheus.lookback_seconds = Some(n);
    }
    if let Some(n) = num(prometheus::ENV_STEP_SECONDS)? {
        v.prometheus.step_seconds = Some(n);
    }
    if let Some(n) = num(prometheus::ENV_TIMEOUT_SECONDS)? {
        v.prometheus.timeout_seconds = Some(n);
    }
    for (k, slot) in [
        (
            prometheus::ENV_QUERY_CPU,
            &mut v.prometheus.queries.cpu_utilization,
        ),
        (
            prometheus::ENV_QUERY_DESIRED,
            &mut v.prometheus.queries.replicas_desired,
        ),
        (
            prometheus::ENV_QUERY_CURRENT,
            &mut v.prometheus.queries.replicas_current,
        ),
        (
            prometheus::ENV_QUERY_REQUEST_RATE,
            &mut v.prometheus.queries.request_rate,
        ),
    ] {
        if let Some(q) = env(k) {
            *slot = Some(q);
        }
    }
    Ok(())
}

/// The license state now: the signed file verified offline against the
/// public key by [`LicenseState::load`]; without either, analysis-only.
fn license_state(args: &OperatorArgs, now_unix_seconds: i64) -> LicenseState {
    LicenseState::load(
        args.license_file.as_deref(),
        args.license_public_key.as_deref(),
        now_unix_seconds,
    )
}

fn identity(args: &OperatorArgs) -> String {
    args.identity
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| format!("stepscale-{}", std::process::id()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Run the operator until SIGINT/SIGTERM.
///
/// # Errors
/// Bad configuration (the message names the value and the fix), no
/// cluster credentials, the CRD not installed, or the rule engine or HTTP
/// endpoints failing to start.
pub fn run(args: OperatorArgs) -> anyhow::Result<()> {
    let mut config = args
        .values()?
        .into_config(identity(&args), std::env::var("POD_NAMESPACE").ok())?;
    if let Some(llm) = config.llm.as_mut() {
        if !llm.load_key_from_env() {
            anyhow::bail!(
                "llm.provider={} needs an API key: set llm.secretName (and llm.secretKey) to a Secret holding it ({} in the pod), or set llm.provider=none",
                llm.provider.as_str(),
                crate::review::ENV_API_KEY
            );
        }
    }
    let now = || jiff::Timestamp::now().as_second();
    let license = license_state(&args, now());
    let license_args = (args.license_file.clone(), args.license_public_key.clone());
    let analyzer = Analyzer::with_builtin_rules(EngineConfig::default())
        .context("starting the rule engine")?
        .with_forecasting(config.forecasting)
        .with_objective(config.objective)
        .with_disabled_rules(config.rules.disabled.iter().cloned())
        .with_params(config.rules.params.clone());
    for failure in analyzer.load_failures() {
        tracing::warn!("builtin rule not loaded: {failure}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let client = kube::Client::try_default()
            .await
            .context("no Kubernetes credentials: run in a pod with a service account, or set KUBECONFIG")?;
        let address = config.http_address;
        // Re-read and re-verify the license every tick: it may expire, or
        // the Secret may be updated, while the operator runs.
        let (file, key) = license_args;
        let operator = Operator::new(client, config, Arc::new(analyzer), license)
            .with_license_source(Box::new(move |t| {
                LicenseState::load(file.as_deref(), key.as_deref(), t)
            }));
        let state = HttpState {
            metrics: operator.context().metrics.clone(),
            ready: operator.context().ready.clone(),
        };
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} for /metrics, /healthz, /readyz; set --http-address"))?;
        let server = tokio::spawn(http::serve(listener, state));
        let result = operator.run(shutdown_signal()).await;
        server.abort();
        result.map_err(anyhow::Error::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_charts_prometheus_variables_reach_the_config() {
        let mut v = Values::default();
        v.prometheus.url = Some("http://prometheus:9090".into());
        prometheus_env(&mut v, |k| match k {
            prometheus::ENV_STEP_SECONDS => Some("60".into()),
            prometheus::ENV_QUERY_CPU => Some("my_cpu{namespace=\"{namespace}\"}".into()),
            prometheus::ENV_QUERY_REQUEST_RATE => Some(" ".into()),
            _ => None,
        })
        .expect("valid");
        let c = v
            .into_config("op".into(), Some("ops".into()))
            .expect("valid config")
            .prometheus
            .expect("configured");
        assert_eq!(c.step_seconds, 60);
        assert_eq!(c.lookback_seconds, prometheus::DEFAULT_LOOKBACK_SECONDS);
        assert_eq!(
            c.queries.cpu_utilization,
            "my_cpu{namespace=\"{namespace}\"}"
        );
        assert_eq!(
            c.queries.replicas_desired,
            prometheus::DEFAULT_DESIRED_REPLICAS_QUERY
        );
        assert_eq!(c.queries.request_rate, None, "blank means unset");
        let mut v = Values::default();
        let bad = prometheus_env(&mut v, |k| {
            (k == prometheus::ENV_TIMEOUT_SECONDS).then(|| "ten".into())
        })
        .expect_err("not a number");
        assert!(
            bad.to_string().contains(prometheus::ENV_TIMEOUT_SECONDS),
            "{bad}"
        );
    }
}
