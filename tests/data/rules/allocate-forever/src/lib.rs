//! Hostile rule: allocates without bound in `evaluate`.
use stepscale_rules_sdk::detector::exports::stepscale::rules::detection::Guest;
use stepscale_rules_sdk::types::{Finding, RuleInfo};

struct Rule;

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "allocate-forever".into(),
            version: "0.0.0".into(),
            description: "allocates without bound".into(),
        }
    }

    fn evaluate() -> Result<Vec<Finding>, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

stepscale_rules_sdk::export_detector!(Rule);
