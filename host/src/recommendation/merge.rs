//! Merging the proposals of every finding for one workload into one
//! configuration diff, by a safety-first policy:
//!
//! | field | winner when proposals differ | why |
//! |---|---|---|
//! | minReplicas | the highest proposed floor | never lower a floor another rule wants raised (e.g. recurring-peaks) |
//! | maxReplicas | the highest proposed ceiling | a lower ceiling can only add saturation |
//! | CPU target | the lowest proposed target | a lower target keeps more headroom |
//! | scale-down stabilization | the longest | slower scale-down cannot cause saturation |
//! | scale-up stabilization | the shortest | faster scale-up cannot cause saturation |
//! | KEDA cooldown | the longest | as scale-down stabilization |
//!
//! A proposed value equal to the current one is dropped; the ceiling is
//! raised to the floor if the floor would pass it. Every disagreement is
//! recorded as a [`Decision`] so the user sees which proposal was overruled.

use serde::{Deserialize, Serialize};
use stepscale_engine::{ConfigChange, Finding};

use super::CurrentConfig;

/// A conflict the merge resolved, for the user to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The config field.
    pub field: String,
    /// What was kept and what was overruled, with the rule ids.
    pub note: String,
}

#[derive(Clone, Copy)]
enum Prefer {
    Highest,
    Lowest,
}

fn pick(
    field: &str,
    unit: &str,
    current: Option<u32>,
    proposals: &[(String, u32)],
    prefer: Prefer,
    decisions: &mut Vec<Decision>,
) -> Option<u32> {
    let chosen = match prefer {
        Prefer::Highest => proposals.iter().max_by_key(|(_, v)| *v),
        Prefer::Lowest => proposals.iter().min_by_key(|(_, v)| *v),
    }?;
    let overruled: Vec<String> = proposals
        .iter()
        .filter(|(_, v)| *v != chosen.1)
        .map(|(r, v)| format!("{r} ({v}{unit})"))
        .collect();
    if !overruled.is_empty() {
        let rule = match prefer {
            Prefer::Highest => "the highest",
            Prefer::Lowest => "the lowest",
        };
        decisions.push(Decision {
            field: field.to_string(),
            note: format!(
                "kept {}{unit} from {} ({rule} is the safe choice); overruled {}",
                chosen.1,
                chosen.0,
                overruled.join(", ")
            ),
        });
    }
    (Some(chosen.1) != current).then_some(chosen.1)
}

