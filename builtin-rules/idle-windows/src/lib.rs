//! Detector: recurring idle windows (placeholder).
use stepscale_rules_sdk::detector::exports::stepscale::rules::detection::Guest;
use stepscale_rules_sdk::types::{Finding, RuleInfo};

struct Rule;

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "idle-windows".into(),
            version: "0.1.0".into(),
            description: "x".into(),
        }
    }
    fn evaluate() -> Result<Vec<Finding>, String> {
        let w = stepscale_rules_sdk::input::WorkloadData::read();
        let _ = stepscale_rules_sdk::stats::mean(&w.cpu);
        Ok(vec![])
    }
}

stepscale_rules_sdk::export_detector!(Rule);
