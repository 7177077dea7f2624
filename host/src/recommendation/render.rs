//! Rendering recommendations for people (a table-like report) and machines
//! (JSON, and YAML ScalingRecommendation manifests).

use std::fmt::Write as _;

use serde::Serialize;

use super::Recommendation;
use crate::change::describe_change;

/// API group/version of the ScalingRecommendation resource.
pub const API_VERSION: &str = "stepscale.io/v1alpha1";
/// Kind of the resource.
pub const KIND: &str = "ScalingRecommendation";

/// The human report: one block per workload with the change, risk, savings,
/// schedule, and every finding with its evidence.
pub fn table(recs: &[Recommendation]) -> String {
    let mut out = String::new();
    if let Some(c) = recs.iter().find_map(|r| r.choice.as_ref()) {
        let _ = writeln!(out, "objective: {}\n", c.statement);
    }
    for r in recs {
        let t = &r.target;
        let _ = writeln!(
            out,
            "{}/{}  ({} → {} {})  risk: {}",
            t.namespace,
            t.autoscaler_name,
            t.autoscaler_kind,
            t.kind,
            t.name,
            r.risk_level.as_str()
        );
        if let Some(source) = &r.history_source {
            let _ = writeln!(out, "  history:  {source}");
        }
        let _ = writeln!(out, "  summary:  {}", r.summary);
        if let Some(l) = &r.llm_review {
            llm_lines(&mut out, l);
        }
        let change = describe_change(&r.current, &r.proposed);
        let _ = writeln!(
            out,
            "  change:   {}",
            if change.is_empty() { "none" } else { &change }
        );
        if let Some(s) = &r.projected_savings {
            // A proposal that adds capacity costs replica-hours: say so, and
            // what it buys, rather than print a negative saving.
            let buys = r
                .choice
                .as_ref()
                .and_then(|c| c.holdout.as_ref())
                .map(|h| {
                    format!(
                        " for {}",
                        crate::objective::search::buys(&h.proposed, &h.current)
                    )
                })
                .unwrap_or_default();
            let (label, sign, buys) = if s.replica_hours_per_week < 0.0 {
                ("cost:    ", "+", buys.as_str())
            } else {
                ("savings: ", "", "")
            };
            let _ = writeln!(
                out,
                "  {label} {sign}{:.1} replica-hours/week ({sign}{:.1} %){buys} — {}",
                s.replica_hours_per_week.abs(),
                s.percent.abs(),
                s.method
            );
        }
        if let Some(c) = &r.choice {
            let _ = writeln!(
                out,
                "  chosen:   {} mode, {} configs scored ({} stopped early: they could not win; {} reused a replay that provably gives the same); {}",
                c.objective.mode.as_str(),
                c.candidates_replayed,
                c.candidates_stopped_early,
                c.candidates_reused,
                c.verdict
            );
            let _ = writeln!(
                out,
                "  fit:      {} — today {} | best {}",
                c.fit.period,
                figures(&c.fit.current),
                figures(&c.fit.proposed)
            );
            if let Some(h) = &c.holdout {
                let _ = writeln!(
                    out,
                    "  held out: {} — today {} | best {}",
                    h.period,
                    figures(&h.current),
                    figures(&h.proposed)
                );
            }
            if let Some(f) = &c.fidelity {
                let _ = writeln!(out, "  fidelity: {}", f.line());
            }
            for a in &c.frontier {
                let change = describe_change(&r.current, &a.change);
                let _ = writeln!(
                    out,
                    "  option:   {}: {} — {}",
                    a.label,
                    if change.is_empty() {
                        "today's config"
                    } else {
                        &change
                    },
                    figures(&a.figures)
                );
            }
        }
        if let Some(s) = &r.predictive_schedule {
            let windows: Vec<String> = (0..s.windows.len())
                .filter_map(|i| crate::schedule::windows::describe_window(s, i))
                .map(|w| {
                    if w.starts_with(char::is_numeric) {
                        format!("daily {w}")
                    } else {
                        w
                    }
                })
                .collect();
            let _ = writeln!(
                out,
                "  schedule: {} ({}; each window opens {} min early for the observed scale-up delay)",
                windows.join(", "),
                s.timezone,
                s.lead_minutes
            );
            if let Some(n) = s.max_replicas_needed {
                let _ = writeln!(
                    out,
                    "  schedule: the peaks need {n} replicas; floors stop at maxReplicas {} (raise maxReplicas to cover them)",
                    r.proposed.max_replicas.unwrap_or(r.current.max_replicas)
                );
            }
        }
        for f in &r.findings {
            let _ = writeln!(out, "  [{}] {}", f.rule_id, f.summary);
            for e in &f.evidence {
                let _ = writeln!(
                    out,
                    "      {}: {} {}",
                    e.label,
                    format_value(e.value),
                    e.unit
                );
            }
        }
        for d in &r.decisions {
            let _ = writeln!(out, "  merge: {}: {}", d.field, d.note);
        }
        for f in &r.rule_failures {
            let _ = writeln!(out, "  rule {} failed ({}): {}", f.rule, f.reason, f.detail);
        }
        out.push('\n');
    }
    let changes = recs.iter().filter(|r| !r.proposed.is_empty()).count();
    let _ = writeln!(
        out,
        "{} workload(s) analyzed, {} with a proposed change",
        recs.len(),
        changes
    );
    out
}