/// Merge the proposals of `findings` against the `current` config.
pub fn merge(current: &CurrentConfig, findings: &[Finding]) -> (ConfigChange, Vec<Decision>) {
    let collect = |get: fn(&ConfigChange) -> Option<u32>| -> Vec<(String, u32)> {
        findings
            .iter()
            .filter_map(|f| get(&f.proposal).map(|v| (f.rule_id.clone(), v)))
            .collect()
    };
    let mut d = Vec::new();
    let mut change = ConfigChange {
        min_replicas: pick(
            "minReplicas",
            "",
            Some(current.min_replicas),
            &collect(|c| c.min_replicas),
            Prefer::Highest,
            &mut d,
        ),
        max_replicas: pick(
            "maxReplicas",
            "",
            Some(current.max_replicas),
            &collect(|c| c.max_replicas),
            Prefer::Highest,
            &mut d,
        ),
        cpu_target_percent: pick(
            "cpuTargetPercent",
            " %",
            current.cpu_target_percent,
            &collect(|c| c.cpu_target_percent),
            Prefer::Lowest,
            &mut d,
        ),
        scale_down_stabilization_seconds: pick(
            "scaleDownStabilizationSeconds",
            " s",
            Some(current.scale_down_stabilization_seconds),
            &collect(|c| c.scale_down_stabilization_seconds),
            Prefer::Highest,
            &mut d,
        ),
        scale_up_stabilization_seconds: pick(
            "scaleUpStabilizationSeconds",
            " s",
            Some(current.scale_up_stabilization_seconds),
            &collect(|c| c.scale_up_stabilization_seconds),
            Prefer::Lowest,
            &mut d,
        ),
        cooldown_period_seconds: pick(
            "cooldownPeriodSeconds",
            " s",
            current.cooldown_period_seconds,
            &collect(|c| c.cooldown_period_seconds),
            Prefer::Highest,
            &mut d,
        ),
        // Rules cannot propose policies (the ABI has no field for them);
        // the replay search chooses them.
        scale_up_policy: None,
        scale_down_policy: None,
    };
    let floor = change.min_replicas.unwrap_or(current.min_replicas);
    let ceiling = change.max_replicas.unwrap_or(current.max_replicas);
    if floor > ceiling {
        change.max_replicas = Some(floor);
        d.push(Decision {
            field: "maxReplicas".into(),
            note: format!("raised to {floor} so it is not below the new minReplicas"),
        });
    }
    (change, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stepscale_engine::FindingKind;

    fn current() -> CurrentConfig {
        CurrentConfig {
            min_replicas: 4,
            max_replicas: 10,
            cpu_target_percent: Some(60),
            scale_down_stabilization_seconds: 300,
            scale_up_stabilization_seconds: 0,
            cooldown_period_seconds: None,
        }
    }

    fn proposing(rule: &str, proposal: ConfigChange) -> Finding {
        Finding {
            rule_id: rule.into(),
            rule_version: None,
            rule_source: None,
            kind: FindingKind::Other,
            confidence: 0.9,
            summary: String::new(),
            proposal,
            evidence: vec![],
        }
    }

    #[test]
    fn a_floor_that_one_rule_raises_is_never_lowered_by_another() {
        let f = [
            proposing(
                "idle-windows",
                ConfigChange {
                    min_replicas: Some(1),
                    ..Default::default()
                },
            ),
            proposing(
                "recurring-peaks",
                ConfigChange {
                    min_replicas: Some(6),
                    ..Default::default()
                },
            ),
            proposing(
                "over-provisioning",
                ConfigChange {
                    min_replicas: Some(2),
                    ..Default::default()
                },
            ),
        ];
        let (change, decisions) = merge(&current(), &f);
        assert_eq!(change.min_replicas, Some(6));
        assert_eq!(decisions.len(), 1);
        assert!(decisions[0].note.contains("recurring-peaks"));
        assert!(decisions[0].note.contains("idle-windows (1)"));
    }

    #[test]
    fn the_lowest_cpu_target_and_longest_scale_down_window_win() {
        let f = [
            proposing(
                "a",
                ConfigChange {
                    cpu_target_percent: Some(75),
                    scale_down_stabilization_seconds: Some(600),
                    ..Default::default()
                },
            ),
            proposing(
                "b",
                ConfigChange {
                    cpu_target_percent: Some(70),
                    scale_down_stabilization_seconds: Some(900),
                    ..Default::default()
                },
            ),
        ];
        let (change, _) = merge(&current(), &f);
        assert_eq!(change.cpu_target_percent, Some(70));
        assert_eq!(change.scale_down_stabilization_seconds, Some(900));
    }

    #[test]
    fn a_proposal_equal_to_the_current_value_is_no_change() {
        let f = [proposing(
            "a",
            ConfigChange {
                min_replicas: Some(4),
                ..Default::default()
            },
        )];
        let (change, _) = merge(&current(), &f);
        assert!(change.is_empty());
    }

    #[test]
    fn a_floor_above_the_ceiling_lifts_the_ceiling() {
        let f = [proposing(
            "a",
            ConfigChange {
                min_replicas: Some(12),
                ..Default::default()
            },
        )];
        let (change, _) = merge(&current(), &f);
        assert_eq!(change.min_replicas, Some(12));
        assert_eq!(change.max_replicas, Some(12));
    }
}
