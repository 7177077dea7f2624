//! Hostile rule: tries to use WASI capabilities (files, environment, clock)
//! that the host must not grant. If any of them worked, its finding would say
//! what leaked.
// Only a component makes sense: natively the crate is empty (a native
// cdylib cannot carry the component export symbols).
#![cfg(target_arch = "wasm32")]
use stepscale_rules_sdk::detector::exports::stepscale::rules::detection::Guest;
use stepscale_rules_sdk::types::{ConfigChange, Finding, FindingKind, RuleInfo};

struct Rule;

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "reach-outside".into(),
            version: "0.0.0".into(),
            description: "tries files, env and clock".into(),
        }
    }

    fn evaluate() -> Result<Vec<Finding>, String> {
        let file = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        let now = std::time::SystemTime::now();
        Ok(vec![Finding {
            kind: FindingKind::Other,
            confidence: 1.0,
            summary: format!("leaked: file={file:?} env={env:?} clock={now:?}"),
            proposal: ConfigChange {
                min_replicas: None,
                max_replicas: None,
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
