//! `stepscale analyze [FILE]`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use stepscale_engine::{EngineConfig, Snapshot};

use crate::analysis::Analyzer;
use crate::cli::demo::DEMO_SNAPSHOT_JSON;
use crate::objective::{self, Mode, Objective};
use crate::recommendation::render;

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    /// A readable report.
    Table,
    /// A JSON array of recommendations.
    Json,
    /// ScalingRecommendation manifests.
    Yaml,
}

/// Arguments of `analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Snapshot file (JSON, see `stepscale snapshot-schema`); `-` reads
    /// standard input. Without it the embedded demo snapshot (real NAB
    /// series) is analyzed.
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
    /// Worker threads (0 = one per core); never more than the engine's
    /// concurrent rule-call slots (64).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Deadline per rule call, milliseconds.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub deadline_ms: u64,
    /// Memory cap per rule call, MiB (at least 4: the builtin rules start
    /// with 4 MiB of linear memory).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(4..=4096))]
    pub memory_mib: u64,
    /// Do not run the forecaster (no predictive schedules).
    #[arg(long)]
    pub no_forecast: bool,
    /// A rule parameter, `RULE-ID.NAME=VALUE` (repeatable): what
    /// `rules.params.<rule-id>.<name>` sets in the operator.
    #[arg(long = "param", value_name = "RULE-ID.NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String, f64)>,
    /// What the search optimizes for (see docs/recommendations.md).
    #[arg(long, value_enum, default_value = "savings")]
    pub mode: Mode,
    /// Absolute budget of saturated minutes per day.
    #[arg(long, default_value_t = objective::DEFAULT_MAX_SATURATION)]
    pub max_saturation_minutes_per_day: f64,
    /// Absolute budget of minutes per day over the CPU target.
    #[arg(long, default_value_t = objective::DEFAULT_MAX_OVER_TARGET)]
    pub max_over_target_minutes_per_day: f64,
    /// Saturated minutes per day a change may add to today's.
    #[arg(long, default_value_t = objective::DEFAULT_SATURATION_TOLERANCE)]
    pub saturation_tolerance_minutes_per_day: f64,
    /// Minutes per day over target a change may add to today's.
    #[arg(long, default_value_t = objective::DEFAULT_OVER_TARGET_TOLERANCE)]
    pub over_target_tolerance_minutes_per_day: f64,
    /// Smallest saving, percent, worth proposing in savings mode.
    #[arg(long, default_value_t = objective::DEFAULT_MIN_SAVINGS_PERCENT)]
    pub min_savings_percent: f64,
    /// Also write a self-contained HTML report (DIR/index.html: history,
    /// replayed replicas, forecast, schedule, alternatives).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Directory of the precompiled-component cache (default
    /// $STEPSCALE_CACHE_DIR, else ~/.cache/stepscale/components).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Run the LLM pass with this provider's wire format (`openai`, also
    /// for OpenAI-compatible servers, or `anthropic`); the API key is read
    /// from $STEPSCALE_LLM_API_KEY. Off by default: no external call.
    #[arg(long, value_name = "PROVIDER", value_parser = ["openai", "anthropic"])]
    pub llm: Option<String>,
    /// The LLM API's base URL (default: the provider's public API), e.g.
    /// http://127.0.0.1:8000/v1 for a local OpenAI-compatible server.
    #[arg(long, value_name = "URL")]
    pub llm_base_url: Option<String>,
    /// The model to ask (required with --llm).
    #[arg(long, value_name = "MODEL")]
    pub llm_model: Option<String>,
    /// Most LLM calls in this run.
    #[arg(long, default_value_t = crate::review::DEFAULT_MAX_CALLS_PER_TICK)]
    pub llm_max_calls: usize,
    /// Seconds per LLM call.
    #[arg(long, default_value_t = crate::review::DEFAULT_TIMEOUT_SECONDS)]
    pub llm_timeout_seconds: u64,
    /// Print, as JSON, exactly what the LLM pass would send for each
    /// candidate (instructions and payload; with --llm the wire request,
    /// without the key) instead of the recommendations, and call nothing.
    #[arg(long)]
    pub llm_dry_run: bool,
}

