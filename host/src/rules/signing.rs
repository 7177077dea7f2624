//! Signing rule components with ed25519 and verifying them.
//!
//! # Keys
//! `stepscale rules keygen --out DIR` writes two files:
//! - `rule-signing.key`: the private key, base64 of its 32-byte seed, mode
//!   0600;
//! - `rule-signing.pub`: the public key, base64 of its 32 bytes (the same
//!   form as `license.publicKey`).
//!
//! A key's id is the first 16 hex digits of the SHA-256 of its public key.
//!
//! # Envelope (`RULE.wasm.sig`, JSON)
//! ```json
//! {"format": "stepscale-rule-signature/v1",
//!  "payload": "<base64 of the payload JSON>",
//!  "signature": "<base64 of the ed25519 signature over the payload bytes>"}
//! ```
//! The payload names what was signed: `ruleId`, `version` and `kind` (read
//! from the component's own `info()`), `abiVersion`, `sha256` and `size` of
//! the component, `signerKeyId`, `signedAt` (RFC 3339). Swapping bytes
//! changes the digest; renaming the rule or changing its version changes the
//! component, hence its digest and its metadata.
//!
//! # Verification order
//! [`verify_envelope`] checks, stopping at the first failure: the envelope
//! parses; the signer is a trusted key; the signature; the size; the digest.
//! Only then may the component be compiled, and [`check_metadata`] compares
//! what the component says about itself with the payload.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `format` of every envelope.
pub const ENVELOPE_FORMAT: &str = "stepscale-rule-signature/v1";
/// File name of the private key written by [`keygen`].
pub const PRIVATE_KEY_FILE: &str = "rule-signing.key";
/// File name of the public key written by [`keygen`].
pub const PUBLIC_KEY_FILE: &str = "rule-signing.pub";
/// Largest component accepted, bytes: a ConfigMap holds about 1 MiB in all,
/// and the component shares it with its envelope (base64 in `binaryData`
/// is counted by the API server before encoding, so ~1 MiB of bytes).
pub const MAX_COMPONENT_BYTES: usize = 1_000_000;
/// Largest envelope accepted, bytes.
pub const MAX_ENVELOPE_BYTES: usize = 16 << 10;

/// Why a signature or key was refused. Each message says what to do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SigningError {
    /// The envelope is not the JSON document of the format.
    #[error(
        "the signature envelope is malformed: {0}; re-sign the rule with `stepscale rules sign`"
    )]
    Malformed(String),
    /// The signer is not among the trusted keys.
    #[error("signed by key {key_id}, which is not a trusted key; add its public key to the trusted keys or re-sign with a trusted key")]
    UntrustedSigner {
        /// The signer's key id.
        key_id: String,
    },
    /// The signature does not verify.
    #[error("the signature does not verify: the envelope was altered or signed with another key; re-sign the rule")]
    BadSignature,
    /// The component is larger than a ConfigMap can carry.
    #[error("the component is {size} bytes, above the limit of {limit}; build it in release mode with opt-level \"s\" and strip it")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The component's bytes are not the ones signed.
    #[error("the component's SHA-256 is {actual}, but the signature is for {signed}: the bytes were changed after signing; re-sign the rule you mean to load")]
    DigestMismatch {
        /// Digest of the bytes given.
        actual: String,
        /// Digest in the payload.
        signed: String,
    },
    /// The component describes itself differently from the payload.
    #[error(
        "the component says {field} is {actual:?}, the signature says {signed:?}; re-sign the rule"
    )]
    MetadataMismatch {
        /// `ruleId`, `version`, `kind` or `abiVersion`.
        field: &'static str,
        /// From the component.
        actual: String,
        /// From the payload.
        signed: String,
    },
    /// A key file is unusable.
    #[error("{0}")]
    Key(String),
}

impl SigningError {
    /// A short, low-cardinality reason (metrics, Events).
    pub fn reason(&self) -> &'static str {
        match self {
            SigningError::Malformed(_) => "malformed-envelope",
            SigningError::UntrustedSigner { .. } => "untrusted-signer",
            SigningError::BadSignature => "bad-signature",
            SigningError::TooLarge { .. } => "too-large",
            SigningError::DigestMismatch { .. } => "digest-mismatch",
            SigningError::MetadataMismatch { .. } => "metadata-mismatch",
            SigningError::Key(_) => "bad-key",
        }
    }
}

