//! Deciding a recommendation by the objective: the search over the
//! autoscaler's knobs, then the schedule pass, then the proposal, savings,
//! risk and summary from what held on the held-out days.

use stepscale_engine::snapshot::WorkloadSnapshot;
use stepscale_engine::{ConfigChange, Finding, FindingKind};

use super::{risk, ProjectedSavings, Recommendation, RiskLevel};
use crate::change::{describe_change, CurrentConfig};
use crate::objective::{search, Mode, Objective};
use crate::replay::{self, Figures};
use crate::schedule::size as schedule;
use crate::schedule::PredictiveSchedule;

/// A change that adds more than this percent of today's replica-hours is at
/// least medium risk: it is a spending decision for a person to make.
pub const SPEND_RISK_PERCENT: f64 = 20.0;

/// Let replay decide: choose `rec`'s proposal by `objective` (the rules'
/// merged proposal and each finding's own proposal seed the search), attach
/// how it was chosen, and set the proposal, projected savings, risk and
/// summary from the choice. A choice that does not hold on the held-out
/// days is not proposed. Recommendations on autoscalers that do not scale on
/// CPU keep the rules' merged proposal (nothing to replay).
pub fn decide(rec: &mut Recommendation, w: &WorkloadSnapshot, objective: &Objective) {
    // A misconfiguration comes first: with no fix of its own (competing
    // autoscalers, no CPU requests) the autoscaler does not behave as the
    // replay assumes, so nothing is tuned; with a fix (scale-to-zero on a
    // StatefulSet), the fix alone is proposed.
    let unfixable: Vec<&str> = rec
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Misconfiguration && f.proposal.is_empty())
        .map(|f| f.rule_id.as_str())
        .collect();
    if !unfixable.is_empty() {
        rec.summary = format!(
            "no change proposed: fix the misconfiguration first ({}); the autoscaler does not behave as a replay would assume until then",
            unfixable.join(", ")
        );
        rec.proposed = ConfigChange::default();
        rec.projected_savings = None;
        rec.predictive_schedule = None;
        rec.risk_level = RiskLevel::Low;
        return;
    }
    let fixes: Vec<Finding> = rec
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Misconfiguration)
        .cloned()
        .collect();
    if !fixes.is_empty() {
        let (fix, _) = super::merge::merge(&rec.current, &fixes);
        rec.proposed = fix;
        rec.projected_savings = fix_cost(w, &fix);
        rec.predictive_schedule = None;
        rec.risk_level = risk(&rec.current, &fix, &rec.findings);
        rec.summary = format!(
            "{} — the fix of {}; no other tuning until it is applied",
            describe_change(&rec.current, &fix),
            fixes
                .iter()
                .map(|f| f.rule_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return;
    }
    let mut seeds: Vec<ConfigChange> = Vec::new();
    for p in std::iter::once(rec.proposed).chain(rec.findings.iter().map(|f| f.proposal)) {
        if !p.is_empty() && !seeds.contains(&p) {
            seeds.push(p);
        }
    }
    let rules_proposed = rec.proposed;
    let mut choice = match search::choose(w, &rec.current, &seeds, objective) {
        Ok(c) => c,
        Err(search::SearchError::NotCpu) => return,
        Err(e) => {
            tracing::warn!(workload = %w.display_name(), error = %e, "no replay search; the rules' proposal is withheld");
            rec.proposed = ConfigChange::default();
            rec.summary = format!("no change proposed: {e}");
            return;
        }
    };
    rec.proposed = if choice.confirmed {
        choice.best
    } else {
        ConfigChange::default()
    };
    if !rules_proposed.is_empty() && rules_proposed != rec.proposed {
        choice.verdict = format!(
            "{}. The rules proposed: {}.",
            choice.verdict.trim_end_matches('.'),
            describe_change(&rec.current, &rules_proposed)
        );
    }
    // The predictive schedule, sized to the deficit of the config that
    // will run — or of a cheaper config that only the schedule makes keep
    // the guardrails — kept only if it passes the objective on both parts.
    let mut held_final = choice
        .holdout
        .as_ref()
        .filter(|_| !rec.proposed.is_empty())
        .map(|h| (h.current, h.proposed, h.period.clone()));
    rec.predictive_schedule = None;
    let earned = rec
        .forecast
        .as_ref()
        .map(schedule::forecast_earns_a_schedule);
    if let Some(Err(why)) = &earned {
        choice.verdict = format!(
            "{}. No predictive schedule: {why}.",
            choice.verdict.trim_end_matches('.')
        );
    }
    let faithful = choice.fidelity.as_ref().is_none_or(|f| f.reproduces);
    if let Some(Ok(backtest)) = earned.filter(|_| faithful) {
        match schedule_pass(w, &choice, objective) {
            Ok(Some(s)) => {
                // The proposal is now the config with its schedule, which
                // passed the same confirmation.
                rec.proposed = s.change;
                rec.predictive_schedule = Some(s.schedule);
                choice.best = s.change;
                choice.confirmed = true;
                // The figures shown are the proposal's: with its schedule.
                choice.fit.proposed = s.with_fit.rounded();
                choice.holdout = Some(s.held_period.clone());
                choice.verdict = format!(
                    "{}. With a predictive schedule: {} on the held-out {} (confirmed).{} The forecast earns it: {backtest}.",
                    choice.verdict.trim_end_matches('.'),
                    search::tradeoff(&s.with_held, &s.today_held),
                    s.period,
                    s.note
                );
                held_final = Some((s.today_held, s.with_held, s.period));
            }
            Ok(None) => {}
            Err(note) => {
                choice.verdict = format!("{}.{note}", choice.verdict.trim_end_matches('.'))
            }
        }
    }
    rec.projected_savings = None;
    if let Some((t, p, period)) = &held_final {
        let per_day = t.replica_hours_per_day - p.replica_hours_per_day;
        rec.projected_savings = Some(ProjectedSavings {
            replica_hours_per_week: (per_day * 7.0 * 10.0).round() / 10.0,
            percent: (p.savings_percent(t) * 10.0).round() / 10.0,
            method: format!(
                "{}, today's config vs the proposal{} on the held-out {period} (not seen by the choice), scaled to one week",
                choice.method,
                if rec.predictive_schedule.is_some() { " with its schedule" } else { "" },
            ),
        });
    }
    let mut risk = risk(&rec.current, &rec.proposed, &rec.findings);
    if rec
        .projected_savings
        .as_ref()
        .is_some_and(|s| s.percent < -SPEND_RISK_PERCENT)
    {
        risk = risk.max(RiskLevel::Medium);
    }
    rec.risk_level = risk;
    let what = match (rec.proposed.is_empty(), &rec.predictive_schedule) {
        (true, None) => String::new(),
        (false, None) => describe_change(&rec.current, &rec.proposed),
        (true, Some(s)) => format!("add a predictive schedule ({} window(s))", s.windows.len()),
        (false, Some(s)) => format!(
            "{}, add a predictive schedule ({} window(s))",
            describe_change(&rec.current, &rec.proposed),
            s.windows.len()
        ),
    };
    rec.summary = match &held_final {
        _ if what.is_empty() => format!("no change proposed: {}", choice.verdict),
        Some((t, p, _)) => format!("{what} — {} on held-out days", search::tradeoff(p, t)),
        None => what,
    };
    rec.choice = Some(choice);
}

/// What a misconfiguration's fix costs or saves, replayed over the held-out
/// part of the history (the whole history when it is too short to split).
fn fix_cost(w: &WorkloadSnapshot, fix: &ConfigChange) -> Option<ProjectedSavings> {
    let req = replay::request_cores(w);
    let today = replay::model_config(&w.config, &ConfigChange::default(), req)?;
    let fixed = replay::model_config(&w.config, fix, req)?;
    let history = replay::demand_history(w);
    if history.is_empty() {
        return None;
    }
    let split = replay::split(history.len(), history.series.step_s);
    let part = history.part(split.fit_samples.min(history.len().saturating_sub(1))..history.len());
    let (t, _) = replay::replay_figures(&part, &today, None).ok()?;
    let (f, _) = replay::replay_figures(&part, &fixed, None).ok()?;
    let per_day = t.replica_hours_per_day - f.replica_hours_per_day;
    Some(ProjectedSavings {
        replica_hours_per_week: (per_day * 7.0 * 10.0).round() / 10.0,
        percent: (f.savings_percent(&t) * 10.0).round() / 10.0,
        method: format!(
            "{}, today's config vs the fix over the last {:.1} day(s), scaled to one week",
            replay::method(&history),
            part.days()
        ),
    })
}

/// Lower static floors the schedule pass tries under a floor of `floor`
/// (each with a schedule sized to what it runs short of): 1, a quarter, a
/// half and three quarters of it.
fn lower_floors(floor: u32) -> Vec<u32> {
    let mut v: Vec<u32> = [1, floor / 4, floor / 2, floor * 3 / 4]
        .into_iter()
        .filter(|f| *f >= 1 && *f < floor)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// A config with a predictive schedule that passed the objective.
struct ScheduleOutcome {
    /// The config change that runs with the schedule.
    change: ConfigChange,
    /// The schedule.
    schedule: PredictiveSchedule,
    /// Today's figures on the held-out part.
    today_held: Figures,
    /// The change with its schedule on the held-out part.
    with_held: Figures,
    /// The change with its schedule on the fit part.
    with_fit: Figures,
    /// The held-out part's figures, as the choice shows them.
    held_period: search::PeriodFigures,
    /// The held-out period, in words.
    period: String,
    /// For the reviewer.
    note: String,
}

/// The schedule pass: size a schedule for the search's choice (or today's
/// config when nothing was chosen) and for each near miss (cheaper configs
/// that only fail on saturation), choose on the fit part the best by the
/// objective among the plain choice and these, and confirm it on the
/// held-out part. `Ok(None)`: no schedule beats the plain choice;
/// `Err(note)`: one was sized but not kept, and why.
fn schedule_pass(
    w: &WorkloadSnapshot,
    choice: &search::Choice,
    objective: &Objective,
) -> Result<Option<ScheduleOutcome>, String> {
    let req = replay::request_cores(w);
    let Some(today_cfg) = replay::model_config(&w.config, &ConfigChange::default(), req) else {
        return Ok(None);
    };
    let history = replay::demand_history(w);
    let split = replay::split(history.len(), history.series.step_s);
    if split.holdout_days == 0 {
        return Ok(None);
    }
    let fit = history.part(0..split.fit_samples);
    let held = history.part(split.fit_samples..history.len());
    let tz = match w.history.timezone.as_deref() {
        Some(name) => match stepscale_hpa::tz::TimeZone::load(name) {
            Ok(tz) => tz,
            Err(e) => return Err(format!(" No predictive schedule: {e}.")),
        },
        None => stepscale_hpa::tz::TimeZone::utc(),
    };
    let lead = schedule::lead_minutes(&w.history);
    let strict = objective.with_tolerances_scaled(search::SELECTION_MARGIN);
    let (t_fit, today_ready) = match &choice.today_fit {
        Some((f, ready)) => (*f, ready.clone()),
        None => match replay::replay_figures(&fit, &today_cfg, None) {
            Ok(r) => r,
            Err(_) => return Ok(None),
        },
    };
    let plain = if choice.confirmed {
        choice.best
    } else {
        ConfigChange::default()
    };
    let fit_of = |change: &ConfigChange| {
        replay::model_config(&w.config, change, req)
            .and_then(|c| replay::replay_figures(&fit, &c, Some(&today_ready)).ok())
            .map(|(f, _)| f)
    };
    let plain_fit = match choice.best_fit.filter(|_| choice.confirmed) {
        Some(f) => f,
        None => t_fit,
    };
    // Both ranked by the objective; a schedule's config must also keep the
    // guardrails within the search's cautious share of each tolerance.
    let mut best: search::Ranked = search::rank(objective, &plain_fit, &t_fit)
        .map(|(a, b, c)| (a, b, c, 0.0))
        .filter(|_| choice.confirmed);
    let mut picked: Option<(ConfigChange, PredictiveSchedule, Figures)> = None;
    let mut sized = 0usize;
    let mut bases = vec![(plain, plain_fit)];
    bases.extend(choice.near_misses.iter().copied());
    // The plain choice with a lower static floor: the floor a recurring
    // peak holds up is what a schedule can take over.
    // Between its windows such a config relies on the autoscaler alone, so
    // each floor is also tried with no scale-up stabilization (the fastest
    // scale-up the search may propose).
    let fast_up = ConfigChange {
        scale_up_stabilization_seconds: Some(0),
        ..plain
    };
    let scale_ups = if w
        .config
        .scale_up
        .as_ref()
        .and_then(|r| r.stabilization_window_seconds)
        .unwrap_or(0)
        > 0
    {
        vec![plain, fast_up]
    } else {
        vec![plain]
    };
    for floor in lower_floors(plain.min_replicas.unwrap_or(w.config.min_replicas)) {
        for knobs in &scale_ups {
            let base = ConfigChange {
                min_replicas: Some(floor),
                ..*knobs
            };
            if bases.iter().any(|(b, _)| *b == base) {
                continue;
            }
            if let Some(f) = fit_of(&base) {
                bases.push((base, f));
            }
        }
    }
    for (base, b_fit) in bases {
        // A schedule can only remove saturation the base has; in savings
        // mode it only adds cost, so the base must already save enough.
        if b_fit.saturated_minutes_per_day < schedule::MIN_SATURATION_REMOVED
            || objective.mode == Mode::Savings
                && b_fit.savings_percent(&t_fit) < objective.min_savings_percent
        {
            continue;
        }
        let Some(base_cfg) = replay::model_config(&w.config, &base, req) else {
            continue;
        };
        let floor = base.min_replicas.unwrap_or(w.config.min_replicas);
        let ceiling = base.max_replicas.unwrap_or(w.config.max_replicas);
        let Some(sched) = schedule::size(&fit, &base_cfg, &tz, lead, floor, ceiling) else {
            continue;
        };
        let Some(with_cfg) = schedule::with_schedule(&base_cfg, &sched) else {
            continue;
        };
        let Ok((s_fit, _)) = replay::replay_figures(&fit, &with_cfg, Some(&today_ready)) else {
            continue;
        };
        sized += 1;
        if b_fit.saturated_minutes_per_day - s_fit.saturated_minutes_per_day
            < schedule::MIN_SATURATION_REMOVED
        {
            continue;
        }
        if objective.mode == Mode::Savings
            && s_fit.savings_percent(&t_fit) < objective.min_savings_percent
        {
            continue;
        }
        let r = search::rank(objective, &s_fit, &t_fit)
            .filter(|_| search::rank(&strict, &s_fit, &t_fit).is_some())
            .map(|(a, b, c)| (a, b, c, 1.0));
        if search::better(r, best) {
            best = r;
            picked = Some((base, sched, s_fit));
        }
    }
    let Some((change, sched, s_fit)) = picked else {
        return if sized > 0 {
            Err(format!(
                " {sized} predictive schedule(s) were sized and none beat {} under the objective on the fit part.",
                if choice.confirmed { "the plain choice" } else { "today's config" }
            ))
        } else {
            Ok(None)
        };
    };
    // Confirmation on the held-out days.
    let windows = sched.windows.len();
    let period = format!("last {} day(s)", split.holdout_days);
    let held_run = || -> Option<(Figures, Figures, Figures)> {
        let base_cfg = replay::model_config(&w.config, &change, req)?;
        let with_cfg = schedule::with_schedule(&base_cfg, &sched)?;
        let (t, ready) = replay::replay_figures(&held, &today_cfg, None).ok()?;
        let (b, _) = replay::replay_figures(&held, &base_cfg, Some(&ready)).ok()?;
        let (s, _) = replay::replay_figures(&held, &with_cfg, Some(&ready)).ok()?;
        Some((t, b, s))
    };
    let Some((t_held, b_held, s_held)) = held_run() else {
        return Ok(None);
    };
    let removed_held = b_held.saturated_minutes_per_day - s_held.saturated_minutes_per_day;
    let mut why = objective.violations(&s_held, &t_held);
    if removed_held <= 0.0 {
        why.push(format!(
            "it removes no saturation there ({removed_held:+.1} min/day)"
        ));
    }
    if objective.mode == Mode::Savings
        && s_held.replica_hours_per_day >= t_held.replica_hours_per_day
    {
        why.push("it saves nothing there".into());
    }
    if search::rank(objective, &s_held, &t_held).is_none() || !why.is_empty() {
        return Err(format!(
            " A predictive schedule of {windows} window(s){} was chosen on the fit part and not kept: on the held-out {period} {}.",
            if change == plain { String::new() } else { format!(" with {}", describe_change(&CurrentConfig::of(w), &change)) },
            why.join("; ")
        ));
    }
    let note = format!(
        " The predictive schedule ({windows} window(s)) removes {:.1} saturated min/day on the fit part and {removed_held:.1} on the held-out {period}{}.",
        fit_of(&change).map_or(0.0, |b| b.saturated_minutes_per_day - s_fit.saturated_minutes_per_day),
        if change == plain {
            String::new()
        } else {
            " and carries a cheaper config that would run short without it".to_string()
        }
    );
    // What probation will be compared with: today's config over the whole
    // history, inside and outside the windows, at the applied CPU target.
    let mut sched = sched;
    let target = change
        .cpu_target_percent
        .or(w.config.cpu_target_percent)
        .map_or(100.0, f64::from);
    sched.history = replay::replay_figures(&history, &today_cfg, None)
        .ok()
        .and_then(|(_, ready)| {
            crate::schedule::verify::replayed(
                &sched,
                history.series.start_s,
                u32::try_from(history.series.step_s).unwrap_or(60),
                &history.series.cores,
                &ready,
                req,
                target,
            )
        });
    Ok(Some(ScheduleOutcome {
        change,
        schedule: sched,
        today_held: t_held,
        with_held: s_held,
        with_fit: s_fit,
        held_period: search::PeriodFigures {
            period: search::days_label(fit.days(), history.days(), history.days()),
            days: search::round1(held.days()),
            current: t_held.rounded(),
            proposed: s_held.rounded(),
        },
        period,
        note,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 7 days at 1 minute on 14 pods of 500m: 1 core all day, 6 cores at
    /// 09:00–10:00 UTC every day; a generous floor of 14 carries the jump.
    fn daily_jump() -> WorkloadSnapshot {
        let mut w = crate::fixtures::workload();
        let n = 7 * 1440;
        w.config.min_replicas = 14;
        w.config.max_replicas = 30;
        w.config.cpu_target_percent = Some(70);
        w.history.start_unix_seconds = 1_700_006_400; // a UTC midnight
        w.history.step_seconds = 60;
        w.history.cpu_utilization = (0..n)
            .map(|i| {
                let cores = if (540..600).contains(&(i % 1440)) {
                    6.0
                } else {
                    1.0
                };
                cores / (14.0 * 0.5) * 100.0
            })
            .collect();
        w.history.replicas_current = vec![14.0; n];
        w.history.replicas_desired = vec![14.0; n];
        w
    }

    fn forecast_stub() -> stepscale_engine::Forecast {
        stepscale_engine::Forecast {
            rule_id: "forecaster".into(),
            start_unix_seconds: 0,
            step_seconds: 60,
            replicas_needed: vec![],
            peak_windows: vec![],
            evidence: vec![
                evidence(schedule::BACKTEST_MAE, 0.2),
                evidence(schedule::NAIVE_DAILY_MAE, 0.3),
            ],
        }
    }

    fn evidence(label: &str, value: f64) -> stepscale_engine::Evidence {
        stepscale_engine::Evidence {
            label: label.into(),
            value,
            unit: "pods".into(),
        }
    }

    #[test]
    fn no_schedule_when_the_forecaster_does_not_beat_the_seasonal_naive_forecast() {
        let w = daily_jump();
        let mut forecast = forecast_stub();
        forecast.evidence = vec![
            evidence(schedule::BACKTEST_MAE, 0.5),
            evidence(schedule::NAIVE_DAILY_MAE, 0.6),
            evidence(schedule::NAIVE_WEEKLY_MAE, 0.4),
        ];
        let found = crate::recommendation::WorkloadFindings {
            forecast: Some(forecast),
            ..Default::default()
        };
        let mut rec = crate::recommendation::recommend(&w, found);
        decide(&mut rec, &w, &Objective::default());
        assert!(rec.predictive_schedule.is_none());
        let verdict = &rec.choice.as_ref().expect("a choice").verdict;
        assert!(
            verdict.contains("does not beat the seasonal-naive forecast")
                && verdict.contains("0.400 (weekly)"),
            "{verdict}"
        );
    }

    #[test]
    fn a_schedule_lets_a_low_floor_carry_a_recurring_jump_and_both_are_confirmed() {
        let w = daily_jump();
        let found = crate::recommendation::WorkloadFindings {
            forecast: Some(forecast_stub()),
            ..Default::default()
        };
        let mut rec = crate::recommendation::recommend(&w, found);
        decide(&mut rec, &w, &Objective::default());
        let sched = rec.predictive_schedule.as_ref().expect("a schedule");
        let floor = rec.proposed.min_replicas.expect("a lower floor");
        assert!(floor < 12, "{}", rec.summary);
        // One window opening before the 09:00 jump, sized to carry it at
        // 100 % of request (6 cores / 0.5 = 12 pods), not the whole day.
        assert_eq!(sched.windows.len(), 1, "{sched:?}");
        assert_eq!(sched.windows[0].start, "08:55");
        assert_eq!(sched.windows[0].replica_floor, 12);
        let s = rec.projected_savings.as_ref().expect("savings");
        assert!(s.percent > 30.0, "{s:?}");
        assert!(s.method.contains("with its schedule"), "{}", s.method);
        assert!(
            rec.summary.contains("predictive schedule"),
            "{}",
            rec.summary
        );
    }

    #[test]
    fn without_a_forecast_no_schedule_is_proposed() {
        let w = daily_jump();
        let mut rec = crate::recommendation::recommend(
            &w,
            crate::recommendation::WorkloadFindings::default(),
        );
        decide(&mut rec, &w, &Objective::default());
        assert!(rec.predictive_schedule.is_none());
        // The floor can only come down as far as the jump allows.
        assert!(
            rec.proposed.min_replicas.is_none_or(|m| m >= 12),
            "{}",
            rec.summary
        );
    }
}
