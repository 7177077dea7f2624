//! The license parser (`stepscale license inspect`, the operator's startup
//! check): any bytes as a license file, and any bytes as a payload signed
//! with a test key (so the payload parser and the date arithmetic are
//! reached), verify or are refused without a panic.
#![no_main]

// The host's license module, compiled here on its own: the fuzz build must
// not compile the whole operator (kube, wasmtime) a second time.
#[allow(dead_code, missing_docs)]
#[path = "../../host/src/license/mod.rs"]
mod license;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public = BASE64.encode(key.verifying_key().as_bytes());
    let _ = license::LicenseState::evaluate(data, &public, 1_700_000_000);
    let signed = serde_json::json!({
        "format": "stepscale-license/v1",
        "payload": BASE64.encode(data),
        "signature": BASE64.encode(key.sign(data).to_bytes()),
    })
    .to_string();
    if let Ok(l) = license::verify(signed.as_bytes(), &public) {
        for now in [i64::MIN, 0, 1_700_000_000, i64::MAX] {
            let _ = l.state_at(now).to_string();
        }
    }
});
