//! `stepscale license inspect` as a user runs it, on license files signed in
//! the test with a key generated in the test (the product binary has no
//! `license sign`).

use std::path::PathBuf;
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};

/// A fresh key for this run: the seed mixes the process id and the clock.
fn generate_key() -> SigningKey {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut seed = [0u8; 32];
    let mix = nanos ^ (u128::from(std::process::id()) << 64);
    for (i, b) in seed.iter_mut().enumerate() {
        *b = (mix >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
    }
    SigningKey::from_bytes(&seed)
}

fn sign(key: &SigningKey, payload: &str) -> String {
    serde_json::json!({
        "format": "stepscale-license/v1",
        "payload": BASE64.encode(payload),
        "signature": BASE64.encode(key.sign(payload.as_bytes()).to_bytes()),
    })
    .to_string()
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stepscale-license-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("license file");
    p
}

fn inspect(file: &PathBuf, public_key: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(["license", "inspect"])
        .arg(file)
        .args(["--public-key", public_key])
        .output()
        .expect("the stepscale binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const VALID: &str = r#"{"licensee":"Acme Corp","issued":"2020-01-01","expires":"2999-01-01","graceDays":14,"features":["apply"]}"#;

#[test]
fn a_valid_license_is_licensed_and_shows_its_terms() {
    let key = generate_key();
    let pk = BASE64.encode(key.verifying_key().as_bytes());
    let file = write("valid.json", &sign(&key, VALID));
    let o = inspect(&file, &pk);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("state:     licensed"), "{out}");
    assert!(out.contains("licensee:  Acme Corp"), "{out}");
    assert!(out.contains("expires:   2999-01-01T00:00:00Z"), "{out}");
    assert!(out.contains("apply:     allowed"), "{out}");
    assert!(!out.contains(&pk), "the key is echoed: {out}");
}

#[test]
fn an_expired_or_tampered_license_exits_1_and_shows_nothing_unverified() {
    let key = generate_key();
    let pk = BASE64.encode(key.verifying_key().as_bytes());
    let expired = VALID.replace("2999-01-01", "2021-01-01");
    let o = inspect(&write("expired.json", &sign(&key, &expired)), &pk);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("unlicensed (license expired on 2021-01-01 and its 14-day grace period ended on 2021-01-15)"),
        "{out}"
    );
    assert!(out.contains("apply:     blocked (analysis only)"), "{out}");

    let mut doc: serde_json::Value =
        serde_json::from_str(&sign(&key, VALID)).expect("license JSON");
    doc["payload"] = BASE64
        .encode(VALID.replace("Acme Corp", "Mallory Inc"))
        .into();
    let o = inspect(&write("tampered.json", &doc.to_string()), &pk);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("signature does not verify"), "{out}");
    assert!(
        !out.contains("Mallory"),
        "unverified contents printed: {out}"
    );
}

#[test]
fn a_bad_public_key_or_missing_file_is_a_usage_error() {
    let key = generate_key();
    let file = write("k.json", &sign(&key, VALID));
    let o = inspect(&file, "not-a-key");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        out.is_empty(),
        "a usage error prints nothing on stdout: {out}"
    );
    assert!(
        err.contains("license.publicKey is not a valid ed25519 public key"),
        "{err}"
    );
    let pk = BASE64.encode(key.verifying_key().as_bytes());
    let o = inspect(&PathBuf::from("/nonexistent/license.json"), &pk);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("cannot read the license file"), "{err}");
}

#[test]
fn an_endless_license_file_is_refused_at_its_size_limit() {
    let key = generate_key();
    let pk = BASE64.encode(key.verifying_key().as_bytes());
    let o = inspect(&PathBuf::from("/dev/zero"), &pk);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("limit of 65536 bytes"), "{err}");
}

#[test]
fn a_license_to_the_last_day_of_9999_and_one_with_a_byte_order_mark_verify() {
    let key = generate_key();
    let pk = BASE64.encode(key.verifying_key().as_bytes());
    let forever = VALID.replace("2999-01-01", "9999-12-31");
    let file = write("forever.json", &format!("\u{feff}{}", sign(&key, &forever)));
    let o = inspect(&file, &pk);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("state:     licensed"), "{out}");
    assert!(out.contains("expires:   9999-12-31"), "{out}");
}