/// Replay figures in one short phrase.
/// The LLM's review, labelled as the LLM's.
fn llm_lines(out: &mut String, l: &super::LlmReview) {
    if let Some(why) = &l.unavailable {
        let _ = writeln!(out, "  llm:      {why}");
        return;
    }
    let verdict = l.verdict.map_or("-", |v| v.as_str());
    let _ = writeln!(
        out,
        "  llm:      {}{verdict}, risk {} (engine: {}) — {} {}: {}",
        if l.not_recommended {
            "NOT RECOMMENDED: "
        } else {
            ""
        },
        l.risk_level.map_or("-", |r| r.as_str()),
        l.engine_risk_level.as_str(),
        l.provider,
        l.model,
        l.summary.as_deref().unwrap_or_default()
    );
    for reason in &l.reasons {
        let _ = writeln!(out, "            - {reason}");
    }
}

fn figures(f: &crate::replay::Figures) -> String {
    format!(
        "{:.1} replica-h/day, {:.1} min/day saturated, {:.1} min/day over target, {:.1} direction changes/day",
        f.replica_hours_per_day,
        f.saturated_minutes_per_day,
        f.over_target_minutes_per_day,
        f.direction_changes_per_day
    )
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A ScalingRecommendation manifest.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest<'a> {
    /// `stepscale.io/v1alpha1`.
    pub api_version: &'static str,
    /// `ScalingRecommendation`.
    pub kind: &'static str,
    /// Name and namespace.
    pub metadata: Metadata,
    /// The recommendation, plus `approved: false`.
    pub spec: ManifestSpec<'a>,
}

/// Manifest metadata.
#[derive(Debug, Serialize)]
pub struct Metadata {
    /// `<autoscaler name>-<hpa|so>`.
    pub name: String,
    /// The autoscaler's namespace.
    pub namespace: String,
}

/// Spec of a manifest: the recommendation and the approval flag.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestSpec<'a> {
    /// The recommendation.
    #[serde(flatten)]
    pub recommendation: &'a Recommendation,
    /// Set to true by a human to apply.
    pub approved: bool,
}

/// The resource name for a recommendation: unique per autoscaler.
pub fn resource_name(r: &Recommendation) -> String {
    let suffix = if r.target.autoscaler_kind == "ScaledObject" {
        "so"
    } else {
        "hpa"
    };
    format!("{}-{suffix}", r.target.autoscaler_name)
}

/// The manifest of a recommendation (not approved).
pub fn manifest(r: &Recommendation) -> Manifest<'_> {
    Manifest {
        api_version: API_VERSION,
        kind: KIND,
        metadata: Metadata {
            name: resource_name(r),
            namespace: r.target.namespace.clone(),
        },
        spec: ManifestSpec {
            recommendation: r,
            approved: false,
        },
    }
}

/// YAML documents, one manifest per recommendation.
///
/// # Errors
/// Serialization failure (not expected for these types).
pub fn yaml(recs: &[Recommendation]) -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for r in recs {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&manifest(r))?);
    }
    Ok(out)
}

/// Pretty JSON array of the recommendations.
///
/// # Errors
/// Serialization failure (not expected for these types).
pub fn json(recs: &[Recommendation]) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(recs)
}
