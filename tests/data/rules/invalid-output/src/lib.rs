//! Hostile rule: returns a finding outside the documented bounds (a
//! confidence of 2 and a floor above its ceiling), which the host must drop
//! and report as this rule's failure.
// Only a component makes sense: natively the crate is empty (a native
// cdylib cannot carry the component export symbols).
#![cfg(target_arch = "wasm32")]
use stepscale_rules_sdk::detector::exports::stepscale::rules::detection::Guest;
use stepscale_rules_sdk::types::{ConfigChange, Finding, FindingKind, RuleInfo};

struct Rule;

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "invalid-output".into(),
            version: "0.0.0".into(),
            description: "returns invalid findings".into(),
        }
    }

    fn evaluate() -> Result<Vec<Finding>, String> {
        Ok(vec![Finding {
            kind: FindingKind::Other,
            confidence: 2.0,
            summary: "\u{1b}[2Jtakes over the terminal".into(),
            proposal: ConfigChange {
                min_replicas: Some(9),
                max_replicas: Some(3),
                cpu_target_percent: None,
                scale_down_stabilization_seconds: None,
                scale_up_stabilization_seconds: None,
                cooldown_period_seconds: None,
            },
            evidence: Vec::new(),
        }])
    }
}

stepscale_rules_sdk::export_detector!(Rule);
