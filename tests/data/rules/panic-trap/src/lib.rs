//! Hostile rule: panics in `evaluate` (after installing the SDK panic logger,
//! so the host can report the message).
// Only a component makes sense: natively the crate is empty (a native
// cdylib cannot carry the component export symbols).
#![cfg(target_arch = "wasm32")]
use stepscale_rules_sdk::detector::exports::stepscale::rules::detection::Guest;
use stepscale_rules_sdk::types::{Finding, RuleInfo};

struct Rule;

/// The message the containment test expects to see in the host's report.
pub const PANIC_MESSAGE: &str = "deliberate panic from the panic-trap test rule";

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "panic-trap".into(),
            version: "0.0.0".into(),
            description: "panics".into(),
        }
    }

    fn evaluate() -> Result<Vec<Finding>, String> {
        stepscale_rules_sdk::install_panic_logger();
        let n = stepscale_rules_sdk::workload::series().len;
        if std::hint::black_box(n) < u32::MAX {
            panic!("{PANIC_MESSAGE}");
        }
        Ok(Vec::new())
    }
}

stepscale_rules_sdk::export_detector!(Rule);
