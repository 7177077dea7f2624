//! The ConfigMap that carries a signed rule: its layout, the manifest
//! `stepscale rules configmap` prints, and reading one back.
//!
//! Layout:
//! - `binaryData["rule.wasm"]`: the component;
//! - `data["rule.wasm.sig"]`: its signature envelope (JSON);
//! - the labels of `rules.configMapSelector` (default
//!   `stepscale.io/rule=true`), so the operator finds it;
//! - annotations `stepscale.io/rule-id` and `stepscale.io/rule-version`,
//!   for people (the operator trusts only the signed payload).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

use super::admission::Rejection;
use super::signing::{SignedRule, MAX_ENVELOPE_BYTES};

/// Key of the component in `binaryData`.
pub const COMPONENT_KEY: &str = "rule.wasm";
/// Key of the signature envelope in `data`.
pub const SIGNATURE_KEY: &str = "rule.wasm.sig";
/// Default `rules.configMapSelector`.
pub const DEFAULT_SELECTOR: &str = "stepscale.io/rule=true";
/// Annotation naming the rule id (informational).
pub const RULE_ID_ANNOTATION: &str = "stepscale.io/rule-id";
/// Annotation naming the rule version (informational).
pub const RULE_VERSION_ANNOTATION: &str = "stepscale.io/rule-version";
/// Most a ConfigMap may hold, bytes (the API server's object limit, 1 MiB).
pub const MAX_CONFIGMAP_BYTES: usize = 1 << 20;
/// Room left for the object's metadata and encoding, bytes.
const METADATA_ALLOWANCE: usize = 8 << 10;

/// Why a manifest cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// Component and envelope would not fit a ConfigMap.
    #[error("the component ({component} bytes) and its signature ({envelope} bytes) do not fit in a ConfigMap: the limit is {limit} bytes in all, with {allowance} kept for metadata; build the rule in release mode with opt-level \"s\", strip it, and sign it again")]
    TooLarge {
        /// Component bytes.
        component: usize,
        /// Envelope bytes.
        envelope: usize,
        /// The ConfigMap limit.
        limit: usize,
        /// Kept for metadata.
        allowance: usize,
    },
    /// The selector is not a list of `key=value` labels.
    #[error("selector {0:?} is not a list of key=value labels; pass --selector with the chart's rules.configMapSelector")]
    Selector(String),
    /// The envelope is not UTF-8.
    #[error(
        "the signature envelope is not UTF-8 text; give the .sig file `stepscale rules sign` wrote"
    )]
    Envelope,
}

/// Labels of an equality selector (`a=b,c=d`; `==` accepted).
///
/// # Errors
/// Anything but `key=value` pairs.
pub fn selector_labels(selector: &str) -> Result<BTreeMap<String, String>, ManifestError> {
    let bad = || ManifestError::Selector(selector.to_string());
    let mut labels = BTreeMap::new();
    for part in selector.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once("==")
            .or_else(|| part.split_once('='))
            .ok_or_else(bad)?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || k.contains(['!', ' ']) || v.contains(['!', ' ', '(']) {
            return Err(bad());
        }
        labels.insert(k.to_string(), v.to_string());
    }
    if labels.is_empty() {
        return Err(bad());
    }
    Ok(labels)
}

/// The ConfigMap carrying `component` and its `envelope`.
///
/// # Errors
/// [`ManifestError`]: too large, a selector that is not `key=value` labels,
/// an envelope that is not text.
pub fn manifest(
    name: &str,
    namespace: &str,
    selector: &str,
    component: &[u8],
    envelope: &[u8],
    signed: &SignedRule,
) -> Result<ConfigMap, ManifestError> {
    if component.len() + envelope.len() + METADATA_ALLOWANCE > MAX_CONFIGMAP_BYTES {
        return Err(ManifestError::TooLarge {
            component: component.len(),
            envelope: envelope.len(),
            limit: MAX_CONFIGMAP_BYTES,
            allowance: METADATA_ALLOWANCE,
        });
    }
    let envelope = std::str::from_utf8(envelope).map_err(|_| ManifestError::Envelope)?;
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(selector_labels(selector)?),
            annotations: Some(BTreeMap::from([
                (RULE_ID_ANNOTATION.to_string(), signed.rule_id.clone()),
                (RULE_VERSION_ANNOTATION.to_string(), signed.version.clone()),
            ])),
            ..ObjectMeta::default()
        },
        binary_data: Some(BTreeMap::from([(
            COMPONENT_KEY.to_string(),
            ByteString(component.to_vec()),
        )])),
        data: Some(BTreeMap::from([(
            SIGNATURE_KEY.to_string(),
            envelope.to_string(),
        )])),
        ..ConfigMap::default()
    })
}

