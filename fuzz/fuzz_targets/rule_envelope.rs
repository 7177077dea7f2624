//! The rule signature envelope (`stepscale rules verify`, and the operator's
//! admission of ConfigMap rules): any bytes as an envelope, for a fixed
//! component, are verified or refused without a panic — and nothing but a
//! real signature by the trusted key is admitted.
#![no_main]

// The host's pure modules, compiled here on their own: the fuzz build must
// not compile the whole operator (kube, wasmtime) a second time.
#[allow(dead_code, missing_docs)]
#[path = "../../host/src/license/mod.rs"]
mod license;
#[allow(dead_code, missing_docs)]
#[path = "../../host/src/rules/signing.rs"]
mod signing;

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&[3u8; 32]);
    let trusted = [key.verifying_key()];
    let _ = signing::read_payload(data);
    if let Ok(s) = signing::verify_envelope(COMPONENT, data, &trusted) {
        // Admitted: it must be for exactly these bytes, by the trusted key.
        assert_eq!(s.sha256, signing::digest(COMPONENT));
        assert_eq!(s.signer_key_id, signing::key_id(&key.verifying_key()));
    }
});
