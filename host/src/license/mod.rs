//! Offline license verification: a signed license file verified against
//! `license.publicKey` (ed25519, [`VerifyingKey::verify_strict`]). No
//! phone-home, ever: nothing here opens a connection. Without a valid or
//! in-grace license the operator runs analysis-only and marks approved
//! recommendations blocked.
//!
//! This module owns the file format, the signature check and the
//! expiry/grace arithmetic. It never logs: callers log the [`LicenseState`]
//! (never the file's contents or the key).
//!
//! # File format (`stepscale-license/v1`)
//! A JSON document with the payload and a detached signature over the
//! payload's exact bytes, both base64 (standard alphabet, padded):
//!
//! ```json
//! {
//!   "format": "stepscale-license/v1",
//!   "payload": "eyJsaWNlbnNlZSI6IkFjbWUiLC4uLn0=",
//!   "signature": "<base64 of the 64-byte ed25519 signature of the decoded payload bytes>"
//! }
//! ```
//!
//! The decoded payload is JSON:
//!
//! ```json
//! {
//!   "licensee": "Acme Corp",
//!   "issued": "2026-01-01",
//!   "expires": "2027-01-01",
//!   "graceDays": 14,
//!   "features": ["apply"]
//! }
//! ```
//!
//! - `licensee`: who the license is for (shown by `stepscale license inspect`);
//! - `issued`, `expires`: a date (`YYYY-MM-DD`, meaning 00:00 UTC that day) or
//!   an RFC 3339 date-time. The license is valid from `issued` (one day of
//!   clock skew tolerated) until `expires`;
//! - `graceDays`: days after `expires` during which apply still works, with
//!   warnings (default 0);
//! - `features`: what the license enables. `apply` (apply, verify and roll
//!   back approved recommendations) is the feature this operator checks;
//!   unknown features are kept and ignored.
//!
//! The public key (`license.publicKey`) is the base64 of the raw 32-byte
//! ed25519 public key.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;

/// The `format` value of a license file.
pub const LICENSE_FORMAT: &str = "stepscale-license/v1";
/// The feature that allows applying recommendations.
pub const FEATURE_APPLY: &str = "apply";
/// Environment variable: path of the license file (mounted from
/// `license.secretName`).
pub const ENV_LICENSE_FILE: &str = "STEPSCALE_LICENSE_FILE";
/// Environment variable: the base64 ed25519 public key (`license.publicKey`).
pub const ENV_LICENSE_PUBLIC_KEY: &str = "STEPSCALE_LICENSE_PUBLIC_KEY";

/// Clock skew tolerated before `issued`, seconds.
const ISSUED_SKEW_SECONDS: i64 = 86_400;

/// The license state the operator acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseState {
    /// Valid and not expired: apply is allowed.
    Licensed,
    /// Expired but within the grace period: apply is allowed, with warnings.
    Grace {
        /// Days of grace left (rounded up: 1 on the last day).
        days_left: u32,
    },
    /// No valid license: analysis only; approved recommendations are blocked.
    Unlicensed {
        /// Why, for the recommendation's status detail.
        reason: String,
    },
}

impl LicenseState {
    /// True when the operator may apply approved recommendations.
    pub fn allows_apply(&self) -> bool {
        !matches!(self, LicenseState::Unlicensed { .. })
    }