/// Read, validate and analyze the snapshot, and print the result.
///
/// # Errors
/// An unreadable or invalid snapshot (the message names the field and the
/// fix), or an engine that cannot start.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let llm = llm_config(&args)?;
    let objective = Objective {
        mode: args.mode,
        max_saturation_minutes_per_day: args.max_saturation_minutes_per_day,
        max_over_target_minutes_per_day: args.max_over_target_minutes_per_day,
        saturation_tolerance_minutes_per_day: args.saturation_tolerance_minutes_per_day,
        over_target_tolerance_minutes_per_day: args.over_target_tolerance_minutes_per_day,
        min_savings_percent: args.min_savings_percent,
        ..Objective::default()
    };
    objective.validate().map_err(|e| {
        // Name the flag the user typed, not the values path.
        let flag = match e.field {
            "safety.maxSaturationMinutesPerDay" => "--max-saturation-minutes-per-day",
            "safety.maxOverTargetMinutesPerDay" => "--max-over-target-minutes-per-day",
            "safety.saturationToleranceMinutesPerDay" => "--saturation-tolerance-minutes-per-day",
            "safety.overTargetToleranceMinutesPerDay" => "--over-target-tolerance-minutes-per-day",
            "objective.minSavingsPercent" => "--min-savings-percent",
            other => other,
        };
        anyhow::anyhow!("{flag} is {}; {}", e.value, e.fix)
    })?;
    let (source, text) = match &args.file {
        None => (
            "embedded demo snapshot".to_string(),
            DEMO_SNAPSHOT_JSON.to_string(),
        ),
        Some(p) => (
            if p.as_os_str() == "-" {
                "<stdin>".to_string()
            } else {
                p.display().to_string()
            },
            super::read_input(p, stepscale_hpa::limits::MAX_SNAPSHOT_BYTES)?,
        ),
    };
    let snapshot = Snapshot::from_json(&text).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    let mut config = EngineConfig::default()
        .with_deadline(Duration::from_millis(args.deadline_ms))
        .with_memory_limit((args.memory_mib as usize) << 20);
    if let Some(dir) = args.cache_dir {
        config = config.with_cache_dir(Some(dir));
    }
    let mut params: std::collections::BTreeMap<String, stepscale_engine::RuleParams> =
        Default::default();
    for (rule, name, value) in args.params {
        params.entry(rule).or_default().insert(name, value);
    }
    crate::analysis::builtin::check_params(&params).map_err(|e| anyhow::anyhow!("--param: {e}"))?;
    let analyzer = Analyzer::with_builtin_rules(config)?
        .with_forecasting(!args.no_forecast)
        .with_objective(objective)
        .with_params(params.clone());
    for rule in params.keys() {
        if !analyzer.rules().iter().any(|r| &r.rule.id == rule) {
            anyhow::bail!(
                "--param: no loaded rule has the id {rule:?}; the rules are: {}",
                analyzer
                    .rules()
                    .iter()
                    .map(|r| r.rule.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    for failure in analyzer.load_failures() {
        eprintln!("warning: {failure}");
    }
    let workloads: Vec<Arc<_>> = snapshot.workloads.into_iter().map(Arc::new).collect();
    let mut recs = analyzer.analyze(&workloads, args.threads);
    if args.llm_dry_run {
        println!(
            "{}",
            serde_json::to_string_pretty(&dry_run(&recs, llm.as_ref()))?
        );
        return Ok(());
    }
    if let Some(llm) = llm {
        let reviewer = crate::review::Reviewer::new(llm, None)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let at = jiff::Timestamp::now().to_string();
        let r = runtime.block_on(reviewer.review_all(&mut recs, &at));
        eprintln!(
            "llm pass: {} candidate(s), {} call(s), {} failed, {} tokens in, {} out",
            r.candidates, r.calls, r.failures, r.tokens_in, r.tokens_out
        );
    }
    if let Some(dir) = &args.report {
        let path = crate::report::write(dir, &recs, &workloads)
            .with_context(|| format!("{}: cannot write the report", dir.display()))?;
        eprintln!("report: {}", path.display());
    }
    let text = match args.output {
        Output::Table => render::table(&recs),
        Output::Json => render::json(&recs)? + "\n",
        Output::Yaml => render::yaml(&recs)?,
    };
    print!("{text}");
    let host_errors: Vec<String> = recs
        .iter()
        .flat_map(|r| {
            r.rule_failures
                .iter()
                .filter(|f| f.is_host_error())
                .map(move |f| {
                    format!(
                        "{}/{}: rule {}: {}",
                        r.target.namespace, r.target.autoscaler_name, f.rule, f.detail
                    )
                })
        })
        .collect();
    if let Some(first) = host_errors.first() {
        eprintln!(
            "stepscale: {} rule call(s) could not be run by the host, so the analysis above is incomplete; first: {first}",
            host_errors.len()
        );
        std::process::exit(super::EXIT_HOST_ERROR);
    }
    Ok(())
}

/// The LLM pass's settings from the flags and $STEPSCALE_LLM_API_KEY;
/// `None` without `--llm`.
fn llm_config(args: &AnalyzeArgs) -> anyhow::Result<Option<crate::review::LlmConfig>> {
    let Some(provider) = &args.llm else {
        return Ok(None);
    };
    let values = crate::operator::config::LlmValues {
        provider: Some(provider.clone()),
        base_url: args.llm_base_url.clone(),
        model: args.llm_model.clone(),
        max_calls_per_tick: Some(args.llm_max_calls),
        timeout_seconds: Some(args.llm_timeout_seconds),
        ..Default::default()
    };
    let mut config = values.into_config().map_err(|e| {
        anyhow::anyhow!(
            "{}",
            e.to_string()
                .replace("llm.model", "--llm-model")
                .replace("llm.baseUrl", "--llm-base-url")
                .replace("llm.maxCallsPerTick", "--llm-max-calls")
                .replace("llm.timeoutSeconds", "--llm-timeout-seconds")
        )
    })?;
    if let Some(c) = config.as_mut() {
        if !c.load_key_from_env() && !args.llm_dry_run {
            anyhow::bail!(
                "--llm {provider} needs an API key in ${}, or --llm-base-url for a server that needs none",
                crate::review::ENV_API_KEY
            );
        }
    }
    Ok(config)
}

/// What the LLM pass would send for each candidate of `recs`.
fn dry_run(
    recs: &[crate::recommendation::Recommendation],
    llm: Option<&crate::review::LlmConfig>,
) -> serde_json::Value {
    use crate::review::{client, payload};
    let candidates: Vec<serde_json::Value> = recs
        .iter()
        .filter(|r| payload::is_candidate(r))
        .map(|r| {
            let body = payload::payload(r);
            let sha = payload::payload_sha256(&body);
            let request = llm.map(|c| {
                serde_json::json!({
                    "url": client::endpoint(c),
                    "body": client::request_body(c, payload::INSTRUCTIONS, &body.to_string()),
                })
            });
            serde_json::json!({
                "recommendation": render::resource_name(r),
                "payloadSha256": sha,
                "payload": body,
                "request": request,
            })
        })
        .collect();
    serde_json::json!({
        "instructions": payload::INSTRUCTIONS,
        "candidates": candidates,
    })
}

/// `RULE-ID.NAME=VALUE` with a finite number.
fn parse_param(s: &str) -> Result<(String, String, f64), String> {
    let (key, value) = super::rules::parse_param(s)?;
    let (rule, name) = key
        .split_once('.')
        .filter(|(r, n)| !r.is_empty() && !n.is_empty())
        .ok_or_else(|| format!("{key:?} is not RULE-ID.NAME"))?;
    Ok((rule.to_string(), name.to_string(), value))
}
