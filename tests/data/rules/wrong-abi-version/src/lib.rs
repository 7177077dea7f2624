//! Built for stepscale:rules@0.2.0, which the host does not serve.
// Only a component makes sense: natively the crate is empty (a native
// cdylib cannot carry the component export symbols).
#![cfg(target_arch = "wasm32")]
wit_bindgen::generate!({ world: "detector", path: "wit" });

use exports::stepscale::rules::detection::Guest;
use stepscale::rules::types::{Finding, RuleInfo};

struct Rule;

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "wrong-abi-version".into(),
            version: "0.0.0".into(),
            description: "built for a future ABI".into(),
        }
    }

    fn evaluate() -> Result<Vec<Finding>, String> {
        let n = stepscale::rules::workload::cpu_utilization().len();
        Ok(vec![Finding {
            summary: format!("{n} samples"),
        }])
    }
}

export!(Rule);