    /// Short label for logs and metrics: `licensed`, `grace`, `unlicensed`.
    pub fn label(&self) -> &'static str {
        match self {
            LicenseState::Licensed => "licensed",
            LicenseState::Grace { .. } => "grace",
            LicenseState::Unlicensed { .. } => "unlicensed",
        }
    }

    /// The state of the license in `file` (its bytes) checked against
    /// `public_key` (base64) at `now_unix_seconds`. Any problem becomes
    /// [`LicenseState::Unlicensed`] with the reason.
    pub fn evaluate(file: &[u8], public_key: &str, now_unix_seconds: i64) -> LicenseState {
        match verify(file, public_key) {
            Ok(license) => license.state_at(now_unix_seconds),
            Err(e) => LicenseState::Unlicensed {
                reason: e.to_string(),
            },
        }
    }

    /// The operator's startup check: read the license file at `path` (from
    /// [`ENV_LICENSE_FILE`]) and verify it against `public_key` (from
    /// [`ENV_LICENSE_PUBLIC_KEY`]). A missing path or key is
    /// [`LicenseState::Unlicensed`] saying which value to set.
    pub fn load(
        path: Option<&Path>,
        public_key: Option<&str>,
        now_unix_seconds: i64,
    ) -> LicenseState {
        let Some(path) = path else {
            return LicenseState::Unlicensed {
                reason: "no license file configured (set license.secretName)".into(),
            };
        };
        let Some(key) = public_key.filter(|k| !k.trim().is_empty()) else {
            return LicenseState::Unlicensed {
                reason: "no license public key configured (set license.publicKey)".into(),
            };
        };
        match stepscale_hpa::limits::read_text_file(path, stepscale_hpa::limits::MAX_LICENSE_BYTES)
        {
            Ok(text) => LicenseState::evaluate(text.as_bytes(), key, now_unix_seconds),
            Err(e) => LicenseState::Unlicensed {
                reason: format!("license file {}: cannot read: {e}", path.display()),
            },
        }
    }
}

impl std::fmt::Display for LicenseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LicenseState::Licensed => f.write_str("licensed"),
            LicenseState::Grace { days_left } => {
                write!(f, "grace ({days_left} day(s) left; renew the license)")
            }
            LicenseState::Unlicensed { reason } => write!(f, "unlicensed ({reason})"),
        }
    }
}

/// Why a license file was not accepted. Messages name the problem, never
/// the file's contents or the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    /// `license.publicKey` is not a usable ed25519 public key.
    #[error("license.publicKey is not a valid ed25519 public key: {0}")]
    PublicKey(String),
    /// The file is not a license file of the documented format.
    #[error("license file is malformed: {0}")]
    Malformed(String),
    /// The signature does not match the payload under this key: the file
    /// was altered, or it was signed with another key.
    #[error("license signature does not verify against license.publicKey (the file was altered or signed for another key)")]
    BadSignature,
    /// The signed payload is not valid license JSON.
    #[error("license payload is invalid: {0}")]
    Payload(String),
}

/// A verified license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// Who the license is for.
    pub licensee: String,
    /// Valid from (unix seconds, UTC).
    pub issued_unix_seconds: i64,
    /// Valid until (unix seconds, UTC).
    pub expires_unix_seconds: i64,
    /// Days of grace after expiry.
    pub grace_days: u32,
    /// Enabled features (e.g. `apply`).
    pub features: Vec<String>,
}

impl License {
    /// The state of this license at `now_unix_seconds`:
    /// - before `issued` (beyond one day of clock skew): unlicensed;
    /// - without the `apply` feature: unlicensed;
    /// - before `expires`: licensed;
    /// - before `expires` + `graceDays`: grace, with the days left rounded up;
    /// - after: unlicensed, naming both dates.
    pub fn state_at(&self, now_unix_seconds: i64) -> LicenseState {
        if now_unix_seconds.saturating_add(ISSUED_SKEW_SECONDS) < self.issued_unix_seconds {
            return LicenseState::Unlicensed {
                reason: format!(
                    "license is not valid before {}; check the clock",
                    date(self.issued_unix_seconds)
                ),
            };
        }
        if !self.features.iter().any(|f| f == FEATURE_APPLY) {
            return LicenseState::Unlicensed {
                reason: format!("license does not include the {FEATURE_APPLY:?} feature"),
            };
        }
        if now_unix_seconds < self.expires_unix_seconds {
            return LicenseState::Licensed;
        }
        let grace_end = self
            .expires_unix_seconds
            .saturating_add(i64::from(self.grace_days) * 86_400);
        if now_unix_seconds < grace_end {
            let left = (grace_end.saturating_sub(now_unix_seconds)).saturating_add(86_399) / 86_400;
            return LicenseState::Grace {
                days_left: u32::try_from(left).unwrap_or(u32::MAX),
            };
        }
        LicenseState::Unlicensed {
            reason: if self.grace_days == 0 {
                format!("license expired on {}", date(self.expires_unix_seconds))
            } else {
                format!(
                    "license expired on {} and its {}-day grace period ended on {}",
                    date(self.expires_unix_seconds),
                    self.grace_days,
                    date(grace_end)
                )
            },
        }
    }
}

