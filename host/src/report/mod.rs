//! `stepscale analyze --report DIR`: one self-contained HTML page
//! (`DIR/index.html`, inline SVG, no script, nothing fetched) with, per
//! workload: the recommendation and how it was chosen, the demand history
//! with the replicas replayed under today's and the proposed config (and its
//! schedule), the forecast with the schedule windows, and the frontier of
//! alternatives.

pub mod svg;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stepscale_engine::snapshot::WorkloadSnapshot;
use stepscale_engine::ConfigChange;
use stepscale_hpa::simulate::{simulate, SimOptions};

use crate::change::describe_change;
use crate::recommendation::Recommendation;
use crate::replay::{self, Figures};
use crate::schedule::size::with_schedule;
use crate::schedule::windows::active_intervals;
use crate::schedule::PredictiveSchedule;
use svg::{escape, line_chart, Line};

/// Points per chart line.
const POINTS: usize = 720;

/// Write `DIR/index.html` for `recs` (one per workload of `workloads`, in
/// the same order). Creates `dir` if needed.
///
/// # Errors
/// The directory or the file cannot be written.
pub fn write(
    dir: &Path,
    recs: &[Recommendation],
    workloads: &[Arc<WorkloadSnapshot>],
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("index.html");
    std::fs::write(&path, html(recs, workloads))?;
    Ok(path)
}

/// Replicas per sample of `w`'s history replayed under `change` (and
/// `schedule`), or `None` when the autoscaler does not scale on CPU.
fn replayed(
    w: &WorkloadSnapshot,
    change: &ConfigChange,
    schedule: Option<&PredictiveSchedule>,
) -> Option<Vec<f64>> {
    let req = replay::request_cores(w);
    let mut cfg = replay::model_config(&w.config, change, req)?;
    if let Some(s) = schedule {
        cfg = with_schedule(&cfg, s)?;
    }
    let options = SimOptions {
        record_trajectory: true,
        ..SimOptions::default()
    };
    let r = simulate(&replay::demand(w), &cfg, &options).ok()?;
    Some(
        r.trajectory?
            .iter()
            .map(|p| f64::from(p.replicas))
            .collect(),
    )
}

fn figures_row(label: &str, f: &Figures) -> String {
    format!(
        "<tr><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
        escape(label),
        f.replica_hours_per_day,
        f.saturated_minutes_per_day,
        f.over_target_minutes_per_day,
        f.direction_changes_per_day
    )
}

const FIGURE_HEAD: &str = "<tr><th></th><th>replica-hours/day</th><th>saturated min/day</th><th>min/day over target</th><th>direction changes/day</th></tr>";

/// The LLM's review, labelled as the LLM's, apart from the engine's text.
fn llm_review(l: &crate::recommendation::LlmReview) -> String {
    if let Some(why) = &l.unavailable {
        return format!("<p class=\"llm\"><b>LLM review:</b> {}</p>", escape(why));
    }
    let reasons: String = l
        .reasons
        .iter()
        .map(|r| format!("<li>{}</li>", escape(r)))
        .collect();
    format!(
        "<div class=\"llm\"><p><b>LLM review</b> ({} {}): {}<b>{}</b>, risk {} (engine: {}). {}</p><ul>{}</ul></div>",
        escape(&l.provider),
        escape(&l.model),
        if l.not_recommended { "not recommended — " } else { "" },
        l.verdict.map_or("-", |v| v.as_str()),
        l.risk_level.map_or("-", |r| r.as_str()),
        l.engine_risk_level.as_str(),
        escape(l.summary.as_deref().unwrap_or_default()),
        reasons
    )
}

