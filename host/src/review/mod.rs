//! The optional LLM pass: a second opinion on each candidate recommendation
//! and a summary a person reads in ten seconds, that can only add caution.
//!
//! - [`payload`]: what the model sees (printable with
//!   `stepscale analyze --llm-dry-run`);
//! - [`client`]: one call in the OpenAI Chat Completions or Anthropic
//!   Messages wire format, retries within the deadline, size limits;
//! - [`verdict`]: the answer's schema and the one-way rule that puts it on
//!   the recommendation.
//!
//! [`Reviewer::review_all`] judges the candidates of one tick (or one
//! `analyze` run): at most `maxCallsPerTick` calls, `concurrency` at a
//! time, an unchanged candidate (same autoscaler, config, proposed change,
//! schedule windows and engine risk: [`payload::cache_key`]) answered from
//! the cache. Any failure leaves
//! the engine's recommendation as it is, marked `LLM review unavailable:
//! <reason>`; the pass never fails the tick. With `llm.provider=none` there
//! is no [`Reviewer`] and nothing here runs.

pub mod client;
pub mod payload;
pub mod verdict;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::recommendation::{LlmReview, Recommendation};
use crate::telemetry::metrics::Metrics;
use verdict::ReviewMeta;

/// The wire format spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// OpenAI Chat Completions (also any OpenAI-compatible server).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

impl Provider {
    /// `openai` or `anthropic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
        }
    }

    /// The provider's public endpoint, used when `llm.baseUrl` is not set.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com/v1",
            Provider::Anthropic => "https://api.anthropic.com/v1",
        }
    }

    /// `none` → `None`; `openai`, `anthropic`; anything else is an error.
    ///
    /// # Errors
    /// The name, when it is not one of those.
    pub fn parse(name: &str) -> Result<Option<Provider>, String> {
        match name {
            "none" => Ok(None),
            "openai" => Ok(Some(Provider::OpenAi)),
            "anthropic" => Ok(Some(Provider::Anthropic)),
            other => Err(format!("{other:?}")),
        }
    }
}

/// An API key. It is only ever read to set the auth header; it prints as
/// `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wrap a key (surrounding white space, as a Secret file often has, is
    /// dropped).
    pub fn new(key: &str) -> ApiKey {
        ApiKey(key.trim().to_string())
    }

    /// True when there is no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Environment variable the API key is read from (the chart sets it from
/// `llm.secretName`/`llm.secretKey`).
pub const ENV_API_KEY: &str = "STEPSCALE_LLM_API_KEY";

/// Default seconds per call.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
/// Default most output tokens per call.
pub const DEFAULT_MAX_TOKENS: u32 = 600;
/// Default most calls per tick.
pub const DEFAULT_MAX_CALLS_PER_TICK: usize = 20;
/// Default calls at a time.
pub const DEFAULT_CONCURRENCY: usize = 2;
/// Default share of the whole pass, seconds.
pub const DEFAULT_BUDGET_SECONDS: u64 = 120;

/// The validated settings of the pass (`llm.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    /// Wire format.
    pub provider: Provider,
    /// API base URL (`…/v1`).
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// Per call.
    pub timeout: Duration,
    /// Most output tokens per call.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f64,
    /// Most calls per tick; candidates past it are reviewed on later ticks.
    pub max_calls_per_tick: usize,
    /// Calls at a time.
    pub concurrency: usize,
    /// Time budget of the whole pass in one tick.
    pub budget: Duration,
    /// The key.
    pub api_key: ApiKey,
}