/// `YYYY-MM-DD` (UTC) of a time, counted in whole days from the epoch (so
/// that dates up to 9999-12-31 print), or the raw number if out of range.
pub fn date(unix_seconds: i64) -> String {
    jiff::Span::new()
        .try_days(unix_seconds.div_euclid(86_400))
        .and_then(|span| jiff::civil::date(1970, 1, 1).checked_add(span))
        .map(|d| d.to_string())
        .unwrap_or_else(|_| unix_seconds.to_string())
}

/// The outer document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseFile {
    format: String,
    payload: String,
    signature: String,
}

/// The signed payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Payload {
    licensee: String,
    issued: String,
    expires: String,
    #[serde(default)]
    grace_days: u32,
    #[serde(default)]
    features: Vec<String>,
}

/// Parse `license.publicKey`: base64 of the raw 32-byte key.
///
/// # Errors
/// [`LicenseError::PublicKey`] when it is not base64, not 32 bytes, or not a
/// point on the curve.
pub fn parse_public_key(public_key: &str) -> Result<VerifyingKey, LicenseError> {
    let bytes = BASE64
        .decode(public_key.trim())
        .map_err(|_| LicenseError::PublicKey("not base64".into()))?;
    let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        LicenseError::PublicKey(format!(
            "{} bytes after base64 decoding, expected 32",
            bytes.len()
        ))
    })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| LicenseError::PublicKey("not a point on the ed25519 curve".into()))
}

/// A serde error without the values it may quote (they come from the
/// license): its category and position, plus the message when it only names
/// fields.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("missing field") || msg.starts_with("unknown field") {
        return msg;
    }
    let kind = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "a field has the wrong type",
        serde_json::error::Category::Eof => "unexpected end of JSON",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

/// Parse a date (`YYYY-MM-DD`, 00:00 UTC) or RFC 3339 date-time, any of
/// years 0001..=9999 (a date is counted in whole days from the epoch, so
/// 9999-12-31 works although it is past the latest instant `jiff` can zone).
fn parse_time(field: &str, s: &str) -> Result<i64, LicenseError> {
    let bad = || {
        LicenseError::Payload(format!(
            "{field} is not a date (YYYY-MM-DD) or an RFC 3339 date-time"
        ))
    };
    if s.len() == 10 {
        let d: jiff::civil::Date = s.parse().map_err(|_| bad())?;
        let epoch = jiff::civil::date(1970, 1, 1);
        let days = epoch
            .until((jiff::Unit::Day, d))
            .map_err(|_| bad())?
            .get_days();
        return Ok(i64::from(days) * 86_400);
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| bad())
}

