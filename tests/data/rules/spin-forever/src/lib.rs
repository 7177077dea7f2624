//! Hostile rule: never returns from `evaluate`.
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
