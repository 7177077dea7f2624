//! A detector built against `stepscale:rules@0.1.0` (wit/ is a frozen copy
//! of that release, before `workload.param` was added): it must keep loading
//! and running on every `0.1.x` host. It reports the number of CPU samples.
// Only a component makes sense: natively the crate is empty (a native
// cdylib cannot carry the component export symbols).
#![cfg(target_arch = "wasm32")]
wit_bindgen::generate!({ world: "detector", path: "wit" });

use exports::stepscale::rules::detection::Guest;
use stepscale::rules::types::{ConfigChange, Evidence, Finding, FindingKind, RuleInfo};

struct Rule;

impl Guest for Rule {
    fn info() -> RuleInfo {
        RuleInfo {
            id: "abi-zero-one-zero".into(),
            version: "0.1.0".into(),
            description: "built against stepscale:rules@0.1.0".into(),
        }
    }

    fn evaluate() -> Result<Vec<Finding>, String> {
        let n = stepscale::rules::workload::cpu_utilization().len();
        Ok(vec![Finding {
            kind: FindingKind::Other,
            confidence: 1.0,
            summary: format!("{n} CPU samples"),
            proposal: ConfigChange {
                min_replicas: None,
                max_replicas: None,
                cpu_target_percent: None,
                scale_down_stabilization_seconds: None,
                scale_up_stabilization_seconds: None,
                cooldown_period_seconds: None,
            },
            evidence: vec![Evidence {
                label: "samples".into(),
                value: n as f64,
                unit: "samples".into(),
            }],
        }])
    }
}

export!(Rule);
