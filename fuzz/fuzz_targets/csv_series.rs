//! The CSV series reader (`stepscale simulate --csv`): any text parses or is
//! refused without a panic, and resampling an accepted series stays within
//! the sample limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepscale_hpa::limits::MAX_SAMPLES;
use stepscale_hpa::series::parse_csv_series;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = parse_csv_series(text, std::path::Path::new("fuzz.csv")) {
        let (_, values) = s.regular(s.typical_step_s());
        assert!(values.len() <= MAX_SAMPLES);
    }
});
