//! Claims stepscale:rules@0.1.0 but with mismatched signatures.
// Only a component makes sense: natively the crate is empty (a native
// cdylib cannot carry the component export symbols).
#![cfg(target_arch = "wasm32")]
wit_bindgen::generate!({ world: "detector", path: "wit" });

use exports::stepscale::rules::detection::Guest;
use stepscale::rules::types::RuleInfo;

struct Rule;

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "wrong-signature".into(),
            version: "0.0.0".into(),
            description: "mismatched signatures".into(),
        }
    }

    fn evaluate() -> Result<Vec<String>, String> {
        let n = stepscale::rules::workload::cpu_utilization().len();
        Ok(vec![format!("{n} samples")])
    }
}

export!(Rule);