impl LlmConfig {
    /// Read the key from [`ENV_API_KEY`]. `false` when there is none and
    /// the provider's public API needs one (a server at `baseUrl` may not).
    pub fn load_key_from_env(&mut self) -> bool {
        self.api_key = ApiKey::new(&std::env::var(ENV_API_KEY).unwrap_or_default());
        !self.api_key.is_empty() || self.base_url != self.provider.default_base_url()
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewReport {
    /// Candidates (recommendations with a change or a schedule).
    pub candidates: usize,
    /// Calls made.
    pub calls: usize,
    /// Candidates answered from the cache.
    pub cache_hits: usize,
    /// Reviews that failed (including those past the call limit).
    pub failures: usize,
    /// Input tokens.
    pub tokens_in: u64,
    /// Output tokens.
    pub tokens_out: u64,
}

/// Runs the pass; keeps the cache between passes.
pub struct Reviewer {
    config: LlmConfig,
    http: reqwest::Client,
    cache: Mutex<HashMap<String, LlmReview>>,
    metrics: Option<Arc<Metrics>>,
}

impl Reviewer {
    /// A reviewer for `config`, counting into `metrics` when given.
    ///
    /// # Errors
    /// The HTTP client cannot be built (no TLS roots).
    pub fn new(config: LlmConfig, metrics: Option<Arc<Metrics>>) -> anyhow::Result<Reviewer> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the LLM HTTP client: {e}"))?;
        Ok(Reviewer {
            config,
            http,
            cache: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// The settings.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    fn meta(&self, sha: &str, now: &str) -> ReviewMeta {
        ReviewMeta {
            provider: self.config.provider.as_str().to_string(),
            model: self.config.model.clone(),
            at: now.to_string(),
            payload_sha256: sha.to_string(),
        }
    }

    fn count_failure(&self, reason: &str) {
        if let Some(m) = &self.metrics {
            m.llm_failures
                .get_or_create(&vec![("reason".into(), reason.into())])
                .inc();
        }
    }

    /// Judge every candidate in `recs` (at `now`, RFC 3339) and put each
    /// answer on its recommendation by the one-way rule. Non-candidates
    /// are left alone. Never fails: a failure is written on the
    /// recommendation and counted.
    pub async fn review_all(&self, recs: &mut [Recommendation], now: &str) -> ReviewReport {
        let deadline = Instant::now() + self.config.budget;
        let mut report = ReviewReport::default();
        // (index, cache key, payload hash, payload)
        let mut to_call: Vec<(usize, String, String, String)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for (i, rec) in recs.iter_mut().enumerate() {
            if !payload::is_candidate(rec) {
                continue;
            }
            report.candidates += 1;
            let key = payload::cache_key(rec);
            seen.insert(key.clone());
            let cached = self.cache.lock().ok().and_then(|c| c.get(&key).cloned());
            if let Some(review) = cached {
                report.cache_hits += 1;
                if let Some(m) = &self.metrics {
                    m.llm_cache_hits.inc();
                }
                verdict::apply(rec, review);
                continue;
            }
            // The payload only for what is not answered from the cache.
            let body = payload::payload(rec);
            let sha = payload::payload_sha256(&body);
            if to_call.len() < self.config.max_calls_per_tick {
                to_call.push((i, key, sha, body.to_string()));
            } else {
                report.failures += 1;
                self.count_failure("call_limit");
                let why = format!(
                    "the call limit of this tick is reached (llm.maxCallsPerTick={}); it is reviewed on a later tick",
                    self.config.max_calls_per_tick
                );
                let review = verdict::unavailable(&why, rec.risk_level, self.meta(&sha, now));
                verdict::apply(rec, review);
            }
        }
        // The futures are made first (not by a stream's `map`), so the
        // tick's future stays `Send`.
        let calls: Vec<_> = to_call
            .into_iter()
            .map(|(i, key, sha, user)| async move {
                if let Some(m) = &self.metrics {
                    m.llm_calls.inc();
                }
                let got = client::complete(
                    &self.http,
                    &self.config,
                    payload::INSTRUCTIONS,
                    &user,
                    deadline,
                )
                .await
                .map_err(|e| {
                    self.count_failure(e.reason());
                    e.to_string()
                });
                (i, key, sha, got)
            })
            .collect();
        let results: Vec<(usize, String, String, Result<client::Completion, String>)> =
            futures::stream::iter(calls)
                .buffer_unordered(self.config.concurrency.max(1))
                .collect()
                .await;
        for (i, key, sha, got) in results {
            report.calls += 1;
            let rec = &mut recs[i];
            let meta = self.meta(&sha, now);
            let review = match got {
                Ok(c) => {
                    report.tokens_in += c.tokens_in;
                    report.tokens_out += c.tokens_out;
                    if let Some(m) = &self.metrics {
                        m.llm_tokens
                            .get_or_create(&vec![("direction".into(), "in".into())])
                            .inc_by(c.tokens_in);
                        m.llm_tokens
                            .get_or_create(&vec![("direction".into(), "out".into())])
                            .inc_by(c.tokens_out);
                    }
                    match verdict::parse(&c.text) {
                        Ok(answer) => {
                            let review = verdict::reviewed(answer, rec.risk_level, meta);
                            if let Ok(mut cache) = self.cache.lock() {
                                cache.insert(key, review.clone());
                            }
                            review
                        }
                        Err(e) => {
                            self.count_failure(match e {
                                verdict::AnswerError::TooLarge(_) => "too_large",
                                verdict::AnswerError::NotJson(_) => "malformed",
                                verdict::AnswerError::Schema(_) => "schema",
                            });
                            verdict::unavailable(&e.to_string(), rec.risk_level, meta)
                        }
                    }
                }
                Err(why) => verdict::unavailable(&why, rec.risk_level, meta),
            };
            if review.unavailable.is_some() {
                report.failures += 1;
                tracing::warn!(
                    recommendation = %crate::recommendation::render::resource_name(rec),
                    "{}",
                    review.unavailable.as_deref().unwrap_or_default()
                );
            }
            verdict::apply(rec, review);
        }
        // Keep only what this pass saw: the cache is bounded by the
        // candidates of one tick.
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|k, _| seen.contains(k));
        }
        report
    }
}