/// What a signature says about a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedRule {
    /// The rule's id, from its `info()`.
    pub rule_id: String,
    /// The rule's version, from its `info()`.
    pub version: String,
    /// `detector` or `forecaster`.
    pub kind: String,
    /// ABI version the component was built for.
    pub abi_version: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Size of the component, bytes.
    pub size: usize,
    /// Id of the signing key.
    pub signer_key_id: String,
    /// When it was signed (RFC 3339, UTC).
    pub signed_at: String,
}

impl SignedRule {
    /// What a component says about itself, before [`sign`] fills in its
    /// digest, size, signer and time.
    pub fn describing(rule_id: &str, version: &str, kind: &str, abi_version: &str) -> Self {
        SignedRule {
            rule_id: rule_id.into(),
            version: version.into(),
            kind: kind.into(),
            abi_version: abi_version.into(),
            sha256: String::new(),
            size: 0,
            signer_key_id: String::new(),
            signed_at: String::new(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: String,
    payload: String,
    signature: String,
}

/// The id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))[..16].to_string()
}

/// SHA-256 of `bytes`, hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Generate a key pair into `dir` (created if needed). Returns the paths of
/// the private and the public key.
///
/// # Errors
/// A key file already exists (never overwritten), or a write fails.
pub fn keygen(dir: &Path) -> Result<(PathBuf, PathBuf), SigningError> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        SigningError::Key(format!("{}: cannot {what}: {e}", p.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io("create the directory", dir, e))?;
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    for p in [&private, &public] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(SigningError::Key(format!(
                "{} already exists; keys are never overwritten (choose another --out, or move it away)",
                p.display()
            )));
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| SigningError::Key(format!("no randomness: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    write_new(&private, BASE64.encode(seed) + "\n", 0o600)
        .map_err(|e| io("write the private key", &private, e))?;
    write_new(
        &public,
        BASE64.encode(key.verifying_key().as_bytes()) + "\n",
        0o644,
    )
    .map_err(|e| io("write the public key", &public, e))?;
    Ok((private, public))
}

fn write_new(path: &Path, text: String, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)?.write_all(text.as_bytes())
}

/// Read a private key file written by [`keygen`].
///
/// # Errors
/// Unreadable, readable by others (unix), or not base64 of 32 bytes.
pub fn read_private_key(path: &Path) -> Result<SigningKey, SigningError> {
    let text = stepscale_hpa::limits::read_text_file(path, 1024)
        .map_err(|e| SigningError::Key(format!("{}: cannot read: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| SigningError::Key(format!("{}: {e}", path.display())))?
            .mode();
        if mode & 0o077 != 0 {
            return Err(SigningError::Key(format!(
                "{}: the private key is readable by others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    let seed: [u8; 32] = BASE64
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            SigningError::Key(format!(
                "{}: not a private key (base64 of 32 bytes, as `stepscale rules keygen` writes)",
                path.display()
            ))
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Parse a public key: base64 of 32 bytes, or a file holding that.
///
/// # Errors
/// Not base64 of a valid 32-byte ed25519 key.
pub fn parse_public_key(text_or_path: &str) -> Result<VerifyingKey, SigningError> {
    let text = match std::fs::metadata(text_or_path) {
        Ok(m) if m.is_file() => {
            stepscale_hpa::limits::read_text_file(Path::new(text_or_path), 1024)
                .map_err(|e| SigningError::Key(format!("{text_or_path}: cannot read: {e}")))?
        }
        _ => text_or_path.to_string(),
    };
    crate::license::parse_public_key(&text).map_err(|e| {
        SigningError::Key(format!(
            "trusted key {}: {e}",
            stepscale_hpa::limits::printable(text_or_path, 60)
        ))
    })
}

/// Sign `component` whose own metadata is `meta` (fields other than the
/// signer and time), returning the envelope JSON.
pub fn sign(component: &[u8], meta: &SignedRule, key: &SigningKey, signed_at: &str) -> String {
    let payload = SignedRule {
        sha256: digest(component),
        size: component.len(),
        signer_key_id: key_id(&key.verifying_key()),
        signed_at: signed_at.to_string(),
        ..meta.clone()
    };
    let payload = serde_json::to_vec(&payload).unwrap_or_default();
    let envelope = Envelope {
        format: ENVELOPE_FORMAT.into(),
        payload: BASE64.encode(&payload),
        signature: BASE64.encode(key.sign(&payload).to_bytes()),
    };
    serde_json::to_string_pretty(&envelope).unwrap_or_default() + "\n"
}

/// Verify `envelope` for `component` against `trusted` keys, in the order of
/// the module docs, before anything runs the component.
///
/// # Errors
/// The first check that fails.
pub fn verify_envelope(
    component: &[u8],
    envelope: &[u8],
    trusted: &[VerifyingKey],
) -> Result<SignedRule, SigningError> {
    let payload = read_payload(envelope)?;
    let (signed, payload_bytes, signature) = payload;
    let key = trusted
        .iter()
        .find(|k| key_id(k) == signed.signer_key_id)
        .ok_or_else(|| SigningError::UntrustedSigner {
            key_id: stepscale_hpa::limits::printable(&signed.signer_key_id, 64),
        })?;
    key.verify_strict(&payload_bytes, &signature)
        .map_err(|_| SigningError::BadSignature)?;
    if component.len() > MAX_COMPONENT_BYTES {
        return Err(SigningError::TooLarge {
            size: component.len(),
            limit: MAX_COMPONENT_BYTES,
        });
    }
    let actual = digest(component);
    if actual != signed.sha256 {
        return Err(SigningError::DigestMismatch {
            actual,
            signed: signed.sha256,
        });
    }
    Ok(signed)
}

/// The payload of an envelope, unverified (for `rules inspect`), with its
/// bytes and signature.
///
/// # Errors
/// [`SigningError::Malformed`].
pub fn read_payload(envelope: &[u8]) -> Result<(SignedRule, Vec<u8>, Signature), SigningError> {
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(SigningError::Malformed(format!(
            "{} bytes, above the limit of {MAX_ENVELOPE_BYTES}",
            envelope.len()
        )));
    }
    let bad = |what: &str| SigningError::Malformed(what.to_string());
    let env: Envelope = serde_json::from_slice(envelope).map_err(|e| {
        bad(&format!(
            "not the envelope JSON ({})",
            crate::license::describe_json_error(&e)
        ))
    })?;
    if env.format != ENVELOPE_FORMAT {
        return Err(bad(&format!("format is not {ENVELOPE_FORMAT:?}")));
    }
    let payload = BASE64
        .decode(env.payload.trim())
        .map_err(|_| bad("payload is not base64"))?;
    let signature = BASE64
        .decode(env.signature.trim())
        .ok()
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or_else(|| bad("signature is not base64 of 64 bytes"))?;
    let signed: SignedRule = serde_json::from_slice(&payload).map_err(|e| {
        bad(&format!(
            "payload is not the signed-rule JSON ({})",
            crate::license::describe_json_error(&e)
        ))
    })?;
    Ok((signed, payload, signature))
}

/// Compare what a loaded component says about itself with a verified payload.
///
/// # Errors
/// [`SigningError::MetadataMismatch`] naming the first field that differs.
pub fn check_metadata(
    signed: &SignedRule,
    rule_id: &str,
    version: &str,
    kind: &str,
    abi_version: &str,
) -> Result<(), SigningError> {
    for (field, actual, want) in [
        ("ruleId", rule_id, &signed.rule_id),
        ("version", version, &signed.version),
        ("kind", kind, &signed.kind),
        ("abiVersion", abi_version, &signed.abi_version),
    ] {
        if actual != want {
            return Err(SigningError::MetadataMismatch {
                field,
                actual: stepscale_hpa::limits::printable(actual, 100),
                signed: stepscale_hpa::limits::printable(want, 100),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> SignedRule {
        SignedRule::describing("weekend-idle", "0.1.0", "detector", "0.1.0")
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    const COMPONENT: &[u8] = b"\0asm component bytes";

    #[test]
    fn a_signed_component_verifies_against_any_of_several_trusted_keys() {
        let env = sign(COMPONENT, &meta(), &key(1), "2026-11-30T00:00:00Z");
        let trusted = [key(9).verifying_key(), key(1).verifying_key()];
        let s = verify_envelope(COMPONENT, env.as_bytes(), &trusted).expect("verifies");
        assert_eq!(s.rule_id, "weekend-idle");
        assert_eq!(s.signer_key_id, key_id(&key(1).verifying_key()));
        assert_eq!(s.sha256, digest(COMPONENT));
        assert!(check_metadata(&s, "weekend-idle", "0.1.0", "detector", "0.1.0").is_ok());
    }

    #[test]
    fn each_tampering_is_refused_with_its_reason() {
        let env = sign(COMPONENT, &meta(), &key(1), "2026-11-30T00:00:00Z");
        let trusted = [key(1).verifying_key()];
        // Swapped bytes.
        let e = verify_envelope(b"\0asm other bytes", env.as_bytes(), &trusted).expect_err("bytes");
        assert_eq!(e.reason(), "digest-mismatch");
        // An untrusted signer.
        let e = verify_envelope(COMPONENT, env.as_bytes(), &[key(2).verifying_key()])
            .expect_err("untrusted");
        assert_eq!(e.reason(), "untrusted-signer");
        // A payload edited to rename the rule (signature no longer matches).
        let mut doc: serde_json::Value = serde_json::from_str(&env).expect("json");
        let mut payload: serde_json::Value = serde_json::from_slice(
            &BASE64
                .decode(doc["payload"].as_str().expect("payload"))
                .expect("b64"),
        )
        .expect("payload json");
        payload["ruleId"] = "renamed".into();
        doc["payload"] = BASE64.encode(payload.to_string()).into();
        let e =
            verify_envelope(COMPONENT, doc.to_string().as_bytes(), &trusted).expect_err("renamed");
        assert_eq!(e.reason(), "bad-signature");
        // A component that calls itself something else than it was signed as.
        let s = verify_envelope(COMPONENT, env.as_bytes(), &trusted).expect("verifies");
        let e =
            check_metadata(&s, "weekend-idle", "0.2.0", "detector", "0.1.0").expect_err("version");
        assert!(e.to_string().contains("version"), "{e}");
        // Not an envelope at all, and an oversized one.
        assert_eq!(
            verify_envelope(COMPONENT, b"{}", &trusted)
                .expect_err("malformed")
                .reason(),
            "malformed-envelope"
        );
        let big = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert_eq!(
            verify_envelope(COMPONENT, &big, &trusted)
                .expect_err("big")
                .reason(),
            "malformed-envelope"
        );
    }

    #[test]
    fn an_oversize_component_is_refused_with_its_size_and_the_limit() {
        let big = vec![0u8; MAX_COMPONENT_BYTES + 1];
        let env = sign(&big, &meta(), &key(1), "2026-11-30T00:00:00Z");
        let e = verify_envelope(&big, env.as_bytes(), &[key(1).verifying_key()]).expect_err("big");
        let msg = e.to_string();
        assert!(
            msg.contains(&(MAX_COMPONENT_BYTES + 1).to_string()) && msg.contains("1000000"),
            "{msg}"
        );
    }

    #[test]
    fn keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites() {
        let dir = std::env::temp_dir().join(format!("stepscale-keygen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (private, public) = keygen(&dir).expect("keygen");
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            assert_eq!(
                std::fs::metadata(&private).expect("meta").mode() & 0o777,
                0o600
            );
        }
        let k = read_private_key(&private).expect("reads back");
        let p = parse_public_key(public.to_str().expect("utf-8")).expect("public key file");
        assert_eq!(k.verifying_key(), p);
        let before = std::fs::read(&private).expect("key");
        let e = keygen(&dir).expect_err("exists");
        assert!(e.to_string().contains("never overwritten"), "{e}");
        assert_eq!(std::fs::read(&private).expect("key"), before);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
