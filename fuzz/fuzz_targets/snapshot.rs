//! The snapshot parser (`stepscale analyze FILE`): any bytes are parsed and
//! validated without a panic, and an accepted snapshot holds the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepscale_engine::Snapshot;
use stepscale_hpa::limits;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Snapshot::from_json(text) {
        Ok(s) => {
            assert!(s.workloads.len() <= limits::MAX_WORKLOADS);
            for w in &s.workloads {
                assert!(w.config.max_replicas <= limits::MAX_REPLICAS);
                assert!(w.config.min_replicas <= w.config.max_replicas);
                assert!(w.history.len() <= limits::MAX_SAMPLES);
                assert!(!w.display_name().chars().any(char::is_control));
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.contains('\u{1b}'), "raw escape in {message:?}");
        }
    }
});
