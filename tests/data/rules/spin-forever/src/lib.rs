//! Hostile rule: never returns from `evaluate`.
// Only a component makes sense: natively the crate is empty (a native
// cdylib cannot carry the component export symbols).
#![cfg(target_arch = "wasm32")]
use stepscale_rules_sdk::detector::exports::stepscale::rules::detection::Guest;
use stepscale_rules_sdk::types::{Finding, RuleInfo};

struct Rule;

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "spin-forever".into(),
            version: "0.0.0".into(),
            description: "loops forever".into(),
        }
    }

    fn evaluate() -> Result<Vec<Finding>, String> {
        let mut x: u64 = 0;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
}

stepscale_rules_sdk::export_detector!(Rule);