/// The component and envelope a ConfigMap carries.
///
/// # Errors
/// [`Rejection::Malformed`] naming the missing key and the layout.
pub fn rule_files(cm: &ConfigMap) -> Result<(&[u8], &[u8]), Rejection> {
    let component = cm
        .binary_data
        .as_ref()
        .and_then(|d| d.get(COMPONENT_KEY))
        .map(|b| b.0.as_slice())
        .ok_or_else(|| {
            Rejection::Malformed(format!(
                "the ConfigMap has no binaryData[{COMPONENT_KEY:?}]; create it with `stepscale rules configmap RULE.wasm RULE.wasm.sig`"
            ))
        })?;
    let envelope = cm
        .data
        .as_ref()
        .and_then(|d| d.get(SIGNATURE_KEY))
        .map(String::as_bytes)
        .or_else(|| {
            cm.binary_data
                .as_ref()
                .and_then(|d| d.get(SIGNATURE_KEY))
                .map(|b| b.0.as_slice())
        })
        .ok_or_else(|| {
            Rejection::Malformed(format!(
                "the ConfigMap has no data[{SIGNATURE_KEY:?}] (the signature); unsigned rules are never loaded: sign the rule with `stepscale rules sign` and create the ConfigMap with `stepscale rules configmap`"
            ))
        })?;
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(Rejection::Malformed(format!(
            "data[{SIGNATURE_KEY:?}] is {} bytes, above the limit of {MAX_ENVELOPE_BYTES}; put only the envelope `stepscale rules sign` wrote there",
            envelope.len()
        )));
    }
    Ok((component, envelope))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> SignedRule {
        SignedRule::describing("weekend-idle", "0.1.0", "detector", "0.1.0")
    }

    #[test]
    fn a_manifest_round_trips_to_the_same_bytes() {
        let component = vec![0u8, 97, 115, 109, 255, 1];
        let cm = manifest(
            "weekend-idle",
            "stepscale",
            DEFAULT_SELECTOR,
            &component,
            b"{}",
            &signed(),
        )
        .expect("fits");
        let yaml = serde_yaml::to_string(&cm).expect("yaml");
        let back: ConfigMap = serde_yaml::from_str(&yaml).expect("parses");
        let (c, e) = rule_files(&back).expect("has both");
        assert_eq!(c, component.as_slice());
        assert_eq!(e, b"{}");
        let labels = back.metadata.labels.expect("labels");
        assert_eq!(
            labels.get("stepscale.io/rule").map(String::as_str),
            Some("true")
        );
    }

    #[test]
    fn a_component_that_cannot_fit_is_refused_with_its_size() {
        let big = vec![0u8; MAX_CONFIGMAP_BYTES - 100];
        let err =
            manifest("r", "ns", DEFAULT_SELECTOR, &big, b"{}", &signed()).expect_err("too large");
        assert!(matches!(err, ManifestError::TooLarge { component, .. } if component == big.len()));
        assert!(err.to_string().contains(&MAX_CONFIGMAP_BYTES.to_string()));
    }

    #[test]
    fn selectors_must_be_equality_labels() {
        assert_eq!(
            selector_labels("a=b, c==d").expect("ok").len(),
            2,
            "two labels"
        );
        for bad in ["", "a", "a!=b", "a in (b)", "!a"] {
            assert!(selector_labels(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_configmap_without_a_signature_is_malformed() {
        let mut cm = manifest("r", "ns", DEFAULT_SELECTOR, b"x", b"{}", &signed()).expect("fits");
        cm.data = None;
        let err = rule_files(&cm).expect_err("unsigned");
        assert_eq!(err.reason(), "malformed-configmap");
        assert!(err.to_string().contains("rules sign"), "{err}");
        cm.binary_data = None;
        assert!(rule_files(&cm).is_err());
    }
}
