//! The LLM's answer, validated against its schema and limits, and the
//! one-way rule that puts it beside the engine's judgment.
//!
//! The rule: the LLM can raise the risk level (its own, and at least medium
//! for `caution`, high for `reject`), mark a candidate not recommended
//! (`reject`; it stays visible with the reasons) and add its summary. It can
//! never lower the engine's risk, change the proposed diff or the schedule,
//! or approve anything: none of those is read from its answer.

use serde::Deserialize;

use crate::recommendation::{LlmReview, LlmVerdict, Recommendation, RiskLevel};

/// Longest summary accepted, characters.
pub const MAX_SUMMARY_CHARS: usize = 600;
/// Most reasons accepted.
pub const MAX_REASONS: usize = 5;
/// Longest reason accepted, characters.
pub const MAX_REASON_CHARS: usize = 300;

/// The answer's schema: exactly these fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LlmAnswer {
    /// `agree`, `caution` or `reject`.
    pub verdict: LlmVerdict,
    /// `low`, `medium` or `high`.
    pub risk_level: RiskLevel,
    /// A few sentences.
    pub summary: String,
    /// One to five reasons.
    pub reasons: Vec<String>,
}

/// Why an answer was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnswerError {
    /// Not a JSON object.
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not the schema.
    #[error("the answer does not follow the schema: {0}")]
    Schema(String),
    /// Within the schema, past a limit.
    #[error("the answer is over the size limit: {0}")]
    TooLarge(String),
}

/// Parse and validate the model's text. A JSON object wrapped in a Markdown
/// code fence is accepted; anything else around it is not.
///
/// # Errors
/// [`AnswerError`] naming what is wrong.
pub fn parse(text: &str) -> Result<LlmAnswer, AnswerError> {
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    let value: serde_json::Value =
        serde_json::from_str(inner).map_err(|e| AnswerError::NotJson(e.to_string()))?;
    let answer: LlmAnswer =
        serde_json::from_value(value).map_err(|e| AnswerError::Schema(e.to_string()))?;
    let summary_chars = answer.summary.chars().count();
    if answer.summary.trim().is_empty() {
        return Err(AnswerError::Schema("summary is empty".into()));
    }
    if summary_chars > MAX_SUMMARY_CHARS {
        return Err(AnswerError::TooLarge(format!(
            "summary has {summary_chars} characters (at most {MAX_SUMMARY_CHARS})"
        )));
    }
    if answer.reasons.is_empty() {
        return Err(AnswerError::Schema("reasons is empty".into()));
    }
    if answer.reasons.len() > MAX_REASONS {
        return Err(AnswerError::TooLarge(format!(
            "{} reasons (at most {MAX_REASONS})",
            answer.reasons.len()
        )));
    }
    if let Some(r) = answer
        .reasons
        .iter()
        .find(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(AnswerError::TooLarge(format!(
            "a reason has {} characters (at most {MAX_REASON_CHARS})",
            r.chars().count()
        )));
    }
    Ok(answer)
}

/// Who asked whom, when, about what.
#[derive(Debug, Clone)]
pub struct ReviewMeta {
    /// `openai` or `anthropic`.
    pub provider: String,
    /// The model.
    pub model: String,
    /// RFC 3339.
    pub at: String,
    /// SHA-256 of the payload.
    pub payload_sha256: String,
}

/// The least risk a verdict implies.
fn implied_risk(v: LlmVerdict) -> RiskLevel {
    match v {
        LlmVerdict::Agree => RiskLevel::Low,
        LlmVerdict::Caution => RiskLevel::Medium,
        LlmVerdict::Reject => RiskLevel::High,
    }
}

/// The review of `answer`, for a recommendation whose engine risk is
/// `engine_risk`.
pub fn reviewed(answer: LlmAnswer, engine_risk: RiskLevel, meta: ReviewMeta) -> LlmReview {
    LlmReview {
        provider: meta.provider,
        model: meta.model,
        reviewed_at: meta.at,
        payload_sha256: meta.payload_sha256,
        engine_risk_level: engine_risk,
        verdict: Some(answer.verdict),
        risk_level: Some(answer.risk_level),
        not_recommended: answer.verdict == LlmVerdict::Reject,
        summary: Some(plain(&answer.summary)),
        reasons: answer.reasons.iter().map(|r| plain(r)).collect(),
        unavailable: None,
    }
}