/// Verify a license file (its bytes) against `public_key` (base64) and
/// return its payload. Expiry is not checked here: see
/// [`License::state_at`].
///
/// # Errors
/// - [`LicenseError::PublicKey`]: the key is not base64 of a 32-byte ed25519
///   key;
/// - [`LicenseError::Malformed`]: not the JSON document of the format, an
///   unknown `format`, payload or signature not base64, a signature that is
///   not 64 bytes;
/// - [`LicenseError::BadSignature`]: the signature does not verify (strict
///   verification: altered payload, another key, or a malleable signature);
/// - [`LicenseError::Payload`]: signed, but not valid license JSON (bad date,
///   `expires` before `issued`, empty licensee).
///
/// # Examples
/// ```
/// use stepscale_operator::license::{verify, LicenseError};
/// let err = verify(b"not json", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap_err();
/// assert!(matches!(err, LicenseError::Malformed(_)));
/// ```
pub fn verify(file: &[u8], public_key: &str) -> Result<License, LicenseError> {
    let key = parse_public_key(public_key)?;
    let doc: LicenseFile = serde_json::from_slice(file)
        .map_err(|e| LicenseError::Malformed(describe_json_error(&e)))?;
    if doc.format != LICENSE_FORMAT {
        return Err(LicenseError::Malformed(format!(
            "format is not {LICENSE_FORMAT:?}"
        )));
    }
    let payload = BASE64
        .decode(doc.payload.trim())
        .map_err(|_| LicenseError::Malformed("payload is not base64".into()))?;
    let sig = BASE64
        .decode(doc.signature.trim())
        .map_err(|_| LicenseError::Malformed("signature is not base64".into()))?;
    let sig = Signature::from_slice(&sig).map_err(|_| {
        LicenseError::Malformed(format!("signature is {} bytes, expected 64", sig.len()))
    })?;
    key.verify_strict(&payload, &sig)
        .map_err(|_| LicenseError::BadSignature)?;
    let p: Payload = serde_json::from_slice(&payload)
        .map_err(|e| LicenseError::Payload(describe_json_error(&e)))?;
    if p.licensee.trim().is_empty() {
        return Err(LicenseError::Payload("licensee is empty".into()));
    }
    let issued = parse_time("issued", &p.issued)?;
    let expires = parse_time("expires", &p.expires)?;
    if expires <= issued {
        return Err(LicenseError::Payload("expires is not after issued".into()));
    }
    Ok(License {
        licensee: p.licensee,
        issued_unix_seconds: issued,
        expires_unix_seconds: expires,
        grace_days: p.grace_days,
        features: p.features,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    /// A key made in the test; vendors sign with their own offline tooling.
    fn signing_key(seed: u8) -> SigningKey {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = seed.wrapping_mul(31).wrapping_add(i as u8).wrapping_mul(7);
        }
        SigningKey::from_bytes(&bytes)
    }

    fn public_key(k: &SigningKey) -> String {
        BASE64.encode(k.verifying_key().as_bytes())
    }

    fn sign(k: &SigningKey, payload: &str) -> Vec<u8> {
        let sig = k.sign(payload.as_bytes());
        serde_json::json!({
            "format": LICENSE_FORMAT,
            "payload": BASE64.encode(payload),
            "signature": BASE64.encode(sig.to_bytes()),
        })
        .to_string()
        .into_bytes()
    }

    const PAYLOAD: &str = r#"{"licensee":"Acme Corp","issued":"2026-01-01","expires":"2027-01-01","graceDays":14,"features":["apply"]}"#;
    /// 2026-06-01T00:00:00Z
    const JUNE_2026: i64 = 1_780_272_000;
    /// 2027-01-01T00:00:00Z
    const EXPIRY: i64 = 1_798_761_600;

    #[test]
    fn clocks_and_grace_at_the_ends_of_time_never_overflow() {
        // Found by the `license` fuzz target: `now + skew` overflowed.
        let l = License {
            licensee: "x".into(),
            issued_unix_seconds: 0,
            expires_unix_seconds: 253_402_214_400, // 9999-12-31
            grace_days: u32::MAX,
            features: vec![FEATURE_APPLY.into()],
        };
        assert_eq!(l.state_at(i64::MIN).label(), "unlicensed");
        assert_eq!(l.state_at(0), LicenseState::Licensed);
        assert!(matches!(
            l.state_at(i64::MAX),
            LicenseState::Grace { .. } | LicenseState::Unlicensed { .. }
        ));
        assert!(matches!(
            l.state_at(253_402_214_400),
            LicenseState::Grace { days_left } if days_left > 0
        ));
    }

    #[test]
    fn a_valid_license_is_licensed() {
        let k = signing_key(1);
        let file = sign(&k, PAYLOAD);
        let l = verify(&file, &public_key(&k)).expect("verifies");
        assert_eq!(l.licensee, "Acme Corp");
        assert_eq!(l.expires_unix_seconds, EXPIRY);
        assert_eq!(l.grace_days, 14);
        let s = LicenseState::evaluate(&file, &public_key(&k), JUNE_2026);
        assert_eq!(s, LicenseState::Licensed);
        assert!(s.allows_apply());
    }

    #[test]
    fn expired_within_grace_is_grace_with_days_left() {
        let k = signing_key(2);
        let file = sign(&k, PAYLOAD);
        // One second after expiry: 14 days of grace left (rounded up).
        let s = LicenseState::evaluate(&file, &public_key(&k), EXPIRY + 1);
        assert_eq!(s, LicenseState::Grace { days_left: 14 });
        assert!(s.allows_apply());
        // Ten and a half days after expiry: 3.5 days left, rounded up to 4.
        let s = LicenseState::evaluate(&file, &public_key(&k), EXPIRY + 10 * 86_400 + 43_200);
        assert_eq!(s, LicenseState::Grace { days_left: 4 });
    }

    #[test]
    fn expired_past_grace_is_unlicensed_naming_the_dates() {
        let k = signing_key(3);
        let file = sign(&k, PAYLOAD);
        let s = LicenseState::evaluate(&file, &public_key(&k), EXPIRY + 14 * 86_400);
        assert_eq!(
            s,
            LicenseState::Unlicensed {
                reason:
                    "license expired on 2027-01-01 and its 14-day grace period ended on 2027-01-15"
                        .into()
            }
        );
        assert!(!s.allows_apply());
        let no_grace = PAYLOAD.replace("\"graceDays\":14,", "");
        let file = sign(&k, &no_grace);
        let s = LicenseState::evaluate(&file, &public_key(&k), EXPIRY);
        assert_eq!(
            s,
            LicenseState::Unlicensed {
                reason: "license expired on 2027-01-01".into()
            }
        );
    }

    #[test]
    fn a_tampered_payload_fails_the_signature() {
        let k = signing_key(4);
        let file = sign(&k, PAYLOAD);
        let mut doc: serde_json::Value = serde_json::from_slice(&file).expect("json");
        let longer = PAYLOAD.replace("2027-01-01", "2099-01-01");
        doc["payload"] = BASE64.encode(longer).into();
        let tampered = doc.to_string();
        let e = verify(tampered.as_bytes(), &public_key(&k)).expect_err("tampered");
        assert_eq!(e, LicenseError::BadSignature);
        let s = LicenseState::evaluate(tampered.as_bytes(), &public_key(&k), JUNE_2026);
        let LicenseState::Unlicensed { reason } = s else {
            panic!("tampered license accepted: {s:?}")
        };
        assert!(reason.contains("does not verify"), "{reason}");
        assert!(
            !reason.contains("Acme"),
            "the reason leaks the payload: {reason}"
        );
    }

    #[test]
    fn a_license_signed_with_another_key_fails() {
        let vendor = signing_key(5);
        let other = signing_key(6);
        let file = sign(&other, PAYLOAD);
        assert_eq!(
            verify(&file, &public_key(&vendor)),
            Err(LicenseError::BadSignature)
        );
    }

    #[test]
    fn malformed_files_and_keys_have_clear_reasons() {
        let k = signing_key(7);
        let pk = public_key(&k);
        let good: serde_json::Value = serde_json::from_slice(&sign(&k, PAYLOAD)).expect("json");
        let with = |field: &str, v: serde_json::Value| {
            let mut d = good.clone();
            d[field] = v;
            d.to_string()
        };
        let cases: Vec<(String, &str)> = vec![
            (
                "Acme Corp license".into(),
                "not valid JSON at line 1 column 1",
            ),
            (
                "{\"format\":\"stepscale-license/v1\"}".into(),
                "missing field `payload`",
            ),
            (
                with("format", "v0".into()),
                "format is not \"stepscale-license/v1\"",
            ),
            (with("payload", "%%%".into()), "payload is not base64"),
            (with("signature", "%%%".into()), "signature is not base64"),
            (
                with("signature", BASE64.encode([1u8; 10]).into()),
                "signature is 10 bytes, expected 64",
            ),
        ];
        for (file, want) in cases {
            let e = verify(file.as_bytes(), &pk).expect_err("malformed");
            assert!(matches!(e, LicenseError::Malformed(_)), "{e:?}");
            assert!(e.to_string().contains(want), "{e} lacks {want}");
        }
        // Signed, but the payload is not a license.
        for (payload, want) in [
            (r#"{"licensee":"Acme"}"#, "missing field `issued`"),
            (
                r#"{"licensee":"Acme","issued":"2026-01-01","expires":"soon"}"#,
                "expires is not a date",
            ),
            (
                r#"{"licensee":"Acme","issued":"2026-01-01","expires":"2025-01-01"}"#,
                "expires is not after issued",
            ),
            (
                r#"{"licensee":"Acme Secret Corp","issued":"2026-01-01","expires":"2027-01-01","graceDays":"x"}"#,
                "wrong type",
            ),
        ] {
            let e = verify(&sign(&k, payload), &pk).expect_err("bad payload");
            assert!(matches!(e, LicenseError::Payload(_)), "{e:?}");
            assert!(e.to_string().contains(want), "{e} lacks {want}");
            assert!(!e.to_string().contains("Secret"), "leaks contents: {e}");
        }
        for (key, want) in [
            ("!!", "not base64"),
            ("AAAA", "3 bytes after base64 decoding, expected 32"),
        ] {
            let e = verify(&sign(&k, PAYLOAD), key).expect_err("bad key");
            assert!(e.to_string().starts_with("license.publicKey"), "{e}");
            assert!(e.to_string().contains(want), "{e} lacks {want}");
        }
    }

    #[test]
    fn the_apply_feature_and_the_issue_date_are_enforced() {
        let k = signing_key(8);
        let no_apply = PAYLOAD.replace("[\"apply\"]", "[\"predictive\"]");
        let s = LicenseState::evaluate(&sign(&k, &no_apply), &public_key(&k), JUNE_2026);
        assert_eq!(
            s,
            LicenseState::Unlicensed {
                reason: "license does not include the \"apply\" feature".into()
            }
        );
        let s = LicenseState::evaluate(&sign(&k, PAYLOAD), &public_key(&k), 1_700_000_000);
        assert!(
            matches!(&s, LicenseState::Unlicensed { reason } if reason.contains("not valid before 2026-01-01")),
            "{s:?}"
        );
        let rfc = PAYLOAD.replace("\"2027-01-01\"", "\"2027-01-01T12:00:00+02:00\"");
        let l = verify(&sign(&k, &rfc), &public_key(&k)).expect("verifies");
        assert_eq!(l.expires_unix_seconds, EXPIRY + 10 * 3600);
    }

    #[test]
    fn load_names_the_missing_setting() {
        let s = LicenseState::load(None, Some("k"), 0);
        assert!(
            matches!(&s, LicenseState::Unlicensed { reason } if reason.contains("license.secretName"))
        );
        let s = LicenseState::load(Some(Path::new("/nonexistent/license")), None, 0);
        assert!(
            matches!(&s, LicenseState::Unlicensed { reason } if reason.contains("license.publicKey"))
        );
        let s = LicenseState::load(Some(Path::new("/nonexistent/license")), Some("k"), 0);
        assert!(
            matches!(&s, LicenseState::Unlicensed { reason } if reason.contains("cannot read"))
        );
    }
}
