//! One LLM call over the wire: the OpenAI Chat Completions format (OpenAI,
//! and any OpenAI-compatible server: vLLM, Ollama, a gateway) or the
//! Anthropic Messages format. Retries on 429 and 5xx with backoff (a
//! `Retry-After` is honoured when it fits), all within the caller's
//! deadline; responses are read up to [`MAX_RESPONSE_BYTES`].
//!
//! The API key goes only into the request's auth header. No error built
//! here carries a response body, a header or the request: a provider that
//! echoes the key in an error body cannot put it into a log line, an Event
//! or a status.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{LlmConfig, Provider};

/// Largest response body read, bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Most attempts of one call (the first and two retries).
pub const MAX_ATTEMPTS: u32 = 3;
/// Anthropic API version header value.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The model's text and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The answer's text.
    pub text: String,
    /// Input tokens, as the provider counts them.
    pub tokens_in: u64,
    /// Output tokens.
    pub tokens_out: u64,
}

/// Why a call gave no usable text. [`CallError::reason`] is the metric
/// label; the message never includes what the provider sent back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// 401 or 403: the key is missing, wrong or not allowed.
    #[error("the provider refused the API key (HTTP {0}); check the Secret in llm.secretName")]
    Unauthorized(u16),
    /// 429 on every attempt.
    #[error("rate limited (HTTP 429) after {0} attempt(s)")]
    RateLimited(u32),
    /// 5xx on every attempt.
    #[error("the provider failed (HTTP {status}) after {attempts} attempt(s)")]
    Server {
        /// Last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// Another status (400: model name, max tokens, …).
    #[error("the provider answered HTTP {0}; check llm.model and llm.baseUrl")]
    Status(u16),
    /// No answer in time.
    #[error("no answer within the time budget")]
    Timeout,
    /// The connection failed.
    #[error("cannot reach the provider: {0}")]
    Transport(String),
    /// The response is not the wire format.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The model declined to answer.
    #[error("the model refused to answer")]
    Refusal,
    /// The response is larger than [`MAX_RESPONSE_BYTES`].
    #[error("the response is over {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
}

impl CallError {
    /// Label for `stepscale_llm_failures_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            CallError::Unauthorized(_) => "unauthorized",
            CallError::RateLimited(_) => "rate_limited",
            CallError::Server { .. } => "server_error",
            CallError::Status(_) => "bad_request",
            CallError::Timeout => "timeout",
            CallError::Transport(_) => "transport",
            CallError::Malformed(_) => "malformed",
            CallError::Refusal => "refusal",
            CallError::TooLarge => "too_large",
        }
    }
}

/// The request body in the provider's wire format.
pub fn request_body(config: &LlmConfig, system: &str, user: &str) -> Value {
    match config.provider {
        Provider::OpenAi => json!({
            "model": config.model,
            "messages": [
                { "role": "system", "content": system },
                { "role": "user", "content": user },
            ],
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            "response_format": { "type": "json_object" },
        }),
        Provider::Anthropic => json!({
            "model": config.model,
            "system": system,
            "messages": [ { "role": "user", "content": user } ],
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
        }),
    }
}

/// The endpoint URL: `{baseUrl}/chat/completions` or `{baseUrl}/messages`.
pub fn endpoint(config: &LlmConfig) -> String {
    let base = config.base_url.trim_end_matches('/');
    match config.provider {
        Provider::OpenAi => format!("{base}/chat/completions"),
        Provider::Anthropic => format!("{base}/messages"),
    }
}

/// Ask the model, retrying 429 and 5xx, until `deadline`.
///
/// # Errors
/// [`CallError`]: the last attempt's failure.
pub async fn complete(
    http: &reqwest::Client,
    config: &LlmConfig,
    system: &str,
    user: &str,
    deadline: Instant,
) -> Result<Completion, CallError> {
    let body = request_body(config, system, user);
    let url = endpoint(config);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CallError::Timeout);
        }
        let mut req = http
            .post(&url)
            .timeout(left.min(config.timeout))
            .json(&body);
        req = match config.provider {
            Provider::OpenAi => req.bearer_auth(config.api_key.expose()),
            Provider::Anthropic => req
                .header("x-api-key", config.api_key.expose())
                .header("anthropic-version", ANTHROPIC_VERSION),
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Err(CallError::Timeout),
            Err(e) => return Err(CallError::Transport(transport_message(&e))),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        match status {
            200..=299 => {
                let bytes = read_limited(resp).await?;
                return parse_response(config.provider, &bytes);
            }
            401 | 403 => return Err(CallError::Unauthorized(status)),
            429 | 500..=599 => {
                let failure = if status == 429 {
                    CallError::RateLimited(attempt)
                } else {
                    CallError::Server {
                        status,
                        attempts: attempt,
                    }
                };
                if attempt >= MAX_ATTEMPTS {
                    return Err(failure);
                }
                let wait = retry_after.unwrap_or(Duration::from_millis(500 * (1 << attempt)));
                if Instant::now() + wait >= deadline {
                    return Err(failure);
                }
                tracing::debug!(
                    status,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "LLM call retried"
                );
                tokio::time::sleep(wait).await;
            }
            _ => return Err(CallError::Status(status)),
        }
    }
}

/// A transport error in words, without the URL (it could carry
/// credentials a user put there).
fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connection failed"
    } else if e.is_request() {
        "request failed"
    } else if e.is_body() || e.is_decode() {
        "reading the response failed"
    } else {
        "transport error"
    };
    kind.to_string()
}

/// The body, or [`CallError::TooLarge`] past [`MAX_RESPONSE_BYTES`].
async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, CallError> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(CallError::TooLarge);
    }
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > MAX_RESPONSE_BYTES {
                    return Err(CallError::TooLarge);
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) if e.is_timeout() => return Err(CallError::Timeout),
            Err(e) => return Err(CallError::Transport(transport_message(&e))),
        }
    }
}

/// The text and token counts of a 2xx response body.
///
/// # Errors
/// [`CallError::Malformed`] or [`CallError::Refusal`].
pub fn parse_response(provider: Provider, bytes: &[u8]) -> Result<Completion, CallError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| CallError::Malformed(format!("not JSON ({e})")))?;
    let count = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    match provider {
        Provider::OpenAi => {
            let message = v
                .pointer("/choices/0/message")
                .ok_or_else(|| CallError::Malformed("no choices[0].message".into()))?;
            if message
                .get("refusal")
                .and_then(Value::as_str)
                .is_some_and(|r| !r.is_empty())
                || v.pointer("/choices/0/finish_reason")
                    .and_then(Value::as_str)
                    == Some("content_filter")
            {
                return Err(CallError::Refusal);
            }
            let text = message
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| CallError::Malformed("no message content".into()))?;
            Ok(Completion {
                text: text.to_string(),
                tokens_in: count("/usage/prompt_tokens"),
                tokens_out: count("/usage/completion_tokens"),
            })
        }
        Provider::Anthropic => {
            if v.get("stop_reason").and_then(Value::as_str) == Some("refusal") {
                return Err(CallError::Refusal);
            }
            let blocks = v
                .get("content")
                .and_then(Value::as_array)
                .ok_or_else(|| CallError::Malformed("no content blocks".into()))?;
            let text: String = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            if text.is_empty() {
                return Err(CallError::Malformed("no text block".into()));
            }
            Ok(Completion {
                text,
                tokens_in: count("/usage/input_tokens"),
                tokens_out: count("/usage/output_tokens"),
            })
        }
    }
}