/// `text` with control characters (terminal escapes, new lines) as
/// spaces: the model's text is shown in terminals and Events.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The review that says why there is none.
pub fn unavailable(reason: &str, engine_risk: RiskLevel, meta: ReviewMeta) -> LlmReview {
    LlmReview {
        provider: meta.provider,
        model: meta.model,
        reviewed_at: meta.at,
        payload_sha256: meta.payload_sha256,
        engine_risk_level: engine_risk,
        verdict: None,
        risk_level: None,
        not_recommended: false,
        summary: None,
        reasons: Vec::new(),
        unavailable: Some(format!("LLM review unavailable: {reason}")),
    }
}

/// Put `review` on `rec` by the one-way rule: the risk level becomes the
/// highest of the engine's, the LLM's and what its verdict implies; nothing
/// else of the engine's recommendation changes.
pub fn apply(rec: &mut Recommendation, review: LlmReview) {
    let mut risk = review.engine_risk_level.max(rec.risk_level);
    if let Some(r) = review.risk_level {
        risk = risk.max(r);
    }
    if let Some(v) = review.verdict {
        risk = risk.max(implied_risk(v));
    }
    rec.risk_level = risk;
    rec.llm_review = Some(review);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ReviewMeta {
        ReviewMeta {
            provider: "openai".into(),
            model: "m".into(),
            at: "2026-01-01T00:00:00Z".into(),
            payload_sha256: "00".into(),
        }
    }

    fn rec(risk: RiskLevel) -> Recommendation {
        let mut r = crate::recommendation::recommend(
            &crate::fixtures::workload(),
            crate::recommendation::WorkloadFindings::default(),
        );
        r.risk_level = risk;
        r
    }

    fn answer(verdict: &str, risk: &str) -> String {
        format!(r#"{{"verdict":"{verdict}","riskLevel":"{risk}","summary":"s.","reasons":["r"]}}"#)
    }

    #[test]
    fn an_answer_cannot_lower_the_engines_risk() {
        let mut r = rec(RiskLevel::High);
        let a = parse(&answer("agree", "low")).expect("valid");
        apply(&mut r, reviewed(a, RiskLevel::High, meta()));
        assert_eq!(r.risk_level, RiskLevel::High);
        let review = r.llm_review.expect("kept");
        assert_eq!(review.risk_level, Some(RiskLevel::Low));
        assert_eq!(review.engine_risk_level, RiskLevel::High);
    }

    /// A low-risk recommendation after the LLM said `verdict`, `risk`.
    fn judged(verdict: &str, risk: &str) -> Recommendation {
        let mut r = rec(RiskLevel::Low);
        let a = parse(&answer(verdict, risk)).expect("valid");
        apply(&mut r, reviewed(a, RiskLevel::Low, meta()));
        r
    }

    #[test]
    fn caution_and_reject_raise_the_risk_and_reject_marks_not_recommended() {
        let before = rec(RiskLevel::Low);
        let caution = judged("caution", "low");
        assert_eq!(caution.risk_level, RiskLevel::Medium);
        assert!(!caution.llm_review.as_ref().expect("kept").not_recommended);
        let reject = judged("reject", "medium");
        assert_eq!(reject.risk_level, RiskLevel::High);
        assert!(reject.llm_review.as_ref().expect("kept").not_recommended);
        assert_eq!(
            (reject.proposed, reject.predictive_schedule, reject.summary),
            (before.proposed, before.predictive_schedule, before.summary),
            "the engine's change, schedule and summary stay"
        );
    }

    #[test]
    fn extra_fields_missing_fields_and_oversize_answers_are_refused() {
        assert!(matches!(
            parse(
                r#"{"verdict":"agree","riskLevel":"low","summary":"s","reasons":["r"],"approved":true}"#
            ),
            Err(AnswerError::Schema(_))
        ));
        assert!(matches!(
            parse(r#"{"verdict":"agree","summary":"s","reasons":["r"]}"#),
            Err(AnswerError::Schema(_))
        ));
        assert!(matches!(
            parse(r#"{"verdict":"maybe","riskLevel":"low","summary":"s","reasons":["r"]}"#),
            Err(AnswerError::Schema(_))
        ));
        assert!(matches!(
            parse("I think it is fine."),
            Err(AnswerError::NotJson(_))
        ));
        let long = "x".repeat(MAX_SUMMARY_CHARS + 1);
        assert!(matches!(
            parse(&format!(
                r#"{{"verdict":"agree","riskLevel":"low","summary":"{long}","reasons":["r"]}}"#
            )),
            Err(AnswerError::TooLarge(_))
        ));
        let fenced = format!("```json\n{}\n```", answer("agree", "low"));
        assert!(parse(&fenced).is_ok());
    }
}
