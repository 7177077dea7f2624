//! Benchmark rule: reads nothing and returns no finding, so a call costs
//! store creation + instantiation only.
// Only a component makes sense: natively the crate is empty (a native
// cdylib cannot carry the component export symbols).
#![cfg(target_arch = "wasm32")]
use stepscale_rules_sdk::detector::exports::stepscale::rules::detection::Guest;
use stepscale_rules_sdk::types::{Finding, RuleInfo};

struct Rule;

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "instantiate-noop".into(),
            version: "0.0.0".into(),
            description: "reads nothing, computes nothing".into(),
        }
    }

    fn evaluate() -> Result<Vec<Finding>, String> {
        Ok(Vec::new())
    }
}

stepscale_rules_sdk::export_detector!(Rule);