fn section(r: &Recommendation, w: &WorkloadSnapshot) -> String {
    let mut s = String::new();
    let t = &r.target;
    let _ = write!(
        s,
        "<section><h2>{}/{} <small>{} → {} {}</small> <span class=\"risk {}\">risk {}</span></h2><p>{}</p>",
        escape(&t.namespace),
        escape(&t.autoscaler_name),
        escape(&t.autoscaler_kind),
        escape(&t.kind),
        escape(&t.name),
        r.risk_level.as_str(),
        r.risk_level.as_str(),
        escape(&r.summary)
    );
    if let Some(l) = &r.llm_review {
        let _ = write!(s, "{}", llm_review(l));
    }
    let change = describe_change(&r.current, &r.proposed);
    let _ = write!(
        s,
        "<p><b>Change:</b> {}</p>",
        escape(if change.is_empty() { "none" } else { &change })
    );
    if let Some(p) = &r.projected_savings {
        let _ = write!(
            s,
            "<p><b>{}:</b> {:.1} replica-hours/week ({:.1} %) — {}</p>",
            if p.replica_hours_per_week < 0.0 {
                "Cost"
            } else {
                "Savings"
            },
            p.replica_hours_per_week.abs(),
            p.percent.abs(),
            escape(&p.method)
        );
    }

    // History: demand (pods at 100 % of request) and replayed replicas.
    let h = &w.history;
    let req = replay::request_cores(w);
    let demand: Vec<f64> = replay::demand(w).cores.iter().map(|c| c / req).collect();
    let today = replayed(w, &ConfigChange::default(), None);
    let proposed = if r.proposed.is_empty() && r.predictive_schedule.is_none() {
        None
    } else {
        replayed(w, &r.proposed, r.predictive_schedule.as_ref())
    };
    let d = svg::downsample(&demand, POINTS);
    let a = today.as_deref().map(|v| svg::downsample(v, POINTS));
    let b = proposed.as_deref().map(|v| svg::downsample(v, POINTS));
    let mut lines = vec![Line {
        label: "demand (pods at 100 % of request)",
        color: "#444",
        dashed: false,
        values: &d,
    }];
    if let Some(a) = &a {
        lines.push(Line {
            label: "replicas, today's config (replay)",
            color: "#c0392b",
            dashed: false,
            values: a,
        });
    }
    if let Some(b) = &b {
        lines.push(Line {
            label: "replicas, proposed (replay)",
            color: "#2471a3",
            dashed: true,
            values: b,
        });
    }
    let days = h.len() as f64 * f64::from(h.step_seconds) / 86_400.0;
    let ticks: Vec<(f64, String)> = (0..=days.floor() as i64)
        .map(|d| (d as f64 / days.max(1e-9), format!("day {}", d + 1)))
        .filter(|(f, _)| *f <= 1.0)
        .collect();
    // The held-out part, shaded.
    let bands: Vec<(f64, f64)> = r
        .choice
        .as_ref()
        .and_then(|c| c.holdout.as_ref())
        .map(|held| vec![(1.0 - held.days / days.max(1e-9), 1.0)])
        .unwrap_or_default();
    let _ = write!(
        s,
        "<h3>History and replay</h3><p class=\"note\">{}{}</p>{}",
        escape(
            r.history_source
                .as_deref()
                .unwrap_or("history from the snapshot")
        ),
        if bands.is_empty() {
            ""
        } else {
            "; shaded: the held-out days the choice did not see"
        },
        line_chart("demand and replayed replicas", &lines, &ticks, &bands)
    );

    // Forecast and schedule windows.
    if let Some(f) = &r.forecast {
        let n = f.replicas_needed.len();
        let step = f64::from(f.step_seconds.max(1));
        let span = n as f64 * step;
        let mut bands = Vec::new();
        if let Some(sched) = &r.predictive_schedule {
            let from = f.start_unix_seconds;
            let to = from + span as i64;
            for (a, b) in active_intervals(sched, from, to).unwrap_or_default() {
                bands.push(((a - from) as f64 / span, (b - from) as f64 / span));
            }
        }
        let fc = svg::downsample(&f.replicas_needed, POINTS);
        let hours = span / 3600.0;
        let ticks: Vec<(f64, String)> = (0..=(hours / 6.0).floor() as i64)
            .map(|k| ((k * 6) as f64 / hours.max(1e-9), format!("+{} h", k * 6)))
            .collect();
        let windows = r
            .predictive_schedule
            .as_ref()
            .map(|s| {
                let list: Vec<String> = s
                    .windows
                    .iter()
                    .map(|w| format!("{}–{} ≥{}", w.start, w.end, w.replica_floor))
                    .collect();
                format!("schedule ({}): {}", s.timezone, list.join(", "))
            })
            .unwrap_or_else(|| "no predictive schedule".into());
        let _ = write!(
            s,
            "<h3>Forecast</h3><p class=\"note\">replicas needed at today's CPU target, next {:.0} h; shaded: {}</p>{}",
            hours,
            escape(&windows),
            line_chart(
                "forecast",
                &[Line {
                    label: "forecast replicas needed",
                    color: "#7d3c98",
                    dashed: false,
                    values: &fc,
                }],
                &ticks,
                &bands
            )
        );
        if !f.evidence.is_empty() {
            s.push_str("<ul class=\"note\">");
            for e in &f.evidence {
                let _ = write!(
                    s,
                    "<li>{}: {} {}</li>",
                    escape(&e.label),
                    e.value,
                    escape(&e.unit)
                );
            }
            s.push_str("</ul>");
        }
    }

    // How it was chosen.
    if let Some(c) = &r.choice {
        let _ = write!(
            s,
            "<h3>How it was chosen</h3><p>{}</p><p class=\"note\">Objective: {}. {} configs scored, {} of them stopped early once they could not win, {} reusing a replay that provably gives the same ({}).</p><table>{FIGURE_HEAD}",
            escape(&c.verdict),
            escape(&c.statement),
            c.candidates_replayed,
            c.candidates_stopped_early,
            c.candidates_reused,
            escape(&c.method)
        );
        s.push_str(&figures_row(
            &format!("today, {}", c.fit.period),
            &c.fit.current,
        ));
        s.push_str(&figures_row(
            &format!("best, {}", c.fit.period),
            &c.fit.proposed,
        ));
        if let Some(hd) = &c.holdout {
            s.push_str(&figures_row(
                &format!("today, held out {}", hd.period),
                &hd.current,
            ));
            s.push_str(&figures_row(
                &format!("best, held out {}", hd.period),
                &hd.proposed,
            ));
        }
        s.push_str("</table><h3>Alternatives (fit part)</h3><table>");
        s.push_str("<tr><th>option</th><th>change</th><th>replica-hours/day</th><th>saturated min/day</th><th>min/day over target</th><th>direction changes/day</th></tr>");
        for a in &c.frontier {
            let ch = describe_change(&r.current, &a.change);
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
                escape(&a.label),
                escape(if ch.is_empty() { "today's config" } else { &ch }),
                a.figures.replica_hours_per_day,
                a.figures.saturated_minutes_per_day,
                a.figures.over_target_minutes_per_day,
                a.figures.direction_changes_per_day
            );
        }
        s.push_str("</table>");
    }
    s.push_str("<h3>Findings</h3><ul>");
    for f in &r.findings {
        let _ = write!(
            s,
            "<li><b>{}</b>: {}</li>",
            escape(&f.rule_id),
            escape(&f.summary)
        );
    }
    s.push_str("</ul></section>");
    s
}

