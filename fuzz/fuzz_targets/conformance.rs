//! The conformance case reader (`stepscale hpa-conformance FILE`): any JSON
//! document is evaluated case by case without a panic; every case ends as
//! PASS, FAIL, SKIP or ERROR.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepscale_hpa_conformance::run_value;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(report) = run_value(&doc) {
        let _ = report.lines();
    }
});
