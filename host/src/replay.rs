//! Replay of a workload's history through the HPA model (`stepscale-hpa`)
//! under the current and the proposed config: the projected savings of a
//! recommendation and the safety veto.
//!
//! Demand is reconstructed as `CPU utilization × current replicas × CPU
//! request` per sample (a missing request counts as 1 core: savings are in
//! replica-hours, so the unit cancels out). Utilization is capped by what the
//! pods could use, so demand during saturation is a lower bound — the veto is
//! conservative about harm it can see, not about harm it cannot.
//!
//! The veto: a proposal whose replay adds more than
//! [`SATURATION_MARGIN_MINUTES_PER_DAY`] minutes of saturation or
//! [`OVER_TARGET_MARGIN_MINUTES_PER_DAY`] minutes over target per day of
//! history is marked high risk, with the replay numbers as evidence.

use stepscale_engine::snapshot::{
    AutoscalingConfig, PolicyKind, ScalingRules, SelectPolicy, WorkloadSnapshot,
};
use stepscale_engine::{ConfigChange, Evidence, Finding, FindingKind};
use stepscale_hpa::model::behavior as hpa;
use stepscale_hpa::simulate::{
    compare_configs, AutoscalerConfig, Comparison, CronFloor, DemandSeries, KedaConfig, SimError,
    SimOptions,
};

use crate::recommendation::{ProjectedSavings, Recommendation, RiskLevel};

/// Saturation (demand above ready capacity) a proposal may add, minutes per
/// day of history, before it is vetoed.
pub const SATURATION_MARGIN_MINUTES_PER_DAY: f64 = 2.0;
/// Minutes over target (+ tolerance) a proposal may add per day of history.
pub const OVER_TARGET_MARGIN_MINUTES_PER_DAY: f64 = 15.0;
/// Rule id of the veto finding.
pub const VETO_RULE_ID: &str = "replay/veto";
/// The method string of projected savings.
pub const SAVINGS_METHOD: &str = "replay of the history through the HPA model (15 s sync, 60 s metric window, 45 s pod start-up), current vs proposed config, scaled to one week";

/// CPU request of one pod, cores (sum over containers; 1 when unknown).
pub fn request_cores(w: &WorkloadSnapshot) -> f64 {
    let m: u32 = w
        .containers
        .iter()
        .filter_map(|c| c.cpu_request_millicores)
        .sum();
    if m == 0 {
        1.0
    } else {
        f64::from(m) / 1000.0
    }
}

/// CPU demand in cores per sample of the history.
pub fn demand(w: &WorkloadSnapshot) -> DemandSeries {
    let req = request_cores(w);
    let h = &w.history;
    let cores = h
        .cpu_utilization
        .iter()
        .zip(&h.replicas_current)
        .map(|(u, r)| u / 100.0 * r * req)
        .collect();
    DemandSeries::from_cpu_cores(h.start_unix_seconds, i64::from(h.step_seconds), cores)
}

fn rules(r: Option<&ScalingRules>, window: Option<u32>) -> Option<hpa::ScalingRules> {
    if r.is_none() && window.is_none() {
        return None;
    }
    let base = r.cloned().unwrap_or_default();
    Some(hpa::ScalingRules {
        stabilization_window_seconds: window
            .or(base.stabilization_window_seconds)
            .map(|s| s as i32),
        select_policy: base.select_policy.map(|p| match p {
            SelectPolicy::Max => hpa::SelectPolicy::Max,
            SelectPolicy::Min => hpa::SelectPolicy::Min,
            SelectPolicy::Disabled => hpa::SelectPolicy::Disabled,
        }),
        policies: base
            .policies
            .iter()
            .map(|p| hpa::ScalingPolicy {
                kind: match p.kind {
                    PolicyKind::Pods => hpa::PolicyType::Pods,
                    PolicyKind::Percent => hpa::PolicyType::Percent,
                },
                value: p.value as i32,
                period_seconds: p.period_seconds as i32,
            })
            .collect(),
    })
}