/// The report page.
pub fn html(recs: &[Recommendation], workloads: &[Arc<WorkloadSnapshot>]) -> String {
    let mut s = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>stepscale analysis</title><style>\
body{font-family:sans-serif;margin:2em;max-width:960px;color:#222}\
section{border-top:1px solid #ccc;margin-top:2em}small{color:#666;font-weight:normal}\
.llm{border-left:3px solid #888;padding-left:8px}.risk{font-size:0.7em;padding:2px 6px;border-radius:4px;background:#ddd}.risk.high{background:#f5b7b1}.risk.medium{background:#fad7a0}.risk.low{background:#d5f5e3}\
table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}\
.note{color:#555;font-size:0.85em}</style></head><body><h1>stepscale analysis</h1>",
    );
    let changes = recs.iter().filter(|r| !r.proposed.is_empty()).count();
    let _ = write!(
        s,
        "<p>{} workload(s) analyzed, {} with a proposed change.</p>",
        recs.len(),
        changes
    );
    if let Some(c) = recs.iter().find_map(|r| r.choice.as_ref()) {
        let _ = write!(
            s,
            "<p class=\"note\">Objective: {}</p>",
            escape(&c.statement)
        );
    }
    for (r, w) in recs.iter().zip(workloads) {
        s.push_str(&section(r, w));
    }
    s.push_str("</body></html>\n");
    s
}
