//! The HPA/ScaledObject reading path (`host/src/cluster/autoscaler.rs`):
//! any JSON spec or status, as the API server could return it, is read or
//! refused without a panic, and an accepted config either validates or is
//! refused by the snapshot rules (never used unchecked).
#![no_main]

// The host's pure reading module, compiled here on its own: the fuzz build
// must not compile the whole operator (kube, wasmtime) a second time.
#[allow(dead_code, missing_docs)]
#[path = "../../host/src/cluster/autoscaler.rs"]
mod autoscaler;

use libfuzzer_sys::fuzz_target;
use stepscale_engine::snapshot::AutoscalerKind;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for kind in [
        AutoscalerKind::HorizontalPodAutoscaler,
        AutoscalerKind::ScaledObject,
    ] {
        let _ = autoscaler::scale_target(kind, &v);
        if let Ok(c) = autoscaler::config_of(kind, &v) {
            let _ = c.validate("spec", kind);
        }
    }
    let _ = autoscaler::status_sample(&v, 1_700_000_000);
    let _ = autoscaler::containers_of(&v);
    if let Some(q) = v.as_str() {
        let _ = autoscaler::parse_quantity(q);
    }
});
