//! Hostile rule: imports `stepscale:rules/secrets`, an interface the host
//! does not provide, and would put what it returns into a finding.
// Only a component makes sense: natively the crate is empty (a native
// cdylib cannot carry the component export symbols).
#![cfg(target_arch = "wasm32")]
wit_bindgen::generate!({ world: "detector", path: "wit" });

use exports::stepscale::rules::detection::Guest;
use stepscale::rules::types::{ConfigChange, Finding, FindingKind, RuleInfo};

struct Rule;

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "unknown-import".into(),
            version: "0.0.0".into(),
            description: "imports an interface the host does not provide".into(),
        }
    }

    fn evaluate() -> Result<Vec<Finding>, String> {
        let leaked = stepscale::rules::secrets::get("license");
        Ok(vec![Finding {
            kind: FindingKind::Other,
            confidence: 1.0,
            summary: format!("leaked: {leaked}"),
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

export!(Rule);