/// The model's config for `config` with `change` applied. `None` when the
/// autoscaler does not scale on CPU (nothing to replay).
pub fn model_config(
    config: &AutoscalingConfig,
    change: &ConfigChange,
    request_cores: f64,
) -> Option<AutoscalerConfig> {
    let target = change.cpu_target_percent.or(config.cpu_target_percent)?;
    let min = change.min_replicas.unwrap_or(config.min_replicas);
    let max = change
        .max_replicas
        .unwrap_or(config.max_replicas)
        .max(min)
        .max(1);
    let up = rules(
        config.scale_up.as_ref(),
        change.scale_up_stabilization_seconds,
    );
    let down = rules(
        config.scale_down.as_ref(),
        change.scale_down_stabilization_seconds,
    );
    let behavior = (up.is_some() || down.is_some()).then_some(hpa::Behavior {
        scale_up: up,
        scale_down: down,
    });
    let keda = config.keda.as_ref().map(|k| KedaConfig {
        min_replica_count: min as i32,
        cooldown_period_s: i64::from(
            change
                .cooldown_period_seconds
                .unwrap_or(k.cooldown_period_seconds),
        ),
        activation_cores: 0.0,
        cron_floors: k
            .triggers
            .iter()
            .filter(|t| t.trigger_type == "cron")
            .filter_map(|t| {
                Some(CronFloor {
                    timezone: t.metadata.get("timezone")?.clone(),
                    start: t.metadata.get("start")?.clone(),
                    end: t.metadata.get("end")?.clone(),
                    desired_replicas: t.metadata.get("desiredReplicas")?.parse().ok()?,
                })
            })
            .collect(),
    });
    Some(AutoscalerConfig {
        min_replicas: min.max(1) as i32,
        max_replicas: max as i32,
        cpu_target_pct: target as i32,
        cpu_request_cores: request_cores,
        behavior,
        keda,
    })
}

/// Replay `w` under its current config and with `proposed` applied.
///
/// # Errors
/// The simulator rejects the series or a config. `Ok(None)` when the
/// autoscaler does not scale on CPU.
pub fn replay(
    w: &WorkloadSnapshot,
    proposed: &ConfigChange,
) -> Result<Option<Comparison>, SimError> {
    let req = request_cores(w);
    let (Some(current), Some(next)) = (
        model_config(&w.config, &ConfigChange::default(), req),
        model_config(&w.config, proposed, req),
    ) else {
        return Ok(None);
    };
    compare_configs(&demand(w), &current, &next, &SimOptions::default()).map(Some)
}

fn ev(label: &str, value: f64, unit: &str) -> Evidence {
    Evidence {
        label: label.into(),
        value: (value * 10.0).round() / 10.0,
        unit: unit.into(),
    }
}

