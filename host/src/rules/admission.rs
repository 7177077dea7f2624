//! Admission of a signed custom rule: the checks made, in order, before a
//! byte of it runs, shared by `stepscale rules verify|inspect` and the
//! operator's ConfigMap loader.
//!
//! Order, stopping at the first failure:
//! 1. the envelope parses ([`signing::read_payload`]);
//! 2. the signer is a trusted key;
//! 3. the signature verifies;
//! 4. the size is within [`signing::MAX_COMPONENT_BYTES`];
//! 5. the SHA-256 of the bytes is the signed one;
//! 6. the bytes compile as a component of our ABI series and link against
//!    our world (the engine's load; its `info()` is the first call into it,
//!    under the sandbox's memory cap and deadline);
//! 7. what the component says about itself (id, version, kind, ABI version)
//!    is what was signed;
//! 8. its id is not a builtin's, unless values allow replacing that builtin.

use std::collections::BTreeSet;

use ed25519_dalek::VerifyingKey;
use stepscale_engine::{AbiError, LoadError, LoadedRule, RuleKind};

use super::signing::{self, SignedRule, SigningError};
use crate::analysis::Analyzer;

/// Why a custom rule was not admitted. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The ConfigMap does not carry a component and an envelope.
    #[error("{0}")]
    Malformed(String),
    /// The signature checks (envelope, signer, signature, size, digest,
    /// metadata).
    #[error("{0}")]
    Signing(#[from] SigningError),
    /// The component does not compile, fit the ABI or link.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// Its id is a builtin's and values do not allow replacing it.
    #[error("rule id {id:?} is a builtin rule's; rename the rule, or allow replacing the builtin with `rules.replaceBuiltins: [{id}]`")]
    ReplacesBuiltin {
        /// The id.
        id: String,
    },
    /// Another ConfigMap already carries a rule with this id.
    #[error("rule id {id:?} is already loaded from {other}; give each rule one ConfigMap, or delete the other one")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where the loaded one came from.
        other: String,
    },
}

impl Rejection {
    /// A short, low-cardinality reason (metrics, Events, logs).
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed-configmap",
            Rejection::Signing(e) => e.reason(),
            Rejection::Load(LoadError::Compile { .. }) => "not-a-component",
            Rejection::Load(LoadError::Abi { source, .. }) => match source {
                AbiError::NotARule => "not-a-rule",
                AbiError::Incompatible { .. } => "abi-version",
                AbiError::UnknownImport { .. } => "unknown-import",
            },
            Rejection::Load(LoadError::Link { .. }) => "link",
            Rejection::Load(LoadError::Info { .. }) => "info-failed",
            Rejection::ReplacesBuiltin { .. } => "replaces-builtin",
            Rejection::DuplicateId { .. } => "duplicate-id",
        }
    }
}

/// Every reason [`Rejection::reason`] can return, for docs and tests.
pub const REJECTION_REASONS: &[&str] = &[
    "malformed-configmap",
    "malformed-envelope",
    "untrusted-signer",
    "bad-signature",
    "too-large",
    "digest-mismatch",
    "not-a-component",
    "not-a-rule",
    "abi-version",
    "unknown-import",
    "link",
    "info-failed",
    "metadata-mismatch",
    "replaces-builtin",
    "duplicate-id",
];

/// What admission accepts.
#[derive(Debug, Clone, Default)]
pub struct AdmissionPolicy {
    /// Trusted signing keys (several, so keys can be rotated).
    pub trusted: Vec<VerifyingKey>,
    /// Builtin ids a custom rule may replace (`rules.replaceBuiltins`).
    pub replace_builtins: BTreeSet<String>,
}

/// A rule that passed every check, compiled and ready to run.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The rule.
    pub rule: LoadedRule,
    /// What its signature says.
    pub signed: SignedRule,
}

/// `detector` or `forecaster`.
pub fn kind_name(k: RuleKind) -> &'static str {
    match k {
        RuleKind::Detector => "detector",
        RuleKind::Forecaster => "forecaster",
    }
}

/// Run every check of the module docs on `component` and its `envelope`;
/// `name` says where they came from (a file, a ConfigMap).
///
/// # Errors
/// The first check that fails.
pub fn admit(
    analyzer: &Analyzer,
    name: &str,
    component: &[u8],
    envelope: &[u8],
    policy: &AdmissionPolicy,
) -> Result<Admitted, Rejection> {
    let signed = signing::verify_envelope(component, envelope, &policy.trusted)?;
    let rule = analyzer.load_component(name, component)?;
    signing::check_metadata(
        &signed,
        &rule.id,
        &rule.version,
        kind_name(rule.kind),
        &rule.abi_version.to_string(),
    )?;
    if analyzer.builtin_ids().contains(&rule.id) && !policy.replace_builtins.contains(&rule.id) {
        return Err(Rejection::ReplacesBuiltin { id: rule.id });
    }
    Ok(Admitted { rule, signed })
}
