//! Benchmark rule: reads the whole workload (every series) and returns no
//! finding, so a call costs instantiation + marshalling and nothing else.
// Only a component makes sense: natively the crate is empty (a native
// cdylib cannot carry the component export symbols).
#![cfg(target_arch = "wasm32")]
use stepscale_rules_sdk::detector::exports::stepscale::rules::detection::Guest;
use stepscale_rules_sdk::types::{Finding, RuleInfo};

struct Rule;

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "read-all-noop".into(),
            version: "0.0.0".into(),
            description: "reads every input, computes nothing".into(),
        }
    }

    fn evaluate() -> Result<Vec<Finding>, String> {
        let w = stepscale_rules_sdk::input::WorkloadData::read();
        std::hint::black_box(&w);
        Ok(Vec::new())
    }
}

stepscale_rules_sdk::export_detector!(Rule);