/// Add projected savings to `rec` and veto it if the replay shows harm.
/// Recommendations with no diff, or on autoscalers that do not scale on CPU,
/// are left as they are.
pub fn assess(rec: &mut Recommendation, w: &WorkloadSnapshot) {
    if rec.proposed.is_empty() {
        return;
    }
    let cmp = match replay(w, &rec.proposed) {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(workload = %w.display_name(), error = %e, "replay failed; no projected savings");
            return;
        }
    };
    let days = (cmp.current.duration_minutes / 1440.0).max(1.0 / 24.0);
    let saved = cmp.current.replica_hours - cmp.proposed.replica_hours;
    rec.projected_savings = Some(ProjectedSavings {
        replica_hours_per_week: (saved / days * 7.0 * 10.0).round() / 10.0,
        percent: if cmp.current.replica_hours > 0.0 {
            (saved / cmp.current.replica_hours * 1000.0).round() / 10.0
        } else {
            0.0
        },
        method: SAVINGS_METHOD.to_string(),
    });
    let more_saturation = (cmp.proposed.minutes_saturated - cmp.current.minutes_saturated) / days;
    let more_over_target =
        (cmp.proposed.minutes_over_target - cmp.current.minutes_over_target) / days;
    if more_saturation > SATURATION_MARGIN_MINUTES_PER_DAY
        || more_over_target > OVER_TARGET_MARGIN_MINUTES_PER_DAY
    {
        rec.risk_level = RiskLevel::High;
        rec.summary = format!(
            "VETOED by replay (saturation +{more_saturation:.1} min/day, over target +{more_over_target:.1} min/day): {}",
            rec.summary
        );
        rec.findings.push(Finding {
            rule_id: VETO_RULE_ID.into(),
            kind: FindingKind::ScaleLag,
            confidence: 1.0,
            summary: format!(
                "replaying the history under the proposed config adds {more_saturation:.1} min/day of saturation and {more_over_target:.1} min/day over target (margins {SATURATION_MARGIN_MINUTES_PER_DAY} and {OVER_TARGET_MARGIN_MINUTES_PER_DAY}); do not apply without review"
            ),
            proposal: ConfigChange::default(),
            evidence: vec![
                ev("saturated, current config", cmp.current.minutes_saturated / days, "min/day"),
                ev("saturated, proposed config", cmp.proposed.minutes_saturated / days, "min/day"),
                ev("over target, current config", cmp.current.minutes_over_target / days, "min/day"),
                ev("over target, proposed config", cmp.proposed.minutes_over_target / days, "min/day"),
                ev("replica-hours, current config", cmp.current.replica_hours, "replica-hours"),
                ev("replica-hours, proposed config", cmp.proposed.replica_hours, "replica-hours"),
            ],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::workload;
    use crate::recommendation::{recommend, WorkloadFindings};

    /// A day on 6 replicas: 30 % CPU, ramping over an hour to a 6-hour peak
    /// at 90 % and back.
    fn peaky() -> WorkloadSnapshot {
        let mut w = workload();
        w.config.min_replicas = 6;
        w.config.max_replicas = 6;
        let n = w.history.len();
        w.history.cpu_utilization = (0..n)
            .map(|i| match i {
                108..=119 => 30.0 + 5.0 * (i - 107) as f64,
                120..=191 => 90.0,
                192..=203 => 90.0 - 5.0 * (i - 191) as f64,
                _ => 30.0,
            })
            .collect();
        w.history.replicas_current = vec![6.0; n];
        w.history.replicas_desired = vec![6.0; n];
        w
    }

    fn rec_with(w: &WorkloadSnapshot, proposal: ConfigChange) -> Recommendation {
        let found = WorkloadFindings {
            findings: vec![Finding {
                rule_id: "test".into(),
                kind: FindingKind::OverProvisioning,
                confidence: 0.9,
                summary: "s".into(),
                proposal,
                evidence: vec![],
            }],
            ..WorkloadFindings::default()
        };
        recommend(w, found)
    }

    #[test]
    fn a_proposal_that_cuts_capacity_below_the_peak_is_vetoed_with_replay_numbers() {
        let w = peaky();
        // Capping at 3 replicas cannot carry 6 × 90 % = 5.4 pods of demand.
        let mut rec = rec_with(
            &w,
            ConfigChange {
                min_replicas: Some(2),
                max_replicas: Some(3),
                ..Default::default()
            },
        );
        assess(&mut rec, &w);
        assert_eq!(rec.risk_level, RiskLevel::High);
        let veto = rec
            .findings
            .iter()
            .find(|f| f.rule_id == VETO_RULE_ID)
            .expect("veto finding");
        assert_eq!(veto.evidence.len(), 6);
        assert!(rec.summary.starts_with("VETOED by replay"));
        assert!(
            rec.projected_savings
                .as_ref()
                .expect("savings")
                .replica_hours_per_week
                > 0.0
        );
    }

    #[test]
    fn a_harmless_proposal_gets_savings_and_no_veto() {
        let w = peaky();
        // Let the floor drop at night but keep the ceiling.
        let mut rec = rec_with(
            &w,
            ConfigChange {
                min_replicas: Some(3),
                max_replicas: Some(10),
                ..Default::default()
            },
        );
        let risk_before = rec.risk_level;
        assess(&mut rec, &w);
        assert!(
            rec.findings.iter().all(|f| f.rule_id != VETO_RULE_ID),
            "{:?}",
            rec.findings
        );
        assert_eq!(rec.risk_level, risk_before);
        let s = rec.projected_savings.expect("savings");
        assert!(s.percent > 0.0, "{s:?}");
        assert_eq!(s.method, SAVINGS_METHOD);
    }

    #[test]
    fn a_memory_only_autoscaler_gets_no_replay() {
        let mut w = peaky();
        w.config.cpu_target_percent = None;
        w.config.memory_target_percent = Some(70);
        assert!(replay(
            &w,
            &ConfigChange {
                min_replicas: Some(2),
                ..Default::default()
            }
        )
        .expect("no error")
        .is_none());
    }
}
